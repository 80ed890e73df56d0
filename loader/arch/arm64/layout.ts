/**
 * arm64 constants kboot relies on, each with its FreeBSD source. All magic numbers for the
 * arm64 hand-off live here (ANCHORS.md house rule 9).
 *
 *   virtual                      what                                  source
 *   0xffff_ff00_0000_0000        DMAP_MAX_ADDRESS                      sys/arm64/include/vmparam.h
 *   0xffff_a000_0000_0000        DMAP_MIN_ADDRESS (direct map)         sys/arm64/include/vmparam.h
 *   0xffff_0080_0000_0000        VM_MAX_KERNEL_ADDRESS (512 GiB KVA)   sys/arm64/include/vmparam.h
 *   0xffff_0000_0000_0000        KERNBASE = VM_MIN_KERNEL_ADDRESS;     sys/arm64/include/vmparam.h
 *                                kernel file offset 0 (the rescue      rescue_machdep.c jumps to
 *                                jump enters rescue_pa + 2 MiB +       rescue_pa + 2MB + (e_entry - KERNBASE)
 *                                (e_entry - KERNBASE))
 *   0x0001_0000_0000_0000        VM_MAX_USER_ADDRESS: TTBR0 limit; the rescue reservation
 *                                must lie below it so it can be identity-mapped.
 */
import type { KernelVa, PhysAddr, Size } from '../../addr.js';

/** ELF e_machine for AArch64 (EM_AARCH64). */
export const EM_AARCH64 = 183;

export const KERNBASE = 0xffff_0000_0000_0000n as KernelVa;
/** VA of kernel file offset 0 (the kernel is linked so that file offset = VA - KERNBASE). */
export const KERNSTART = KERNBASE;
export const VM_MIN_KERNEL_ADDRESS = KERNBASE;
export const VM_MAX_KERNEL_ADDRESS = 0xffff_0080_0000_0000n as KernelVa;
export const DMAP_MIN_ADDRESS = 0xffff_a000_0000_0000n as KernelVa;
export const DMAP_MAX_ADDRESS = 0xffff_ff00_0000_0000n as KernelVa;
export const VM_MAX_USER_ADDRESS = 0x0001_0000_0000_0000n as PhysAddr;

/** Translation granule and block sizes with 4 KiB pages (sys/arm64/include/pte.h). */
export const PAGE_SIZE = 0x1000n as Size;
export const L2_SIZE = 0x20_0000n as Size;
export const L1_SIZE = 0x4000_0000n as Size;
export const L0_SIZE = 0x80_0000_0000n as Size;

/** Machine-dependent modinfo metadata types (sys/arm64/include/metadata.h): NOT amd64's numbers. */
export const MODINFOMD = {
  EFI_MAP: 0x1001,
  DTBP: 0x1002,
  EFI_FB: 0x1003,
} as const;

/** arm64 rescue reservations try below 4 GiB first, then anywhere below VM_MAX_USER_ADDRESS. */
export const RESCUE_PREFERRED_LIMIT = 0x1_0000_0000n as PhysAddr;

/** GICv3 ITS / LPI table sizes (sys/arm64/arm64/gicv3_its.c, sys/arm/arm/gic_common.h). */
export const LPI_NIRQS = 65536;
export const GIC_FIRST_LPI = 8192;
/** 1 byte per LPI. */
export const LPI_CONFTAB_SIZE = 0x1_0000n as Size;
/** 1 bit per interrupt ID including SGI/PPI/SPI: (65536 + 8192) / 8 = 9216 bytes. */
export const LPI_PENDTAB_SIZE = BigInt((LPI_NIRQS + GIC_FIRST_LPI) / 8) as Size;
export const LPI_TABLE_ALIGN = 0x1_0000n as Size;
export const ITS_CMDQ_SIZE = 0x1_0000n as Size;

/**
 * Translation-table descriptor bits (sys/arm64/include/pte.h, current freebsd-src; the
 * AttrIndx field is bits [4:2] per the Arm ARM D8.3).
 */
export const L0_TABLE = 0x3n;
export const L1_TABLE = 0x3n;
export const L1_BLOCK = 0x1n;
export const L2_BLOCK = 0x1n;
export const L2_TABLE = 0x3n;
export const L3_PAGE = 0x3n;
export const ATTR_AF = 1n << 10n;
export const ATTR_SH_IS = 3n;
export const ATTR_SH = (x: bigint): bigint => x << 8n;
export const ATTR_S1_nG = 1n << 11n;
export const ATTR_S1_IDX = (x: bigint): bigint => x << 2n;
/** ATTR_DEFAULT = ATTR_AF | ATTR_SH(ATTR_SH_IS). */
export const ATTR_DEFAULT = ATTR_AF | ATTR_SH(ATTR_SH_IS);
/** VM_MEMATTR_UNCACHEABLE (sys/arm64/include/vm.h): MAIR index 1. */
export const VM_MEMATTR_UNCACHEABLE = 1n;
/** VM_MEMATTR_WRITE_BACK: MAIR index 2. */
export const VM_MEMATTR_WRITE_BACK = 2n;
/** Output-address mask of a table or block descriptor (48-bit PA, 4 KiB granule). */
export const ARM64_ADDR_MASK = 0x0000_ffff_ffff_f000n;
/** Index shifts of the four levels (4 KiB granule, 48-bit VA). */
export const L0_SHIFT = 39n;
export const L1_SHIFT = 30n;
export const L2_SHIFT = 21n;
export const L3_SHIFT = 12n;
