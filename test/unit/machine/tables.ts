/**
 * Test helper: builds x86-64 and AArch64 page tables in guest RAM from a page pool, written
 * from the architecture manuals independently of machine/x86-walker.ts and arm64-walker.ts
 * (Intel SDM vol. 3A §4.5; ARM ARM D8.3), so walker tests compare two separate readings.
 */
import { phys, size, type PhysAddr } from '../../../loader/addr.js';
import type { GuestRam } from '../../../loader/memory/guest-ram.js';

const K4 = 0x1000n;
const M2 = 0x20_0000n;
const G1 = 0x4000_0000n;

function w64(ram: GuestRam, at: bigint, v: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  ram.write(phys(at), b);
}
function r64(ram: GuestRam, at: bigint): bigint {
  const b = ram.read(phys(at), 8);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

/** A bump allocator of zeroed 4 KiB table pages. */
class Pool {
  private next: bigint;
  constructor(
    private readonly ram: GuestRam,
    start: bigint,
    private readonly end: bigint,
  ) {
    this.next = start;
  }
  page(): bigint {
    if (this.next + K4 > this.end) throw new Error('table pool exhausted');
    const p = this.next;
    this.next += K4;
    this.ram.fill(phys(p), size(K4), 0);
    return p;
  }
}

/** x86-64 leaf options. */
export interface X86MapOptions {
  readonly pageSize?: bigint;
  readonly write?: boolean;
  readonly user?: boolean;
  readonly nx?: boolean;
}

/** 4-level x86-64 tables (P=1, RW=2, U/S=4, PS=0x80, XD=bit 63). */
export class X86Tables {
  readonly cr3: bigint;
  private readonly pool: Pool;
  constructor(
    private readonly ram: GuestRam,
    poolStart: bigint,
    poolEnd: bigint,
  ) {
    this.pool = new Pool(ram, poolStart, poolEnd);
    this.cr3 = this.pool.page();
  }

  private index(va: bigint, level: number): bigint {
    return (va >> (12n + 9n * BigInt(level - 1))) & 511n;
  }

  /** Address of the entry for `va` at `level` (4 = PML4 ... 1 = PT), creating tables down to it. */
  entryAddr(va: bigint, level: number): bigint {
    let table = this.cr3;
    for (let l = 4; l > level; l--) {
      const at = table + this.index(va, l) * 8n;
      let e = r64(this.ram, at);
      if ((e & 1n) === 0n) {
        e = this.pool.page() | 0x7n;
        w64(this.ram, at, e);
      }
      table = e & 0x000f_ffff_ffff_f000n;
    }
    return table + this.index(va, level) * 8n;
  }

  /** Maps [va, va+size) to [pa, ...) with leaves of `pageSize` (4 KiB, 2 MiB or 1 GiB). */
  map(va: bigint, pa: bigint, size: bigint, o: X86MapOptions = {}): void {
    const ps = o.pageSize ?? K4;
    const level = ps === G1 ? 3 : ps === M2 ? 2 : 1;
    const flags = 1n | (o.write === false ? 0n : 2n) | (o.user === true ? 4n : 0n) | (o.nx === true ? 1n << 63n : 0n);
    for (let off = 0n; off < size; off += ps) {
      w64(this.ram, this.entryAddr(va + off, level), (pa + off) | flags | (level > 1 ? 0x80n : 0n));
    }
  }

  /** Clears the leaf entry for `va` at `level`. */
  unmap(va: bigint, level = 1): void {
    w64(this.ram, this.entryAddr(va, level), 0n);
  }

  /** Writes a raw entry value. */
  setEntry(va: bigint, level: number, value: bigint): void {
    w64(this.ram, this.entryAddr(va, level), value);
  }
}

/** AArch64 leaf options. */
export interface Arm64MapOptions {
  /** 4 KiB page, 2 MiB block or 1 GiB block. */
  readonly block?: bigint;
  readonly readOnly?: boolean;
  /** MAIR attribute index (0 normal, 1 device in these tests). */
  readonly attr?: bigint;
  readonly af?: boolean;
}

/** TCR_EL1 for 48-bit VAs, 4 KiB granules, inner-shareable WB WA, 40-bit IPA (spec Q7). */
export const TEST_TCR = 0x2_b510_3510n;
/** MAIR_EL1: attr0 normal WB, attr1 device nGnRnE. */
export const TEST_MAIR = 0x00ffn;
/** SCTLR_EL1 reset value (spec Q7) with M set. */
export const TEST_SCTLR_MMU = 0xc5_0839n;

/** Stage-1 tables for TTBR0 (low) and TTBR1 (high), 48-bit VAs, 4 KiB granule. */
export class Arm64Tables {
  readonly ttbr0: bigint;
  readonly ttbr1: bigint;
  private readonly pool: Pool;
  constructor(
    private readonly ram: GuestRam,
    poolStart: bigint,
    poolEnd: bigint,
  ) {
    this.pool = new Pool(ram, poolStart, poolEnd);
    this.ttbr0 = this.pool.page();
    this.ttbr1 = this.pool.page();
  }

  private index(va: bigint, level: number): bigint {
    return (va >> (12n + 9n * BigInt(3 - level))) & 511n;
  }

  entryAddr(va: bigint, level: number): bigint {
    let table = va >> 63n === 1n ? this.ttbr1 : this.ttbr0;
    for (let l = 0; l < level; l++) {
      const at = table + this.index(va, l) * 8n;
      let e = r64(this.ram, at);
      if ((e & 1n) === 0n) {
        e = this.pool.page() | 0x3n;
        w64(this.ram, at, e);
      }
      table = e & 0x0000_ffff_ffff_f000n;
    }
    return table + this.index(va, level) * 8n;
  }

  map(va: bigint, pa: bigint, size: bigint, o: Arm64MapOptions = {}): void {
    const blk = o.block ?? K4;
    const level = blk === G1 ? 1 : blk === M2 ? 2 : 3;
    const low =
      (level === 3 ? 0x3n : 0x1n) |
      ((o.attr ?? 0n) << 2n) |
      (o.readOnly === true ? 1n << 7n : 0n) |
      (3n << 8n) | // inner shareable
      (o.af === false ? 0n : 1n << 10n);
    for (let off = 0n; off < size; off += blk) {
      w64(this.ram, this.entryAddr(va + off, level), (pa + off) | low);
    }
  }

  setEntry(va: bigint, level: number, value: bigint): void {
    w64(this.ram, this.entryAddr(va, level), value);
  }
}

/** Reads a little-endian u64 from guest RAM. */
export function readU64(ram: GuestRam, at: PhysAddr | bigint): bigint {
  return r64(ram, at);
}

/** Writes a little-endian u64 to guest RAM. */
export function writeU64(ram: GuestRam, at: PhysAddr | bigint, v: bigint): void {
  w64(ram, at, v);
}
