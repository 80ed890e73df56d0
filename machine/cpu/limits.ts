/**
 * Limits of the CPU engine (Unicorn 2.0.1 as Debian ships it), checked in TypeScript before
 * any addon call that could cross them: past them Unicorn does not fail, it aborts the process
 * or degrades without bound, so each becomes a MachineError(CPU_LIMIT) naming the numbers.
 *
 *  - Regions: every window is a Unicorn region and a section of QEMU's physical map;
 *    qemu/exec.c phys_section_add asserts `sections_nb < TARGET_PAGE_SIZE` (4096), so the
 *    4096th aborts the process (measured: a 1 TiB host mapped in 256 MiB chunks died there).
 *    Adding a region also rebuilds the whole map (measured: the 1000th add takes ~1 ms, the
 *    4000th ~50 ms), so kboot keeps at most MAX_WINDOWS, far below the assertion.
 *  - Window size: uc_mem_protect and uc_mem_unmap inside a region cost a TLB flush per 4 KiB
 *    page of the whole region (measured: ~50 ns per page, 0.5 s to protect 4 KiB of a 16 GiB
 *    region), so no window exceeds WINDOW_CHUNK.
 *  - The top of the address space: a region ending at 2^64 maps, but uc_mem_protect computes
 *    its end as 0 and fails (UC_ERR_NOMEM), so windows end at or below SHADOW_VA_LIMIT.
 */
import { hex } from '../../loader/addr.js';
import type { RamRegion } from '../../loader/memory/guest-ram.js';
import { MachineCode, MachineError } from '../errors.js';
import { SHADOW_VA_LIMIT, WINDOW_CHUNK } from './shadow.js';

/** Most Unicorn regions (windows, devices included) kboot lets one CPU have. */
export const MAX_WINDOWS = 1024;
/** The number at which Unicorn 2.0.1 aborts (qemu/exec.c phys_section_add, TARGET_PAGE_SIZE sections). */
export const UNICORN_SECTION_LIMIT = 4096;
/** Largest window (bytes). */
export const MAX_WINDOW_SIZE = WINDOW_CHUNK;

/** CPU_LIMIT unless `count` regions fit. */
export function checkWindowCount(count: number, what: string): void {
  if (count > MAX_WINDOWS) {
    throw new MachineError(
      MachineCode.CpuLimit,
      `machine: ${what} needs ${count} Unicorn regions (at most ${MAX_WINDOWS}; Unicorn 2.0.1 aborts at ${UNICORN_SECTION_LIMIT})`,
      { what, regions: count, max: MAX_WINDOWS, abortsAt: UNICORN_SECTION_LIMIT },
    );
  }
}

/** CPU_LIMIT unless a window of `size` bytes at VA `va` is within the engine's limits. */
export function checkWindow(va: bigint, size: bigint): void {
  if (size > MAX_WINDOW_SIZE) {
    throw new MachineError(
      MachineCode.CpuLimit,
      `machine: a window of ${hex(size)} bytes at ${hex(va)} is larger than ${hex(MAX_WINDOW_SIZE)}`,
      { va, size, max: MAX_WINDOW_SIZE },
    );
  }
  if (va + size > SHADOW_VA_LIMIT) {
    throw new MachineError(
      MachineCode.CpuLimit,
      `machine: a window at ${hex(va)} + ${hex(size)} reaches past ${hex(SHADOW_VA_LIMIT)} (the last page below 2^64)`,
      { va, size, limit: SHADOW_VA_LIMIT },
    );
  }
}

/** Windows mapping every RAM region at its PA, at most WINDOW_CHUNK each (the eager map of `shadow: false`). */
export function identityChunks(regions: readonly RamRegion[]): { va: bigint; pa: bigint; size: bigint }[] {
  const out: { va: bigint; pa: bigint; size: bigint }[] = [];
  for (const r of regions) {
    for (let va = r.base as bigint; va < r.base + r.size;) {
      const next = (va / WINDOW_CHUNK + 1n) * WINDOW_CHUNK;
      const stop = next < r.base + r.size ? next : r.base + r.size;
      out.push({ va, pa: va, size: stop - va });
      va = stop;
    }
  }
  return out;
}
