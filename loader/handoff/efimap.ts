/**
 * The UEFI memory map as FreeBSD passes it: the body of MODINFOMD_EFI_MAP (amd64 0x1004,
 * arm64 0x1001) and the rescue kernel's filtered copy at kp_efimapstart.
 * Spec: shared/spec/freebsd-handoff.md §1.3, §3.1, §8.3 (item 2 and 3).
 *
 * Contract:
 * - Body = `struct efi_map_header` (24 bytes: memory_size, descriptor_size,
 *   descriptor_version; sys/x86/include/metadata.h, sys/arm64/include/metadata.h), zero
 *   padding to 16 (descriptors start at 32), then `memory_size` bytes of descriptors, each
 *   `descriptor_size` bytes apart; the first 40 bytes of each are `struct efi_md`
 *   (sys/sys/efi.h). Readers step by descriptor_size, never by 40 (firmware uses 48).
 * - decodeEfiMap reads `floor(memory_size / descriptor_size)` descriptors, as the kernel's
 *   add_efi_map_entries does (sys/amd64/amd64/machdep.c), so a memory_size with a remainder
 *   — which the rescue copy always has, see below — is accepted; it bounds the count and
 *   the descriptor size and throws only HandoffError (fuzz contract).
 * - filterEfiMapForRescue / encodeRescueEfiMap reproduce rescue_kernel_init_efimap
 *   (markjdb/freebsd @bd74b35, sys/{amd64,arm64}/{amd64,arm64}/rescue_machdep.c):
 *   descriptors of a RAM type (efi_physmem_type: LOADER_CODE, LOADER_DATA, BS_CODE,
 *   BS_DATA, CONVENTIONAL; sys/sys/efi.h) are dropped, except that on amd64 one starting at
 *   PA 0 is copied unchanged (checked first), and one with
 *   `md_phys <= rescue_pa <= md_phys + ptoa(md_pages)` (inclusive end, u64 wrap-around) is
 *   copied with md_phys = rescue_pa and md_pages = atop(memsize), memsize being the whole
 *   reservation; every other descriptor is copied unchanged (all descriptor_size bytes).
 *   Several RAM descriptors may match (one ending at rescue_pa and one starting there):
 *   each becomes a copy of the reservation, as in the C code.
 * - The rescue header's memory_size is `end - start - sizeof(hdr)`: it subtracts 24 where
 *   the descriptors start at 32, so it is 8 bytes larger than the descriptors written
 *   (verified in both rescue_machdep.c files). The kernel's count, memory_size /
 *   descriptor_size, still comes out right because descriptor_size >= 40 > 8.
 *   encodeRescueEfiMap reproduces this; encodeEfiMap (the loader's format) does not.
 */
import { hex } from '../addr.js';
import type { Arch } from '../arch/index.js';
import { defineLayout, pad, u32, u64, type LayoutValues } from '../bytes/index.js';
import { checkIntRange, encodeStructInto, truncated } from './common.js';
import { SZ_4K, U64_LIMIT } from '../addr.js';
import { HandoffCode, HandoffError } from './errors.js';

/** `struct efi_map_header` (machine/metadata.h): 8 + 8 + 4, padded to 24 by its u64 alignment. */
export const EfiMapHeader = defineLayout(
  'efi_map_header',
  [
    u64('memorySize', { at: 0 }),
    u64('descriptorSize', { at: 8 }),
    u32('descriptorVersion', { at: 16 }),
    pad(4, { at: 20 }),
  ],
  { size: 24 },
);

/** `struct efi_md` (sys/sys/efi.h). */
export const EfiMd = defineLayout(
  'efi_md',
  [
    u32('mdType', { at: 0 }),
    pad(4, { at: 4 }),
    u64('mdPhys', { at: 8 }),
    u64('mdVirt', { at: 16 }),
    u64('mdPages', { at: 24 }),
    u64('mdAttr', { at: 32 }),
  ],
  { size: 40 },
);

/** sizeof(struct efi_map_header). */
export const EFI_MAP_HEADER_SIZE = EfiMapHeader.size;
/** Offset of the first descriptor: roundup2(sizeof(struct efi_map_header), 16) ("efisz"). */
export const EFI_MAP_DESCRIPTORS_OFFSET = Math.ceil(EfiMapHeader.size / 16) * 16;
/** sizeof(struct efi_md): the smallest valid descriptor_size. */
export const EFI_MD_SIZE = EfiMd.size;
/** EFI_PAGE_SIZE (sys/sys/efi.h): md_pages counts 4 KiB pages on every arch. */
export const EFI_PAGE_SIZE: bigint = SZ_4K;
/** EFI_MEMORY_DESCRIPTOR_VERSION (sys/sys/efi.h). */
export const EFI_MEMORY_DESCRIPTOR_VERSION = 1;

/** EFI_MD_TYPE_* (sys/sys/efi.h). */
export const EFI_MD_TYPE = {
  NULL: 0,
  CODE: 1,
  DATA: 2,
  BS_CODE: 3,
  BS_DATA: 4,
  RT_CODE: 5,
  RT_DATA: 6,
  FREE: 7,
  BAD: 8,
  RECLAIM: 9,
  FIRMWARE: 10,
  IOMEM: 11,
  IOPORT: 12,
  PALCODE: 13,
  PERSISTENT: 14,
} as const;

/** EFI_MD_ATTR_* (sys/sys/efi.h). */
export const EFI_MD_ATTR = {
  UC: 0x1n,
  WC: 0x2n,
  WT: 0x4n,
  WB: 0x8n,
  UCE: 0x10n,
  WP: 0x1000n,
  RP: 0x2000n,
  XP: 0x4000n,
  NV: 0x8000n,
  MORE_RELIABLE: 0x1_0000n,
  RO: 0x2_0000n,
  RT: 0x8000_0000_0000_0000n,
} as const;

/** Types efi_physmem_type() counts as RAM ("Can a memory range of this type be included in phys_avail[]?", sys/sys/efi.h). */
export const EFI_PHYSMEM_TYPES: readonly number[] = [
  EFI_MD_TYPE.CODE,
  EFI_MD_TYPE.DATA,
  EFI_MD_TYPE.BS_CODE,
  EFI_MD_TYPE.BS_DATA,
  EFI_MD_TYPE.FREE,
];

/** efi_physmem_type(): true for descriptor types the kernel adds to phys_avail[]. */
export function efiPhysmemType(type: number): boolean {
  return EFI_PHYSMEM_TYPES.includes(type);
}

/** One descriptor: the 40 bytes of `struct efi_md` (bytes past 40 are not modelled; see encodeRescueEfiMap). */
export type EfiMemoryDescriptor = LayoutValues<typeof EfiMd.fields>;

/** A decoded map. `memorySize` is the header's value, which may exceed the descriptors read. */
export interface EfiMap {
  readonly memorySize: bigint;
  readonly descriptorSize: number;
  readonly descriptorVersion: number;
  readonly descriptors: readonly EfiMemoryDescriptor[];
}

/** Input of encodeEfiMap. */
export interface EfiMapInput {
  /** Bytes per descriptor: >= 40, a multiple of 8; default 40. Bytes past 40 are written as zeros. */
  readonly descriptorSize?: number;
  /** Default EFI_MEMORY_DESCRIPTOR_VERSION (1). */
  readonly descriptorVersion?: number;
  readonly descriptors: readonly EfiMemoryDescriptor[];
}

/** Bounds for decodeEfiMap (and the source map read by encodeRescueEfiMap). */
export interface EfiMapLimits {
  /** Most descriptors accepted; default 4096. */
  readonly maxDescriptors?: number;
  /** Largest descriptor_size accepted; default 4096. */
  readonly maxDescriptorSize?: number;
}

/** Default decoder limits. */
export const DEFAULT_EFIMAP_LIMITS: Required<EfiMapLimits> = { maxDescriptors: 4096, maxDescriptorSize: 4096 };

function badDescriptorSize(size: bigint | number, why: string): HandoffError {
  return new HandoffError(
    HandoffCode.EfiMapBadDescriptorSize,
    `handoff: EFI map descriptor_size is unusable (${hex(size)}: ${why})`,
    {
      descriptorSize: size,
    },
  );
}

/** Encodes header, zero pad to 32, then the descriptors stepped by descriptorSize (memory_size = n * descriptorSize). */
export function encodeEfiMap(map: EfiMapInput): Uint8Array {
  const ds = map.descriptorSize ?? EFI_MD_SIZE;
  if (!Number.isSafeInteger(ds) || ds < EFI_MD_SIZE || ds % 8 !== 0 || ds > 0xffff_ffff) {
    throw badDescriptorSize(
      Number.isSafeInteger(ds) ? ds : 0,
      `need an integer >= ${hex(EFI_MD_SIZE)} and a multiple of 0x8`,
    );
  }
  const version = checkIntRange(
    map.descriptorVersion ?? EFI_MEMORY_DESCRIPTOR_VERSION,
    0,
    0xffff_ffff,
    'EFI map descriptor_version',
  );
  const n = map.descriptors.length;
  const out = new Uint8Array(EFI_MAP_DESCRIPTORS_OFFSET + n * ds);
  encodeStructInto(EfiMapHeader, out, 0, {
    memorySize: BigInt(n * ds),
    descriptorSize: BigInt(ds),
    descriptorVersion: version,
  });
  map.descriptors.forEach((d, i) => encodeStructInto(EfiMd, out, EFI_MAP_DESCRIPTORS_OFFSET + i * ds, d));
  return out;
}

interface RawMap {
  readonly header: LayoutValues<typeof EfiMapHeader.fields>;
  readonly descriptorSize: number;
  readonly count: number;
}

function readRawMap(bytes: Uint8Array, limits: EfiMapLimits): RawMap {
  const maxDescriptors = limits.maxDescriptors ?? DEFAULT_EFIMAP_LIMITS.maxDescriptors;
  const maxDescriptorSize = limits.maxDescriptorSize ?? DEFAULT_EFIMAP_LIMITS.maxDescriptorSize;
  const header = EfiMapHeader.decode(bytes, 0, truncated);
  if (header.descriptorSize < BigInt(EFI_MD_SIZE)) {
    throw badDescriptorSize(header.descriptorSize, `below sizeof(struct efi_md) ${hex(EFI_MD_SIZE)}`);
  }
  if (header.descriptorSize > BigInt(maxDescriptorSize)) {
    throw badDescriptorSize(header.descriptorSize, `above the limit ${hex(maxDescriptorSize)}`);
  }
  const ds = Number(header.descriptorSize);
  const count = header.memorySize / header.descriptorSize;
  if (count > BigInt(maxDescriptors)) {
    throw new HandoffError(
      HandoffCode.EfiMapTooLarge,
      `handoff: EFI map has too many descriptors (memory_size ${hex(header.memorySize)} / descriptor_size ${hex(ds)} = ${hex(count)}, limit ${hex(maxDescriptors)})`,
      { memorySize: header.memorySize, descriptorSize: ds, count, maxDescriptors },
    );
  }
  const n = Number(count);
  const need = EFI_MAP_DESCRIPTORS_OFFSET + n * ds;
  if (n > 0 && need > bytes.length) {
    throw truncated({
      offset: EFI_MAP_DESCRIPTORS_OFFSET,
      width: n * ds,
      length: bytes.length,
      what: `${n} EFI descriptors`,
    });
  }
  return { header, descriptorSize: ds, count: n };
}

/**
 * Decodes a MODINFOMD_EFI_MAP body. Throws HANDOFF_TRUNCATED, HANDOFF_EFIMAP_BAD_DESCRIPTOR_SIZE
 * (below 40 or above the limit; a size that is not a multiple of 8 is accepted, as the
 * kernel accepts it), HANDOFF_EFIMAP_TOO_LARGE.
 */
export function decodeEfiMap(bytes: Uint8Array, limits: EfiMapLimits = {}): EfiMap {
  const { header, descriptorSize, count } = readRawMap(bytes, limits);
  const descriptors = Array.from({ length: count }, (_, i) =>
    EfiMd.decode(bytes, EFI_MAP_DESCRIPTORS_OFFSET + i * descriptorSize, truncated),
  );
  return {
    memorySize: header.memorySize,
    descriptorSize,
    descriptorVersion: header.descriptorVersion,
    descriptors,
  };
}

/**
 * Per-arch policy of rescue_kernel_init_efimap: amd64 copies RAM descriptors that start at
 * PA 0 unchanged (the BIOS area; amd64 rescue_machdep.c tests `md_phys == 0` first); arm64
 * has no such case (arm64 rescue_machdep.c).
 */
const RESCUE_EFIMAP_POLICY: { readonly [A in Arch]: { readonly keepRamAtZero: boolean } } = {
  amd64: { keepRamAtZero: true },
  arm64: { keepRamAtZero: false },
};

/** What rescue_kernel_init_efimap does with one descriptor. */
export type RescueEfiMapAction = 'copy' | 'rewrite' | 'drop';

/** The rescue rule for one descriptor (see the module header). */
export function rescueEfiMapAction(
  d: Pick<EfiMemoryDescriptor, 'mdType' | 'mdPhys' | 'mdPages'>,
  rescuePa: bigint,
  arch: Arch,
): RescueEfiMapAction {
  if (!efiPhysmemType(d.mdType)) return 'copy';
  if (RESCUE_EFIMAP_POLICY[arch].keepRamAtZero && d.mdPhys === 0n) return 'copy';
  // md_phys + ptoa(md_pages) in C unsigned long: wraps modulo 2^64
  const end = (d.mdPhys + d.mdPages * EFI_PAGE_SIZE) % U64_LIMIT;
  return d.mdPhys <= rescuePa && end >= rescuePa ? 'rewrite' : 'drop';
}

function checkRescueArgs(rescuePa: bigint, memsize: bigint): void {
  for (const [what, v] of [
    ['rescue_pa', rescuePa],
    ['rescue memsize', memsize],
  ] as const) {
    if (v < 0n || v >= U64_LIMIT) {
      throw new HandoffError(HandoffCode.ValueRange, `handoff: ${what} does not fit in u64 (${hex(v)})`, {
        what,
        value: v,
      });
    }
  }
}

/**
 * The descriptors rescue_kernel_init_efimap keeps, in order: RAM descriptors dropped except
 * the ones containing rescue_pa (rewritten to `{ mdPhys: rescuePa, mdPages: memsize / 4K }`)
 * and, on amd64, those starting at PA 0; non-RAM descriptors unchanged.
 * `memsize` is the whole reservation size (rescue_kernel_init's `memsize`).
 */
export function filterEfiMapForRescue(
  descriptors: readonly EfiMemoryDescriptor[],
  rescuePa: bigint,
  memsize: bigint,
  arch: Arch,
): EfiMemoryDescriptor[] {
  checkRescueArgs(rescuePa, memsize);
  const out: EfiMemoryDescriptor[] = [];
  for (const d of descriptors) {
    const action = rescueEfiMapAction(d, rescuePa, arch);
    if (action === 'copy') out.push(d);
    else if (action === 'rewrite') out.push({ ...d, mdPhys: rescuePa, mdPages: memsize / EFI_PAGE_SIZE });
  }
  return out;
}

/** Where the rescue copy is built. */
export interface RescueEfiMapOptions {
  /** PA of the reservation (rescue_pa). */
  readonly rescuePa: bigint;
  /** Size of the whole reservation (rescue_kernel_init's memsize). */
  readonly memsize: bigint;
  readonly arch: Arch;
  /** Bounds for reading the source map. */
  readonly limits?: EfiMapLimits;
}

/**
 * The exact bytes rescue_kernel_init_efimap writes at its `off` (kp_efimaplen of them),
 * from the host's MODINFOMD_EFI_MAP body `source`: the source header with memory_size
 * replaced by `length - 24` (8 bytes too large, faithfully), 8 zero bytes (the reservation
 * is M_ZERO and the pad is never written), then the kept descriptors, each a raw
 * `descriptor_size`-byte copy of the source (bytes past 40 included) with md_phys/md_pages
 * patched when rewritten. Throws like decodeEfiMap.
 */
export function encodeRescueEfiMap(source: Uint8Array, opts: RescueEfiMapOptions): Uint8Array {
  checkRescueArgs(opts.rescuePa, opts.memsize);
  const { descriptorSize: ds, count } = readRawMap(source, opts.limits ?? {});
  const kept: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const at = EFI_MAP_DESCRIPTORS_OFFSET + i * ds;
    const d = EfiMd.decode(source, at, truncated);
    const action = rescueEfiMapAction(d, opts.rescuePa, opts.arch);
    if (action === 'drop') continue;
    const raw = source.slice(at, at + ds);
    if (action === 'rewrite') {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      dv.setBigUint64(EfiMd.offsets.mdPhys, opts.rescuePa, true);
      dv.setBigUint64(EfiMd.offsets.mdPages, opts.memsize / EFI_PAGE_SIZE, true);
    }
    kept.push(raw);
  }
  const out = new Uint8Array(EFI_MAP_DESCRIPTORS_OFFSET + kept.length * ds);
  out.set(source.subarray(0, EFI_MAP_HEADER_SIZE), 0); // memcpy(&hdr, srchdr, sizeof(hdr))
  kept.forEach((raw, i) => out.set(raw, EFI_MAP_DESCRIPTORS_OFFSET + i * ds));
  // hdr.memory_size = end - start - sizeof(hdr): 8 more than the descriptors written
  new DataView(out.buffer).setBigUint64(
    EfiMapHeader.offsets.memorySize,
    BigInt(out.length - EFI_MAP_HEADER_SIZE),
    true,
  );
  return out;
}
