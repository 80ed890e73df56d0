/**
 * A host session: the emulated machine running a FreeBSD-shaped host (machine/host/model.ts)
 * along its boot timeline, with the rescue kernel armed the way its strategy arms it
 * (machine/strategies: embed, kld or kexec), and a panic that hands off to it on the CPU.
 *
 *  - loader: kboot as the boot loader stages what the strategy asks for (the host kernel file
 *    and preloaded modules: loader/strategy.ts `stage`) and enters the host kernel through the
 *    kexec-reboot trampoline (machine/kexec-reboot.ts, shared with `kboot exec`);
 *  - SI_SUB_VM_CONF: D47358's rescue_kernel_init reserves the area and, when the strategy's
 *    `findAtVmConf` finds the staged rescue ELF in guest memory, lays the reservation out
 *    exactly per planRescue (markjdb/freebsd @bd74b35 rescue_machdep.c): metadata written,
 *    the kernel copied natively from where the host holds it;
 *  - once userspace runs, `loadCrash` makes a kexec_load-style call (both ABIs' rules,
 *    loader/kexec) whose segments are the reservation's contents; for a strategy armed from
 *    userspace a failed load or an unload leaves nothing armed.
 * The reservation contents are therefore byte-identical across the strategies for the same
 * kernel, profile and seed; what differs is when and how they got there. At panic,
 * rescue_dump_params are filled from the host (dumpParams) and D47358's rescue_kernel_exec
 * trampoline runs on the CPU, unless a segment staged for the rescue kernel changed since it
 * was armed (machine/purgatory.ts, kexec-tools' purgatory). What the rescue side reads after
 * the jump is an observer's business (machine/observer.ts), given by the caller.
 *
 * Contract: only what a kernel would know is used after boot: rescue_kernel_init reads the
 * rescue ELF from guest memory; the panic path reads the armed plan the host kept. `fork()`
 * gives an independent session standing where this one stands, on a machine whose RAM is a
 * copy of this one's (machine/fork.ts): what the fork does afterwards is what a session booted
 * the same way and advanced the same way would do.
 */
import { createHash } from 'node:crypto';
import { hex, phys, type PhysRange, type Size } from '../loader/addr.js';
import { parseElf } from '../loader/elf/reader.js';
import { decodeRescueParams, encodeRescueParams, rescueDumpFields } from '../loader/handoff/params.js';
import {
  bootRequestFromPlan,
  crashRequestFromPlan,
  kexecLoad,
  kexecUnload,
  type KexecAbi,
  type KexecOutcome,
  type KexecState,
} from '../loader/kexec/index.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { planRescue, type RescuePlan } from '../loader/plan/rescue-plan.js';
import type { ItsHandoffMode } from '../loader/plan/its-handoff.js';
import { planKexecBoot } from '../loader/plan/kexec-plan.js';
import { trampolineOps } from '../loader/trampoline/index.js';
import type { StrategyId } from '../loader/strategy.js';
import { hostKernelElf } from '../kernels/host-elf.js';
import { checkEntryContract } from './contract.js';
import { MachineCode, MachineError } from './errors.js';
import { forkMachine } from './fork.js';
import { buildHostModel, dumpParams, installHost, type HostModel } from './host/model.js';
import { HostTimeline, type HostPhase, type PhaseStep } from './host/timeline.js';
import { runJump, type JumpResult } from './jump.js';
import { kexecRebootFromHost, runKexecReboot, stageKexecReboot, type KexecRebootStaging } from './kexec-reboot.js';
import { Machine } from './machine.js';
import { DEFAULT_OBSERVE_LIMITS, observeEntry, type EntryObserver, type ObserveLimits } from './observer.js';
import {
  digestArmedPlan,
  refusalReason,
  verifySegments,
  type ChangedSegment,
  type SegmentDigests,
} from './purgatory.js';
import { rescueStrategy, type FoundRescue, type RescueStrategy } from './strategies/index.js';

/** What HostSession.boot needs: the machine, the strategy and the rescue kernel, optionally the host kernel, the seed and the memsize. */
export interface SessionOptions {
  readonly profile: MachineProfile;
  readonly strategy: StrategyId;
  /** The rescue kernel ELF: embedded (embed), preloaded (kld), or sizing the boot-time reservation (kexec). */
  readonly rescue: Uint8Array;
  readonly rescueName?: string;
  /** The host kernel ELF; default a generated one (hostKernelElf). */
  readonly hostKernel?: Uint8Array;
  readonly seed?: number;
  readonly memsize?: Size;
  readonly exact?: boolean;
  /** UMA pages the host model allocates and marks for dumping (machine/host/model.ts). */
  readonly allocatedPages?: number;
  /** How the live GICv3 LPI tables are handed to the rescue kernel (default: what the firmware carries). */
  readonly itsHandoff?: ItsHandoffMode;
}

/** How and when the rescue kernel got armed. */
export interface Armed {
  readonly phase: HostPhase;
  readonly how: string;
  readonly plan: RescuePlan;
  /** SHA-256 of what was staged, taken when armed; checked before the jump (machine/purgatory.ts). */
  readonly digests: SegmentDigests;
  /** What rescue_kernel_init copied from the loader's staging (armed at boot only). */
  readonly found?: FoundRescue;
}

/** How the host panics. */
export interface PanicOptions<R> {
  /** Write-protect RAM outside the trampoline's own during the jump (default true). */
  readonly protect?: boolean;
  /** Reads what the rescue kernel does after the entry, when it recognises the kernel. */
  readonly observer?: EntryObserver<R>;
  readonly observeLimits?: ObserveLimits;
}

/** What a panic did: whether the rescue kernel was entered, the jump, what the observer read and the console. */
export interface PanicOutcome<R = unknown> {
  readonly strategy: StrategyId;
  readonly phase: HostPhase;
  readonly rescued: boolean;
  /** Why nothing was rescued, when nothing was. */
  readonly reason?: string;
  readonly armedAt?: HostPhase;
  /** The staged segments that changed since arming: the jump was refused (purgatory). */
  readonly changedSegments?: readonly ChangedSegment[];
  readonly jump?: JumpResult;
  /** What the observer read after the entry (when one was given and recognised the kernel). */
  readonly observed?: R;
  readonly console: readonly string[];
}

/** The state a session carries besides its machine (shared, immutable, by a fork). */
interface SessionState {
  readonly profile: MachineProfile;
  readonly arming: RescueStrategy;
  readonly model: HostModel;
  readonly expected: RescuePlan;
  readonly memsize: Size | undefined;
  readonly rescueName: string;
  readonly exact: boolean;
  readonly itsHandoff: ItsHandoffMode | undefined;
}

/** A booted host on an emulated machine (see the module contract). */
export class HostSession {
  readonly profile: MachineProfile;
  /** The strategy's id (loader/strategy.ts STRATEGY_IDS). */
  readonly strategy: StrategyId;
  /** The strategy itself. */
  readonly arming: RescueStrategy;
  readonly machine: Machine;
  readonly model: HostModel;
  readonly timeline: HostTimeline;
  /** The reservation the planner gives this rescue kernel (known at boot: M_NODUMP for the host model). */
  readonly expected: RescuePlan;
  readonly log: string[];
  private readonly state: SessionState;
  private armedState: Armed | undefined;
  private lastPanicState: PanicOutcome | undefined;
  private kexecState: KexecState;
  private entered: KexecRebootStaging | undefined;

  private constructor(state: SessionState, machine: Machine, timeline: HostTimeline, log: string[]) {
    this.state = state;
    this.profile = state.profile;
    this.arming = state.arming;
    this.strategy = state.arming.id;
    this.model = state.model;
    this.expected = state.expected;
    this.machine = machine;
    this.timeline = timeline;
    this.log = log;
    this.kexecState = {
      abi: 'linux',
      arch: state.profile.arch,
      userspaceReached: timeline.userspace,
      crashReservation: state.expected.region,
      physSegs: state.profile.ram,
      loaded: {},
    };
    this.registerHooks();
  }

  /** Boots a fresh machine to the loader phase with the strategy's hooks registered. */
  static boot(opts: SessionOptions): HostSession {
    const { profile } = opts;
    const seed = opts.seed ?? 1;
    const arming = rescueStrategy(opts.strategy);
    const rescueName = opts.rescueName ?? 'rescue.elf';
    const memsize = opts.memsize;
    const itsHandoff = opts.itsHandoff;
    const expected = planRescue({
      kernel: parseElf(opts.rescue),
      kernelName: rescueName,
      profile,
      ...(memsize === undefined ? {} : { memsize }),
      ...(itsHandoff === undefined ? {} : { itsHandoff }),
    });
    const staged = arming.stage(opts.hostKernel ?? hostKernelElf(profile.arch, seed), opts.rescue);
    const model = buildHostModel(profile, {
      seed,
      kernel: parseElf(staged.kernel),
      ...(opts.allocatedPages === undefined ? {} : { allocatedPages: opts.allocatedPages }),
      noDump: [expected.region], // rescue_kernel_init allocates it M_NODUMP
      ...(staged.modules.length === 0 ? {} : { modules: staged.modules }),
    });
    const exact = opts.exact ?? false;
    const machine = Machine.create(profile, { exact });
    try {
      const state = { profile, arming, model, expected, memsize, rescueName, exact, itsHandoff };
      const s = new HostSession(state, machine, new HostTimeline(), []);
      s.log.push(
        `loader: ${profile.name}, host kernel at ${hex(model.load)}, modulep ${hex(model.handoff.modulepPa)}, strategy ${arming.id}`,
      );
      return s;
    } catch (e) {
      machine.close();
      throw e;
    }
  }

  /**
   * An independent session standing where this one stands (phase, armed kernel, kexec state,
   * log), on a fresh machine whose RAM is a copy of this one's (see the module contract).
   */
  fork(): HostSession {
    const machine = forkMachine(this.machine, { exact: this.state.exact });
    try {
      const s = new HostSession(this.state, machine, HostTimeline.resumedFrom(this.timeline), [...this.log]);
      s.armedState = this.armedState;
      s.lastPanicState = this.lastPanicState;
      s.kexecState = this.kexecState;
      s.entered = this.entered;
      return s;
    } catch (e) {
      machine.close();
      throw e;
    }
  }

  get phase(): HostPhase {
    return this.timeline.phase;
  }

  /** The outcome of the last `panic()`, if the host panicked. */
  get lastPanic(): PanicOutcome | undefined {
    return this.lastPanicState;
  }

  /** The armed rescue kernel, if any. */
  get armed(): Armed | undefined {
    return this.armedState;
  }

  /** How the boot loader entered the host kernel (machine/kexec-reboot.ts), once it has. */
  get hostEntry(): KexecRebootStaging | undefined {
    return this.entered;
  }

  /** Moves the host forward to `phase`, running what happens on the way. */
  advanceTo(phase: HostPhase): PhaseStep[] {
    const steps = this.timeline.advanceTo(phase);
    this.kexecState = { ...this.kexecState, userspaceReached: this.timeline.userspace };
    for (const st of steps) this.log.push(`${st.phase}${st.hooks.length > 0 ? `: ${st.hooks.join(', ')}` : ''}`);
    return steps;
  }

  /** The hooks for the phases still ahead (a fork registers only those). */
  private registerHooks(): void {
    const hooks: readonly (readonly [HostPhase, string, () => void])[] = [
      ['kernel-entry', 'loader: kexec-reboot trampoline into the host kernel', () => this.enterHost()],
      ['SI_SUB_VM_CONF', 'rescue_kernel_init', () => this.rescueKernelInit()],
    ];
    for (const [phase, name, run] of hooks) if (!this.timeline.reached(phase)) this.timeline.on(phase, name, run);
  }

  /**
   * kboot as the boot loader: the kernel image, preloaded modules, kenv, DTB and modinfo are
   * staged in free RAM and the kexec-reboot trampoline copies them into place and enters the
   * host kernel on the CPU (its entry contract checked); then the host runs on (the model's
   * own early state: page tables, msgbuf, dump_avail, the bitmap).
   */
  private enterHost(): void {
    const m = this.machine;
    const staged = stageKexecReboot(m, kexecRebootFromHost(this.profile, this.model, [this.expected.region]));
    const jump = runKexecReboot(m, staged, { protect: false });
    if (!jump.reached) {
      throw new MachineError(
        MachineCode.JumpFailed,
        `machine: the loader's trampoline did not reach the host kernel (${jump.stop.kind} at ${hex(jump.stop.pc)})`,
        { stop: jump.stop.kind },
      );
    }
    const violations = checkEntryContract(m, staged.contract);
    if (violations.length > 0) {
      throw new MachineError(
        MachineCode.JumpFailed,
        `machine: the host kernel's entry contract does not hold: ${violations.map((v) => `[${v.item}] ${v.message}`).join('; ')}`,
        { violations },
      );
    }
    this.entered = staged;
    this.log.push(
      `loader: ${staged.copies.length} segments copied by the kexec trampoline; host kernel entered at ${hex(jump.stopAt)} after ${jump.stop.executed} instructions`,
    );
    installHost(m, this.model, { loader: false });
  }

  /** The rescue plan for `kernel` on this host (the planner's view, as rescue_kernel_init's). */
  private planFor(kernel: Uint8Array, its?: ItsHandoffMode): RescuePlan {
    const memsize = this.state.memsize;
    const itsHandoff = its ?? this.state.itsHandoff;
    return planRescue({
      kernel: parseElf(kernel),
      kernelName: this.state.rescueName,
      profile: this.profile,
      ...(memsize === undefined ? {} : { memsize }),
      ...(itsHandoff === undefined ? {} : { itsHandoff }),
    });
  }

  /** D47358 rescue_kernel_init at SI_SUB_VM_CONF: reserve, and populate from what the loader staged. */
  private rescueKernelInit(): void {
    const region = this.expected.region;
    const found = this.arming.findAtVmConf({ ram: this.machine.ram, model: this.model });
    if (found === undefined) {
      this.log.push(
        `rescue_kernel_init: reserved ${hex(region.start)}+${hex(region.size)} for a kexec-loaded rescue kernel`,
      );
      return;
    }
    const plan = this.planFor(this.machine.ram.read(found.pa, Number(found.size)));
    if (plan.region.start !== region.start || plan.region.size !== region.size) {
      throw new MachineError(
        MachineCode.HostModel,
        `machine: rescue_kernel_init planned ${hex(plan.region.start)}, the host reserved ${hex(region.start)}`,
        { planned: plan.region.start, reserved: region.start },
      );
    }
    // metadata as rescue_kernel_init writes it; the kernel copied natively from the host's copy
    for (const seg of plan.segments) {
      if (seg.kind === 'kernel') this.machine.ram.copy(seg.phys, found.pa, found.size);
      else if (seg.data.length > 0) this.machine.ram.write(seg.phys, seg.data);
    }
    this.armedState = {
      phase: 'SI_SUB_VM_CONF',
      how: `${found.how} (${hex(found.size)} bytes at ${hex(found.pa)})`,
      plan,
      digests: digestArmedPlan(this.machine.ram, this.profile.arch, plan),
      found,
    };
    this.log.push(`rescue_kernel_init: armed from ${found.how}, reservation ${hex(region.start)}+${hex(region.size)}`);
  }

  /** kexec_load(..., KEXEC_ON_CRASH): the rescue kernel's reservation contents as segments. */
  loadCrash(rescue: Uint8Array, abi: KexecAbi = 'linux', itsHandoff?: ItsHandoffMode): KexecOutcome {
    const plan = this.planFor(rescue, itsHandoff);
    // the kernel's rules decide whether the segments fit the boot-time reservation
    const request = crashRequestFromPlan(plan, abi);
    const out = kexecLoad({ ...this.kexecState, abi }, request);
    this.kexecState = out.state;
    if (!out.ok) {
      if (this.arming.armedBy === 'userspace') this.armedState = undefined;
      this.log.push(`kexec_load: ${out.error.code} (${out.error.message})`);
      return out;
    }
    for (const seg of request.segments) this.machine.ram.write(phys(seg.mem), seg.buf);
    this.armedState = {
      phase: this.phase,
      how: `kexec_load (${abi} ABI, ${request.segments.length} segments)`,
      plan,
      digests: digestArmedPlan(this.machine.ram, this.profile.arch, plan, request.segments),
    };
    this.log.push(`kexec_load: crash kernel loaded in ${request.segments.length} segments`);
    return out;
  }

  /**
   * kexec_load of a normal image (loader.kboot staging: kernel, kenv, DTB, modinfo as
   * segments), for a later `kboot exec`-style reboot; the same rules apply (userspace only).
   */
  loadNormal(kernelBytes: Uint8Array, name: string, abi: KexecAbi = 'linux'): KexecOutcome {
    const plan = planKexecBoot({ kernel: parseElf(kernelBytes), kernelName: name, profile: this.profile });
    const request = bootRequestFromPlan(plan, abi);
    const out = kexecLoad({ ...this.kexecState, abi }, request);
    this.kexecState = out.state;
    this.log.push(
      out.ok
        ? `kexec_load: normal image ${name} loaded (${request.segments.length} segments)`
        : `kexec_load: ${out.error.code}`,
    );
    return out;
  }

  /** True when a normal kexec image is loaded. */
  get normalLoaded(): boolean {
    return this.kexecState.loaded.normal !== undefined;
  }

  /** kexec_load with no segments: the crash kernel is unloaded (the rules still apply: userspace only). */
  unloadCrash(): KexecOutcome {
    const out = kexecUnload(this.kexecState, 'crash');
    this.kexecState = out.state;
    if (out.ok && this.arming.armedBy === 'userspace') this.armedState = undefined;
    this.log.push(out.ok ? 'kexec_load: crash kernel unloaded' : `kexec_load (unload): ${out.error.code}`);
    return out;
  }

  /** sha256 of the reservation (params ... kernel). */
  reservationSha256(): string {
    const region: PhysRange = this.expected.region;
    return this.machine.ram.sha256(region.start, region.size);
  }

  /** Why a panic now finds nothing armed. */
  private unarmedReason(): string {
    return this.timeline.reached('SI_SUB_VM_CONF')
      ? this.arming.unarmedReason(this.timeline.userspace)
      : 'the panic came before SI_SUB_VM_CONF: nothing is armed yet';
  }

  /** The host panics: with a rescue kernel armed, rescue_kernel_exec hands off on the CPU. */
  panic<R = never>(opts: PanicOptions<R> = {}): PanicOutcome<R> {
    const base = { strategy: this.strategy, phase: this.phase };
    const armed = this.armedState;
    if (armed === undefined) {
      const reason = this.unarmedReason();
      this.log.push(`panic at ${this.phase}: not rescued (${reason})`);
      return this.remember({ ...base, rescued: false, reason, console: [] });
    }
    const plan = armed.plan;
    this.fillDumpParams(plan);
    // purgatory: what was staged must hash as it did when armed, or rescue_kernel_exec does not run
    const check = verifySegments(this.machine.ram, armed.digests);
    if (!check.ok) {
      const reason = refusalReason(check.changed);
      this.log.push(`panic at ${this.phase}: not rescued (${reason})`);
      const refused = { ...base, rescued: false, reason, armedAt: armed.phase, changedSegments: check.changed };
      return this.remember({ ...refused, console: [] });
    }
    const tramp = trampolineOps(this.profile.arch).buildRescueExec({ plan, host: this.model.state });
    const jump = runJump(this.machine, tramp, { gdt: this.model.gdt, protect: opts.protect ?? true });
    this.log.push(
      `panic at ${this.phase}: rescue_kernel_exec -> ${jump.stop.kind} at ${hex(jump.stop.pc)} after ${jump.stop.executed} instructions`,
    );
    const observed = jump.reached ? this.observeRescue(plan, opts) : undefined;
    this.machine.cpu.takeConsole();
    return this.remember({
      ...base,
      rescued: jump.reached,
      armedAt: armed.phase,
      jump,
      ...(observed === undefined ? {} : { observed }),
      console: this.machine.cpu.console.lines,
    });
  }

  private remember<R>(outcome: PanicOutcome<R>): PanicOutcome<R> {
    this.lastPanicState = outcome;
    return outcome;
  }

  /** Hands the entered rescue kernel to the caller's observer, when it recognises the kernel. */
  private observeRescue<R>(plan: RescuePlan, opts: PanicOptions<R>): R | undefined {
    const observer = opts.observer;
    if (observer === undefined) return undefined;
    const image = parseElf(this.machine.ram.read(plan.relocation.kernelPhys, Number(plan.sizing.kernelFile)));
    if (!observer.recognises(image)) return undefined;
    return observeEntry(observer, {
      machine: this.machine,
      image,
      toPhys: (va) => plan.relocation.toPhys(va),
      limits: opts.observeLimits ?? DEFAULT_OBSERVE_LIMITS,
    });
  }

  /** rescue_dump_params_init: the host's dump facts into the params at the reservation start. */
  private fillDumpParams(plan: RescuePlan): void {
    const arch = this.profile.arch;
    const at = plan.region.start;
    const current = decodeRescueParams(arch, this.machine.ram.read(at, 256));
    this.machine.ram.write(
      at,
      encodeRescueParams(arch, { ...current, ...rescueDumpFields(arch, dumpParams(this.model)) }),
    );
  }

  /** sha256 of every device table (GICv3 LPI/ITS) — they must survive the hand-off unchanged. */
  deviceTablesSha256(): string {
    const h = createHash('sha256');
    for (const t of this.model.deviceTables) h.update(this.machine.ram.read(t.range.start, Number(t.range.size)));
    return h.digest('hex');
  }

  close(): void {
    this.machine.close();
  }
}
