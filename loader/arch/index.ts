/**
 * The architectures kboot supports and their facts, behind one interface: core code asks
 * `archInfo(arch)` and never branches on the arch name itself (ANCHORS.md house rule 8).
 * Later issues add the per-arch operations (trampolines, page tables) to `ArchOps`.
 */
import type { KernelVa, PhysAddr, Size } from '../addr.js';
import * as amd64 from './amd64/layout.js';
import * as arm64 from './arm64/layout.js';

/** A supported architecture, named as FreeBSD names it. */
export type Arch = 'amd64' | 'arm64';
/** Every supported architecture. */
export const ARCHES: readonly Arch[] = ['amd64', 'arm64'];

/** Per-arch facts the loader needs. */
export interface ArchInfo {
  readonly arch: Arch;
  /** ELF e_machine. */
  readonly elfMachine: number;
  readonly kernbase: KernelVa;
  /** VA that corresponds to kernel ELF file offset 0 when the file is loaded raw (rescue layout). */
  readonly kernstart: KernelVa;
  readonly vmMinKernelAddress: KernelVa;
  readonly vmMaxKernelAddress: KernelVa;
  readonly dmapMin: KernelVa;
  readonly dmapMax: KernelVa;
  readonly pageSize: Size;
  /** Machine-dependent modinfo metadata numbers (they differ between arches). */
  readonly modinfomd: {
    readonly EFI_MAP: number;
    readonly DTBP: number;
    readonly EFI_FB: number;
    readonly SMAP?: number;
  };
  /** Rescue reservations must end at or below this PA (amd64: 4 GiB; arm64: VM_MAX_USER_ADDRESS). */
  readonly rescueHardLimit: PhysAddr;
  /** Rescue reservations are tried below this PA first (both: 4 GiB). */
  readonly rescuePreferredLimit: PhysAddr;
  /** Whether the reservation carries the amd64 page-table pool (16 pages after the kenv). */
  readonly rescuePageTablePages: number;
  /**
   * How preload metadata names addresses: amd64 kernels add KERNBASE to offsets
   * (preload_bootstrap_relocate, sys/amd64/amd64/machdep.c); arm64 metadata holds kernel VAs.
   */
  readonly metadataAddressing: 'kernbase-offset' | 'virtual';
  /**
   * How a kexec'd kernel is entered: amd64 btext runs with the loader's page tables at its
   * KERNBASE VA; arm64 _start runs with the MMU off at its PA (freebsd-handoff.md §2.1, §2.4).
   */
  readonly kexecEntry: 'virtual' | 'physical';
}

const INFO: { readonly [A in Arch]: ArchInfo } = {
  amd64: {
    arch: 'amd64',
    elfMachine: amd64.EM_X86_64,
    kernbase: amd64.KERNBASE,
    kernstart: amd64.KERNSTART,
    vmMinKernelAddress: amd64.VM_MIN_KERNEL_ADDRESS,
    vmMaxKernelAddress: amd64.VM_MAX_KERNEL_ADDRESS,
    dmapMin: amd64.DMAP_MIN_ADDRESS,
    dmapMax: amd64.DMAP_MAX_ADDRESS,
    pageSize: amd64.PAGE_SIZE,
    modinfomd: amd64.MODINFOMD,
    rescueHardLimit: amd64.RESCUE_HIGH_LIMIT,
    rescuePreferredLimit: amd64.RESCUE_HIGH_LIMIT,
    rescuePageTablePages: amd64.RESCUE_NPTP,
    metadataAddressing: 'kernbase-offset',
    kexecEntry: 'virtual',
  },
  arm64: {
    arch: 'arm64',
    elfMachine: arm64.EM_AARCH64,
    kernbase: arm64.KERNBASE,
    kernstart: arm64.KERNSTART,
    vmMinKernelAddress: arm64.VM_MIN_KERNEL_ADDRESS,
    vmMaxKernelAddress: arm64.VM_MAX_KERNEL_ADDRESS,
    dmapMin: arm64.DMAP_MIN_ADDRESS,
    dmapMax: arm64.DMAP_MAX_ADDRESS,
    pageSize: arm64.PAGE_SIZE,
    modinfomd: arm64.MODINFOMD,
    rescueHardLimit: arm64.VM_MAX_USER_ADDRESS,
    rescuePreferredLimit: arm64.RESCUE_PREFERRED_LIMIT,
    rescuePageTablePages: 0,
    metadataAddressing: 'virtual',
    kexecEntry: 'physical',
  },
};

/** Facts for one architecture. */
export function archInfo(arch: Arch): ArchInfo {
  return INFO[arch];
}

/** The arch whose ELF e_machine is `machine`, if kboot supports it. */
export function archForElfMachine(machine: number): Arch | undefined {
  return ARCHES.find((a) => INFO[a].elfMachine === machine);
}
