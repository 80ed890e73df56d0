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
 * Each strategy on each profile is one task (compare/strategy-run.ts), run whole on a worker
 * thread (compare/pool.ts) or, with one core or `threads: 1`, in this thread.
 *
 * Contract: every number comes from those runs (HostSession, JumpResult, crashDump, the
 * strategy's staging), timed with performance.now(); temporary dumps are removed. Every
 * session is closed. `sessions` counts the scenario sessions (the forks). `onProgress` gets
 * one line per stage, in the order a serial run gives them. Profiles must have the kernel's arch (COMPARE_ARCH_MISMATCH otherwise).
 * Only KbootErrors escape.
 */
import { lpiTableRanges, type ItsHandoffMode } from '../loader/plan/its-handoff.js';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseElf } from '../loader/elf/index.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { hostKernelElf } from '../kernels/host-elf.js';
import { FIRST_USERSPACE_PHASE, HOST_PHASES } from '../machine/host/timeline.js';
import { RESCUE_STRATEGIES, STRATEGY_IDS, type RescueStrategy } from '../machine/strategies/index.js';
import { isProbeKernel } from '../rescue/probe-observer.js';
import { CompareCode, CompareError } from './errors.js';
import { now, round } from './context.js';
import type { MainRun } from './measure.js';
import { runTasks, type TaskOutcome } from './pool.js';
import { COMPARE_FAULTS, type CompareReport, type ProfileComparison, type StrategyComparison } from './report.js';

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
  /** Threads to run the strategies on (default: compare/pool.ts threadsFor; 1 runs them in this thread). */
  readonly threads?: number;
  /** The GICv3 ITS hand-off kboot builds on machines with live LPI tables (default: each firmware's). */
  readonly itsHandoff?: ItsHandoffMode;
}

/** A strategy's staging of the generated host kernel, timed (the re-stage of a rebuild). */
interface Staging {
  /** The host kernel file changed (the loader carries the rescue kernel inside it). */
  readonly grows: boolean;
  readonly fileGrowth: number;
  readonly ms: number;
}

function stageHost(
  ctx: { readonly rescue: Uint8Array; readonly profile: MachineProfile; readonly seed: number },
  strategy: RescueStrategy,
): Staging {
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

/** One profile's comparison from its strategies' task results (in RESCUE_STRATEGIES order). */
function compareProfile(
  rescue: Uint8Array,
  profile: MachineProfile,
  seed: number,
  runs: readonly TaskOutcome[],
): ProfileComparison {
  const ctx = { rescue, profile, seed };
  const t0 = now();
  const stagings = RESCUE_STRATEGIES.map((s) => stageHost(ctx, s));
  const stagingMs = now() - t0;
  const baseImage = runs.find((_, i) => stagings[i]?.grows === false)?.result.main.imageSize ?? 0n;
  const strategies = runs.map((r, i) => {
    const staging = stagings[i];
    const strategy = RESCUE_STRATEGIES[i];
    return staging === undefined || strategy === undefined
      ? r.result.comparison
      : withStagingFacts(r.result.comparison, strategy, staging, r.result.main, baseImage);
  });
  const dumps = strategies.filter((c) => c.dump.status !== 'none');
  const ms = dumps.map((c) => c.dump.ms).sort((x, y) => x - y);
  const first = dumps[0]?.dump;
  const start = Math.min(...runs.map((r) => r.startMs));
  const end = Math.max(...runs.map((r) => r.endMs));
  return {
    machine: profile.name,
    source: profile.source,
    arch: profile.arch,
    reservation: runs[0]?.result.main.reservation ?? { start: '0x0', size: 0 },
    sessions: runs.reduce((n, r) => n + r.result.sessions, 0),
    elapsedMs: round(end - start + stagingMs),
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
export async function runCompare(opts: CompareOptions): Promise<CompareReport> {
  const t0 = now();
  const image = parseElf(opts.rescue);
  checkProfiles(opts, image.arch);
  const seed = opts.seed ?? 1;
  const tmp = mkdtempSync(join(opts.tmpDir ?? tmpdir(), 'kboot-compare-'));
  try {
    const tasks = opts.profiles.flatMap((profile) =>
      RESCUE_STRATEGIES.map((s) => ({
        rescue: opts.rescue,
        file: opts.file,
        profile,
        seed,
        tmp,
        strategy: s.id,
        ...(opts.itsHandoff === undefined || lpiTableRanges(profile).length === 0
          ? {}
          : { itsHandoff: opts.itsHandoff }),
      })),
    );
    const outcomes = await runTasks(tasks, opts.onProgress ?? (() => undefined), opts.threads);
    const n = RESCUE_STRATEGIES.length;
    const profiles = opts.profiles.map((profile, i) =>
      compareProfile(opts.rescue, profile, seed, outcomes.slice(i * n, (i + 1) * n)),
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
