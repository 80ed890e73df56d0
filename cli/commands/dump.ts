/**
 * `kboot dump inspect <file> [--msgbuf-lines N] [--json]` and
 * `kboot dump read <file> (--kva ADDR | --pa ADDR) --len N [--json]`: a crash dump's facts and
 * its memory, read as libkvm and savecore(8) read them (lib/libkvm/kvm_minidump_*.c,
 * sbin/savecore/savecore.c printheader).
 *
 * Contract: the file is opened for random access (never read whole) with dump/file.ts
 * `openDumpFileAsync` (a regular file only: a FIFO, device or directory is IO_NOT_REGULAR, a
 * missing file IO_NOT_FOUND) and dump/open.ts `openDump`: a raw amd64/arm64 minidump, an ELF
 * full dump or a dump-device image between kerneldumpheaders; a gzip/zstd file (vmcore.N.gz /
 * .zst) or the compressed payload of a dump-device image is decoded on demand into a nameless
 * scratch file, never past the size the dump's own headers give nor past the temporary
 * directory's free space (dump/decompressed.ts), with a progress line on stderr when it takes
 * more than a second; `compression` in the reports says so, and offsets are then those of the
 * decompressed dump. Before opening, what killed `kboot panic --dump-dir` runs left in the
 * file's directory is recovered and reported on stderr (dump/recover.ts). `inspect` prints the format, arch and container, the minidump header
 * fields and section offsets (or the ELF program headers), dump_avail, the number of dumped
 * pages, the kerneldumpheader facts with savecore's labels, and the first lines of the
 * msgbuf; `--json` prints one object valid against schemas/dump-inspect.schema.json. `read`
 * prints `len` bytes at a kernel VA (translated through the dumped page tables) or a PA as
 * `hexdump -C` lines labelled with the address, or with `--json` an object valid against
 * schemas/dump-read.schema.json with the translation of every page touched. ADDR and N are
 * hex (0x…) or decimal; N is 1..1 MiB. A file that cannot be opened is its IoError; a bad
 * dump is its DumpError (exit 1); a bad ADDR, N or option combination is a usage error (exit 2).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { hex, U64_LIMIT } from '../../loader/addr.js';
import type { DumpCompression } from '../../dump/compress.js';
import type { DecodedKernelDumpHeader } from '../../dump/kerneldumpheader.js';
import type * as OpenModule from '../../dump/open.js';
import type { MsgbufText, OpenedDump, OpenedMinidump } from '../../dump/open.js';
import type { CliIo } from '../io.js';
import { globalOptions } from '../context.js';
import { formatBytes, progressReporter } from '../../dump/progress.js';

/** Largest `dump read --len`. */
export const MAX_READ_LEN = 1 << 20;
/** Default and largest `--msgbuf-lines`; characters kept of one msgbuf line. */
const MSGBUF_LINES = { default: 10, max: 10_000, width: 240 } as const;

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

export interface DumpReadReport {
  readonly file: string;
  readonly compression: DumpCompression;
  readonly format: 'minidump' | 'elf';
  readonly arch: string;
  readonly container: 'raw' | 'device';
  readonly kind: 'kva' | 'pa';
  readonly address: string;
  readonly len: number;
  /** PA of the first byte. */
  readonly pa: string;
  /** One entry per page touched: its VA (kva reads), PA, offset in the file and bytes read there. */
  readonly pages: readonly {
    readonly va?: string;
    readonly pa: string;
    readonly offset: string;
    readonly len: number;
  }[];
  /** The bytes, two lower-case hex digits each. */
  readonly hex: string;
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

/** Printable msgbuf lines, dmesg style: syslog priorities dropped, control characters shown as '?'. */
function msgbufLines(text: string): string[] {
  const printable = (c: string): string => {
    const n = c.charCodeAt(0);
    return (n < 0x20 && n !== 0x09) || n === 0x7f ? '?' : c;
  };
  const lines = text
    .split('\n')
    .map((l) => Array.from(l.replace(/\r$/, '').replace(/^<\d{1,3}>/, ''), printable).join(''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Builds the `dump inspect` report (the msgbuf reader comes with the lazily loaded module). */
export function dumpInspectReport(
  file: string,
  d: OpenedDump,
  msgbufOf: ((d: OpenedMinidump) => MsgbufText) | undefined,
  maxLines: number,
  fileCompression: DumpCompression = 'none',
): DumpInspectReport {
  const base = d.compressedPayload === undefined ? (d.device?.dumpOffset ?? 0) : 0;
  const common = {
    file,
    fileSize: d.fileSize,
    compression: d.compressedPayload ?? fileCompression,
    format: d.kind,
    arch: d.arch,
    container: d.container,
    pageSize: d.pageSize,
    kerneldumpheader: d.kdh === undefined ? null : kdhReport(d.kdh),
    device:
      d.device === undefined
        ? null
        : {
            sectorSize: d.device.sectorSize,
            leadingOffset: hex(d.device.leadingOffset),
            trailingOffset: hex(d.device.trailingOffset),
            dumpOffset: hex(d.device.dumpOffset),
            dumpLength: hex(d.device.dumpLength),
          },
  };
  if (d.kind === 'elf') {
    const segs = d.reader.segments;
    const bytes = segs.reduce((a, s) => a + s.size, 0n);
    return {
      ...common,
      minidump: null,
      elf: {
        phnum: d.elf.phnum,
        machine: d.elf.machine,
        osabi: d.elf.osabi,
        loadSegments: segs.map((s) => ({ pa: hex(s.pa), size: hex(s.size), offset: hex(BigInt(base) + s.offset) })),
      },
      dumpAvail: { source: 'pt_load', ranges: segs.map((s) => ({ start: hex(s.pa), end: hex(s.pa + s.size) })) },
      dumpedPages: Number((bytes + BigInt(d.pageSize) - 1n) / BigInt(d.pageSize)),
      dumpedBytes: hex(bytes),
      msgbuf: null,
    };
  }
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
  const mb = msgbufOf?.(d);
  return {
    ...common,
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
    msgbuf: mb === undefined ? null : msgbufReport(mb, maxLines),
  };
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

/** The human-readable form of an inspect report. */
export function formatDumpInspect(r: DumpInspectReport): string {
  const L: string[] = [];
  const kib = (h: string): string => formatBytes(BigInt(h));
  L.push(r.file);
  const packed = r.compression === 'none' ? '' : `, ${r.compression}-compressed: offsets are in the decompressed dump`;
  L.push(
    `  file         ${r.fileSize} bytes (${hex(r.fileSize)})${r.container === 'raw' && packed !== '' ? ' decompressed' : ''}`,
  );
  L.push(
    `  format       ${r.format === 'minidump' ? 'minidump' : 'ELF full dump'} (${r.arch}), ${r.container === 'raw' ? 'raw file' : 'dump-device image'}, ${hex(r.pageSize)}-byte pages${packed}`,
  );
  if (r.minidump !== null) {
    const m = r.minidump;
    L.push(`  minidump header`);
    L.push(`    magic          ${m.magic}`);
    L.push(`    version        ${m.version}`);
    L.push(`    msgbufsize     ${m.msgbufsize}`);
    L.push(`    bitmapsize     ${m.bitmapsize}`);
    L.push(`    pmapsize       ${m.pmapsize}`);
    L.push(`    kernbase       ${a16(m.kernbase)}`);
    if (m.dmapphys !== undefined) L.push(`    dmapphys       ${a16(m.dmapphys)}`);
    L.push(`    dmapbase       ${a16(m.dmapbase)}`);
    L.push(`    dmapend        ${a16(m.dmapend)}`);
    L.push(`    dumpavailsize  ${m.dumpavailsize}`);
    L.push(
      `    flags          ${hex(m.flags)}${r.arch === 'arm64' ? ` (${(m.flags & 3) === 1 ? 'PS_16K' : 'PS_4K'})` : ''}`,
    );
    L.push(`  sections (file offsets)`);
    for (const s of m.sections) L.push(`    ${s.name.padEnd(11)} ${s.offset.padStart(12)}  size ${s.size}`);
  }
  if (r.elf !== null) {
    const e = r.elf;
    L.push(`  ELF          e_phnum ${e.phnum}, e_machine ${hex(e.machine)}, OS/ABI ${e.osabi}`);
    L.push(`  PT_LOAD segments (${e.loadSegments.length}):`);
    L.push(`    ${'#'.padStart(4)}  ${'physical'.padEnd(18)}  ${'size'.padEnd(12)}  file offset`);
    e.loadSegments.forEach((s, i) =>
      L.push(`    ${String(i).padStart(4)}  ${a16(s.pa)}  ${s.size.padEnd(12)}  ${s.offset}`),
    );
  }
  const da = r.dumpAvail;
  const why = {
    section: 'from the dump',
    bitmap: 'none in the dump: the bitmap from PA 0',
    pt_load: 'the PT_LOAD ranges',
  };
  L.push(`  dump_avail (${da.ranges.length} range${da.ranges.length === 1 ? '' : 's'}, ${why[da.source]}):`);
  for (const x of da.ranges) L.push(`    ${a16(x.start)} - ${a16(x.end)}`);
  L.push(`  dumped pages ${r.dumpedPages} (${r.dumpedBytes} bytes, ${kib(r.dumpedBytes)})`);
  if (r.kerneldumpheader !== null && r.device !== null) {
    const k = r.kerneldumpheader;
    const v = r.device;
    L.push(
      `  dump header (leading at ${v.leadingOffset}, trailing at ${v.trailingOffset}, ${v.sectorSize}-byte sectors; dump at ${v.dumpOffset}, ${v.dumpLength} bytes)`,
    );
    L.push(`    Architecture: ${k.architecture}`);
    L.push(`    Architecture Version: ${k.architectureVersion}`);
    L.push(`    Dump Length: ${BigInt(k.dumpLength).toString()}`);
    L.push(`    Blocksize: ${k.blocksize}`);
    L.push(`    Compression: ${k.compression}`);
    L.push(`    Dumptime: ${k.dumptimeText}`);
    L.push(`    Hostname: ${k.hostname}`);
    L.push(`    Magic: ${k.magic}`);
    L.push(`    Version String: ${k.versionString.replace(/\n+$/, '')}`);
    L.push(`    Panic String: ${k.panicString}`);
    L.push(`    Dump Parity: ${k.parity}`);
  }
  if (r.msgbuf !== null) {
    const m = r.msgbuf;
    const shown = m.lines.length;
    const where =
      m.struct === null
        ? 'no struct msgbuf found: raw section'
        : `struct msgbuf at ${m.struct.offset}, msg_size ${hex(m.struct.msgSize)}, wseq ${hex(m.struct.wseq)}`;
    L.push(
      `  msgbuf (${m.size} bytes at ${m.offset}; ${where}; ${m.lineCount} line${m.lineCount === 1 ? '' : 's'}${shown < m.lineCount ? `, the first ${shown}` : ''}):`,
    );
    for (const l of m.lines) L.push(`    ${l}`);
  }
  return `${L.join('\n')}\n`;
}

/** `hexdump -C` lines, the address column counting from `addr`. */
export function hexdumpLines(addr: bigint, bytes: Uint8Array): string {
  const out: string[] = [];
  for (let o = 0; o < bytes.length; o += 16) {
    const row = bytes.subarray(o, Math.min(o + 16, bytes.length));
    const cells: string[] = [];
    for (let i = 0; i < 16; i++) {
      const b = row[i];
      cells.push(b === undefined ? '  ' : b.toString(16).padStart(2, '0'));
    }
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    const at = ((addr + BigInt(o)) & (U64_LIMIT - 1n)).toString(16).padStart(16, '0');
    out.push(`${at}  ${cells.slice(0, 8).join(' ')}  ${cells.slice(8).join(' ')}  |${ascii}|`);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** ADDR or N: hex 0x… or decimal, at most 2^64 - 1. */
function parseNumber(what: string): (text: string) => bigint {
  return (text) => {
    const t = text.trim();
    if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) {
      throw new InvalidArgumentError(`${what} must be hex (0x...) or decimal.`);
    }
    const v = BigInt(t);
    if (v >= U64_LIMIT) throw new InvalidArgumentError(`${what} does not fit in 64 bits.`);
    return v;
  };
}

function parseLen(text: string): number {
  const v = parseNumber('the length')(text);
  if (v < 1n || v > BigInt(MAX_READ_LEN)) {
    throw new InvalidArgumentError(`the length must be 1..${MAX_READ_LEN} (${hex(MAX_READ_LEN)}) bytes.`);
  }
  return Number(v);
}

function parseLines(text: string): number {
  const v = parseNumber('the line count')(text);
  if (v > BigInt(MSGBUF_LINES.max)) throw new InvalidArgumentError(`at most ${MSGBUF_LINES.max} lines.`);
  return Number(v);
}

/** Paths as the user would type them: relative to the working directory when inside it. */
function shownPath(io: CliIo, p: string): string {
  const r = relative(io.cwd, p);
  return r.startsWith('..') || isAbsolute(r) ? p : r;
}

/** Recovers what killed `kboot panic --dump-dir` runs left beside the dump, and says so on stderr. */
async function recoverBeside(io: CliIo, full: string): Promise<void> {
  const { looksLikeCrashDirectory, recoverDumpDirectory, recoveryLines, recoveryWarnings } =
    await import('../../dump/recover.js');
  if (!looksLikeCrashDirectory(dirname(full))) return;
  const r = recoverDumpDirectory(dirname(full));
  const shown = (p: string): string => shownPath(io, p);
  for (const l of recoveryLines(r, shown)) io.err(`${l}\n`);
  for (const w of recoveryWarnings(r, shown)) io.err(`kboot: warning: ${w}\n`);
}

/** What `withDump` gives the command. */
interface DumpAtHand {
  readonly d: OpenedDump;
  readonly mod: typeof OpenModule;
  /** How the file as a whole is compressed. */
  readonly compression: DumpCompression;
}

/** Opens `file` (relative to the io's cwd), runs `f` on the dump and closes it. */
async function withDump<T>(io: CliIo, file: string, json: boolean, f: (at: DumpAtHand) => T | Promise<T>): Promise<T> {
  const full = resolve(io.cwd, file);
  await recoverBeside(io, full);
  const [mod, { openDumpFileAsync }] = await Promise.all([import('../../dump/open.js'), import('../../dump/file.js')]);
  const progress = progressReporter({
    label: `${basename(file)}: decompressing`,
    tty: io.isTty,
    write: io.err,
    enabled: !json,
    delayMs: 1000, // only work that takes more than a second shows a bar
  });
  // vmcore.N.gz / .zst (savecore -z, kboot panic --compress): decoded on demand, bounded
  const df = await openDumpFileAsync(full, { what: file, onProgress: progress.onProgress });
  try {
    return await f({ d: mod.openDump(df), mod, compression: df.compression });
  } finally {
    progress.end();
    df.close();
  }
}

interface ReadOptions {
  kva?: bigint;
  pa?: bigint;
  len: number;
}

/** Registers `kboot dump inspect` and `kboot dump read`. */
export function registerDump(program: Command, io: CliIo): void {
  const dump = program
    .command('dump')
    .description('read a FreeBSD crash dump: a minidump, an ELF full dump or a dump-device image');

  dump
    .command('inspect')
    .description('show what a dump is: format, headers, sections, dump_avail, dumped pages and the msgbuf')
    .argument('<file>', 'the dump (vmcore, vmcore.N.gz or .zst, or an image of a dump device)')
    .addOption(
      new Option('--msgbuf-lines <n>', `msgbuf lines to show (default ${MSGBUF_LINES.default})`).argParser(parseLines),
    )
    .action(async (file: string, opts: { msgbufLines?: number }, cmd: Command) => {
      const g = globalOptions(cmd);
      const report = await withDump(io, file, g.json, ({ d, mod, compression }) =>
        dumpInspectReport(file, d, mod.minidumpMsgbuf, opts.msgbufLines ?? MSGBUF_LINES.default, compression),
      );
      io.out(g.json ? `${JSON.stringify(report, null, 2)}\n` : formatDumpInspect(report));
    });

  dump
    .command('read')
    .description('print memory of a dump at a kernel virtual address or a physical address')
    .argument('<file>', 'the dump (vmcore, vmcore.N.gz or .zst, or an image of a dump device)')
    .addOption(
      new Option('--kva <addr>', 'kernel virtual address (through the dumped page tables)')
        .argParser(parseNumber('the address'))
        .conflicts('pa'),
    )
    .addOption(new Option('--pa <addr>', 'physical address').argParser(parseNumber('the address')))
    .addOption(new Option('--len <n>', `bytes to read, 1..${MAX_READ_LEN}`).argParser(parseLen).makeOptionMandatory())
    .action(async (file: string, opts: ReadOptions, cmd: Command) => {
      const g = globalOptions(cmd);
      const kind = opts.kva !== undefined ? 'kva' : 'pa';
      const addr = opts.kva ?? opts.pa;
      if (addr === undefined) cmd.error('dump read needs --kva ADDR or --pa ADDR', { exitCode: 2 });
      const start = addr ?? 0n;
      if (start + BigInt(opts.len) > U64_LIMIT) {
        cmd.error(`${hex(start)} + ${hex(opts.len)} passes the end of the 64-bit address space`, {
          exitCode: 2,
        });
      }
      const report = await withDump(io, file, g.json, async ({ d, compression }): Promise<DumpReadReport> => {
        const ps = BigInt(d.pageSize);
        const pages: { va?: string; pa: string; offset: string; len: number }[] = [];
        let furthest = 0;
        for (let done = 0; done < opts.len;) {
          const a = start + BigInt(done);
          const n = Math.min(Number(ps - (a % ps)), opts.len - done);
          const pa = kind === 'kva' ? d.kvaToPa(a) : a;
          const at = hex(d.paToFileOffset(pa));
          furthest = Math.max(furthest, d.paToDumpOffset(pa) + n);
          pages.push(
            kind === 'kva' ? { va: hex(a), pa: hex(pa), offset: at, len: n } : { pa: hex(pa), offset: at, len: n },
          );
          done += n;
        }
        await d.inner.prefetch?.(furthest); // a compressed dump: decoded that far with the event loop turning
        const bytes = kind === 'kva' ? d.readKva(start, opts.len) : d.readPa(start, opts.len);
        return {
          file,
          compression: d.compressedPayload ?? compression,
          format: d.kind,
          arch: d.arch,
          container: d.container,
          kind,
          address: hex(start),
          len: opts.len,
          pa: pages[0]?.pa ?? hex(start),
          pages,
          hex: Buffer.from(bytes).toString('hex'),
        };
      });
      if (g.json) {
        io.out(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      if (kind === 'kva') for (const p of report.pages) io.out(`# kva ${a16(p.va ?? '0x0')} -> pa ${a16(p.pa)}\n`);
      io.out(hexdumpLines(start, Buffer.from(report.hex, 'hex')));
    });
}
