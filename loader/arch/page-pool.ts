/**
 * A bump allocator of zeroed 4 KiB page-table pages at known physical addresses, writing
 * 64-bit little-endian entries — the shape of D47358's rescue_kernel_alloc_ptp() and of
 * the loader's hand-built tables. Pure: it produces page images, nothing is written to RAM.
 *
 * Contract: `alloc()` hands out pages in order and throws `TrampolineError` when the pool
 * is exhausted (D47358 panics "rescue: ran out of bootstrap PTPs"); `set`/`get` index
 * entries 0..511 of a page the pool owns; `pages()` returns every page used, in order.
 */
import { add, hex, size, SZ_4K, toNumber, type PhysAddr } from '../addr.js';
import { TrampolineCode, TrampolineError } from './errors.js';

/** The bytes of one page-table page (SZ_4K as a number, for buffer lengths). */
export const PAGE_BYTES = toNumber(SZ_4K);
export const ENTRIES = 512;

export class PagePool {
  readonly base: PhysAddr;
  readonly capacity: number;
  private readonly tables: BigUint64Array[] = [];

  constructor(base: PhysAddr, capacity: number) {
    this.base = base;
    this.capacity = capacity;
  }

  /** Pages handed out so far. */
  get used(): number {
    return this.tables.length;
  }

  /** A fresh zeroed page; returns its physical address. */
  alloc(what: string): PhysAddr {
    if (this.tables.length >= this.capacity) {
      throw new TrampolineError(
        TrampolineCode.PoolExhausted,
        `trampoline: ran out of page-table pages for ${what} (pool of ${this.capacity} at ${hex(this.base)})`,
        { what, capacity: this.capacity, base: this.base },
      );
    }
    this.tables.push(new BigUint64Array(ENTRIES));
    return this.pageAt(this.tables.length - 1);
  }

  /** True when `pa` is a page of this pool that has been handed out. */
  owns(pa: bigint): boolean {
    const off = pa - this.base;
    return off >= 0n && off % SZ_4K === 0n && off / SZ_4K < BigInt(this.tables.length);
  }

  /** The address of page `i` of the pool. */
  private pageAt(i: number): PhysAddr {
    return add(this.base, size(BigInt(i) * SZ_4K));
  }

  private table(pa: bigint): BigUint64Array {
    const t = this.owns(pa) ? this.tables[Number((pa - this.base) / SZ_4K)] : undefined;
    if (t === undefined) throw new Error(`page ${hex(pa)} is not a page of this pool`);
    return t;
  }

  set(pa: bigint, index: number | bigint, value: bigint): void {
    this.table(pa)[Number(index)] = value;
  }

  get(pa: bigint, index: number | bigint): bigint {
    return this.table(pa)[Number(index)] ?? 0n;
  }

  /** Every page handed out: its address and bytes. */
  pages(): { readonly pa: PhysAddr; readonly bytes: Uint8Array }[] {
    return this.tables.map((t, i) => ({
      pa: this.pageAt(i),
      bytes: new Uint8Array(t.buffer.slice(0)),
    }));
  }
}
