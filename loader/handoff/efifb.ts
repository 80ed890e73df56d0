/**
 * `struct efi_fb`: the UEFI GOP framebuffer description, body of MODINFOMD_EFI_FB (amd64
 * 0x1005, arm64 0x1003) and the rescue kernel's copy at kp_efifbaddr.
 * Spec: shared/spec/freebsd-handoff.md §1.3, §8.3, §10.2.
 *
 * Contract: the struct is the same on both arches (sys/x86/include/metadata.h,
 * sys/arm64/include/metadata.h): fb_addr u64 @0, fb_size u64 @8, then seven u32 (height,
 * width, stride, mask_red, mask_green, mask_blue, mask_reserved) @16..@40 — 44 data bytes,
 * padded to 48 by the struct's 8-byte alignment. rescue_kernel_init copies sizeof(*efifb)
 * = 48 bytes and rescue_preload_init writes a 48-byte record. The encoder writes the tail
 * padding as zeros; the decoder ignores it and throws only HandoffError.
 */
import { defineLayout, pad, u32, u64, type LayoutValues } from '../bytes/index.js';
import { encodeStruct, truncated } from './common.js';

/** `struct efi_fb` (machine/metadata.h). */
export const EfiFb = defineLayout(
  'efi_fb',
  [
    u64('fbAddr', { at: 0 }),
    u64('fbSize', { at: 8 }),
    u32('fbHeight', { at: 16 }),
    u32('fbWidth', { at: 20 }),
    u32('fbStride', { at: 24 }),
    u32('fbMaskRed', { at: 28 }),
    u32('fbMaskGreen', { at: 32 }),
    u32('fbMaskBlue', { at: 36 }),
    u32('fbMaskReserved', { at: 40 }),
    pad(4, { at: 44 }),
  ],
  { size: 48 },
);

/** sizeof(struct efi_fb). */
export const EFI_FB_SIZE = EfiFb.size;

/** A decoded efi_fb. */
export type EfiFbValues = LayoutValues<typeof EfiFb.fields>;

/** Encodes 48 bytes (tail padding zero). Throws HANDOFF_VALUE_RANGE. */
export function encodeEfiFb(values: EfiFbValues): Uint8Array {
  return encodeStruct(EfiFb, values);
}

/** Decodes the struct at `offset` (default 0). Throws HANDOFF_TRUNCATED when fewer than 48 bytes remain. */
export function decodeEfiFb(bytes: Uint8Array, offset = 0): EfiFbValues {
  return EfiFb.decode(bytes, offset, truncated);
}
