/**
 * amd64 constants kboot relies on, each with its FreeBSD source. All magic numbers for the
 * amd64 hand-off live here (ANCHORS.md house rule 9).
 *
 *   virtual                      what                                  source
 *   0xffff_ffff_ffff_ffff        top of the kernel map
 *   0xffff_ffff_8020_0000        KERNSTART = KERNBASE + 2 MiB: the     sys/amd64/include/vmparam.h
 *                                kernel's first page; file offset 0
 *   0xffff_ffff_8000_0000        KERNBASE (top 2 GiB, PML4 511/PDP 510) sys/amd64/include/vmparam.h
 *   0xffff_fe00_0000_0000        VM_MIN_KERNEL_ADDRESS                  sys/amd64/include/vmparam.h
 *   0xffff_f800_0000_0000        DMAP_MIN_ADDRESS (direct map)          sys/amd64/include/vmparam.h
 *
 *   physical: the kernel is loaded 2 MiB aligned below 4 GiB (amd64_loadaddr(),
 *   sys/amd64/amd64/machdep.c); KERNLOAD = 0x20_0000 is the link-time default.
 */
import { kva, phys, size, SZ_4K } from '../../addr.js';

/** ELF e_machine for x86-64 (EM_X86_64). */
export const EM_X86_64 = 62;

/** Kernel virtual base: the top 2 GiB. */
export const KERNBASE = kva(0xffff_ffff_8000_0000n);
/** KERNBASE + NBPDR: VA of the kernel's first page (ELF file offset 0). */
export const KERNSTART = kva(0xffff_ffff_8020_0000n);
/** Default physical load address of the kernel. */
export const KERNLOAD = phys(0x20_0000n);
/** Start of kernel virtual address space. */
export const VM_MIN_KERNEL_ADDRESS = kva(0xffff_fe00_0000_0000n);
/** End of kernel virtual address space (inclusive top of the 64-bit space). */
export const VM_MAX_KERNEL_ADDRESS = kva(0xffff_ffff_ffff_ffffn);
/** Direct map: [DMAP_MIN_ADDRESS, DMAP_MAX_ADDRESS) maps PA 0 upwards. */
export const DMAP_MIN_ADDRESS = kva(0xffff_f800_0000_0000n);
export const DMAP_MAX_ADDRESS = kva(0xffff_fc00_0000_0000n);

/** Page and large-page sizes (sys/amd64/include/param.h: PAGE_SIZE, NBPDR, NBPDP). */
export const PAGE_SIZE = SZ_4K;
export const NBPDR = size(0x20_0000n);
export const NBPDP = size(0x4000_0000n);

/** Page-table entry bits (sys/amd64/include/pmap.h). */
export const PG_V = 0x001n;
export const PG_RW = 0x002n;
export const PG_U = 0x004n;
export const PG_PS = 0x080n;
export const PG_G = 0x100n;
export const PG_NX = 1n << 63n;
/** Physical frame mask of a PTE (bits 12..51). */
export const PG_FRAME = 0x000f_ffff_ffff_f000n;

/** Machine-dependent modinfo metadata types (sys/amd64/include/metadata.h). */
export const MODINFOMD = {
  SMAP: 0x1001,
  SMAP_XATTR: 0x1002,
  DTBP: 0x1003,
  EFI_MAP: 0x1004,
  EFI_FB: 0x1005,
  MODULEP: 0x1006,
  VBE_FB: 0x1007,
} as const;

/**
 * Rescue kernel (D47358, markjdb/freebsd @bd74b35 sys/amd64/include/rescue.h and
 * rescue_machdep.c): the reservation must lie below 4 GiB; 16 page-table pages
 * (NRESCUEPTP) follow the kenv at a page boundary.
 */
export const RESCUE_NPTP = 16;
/** amd64 reservations must end at or below 4 GiB ("amd64 kernel assumes that it is loaded below 4GB"). */
export const RESCUE_HIGH_LIMIT = phys(0x1_0000_0000n);

/**
 * Control-register and EFER bits of the long-mode state at a hand-off (sys/x86/include/specialreg.h:
 * CR0_PE, CR0_ET, CR0_PG, CR4_PAE, CR4_PGE, CR4_PCIDE, EFER_LME, EFER_LMA, EFER_NXE, MSR_EFER).
 */
export const CR0_PE = 0x0000_0001n;
export const CR0_ET = 0x0000_0010n;
export const CR0_PG = 0x8000_0000n;
export const CR4_PAE = 0x0000_0020n;
export const CR4_PGE = 0x0000_0080n;
export const CR4_PCIDE = 0x0002_0000n;
export const EFER_LME = 0x0000_0100n;
export const EFER_LMA = 0x0000_0400n;
export const EFER_NXE = 0x0000_0800n;
export const MSR_EFER = 0xc000_0080;
/**
 * Long mode as kboot's hand-offs leave it: protected mode with paging (CR0), PAE without
 * PGE/PCIDE (rescue_kernel_exec clears both before loading the temporary root), and EFER with
 * LME|LMA plus NXE, which every FreeBSD amd64 kernel sets and without which the NX bit of
 * rescue_kernel_exec's kernel-stack mapping is a reserved bit (#PF).
 */
export const LONG_MODE_CR0 = CR0_PG | CR0_ET | CR0_PE;
export const LONG_MODE_CR4 = CR4_PAE;
export const LONG_MODE_EFER = EFER_NXE | EFER_LMA | EFER_LME;
