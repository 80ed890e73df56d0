/**
 * The segments `kboot load --host` hands the running kernel, planned by the same planners and
 * segment builders the emulated `kboot load` uses: the host's memory map as `kboot machine
 * import --host` reads it (sysprobe/read.ts, loader/import/host.ts), a rescue plan
 * (loader/plan/rescue-plan.ts) turned into crash segments (loader/kexec/segments.ts) for
 * `--crash`, a loader.kboot-style plan (loader/plan/kexec-plan.ts) otherwise.
 *
 * Contract: pure once the machine is read (`readHostMachine` reads, `planOnProfile` plans).
 * On Linux a crash image goes into the "Crash kernel" range of /proc/iomem (crashk_res) when
 * the host has one large enough: the plan is placed exactly there. Without one (or one too
 * small) the plan takes the place kboot's own rules pick and says that the kernel will refuse
 * it (EADDRNOTAVAIL) and what crashkernel= would do. Spec: linux-kexec.md §2.2, §3;
 * freebsd-handoff.md §6.1, §8.
 */
import { basename } from 'node:path';
import { hex, phys, type PhysAddr, type PhysRange, type Size } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import type { ElfImage } from '../loader/elf/image.js';
import { parseElf } from '../loader/elf/reader.js';
import { buildImportedProfile } from '../loader/import/build.js';
import { importHost } from '../loader/import/host.js';
import { KEXEC_SYSCALL, type KexecAbi } from '../loader/kexec/abi.js';
import type { KexecRequest } from '../loader/kexec/rules.js';
import { bootRequestFromPlan, crashSegmentsFromPlan, crashRequestFromPlan } from '../loader/kexec/segments.js';
import { planKexecBoot } from '../loader/plan/kexec-plan.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { planRescue, rescueReservationSizing } from '../loader/plan/rescue-plan.js';
import { readKexecSysState, type KexecSysState } from '../sysprobe/kexec-state.js';
import { readHostSnapshot, type HostProbeOptions } from '../sysprobe/read.js';
import { crashkernelArg } from './errno.js';
import { HostCode, HostError } from './errors.js';

/** The running machine as the host commands see it. */
export interface HostMachine {
  readonly os: 'linux' | 'freebsd';
  readonly arch: Arch;
  /** The profile `kboot machine import --host` would write (name "host"). */
  readonly profile: MachineProfile;
  /** Linux: the kexec files of /sys and /proc; FreeBSD: undefined. */
  readonly sys: KexecSysState | undefined;
}

/** Where to read the machine (tests point these at a copy of /sys and /proc). */
export interface HostMachineOptions extends HostProbeOptions {
  /** Linux: the directory standing for `/` for the kexec files (default `root`, else /). */
  readonly kexecRoot?: string;
}

/** Reads the running machine (read-only). */
export function readHostMachine(opts: HostMachineOptions = {}): HostMachine {
  const { snapshot, inputs } = readHostSnapshot(opts);
  const facts = importHost(snapshot);
  const built = buildImportedProfile(facts, {
    name: 'host',
    description: `the running host (${snapshot.os}/${snapshot.arch})`,
    command: 'kboot load --host',
    inputs,
  });
  // the snapshot's /proc/iomem is the one the kexec state would read, unless pointed elsewhere
  const iomem = opts.kexecRoot === undefined ? snapshot.iomem : undefined;
  const sys = snapshot.os === 'linux' ? readKexecSysState(opts.kexecRoot ?? opts.root ?? '/', iomem) : undefined;
  return { os: snapshot.os, arch: snapshot.arch, profile: built.profile, sys };
}

/** What to plan. */
export interface PlanOnProfileRequest {
  readonly kernel: Uint8Array;
  readonly kernelName: string;
  readonly crash: boolean;
  readonly abi: KexecAbi;
  readonly memsize?: Size;
  /** The crash reservation's address (exact placement). */
  readonly at?: PhysAddr;
}

/** One planned load: the call's arguments and what each segment holds. */
export interface PlannedLoad {
  readonly request: KexecRequest;
  /** Per segment, the plan segments inside it. */
  readonly labels: readonly (readonly string[])[];
  /** Crash: the rescue reservation the segments fill; normal: the staging area. */
  readonly region: PhysRange;
  /** Crash: the bytes the reservation needs (what crashkernel= must give). */
  readonly needed: Size | undefined;
}

/** Plans a load on a profile (the host's, or the one `kboot exec` replays on); `kernel`: `req.kernel` parsed. */
export function planOnProfile(
  profile: MachineProfile,
  req: PlanOnProfileRequest,
  kernel: ElfImage = parseElf(req.kernel),
): PlannedLoad {
  if (!req.crash) {
    const plan = planKexecBoot({ kernel, kernelName: req.kernelName, profile });
    return {
      request: bootRequestFromPlan(plan, req.abi),
      labels: plan.segments.map((s) => [s.label]),
      region: plan.staging,
      needed: undefined,
    };
  }
  const plan = planRescue({
    kernel,
    kernelName: req.kernelName,
    profile,
    ...(req.memsize === undefined ? {} : { memsize: req.memsize }),
    ...(req.at === undefined ? {} : { at: req.at }),
  });
  return {
    request: crashRequestFromPlan(plan, req.abi),
    labels: crashSegmentsFromPlan(plan).map((s) => s.labels),
    region: plan.region,
    needed: plan.sizing.total,
  };
}

/** A planned host load with the facts its report and its errors need. */
export interface HostLoadPlan extends PlannedLoad {
  readonly os: 'linux' | 'freebsd';
  readonly arch: Arch;
  readonly abi: KexecAbi;
  readonly crash: boolean;
  readonly syscall: number;
  readonly kernelName: string;
  readonly at: PhysAddr | undefined;
  readonly memsize: Size | undefined;
  readonly crashKernel: { readonly start: bigint; readonly size: bigint } | undefined;
  /** Linux: /proc/sys/kernel/kexec_load_disabled as read (for EPERM's message). */
  readonly loadDisabled: string | undefined;
  readonly notes: readonly string[];
}

/** The ABI a host command uses: the running system's; another is HOST_UNSUPPORTED. */
export function hostAbi(machine: HostMachine, abi: KexecAbi | undefined, dryRun: boolean): KexecAbi {
  const own: KexecAbi = machine.os;
  if (abi === undefined || abi === own || dryRun) return abi ?? own;
  throw new HostError(
    HostCode.Unsupported,
    `host: this host runs ${machine.os}; a real kexec_load follows its ABI, not --abi ${abi} (use --dry-run to see the ${abi} plan)`,
    { os: machine.os, abi },
  );
}

/** Refuses a FreeBSD crash load or unload (FreeBSD's kexec(2) has no crash images). */
export function refuseFreeBsdCrash(abi: KexecAbi, crash: boolean, unload = false): void {
  if (abi !== 'freebsd' || !crash) return;
  throw new HostError(
    HostCode.FreeBsdCrash,
    unload
      ? "host: FreeBSD's kexec(2) has no crash images to unload"
      : "host: FreeBSD's kexec(2) has no crash images (KEXEC_ON_CRASH is reserved, sys/kern/kern_kexec.c): a FreeBSD rescue kernel is armed by the D47358 kernel itself (kboot boot --strategy embed|kld), or load a normal image without --crash",
    { abi, crash },
  );
}

/**
 * The crash reservation: /proc/iomem's "Crash kernel", shortened to /sys/kernel/kexec_crash_size
 * when that is smaller (crash_shrink_memory gives the tail back).
 */
export function crashReservation(sys: KexecSysState | undefined): { start: bigint; size: bigint } | undefined {
  const ck = sys?.crashKernel;
  if (ck === undefined) return undefined;
  const size = sys?.crashSize;
  return size !== undefined && size > 0n && size < ck.size ? { start: ck.start, size } : ck;
}

/** Plans `kboot load --host` on the machine read (see the module contract). */
export function planHostLoad(
  machine: HostMachine,
  req: { kernel: Uint8Array; kernelName: string; crash: boolean; abi: KexecAbi; memsize?: Size },
): HostLoadPlan {
  refuseFreeBsdCrash(req.abi, req.crash);
  const notes: string[] = [];
  const ck = crashReservation(machine.sys);
  let at: PhysAddr | undefined;
  const kernel = parseElf(req.kernel);
  if (req.crash && req.abi === 'linux') {
    const needed = rescueReservationSizing(kernel, machine.profile, req.memsize).total;
    if (ck === undefined)
      notes.push(
        `no crashkernel= reservation on this host: the kernel will refuse the crash segments (EADDRNOTAVAIL); boot with ${crashkernelArg(needed)}`,
      );
    else if (ck.size < needed)
      notes.push(
        `the crash reservation ${hex(ck.start)}+${hex(ck.size)} is smaller than the ${needed} bytes needed: boot with ${crashkernelArg(needed)}`,
      );
    else at = phys(ck.start);
  }
  const planned = planOnProfile(machine.profile, { ...req, ...(at === undefined ? {} : { at }) }, kernel);
  return {
    ...planned,
    os: machine.os,
    arch: machine.arch,
    abi: req.abi,
    crash: req.crash,
    syscall: KEXEC_SYSCALL[req.abi][machine.arch],
    kernelName: basename(req.kernelName),
    at: req.crash ? planned.region.start : undefined,
    memsize: req.memsize,
    crashKernel: ck,
    loadDisabled: machine.sys?.loadDisabled,
    notes,
  };
}
