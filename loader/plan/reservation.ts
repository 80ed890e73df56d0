/**
 * The rescue reservation: how big it is and where it goes.
 *
 * Contract (markjdb/freebsd @bd74b35 sys/{amd64,arm64}/{amd64,arm64}/rescue_machdep.c,
 * rescue_kernel_init):
 *  - size = rescue_memsize (default 128 MiB, tunable `debug.rescue_memsize` with FreeBSD's
 *    K/M/G/T suffixes) + round_page(rescue kernel file length) + 2 MiB;
 *  - 2 MiB aligned (RESCUE_RESERV_ALIGN), never crossing a 1 GiB boundary
 *    (RESCUE_RESERV_BOUNDARY), inside free RAM;
 *  - amd64: below 4 GiB only; arm64: below 4 GiB if possible, else anywhere below
 *    VM_MAX_USER_ADDRESS (TTBR0 must be able to identity-map it).
 * Where several places fit, kboot takes the highest (top-down, as Linux places
 * `crashkernel=`), or the lowest on request, or an exact `at` the user gives, which is
 * checked against every rule with every violation reported.
 */
import {
  alignUp,
  formatRange,
  hex,
  overlaps,
  parseSizeText,
  rangeEnd,
  SZ_4K,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../addr.js';
import { archInfo, type Arch } from '../arch/index.js';
import { PlanCode, PlanError } from '../errors.js';
import { RESCUE_KERNEL_OFFSET, RESCUE_RESERV_ALIGN, RESCUE_RESERV_BOUNDARY } from '../kernel-abi/rescue.js';
import type { MemoryMap } from './memory-map.js';
import { findHole, normalize, totalSize } from './ranges.js';

/** The kenv tunable that sets the rescue kernel's free memory. */
export const RESCUE_MEMSIZE_TUNABLE = 'debug.rescue_memsize';

/** Reads `debug.rescue_memsize` from a kenv (first match wins, as kenv lookups do). */
export function memsizeFromKenv(kenv: readonly (readonly [string, string])[]): Size | undefined {
  const hit = kenv.find(([k]) => k === RESCUE_MEMSIZE_TUNABLE);
  if (hit === undefined) return undefined;
  const v = parseSizeText(hit[1]);
  if (v === undefined) {
    throw new PlanError(PlanCode.BadMemsize, `plan: ${RESCUE_MEMSIZE_TUNABLE}="${hit[1]}" is not a size`, {
      value: hit[1],
    });
  }
  return v;
}

/** Bytes the reservation needs: memsize + round_page(kernel file) + 2 MiB. */
export function reservationSize(memsize: Size, kernelFileSize: Size): Size {
  return (memsize + alignUp(kernelFileSize, SZ_4K) + RESCUE_KERNEL_OFFSET) as Size;
}

/** Where and how large a rescue reservation should be (rescue_kernel_init's rules apply). */
export interface PlacementRequest {
  readonly arch: Arch;
  readonly size: Size;
  /** Put it exactly here (checked). */
  readonly at?: PhysAddr;
  readonly prefer?: 'highest' | 'lowest';
}

/** Where a rescue reservation was placed, and why there. */
export interface Placement {
  readonly region: PhysRange;
  /** Why it is there, in words, for `kboot plan`. */
  readonly why: string;
  /** The upper limit that applied. */
  readonly limit: bigint;
}

function limitName(limit: bigint): string {
  return limit === 1n << 32n ? '4 GiB' : hex(limit);
}

/** Places the reservation in the free RAM of `map` (see the module contract). */
export function placeReservation(map: MemoryMap, req: PlacementRequest): Placement {
  const info = archInfo(req.arch);
  const prefer = req.prefer ?? 'highest';
  const free = normalize(map.free);
  if (req.at !== undefined) return checkExact(map, req, req.at);
  const limits =
    info.rescuePreferredLimit < info.rescueHardLimit
      ? [info.rescuePreferredLimit, info.rescueHardLimit]
      : [info.rescueHardLimit];
  for (const [i, limit] of limits.entries()) {
    const hole = findHole(free, {
      size: req.size,
      align: RESCUE_RESERV_ALIGN,
      boundary: RESCUE_RESERV_BOUNDARY,
      below: limit,
      prefer,
    });
    if (hole !== undefined) {
      const fallback = i > 0 ? ` (nothing fits below ${limitName(limits[0] ?? 0n)}, so above it, as arm64 allows)` : '';
      return {
        region: hole,
        limit,
        why: `${prefer} 2 MiB-aligned run of free RAM below ${limitName(limit)} that does not cross a 1 GiB boundary${fallback}`,
      };
    }
  }
  const largest = free.reduce((m, r) => (r.size > m ? r.size : m), 0n);
  throw new PlanError(
    PlanCode.NoHole,
    `plan: no room for a ${hex(req.size)}-byte rescue reservation (2 MiB aligned, within one 1 GiB window, below ${limitName(
      limits[limits.length - 1] ?? 0n,
    )}); largest free range ${hex(largest)}, ${hex(totalSize(free))} free in all`,
    { size: req.size, largestFree: largest, totalFree: totalSize(free), limit: limits[limits.length - 1] },
  );
}

function checkExact(map: MemoryMap, req: PlacementRequest, at: PhysAddr): Placement {
  const info = archInfo(req.arch);
  const region: PhysRange = { start: at, size: req.size };
  const end = rangeEnd(region);
  const problems: string[] = [];
  if (at % RESCUE_RESERV_ALIGN !== 0n) problems.push(`${hex(at)} is not 2 MiB aligned`);
  if (at / RESCUE_RESERV_BOUNDARY !== (end - 1n) / RESCUE_RESERV_BOUNDARY) {
    problems.push(`${formatRange(region)} crosses a 1 GiB boundary`);
  }
  if (end > info.rescueHardLimit) problems.push(`${formatRange(region)} ends above ${limitName(info.rescueHardLimit)}`);
  for (const e of map.entries) {
    if (e.use !== 'free' && overlaps(e.range, region))
      problems.push(`it overlaps ${e.use} "${e.label}" ${formatRange(e.range)}`);
  }
  const inFree = map.free.some((f) => at >= f.start && end <= rangeEnd(f));
  if (!inFree && problems.length === 0) problems.push(`${formatRange(region)} is not entirely RAM`);
  if (problems.length > 0) {
    throw new PlanError(
      PlanCode.BadPlacement,
      `plan: cannot place the reservation at ${hex(at)}: ${problems.join('; ')}`,
      {
        at,
        size: req.size,
        problems,
      },
    );
  }
  return { region, limit: info.rescueHardLimit, why: `placed at ${hex(at)} as requested` };
}
