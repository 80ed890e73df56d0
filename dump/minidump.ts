/**
 * Minidump WRITER for the rescue kernel's /dev/dumper stream, amd64 and arm64
 * (sys/{amd64,arm64}/{amd64,arm64}/rescue_dumper.c as described in freebsd-handoff.md §8.6;
 * formats of sys/{amd64,arm64}/include/minidump.h; page-table synthesis as minidump_machdep.c).
 *
 * Contract: `planMinidump(source)` reads only through `source.readPhys` (the host's memory,
 * as a rescue kernel sees it), computes the header and the total size up front, and returns
 * `chunks()`, a sync generator yielding the stream in order: header page, msgbuf
 * (round_page(dp_msgbufsz)), dump_avail (round_page(sizeof dump_avail)), bitmap
 * (round_page(dp_vmdumpsz)), page-table pages (amd64: one per NBPDP of [kernstart, kernend);
 * arm64: one per L2_SIZE), then one page per set bitmap bit in ascending bit order (bit → PA
 * through dump_avail, sys/vm/vm_dumpset.h). A set bit with no PA in dump_avail gives a zero page
 * (libkvm never reaches it). Bad params raise DumpError(DUMP_BAD_PARAMS / DUMP_TOO_LARGE).
 */
import { hex } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { ATTR_DEFAULT } from '../loader/arch/arm64/layout.js';
import type { RescueDumpParams } from '../loader/handoff/params.js';
import { dumpAvailPairs, popcountBytes, setBitPas } from '../loader/kernel-abi/dump-avail.js';
import { zeroChunk } from './zero.js';
import { DumpCode, DumpError } from './errors.js';
import { AMD64_PTE, ARM64_PTE, Amd64MinidumpHdr, Arm64MinidumpHdr, MINIDUMP } from './layout.js';

const PAGE = 0x1000;
const PAGE_N = 0x1000n;
const roundPage = (n: bigint): bigint => (n + PAGE_N - 1n) & ~(PAGE_N - 1n);

/** rescue_dump_params as the dumper reads them (loader/handoff/params.ts; dpKernmax is not used). */
export type MinidumpParams = Omit<RescueDumpParams, 'dpKernmax'>;

/** Where the dump's memory comes from. */
export interface MinidumpSource {
  readonly arch: Arch;
  readonly params: MinidumpParams;
  readPhys(pa: bigint, len: number): Uint8Array;
  /**
   * Optional: the 4 KiB pages at `pas` copied into one buffer, in order — data pages are
   * scattered, and one call per batch instead of one per page is what keeps a dump at disk
   * speed. Without it, runs of contiguous pages are read with `readPhys`.
   */
  readPages?(pas: BigUint64Array): Uint8Array;
}

export interface MinidumpOptions {
  /** sizeof(dump_avail) of the rescue kernel (default MINIDUMP.DUMP_AVAIL_BYTES). */
  readonly dumpAvailBytes?: number;
}

export interface MinidumpHeader {
  readonly arch: Arch;
  readonly magic: string;
  readonly version: number;
  readonly msgbufsize: number;
  readonly bitmapsize: number;
  readonly pmapsize: number;
  readonly kernbase: bigint;
  readonly dmapphys: bigint;
  readonly dmapbase: bigint;
  readonly dmapend: bigint;
  readonly dumpavailsize: number;
  readonly flags: number;
}

export interface MinidumpSegment {
  readonly name: 'MDHDR' | 'MSGBUF' | 'DUMP_AVAIL' | 'BITMAP' | 'PTPS' | 'PAGES';
  readonly offset: bigint;
  readonly size: bigint;
}

export interface MinidumpPlan {
  readonly header: MinidumpHeader;
  readonly headerBytes: Uint8Array;
  readonly segments: readonly MinidumpSegment[];
  /** Total bytes of the stream. */
  readonly size: bigint;
  /** Set bits (data pages). */
  readonly pages: number;
  /** dump_avail and the bitmap as read when the plan was made (what the stream follows). */
  readonly dumpAvail: readonly (readonly [bigint, bigint])[];
  readonly bitmap: Uint8Array;
  chunks(): Generator<Uint8Array, void, undefined>;
}

/** Limits on what a source may ask for (bounded inputs). */
const LIMITS = {
  MSGBUF: 64n << 20n,
  BITMAP: 256n << 20n,
  PT_PAGES: 1n << 20n,
  DUMP_AVAIL: PAGE,
  /** Pages read per data chunk (1 MiB). */
  BATCH: 256,
} as const;

/** Encodes a minidump header struct for `h.arch`, zero-padded to one page. */
export function encodeMinidumpHeader(h: MinidumpHeader): Uint8Array {
  const page = new Uint8Array(PAGE);
  if (h.arch === 'amd64') {
    Amd64MinidumpHdr.encodeInto(page, 0, {
      magic: h.magic,
      version: h.version,
      msgbufsize: h.msgbufsize,
      bitmapsize: h.bitmapsize,
      pmapsize: h.pmapsize,
      kernbase: h.kernbase,
      dmapbase: h.dmapbase,
      dmapend: h.dmapend,
      dumpavailsize: h.dumpavailsize,
    });
  } else {
    Arm64MinidumpHdr.encodeInto(page, 0, {
      magic: h.magic,
      version: h.version,
      msgbufsize: h.msgbufsize,
      bitmapsize: h.bitmapsize,
      pmapsize: h.pmapsize,
      kernbase: h.kernbase,
      dmapphys: h.dmapphys,
      dmapbase: h.dmapbase,
      dmapend: h.dmapend,
      dumpavailsize: h.dumpavailsize,
      flags: h.flags,
    });
  }
  return page;
}

function badParams(what: string, details: Record<string, unknown>): DumpError {
  return new DumpError(DumpCode.BadParams, `dump: ${what}`, details);
}

/** The params checked against what a dump can hold; the page-table pages they need. */
function checkParams(src: MinidumpSource, daBytes: number): { step: bigint; ptPages: bigint } {
  const p = src.params;
  if (!Number.isSafeInteger(daBytes) || daBytes <= 0 || daBytes > LIMITS.DUMP_AVAIL || daBytes % 16 !== 0) {
    throw badParams(`sizeof(dump_avail) ${hex(daBytes)} is not a multiple of 16 up to one page`, {
      dumpAvailBytes: daBytes,
    });
  }
  if (p.dpMsgbufsz < 0n || p.dpMsgbufsz > LIMITS.MSGBUF) {
    throw new DumpError(DumpCode.TooLarge, `dump: dp_msgbufsz ${hex(p.dpMsgbufsz)} exceeds ${hex(LIMITS.MSGBUF)}`, {
      dpMsgbufsz: p.dpMsgbufsz,
    });
  }
  if (p.dpVmdumpsz < 0n || p.dpVmdumpsz > LIMITS.BITMAP) {
    throw new DumpError(DumpCode.TooLarge, `dump: dp_vmdumpsz ${hex(p.dpVmdumpsz)} exceeds ${hex(LIMITS.BITMAP)}`, {
      dpVmdumpsz: p.dpVmdumpsz,
    });
  }
  if (p.dpKernend <= p.dpKernstart) {
    throw badParams(`dp_kernend ${hex(p.dpKernend)} is not above dp_kernstart ${hex(p.dpKernstart)}`, {
      dpKernstart: p.dpKernstart,
      dpKernend: p.dpKernend,
    });
  }
  if (src.arch === 'arm64' && p.dpDmapbasepa === undefined) {
    throw badParams('arm64 params lack dp_dmapbasepa', {});
  }
  const step = src.arch === 'amd64' ? AMD64_PTE.NBPDP : ARM64_PTE.L2_SIZE;
  const ptPages = (p.dpKernend - p.dpKernstart + step - 1n) / step;
  if (ptPages > LIMITS.PT_PAGES) {
    throw new DumpError(DumpCode.TooLarge, `dump: ${hex(ptPages)} page-table pages exceed ${hex(LIMITS.PT_PAGES)}`, {
      ptPages,
    });
  }
  return { step, ptPages };
}

/** The header a rescue dumper writes for these params and section sizes. */
function minidumpHeader(
  arch: MinidumpSource['arch'],
  p: MinidumpParams,
  sizes: { msgbuf: bigint; bitmap: bigint; pmap: bigint; dumpAvail: bigint },
): MinidumpHeader {
  if (sizes.pmap > 0xffff_ffffn || sizes.bitmap > 0xffff_ffffn) {
    throw new DumpError(DumpCode.TooLarge, `dump: pmapsize ${hex(sizes.pmap)} does not fit the u32 header field`, {
      pmapsize: sizes.pmap,
    });
  }
  return {
    arch,
    magic: MINIDUMP.MAGIC[arch],
    version: MINIDUMP.VERSION,
    msgbufsize: Number(sizes.msgbuf),
    bitmapsize: Number(sizes.bitmap),
    pmapsize: Number(sizes.pmap),
    kernbase: p.dpKernstart,
    dmapphys: arch === 'arm64' ? (p.dpDmapbasepa ?? 0n) : 0n,
    dmapbase: p.dpDmapmin,
    dmapend: p.dpDmapmax,
    dumpavailsize: Number(sizes.dumpAvail),
    flags: MINIDUMP.FLAG_PS_4K,
  };
}

/** The stream's sections back to back from offset 0. */
function layoutSegments(sizes: readonly [MinidumpSegment['name'], bigint][]): {
  segments: MinidumpSegment[];
  size: bigint;
} {
  let off = 0n;
  const segments = sizes.map(([name, size]) => {
    const s = { name, offset: off, size };
    off += size;
    return s;
  });
  return { segments, size: off };
}

/** `b` then zeros up to `len` (< one page of padding: every length here is b's, page-rounded). */
function* padded(b: Uint8Array, len: bigint): Generator<Uint8Array, void, undefined> {
  const n = Math.min(b.length, Number(len));
  if (n > 0) yield b.subarray(0, n);
  for (let rest = Number(len) - n; rest > 0; rest -= PAGE) yield ZERO_PAGE.subarray(0, Math.min(rest, PAGE));
}

/** The data pages in bit order: gathered in batches (readPages) or contiguous runs (readPhys). */
function* dataPages(
  src: MinidumpSource,
  pairs: readonly (readonly [bigint, bigint])[],
  bitmap: Uint8Array,
): Generator<Uint8Array, void, undefined> {
  const batch = new BigUint64Array(LIMITS.BATCH);
  let used = 0;
  let runPa = 0n;
  let runLen = 0;
  function* flush(): Generator<Uint8Array, void, undefined> {
    if (used > 0) yield (src.readPages as (pas: BigUint64Array) => Uint8Array)(batch.slice(0, used));
    used = 0;
    if (runLen > 0) yield src.readPhys(runPa, runLen * PAGE);
    runLen = 0;
  }
  for (const pa of setBitPas(pairs, bitmap)) {
    if (pa === undefined) {
      yield* flush();
      yield ZERO_PAGE;
      continue;
    }
    if (src.readPages !== undefined) {
      batch[used++] = pa;
      if (used === LIMITS.BATCH) yield* flush();
    } else if (runLen > 0 && pa === runPa + BigInt(runLen * PAGE) && runLen < LIMITS.BATCH) {
      runLen++;
    } else {
      yield* flush();
      runPa = pa;
      runLen = 1;
    }
  }
  yield* flush();
}

/** Builds the plan of a rescue minidump (see the module contract). */
export function planMinidump(src: MinidumpSource, opts: MinidumpOptions = {}): MinidumpPlan {
  const p = src.params;
  const daBytes = opts.dumpAvailBytes ?? MINIDUMP.DUMP_AVAIL_BYTES;
  const { step, ptPages } = checkParams(src, daBytes);
  const sizes = {
    msgbuf: roundPage(p.dpMsgbufsz),
    bitmap: roundPage(p.dpVmdumpsz),
    dumpAvail: roundPage(BigInt(daBytes)),
    pmap: ptPages * PAGE_N,
  };
  const header = minidumpHeader(src.arch, p, sizes);
  // Copies, not views: the stream must agree with the header and bitmap it has already given,
  // even if something writes the host's bitmap page while the dump runs.
  const daRaw = src.readPhys(p.dpDumpavailpa, daBytes).slice();
  const pairs = dumpAvailPairs(daRaw);
  const bitmap = src.readPhys(p.dpVmdumppa, Number(p.dpVmdumpsz)).slice();
  const pages = popcountBytes(bitmap);
  const headerBytes = encodeMinidumpHeader(header);
  const { segments, size } = layoutSegments([
    ['MDHDR', PAGE_N],
    ['MSGBUF', sizes.msgbuf],
    ['DUMP_AVAIL', sizes.dumpAvail],
    ['BITMAP', sizes.bitmap],
    ['PTPS', sizes.pmap],
    ['PAGES', BigInt(pages) * PAGE_N],
  ]);
  const ptPage = src.arch === 'amd64' ? amd64PtPages(src) : arm64PtPages(src);

  function* chunks(): Generator<Uint8Array, void, undefined> {
    yield headerBytes;
    // msgbuf: whole pages of the host's buffer (freebsd-handoff.md §8.6); the others zero-padded
    if (sizes.msgbuf > 0n) yield src.readPhys(p.dpMsgbufpa, Number(sizes.msgbuf));
    yield* padded(daRaw, sizes.dumpAvail);
    yield* padded(bitmap, sizes.bitmap);
    for (let i = 0n; i < ptPages; i++) yield ptPage(p.dpKernstart + i * step);
    yield* dataPages(src, pairs, bitmap);
  }

  return { header, headerBytes, segments, size, pages, dumpAvail: pairs, bitmap, chunks };
}

const u64At = (b: Uint8Array, i: bigint): bigint =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(Number(i) * 8, true);

/** One zero page, shared: yielded for every invalid slot and as padding (consumers only read chunks). */
const ZERO_PAGE = zeroChunk(PAGE);

/** Page-table pages read once each (upper levels are visited for every slot). */
function cachedPages(src: MinidumpSource): (pa: bigint) => Uint8Array {
  const cache = new Map<bigint, Uint8Array>();
  return (pa) => {
    let b = cache.get(pa);
    if (b === undefined) {
      b = src.readPhys(pa, PAGE);
      cache.set(pa, b);
    }
    return b;
  };
}

/** amd64: one PD page per 1 GiB of KVA (invalid → zeros, 1 GiB leaf → 512 synthesized PDEs). */
function amd64PtPages(src: MinidumpSource): (va: bigint) => Uint8Array {
  const T = AMD64_PTE;
  const page = cachedPages(src);
  return (va) => {
    const pml4e = u64At(page(src.params.rootPa), (va >> T.PML4_SHIFT) & 511n);
    if ((pml4e & T.PG_V) === 0n) return ZERO_PAGE;
    const pdpe = u64At(page(pml4e & T.PG_FRAME), (va >> T.PDP_SHIFT) & 511n);
    if ((pdpe & T.PG_V) === 0n) return ZERO_PAGE;
    if ((pdpe & T.PG_PS) !== 0n) {
      const out = new Uint8Array(PAGE);
      const dv = new DataView(out.buffer);
      for (let j = 0; j < 512; j++) dv.setBigUint64(j * 8, (pdpe + BigInt(j) * T.NBPDR) & 0xffff_ffff_ffff_ffffn, true);
      return out;
    }
    return src.readPhys(pdpe & T.PG_FRAME, PAGE);
  };
}

/** arm64: one L3 page per 2 MiB of KVA (invalid → zeros, L1/L2 block → synthesized L3 pages). */
function arm64PtPages(src: MinidumpSource): (va: bigint) => Uint8Array {
  const T = ARM64_PTE;
  const frame = (e: bigint): bigint => e & ~T.ATTR_MASK;
  const page = cachedPages(src);
  const synth = (pa: bigint): Uint8Array => {
    const out = new Uint8Array(PAGE);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < 512; i++) dv.setBigUint64(i * 8, (pa + BigInt(i) * PAGE_N) | ATTR_DEFAULT | T.L3_PAGE, true);
    return out;
  };
  return (va) => {
    const l0e = u64At(page(src.params.rootPa), (va >> T.L0_SHIFT) & 511n);
    if ((l0e & T.DESCR_MASK) !== T.TABLE) return ZERO_PAGE;
    const l1e = u64At(page(frame(l0e)), (va >> T.L1_SHIFT) & 511n);
    const d1 = l1e & T.DESCR_MASK;
    if (d1 === T.BLOCK) return synth((frame(l1e) & ~(T.L1_SIZE - 1n)) + (va & (T.L1_SIZE - 1n) & ~(T.L2_SIZE - 1n)));
    if (d1 !== T.TABLE) return ZERO_PAGE;
    const l2e = u64At(page(frame(l1e)), (va >> T.L2_SHIFT) & 511n);
    const d2 = l2e & T.DESCR_MASK;
    if (d2 === T.BLOCK) return synth(frame(l2e) & ~(T.L2_SIZE - 1n));
    if (d2 !== T.TABLE) return ZERO_PAGE;
    return src.readPhys(frame(l2e), PAGE);
  };
}
