/**
 * Host-kernel translation tables with mixed leaf sizes (4 KiB, 2 MiB, 1 GiB), built into a
 * `PagePool` (pure: page images only). Contract: `mapRun(pool, root, fmt, run)` maps
 * `[va, va+size) → [pa, pa+size)` (4 KiB aligned) with the largest leaf the alignment allows,
 * up to `fmt.largest`; it descends through existing tables and never replaces an entry.
 * Formats: amd64 as pmap enters kernel mappings (V|RW|A|M, PS for 2 MiB / 1 GiB;
 * sys/amd64/amd64/pmap.c create_pagetables), arm64 as pmap_bootstrap_dmap / pmap_bootstrap
 * enter them (L1/L2 blocks and L3 pages with ATTR_DEFAULT | ATTR_S1_IDX(VM_MEMATTR_WRITE_BACK),
 * tables as *_TABLE; sys/arm64/arm64/pmap.c, sys/arm64/include/pte.h).
 */
import assert from 'node:assert/strict';
import { PG_FRAME, PG_PS, PG_RW, PG_V } from '../../loader/arch/amd64/layout.js';
import { PG_A, PG_M } from '../../loader/arch/amd64/paging.js';
import {
  ARM64_ADDR_MASK,
  ATTR_DEFAULT,
  ATTR_S1_IDX,
  L1_BLOCK,
  L3_PAGE,
  VM_MEMATTR_WRITE_BACK,
} from '../../loader/arch/arm64/layout.js';
import { SZ_4K } from '../../loader/addr.js';
import type { PagePool } from '../../loader/arch/page-pool.js';
import type { Arch } from '../../loader/arch/index.js';

/** Level numbers: 4 = PML4 / L0, 3 = PDP / L1, 2 = PD / L2, 1 = PT / L3. */
type Level = 1 | 2 | 3 | 4;
const SHIFT: { readonly [L in Level]: bigint } = { 4: 39n, 3: 30n, 2: 21n, 1: 12n };

export interface TableFormat {
  readonly table: (next: bigint) => bigint;
  readonly leaf: (pa: bigint, level: Level) => bigint;
  readonly frame: (entry: bigint) => bigint;
  readonly isLeaf: (entry: bigint, level: Level) => boolean;
  /** Highest level that may hold a leaf (3: 1 GiB). */
  readonly largest: 2 | 3;
}

const WB = ATTR_DEFAULT | ATTR_S1_IDX(VM_MEMATTR_WRITE_BACK);

export const TABLE_FORMATS: { readonly [A in Arch]: TableFormat } = {
  amd64: {
    table: (next) => next | PG_RW | PG_V,
    leaf: (pa, level) => pa | (level > 1 ? PG_PS : 0n) | PG_A | PG_M | PG_RW | PG_V,
    frame: (e) => e & PG_FRAME,
    isLeaf: (e, level) => level === 1 || (e & PG_PS) !== 0n,
    largest: 3,
  },
  arm64: {
    table: (next) => next | 0x3n,
    leaf: (pa, level) => pa | (level > 1 ? L1_BLOCK : L3_PAGE) | WB,
    frame: (e) => e & ARM64_ADDR_MASK,
    isLeaf: (e, level) => level === 1 || (e & 0x3n) === L1_BLOCK,
    largest: 3,
  },
};

/** One run to map. */
export interface MapRun {
  readonly va: bigint;
  readonly pa: bigint;
  readonly size: bigint;
  /** Largest leaf allowed for this run (default the format's). */
  readonly largest?: 1 | 2 | 3;
}

const idx = (va: bigint, level: Level): number => Number((va >> SHIFT[level]) & 511n);

/** Maps one run (see the module contract). */
export function mapRun(pool: PagePool, root: bigint, fmt: TableFormat, run: MapRun): void {
  assert.equal(run.va % SZ_4K, 0n, 'mapRun: va not page aligned');
  assert.equal(run.pa % SZ_4K, 0n, 'mapRun: pa not page aligned');
  assert.equal(run.size % SZ_4K, 0n, 'mapRun: size not page aligned');
  const largest = Math.min(run.largest ?? fmt.largest, fmt.largest);
  let off = 0n;
  while (off < run.size) {
    const va = run.va + off;
    const pa = run.pa + off;
    const left = run.size - off;
    let table = root;
    let level: Level = 4;
    for (;;) {
      const span = 1n << SHIFT[level];
      const i = idx(va, level);
      const e = pool.get(table, i);
      const canLeaf = level <= largest && va % span === 0n && pa % span === 0n && left >= span;
      if (canLeaf && e === 0n) {
        pool.set(table, i, fmt.leaf(pa, level));
        off += span;
        break;
      }
      assert.ok(level > 1, `mapRun: ${va.toString(16)} is already mapped`);
      if (e !== 0n && fmt.isLeaf(e, level)) {
        assert.fail(`mapRun: ${va.toString(16)} lies in an existing leaf`);
      }
      let next = fmt.frame(e);
      if (e === 0n) {
        next = pool.alloc('a host page-table page');
        pool.set(table, i, fmt.table(next));
      }
      table = next;
      level = (level - 1) as Level;
    }
  }
}
