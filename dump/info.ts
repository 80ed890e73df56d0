/**
 * info.N, the text savecore(8) writes beside each dump (sbin/savecore/savecore.c printheader:
 * "Dump header from device", the kerneldumpheader's fields, "Dump Parity", "Bounds",
 * "Dump Status"), in kboot's form (times in UTC; "Incomplete: <reason>" after a bad status),
 * read back for the recovery of a killed writer's dump.
 *
 * Contract: `infoText(i)` renders it; `parseInfoText(text)` reads back what infoText wrote
 * (undefined for any other text: a hand-edited or foreign info file is left as it is);
 * `describeIncomplete(text, reason, dumplength)` returns the same info with "Dump Status: bad",
 * the reason, and — when the text parses — the Dump Length and Dump Parity of `dumplength`
 * bytes. Pure functions; parity as kerneldump_parity computes it (kerneldumpheader.ts).
 */
import type { Arch } from '../loader/arch/index.js';
import type { DumpCompression } from './compress.js';
import { decodeKernelDumpHeader, encodeKernelDumpHeader, type KernelDumpHeaderFields } from './kerneldumpheader.js';
import { KDH, KDH_ARCH, type KerneldumpCompression } from './layout.js';

/** The kerneldumpheader facts savecore prints (info.N) and a device image carries. */
export interface DumpFacts {
  readonly arch: Arch;
  readonly hostname: string;
  /** The kernel's version string (FreeBSD's ends with a newline). */
  readonly versionstring: string;
  readonly panicstring: string;
  /** time_second at dump time. */
  readonly dumptime: bigint;
}

/** The dump device's sector size kboot writes and records (di_blocksize of a 512-byte-sector disk). */
export const BLOCKSIZE = 512;

/** The marker of an info.N whose dump is being written (or whose writer stopped). */
export const IN_PROGRESS = 'dump in progress (the writer stopped before the end)';

const KDH_COMPRESSION: { readonly [C in DumpCompression]: KerneldumpCompression } = {
  none: 'NONE',
  gzip: 'GZIP',
  zstd: 'ZSTD',
};

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime(3) text without the newline: "Fri Nov 27 08:11:27 2026". */
export function ctimeText(seconds: bigint): string {
  const d = new Date(Number(seconds) * 1000);
  const p2 = (v: number): string => String(v).padStart(2, '0');
  return `${DAYS[d.getUTCDay()] ?? ''} ${MONTHS[d.getUTCMonth()] ?? ''} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** The seconds of a ctimeText (UTC), or undefined. */
function parseCtime(text: string): bigint | undefined {
  const m = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4,6})$/.exec(text);
  if (m === null) return undefined;
  const month = MONTHS.indexOf(m[1] ?? '');
  if (month < 0) return undefined;
  const ms = Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
  return Number.isFinite(ms) ? BigInt(ms / 1000) : undefined;
}

/** The kerneldumpheader of a dump (its parity is what info.N reports). */
export function dumpHeaderFields(facts: DumpFacts, dumplength: bigint, c: DumpCompression): KernelDumpHeaderFields {
  return {
    magic: 'kernel',
    arch: facts.arch,
    dumplength,
    dumptime: facts.dumptime,
    blocksize: BLOCKSIZE,
    hostname: facts.hostname,
    versionstring: facts.versionstring,
    panicstring: facts.panicstring,
    compression: KDH_COMPRESSION[c],
  };
}

/** The parity savecore prints for these facts. */
export function parityOf(facts: DumpFacts, dumplength: bigint, c: DumpCompression): number {
  return decodeKernelDumpHeader(encodeKernelDumpHeader(dumpHeaderFields(facts, dumplength, c))).parity;
}

/** What info.N says. */
export interface InfoFields {
  readonly device: string;
  readonly facts: DumpFacts;
  readonly dumplength: bigint;
  readonly compression: DumpCompression;
  readonly parity: number;
  readonly bounds: number;
  readonly status: 'good' | 'bad';
  readonly reason?: string;
}

/** info.N in savecore's printheader form (times in UTC). */
export function infoText(i: InfoFields): string {
  const version = i.facts.versionstring.endsWith('\n') ? i.facts.versionstring : `${i.facts.versionstring}\n`;
  const lines = [
    `Dump header from device: ${i.device}`,
    `  Architecture: ${KDH_ARCH[i.facts.arch].machineArch}`,
    `  Architecture Version: ${KDH_ARCH[i.facts.arch].archVersion}`,
    `  Dump Length: ${i.dumplength}`,
    `  Blocksize: ${BLOCKSIZE}`,
    `  Compression: ${i.compression}`,
    `  Dumptime: ${ctimeText(i.facts.dumptime)}`,
    `  Hostname: ${i.facts.hostname}`,
    `  Magic: ${KDH.MAGIC}`,
    `  Version String: ${version.slice(0, -1)}`,
    `  Panic String: ${i.facts.panicstring}`,
    `  Dump Parity: ${i.parity}`,
    `  Bounds: ${i.bounds}`,
    `  Dump Status: ${i.status}`,
  ];
  if (i.reason !== undefined) lines.push(`  Incomplete: ${i.reason.replace(/\n/g, ' ')}`);
  return `${lines.join('\n')}\n`;
}

/** The value of the line `  Label: value` (the first), or undefined. */
function field(lines: readonly string[], label: string): string | undefined {
  const prefix = `  ${label}: `;
  const line = lines.find((l) => l.startsWith(prefix));
  return line?.slice(prefix.length);
}

/** Reads back an info.N that infoText wrote; undefined for any other text. */
export function parseInfoText(text: string): InfoFields | undefined {
  const lines = text.split('\n');
  const device = /^Dump header from device: (.*)$/.exec(lines[0] ?? '')?.[1];
  const machine = field(lines, 'Architecture');
  const arch = (Object.keys(KDH_ARCH) as Arch[]).find((a) => KDH_ARCH[a].machineArch === machine);
  const length = field(lines, 'Dump Length');
  const compression = field(lines, 'Compression') as DumpCompression | undefined;
  const dumptime = parseCtime(field(lines, 'Dumptime') ?? '');
  const hostname = field(lines, 'Hostname');
  const panicstring = field(lines, 'Panic String');
  const parity = field(lines, 'Dump Parity');
  const bounds = field(lines, 'Bounds');
  const status = field(lines, 'Dump Status');
  // the version string may span lines (FreeBSD's has "\n    root@host:/usr/obj/...")
  const vFrom = lines.findIndex((l) => l.startsWith('  Version String: '));
  const vTo = lines.findIndex((l) => l.startsWith('  Panic String: '));
  if (
    device === undefined ||
    arch === undefined ||
    length === undefined ||
    !/^\d{1,20}$/.test(length) ||
    (compression !== 'none' && compression !== 'gzip' && compression !== 'zstd') ||
    dumptime === undefined ||
    hostname === undefined ||
    panicstring === undefined ||
    parity === undefined ||
    !/^\d{1,10}$/.test(parity) ||
    bounds === undefined ||
    !/^\d{1,10}$/.test(bounds) ||
    (status !== 'good' && status !== 'bad') ||
    vFrom < 0 ||
    vTo <= vFrom
  ) {
    return undefined;
  }
  const version = `${lines.slice(vFrom, vTo).join('\n').slice('  Version String: '.length)}\n`;
  const reason = field(lines, 'Incomplete');
  return {
    device,
    facts: { arch, hostname, versionstring: version, panicstring, dumptime },
    dumplength: BigInt(length),
    compression,
    parity: Number(parity),
    bounds: Number(bounds),
    status,
    ...(reason === undefined ? {} : { reason }),
  };
}

/**
 * The info text of a dump that ended early: status bad with `reason`; when the text is
 * kboot's own, also the Dump Length (and its parity) of the `dumplength` bytes kept.
 */
export function describeIncomplete(text: string, reason: string, dumplength: bigint): string {
  const parsed = parseInfoText(text);
  if (parsed !== undefined) {
    try {
      const parity = parityOf(parsed.facts, dumplength, parsed.compression);
      return infoText({ ...parsed, dumplength, parity, status: 'bad', reason });
    } catch {
      // facts the header cannot hold (edited by hand): keep the lines as they are below
    }
  }
  const kept = text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('  Dump Status: ') && !l.startsWith('  Incomplete: '));
  return `${[...kept, '  Dump Status: bad', `  Incomplete: ${reason.replace(/\n/g, ' ')}`].join('\n')}\n`;
}

/** What an info file says about the crash, each field when it has the line (savecore's or kboot's). */
export interface InfoFileFacts {
  readonly hostname?: string;
  readonly versionString?: string;
  readonly panicString?: string;
  /** The Dumptime line as written. */
  readonly dumptimeText?: string;
  /** Its seconds, when it is a ctime(3) text. */
  readonly dumptime?: bigint;
}

/**
 * The crash facts of any info.N text: savecore's printheader labels (Hostname, Version String
 * — continued on the lines up to the next label —, Panic String, Dumptime), each only when
 * present. Pure; never throws.
 */
export function infoFileFacts(text: string): InfoFileFacts {
  const lines = text.split('\n');
  const label = /^ {2}[A-Z][A-Za-z ]*: /;
  const value = (name: string): string | undefined => field(lines, name);
  const vFrom = lines.findIndex((l) => l.startsWith('  Version String: '));
  let version: string | undefined;
  if (vFrom >= 0) {
    let end = vFrom + 1;
    while (end < lines.length && !label.test(lines[end] ?? '') && (lines[end] ?? '') !== '') end++;
    version = lines.slice(vFrom, end).join('\n').slice('  Version String: '.length);
  }
  const dumptimeText = value('Dumptime');
  const dumptime = dumptimeText === undefined ? undefined : parseCtime(dumptimeText);
  const hostname = value('Hostname');
  const panicString = value('Panic String');
  return {
    ...(hostname === undefined ? {} : { hostname }),
    ...(version === undefined ? {} : { versionString: version }),
    ...(panicString === undefined ? {} : { panicString }),
    ...(dumptimeText === undefined ? {} : { dumptimeText }),
    ...(dumptime === undefined ? {} : { dumptime }),
  };
}
