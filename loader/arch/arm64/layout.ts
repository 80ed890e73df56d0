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
import { kva, phys, size, SZ_4K } from '../../addr.js';

/** ELF e_machine for AArch64 (EM_AARCH64). */
export const EM_AARCH64 = 183;

export const KERNBASE = kva(0xffff_0000_0000_0000n);
/** VA of kernel file offset 0 (the kernel is linked so that file offset = VA - KERNBASE). */
export const KERNSTART = KERNBASE;
export const VM_MIN_KERNEL_ADDRESS = KERNBASE;
export const VM_MAX_KERNEL_ADDRESS = kva(0xffff_0080_0000_0000n);
export const DMAP_MIN_ADDRESS = kva(0xffff_a000_0000_0000n);
export const DMAP_MAX_ADDRESS = kva(0xffff_ff00_0000_0000n);
export const VM_MAX_USER_ADDRESS = phys(0x0001_0000_0000_0000n);

/** Translation granule and block sizes with 4 KiB pages (sys/arm64/include/pte.h). */
export const PAGE_SIZE = SZ_4K;
export const L2_SIZE = size(0x20_0000n);
export const L1_SIZE = size(0x4000_0000n);
export const L0_SIZE = size(0x80_0000_0000n);

/** Machine-dependent modinfo metadata types (sys/arm64/include/metadata.h): NOT amd64's numbers. */
export const MODINFOMD = {
  EFI_MAP: 0x1001,
  DTBP: 0x1002,
  EFI_FB: 0x1003,
} as const;

/** arm64 rescue reservations try below 4 GiB first, then anywhere below VM_MAX_USER_ADDRESS. */
export const RESCUE_PREFERRED_LIMIT = phys(0x1_0000_0000n);

/** GICv3 ITS / LPI table sizes (sys/arm64/arm64/gicv3_its.c, sys/arm/arm/gic_common.h). */
export const LPI_NIRQS = 65536;
export const GIC_FIRST_LPI = 8192;
/** 1 byte per LPI. */
export const LPI_CONFTAB_SIZE = size(0x1_0000n);
/** 1 bit per interrupt ID including SGI/PPI/SPI: (65536 + 8192) / 8 = 9216 bytes. */
export const LPI_PENDTAB_SIZE = size(BigInt((LPI_NIRQS + GIC_FIRST_LPI) / 8));
export const LPI_TABLE_ALIGN = size(0x1_0000n);
export const ITS_CMDQ_SIZE = size(0x1_0000n);

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

/**
 * SCTLR_EL1 bits (sys/arm64/include/armreg.h). SCTLR_RES1 is the ARMv8.0 reserved-one set.
 * `HOST_SCTLR_EL1` is what a running FreeBSD kernel has: RES1 plus locore's `sctlr_set`
 * (M, C, SA, SA0, CP15BEN, SED, I, DZE, UCT, nTWI, nTWE, UCI; LSMAOE, nTLSMD and SPAN are
 * bits 29, 28, 23, already in RES1) — sys/arm64/arm64/locore.S start_mmu.
 */
export const SCTLR_RES1 = 0x30d0_0800n;
export const SCTLR_M = 0x0000_0001n;
export const SCTLR_C = 0x0000_0004n;
export const SCTLR_SA = 0x0000_0008n;
export const SCTLR_SA0 = 0x0000_0010n;
export const SCTLR_CP15BEN = 0x0000_0020n;
export const SCTLR_SED = 0x0000_0100n;
export const SCTLR_I = 0x0000_1000n;
export const SCTLR_DZE = 0x0000_4000n;
export const SCTLR_UCT = 0x0000_8000n;
export const SCTLR_nTWI = 0x0001_0000n;
export const SCTLR_nTWE = 0x0004_0000n;
export const SCTLR_UCI = 0x0400_0000n;
export const HOST_SCTLR_EL1 =
  SCTLR_RES1 |
  SCTLR_UCI |
  SCTLR_nTWE |
  SCTLR_nTWI |
  SCTLR_UCT |
  SCTLR_DZE |
  SCTLR_I |
  SCTLR_SED |
  SCTLR_CP15BEN |
  SCTLR_SA0 |
  SCTLR_SA |
  SCTLR_C |
  SCTLR_M;

/**
 * TCR_EL1 fields (sys/arm64/include/armreg.h). A FreeBSD kernel runs with
 * TCR_TxSZ(64 - 48) | TCR_TG1_4K | TCR_CACHE_ATTRS | TCR_SMP_ATTRS and IPS copied from
 * ID_AA64MMFR0_EL1.PARange (locore.S start_mmu). `HOST_TCR_EL1` fixes IPS at 40 bits, the value
 * measured to work on Unicorn 2.0.1 (shared/spec/unicorn-system.md Q7: 0x2B5103510); locore
 * also sets TCR_ASID_16, which changes nothing while every TTBR's ASID field is 0 and is left
 * out here.
 */
export const TCR_T0SZ = (x: bigint): bigint => x;
export const TCR_T1SZ = (x: bigint): bigint => x << 16n;
export const TCR_IRGN0_WBWA = 1n << 8n;
export const TCR_ORGN0_WBWA = 1n << 10n;
export const TCR_SH0_IS = 3n << 12n;
export const TCR_IRGN1_WBWA = 1n << 24n;
export const TCR_ORGN1_WBWA = 1n << 26n;
export const TCR_SH1_IS = 3n << 28n;
export const TCR_TG1_4K = 2n << 30n;
export const TCR_IPS_40BIT = 2n << 32n;
export const HOST_TCR_EL1 =
  TCR_IPS_40BIT |
  TCR_TG1_4K |
  TCR_SH1_IS |
  TCR_ORGN1_WBWA |
  TCR_IRGN1_WBWA |
  TCR_T1SZ(16n) |
  TCR_SH0_IS |
  TCR_ORGN0_WBWA |
  TCR_IRGN0_WBWA |
  TCR_T0SZ(16n);

/**
 * MAIR_EL1 as locore.S programs it: MAIR_ATTR(attr, idx) = attr << 8·idx with
 * VM_MEMATTR_DEVICE (0) = Device-nGnRnE 0x00, VM_MEMATTR_UNCACHEABLE (1) = Normal NC 0x44,
 * VM_MEMATTR_WRITE_BACK (2) = Normal WB 0xff, VM_MEMATTR_WRITE_THROUGH (3) = Normal WT 0xbb
 * (markjdb/freebsd sys/arm64/arm64/locore.S `mair:`; newer kernels add Device-nGnRE at index 4).
 */
export const MAIR_DEVICE_nGnRnE = 0x00n;
export const MAIR_NORMAL_NC = 0x44n;
export const MAIR_NORMAL_WB = 0xffn;
export const MAIR_NORMAL_WT = 0xbbn;
export const MAIR_ATTR = (attr: bigint, idx: bigint): bigint => attr << (8n * idx);
/** VM_MEMATTR_DEVICE and VM_MEMATTR_WRITE_THROUGH (sys/arm64/include/vm.h): MAIR indexes 0 and 3. */
export const VM_MEMATTR_DEVICE = 0n;
export const VM_MEMATTR_WRITE_THROUGH = 3n;
export const HOST_MAIR_EL1 =
  MAIR_ATTR(MAIR_DEVICE_nGnRnE, VM_MEMATTR_DEVICE) |
  MAIR_ATTR(MAIR_NORMAL_NC, VM_MEMATTR_UNCACHEABLE) |
  MAIR_ATTR(MAIR_NORMAL_WB, VM_MEMATTR_WRITE_BACK) |
  MAIR_ATTR(MAIR_NORMAL_WT, VM_MEMATTR_WRITE_THROUGH);
/** TTBR1 covers VAs whose top 16 bits are all ones (T1SZ = 16); TTBR0 VAs below 2^48. */
export const TTBR1_VA_MIN = 0xffff_0000_0000_0000n;
export const TTBR0_VA_LIMIT = 0x0001_0000_0000_0000n;
