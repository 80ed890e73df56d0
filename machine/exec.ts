/**
 * `kboot exec`: hand a kernel to a fresh emulated machine and run the jump for real.
 *
 *  - kexec (default): loader.kboot-style staging (planKexecBoot), staged and entered through
 *    the kexec-reboot trampoline the host's boot loader uses too (machine/kexec-reboot.ts:
 *    the segments' bytes put in free RAM as staging buffers, copied to their destinations —
 *    natively accelerated unless --exact — and the kernel entered the way FreeBSD's loader
 *    does);
 *  - rescue (--crash): the D47358 reservation laid out by planRescue and populated as
 *    rescue_kernel_init does, a panicking host (machine/host/panic-host.ts), and
 *    rescue_kernel_exec's trampoline.
 * A kernel the caller's observer recognises (machine/observer.ts; rescue/probe-observer.ts
 * for kboot's probe kernels) is then handed to it; for any other kernel the CPU stops at the
 * entry and the entry contract is checked (machine/contract.ts). Every run is bounded; the
 * outcome names why it stopped.
 */
import { hex, kva, phys, type PhysAddr, type PhysRange, type Size } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import type { ElfImage } from '../loader/elf/image.js';
import { planKexecBoot } from '../loader/plan/kexec-plan.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { planRescue } from '../loader/plan/rescue-plan.js';
import { trampolineOps, type Trampoline } from '../loader/trampoline/index.js';
import { checkEntryContract, type ContractInput, type ContractViolation } from './contract.js';
import type { RegName } from './cpu/index.js';
import { panicHost } from './host/panic-host.js';
import { programGicv3 } from './host/gic-boot.js';
import type { ItsHandoffMode } from '../loader/plan/its-handoff.js';
import { runJump, type JumpResult } from './jump.js';
import { kexecRebootFromPlan, stageKexecReboot } from './kexec-reboot.js';
import { Machine } from './machine.js';
import { DEFAULT_OBSERVE_LIMITS, observeEntry, type EntryObserver } from './observer.js';

/** How execKernel enters the kernel: a kexec reboot (loader.kboot) or D47358's rescue_kernel_exec. */
export type ExecPath = 'kexec' | 'rescue';

/** How execKernel loads and enters a kernel. */
export interface ExecOptions<R = never> {
  readonly path: ExecPath;
  readonly exact?: boolean;
  /** rescue_memsize for the rescue path. */
  readonly memsize?: Size;
  /** The rescue path's GICv3 ITS hand-off (default: what the firmware carries). */
  readonly itsHandoff?: ItsHandoffMode;
  /** The rescue path: the reservation's exact address (a replayed host load's). */
  readonly at?: PhysAddr;
  /**
   * The rescue path: the kexec segments to place in the reservation instead of the plan's own
   * (a replayed host load's, already checked to be the plan's bytes: host/replay.ts).
   */
  readonly segments?: readonly HandOffSegment[];
  readonly maxInstructions?: number;
  readonly timeoutMs?: number;
  /** Reads what a kernel it recognises does after the entry (instead of the contract check). */
  readonly observer?: EntryObserver<R>;
}

/** A kexec segment placed as is: its bytes at its destination (zero-filled up to memsz by RAM that starts zero). */
export interface HandOffSegment {
  readonly mem: bigint;
  readonly buf: Uint8Array;
}

/** One step of the hand-off, for --trace. */
export interface TraceStep {
  readonly step: string;
  readonly detail: string;
}

/** What execKernel did: the trampoline, the jump, the registers at entry, what the observer read or the entry-contract check. */
export interface ExecOutcome<R = never> {
  readonly arch: MachineProfile['arch'];
  readonly path: ExecPath;
  readonly profile: string;
  readonly kernelName: string;
  readonly tramp: { readonly code: PhysAddr; readonly stopAt: bigint; readonly copyLoops: number };
  readonly jump: JumpResult;
  /** Registers at the entry (or wherever the jump stopped). */
  readonly entryRegs: Readonly<Record<string, bigint>>;
  /** What the observer read after the entry. */
  readonly observed?: R;
  readonly contract?: readonly ContractViolation[];
  readonly console: readonly string[];
  readonly trace: readonly TraceStep[];
}

/** Registers worth showing at a kernel entry, per arch. */
const ENTRY_REGS: { readonly [A in Arch]: readonly RegName[] } = {
  amd64: ['rip', 'rsp', 'rdi', 'rsi', 'cr0', 'cr3', 'cr4'],
  arm64: ['pc', 'sp', 'x0', 'x1', 'x2', 'sctlr_el1', 'ttbr0_el1', 'ttbr1_el1'],
};

/** A hand-off made ready on a machine: the trampoline to run and what to check at the entry. */
export interface Prepared {
  readonly tramp: Trampoline;
  readonly gdt?: PhysAddr;
  /** Translates a kernel VA of the loaded image to its PA. */
  readonly kernelPa: (va: bigint) => PhysAddr;
  /** The reservation (rescue) or staging area (kexec). */
  readonly area: PhysRange;
  /** What the entry contract check needs to know about this hand-off. */
  readonly contractInput: ContractInput;
}

function prepareKexec(machine: Machine, image: ElfImage, kernelName: string, trace: TraceStep[]): Prepared {
  const profile = machine.profile;
  const plan = planKexecBoot({ kernel: image, kernelName, profile });
  trace.push({
    step: 'plan',
    detail: `staging ${hex(plan.staging.start)}+${hex(plan.staging.size)}, ${plan.segments.length} segments, modulep ${hex(plan.modulep)}`,
  });
  const staged = stageKexecReboot(machine, kexecRebootFromPlan(profile, plan));
  trace.push(
    ...staged.copies.map((c) => ({
      step: 'stage',
      detail: `${c.label}: ${hex(c.len)} bytes at ${hex(c.src)} -> ${hex(c.dst)}`,
    })),
  );
  return {
    tramp: staged.tramp,
    gdt: staged.gdt,
    kernelPa: (va) => plan.relocation.toPhys(kva(va)),
    area: plan.staging,
    contractInput: staged.contract,
  };
}

function prepareRescue(
  machine: Machine,
  image: ElfImage,
  kernelName: string,
  opts: Pick<ExecOptions, 'memsize' | 'itsHandoff' | 'at' | 'segments'>,
  trace: TraceStep[],
): Prepared {
  const profile = machine.profile;
  const { memsize, itsHandoff, at, segments } = opts;
  const plan = planRescue({
    kernel: image,
    kernelName,
    profile,
    ...(memsize === undefined ? {} : { memsize }),
    ...(itsHandoff === undefined ? {} : { itsHandoff }),
    ...(at === undefined ? {} : { at }),
  });
  trace.push({
    step: 'plan',
    detail: `reservation ${hex(plan.region.start)}+${hex(plan.region.size)} (${plan.placementWhy})`,
  });
  if (segments === undefined) {
    // rescue_kernel_init: the reservation is M_ZERO, then params, firmware map, kenv and the raw kernel.
    machine.place(
      plan.segments.filter((s) => s.data.length > 0).map((s) => ({ label: s.label, phys: s.phys, data: s.data })),
    );
    trace.push(
      ...plan.segments.map((s) => ({
        step: 'arm',
        detail: `${s.label}: ${hex(s.data.length)} bytes at ${hex(s.phys)}`,
      })),
    );
  } else {
    // kexec_load(KEXEC_ON_CRASH): the segments' bytes at their destinations, the rest zero
    machine.place(segments.map((s, i) => ({ label: `segment ${i}`, phys: phys(s.mem), data: s.buf })));
    trace.push(
      ...segments.map((s, i) => ({ step: 'arm', detail: `segment ${i}: ${hex(s.buf.length)} bytes at ${hex(s.mem)}` })),
    );
  }
  const host = panicHost(profile);
  machine.place(host.placements);
  if (machine.gic !== undefined) {
    // the panicked host's gicv3_its left LPIs enabled on its tables
    programGicv3(machine.gic, profile.gic?.tables ?? []);
    trace.push({ step: 'gic', detail: `LPIs enabled by the host; ITS hand-off ${plan.itsHandoff.mode}` });
  }
  trace.push({
    step: 'panic',
    detail: `host at panic: tables ${hex(host.state.tables.root)}, rescue_tramp at ${hex(host.state.text.pa)}, stack ${hex(host.state.stack.va)}`,
  });
  const tramp = trampolineOps(profile.arch).buildRescueExec({ plan, host: host.state });
  return {
    tramp,
    gdt: host.gdt,
    kernelPa: (va) => plan.relocation.toPhys(kva(va)),
    area: plan.region,
    contractInput: {
      kind: 'rescue-exec',
      entryVa: plan.kernelEntryVa,
      entryPa: plan.entry,
      region: plan.region,
      kernelFirstPagePa: plan.relocation.kernelPhys,
    },
  };
}

/**
 * Lays out the hand-off on `machine` (plan, staged or armed segments, the panicking host) and
 * builds the trampoline, without running anything.
 */
export function prepareHandOff(
  machine: Machine,
  image: ElfImage,
  kernelName: string,
  opts: Pick<ExecOptions, 'path' | 'memsize' | 'itsHandoff' | 'at' | 'segments'>,
  trace: TraceStep[] = [],
): Prepared {
  return opts.path === 'kexec'
    ? prepareKexec(machine, image, kernelName, trace)
    : prepareRescue(machine, image, kernelName, opts, trace);
}

/** The trampoline's trace lines (what it is, where it runs, its entry registers). */
function trampolineTrace(tramp: Trampoline): TraceStep[] {
  return [
    {
      step: 'trampoline',
      detail: `${tramp.kind} code at ${hex(tramp.code.phys)} (runs at ${hex(tramp.code.va)}), ${tramp.segments.length} segments, stop at ${hex(tramp.stopAt)}`,
    },
    ...Object.entries(tramp.entry.regs).map(([k, v]) => ({ step: 'entry-state', detail: `${k} = ${hex(v)}` })),
  ];
}

/** After the entry: the observer's run when it recognises the kernel, else the contract check. */
function afterEntry<R>(
  machine: Machine,
  image: ElfImage,
  prep: Prepared,
  opts: ExecOptions<R>,
  trace: TraceStep[],
): Pick<ExecOutcome<R>, 'observed' | 'contract'> {
  const observer = opts.observer;
  if (observer === undefined || !observer.recognises(image)) {
    return { contract: checkEntryContract(machine, prep.contractInput) };
  }
  const entered = {
    machine,
    image,
    toPhys: (va: bigint) => prep.kernelPa(va),
    limits: {
      maxInstructions: opts.maxInstructions ?? DEFAULT_OBSERVE_LIMITS.maxInstructions,
      timeoutMs: opts.timeoutMs ?? DEFAULT_OBSERVE_LIMITS.timeoutMs,
    },
  };
  const observed = observeEntry(observer, entered);
  trace.push({ step: observer.name, detail: observer.describe(observed, entered) });
  return { observed };
}

/** Runs `image` on a fresh machine for `profile` (see the module contract). */
export function execKernel<R = never>(
  profile: MachineProfile,
  image: ElfImage,
  kernelName: string,
  opts: ExecOptions<R>,
): ExecOutcome<R> {
  const machine = Machine.create(profile, { exact: opts.exact ?? false });
  try {
    const trace: TraceStep[] = [];
    const prep = prepareHandOff(machine, image, kernelName, opts, trace);
    const tramp = prep.tramp;
    trace.push(...trampolineTrace(tramp));
    const jump = runJump(machine, tramp, {
      ...(prep.gdt === undefined ? {} : { gdt: prep.gdt }),
      ...(opts.maxInstructions === undefined ? {} : { maxInstructions: opts.maxInstructions }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    });
    trace.push({
      step: 'jump',
      detail: `${jump.stop.kind} at ${hex(jump.stop.pc)} after ${jump.stop.executed} instructions in ${jump.stop.elapsedMs.toFixed(1)} ms (${jump.stop.accelerated.copies} copies, ${hex(jump.stop.accelerated.bytes)} bytes accelerated)`,
    });
    const base = {
      arch: profile.arch,
      path: opts.path,
      profile: profile.name,
      kernelName,
      tramp: { code: tramp.code.phys, stopAt: tramp.stopAt, copyLoops: tramp.copyLoops.length },
      jump,
      entryRegs: Object.fromEntries(ENTRY_REGS[profile.arch].map((n) => [n, machine.cpu.reg(n)])),
      trace,
    };
    if (!jump.reached) return { ...base, console: machine.cpu.console.lines };
    const after = afterEntry(machine, image, prep, opts, trace);
    return { ...base, ...after, console: machine.cpu.console.lines };
  } finally {
    machine.close();
  }
}
