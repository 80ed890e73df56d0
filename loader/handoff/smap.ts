/**
 * The BIOS E820 memory map ("SMAP") as FreeBSD/amd64 passes it: the body of MODINFOMD_SMAP
 * (0x1001) and the rescue kernel's one-entry copy at kp_smapstart.
 * Spec: shared/spec/freebsd-handoff.md §3.2, §8.3, §10.2.
 *
 * Contract:
 * - `struct bios_smap` is packed: base u64 @0, length u64 @8, type u32 @16, 20 bytes;
 *   `struct bios_smap_xattr` adds xattr u32 @20, 24 bytes (machine/pc/bios.h). The body is a
 *   plain array with no count; its length comes from the record size (kboot bi_loadsmap:
 *   `n * sizeof(struct bios_smap)`). decodeSmap requires a multiple of 20 and throws only
 *   HandoffError (fuzz contract).
 * - rescueSmap reproduces rescue_kernel_init (markjdb/freebsd @bd74b35,
 *   sys/amd64/amd64/rescue_machdep.c) when the host has no EFI map: ONE entry
 *   `{ base: rescue_pa, length: memsize, type: SMAP_TYPE_MEMORY }` (20 bytes written) and
 *   `kp_smaplen = sizeof(struct bios_smap) + sizeof(uint32_t)` = 24.
 * - The kernel walks the SMAP with `for (smap = base; smap < base + size; smap++)`
 *   (bios_add_smap_entries, sys/amd64/amd64/machdep.c @bd74b35), so with size 24 it reads
 *   a second, phantom entry at offset 20 whose bytes lie past the one written (in the
 *   rescue kernel: 4 bytes of kenv copied with the record, then the next metadata record).
 *   smapWalkOffsets shows the walk. The phantom's type is the high half of the next
 *   record's first u64 value (KERNEND, a small number), so it is 0 and the entry is
 *   skipped — harmless in practice, but the count is NOT `size / 20`.
 */
import { hex } from '../addr.js';
import { defineLayout, u32, u64, type LayoutValues } from '../bytes/index.js';
import { encodeStruct, encodeStructInto, truncated } from './common.js';
import { HandoffCode, HandoffError } from './errors.js';

/** `struct bios_smap` (__packed). */
export const BiosSmap = defineLayout(
  'bios_smap',
  [u64('base', { at: 0 }), u64('length', { at: 8 }), u32('type', { at: 16 })],
  { size: 20 },
);

/** `struct bios_smap_xattr` (__packed): bios_smap plus the ACPI 3.0 extended attributes. */
export const BiosSmapXattr = defineLayout(
  'bios_smap_xattr',
  [u64('base', { at: 0 }), u64('length', { at: 8 }), u32('type', { at: 16 }), u32('xattr', { at: 20 })],
  { size: 24 },
);

/** sizeof(struct bios_smap). */
export const BIOS_SMAP_SIZE = BiosSmap.size;
/** sizeof(struct bios_smap_xattr). */
export const BIOS_SMAP_XATTR_SIZE = BiosSmapXattr.size;
/** kp_smaplen as rescue_kernel_init sets it: sizeof(struct bios_smap) + sizeof(uint32_t). */
export const RESCUE_SMAP_LEN = BIOS_SMAP_SIZE + 4;
/** SMAP_SIG, 'SMAP' (machine/pc/bios.h). */
export const SMAP_SIG = 0x534d_4150;

/**
 * SMAP_TYPE_* (sys/amd64/include/pc/bios.h; DISABLED, PMEM and PRAM are in the current
 * header, read in the freebsd-src fork kenrap/freebsd-src @f30bcb1).
 */
export const SMAP_TYPE = {
  MEMORY: 1,
  RESERVED: 2,
  ACPI_RECLAIM: 3,
  ACPI_NVS: 4,
  ACPI_ERROR: 5,
  DISABLED: 6,
  PMEM: 7,
  PRAM: 12,
} as const;

/** SMAP_XATTR_* (machine/pc/bios.h). */
export const SMAP_XATTR = {
  ENABLED: 0x1,
  NON_VOLATILE: 0x2,
} as const;

/** One E820 entry. */
export type BiosSmapEntry = LayoutValues<typeof BiosSmap.fields>;
/** One E820 entry with extended attributes. */
export type BiosSmapXattrEntry = LayoutValues<typeof BiosSmapXattr.fields>;

/** Bounds for decodeSmap. */
export interface SmapLimits {
  /** Most entries accepted; default 1024. */
  readonly maxEntries?: number;
}

/** Default decoder limits. */
export const DEFAULT_SMAP_LIMITS: Required<SmapLimits> = { maxEntries: 1024 };

/** Encodes the entries back to back, 20 bytes each (a MODINFOMD_SMAP body). */
export function encodeSmap(entries: readonly BiosSmapEntry[]): Uint8Array {
  const out = new Uint8Array(entries.length * BIOS_SMAP_SIZE);
  entries.forEach((e, i) => encodeStructInto(BiosSmap, out, i * BIOS_SMAP_SIZE, e));
  return out;
}

/** Decodes a MODINFOMD_SMAP body. Throws HANDOFF_SMAP_BAD_LENGTH (not a multiple of 20, or over the limit). */
export function decodeSmap(bytes: Uint8Array, limits: SmapLimits = {}): BiosSmapEntry[] {
  const maxEntries = limits.maxEntries ?? DEFAULT_SMAP_LIMITS.maxEntries;
  const n = Math.floor(bytes.length / BIOS_SMAP_SIZE);
  if (bytes.length % BIOS_SMAP_SIZE !== 0 || n > maxEntries) {
    throw new HandoffError(
      HandoffCode.SmapBadLength,
      `handoff: SMAP body length is unusable (${hex(bytes.length)} bytes; need a multiple of ${hex(BIOS_SMAP_SIZE)}, at most ${hex(maxEntries)} entries)`,
      { length: bytes.length, entrySize: BIOS_SMAP_SIZE, maxEntries },
    );
  }
  return Array.from({ length: n }, (_, i) => BiosSmap.decode(bytes, i * BIOS_SMAP_SIZE, truncated));
}

/**
 * Offsets of the entries the amd64 kernel reads from a SMAP record of `declaredSize` bytes
 * (pointer walk `smap < smapend`): every multiple of 20 below the size. For the rescue
 * kernel's 24 that is [0, 20] — the second one a phantom (see the module header).
 */
export function smapWalkOffsets(declaredSize: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < declaredSize; o += BIOS_SMAP_SIZE) out.push(o);
  return out;
}

/** What rescue_kernel_init writes for a host without an EFI map. */
export interface RescueSmap {
  /** The one bios_smap written at kp_smapstart (20 bytes). */
  readonly bytes: Uint8Array;
  /** The kp_smaplen it declares: 24, four more than written. */
  readonly kpSmaplen: bigint;
}

/** The rescue kernel's SMAP: one SMAP_TYPE_MEMORY entry covering the reservation, declared 24 bytes long. */
export function rescueSmap(rescuePa: bigint, memsize: bigint): RescueSmap {
  return {
    bytes: encodeStruct(BiosSmap, { base: rescuePa, length: memsize, type: SMAP_TYPE.MEMORY }),
    kpSmaplen: BigInt(RESCUE_SMAP_LEN),
  };
}
