/**
 * The action of `kboot demo [--arch amd64|arm64] [--out DIR] [--json]` (descriptor:
 * cli/commands/demo.ts): runs scenario/demo.ts and prints it as it happens.
 *
 * Contract: DIR (default ./kboot-demo) is created if missing (loader/io/output.ts
 * outputDirectory: a file, a device or a directory where nothing can be created is an IoError,
 * exit 1, before anything runs). The narration goes to stdout, or with --json to stderr while
 * stdout carries one object valid against schemas/demo.schema.json; the dump's progress and
 * compare's progress lines go to stderr; the compare table to stdout (not with --json). A
 * dump that is incomplete or does not read back exactly ends with exit status 1 after the
 * report; a failed load or hand-off is its KbootError.
 */
import type { Arch } from '../../loader/arch/index.js';
import { outputDirectory } from '../../loader/io/output.js';
import { progressReporter } from '../../dump/progress.js';
import { formatCompareTable } from '../../compare/index.js';
import { runDemo } from '../../scenario/demo.js';
import { Exit, type ActionContext } from '../context.js';

/** The options of `kboot demo` (cli/commands/demo.ts). */
export interface DemoCliOptions {
  arch?: Arch;
  out?: string;
}

/** `kboot demo`: the demo, narrated; exit 1 when the dump is not good or does not verify. */
export async function runDemoCommand(ctx: ActionContext, opts: DemoCliOptions): Promise<number> {
  const { io, json } = ctx;
  const outDir = outputDirectory(opts.out ?? 'kboot-demo', {
    what: 'demo output directory',
    create: true,
    writable: true,
    cwd: io.cwd,
  });
  const report = await runDemo({
    arch: opts.arch ?? 'amd64',
    outDir,
    cwd: io.cwd,
    say: (line) => (json ? io.err(`${line}\n`) : io.out(`${line}\n`)),
    dumpProgress: progressReporter({ label: '/dev/dumper', tty: io.isTty, write: io.err, enabled: !json }),
    onCompareProgress: (line) => io.err(`      compare: ${line}\n`),
    ...(json ? {} : { onCompare: (cmp) => io.out(formatCompareTable(cmp)) }),
  });
  if (json) io.out(`${JSON.stringify(report, null, 2)}\n`);
  const good = report.dump.status === 'good' && report.verify.identical === report.verify.sampled;
  return good ? Exit.Ok : Exit.Failure;
}
