/**
 * The action of `kboot panic [--at PHASE] [--dump-dir DIR | --dump-device FILE]
 * [--format minidump|elf] [--compress none|gzip|zstd] [--fault NAME ...] [--no-progress]`
 * (descriptor: cli/commands/host.ts): panic the replayed host (after advancing it to PHASE),
 * hand off to the rescue kernel on the CPU, then save the rescue kernel's /dev/dumper stream
 * (rescue/crash-dump.ts) as savecore(8) does, or as a dump-device image.
 *
 * Contract: option combinations are checked first (--dump-dir and --dump-device exclude each
 * other; --format, --compress and --fault need one of them: CLI_USAGE); the dump directory
 * must exist (savecore(8) wants it too), and what killed runs left there is recovered and
 * said at once (dump/recover.ts). A PHASE before the host's, or the its fault on a machine
 * without a GICv3 ITS, is CLI_USAGE. The progress bar (or 10% lines) goes to stderr; SIGINT
 * keeps and names the part written. Exit status 1 when the panic was not rescued or the dump
 * is incomplete, after the full report (text, or with --json one object valid against
 * schemas/panic.schema.json).
 */
import { basename, resolve } from 'node:path';
import { jsonSafe } from '../../loader/errors.js';
import { outputDirectory } from '../../loader/io/output.js';
import type { DumpCompression } from '../../dump/compress.js';
import { progressReporter } from '../../dump/progress.js';
import { recoverDumpDirectory, type DumpDirRecovery } from '../../dump/recover.js';
import { HOST_PHASES, type HostPhase } from '../../machine/host/timeline.js';
import type { HostSession, PanicOutcome } from '../../machine/session.js';
import { probeObserver, type ProbeRun } from '../../rescue/probe-observer.js';
import { crashDumpAsync, type CrashDumpResult, type DumpFault } from '../../rescue/crash-dump.js';
import type { DumpFormat } from '../../rescue/dumper.js';
import { Exit, type ActionContext } from '../context.js';
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import { CliCode, CliError } from '../errors.js';
import { existingStateDir, journalOrFail, shownPath, withSessionAsync, type StateOptions } from './host-state.js';
import { dumpJson, printDump, printPanic, probeJson, reportRecovery } from './panic-report.js';

/** The options of `kboot panic` (cli/commands/host.ts). */
export interface PanicOptions extends StateOptions {
  at?: HostPhase;
  dumpDir?: string;
  dumpDevice?: string;
  format?: DumpFormat;
  compress?: DumpCompression;
  fault?: DumpFault[];
  progress?: boolean;
  itsHandoff?: ItsHandoffMode;
}

/** Refuses option combinations that cannot be carried out (see the module contract). */
function checkDumpOptions(opts: PanicOptions): void {
  if (opts.dumpDir !== undefined && opts.dumpDevice !== undefined)
    throw new CliError(CliCode.Usage, 'cli: --dump-dir and --dump-device exclude each other', {});
  const dumping = opts.dumpDir !== undefined || opts.dumpDevice !== undefined;
  if (!dumping && (opts.format !== undefined || opts.compress !== undefined || (opts.fault ?? []).length > 0))
    throw new CliError(CliCode.Usage, 'cli: --format, --compress and --fault need --dump-dir or --dump-device', {});
}

/** Advances the host to --at, refusing a phase in the past. */
function advanceForPanic(s: HostSession, at: HostPhase | undefined): void {
  if (at === undefined) return;
  if (HOST_PHASES.indexOf(at) < HOST_PHASES.indexOf(s.phase)) {
    throw new CliError(
      CliCode.Usage,
      `cli: the host is already at ${s.phase}; --at ${at} is in the past (boot with --to ${at})`,
      { phase: s.phase, at },
    );
  }
  s.advanceTo(at);
}

/** Refuses the its fault on a machine without a GICv3 ITS. */
function checkFaultsApply(s: HostSession, faults: readonly DumpFault[]): void {
  if (faults.includes('its') && (s.profile.arch !== 'arm64' || s.model.deviceTables.length === 0)) {
    throw new CliError(
      CliCode.Usage,
      `cli: the its fault needs an arm64 machine with a GICv3 ITS (${s.profile.name} has none)`,
      { machine: s.profile.name },
    );
  }
}

/** The rescue kernel's dump, with progress on stderr, into the directory or the device image. */
async function dumpAfterPanic(
  ctx: ActionContext,
  s: HostSession,
  opts: PanicOptions,
  dumpDir: string | undefined,
): Promise<CrashDumpResult> {
  const { io } = ctx;
  const label = opts.dumpDevice !== undefined ? basename(opts.dumpDevice) : '/dev/dumper';
  const progress = progressReporter({
    label,
    tty: io.isTty,
    write: io.err,
    enabled: opts.progress !== false && !ctx.json,
  });
  const dump = await crashDumpAsync(s, {
    ...(dumpDir === undefined ? {} : { dir: dumpDir, recover: false }),
    onInterrupted: (r) => {
      progress.end();
      io.err(
        `kboot: interrupted: the part written (${r.bytesOut} bytes) is kept as ${shownPath(io, r.vmcore)}, described in ${shownPath(io, r.info)}\n`,
      );
    },
    ...(opts.dumpDevice === undefined ? {} : { deviceImage: resolve(io.cwd, opts.dumpDevice) }),
    format: opts.format ?? 'minidump',
    compression: opts.compress ?? 'none',
    faults: opts.fault ?? [],
    panicstring: `kboot: panic at ${s.phase}`,
    onProgress: progress.onProgress,
  });
  progress.end();
  return dump;
}

/** The report after the run: warnings on stderr, then the JSON object or the dump's text. */
function printOutcome(
  ctx: ActionContext,
  outcome: PanicOutcome<ProbeRun>,
  dump: CrashDumpResult | undefined,
  recovery: DumpDirRecovery | undefined,
): void {
  const { io } = ctx;
  for (const w of dump?.save?.warnings ?? []) io.err(`kboot: warning: ${w}\n`);
  if (ctx.json) {
    const { observed, console: lines, ...head } = outcome;
    const probe = observed === undefined ? undefined : probeJson(observed);
    const d = dump === undefined ? undefined : dumpJson(dump, recovery);
    io.out(`${JSON.stringify(jsonSafe({ ...head, probe, console: lines, dump: d }), null, 2)}\n`);
  } else if (dump !== undefined) {
    printDump(io, dump);
  }
}

/** `kboot panic`: see the module contract. */
export async function runPanic(ctx: ActionContext, opts: PanicOptions): Promise<number> {
  const { io } = ctx;
  checkDumpOptions(opts);
  const dumping = opts.dumpDir !== undefined || opts.dumpDevice !== undefined;
  const journal = journalOrFail(existingStateDir(opts, io));
  // savecore(8) too wants the crash directory to exist; say so before the host panics
  const dumpDir =
    opts.dumpDir === undefined
      ? undefined
      : outputDirectory(opts.dumpDir, { what: 'dump directory', create: false, cwd: io.cwd });
  // what killed runs left there, said at once (a run killed in turn has said it already)
  const recovery = dumpDir === undefined ? undefined : reportRecovery(io, ctx.json, recoverDumpDirectory(dumpDir));
  const override = opts.itsHandoff === undefined ? {} : { itsHandoff: opts.itsHandoff };
  const { outcome, dump } = await withSessionAsync(journal, override, async (s) => {
    advanceForPanic(s, opts.at);
    checkFaultsApply(s, opts.fault ?? []);
    const o = s.panic({ observer: probeObserver });
    if (!ctx.json) printPanic(io, o, s.log);
    const d = dumping && o.rescued ? await dumpAfterPanic(ctx, s, opts, dumpDir) : undefined;
    return { outcome: o, dump: d };
  });
  printOutcome(ctx, outcome, dump, recovery);
  const wouldPanic = outcome.observed?.its?.outcome === 'panic';
  return !outcome.rescued || wouldPanic || dump?.save?.status === 'incomplete' ? Exit.Failure : Exit.Ok;
}
