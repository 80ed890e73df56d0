// One GuestRam conformance suite, run against NativeRam (C++ addon) and ArrayRam (pure TS).
// Hashes are checked against Node's crypto on the same bytes (an implementation we did not write).
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { phys, size, SZ_1G, SZ_4K, type PhysAddr } from '../../loader/addr.js';
import { ArrayRam, type GuestRam, type RamRegion } from '../../loader/memory/guest-ram.js';
import { NativeRam } from '../../machine/native-ram.js';
import { loadNative } from '../../native/binding.js';
import { throwsCode } from '../helpers/errors.js';
import { MemoryCode } from '../../loader/memory/errors.js';

const P = (n: number | bigint): PhysAddr => phys(n);
const S = size;

// Three regions: [0x0, 0x10000) and [0x10000, 0x18000) are adjacent (one run);
// [0x20000, 0x30000) sits after a hole [0x18000, 0x20000).
const REGIONS: RamRegion[] = [
  { base: P(0x20000), size: S(0x10000) },
  { base: P(0), size: S(0x10000) },
  { base: P(0x10000), size: S(0x8000) },
];

const impls: { name: string; make: (r: readonly RamRegion[]) => GuestRam }[] = [
  { name: 'ArrayRam', make: (r) => new ArrayRam(r) },
  { name: 'NativeRam', make: (r) => new NativeRam(r) },
];

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

for (const impl of impls) {
  t.test(impl.name, async (t) => {
    t.test('regions are sorted and totalled; bad region lists are refused', (t) => {
      const ram = impl.make(REGIONS);
      t.same(
        ram.regions.map((r) => r.base),
        [0n, 0x10000n, 0x20000n],
      );
      t.equal(ram.totalSize, 0x28000n);
      throwsCode(
        t,
        () => impl.make([{ base: P(0x1000), size: S(0x800) }]),
        MemoryCode.GuestRegions,
        'size not 4 KiB aligned',
      );
      throwsCode(
        t,
        () => impl.make([{ base: P(0x800), size: S(0x1000) }]),
        MemoryCode.GuestRegions,
        'base not aligned',
      );
      throwsCode(t, () => impl.make([{ base: P(0), size: S(0) }]), MemoryCode.GuestRegions, 'empty region');
      throwsCode(
        t,
        () =>
          impl.make([
            { base: P(0), size: S(0x2000) },
            { base: P(0x1000), size: S(0x1000) },
          ]),
        MemoryCode.GuestRegions,
        'overlapping regions',
      );
      t.end();
    });

    t.test('fresh RAM reads as zeros; write then read round-trips', (t) => {
      const ram = impl.make(REGIONS);
      t.same([...ram.read(P(0x123), 8)], [0, 0, 0, 0, 0, 0, 0, 0]);
      const data = randomBytes(5000);
      ram.write(P(0x21000), data);
      t.ok(Buffer.from(ram.read(P(0x21000), 5000)).equals(data));
      t.ok(ram.equals(P(0x21000), data));
      const other = Buffer.from(data);
      other[4999] = (other[4999] ?? 0) ^ 1;
      t.notOk(ram.equals(P(0x21000), other), 'equals sees a change in the last byte');
      t.equal(ram.read(P(0x21000), 0).length, 0, 'zero-length read');
      t.end();
    });

    t.test('accesses spanning adjacent regions work; across a hole they fail', (t) => {
      const ram = impl.make(REGIONS);
      const data = randomBytes(0x2000);
      ram.write(P(0xf000), data); // 0x1000 in region 0, 0x1000 in region 1
      t.ok(Buffer.from(ram.read(P(0xf000), 0x2000)).equals(data), 'read back across the boundary');
      t.equal(ram.sha256(P(0xf000), S(0x2000)), sha(data), 'sha256 across regions = node crypto');
      throwsCode(t, () => ram.view(P(0xf000), 0x2000), MemoryCode.GuestRange, 'a view may not cross regions');
      throwsCode(t, () => ram.read(P(0x17000), 0x2000), MemoryCode.GuestRange, 'read into the hole');
      throwsCode(
        t,
        () => ram.write(P(0x17fff), new Uint8Array(0x8002)),
        MemoryCode.GuestRange,
        'write across the hole',
      );
      throwsCode(t, () => ram.copy(P(0), P(0x17000), S(0x9000)), MemoryCode.GuestRange, 'copy source spans the hole');
      t.ok(ram.isRam(P(0), S(0x18000)));
      t.notOk(ram.isRam(P(0), S(0x18001)));
      t.end();
    });

    t.test('every out-of-range case throws GUEST_RANGE with the address, touching nothing', (t) => {
      const ram = impl.make(REGIONS);
      ram.fill(P(0x2f000), S(0x1000), 0xaa);
      const before = ram.sha256(P(0x20000), S(0x10000));
      const e1 = throwsCode(t, () => ram.read(P(0x1ffff), 2), MemoryCode.GuestRange, 'starts before a region');
      t.equal(e1?.details['addr'], 0x1ffffn, 'details carry the address');
      t.match(e1?.message ?? '', /0x1ffff/, 'the message names the address in hex');
      throwsCode(t, () => ram.write(P(0x2ffff), Uint8Array.of(1, 2)), MemoryCode.GuestRange, 'ends past a region');
      throwsCode(t, () => ram.fill(P(0x2f000), S(0x1001), 0), MemoryCode.GuestRange, 'fill past the end');
      throwsCode(
        t,
        () => ram.copy(P(0x2f000), P(0), S(0x1001)),
        MemoryCode.GuestRange,
        'copy destination past the end',
      );
      throwsCode(t, () => ram.read(P(0x40000), 1), MemoryCode.GuestRange, 'entirely outside');
      throwsCode(t, () => ram.read(P(0xffff_ffff_ffff_fff0n), 0x20), MemoryCode.GuestRange, 'wraps past 2^64');
      throwsCode(t, () => ram.equals(P(0x2fff0), new Uint8Array(0x20)), MemoryCode.GuestRange, 'equals past the end');
      throwsCode(t, () => ram.sha256(P(0x2fff0), S(0x20)), MemoryCode.GuestRange, 'sha256 past the end');
      throwsCode(t, () => ram.nonZeroPages(P(0x2f000), S(0x2000)), MemoryCode.GuestRange, 'scan past the end');
      t.equal(ram.read(P(0x30000), 0).length, 0, 'length 0 at the very end of a region is valid');
      t.equal(ram.read(P(0x18000), 0).length, 0, 'length 0 at the end of a run is valid');
      throwsCode(t, () => ram.read(P(0x19000), 0), MemoryCode.GuestRange, 'length 0 inside a hole is not');
      throwsCode(t, () => ram.read(P(0), -1), MemoryCode.GuestRange, 'negative length');
      throwsCode(t, () => ram.read(P(0), Number(SZ_1G) + 1), MemoryCode.GuestViewTooLarge, 'read window over 1 GiB');
      throwsCode(t, () => ram.fill(P(0), S(1), 256), MemoryCode.GuestRange, 'fill byte out of range');
      t.equal(ram.sha256(P(0x20000), S(0x10000)), before, 'nothing changed');
      t.end();
    });

    t.test('view is zero-copy in both directions', (t) => {
      const ram = impl.make(REGIONS);
      const v = ram.view(P(0x20010), 16);
      v[0] = 0x5a;
      t.equal(ram.read(P(0x20010), 1)[0], 0x5a, 'a write through the view lands in RAM');
      ram.write(P(0x20011), Uint8Array.of(0x77));
      t.equal(v[1], 0x77, 'a write to RAM shows in the view');
      t.equal(ram.view(P(0x20000), 0).length, 0);
      t.end();
    });

    t.test('copy has memmove semantics, also across regions', (t) => {
      const ram = impl.make(REGIONS);
      const pattern = Uint8Array.from({ length: 0x3000 }, (_, i) => (i * 7 + 3) & 0xff);
      // forward overlap (dst > src) spanning the region boundary at 0x10000
      ram.write(P(0xe000), pattern);
      ram.copy(P(0xe800), P(0xe000), S(0x3000));
      t.ok(Buffer.from(ram.read(P(0xe800), 0x3000)).equals(pattern), 'dst above src');
      // backward overlap (dst < src)
      ram.write(P(0xe800), pattern);
      ram.copy(P(0xe000), P(0xe800), S(0x3000));
      t.ok(Buffer.from(ram.read(P(0xe000), 0x3000)).equals(pattern), 'dst below src');
      // disjoint copy between distant regions
      ram.copy(P(0x20000), P(0xe000), S(0x3000));
      t.ok(ram.equals(P(0x20000), pattern));
      ram.copy(P(0x20000), P(0xe000), S(0));
      t.end();
    });

    t.test('fill, sha256 and nonZeroPages', (t) => {
      const ram = impl.make(REGIONS);
      ram.fill(P(0x21000), S(0x1800), 0x11);
      t.equal(ram.sha256(P(0x21000), S(0x1800)), sha(Buffer.alloc(0x1800, 0x11)));
      t.equal(ram.sha256(P(0x21000), S(0)), sha(Buffer.alloc(0)));
      ram.write(P(0x24fff), Uint8Array.of(1)); // last byte of page 4 (relative to 0x20000)
      const bm = ram.nonZeroPages(P(0x20000), S(0x10000));
      t.equal(bm.length, 2);
      // pages 1 and 2 (fill), 4 (single byte)
      t.same([...bm], [0b0001_0110, 0]);
      const partial = ram.nonZeroPages(P(0x24000), S(0x10)); // a partial page: only the first 16 bytes
      t.same([...partial], [0], 'only the bytes in range count');
      const span = ram.nonZeroPages(P(0xf000), S(0x2000));
      t.same([...span], [0]);
      ram.write(P(0x10000), Uint8Array.of(9));
      t.same([...ram.nonZeroPages(P(0xf000), S(0x2000))], [0b10], 'scan across adjacent regions');
      throwsCode(t, () => ram.nonZeroPages(P(0x20800), S(0x1000)), MemoryCode.GuestAlign, 'start must be page aligned');
      t.end();
    });

    t.test('pageDigests: the same digests in both implementations; any one-byte change shows', (t) => {
      const ram = impl.make(REGIONS);
      const other = new ArrayRam(REGIONS); // the reference implementation of the digest
      const bytes = randomBytes(0x8000);
      for (const r of [ram, other]) r.write(P(0xc000), bytes); // spans the adjacent regions
      const d = ram.pageDigests(P(0xc000), S(0x8000));
      t.equal(d.length, 8 * 4);
      t.same([...d], [...other.pageDigests(P(0xc000), S(0x8000))], 'native and TS agree');
      for (const at of [0xc000, 0xd7ff, 0xdffe, 0x13fff]) {
        const before = ram.pageDigests(P(0xc000), S(0x8000));
        const old = ram.read(P(at), 1)[0] ?? 0;
        ram.write(P(at), Uint8Array.of(old ^ 0x40));
        const after = ram.pageDigests(P(0xc000), S(0x8000));
        const page = Math.floor((at - 0xc000) / 0x1000);
        const changed = [...Array(8).keys()].filter((i) =>
          [0, 1, 2, 3].some((k) => before[i * 4 + k] !== after[i * 4 + k]),
        );
        t.same(changed, [page], `a flip at ${at.toString(16)} changes only its page`);
      }
      const zero = ram.pageDigests(P(0x20000), S(0x1000));
      t.same([...zero], [...new ArrayRam([{ base: P(0), size: S(0x1000) }]).pageDigests(P(0), S(0x1000))]);
      throwsCode(t, () => ram.pageDigests(P(0x20800), S(0x1000)), MemoryCode.GuestAlign, 'page aligned start');
      throwsCode(t, () => ram.pageDigests(P(0x17000), S(0x2000)), MemoryCode.GuestRange, 'across the hole');
      t.end();
    });

    t.test('gatherPages and pageDigestsAt: scattered pages in order, digests of the copies', (t) => {
      const ram = impl.make(REGIONS);
      const bytes = randomBytes(0x28000);
      ram.write(P(0), bytes.subarray(0, 0x18000));
      ram.write(P(0x20000), bytes.subarray(0x18000));
      const pas = BigUint64Array.from([0x21000n, 0x3000n, 0x17000n, 0x3000n]);
      const digests = new Uint32Array(16);
      const got = ram.gatherPages(pas, digests);
      t.same(
        Buffer.from(got),
        Buffer.concat([...pas].map((pa) => Buffer.from(ram.read(P(pa), 0x1000)))),
        'the pages in the order asked, repeats included',
      );
      t.same([...digests], [...ram.pageDigestsAt(pas)], 'the digests gatherPages fills = pageDigestsAt');
      t.same(
        [...ram.pageDigestsAt(pas.subarray(0, 1))],
        [...ram.pageDigests(P(0x21000), S(0x1000))],
        'pageDigestsAt = pageDigests',
      );
      throwsCode(t, () => ram.gatherPages(BigUint64Array.from([0x18000n])), MemoryCode.GuestRange, 'a hole');
      throwsCode(t, () => ram.gatherPages(BigUint64Array.from([0x1800n])), MemoryCode.GuestAlign, 'unaligned');
      throwsCode(t, () => ram.pageDigestsAt(BigUint64Array.from([0x30000n])), MemoryCode.GuestRange, 'past the end');
      throwsCode(t, () => ram.gatherPages(pas, new Uint32Array(3)), MemoryCode.GuestRange, 'digest space');
      t.end();
    });

    t.test('close releases the RAM', (t) => {
      const ram = impl.make(REGIONS);
      ram.close();
      throwsCode(t, () => ram.read(P(0), 1), MemoryCode.GuestClosed);
      t.end();
    });
  });
}

t.test('NativeRam: a 64 GiB machine costs only the pages it touches', (t) => {
  const ram = new NativeRam([
    { base: P(0), size: S(2n * SZ_1G) },
    { base: P(4n * SZ_1G), size: S(62n * SZ_1G) },
  ]);
  t.equal(ram.totalSize, 64n * SZ_1G);
  const before = ram.residentBytes();
  const addrs = [0x1000n, 0x7fff_f000n, 5n * SZ_1G, 40n * SZ_1G + 0x123000n, 66n * SZ_1G - SZ_4K];
  for (const a of addrs) ram.write(P(a), randomBytes(4096));
  for (const a of addrs) t.equal(ram.read(P(a), 4096).length, 4096);
  const after = ram.residentBytes();
  t.ok(after >= before + 5n * SZ_4K, `touched pages are resident (${after} bytes)`);
  t.ok(after < 64n << 20n, `residentBytes() ${after} is under 64 MiB`);
  throwsCode(t, () => ram.read(P(3n * SZ_1G), 1), MemoryCode.GuestRange, 'the hole at 2-4 GiB is not RAM');
  ram.close();
  t.end();
});

t.test('NativeRam: views keep the mapping alive after close()', (t) => {
  const ram = new NativeRam([{ base: P(0), size: S(0x10000) }]);
  const v = ram.view(P(0x100), 4);
  v.set([1, 2, 3, 4]);
  ram.close();
  t.same([...v], [1, 2, 3, 4], 'the view is still readable');
  throwsCode(t, () => ram.view(P(0), 1), MemoryCode.GuestClosed);
  t.end();
});

t.test('the addon checks bounds itself, without the TS pre-check (never a crash)', (t) => {
  const addon = loadNative();
  const raw = new addon.GuestRam([{ base: 0x1000n, size: 0x1000n }]);
  const codeOf = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (e) {
      return (e as { kbootCode?: unknown }).kbootCode;
    }
    return 'no error';
  };
  t.equal(
    codeOf(() => raw.read(0x1ff0n, 0x20n)),
    'GUEST_RANGE',
    'read past the end',
  );
  t.equal(
    codeOf(() => raw.write(0xff0n, new Uint8Array(0x20))),
    'GUEST_RANGE',
    'write before the start',
  );
  t.equal(
    codeOf(() => raw.copy(0x1000n, 0x1800n, 0x1000n)),
    'GUEST_RANGE',
    'copy source past the end',
  );
  t.equal(
    codeOf(() => raw.fill(0xffff_ffff_ffff_fff0n, 0x20n, 0)),
    'GUEST_RANGE',
    'wrap past 2^64',
  );
  t.equal(
    codeOf(() => raw.nonZeroPages(0x1001n, 1n)),
    'GUEST_ALIGN',
  );
  t.equal(
    codeOf(() => raw.view(0x1000n, (1n << 30n) + 1n)),
    'GUEST_VIEW_TOO_LARGE',
  );
  t.equal(
    codeOf(() => new addon.GuestRam([{ base: 0x1001n, size: 0x1000n }])),
    'GUEST_REGIONS',
  );
  raw.close();
  t.equal(
    codeOf(() => raw.read(0x1000n, 1n)),
    'GUEST_CLOSED',
  );
  t.end();
});
