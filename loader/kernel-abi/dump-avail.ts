/**
 * dump_avail and the vm_page_dump bitmap's bit numbering, shared by the host model (which
 * sets the bits), the minidump writer (bit → page) and the reader (page → bit).
 *
 * Contract: a bit numbers the pages of dump_avail's ranges in order, each range counted from
 * trunc_page(start) to round_page(end) (sys/vm/vm_dumpset.h vm_page_dump_index / index_to_pa;
 * libkvm kvm_private.c _kvm_pa_bit_id / _kvm_bit_id_pa). `ps` is the page size (4 KiB unless
 * given). Pure; nothing throws.
 */

import { SZ_4K } from '../addr.js';

/** dump_avail as `[start, end)` pairs (no terminator). */
export type DumpAvailPairs = readonly (readonly [bigint, bigint])[];

/** The default page size: PAGE_SIZE on both arches. */
const PAGE: bigint = SZ_4K;
const pagesOf = (s: bigint, e: bigint, ps: bigint): bigint => (e + ps - 1n) / ps - s / ps;

/** dump_avail pairs from the raw little-endian array, up to the first pair whose end is 0 (libkvm). */
export function dumpAvailPairs(raw: Uint8Array): [bigint, bigint][] {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: [bigint, bigint][] = [];
  for (let o = 0; o + 16 <= raw.length; o += 16) {
    const s = dv.getBigUint64(o, true);
    const e = dv.getBigUint64(o + 8, true);
    if (e === 0n) break;
    out.push([s, e]);
  }
  return out;
}

/** The PA of bit `bit`, or undefined past the last range. */
export function bitToPa(pairs: DumpAvailPairs, bit: bigint, ps = PAGE): bigint | undefined {
  let b = bit;
  for (const [s, e] of pairs) {
    const n = pagesOf(s, e, ps);
    if (n <= 0n) continue;
    if (b < n) return s - (s % ps) + b * ps;
    b -= n;
  }
  return undefined;
}

/** The bit of `pa`, or undefined when no range holds it. */
export function paToBit(pairs: DumpAvailPairs, pa: bigint, ps = PAGE): bigint | undefined {
  let adj = 0n;
  for (const [s, e] of pairs) {
    if (pa >= s && pa < e) return pa / ps - s / ps + adj;
    if (e > s) adj += pagesOf(s, e, ps);
  }
  return undefined;
}

/**
 * The PA of every set bit of `bitmap`, in bit order; undefined for a set bit past dump_avail.
 * The bitmap is scanned a 32-bit word at a time (a server's is 128 MiB, nearly all zero) and
 * the PA follows the ranges as the bits go, instead of a search per bit.
 */
export function* setBitPas(
  pairs: DumpAvailPairs,
  bitmap: Uint8Array,
  ps = PAGE,
): Generator<bigint | undefined, void, undefined> {
  const ranges = pairs
    .filter(([s, e]) => pagesOf(s, e, ps) > 0n)
    .map(([s, e]) => [s - (s % ps), pagesOf(s, e, ps)] as const);
  let r = 0;
  let before = 0n; // bits of the ranges before ranges[r]
  const toPa = (bit: number): bigint | undefined => {
    const b = BigInt(bit);
    for (let cur = ranges[r]; cur !== undefined; cur = ranges[r]) {
      if (b < before + cur[1]) return cur[0] + (b - before) * ps;
      before += cur[1];
      r++;
    }
    return undefined;
  };
  const words = Math.floor(bitmap.length / 4);
  for (const w of nonZeroWords(bitmap, words)) {
    const word =
      (bitmap[w * 4] ?? 0) |
      ((bitmap[w * 4 + 1] ?? 0) << 8) |
      ((bitmap[w * 4 + 2] ?? 0) << 16) |
      ((bitmap[w * 4 + 3] ?? 0) << 24);
    for (let j = 0; j < 32; j++) if (((word >>> j) & 1) === 1) yield toPa(w * 32 + j);
  }
  for (let i = words * 4; i < bitmap.length; i++) {
    const byte = bitmap[i] ?? 0;
    for (let j = 0; j < 8; j++) if (((byte >> j) & 1) === 1) yield toPa(i * 8 + j);
  }
}

/** The 32-bit words of the first `words` * 4 bytes of `bitmap` that are not zero (any alignment). */
function nonZeroWords(bitmap: Uint8Array, words: number): number[] {
  const out: number[] = [];
  const aligned = bitmap.byteOffset % 4 === 0;
  if (aligned) {
    const w32 = new Int32Array(bitmap.buffer, bitmap.byteOffset, words);
    for (let w = 0; w < words; w++) if (w32[w] !== 0) out.push(w);
  } else {
    const dv = new DataView(bitmap.buffer, bitmap.byteOffset, bitmap.byteLength);
    for (let w = 0; w < words; w++) if (dv.getInt32(w * 4, true) !== 0) out.push(w);
  }
  return out;
}

/** Pages dump_avail covers (vm_page_dump_pages). */
export function dumpAvailPages(pairs: DumpAvailPairs, ps = PAGE): bigint {
  return pairs.reduce((n, [s, e]) => (e > s ? n + pagesOf(s, e, ps) : n), 0n);
}

/** Set bits of a whole bitmap, a 32-bit word at a time. */
export function popcountBytes(bitmap: Uint8Array): number {
  const words = Math.floor(bitmap.length / 4);
  let n = 0;
  for (const w of nonZeroWords(bitmap, words)) {
    let v =
      (bitmap[w * 4] ?? 0) |
      ((bitmap[w * 4 + 1] ?? 0) << 8) |
      ((bitmap[w * 4 + 2] ?? 0) << 16) |
      ((bitmap[w * 4 + 3] ?? 0) << 24);
    v = v - ((v >>> 1) & 0x5555_5555);
    v = (v & 0x3333_3333) + ((v >>> 2) & 0x3333_3333);
    n += (Math.imul((v + (v >>> 4)) & 0x0f0f_0f0f, 0x0101_0101) >>> 24) & 0xff;
  }
  for (let i = words * 4; i < bitmap.length; i++) n += popcount8(bitmap[i] ?? 0);
  return n;
}

/** Set bits of one byte. */
export function popcount8(x: number): number {
  let c = 0;
  for (let v = x; v !== 0; v &= v - 1) c++;
  return c;
}
