/**
 * Crash-dump structs, each declared once with its size asserted, and the constants of the
 * dump formats, each with its FreeBSD source.
 *
 * Contract: pure declarations.
 *   KernelDumpHeader   struct kerneldumpheader v4 (sys/sys/kerneldump.h): 512 bytes, big-endian
 *   Amd64MinidumpHdr   struct minidumphdr (sys/amd64/include/minidump.h): 72 bytes, little-endian
 *   Arm64MinidumpHdr   struct minidumphdr (sys/arm64/include/minidump.h, lib/libkvm/kvm_aarch64.h): 80 bytes
 * Strings of the kerneldumpheader are raw NUL-padded `bytes` fields so the encoder controls
 * truncation exactly as strlcpy does (kerneldumpheader.ts).
 */
import { bytes, cstring, defineLayout, pad, u32, u64, u8 } from '../loader/bytes/index.js';
import type { Arch } from '../loader/arch/index.js';
import * as amd64 from '../loader/arch/amd64/layout.js';
import * as arm64 from '../loader/arch/arm64/layout.js';

/** struct kerneldumpheader, version 4 (sys/sys/kerneldump.h). All integers big-endian. */
export const KernelDumpHeader = defineLayout(
  'struct kerneldumpheader',
  [
    bytes('magic', 20, { at: 0 }),
    bytes('architecture', 12, { at: 20 }),
    u32('version', { at: 32 }),
    u32('architectureversion', { at: 36 }),
    u64('dumplength', { at: 40 }),
    u64('dumptime', { at: 48 }),
    u32('dumpkeysize', { at: 56 }),
    u32('blocksize', { at: 60 }),
    bytes('hostname', 64, { at: 64 }),
    bytes('versionstring', 192, { at: 128 }),
    bytes('panicstring', 175, { at: 320 }),
    u8('compression', { at: 495 }),
    u64('dumpextent', { at: 496 }),
    pad(4, { at: 504 }),
    u32('parity', { at: 508 }),
  ] as const,
  { size: 512, endian: 'be' },
);

/** struct minidumphdr, amd64 (sys/amd64/include/minidump.h). Little-endian (libkvm le32toh). */
export const Amd64MinidumpHdr = defineLayout(
  'amd64 struct minidumphdr',
  [
    cstring('magic', 24, { at: 0 }),
    u32('version', { at: 24 }),
    u32('msgbufsize', { at: 28 }),
    u32('bitmapsize', { at: 32 }),
    u32('pmapsize', { at: 36 }),
    u64('kernbase', { at: 40 }),
    u64('dmapbase', { at: 48 }),
    u64('dmapend', { at: 56 }),
    u32('dumpavailsize', { at: 64 }),
    pad(4, { at: 68 }),
  ] as const,
  { size: 72 },
);

/** struct minidumphdr, arm64 v3 (sys/arm64/include/minidump.h). Little-endian. */
export const Arm64MinidumpHdr = defineLayout(
  'arm64 struct minidumphdr',
  [
    cstring('magic', 24, { at: 0 }),
    u32('version', { at: 24 }),
    u32('msgbufsize', { at: 28 }),
    u32('bitmapsize', { at: 32 }),
    u32('pmapsize', { at: 36 }),
    u64('kernbase', { at: 40 }),
    u64('dmapphys', { at: 48 }),
    u64('dmapbase', { at: 56 }),
    u64('dmapend', { at: 64 }),
    u32('dumpavailsize', { at: 72 }),
    u32('flags', { at: 76 }),
  ] as const,
  { size: 80 },
);

/** kerneldumpheader constants (sys/sys/kerneldump.h). */
export const KDH = {
  MAGIC: 'FreeBSD Kernel Dump',
  TEXT_MAGIC: 'FreeBSD Text Dump',
  CLEARED_MAGIC: 'Cleared Kernel Dump',
  VERSION: 4,
  /** dump_init_header: versionstring[190] = '\n' when the kernel version was truncated (kern_shutdown.c). */
  VERSION_TRUNC_MARK_AT: 190,
} as const;

/** KERNELDUMP_COMP_* (sys/sys/kerneldump.h). */
export const KerneldumpComp = { NONE: 0, GZIP: 1, ZSTD: 2 } as const;
export type KerneldumpCompression = keyof typeof KerneldumpComp;

/** MACHINE_ARCH and KERNELDUMP_*_VERSION per arch (sys/*\/include/param.h, sys/sys/kerneldump.h). */
export const KDH_ARCH: { readonly [A in Arch]: { readonly machineArch: string; readonly archVersion: number } } = {
  amd64: { machineArch: 'amd64', archVersion: 2 },
  arm64: { machineArch: 'aarch64', archVersion: 1 },
} as const;

/** Minidump constants (sys/{amd64,arm64}/include/minidump.h, lib/libkvm). */
export const MINIDUMP = {
  MAGIC: { amd64: 'minidump FreeBSD/amd64', arm64: 'minidump FreeBSD/arm64' },
  /** MINIDUMP_VERSION on both arches (amd64 v3: dump_avail; arm64 v3: flags). */
  VERSION: 3,
  /** The first 8 bytes libkvm's _kvm_is_minidump() checks. */
  PREFIX: 'minidump',
  /** MINIDUMP_FLAG_PS_4K / PS_16K / mask (sys/arm64/include/minidump.h). */
  FLAG_PS_4K: 0,
  FLAG_PS_16K: 1,
  FLAG_PS_MASK: 3,
  PAGE_4K: 0x1000,
  PAGE_16K: 0x4000,
  /**
   * Bytes of dump_avail[] the rescue kernel copies: sizeof(dump_avail) = PHYS_AVAIL_COUNT · 8.
   * 130 entries is the host model's choice (loader/kernel-abi/structs.ts HOST.DUMP_AVAIL_COUNT). UNVERIFIED per branch.
   */
  DUMP_AVAIL_BYTES: 130 * 8,
} as const;

/**
 * amd64 paging facts the dumper and libkvm use, from the one declaration in
 * loader/arch/amd64/layout.ts (sys/amd64/include/pmap.h, param.h); the shifts are log2 of
 * NBPDR / NBPDP / NBPML4 (param.h PDRSHIFT, PDPSHIFT, PML4SHIFT).
 */
export const AMD64_PTE = {
  PG_V: amd64.PG_V,
  PG_PS: amd64.PG_PS,
  PG_FRAME: amd64.PG_FRAME,
  /** PG_PS_FRAME: the frame of a 2 MiB leaf. */
  PG_PS_FRAME: amd64.PG_FRAME & ~(amd64.NBPDR - 1n),
  NBPDR: amd64.NBPDR as bigint,
  NBPDP: amd64.NBPDP as bigint,
  PDR_SHIFT: 21n,
  PDP_SHIFT: 30n,
  PML4_SHIFT: 39n,
} as const;

/** arm64 descriptor facts (loader/arch/arm64/layout.ts, sys/arm64/include/pte.h) plus libkvm's mask. */
export const ARM64_PTE = {
  /** AARCH64_ATTR_MASK (lib/libkvm/kvm_aarch64.h): the attribute bits around the output address. */
  ATTR_MASK: 0xfffc_0000_0000_0fffn,
  DESCR_MASK: 0x3n,
  /** *_TABLE and L3_PAGE share the value 3; L1/L2 blocks are 1 (pte.h). */
  TABLE: arm64.L1_TABLE,
  BLOCK: arm64.L1_BLOCK,
  L3_PAGE: arm64.L3_PAGE,
  L1_SIZE: arm64.L1_SIZE as bigint,
  L2_SIZE: arm64.L2_SIZE as bigint,
  L0_SHIFT: arm64.L0_SHIFT,
  L1_SHIFT: arm64.L1_SHIFT,
  L2_SHIFT: arm64.L2_SHIFT,
} as const;

/** ELF full dump (sys/kern/kern_dump.c dumpsys_generic): ELFOSABI_STANDALONE, PT_LOAD p_flags = PF_R. */
export const ELF_DUMP = {
  OSABI_STANDALONE: 255,
} as const;
