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
 *
 * `kernelBlockTables`: a generic host-kernel map (TTBR1: vaBase + k → PA + k; TTBR0: identity
 * ranges) with 2 MiB blocks, for the machine's model of the panicking host.
 */
import { hex, phys, type KernelVa, type PhysAddr, type PhysRange, type Size } from '../../addr.js';
import { PagePool } from '../page-pool.js';
import { TrampolineCode, TrampolineError } from '../errors.js';
import {
  ARM64_ADDR_MASK,
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
  TTBR0_VA_LIMIT,
  TTBR1_VA_MIN,
  VM_MEMATTR_UNCACHEABLE,
  VM_MEMATTR_WRITE_BACK,
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

/** The L2 block attributes of a host kernel's own map (pmap's kernel superpages, write-back). */
export const KERNEL_BLOCK_ATTRS = ATTR_DEFAULT | ATTR_S1_IDX(VM_MEMATTR_WRITE_BACK);

/** One more VA → PA run for `kernelBlockTables` (both 2 MiB aligned; size a multiple of 2 MiB). */
export interface BlockRun {
  readonly va: bigint;
  readonly pa: PhysAddr;
  readonly size: Size;
}

export interface KernelBlockTablesOptions {
  /** First VA of the kernel map, normally KERNBASE (a TTBR1 address). */
  readonly vaBase: KernelVa;
  /** PA that `vaBase` maps to (2 MiB aligned). */
  readonly pa: PhysAddr;
  /** Bytes mapped (a multiple of 2 MiB). */
  readonly size: Size;
  /** Physical ranges identity-mapped through TTBR0 (rounded out to 2 MiB; below 2^48). */
  readonly identity?: readonly PhysRange[];
  /** Further runs: TTBR1 VAs (top 16 bits set) or TTBR0 VAs (below 2^48). */
  readonly extra?: readonly BlockRun[];
}

export interface KernelBlockTables {
  /** The L0 page for TTBR1_EL1 (kernel half). */
  readonly ttbr1: PhysAddr;
  /** The L0 page for TTBR0_EL1 (identity ranges; empty when none were asked for). */
  readonly ttbr0: PhysAddr;
}

/**
 * A host kernel's mapping as L0/L1/L2 tables with 2 MiB blocks
 * (L2_BLOCK | ATTR_DEFAULT | ATTR_S1_IDX(VM_MEMATTR_WRITE_BACK)), built into `pool`:
 * vaBase + k → pa + k through TTBR1, identity ranges and low runs through TTBR0. Two runs that
 * send one 2 MiB block to different frames, or a run that is misaligned or outside both
 * halves, is TRAMPOLINE_BAD_RANGE; a pool too small is TRAMPOLINE_POOL_EXHAUSTED.
 * Layout per sys/arm64/include/pte.h and the Arm ARM D8 (4 KiB granule, 48-bit VA).
 */
export function kernelBlockTables(pool: PagePool, opts: KernelBlockTablesOptions): KernelBlockTables {
  const ttbr1 = pool.alloc('the host TTBR1 L0');
  const ttbr0 = pool.alloc('the host TTBR0 L0');
  const runs: { va: bigint; pa: bigint; size: bigint; what: string }[] = [
    { va: opts.vaBase, pa: opts.pa, size: opts.size, what: 'the kernel map' },
  ];
  for (const r of opts.identity ?? []) {
    const start = r.start & ~(L2_SIZE - 1n);
    const end = (r.start + r.size + L2_SIZE - 1n) & ~(L2_SIZE - 1n);
    if (r.size > 0n) runs.push({ va: start, pa: start, size: end - start, what: `identity ${hex(r.start)}` });
  }
  for (const r of opts.extra ?? []) runs.push({ va: r.va, pa: r.pa, size: r.size, what: `run ${hex(r.va)}` });
  for (const run of runs) {
    const end = run.va + run.size;
    const high = run.va >= TTBR1_VA_MIN && end <= 1n << 64n;
    const low = end <= TTBR0_VA_LIMIT;
    const aligned = run.va % L2_SIZE === 0n && run.pa % L2_SIZE === 0n && run.size % L2_SIZE === 0n;
    if (!aligned || !(high || low) || run.pa + run.size > ARM64_ADDR_MASK + 0x1000n) {
      throw new TrampolineError(
        TrampolineCode.BadRange,
        `trampoline: ${run.what} (${hex(run.va)} -> ${hex(run.pa)}, ${hex(run.size)} bytes) is not 2 MiB aligned or lies outside TTBR0/TTBR1`,
        { va: run.va, pa: run.pa, size: run.size },
      );
    }
    const root = high ? ttbr1 : ttbr0;
    for (let off = 0n; off < run.size; off += L2_SIZE) {
      const va = run.va + off;
      const block = L2_BLOCK | KERNEL_BLOCK_ATTRS | (run.pa + off);
      const l1 = nextTable(pool, root, idx(va, L0_SHIFT), L0_TABLE, 'a host L1');
      const l2 = nextTable(pool, l1, idx(va, L1_SHIFT), L1_TABLE, 'a host L2');
      const old = pool.get(l2, idx(va, L2_SHIFT));
      if (old !== 0n && old !== block) {
        throw new TrampolineError(
          TrampolineCode.BadRange,
          `trampoline: ${run.what} maps ${hex(va)} to ${hex(run.pa + off)}, already mapped to ${hex(old & ARM64_ADDR_MASK)}`,
          { va, pa: run.pa + off, existing: old & ARM64_ADDR_MASK },
        );
      }
      pool.set(l2, idx(va, L2_SHIFT), block);
    }
  }
  return { ttbr1, ttbr0 };
}

/** The next-level table under `table[index]`, allocated (a table descriptor) when empty. */
function nextTable(pool: PagePool, table: PhysAddr, index: number, desc: bigint, what: string): PhysAddr {
  const e = pool.get(table, index);
  if (e !== 0n) return phys(e & ARM64_ADDR_MASK);
  const next = pool.alloc(what);
  pool.set(table, index, desc | next);
  return next;
}
