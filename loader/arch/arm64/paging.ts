/**
 * arm64 translation tables for the rescue jump, built as page images (pure).
 *
 * `rescueIdentityTables`: what D47358's arm64 rescue_kernel_exec() builds in three static
 * pages of the host kernel (pt_l0, pt_l1, pt_l2; markjdb/freebsd @bd74b35
 * sys/arm64/arm64/rescue_machdep.c): the whole reservation identity-mapped with 2 MiB
 * blocks (L2_BLOCK | ATTR_DEFAULT | ATTR_S1_IDX(VM_MEMATTR_UNCACHEABLE) | ATTR_S1_nG).
 * Because the reservation never crosses a 1 GiB boundary, one L1 and one L2 page suffice.
 * TTBR0_EL1 is then pointed at the L0 page, the TLB flushed, and the kernel entered with
 * the MMU on at rescue_pa + 2 MiB + (e_entry − KERNBASE), x0 = KERNBASE + rescue_memsize.
 */
import { hex, type PhysAddr, type Size } from '../../addr.js';
import { PagePool } from '../page-pool.js';
import { TrampolineCode, TrampolineError } from '../trampoline-errors.js';
import {
  ATTR_DEFAULT,
  ATTR_S1_IDX,
  ATTR_S1_nG,
  L0_SHIFT,
  L0_TABLE,
  L1_SHIFT,
  L1_TABLE,
  L2_BLOCK,
  L2_SHIFT,
  L2_SIZE,
  VM_MEMATTR_UNCACHEABLE,
  VM_MAX_USER_ADDRESS,
} from './layout.js';

const idx = (va: bigint, shift: bigint): number => Number((va >> shift) & 511n);

/** The L2 block attributes rescue_kernel_exec uses. */
export const RESCUE_BLOCK_ATTRS = ATTR_DEFAULT | ATTR_S1_IDX(VM_MEMATTR_UNCACHEABLE) | ATTR_S1_nG;

export interface RescueIdentityTables {
  /** The value for TTBR0_EL1 (the L0 page). */
  readonly ttbr0: PhysAddr;
  readonly pool: PagePool;
}

/**
 * Builds the identity map of [rescuePa, rescuePa + memsize) in three consecutive pages at
 * `tablesPa` (L0, L1, L2), as rescue_kernel_exec does in its static pt_l0/pt_l1/pt_l2.
 */
export function rescueIdentityTables(rescuePa: PhysAddr, memsize: Size, tablesPa: PhysAddr): RescueIdentityTables {
  const end = rescuePa + memsize;
  if (end > VM_MAX_USER_ADDRESS || rescuePa >> L1_SHIFT !== (end - 1n) >> L1_SHIFT) {
    throw new TrampolineError(
      TrampolineCode.BadRange,
      `trampoline: reservation ${hex(rescuePa)}+${hex(memsize)} must lie in one 1 GiB window below ${hex(VM_MAX_USER_ADDRESS)}`,
      { rescuePa, memsize },
    );
  }
  const pool = new PagePool(tablesPa, 3);
  const l0 = pool.alloc('pt_l0');
  const l1 = pool.alloc('pt_l1');
  const l2 = pool.alloc('pt_l2');
  pool.set(l0, idx(rescuePa, L0_SHIFT), L0_TABLE | l1);
  pool.set(l1, idx(rescuePa, L1_SHIFT), L1_TABLE | l2);
  for (let pa = rescuePa as bigint; pa < end; pa += L2_SIZE)
    pool.set(l2, idx(pa, L2_SHIFT), L2_BLOCK | RESCUE_BLOCK_ATTRS | pa);
  return { ttbr0: l0, pool };
}
