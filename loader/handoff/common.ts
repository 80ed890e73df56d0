/**
 * Helpers shared by the binary hand-off encoders and decoders (modinfo, kenv, EFI map,
 * SMAP, efi_fb, rescue params).
 *
 * Contract: `truncated` is the `onOutOfBounds` factory every hand-off decoder hands to
 * ByteReader / Layout.decode, so a short input raises HandoffError(HANDOFF_TRUNCATED) and
 * never a BytesError (the decoders' fuzz contract). `encodeStruct` runs a Layout's encoder
 * and turns a BytesError (a value that does not fit its field) into
 * HandoffError(HANDOFF_VALUE_RANGE), so encoders, too, speak only their own domain.
 * The FreeBSD structs themselves live in the per-record modules (sys/sys/efi.h,
 * sys/x86/include/metadata.h, machine/pc/bios.h, machine/rescue.h).
 */
import { hex } from '../addr.js';
import type { Field, Layout, LayoutValues, OutOfBoundsInfo } from '../bytes/index.js';
import { BytesError } from '../errors.js';
import { HandoffCode, HandoffError } from './errors.js';

/** The hand-off decoders' out-of-bounds error: HANDOFF_TRUNCATED with the facts in hex. */
export function truncated(info: OutOfBoundsInfo): HandoffError {
  return new HandoffError(
    HandoffCode.Truncated,
    `handoff: ${info.what} at ${hex(info.offset)} (+${hex(info.width)}) runs past the end (${hex(info.length)})`,
    { ...info },
  );
}

/** Any layout's field list. */
type AnyFields = readonly Field<string, unknown>[];

/** Encodes one struct into `target` at `offset`; a field value out of range becomes HANDOFF_VALUE_RANGE. */
export function encodeStructInto<F extends AnyFields>(
  layout: Layout<F>,
  target: Uint8Array,
  offset: number,
  values: LayoutValues<F>,
): void {
  try {
    layout.encodeInto(target, offset, values);
  } catch (e) {
    if (e instanceof BytesError) {
      throw new HandoffError(
        HandoffCode.ValueRange,
        `handoff: ${layout.name} value does not fit its field (${e.message})`,
        { layout: layout.name, ...e.details },
        { cause: e },
      );
    }
    throw e;
  }
}

/** Encodes one struct into a new array of exactly `layout.size` bytes (see encodeStructInto). */
export function encodeStruct<F extends AnyFields>(layout: Layout<F>, values: LayoutValues<F>): Uint8Array {
  const out = new Uint8Array(layout.size);
  encodeStructInto(layout, out, 0, values);
  return out;
}

/** Throws HANDOFF_VALUE_RANGE unless `v` is an integer in [0, 2^bits). */
export function checkUnsigned(v: bigint, bits: 32 | 64, what: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << BigInt(bits)) {
    throw new HandoffError(
      HandoffCode.ValueRange,
      `handoff: ${what} does not fit in u${bits} (${typeof v === 'bigint' ? hex(v) : String(v)})`,
      {
        what,
        value: v,
        bits,
      },
    );
  }
  return v;
}

/** Throws HANDOFF_VALUE_RANGE unless `v` is a safe integer in [min, max]. */
export function checkIntRange(v: number, min: number, max: number, what: string): number {
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new HandoffError(
      HandoffCode.ValueRange,
      `handoff: ${what} is out of range (${Number.isSafeInteger(v) ? hex(v) : String(v)}, allowed ${hex(min)}..${hex(max)})`,
      { what, value: v, min, max },
    );
  }
  return v;
}

/** 2^64, for C unsigned-long wrap-around. */
