/**
 * A bounds-checked cursor over bytes, little- or big-endian.
 *
 * Contract: every read checks `offset + width <= length` first and throws (never returns
 * garbage or a short read). By default the error is `BytesError(BYTES_OUT_OF_BOUNDS)`; a
 * parser passes `onOutOfBounds` to raise its own domain's error instead, so that its fuzz
 * contract ("only ElfError escapes parseElf") holds without try/catch at every read.
 * 64-bit values are returned as `bigint`, narrower ones as `number`.
 */
import { BytesCode, BytesError, type KbootError } from '../errors.js';
import { hex } from '../addr.js';

/** Byte order of multi-byte fields. */
export type Endian = 'le' | 'be';

/** What a failed bounds check knew. */
export interface OutOfBoundsInfo {
  readonly offset: number;
  readonly width: number;
  readonly length: number;
  readonly what: string;
}

export interface ReaderOptions {
  readonly endian?: Endian;
  /** Builds the error thrown on an out-of-bounds read (default: BytesError). */
  readonly onOutOfBounds?: (info: OutOfBoundsInfo) => KbootError;
}

/** The default out-of-bounds error. */
export function outOfBounds(info: OutOfBoundsInfo): BytesError {
  return new BytesError(
    BytesCode.OutOfBounds,
    `bytes: ${info.what} at ${hex(info.offset)} (+${hex(info.width)}) lies past the end (${hex(info.length)})`,
    { ...info },
  );
}

/** A positioned, bounds-checked reader. `at(offset)` gives random access without moving. */
export class ByteReader {
  readonly bytes: Uint8Array;
  readonly endian: Endian;
  private readonly view: DataView;
  private readonly fail: (info: OutOfBoundsInfo) => KbootError;
  /** Current cursor (for the sequential `u8()`… methods). */
  pos = 0;

  constructor(bytes: Uint8Array, opts: ReaderOptions = {}) {
    this.bytes = bytes;
    this.endian = opts.endian ?? 'le';
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.fail = opts.onOutOfBounds ?? outOfBounds;
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Throws unless `[offset, offset + width)` lies inside the bytes. */
  check(offset: number, width: number, what = 'read'): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(width) ||
      offset < 0 ||
      width < 0 ||
      offset + width > this.bytes.length
    ) {
      throw this.fail({ offset, width, length: this.bytes.length, what });
    }
  }

  /** True when `[offset, offset + width)` lies inside the bytes. */
  fits(offset: number | bigint, width: number | bigint): boolean {
    const o = BigInt(offset);
    const w = BigInt(width);
    return o >= 0n && w >= 0n && o + w <= BigInt(this.bytes.length);
  }

  u8At(offset: number, what = 'u8'): number {
    this.check(offset, 1, what);
    return this.view.getUint8(offset);
  }
  u16At(offset: number, what = 'u16'): number {
    this.check(offset, 2, what);
    return this.view.getUint16(offset, this.endian === 'le');
  }
  u32At(offset: number, what = 'u32'): number {
    this.check(offset, 4, what);
    return this.view.getUint32(offset, this.endian === 'le');
  }
  u64At(offset: number, what = 'u64'): bigint {
    this.check(offset, 8, what);
    return this.view.getBigUint64(offset, this.endian === 'le');
  }
  i32At(offset: number, what = 'i32'): number {
    this.check(offset, 4, what);
    return this.view.getInt32(offset, this.endian === 'le');
  }
  i64At(offset: number, what = 'i64'): bigint {
    this.check(offset, 8, what);
    return this.view.getBigInt64(offset, this.endian === 'le');
  }
  /** A zero-copy sub-view of `len` bytes at `offset`. */
  bytesAt(offset: number, len: number, what = 'bytes'): Uint8Array {
    this.check(offset, len, what);
    return this.bytes.subarray(offset, offset + len);
  }
  /** A NUL-terminated string starting at `offset`, at most `max` bytes long (latin1/utf-8). */
  cstringAt(offset: number, max: number, what = 'string'): string {
    this.check(offset, 0, what);
    const end = Math.min(this.bytes.length, offset + max);
    let i = offset;
    while (i < end && this.bytes[i] !== 0) i++;
    if (i === this.bytes.length && i - offset < max) {
      // ran off the end of the bytes before a NUL or the field's full width
      throw this.fail({
        offset,
        width: i - offset + 1,
        length: this.bytes.length,
        what: `${what} (no NUL terminator)`,
      });
    }
    // a NUL ends the string; a field filled to its full width without one is the string
    return new TextDecoder('utf-8').decode(this.bytes.subarray(offset, i));
  }

  u8(what?: string): number {
    const v = this.u8At(this.pos, what);
    this.pos += 1;
    return v;
  }
  u16(what?: string): number {
    const v = this.u16At(this.pos, what);
    this.pos += 2;
    return v;
  }
  u32(what?: string): number {
    const v = this.u32At(this.pos, what);
    this.pos += 4;
    return v;
  }
  u64(what?: string): bigint {
    const v = this.u64At(this.pos, what);
    this.pos += 8;
    return v;
  }
  take(len: number, what?: string): Uint8Array {
    const v = this.bytesAt(this.pos, len, what);
    this.pos += len;
    return v;
  }
  advance(len: number, what = 'advance'): void {
    this.check(this.pos, len, what);
    this.pos += len;
  }
}
