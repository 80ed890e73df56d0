/**
 * Compressed crash dumps: gzip and zstd streams as FreeBSD writes them (KERNELDUMP_COMP_GZIP /
 * KERNELDUMP_COMP_ZSTD in sys/sys/kerneldump.h; the kernel's compressor is
 * sys/kern/subr_compressor.c; savecore names the files vmcore.N.gz / vmcore.N.zst,
 * sbin/savecore/savecore.c). Formats: RFC 1952 (gzip), RFC 8878 (zstd).
 *
 * Contract: synchronous and streaming; the codecs are the native addon's (native/compress.cc),
 * which 'none' never loads.
 *  - `compressChunks(kind, chunks)` is a lazy generator: 'none' yields every input chunk as is
 *    (zero copy); 'gzip' (level 6) / 'zstd' (level 3, content checksum) yield one stream in
 *    non-empty pieces; `opts.stats` counts bytes in and out as it goes.
 *  - `decompressChunks` decodes with bounded memory: at most `maxChunk` bytes
 *    of output are held per step whatever the ratio, and at most `maxBytes` in all.
 *    Concatenated members/frames decode as one stream; zero padding after a complete stream is
 *    accepted (a copy of whole dump blocks ends in the padding of the last one, kern_shutdown.c).
 *    Files are decoded by dump/decompressed.ts (on demand) and dump/file.ts decompressFile.
 *  - Only DumpError escapes (errors thrown by a caller's chunk iterable pass through as they are):
 *    DUMP_COMPRESS (corrupt stream, garbage after it, codec failure, addon missing),
 *    DUMP_TRUNCATED (the stream ends inside a member/frame, or is empty), DUMP_TOO_LARGE (more
 *    than maxBytes), DUMP_BAD_VALUE (a bad kind, level or limit).
 */
import { KbootError, type ErrorDetails } from '../loader/errors.js';
import { loadCompression, type NativeCompressionKind } from '../native/binding.js';
import { DumpCode, DumpError, type DumpErrorCode } from './errors.js';
import { KerneldumpComp, type KerneldumpCompression } from './layout.js';

/** How a dump is compressed. */
export type DumpCompression = 'none' | 'gzip' | 'zstd';

/** Every DumpCompression, in KERNELDUMP_COMP_* order. */
export const DUMP_COMPRESSIONS: readonly DumpCompression[] = ['none', 'gzip', 'zstd'];

/** Bytes counted by a (de)compression stream; updated as the generator runs. */
export interface CompressStats {
  bytesIn: bigint;
  bytesOut: bigint;
}

export interface CompressOptions {
  /** gzip 0..9 (default 6), zstd ZSTD_minCLevel()..ZSTD_maxCLevel() (default 3); ignored for 'none'. */
  readonly level?: number;
  /** Counters to update (bytesIn: input handed to the codec, small chunks once gathered; bytesOut: bytes yielded). */
  readonly stats?: CompressStats;
}

/** What decompression counted: also complete members/frames and accepted zero padding. */
export interface DecompressStats extends CompressStats {
  frames: number;
  trailingZeros: bigint;
}

export interface DecompressOptions {
  /** Most bytes of output produced (and held) per step; default 4 MiB, at most 1 GiB. */
  readonly maxChunk?: number;
  /** Most bytes of output in all (DUMP_TOO_LARGE beyond); default: no limit. */
  readonly maxBytes?: bigint;
  readonly stats?: DecompressStats;
}

/** Input is fed to the codec in slices of this size, so one output piece stays small. */
const SLICE_BYTES = 4 << 20;
/** Chunks under 1/16 of this are copied together before they reach the codec. */
const GATHER_BYTES = 1 << 20;
const DEFAULT_MAX_CHUNK = 4 << 20;

/** The savecore file suffix: vmcore.N, vmcore.N.gz, vmcore.N.zst. */
export function compressionSuffix(kind: DumpCompression): '' | '.gz' | '.zst' {
  switch (kind) {
    case 'none':
      return '';
    case 'gzip':
      return '.gz';
    case 'zstd':
      return '.zst';
    default:
      return badKind(kind);
  }
}

/** The kerneldumpheader `compression` value (KERNELDUMP_COMP_*). */
export function kerneldumpComp(kind: DumpCompression): (typeof KerneldumpComp)[KerneldumpCompression] {
  switch (kind) {
    case 'none':
      return KerneldumpComp.NONE;
    case 'gzip':
      return KerneldumpComp.GZIP;
    case 'zstd':
      return KerneldumpComp.ZSTD;
    default:
      return badKind(kind);
  }
}

/**
 * The format of a stream from its first bytes: gzip ID1 ID2 = 1f 8b (RFC 1952 §2.3.1), zstd
 * frame magic 0xFD2FB528 or a skippable frame 0x184D2A5? (little-endian, RFC 8878 §3.1);
 * anything else (fewer bytes included) is 'none'.
 */
export function detectCompression(firstBytes: Uint8Array): DumpCompression {
  const b = firstBytes;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  if (b.length >= 4 && ((b[0] ?? 0) & 0xf0) === 0x50 && b[1] === 0x2a && b[2] === 0x4d && b[3] === 0x18) return 'zstd';
  return 'none';
}

/** Compresses a chunk stream; see the module contract. Returns (as generator value) the stats. */
export function* compressChunks(
  kind: DumpCompression,
  chunks: Iterable<Uint8Array>,
  opts: CompressOptions = {},
): Generator<Uint8Array, CompressStats, undefined> {
  const stats = opts.stats ?? { bytesIn: 0n, bytesOut: 0n };
  if (kind === 'none') {
    for (const c of chunks) {
      stats.bytesIn += BigInt(c.length);
      stats.bytesOut += BigInt(c.length);
      yield c;
    }
    return stats;
  }
  const codec = codecKind(kind);
  const details = { kind };
  const { Compressor } = viaAddon(codec, details, loadCompression);
  const c = viaAddon(codec, details, () => new Compressor(codec, opts.level));
  function* feed(b: Uint8Array): Generator<Uint8Array, void, undefined> {
    for (let off = 0; off < b.length; off += SLICE_BYTES) {
      const slice = b.length <= SLICE_BYTES ? b : b.subarray(off, off + SLICE_BYTES);
      const out = viaAddon(codec, details, () => c.update(slice));
      stats.bytesIn += BigInt(slice.length);
      if (out.length > 0) {
        stats.bytesOut += BigInt(out.length);
        yield out;
      }
    }
  }
  try {
    // Small chunks (single pages) are gathered first: one addon call per page costs more than
    // the copy. The codec consumes all its input, so the buffer is free again after each call.
    const stage = new Uint8Array(GATHER_BYTES);
    let used = 0;
    for (const chunk of chunks) {
      const direct = chunk.length >= GATHER_BYTES / 16;
      if (direct || chunk.length > stage.length - used) {
        yield* feed(stage.subarray(0, used)); // keep the stream in order
        used = 0;
      }
      if (direct) yield* feed(chunk);
      else {
        stage.set(chunk, used);
        used += chunk.length;
      }
    }
    yield* feed(stage.subarray(0, used));
    const last = viaAddon(codec, details, () => c.finish());
    if (last.length > 0) {
      stats.bytesOut += BigInt(last.length);
      yield last;
    }
    return stats;
  } finally {
    c.close();
  }
}

/** Decompresses a chunk stream of a known kind ('none' passes through); see the module contract. */
export function* decompressChunks(
  kind: DumpCompression,
  chunks: Iterable<Uint8Array>,
  opts: DecompressOptions = {},
): Generator<Uint8Array, DecompressStats, undefined> {
  const stats = opts.stats ?? { bytesIn: 0n, bytesOut: 0n, frames: 0, trailingZeros: 0n };
  if (kind === 'none') {
    for (const c of chunks) {
      stats.bytesIn += BigInt(c.length);
      stats.bytesOut += BigInt(c.length);
      if (opts.maxBytes !== undefined && stats.bytesOut > opts.maxBytes) {
        throw new DumpError(DumpCode.TooLarge, `dump: stream is larger than the limit of ${opts.maxBytes} bytes`, {
          kind,
          maxBytes: opts.maxBytes,
        });
      }
      yield c;
    }
    return stats;
  }
  const codec = codecKind(kind);
  const details = { kind };
  const { Decompressor } = viaAddon(codec, details, loadCompression);
  const d = viaAddon(
    codec,
    details,
    () =>
      new Decompressor(codec, {
        maxChunk: opts.maxChunk ?? DEFAULT_MAX_CHUNK,
        ...(opts.maxBytes === undefined ? {} : { maxTotal: opts.maxBytes }),
      }),
  );
  const sync = (): void => {
    stats.bytesIn = d.totalIn;
    stats.bytesOut = d.totalOut;
    stats.frames = d.frames;
    stats.trailingZeros = d.trailingZeros;
  };
  try {
    for (const chunk of chunks) {
      let out = viaAddon(codec, details, () => d.update(chunk));
      for (;;) {
        sync();
        if (out.length > 0) yield out;
        if (!d.pending) break;
        out = viaAddon(codec, details, () => d.update());
      }
    }
    for (;;) {
      const out = viaAddon(codec, details, () => d.finish());
      sync();
      if (out.length > 0) yield out;
      if (!d.pending) break;
    }
    return stats;
  } finally {
    d.close();
  }
}

function codecKind(kind: DumpCompression): NativeCompressionKind {
  if (kind === 'gzip' || kind === 'zstd') return kind;
  return badKind(kind);
}

function badKind(kind: unknown): never {
  throw new DumpError(DumpCode.BadValue, `dump: unknown compression ${JSON.stringify(kind)}`, { kind });
}

const dumpCodes = new Set<string>(Object.values(DumpCode));

/** Runs an addon call; its coded errors become DumpErrors, anything else DUMP_COMPRESS. */
function viaAddon<T>(kind: NativeCompressionKind, details: ErrorDetails, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DumpError) throw e;
    if (e instanceof KbootError) {
      throw new DumpError(DumpCode.Compress, `dump: ${kind} needs the kboot native addon (${e.message})`, details, {
        cause: e,
      });
    }
    const code = e instanceof Error ? (e as Error & { kbootCode?: unknown }).kbootCode : undefined;
    if (e instanceof Error && typeof code === 'string' && dumpCodes.has(code)) {
      throw new DumpError(code as DumpErrorCode, e.message, details);
    }
    throw new DumpError(DumpCode.Compress, `dump: ${kind} codec failed unexpectedly (${String(e)})`, details, {
      cause: e,
    });
  }
}
