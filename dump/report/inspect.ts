/**
 * `kboot dump inspect`'s report: what a crash dump is, read as libkvm and savecore(8) read it
 * (lib/libkvm/kvm_minidump_*.c, sbin/savecore/savecore.c printheader), in JSON form
 * (schemas/dump-inspect.schema.json) and as text.
 *
 * Contract: `inspectReport(file, d, opts)` builds the report of an opened dump (dump/open.ts):
 * format, arch and container, the minidump header fields and section offsets (or the ELF
 * program headers), dump_avail, the number of dumped pages, how many of them are all zero
 * (`opts.zeroPages`, counted by dump/pages.ts; null when not counted, with the reason), the
 * truncation of a file shorter than its headers imply (bytes and data pages missing, the
 * first missing physical ranges), the kerneldumpheader facts with savecore's labels, the
 * kernel given with --kernel (its symbols and what its check against the dump found) and the
 * first lines of the msgbuf. `formatDumpInspect(report)` is its text. Pure: reads only
 * through the opened dump; only DumpError escapes.
 */
import { hex } from '../../loader/addr.js';
import type { DumpCompression } from '../compress.js';
import type { DecodedKernelDumpHeader } from '../kerneldumpheader.js';
import { minidumpMsgbuf, type OpenedDump } from '../open.js';
import { msgbufLines, type MsgbufText } from '../msgbuf.js';
import { formatBytes } from '../progress.js';

/** Default and largest `--msgbuf-lines`; characters kept of one msgbuf line. */
export const MSGBUF_LINES = { default: 10, max: 10_000, width: 240 } as const;
/** Missing physical ranges listed in a report. */
export const MISSING_RANGES_SHOWN = 16;

/** What `kboot dump inspect` reports about a dump: its format, headers, sections, truncation, zero pages and kernel (schemas/dump-inspect.schema.json). */
export interface DumpInspectReport {
  readonly file: string;
  readonly fileSize: number;
  /** How the dump is stored: the whole file, or a dump-device image's payload (then decompressed). */
  readonly compression: DumpCompression;
  readonly format: 'minidump' | 'elf';
  readonly arch: string;
  readonly container: 'raw' | 'device';
  readonly pageSize: number;
  readonly minidump: {
    readonly magic: string;
    readonly version: number;
    readonly msgbufsize: string;
    readonly bitmapsize: string;
    readonly pmapsize: string;
    readonly kernbase: string;
    /** arm64 only. */
    readonly dmapphys?: string;
    readonly dmapbase: string;
    readonly dmapend: string;
    readonly dumpavailsize: string;
    readonly flags: number;
    readonly sections: readonly { readonly name: string; readonly offset: string; readonly size: string }[];
  } | null;
  readonly elf: {
    readonly phnum: number;
    readonly machine: number;
    readonly osabi: number;
    readonly loadSegments: readonly { readonly pa: string; readonly size: string; readonly offset: string }[];
  } | null;
  readonly dumpAvail: {
    readonly source: 'section' | 'bitmap' | 'pt_load';
    readonly ranges: readonly { readonly start: string; readonly end: string }[];
  };
  readonly dumpedPages: number;
  readonly dumpedBytes: string;
  /** Dumped pages that are all zero (of those the file holds), or null when not counted. */
  readonly zeroPages: number | null;
  /** Why zeroPages is null. */
  readonly zeroPagesNote: string | null;
  /** A file shorter than its headers imply, or null. */
  readonly truncation: TruncationReport | null;
  /** The kernel given with --kernel, or null. */
  readonly kernel: KernelReport | null;
  readonly kerneldumpheader: {
    readonly magic: string;
    readonly architecture: string;
    readonly architectureVersion: number;
    readonly version: number;
    readonly dumpLength: string;
    readonly dumpExtent: string;
    readonly dumpKeySize: number;
    readonly blocksize: number;
    readonly compression: 'none' | 'gzip' | 'zstd';
    readonly dumptime: number;
    readonly dumptimeText: string;
    readonly hostname: string;
    readonly versionString: string;
    readonly panicString: string;
    readonly parity: number;
  } | null;
  readonly device: {
    readonly sectorSize: number;
    readonly leadingOffset: string;
    readonly trailingOffset: string;
    readonly dumpOffset: string;
    readonly dumpLength: string;
  } | null;
  readonly msgbuf: {
    readonly offset: string;
    readonly size: string;
    readonly struct: {
      readonly offset: string;
      readonly msgSize: number;
      readonly wseq: number;
      readonly rseq: number;
    } | null;
    readonly textBytes: number;
    readonly lineCount: number;
    readonly lines: readonly string[];
  } | null;
}

/** What a truncated file lacks. */
export interface TruncationReport {
  /** Bytes of the dump its headers imply. */
  readonly expectedSize: string;
  /** Bytes of the dump the file holds. */
  readonly size: string;
  readonly missingBytes: string;
  /** Data pages not wholly in the file (reads of them fail with DUMP_PAGE_MISSING). */
  readonly missingPages: number;
  /** The first physical ranges of missing pages, with the file offset each would have. */
  readonly missingRanges: readonly { readonly start: string; readonly end: string; readonly offset: string }[];
  /** More ranges than listed. */
  readonly moreRanges: boolean;
}

/** The kernel a dump was opened with (dump/kernel.ts). */
export interface KernelReport {
  readonly file: string;
  readonly arch: string;
  /** e_type of the kernel file. */
  readonly type: 'exec' | 'dyn';
  /** No PT_LOAD: a symbol-only file (a debug file, test symbols). */
  readonly symbolOnly: boolean;
  readonly symbols: { readonly count: number; readonly source: 'symtab' | 'dynsym' | 'none' };
  /** The kernel's `kernbase` symbol, or null. */
  readonly kernbase: string | null;
  /** Where the dumped kernel map starts (a minidump header's kernbase), or null when the dump does not say. */
  readonly dumpKernbase: string | null;
  /** How kernel addresses are translated: the minidump's page tables, the kernel's own (KPML4phys), the direct map only, or not at all. */
  readonly kvaMethod: 'minidump' | 'page-tables' | 'direct-map' | 'none';
}

/** How to build an inspect report. */
export interface InspectOptions {
  /** Msgbuf lines to show (default MSGBUF_LINES.default). */
  readonly msgbufLines?: number;
  /** How the file as a whole is compressed. */
  readonly fileCompression?: DumpCompression;
  /** Zero pages counted (dump/pages.ts), or a string: why they were not. */
  readonly zeroPages: number | string;
}

const MAGIC_TEXT = { kernel: 'FreeBSD Kernel Dump', text: 'FreeBSD Text Dump', cleared: 'Cleared Kernel Dump' };
const MACHINE_ARCH = { amd64: 'amd64', arm64: 'aarch64' } as const;

/** `%F %T +0000` (savecore prints local time; UTC keeps the output reproducible). */
function timeText(sec: bigint): string {
  const ms = Number(sec) * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return '';
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000`;
}

function kdhReport(k: DecodedKernelDumpHeader): NonNullable<DumpInspectReport['kerneldumpheader']> {
  return {
    magic: MAGIC_TEXT[k.magic],
    architecture: MACHINE_ARCH[k.arch],
    architectureVersion: k.architectureversion,
    version: k.version,
    dumpLength: hex(k.dumplength),
    dumpExtent: hex(k.dumpextent),
    dumpKeySize: k.dumpkeysize,
    blocksize: k.blocksize,
    compression: k.compression === 'NONE' ? 'none' : k.compression === 'GZIP' ? 'gzip' : 'zstd',
    dumptime: Number(k.dumptime),
    dumptimeText: timeText(k.dumptime),
    hostname: k.hostname,
    versionString: k.versionstring,
    panicString: k.panicstring,
    parity: k.parity,
  };
}

type CommonPart = Pick<
  DumpInspectReport,
  | 'file'
  | 'fileSize'
  | 'compression'
  | 'format'
  | 'arch'
  | 'container'
  | 'pageSize'
  | 'kerneldumpheader'
  | 'device'
  | 'zeroPages'
  | 'zeroPagesNote'
  | 'truncation'
  | 'kernel'
>;
type FormatPart = Pick<DumpInspectReport, 'minidump' | 'elf' | 'dumpAvail' | 'dumpedPages' | 'dumpedBytes' | 'msgbuf'>;

/** What a truncated file lacks, or null for a whole one. */
export function truncationReport(d: OpenedDump): TruncationReport | null {
  const x = d.extent;
  if (x.missingBytes === 0 && x.missingPages === 0) return null;
  const ranges = x.missingRanges(MISSING_RANGES_SHOWN + 1);
  return {
    expectedSize: hex(x.expectedSize),
    size: hex(x.size),
    missingBytes: hex(x.missingBytes),
    missingPages: x.missingPages,
    missingRanges: ranges
      .slice(0, MISSING_RANGES_SHOWN)
      .map((m) => ({ start: hex(m.pa), end: hex(m.end), offset: hex(m.offset) })),
    moreRanges: ranges.length > MISSING_RANGES_SHOWN,
  };
}

/** The kernel part of a report, or null. */
export function kernelReport(d: OpenedDump): KernelReport | null {
  const k = d.kernel;
  if (k === undefined) return null;
  const s = k.file.symbols;
  return {
    file: k.file.path,
    arch: s.arch,
    type: s.type,
    symbolOnly: s.loadCount === 0,
    symbols: { count: s.symbols.length, source: s.source },
    kernbase: k.check.kernbase === undefined ? null : hex(k.check.kernbase),
    dumpKernbase: k.check.dumpKernbase === undefined ? null : hex(k.check.dumpKernbase),
    kvaMethod: d.kvaMethod,
  };
}

/** The fields every format has. */
function commonPart(file: string, d: OpenedDump, opts: InspectOptions): CommonPart {
  const v = d.device;
  return {
    file,
    fileSize: d.fileSize,
    compression: d.compressedPayload ?? opts.fileCompression ?? 'none',
    format: d.kind,
    arch: d.arch,
    container: d.container,
    pageSize: d.pageSize,
    kerneldumpheader: d.kdh === undefined ? null : kdhReport(d.kdh),
    device:
      v === undefined
        ? null
        : {
            sectorSize: v.sectorSize,
            leadingOffset: hex(v.leadingOffset),
            trailingOffset: hex(v.trailingOffset),
            dumpOffset: hex(v.dumpOffset),
            dumpLength: hex(v.dumpLength),
          },
    zeroPages: typeof opts.zeroPages === 'number' ? opts.zeroPages : null,
    zeroPagesNote: typeof opts.zeroPages === 'number' ? null : opts.zeroPages,
    truncation: truncationReport(d),
    kernel: kernelReport(d),
  };
}

/** The ELF program headers and their ranges. */
function elfPart(d: Extract<OpenedDump, { kind: 'elf' }>, base: number): FormatPart {
  const segs = d.reader.segments;
  const bytes = segs.reduce((a, s) => a + s.size, 0n);
  return {
    minidump: null,
    elf: {
      phnum: d.elf.phnum,
      machine: d.elf.machine,
      osabi: d.elf.osabi,
      loadSegments: segs.map((s) => ({ pa: hex(s.pa), size: hex(s.size), offset: hex(BigInt(base) + s.offset) })),
    },
    dumpAvail: { source: 'pt_load', ranges: segs.map((s) => ({ start: hex(s.pa), end: hex(s.pa + s.size) })) },
    dumpedPages: d.extent.dataPages,
    dumpedBytes: hex(bytes),
    msgbuf: null,
  };
}

/** The minidump header, its sections, dump_avail and the msgbuf. */
function minidumpPart(d: Extract<OpenedDump, { kind: 'minidump' }>, base: number, maxLines: number): FormatPart {
  const r = d.reader;
  const h = r.header;
  const ps = r.pageSize;
  const round = (x: number): number => Math.ceil(x / ps) * ps;
  const sections = [
    { name: 'header', offset: 0, size: ps },
    { name: 'msgbuf', offset: ps, size: round(h.msgbufsize) },
    { name: 'dump_avail', offset: r.offsets.dumpAvail, size: round(h.dumpavailsize) },
    { name: 'bitmap', offset: r.offsets.bitmap, size: round(h.bitmapsize) },
    { name: 'pmap', offset: r.offsets.pmap, size: round(h.pmapsize) },
    { name: 'pages', offset: r.offsets.sparse, size: r.pages * ps },
  ].map((s) => ({ name: s.name, offset: hex(base + s.offset), size: hex(s.size) }));
  return {
    minidump: {
      magic: h.magic,
      version: h.version,
      msgbufsize: hex(h.msgbufsize),
      bitmapsize: hex(h.bitmapsize),
      pmapsize: hex(h.pmapsize),
      kernbase: hex(h.kernbase),
      ...(d.arch === 'arm64' ? { dmapphys: hex(h.dmapphys) } : {}),
      dmapbase: hex(h.dmapbase),
      dmapend: hex(h.dmapend),
      dumpavailsize: hex(h.dumpavailsize),
      flags: h.flags,
      sections,
    },
    elf: null,
    dumpAvail: {
      source: h.dumpavailsize > 0 ? 'section' : 'bitmap',
      ranges: r.dumpAvail.map(([s, e]) => ({ start: hex(s), end: hex(e) })),
    },
    dumpedPages: r.pages,
    dumpedBytes: hex(BigInt(r.pages) * BigInt(ps)),
    msgbuf: msgbufReport(minidumpMsgbuf(d), maxLines),
  };
}

/** Builds the `dump inspect` report of an opened dump (see the module contract). */
export function inspectReport(file: string, d: OpenedDump, opts: InspectOptions): DumpInspectReport {
  const base = d.compressedPayload === undefined ? (d.device?.dumpOffset ?? 0) : 0;
  const part = d.kind === 'elf' ? elfPart(d, base) : minidumpPart(d, base, opts.msgbufLines ?? MSGBUF_LINES.default);
  return { ...commonPart(file, d, opts), ...part };
}

/** The msgbuf part of an inspect report: where it lies and its first lines. */
function msgbufReport(mb: MsgbufText, maxLines: number): NonNullable<DumpInspectReport['msgbuf']> {
  const lines = msgbufLines(mb.text);
  return {
    offset: hex(mb.offset),
    size: hex(mb.size),
    struct:
      mb.struct === undefined
        ? null
        : { offset: hex(mb.struct.offset), msgSize: mb.struct.msgSize, wseq: mb.struct.wseq, rseq: mb.struct.rseq },
    textBytes: new TextEncoder().encode(mb.text).length,
    lineCount: lines.length,
    lines: lines.slice(0, maxLines).map((l) => (l.length > MSGBUF_LINES.width ? l.slice(0, MSGBUF_LINES.width) : l)),
  };
}

const a16 = (h: string): string => `0x${h.slice(2).padStart(16, '0')}`;

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

/** The minidump header and its sections. */
function minidumpLines(r: DumpInspectReport, m: NonNullable<DumpInspectReport['minidump']>): string[] {
  const L = [
    `  minidump header`,
    `    magic          ${m.magic}`,
    `    version        ${m.version}`,
    `    msgbufsize     ${m.msgbufsize}`,
    `    bitmapsize     ${m.bitmapsize}`,
    `    pmapsize       ${m.pmapsize}`,
    `    kernbase       ${a16(m.kernbase)}`,
  ];
  if (m.dmapphys !== undefined) L.push(`    dmapphys       ${a16(m.dmapphys)}`);
  L.push(`    dmapbase       ${a16(m.dmapbase)}`);
  L.push(`    dmapend        ${a16(m.dmapend)}`);
  L.push(`    dumpavailsize  ${m.dumpavailsize}`);
  L.push(
    `    flags          ${hex(m.flags)}${r.arch === 'arm64' ? ` (${(m.flags & 3) === 1 ? 'PS_16K' : 'PS_4K'})` : ''}`,
  );
  L.push(`  sections (file offsets)`);
  for (const s of m.sections) L.push(`    ${s.name.padEnd(11)} ${s.offset.padStart(12)}  size ${s.size}`);
  return L;
}

/** The ELF program headers. */
function elfLines(e: NonNullable<DumpInspectReport['elf']>): string[] {
  return [
    `  ELF          e_phnum ${e.phnum}, e_machine ${hex(e.machine)}, OS/ABI ${e.osabi}`,
    `  PT_LOAD segments (${e.loadSegments.length}):`,
    `    ${'#'.padStart(4)}  ${'physical'.padEnd(18)}  ${'size'.padEnd(12)}  file offset`,
    ...e.loadSegments.map((s, i) => `    ${String(i).padStart(4)}  ${a16(s.pa)}  ${s.size.padEnd(12)}  ${s.offset}`),
  ];
}

/** dump_avail, the page counts and what a truncated file lacks. */
function pageLines(r: DumpInspectReport): string[] {
  const da = r.dumpAvail;
  const why = {
    section: 'from the dump',
    bitmap: 'none in the dump: the bitmap from PA 0',
    pt_load: 'the PT_LOAD ranges',
  };
  const L = [`  dump_avail (${plural(da.ranges.length, 'range')}, ${why[da.source]}):`];
  for (const x of da.ranges) L.push(`    ${a16(x.start)} - ${a16(x.end)}`);
  L.push(`  dumped pages ${r.dumpedPages} (${r.dumpedBytes} bytes, ${formatBytes(BigInt(r.dumpedBytes))})`);
  L.push(
    `  zero pages   ${r.zeroPages === null ? `not counted (${r.zeroPagesNote ?? ''})` : `${r.zeroPages} of the dumped pages are all zero`}`,
  );
  const t = r.truncation;
  if (t !== null) {
    L.push(
      `  TRUNCATED    the file holds ${t.size} of the ${t.expectedSize} bytes its headers imply: ${BigInt(t.missingBytes)} bytes (${formatBytes(BigInt(t.missingBytes))}) missing, ${plural(t.missingPages, 'data page')} unreadable`,
    );
    L.push(`    missing physical ranges${t.moreRanges ? ` (the first ${t.missingRanges.length})` : ''}:`);
    for (const m of t.missingRanges) L.push(`    ${a16(m.start)} - ${a16(m.end)}  (file offset ${m.offset})`);
  }
  return L;
}

/** The kernel given with --kernel. */
function kernelLines(k: KernelReport): string[] {
  const kva = {
    minidump: "the minidump's page tables",
    'page-tables': "the kernel's page tables (KPML4phys)",
    'direct-map': 'the direct map only (no kernbase / KPML4phys symbols)',
    none: 'none (arm64 full dump)',
  };
  const base =
    k.kernbase === null
      ? 'no kernbase symbol'
      : `kernbase ${a16(k.kernbase)}${k.dumpKernbase === null ? '' : `, in the dumped kernel map from ${a16(k.dumpKernbase)}`}`;
  return [
    `  kernel       ${k.file}: ${k.arch} ${k.type === 'exec' ? 'ET_EXEC' : 'ET_DYN'}${k.symbolOnly ? ', symbol-only (no loadable segments)' : ''}, ${k.symbols.count} symbols${k.symbols.source === 'none' ? '' : ` (.${k.symbols.source})`}`,
    `               ${base}; kernel addresses through ${kva[k.kvaMethod]}`,
  ];
}

/** The kerneldumpheader with savecore's labels. */
function headerLines(
  k: NonNullable<DumpInspectReport['kerneldumpheader']>,
  v: NonNullable<DumpInspectReport['device']>,
): string[] {
  return [
    `  dump header (leading at ${v.leadingOffset}, trailing at ${v.trailingOffset}, ${v.sectorSize}-byte sectors; dump at ${v.dumpOffset}, ${v.dumpLength} bytes)`,
    `    Architecture: ${k.architecture}`,
    `    Architecture Version: ${k.architectureVersion}`,
    `    Dump Length: ${BigInt(k.dumpLength).toString()}`,
    `    Blocksize: ${k.blocksize}`,
    `    Compression: ${k.compression}`,
    `    Dumptime: ${k.dumptimeText}`,
    `    Hostname: ${k.hostname}`,
    `    Magic: ${k.magic}`,
    `    Version String: ${k.versionString.replace(/\n+$/, '')}`,
    `    Panic String: ${k.panicString}`,
    `    Dump Parity: ${k.parity}`,
  ];
}

/** Where the msgbuf lies and its first lines. */
function msgbufTextLines(m: NonNullable<DumpInspectReport['msgbuf']>): string[] {
  const shown = m.lines.length;
  const where =
    m.struct === null
      ? 'no struct msgbuf found: raw section'
      : `struct msgbuf at ${m.struct.offset}, msg_size ${hex(m.struct.msgSize)}, wseq ${hex(m.struct.wseq)}`;
  return [
    `  msgbuf (${m.size} bytes at ${m.offset}; ${where}; ${plural(m.lineCount, 'line')}${shown < m.lineCount ? `, the first ${shown}` : ''}):`,
    ...m.lines.map((l) => `    ${l}`),
  ];
}

/** The human-readable form of an inspect report. */
export function formatDumpInspect(r: DumpInspectReport): string {
  const packed = r.compression === 'none' ? '' : `, ${r.compression}-compressed: offsets are in the decompressed dump`;
  const L = [
    r.file,
    `  file         ${r.fileSize} bytes (${hex(r.fileSize)})${r.container === 'raw' && packed !== '' ? ' decompressed' : ''}`,
    `  format       ${r.format === 'minidump' ? 'minidump' : 'ELF full dump'} (${r.arch}), ${r.container === 'raw' ? 'raw file' : 'dump-device image'}, ${hex(r.pageSize)}-byte pages${packed}`,
  ];
  if (r.kernel !== null) L.push(...kernelLines(r.kernel));
  if (r.minidump !== null) L.push(...minidumpLines(r, r.minidump));
  if (r.elf !== null) L.push(...elfLines(r.elf));
  L.push(...pageLines(r));
  if (r.kerneldumpheader !== null && r.device !== null) L.push(...headerLines(r.kerneldumpheader, r.device));
  if (r.msgbuf !== null) L.push(...msgbufTextLines(r.msgbuf));
  return `${L.join('\n')}\n`;
}
