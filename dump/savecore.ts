/**
 * savecore(8)-style output of a dump stream into a crash directory (sbin/savecore/savecore.c:
 * getbounds/writebounds, check_space, printheader, DoFile; FreeBSD names vmcore.N,
 * vmcore.N.gz, vmcore.N.zst, info.N, bounds, vmcore.last, info.last), and the dump-device
 * image dumpon(8) targets (sys/kern/kern_shutdown.c: leading kerneldumpheader, dump, trailing
 * kerneldumpheader).
 *
 * Contract: `saveDump(opts)` picks N = the `bounds` file's number (0 when absent or bad) and
 * moves past any N whose vmcore.N*, info.N or textdump exists — unlike savecore it never
 * overwrites a dump; checks that the directory's free space covers the worst case (the
 * stream's size, plus compression's worst-case growth and the info file) and otherwise throws
 * DUMP_NO_SPACE having written nothing; then claims the slot by creating info.N exclusively
 * (status "bad", "dump in progress" until the end, so a crash mid-dump leaves an honest info
 * file; a concurrent saver moves on to N + 1), writes `bounds` = N + 1 and the dump under a
 * temporary name (mode 0600) through a background writer thread, fsyncs it and links it to
 * vmcore.N[.gz|.zst] (never replacing; if naming fails the complete dump is kept under the
 * temporary name, which the error gives), rewrites info.N with "Dump Status: good" and points
 * vmcore.last / info.last at them. When the stream or a write fails (a full disk, the rescue
 * kernel panicking again) or the stream ends short, everything read up to then is still
 * written (after a write error, nothing more), the partial dump is kept as vmcore.N with
 * info.N saying "Dump Status: bad" and the reason, and the result has `status: 'incomplete'` —
 * the caller exits non-zero. An error that is not a KbootError (a kboot bug) gets the same
 * partial dump and info.N, then is rethrown. Only DumpError escapes otherwise;
 * file system calls go through `opts.fs` so tests can fail them.
 */
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../loader/arch/index.js';
import { compressChunks, compressionSuffix, type DumpCompression } from './compress.js';
import { DumpCode, DumpError } from './errors.js';
import { isKbootError } from '../loader/errors.js';
import { decodeKernelDumpHeader, encodeKernelDumpHeader, type KernelDumpHeaderFields } from './kerneldumpheader.js';
import { KDH, KDH_ARCH, type KerneldumpCompression } from './layout.js';
import { backgroundWriter, gatherWrites, type PositionalWriter } from './file.js';

/** The file-system calls saveDump makes (node:fs by default). */
export interface SavecoreFs {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, b: Uint8Array, off: number, len: number, position?: number | null): number;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, len: number): void;
  closeSync(fd: number): void;
  linkSync(from: string, to: string): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  symlinkSync(target: string, path: string): void;
  readFileSync(path: string, enc: 'utf8'): string;
  existsSync(path: string): boolean;
  readdirSync(path: string): string[];
  statfsSync(path: string): { bavail: number | bigint; bsize: number | bigint };
}

export const NODE_FS: SavecoreFs = {
  openSync: (p, f, m) => nodeFs.openSync(p, f, m),
  writeSync: (fd, b, o, l, pos) => nodeFs.writeSync(fd, b, o, l, pos),
  fsyncSync: (fd) => nodeFs.fsyncSync(fd),
  ftruncateSync: (fd, l) => nodeFs.ftruncateSync(fd, l),
  closeSync: (fd) => nodeFs.closeSync(fd),
  linkSync: (a, b) => nodeFs.linkSync(a, b),
  renameSync: (a, b) => nodeFs.renameSync(a, b),
  unlinkSync: (p) => nodeFs.unlinkSync(p),
  symlinkSync: (t, p) => nodeFs.symlinkSync(t, p),
  readFileSync: (p, e) => nodeFs.readFileSync(p, e),
  existsSync: (p) => nodeFs.existsSync(p),
  readdirSync: (p) => nodeFs.readdirSync(p),
  statfsSync: (p) => nodeFs.statfsSync(p),
};

/** The kerneldumpheader facts savecore prints (info.N) and a device image carries. */
export interface DumpFacts {
  readonly arch: Arch;
  readonly hostname: string;
  /** The kernel's version string (FreeBSD's ends with a newline). */
  readonly versionstring: string;
  readonly panicstring: string;
  /** time_second at dump time. */
  readonly dumptime: bigint;
}

export interface SaveDumpOptions {
  readonly dir: string;
  readonly facts: DumpFacts;
  /** Bytes of the uncompressed stream. */
  readonly size: bigint;
  readonly chunks: Iterable<Uint8Array>;
  readonly compression?: DumpCompression;
  /** Where the dump came from, for info.N (savecore: the dump device). */
  readonly device?: string;
  readonly fs?: SavecoreFs;
}

export interface SaveDumpResult {
  readonly n: number;
  readonly vmcore: string;
  readonly info: string;
  readonly status: 'good' | 'incomplete';
  readonly reason?: string;
  readonly error?: DumpError;
  readonly bytesIn: bigint;
  readonly bytesOut: bigint;
  readonly compression: DumpCompression;
  readonly ms: number;
}

/** The dump device's sector size kboot writes and records (di_blocksize of a 512-byte-sector disk). */
export const BLOCKSIZE = 512;

const KDH_COMPRESSION: { readonly [C in DumpCompression]: KerneldumpCompression } = {
  none: 'NONE',
  gzip: 'GZIP',
  zstd: 'ZSTD',
};

/** savecore's BLOCKSIZE-free slack: the info file and bounds (savecore counts 2 KiB). */
const INFO_ROOM = 64n * 1024n;

/** Worst-case bytes on disk for `size` stream bytes (zstd/gzip can grow incompressible data slightly). */
export function worstCaseBytes(size: bigint, c: DumpCompression): bigint {
  return (c === 'none' ? size : size + size / 64n + (1n << 20n)) + INFO_ROOM;
}

function ioError(what: string, path: string, e: unknown): DumpError {
  if (e instanceof DumpError) return e;
  const code = String((e as { code?: unknown }).code ?? 'error');
  return new DumpError(DumpCode.Io, `dump: ${what} ${path} failed (${code})`, { path, errno: code }, { cause: e });
}

/** The `bounds` number (savecore getbounds: 0 when absent, empty or not a number). */
export function readBounds(dir: string, fs: SavecoreFs = NODE_FS): number {
  try {
    const n = Number.parseInt(fs.readFileSync(join(dir, 'bounds'), 'utf8').slice(0, 5), 10);
    return Number.isInteger(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

/** True when any file of dump N exists (vmcore.N, vmcore.N.*, info.N, textdump.tar.N*). */
function slotUsed(names: ReadonlySet<string>, n: number): boolean {
  for (const name of names) {
    if (name === `info.${n}` || name === `vmcore.${n}` || name.startsWith(`vmcore.${n}.`)) return true;
    if (name === `textdump.tar.${n}` || name.startsWith(`textdump.tar.${n}.`)) return true;
  }
  return false;
}

/** ctime(3) text without the newline: "Fri Nov 27 08:11:27 2026". */
export function ctimeText(seconds: bigint): string {
  const d = new Date(Number(seconds) * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (v: number): string => String(v).padStart(2, '0');
  return `${days[d.getUTCDay()] ?? ''} ${months[d.getUTCMonth()] ?? ''} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** info.N in savecore's printheader form (times in UTC). */
export function infoText(i: {
  readonly device: string;
  readonly facts: DumpFacts;
  readonly dumplength: bigint;
  readonly compression: DumpCompression;
  readonly parity: number;
  readonly bounds: number;
  readonly status: 'good' | 'bad';
  readonly reason?: string;
}): string {
  const version = i.facts.versionstring.endsWith('\n') ? i.facts.versionstring : `${i.facts.versionstring}\n`;
  const lines = [
    `Dump header from device: ${i.device}`,
    `  Architecture: ${KDH_ARCH[i.facts.arch].machineArch}`,
    `  Architecture Version: ${KDH_ARCH[i.facts.arch].archVersion}`,
    `  Dump Length: ${i.dumplength}`,
    `  Blocksize: ${BLOCKSIZE}`,
    `  Compression: ${i.compression}`,
    `  Dumptime: ${ctimeText(i.facts.dumptime)}`,
    `  Hostname: ${i.facts.hostname}`,
    `  Magic: ${KDH.MAGIC}`,
    `  Version String: ${version.slice(0, -1)}`,
    `  Panic String: ${i.facts.panicstring}`,
    `  Dump Parity: ${i.parity}`,
    `  Bounds: ${i.bounds}`,
    `  Dump Status: ${i.status}`,
  ];
  if (i.reason !== undefined) lines.push(`  Incomplete: ${i.reason}`);
  return `${lines.join('\n')}\n`;
}

/** The kerneldumpheader of a dump (its parity is what info.N reports). */
export function dumpHeaderFields(facts: DumpFacts, dumplength: bigint, c: DumpCompression): KernelDumpHeaderFields {
  return {
    magic: 'kernel',
    arch: facts.arch,
    dumplength,
    dumptime: facts.dumptime,
    blocksize: BLOCKSIZE,
    hostname: facts.hostname,
    versionstring: facts.versionstring,
    panicstring: facts.panicstring,
    compression: KDH_COMPRESSION[c],
  };
}

function parityOf(facts: DumpFacts, dumplength: bigint, c: DumpCompression): number {
  return decodeKernelDumpHeader(encodeKernelDumpHeader(dumpHeaderFields(facts, dumplength, c))).parity;
}

/** Writes a file completely at once (info.N, bounds) through a temporary name and rename. */
function replaceSmallFile(fs: SavecoreFs, path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const b = new TextEncoder().encode(text);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w', 0o600);
    for (let off = 0; off < b.length;) off += fs.writeSync(fd, b, off, b.length - off, null);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (e) {
    try {
      if (fd !== undefined) fs.closeSync(fd);
      fs.unlinkSync(tmp);
    } catch {
      // the first error is the one reported
    }
    throw ioError('writing', path, e);
  }
}

/** "in progress" text of info.N while the dump is being written. */
const IN_PROGRESS = 'dump in progress (the writer stopped before the end)';

/** Creates a small file exclusively (EEXIST when it exists), written and fsync'd, mode 0600. */
function createSmallFile(fs: SavecoreFs, path: string, text: string): void {
  const b = new TextEncoder().encode(text);
  const fd = fs.openSync(path, 'wx', 0o600);
  try {
    for (let off = 0; off < b.length;) off += fs.writeSync(fd, b, off, b.length - off, null);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Rewrites a small file in place (no new blocks needed on a full disk: it only shrinks or stays within its block). */
function rewriteInPlace(fs: SavecoreFs, path: string, text: string): void {
  const b = new TextEncoder().encode(text);
  const fd = fs.openSync(path, 'r+');
  try {
    for (let off = 0; off < b.length;) off += fs.writeSync(fd, b, off, b.length - off, off);
    fs.ftruncateSync(fd, b.length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function replaceSymlink(fs: SavecoreFs, target: string, path: string): void {
  try {
    try {
      fs.unlinkSync(path); // even a dangling link (existsSync would follow it)
    } catch {
      // absent
    }
    fs.symlinkSync(target, path);
  } catch {
    // savecore only warns when the .last links cannot be made
  }
}

/** Saves a dump stream as savecore does (see the module contract). */
export function saveDump(opts: SaveDumpOptions): SaveDumpResult {
  const fs = opts.fs ?? NODE_FS;
  const dir = opts.dir;
  const compression = opts.compression ?? 'none';
  const device = opts.device ?? '/dev/dumper';
  const started = performance.now();
  let names: Set<string>;
  try {
    names = new Set(fs.readdirSync(dir));
  } catch (e) {
    throw ioError('reading the dump directory', dir, e);
  }
  const need = worstCaseBytes(opts.size, compression);
  let avail: bigint;
  try {
    const st = fs.statfsSync(dir);
    avail = BigInt(st.bavail) * BigInt(st.bsize);
  } catch (e) {
    throw ioError('checking free space of', dir, e);
  }
  if (avail < need) {
    throw new DumpError(
      DumpCode.NoSpace,
      `dump: not enough free space in ${dir} (${avail} bytes available, the worst case needs ${need}); nothing was written`,
      { dir, available: avail, needed: need },
    );
  }

  const infoFor = (n: number, status: 'good' | 'bad', dumplength: bigint, reason?: string): string =>
    infoText({
      device,
      facts: opts.facts,
      dumplength,
      compression,
      parity: parityOf(opts.facts, dumplength, compression),
      bounds: n,
      status,
      ...(reason === undefined ? {} : { reason }),
    });
  // The slot is claimed by creating info.N exclusively (two savers never share an N); it says
  // "in progress" until the end, so a crash mid-dump leaves an honest info file.
  let n = readBounds(dir, fs);
  for (let tries = 0; ; tries++) {
    while (slotUsed(names, n)) n++;
    try {
      createSmallFile(fs, join(dir, `info.${n}`), infoFor(n, 'bad', opts.size, IN_PROGRESS));
      break;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'EEXIST' || tries > 1000) throw ioError('creating', `info.${n}`, e);
      names.add(`info.${n}`);
    }
  }
  const vmcoreName = `vmcore.${n}${compressionSuffix(compression)}`;
  const vmcore = join(dir, vmcoreName);
  const info = join(dir, `info.${n}`);
  replaceSmallFile(fs, join(dir, 'bounds'), `${n + 1}\n`);

  const tmp = join(dir, `.${vmcoreName}.tmp-${process.pid}`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx', 0o600);
  } catch (e) {
    try {
      fs.unlinkSync(info); // nothing was written: give the slot back
    } catch {
      // best effort
    }
    throw ioError('creating', tmp, e);
  }
  const file = fd;
  let bytesIn = 0n;
  let bytesOut = 0n;
  let streamError: unknown;
  let writerFailed = false;
  const counted = function* (): Generator<Uint8Array, void, undefined> {
    for (const c of opts.chunks) {
      yield c;
      bytesIn += BigInt(c.length);
    }
  };
  // The real file system gets a background writer thread (reading guest memory and writing
  // the disk overlap); an injected `fs` (tests) is written synchronously through its writeSync.
  const writer: PositionalWriter =
    fs === NODE_FS
      ? backgroundWriter(file, vmcore)
      : {
          write: (b, position) => {
            for (let off = 0; off < b.length;) off += fs.writeSync(file, b, off, b.length - off, position + off);
          },
          finish: () => undefined,
          abort: () => undefined,
        };
  const noteWriterError = (e: unknown): never => {
    writerFailed = true;
    const at = e instanceof DumpError ? e.details['position'] : undefined;
    if (typeof at === 'number') bytesOut = BigInt(at); // what reached the file before the failure
    throw e instanceof DumpError ? e : ioError('writing', vmcore, e);
  };
  // Uncompressed dumps are written sparse: known-zero runs become holes (savecore does the same).
  let pos = 0;
  try {
    gatherWrites(
      compressChunks(compression, counted()),
      (b) => {
        try {
          writer.write(b, pos);
        } catch (e) {
          noteWriterError(e);
        }
        pos += b.length;
        bytesOut += BigInt(b.length);
      },
      compression === 'none'
        ? (len) => {
            pos += len;
            bytesOut += BigInt(len);
          }
        : undefined,
    );
  } catch (e) {
    streamError = e;
  }
  // After a write error nothing more can be written; otherwise everything read so far (a
  // second panic ends the stream, not the writing) goes to the file before it is named.
  if (writerFailed) writer.abort();
  else {
    try {
      writer.finish();
    } catch (e) {
      try {
        noteWriterError(e);
      } catch (w) {
        streamError ??= w;
      }
    }
  }
  if (streamError === undefined && bytesIn !== opts.size) {
    streamError = new DumpError(DumpCode.Truncated, `dump: the stream ended after ${bytesIn} of ${opts.size} bytes`, {
      bytesIn,
      size: opts.size,
    });
  }
  try {
    if (!writerFailed) fs.ftruncateSync(file, pos); // a trailing hole still counts
    fs.fsyncSync(file);
  } catch (e) {
    if (streamError === undefined) streamError = ioError('syncing', vmcore, e);
  }
  try {
    fs.closeSync(file);
  } catch {
    // the data is synced or the failure already recorded
  }
  try {
    fs.linkSync(tmp, vmcore); // fails rather than replacing an existing vmcore.N
    fs.unlinkSync(tmp);
  } catch (e) {
    const err = ioError('naming', vmcore, e);
    throw new DumpError(
      err.code,
      `${err.message}; the dump is kept as ${tmp}`,
      { ...err.details, kept: tmp },
      { cause: e },
    );
  }
  syncDir(fs, dir);
  const ms = performance.now() - started;
  if (streamError !== undefined) {
    const failure =
      streamError instanceof DumpError
        ? streamError
        : new DumpError(
            DumpCode.Io,
            `dump: writing ${vmcore} failed: ${String(streamError)}`,
            { path: vmcore },
            {
              cause: streamError,
            },
          );
    const reason = `${failure.message} (${bytesIn} of ${opts.size} bytes streamed, ${bytesOut} written)`;
    try {
      rewriteInPlace(fs, info, infoFor(n, 'bad', bytesOut, reason));
    } catch {
      // info.N already says "in progress": still an honest "bad"
    }
    // A kboot bug (not a KbootError) is not a dump failure to report: the partial dump is kept
    // and described, and the bug goes on up.
    if (!isKbootError(streamError)) throw streamError;
    return { n, vmcore, info, status: 'incomplete', reason, error: failure, bytesIn, bytesOut, compression, ms };
  }
  // The dump is complete and named: from here nothing may turn it into a failure.
  try {
    replaceSmallFile(fs, info, infoFor(n, 'good', bytesOut));
  } catch {
    try {
      rewriteInPlace(fs, info, infoFor(n, 'good', bytesOut)); // no room for a new file: in place
    } catch {
      // info.N still says "in progress"; the dump itself is whole
    }
  }
  for (const old of ['vmcore.last', 'vmcore.last.gz', 'vmcore.last.zst', 'info.last']) {
    try {
      fs.unlinkSync(join(dir, old)); // savecore symlinks_remove: one .last link, the newest dump's
    } catch {
      // absent
    }
  }
  replaceSymlink(fs, `info.${n}`, join(dir, 'info.last'));
  replaceSymlink(fs, vmcoreName, join(dir, `vmcore.last${compressionSuffix(compression)}`));
  syncDir(fs, dir);
  return { n, vmcore, info, status: 'good', bytesIn, bytesOut, compression, ms };
}

function syncDir(fs: SavecoreFs, dir: string): void {
  try {
    const d = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  } catch {
    // directories that cannot be fsync'd (some file systems) still hold the names
  }
}

/**
 * A dump-device image as dumpon(8)'s device holds it after a panic: leading
 * kerneldumpheader, the (compressed) dump padded to the block size, trailing header
 * (what savecore reads first). Created exclusively (0600); DumpError on any failure, with
 * the partial image removed.
 */
export function writeDeviceImage(
  path: string,
  facts: DumpFacts,
  chunks: Iterable<Uint8Array>,
  compression: DumpCompression = 'none',
  fs: SavecoreFs = NODE_FS,
): { readonly dumplength: bigint; readonly size: bigint } {
  if (fs.existsSync(path)) {
    throw new DumpError(DumpCode.Io, `dump: ${path} exists: a dump-device image is never replaced`, { path });
  }
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o600);
    const file = fd;
    let pos = BigInt(BLOCKSIZE);
    const put = (b: Uint8Array, at: bigint): void => {
      for (let off = 0; off < b.length;) off += fs.writeSync(file, b, off, b.length - off, Number(at) + off);
    };
    put(new Uint8Array(BLOCKSIZE), 0n); // the leading header goes here once the length is known
    gatherWrites(
      compressChunks(compression, chunks),
      (b) => {
        put(b, pos);
        pos += BigInt(b.length);
      },
      (len) => {
        pos += BigInt(len); // a hole; the trailing header write extends the file past it
      },
    );
    const len = pos - BigInt(BLOCKSIZE);
    const padded = ((len + BigInt(BLOCKSIZE) - 1n) / BigInt(BLOCKSIZE)) * BigInt(BLOCKSIZE);
    const header = encodeKernelDumpHeader(dumpHeaderFields(facts, padded, compression));
    if (padded > len) put(new Uint8Array(Number(padded - len)), pos);
    put(header, 0n);
    put(header, BigInt(BLOCKSIZE) + padded);
    fs.fsyncSync(file);
    fs.closeSync(file);
    fd = undefined;
    fs.linkSync(tmp, path);
    fs.unlinkSync(tmp);
    return { dumplength: padded, size: padded + 2n * BigInt(BLOCKSIZE) };
  } catch (e) {
    try {
      if (fd !== undefined) fs.closeSync(fd);
      fs.unlinkSync(tmp);
    } catch {
      // the first error is the one reported
    }
    throw ioError('writing the dump device image', path, e);
  }
}
