/**
 * What the page-table walkers (x86-walker.ts, arm64-walker.ts) share: VA ranges, merging the
 * table pages a walk read, and finding the run that maps an address.
 */
import { phys, size, SZ_4K, type PhysAddr, type Size } from '../loader/addr.js';

/** A VA range [start, end); `end` may be 2^64. */
export interface VaRange {
  readonly start: bigint;
  readonly end: bigint;
}

/** Merges 4 KiB page addresses into sorted ranges. */
export function mergePages(pages: readonly bigint[]): { start: PhysAddr; size: Size }[] {
  const sorted = [...new Set(pages)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: { start: PhysAddr; size: Size }[] = [];
  for (const p of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.start + last.size === p)
      out[out.length - 1] = { ...last, size: size(last.size + SZ_4K) };
    else out.push({ start: phys(p), size: SZ_4K });
  }
  return out;
}

/** The run that maps `va`, if any (runs sorted by VA and not overlapping, as the walkers return them). */
export function findRun<R extends { readonly va: bigint; readonly size: bigint }>(
  runs: readonly R[],
  va: bigint,
): R | undefined {
  let lo = 0;
  let hi = runs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = runs[mid];
    if (r === undefined) break;
    if (va < r.va) hi = mid - 1;
    else if (va - r.va >= r.size) lo = mid + 1;
    else return r;
  }
  return undefined;
}
