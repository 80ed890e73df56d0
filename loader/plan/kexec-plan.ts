/**
 * planKexecBoot(): a normal (non-crash) kexec of a FreeBSD kernel the way loader.kboot
 * stages it — the kernel, its kenv, the firmware map and the preload metadata (modinfo) as
 * kexec segments, plus the values the trampoline hands the kernel.
 *
 * Contract: pure. Layout (stand/kboot/kboot/main.c, arch/amd64/elf64_freebsd.c,
 * arch/aarch64/exec.c; stand/efi/loader/bootinfo.c bi_load; freebsd-handoff.md §1.4, §2):
 *  - staging: the lowest 2 MiB-aligned free RAM run of at least 64 MiB (first_avail(2 MiB,
 *    64 MiB) over /proc/iomem), below 4 GiB on amd64 (the loader's tables map 4 GiB and
 *    amd64 kernels must be loaded below it);
 *  - amd64: KERNBASE + i·2 MiB → staging + i·2 MiB, so the kernel (file offset 0 at
 *    KERNSTART) sits at staging + 2 MiB; arm64: the kernel at staging + (vaddr − KERNBASE);
 *  - after the kernel's end, page-aligned: the kenv (ENVP), on FDT machines the DTB (DTBP),
 *    then the modinfo; kernend = roundup(modulep + size, PAGE) patched into KERNEND;
 *  - metadata addresses: amd64 offsets from KERNBASE (the kernel adds KERNBASE,
 *    preload_bootstrap_relocate), arm64 kernel VAs; amd64 passes modulep and kernend as
 *    32-bit stack words, arm64 modulep in x0.
 * Segments are page-aligned with page-multiple sizes, at most 16 (KEXEC_SEGMENT_MAX).
 */
import {
  alignUp,
  hex,
  rangeEnd,
  SZ_2M,
  SZ_4K,
  type KernelVa,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../addr.js';
import { archInfo, type Arch } from '../arch/index.js';
import type { ElfImage } from '../elf/image.js';
import { PlanCode, PlanError } from '../errors.js';
import { encodeKenv, type KenvEntry } from '../handoff/kenv.js';
import { encodeModinfo, mdInt, mdU64, MODINFOMD, type PreloadedModule } from '../handoff/modinfo.js';
import { hostFirmware, type HostFirmware } from './firmware.js';
import { makeRelocation, requireSameArch, type Relocation, type Segment } from './load-plan.js';
import { buildMemoryMap, type MemoryMap } from './memory-map.js';
import type { MachineProfile } from './profile.js';
import { findHole } from './ranges.js';

/** loader.kboot asks for a 64 MiB hole to stage in (kboot_get_phys_load_segment). */
export const KEXEC_STAGING_MIN = 0x400_0000n as Size;
/** KEXEC_SEGMENT_MAX (sys/sys/kexec.h; Linux KEXEC_SEGMENT_MAX). */
export const KEXEC_SEGMENT_MAX = 16;

/** What planKexecBoot needs: the kernel to boot, the machine and the kernel environment. */
export interface KexecBootRequest {
  readonly kernel: ElfImage;
  /** MODINFO_NAME of the kernel module, e.g. "/boot/kernel/kernel". */
  readonly kernelName: string;
  readonly profile: MachineProfile;
  /** The kernel environment handed over (default: the profile's host kenv). */
  readonly kenv?: readonly KenvEntry[];
  readonly boothowto?: number;
}

/** A kexec reboot (loader.kboot) described: the segments, the metadata and the entry. */
export interface KexecBootPlan {
  readonly arch: Arch;
  readonly profileName: string;
  readonly memoryMap: MemoryMap;
  readonly firmware: HostFirmware;
  readonly staging: PhysRange;
  readonly relocation: Relocation;
  /** kexec segments (destination side), sorted; page aligned. */
  readonly segments: readonly Segment[];
  readonly kernelEntryVa: KernelVa;
  /** Physical address of the entry instruction. */
  readonly entryPa: PhysAddr;
  /** amd64: offset from KERNBASE; arm64: kernel VA. */
  readonly modulep: bigint;
  readonly kernend: bigint;
  readonly modulepPa: PhysAddr;
  readonly modules: readonly PreloadedModule[];
  readonly kenv: readonly KenvEntry[];
}

/**
 * A physical address as the kernel's preload metadata carries it, for a kernel whose KERNBASE
 * maps `kernbasePa` (KERNBASE + x -> kernbasePa + x on both arches): amd64 metadata holds the
 * offset x (the kernel adds KERNBASE: preload_bootstrap_relocate), arm64 the kernel VA.
 */
export function metadataAddress(arch: Arch, kernbasePa: bigint, pa: bigint): bigint {
  const info = archInfo(arch);
  return info.metadataAddressing === 'kernbase-offset' ? pa - kernbasePa : info.kernbase + (pa - kernbasePa);
}

/** The inverse of metadataAddress. */
export function metadataToPhys(arch: Arch, kernbasePa: bigint, v: bigint): bigint {
  const info = archInfo(arch);
  return info.metadataAddressing === 'kernbase-offset' ? kernbasePa + v : v - info.kernbase + kernbasePa;
}

/**
 * The kernel module's metadata items as bi_load adds them (stand/efi/loader/bootinfo.c,
 * freebsd-handoff.md §1.4): HOWTO, ENVP, DTBP when there is a DTB, a KERNEND placeholder
 * (patched by encodeModinfo's `kernend`), then the firmware map: EFI_MAP (+ EFI_FB) or SMAP.
 */
export function loaderMetadata(
  arch: Arch,
  o: { readonly boothowto: number; readonly envp: bigint; readonly dtbp?: bigint; readonly firmware: HostFirmware },
): { type: number; data: Uint8Array }[] {
  const info = archInfo(arch);
  const fw = o.firmware;
  return [
    { type: MODINFOMD.HOWTO, data: mdInt(o.boothowto) },
    { type: MODINFOMD.ENVP, data: mdU64(o.envp) },
    ...(o.dtbp === undefined ? [] : [{ type: info.modinfomd.DTBP, data: mdU64(o.dtbp) }]),
    { type: MODINFOMD.KERNEND, data: mdU64(0n) },
    ...(fw.kind === 'efi' ? [{ type: info.modinfomd.EFI_MAP, data: fw.bytes }] : []),
    ...(fw.kind === 'efi' && fw.efiFb !== undefined ? [{ type: info.modinfomd.EFI_FB, data: fw.efiFb }] : []),
    ...(fw.kind === 'smap' && info.modinfomd.SMAP !== undefined ? [{ type: info.modinfomd.SMAP, data: fw.bytes }] : []),
  ];
}

/** Plans a loader.kboot-style kexec of `kernel` (see the module contract). */
export function planKexecBoot(req: KexecBootRequest): KexecBootPlan {
  const { kernel, profile } = req;
  const arch = profile.arch;
  requireSameArch(kernel, req.kernelName, profile);
  const info = archInfo(arch);
  const map = buildMemoryMap(profile);
  const firmware = hostFirmware(profile, map);
  const loads = kernel.loadSegments;
  const first = loads[0];
  const entry = kernel.entry;
  if (first === undefined || entry === undefined) {
    throw new PlanError(PlanCode.NotRescueKernel, `plan: ${req.kernelName} has no PT_LOAD or no entry point`, {});
  }
  // VA that maps to staging: amd64 KERNBASE (kernel at +2 MiB), arm64 KERNBASE (kernel at +0).
  const vaBase = info.kernbase as bigint;
  const lowVa = loads.reduce((m, p) => (p.vaddr < m ? p.vaddr : m), first.vaddr) as bigint;
  const highVa = loads.reduce((m, p) => (p.vaddr + p.memsz > m ? p.vaddr + p.memsz : m), 0n);
  if (lowVa < vaBase || (lowVa - vaBase) % SZ_4K !== 0n) {
    throw new PlanError(
      PlanCode.NotRescueKernel,
      `plan: ${req.kernelName} is not linked above KERNBASE on page boundaries (lowest PT_LOAD ${hex(lowVa)})`,
      {
        lowVa,
      },
    );
  }
  const kenv = req.kenv ?? profile.hostKernel.kenv;
  const kenvBytes = encodeKenv(kenv);
  const dtb = firmware.kind === 'fdt' ? firmware.bytes : undefined;
  const kernelEndOff = alignUp((highVa - vaBase) as Size, SZ_4K);
  const estimate =
    kernelEndOff +
    alignUp(BigInt(kenvBytes.length) as Size, SZ_4K) +
    alignUp(BigInt(dtb?.length ?? 0) as Size, SZ_4K) +
    0x10_0000n;
  const needed = (estimate > KEXEC_STAGING_MIN ? alignUp(estimate as Size, SZ_2M) : KEXEC_STAGING_MIN) as Size;
  const below = info.rescuePreferredLimit; // 4 GiB on both arches: loader tables / DMA32
  const staging = findHole(map.free, { size: needed, align: SZ_2M, boundary: 0n as Size, below, prefer: 'lowest' });
  if (staging === undefined) {
    throw new PlanError(
      PlanCode.NoHole,
      `plan: no ${hex(needed)}-byte 2 MiB-aligned run of free RAM below ${hex(below)} to stage the kernel in`,
      {
        size: needed,
      },
    );
  }
  const s = staging.start as bigint;
  // KERNBASE + x -> staging + x (amd64: the kernel's first page, KERNSTART, at staging + 2 MiB)
  const relocation = makeRelocation(staging, s as PhysAddr, vaBase as KernelVa);

  // The kernel image as one segment: every PT_LOAD's file bytes at their place, BSS zero.
  const imageStart = s + (lowVa - vaBase);
  const imageBytes = new Uint8Array(Number(kernelEndOff - (imageStart - s)));
  for (const p of loads) {
    const off = Number(p.vaddr - vaBase - (imageStart - s));
    imageBytes.set(kernel.bytes.subarray(Number(p.offset), Number(p.offset + p.filesz)), off);
  }
  const segments: Segment[] = [
    {
      kind: 'kernel',
      label: `kernel ${req.kernelName}`,
      phys: imageStart as PhysAddr,
      data: imageBytes,
      memSize: BigInt(imageBytes.length) as Size,
      align: SZ_4K,
    },
  ];
  let next = s + kernelEndOff;
  /** Appends a page-rounded segment at `next` and returns its address. */
  const placeNext = (kind: Segment['kind'], label: string, data: Uint8Array): bigint => {
    const at = next;
    const memSize = alignUp(BigInt(data.length) as Size, SZ_4K);
    segments.push({ kind, label, phys: at as PhysAddr, data, memSize, align: SZ_4K });
    next += memSize;
    return at;
  };
  const envPa = placeNext('kenv', 'kenv', kenvBytes);
  const dtbPa = dtb === undefined ? undefined : placeNext('firmware-map', 'device tree', dtb);
  const modulepPa = next;
  const md = (pa: bigint): bigint => metadataAddress(arch, s, pa);
  const metadata = loaderMetadata(arch, {
    boothowto: req.boothowto ?? profile.hostKernel.boothowto,
    envp: md(envPa),
    ...(dtbPa === undefined ? {} : { dtbp: md(dtbPa) }),
    firmware,
  });
  const kernelModule: PreloadedModule = {
    name: req.kernelName,
    type: 'elf kernel',
    addr: md(imageStart),
    size: highVa - lowVa,
    metadata,
  };
  let kernendPa = 0n;
  const modinfo = encodeModinfo([kernelModule], {
    kernend: (size) => {
      kernendPa = alignUp((modulepPa + BigInt(size)) as Size, SZ_4K);
      return md(kernendPa);
    },
  });
  placeNext('params', 'preload metadata (modinfo)', modinfo);
  if (kernendPa > rangeEnd(staging)) {
    throw new PlanError(
      PlanCode.MetadataTooLarge,
      `plan: the staged kernel and metadata end at ${hex(kernendPa)}, past the staging area ${hex(rangeEnd(staging))}`,
      {
        kernend: kernendPa,
      },
    );
  }
  return {
    arch,
    profileName: profile.name,
    memoryMap: map,
    firmware,
    staging,
    relocation,
    segments,
    kernelEntryVa: entry,
    entryPa: relocation.toPhys(entry),
    modulep: md(modulepPa),
    kernend: md(kernendPa),
    modulepPa: modulepPa as PhysAddr,
    modules: [kernelModule],
    kenv,
  };
}
