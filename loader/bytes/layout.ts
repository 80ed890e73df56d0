/**
 * defineLayout(): each binary struct is declared once, as data, with its size asserted.
 *
 * Contract: a layout is an ordered list of fixed-width fields with explicit padding (C
 * structs' implicit padding is written out as `pad(n)`, so every offset is visible). The
 * declared total size, and any per-field `{ at }` offset, are checked when the module loads:
 * a mismatch is a bug and fails an assertion at import time, never at run time for a user.
 * Encoders, decoders, generated machine code and docs all read `offsets`/`size` from here;
 * nothing restates an offset by hand (FreeBSD's "Keep in sync with exec.c" is the lesson;
 * ANCHORS.md house rule 3).
 *
 *   const T = defineLayout('arm64.trampoline_data', [u64('entry', { at: 0 }), u64('modulep')], { size: 16 });
 *   T.offsets.modulep === 8; T.encode({ entry: 1n, modulep: 2n }).length === 16;
 */
import assert from 'node:assert/strict';
import { ByteReader, type Endian, type OutOfBoundsInfo } from './reader.js';
import { checkU64, checkUint } from './writer.js';
import { BytesCode, BytesError, type KbootError } from '../errors.js';

type Kind = 'u8' | 'u16' | 'u32' | 'u64' | 'bytes' | 'cstring' | 'pad' | 'u32array' | 'u64array';

/** One field of a layout. `V` is the decoded value's type (phantom). */
export interface Field<N extends string, V> {
  readonly name: N;
  readonly kind: Kind;
  /** Width in bytes. */
  readonly size: number;
  /** Element count for arrays. */
  readonly count: number;
  /** Per-field byte order (defaults to the layout's). */
  readonly endian: Endian | undefined;
  /** Expected offset, asserted when the layout is defined. */
  readonly at: number | undefined;
  /** Phantom marker carrying the value type; never set. */
  readonly valueType?: V;
}

interface FieldOpts {
  readonly at?: number;
  readonly endian?: Endian;
}

/** The name given to padding fields; they have no value. */
export type PadName = `_pad${number}`;

// Field constructors.
let padCounter = 0;
function mk<N extends string, V>(name: N, kind: Kind, sz: number, count: number, o: FieldOpts): Field<N, V> {
  return { name, kind, size: sz, count, endian: o.endian, at: o.at };
}
export const u8 = <N extends string>(name: N, o: FieldOpts = {}): Field<N, number> => mk(name, 'u8', 1, 1, o);
export const u16 = <N extends string>(name: N, o: FieldOpts = {}): Field<N, number> => mk(name, 'u16', 2, 1, o);
export const u32 = <N extends string>(name: N, o: FieldOpts = {}): Field<N, number> => mk(name, 'u32', 4, 1, o);
export const u64 = <N extends string>(name: N, o: FieldOpts = {}): Field<N, bigint> => mk(name, 'u64', 8, 1, o);
/** Raw bytes of a fixed length. */
export const bytes = <N extends string>(name: N, len: number, o: FieldOpts = {}): Field<N, Uint8Array> =>
  mk(name, 'bytes', len, 1, o);
/** A NUL-padded string in a fixed-width char array (`char name[len]`). */
export const cstring = <N extends string>(name: N, len: number, o: FieldOpts = {}): Field<N, string> =>
  mk(name, 'cstring', len, 1, o);
/** `uint32_t name[count]`. */
export const u32array = <N extends string>(name: N, count: number, o: FieldOpts = {}): Field<N, readonly number[]> =>
  mk(name, 'u32array', 4 * count, count, o);
/** `uint64_t name[count]`. */
export const u64array = <N extends string>(name: N, count: number, o: FieldOpts = {}): Field<N, readonly bigint[]> =>
  mk(name, 'u64array', 8 * count, count, o);
/** Explicit padding: always written as zeros, ignored when read. */
export const pad = (len: number, o: FieldOpts = {}): Field<PadName, never> =>
  mk(`_pad${padCounter++}` as PadName, 'pad', len, 1, o);

type AnyField = Field<string, unknown>;
const utf8 = new TextDecoder('utf-8');
type ValueOf<F> = F extends Field<string, infer V> ? V : never;

/** The decoded value of a layout: one property per non-padding field. */
export type LayoutValues<F extends readonly AnyField[]> = {
  readonly [
    E in F[number] as E['kind'] extends 'pad' ? never : E['name'] extends PadName ? never : E['name']
  ]: ValueOf<E>;
};
/** Field names of a layout (padding excluded). */
export type LayoutFieldName<F extends readonly AnyField[]> = keyof LayoutValues<F> & string;

export interface Layout<F extends readonly AnyField[]> {
  readonly name: string;
  readonly size: number;
  readonly endian: Endian;
  readonly fields: F;
  /** Byte offset of each named field. */
  readonly offsets: { readonly [K in LayoutFieldName<F>]: number };
  /** Encodes one struct into a new array of exactly `size` bytes. */
  encode(values: LayoutValues<F>): Uint8Array;
  /** Encodes one struct into `target` at `offset` (bounds-checked). */
  encodeInto(target: Uint8Array, offset: number, values: LayoutValues<F>): void;
  /**
   * Decodes one struct at `offset`. Out-of-bounds raises the error built by `onOutOfBounds`
   * (default BYTES_OUT_OF_BOUNDS), so parsers keep their own error domain.
   */
  decode(src: Uint8Array, offset?: number, onOutOfBounds?: (info: OutOfBoundsInfo) => KbootError): LayoutValues<F>;
}

/**
 * Declares a binary struct. `opts.size` is the C `sizeof`; it is asserted against the sum of
 * the fields, as is each field's `at`.
 */
export function defineLayout<const F extends readonly AnyField[]>(
  name: string,
  fields: F,
  opts: { readonly size: number; readonly endian?: Endian },
): Layout<F> {
  const endian = opts.endian ?? 'le';
  const offsets = fieldOffsets(name, fields, opts.size);
  const size = opts.size;

  function encodeInto(target: Uint8Array, at: number, values: LayoutValues<F>): void {
    if (!Number.isSafeInteger(at) || at < 0 || at + size > target.length) {
      throw new BytesError(
        BytesCode.OutOfBounds,
        `bytes: ${name} (${size} bytes) does not fit at offset ${at} of ${target.length}`,
        {
          layout: name,
          offset: at,
          length: target.length,
        },
      );
    }
    const dv = new DataView(target.buffer, target.byteOffset, target.byteLength);
    const vals = values as Readonly<Record<string, unknown>>;
    let o = at;
    for (const f of fields) {
      encodeField(target, dv, o, f, vals[f.name], `${name}.${f.name}`, (f.endian ?? endian) === 'le');
      o += f.size;
    }
  }

  function decode(src: Uint8Array, at = 0, onOutOfBounds?: (info: OutOfBoundsInfo) => KbootError): LayoutValues<F> {
    const r = new ByteReader(src, onOutOfBounds === undefined ? { endian } : { endian, onOutOfBounds });
    r.check(at, size, name);
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const out: Record<string, unknown> = {};
    let o = at;
    for (const f of fields) {
      if (f.kind !== 'pad') out[f.name] = decodeField(src, dv, o, f, (f.endian ?? endian) === 'le');
      o += f.size;
    }
    return out as LayoutValues<F>;
  }

  return {
    name,
    size,
    endian,
    fields,
    offsets: offsets as { readonly [K in LayoutFieldName<F>]: number },
    encode(values) {
      const b = new Uint8Array(size);
      encodeInto(b, 0, values);
      return b;
    },
    encodeInto,
    decode,
  };
}

/** Each named field's offset; asserts unique names, every `at`, and the declared size. */
function fieldOffsets(name: string, fields: readonly AnyField[], declaredSize: number): Record<string, number> {
  const offsets: Record<string, number> = {};
  let off = 0;
  const seen = new Set<string>();
  for (const f of fields) {
    assert(!seen.has(f.name), `layout ${name}: duplicate field ${f.name}`);
    seen.add(f.name);
    if (f.at !== undefined)
      assert.equal(off, f.at, `layout ${name}: field ${f.name} is at ${off}, declared at ${f.at}`);
    if (f.kind !== 'pad') offsets[f.name] = off;
    off += f.size;
  }
  assert.equal(off, declaredSize, `layout ${name}: fields add up to ${off} bytes, declared size ${declaredSize}`);
  return offsets;
}

/** Writes one field's value at `o`, range-checked (BYTES_VALUE_RANGE, BYTES_BAD_STRING). */
function encodeField(
  target: Uint8Array,
  dv: DataView,
  o: number,
  f: AnyField,
  v: unknown,
  what: string,
  le: boolean,
): void {
  switch (f.kind) {
    case 'u8':
      dv.setUint8(o, checkUint(v as number, 8, what));
      break;
    case 'u16':
      dv.setUint16(o, checkUint(v as number, 16, what), le);
      break;
    case 'u32':
      dv.setUint32(o, checkUint(v as number, 32, what), le);
      break;
    case 'u64':
      dv.setBigUint64(o, checkU64(v as bigint, what), le);
      break;
    case 'bytes':
      encodeBytes(target, o, f, v as Uint8Array, what);
      break;
    case 'cstring':
      encodeCstring(target, o, f, v as string, what);
      break;
    case 'u32array':
    case 'u64array':
      encodeArray(dv, o, f, v as readonly (number | bigint)[], what, le);
      break;
    case 'pad':
      target.fill(0, o, o + f.size);
      break;
  }
}

function encodeBytes(target: Uint8Array, o: number, f: AnyField, b: Uint8Array, what: string): void {
  if (b.length > f.size) {
    throw new BytesError(BytesCode.ValueRange, `bytes: ${what} is ${b.length} bytes, field holds ${f.size}`, {
      field: what,
      length: b.length,
      max: f.size,
    });
  }
  target.fill(0, o, o + f.size);
  target.set(b, o);
}

function encodeCstring(target: Uint8Array, o: number, f: AnyField, v: string, what: string): void {
  const enc = new TextEncoder().encode(v);
  if (enc.length > f.size || enc.includes(0)) {
    throw new BytesError(BytesCode.BadString, `bytes: ${what} does not fit in char[${f.size}] (${JSON.stringify(v)})`, {
      field: what,
      value: v,
      max: f.size,
    });
  }
  target.fill(0, o, o + f.size);
  target.set(enc, o);
}

function encodeArray(
  dv: DataView,
  o: number,
  f: AnyField,
  arr: readonly (number | bigint)[],
  what: string,
  le: boolean,
): void {
  if (arr.length !== f.count) {
    throw new BytesError(BytesCode.ValueRange, `bytes: ${what} needs ${f.count} elements, got ${arr.length}`, {
      field: what,
      count: arr.length,
      expected: f.count,
    });
  }
  arr.forEach((e, i) => {
    if (f.kind === 'u32array') dv.setUint32(o + 4 * i, checkUint(e as number, 32, `${what}[${i}]`), le);
    else dv.setBigUint64(o + 8 * i, checkU64(e as bigint, `${what}[${i}]`), le);
  });
}

/** Reads one (non-padding) field at `o`; the caller has checked the struct lies inside `src`. */
function decodeField(src: Uint8Array, dv: DataView, o: number, f: AnyField, le: boolean): unknown {
  switch (f.kind) {
    case 'u8':
      return dv.getUint8(o);
    case 'u16':
      return dv.getUint16(o, le);
    case 'u32':
      return dv.getUint32(o, le);
    case 'u64':
      return dv.getBigUint64(o, le);
    case 'bytes':
      return src.slice(o, o + f.size);
    case 'cstring': {
      const field = src.subarray(o, o + f.size);
      const nul = field.indexOf(0);
      return utf8.decode(nul < 0 ? field : field.subarray(0, nul));
    }
    case 'u32array':
      return Array.from({ length: f.count }, (_, i) => dv.getUint32(o + 4 * i, le));
    case 'u64array':
      return Array.from({ length: f.count }, (_, i) => dv.getBigUint64(o + 8 * i, le));
    case 'pad':
      return undefined;
  }
}
