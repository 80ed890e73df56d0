/**
 * Compressed crash dumps read back: vmcore.N.gz / vmcore.N.zst (savecore -z, kboot panic
 * --compress) and the gzip/zstd payload of a compressed dump-device image (kerneldumpheader
 * compression KERNELDUMP_COMP_GZIP / _ZSTD, sys/sys/kerneldump.h). libkvm cannot read them
 * either; crashinfo(8) gunzips first. kboot decodes on demand into a private scratch file.
 *
 * Contract: `openDecoded(source, kind, opts)` (and `openDecodedAsync`, `openDecodedSteps`)
 * returns a random-access DumpFile over the decompressed dump:
 *  - its size comes from the dump's own headers, read from the first bytes decoded: a
 *    minidump's header and bitmap (header page + sections + one page per set bit,
 *    reader.ts minidumpLayout), an ELF full dump's program headers (the furthest segment end),
 *    a dump-device image's leading kerneldumpheader (two sectors + dumpextent); anything else
 *    is DUMP_BAD_MAGIC after at most 64 KiB of output, a size over `maxBytes` (default 1 TiB)
 *    DUMP_TOO_LARGE; nothing past that size is ever decoded;
 *  - only the metadata (headers, bitmap, page tables) is decoded at open; data is decoded
 *    when first read (or ahead with `prefetch`, which lets the event loop turn), so a read near
 *    the start of a huge dump costs only that much;
 *  - before each write to the scratch file the temporary directory's free space is checked
 *    (statfs, 64 MiB kept free): IO_NO_SPACE names what is needed and what is available;
 *    zero runs become holes;
 *  - the scratch file (mode 0600, an unpredictable name, created O_EXCL|O_NOFOLLOW in
 *    `tmpDir`, default os.tmpdir()) is unlinked as soon as it is open: nothing is left behind
 *    by close(), an error, Ctrl-C or even SIGKILL;
 *  - `onProgress(done, total)` is called as each fill decodes (the CLI draws a bar for fills
 *    that last more than a second: dump/progress.ts progressReporter `delayMs`);
 *  - errors: DumpError (DUMP_COMPRESS, DUMP_TRUNCATED, DUMP_BAD_MAGIC, DUMP_TOO_LARGE, ...) and
 *    IoError (the scratch file). A stream that ends early gives a shorter file: reads past
 *    its end are short, so readers report DUMP_TRUNCATED.
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, statfsSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex } from '../loader/addr.js';
import { IoCode, IoError } from '../loader/errors.js';
import { createExclusive, tempName, writeAll, writeError } from '../loader/io/output.js';
import { ELF_MAGIC, Elf64Ehdr, Elf64Phdr } from '../loader/elf/layout.js';
import { decompressChunks, type DecompressStats } from './compress.js';
import { DumpCode, DumpError } from './errors.js';
import { decodeKernelDumpHeader } from './kerneldumpheader.js';
import { KDH, KernelDumpHeader, MINIDUMP } from './layout.js';
import { popcount8 } from '../loader/kernel-abi/dump-avail.js';
import { minidumpLayout, type DumpFile } from './reader.js';
import { runSteps, runStepsAsync, type Steps } from './steps.js';

/** gzip or zstd. */
export type CompressedKind = 'gzip' | 'zstd';

/** How a compressed dump is decoded. */
export interface DecodeOptions {
  /** Where the scratch file goes (default os.tmpdir()). */
  readonly tmpDir?: string;
  /** Largest decompressed dump (default 1 TiB). */
  readonly maxBytes?: bigint;
  /** Called while decoding: bytes done and to do in the current fill (each fill starts at 0). */
  readonly onProgress?: (done: bigint, total: bigint) => void;
  /** Free bytes of a directory (default statfs; tests). */
  readonly freeBytes?: (dir: string) => bigint;
  /** The dump's name in messages (default "the compressed dump"). */
  readonly what?: string;
}

/** A decompressed dump, decoded on demand. */
export interface DecodedDump extends DumpFile {
  readonly kind: CompressedKind;
  /** Bytes decoded so far. */
  readonly decoded: number;
  /** Where the headers, bitmap and page tables end (decoded at open). */
  readonly metadataEnd: number;
  /** Decodes up to `end`, letting the event loop turn. */
  prefetch(end: number): Promise<void>;
  close(): void;
}

/** Largest decompressed dump by default (a 1 TiB host's full dump). */
export const MAX_DECOMPRESSED = 1n << 40n;
const PROBE_BYTES = 64 * 1024;
const READ_BYTES = 1 << 20;
const KEEP_FREE = 64n << 20n;
const ZEROS = new Uint8Array(4 << 20);

function allZero(b: Uint8Array): boolean {
  for (let off = 0; off < b.length; off += ZEROS.length) {
    const piece = b.subarray(off, Math.min(b.length, off + ZEROS.length));
    if (Buffer.compare(piece, ZEROS.subarray(0, piece.length)) !== 0) return false;
  }
  return true;
}

function statfsFree(dir: string): bigint {
  const st = statfsSync(dir, { bigint: true });
  return st.bavail * st.bsize;
}

/** The compressed bytes of `source` in 1 MiB reads. */
export function* compressedInput(source: DumpFile): Generator<Uint8Array, void, undefined> {
  for (let pos = 0; pos < source.size;) {
    const b = source.read(pos, Math.min(READ_BYTES, source.size - pos));
    if (b.length === 0) return;
    pos += b.length;
    yield b;
  }
}

/** Creates the scratch file and opens it twice (write, read), then removes its name. */
function scratchFile(dir: string): { wfd: number; rfd: number } {
  const path = tempName(join(dir, 'kboot-decompressed'));
  const wfd = createExclusive(path, 0o600, 'decompression scratch file');
  let rfd: number | undefined;
  try {
    rfd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    if (fstatSync(rfd).ino !== fstatSync(wfd).ino) throw Object.assign(new Error('replaced'), { code: 'EEXIST' });
    return { wfd, rfd };
  } catch (e) {
    if (rfd !== undefined) closeSync(rfd);
    closeSync(wfd);
    throw writeError(path, 'decompression scratch file', e);
  } finally {
    try {
      unlinkSync(path); // nameless from here on: nothing outlives the process
    } catch {
      // already gone
    }
  }
}

/** The decoding state: output written to the scratch file as far as needed. */
class Decoder {
  decoded = 0;
  ended = false;
  /** Bytes never decoded past (maxBytes, then the size the headers give). */
  limit: number;
  private fileLen = 0;
  private budget = 0n;
  private readonly out: Generator<Uint8Array, DecompressStats, undefined>;
  private readonly tmpDir: string;

  constructor(
    source: DumpFile,
    kind: CompressedKind,
    private readonly opts: DecodeOptions,
    readonly wfd: number,
    readonly rfd: number,
  ) {
    this.tmpDir = opts.tmpDir ?? tmpdir();
    const max = opts.maxBytes ?? MAX_DECOMPRESSED;
    this.limit = Number(max < BigInt(Number.MAX_SAFE_INTEGER) ? max : BigInt(Number.MAX_SAFE_INTEGER));
    this.out = decompressChunks(kind, compressedInput(source), { maxChunk: 1 << 20 });
  }

  /** Decodes until `end` bytes are available (or the stream ends), yielding per output piece. */
  *fill(end: number): Steps<void> {
    const target = Math.min(end, this.limit);
    const from = this.decoded;
    try {
      while (this.decoded < target && !this.ended) {
        const r = this.out.next();
        if (r.done === true) {
          this.ended = true;
          break;
        }
        const b = this.decoded + r.value.length > this.limit ? r.value.subarray(0, this.limit - this.decoded) : r.value;
        this.store(b, target);
        if (this.decoded >= this.limit) this.ended = true;
        this.opts.onProgress?.(BigInt(this.decoded - from), BigInt(target - from));
        yield;
      }
    } finally {
      this.settle();
    }
  }

  private store(b: Uint8Array, target: number): void {
    if (b.length === 0) return;
    if (allZero(b)) {
      this.decoded += b.length; // a hole
      return;
    }
    this.ensureRoom(b.length, target);
    try {
      writeAll(this.wfd, b, this.decoded);
    } catch (e) {
      throw writeError(this.tmpDir, 'decompression scratch file', e);
    }
    this.decoded += b.length;
    this.fileLen = this.decoded;
  }

  private ensureRoom(n: number, target: number): void {
    if (this.budget >= BigInt(n)) {
      this.budget -= BigInt(n);
      return;
    }
    const available = (this.opts.freeBytes ?? statfsFree)(this.tmpDir);
    this.budget = available - KEEP_FREE;
    if (this.budget < BigInt(n)) {
      const needed = BigInt(Math.max(n, target - this.decoded));
      throw new IoError(
        IoCode.NoSpace,
        `io: no room in ${this.tmpDir} to decompress ${this.opts.what ?? 'the compressed dump'} (${needed} more bytes needed, ${available} available; set TMPDIR to a larger file system)`,
        { path: this.tmpDir, needed, available },
      );
    }
    this.budget -= BigInt(n);
  }

  /** From now on nothing past `size` is decoded (or read: a piece decoded beyond it is dropped). */
  bound(size: number): void {
    this.limit = size;
    if (this.decoded >= size) {
      this.decoded = size;
      this.ended = true;
      ftruncateSync(this.wfd, size);
      this.fileLen = size;
    }
  }

  private settle(): void {
    if (this.decoded > this.fileLen) {
      ftruncateSync(this.wfd, this.decoded); // a trailing hole still reads as zeros
      this.fileLen = this.decoded;
    }
  }

  /** Bytes [off, off + len) of what is decoded (fewer at its end). */
  readDecoded(off: number, len: number): Uint8Array {
    const n = Math.max(0, Math.min(len, this.decoded - off));
    const b = new Uint8Array(n);
    for (let got = 0; got < n;) {
      const r = readSync(this.rfd, b, got, n - got, off + got);
      if (r === 0) break;
      got += r;
    }
    return b;
  }

  close(): void {
    this.out.return({ bytesIn: 0n, bytesOut: 0n, frames: 0, trailingZeros: 0n });
    closeSync(this.wfd);
    closeSync(this.rfd);
  }
}

/** The size and metadata end of the dump whose first bytes were decoded. */
function* measure(d: Decoder, what: string): Steps<{ size: number; metadataEnd: number }> {
  yield* d.fill(PROBE_BYTES);
  const head = d.readDecoded(0, PROBE_BYTES);
  if (head.length === 0) throw new DumpError(DumpCode.Truncated, `dump: ${what} decompresses to nothing`, { what });
  const text = new TextDecoder('latin1').decode(head.subarray(0, 20));
  if (text.startsWith(MINIDUMP.PREFIX)) {
    const l = minidumpLayout(head);
    const bitmapEnd = l.bitmap + l.header.bitmapsize;
    tooLarge(d, what, BigInt(bitmapEnd));
    yield* d.fill(bitmapEnd);
    let pages = 0;
    for (let off = l.bitmap; off < bitmapEnd; off += READ_BYTES) {
      const part = d.readDecoded(off, Math.min(READ_BYTES, bitmapEnd - off));
      for (const byte of part) pages += popcount8(byte);
    }
    return { size: l.sparse + pages * l.pageSize, metadataEnd: l.sparse };
  }
  if (ELF_MAGIC.every((b, i) => head[i] === b) && head.length >= Elf64Ehdr.size) {
    const eh = Elf64Ehdr.decode(head);
    let end = BigInt(Elf64Ehdr.size);
    if (eh.phentsize !== Elf64Phdr.size) return { size: Elf64Ehdr.size, metadataEnd: Elf64Ehdr.size };
    const phEnd = eh.phoff + BigInt(eh.phnum * Elf64Phdr.size);
    tooLarge(d, what, phEnd);
    yield* d.fill(Number(phEnd));
    const ph = d.readDecoded(Number(eh.phoff), eh.phnum * Elf64Phdr.size);
    end = end > phEnd ? end : phEnd;
    for (let i = 0; i + Elf64Phdr.size <= ph.length; i += Elf64Phdr.size) {
      const p = Elf64Phdr.decode(ph, i);
      if (p.filesz > 0n && p.offset + p.filesz > end) end = p.offset + p.filesz;
    }
    tooLarge(d, what, end);
    return { size: Number(end), metadataEnd: Number(phEnd) };
  }
  if ([KDH.MAGIC, KDH.TEXT_MAGIC].some((m) => text.startsWith(`${m}\0`)) && head.length >= KernelDumpHeader.size) {
    // a whole dump-device image, compressed: two header sectors around dumpextent (+ key) bytes
    const h = decodeKernelDumpHeader(head.subarray(0, KernelDumpHeader.size));
    const sector = BigInt(Math.max(h.blocksize, KernelDumpHeader.size));
    const size = 2n * sector + h.dumpextent + BigInt(h.dumpkeysize);
    tooLarge(d, what, size);
    return { size: Number(size), metadataEnd: Number(size) };
  }
  throw new DumpError(
    DumpCode.BadMagic,
    `dump: ${what} decompresses to something that is not a crash dump (a minidump, an ELF full dump or a dump-device image); it starts ${hex(new DataView(head.buffer, head.byteOffset).getUint32(0, false), { width: 8 })}`,
    { what },
  );
}

function tooLarge(d: Decoder, what: string, size: bigint): void {
  if (size > BigInt(d.limit)) {
    throw new DumpError(
      DumpCode.TooLarge,
      `dump: ${what} says it holds ${size} bytes, more than kboot decompresses (${d.limit})`,
      { what, size, limit: d.limit },
    );
  }
}

/** Opens a compressed dump for random access (see the module contract), as steps. */
export function* openDecodedSteps(
  source: DumpFile,
  kind: CompressedKind,
  opts: DecodeOptions = {},
): Steps<DecodedDump> {
  const what = opts.what ?? 'the compressed dump';
  const { wfd, rfd } = scratchFile(opts.tmpDir ?? tmpdir());
  const d = new Decoder(source, kind, opts, wfd, rfd);
  let ok = false;
  try {
    const { size, metadataEnd } = yield* measure(d, what);
    tooLarge(d, what, BigInt(size));
    d.bound(size);
    yield* d.fill(metadataEnd);
    ok = true;
    let open = true;
    const ensure = (end: number): void => {
      if (!open) throw new DumpError(DumpCode.Io, `dump: ${what} is closed`, { what });
      if (end > d.decoded && !d.ended) runSteps(d.fill(end));
    };
    return {
      kind,
      size,
      metadataEnd,
      get decoded() {
        return d.decoded;
      },
      read(offset: number, len: number): Uint8Array {
        const end = Math.min(size, offset + len);
        if (offset >= end) return new Uint8Array(0);
        ensure(end);
        return d.readDecoded(offset, end - offset);
      },
      async prefetch(end: number): Promise<void> {
        if (open && Math.min(end, size) > d.decoded && !d.ended) await runStepsAsync(d.fill(Math.min(end, size)));
      },
      close(): void {
        if (!open) return;
        open = false;
        d.close();
      },
    };
  } finally {
    if (!ok) d.close();
  }
}

/** openDecodedSteps run at once. */
export function openDecoded(source: DumpFile, kind: CompressedKind, opts: DecodeOptions = {}): DecodedDump {
  return runSteps(openDecodedSteps(source, kind, opts));
}

/** openDecodedSteps with the event loop turning (progress, signals). */
export function openDecodedAsync(
  source: DumpFile,
  kind: CompressedKind,
  opts: DecodeOptions = {},
): Promise<DecodedDump> {
  return runStepsAsync(openDecodedSteps(source, kind, opts));
}
