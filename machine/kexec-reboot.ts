/**
 * One kexec reboot as loader.kboot does it (stand/kboot/kboot/main.c, arch/amd64/
 * elf64_freebsd.c, arch/aarch64/exec.c; the trampolines of loader/trampoline): the kernel's
 * segments are put in free RAM as staging buffers, and the kexec-reboot trampoline copies
 * each to its destination and enters the kernel. `kboot boot` enters the host kernel this way
 * (HostSession, from the host model: `kexecRebootFromHost`) and `kboot exec` any kernel
 * (machine/exec.ts, from planKexecBoot: `kexecRebootFromPlan`); both stage through
 * `stageKexecReboot` and jump through `runKexecReboot`.
 *
 * Contract: `planKexecReboot(request)` is pure and lays out, in one 2 MiB-aligned run of the
 * profile's free RAM below 4 GiB (the loader tables' identity map; the highest such run), clear
 * of every segment's destination and of `request.avoid`:
 *   at                                  the trampoline area (loader/trampoline kexecAreaBytes)
 *   at + alignUp(kexecAreaBytes, 4 KiB) one page for the emulator's amd64 GDT (machine/jump.ts)
 *   after it                            the staging buffers, one per segment, in order, each
 *                                       page-rounded and a multiple of the copy loop's unit.
 * It throws MACHINE_JUMP_FAILED when no such run exists. `stageKexecReboot` writes the staging
 * buffers into the machine; `runKexecReboot` runs the trampoline (machine/jump.ts runJump) with
 * that GDT page.
 */
import {
  add,
  alignDown,
  alignUp,
  hex,
  rangeEnd,
  size,
  SZ_2M,
  SZ_4G,
  SZ_4K,
  type KernelVa,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../loader/addr.js';
import { archInfo } from '../loader/arch/index.js';
import type { KexecBootPlan } from '../loader/plan/kexec-plan.js';
import { buildMemoryMap } from '../loader/plan/memory-map.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { findHole, subtract } from '../loader/plan/ranges.js';
import { trampolineOps, type KexecCopy, type Trampoline } from '../loader/trampoline/index.js';
import type { ContractInput } from './contract.js';
import { MachineCode, MachineError } from './errors.js';
import type { HostModel } from './host/model.js';
import { metadataAddress } from './host/handoff.js';
import { runJump, type JumpOptions, type JumpResult } from './jump.js';
import type { Machine, Placement } from './machine.js';

/** One kexec segment: bytes for `dst`, zero-filled up to `memSize`. */
export interface KexecRebootSegment {
  readonly label: string;
  readonly dst: PhysAddr;
  readonly data: Uint8Array;
  readonly memSize: Size;
}

/** What the trampoline hands the kernel (and what its entry contract checks). */
export interface KexecRebootKernel {
  readonly entryVa: KernelVa;
  readonly entryPa: PhysAddr;
  /** The metadata addresses the kernel gets (amd64: offsets from KERNBASE; arm64: VAs). */
  readonly modulep: bigint;
  readonly kernend: bigint;
  readonly modulepPa: PhysAddr;
  /** Where the kernel's first page (KERNSTART) lands. */
  readonly kernelFirstPagePa: PhysAddr;
  /** The PA KERNBASE maps to (amd64's loader tables map KERNBASE + i·2 MiB → staging + i·2 MiB). */
  readonly staging: PhysAddr;
}

export interface KexecRebootRequest {
  readonly profile: MachineProfile;
  readonly segments: readonly KexecRebootSegment[];
  readonly kernel: KexecRebootKernel;
  /** The device tree's PA (arm64 x0 at the trampoline's entry), when there is one. */
  readonly fdt?: PhysAddr;
  /** RAM the staging stays clear of besides the destinations (a rescue reservation, a staging run). */
  readonly avoid: readonly PhysRange[];
}

/** What the boot loader stages of a host model (machine/host/model.ts). */
export type HostLoaderImage = Pick<
  HostModel,
  'loaderPlacements' | 'handoff' | 'load' | 'kernbasePa' | 'entry' | 'relocation'
>;

/** A kexec reboot laid out (planKexecReboot) and, once staged, in guest RAM. */
export interface KexecRebootStaging {
  /** The run holding the trampoline area, the GDT page and the staging buffers. */
  readonly area: PhysRange;
  readonly gdt: PhysAddr;
  readonly copies: readonly (KexecCopy & { readonly label: string })[];
  /** The staging buffers (the segments' bytes at their copy sources). */
  readonly buffers: readonly Placement[];
  readonly tramp: Trampoline;
  readonly contract: ContractInput;
}

/** The one page after the trampoline area that holds the emulator's amd64 GDT (machine/jump.ts). */
const GDT_PAGE = SZ_4K;

/** Lays a kexec reboot out (see the module contract); pure. */
export function planKexecReboot(req: KexecRebootRequest): KexecRebootStaging {
  const ops = trampolineOps(req.profile.arch);
  const unit = size(ops.copyUnit);
  const lens = req.segments.map((s) =>
    alignUp(alignUp(s.memSize > size(s.data.length) ? s.memSize : size(s.data.length), SZ_4K), unit),
  );
  const trampArea = alignUp(size(ops.kexecAreaBytes), SZ_4K);
  const buffersAt = trampArea + GDT_PAGE;
  const total = alignUp(size(lens.reduce((n, l) => n + l, buffersAt)), SZ_4K);
  const busy = [...req.avoid, ...req.segments.map((s, i) => ({ start: s.dst, size: lens[i] ?? s.memSize }))];
  const free = subtract(buildMemoryMap(req.profile).free, busy);
  const area = findHole(free, { size: total, align: SZ_2M, boundary: size(0), below: SZ_4G, prefer: 'highest' });
  if (area === undefined) {
    throw new MachineError(
      MachineCode.JumpFailed,
      `machine: no free RAM below 4 GiB for the kexec trampoline and its ${hex(total)} bytes of staging buffers`,
      { total },
    );
  }
  let src = add(area.start, size(buffersAt));
  const copies = req.segments.map((s, i) => {
    const len = lens[i] ?? s.memSize;
    const c = { label: s.label, src, dst: s.dst, len };
    src = add(src, len);
    return c;
  });
  const info = archInfo(req.profile.arch);
  const k = req.kernel;
  const tramp = ops.buildKexecReboot({
    at: area.start,
    copies,
    kernel: {
      entry: info.kexecEntry === 'virtual' ? k.entryVa : k.entryPa,
      modulep: k.modulep,
      kernend: k.kernend,
      staging: k.staging,
    },
    ...(req.fdt === undefined ? {} : { fdt: req.fdt }),
  });
  return {
    area,
    gdt: add(area.start, trampArea),
    copies,
    buffers: req.segments.map((s, i) => ({
      label: `staging buffer for ${s.label}`,
      phys: copies[i]?.src ?? s.dst,
      data: s.data,
    })),
    tramp,
    contract: {
      kind: 'kexec-reboot',
      entryVa: k.entryVa,
      entryPa: k.entryPa,
      modulep: k.modulep,
      kernend: k.kernend,
      modulepPa: k.modulepPa,
      kernelFirstPagePa: k.kernelFirstPagePa,
    },
  };
}

/** Lays the reboot out and writes the staging buffers into the machine (nothing runs yet). */
export function stageKexecReboot(machine: Machine, req: KexecRebootRequest): KexecRebootStaging {
  const staged = planKexecReboot(req);
  machine.place(staged.buffers);
  return staged;
}

/** Runs a staged reboot's trampoline to the kernel's entry (machine/jump.ts). */
export function runKexecReboot(
  machine: Machine,
  staged: KexecRebootStaging,
  opts: Omit<JumpOptions, 'gdt'> = {},
): JumpResult {
  return runJump(machine, staged.tramp, { ...opts, gdt: staged.gdt });
}

/** The request `kboot exec` makes for a planKexecBoot plan (its staging run avoided). */
export function kexecRebootFromPlan(profile: MachineProfile, plan: KexecBootPlan): KexecRebootRequest {
  const fdt = plan.segments.find((s) => s.kind === 'firmware-map');
  return {
    profile,
    segments: plan.segments.map((s) => ({ label: s.label, dst: s.phys, data: s.data, memSize: s.memSize })),
    kernel: {
      entryVa: plan.kernelEntryVa,
      entryPa: plan.entryPa,
      modulep: plan.modulep,
      kernend: plan.kernend,
      modulepPa: plan.modulepPa,
      kernelFirstPagePa: plan.relocation.toPhys(archInfo(profile.arch).kernstart),
      staging: plan.staging.start,
    },
    ...(fdt === undefined ? {} : { fdt: fdt.phys }),
    avoid: [plan.staging],
  };
}

/**
 * The request the boot loader makes for the host model: the kernel image's placements merged
 * into one page-rounded segment (its PT_LOADs may share pages), then the hand-off (modules,
 * kenv, DTB, modinfo); `avoid` keeps the staging off the rescue reservation.
 */
export function kexecRebootFromHost(
  profile: MachineProfile,
  model: HostLoaderImage,
  avoid: readonly PhysRange[],
): KexecRebootRequest {
  const handoff = new Set(model.handoff.placements);
  const image = model.loaderPlacements.filter((p) => !handoff.has(p));
  const start = alignDown(
    image.reduce((a, p) => (p.phys < a ? p.phys : a), image[0]?.phys ?? model.load),
    SZ_4K,
  );
  const end = image.reduce((a, p) => {
    const e = rangeEnd({ start: p.phys, size: size(p.data.length) });
    return e > a ? e : a;
  }, start as bigint);
  const bytes = new Uint8Array(Number(alignUp(size(end - start), SZ_4K)));
  for (const p of image) bytes.set(p.data, Number(p.phys - start));
  const md = (pa: PhysAddr): bigint => metadataAddress(profile.arch, model.kernbasePa, pa);
  const info = archInfo(profile.arch);
  return {
    profile,
    segments: [{ label: 'host kernel image', phys: start, data: bytes }, ...model.handoff.placements].map((p) => ({
      label: p.label,
      dst: p.phys,
      data: p.data,
      memSize: alignUp(size(p.data.length), SZ_4K),
    })),
    kernel: {
      entryVa: model.entry,
      entryPa: model.relocation.toPhys(model.entry),
      modulep: md(model.handoff.modulepPa),
      kernend: md(model.handoff.kernendPa),
      modulepPa: model.handoff.modulepPa,
      kernelFirstPagePa: model.relocation.toPhys(info.kernstart),
      staging: model.kernbasePa,
    },
    ...(model.handoff.dtbPa === undefined ? {} : { fdt: model.handoff.dtbPa }),
    avoid,
  };
}
