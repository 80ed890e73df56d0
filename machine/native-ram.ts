/**
 * NativeRam: guest RAM in the C++ addon, one anonymous mmap(MAP_NORESERVE) per region.
 *
 * Contract: the `GuestRam` contract (loader/memory/guest-ram.ts); a 64 GiB machine costs only the pages
 * it touches. Bulk operations (copy, fill, equals, non-zero page scan) run natively at
 * memcpy speed; SHA-256 runs in Node's OpenSSL over zero-copy views.
 */
import { hex, size, type PhysAddr, type Size } from '../loader/addr.js';
import { callNative, loadNative, type NativeGuestRamHandle } from '../native/binding.js';
import {
  checkFillByte,
  checkRegions,
  checkWindowLength,
  isRamRange,
  resolveRange,
  sha256Via,
  type GuestRam,
  type RamRegion,
} from '../loader/memory/guest-ram.js';

export class NativeRam implements GuestRam {
  readonly regions: readonly RamRegion[];
  readonly totalSize: Size;
  private readonly handle: NativeGuestRamHandle;

  constructor(regions: readonly RamRegion[]) {
    this.regions = checkRegions(regions);
    const addon = loadNative();
    this.handle = callNative(() => new addon.GuestRam(this.regions));
    this.totalSize = size(this.regions.reduce((s, r) => s + r.size, 0n));
  }

  /** Range check in TS first, so errors carry full details; the addon checks again. */
  private check(op: string, at: bigint, len: bigint): void {
    resolveRange(this.regions, op, at, len);
  }

  isRam(at: PhysAddr, len: Size): boolean {
    return isRamRange(this.regions, at, len);
  }
  read(at: PhysAddr, len: number): Uint8Array {
    checkWindowLength(len, 'read');
    this.check('read', at, BigInt(len));
    return callNative(() => this.handle.read(at, BigInt(len)));
  }
  write(at: PhysAddr, bytes: Uint8Array): void {
    this.check('write', at, BigInt(bytes.length));
    callNative(() => this.handle.write(at, bytes));
  }
  view(at: PhysAddr, len: number): Uint8Array {
    checkWindowLength(len, 'view');
    this.check('view', at, BigInt(len));
    return callNative(() => this.handle.view(at, BigInt(len)));
  }
  copy(dst: PhysAddr, src: PhysAddr, len: Size): void {
    this.check('copy destination', dst, len);
    this.check('copy source', src, len);
    callNative(() => this.handle.copy(dst, src, len));
  }
  fill(at: PhysAddr, len: Size, byte: number): void {
    checkFillByte(byte);
    this.check('fill', at, len);
    callNative(() => this.handle.fill(at, len, byte));
  }
  equals(at: PhysAddr, bytes: Uint8Array): boolean {
    this.check('equals', at, BigInt(bytes.length));
    return callNative(() => this.handle.equals(at, bytes));
  }
  sha256(at: PhysAddr, len: Size): string {
    return sha256Via(this, at, len);
  }
  nonZeroPages(at: PhysAddr, len: Size): Uint8Array {
    this.check('nonZeroPages', at, len);
    return callNative(() => this.handle.nonZeroPages(at, len), { addr: hex(at) });
  }
  pageDigests(at: PhysAddr, len: Size): Uint32Array {
    this.check('pageDigests', at, len);
    return u32View(callNative(() => this.handle.pageDigests(at, len), { addr: hex(at) }));
  }
  gatherPages(pas: BigUint64Array, digests?: Uint32Array, into?: Uint8Array): Uint8Array {
    return callNative(() => this.handle.gatherPages(pas, digests, into));
  }
  pageDigestsAt(pas: BigUint64Array): Uint32Array {
    return u32View(callNative(() => this.handle.pageDigestsAt(pas)));
  }
  /**
   * Copies every page `src` touched and holds non-zero into this RAM (same regions), so a fresh
   * RAM becomes a copy of `src` at the cost of its touched pages (native/snapshot.cc); the bytes copied.
   */
  copyFrom(src: NativeRam): Size {
    const addon = loadNative();
    return size(callNative(() => addon.copyGuestRam(this.handle, src.handle)));
  }
  residentBytes(): Size {
    return size(callNative(() => this.handle.residentBytes()));
  }
  close(): void {
    callNative(() => this.handle.close());
  }
}

/** The addon returns u32 words as bytes (a Buffer); a fresh one is 4-byte aligned. */
function u32View(b: Buffer): Uint32Array {
  return b.byteOffset % 4 === 0
    ? new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2)
    : new Uint32Array(b.slice().buffer, 0, b.length >>> 2);
}
