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
  add,
  alignUp,
  hex,
  isAligned,
  offsetFrom,
  rangeEnd,
  size,
  SZ_2M,
  SZ_4K,
  toNumber,
  type KernelVa,
  type MetadataAddr,
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
import { resolveItsHandoff, type ItsHandoff, type ItsHandoffMode } from './its-handoff.js';
import { itsEfiMap, itsFdt } from './rescue-area.js';
import { encodeItsDescriptors } from '../handoff/memreserve.js';

/** loader.kboot asks for a 64 MiB hole to stage in (kboot_get_phys_load_segment). */
export const KEXEC_STAGING_MIN = size(0x400_0000n);
/** Room the staging estimate adds for the modinfo and rounding (1 MiB). */
const STAGING_SLACK = 0x10_0000n;
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
  /** The GICv3 ITS hand-off for the next kernel (default: what the firmware carries). */
  readonly itsHandoff?: ItsHandoffMode;
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
  readonly modulep: MetadataAddr;
  readonly kernend: MetadataAddr;
  readonly modulepPa: PhysAddr;
  readonly modules: readonly PreloadedModule[];
  readonly kenv: readonly KenvEntry[];
  /** What the next kernel is told about the live GICv3 LPI tables. */
  readonly itsHandoff: ItsHandoff;
  /** memreserve: the EFI system table's PA passed as MODINFOMD_FW_HANDLE. */
  readonly fwHandle: PhysAddr | undefined;
}

/**
 * A physical address as the kernel's preload metadata carries it, for a kernel whose KERNBASE
 * maps `kernbasePa` (KERNBASE + x -> kernbasePa + x on both arches): amd64 metadata holds the
 * offset x (the kernel adds KERNBASE: preload_bootstrap_relocate), arm64 the kernel VA.
 */
export function metadataAddress(arch: Arch, kernbasePa: PhysAddr, pa: bigint): MetadataAddr {
  const info = archInfo(arch);
  const v = info.metadataAddressing === 'kernbase-offset' ? pa - kernbasePa : info.kernbase + (pa - kernbasePa);
  return v as MetadataAddr;
}

/** The inverse of metadataAddress; a plain bigint, since `v` may come from untrusted memory (callers check it). */
export function metadataToPhys(arch: Arch, kernbasePa: PhysAddr, v: bigint): bigint {
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
  o: {
    readonly boothowto: number;
    readonly envp: bigint;
    readonly dtbp?: bigint;
    readonly firmware: HostFirmware;
    /** MODINFOMD_FW_HANDLE: the EFI system table's PA (bi_load adds it on EFI boots). */
    readonly fwHandle?: bigint;
  },
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
    ...(o.fwHandle === undefined ? [] : [{ type: MODINFOMD.FW_HANDLE, data: mdU64(o.fwHandle) }]),
  ];
}

/** Where the kernel's PT_LOADs lie, from KERNBASE. */
interface KernelExtent {
  readonly lowVa: KernelVa;
  /** One past the highest PT_LOAD byte. */
  readonly highVa: bigint;
  readonly entry: KernelVa;
  /** highVa - KERNBASE, page-rounded: where the metadata starts, from the staging area. */
  readonly endOffset: Size;
}

/** Segments appended one after the other, page-rounded, from a cursor. */
class SegmentRun {
  readonly segments: Segment[] = [];
  constructor(public next: PhysAddr) {}

  /** Appends `data` at the cursor (its size rounded up to a page) and returns its address. */
  place(kind: Segment['kind'], label: string, data: Uint8Array): PhysAddr {
    const at = this.next;
    const memSize = alignUp(size(data.length), SZ_4K);
    this.segments.push({ kind, label, phys: at, data, memSize, align: SZ_4K });
    this.next = add(at, memSize);
    return at;
  }
}

/** Plans a loader.kboot-style kexec of `kernel` (see the module contract). */
export function planKexecBoot(req: KexecBootRequest): KexecBootPlan {
  const { kernel, profile } = req;
  const arch = profile.arch;
  requireSameArch(kernel, req.kernelName, profile);
  const info = archInfo(arch);
  const map = buildMemoryMap(profile);
  const hostFw = hostFirmware(profile, map);
  const its = resolveItsHandoff(profile, req.itsHandoff);
  const extent = kernelExtent(kernel, req.kernelName, info.kernbase);
  const kenv = req.kenv ?? profile.hostKernel.kenv;
  const kenvBytes = encodeKenv(kenv);
  const hostDtb = hostFw.kind === 'fdt' ? hostFw.bytes : undefined;
  // fdt: the tables as no-map /reserved-memory nodes (the host's /memory already covers them)
  const dtb = hostDtb !== undefined && its.mode === 'fdt' ? itsFdt(hostDtb, its.ranges, { memory: false }) : hostDtb;
  const staging = findStaging(map, info.rescuePreferredLimit, extent, kenvBytes.length, dtb?.length ?? 0);
  // KERNBASE + x -> staging + x (amd64: the kernel's first page, KERNSTART, at staging + 2 MiB)
  const relocation = makeRelocation(staging, staging.start, info.kernbase);
  const run = new SegmentRun(add(staging.start, extent.endOffset));
  const image = kernelImageSegment(kernel, req.kernelName, relocation, extent);
  run.segments.push(image);
  const envPa = run.place('kenv', 'kenv', kenvBytes);
  const dtbPa = dtb === undefined ? undefined : run.place('firmware-map', 'device tree', dtb);
  const { firmware, fwHandle } = placeItsDescriptors(run, hostFw, its);
  const md = (pa: PhysAddr): MetadataAddr => metadataAddress(arch, staging.start, pa);
  const kernelModule: PreloadedModule = {
    name: req.kernelName,
    type: 'elf kernel',
    addr: md(image.phys),
    size: extent.highVa - extent.lowVa,
    metadata: loaderMetadata(arch, {
      boothowto: req.boothowto ?? profile.hostKernel.boothowto,
      envp: md(envPa),
      ...(dtbPa === undefined ? {} : { dtbp: md(dtbPa) }),
      firmware,
      ...(fwHandle === undefined ? {} : { fwHandle }),
    }),
  };
  const modulepPa = run.next;
  let kernendPa = modulepPa;
  const modinfo = encodeModinfo([kernelModule], {
    kernend: (bytes) => {
      kernendPa = alignUp(add(modulepPa, size(bytes)), SZ_4K);
      return md(kernendPa);
    },
  });
  run.place('params', 'preload metadata (modinfo)', modinfo);
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
    segments: run.segments,
    kernelEntryVa: extent.entry,
    entryPa: relocation.toPhys(extent.entry),
    modulep: md(modulepPa),
    kernend: md(kernendPa),
    modulepPa,
    modules: [kernelModule],
    kenv,
    itsHandoff: its,
    fwHandle,
  };
}

/**
 * memreserve: the descriptor page (EFI system table, LINUX_EFI_MEMRESERVE) staged as a segment,
 * and the EFI map with that page as a runtime descriptor (efi_early_map finds st_cfgtbl there);
 * the LPI tables are already RAM in the host's map.
 */
function placeItsDescriptors(
  run: SegmentRun,
  firmware: HostFirmware,
  its: ItsHandoff,
): { firmware: HostFirmware; fwHandle: PhysAddr | undefined } {
  if (its.mode !== 'memreserve' || firmware.kind !== 'efi') return { firmware, fwHandle: undefined };
  const pagePa = run.next;
  const page = encodeItsDescriptors(pagePa, its.ranges);
  run.place('its-descriptors', 'GICv3 ITS descriptors (EFI system table, LINUX_EFI_MEMRESERVE)', page.bytes);
  return { firmware: { ...firmware, bytes: itsEfiMap(firmware.bytes, pagePa, []) }, fwHandle: pagePa };
}

/** The PT_LOADs' span; PLAN_NOT_RESCUE_KERNEL without one, without an entry, or below KERNBASE off a page boundary. */
function kernelExtent(kernel: ElfImage, kernelName: string, kernbase: KernelVa): KernelExtent {
  const loads = kernel.loadSegments;
  const first = loads[0];
  const entry = kernel.entry;
  if (first === undefined || entry === undefined) {
    throw new PlanError(PlanCode.NotRescueKernel, `plan: ${kernelName} has no PT_LOAD or no entry point`, {});
  }
  // VA that maps to staging: amd64 KERNBASE (kernel at +2 MiB), arm64 KERNBASE (kernel at +0).
  const lowVa = loads.reduce((m, p) => (p.vaddr < m ? p.vaddr : m), first.vaddr);
  const highVa = loads.reduce((m, p) => (p.vaddr + p.memsz > m ? p.vaddr + p.memsz : m), 0n);
  if (lowVa < kernbase || !isAligned(offsetFrom(lowVa, kernbase), SZ_4K)) {
    throw new PlanError(
      PlanCode.NotRescueKernel,
      `plan: ${kernelName} is not linked above KERNBASE on page boundaries (lowest PT_LOAD ${hex(lowVa)})`,
      {
        lowVa,
      },
    );
  }
  return { lowVa, highVa, entry, endOffset: alignUp(size(highVa - kernbase), SZ_4K) };
}

/** The lowest 2 MiB-aligned free run below `below` for the kernel, kenv, DTB and metadata; at least 64 MiB. */
function findStaging(
  map: MemoryMap,
  below: PhysAddr,
  extent: KernelExtent,
  kenvLength: number,
  dtbLength: number,
): PhysRange {
  const estimate =
    extent.endOffset + alignUp(size(kenvLength), SZ_4K) + alignUp(size(dtbLength), SZ_4K) + STAGING_SLACK;
  const needed = estimate > KEXEC_STAGING_MIN ? alignUp(size(estimate), SZ_2M) : KEXEC_STAGING_MIN;
  // 4 GiB on both arches: loader tables / DMA32
  const staging = findHole(map.free, { size: needed, align: SZ_2M, boundary: size(0n), below, prefer: 'lowest' });
  if (staging === undefined) {
    throw new PlanError(
      PlanCode.NoHole,
      `plan: no ${hex(needed)}-byte 2 MiB-aligned run of free RAM below ${hex(below)} to stage the kernel in`,
      {
        size: needed,
      },
    );
  }
  return staging;
}

/** The kernel image as one segment: every PT_LOAD's file bytes at their place, BSS zero. */
function kernelImageSegment(kernel: ElfImage, kernelName: string, relocation: Relocation, e: KernelExtent): Segment {
  const imageStart = relocation.toPhys(e.lowVa);
  const imageBytes = new Uint8Array(toNumber(offsetFrom(add(relocation.kernelPhys, e.endOffset), imageStart)));
  for (const p of kernel.loadSegments) {
    const off = toNumber(offsetFrom(p.vaddr, e.lowVa));
    imageBytes.set(kernel.bytes.subarray(Number(p.offset), Number(p.offset + p.filesz)), off);
  }
  return {
    kind: 'kernel',
    label: `kernel ${kernelName}`,
    phys: imageStart,
    data: imageBytes,
    memSize: size(imageBytes.length),
    align: SZ_4K,
  };
}
