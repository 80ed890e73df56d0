// machine/purgatory.ts over ArrayRam: per-segment SHA-256 recorded from guest RAM, re-hashed
// on verify; excluded ranges left out; a change names its segment and, with the staged bytes
// known, the first changed byte; node:crypto's digest of the same bytes is the recorded one.
import t from 'tap';
import { createHash } from 'node:crypto';
import { phys, size } from '../../../loader/addr.js';
import {
  describeChange,
  isProtected,
  recordSegments,
  refusalReason,
  verifySegments,
} from '../../../machine/purgatory.js';
import { ArrayRam } from '../../../loader/memory/guest-ram.js';
import { throwsCode } from '../../helpers/errors.js';
import { MemoryCode } from '../../../loader/memory/errors.js';

const BASE = 0x10_0000n;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const range = (start: bigint, len: bigint) => ({ start: phys(start), size: size(len) });

function fresh(): ArrayRam {
  // two adjacent regions (one contiguous run) and a separate one, to cross a region boundary
  return new ArrayRam([
    { base: phys(BASE), size: size(0x1_0000) },
    { base: phys(BASE + 0x1_0000n), size: size(0x1_0000) },
    { base: phys(0x40_0000n), size: size(0x1000) },
  ]);
}

function stage(ram: ArrayRam, at: bigint, len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed) & 0xff;
  ram.write(phys(at), b);
  return b;
}

t.test('records SHA-256 of each segment from RAM; unchanged verifies ok', (t) => {
  const ram = fresh();
  const a = stage(ram, BASE, 0x300, 1);
  const k = stage(ram, BASE + 0xf000n, 0x2000, 2); // crosses the region boundary at BASE + 0x10000
  const d = recordSegments(ram, [
    { label: 'params', range: range(BASE, 0x300n), staged: a },
    { label: 'kernel', range: range(BASE + 0xf000n, 0x2000n), staged: k },
  ]);
  t.equal(d.algorithm, 'sha256');
  t.same(
    d.segments.map((s) => [s.label, s.sha256]),
    [
      ['params', sha(a)],
      ['kernel', sha(k)],
    ],
    'the digests are node:crypto SHA-256 of the bytes',
  );
  t.same(verifySegments(ram, d), { ok: true });
  t.ok(Object.isFrozen(d) && Object.isFrozen(d.segments) && Object.isFrozen(d.segments[0]), 'immutable');
  t.end();
});

t.test('one changed byte names its segment and the byte; the others stay unnamed', (t) => {
  const ram = fresh();
  const a = stage(ram, BASE, 0x300, 1);
  const k = stage(ram, BASE + 0xf000n, 0x2000, 2);
  const d = recordSegments(ram, [
    { label: 'params', range: range(BASE, 0x300n), staged: a },
    { label: 'kernel', range: range(BASE + 0xf000n, 0x2000n), staged: k },
  ]);
  const at = BASE + 0x1_0123n; // in the kernel, past the region boundary
  ram.write(phys(at), Uint8Array.of((ram.read(phys(at), 1)[0] ?? 0) ^ 1));
  const r = verifySegments(ram, d);
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.changed.length, 1);
    const c = r.changed[0];
    t.equal(c?.label, 'kernel');
    t.equal(c?.expected, sha(k));
    t.equal(c?.actual, sha(ram.read(phys(BASE + 0xf000n), 0x2000)));
    t.equal(c?.firstDifferingByte, at, 'the first changed byte');
    if (c !== undefined) {
      t.match(
        describeChange(c),
        /^segment kernel \[0x10f000-0x110fff\] changed since load \(sha256 expected [0-9a-f]{16}… got [0-9a-f]{16}…, first changed byte at 0x110123\)$/,
      );
    }
    t.match(refusalReason(r.changed), /^purgatory: segment kernel \[/);
  }
  t.end();
});

t.test('several changes: every changed segment, in record order; the reason names the others', (t) => {
  const ram = fresh();
  stage(ram, BASE, 0x100, 1);
  stage(ram, BASE + 0x1000n, 0x100, 2);
  stage(ram, BASE + 0x2000n, 0x100, 3);
  const d = recordSegments(ram, [
    { label: 'a', range: range(BASE, 0x100n) },
    { label: 'b', range: range(BASE + 0x1000n, 0x100n) },
    { label: 'c', range: range(BASE + 0x2000n, 0x100n) },
  ]);
  ram.fill(phys(BASE + 0x2010n), size(4), 0xee);
  ram.fill(phys(BASE + 0x10n), size(1), 0xee);
  const r = verifySegments(ram, d);
  t.same(r.ok ? [] : r.changed.map((c) => c.label), ['a', 'c']);
  if (!r.ok) {
    t.equal(r.changed[0]?.firstDifferingByte, undefined, 'no staged bytes given: no byte named');
    t.match(
      refusalReason(r.changed),
      /^purgatory: segment a \[0x100000-0x1000ff\] changed since load \(.*\); 1 more changed: c$/,
    );
  }
  t.equal(refusalReason([]), 'purgatory: no segment changed');
  t.end();
});

t.test('excluded ranges are left out of every digest; bytes outside segments do not count', (t) => {
  const ram = fresh();
  const p = stage(ram, BASE, 0x200, 5);
  const d = recordSegments(ram, [{ label: 'params', range: range(BASE, 0x200n), staged: p }], {
    exclude: [range(BASE + 0x20n, 0x20n), range(BASE, 0x10n), range(BASE + 0x1000n, 0x1000n)],
  });
  t.same(
    d.segments[0]?.hashed.map((r) => [r.start, r.size]),
    [
      [BASE + 0x10n, 0x10n],
      [BASE + 0x40n, 0x1c0n],
    ],
    'the segment minus the holes, in address order',
  );
  t.same(
    d.excluded.map((r) => r.start),
    [BASE, BASE + 0x20n, BASE + 0x1000n],
    'excluded: sorted and merged',
  );
  t.equal(d.segments[0]?.sha256, sha(Buffer.concat([p.subarray(0x10, 0x20), p.subarray(0x40)])));
  ram.fill(phys(BASE), size(0x10), 0xaa); // excluded
  ram.fill(phys(BASE + 0x20n), size(0x20), 0xaa); // excluded
  ram.fill(phys(BASE + 0x200n), size(0x100), 0xaa); // outside the segment
  t.same(verifySegments(ram, d), { ok: true }, 'writes to excluded or unrecorded bytes pass');
  t.notOk(isProtected(d, phys(BASE + 0x25n)));
  t.ok(isProtected(d, phys(BASE + 0x45n)));
  ram.fill(phys(BASE + 0x1ffn), size(1), 0xaa);
  const r = verifySegments(ram, d);
  t.equal(r.ok ? undefined : r.changed[0]?.firstDifferingByte, BASE + 0x1ffn, 'the last hashed byte');
  t.end();
});

t.test('staged bytes: zero past their end (kexec memsz); not kept when RAM differed at record time', (t) => {
  const ram = fresh();
  const buf = stage(ram, BASE, 0x180, 7);
  const d = recordSegments(ram, [
    { label: 'kexec segment 0', range: range(BASE, 0x1000n), staged: buf },
    { label: 'mis-staged', range: range(BASE + 0x2000n, 0x10n), staged: new Uint8Array(0x10).fill(9) },
  ]);
  ram.fill(phys(BASE + 0xff0n), size(1), 1); // in the zero tail
  ram.fill(phys(BASE + 0x2008n), size(1), 1);
  const r = verifySegments(ram, d);
  t.same(r.ok ? [] : r.changed.map((c) => [c.label, c.firstDifferingByte]), [
    ['kexec segment 0', BASE + 0xff0n],
    ['mis-staged', undefined],
  ]);
  t.throws(
    () => recordSegments(ram, [{ label: 'x', range: range(BASE, 4n), staged: new Uint8Array(5) }]),
    /overrun/,
    'staged bytes longer than the range are a bug (assertion)',
  );
  t.end();
});

t.test('a segment that is not guest RAM is GUEST_RANGE; an empty one hashes nothing', (t) => {
  const ram = fresh();
  throwsCode(t, () => recordSegments(ram, [{ label: 'x', range: range(0x3f_f000n, 0x2000n) }]), MemoryCode.GuestRange);
  const d = recordSegments(ram, [{ label: 'empty', range: range(BASE, 0n) }]);
  t.equal(d.segments[0]?.sha256, sha(new Uint8Array(0)));
  t.same(verifySegments(ram, d), { ok: true });
  t.end();
});
