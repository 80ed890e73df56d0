/**
 * Probe-kernel layout: where its code and its report live, the report struct (declared once
 * here and read by the code generators, the decoder and the docs), and the probe's constants.
 *
 *   file offset = VA - KERNSTART (amd64 KERNSTART = KERNBASE + 2 MiB; arm64 KERNSTART = KERNBASE),
 *   so the same offsets hold in the file, in the loaded image and from the load PA:
 *
 *   0x0000  ELF and program headers (not loaded by a PT_LOAD; present in rescue hand-offs,
 *           which copy the whole file to reservation + 2 MiB)
 *   0x1000  PROBE_TEXT_OFFSET: PT_LOAD R-X: `_start` (the entry), code, message, hex digits,
 *           `_edata`; the checksum covers [_start, _edata)
 *   0x3000  PROBE_REPORT_OFFSET: PT_LOAD RW-, all BSS (p_filesz 0): `probe_report`, one page
 *   0x4000  `_end`
 *
 * The report VA is KERNSTART + PROBE_REPORT_OFFSET; its PA is the kernel's load PA (where
 * file offset 0 lands: rescue_pa + 2 MiB in a rescue hand-off) + PROBE_REPORT_OFFSET.
 * Spec of the entry conventions: shared/spec/freebsd-handoff.md §2.1, §2.4, §8.4, §8.5, §10.
 * In rescue mode the report also holds what the rescue kernel reads (§8.3, §10.2, §10.3;
 * markjdb/freebsd @bd74b35 sys/{amd64,arm64}/{amd64,arm64}/machdep.c rescue_preload_init):
 * the whole `struct rescue_kernel_params`, and the first PROBE_FOLLOW_BYTES of the kenv and of
 * the firmware map its pointers name (PROBE_FIRMWARE_SOURCES), each capped at its *len field.
 */
import { size } from '../../loader/addr.js';
import { defineLayout, pad, u32, u64, u64array, bytes } from '../../loader/bytes/index.js';
import type { Arch } from '../../loader/arch/index.js';
import {
  AMD64_RESCUE_KERNEL_PARAMS_SIZE,
  ARM64_RESCUE_KERNEL_PARAMS_SIZE,
  type RescueParamsLayout,
} from '../../loader/handoff/params.js';

/** File offset (= offset from KERNSTART) of `_start` and the text segment. */
export const PROBE_TEXT_OFFSET = 0x1000;
/** File offset (= offset from KERNSTART and from the load PA) of the report page. */
export const PROBE_REPORT_OFFSET = 0x3000;
/** Bytes of the report area (one page of BSS). */
export const PROBE_REPORT_AREA = size(0x1000n);
/** Most bytes of code and constants the text segment may hold. */
export const PROBE_TEXT_MAX = PROBE_REPORT_OFFSET - PROBE_TEXT_OFFSET;
/** Bytes of the hand-off the probe copies into its report. */
export const PROBE_HANDOFF_BYTES = 64;

/** "KBPROBE1" read as a little-endian u64. */
export const PROBE_MAGIC = 0x3145_424f_5250_424bn;
export const PROBE_VERSION = 3;

/** Bytes of the report's `params` area: the larger struct rescue_kernel_params (arm64, 168). */
export const PROBE_PARAMS_BYTES = Math.max(AMD64_RESCUE_KERNEL_PARAMS_SIZE, ARM64_RESCUE_KERNEL_PARAMS_SIZE);
/** Most bytes of the kenv and of the firmware map the probe copies (each capped at its *len field). */
export const PROBE_FOLLOW_BYTES = 256;

/** Which firmware map the probe followed: the report's numeric `firmwareKind`. */
export type ProbeFirmwareKind = 'none' | 'efi' | 'smap' | 'fdt';
export const PROBE_FIRMWARE_KIND = { none: 0, efi: 1, smap: 2, fdt: 3 } as const satisfies Record<
  ProbeFirmwareKind,
  number
>;

/** A firmware map the params may point to: its kind and its (PA, length) fields. */
export interface ProbeFirmwareSource<A extends Arch> {
  readonly kind: Exclude<ProbeFirmwareKind, 'none'>;
  readonly start: keyof RescueParamsLayout<A>['offsets'];
  readonly len: keyof RescueParamsLayout<A>['offsets'];
}

/**
 * The firmware map the probe copies, first non-zero start wins, as rescue_preload_init picks
 * it: amd64 the EFI map (kp_efimapstart) else the SMAP (kp_smapstart) (§10.2 step 4); arm64
 * the DTB (kp_dtbstart) else the EFI map (kp_efimapstart) (§10.3 step 4).
 */
export const PROBE_FIRMWARE_SOURCES: { readonly [A in Arch]: readonly ProbeFirmwareSource<A>[] } = {
  amd64: [
    { kind: 'efi', start: 'kpEfimapstart', len: 'kpEfimaplen' },
    { kind: 'smap', start: 'kpSmapstart', len: 'kpSmaplen' },
  ],
  arm64: [
    { kind: 'fdt', start: 'kpDtbstart', len: 'kpDtblen' },
    { kind: 'efi', start: 'kpEfimapstart', len: 'kpEfimaplen' },
  ],
};

/** How the probe was entered, which decides where it looks for its hand-off. */
export type ProbeMode = 'rescue' | 'kexec';
/** The report's numeric `mode`. */
export const PROBE_MODE_VALUE = { rescue: 0, kexec: 1 } as const satisfies Record<ProbeMode, number>;

/**
 * Report `flags`: each stage ORs its bit in when it has finished, so a run that stopped
 * early shows how far it got. All report fields are final once CHECKSUM is set; UART is
 * set after the console line, just before the halt loop.
 */
export const PROBE_FLAG = {
  /** Registers, system registers, page-table root and the header fields are recorded. */
  REGS: 1 << 0,
  /** The boot arguments are recorded (amd64: 4(%rsp), 8(%rsp); arm64: x0). */
  BOOT_ARGS: 1 << 1,
  /** The first PROBE_HANDOFF_BYTES of the hand-off are copied. */
  HANDOFF: 1 << 2,
  /**
   * The params, kenv and firmware areas are final: zeroed, then (rescue mode) filled from
   * struct rescue_kernel_params and the kenv and firmware map it points to.
   */
  PARAMS: 1 << 5,
  /** The image checksum is stored. */
  CHECKSUM: 1 << 3,
  /** The console line was written. */
  UART: 1 << 4,
} as const;
/** Every flag: a run that reached the halt loop. */
export const PROBE_FLAGS_ALL = Object.values(PROBE_FLAG).reduce((a, b) => a | b, 0);

/**
 * The report the probe writes at PROBE_REPORT_OFFSET. Little-endian, both arches. `gpr` and
 * `sys` hold the incoming registers in the order of PROBE_GPR_NAMES / PROBE_SYS_NAMES.
 */
export const ProbeReportLayout = defineLayout(
  'kboot.probe_report',
  [
    u64('magic', { at: 0 }),
    u32('version', { at: 8 }),
    /** ELF e_machine of the probe (62 amd64, 183 arm64). */
    u32('machine', { at: 12 }),
    u32('flags', { at: 16 }),
    /** PROBE_MODE_VALUE. */
    u32('mode', { at: 20 }),
    /** `_start` as the probe computed it PC-relatively: the address it ran at. */
    u64('entryPc', { at: 24 }),
    u64array('gpr', 32, { at: 32 }),
    u64array('sys', 8, { at: 288 }),
    /** amd64: CR3 & ~0xfff; arm64: TTBR0_EL1 BADDR (bits 47:1). */
    u64('ptRoot', { at: 352 }),
    /** amd64: the 32-bit words at 4(%rsp) (modulep) and 8(%rsp) (kernend); arm64: x0 (modulep), 0. */
    u64array('bootArgs', 2, { at: 360 }),
    /** The address the hand-off bytes were read from. */
    u64('handoffAddr', { at: 376 }),
    bytes('handoff', PROBE_HANDOFF_BYTES, { at: 384 }),
    /** FNV-1a 64 over [checksumStart, checksumEnd). */
    u64('checksum', { at: 448 }),
    u64('checksumStart', { at: 456 }),
    u64('checksumEnd', { at: 464 }),
    /** amd64: the 16550 I/O port; arm64: the PL011 MMIO address. */
    u64('uartBase', { at: 472 }),
    /** PROBE_FIRMWARE_KIND of the map copied into `firmware`. */
    u32('firmwareKind', { at: 480 }),
    /** Bytes of `params` copied: sizeof(struct rescue_kernel_params) in rescue mode, else 0. */
    u32('paramsLen', { at: 484 }),
    /** Bytes of `kenv` copied: min(kp_kenvlen, PROBE_FOLLOW_BYTES), 0 when kp_kenvstart is 0. */
    u32('kenvLen', { at: 488 }),
    /** Bytes of `firmware` copied: min(its *len field, PROBE_FOLLOW_BYTES), 0 for none. */
    u32('firmwareLen', { at: 492 }),
    /** kp_kenvstart: the PA the kenv was read from. */
    u64('kenvAddr', { at: 496 }),
    /** The PA the firmware map was read from (0 for none). */
    u64('firmwareAddr', { at: 504 }),
    /** struct rescue_kernel_params as read at handoffAddr; zero past paramsLen. */
    bytes('params', PROBE_PARAMS_BYTES, { at: 512 }),
    /** The kenv's first bytes; zero past kenvLen. */
    bytes('kenv', PROBE_FOLLOW_BYTES, { at: 680 }),
    /** The firmware map's first bytes; zero past firmwareLen. */
    bytes('firmware', PROBE_FOLLOW_BYTES, { at: 936 }),
    /** The GIC check (`--gic`, rescue mode): CPU 0's redistributor RD_base it read; 0 when built without. */
    u64('gicrBase', { at: 1192 }),
    /** GICR_CTLR as read (the gic status word; bit 0 EnableLPIs). */
    u32('gicCtlr', { at: 1200 }),
    /** PROBE_ITS_OUTCOME: what FreeBSD's gicv3_its would do; 0 when the check did not run or finish. */
    u32('itsOutcome', { at: 1204 }),
    /** GICR_PROPBASER as read (LPIs enabled). */
    u64('propbaser', { at: 1208 }),
    /** CPU 0's GICR_PENDBASER as read (LPIs enabled). */
    u64('pendbaser0', { at: 1216 }),
    /** LPI tables found excluded (and, for PROPBASER, mapped) before the verdict. */
    u32('itsChecked', { at: 1224 }),
    /** The CPU whose PENDBASER failed (pendbaser-not-reserved). */
    u32('itsFailCpu', { at: 1228 }),
    /** The first table address that failed (0 unless a panic outcome). */
    u64('itsFailAddr', { at: 1232 }),
    /** kp_fwhandle as found after the params (0 without the KBFWHNDL magic). */
    u64('fwHandle', { at: 1240 }),
    /** PROBE_ITS_EXCLUDED bits: what excluded the tables found. */
    u32('itsExcludedBy', { at: 1248 }),
    pad(4, { at: 1252 }),
  ],
  { size: 1256 },
);

/** The report's `itsOutcome` (FreeBSD sys/arm64/arm64/gicv3_its.c panics, by register). */
export const PROBE_ITS_OUTCOME = {
  'not-checked': 0,
  'lpis-off': 1,
  'reuse-ok': 2,
  'propbaser-not-reserved': 3,
  'pendbaser-not-reserved': 4,
  'propbaser-not-mapped': 5,
} as const;
export type ProbeItsOutcome = keyof typeof PROBE_ITS_OUTCOME;
/** The report's `itsExcludedBy` bits. */
export const PROBE_ITS_EXCLUDED = { memreserve: 1, 'fdt-reserved-memory': 2 } as const;
/** Most redistributors the probe walks (GICR_TYPER.Last ends the walk earlier). */
export const PROBE_GICR_MAX = 512;
/** Bounds of the probe's hand-off walks (as loader/handoff/memreserve.ts DEFAULT_LIMITS). */
export const PROBE_WALK_LIMITS = {
  configEntries: 256,
  chain: 64,
  entriesPerRecord: 4096,
  fdtTokens: 1 << 16,
  efiMapBytes: 1 << 20,
} as const;
/** The QEMU `virt` GICv3 redistributor base (hw/arm/virt.c VIRT_GIC_REDIST): `--gic`'s default. */
export const PROBE_GICR_DEFAULT = 0x080a_0000n;

/** First byte of the areas the PARAMS stage zeroes and fills (to the end of the report). */
export const PROBE_FOLLOW_START = ProbeReportLayout.offsets.firmwareKind;

/** Names of the `gpr` slots: amd64 in encoding order (rsp = slot 4), arm64 x0..x30 then sp. */
// prettier-ignore
export const PROBE_GPR_NAMES = {
  amd64: [
    'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
    'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  ],
  arm64: [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp'],
} as const satisfies Record<Arch, readonly string[]>;

/** Names of the `sys` slots. amd64 EFER is MSR 0xc0000080 (Intel SDM Vol. 4 Table 2-2). */
export const PROBE_SYS_NAMES = {
  amd64: ['cr0', 'cr3', 'cr4', 'efer'],
  arm64: ['currentel', 'sctlr_el1', 'ttbr0_el1', 'ttbr1_el1', 'tcr_el1', 'mair_el1', 'daif', 'vbar_el1'],
} as const satisfies Record<Arch, readonly string[]>;

/**
 * Console defaults. amd64: COM1, the 16550 at I/O port 0x3f8 (the PC convention; FreeBSD's
 * uart(4) hints `hint.uart.0.port="0x3F8"`). arm64: the PL011 of QEMU's `virt` machine at
 * 0x0900_0000 (QEMU hw/arm/virt.c VIRT_UART), data register UARTDR at offset 0 (Arm PL011
 * TRM, DDI 0183, §3.3.1). The probe writes bytes without polling the FIFO status.
 */
export const PROBE_UART_DEFAULT = { amd64: 0x3f8n, arm64: 0x0900_0000n } as const satisfies Record<Arch, bigint>;
/** The largest console address per arch: an I/O port on amd64, a 48-bit PA on arm64. */
export const PROBE_UART_MAX = { amd64: 0xffffn, arm64: 0xffff_ffff_ffffn } as const satisfies Record<Arch, bigint>;

/** FNV-1a 64 parameters (Fowler/Noll/Vo, draft-eastlake-fnv §2: offset basis and prime). */
export const FNV1A64 = { offsetBasis: 0xcbf2_9ce4_8422_2325n, prime: 0x100_0000_01b3n } as const;

/** amd64 CR3 bits that are not the PML4 frame (PCID/PWT/PCD, bits 11:0). */
export const AMD64_CR3_FLAGS_MASK = 0xfff;
/** arm64 TTBR BADDR: bits 47:1 (ASID in 63:48 and CnP in bit 0 cleared; Arm ARM D17.2 TTBR0_EL1). */
export const ARM64_TTBR_BADDR_MASK = 0x0000_ffff_ffff_fffen;
/** amd64 IA32_EFER MSR number (Intel SDM Vol. 4 Table 2-2). */
export const AMD64_MSR_EFER = 0xc000_0080;
/**
 * Step by which the arm64 probe cleans its report to the point of coherency (DC CIVAC). 16
 * bytes is at most the smallest data-cache line in use (CTR_EL0.DminLine; 64 is usual), so
 * every line of the report is cleaned without reading CTR_EL0.
 */
export const ARM64_CLEAN_STEP = 16;

/** The GIC-check report fields of a probe built without `--gic` (all zero). */
export const PROBE_ITS_FIELDS_ZERO = {
  gicrBase: 0n,
  gicCtlr: 0,
  itsOutcome: 0,
  propbaser: 0n,
  pendbaser0: 0n,
  itsChecked: 0,
  itsFailCpu: 0,
  itsFailAddr: 0n,
  fwHandle: 0n,
  itsExcludedBy: 0,
} as const;
