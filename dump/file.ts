/**
 * Dump files on disk (ARCHITECTURE.md "Nothing is lost"): written 0600 under an unpredictable
 * temporary name created O_EXCL|O_NOFOLLOW (loader/io/output.ts), fsync'd, then linked to the
 * final name so an existing dump is never overwritten; opened for random access as a
 * `DumpFile` for reader.ts, compressed or not (`openDumpFile`). Effects only; formats live
 * elsewhere (savecore writes vmcore files the same way: sbin/savecore/savecore.c).
 *
 * Contract: `writeDumpFile(path, chunks)` returns the bytes written, or throws
 * DumpError(DUMP_IO) (an existing `path` included) leaving no temporary file behind.
 * `openDumpFile(path)` (and its async and step forms) opens a dump as `openDumpFileSteps`
 * describes; IoError for a file that cannot be opened or is not a regular file.
 * `decompressFile(src, dst)` decodes a whole gzip/zstd file into a new file (mode 0600, never
 * replacing), bounded by `maxBytes`.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { IoError } from '../loader/errors.js';
import { errnoOf, openInputFile } from '../loader/io/input.js';
import { createTemp, writeAll, type TempFile } from '../loader/io/output.js';
import {
  decompressChunks,
  detectCompression,
  type DecompressOptions,
  type DecompressStats,
  type DumpCompression,
} from './compress.js';
import {
  compressedInput,
  openDecoded,
  openDecodedSteps,
  type CompressedKind,
  type DecodedDump,
  type DecodeOptions,
} from './decompressed.js';
import { DumpCode, DumpError } from './errors.js';
import type { DumpFile } from './reader.js';
import { runSteps, runStepsAsync, type Steps } from './steps.js';
import { isZeroChunk } from './zero.js';
import { openFileWriter } from '../native/binding.js';

/** Bytes gathered before a write. */
const GATHER_BYTES = 1 << 20;

export function writeDumpFile(path: string, chunks: Iterable<Uint8Array>): bigint {
  let tmp: TempFile;
  try {
    tmp = createTemp(path, 0o600, 'dump file');
  } catch (e) {
    throw dumpIo(path, e);
  }
  try {
    const fd = tmp.fd;
    const total = gatherWrites(chunks, (b) => writeAll(fd, b));
    tmp.commit(path, { sync: true }); // on disk before it has its final name; never replacing
    syncDirectory(dirname(path)); // and the name itself survives a crash
    return total;
  } catch (e) {
    throw dumpIo(path, e);
  } finally {
    tmp.discard(); // nothing when committed
  }
}

function dumpIo(path: string, e: unknown): DumpError {
  if (e instanceof DumpError) return e;
  const reason = e instanceof IoError ? String(e.details['reason'] ?? e.code) : errnoOf(e);
  return new DumpError(DumpCode.Io, `dump: writing ${path} failed (${reason})`, { path, reason }, { cause: e });
}

/** Gathers a chunk stream into large writes; see `createGatherer`. */
export interface Gatherer {
  /** Takes the next chunk of the stream (may write). */
  push(c: Uint8Array): void;
  /** Writes what is gathered. */
  flush(): void;
  /** Bytes pushed so far. */
  readonly total: bigint;
}

/**
 * The incremental form of `gatherWrites`: small chunks (single scattered pages) are copied
 * together into 1 MiB writes — a write per page would cost a system call each — and large
 * ones pass straight through (zero copy); with `skip`, known-zero chunks (dump/zero.ts) become
 * holes. The stream's order is kept.
 */
export function createGatherer(writeAll: (b: Uint8Array) => void, skip?: (len: number) => void): Gatherer {
  const buf = new Uint8Array(GATHER_BYTES);
  let used = 0;
  let total = 0n;
  const flush = (): void => {
    if (used === 0) return;
    const n = used;
    used = 0;
    writeAll(buf.subarray(0, n));
  };
  return {
    get total() {
      return total;
    },
    flush,
    push(c: Uint8Array): void {
      total += BigInt(c.length);
      if (skip !== undefined && isZeroChunk(c)) {
        flush();
        skip(c.length); // a hole: known zeros (dump/zero.ts)
        return;
      }
      const direct = c.length >= GATHER_BYTES / 4;
      if (direct || c.length > buf.length - used) flush(); // keep the stream in order
      if (direct) writeAll(c);
      else {
        buf.set(c, used);
        used += c.length;
      }
    },
  };
}

/**
 * The next chunk of `it`. When the source throws (a second panic), what `g` gathered before
 * still goes out, and the source's failure is returned as `{ failure }` (a failing flush is not
 * the failure reported).
 */
export function pullChunk(
  it: Iterator<Uint8Array, unknown>,
  g: Gatherer,
): IteratorResult<Uint8Array, unknown> | { readonly failure: unknown } {
  try {
    return it.next();
  } catch (e) {
    try {
      g.flush();
    } catch {
      // the source's failure is the one reported
    }
    return { failure: e };
  }
}

/**
 * Feeds `chunks` to `writeAll` in order through a `createGatherer`. When `chunks` throws, the
 * gathered bytes are written first. Returns the bytes passed.
 */
export function gatherWrites(
  chunks: Iterable<Uint8Array>,
  writeAll: (b: Uint8Array) => void,
  skip?: (len: number) => void,
): bigint {
  const g = createGatherer(writeAll, skip);
  const it = chunks[Symbol.iterator]();
  for (;;) {
    const r = pullChunk(it, g);
    if ('failure' in r) throw r.failure;
    if (r.done === true) break;
    g.push(r.value);
  }
  g.flush();
  return g.total;
}

/** Positional writes to an open file, possibly in the background; `finish` waits for them. */
export interface PositionalWriter {
  write(b: Uint8Array, position: number): void;
  /** Waits until every write is on the file (not fsync'd); throws the first failure. */
  finish(): void;
  /** Gives up: drops what is not written yet. */
  abort(): void;
}

/** Bytes the background writer may hold before the producer waits. */
const WRITER_QUEUE_BYTES = 32 << 20;

/**
 * Writes to `fd` on a background thread (native/file_writer.cc), so the producer of a dump
 * stream (reading guest memory) and the disk work at the same time; without the addon, plain
 * synchronous writes. A write error is DUMP_IO with the errno name (e.g. ENOSPC) in its
 * details and `cause.code`, reported by the write after it happened or by `finish`.
 */
export function backgroundWriter(fd: number, path: string): PositionalWriter {
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof DumpError) throw e;
      if ((e as { kbootCode?: unknown }).kbootCode === DumpCode.BadValue) {
        throw new DumpError(DumpCode.BadValue, String((e as Error).message), { path }, { cause: e });
      }
      const code = String((e as { code?: unknown }).code ?? 'EIO');
      const position = (e as { position?: unknown }).position;
      throw new DumpError(
        DumpCode.Io,
        `dump: writing ${path} failed (${code})`,
        { path, errno: code, ...(typeof position === 'number' ? { position } : {}) },
        { cause: e },
      );
    }
  };
  let native: ReturnType<typeof openFileWriter> | undefined;
  try {
    native = openFileWriter(fd, WRITER_QUEUE_BYTES);
  } catch {
    native = undefined; // no addon: synchronous writes below
  }
  if (native === undefined) {
    return {
      write: (b, position) =>
        wrap(() => {
          for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off, position + off);
        }),
      finish: () => undefined,
      abort: () => undefined,
    };
  }
  const w = native;
  return {
    write: (b, position) => wrap(() => w.write(b, position)),
    finish: () => wrap(() => void w.finish()),
    abort: () => w.abort(),
  };
}

function syncDirectory(dir: string): void {
  const d = openSync(dir, 'r');
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}

/** A dump file opened for reading (raw, or decompressed on demand). */
export interface DumpInputFile extends DumpFile {
  /** The path as given. */
  readonly path: string;
  /** How the file as a whole is compressed ('none': read as it is). */
  readonly compression: DumpCompression;
  close(): void;
}

/**
 * Opens a dump for random access: a regular file only (loader/io/input.ts: a FIFO, device or
 * directory is IO_NOT_REGULAR, never blocking), read in place when raw; a gzip/zstd file
 * (vmcore.N.gz / .zst) is decoded on demand into a private scratch file, bounded by its own
 * headers and the temporary directory's free space (dump/decompressed.ts). The file's
 * `decompress` serves the compressed payload of a dump-device image the same way (openDump
 * uses it). `close()` releases everything.
 */
export function* openDumpFileSteps(
  path: string,
  opts: DecodeOptions & { readonly cwd?: string } = {},
): Steps<DumpInputFile> {
  const f = openInputFile(path, { what: 'dump', ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }) });
  const decoded: DecodedDump[] = [];
  const closeAll = (): void => {
    for (const d of decoded.splice(0)) d.close();
    f.close();
  };
  try {
    const decompress = (region: DumpFile, kind: CompressedKind): DumpFile => {
      const d = openDecoded(region, kind, { ...opts, what: `the ${kind} dump inside ${path}` });
      decoded.push(d);
      return d;
    };
    const kind = detectCompression(f.read(0, 4));
    if (kind === 'none') {
      return { path, compression: 'none', size: f.size, read: (o, n) => f.read(o, n), decompress, close: closeAll };
    }
    const d = yield* openDecodedSteps(f, kind, { ...opts, what: opts.what ?? path });
    decoded.push(d);
    return {
      path,
      compression: kind,
      size: d.size,
      read: (o, n) => d.read(o, n),
      prefetch: (end) => d.prefetch(end),
      decompress,
      close: closeAll,
    };
  } catch (e) {
    closeAll();
    throw e;
  }
}

/** openDumpFileSteps at once (the library's synchronous form). */
export function openDumpFile(path: string, opts: DecodeOptions & { readonly cwd?: string } = {}): DumpInputFile {
  return runSteps(openDumpFileSteps(path, opts));
}

/** openDumpFileSteps with the event loop turning (progress drawn, signals handled). */
export function openDumpFileAsync(
  path: string,
  opts: DecodeOptions & { readonly cwd?: string } = {},
): Promise<DumpInputFile> {
  return runStepsAsync(openDumpFileSteps(path, opts));
}

/** What decompressFile did. */
export interface DecompressResult extends DecompressStats {
  readonly kind: CompressedKind;
}

/**
 * Decompresses the gzip or zstd file `srcPath` (format from its magic) into `dstPath`, which
 * must not exist: written 0600 under an unpredictable temporary name, fsync'd, then linked
 * (dump/file.ts writeDumpFile). `maxBytes` bounds the output (DUMP_TOO_LARGE).
 */
export function decompressFile(
  srcPath: string,
  dstPath: string,
  opts: Omit<DecompressOptions, 'stats'> = {},
): DecompressResult {
  const details = { src: srcPath, dst: dstPath };
  const src = openInputFile(srcPath, { what: 'compressed file' });
  try {
    const first = src.read(0, 4);
    if (first.length === 0) throw new DumpError(DumpCode.Truncated, `dump: ${srcPath} is empty`, details);
    const kind = detectCompression(first);
    if (kind === 'none') {
      const shown = Array.from(first, (x) => x.toString(16).padStart(2, '0')).join(' ');
      throw new DumpError(
        DumpCode.BadMagic,
        `dump: ${srcPath} is neither gzip (1f 8b) nor zstd (28 b5 2f fd): it starts ${shown}`,
        details,
      );
    }
    const stats: DecompressStats = { bytesIn: 0n, bytesOut: 0n, frames: 0, trailingZeros: 0n };
    try {
      writeDumpFile(dstPath, decompressChunks(kind, compressedInput(src), { ...opts, stats }));
    } catch (e) {
      if (e instanceof DumpError && e.code !== DumpCode.Io) {
        throw new DumpError(e.code, `${e.message} (in ${srcPath})`, { ...e.details, ...details }, { cause: e });
      }
      throw e;
    }
    return { kind, ...stats };
  } finally {
    src.close();
  }
}
