/**
 * The action of `kboot exec <elf> [--machine NAME|FILE] [--crash] [--memsize SIZE] [--exact] [--trace] [--json]`
 *
 * Contract: loads the kernel into a fresh emulated machine as a normal kexec image
 * (loader.kboot style) — or, with --crash, as a D47358 rescue kernel armed in its
 * reservation and entered through rescue_kernel_exec's trampoline from a panicking host —
 * runs the trampoline on the CPU and enters the kernel. For a probe kernel it prints the
 * probe's report; for any other kernel the entry-contract check. --trace prints the hand-off
 * step by step (segments staged, registers at entry, instructions executed): what users of
 * kexec ask for when "kexec hangs". Exit status 1 when the jump does not reach the entry, the
 * probe does not complete, or the contract is violated.
 *
 * A probe kernel knows how it expects to be entered (`kboot probe-kernel --mode`, read back by
 * kernels/probe probeImageMode): a rescue-mode probe (the default) reads D47358's rescue
 * hand-off, so without --crash it is entered through rescue_kernel_exec all the same, and a
 * note on stderr says so (`pathFrom: "probe-mode"` in --json); a kexec-mode probe given
 * --crash would read a hand-off that is not there, so that is a usage error naming the two
 * commands that work. Any other kernel is entered the way the options say. The descriptor is
 * cli/commands/exec.ts. `--segments-from-last-host-load` runs a recorded `kboot load --host`
 * instead: the kernel recorded there is planned again on the profile (default: the running host
 * read now), its segments checked against the recorded digests (host/replay.ts) and placed as
 * they are, then entered the way the load would be (crash: rescue_kernel_exec; else a kexec
 * reboot).
 */
import { basename } from 'node:path';
import { hex } from '../../loader/addr.js';
import { jsonSafe } from '../../loader/errors.js';
import { parseElf } from '../../loader/elf/reader.js';
import { readInputFile } from '../../loader/io/input.js';
import { defaultProfileName, loadProfile } from '../../loader/plan/profile.js';
import { probeImageMode, type ProbeMode } from '../../kernels/probe/index.js';
import { execKernel, type ExecOutcome } from '../../machine/exec.js';
import { probeObserver, type ProbeRun } from '../../rescue/probe-observer.js';
import { itsJson, itsLine } from './panic-report.js';
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import { Exit, type ActionContext } from '../context.js';
import { CliCode, CliError, sizeOption } from '../errors.js';

/** True when the run did everything it should. */
export function execSucceeded(o: ExecOutcome<ProbeRun>): boolean {
  if (!o.jump.reached) return false;
  if (o.observed !== undefined)
    return (
      o.observed.report?.complete === true &&
      o.observed.report.checksum === o.observed.expectedChecksum &&
      o.observed.its?.outcome !== 'panic'
    );
  return (o.contract ?? []).length === 0;
}

/** The text form of an outcome. */
export function formatExec(o: ExecOutcome<ProbeRun>, trace: boolean): string {
  const out: string[] = [];
  out.push(
    `${o.path === 'rescue' ? 'rescue exec (D47358 rescue_kernel_exec)' : 'kexec reboot (loader.kboot)'} of ${o.kernelName} on ${o.profile} (${o.arch})`,
  );
  if (trace) for (const t of o.trace) out.push(`  [${t.step}] ${t.detail}`);
  const s = o.jump.stop;
  out.push(
    o.jump.reached
      ? `entered the kernel at ${hex(o.jump.stopAt)} after ${s.executed} instructions, ${s.elapsedMs.toFixed(1)} ms` +
          (s.accelerated.copies > 0
            ? ` (${s.accelerated.copies} copies, ${hex(s.accelerated.bytes)} bytes natively accelerated)`
            : '')
      : `the jump did not reach ${hex(o.jump.stopAt)}: ${describeStop(s)}`,
  );
  out.push(
    `registers at ${o.jump.reached ? 'entry' : 'the stop'}: ${Object.entries(o.entryRegs)
      .map(([k, v]) => `${k}=${hex(v)}`)
      .join(' ')}`,
  );
  if (o.observed !== undefined) {
    const r = o.observed.report;
    if (r === undefined)
      out.push(
        `probe: no report (${o.observed.reportError ?? 'unreadable'}); the probe stopped: ${describeStop(o.observed.stop)}`,
      );
    else {
      out.push(
        `probe report (${r.mode} mode): ${r.complete ? 'complete' : 'INCOMPLETE'}, stopped: ${describeStop(o.observed.stop)}`,
      );
      out.push(
        `  entry pc ${hex(r.entryPc)}, page-table root ${hex(r.ptRoot)}, boot args ${hex(r.bootArgs[0])} ${hex(r.bootArgs[1])}`,
      );
      out.push(
        `  system registers: ${Object.entries(r.sys)
          .map(([k, v]) => `${k}=${hex(v)}`)
          .join(' ')}`,
      );
      out.push(
        `  hand-off read at ${hex(r.handoffAddr)}: ${Buffer.from(r.handoff.subarray(0, 32)).toString('hex')}...`,
      );
      const ok = r.checksum === o.observed.expectedChecksum;
      out.push(
        `  image checksum ${hex(r.checksum)} ${ok ? '= the file' : `!= the file (${hex(o.observed.expectedChecksum)})`}`,
      );
    }
    if (o.observed.its !== undefined) out.push(itsLine(o.observed.its, o.observed.itsBy));
  }
  if (o.contract !== undefined) {
    if (o.contract.length === 0) out.push('entry contract: every item holds');
    else {
      out.push(`entry contract: ${o.contract.length} violation${o.contract.length === 1 ? '' : 's'}`);
      for (const v of o.contract) out.push(`  [${v.item}] ${v.message}`);
    }
  }
  if (o.console.length > 0) {
    out.push('console:');
    for (const l of o.console) out.push(`  ${l}`);
  }
  return `${out.join('\n')}\n`;
}

function describeStop(s: ExecOutcome['jump']['stop']): string {
  switch (s.kind) {
    case 'exception':
      return `exception ${s.name} (vector ${s.vector}) at ${hex(s.pc)}${s.cr2 === undefined ? '' : `, CR2 ${hex(s.cr2)}`}`;
    case 'unmapped':
      return `${s.access} of unmapped ${hex(s.address)} at ${hex(s.pc)}`;
    case 'write-protect':
      return `write to protected ${hex(s.address)} (PA ${hex(s.pa)}) at ${hex(s.pc)}`;
    case 'limit':
      return `instruction limit (${s.executed}) at ${hex(s.pc)}`;
    case 'timeout':
      return `time limit (${s.elapsedMs.toFixed(0)} ms) at ${hex(s.pc)}`;
    default:
      return `${s.kind} at ${hex(s.pc)}`;
  }
}

/**
 * The hand-off to use: the options', unless a probe's mode says otherwise (see the module
 * contract). Throws CLI_USAGE for a kexec-mode probe given --crash.
 */
export function execPathFor(
  mode: ProbeMode | undefined,
  crash: boolean,
  file: string,
): { path: 'rescue' | 'kexec'; from: 'option' | 'probe-mode' } {
  if (mode === 'kexec' && crash) {
    throw new CliError(
      CliCode.Usage,
      `cli: ${file} is a kexec-mode probe (kboot probe-kernel --mode kexec), which reads a kexec hand-off: run kboot exec ${file} without --crash, or build a rescue-mode probe (kboot probe-kernel --mode rescue) for --crash`,
      { file, mode, crash },
    );
  }
  if (mode === 'rescue' && !crash) return { path: 'rescue', from: 'probe-mode' };
  return { path: crash ? 'rescue' : 'kexec', from: 'option' };
}

/** The options of `kboot exec` (cli/commands/exec.ts). */
export interface ExecOptions {
  machine?: string;
  crash?: boolean;
  memsize?: string;
  exact?: boolean;
  trace?: boolean;
  itsHandoff?: ItsHandoffMode;
  segmentsFromLastHostLoad?: boolean;
  state?: string;
}

/** The `--json` form of an outcome. */
export function execJson(outcome: ExecOutcome<ProbeRun>, from: 'option' | 'probe-mode'): unknown {
  const { observed: probe, ...rest } = outcome;
  return jsonSafe({
    ...rest,
    pathFrom: from,
    ok: execSucceeded(outcome),
    ...(probe === undefined
      ? {}
      : {
          probe: {
            ...probe,
            report: probe.report === undefined ? undefined : { ...probe.report, raw: undefined },
            its: probe.its === undefined ? undefined : itsJson(probe.its),
            itsKboot: probe.itsKboot === undefined ? undefined : itsJson(probe.itsKboot),
          },
        }),
  });
}

/** `kboot exec FILE`: runs the hand-off into the kernel and prints the outcome; exit 1 when it failed. */
export async function runExec(ctx: ActionContext, file: string | undefined, opts: ExecOptions): Promise<number> {
  const { io } = ctx;
  if (opts.segmentsFromLastHostLoad === true) {
    if (file !== undefined || opts.crash === true || opts.memsize !== undefined)
      throw new CliError(
        CliCode.Usage,
        'cli: --segments-from-last-host-load takes the kernel, --crash and rescue_memsize from the host load',
        {},
      );
    return runHostLoadSegments(ctx, opts);
  }
  if (file === undefined)
    throw new CliError(CliCode.Usage, 'cli: exec needs a kernel (or --segments-from-last-host-load)', {});
  const memsize = opts.memsize === undefined ? undefined : sizeOption(opts.memsize, '--memsize');
  const image = parseElf(readInputFile(file, 'kernel', { what: 'kernel', cwd: io.cwd }));
  const profile = loadProfile(opts.machine ?? defaultProfileName(image.arch), { cwd: io.cwd });
  const how = execPathFor(probeImageMode(image), opts.crash === true, file);
  if (how.from === 'probe-mode') {
    io.err(
      `kboot: ${file} is a rescue-mode probe: entering it through rescue_kernel_exec, as --crash does (build it with kboot probe-kernel --mode kexec for a kexec reboot)\n`,
    );
  }
  const outcome = execKernel(profile, image, basename(file), {
    path: how.path,
    exact: opts.exact === true,
    observer: probeObserver,
    ...(memsize === undefined ? {} : { memsize }),
    ...(opts.itsHandoff === undefined ? {} : { itsHandoff: opts.itsHandoff }),
  });
  io.out(
    ctx.json ? `${JSON.stringify(execJson(outcome, how.from), null, 2)}\n` : formatExec(outcome, opts.trace === true),
  );
  return execSucceeded(outcome) ? Exit.Ok : Exit.Failure;
}

/** `kboot exec --segments-from-last-host-load`: the recorded host load's segments on the emulated machine. */
async function runHostLoadSegments(ctx: ActionContext, opts: ExecOptions): Promise<number> {
  const { io } = ctx;
  const [{ replayLastHostLoad }, { readHostMachine }, { stateDir }] = await Promise.all([
    import('../../host/replay.js'),
    import('../../host/plan.js'),
    import('./host-state.js'),
  ]);
  const profile = opts.machine === undefined ? readHostMachine().profile : loadProfile(opts.machine, { cwd: io.cwd });
  const r = replayLastHostLoad(stateDir(opts, io), profile);
  const segments = r.planned.request.segments.map((s) => ({ mem: s.mem, buf: s.buf }));
  const outcome = execKernel(profile, parseElf(r.kernel), r.kernelName, {
    path: r.crash ? 'rescue' : 'kexec',
    exact: opts.exact === true,
    observer: probeObserver,
    ...(r.memsize === undefined ? {} : { memsize: r.memsize }),
    ...(r.at === undefined ? {} : { at: r.at }),
    ...(r.crash ? { segments } : {}),
  });
  const from = {
    time: r.event.time,
    dryRun: r.event.dryRun === true,
    segments: segments.length,
    entry: r.event.load?.entry,
    flags: r.event.load?.flags,
  };
  if (ctx.json) {
    const base = execJson(outcome, 'option') as Record<string, unknown>;
    io.out(`${JSON.stringify({ ...base, hostLoad: from }, null, 2)}\n`);
  } else {
    io.out(
      `the ${from.dryRun ? 'dry-run ' : ''}host load of ${from.time}: ${from.segments} segments (sha256 of each as recorded), entry ${from.entry ?? '?'}, flags ${from.flags ?? '?'}\n`,
    );
    io.out(formatExec(outcome, opts.trace === true));
  }
  return execSucceeded(outcome) ? Exit.Ok : Exit.Failure;
}
