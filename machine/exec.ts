/**
 * `kboot exec`: hand a kernel to a fresh emulated machine and run the jump for real.
 *
 *  - kexec (default): loader.kboot-style staging (planKexecBoot); the segments' bytes are put
 *    in free RAM as the host kernel's staging buffers would be, and the kexec-reboot
 *    trampoline copies them to their destinations (natively accelerated unless --exact) and
 *    enters the kernel the way FreeBSD's loader does;
 *  - rescue (--crash): the D47358 reservation laid out by planRescue and populated as
 *    rescue_kernel_init does, a panicking host (machine/host/panic-host.ts), and
 *    rescue_kernel_exec's trampoline.
 * A probe kernel (kboot probe-kernel) then runs to its halt and its report is decoded; for any
 * other kernel the CPU stops at the entry and the entry contract is checked
 * (machine/contract.ts). Every run is bounded; the outcome names why it stopped.
 */
import { hex, kva, SZ_2M, SZ_4K, type PhysAddr, type PhysRange, type Size } from '../loader/addr.js';
import { archInfo, type Arch } from '../loader/arch/index.js';
import type { ElfImage } from '../loader/elf/image.js';
import { planKexecBoot } from '../loader/plan/kexec-plan.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { findHole, subtract } from '../loader/plan/ranges.js';
import { planRescue } from '../loader/plan/rescue-plan.js';
import { PROBE_LABELS, probeChecksum, probeReportVa, type ProbeReport } from '../kernels/probe/index.js';
import { decodeProbeReport, ProbeReportLayout } from '../kernels/probe/index.js';
import { trampolineOps, type Trampoline } from '../loader/trampoline/index.js';
import { checkEntryContract, type ContractViolation } from './contract.js';
import type { RegName, StopReason } from './cpu.js';
import { panicHost } from './host/panic-host.js';
import { runJump, unprotectAll, type JumpResult } from './jump.js';
import { Machine } from './machine.js';
import { MachineCode, MachineError } from './errors.js';

/** How execKernel enters the kernel: a kexec reboot (loader.kboot) or D47358's rescue_kernel_exec. */
export type ExecPath = 'kexec' | 'rescue';

/** How execKernel loads and enters a kernel. */
export interface ExecOptions {
  readonly path: ExecPath;
  readonly exact?: boolean;
  /** rescue_memsize for the rescue path. */
  readonly memsize?: Size;
  readonly maxInstructions?: number;
  readonly timeoutMs?: number;
}

/** One step of the hand-off, for --trace. */
export interface TraceStep {
  readonly step: string;
  readonly detail: string;
}

/** What execKernel did: the trampoline, the jump, the registers at entry, the probe's report or the entry-contract check. */
export interface ExecOutcome {
  readonly arch: MachineProfile['arch'];
  readonly path: ExecPath;
  readonly profile: string;
  readonly kernelName: string;
  readonly tramp: { readonly code: PhysAddr; readonly stopAt: bigint; readonly copyLoops: number };
  readonly jump: JumpResult;
  /** Registers at the entry (or wherever the jump stopped). */
  readonly entryRegs: Readonly<Record<string, bigint>>;
  readonly probe?: {
    readonly stop: StopReason;
    readonly report: ProbeReport | undefined;
    readonly expectedChecksum: bigint;
    readonly reportError?: string;
  };
  readonly contract?: readonly ContractViolation[];
  readonly console: readonly string[];
  readonly trace: readonly TraceStep[];
}

/** Registers worth showing at a kernel entry, per arch. */
const ENTRY_REGS: { readonly [A in Arch]: readonly RegName[] } = {
  amd64: ['rip', 'rsp', 'rdi', 'rsi', 'cr0', 'cr3', 'cr4'],
  arm64: ['pc', 'sp', 'x0', 'x1', 'x2', 'sctlr_el1', 'ttbr0_el1', 'ttbr1_el1'],
};

/** True for kernels built by `kboot probe-kernel`. */
export function isProbeKernel(image: ElfImage): boolean {
  return image.symbols.some((s) => s.name === PROBE_LABELS.report);
}

/** A hand-off made ready on a machine: the trampoline to run and what to check at the entry. */
export interface Prepared {
  readonly tramp: Trampoline;
  readonly gdt?: PhysAddr;
  /** Translates a kernel VA of the loaded image to its PA. */
  readonly kernelPa: (va: bigint) => bigint;
  /** The reservation (rescue) or staging area (kexec). */
  readonly area: PhysRange;
  /** What the entry contract check needs to know about this hand-off. */
  readonly contractInput: Parameters<typeof checkEntryContract>[1];
}

function prepareKexec(machine: Machine, image: ElfImage, kernelName: string, trace: TraceStep[]): Prepared {
  const profile = machine.profile;
  const info = archInfo(profile.arch);
  const ops = trampolineOps(profile.arch);
  const plan = planKexecBoot({ kernel: image, kernelName, profile });
  trace.push({
    step: 'plan',
    detail: `staging ${hex(plan.staging.start)}+${hex(plan.staging.size)}, ${plan.segments.length} segments, modulep ${hex(plan.modulep)}`,
  });
  const free = subtract(plan.memoryMap.free, [plan.staging]);
  const below4g = 1n << 32n;
  const areaSize = ((BigInt(ops.kexecAreaBytes) + SZ_4K - 1n) & ~(SZ_4K - 1n)) as Size;
  const area = findHole(free, { size: areaSize, align: SZ_4K, boundary: 0n as Size, below: below4g, prefer: 'lowest' });
  const total = plan.segments.reduce((n, s) => n + s.memSize, 0n) as Size;
  const sources =
    area === undefined
      ? undefined
      : findHole(subtract(free, [area]), {
          size: total,
          align: SZ_2M,
          boundary: 0n as Size,
          below: below4g,
          prefer: 'highest',
        });
  if (area === undefined || sources === undefined) {
    throw new MachineError(
      MachineCode.JumpFailed,
      `machine: no free RAM below 4 GiB for the kexec trampoline and its ${hex(total)} bytes of staging buffers`,
      {
        total,
      },
    );
  }
  let off = 0n;
  const copies = plan.segments.map((s) => {
    const src = (sources.start + off) as PhysAddr;
    off += s.memSize;
    return { label: s.label, src, dst: s.phys, len: s.memSize };
  });
  machine.place(
    plan.segments.map((s, i) => ({
      label: `staging buffer for ${s.label}`,
      phys: copies[i]?.src ?? s.phys,
      data: s.data,
    })),
  );
  trace.push(
    ...copies.map((c) => ({
      step: 'stage',
      detail: `${c.label}: ${hex(c.len)} bytes at ${hex(c.src)} -> ${hex(c.dst)}`,
    })),
  );
  const fdt = plan.segments.find((s) => s.kind === 'firmware-map');
  const tramp = ops.buildKexecReboot({
    at: area.start,
    copies,
    kernel: {
      entry: info.kexecEntry === 'virtual' ? plan.kernelEntryVa : plan.entryPa,
      modulep: plan.modulep,
      kernend: plan.kernend,
      staging: plan.staging.start,
    },
    ...(fdt === undefined ? {} : { fdt: fdt.phys }),
  });
  return {
    tramp,
    gdt: (area.start + areaSize - 0x100n) as PhysAddr,
    kernelPa: (va) => plan.relocation.toPhys(kva(va)),
    area: plan.staging,
    contractInput: {
      kind: 'kexec-reboot',
      entryVa: plan.kernelEntryVa,
      entryPa: plan.entryPa,
      modulep: plan.modulep,
      kernend: plan.kernend,
      modulepPa: plan.modulepPa,
      kernelFirstPagePa: plan.relocation.toPhys(info.kernstart),
    },
  };
}

function prepareRescue(
  machine: Machine,
  image: ElfImage,
  kernelName: string,
  memsize: Size | undefined,
  trace: TraceStep[],
): Prepared {
  const profile = machine.profile;
  const plan = planRescue({ kernel: image, kernelName, profile, ...(memsize === undefined ? {} : { memsize }) });
  trace.push({
    step: 'plan',
    detail: `reservation ${hex(plan.region.start)}+${hex(plan.region.size)} (${plan.placementWhy})`,
  });
  // rescue_kernel_init: the reservation is M_ZERO, then params, firmware map, kenv and the raw kernel.
  machine.place(
    plan.segments.filter((s) => s.data.length > 0).map((s) => ({ label: s.label, phys: s.phys, data: s.data })),
  );
  trace.push(
    ...plan.segments.map((s) => ({ step: 'arm', detail: `${s.label}: ${hex(s.data.length)} bytes at ${hex(s.phys)}` })),
  );
  const host = panicHost(profile);
  machine.place(host.placements);
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
  opts: ExecOptions,
  trace: TraceStep[] = [],
): Prepared {
  return opts.path === 'kexec'
    ? prepareKexec(machine, image, kernelName, trace)
    : prepareRescue(machine, image, kernelName, opts.memsize, trace);
}

/** Runs `image` on a fresh machine for `profile` (see the module contract). */
export function execKernel(
  profile: MachineProfile,
  image: ElfImage,
  kernelName: string,
  opts: ExecOptions,
): ExecOutcome {
  const machine = Machine.create(profile, { exact: opts.exact ?? false });
  try {
    const trace: TraceStep[] = [];
    const prep =
      opts.path === 'kexec'
        ? prepareKexec(machine, image, kernelName, trace)
        : prepareRescue(machine, image, kernelName, opts.memsize, trace);
    const tramp = prep.tramp;
    trace.push({
      step: 'trampoline',
      detail: `${tramp.kind} code at ${hex(tramp.code.phys)} (runs at ${hex(tramp.code.va)}), ${tramp.segments.length} segments, stop at ${hex(tramp.stopAt)}`,
    });
    for (const [k, v] of Object.entries(tramp.entry.regs))
      trace.push({ step: 'entry-state', detail: `${k} = ${hex(v)}` });
    const jump = runJump(machine, tramp, {
      ...(prep.gdt === undefined ? {} : { gdt: prep.gdt }),
      ...(opts.maxInstructions === undefined ? {} : { maxInstructions: opts.maxInstructions }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    });
    trace.push({
      step: 'jump',
      detail: `${jump.stop.kind} at ${hex(jump.stop.pc)} after ${jump.stop.executed} instructions in ${jump.stop.elapsedMs.toFixed(1)} ms (${jump.stop.accelerated.copies} copies, ${hex(jump.stop.accelerated.bytes)} bytes accelerated)`,
    });
    const entryRegs = Object.fromEntries(ENTRY_REGS[profile.arch].map((n) => [n, machine.cpu.reg(n)]));
    const base = {
      arch: profile.arch,
      path: opts.path,
      profile: profile.name,
      kernelName,
      tramp: { code: tramp.code.phys, stopAt: tramp.stopAt, copyLoops: tramp.copyLoops.length },
      jump,
      entryRegs,
      trace,
    };
    if (!jump.reached) return { ...base, console: machine.cpu.console.lines };
    if (isProbeKernel(image)) {
      unprotectAll(machine);
      const stop = machine.cpu.run({
        maxInstructions: opts.maxInstructions ?? 10_000_000,
        timeoutMs: opts.timeoutMs ?? 30_000,
      });
      machine.cpu.takeConsole();
      const reportPa = prep.kernelPa(probeReportVa(profile.arch)) as PhysAddr;
      let report: ProbeReport | undefined;
      let reportError: string | undefined;
      try {
        report = decodeProbeReport(machine.ram.read(reportPa, ProbeReportLayout.size));
      } catch (e) {
        reportError = e instanceof Error ? e.message : String(e);
      }
      trace.push({
        step: 'probe',
        detail: `${stop.kind} at ${hex(stop.pc)} after ${stop.executed} instructions; report at ${hex(reportPa)}`,
      });
      return {
        ...base,
        probe: {
          stop,
          report,
          expectedChecksum: probeChecksum(image.bytes),
          ...(reportError === undefined ? {} : { reportError }),
        },
        console: machine.cpu.console.lines,
      };
    }
    const contract = checkEntryContract(machine, prep.contractInput);
    return { ...base, contract, console: machine.cpu.console.lines };
  } finally {
    machine.close();
  }
}
