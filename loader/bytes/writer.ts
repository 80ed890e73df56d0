/**
 * A growable, bounds-checked byte writer, little- or big-endian.
 *
 * Contract: values are range-checked against their field width (a u32 field given 2^32
 * throws BYTES_VALUE_RANGE rather than truncating); `at()` writes in place and never past
 * what has been reserved; `bytes()` returns exactly the bytes written. Alignment padding is
 * always zeros. A writer created with `{ measureOnly: true }` only counts, which is how the
 * FreeBSD loader sizes metadata before writing it (stand/common/metadata.c md_copymodules).
 */
import { BytesCode, BytesError } from '../errors.js';
import { hex, U64_MAX } from '../addr.js';
import type { Endian } from './reader.js';

function rangeError(what: string, value: number | bigint, bits: number): BytesError {
  return new BytesError(BytesCode.ValueRange, `bytes: ${what} ${hex(value)} does not fit in ${bits} bits`, {
    what,
    value,
    bits,
  });
}

export function checkUint(value: number, bits: 8 | 16 | 32, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) throw rangeError(what, value, bits);
  return value;
}

export function checkU64(value: bigint, what: string): bigint {
  if (value < 0n || value > U64_MAX) throw rangeError(what, value, 64);
  return value;
}

export class ByteWriter {
  readonly endian: Endian;
  private buf: Uint8Array;
  private dv: DataView;
  private len = 0;
  private readonly measureOnly: boolean;

  constructor(opts: { endian?: Endian; initialCapacity?: number; measureOnly?: boolean } = {}) {
    this.endian = opts.endian ?? 'le';
    this.measureOnly = opts.measureOnly ?? false;
    this.buf = new Uint8Array(this.measureOnly ? 0 : (opts.initialCapacity ?? 256));
    this.dv = new DataView(this.buf.buffer);
  }

  /** Bytes written so far (the write position). */
  get length(): number {
    return this.len;
  }

  private ensure(extra: number): void {
    if (this.measureOnly) return;
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = Math.max(16, this.buf.length * 2);
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  u8(v: number, what = 'u8'): this {
    checkUint(v, 8, what);
    this.ensure(1);
    if (!this.measureOnly) this.dv.setUint8(this.len, v);
    this.len += 1;
    return this;
  }
  u16(v: number, what = 'u16'): this {
    checkUint(v, 16, what);
    this.ensure(2);
    if (!this.measureOnly) this.dv.setUint16(this.len, v, this.endian === 'le');
    this.len += 2;
    return this;
  }
  u32(v: number, what = 'u32'): this {
    checkUint(v, 32, what);
    this.ensure(4);
    if (!this.measureOnly) this.dv.setUint32(this.len, v, this.endian === 'le');
    this.len += 4;
    return this;
  }
  u64(v: bigint, what = 'u64'): this {
    checkU64(v, what);
    this.ensure(8);
    if (!this.measureOnly) this.dv.setBigUint64(this.len, v, this.endian === 'le');
    this.len += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    if (!this.measureOnly) this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  zeros(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw rangeError('zero fill length', n, 53);
    this.ensure(n);
    if (!this.measureOnly) this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }
  /** Pads with zeros up to a multiple of `align` (a power of two). */
  align(align: number): this {
    const rem = this.len % align;
    return rem === 0 ? this : this.zeros(align - rem);
  }
  /** A UTF-8 string followed by a NUL. */
  cstring(s: string): this {
    const enc = new TextEncoder().encode(s);
    if (enc.includes(0)) {
      throw new BytesError(BytesCode.BadString, `bytes: string contains a NUL byte (${JSON.stringify(s)})`, {
        value: s,
      });
    }
    return this.bytes(enc).u8(0);
  }

  /** Overwrites a u32 already written at `offset`. */
  patchU32(offset: number, v: number, what = 'u32'): this {
    checkUint(v, 32, what);
    this.checkPatch(offset, 4, what);
    if (!this.measureOnly) this.dv.setUint32(offset, v, this.endian === 'le');
    return this;
  }
  /** Overwrites a u64 already written at `offset`. */
  patchU64(offset: number, v: bigint, what = 'u64'): this {
    checkU64(v, what);
    this.checkPatch(offset, 8, what);
    if (!this.measureOnly) this.dv.setBigUint64(offset, v, this.endian === 'le');
    return this;
  }
  /** Overwrites bytes already written at `offset`. */
  patchBytes(offset: number, b: Uint8Array, what = 'bytes'): this {
    this.checkPatch(offset, b.length, what);
    if (!this.measureOnly) this.buf.set(b, offset);
    return this;
  }
  private checkPatch(offset: number, width: number, what: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + width > this.len) {
      throw new BytesError(
        BytesCode.OutOfBounds,
        `bytes: patch of ${what} at ${hex(offset)} lies past what was written (${hex(this.len)})`,
        {
          offset,
          width,
          length: this.len,
        },
      );
    }
  }

  /** A copy of exactly the bytes written. In measure-only mode, zeros of the measured length. */
  finish(): Uint8Array {
    if (this.measureOnly) return new Uint8Array(this.len);
    return this.buf.slice(0, this.len);
  }
}
