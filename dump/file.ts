/**
 * Dump files on disk (ARCHITECTURE.md "Nothing is lost"): written 0600 under a temporary
 * name, fsync'd, then linked to the final name so an existing dump is never overwritten; opened for
 * random access as a `DumpFile` for reader.ts. Effects only; formats live elsewhere
 * (savecore writes vmcore files the same way: sbin/savecore/savecore.c).
 *
 * Contract: `writeDumpFile(path, chunks)` returns the bytes written, or throws
 * DumpError(DUMP_IO) (an existing `path` included) leaving no temporary file behind.
 */
import { closeSync, fstatSync, fsyncSync, linkSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { DumpCode, DumpError } from './errors.js';
import type { DumpFile } from './reader.js';
import { isZeroChunk } from './zero.js';
import { openFileWriter } from '../machine/native.js';

/** Bytes gathered before a write. */
const GATHER_BYTES = 1 << 20;

export function writeDumpFile(path: string, chunks: Iterable<Uint8Array>): bigint {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  let fd: number | undefined;
  let total = 0n;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    const file = fd;
    total = gatherWrites(chunks, (b) => {
      let off = 0;
      while (off < b.length) off += writeSync(file, b, off, b.length - off);
    });
    fsyncSync(fd); // on disk before it has its final name
    const f = fd;
    fd = undefined;
    closeSync(f);
    linkSync(tmp, path);
    syncDirectory(dirname(path)); // and the name itself survives a crash
    return total;
  } catch (e) {
    if (e instanceof DumpError) throw e;
    throw new DumpError(
      DumpCode.Io,
      `dump: writing ${path} failed (${String((e as { code?: unknown }).code ?? 'error')})`,
      { path },
      { cause: e },
    );
  } finally {
    try {
      if (fd !== undefined) closeSync(fd);
    } catch {
      // the write already failed; that error is the one reported
    }
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

/**
 * Feeds `chunks` to `writeAll` in order, gathering small chunks (single scattered pages) into
 * 1 MiB writes — a write per page would cost a system call each — and passing large ones
 * straight through (zero copy). With `skip`, known-zero chunks (dump/zero.ts) become holes.
 * When `chunks` throws, the gathered bytes are written first. Returns the bytes passed.
 */
export function gatherWrites(
  chunks: Iterable<Uint8Array>,
  writeAll: (b: Uint8Array) => void,
  skip?: (len: number) => void,
): bigint {
  const buf = new Uint8Array(GATHER_BYTES);
  let used = 0;
  let total = 0n;
  const it = chunks[Symbol.iterator]();
  for (;;) {
    let r: IteratorResult<Uint8Array>;
    try {
      r = it.next();
    } catch (e) {
      // the source failed (a second panic): what it gave before still goes out
      try {
        if (used > 0) writeAll(buf.subarray(0, used));
      } catch {
        // the source's failure is the one reported
      }
      throw e;
    }
    if (r.done === true) break;
    const c = r.value;
    total += BigInt(c.length);
    if (skip !== undefined && isZeroChunk(c)) {
      if (used > 0) writeAll(buf.subarray(0, used));
      used = 0;
      skip(c.length); // a hole: known zeros (dump/zero.ts)
      continue;
    }
    const direct = c.length >= GATHER_BYTES / 4;
    if (direct || c.length > buf.length - used) {
      if (used > 0) writeAll(buf.subarray(0, used)); // keep the stream in order
      used = 0;
    }
    if (direct) writeAll(c);
    else {
      buf.set(c, used);
      used += c.length;
    }
  }
  if (used > 0) writeAll(buf.subarray(0, used));
  return total;
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

/** Opens a dump file for random access; `close()` releases it. */
export function openDumpFile(path: string): DumpFile & { close(): void } {
  let fd: number | undefined;
  let size: number;
  try {
    fd = openSync(path, 'r');
    size = fstatSync(fd).size;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    throw new DumpError(DumpCode.Io, `dump: cannot open ${path}`, { path }, { cause: e });
  }
  const file = fd;
  return {
    size,
    read(offset, len) {
      const b = new Uint8Array(Math.max(0, Math.min(len, size - offset)));
      let got = 0;
      while (got < b.length) {
        let n: number;
        try {
          n = readSync(file, b, got, b.length - got, offset + got);
        } catch (e) {
          throw new DumpError(DumpCode.Io, `dump: reading ${path} failed`, { path, offset }, { cause: e });
        }
        if (n === 0) break;
        got += n;
      }
      return b.subarray(0, got);
    },
    close: () => closeSync(file),
  };
}
