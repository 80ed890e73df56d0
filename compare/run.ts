/**
 * `runCompare`: the three ways of arming a FreeBSD rescue kernel (D47358: embedded with
 * RESCUE_EMBED, preloaded as a KLD-style module, or kexec_load-ed from userspace) run
 * through the same scenarios on the emulated machine, per machine profile:
 *
 *  1. a panic at every boot phase (machine/host/timeline.ts HOST_PHASES), each in a session
 *     of its own (a kexec user loads the crash kernel as soon as it can; the call fails
 *     before userspace): which panics are rescued, hence where the strategy is armed from
 *     and the share of the boot timeline it covers;
 *  2. the main run to `running`: memory (the reservation; the strategy's extra copy of the
 *     rescue kernel: embedded in the kernel image / the preloaded module / kexec_load's
 *     userspace buffer; the host kernel's growth, from the embed and kexec sessions' images
 *     and from embedRescue), bytes copied at boot, at load and at the panic, the panic →
 *     rescue-entry jump (instructions and time from its JumpResult), the probe kernel's
 *     run, a minidump into a temporary directory (savecore layout), the DMA and ITS faults
 *     during further dumps, and for kexec the replacement of the rescue kernel on the
 *     running host (unload + load, then the panic);
 *  3. the corrupt-segment and stray-write faults, each in a fresh armed session
 *     (compare/faults.ts).
 *
 * Contract: every number comes from those runs (HostSession, JumpResult, crashDump,
 * embedRescue), timed with performance.now(); temporary dumps are removed. Every session is
 * closed. `onProgress` gets one line per stage. Profiles must have the kernel's arch
 * (CLI_USAGE otherwise). Only KbootErrors escape.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { hex } from '../loader/addr.js';
import { embedRescue } from '../loader/embed/index.js';
import { parseElf } from '../loader/elf/index.js';
import { crashRequestFromPlan } from '../loader/kexec/index.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { probeChecksum } from '../kernels/probe/index.js';
import { trampolineOps } from '../loader/trampoline/index.js';
import { isProbeKernel } from '../machine/exec.js';
import { hostKernelElf } from '../kernels/host-elf.js';
import { FIRST_USERSPACE_PHASE, HOST_PHASES, type HostPhase } from '../machine/host/timeline.js';
import { HostSession, STRATEGIES, type Strategy } from '../machine/session.js';
import { crashDump } from '../rescue/crash-dump.js';
import { corruptSegmentFault, dmaFault, itsFault, strayWriteFault, withDumpDir } from './faults.js';
import {
  COMPARE_FAULTS,
  type CompareReport,
  type FaultResult,
  type PhaseResult,
  type ProfileComparison,
  type StrategyComparison,
} from './report.js';
import { CompareCode, CompareError } from './errors.js';

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

const now = (): number => performance.now();
const round = (ms: number): number => Math.round(ms * 10) / 10;
const pageUp = (n: bigint): bigint => (n + 0xfffn) & ~0xfffn;

interface Ctx {
  readonly rescue: Uint8Array;
  readonly file: string;
  readonly profile: MachineProfile;
  readonly seed: number;
  readonly tmp: string;
  readonly progress: (line: string) => void;
  sessions: number;
}

function boot(ctx: Ctx, strategy: Strategy): HostSession {
  ctx.sessions++;
  return HostSession.boot({
    profile: ctx.profile,
    strategy,
    rescue: ctx.rescue,
    seed: ctx.seed,
    rescueName: basename(ctx.file),
  });
}

/** Boots to `phase` and arms the way the strategy does by then; closes the session after `f`. */
function withArmed<T>(ctx: Ctx, strategy: Strategy, phase: HostPhase, f: (s: HostSession) => T): T {
  const s = boot(ctx, strategy);
  try {
    s.advanceTo(phase);
    if (strategy === 'kexec') s.loadCrash(ctx.rescue); // fails before userspace, as kexec_load does
    return f(s);
  } finally {
    s.close();
  }
}

/** A panic at `phase` in a fresh session. */
function panicAt(ctx: Ctx, strategy: Strategy, phase: HostPhase): PhaseResult {
  return withArmed(ctx, strategy, phase, (s) => {
    const out = s.panic({ runProbe: false });
    return {
      phase,
      rescued: out.rescued,
      reason: out.rescued ? null : (out.reason ?? `the jump stopped: ${out.jump?.stop.kind ?? 'unknown'}`),
      instructions: out.jump?.stop.executed ?? null,
    };
  });
}

interface MainRun {
  readonly result: Omit<
    StrategyComparison,
    'armedFrom' | 'userspaceOnly' | 'rescuedShare' | 'phases' | 'faults' | 'faultsHandled' | 'faultsApplicable'
  >;
  readonly running: PhaseResult;
  readonly imageSize: bigint;
  readonly faults: FaultResult[];
  readonly bootMs: number;
  readonly reservation: { readonly start: string; readonly size: number };
}

/** The main run of one strategy (see the module contract, 2). */
function mainRun(ctx: Ctx, strategy: Strategy): MainRun {
  const t0 = now();
  const s = boot(ctx, strategy);
  try {
    s.advanceTo('running');
    let loadBytes = 0n;
    let replace: StrategyComparison['replace'] | undefined;
    if (strategy === 'kexec') {
      const first = s.loadCrash(ctx.rescue);
      if (!first.ok) throw first.error;
      const plan = s.armed?.plan;
      if (plan !== undefined) {
        for (const seg of crashRequestFromPlan(plan, 'linux').segments) loadBytes += seg.bufsz;
      }
      const sha = s.reservationSha256();
      const t = now();
      const unload = s.unloadCrash();
      const unarmed = s.armed === undefined;
      const again = s.loadCrash(ctx.rescue);
      const ms = now() - t;
      const same = again.ok && s.reservationSha256() === sha;
      replace = {
        withoutReboot: unload.ok && unarmed && again.ok,
        needs: 'nothing',
        done: unload.ok && again.ok,
        rescuedAfter: null,
        how: `kexec_load unload (no segments${unarmed ? ', nothing armed after it' : ''}) then load again on the running host${same ? '; the reservation is byte-identical' : ''}`,
        ms: round(ms),
      };
    }
    const bootMs = now() - t0;
    const armed = s.armed;
    if (armed === undefined) {
      throw new CompareError(
        CompareCode.NotArmed,
        `compare: ${strategy} did not arm the rescue kernel on ${ctx.profile.name}`,
        {
          strategy,
          machine: ctx.profile.name,
        },
      );
    }
    // what the boot moved: the loader's copy of the rescue bytes, then rescue_kernel_init's staging
    const initBytes = armed.plan.segments.reduce(
      (n, g) => n + (g.kind === 'kernel' ? armed.plan.sizing.kernelFile : BigInt(g.data.length)),
      0n,
    );
    const syms = s.model.kernel.symbols;
    const embedded =
      syms['rescue_start'] !== undefined && syms['rescue_end'] !== undefined
        ? syms['rescue_end'].va - syms['rescue_start'].va
        : 0n;
    const module = s.model.handoff.placements.find((p) => p.label.startsWith('preloaded module'));
    const moduleBytes = BigInt(module?.data.length ?? 0);
    const loaderBytes = strategy === 'embed' ? embedded : strategy === 'kld' ? moduleBytes : 0n;
    const bootBytes = strategy === 'kexec' ? 0n : loaderBytes + initBytes;
    const transient =
      strategy === 'embed'
        ? {
            bytes: pageUp(embedded),
            what: 'the embedded copy inside the host kernel image, from the loader on (debug.rescue_free_kernel may free it after staging)',
          }
        : strategy === 'kld'
          ? {
              bytes: pageUp(moduleBytes),
              what: "the preloaded module's copy in RAM, from the loader until rescue_kernel_init (SI_SUB_VM_CONF)",
            }
          : { bytes: loadBytes, what: "kexec_load's userspace buffer (the segments), during the load" };
    const tramp = trampolineOps(ctx.profile.arch).buildRescueExec({ plan: armed.plan, host: s.model.state });
    const tableBytes = tramp.segments.filter((g) => g.role === 'page-tables').reduce((n, g) => n + g.data.length, 0);

    ctx.progress(`${ctx.profile.name} ${strategy}: panic at running, hand-off on the CPU`);
    const its = s.deviceTablesSha256();
    const tp = now();
    const out = s.panic();
    const panicMs = now() - tp;
    const stop = out.jump?.stop;
    const probeRun = out.probe;
    const probe =
      probeRun === undefined
        ? null
        : {
            stop: probeRun.stop.kind,
            instructions: probeRun.stop.executed,
            complete: probeRun.report?.complete === true,
            checksumOk: probeRun.report !== undefined && probeRun.report.checksum === probeChecksum(ctx.rescue),
          };
    if (replace !== undefined) replace = { ...replace, rescuedAfter: out.rescued };
    let dump: StrategyComparison['dump'] = {
      status: 'none',
      format: 'minidump',
      size: 0,
      pages: 0,
      bytesOut: 0,
      ms: 0,
    };
    const faults: FaultResult[] = [];
    if (out.rescued) {
      ctx.progress(`${ctx.profile.name} ${strategy}: minidump, then the DMA and ITS faults`);
      dump = withDumpDir(ctx.tmp, (dir) => {
        const d = crashDump(s, { dir, dumptime: 1_800_000_000n });
        return {
          status: d.save?.status ?? 'none',
          format: d.format,
          size: Number(d.size),
          pages: d.pages,
          bytesOut: Number(d.save?.bytesOut ?? 0n),
          ms: round(d.save?.ms ?? 0),
        };
      });
      faults.push(dmaFault(s, ctx.tmp), itsFault(s, ctx.tmp, its));
    } else {
      const why = `no rescue kernel ran (${out.reason ?? stop?.kind ?? 'unknown'}): no dump`;
      faults.push({ fault: 'dma', outcome: 'failed', detail: why });
      faults.push(
        ctx.profile.arch === 'arm64'
          ? { fault: 'its', outcome: 'failed', detail: why }
          : { fault: 'its', outcome: 'n/a', detail: `${ctx.profile.name} has no GICv3 ITS` },
      );
    }
    return {
      bootMs,
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
        strategy,
        armedHow: armed.how,
        memory: {
          reservedBytes: Number(s.expected.region.size),
          transientBytes: Number(transient.bytes),
          transient: transient.what,
          kernelImageGrowth: null,
          kernelFileGrowth: null,
        },
        copies: {
          bootBytes: Number(bootBytes),
          boot:
            strategy === 'kexec'
              ? 'nothing: rescue_kernel_init only reserves the area'
              : `loader ${Number(loaderBytes)} (${strategy === 'embed' ? 'inside the kernel image' : 'the module'}) + rescue_kernel_init ${Number(initBytes)} (kernel and metadata into the reservation)`,
          loadBytes: Number(loadBytes),
          panicBytes: stop?.accelerated.bytes ?? 0,
          panicTableBytes: tableBytes,
        },
        jump: {
          rescued: out.rescued,
          stop: stop?.kind ?? 'not run',
          instructions: stop?.executed ?? 0,
          ms: round(stop?.elapsedMs ?? 0),
          panicMs: round(panicMs),
          probe,
        },
        dump,
        replace: replace ?? {
          withoutReboot: false,
          needs: strategy === 'embed' ? 'rebuild' : 'reboot',
          done: false,
          rescuedAfter: null,
          how: '',
          ms: 0,
        },
      },
    };
  } finally {
    s.close();
  }
}

/** Compares the strategies on one profile. */
function compareProfile(ctx: Ctx): ProfileComparison {
  const t0 = now();
  const { profile } = ctx;
  const strategies: StrategyComparison[] = [];
  const mains = new Map<Strategy, MainRun>();
  for (const strategy of STRATEGIES) {
    ctx.progress(`${profile.name} ${strategy}: a panic at each of ${HOST_PHASES.length} boot phases`);
    const phases = HOST_PHASES.filter((p) => p !== 'running').map((p) => panicAt(ctx, strategy, p));
    const main = mainRun(ctx, strategy);
    mains.set(strategy, main);
    phases.push(main.running);
    ctx.progress(`${profile.name} ${strategy}: corrupted staged segment, stray write by the trampoline`);
    const corrupt = withArmed(ctx, strategy, 'running', (s) => corruptSegmentFault(s, ctx.rescue));
    const stray = withArmed(ctx, strategy, 'running', (s) => strayWriteFault(s));
    const faults = [...main.faults, corrupt, stray].sort(
      (a, b) => COMPARE_FAULTS.indexOf(a.fault) - COMPARE_FAULTS.indexOf(b.fault),
    );
    const rescued = phases.filter((p) => p.rescued);
    const firstIdx = phases.findIndex((p) => p.rescued);
    const armedFrom = firstIdx < 0 ? null : (phases[firstIdx]?.phase ?? null);
    const applicable = faults.filter((f) => f.outcome !== 'n/a');
    strategies.push({
      ...main.result,
      armedFrom,
      userspaceOnly: armedFrom !== null && HOST_PHASES.indexOf(armedFrom) >= HOST_PHASES.indexOf(FIRST_USERSPACE_PHASE),
      rescuedShare: Math.round((rescued.length / phases.length) * 1000) / 1000,
      phases,
      faults,
      faultsHandled: applicable.filter((f) => f.outcome === 'survived' || f.outcome === 'detected').length,
      faultsApplicable: applicable.length,
    });
  }
  // embed: the host kernel's growth (loaded image against the kexec session's; file from embedRescue)
  // and what a replacement needs (re-embed and boot; a KLD: boot)
  const host = hostKernelElf(profile.arch, ctx.seed);
  const te = now();
  const rebuilt = embedRescue(host, ctx.rescue);
  const embedMs = now() - te;
  const base = mains.get('kexec')?.imageSize ?? 0n;
  const done = strategies.map((c): StrategyComparison => {
    const main = mains.get(c.strategy);
    if (c.strategy === 'embed') {
      return {
        ...c,
        memory: {
          ...c.memory,
          kernelImageGrowth: Number((main?.imageSize ?? base) - base),
          kernelFileGrowth: rebuilt.length - host.length,
        },
        replace: {
          ...c.replace,
          how: 'RESCUE_EMBED links it into the host kernel: rebuild the kernel, install it and reboot (time: re-embed + boot to running)',
          ms: round(embedMs + (main?.bootMs ?? 0)),
        },
      };
    }
    if (c.strategy === 'kld') {
      return {
        ...c,
        replace: {
          ...c.replace,
          how: 'the loader preloads it (rescue_kernel_load="YES") and rescue_kernel_init reads it once at SI_SUB_VM_CONF: reboot (time: boot to running)',
          ms: round(main?.bootMs ?? 0),
        },
      };
    }
    return c;
  });
  const dumps = done.filter((c) => c.dump.status !== 'none');
  const ms = dumps.map((c) => c.dump.ms).sort((a, b) => a - b);
  const first = dumps[0]?.dump;
  return {
    machine: profile.name,
    source: profile.source,
    arch: profile.arch,
    reservation: mains.get('embed')?.reservation ?? { start: '0x0', size: 0 },
    sessions: ctx.sessions,
    elapsedMs: round(now() - t0),
    dump: {
      format: first?.format ?? 'minidump',
      size: first?.size ?? 0,
      pages: first?.pages ?? 0,
      ms: ms[Math.floor(ms.length / 2)] ?? 0,
    },
    strategies: done,
  };
}

/** Runs the comparison (see the module contract). */
export function runCompare(opts: CompareOptions): CompareReport {
  const t0 = now();
  const image = parseElf(opts.rescue);
  const wrong = opts.profiles.filter((p) => p.arch !== image.arch);
  if (wrong.length > 0 || opts.profiles.length === 0) {
    throw new CompareError(
      opts.profiles.length === 0 ? CompareCode.NoProfile : CompareCode.ArchMismatch,
      opts.profiles.length === 0
        ? 'compare: compare needs at least one machine profile'
        : `compare: ${opts.file} is an ${image.arch} kernel; ${wrong.map((p) => `${p.name} is ${p.arch}`).join(', ')}`,
      { arch: image.arch, machines: wrong.map((p) => p.name) },
    );
  }
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
      strategies: [...STRATEGIES],
      faultSet: [...COMPARE_FAULTS],
      profiles,
      elapsedMs: round(now() - t0),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
