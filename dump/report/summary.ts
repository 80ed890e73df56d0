/**
 * `kboot dump info`: a crash summary in the manner of crashinfo(8) (usr.sbin/crashinfo/
 * crashinfo.sh: the panic, the kernel's version, the message buffer), in JSON form
 * (schemas/dump-info.schema.json) and as text.
 *
 * Contract: `summarizeDump(d, opts)` gathers, for an opened dump (dump/open.ts): format and
 * its version, architecture, container; the dump time, hostname, panic string and kernel
 * version string, each from the first source that has it — the kerneldumpheader of a
 * dump-device image, then the info file savecore wrote beside a vmcore (`opts.infoText`,
 * dump/info.ts infoFileFacts), then the kernel's symbols read through the dump (`version`
 * and `hostname` as char arrays, `panicstr` as a pointer to a string; NULL: the kernel had
 * not panicked) — and names the source of each; the last MSGBUF_TAIL lines of the message
 * buffer (a minidump's MSGBUF section, else struct msgbuf through the kernel's `msgbufp`);
 * dump_avail (or an ELF dump's PT_LOAD ranges); the dumped, zero (`opts.zeroPages`) and
 * missing pages with the truncation of a short file; the kernel given. Whatever cannot be
 * determined is null and listed in `undetermined` with the reason (the error code of a read
 * that failed, or what is absent). An empty message buffer is zero lines, not a failure.
 * `formatDumpInfo(report)` is the text form. Only DumpError escapes (a failed read is
 * recorded, not thrown).
 */
import { hex } from '../../loader/addr.js';
import { KbootError } from '../../loader/errors.js';
import type { DumpCompression } from '../compress.js';
import { ctimeText, infoFileFacts } from '../info.js';
import { msgbufLines, symbolMsgbufText } from '../msgbuf.js';
import { minidumpMsgbuf, type OpenedDump } from '../open.js';
import { formatBytes } from '../progress.js';
import { kernelReport, truncationReport, type KernelReport, type TruncationReport } from './inspect.js';

/** Message-buffer lines a summary shows (the tail, as crashinfo's dmesg section). */
export const MSGBUF_TAIL = 40;
/** Longest string read through a symbol. */
const MAX_SYMBOL_STRING = 512;

/** Where a fact came from. */
export type FactSource = 'kerneldumpheader' | 'info file' | `symbol ${string}` | 'msgbuf section';

/** Something the summary could not determine, and why. */
export interface Undetermined {
  readonly field: string;
  readonly reason: string;
}

/** A crashinfo(8)-style summary of a dump: panic string, versions, msgbuf tail and what could not be determined (schemas/dump-info.schema.json). */
export interface DumpInfoReport {
  readonly file: string;
  readonly fileSize: number;
  readonly compression: DumpCompression;
  readonly format: 'minidump' | 'elf';
  /** The minidump header's version (null for an ELF full dump, which has none). */
  readonly formatVersion: number | null;
  /** The kerneldumpheader's version of a dump-device image, else null. */
  readonly headerVersion: number | null;
  readonly arch: string;
  readonly container: 'raw' | 'device';
  readonly dumptime: { readonly seconds: number | null; readonly text: string } | null;
  readonly hostname: string | null;
  readonly panicString: string | null;
  readonly kernelVersion: string | null;
  /** The source of each fact above that was found. */
  readonly sources: Readonly<Record<string, FactSource>>;
  readonly msgbuf: { readonly lineCount: number; readonly lines: readonly string[] } | null;
  readonly dumpAvail: readonly { readonly start: string; readonly end: string }[];
  readonly pages: { readonly dumped: number; readonly zero: number | null; readonly missing: number };
  readonly truncation: TruncationReport | null;
  readonly kernel: KernelReport | null;
  readonly undetermined: readonly Undetermined[];
}

/** How to summarize. */
export interface SummaryOptions {
  readonly fileCompression?: DumpCompression;
  /** The info file beside the dump (savecore's info.N), when there is one. */
  readonly infoText?: string;
  /** Zero pages counted (dump/pages.ts), or why they were not. */
  readonly zeroPages: number | string;
}

type Facts = Pick<DumpInfoReport, 'dumptime' | 'hostname' | 'panicString' | 'kernelVersion'>;

/** What a failed read says, as a reason. */
function reasonOf(e: unknown): string {
  if (e instanceof KbootError) return `${e.code}: ${e.message}`;
  throw e;
}

/** The C string at `va` (at most `max` bytes, within what the dump holds). */
function cString(d: OpenedDump, va: bigint, max: number): string {
  const b = d.readKva(va, max);
  const nul = b.indexOf(0);
  return new TextDecoder('utf-8').decode(nul < 0 ? b : b.subarray(0, nul));
}

/** Facts from the kerneldumpheader, then the info file; sources recorded. */
function headerFacts(d: OpenedDump, opts: SummaryOptions, sources: Record<string, FactSource>): Facts {
  const k = d.kdh;
  if (k !== undefined) {
    for (const f of ['dumptime', 'hostname', 'panicString', 'kernelVersion']) sources[f] = 'kerneldumpheader';
    return {
      dumptime: { seconds: Number(k.dumptime), text: ctimeText(k.dumptime) },
      hostname: k.hostname,
      panicString: k.panicstring,
      kernelVersion: k.versionstring.replace(/\n+$/, ''),
    };
  }
  const i = opts.infoText === undefined ? {} : infoFileFacts(opts.infoText);
  const note = <T>(field: string, v: T | undefined): T | null => {
    if (v === undefined) return null;
    sources[field] = 'info file';
    return v;
  };
  const dumptime =
    i.dumptimeText === undefined
      ? undefined
      : { seconds: i.dumptime === undefined ? null : Number(i.dumptime), text: i.dumptimeText };
  return {
    dumptime: note('dumptime', dumptime),
    hostname: note('hostname', i.hostname),
    panicString: note('panicString', i.panicString),
    kernelVersion: note('kernelVersion', i.versionString?.replace(/\n+$/, '')),
  };
}

/** A string through one of the kernel's symbols: a char array, or (`pointer`) a pointer to one. */
function symbolString(d: OpenedDump, name: string, pointer: boolean): { value?: string; reason?: string } {
  const sym = d.kernel?.file.symbols.lookup(name);
  if (sym === undefined) {
    return { reason: d.kernel === undefined ? 'no kernel given (--kernel)' : `the kernel has no symbol ${name}` };
  }
  try {
    if (!pointer) {
      const size = sym.size > 0n && sym.size < BigInt(MAX_SYMBOL_STRING) ? Number(sym.size) : MAX_SYMBOL_STRING;
      return { value: cString(d, sym.value, size) };
    }
    const p = d.readKva(sym.value, 8);
    const at = new DataView(p.buffer, p.byteOffset, 8).getBigUint64(0, true);
    if (at === 0n) return { reason: `${name} is NULL: the kernel had not panicked` };
    return { value: cString(d, at, Math.min(MAX_SYMBOL_STRING, Number(0x1000n - (at % 0x1000n)))) };
  } catch (e) {
    return { reason: reasonOf(e) };
  }
}

/** Fills what the headers left open from the kernel's symbols; records the rest as undetermined. */
function symbolFacts(d: OpenedDump, f: Facts, sources: Record<string, FactSource>, out: Undetermined[]): Facts {
  const fill = (field: 'hostname' | 'panicString' | 'kernelVersion', sym: string, pointer: boolean): string | null => {
    if (f[field] !== null) return f[field];
    const r = symbolString(d, sym, pointer);
    if (r.value !== undefined) {
      sources[field] = `symbol ${sym}`;
      return r.value.replace(/\n+$/, '');
    }
    out.push({ field, reason: `no kerneldumpheader or info file, and through symbol ${sym}: ${r.reason ?? ''}` });
    return null;
  };
  if (f.dumptime === null)
    out.push({ field: 'dumptime', reason: 'only a kerneldumpheader or an info file records it' });
  return {
    dumptime: f.dumptime,
    hostname: fill('hostname', 'hostname', false),
    panicString: fill('panicString', 'panicstr', true),
    kernelVersion: fill('kernelVersion', 'version', false),
  };
}

/** The message buffer's last lines, from the section or through `msgbufp`. */
function msgbufTail(d: OpenedDump, sources: Record<string, FactSource>, out: Undetermined[]): DumpInfoReport['msgbuf'] {
  try {
    let text: string;
    if (d.kind === 'minidump') {
      text = minidumpMsgbuf(d).text;
      sources['msgbuf'] = 'msgbuf section';
    } else {
      const p = d.kernel?.file.symbols.lookup('msgbufp');
      if (p === undefined) {
        const why = d.kernel === undefined ? 'no kernel given (--kernel)' : 'the kernel has no symbol msgbufp';
        out.push({ field: 'msgbuf', reason: `an ELF full dump has no msgbuf section, and ${why}` });
        return null;
      }
      text = symbolMsgbufText((va, len) => d.readKva(va, len), p.value).text;
      sources['msgbuf'] = 'symbol msgbufp';
    }
    const lines = msgbufLines(text);
    return { lineCount: lines.length, lines: lines.slice(-MSGBUF_TAIL) };
  } catch (e) {
    out.push({ field: 'msgbuf', reason: reasonOf(e) });
    return null;
  }
}

/** Summarizes an opened dump (see the module contract). */
export function summarizeDump(file: string, d: OpenedDump, opts: SummaryOptions): DumpInfoReport {
  const sources: Record<string, FactSource> = {};
  const undetermined: Undetermined[] = [];
  const facts = symbolFacts(d, headerFacts(d, opts, sources), sources, undetermined);
  const msgbuf = msgbufTail(d, sources, undetermined);
  if (typeof opts.zeroPages === 'string') undetermined.push({ field: 'pages.zero', reason: opts.zeroPages });
  const ranges =
    d.kind === 'minidump'
      ? d.reader.dumpAvail.map(([s, e]) => ({ start: hex(s), end: hex(e) }))
      : d.reader.segments.map((s) => ({ start: hex(s.pa), end: hex(s.pa + s.size) }));
  return {
    file,
    fileSize: d.fileSize,
    compression: d.compressedPayload ?? opts.fileCompression ?? 'none',
    format: d.kind,
    formatVersion: d.kind === 'minidump' ? d.reader.header.version : null,
    headerVersion: d.kdh?.version ?? null,
    arch: d.arch,
    container: d.container,
    ...facts,
    sources,
    msgbuf,
    dumpAvail: ranges,
    pages: {
      dumped: d.extent.dataPages,
      zero: typeof opts.zeroPages === 'number' ? opts.zeroPages : null,
      missing: d.extent.missingPages,
    },
    truncation: truncationReport(d),
    kernel: kernelReport(d),
    undetermined,
  };
}

/** `value (from source)`, or `unknown`. */
function fact(r: DumpInfoReport, field: string, value: string | null): string {
  if (value === null) return 'unknown (see below)';
  const src = r.sources[field];
  return src === undefined ? value : `${value}  [${src}]`;
}

/** The summary's header: what the dump is and the crash facts. */
function factLines(r: DumpInfoReport): string[] {
  const what = r.format === 'minidump' ? `minidump v${r.formatVersion ?? '?'}` : 'ELF full dump';
  const where = r.container === 'raw' ? 'raw file' : `dump-device image (kerneldumpheader v${r.headerVersion ?? '?'})`;
  const packed = r.compression === 'none' ? '' : `, ${r.compression}-compressed`;
  const L = [`${r.file}: ${what} (${r.arch}), ${where}${packed}, ${r.fileSize} bytes`];
  L.push(`  Dump time:       ${fact(r, 'dumptime', r.dumptime?.text ?? null)}`);
  L.push(`  Hostname:        ${fact(r, 'hostname', r.hostname)}`);
  L.push(`  Panic string:    ${fact(r, 'panicString', r.panicString)}`);
  L.push(`  Kernel version:  ${fact(r, 'kernelVersion', r.kernelVersion?.replace(/\n\s*/g, ' ') ?? null)}`);
  if (r.kernel !== null) {
    const k = r.kernel;
    L.push(`  Kernel file:     ${k.file} (${k.symbols.count} symbols${k.symbolOnly ? ', symbol-only' : ''})`);
  }
  return L;
}

/** Pages, dump_avail and truncation. */
function pageSummaryLines(r: DumpInfoReport): string[] {
  const p = r.pages;
  const L = [
    `  Pages:           ${p.dumped} dumped, ${p.zero === null ? 'zero pages not counted' : `${p.zero} all zero`}, ${p.missing} missing`,
  ];
  const t = r.truncation;
  if (t !== null) {
    L.push(
      `  Truncated:       ${BigInt(t.missingBytes)} bytes (${formatBytes(BigInt(t.missingBytes))}) missing of ${BigInt(t.expectedSize)}; reads of the ${t.missingPages} missing pages fail (DUMP_PAGE_MISSING)`,
    );
  }
  L.push(`  dump_avail:      ${r.dumpAvail.map((x) => `${x.start}-${x.end}`).join(', ') || 'none'}`);
  return L;
}

/** The text form of a summary. */
export function formatDumpInfo(r: DumpInfoReport): string {
  const L = [...factLines(r), ...pageSummaryLines(r)];
  if (r.undetermined.length > 0) {
    L.push('  Could not determine:');
    for (const u of r.undetermined) L.push(`    ${u.field}: ${u.reason}`);
  }
  if (r.msgbuf !== null) {
    const m = r.msgbuf;
    const src = r.sources['msgbuf'] ?? '';
    L.push(
      m.lineCount === 0
        ? `  Message buffer (${src}): empty`
        : `  Message buffer (${src}; the last ${m.lines.length} of ${m.lineCount} lines):`,
    );
    for (const l of m.lines) L.push(`    ${l}`);
  }
  return `${L.join('\n')}\n`;
}
