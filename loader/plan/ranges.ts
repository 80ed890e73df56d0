/**
 * Set operations on lists of physical ranges (half-open), and the hole finder.
 *
 * Contract: every function returns sorted, merged, non-empty ranges and never mutates its
 * inputs. `findHole` returns the placement the rescue reservation rules ask for
 * (size, power-of-two alignment, never crossing a `boundary`, ending at or below `below`),
 * choosing the highest or lowest such address, or `undefined` when none exists.
 * The same constraints as `kmem_alloc_contig(size, low=0, high, align, boundary)` in
 * markjdb/freebsd @bd74b35 sys/{amd64,arm64}/{amd64,arm64}/rescue_machdep.c.
 */
import { phys, rangeEnd, rangeFromEnd, type PhysRange, type Size } from '../addr.js';

const byStart = (a: PhysRange, b: PhysRange): number => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);

/** Sorts and merges overlapping or adjacent ranges; drops empty ones. */
export function normalize(ranges: readonly PhysRange[]): PhysRange[] {
  const sorted = ranges.filter((r) => r.size > 0n).sort(byStart);
  const out: PhysRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= rangeEnd(last)) {
      const end = rangeEnd(r) > rangeEnd(last) ? rangeEnd(r) : rangeEnd(last);
      out[out.length - 1] = rangeFromEnd(last.start, end);
    } else {
      out.push(r);
    }
  }
  return out;
}

/** `base` minus every range in `holes`. */
export function subtract(base: readonly PhysRange[], holes: readonly PhysRange[]): PhysRange[] {
  const hs = normalize(holes);
  const out: PhysRange[] = [];
  for (const b of normalize(base)) {
    let cur = b.start as bigint;
    const end = rangeEnd(b);
    for (const h of hs) {
      const hEnd = rangeEnd(h);
      if (hEnd <= cur || h.start >= end) continue;
      if (h.start > cur) out.push(rangeFromEnd(phys(cur), h.start));
      cur = hEnd > cur ? hEnd : cur;
      if (cur >= end) break;
    }
    if (cur < end) out.push(rangeFromEnd(phys(cur), end));
  }
  return out;
}

/** The parts of `a` that also lie in `b`. */
export function intersectAll(a: readonly PhysRange[], b: readonly PhysRange[]): PhysRange[] {
  const out: PhysRange[] = [];
  const bn = normalize(b);
  for (const x of normalize(a)) {
    for (const y of bn) {
      const s = x.start > y.start ? x.start : y.start;
      const e = rangeEnd(x) < rangeEnd(y) ? rangeEnd(x) : rangeEnd(y);
      if (e > s) out.push(rangeFromEnd(s, e));
    }
  }
  return normalize(out);
}

/** Total bytes in a range list. */
export function totalSize(ranges: readonly PhysRange[]): Size {
  // a plain sum: the ranges are disjoint, so it is below 2^64 unless they cover the whole space
  return normalize(ranges).reduce((s, r) => s + r.size, 0n) as Size;
}

/** Constraints for a placement. */
export interface HoleRequest {
  readonly size: Size;
  /** Power of two. */
  readonly align: Size;
  /** Power of two (or 0 for none): the range may not cross a multiple of it. */
  readonly boundary: Size;
  /** Exclusive upper limit: the range must end at or below it. */
  readonly below: bigint;
  readonly prefer: 'highest' | 'lowest';
}

function crosses(start: bigint, size: bigint, boundary: bigint): boolean {
  if (boundary === 0n) return false;
  return start / boundary !== (start + size - 1n) / boundary;
}

/** Finds a placement for `req` inside `free` (see the module contract). */
export function findHole(free: readonly PhysRange[], req: HoleRequest): PhysRange | undefined {
  const { size, align, boundary, below } = req;
  if (size === 0n || (boundary !== 0n && size > boundary)) return undefined;
  const mask = align - 1n;
  const ranges = normalize(free);
  if (req.prefer === 'highest') {
    for (let i = ranges.length - 1; i >= 0; i--) {
      const r = ranges[i];
      if (r === undefined) continue;
      const top = rangeEnd(r) < below ? rangeEnd(r) : below;
      if (top < size) continue;
      let s = (top - size) & ~mask;
      while (s >= r.start) {
        if (!crosses(s, size, boundary)) return { start: phys(s), size };
        // move down so the range ends at the boundary line it crossed
        const line = ((s + size - 1n) / boundary) * boundary;
        if (line < size) break;
        s = (line - size) & ~mask;
      }
    }
    return undefined;
  }
  for (const r of ranges) {
    let s = (r.start + mask) & ~mask;
    for (;;) {
      const end = s + size;
      if (end > rangeEnd(r) || end > below) break;
      if (!crosses(s, size, boundary)) return { start: phys(s), size };
      // move up to the boundary line it crossed
      s = ((s / boundary + 1n) * boundary + mask) & ~mask;
    }
  }
  return undefined;
}
