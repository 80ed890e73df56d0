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

/** The PA of every set bit of `bitmap`, in bit order; undefined for a set bit past dump_avail. */
export function* setBitPas(
  pairs: DumpAvailPairs,
  bitmap: Uint8Array,
  ps = PAGE,
): Generator<bigint | undefined, void, undefined> {
  for (let i = 0; i < bitmap.length; i++) {
    const byte = bitmap[i] ?? 0;
    if (byte === 0) continue;
    for (let j = 0; j < 8; j++) if (((byte >> j) & 1) === 1) yield bitToPa(pairs, BigInt(i * 8 + j), ps);
  }
}

/** Pages dump_avail covers (vm_page_dump_pages). */
export function dumpAvailPages(pairs: DumpAvailPairs, ps = PAGE): bigint {
  return pairs.reduce((n, [s, e]) => (e > s ? n + pagesOf(s, e, ps) : n), 0n);
}

/** Set bits of one byte. */
export function popcount8(x: number): number {
  let c = 0;
  for (let v = x; v !== 0; v &= v - 1) c++;
  return c;
}
