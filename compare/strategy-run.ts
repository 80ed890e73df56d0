/**
 * One strategy's part of `kboot compare` on one profile (compare/run.ts): its host booted once
 * and advanced phase by phase, every scenario in a fork of it (HostSession.fork) — a panic at
 * each boot phase, the main run at `running` (compare/measure.ts), the corrupt-segment and
 * stray-write faults (compare/faults.ts). A task is plain data, so it runs in this thread or
 * on a worker thread (compare/pool.ts, compare/worker.ts) with the same result.
 *
 * Contract: `runStrategyTask` closes every session it opens, reports one progress line per
 * stage through `progress`, and returns the strategy's comparison (the figures every session
 * measured), its main run and the number of scenario sessions (forks) it ran. Only
 * KbootErrors escape.
 */
import { basename } from 'node:path';
import type { MachineProfile } from '../loader/plan/profile.js';
import { FIRST_USERSPACE_PHASE, HOST_PHASES, type HostPhase } from '../machine/host/timeline.js';
import { HostSession } from '../machine/session.js';
import { rescueStrategy, type RescueStrategy, type StrategyId } from '../machine/strategies/index.js';
import { now, type Ctx, type Trunk } from './context.js';
import { corruptSegmentFault, strayWriteFault } from './faults.js';
import { mainRun, type MainRun } from './measure.js';
import { itsComparison } from './its-row.js';
import type { ItsHandoffMode } from '../loader/plan/its-handoff.js';
import { COMPARE_FAULTS, type PhaseResult, type StrategyComparison } from './report.js';

/** One strategy on one profile: everything a run needs, as plain (cloneable) data. */
export interface StrategyTask {
  readonly rescue: Uint8Array;
  readonly file: string;
  readonly profile: MachineProfile;
  readonly seed: number;
  /** Where temporary dumps go. */
  readonly tmp: string;
  readonly strategy: StrategyId;
  /** `--its-handoff` (only for profiles with live LPI tables). */
  readonly itsHandoff?: ItsHandoffMode;
}

export interface StrategyTaskResult {
  readonly comparison: StrategyComparison;
  readonly main: MainRun;
  /** Scenario sessions (forks) run. */
  readonly sessions: number;
}

function bootTrunk(ctx: Ctx, strategy: RescueStrategy): Trunk {
  const t0 = now();
  const host = HostSession.boot({
    profile: ctx.profile,
    strategy: strategy.id,
    rescue: ctx.rescue,
    seed: ctx.seed,
    rescueName: basename(ctx.file),
    ...(ctx.itsHandoff === undefined ? {} : { itsHandoff: ctx.itsHandoff }),
  });
  return { strategy, host, bootMs: now() - t0 };
}

function advance(trunk: Trunk, phase: HostPhase): void {
  const t0 = now();
  trunk.host.advanceTo(phase);
  trunk.bootMs += now() - t0;
}

/**
 * A fork of the trunk at its phase, armed the way the strategy arms by then (one armed from
 * userspace loads the crash kernel; the call fails before userspace, as kexec_load does);
 * closed after `f`.
 */
export function withArmedFork<T>(ctx: Ctx, trunk: Trunk, f: (s: HostSession) => T): T {
  ctx.sessions++;
  const s = trunk.host.fork();
  try {
    if (trunk.strategy.armedBy === 'userspace') s.loadCrash(ctx.rescue, 'linux', ctx.itsHandoff);
    return f(s);
  } finally {
    s.close();
  }
}

/** A panic at the trunk's phase, in a fork of its own. */
function panicHere(ctx: Ctx, trunk: Trunk): PhaseResult {
  return withArmedFork(ctx, trunk, (s) => {
    const out = s.panic();
    return {
      phase: s.phase,
      rescued: out.rescued,
      reason: out.rescued ? null : (out.reason ?? `the jump stopped: ${out.jump?.stop.kind ?? 'unknown'}`),
      instructions: out.jump?.stop.executed ?? null,
    };
  });
}

/** Everything one strategy goes through on one profile (see the module contract). */
function runStrategy(ctx: Ctx, strategy: RescueStrategy): { comparison: StrategyComparison; main: MainRun } {
  const { profile } = ctx;
  ctx.progress(`${profile.name} ${strategy.id}: a panic at each of ${HOST_PHASES.length} boot phases`);
  const trunk = bootTrunk(ctx, strategy);
  try {
    const phases: PhaseResult[] = [];
    for (const phase of HOST_PHASES.filter((p) => p !== 'running')) {
      advance(trunk, phase);
      phases.push(panicHere(ctx, trunk));
    }
    advance(trunk, 'running');
    const main = mainRun(ctx, trunk);
    phases.push(main.running);
    ctx.progress(`${profile.name} ${strategy.id}: corrupted staged segment, stray write by the trampoline`);
    const corrupt = withArmedFork(ctx, trunk, (s) => corruptSegmentFault(s, ctx.rescue));
    const stray = withArmedFork(ctx, trunk, (s) => strayWriteFault(s));
    ctx.progress(`${profile.name} ${strategy.id}: GICv3 ITS live at the panic`);
    const its = itsComparison(ctx, trunk, ctx.itsHandoff);
    const faults = [...main.faults, corrupt, stray].sort(
      (a, b) => COMPARE_FAULTS.indexOf(a.fault) - COMPARE_FAULTS.indexOf(b.fault),
    );
    const rescued = phases.filter((p) => p.rescued);
    const armedFrom = phases.find((p) => p.rescued)?.phase ?? null;
    const applicable = faults.filter((f) => f.outcome !== 'n/a');
    const comparison: StrategyComparison = {
      ...main.result,
      armedFrom,
      userspaceOnly: armedFrom !== null && HOST_PHASES.indexOf(armedFrom) >= HOST_PHASES.indexOf(FIRST_USERSPACE_PHASE),
      rescuedShare: Math.round((rescued.length / phases.length) * 1000) / 1000,
      phases,
      faults,
      faultsHandled: applicable.filter((f) => f.outcome === 'survived' || f.outcome === 'detected').length,
      faultsApplicable: applicable.length,
      its,
    };
    return { comparison, main: { ...main, bootMs: trunk.bootMs } };
  } finally {
    trunk.host.close();
  }
}

/** Runs one strategy's task (see the module contract). */
export function runStrategyTask(task: StrategyTask, progress: (line: string) => void): StrategyTaskResult {
  const ctx: Ctx = { ...task, progress, sessions: 0 };
  const { comparison, main } = runStrategy(ctx, rescueStrategy(task.strategy));
  return { comparison, main, sessions: ctx.sessions };
}
