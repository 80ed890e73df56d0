// dump/reader.ts on every minidump version it accepts, on hand-built dumps (the writer only
// makes v3 4 KiB dumps): amd64 v1 (pmap = one PTE per 4 KiB page from kernbase, no
// dump_avail), v2 (one PDE per 2 MiB: a PT page in the dump, a 2 MiB leaf), v3 (+ dump_avail);
// arm64 v1 (no dump_avail, no flags), v2 (+ dump_avail), v3 with 4 KiB and 16 KiB pages
// (MINIDUMP_FLAG_PS_16K: the header page, the section rounding, the bitmap and the L3 index in
// 16 KiB units). Headers are written at the struct offsets of sys/{amd64,arm64}/include/minidump.h
// by hand (not through dump/layout.ts), with garbage where a version has no field, which the
// reader must ignore as libkvm does. Bits are numbered here as libkvm's _kvm_pa_bit_id does.
// Also: the versions and page-size flags the reader refuses, and libkvm's translation order.
import t, { type Test } from 'tap';
import { openMinidump, type Minidump } from '../../../dump/reader.js';
import { DumpCode } from '../../../dump/errors.js';
import { throwsCode } from '../../helpers/errors.js';

type Arch = 'amd64' | 'arm64';
type Pairs = readonly (readonly [bigint, bigint])[];

interface Spec {
  readonly arch: Arch;
  readonly version: number;
  readonly ps: number;
  /** arm64 header word at 76 (flags from v3; garbage before). */
  readonly flags?: number;
  /** Written as the dump_avail section (the header's dumpavailsize) only when given. */
  readonly dumpAvail?: Pairs;
  /** Written at the dumpavailsize offset although the version has no such field. */
  readonly junkDumpavailsize?: number;
  /** Bits the bitmap covers. */
  readonly bits: number;
  /** Dumped pages: PA → content (one page). */
  readonly pages: ReadonlyMap<bigint, Uint8Array>;
  readonly pmap: Uint8Array;
  readonly kernbase: bigint;
  readonly dmapphys: bigint;
  readonly dmapbase: bigint;
  readonly dmapend: bigint;
  readonly msgbuf: Uint8Array;
}

const roundTo = (n: number, ps: number): number => Math.ceil(n / ps) * ps;

/** libkvm _kvm_pa_bit_id (kvm_private.c), or pa / page_size without dump_avail. */
function bitOf(pa: bigint, ps: bigint, da: Pairs | undefined): bigint {
  if (da === undefined) return pa / ps;
  let adj = 0n;
  for (const [s, e] of da) {
    if (pa >= s && pa < e) return pa / ps - s / ps + adj;
    adj += (e + ps - 1n) / ps - s / ps; // howmany(end, ps) - start / ps
  }
  throw new Error(`test bug: ${pa.toString(16)} outside dump_avail`);
}

interface Built {
  readonly bytes: Uint8Array;
  readonly offsets: { dumpAvail: number; bitmap: number; pmap: number; sparse: number };
}

function build(s: Spec): Built {
  const ps = s.ps;
  const psN = BigInt(ps);
  const hdr = new Uint8Array(ps);
  const dv = new DataView(hdr.buffer);
  hdr.set(new TextEncoder().encode(`minidump FreeBSD/${s.arch}`));
  const bitmapsize = roundTo(Math.ceil(s.bits / 8), 8);
  const daRaw = new Uint8Array(s.dumpAvail === undefined ? 0 : (s.dumpAvail.length + 1) * 16);
  s.dumpAvail?.forEach(([a, b], i) => {
    new DataView(daRaw.buffer).setBigUint64(i * 16, a, true);
    new DataView(daRaw.buffer).setBigUint64(i * 16 + 8, b, true);
  });
  dv.setUint32(24, s.version, true);
  dv.setUint32(28, s.msgbuf.length, true);
  dv.setUint32(32, bitmapsize, true);
  dv.setUint32(36, s.pmap.length, true);
  dv.setBigUint64(40, s.kernbase, true);
  if (s.arch === 'amd64') {
    dv.setBigUint64(48, s.dmapbase, true);
    dv.setBigUint64(56, s.dmapend, true);
    dv.setUint32(64, s.junkDumpavailsize ?? daRaw.length, true);
  } else {
    dv.setBigUint64(48, s.dmapphys, true);
    dv.setBigUint64(56, s.dmapbase, true);
    dv.setBigUint64(64, s.dmapend, true);
    dv.setUint32(72, s.junkDumpavailsize ?? daRaw.length, true);
    dv.setUint32(76, s.flags ?? 0, true);
  }
  const bitmap = new Uint8Array(bitmapsize);
  const byBit = new Map<bigint, Uint8Array>();
  for (const [pa, data] of s.pages) {
    const bit = bitOf(pa, psN, s.dumpAvail);
    if (bit >= BigInt(s.bits)) throw new Error('test bug: bit past the bitmap');
    bitmap[Number(bit >> 3n)] = (bitmap[Number(bit >> 3n)] ?? 0) | (1 << Number(bit & 7n));
    byBit.set(bit, data);
  }
  const sections = [hdr, s.msgbuf, daRaw, bitmap, s.pmap];
  const padded = sections.map((b) => {
    const out = new Uint8Array(roundTo(b.length, ps));
    out.set(b);
    return out;
  });
  const data = [...byBit.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, d]) => d);
  const bytes = Buffer.concat([...padded, ...data]);
  let o = 0;
  const at = padded.map((b) => {
    const r = o;
    o += b.length;
    return r;
  });
  return {
    bytes,
    offsets: { dumpAvail: at[2] ?? -1, bitmap: at[3] ?? -1, pmap: at[4] ?? -1, sparse: o },
  };
}

/** A page whose every 8-byte word names its PA (and a salt), so any misplaced read shows. */
function pageOf(pa: bigint, ps: number, salt = 0n): Uint8Array {
  const b = new Uint8Array(ps);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < ps; i += 8) dv.setBigUint64(i, (pa + BigInt(i)) ^ (salt << 56n), true);
  return b;
}

const u64s = (words: readonly bigint[]): Uint8Array => {
  const b = new Uint8Array(words.length * 8);
  words.forEach((w, i) => new DataView(b.buffer).setBigUint64(i * 8, w, true));
  return b;
};

/** Every dumped page reads back whole and at an odd offset; a clear bit and a PA outside are NOT_DUMPED. */
function checkPages(t: Test, d: Minidump, s: Spec, absent: readonly bigint[]): void {
  let bad = 0;
  for (const [pa, data] of s.pages) {
    if (Buffer.compare(Buffer.from(d.readPa(pa, s.ps)), Buffer.from(data)) !== 0) bad++;
    const off = BigInt(s.ps - 24);
    if (Buffer.compare(Buffer.from(d.readPa(pa + off, 16)), Buffer.from(data.subarray(s.ps - 24, s.ps - 8))) !== 0)
      bad++;
  }
  t.equal(bad, 0, `${s.pages.size} dumped pages read back through the bitmap`);
  t.same(
    [...d.dumpedPages()].sort((a, b) => (a < b ? -1 : 1)),
    [...s.pages.keys()].sort((a, b) => (a < b ? -1 : 1)),
    'dumpedPages() lists the set bits',
  );
  t.equal(d.pages, s.pages.size);
  for (const pa of absent) throwsCode(t, () => d.readPa(pa, 8), DumpCode.NotDumped, `PA 0x${pa.toString(16)}`);
}

// ---------------------------------------------------------------- amd64

const A = {
  KERNBASE: 0xffff_fe00_0000_0000n, // VM_MIN_KERNEL_ADDRESS (v2+: minidump_machdep.c)
  KERNBASE_V1: 0xffff_ffff_8000_0000n, // KERNBASE (v1 dumped ptes from KERNBASE)
  DMAP: 0xffff_f800_0000_0000n,
  DMAP_END: 0xffff_fc00_0000_0000n,
  PG_V: 1n,
  PG_RW: 2n,
  PG_PS: 0x80n,
  PG_NX: 1n << 63n,
} as const;

t.test('amd64 v1: one PTE per page from kernbase, no dump_avail, the DMAP', (t) => {
  const ps = 0x1000;
  const pages = new Map<bigint, Uint8Array>();
  const mapped = [0x10_0000n, 0x10_1000n, 0x20_5000n, 0x3f_f000n];
  for (const pa of [...mapped, 0x8000n]) pages.set(pa, pageOf(pa, ps, 1n));
  const ptes = new Array<bigint>(64).fill(0n);
  ptes[0] = (mapped[0] ?? 0n) | A.PG_V | A.PG_RW;
  ptes[1] = (mapped[1] ?? 0n) | A.PG_V | A.PG_NX; // NX outside PG_FRAME
  ptes[7] = (mapped[2] ?? 0n) | A.PG_V;
  ptes[63] = (mapped[3] ?? 0n) | A.PG_V | A.PG_RW;
  ptes[8] = 0x77_0000n | A.PG_V; // valid, but the page is not in the dump
  ptes[9] = (mapped[0] ?? 0n) | A.PG_RW; // not valid
  const spec: Spec = {
    arch: 'amd64',
    version: 1,
    ps,
    junkDumpavailsize: 0xdead_b000, // v1 has no dumpavailsize: must be ignored
    bits: 0x400, // 4 MiB from PA 0
    pages,
    pmap: u64s(ptes),
    kernbase: A.KERNBASE_V1,
    dmapphys: 0n,
    dmapbase: A.DMAP,
    dmapend: A.DMAP_END,
    msgbuf: new TextEncoder().encode('v1 msgbuf\n'),
  };
  const b = build(spec);
  const d = openMinidump(b.bytes);
  t.equal(d.header.version, 1);
  t.equal(d.header.dumpavailsize, 0, 'no dump_avail before v3');
  t.equal(d.pageSize, ps);
  t.same(d.offsets, b.offsets, 'sections: header, msgbuf, bitmap, ptes, pages (no dump_avail)');
  t.equal(b.offsets.dumpAvail, b.offsets.bitmap, 'the dump_avail section is empty');
  t.same(d.dumpAvail, [[0n, 0x400n * 0x1000n]], 'bits count pages from PA 0');
  checkPages(t, d, spec, [0x9000n, 0x40_0000n, 0x77_0000n]);
  t.equal(d.kvaToPa(A.KERNBASE_V1 + 0x123n), 0x10_0123n, 'PTE 0');
  t.equal(d.kvaToPa(A.KERNBASE_V1 + 0x1ff8n), 0x10_1ff8n, 'PTE 1: NX is not part of the frame');
  t.equal(d.kvaToPa(A.KERNBASE_V1 + 63n * 0x1000n + 0xfffn), 0x3f_ffffn, 'the last PTE');
  t.same(
    Buffer.from(d.readKva(A.KERNBASE_V1 + 0xff0n, 0x20)),
    Buffer.concat([
      Buffer.from(pages.get(0x10_0000n)?.subarray(0xff0) ?? []),
      Buffer.from(pages.get(0x10_1000n)?.subarray(0, 0x10) ?? []),
    ]),
    'a read across two PTEs',
  );
  throwsCode(t, () => d.kvaToPa(A.KERNBASE_V1 + 9n * 0x1000n), DumpCode.NotMapped, 'PG_V clear');
  throwsCode(t, () => d.kvaToPa(A.KERNBASE_V1 + 64n * 0x1000n), DumpCode.NotMapped, 'past the PTE array');
  throwsCode(t, () => d.readKva(A.KERNBASE_V1 + 8n * 0x1000n, 8), DumpCode.NotDumped, 'mapped page not dumped');
  t.equal(d.kvaToPa(A.DMAP + 0x8010n), 0x8010n, 'v1 dumps translate the direct map too (libkvm vatop_v1)');
  t.same(Buffer.from(d.readKva(A.DMAP + 0x8000n, 16)), Buffer.from(pages.get(0x8000n)?.subarray(0, 16) ?? []));
  throwsCode(t, () => d.kvaToPa(A.DMAP - 0x1000n), DumpCode.NotMapped, 'below the direct map');
  t.end();
});

/** amd64 v2/v3 page tables: PDE 0 → a PT page in the dump, PDE 1 → a 2 MiB leaf, PDE 2 invalid, PDE 3 → a PT page not dumped. */
function amd64PdeDump(version: 2 | 3, da: Pairs | undefined): { spec: Spec; ptPa: bigint; leaf: bigint } {
  const ps = 0x1000;
  const ptPa = 0x11_0000n;
  const leaf = 0x60_0000n; // 2 MiB aligned
  const pages = new Map<bigint, Uint8Array>();
  const pt = new Array<bigint>(512).fill(0n);
  pt[0] = 0x12_0000n | A.PG_V | A.PG_RW;
  pt[1] = 0x12_3000n | A.PG_V | A.PG_NX;
  pt[511] = 0x1f_f000n | A.PG_V;
  pt[2] = 0x12_4000n; // invalid
  pages.set(ptPa, u64s(pt));
  for (const pa of [0x12_0000n, 0x12_3000n, 0x1f_f000n]) pages.set(pa, pageOf(pa, ps, 2n));
  for (const pa of [leaf, leaf + 0x1000n, leaf + 0x1f_f000n]) pages.set(pa, pageOf(pa, ps, 3n));
  const pdes = [ptPa | A.PG_V | A.PG_RW, leaf | A.PG_V | A.PG_PS | A.PG_NX, 0n, 0x13_0000n | A.PG_V];
  return {
    spec: {
      arch: 'amd64',
      version,
      ps,
      ...(da === undefined ? {} : { dumpAvail: da }),
      ...(version === 2 ? { junkDumpavailsize: 0x7777_0000 } : {}),
      bits: da === undefined ? 0x1000 : 0x800,
      pages,
      pmap: u64s(pdes),
      kernbase: A.KERNBASE,
      dmapphys: 0n,
      dmapbase: A.DMAP,
      dmapend: A.DMAP_END,
      msgbuf: new Uint8Array(0x1234).fill(0x41),
    },
    ptPa,
    leaf,
  };
}

for (const version of [2, 3] as const) {
  t.test(`amd64 v${version}: PDEs, a PT page read from the dump, a 2 MiB leaf`, (t) => {
    // v3: a sparse dump_avail ([0x10_0000, 0x20_0000) then [0x60_0000, 0x80_0000)), so bits skip the hole
    const da: Pairs | undefined =
      version === 3
        ? [
            [0x10_0000n, 0x20_0000n],
            [0x60_0000n, 0x80_0000n],
          ]
        : undefined;
    const { spec, ptPa, leaf } = amd64PdeDump(version, da);
    const b = build(spec);
    const d = openMinidump(b.bytes);
    t.equal(d.header.version, version);
    t.same(d.offsets, b.offsets, 'section offsets (libkvm: page-rounded msgbuf, dump_avail, bitmap, pmap)');
    if (version === 3) {
      t.equal(d.header.dumpavailsize, 3 * 16);
      t.same(d.dumpAvail, da, 'dump_avail from its section');
      t.ok(b.offsets.bitmap > b.offsets.dumpAvail, 'a dump_avail page before the bitmap');
    } else {
      t.equal(d.header.dumpavailsize, 0, 'the word at 64 is not read before v3');
    }
    checkPages(t, d, spec, version === 3 ? [0x50_0000n, 0x12_1000n, 0x9_0000n] : [0x12_1000n, 0x9_0000n]);
    t.equal(d.paToOffset(ptPa), b.offsets.sparse, 'the lowest set bit is the first data page');
    const K = A.KERNBASE;
    t.equal(d.kvaToPa(K + 0x10n), 0x12_0010n, 'PDE 0 → PT page → PTE 0');
    t.equal(d.kvaToPa(K + 0x1abcn), 0x12_3abcn, 'PTE 1 (NX masked off)');
    t.equal(d.kvaToPa(K + 0x1f_f008n), 0x1f_f008n, 'PTE 511');
    t.equal(d.kvaToPa(K + 0x20_0000n + 0x1f_f123n), leaf + 0x1f_f123n, 'PDE 1: a 2 MiB page (PG_PS_FRAME)');
    t.same(
      Buffer.from(d.readKva(K + 0x20_0ff8n, 16)),
      Buffer.concat([
        Buffer.from(spec.pages.get(leaf)?.subarray(0xff8) ?? []),
        Buffer.from(spec.pages.get(leaf + 0x1000n)?.subarray(0, 8) ?? []),
      ]),
      'a read across pages of the 2 MiB leaf',
    );
    throwsCode(t, () => d.kvaToPa(K + 0x2000n), DumpCode.NotMapped, 'PTE invalid');
    throwsCode(t, () => d.kvaToPa(K + 0x40_0000n), DumpCode.NotMapped, 'PDE invalid');
    throwsCode(t, () => d.kvaToPa(K + 0x60_0000n), DumpCode.NotDumped, 'PDE → a PT page not in the dump');
    throwsCode(t, () => d.kvaToPa(K + 0x80_0000n), DumpCode.NotMapped, 'past the PDE array');
    throwsCode(t, () => d.readKva(K + 0x20_2000n, 8), DumpCode.NotDumped, 'leaf page not dumped');
    t.equal(d.kvaToPa(A.DMAP + 0x12_3456n), 0x12_3456n, 'the direct map');
    throwsCode(t, () => d.kvaToPa(A.DMAP_END), DumpCode.NotMapped, 'dmapend is exclusive');
    t.end();
  });
}

t.test('amd64: the kernel map is tried before the direct map (libkvm order)', (t) => {
  // kernbase inside [dmapbase, dmapend): at and above kernbase the PDEs decide, below it the DMAP
  const { spec } = amd64PdeDump(3, [[0x10_0000n, 0x80_0000n]]);
  const d = openMinidump(
    build({ ...spec, dmapbase: A.KERNBASE - 0x100_0000n, dmapend: A.KERNBASE + (1n << 40n) }).bytes,
  );
  t.equal(d.kvaToPa(A.KERNBASE + 0x10n), 0x12_0010n, 'kernel map');
  throwsCode(t, () => d.kvaToPa(A.KERNBASE + 0x40_0000n), DumpCode.NotMapped, 'invalid PDE: no DMAP fallback');
  t.equal(d.kvaToPa(A.KERNBASE - 0x100_0000n + 0x12_0010n), 0x12_0010n, 'below kernbase: the DMAP');
  t.end();
});

// ---------------------------------------------------------------- arm64

const R = {
  KERNBASE: 0xffff_0000_0000_0000n,
  DMAP: 0xffff_a000_0000_0000n,
  DMAP_END: 0xffff_ff00_0000_0000n,
  RAM: 0x4000_0000n,
  L3_PAGE: 3n,
  BLOCK: 1n,
  AF: 1n << 10n,
  SH_IS: 3n << 8n,
  XN: (1n << 53n) | (1n << 54n),
} as const;

function arm64Dump(version: 1 | 2 | 3, ps: number, flags: number | undefined, da: Pairs | undefined): Spec {
  const psN = BigInt(ps);
  const page = (k: bigint): bigint => R.RAM + k * psN;
  const pages = new Map<bigint, Uint8Array>();
  const l3 = new Array<bigint>(32).fill(0n);
  const mapped = [page(2n), page(3n), page(0x41n), da === undefined ? page(0x10n) : page(0x400n + 5n)];
  mapped.forEach((pa, i) => {
    l3[i === 3 ? 31 : i] = pa | R.AF | R.SH_IS | R.XN | R.L3_PAGE;
    pages.set(pa, pageOf(pa, ps, BigInt(4 + i)));
  });
  l3[4] = page(4n) | R.AF | R.BLOCK; // a block descriptor is not an L3 page
  l3[5] = page(5n) | R.AF | R.L3_PAGE; // mapped, not dumped
  for (const k of [0n, 7n, 0xffn]) pages.set(page(k), pageOf(page(k), ps, 9n));
  // past a range whose end is not page aligned: its bit counts howmany(end, ps) pages (libkvm)
  if (da !== undefined) for (const k of [0x500n, 0x608n]) pages.set(page(k), pageOf(page(k), ps, 10n));
  const bits = da === undefined ? Number(R.RAM / psN) + 0x800 : 0x800;
  return {
    arch: 'arm64',
    version,
    ps,
    ...(flags === undefined ? {} : { flags }),
    ...(da === undefined ? {} : { dumpAvail: da }),
    ...(version === 1 ? { junkDumpavailsize: 0x5555_0000 } : {}),
    bits,
    pages,
    pmap: u64s(l3),
    kernbase: R.KERNBASE,
    dmapphys: R.RAM,
    dmapbase: R.DMAP,
    dmapend: R.DMAP + 0x4000_0000n,
    msgbuf: new TextEncoder().encode('arm64 msgbuf\n'.repeat(100)),
  };
}

const arm64Cases: readonly { name: string; version: 1 | 2 | 3; ps: number; flags?: number; da: boolean }[] = [
  { name: 'v1: no dump_avail; the word at 76 is not flags', version: 1, ps: 0x1000, flags: 1, da: false },
  { name: 'v2: dump_avail; the word at 76 is not flags', version: 2, ps: 0x1000, flags: 1, da: true },
  { name: 'v3, MINIDUMP_FLAG_PS_4K', version: 3, ps: 0x1000, flags: 0, da: true },
  { name: 'v3, MINIDUMP_FLAG_PS_16K', version: 3, ps: 0x4000, flags: 1, da: true },
  { name: 'v3, PS_16K without dump_avail pages', version: 3, ps: 0x4000, flags: 1, da: false },
];

for (const c of arm64Cases) {
  t.test(`arm64 ${c.name}`, (t) => {
    const ps = BigInt(c.ps);
    const page = (k: bigint): bigint => R.RAM + k * ps;
    // three ranges; the second ends off a 16 KiB boundary (howmany() counts its last page)
    const da: Pairs | undefined = c.da
      ? [
          [R.RAM, page(0x100n)],
          [page(0x400n), page(0x500n) + 0x1000n],
          [page(0x600n), page(0x610n)],
        ]
      : undefined;
    const spec = arm64Dump(c.version, c.ps, c.flags, da);
    const b = build(spec);
    const d = openMinidump(b.bytes);
    t.equal(d.header.version, c.version);
    t.equal(d.pageSize, c.ps, `page size ${c.ps}`);
    t.equal(d.header.flags, c.version === 3 ? (c.flags ?? 0) : 0, 'flags read from v3 only (PS_4K before)');
    t.equal(d.header.dmapphys, R.RAM);
    t.same(d.offsets, b.offsets, 'sections rounded to the dump page size');
    t.equal(b.offsets.dumpAvail, c.ps + roundTo(spec.msgbuf.length, c.ps), 'the header takes one dump page');
    if (da !== undefined) t.same(d.dumpAvail, da);
    else t.same(d.dumpAvail, [[0n, BigInt(spec.bits) * ps]], 'bits count pages from PA 0');
    checkPages(t, d, spec, [page(1n), page(5n), ...(da === undefined ? [] : [page(0x200n), page(0x501n)])]);
    const K = R.KERNBASE;
    t.equal(d.kvaToPa(K + 0x10n), page(2n) + 0x10n, 'L3 0');
    t.equal(d.kvaToPa(K + ps + ps - 1n), page(3n) + ps - 1n, 'L3 1 (attributes masked)');
    t.equal(d.kvaToPa(K + 31n * ps + 8n), (da === undefined ? page(0x10n) : page(0x405n)) + 8n, 'L3 31');
    t.same(
      Buffer.from(d.readKva(K + ps - 8n, 16)),
      Buffer.concat([
        Buffer.from(spec.pages.get(page(2n))?.subarray(c.ps - 8) ?? []),
        Buffer.from(spec.pages.get(page(3n))?.subarray(0, 8) ?? []),
      ]),
      'a read across two L3 pages',
    );
    throwsCode(t, () => d.kvaToPa(K + 3n * ps), DumpCode.NotMapped, 'invalid L3');
    throwsCode(t, () => d.kvaToPa(K + 4n * ps), DumpCode.NotMapped, 'a block descriptor at L3');
    throwsCode(t, () => d.readKva(K + 5n * ps, 8), DumpCode.NotDumped, 'mapped, not dumped');
    throwsCode(t, () => d.kvaToPa(K + 32n * ps), DumpCode.NotMapped, 'past the L3 array');
    throwsCode(t, () => d.kvaToPa(K - 1n), DumpCode.NotMapped, 'below kernbase');
    t.equal(d.kvaToPa(R.DMAP + 7n * ps + 0x123n), page(7n) + 0x123n, 'DMAP: va - dmapbase + dmapphys');
    t.same(
      Buffer.from(d.readKva(R.DMAP + 0xffn * ps + ps - 4n, 4)),
      Buffer.from(spec.pages.get(page(0xffn))?.subarray(c.ps - 4) ?? []),
    );
    t.end();
  });
}

// ---------------------------------------------------------------- refused

t.test('versions and page sizes the reader refuses', (t) => {
  const amd = build(amd64PdeDump(3, undefined).spec).bytes;
  const arm = build(arm64Dump(3, 0x1000, 0, undefined)).bytes;
  const withWord = (b: Uint8Array, at: number, v: number): Uint8Array => {
    const c = Uint8Array.from(b);
    new DataView(c.buffer).setUint32(at, v, true);
    return c;
  };
  for (const [name, b] of [
    ['amd64', amd],
    ['arm64', arm],
  ] as const) {
    for (const v of [0, 4, 0xffff_ffff]) {
      const e = throwsCode(t, () => openMinidump(withWord(b, 24, v)), DumpCode.BadVersion, `${name} version ${v}`);
      t.match(e?.message, /minidump version .* \(want 1\.\.3\)/);
    }
  }
  throwsCode(t, () => openMinidump(withWord(arm, 76, 2)), DumpCode.BadPageSize, 'arm64 page-size flag 2');
  throwsCode(t, () => openMinidump(withWord(arm, 76, 3)), DumpCode.BadPageSize, 'arm64 page-size flag 3');
  t.equal(
    openMinidump(withWord(arm, 76, 4)).pageSize,
    0x1000,
    'bits above MINIDUMP_FLAG_PS_MASK are not the page size',
  );
  const i386 = Uint8Array.from(amd);
  i386.set(new TextEncoder().encode('minidump FreeBSD/i386\0\0'));
  throwsCode(t, () => openMinidump(i386), DumpCode.BadMagic, 'another architecture');
  throwsCode(t, () => openMinidump(amd.subarray(0, 0x1000 + 0x1000)), DumpCode.Truncated, 'cut before the bitmap');
  t.end();
});
