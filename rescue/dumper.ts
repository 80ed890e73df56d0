/**
 * The rescue kernel's /dev/dumper, run after the jump: it reads its `rescue_dump_params`
 * from offset 0 of its own reservation in guest RAM and streams a dump of the dead host
 * (markjdb/freebsd @bd74b35 sys/{amd64,arm64}/{amd64,arm64}/rescue_dumper.c; rescue.4).
 *
 * Contract: `openRescueDumper(ram, arch, reservation, opts)` decodes the params (all-zero
 * dump fields — the host never ran rescue_dump_params_init — are DUMP_BAD_PARAMS), plans a
 * minidump (dump/minidump.ts, exactly the rescue dumper's stream) or a full ELF dump over
 * the host's dump_avail ranges (dump/elfdump.ts), and returns `chunks()`. Memory is read
 * only through a read-only view of guest RAM (`DumperRam`): the dumper cannot write host
 * memory. Between chunks, `opts.devices` (bus masters still running after the panic) are
 * ticked; the dumper notices their writes itself by page digests taken before the dump, when
 * each page is read, and after the dump (`report()`: which dumped pages changed, and whether
 * the dump holds the value from before or after the change). Any failure while streaming —
 * a read outside RAM, bad tables, an injected fault — is a second panic inside the rescue
 * path: it ends the stream with DumpError(DUMP_RESCUE_PANIC) naming the byte offset; the
 * dumper never restarts itself.
 */
import { hex, phys, size as toSize, SZ_4K, type PhysAddr } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { KbootError } from '../loader/errors.js';
import { decodeRescueParams, rescueDumpParams, rescueParamsLayout } from '../loader/handoff/params.js';
import type { DeviceWriter } from '../machine/devices/dma.js';
import { ArrayRam, type GuestRam } from '../loader/memory/guest-ram.js';
import { dumpAvailPairs, setBitPas, type DumpAvailPairs } from '../loader/kernel-abi/dump-avail.js';
import { planElfDump } from '../dump/elfdump.js';
import { DumpCode, DumpError } from '../dump/errors.js';
import { MINIDUMP } from '../dump/layout.js';
import { planMinidump, type MinidumpHeader, type MinidumpParams } from '../dump/minidump.js';
import { guestMemoryReader } from '../dump/source.js';
import { MAX_ZERO_CHUNK, zeroChunk } from '../dump/zero.js';

/** What /dev/dumper streams: a minidump (what FreeBSD writes by default) or an ELF full dump of dump_avail. */
export type DumpFormat = 'minidump' | 'elf';
/** Every dump format. */
export const DUMP_FORMATS: readonly DumpFormat[] = ['minidump', 'elf'];

/** What the dumper may do to guest RAM: read it. */
export type DumperRam = Pick<
  GuestRam,
  'regions' | 'read' | 'view' | 'pageDigests' | 'pageDigestsAt' | 'gatherPages' | 'isRam' | 'nonZeroPages'
>;

export interface RescueDumpOptions {
  readonly format?: DumpFormat;
  /** Bus masters still writing host memory (machine/devices/dma.ts), ticked once per chunk. */
  readonly devices?: readonly DeviceWriter[];
  /**
   * Fault injection: the rescue kernel panics once this many bytes have been streamed (a
   * function gets the stream's size, e.g. `(size) => size / 2`).
   */
  readonly panicAfterBytes?: bigint | ((size: bigint) => bigint);
  /** Digest pages to report changes (default true). */
  readonly watch?: boolean;
}

/** A dumped page whose contents changed while the dump ran. */
export interface ChangedPage {
  readonly pa: bigint;
  /** before-read: the dump holds the new value; after-read: the dump holds the old one. */
  readonly when: 'before-read' | 'after-read';
}

/** What the dumper saw change while it dumped: pages and the devices still writing. */
export interface DumpWatchReport {
  /** Dumped data pages watched. */
  readonly watchedPages: number;
  readonly changed: readonly ChangedPage[];
  /** What each device wrote (pages), dumped or not. */
  readonly devices: readonly { readonly name: string; readonly pages: readonly bigint[] }[];
}

export interface RescueDumpStream {
  readonly arch: Arch;
  readonly format: DumpFormat;
  readonly params: MinidumpParams;
  /** Bytes of the stream. */
  readonly size: bigint;
  /** Data pages in the dump (minidump: set bits; ELF: pages of the ranges). */
  readonly pages: number;
  /** The minidump header (minidump format). */
  readonly minidump?: MinidumpHeader;
  /** Physical ranges of a full dump (ELF format). */
  readonly ranges?: readonly (readonly [bigint, bigint])[];
  /** The stream, once; ends with DumpError(DUMP_RESCUE_PANIC) if the rescue path panics. */
  chunks(): Generator<Uint8Array, void, undefined>;
  /** Changes seen while dumping (complete after `chunks()` finished or failed). */
  report(): DumpWatchReport;
}

const PAGE = 0x1000n;
/** Bytes of one data-page batch (planMinidump reads at most 256 pages at a time). */
const BATCH_BYTES = 1 << 20;
/** Pages per digest call. */
const DIGEST_BATCH = 1 << 16;

/** The minidump's data pages in stream order (bit order through dump_avail; RAM only). */
function minidumpPages(ram: DumperRam, plan: { dumpAvail: DumpAvailPairs; bitmap: Uint8Array }): BigUint64Array {
  const out: bigint[] = [];
  for (const pa of setBitPas(plan.dumpAvail, plan.bitmap)) {
    if (pa !== undefined && ram.isRam(pa as PhysAddr, SZ_4K)) out.push(pa);
  }
  return BigUint64Array.from(out);
}

/** A full dump's pages in stream order. */
function rangePages(ram: DumperRam, ranges: readonly (readonly [bigint, bigint])[]): BigUint64Array {
  const n = ranges.reduce((k, [s, e]) => k + Number((e - s) / PAGE), 0);
  const out = new BigUint64Array(n);
  let k = 0;
  for (const [s, e] of ranges) for (let pa = s; pa < e; pa += PAGE) out[k++] = pa;
  return out.filter((pa) => ram.isRam(pa as PhysAddr, SZ_4K));
}

function digestAll(ram: DumperRam, pas: BigUint64Array): Uint32Array {
  const out = new Uint32Array(pas.length * 4);
  for (let i = 0; i < pas.length; i += DIGEST_BATCH) {
    out.set(ram.pageDigestsAt(pas.subarray(i, i + DIGEST_BATCH)), i * 4);
  }
  return out;
}

/** The digest words of `pages` zero pages (the same function ArrayRam and the addon compute). */
function zeroDigests(pages: number): Uint32Array {
  ZERO_DIGEST ??= new ArrayRam([{ base: phys(0), size: SZ_4K }]).pageDigests(phys(0), SZ_4K);
  const out = new Uint32Array(pages * 4);
  for (let i = 0; i < pages; i++) out.set(ZERO_DIGEST, i * 4);
  return out;
}
let ZERO_DIGEST: Uint32Array | undefined;

function rescuePanic(offset: bigint, what: string, cause?: unknown): DumpError {
  return new DumpError(
    DumpCode.RescuePanic,
    `dump: the rescue kernel panicked while dumping, at stream byte ${hex(offset)}: ${what}`,
    { offset },
    cause === undefined ? undefined : { cause },
  );
}

/** rescue_dump_params at offset 0 of the reservation; all-zero dump fields are DUMP_BAD_PARAMS. */
function readDumpParams(ram: DumperRam, arch: Arch, reservation: PhysAddr): MinidumpParams {
  const layout = rescueParamsLayout(arch);
  const dump = rescueDumpParams(arch, decodeRescueParams(arch, ram.read(reservation, layout.size)));
  if (dump.dpMsgbufpa === 0n && dump.dpVmdumppa === 0n && dump.dpDumpavailpa === 0n) {
    throw new DumpError(
      DumpCode.BadParams,
      `dump: rescue_dump_params at ${hex(reservation)} are empty: the host never filled them (rescue_dump_params_init did not run)`,
      { reservation },
    );
  }
  const { dpKernmax: _unused, ...params } = dump;
  return params;
}

/**
 * Change watching: the data pages in stream order, a digest of each taken before the dump
 * (`start`) and replaced by the digest at the moment the dumper read it (`track`), compared
 * with the digests after the dump (`finish`).
 */
class ChangeWatch {
  pas: BigUint64Array = new BigUint64Array(0);
  private digests: Uint32Array | undefined;
  /** The next data page the stream will read. */
  private slot = 0;
  readonly changed = new Map<bigint, ChangedPage['when']>();

  constructor(private readonly ram: DumperRam) {}

  get active(): boolean {
    return this.digests !== undefined;
  }

  start(): void {
    this.digests = digestAll(this.ram, this.pas);
  }

  /** The pages just read (a list, or a run [first, count]) with the digests of the bytes as read. */
  track(read: BigUint64Array | readonly [bigint, number], now: Uint32Array): void {
    const digests = this.digests;
    if (digests === undefined) return;
    const n = read instanceof BigUint64Array ? read.length : read[1];
    for (let k = 0; k < n; k++) {
      const pa = read instanceof BigUint64Array ? (read[k] as bigint) : read[0] + BigInt(k) * PAGE;
      if (this.pas[this.slot] !== pa) continue;
      const base = this.slot * 4;
      if (!sameDigest(digests, base, now, k * 4)) {
        this.changed.set(pa, 'before-read');
        digests.set(now.subarray(k * 4, k * 4 + 4), base);
      }
      this.slot++;
    }
  }

  /** Pages that changed after the dumper read them. */
  finish(): void {
    const digests = this.digests;
    if (digests === undefined) return;
    const end = digestAll(this.ram, this.pas);
    for (let k = 0; k < this.pas.length; k++) {
      const pa = this.pas[k] as bigint;
      if (!sameDigest(digests, k * 4, end, k * 4) && !this.changed.has(pa)) this.changed.set(pa, 'after-read');
    }
  }
}

function sameDigest(a: Uint32Array, at: number, b: Uint32Array, bt: number): boolean {
  return a[at] === b[bt] && a[at + 1] === b[bt + 1] && a[at + 2] === b[bt + 2] && a[at + 3] === b[bt + 3];
}

/** What a format's plan gives the stream. */
interface Planned {
  readonly size: bigint;
  readonly pages: number;
  readonly minidump?: MinidumpHeader;
  readonly ranges?: (readonly [bigint, bigint])[];
  readonly inner: () => Generator<Uint8Array, void, undefined>;
}

/** The minidump: data pages gathered into two batch buffers taken in turn, their digests tracked. */
function planMinidumpStream(
  ram: DumperRam,
  arch: Arch,
  params: MinidumpParams,
  watch: ChangeWatch | undefined,
): Planned {
  const batchBuffers = [new Uint8Array(BATCH_BYTES), new Uint8Array(BATCH_BYTES)];
  let flip = 0;
  const plan = planMinidump({
    arch,
    params,
    readPhys: guestMemoryReader(ram as GuestRam),
    // Two batch buffers taken in turn: a chunk stays valid until the next-but-one is read
    // (every consumer here writes or copies a chunk before asking for the next).
    readPages: (list) => {
      const into = batchBuffers[flip] as Uint8Array;
      flip ^= 1;
      if (watch?.active !== true) return ram.gatherPages(list, undefined, into);
      const now = new Uint32Array(list.length * 4); // digests of the bytes as copied
      const b = ram.gatherPages(list, now, into);
      watch.track(list, now);
      return b;
    },
  });
  if (watch !== undefined) watch.pas = minidumpPages(ram, plan);
  return { size: plan.size, pages: plan.pages, minidump: plan.header, inner: plan.chunks };
}

/**
 * The bytes of [pa, pa + len) of a full dump as pieces: runs of whole zero pages (never-touched
 * RAM) as known zeros, so the file writer leaves holes and an 8 GiB host's full dump costs
 * the disk only its non-zero pages; each piece's digest tracked as it goes out.
 */
function* fullDumpRuns(
  ram: DumperRam,
  pa: bigint,
  len: number,
  watch: ChangeWatch | undefined,
): Generator<Uint8Array, void, undefined> {
  const readPhys = guestMemoryReader(ram as GuestRam);
  const n = toSize(BigInt(len));
  if (pa % PAGE !== 0n || len % 0x1000 !== 0 || len <= 0 || !ram.isRam(pa as PhysAddr, n)) {
    yield readPhys(pa, len);
    return;
  }
  const nonZero = ram.nonZeroPages(pa as PhysAddr, n);
  const isSet = (k: number): boolean => (((nonZero[k >> 3] ?? 0) >> (k & 7)) & 1) === 1;
  const pagesN = len / 0x1000;
  for (let k = 0; k < pagesN;) {
    const set = isSet(k);
    let e = k + 1;
    while (e < pagesN && isSet(e) === set && e - k < MAX_ZERO_CHUNK / 0x1000) e++;
    const at = pa + BigInt(k) * PAGE;
    const bytes = (e - k) * 0x1000;
    // The digest of what this piece puts in the dump, taken as it goes out: a live view's
    // bytes now, or zero pages (as nonZeroPages saw them).
    if (watch?.active === true) {
      watch.track([at, e - k], set ? ram.pageDigests(at as PhysAddr, toSize(BigInt(bytes))) : zeroDigests(e - k));
    }
    yield set ? readPhys(at, bytes) : zeroChunk(bytes);
    k = e;
  }
}

/** The full (ELF) dump over the host's dump_avail ranges. */
function planFullDumpStream(
  ram: DumperRam,
  arch: Arch,
  params: MinidumpParams,
  watch: ChangeWatch | undefined,
): Planned {
  const pairs = dumpAvailPairs(ram.read(params.dpDumpavailpa as PhysAddr, MINIDUMP.DUMP_AVAIL_BYTES));
  const ranges = pairs.map(([s, e]) => [s, e] as const);
  const plan = planElfDump({
    arch,
    ranges,
    readPhys: guestMemoryReader(ram as GuestRam),
    readRuns: (pa, len) => fullDumpRuns(ram, pa, len, watch),
  });
  if (watch !== undefined) watch.pas = rangePages(ram, ranges);
  const pages = ranges.reduce((k, [s, e]) => k + Number((e - s) / PAGE), 0);
  return { size: plan.size, pages, ranges, inner: () => plan.chunks(1 << 20) };
}

/** The stream: the plan's chunks, devices ticked between them, any failure a second panic. */
function* streamChunks(
  planned: Planned,
  opts: RescueDumpOptions,
  devices: readonly DeviceWriter[],
): Generator<Uint8Array, void, undefined> {
  let offset = 0n;
  const panicAt =
    typeof opts.panicAfterBytes === 'function' ? opts.panicAfterBytes(planned.size) : opts.panicAfterBytes;
  const it = planned.inner();
  for (;;) {
    let r: IteratorResult<Uint8Array, void>;
    try {
      if (panicAt !== undefined && offset >= panicAt) throw rescuePanic(offset, 'injected fault (second panic)');
      r = it.next();
    } catch (e) {
      if (e instanceof DumpError && e.code === DumpCode.RescuePanic) throw e;
      if (!(e instanceof KbootError)) throw e; // a bug in kboot, not a panic of the rescue kernel
      throw rescuePanic(offset, e.message, e);
    }
    if (r.done === true) return;
    yield r.value;
    offset += BigInt(r.value.length);
    for (const d of devices) d.tick();
  }
}

/** Opens /dev/dumper in the rescue kernel at `reservation` (see the module contract). */
export function openRescueDumper(
  ram: DumperRam,
  arch: Arch,
  reservation: PhysAddr,
  opts: RescueDumpOptions = {},
): RescueDumpStream {
  const format = opts.format ?? 'minidump';
  const params = readDumpParams(ram, arch, reservation);
  const watch = (opts.watch ?? true) ? new ChangeWatch(ram) : undefined;
  const planned =
    format === 'minidump' ? planMinidumpStream(ram, arch, params, watch) : planFullDumpStream(ram, arch, params, watch);
  let started = false;
  let finished = false;
  const devices = opts.devices ?? [];
  function* chunks(): Generator<Uint8Array, void, undefined> {
    if (started) throw new DumpError(DumpCode.BadValue, 'dump: /dev/dumper streams once per panic', {});
    started = true;
    watch?.start();
    try {
      yield* streamChunks(planned, opts, devices);
    } finally {
      finished = true;
      watch?.finish();
    }
  }
  return {
    arch,
    format,
    params,
    size: planned.size,
    pages: planned.pages,
    ...(planned.minidump === undefined ? {} : { minidump: planned.minidump }),
    ...(planned.ranges === undefined ? {} : { ranges: planned.ranges }),
    chunks,
    report() {
      const changed = watch?.changed ?? new Map<bigint, ChangedPage['when']>();
      return {
        watchedPages: finished ? (watch?.pas.length ?? 0) : 0,
        changed: [...changed.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([pa, when]) => ({ pa, when })),
        devices: devices.map((d) => ({ name: d.name, pages: [...d.written] })),
      };
    },
  };
}
