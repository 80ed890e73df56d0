/**
 * Deterministic page contents for the host-kernel model. Contract: `pageBytes(seed, pa)` is a
 * pure function of (seed, page-aligned PA) returning 4096 bytes, so a test (or a dump checker)
 * can recompute any page the model wrote; `SeededRandom` is a small splitmix64 stream used
 * for every other seeded choice. Nothing here comes from FreeBSD; the generator is
 * splitmix64 (Steele, Lea, Flood 2014), written from its published description.
 */
import { SZ_4K, toNumber } from '../addr.js';

const MASK64 = (1n << 64n) - 1n;
const GAMMA = 0x9e37_79b9_7f4a_7c15n;

function mix64(z0: bigint): bigint {
  let z = z0 & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58_476d_1ce4_e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d0_49bb_1331_11ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** A splitmix64 stream. */
export class SeededRandom {
  private state: bigint;
  constructor(seed: bigint | number, stream = 0n) {
    this.state = mix64(BigInt(seed) ^ mix64(stream + GAMMA));
  }
  /** The next 64-bit value. */
  next64(): bigint {
    this.state = (this.state + GAMMA) & MASK64;
    return mix64(this.state);
  }
  /** A uniform integer in [0, n) for 0 < n ≤ 2^64 (rejection-free modulo; bias < 2^-32 for n < 2^32). */
  below(n: bigint): bigint {
    return this.next64() % n;
  }
}

/** Bytes of one page (SZ_4K as a number). */
export const PAGE_BYTES = toNumber(SZ_4K);

/**
 * The 4096 bytes of the page at `pa` for `seed`: a 32-bit xorshift stream seeded from
 * mix64(seed, pa), written as little-endian words. The first 8 bytes hold `pa` itself so a
 * misplaced page is recognisable in a dump.
 */
export function pageBytes(seed: bigint | number, pa: bigint): Uint8Array {
  const out = new Uint8Array(PAGE_BYTES);
  const words = new Uint32Array(out.buffer);
  const h = mix64(mix64(BigInt(seed)) ^ pa);
  let x = Number(h & 0xffff_ffffn) | 1;
  for (let i = 2; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  new DataView(out.buffer).setBigUint64(0, pa, true);
  return out;
}
