/**
 * The one place the C++ addon (native/, built by `npm ci` through node-gyp) is loaded.
 *
 * Contract: `loadNative()` returns the addon's typed surface or throws
 * `NativeError(NATIVE_LOAD_FAILED)` saying how to build it; `nativeAvailable()` asks without
 * throwing. Errors raised inside the addon carry a `kbootCode` property; `callNative` turns
 * them into the matching `KbootError` subclass, so no raw addon error escapes.
 * Model: better-sqlite3's split between a thin JS surface and its native binding.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../loader/paths.js';
import { KbootError } from '../loader/errors.js';
import { MemoryCode, MemoryError } from '../loader/memory/errors.js';
import { NativeCode, NativeError } from './errors.js';

/** A guest RAM region as the addon takes it. */
export interface NativeRegion {
  readonly base: bigint;
  readonly size: bigint;
}

/** The addon's guest RAM object (native/guest_ram.cc). */
export interface NativeGuestRamHandle {
  read(addr: bigint, len: bigint): Buffer;
  write(addr: bigint, bytes: Uint8Array): void;
  view(addr: bigint, len: bigint): Buffer;
  copy(dst: bigint, src: bigint, len: bigint): void;
  fill(addr: bigint, len: bigint, byte: number): void;
  equals(addr: bigint, bytes: Uint8Array): boolean;
  nonZeroPages(addr: bigint, len: bigint): Buffer;
  /** Four u32 words per page, as bytes (machine/native-ram.ts views them as a Uint32Array). */
  pageDigests(addr: bigint, len: bigint): Buffer;
  gatherPages(pas: BigUint64Array, digests: Uint32Array | undefined, into: Uint8Array | undefined): Uint8Array;
  pageDigestsAt(pas: BigUint64Array): Buffer;
  residentBytes(): bigint;
  close(): void;
}

/** A Unicorn window or translation run as the addon takes and returns it. */
export interface NativeMapping {
  readonly va: bigint;
  readonly pa: bigint;
  readonly size: bigint;
}

/** A translation run as the addon takes and returns it (`exec`: the CPU may fetch there). */
export interface NativeTranslation extends NativeMapping {
  readonly exec: boolean;
}

/** The addon's view of the CPU memory map (native/cpu.cc `mappings()`). */
export interface NativeMappings {
  readonly windows: readonly (NativeMapping & { readonly device: boolean })[];
  readonly translation: readonly NativeTranslation[];
  readonly protected: readonly { readonly pa: bigint; readonly size: bigint }[];
}

/** Run options as the addon takes them (machine/cpu.ts validates them first). */
export interface NativeRunOptions {
  readonly start?: bigint;
  readonly until?: bigint;
  readonly maxInstructions: number;
  readonly timeoutMs: number;
  readonly breakpoints?: readonly bigint[];
  readonly skipBreakpointAtStart?: boolean;
  readonly flushCode?: boolean;
}

/** What the addon's run loop returns (machine/cpu.ts turns it into a StopReason). */
export interface NativeRunResult {
  readonly kind:
    | 'reached'
    | 'halted'
    | 'breakpoint'
    | 'exception'
    | 'limit'
    | 'timeout'
    | 'unmapped'
    | 'write-protect'
    | 'invalid-instruction'
    | 'translation-changed'
    | 'translation-needed';
  readonly pc: bigint;
  readonly executed: number;
  readonly elapsedMs: number;
  readonly acceleratedCopies: number;
  readonly acceleratedBytes: number;
  readonly vector?: number;
  readonly cr2?: bigint;
  readonly access?: 'read' | 'write' | 'fetch';
  readonly address?: bigint;
  readonly pa?: bigint;
  readonly size?: number;
  readonly value?: bigint;
}

/** A copy loop as the addon takes it (machine/cpu.ts `CopyLoop`). */
export interface NativeCopyLoop {
  readonly at: bigint;
  readonly exit: bigint;
  readonly src: string;
  readonly dst: string;
  readonly count: string;
  readonly countUnit: number;
  readonly chunk: number;
  readonly insnsPerIteration: number;
  readonly exitInsns?: number;
  readonly loads?: readonly { readonly reg: string; readonly offset: number }[];
  readonly flags?: { readonly reg: string; readonly set: bigint; readonly clear: bigint };
  readonly requires?: readonly { readonly reg: string; readonly mask: bigint; readonly value: bigint }[];
}

/** The addon's CPU object (native/cpu.cc). */
export interface NativeCpuHandle {
  getReg(name: string): bigint;
  setReg(name: string, value: bigint): void;
  setupLongMode(opts: {
    readonly gdtBase: bigint;
    readonly gdtLimit: number;
    readonly cr3: bigint;
    readonly cr0: bigint;
    readonly cr4: bigint;
    readonly efer: bigint;
    readonly cs: number;
    readonly ds: number;
  }): void;
  setupEl1(opts: {
    readonly mair?: bigint;
    readonly tcr?: bigint;
    readonly ttbr0?: bigint;
    readonly ttbr1?: bigint;
    readonly vbar?: bigint;
    readonly sctlr?: bigint;
  }): void;
  run(opts: NativeRunOptions): NativeRunResult;
  /** Replaces the windows (diffed), the translation and the VA ranges it covers in full. */
  setMappings(
    windows: readonly NativeMapping[],
    translation: readonly NativeTranslation[],
    known?: readonly { readonly va: bigint; readonly size: bigint }[],
  ): void;
  mapAlias(va: bigint, pa: bigint, size: bigint): void;
  unmapAlias(va: bigint, size: bigint): void;
  mappings(): NativeMappings;
  /** Unicorn regions (windows and devices) the engine holds. */
  regionCount(): number;
  protect(pa: bigint, size: bigint, mode: 'ro' | 'rw'): void;
  setAccelerators(loops: readonly NativeCopyLoop[]): void;
  takeConsole(): { bytes: Buffer; dropped: number };
  close(): void;
}

/** CPU construction options as the addon takes them. */
export interface NativeCpuOptions {
  readonly uart?:
    { readonly kind: 'ns16550'; readonly port: number } | { readonly kind: 'pl011'; readonly base: bigint };
  /** MMIO ranges modelled in TypeScript (mapped at VA == PA; the callbacks get the PA). */
  readonly mmio?: NativeMmioModel;
}

/** A TypeScript MMIO model the engine calls on every access to its ranges (synchronously). */
export interface NativeMmioModel {
  readonly ranges: readonly { readonly base: bigint; readonly size: bigint }[];
  read(pa: bigint, size: number): bigint;
  write(pa: bigint, size: number, value: bigint): void;
}

/** A stream format of native/compress.cc (FreeBSD KERNELDUMP_COMP_GZIP / KERNELDUMP_COMP_ZSTD). */
export type NativeCompressionKind = 'gzip' | 'zstd';

/** The addon's streaming compressor (native/compress.cc); `finish()` ends the stream and frees it. */
export interface NativeCompressorHandle {
  /** Consumes all of `input` (never kept); returns the compressed bytes produced so far, possibly none. */
  update(input: Uint8Array): Buffer;
  finish(): Buffer;
  close(): void;
  readonly totalIn: bigint;
  readonly totalOut: bigint;
}

/** Decompressor limits: output per call, and in all (more fails with DUMP_TOO_LARGE). */
export interface NativeDecompressorOptions {
  readonly maxChunk: number;
  readonly maxTotal?: bigint;
}

/** The addon's bounded streaming decompressor (native/compress.cc). */
export interface NativeDecompressorHandle {
  /** Returns at most `maxChunk` bytes; while `pending`, call again with no input before feeding more. */
  update(input?: Uint8Array): Buffer;
  /** End of input: returns what remains (at most `maxChunk`; call again while `pending`), then checks the end. */
  finish(): Buffer;
  close(): void;
  readonly pending: boolean;
  readonly totalIn: bigint;
  readonly totalOut: bigint;
  /** Complete gzip members / zstd frames decoded. */
  readonly frames: number;
  /** Zero bytes of padding accepted after the last member/frame (counted in totalIn). */
  readonly trailingZeros: bigint;
}

/** The compression part of the addon (see `loadCompression`). */
export interface NativeCompression {
  readonly Compressor: new (kind: NativeCompressionKind, level?: number) => NativeCompressorHandle;
  readonly Decompressor: new (kind: NativeCompressionKind, opts: NativeDecompressorOptions) => NativeDecompressorHandle;
}

/** The addon's threaded file writer (native/file_writer.cc). */
export interface NativeFileWriterHandle {
  /** Copies `bytes` into the queue (waits while the queue is full); throws the thread's first write error. */
  write(bytes: Uint8Array, position: number): void;
  /** Waits for the queue to drain; the bytes written, or the first write error. */
  finish(): number;
  /** Drops what is queued and stops the thread. */
  abort(): void;
}

/** Everything the addon exports. */
export interface NativeAddon {
  readonly abiVersion: number;
  readonly GuestRam: new (regions: readonly NativeRegion[]) => NativeGuestRamHandle;
  readonly Cpu: new (arch: 'amd64' | 'arm64', ram: NativeGuestRamHandle, opts: NativeCpuOptions) => NativeCpuHandle;
  readonly Compressor: NativeCompression['Compressor'];
  readonly Decompressor: NativeCompression['Decompressor'];
  readonly FileWriter: new (fd: number, queueBytes: number) => NativeFileWriterHandle;
  /** flock(2) with LOCK_NB: "" when done, "EWOULDBLOCK" when held elsewhere, else the errno name. */
  readonly flock: (fd: number, mode: 'exclusive' | 'shared' | 'unlock') => string;
  /** Copies every touched non-zero page of `src` into `dst` (same regions); the bytes copied (snapshot.cc). */
  readonly copyGuestRam: (dst: NativeGuestRamHandle, src: NativeGuestRamHandle) => bigint;
}

const EXPECTED_ABI = 8;

export { packageRoot } from '../loader/paths.js';

let cached: NativeAddon | undefined;

/** Loads (once) and returns the addon. */
export function loadNative(): NativeAddon {
  if (cached !== undefined) return cached;
  const path = join(packageRoot(), 'build', 'Release', 'kboot.node');
  try {
    const req = createRequire(import.meta.url);
    const addon = req(path) as NativeAddon;
    if (addon.abiVersion !== EXPECTED_ABI) {
      throw new Error(`addon ABI ${addon.abiVersion}, expected ${EXPECTED_ABI}`);
    }
    cached = addon;
    return addon;
  } catch (e) {
    throw new NativeError(
      NativeCode.LoadFailed,
      `native: cannot load the kboot addon at ${path} (run \`make\` or \`npm ci\` to build it)`,
      { path },
      { cause: e },
    );
  }
}

/**
 * The addon's gzip/zstd stream objects; throws NativeError(NATIVE_LOAD_FAILED) as `loadNative` does.
 * Their errors carry DUMP_* codes, which dump/compress.ts (not `callNative`) turns into DumpErrors.
 */
export function loadCompression(): NativeCompression {
  const { Compressor, Decompressor } = loadNative();
  return { Compressor, Decompressor };
}

/**
 * A writer thread for `fd` (native/file_writer.cc); throws NativeError(NATIVE_LOAD_FAILED) as
 * `loadNative` does. Its errors carry kbootCode DUMP_IO and the errno name in `code`, which
 * dump/file.ts turns into DumpErrors.
 */
export function openFileWriter(fd: number, queueBytes: number): NativeFileWriterHandle {
  return new (loadNative().FileWriter)(fd, queueBytes);
}

/** True when the addon loads. */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

const memoryCodes = new Set<string>(Object.values(MemoryCode));
const nativeCodes = new Set<string>(Object.values(NativeCode));

/**
 * Maps an addon error's `kbootCode` to the caller's own domain error (undefined: not one of
 * its codes). machine/ passes one for CPU_* codes, so this layer never imports machine/.
 */
export type NativeErrorMapper = (
  code: string,
  message: string,
  details: Readonly<Record<string, unknown>>,
) => KbootError | undefined;

/**
 * Runs an addon call, mapping its coded errors to KbootErrors: the caller's `mapper` first,
 * then guest RAM's GUEST_* codes (MemoryError) and NATIVE_* codes; anything else is
 * NATIVE_INTERNAL (a bug).
 */
export function callNative<T>(
  fn: () => T,
  details: Readonly<Record<string, unknown>> = {},
  mapper?: NativeErrorMapper,
): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KbootError) throw e;
    if (e instanceof Error) {
      const code = (e as Error & { kbootCode?: unknown }).kbootCode;
      const mapped = typeof code === 'string' ? mapper?.(code, e.message, details) : undefined;
      if (mapped !== undefined) throw mapped;
      if (typeof code === 'string' && memoryCodes.has(code)) {
        throw new MemoryError(code as MemoryError['code'], e.message, details);
      }
      if (typeof code === 'string' && nativeCodes.has(code)) {
        throw new NativeError(code as NativeError['code'], e.message, details);
      }
    }
    throw new NativeError(NativeCode.Internal, `native: unexpected addon failure: ${String(e)}`, details, { cause: e });
  }
}
