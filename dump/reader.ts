/**
 * A libkvm-like minidump reader, amd64 and arm64 (lib/libkvm/kvm_minidump_amd64.c,
 * kvm_minidump_aarch64.c, kvm_private.c _kvm_pt_init / _kvm_pa_bit_id / _kvm_pt_find).
 *
 * Contract: `openMinidump(file)` parses the header page and sections of a dump held in any
 * random-access `DumpFile` (bytes in memory or a file), checks every size against the file
 * and kboot's limits, and returns a reader: `paToOffset(pa)` (bitmap + dump_avail, popcount),
 * `kvaToPa(kva)` in libkvm's order (amd64: the dumped pmap section from kernbase, else the
 * DMAP; arm64: the DMAP, else the pmap section), `readPa`/`readKva` across pages. Versions,
 * as libkvm reads them: amd64 v1 (pmap = one PTE per 4 KiB page from kernbase), v2 (one PDE
 * per 2 MiB), v3 (+ dump_avail); arm64 v1, v2 (+ dump_avail), v3 (+ flags: 4 KiB or 16 KiB
 * pages). Any other version is DUMP_BAD_VERSION. A file cut short inside its data pages opens
 * (`expectedSize`, `presentPages`; `pagesFrom` lists the pages past the cut): a page not
 * wholly in the file is DUMP_PAGE_MISSING with its PA and file offset, whether the file ends
 * before it or a decompressed stream ended early; a cut inside the header page or the
 * sections is DUMP_TRUNCATED. Only DumpError escapes (fuzz contract), and the KbootErrors of
 * the DumpFile's own reads (a lazily decompressed file, dump/decompressed.ts).
 * `minidumpLayout(file)` is the header part alone: where each section lies.
 */
import { hex } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import type { OutOfBoundsInfo } from '../loader/bytes/index.js';
import { KbootError } from '../loader/errors.js';
import { DumpCode, DumpError } from './errors.js';
import { AMD64_PTE, ARM64_PTE, Amd64MinidumpHdr, Arm64MinidumpHdr, MINIDUMP } from './layout.js';
import { dumpAvailPairs, paToBit, popcount8, popcountBytes, setBitPas } from '../loader/kernel-abi/dump-avail.js';
import type { MinidumpHeader } from './minidump.js';

/** Random access to a dump's bytes. `read` may return fewer bytes only at the end. */
export interface DumpFile {
  readonly size: number;
  read(offset: number, len: number): Uint8Array;
  /**
   * Optional: a DumpFile of the decompressed bytes of a gzip/zstd `region` of this file (the
   * payload of a compressed dump-device image); files opened by dump/file.ts openDumpFile have
   * it, and dump/open.ts openDump uses it.
   */
  readonly decompress?: (region: DumpFile, kind: 'gzip' | 'zstd') => DumpFile;
  /** Optional: makes bytes [0, end) ready for reading, letting the event loop turn (decoded files). */
  readonly prefetch?: (end: number) => Promise<void>;
}

/** A DumpFile over bytes in memory. */
export function bytesFile(b: Uint8Array): DumpFile {
  return { size: b.length, read: (o, n) => b.subarray(o, Math.min(o + n, b.length)) };
}

/** Largest section read into memory. */
const MAX_SECTION = 1 << 30;

export interface Minidump {
  readonly arch: Arch;
  readonly header: MinidumpHeader;
  readonly pageSize: number;
  readonly dumpAvail: readonly (readonly [bigint, bigint])[];
  readonly offsets: {
    readonly dumpAvail: number;
    readonly bitmap: number;
    readonly pmap: number;
    readonly sparse: number;
  };
  /** Data pages (set bits). */
  readonly pages: number;
  /** Bytes the headers imply: the header page, the sections and one page per set bit. */
  readonly expectedSize: number;
  /** Data pages wholly in the file (all of them unless it was cut short). */
  readonly presentPages: number;
  /** Offset of the byte holding `pa`: DUMP_NOT_DUMPED when the dump lacks its page, DUMP_PAGE_MISSING when the file was cut before it. */
  paToOffset(pa: bigint): number;
  kvaToPa(kva: bigint): bigint;
  readPa(pa: bigint, len: number): Uint8Array;
  readKva(kva: bigint, len: number): Uint8Array;
  /** The PA of every set bit, in order (for checks). */
  dumpedPages(): Generator<bigint, void, undefined>;
  /** The data pages from index `index` on, with their PA (undefined for a set bit past dump_avail). */
  pagesFrom(index: number): Generator<{ readonly index: number; readonly pa: bigint | undefined }, void, undefined>;
}

const oob = (info: OutOfBoundsInfo): DumpError =>
  new DumpError(
    DumpCode.Truncated,
    `dump: ${info.what} at ${hex(info.offset)} lies past the end (${hex(info.length)})`,
    {
      ...info,
    },
  );

/** `len` bytes at `off`, or DUMP_TRUNCATED / DUMP_TOO_LARGE. */
export function readExact(f: DumpFile, off: number, len: number, what: string): Uint8Array {
  if (len > MAX_SECTION) {
    throw new DumpError(DumpCode.TooLarge, `dump: ${what} is ${hex(len)} bytes (limit ${hex(MAX_SECTION)})`, {
      what,
      len,
    });
  }
  if (off + len > f.size) {
    throw new DumpError(
      DumpCode.Truncated,
      `dump: ${what} at ${hex(off)} (+${hex(len)}) lies past the end (${hex(f.size)})`,
      {
        what,
        offset: off,
        len,
        size: f.size,
      },
    );
  }
  let b: Uint8Array;
  try {
    b = f.read(off, len);
  } catch (e) {
    if (e instanceof KbootError) throw e; // the file's own failure (a decompressed file: no room, a corrupt stream)
    throw new DumpError(
      DumpCode.Io,
      `dump: reading ${what} at ${hex(off)} failed`,
      { what, offset: off },
      { cause: e },
    );
  }
  if (b.length !== len) {
    throw new DumpError(
      DumpCode.Truncated,
      `dump: short read of ${what} at ${hex(off)} (${hex(b.length)} of ${hex(len)})`,
      {
        what,
        offset: off,
        len,
        got: b.length,
      },
    );
  }
  return b;
}

/** Where a minidump's sections lie, from its header page alone (libkvm's offsets). */
export interface MinidumpLayout {
  readonly arch: Arch;
  readonly header: MinidumpHeader;
  readonly pageSize: number;
  readonly dumpAvail: number;
  readonly bitmap: number;
  readonly pmap: number;
  /** The first data page. */
  readonly sparse: number;
}

/**
 * Decodes the minidump header at the start of `f` (magic, version, arm64 page-size flag) and
 * lays out its sections; DumpError otherwise.
 */
export function minidumpLayout(input: DumpFile | Uint8Array): MinidumpLayout {
  const f = input instanceof Uint8Array ? bytesFile(input) : input;
  const head = readExact(f, 0, Math.min(f.size, Arm64MinidumpHdr.size), 'the minidump header');
  const magic = new TextDecoder('latin1').decode(head.subarray(0, 24)).replace(/\0[\s\S]*$/, '');
  const arch: Arch | undefined =
    magic === MINIDUMP.MAGIC.amd64 ? 'amd64' : magic === MINIDUMP.MAGIC.arm64 ? 'arm64' : undefined;
  if (arch === undefined) {
    throw new DumpError(
      DumpCode.BadMagic,
      `dump: not a FreeBSD amd64/arm64 minidump (magic ${JSON.stringify(magic)})`,
      {
        magic,
      },
    );
  }
  let header: MinidumpHeader;
  if (arch === 'amd64') {
    const h = Amd64MinidumpHdr.decode(head, 0, oob);
    header = { arch, ...h, dmapphys: 0n, flags: 0, dumpavailsize: h.version === 3 ? h.dumpavailsize : 0 };
  } else {
    const h = Arm64MinidumpHdr.decode(head, 0, oob);
    header = {
      arch,
      ...h,
      dumpavailsize: h.version >= 2 ? h.dumpavailsize : 0,
      flags: h.version >= 3 ? h.flags : MINIDUMP.FLAG_PS_4K,
    };
  }
  if (header.version < 1 || header.version > MINIDUMP.VERSION) {
    throw new DumpError(DumpCode.BadVersion, `dump: ${arch} minidump version ${hex(header.version)} (want 1..3)`, {
      version: header.version,
    });
  }
  const psFlag = header.flags & MINIDUMP.FLAG_PS_MASK;
  if (arch === 'arm64' && psFlag !== MINIDUMP.FLAG_PS_4K && psFlag !== MINIDUMP.FLAG_PS_16K) {
    throw new DumpError(DumpCode.BadPageSize, `dump: arm64 minidump page-size flag ${hex(header.flags)} is not known`, {
      flags: header.flags,
    });
  }
  const ps = arch === 'arm64' && psFlag === MINIDUMP.FLAG_PS_16K ? MINIDUMP.PAGE_16K : MINIDUMP.PAGE_4K;
  const round = (x: number): number => Math.ceil(x / ps) * ps;
  const daOff = ps + round(header.msgbufsize);
  const bitmapOff = daOff + round(header.dumpavailsize);
  const pmapOff = bitmapOff + round(header.bitmapsize);
  const sparseOff = pmapOff + round(header.pmapsize);
  return { arch, header, pageSize: ps, dumpAvail: daOff, bitmap: bitmapOff, pmap: pmapOff, sparse: sparseOff };
}

/** A minidump's sections, as read at open (copies held in memory, bounded by MAX_SECTION). */
interface Sections {
  readonly dumpAvail: readonly (readonly [bigint, bigint])[];
  readonly bitmap: Uint8Array;
  readonly pmap: Uint8Array;
}

/** dump_avail (or, before it existed, the bitmap's span from PA 0), the bitmap, the page-table section. */
function readSections(f: DumpFile, layout: MinidumpLayout): Sections {
  const { header } = layout;
  const dumpAvail =
    header.dumpavailsize > 0
      ? dumpAvailPairs(readExact(f, layout.dumpAvail, header.dumpavailsize, 'dump_avail'))
      : [[0n, BigInt(header.bitmapsize) * 8n * BigInt(layout.pageSize)] as const];
  const bitmap = readExact(f, layout.bitmap, header.bitmapsize, 'the bitmap');
  const pmap = readExact(f, layout.pmap, header.pmapsize, 'the page-table section');
  return { dumpAvail, bitmap, pmap };
}

/** The rank of a set bit (its data page's index) in O(512) bytes: set bits before each 512-byte block. */
function bitRanks(bitmap: Uint8Array): { readonly total: number; rank(bit: number): number } {
  const BLOCK = 512;
  const bins = new Float64Array(Math.ceil(bitmap.length / BLOCK) + 1);
  let total = 0;
  for (let i = 0; i < bitmap.length; i += BLOCK) {
    bins[i / BLOCK] = total;
    total += popcountBytes(bitmap.subarray(i, i + BLOCK));
  }
  return {
    total,
    rank(bit) {
      const blk = Math.floor((bit >> 3) / BLOCK);
      let count = bins[blk] ?? 0;
      for (let i = blk * BLOCK; i < bit >> 3; i++) count += popcount8(bitmap[i] ?? 0);
      return count + popcount8((bitmap[bit >> 3] ?? 0) & ((1 << (bit & 7)) - 1));
    },
  };
}

/** DUMP_PAGE_MISSING: a page the dump holds at `offset`, past the end of a `fileSize`-byte file. */
export function pageMissing(pa: bigint, offset: number | bigint, fileSize: number): DumpError {
  return new DumpError(
    DumpCode.PageMissing,
    `dump: the page of PA ${hex(pa)} is missing: the file ends at ${hex(fileSize)}, before its offset ${hex(offset)} (a truncated dump)`,
    { pa, offset: BigInt(offset), fileSize },
  );
}

/** `n` bytes of a data page at `off`: a short read there (a decompressed stream that ended early) is the page missing. */
function readDataBytes(f: DumpFile, off: number, n: number, pa: bigint): Uint8Array {
  try {
    return readExact(f, off, n, 'a data page');
  } catch (e) {
    if (e instanceof DumpError && e.code === DumpCode.Truncated) throw pageMissing(pa, off, f.size);
    throw e;
  }
}

/** pa → file offset through dump_avail and the bitmap (libkvm _kvm_pt_find); NotDumped / PageMissing. */
function pageLocator(
  f: DumpFile,
  layout: MinidumpLayout,
  s: Sections,
  ranks: { rank(bit: number): number },
): (pa: bigint) => number {
  const ps = layout.pageSize;
  const psN = BigInt(ps);
  const notDumped = (pa: bigint, why: string): DumpError =>
    new DumpError(DumpCode.NotDumped, `dump: PA ${hex(pa)} is not in the dump (${why})`, { pa, why });
  return (pa) => {
    // _kvm_pt_find looks up the page's base (_kvm_pa_bit_id): a page that a dump_avail range
    // ends inside (howmany() counts it) is dumped whole; pa itself for a range starting inside one
    const bit = paToBit(s.dumpAvail, pa - (pa % psN), psN) ?? paToBit(s.dumpAvail, pa, psN);
    if (bit === undefined) throw notDumped(pa, 'not in dump_avail');
    if (bit < 0n || bit >= BigInt(s.bitmap.length) * 8n) throw notDumped(pa, 'bit outside the bitmap');
    const b = Number(bit);
    if ((((s.bitmap[b >> 3] ?? 0) >> (b & 7)) & 1) === 0) throw notDumped(pa, 'bit clear');
    const pageOff = layout.sparse + ranks.rank(b) * ps;
    if (pageOff + ps > f.size) throw pageMissing(pa, pageOff, f.size);
    return pageOff + Number(pa % psN);
  };
}

/** KVA → PA through the minidump's page-table section, in libkvm's order (see the module contract). */
function minidumpKva(
  f: DumpFile,
  layout: MinidumpLayout,
  pmap: Uint8Array,
  paToOffset: (pa: bigint) => number,
): (va: bigint) => bigint {
  const { header } = layout;
  const ps = layout.pageSize;
  const pmapDv = new DataView(pmap.buffer, pmap.byteOffset, pmap.byteLength);
  const notMapped = (va: bigint, why: string): DumpError =>
    new DumpError(DumpCode.NotMapped, `dump: KVA ${hex(va)} is not mapped (${why})`, { va, why });
  const pmapEntry = (idx: bigint, va: bigint): bigint => {
    // whole entries only: a pmapsize that is not a multiple of 8 leaves a partial one at the end
    if (idx < 0n || idx >= BigInt(Math.floor(pmap.length / 8))) throw notMapped(va, 'outside the page-table section');
    return pmapDv.getBigUint64(Number(idx) * 8, true);
  };
  if (layout.arch === 'arm64') {
    const T = ARM64_PTE;
    const shift = ps === MINIDUMP.PAGE_16K ? 14n : 12n;
    return (va) => {
      if (va >= header.dmapbase && va < header.dmapend) return va - header.dmapbase + header.dmapphys;
      if (va < header.kernbase) throw notMapped(va, 'below kernbase');
      const l3 = pmapEntry((va - header.kernbase) >> shift, va);
      if ((l3 & T.DESCR_MASK) !== T.L3_PAGE) throw notMapped(va, 'L3 entry is not a page');
      return (l3 & ~T.ATTR_MASK) + (va & (BigInt(ps) - 1n));
    };
  }
  const T = AMD64_PTE;
  return (va) => {
    // _amd64_minidump_vatop{,_v1}: the kernel map from kernbase first, then the direct map (v1 too)
    if (va < header.kernbase) {
      if (va >= header.dmapbase && va < header.dmapend) return va - header.dmapbase;
      throw notMapped(va, 'below kernbase and outside the direct map');
    }
    if (header.version === 1) {
      const pte = pmapEntry((va - header.kernbase) >> 12n, va);
      if ((pte & T.PG_V) === 0n) throw notMapped(va, 'PTE invalid');
      return (pte & T.PG_FRAME) + (va & 0xfffn);
    }
    const pde = pmapEntry((va - header.kernbase) >> T.PDR_SHIFT, va);
    if ((pde & T.PG_V) === 0n) throw notMapped(va, 'PDE invalid');
    if ((pde & T.PG_PS) !== 0n) return (pde & T.PG_PS_FRAME) + (va & (T.NBPDR - 1n));
    const ptPa = pde & T.PG_FRAME;
    const ptPage = readDataBytes(f, paToOffset(ptPa), ps, ptPa);
    const e = new DataView(ptPage.buffer, ptPage.byteOffset, ptPage.byteLength).getBigUint64(
      Number((va >> 12n) & 511n) * 8,
      true,
    );
    if ((e & T.PG_V) === 0n) throw notMapped(va, 'PTE invalid');
    return (e & T.PG_FRAME) + (va & 0xfffn);
  };
}

/** `len` bytes from `addr` on, page by page, each page's address translated by `toPa`. */
export function readAcrossPages(
  f: DumpFile,
  pageSize: number,
  addr: bigint,
  len: number,
  toPa: (a: bigint) => bigint,
  paToOffset: (pa: bigint) => number,
): Uint8Array {
  if (!Number.isSafeInteger(len) || len < 0 || len > MAX_SECTION) {
    throw new DumpError(DumpCode.TooLarge, `dump: read of ${hex(len)} bytes is out of range`, { len });
  }
  const psN = BigInt(pageSize);
  const out = new Uint8Array(len);
  for (let done = 0; done < len;) {
    const a = (addr + BigInt(done)) & 0xffff_ffff_ffff_ffffn;
    const n = Math.min(pageSize - Number(a % psN), len - done);
    const pa = toPa(a);
    out.set(readDataBytes(f, paToOffset(pa), n, pa), done);
    done += n;
  }
  return out;
}

/** Opens a minidump (see the module contract). */
export function openMinidump(input: DumpFile | Uint8Array): Minidump {
  const f = input instanceof Uint8Array ? bytesFile(input) : input;
  const layout = minidumpLayout(f);
  const ps = layout.pageSize;
  const sections = readSections(f, layout);
  const ranks = bitRanks(sections.bitmap);
  const paToOffset = pageLocator(f, layout, sections, ranks);
  const kvaToPa = minidumpKva(f, layout, sections.pmap, paToOffset);
  const expectedSize = layout.sparse + ranks.total * ps;
  const presentPages = Math.min(ranks.total, Math.max(0, Math.floor((f.size - layout.sparse) / ps)));
  const read = (addr: bigint, len: number, toPa: (a: bigint) => bigint): Uint8Array =>
    readAcrossPages(f, ps, addr, len, toPa, paToOffset);
  return {
    arch: layout.arch,
    header: layout.header,
    pageSize: ps,
    dumpAvail: sections.dumpAvail,
    offsets: { dumpAvail: layout.dumpAvail, bitmap: layout.bitmap, pmap: layout.pmap, sparse: layout.sparse },
    pages: ranks.total,
    expectedSize,
    presentPages,
    paToOffset,
    kvaToPa,
    readPa: (pa, len) => read(pa, len, (a) => a),
    readKva: (va, len) => read(va, len, kvaToPa),
    *dumpedPages() {
      for (const pa of setBitPas(sections.dumpAvail, sections.bitmap, BigInt(ps))) if (pa !== undefined) yield pa;
    },
    *pagesFrom(index: number) {
      let i = 0;
      for (const pa of setBitPas(sections.dumpAvail, sections.bitmap, BigInt(ps))) {
        if (i >= index) yield { index: i, pa };
        i++;
      }
    },
  };
}
