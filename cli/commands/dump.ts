/**
 * `kboot dump inspect <file> [--msgbuf-lines N] [--kernel K] [--json]`,
 * `kboot dump read <file> (--kva ADDR | --pa ADDR | --sym NAME[+OFF]) [--len N] [--as FMT] [--kernel K] [--json]`
 * and `kboot dump info <file> [--kernel K] [--json]`: a crash dump's facts, its memory, and a
 * crashinfo(8)-style summary.
 *
 * Contract: each command parses its options, recovers what killed `kboot panic --dump-dir`
 * runs left in the file's directory (dump/recover.ts, reported on stderr), makes ONE library
 * call — dump/report/file.ts `inspectDumpFile`, `readDumpFile` or `summarizeDumpFile`, which
 * open the dump (raw, .gz/.zst, or a dump-device image; the kernel's symbols with --kernel)
 * and build the report — and prints it: text (dump/report/*.ts format*) or, with --json, the
 * object valid against schemas/dump-{inspect,read,info}.schema.json. Decompression shows a
 * progress line on stderr when it takes more than a second. ADDR, N and OFF are hex (0x…) or
 * decimal; N is 1..1 MiB; FMT is hex (default), u32, u64 or str. A bad option (a missing
 * or second address, an unparsable value, no length for a hex read of an address) is a
 * usage error (exit 2); a file that cannot be opened is its IoError, a bad kernel its
 * ElfError, a bad dump or a failed read its DumpError (exit 1).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { hex, U64_LIMIT } from '../../loader/addr.js';
import type { ReadFormat } from '../../dump/report/read.js';
import type { CliIo } from '../io.js';
import { globalOptions } from '../context.js';
import { progressReporter } from '../../dump/progress.js';

/** Largest `dump read --len` (dump/report/read.ts MAX_READ_LEN). */
const MAX_LEN = 1 << 20;
/** Largest `--msgbuf-lines` (dump/report/inspect.ts MSGBUF_LINES.max). */
const MAX_LINES = 10_000;
const FORMATS: readonly ReadFormat[] = ['hex', 'u32', 'u64', 'str'];

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
  if (v < 1n || v > BigInt(MAX_LEN)) {
    throw new InvalidArgumentError(`the length must be 1..${MAX_LEN} (${hex(MAX_LEN)}) bytes.`);
  }
  return Number(v);
}

function parseLines(text: string): number {
  const v = parseNumber('the line count')(text);
  if (v > BigInt(MAX_LINES)) throw new InvalidArgumentError(`at most ${MAX_LINES} lines.`);
  return Number(v);
}

/** Paths as the user would type them: relative to the working directory when inside it. */
function shownPath(io: CliIo, p: string): string {
  const r = relative(io.cwd, p);
  return r.startsWith('..') || isAbsolute(r) ? p : r;
}

/** Recovers what killed `kboot panic --dump-dir` runs left beside the dump, and says so on stderr. */
async function recoverBeside(io: CliIo, file: string): Promise<void> {
  const full = resolve(io.cwd, file);
  const { looksLikeCrashDirectory, recoverDumpDirectory, recoveryLines, recoveryWarnings } =
    await import('../../dump/recover.js');
  if (!looksLikeCrashDirectory(dirname(full))) return;
  const r = recoverDumpDirectory(dirname(full));
  const shown = (p: string): string => shownPath(io, p);
  for (const l of recoveryLines(r, shown)) io.err(`${l}\n`);
  for (const w of recoveryWarnings(r, shown)) io.err(`kboot: warning: ${w}\n`);
}

/** What every dump command passes the library: where, the kernel, decompression progress. */
function fileOptions(io: CliIo, file: string, json: boolean, kernel: string | undefined) {
  const progress = progressReporter({
    label: `${basename(file)}: decompressing`,
    tty: io.isTty,
    write: io.err,
    enabled: !json,
    delayMs: 1000, // only work that takes more than a second shows a bar
  });
  return {
    progress,
    opts: { cwd: io.cwd, onProgress: progress.onProgress, ...(kernel === undefined ? {} : { kernel }) },
  };
}

/** Runs one library call with the progress line ended afterwards. */
async function withProgress<T>(
  io: CliIo,
  file: string,
  cmd: Command,
  kernel: string | undefined,
  call: (opts: ReturnType<typeof fileOptions>['opts']) => Promise<T>,
): Promise<{ json: boolean; report: T }> {
  const g = globalOptions(cmd);
  await recoverBeside(io, file);
  const { progress, opts } = fileOptions(io, file, g.json, kernel);
  try {
    return { json: g.json, report: await call(opts) };
  } finally {
    progress.end();
  }
}

const kernelOption = (): Option =>
  new Option('--kernel <file>', "the kernel's ELF file (its symbol table; with or without program headers)");
const dumpArgument = 'the dump (vmcore, vmcore.N.gz or .zst, or an image of a dump device)';

interface ReadOptions {
  kva?: bigint;
  pa?: bigint;
  sym?: string;
  len?: number;
  as?: ReadFormat;
  kernel?: string;
}

/** `kboot dump read`: the request from the options (usage errors exit 2). */
async function readRequest(opts: ReadOptions, cmd: Command) {
  const given = [opts.kva, opts.pa, opts.sym].filter((x) => x !== undefined).length;
  if (given !== 1) cmd.error('dump read needs one of --kva ADDR, --pa ADDR or --sym NAME[+OFFSET]', { exitCode: 2 });
  const { parseSymbolRef } = await import('../../dump/kernel.js');
  const symbol = opts.sym === undefined ? undefined : parseSymbolRef(opts.sym);
  if (opts.sym !== undefined && symbol === undefined) {
    cmd.error(`--sym ${opts.sym}: give NAME or NAME+OFFSET (OFFSET hex 0x... or decimal)`, { exitCode: 2 });
  }
  if (symbol !== undefined && opts.kernel === undefined) cmd.error('--sym needs --kernel FILE', { exitCode: 2 });
  const as = opts.as ?? 'hex';
  if (opts.len === undefined && symbol === undefined && (as === 'hex' || as === 'str')) {
    cmd.error(`dump read --as ${as} of an address needs --len N`, { exitCode: 2 });
  }
  const start = opts.kva ?? opts.pa;
  if (start !== undefined && opts.len !== undefined && start + BigInt(opts.len) > U64_LIMIT) {
    cmd.error(`${hex(start)} + ${hex(opts.len)} passes the end of the 64-bit address space`, { exitCode: 2 });
  }
  return {
    ...(opts.kva === undefined ? {} : { kva: opts.kva }),
    ...(opts.pa === undefined ? {} : { pa: opts.pa }),
    ...(symbol === undefined ? {} : { symbol }),
    ...(opts.len === undefined ? {} : { len: opts.len }),
    as,
  };
}

/** Registers `kboot dump inspect`, `kboot dump read` and `kboot dump info`. */
export function registerDump(program: Command, io: CliIo): void {
  const dump = program
    .command('dump')
    .description('read a FreeBSD crash dump: a minidump, an ELF full dump or a dump-device image');
  const print = (json: boolean, report: unknown, text: () => string): void =>
    io.out(json ? `${JSON.stringify(report, null, 2)}\n` : text());

  dump
    .command('inspect')
    .description(
      'show what a dump is: format, headers, sections, dump_avail, dumped, zero and missing pages, the msgbuf',
    )
    .argument('<file>', dumpArgument)
    .addOption(new Option('--msgbuf-lines <n>', 'msgbuf lines to show (default 10)').argParser(parseLines))
    .addOption(kernelOption())
    .action(async (file: string, opts: { msgbufLines?: number; kernel?: string }, cmd: Command) => {
      const [lib, { formatDumpInspect }] = await Promise.all([
        import('../../dump/report/file.js'),
        import('../../dump/report/inspect.js'),
      ]);
      const { json, report } = await withProgress(io, file, cmd, opts.kernel, (o) =>
        lib.inspectDumpFile(file, {
          ...o,
          ...(opts.msgbufLines === undefined ? {} : { msgbufLines: opts.msgbufLines }),
        }),
      );
      print(json, report, () => formatDumpInspect(report));
    });

  dump
    .command('read')
    .description('print memory of a dump at a kernel virtual address, a physical address or a kernel symbol')
    .argument('<file>', dumpArgument)
    .addOption(new Option('--kva <addr>', 'kernel virtual address').argParser(parseNumber('the address')))
    .addOption(new Option('--pa <addr>', 'physical address').argParser(parseNumber('the address')))
    .addOption(new Option('--sym <name[+offset]>', "a symbol of the kernel's (needs --kernel)"))
    .addOption(
      new Option(
        '--len <n>',
        `bytes to read, 1..${MAX_LEN} (default: the width of --as, or the symbol's size)`,
      ).argParser(parseLen),
    )
    .addOption(new Option('--as <fmt>', 'how to print the bytes').choices(FORMATS))
    .addOption(kernelOption())
    .action(async (file: string, opts: ReadOptions, cmd: Command) => {
      const req = await readRequest(opts, cmd);
      const [lib, { formatDumpRead }] = await Promise.all([
        import('../../dump/report/file.js'),
        import('../../dump/report/read.js'),
      ]);
      const { json, report } = await withProgress(io, file, cmd, opts.kernel, (o) => lib.readDumpFile(file, req, o));
      print(json, report, () => formatDumpRead(report));
    });

  dump
    .command('info')
    .description('a crash summary (crashinfo): panic, versions, hostname, dump time, pages, the message buffer tail')
    .argument('<file>', dumpArgument)
    .addOption(kernelOption())
    .action(async (file: string, opts: { kernel?: string }, cmd: Command) => {
      const [lib, { formatDumpInfo }] = await Promise.all([
        import('../../dump/report/file.js'),
        import('../../dump/report/summary.js'),
      ]);
      const { json, report } = await withProgress(io, file, cmd, opts.kernel, (o) => lib.summarizeDumpFile(file, o));
      print(json, report, () => formatDumpInfo(report));
    });
}
