/**
 * `runCompare`: the three ways of arming a FreeBSD rescue kernel (D47358: embedded with
 * RESCUE_EMBED, preloaded as a KLD-style module, or kexec_load-ed from userspace;
 * machine/strategies) run through the same scenarios on the emulated machine, per machine
 * profile. Each strategy boots one host and advances it phase by phase; every scenario runs in
 * a session of its own, forked from that host where the scenario starts (HostSession.fork: a
 * fresh machine with a copy of the host's RAM), so the boot is not repeated per scenario:
 *
 *  1. a panic at every boot phase (machine/host/timeline.ts HOST_PHASES), each in its own
 *     fork (a strategy armed from userspace loads the crash kernel as soon as it can; the call
 *     fails before userspace): which panics are rescued, hence where the strategy is armed
 *     from and the share of the boot timeline it covers;
 *  2. the main run at `running` (compare/measure.ts): memory, bytes copied at boot, at load
 *     and at the panic, the panic → rescue-entry jump, the probe kernel's run, a minidump into
 *     a temporary directory (savecore layout), the DMA and ITS faults during further dumps,
 *     and for a strategy replaced on the running host the replacement (unload + load, then the
 *     panic);
 *  3. the corrupt-segment and stray-write faults, each in a fresh armed fork
 *     (compare/faults.ts).
 * A strategy that needs a reboot to be replaced is timed by its host's boot to `running`; one
 * that needs a rebuild, by re-staging the host kernel (the strategy's `stage`) plus that boot.
 *
 * Contract: every number comes from those runs (HostSession, JumpResult, crashDump, the
 * strategy's staging), timed with performance.now(); temporary dumps are removed. Every
 * session is closed. `sessions` counts the scenario sessions (the forks). `onProgress` gets
 * one line per stage. Profiles must have the kernel's arch (COMPARE_ARCH_MISMATCH otherwise).
 * Only KbootErrors escape.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseElf } from '../loader/elf/index.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { hostKernelElf } from '../kernels/host-elf.js';
import { FIRST_USERSPACE_PHASE, HOST_PHASES, type HostPhase } from '../machine/host/timeline.js';
import { HostSession } from '../machine/session.js';
import { RESCUE_STRATEGIES, STRATEGY_IDS, type RescueStrategy } from '../machine/strategies/index.js';
import { isProbeKernel } from '../rescue/probe-observer.js';
import { CompareCode, CompareError } from './errors.js';
import { corruptSegmentFault, strayWriteFault } from './faults.js';
import { now, round, type Ctx, type Trunk } from './context.js';
import { mainRun, type MainRun } from './measure.js';
import {
  COMPARE_FAULTS,
  type CompareReport,
  type PhaseResult,
  type ProfileComparison,
  type StrategyComparison,
} from './report.js';

export interface CompareOptions {
  /** The rescue kernel ELF. */
  readonly rescue: Uint8Array;
  /** Its name in the report (the path as given). */
  readonly file: string;
  readonly profiles: readonly MachineProfile[];
  readonly seed?: number;
  /** Where temporary dumps go (default: the OS temporary directory). */
  readonly tmpDir?: string;
  readonly onProgress?: (line: string) => void;
}

function bootTrunk(ctx: Ctx, strategy: RescueStrategy): Trunk {
  const t0 = now();
  const host = HostSession.boot({
    profile: ctx.profile,
    strategy: strategy.id,
    rescue: ctx.rescue,
    seed: ctx.seed,
    rescueName: basename(ctx.file),
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
    if (trunk.strategy.armedBy === 'userspace') s.loadCrash(ctx.rescue);
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
    };
    return { comparison, main: { ...main, bootMs: trunk.bootMs } };
  } finally {
    trunk.host.close();
  }
}

/** A strategy's staging of the generated host kernel, timed (the re-stage of a rebuild). */
interface Staging {
  /** The host kernel file changed (the loader carries the rescue kernel inside it). */
  readonly grows: boolean;
  readonly fileGrowth: number;
  readonly ms: number;
}

function stageHost(ctx: Ctx, strategy: RescueStrategy): Staging {
  const host = hostKernelElf(ctx.profile.arch, ctx.seed);
  const t0 = now();
  const staged = strategy.stage(host, ctx.rescue);
  const ms = now() - t0;
  return { grows: staged.kernel !== host, fileGrowth: staged.kernel.length - host.length, ms };
}

/**
 * What a strategy's staging does to the host kernel (the file and the loaded image grow when
 * the loader carries the rescue kernel inside it; the image against `baseImage`, a host whose
 * kernel is left as it is) and what replacing the rescue kernel costs when it needs a reboot
 * (the boot to running) or a rebuild (re-staging plus that boot).
 */
function withStagingFacts(
  c: StrategyComparison,
  strategy: RescueStrategy,
  staging: Staging,
  main: MainRun,
  baseImage: bigint,
): StrategyComparison {
  const memory = staging.grows
    ? { ...c.memory, kernelImageGrowth: Number(main.imageSize - baseImage), kernelFileGrowth: staging.fileGrowth }
    : c.memory;
  const needs = strategy.replacement.needs;
  if (needs === 'nothing') return { ...c, memory };
  const ms = needs === 'rebuild' ? staging.ms + main.bootMs : main.bootMs;
  return { ...c, memory, replace: { ...c.replace, ms: round(ms) } };
}

/** Compares the strategies on one profile. */
function compareProfile(ctx: Ctx): ProfileComparison {
  const t0 = now();
  const { profile } = ctx;
  const runs = RESCUE_STRATEGIES.map((strategy) => ({ strategy, ...runStrategy(ctx, strategy) }));
  const stagings = runs.map((r) => stageHost(ctx, r.strategy));
  const baseImage = runs.find((_, i) => stagings[i]?.grows === false)?.main.imageSize ?? 0n;
  const strategies = runs.map((r, i) => {
    const staging = stagings[i];
    return staging === undefined
      ? r.comparison
      : withStagingFacts(r.comparison, r.strategy, staging, r.main, baseImage);
  });
  const dumps = strategies.filter((c) => c.dump.status !== 'none');
  const ms = dumps.map((c) => c.dump.ms).sort((a, b) => a - b);
  const first = dumps[0]?.dump;
  return {
    machine: profile.name,
    source: profile.source,
    arch: profile.arch,
    reservation: runs[0]?.main.reservation ?? { start: '0x0', size: 0 },
    sessions: ctx.sessions,
    elapsedMs: round(now() - t0),
    dump: {
      format: first?.format ?? 'minidump',
      size: first?.size ?? 0,
      pages: first?.pages ?? 0,
      ms: ms[Math.floor(ms.length / 2)] ?? 0,
    },
    strategies,
  };
}

/** Refuses an empty profile list or a profile of another arch than the kernel's. */
function checkProfiles(opts: CompareOptions, arch: MachineProfile['arch']): void {
  const wrong = opts.profiles.filter((p) => p.arch !== arch);
  if (wrong.length > 0 || opts.profiles.length === 0) {
    throw new CompareError(
      opts.profiles.length === 0 ? CompareCode.NoProfile : CompareCode.ArchMismatch,
      opts.profiles.length === 0
        ? 'compare: compare needs at least one machine profile'
        : `compare: ${opts.file} is an ${arch} kernel; ${wrong.map((p) => `${p.name} is ${p.arch}`).join(', ')}`,
      { arch, machines: wrong.map((p) => p.name) },
    );
  }
}

/** Runs the comparison (see the module contract). */
export function runCompare(opts: CompareOptions): CompareReport {
  const t0 = now();
  const image = parseElf(opts.rescue);
  checkProfiles(opts, image.arch);
  const seed = opts.seed ?? 1;
  const tmp = mkdtempSync(join(opts.tmpDir ?? tmpdir(), 'kboot-compare-'));
  try {
    const profiles = opts.profiles.map((profile) =>
      compareProfile({
        rescue: opts.rescue,
        file: opts.file,
        profile,
        seed,
        tmp,
        progress: opts.onProgress ?? (() => undefined),
        sessions: 0,
      }),
    );
    return {
      kernel: {
        file: opts.file,
        arch: image.arch,
        size: opts.rescue.length,
        sha256: createHash('sha256').update(opts.rescue).digest('hex'),
        probe: isProbeKernel(image),
      },
      seed,
      phases: [...HOST_PHASES],
      userspaceFrom: FIRST_USERSPACE_PHASE,
      strategies: [...STRATEGY_IDS],
      faultSet: [...COMPARE_FAULTS],
      profiles,
      elapsedMs: round(now() - t0),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
