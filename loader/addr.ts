/**
 * Addresses and sizes as branded `bigint`s with checked u64 arithmetic.
 *
 * Contract: a `PhysAddr` (guest-physical), a `KernelVa` (kernel virtual) and a `Size` are
 * all integers in [0, 2^64); the brand keeps the three spaces apart at compile time, and
 * the only way to combine them is through the helpers here, which throw `AddrError`
 * (ADDR_OVERFLOW, ADDR_UNDERFLOW, ADDR_BAD_ALIGNMENT, ...) instead of wrapping or losing
 * precision. Ranges are half-open `[start, start + size)`; their end may equal 2^64.
 *
 * Model: rust-vmm/vm-memory `src/address.rs` ("operators … are not supported and it forces
 * clients to explicitly invoke corresponding methods"); ANCHORS.md house rules 1 and 2.
 */
import { AddrCode, AddrError } from './errors.js';

declare const brand: unique symbol;
type Branded<B extends string> = bigint & { readonly [brand]: B };

/** A guest-physical address. */
export type PhysAddr = Branded<'PhysAddr'>;
/** A kernel virtual address (e.g. KERNBASE-relative link addresses). */
export type KernelVa = Branded<'KernelVa'>;
/** A byte count or offset. */
export type Size = Branded<'Size'>;
/**
 * An address as FreeBSD's preload metadata carries it (MODINFO_ADDR, MODINFOMD_ENVP,
 * MODINFOMD_KERNEND, modulep): on amd64 an offset from KERNBASE (the kernel adds KERNBASE,
 * preload_bootstrap_relocate), on arm64 a kernel VA (`ArchInfo.metadataAddressing`). A fourth
 * space, made only by loader/plan/kexec-plan.ts `metadataAddress` (which knows the arch).
 */
export type MetadataAddr = Branded<'MetadataAddr'>;
/** Any of the three address-like quantities. */
export type AddrLike = PhysAddr | KernelVa | Size;

/** 2^64: one past the largest u64. */
export const U64_LIMIT = 1n << 64n;
/** The largest u64. */
export const U64_MAX = U64_LIMIT - 1n;

/** Common sizes. */
export const SZ_4K = 0x1000n as Size;
/** 2 MiB (the rescue reservation's alignment, a large page). */
export const SZ_2M = 0x20_0000n as Size;
/** 1 GiB (the boundary a rescue reservation never crosses). */
export const SZ_1G = 0x4000_0000n as Size;
/** 4 GiB (the 32-bit physical address limit). */
export const SZ_4G = 0x1_0000_0000n as Size;

function checkU64(value: bigint | number, what: string): bigint {
  let v: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new AddrError(AddrCode.NotInteger, `addr: ${what} is not a safe integer (${String(value)})`, {
        value,
      });
    }
    v = BigInt(value);
  } else {
    v = value;
  }
  if (v < 0n) throw new AddrError(AddrCode.Negative, `addr: ${what} is negative (-${hex(-v)})`, { value: v });
  if (v >= U64_LIMIT)
    throw new AddrError(AddrCode.TooLarge, `addr: ${what} does not fit in 64 bits (${hex(v)})`, { value: v });
  return v;
}

/** A guest-physical address; throws ADDR_NEGATIVE / ADDR_TOO_LARGE / ADDR_NOT_INTEGER. */
export function phys(value: bigint | number): PhysAddr {
  return checkU64(value, 'physical address') as PhysAddr;
}
/** A kernel virtual address; same checks as `phys`. */
export function kva(value: bigint | number): KernelVa {
  return checkU64(value, 'kernel virtual address') as KernelVa;
}
/** A size or offset; same checks as `phys`. */
export function size(value: bigint | number): Size {
  return checkU64(value, 'size') as Size;
}

/** `a + n`, same space as `a`; throws ADDR_OVERFLOW past 2^64 - 1. */
export function add<A extends AddrLike>(a: A, n: Size): A {
  const r = a + n;
  if (r > U64_MAX) {
    throw new AddrError(AddrCode.Overflow, `addr: ${hex(a)} + ${hex(n)} overflows 64 bits`, { a, n });
  }
  return r as A;
}

/** `a - n`, same space as `a`; throws ADDR_UNDERFLOW below zero. */
export function sub<A extends AddrLike>(a: A, n: Size): A {
  if (n > a) throw new AddrError(AddrCode.Underflow, `addr: ${hex(a)} - ${hex(n)} is below zero`, { a, n });
  return (a - n) as A;
}

/** The distance `a - base` between two addresses of one space; throws ADDR_UNDERFLOW if a < base. */
export function offsetFrom<A extends PhysAddr | KernelVa>(a: A, base: A): Size {
  if (base > a) {
    throw new AddrError(AddrCode.Underflow, `addr: ${hex(a)} lies below ${hex(base)}`, { a, base });
  }
  return ((a as bigint) - (base as bigint)) as Size;
}

function checkAlign(align: Size): void {
  if (align === 0n || (align & (align - 1n)) !== 0n) {
    throw new AddrError(AddrCode.BadAlignment, `addr: alignment ${hex(align)} is not a power of two`, { align });
  }
}

/** True when `a` is a multiple of `align` (a power of two; else ADDR_BAD_ALIGNMENT). */
export function isAligned(a: AddrLike, align: Size): boolean {
  checkAlign(align);
  return (a & (align - 1n)) === 0n;
}

/** Rounds `a` down to a multiple of `align`. */
export function alignDown<A extends AddrLike>(a: A, align: Size): A {
  checkAlign(align);
  return (a & ~(align - 1n)) as A;
}

/** Rounds `a` up to a multiple of `align`; throws ADDR_OVERFLOW if that passes 2^64 - 1. */
export function alignUp<A extends AddrLike>(a: A, align: Size): A {
  checkAlign(align);
  const r = (a + align - 1n) & ~(align - 1n);
  if (r > U64_MAX) {
    throw new AddrError(AddrCode.Overflow, `addr: aligning ${hex(a)} up to ${hex(align)} overflows 64 bits`, {
      a,
      align,
    });
  }
  return r as A;
}

/** Throws ADDR_MISALIGNED unless `a` is a multiple of `align`. */
export function requireAligned(a: AddrLike, align: Size, what: string): void {
  if (!isAligned(a, align)) {
    throw new AddrError(AddrCode.Misaligned, `addr: ${what} ${hex(a)} is not aligned to ${hex(align)}`, {
      what,
      value: a,
      align,
    });
  }
}

/** A safe JS number from a size (for lengths of in-memory buffers); throws ADDR_TOO_LARGE past 2^53. */
export function toNumber(n: Size): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new AddrError(AddrCode.TooLarge, `addr: ${hex(n)} is too large for a JS number`, { value: n });
  }
  return Number(n);
}

/**
 * `0x`-prefixed lower-case hex. With `width`, zero-padded to that many digits and grouped
 * in fours with `_` when `group` is set (`0xffff_ffff_8020_0000`).
 */
export function hex(v: bigint | number, opts: { width?: number; group?: boolean } = {}): string {
  if (typeof v === 'number' && !Number.isInteger(v)) return String(v);
  const b = typeof v === 'number' ? BigInt(v) : v;
  if (b < 0n) return `-${hex(-b, opts)}`;
  let digits = b.toString(16);
  if (opts.width !== undefined) digits = digits.padStart(opts.width, '0');
  if (opts.group === true) {
    const parts: string[] = [];
    for (let end = digits.length; end > 0; end -= 4) parts.unshift(digits.slice(Math.max(0, end - 4), end));
    digits = parts.join('_');
  }
  return `0x${digits}`;
}

/** A half-open range `[start, start + size)` in one address space. */
export interface AddrRange<A extends PhysAddr | KernelVa> {
  readonly start: A;
  readonly size: Size;
}
/** A range of guest-physical memory. */
export type PhysRange = AddrRange<PhysAddr>;
/** A range of kernel virtual memory. */
export type KernelVaRange = AddrRange<KernelVa>;

/** Builds a range; throws ADDR_OVERFLOW when `start + size` passes 2^64. */
export function range<A extends PhysAddr | KernelVa>(start: A, sz: Size): AddrRange<A> {
  if (start + sz > U64_LIMIT) {
    throw new AddrError(AddrCode.Overflow, `addr: range ${hex(start)} + ${hex(sz)} passes 2^64`, {
      start,
      size: sz,
    });
  }
  return { start, size: sz };
}

/** Builds a range from its start and exclusive end; throws ADDR_UNDERFLOW when end < start. */
export function rangeFromEnd<A extends PhysAddr | KernelVa>(start: A, endExclusive: bigint): AddrRange<A> {
  if (endExclusive < start) {
    throw new AddrError(AddrCode.Underflow, `addr: range end ${hex(endExclusive)} lies below start ${hex(start)}`, {
      start,
      end: endExclusive,
    });
  }
  if (endExclusive > U64_LIMIT) {
    throw new AddrError(AddrCode.Overflow, `addr: range end ${hex(endExclusive)} passes 2^64`, {
      start,
      end: endExclusive,
    });
  }
  return { start, size: (endExclusive - start) as Size };
}

declare const endOf: unique symbol;
/**
 * The exclusive end of a range of space `A`: an integer in [0, 2^64]. It may be 2^64, one past
 * the last address, so it is not an `A`; compare it with addresses of `A`, and use `endAddr`
 * for the end as an address.
 */
export type RangeEnd<A extends PhysAddr | KernelVa> = bigint & { readonly [endOf]: A };

/** Exclusive end of a range (it may be 2^64). */
export function rangeEnd<A extends PhysAddr | KernelVa>(r: AddrRange<A>): RangeEnd<A> {
  return (r.start + r.size) as RangeEnd<A>;
}

/** The exclusive end of a range as an address of its space; ADDR_OVERFLOW when it is 2^64. */
export function endAddr<A extends PhysAddr | KernelVa>(r: AddrRange<A>): A {
  return add(r.start, r.size);
}

/**
 * The whole 4 KiB pages of a raw firmware range `[start, start + sz)` (a device tree's or a
 * memory map's, not checked yet): rounded inward, as FreeBSD's physmem does, and clipped below
 * 2^64; undefined when it holds no whole page.
 */
export function wholePages(start: bigint, sz: bigint): PhysRange | undefined {
  if (start < 0n || sz <= 0n || start > U64_LIMIT - SZ_4K) return undefined;
  const first = (start + SZ_4K - 1n) & ~(SZ_4K - 1n);
  const end = start + sz < U64_LIMIT ? start + sz : U64_LIMIT;
  const last = end & ~(SZ_4K - 1n);
  return last > first ? rangeFromEnd(phys(first), last) : undefined;
}

/** True for a zero-length range. */
export function isEmpty(r: AddrRange<PhysAddr | KernelVa>): boolean {
  return r.size === 0n;
}

/** True when the two ranges share at least one byte (empty ranges overlap nothing). */
export function overlaps<A extends PhysAddr | KernelVa>(a: AddrRange<A>, b: AddrRange<A>): boolean {
  if (a.size === 0n || b.size === 0n) return false;
  return a.start < rangeEnd(b) && b.start < rangeEnd(a);
}

/**
 * True when `inner` (an address or a range) lies inside `outer`. An empty inner range is
 * contained when its start lies in `[outer.start, outer.end]`.
 */
export function contains<A extends PhysAddr | KernelVa>(outer: AddrRange<A>, inner: AddrRange<A> | A): boolean {
  if (typeof inner === 'bigint') return inner >= outer.start && inner < rangeEnd(outer);
  return inner.start >= outer.start && rangeEnd(inner) <= rangeEnd(outer);
}

/** The common part of two ranges, or `undefined` when they share no byte. */
export function intersect<A extends PhysAddr | KernelVa>(a: AddrRange<A>, b: AddrRange<A>): AddrRange<A> | undefined {
  if (!overlaps(a, b)) return undefined;
  const start = a.start > b.start ? a.start : b.start;
  const endA = rangeEnd(a);
  const endB = rangeEnd(b);
  const end = endA < endB ? endA : endB;
  return { start, size: (end - start) as Size };
}

/** `start-end` in hex with an inclusive end, as FreeBSD and /proc/iomem print ranges. */
export function formatRange(r: AddrRange<PhysAddr | KernelVa>): string {
  if (r.size === 0n) return `${hex(r.start)} (empty)`;
  return `${hex(r.start)}-${hex(rangeEnd(r) - 1n)}`;
}

/**
 * Parses a size with FreeBSD's suffixes (`128M`, `2g`, `0x1000`, `4096`, `1T`): K, M, G, T
 * (powers of 1024), as `debug.rescue_memsize` and loader.conf accept. Returns undefined
 * when the text is not a size.
 */
export function parseSizeText(text: string): Size | undefined {
  const m = /^\s*(0x[0-9a-f]+|[0-9]+)\s*([kmgt]?)b?\s*$/i.exec(text);
  if (m === null) return undefined;
  const digits = m[1] ?? '';
  const base = BigInt(digits);
  const shift = { '': 0n, k: 10n, m: 20n, g: 30n, t: 40n }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const v = base << shift;
  if (v > U64_MAX) return undefined;
  return v as Size;
}
