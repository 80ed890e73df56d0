/**
 * Guest RAM: the emulated machine's physical memory, and a pure-TS implementation of it.
 *
 * Contract: a `GuestRam` is a set of RAM regions `{ base, size }` (4 KiB aligned, sorted,
 * non-overlapping; adjacent regions form one contiguous run). Every operation takes
 * guest-physical addresses and checks the whole range first: a range that starts before a
 * region, ends past one or crosses a hole throws `MemoryError(GUEST_RANGE)` naming the
 * address in hex, and nothing is touched. `copy` has memmove semantics. `view` is a
 * zero-copy window inside one region of at most 1 GiB (a Buffer over 4 GiB aborts Node 20).
 * Only access is offered here, never region management (rust-vmm/vm-memory's rule).
 *
 * Two implementations pass one conformance suite (test/conformance/ram.test.ts):
 * `NativeRam` (machine/native-ram.ts, mmap MAP_NORESERVE, for real machines) and
 * `ArrayRam` (below, for small cases and environments without the addon).
 */
import { createHash } from 'node:crypto';
import { hex, phys, size, SZ_1G, SZ_4K, type PhysAddr, type Size } from '../addr.js';
import { MemoryError, MemoryCode } from './errors.js';

/** One contiguous range of guest RAM. */
export interface RamRegion {
  readonly base: PhysAddr;
  readonly size: Size;
}

/** The largest zero-copy window `view` hands out. */
export const MAX_VIEW_BYTES = Number(SZ_1G);
/** Guest page size used by `nonZeroPages`. */
export const GUEST_PAGE = Number(SZ_4K);

/** Access to guest-physical memory. */
export interface GuestRam {
  readonly regions: readonly RamRegion[];
  /** Sum of all region sizes. */
  readonly totalSize: Size;
  /** True when every byte of `[at, at + len)` is RAM. */
  isRam(at: PhysAddr, len: Size): boolean;
  /** A copy of `len` bytes (at most 1 GiB). */
  read(at: PhysAddr, len: number): Uint8Array;
  write(at: PhysAddr, bytes: Uint8Array): void;
  /** A zero-copy window (within one region, at most 1 GiB); writes to it land in guest RAM. */
  view(at: PhysAddr, len: number): Uint8Array;
  /** memmove within guest RAM, across regions if both ranges are RAM. */
  copy(dst: PhysAddr, src: PhysAddr, len: Size): void;
  fill(at: PhysAddr, len: Size, byte: number): void;
  /** True when guest RAM at `at` holds exactly `bytes`. */
  equals(at: PhysAddr, bytes: Uint8Array): boolean;
  /** SHA-256 of the range, lower-case hex. */
  sha256(at: PhysAddr, len: Size): string;
  /** LSB-first bitmap over the 4 KiB pages of the range: bit set = page holds a non-zero byte. `at` must be 4 KiB aligned. */
  nonZeroPages(at: PhysAddr, len: Size): Uint8Array;
  /**
   * Four u32 digest words per 4 KiB page of the range (`at` 4 KiB aligned): sixteen lanes
   * over the page's little-endian u32 words (word i feeds lane i&15: lane = rotl(lane ^ w, 13)
   * * 0x9E3779B1, seeded with the digits of pi), word k = lane k ^ rotl(lane k+4, 8) ^
   * rotl(lane k+8, 16) ^ rotl(lane k+12, 24) (native/page_digest.cc). Not cryptographic: it
   * tells which pages changed (a change confined to one word always shows).
   */
  pageDigests(at: PhysAddr, len: Size): Uint32Array;
  /**
   * The 4 KiB pages at `pas` (each aligned, each RAM), copied in order into one buffer (at
   * most 1 GiB); with `digests` (4 words per page) also each page's `pageDigests` value, of
   * the bytes copied. With `into` (at least 4 KiB per page) the pages are copied there and
   * a view of it is returned (a caller reusing one buffer allocates nothing per batch).
   */
  gatherPages(pas: BigUint64Array, digests?: Uint32Array, into?: Uint8Array): Uint8Array;
  /** `pageDigests` of the pages at `pas`, in order. */
  pageDigestsAt(pas: BigUint64Array): Uint32Array;
  /** Host memory actually backing guest RAM right now. */
  residentBytes(): Size;
  /** Releases the memory; later accesses throw GUEST_CLOSED. */
  close(): void;
}

/** A piece of a resolved range: `len` bytes at `at`, inside region `region` (index). */
export interface RamPiece {
  readonly region: number;
  readonly at: PhysAddr;
  readonly offset: number;
  readonly len: number;
}

/** Validates and sorts a region list; throws GUEST_REGIONS on misalignment, empty or overlapping regions. */
export function checkRegions(regions: readonly RamRegion[]): readonly RamRegion[] {
  const sorted = [...regions].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  const bad: string[] = [];
  let prevEnd = -1n;
  for (const r of sorted) {
    if (r.size === 0n || r.base % SZ_4K !== 0n || r.size % SZ_4K !== 0n || r.base + r.size > 1n << 64n) {
      bad.push(`region ${hex(r.base)}+${hex(r.size)} is empty, not 4 KiB aligned or past 2^64`);
    }
    if (r.base < prevEnd) bad.push(`region ${hex(r.base)} overlaps the region ending at ${hex(prevEnd)}`);
    prevEnd = r.base + r.size;
  }
  if (bad.length > 0) {
    throw new MemoryError(MemoryCode.GuestRegions, `machine: bad RAM regions: ${bad.join('; ')}`, { problems: bad });
  }
  return sorted;
}

/** The GUEST_RANGE error for `[at, at + len)`. */
export function guestRangeError(op: string, at: bigint, len: bigint, firstMissing: bigint): MemoryError {
  const what = len === 0n ? `${op} of 0 bytes at ${hex(at)}` : `${op} ${hex(at)}-${hex(at + len - 1n)}`;
  return new MemoryError(
    MemoryCode.GuestRange,
    `machine: ${what} is not guest RAM (first missing byte ${hex(firstMissing)})`,
    {
      op,
      addr: at,
      len,
      firstMissing,
    },
  );
}

/**
 * Splits `[at, at + len)` into per-region pieces; throws GUEST_RANGE unless every byte is RAM.
 * A zero-length range is valid at any address inside a region or at a region's end.
 */
export function resolveRange(regions: readonly RamRegion[], op: string, at: bigint, len: bigint): RamPiece[] {
  if (len < 0n) throw guestRangeError(op, at, len, at);
  const pieces: RamPiece[] = [];
  if (len === 0n) {
    if (regions.some((r) => at >= r.base && at <= r.base + r.size)) return pieces;
    throw guestRangeError(op, at, len, at);
  }
  const end = at + len;
  let cur = at;
  for (let i = 0; i < regions.length && cur < end; i++) {
    const r = regions[i];
    if (r === undefined) break;
    const rEnd = r.base + r.size;
    if (cur >= rEnd) continue;
    if (cur < r.base) break;
    const take = (end < rEnd ? end : rEnd) - cur;
    pieces.push({ region: i, at: cur as PhysAddr, offset: Number(cur - r.base), len: Number(take) });
    cur += take;
  }
  if (cur !== end) throw guestRangeError(op, at, len, cur);
  return pieces;
}

function checkLen(len: number, op: string): void {
  if (!Number.isSafeInteger(len) || len < 0) {
    throw new MemoryError(MemoryCode.GuestRange, `machine: ${op} length ${String(len)} is not a byte count`, {
      op,
      len,
    });
  }
  if (len > MAX_VIEW_BYTES) {
    throw new MemoryError(
      MemoryCode.GuestViewTooLarge,
      `machine: ${op} of ${hex(len)} bytes exceeds the 1 GiB window limit`,
      {
        op,
        len,
      },
    );
  }
}

/** True when every byte of `[at, at + len)` is RAM of `regions`. */
export function isRamRange(regions: readonly RamRegion[], at: bigint, len: bigint): boolean {
  try {
    resolveRange(regions, 'isRam', at, len);
    return true;
  } catch {
    return false;
  }
}

/** Validates a JS byte count for read/view (safe integer, at most 1 GiB). */
export const checkWindowLength = checkLen;

/** Validates a fill byte (0..255). */
export function checkFillByte(byte: number): void {
  if (!Number.isInteger(byte) || byte < 0 || byte > 255) {
    throw new MemoryError(MemoryCode.GuestRange, `machine: fill byte ${String(byte)} is not 0..255`, { byte });
  }
}

/** SHA-256 over guest RAM through zero-copy views (Node's OpenSSL does the hashing). */
export function sha256Via(ram: GuestRam, at: PhysAddr, len: Size): string {
  const h = createHash('sha256');
  for (const p of resolveRange(ram.regions, 'sha256', at, len)) {
    for (let off = 0; off < p.len; off += MAX_VIEW_BYTES) {
      const n = Math.min(MAX_VIEW_BYTES, p.len - off);
      h.update(ram.view(phys(p.at + BigInt(off)), n));
    }
  }
  return h.digest('hex');
}

/** Largest region ArrayRam accepts: it really allocates every byte. */
export const ARRAY_RAM_MAX_REGION = Number(SZ_1G);

/**
 * Guest RAM backed by ordinary `Uint8Array`s: every byte is allocated, so it suits small
 * machines, unit tests and platforms without the addon. Same semantics as NativeRam.
 */
export class ArrayRam implements GuestRam {
  readonly regions: readonly RamRegion[];
  readonly totalSize: Size;
  private backing: Uint8Array[];
  private closed = false;

  constructor(regions: readonly RamRegion[]) {
    this.regions = checkRegions(regions);
    for (const r of this.regions) {
      if (r.size > BigInt(ARRAY_RAM_MAX_REGION)) {
        throw new MemoryError(
          MemoryCode.GuestRegions,
          `machine: ArrayRam region ${hex(r.base)} of ${hex(r.size)} bytes exceeds 1 GiB; use NativeRam`,
          {
            base: r.base,
            size: r.size,
          },
        );
      }
    }
    this.backing = this.regions.map((r) => new Uint8Array(Number(r.size)));
    this.totalSize = size(this.regions.reduce((s, r) => s + r.size, 0n));
  }

  private pieces(op: string, at: bigint, len: bigint): RamPiece[] {
    if (this.closed) throw new MemoryError(MemoryCode.GuestClosed, `machine: ${op} on closed guest RAM`, { op });
    return resolveRange(this.regions, op, at, len);
  }
  private mem(p: RamPiece): Uint8Array {
    const b = this.backing[p.region];
    if (b === undefined) throw new MemoryError(MemoryCode.GuestClosed, 'machine: guest RAM region released', {});
    return b;
  }

  isRam(at: PhysAddr, len: Size): boolean {
    return isRamRange(this.regions, at, len);
  }

  read(at: PhysAddr, len: number): Uint8Array {
    checkLen(len, 'read');
    const out = new Uint8Array(len);
    let o = 0;
    for (const p of this.pieces('read', at, BigInt(len))) {
      out.set(this.mem(p).subarray(p.offset, p.offset + p.len), o);
      o += p.len;
    }
    return out;
  }

  write(at: PhysAddr, bytes: Uint8Array): void {
    const pieces = this.pieces('write', at, BigInt(bytes.length));
    // copy the source first: it may be a view of this very RAM
    const src = bytes.slice();
    let o = 0;
    for (const p of pieces) {
      this.mem(p).set(src.subarray(o, o + p.len), p.offset);
      o += p.len;
    }
  }

  view(at: PhysAddr, len: number): Uint8Array {
    checkLen(len, 'view');
    const pieces = this.pieces('view', at, BigInt(len));
    if (pieces.length > 1) {
      throw new MemoryError(
        MemoryCode.GuestRange,
        `machine: view ${hex(at)} + ${hex(len)} crosses a RAM region boundary`,
        {
          addr: at,
          len,
        },
      );
    }
    const p = pieces[0];
    if (p === undefined) return new Uint8Array(0);
    return this.mem(p).subarray(p.offset, p.offset + p.len);
  }

  copy(dst: PhysAddr, src: PhysAddr, len: Size): void {
    const d = this.pieces('copy destination', dst, len);
    const s = this.pieces('copy source', src, len);
    if (len === 0n) return;
    // Gather, then scatter: simple memmove semantics (ArrayRam is for small machines).
    const tmp = new Uint8Array(Number(len));
    let o = 0;
    for (const p of s) {
      tmp.set(this.mem(p).subarray(p.offset, p.offset + p.len), o);
      o += p.len;
    }
    o = 0;
    for (const p of d) {
      this.mem(p).set(tmp.subarray(o, o + p.len), p.offset);
      o += p.len;
    }
  }

  fill(at: PhysAddr, len: Size, byte: number): void {
    checkFillByte(byte);
    for (const p of this.pieces('fill', at, len)) this.mem(p).fill(byte, p.offset, p.offset + p.len);
  }

  equals(at: PhysAddr, bytes: Uint8Array): boolean {
    let o = 0;
    for (const p of this.pieces('equals', at, BigInt(bytes.length))) {
      const m = this.mem(p);
      for (let i = 0; i < p.len; i++) if (m[p.offset + i] !== bytes[o + i]) return false;
      o += p.len;
    }
    return true;
  }

  sha256(at: PhysAddr, len: Size): string {
    this.pieces('sha256', at, len);
    return sha256Via(this, at, len);
  }

  nonZeroPages(at: PhysAddr, len: Size): Uint8Array {
    if (at % SZ_4K !== 0n) {
      throw new MemoryError(MemoryCode.GuestAlign, `machine: nonZeroPages start ${hex(at)} is not 4 KiB aligned`, {
        addr: at,
      });
    }
    const pieces = this.pieces('nonZeroPages', at, len);
    const pages = Number((len + SZ_4K - 1n) / SZ_4K);
    const bm = new Uint8Array(Math.ceil(pages / 8));
    let page = 0;
    for (const p of pieces) {
      const m = this.mem(p);
      for (let off = 0; off < p.len; off += GUEST_PAGE, page++) {
        const end = p.offset + Math.min(p.len, off + GUEST_PAGE);
        for (let i = p.offset + off; i < end; i++) {
          if (m[i] !== 0) {
            bm[page >> 3] = (bm[page >> 3] ?? 0) | (1 << (page & 7));
            break;
          }
        }
      }
    }
    return bm;
  }

  pageDigests(at: PhysAddr, len: Size): Uint32Array {
    if (at % SZ_4K !== 0n) {
      throw new MemoryError(MemoryCode.GuestAlign, `machine: pageDigests start ${hex(at)} is not 4 KiB aligned`, {
        addr: at,
      });
    }
    const pieces = this.pieces('pageDigests', at, len);
    const out = new Uint32Array(Number((len + SZ_4K - 1n) / SZ_4K) * 4);
    let page = 0;
    for (const p of pieces) {
      const m = this.mem(p);
      for (let off = 0; off < p.len; off += GUEST_PAGE, page++) {
        const n = Math.min(GUEST_PAGE, p.len - off);
        const base = p.offset + off;
        const h = [
          0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0x082efa98, 0xec4e6c89, 0x452821e6,
          0x38d01377, 0xbe5466cf, 0x34e90c6c, 0xc0ac29b7, 0xc97c50dd, 0x3f84d5b5, 0xb5470917,
        ];
        for (let i = 0; i * 4 < n; i++) {
          let w = 0;
          for (let b = 3; b >= 0; b--) w = (w << 8) | (i * 4 + b < n ? (m[base + i * 4 + b] ?? 0) : 0);
          const x = ((h[i & 15] ?? 0) ^ w) >>> 0;
          h[i & 15] = Math.imul((x << 13) | (x >>> 19), 0x9e3779b1) >>> 0;
        }
        const rotl = (v: number, r: number): number => ((v << r) | (v >>> (32 - r))) >>> 0;
        for (let k = 0; k < 4; k++) {
          h[k] = ((h[k] ?? 0) ^ rotl(h[k + 4] ?? 0, 8) ^ rotl(h[k + 8] ?? 0, 16) ^ rotl(h[k + 12] ?? 0, 24)) >>> 0;
        }
        out.set(h.slice(0, 4), page * 4);
      }
    }
    return out;
  }

  gatherPages(pas: BigUint64Array, digests?: Uint32Array, into?: Uint8Array): Uint8Array {
    if (pas.length * GUEST_PAGE > MAX_VIEW_BYTES) {
      throw new MemoryError(MemoryCode.GuestViewTooLarge, 'machine: gatherPages of more than 1 GiB', {});
    }
    if (digests !== undefined && digests.length !== pas.length * 4) {
      throw new MemoryError(MemoryCode.GuestRange, 'machine: gatherPages digests must hold 4 words per page', {});
    }
    if (into !== undefined && into.length < pas.length * GUEST_PAGE) {
      throw new MemoryError(MemoryCode.GuestRange, 'machine: gatherPages target is smaller than the pages', {});
    }
    const out = into?.subarray(0, pas.length * GUEST_PAGE) ?? new Uint8Array(pas.length * GUEST_PAGE);
    pas.forEach((pa, i) => {
      requirePageAligned('gatherPages', pa);
      out.set(this.read(phys(pa), GUEST_PAGE), i * GUEST_PAGE);
      digests?.set(this.pageDigests(phys(pa), SZ_4K), i * 4);
    });
    return out;
  }

  pageDigestsAt(pas: BigUint64Array): Uint32Array {
    const out = new Uint32Array(pas.length * 4);
    pas.forEach((pa, i) => {
      requirePageAligned('pageDigestsAt', pa);
      out.set(this.pageDigests(phys(pa), SZ_4K), i * 4);
    });
    return out;
  }

  residentBytes(): Size {
    if (this.closed) throw new MemoryError(MemoryCode.GuestClosed, 'machine: residentBytes on closed guest RAM', {});
    return this.totalSize;
  }

  close(): void {
    this.closed = true;
    this.backing = [];
  }
}

function requirePageAligned(op: string, pa: bigint): void {
  if (pa % SZ_4K !== 0n) {
    throw new MemoryError(MemoryCode.GuestAlign, `machine: ${op} address ${hex(pa)} is not 4 KiB aligned`, {
      addr: pa,
    });
  }
}
