/**
 * The main run of one strategy in `kboot compare` (compare/run.ts, step 2), in a fork of the
 * strategy's host at `running`: for a strategy replaced on the running host, the replacement
 * (unload + load, timed); the memory and the bytes the boot, the load and the panic move; the
 * panic → rescue-entry jump with the probe kernel's run after it (rescue/probe-observer.ts);
 * a minidump and the DMA and ITS faults during further dumps (compare/faults.ts).
 *
 * Contract: every figure comes from the fork's run (HostSession, JumpResult, crashDump) or from
 * the strategy's facts (machine/strategies), never from a strategy id; COMPARE_NOT_ARMED when
 * the strategy left nothing armed at `running`.
 */
import { alignUp, hex, size, SZ_4K } from '../loader/addr.js';
import { crashRequestFromPlan } from '../loader/kexec/index.js';
import { probeChecksum } from '../kernels/probe/index.js';
import { trampolineOps } from '../loader/trampoline/index.js';
import type { Armed, HostSession, PanicOutcome } from '../machine/session.js';
import type { RescueStrategy } from '../machine/strategies/index.js';
import { crashDump } from '../rescue/crash-dump.js';
import { probeObserver, type ProbeRun } from '../rescue/probe-observer.js';
import { CompareCode, CompareError } from './errors.js';
import { dmaFault, itsFault, withDumpDir } from './faults.js';
import type { FaultResult, PhaseResult, StrategyComparison } from './report.js';
import { now, round, type Ctx, type Trunk } from './context.js';

/** A dump's time stamp in every compare run (the reports stay comparable). */
const DUMPTIME = 1_800_000_000n;

export interface MainRun {
  readonly result: Omit<
    StrategyComparison,
    'armedFrom' | 'userspaceOnly' | 'rescuedShare' | 'phases' | 'faults' | 'faultsHandled' | 'faultsApplicable' | 'its'
  >;
  readonly running: PhaseResult;
  /** The loaded host kernel image's size. */
  readonly imageSize: bigint;
  readonly faults: FaultResult[];
  /** The strategy's host: boot to `running`. */
  readonly bootMs: number;
  readonly reservation: { readonly start: string; readonly size: number };
}

type Replace = StrategyComparison['replace'];

/** Unload + load on the running host, timed (a strategy armed from userspace). */
function replaceLive(ctx: Ctx, s: HostSession, strategy: RescueStrategy): Replace {
  const sha = s.reservationSha256();
  const t = now();
  const unload = s.unloadCrash();
  const disarmedByUnload = s.armed === undefined;
  const again = s.loadCrash(ctx.rescue);
  const ms = now() - t;
  const sameReservation = again.ok && s.reservationSha256() === sha;
  return {
    withoutReboot: unload.ok && disarmedByUnload && again.ok,
    needs: strategy.replacement.needs,
    done: unload.ok && again.ok,
    rescuedAfter: null,
    how: strategy.replacement.describe({ disarmedByUnload, sameReservation }),
    ms: round(ms),
  };
}

/** What a replacement that needs a reboot or a rebuild is (its time: compare/run.ts). */
function replaceLater(strategy: RescueStrategy): Replace {
  return {
    withoutReboot: false,
    needs: strategy.replacement.needs,
    done: false,
    rescuedAfter: null,
    how: strategy.replacement.describe(),
    ms: 0,
  };
}

/** Memory and copies: the loader's copy of the rescue bytes, rescue_kernel_init's staging, kexec_load's. */
function movedBytes(
  strategy: RescueStrategy,
  armed: Armed,
  loadBytes: bigint,
): Pick<MainRun['result'], 'memory' | 'copies'> {
  const plan = armed.plan;
  const initBytes = plan.segments.reduce(
    (n, g) => n + (g.kind === 'kernel' ? plan.sizing.kernelFile : BigInt(g.data.length)),
    0n,
  );
  const loaderBytes = armed.found?.size ?? 0n;
  const atBoot = strategy.armedBy === 'boot';
  return {
    memory: {
      reservedBytes: Number(plan.region.size),
      transientBytes: Number(strategy.loaderCopy === undefined ? loadBytes : alignUp(size(loaderBytes), SZ_4K)),
      transient: strategy.transient,
      kernelImageGrowth: null,
      kernelFileGrowth: null,
    },
    copies: {
      bootBytes: Number(atBoot ? loaderBytes + initBytes : 0n),
      boot: atBoot
        ? `loader ${Number(loaderBytes)} (${strategy.loaderCopy ?? 'nothing'}) + rescue_kernel_init ${Number(initBytes)} (kernel and metadata into the reservation)`
        : 'nothing: rescue_kernel_init only reserves the area',
      loadBytes: Number(loadBytes),
      panicBytes: 0,
      panicTableBytes: 0,
    },
  };
}

/** The panic with the probe kernel's run after the entry, timed. */
function panicAndObserve(ctx: Ctx, s: HostSession): { out: PanicOutcome<ProbeRun>; panicMs: number } {
  ctx.progress(`${ctx.profile.name} ${s.strategy}: panic at running, hand-off on the CPU`);
  const tp = now();
  const out = s.panic({ observer: probeObserver });
  return { out, panicMs: now() - tp };
}

/** The rescued host's minidump, then the DMA and ITS faults (or why there was none). */
function dumpAndFaults(
  ctx: Ctx,
  s: HostSession,
  out: PanicOutcome,
  itsBefore: string,
): { dump: StrategyComparison['dump']; faults: FaultResult[] } {
  if (!out.rescued) {
    const why = `no rescue kernel ran (${out.reason ?? out.jump?.stop.kind ?? 'unknown'}): no dump`;
    const its: FaultResult =
      ctx.profile.arch === 'arm64'
        ? { fault: 'its', outcome: 'failed', detail: why }
        : { fault: 'its', outcome: 'n/a', detail: `${ctx.profile.name} has no GICv3 ITS` };
    const none = { status: 'none', format: 'minidump', size: 0, pages: 0, bytesOut: 0, ms: 0 };
    return { dump: none, faults: [{ fault: 'dma', outcome: 'failed', detail: why }, its] };
  }
  ctx.progress(`${ctx.profile.name} ${s.strategy}: minidump, then the DMA and ITS faults`);
  const dump = withDumpDir(ctx.tmp, (dir) => {
    const d = crashDump(s, { dir, dumptime: DUMPTIME });
    return {
      status: d.save?.status ?? 'none',
      format: d.format,
      size: Number(d.size),
      pages: d.pages,
      bytesOut: Number(d.save?.bytesOut ?? 0n),
      ms: round(d.save?.ms ?? 0),
    };
  });
  return { dump, faults: [dmaFault(s, ctx.tmp), itsFault(s, ctx.tmp, itsBefore)] };
}

/** The jump's figures and the probe kernel's run. */
function jumpFacts(ctx: Ctx, out: PanicOutcome<ProbeRun>, panicMs: number): StrategyComparison['jump'] {
  const stop = out.jump?.stop;
  const run = out.observed;
  return {
    rescued: out.rescued,
    stop: stop?.kind ?? 'not run',
    instructions: stop?.executed ?? 0,
    ms: round(stop?.elapsedMs ?? 0),
    panicMs: round(panicMs),
    probe:
      run === undefined
        ? null
        : {
            stop: run.stop.kind,
            instructions: run.stop.executed,
            complete: run.report?.complete === true,
            checksumOk: run.report !== undefined && run.report.checksum === probeChecksum(ctx.rescue),
          },
  };
}

/** The main run of one strategy (see the module contract). */
export function mainRun(ctx: Ctx, trunk: Trunk): MainRun {
  const strategy = trunk.strategy;
  ctx.sessions++;
  const s = trunk.host.fork();
  try {
    let loadBytes = 0n;
    let replace: Replace = replaceLater(strategy);
    if (strategy.armedBy === 'userspace') {
      const first = s.loadCrash(ctx.rescue);
      if (!first.ok) throw first.error;
      const plan = s.armed?.plan;
      if (plan !== undefined) for (const seg of crashRequestFromPlan(plan, 'linux').segments) loadBytes += seg.bufsz;
    }
    if (strategy.replacement.needs === 'nothing') replace = replaceLive(ctx, s, strategy);
    const armed = s.armed;
    if (armed === undefined) {
      throw new CompareError(
        CompareCode.NotArmed,
        `compare: ${strategy.id} did not arm the rescue kernel on ${ctx.profile.name}`,
        { strategy: strategy.id, machine: ctx.profile.name },
      );
    }
    const moved = movedBytes(strategy, armed, loadBytes);
    const tramp = trampolineOps(ctx.profile.arch).buildRescueExec({ plan: armed.plan, host: s.model.state });
    const tableBytes = tramp.segments.filter((g) => g.role === 'page-tables').reduce((n, g) => n + g.data.length, 0);
    const its = s.deviceTablesSha256();
    const { out, panicMs } = panicAndObserve(ctx, s);
    if (strategy.replacement.needs === 'nothing') replace = { ...replace, rescuedAfter: out.rescued };
    const { dump, faults } = dumpAndFaults(ctx, s, out, its);
    const stop = out.jump?.stop;
    return {
      bootMs: trunk.bootMs,
      reservation: { start: hex(s.expected.region.start), size: Number(s.expected.region.size) },
      imageSize: s.model.kernel.image.size,
      faults,
      running: {
        phase: 'running',
        rescued: out.rescued,
        reason: out.rescued ? null : (out.reason ?? `the jump stopped: ${stop?.kind ?? 'unknown'}`),
        instructions: stop?.executed ?? null,
      },
      result: {
        strategy: strategy.id,
        armedHow: armed.how,
        memory: moved.memory,
        copies: { ...moved.copies, panicBytes: stop?.accelerated.bytes ?? 0, panicTableBytes: tableBytes },
        jump: jumpFacts(ctx, out, panicMs),
        dump,
        replace,
      },
    };
  } finally {
    s.close();
  }
}
