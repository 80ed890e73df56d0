/**
 * savecore(8)-style output of a dump stream into a crash directory (sbin/savecore/savecore.c:
 * getbounds/writebounds, check_space, printheader, DoFile; FreeBSD names vmcore.N,
 * vmcore.N.gz, vmcore.N.zst, info.N, bounds, vmcore.last, info.last), and the dump-device
 * image dumpon(8) targets (sys/kern/kern_shutdown.c: leading kerneldumpheader, dump, trailing
 * kerneldumpheader).
 *
 * Contract: `saveDump(opts)` (also `saveDumpAsync` and `saveDumpSteps`, dump/steps.ts) first
 * recovers what killed writers left in the directory (dump/recover.ts; `recover: false`
 * skips it), then picks N = the `bounds` file's number — 0 when absent or bad, as savecore's
 * getbounds, with a warning when it is not a regular file (a symlink, FIFO or directory is
 * never read through) — and moves past any N whose vmcore.N*, info.N or textdump exists:
 * unlike savecore it never overwrites a dump. It checks that the directory's free space
 * covers the worst case (the stream's size, plus compression's worst-case growth and the info
 * file) and otherwise throws DUMP_NO_SPACE having written nothing; then claims the slot by
 * creating info.N exclusively and taking an flock on it (status "bad", "dump in progress"
 * until the end, so a killed writer leaves an honest info file that the next run recognises
 * as dead; a concurrent saver moves on to N + 1), writes `bounds` = N + 1 (a failure is a
 * warning, as in savecore's writebounds), and the dump under an unpredictable temporary name
 * (mode 0600, locked) through a background writer thread, fsyncs it and links it to
 * vmcore.N[.gz|.zst] (never replacing; if naming fails the complete dump is kept under the
 * temporary name, which the error gives), rewrites info.N with "Dump Status: good" and points
 * vmcore.last / info.last at them (each replaced by rename; a regular file of that name is
 * left alone). Every file is created O_EXCL|O_NOFOLLOW (dump/crashdir.ts): a name planted by
 * another user is never written through. When the stream or a write fails (a full disk, the
 * rescue kernel panicking again) or the stream ends short, everything read up to then is
 * still written (after a write error, nothing more), the partial dump is kept as vmcore.N
 * with info.N saying "Dump Status: bad" and the reason, and the result has `status:
 * 'incomplete'` — the caller exits non-zero. SIGINT/SIGTERM/SIGHUP while the steps run
 * asynchronously do the same ("interrupted by a signal") before the process exits
 * (loader/io/cleanup.ts). An error that is not a KbootError (a kboot bug) gets the same
 * partial dump and info.N, then is rethrown. Only DumpError escapes otherwise; data writes
 * and a few calls go through `opts.fs` so tests can fail them.
 */
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { IoCode, IoError, isKbootError } from '../loader/errors.js';
import { onInterrupt } from '../loader/io/cleanup.js';
import { readInputText } from '../loader/io/input.js';
import { createExclusive, othersCanWrite, tempName, writeAll } from '../loader/io/output.js';
import { compressChunks, compressionSuffix, type DumpCompression } from './compress.js';
import { lockFile, writeSmallFile } from './crashdir.js';
import { DumpCode, DumpError } from './errors.js';
import { encodeKernelDumpHeader } from './kerneldumpheader.js';
import { backgroundWriter, createGatherer, pullChunk, type Gatherer, type PositionalWriter } from './file.js';
import { BLOCKSIZE, dumpHeaderFields, IN_PROGRESS, infoText, parityOf, type DumpFacts } from './info.js';
import { recoverDumpDirectory, type DumpDirRecovery } from './recover.js';
import { runSteps, runStepsAsync, type Steps } from './steps.js';

export { BLOCKSIZE, ctimeText, dumpHeaderFields, infoText, type DumpFacts } from './info.js';

/** The file-system calls saveDump makes on the dump and the directory (node:fs by default). */
export interface SavecoreFs {
  writeSync(fd: number, b: Uint8Array, off: number, len: number, position?: number | null): number;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, len: number): void;
  closeSync(fd: number): void;
  linkSync(from: string, to: string): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  symlinkSync(target: string, path: string): void;
  existsSync(path: string): boolean;
  readdirSync(path: string): string[];
  statfsSync(path: string): { bavail: number | bigint; bsize: number | bigint };
}

export const NODE_FS: SavecoreFs = {
  writeSync: (fd, b, o, l, pos) => nodeFs.writeSync(fd, b, o, l, pos),
  fsyncSync: (fd) => nodeFs.fsyncSync(fd),
  ftruncateSync: (fd, l) => nodeFs.ftruncateSync(fd, l),
  closeSync: (fd) => nodeFs.closeSync(fd),
  linkSync: (a, b) => nodeFs.linkSync(a, b),
  renameSync: (a, b) => nodeFs.renameSync(a, b),
  unlinkSync: (p) => nodeFs.unlinkSync(p),
  symlinkSync: (t, p) => nodeFs.symlinkSync(t, p),
  existsSync: (p) => nodeFs.existsSync(p),
  readdirSync: (p) => nodeFs.readdirSync(p),
  statfsSync: (p) => nodeFs.statfsSync(p),
};

export interface SaveDumpOptions {
  readonly dir: string;
  readonly facts: DumpFacts;
  /** Bytes of the uncompressed stream. */
  readonly size: bigint;
  readonly chunks: Iterable<Uint8Array>;
  readonly compression?: DumpCompression;
  /** Where the dump came from, for info.N (savecore: the dump device). */
  readonly device?: string;
  /** Recover killed writers' dumps first (default true). */
  readonly recover?: boolean;
  /** Told the described partial dump when a signal interrupted the steps (before the process exits). */
  readonly onInterrupted?: (r: SaveDumpResult) => void;
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
  /** Things the user should know (a bad bounds file, a directory others can write). */
  readonly warnings: readonly string[];
  /** What the recovery of killed writers found and did (absent with `recover: false`). */
  readonly recovery?: DumpDirRecovery;
}

/** savecore's BLOCKSIZE-free slack: the info file and bounds (savecore counts 2 KiB). */
const INFO_ROOM = 64n * 1024n;

/** Worst-case bytes on disk for `size` stream bytes (zstd/gzip can grow incompressible data slightly). */
export function worstCaseBytes(size: bigint, c: DumpCompression): bigint {
  return (c === 'none' ? size : size + size / 64n + (1n << 20n)) + INFO_ROOM;
}

function ioError(what: string, path: string, e: unknown): DumpError {
  if (e instanceof DumpError) return e;
  const code =
    e instanceof IoError ? String(e.details['reason'] ?? e.code) : String((e as { code?: unknown }).code ?? 'error');
  return new DumpError(DumpCode.Io, `dump: ${what} ${path} failed (${code})`, { path, errno: code }, { cause: e });
}

/**
 * The `bounds` number as savecore's getbounds reads it (0 when absent, empty or not a
 * number), and a warning when it was not usable; never reads through a symlink, a FIFO or a
 * device (loader/io/input.ts).
 */
export function boundsOf(dir: string): { readonly n: number; readonly warning?: string } {
  let text: string;
  try {
    text = readInputText(join(dir, 'bounds'), 'bounds', { what: 'bounds file', followSymlinks: false });
  } catch (e) {
    if (e instanceof IoError && e.code === IoCode.NotFound) return { n: 0 };
    const why = e instanceof Error ? e.message : String(e);
    const replaced = e instanceof IoError && e.details['kind'] === 'directory' ? '' : ' (a regular file replaces it)';
    return { n: 0, warning: `${why}; using 0 as savecore does${replaced}` };
  }
  if (text.trim() === '') return { n: 0, warning: `the bounds file in ${dir} is empty; using 0` };
  const n = Number.parseInt(text.slice(0, 5), 10);
  if (!Number.isInteger(n) || n < 0) return { n: 0, warning: `invalid value in the bounds file of ${dir}; using 0` };
  return { n };
}

/** The `bounds` number (savecore getbounds: 0 when absent, empty or not a number). */
export function readBounds(dir: string): number {
  return boundsOf(dir).n;
}

/** True when any file of dump N exists (vmcore.N, vmcore.N.*, info.N, textdump.tar.N*). */
function slotUsed(names: ReadonlySet<string>, n: number): boolean {
  for (const name of names) {
    if (name === `info.${n}` || name === `vmcore.${n}` || name.startsWith(`vmcore.${n}.`)) return true;
    if (name === `textdump.tar.${n}` || name.startsWith(`textdump.tar.${n}.`)) return true;
  }
  return false;
}

/** A claimed slot: info.N created exclusively, open and locked until the dump is described. */
interface Slot {
  readonly n: number;
  readonly info: string;
  readonly fd: number;
}

/** Rewrites info.N in place through its open descriptor (no new blocks on a full disk). */
function rewriteInPlace(fs: SavecoreFs, slot: Slot, text: string): void {
  const b = Buffer.from(text, 'utf8');
  for (let off = 0; off < b.length;) off += fs.writeSync(slot.fd, b, off, b.length - off, off);
  fs.ftruncateSync(slot.fd, b.length);
  fs.fsyncSync(slot.fd);
}

/** Claims the first free slot from `start` by creating info.N exclusively (see the module contract). */
function claimSlot(dir: string, names: Set<string>, start: number, text: (n: number) => string): Slot {
  let n = start;
  for (let tries = 0; ; tries++) {
    while (slotUsed(names, n)) n++;
    const info = join(dir, `info.${n}`);
    let fd: number;
    try {
      fd = createExclusive(info, 0o600, 'info file');
    } catch (e) {
      if (!(e instanceof IoError && e.code === IoCode.Exists) || tries > 1000) throw ioError('creating', info, e);
      names.add(`info.${n}`);
      continue;
    }
    try {
      lockFile(fd, 2000); // before the first byte: an unlocked "in progress" info.N is a dead writer's
      writeAll(fd, Buffer.from(text(n), 'utf8'), 0);
      nodeFs.fsyncSync(fd);
    } catch (e) {
      nodeFs.closeSync(fd);
      try {
        nodeFs.unlinkSync(info); // nothing was written: give the slot back
      } catch {
        // best effort
      }
      throw ioError('writing', info, e);
    }
    return { n, info, fd };
  }
}

/** The dump file being written: its temporary, the writer, and what reached it. */
class DumpTarget {
  pos = 0;
  bytesOut = 0n;
  writerFailed = false;
  private closed = false;

  constructor(
    private readonly fs: SavecoreFs,
    readonly tmp: string,
    readonly vmcore: string,
    readonly fd: number,
    private readonly writer: PositionalWriter,
  ) {}

  write(b: Uint8Array): void {
    try {
      this.writer.write(b, this.pos);
    } catch (e) {
      this.writerFailed = true;
      const at = e instanceof DumpError ? e.details['position'] : undefined;
      if (typeof at === 'number') this.bytesOut = BigInt(at); // what reached the file before the failure
      throw e instanceof DumpError ? e : ioError('writing', this.vmcore, e);
    }
    this.pos += b.length;
    this.bytesOut += BigInt(b.length);
  }

  skip(len: number): void {
    this.pos += len; // a hole
    this.bytesOut += BigInt(len);
  }

  /** Waits for the writer, truncates to the end (a trailing hole counts), syncs and closes; the first error. */
  finish(): unknown {
    let failure: unknown;
    if (this.writerFailed) this.writer.abort();
    else {
      try {
        this.writer.finish();
      } catch (e) {
        this.writerFailed = true;
        const at = e instanceof DumpError ? e.details['position'] : undefined;
        if (typeof at === 'number') this.bytesOut = BigInt(at); // what reached the file before the failure
        failure = e instanceof DumpError ? e : ioError('writing', this.vmcore, e);
      }
    }
    try {
      if (!this.writerFailed) this.fs.ftruncateSync(this.fd, this.pos);
      this.fs.fsyncSync(this.fd);
    } catch (e) {
      failure ??= ioError('syncing', this.vmcore, e);
    }
    this.close();
    return failure;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.fs.closeSync(this.fd);
    } catch {
      // the data is synced or the failure already recorded
    }
  }

  /** Links the temporary to vmcore.N (never replacing). */
  name(): void {
    try {
      this.fs.linkSync(this.tmp, this.vmcore);
      this.fs.unlinkSync(this.tmp);
    } catch (e) {
      const err = ioError('naming', this.vmcore, e);
      throw new DumpError(
        err.code,
        `${err.message}; the dump is kept as ${this.tmp}`,
        { ...err.details, kept: this.tmp },
        { cause: e },
      );
    }
  }
}

/** Creates the dump's temporary (0600, exclusive, unpredictable, locked) and its writer. */
function openTarget(fs: SavecoreFs, dir: string, vmcoreName: string): DumpTarget {
  const vmcore = join(dir, vmcoreName);
  const tmp = tempName(vmcore);
  const fd = createExclusive(tmp, 0o600, 'dump');
  lockFile(fd, 1000);
  // The real file system gets a background writer thread (reading guest memory and writing
  // the disk overlap); an injected `fs` (tests) is written synchronously through its writeSync.
  const writer: PositionalWriter =
    fs === NODE_FS
      ? backgroundWriter(fd, vmcore)
      : {
          write: (b, position) => {
            for (let off = 0; off < b.length;) off += fs.writeSync(fd, b, off, b.length - off, position + off);
          },
          finish: () => undefined,
          abort: () => undefined,
        };
  return new DumpTarget(fs, tmp, vmcore, fd, writer);
}

/** Pushes the compressed stream through the gatherer, yielding per chunk; returns the stream's failure. */
function* pump(
  chunks: Iterable<Uint8Array>,
  compression: DumpCompression,
  g: Gatherer,
): Generator<void, unknown, undefined> {
  const it = compressChunks(compression, chunks)[Symbol.iterator]();
  try {
    for (;;) {
      const r = pullChunk(it, g);
      if ('failure' in r) return r.failure;
      if (r.done === true) break;
      try {
        g.push(r.value);
      } catch (e) {
        return e;
      }
      yield;
    }
    try {
      g.flush();
    } catch (e) {
      return e;
    }
    return undefined;
  } finally {
    it.return({ bytesIn: 0n, bytesOut: 0n });
  }
}

/** Points `name` (vmcore.last, info.last) at `target`: a new symlink renamed over it. */
function replaceLink(fs: SavecoreFs, dir: string, target: string, name: string, warnings: string[]): void {
  const path = join(dir, name);
  const tmp = tempName(path);
  try {
    fs.symlinkSync(target, tmp);
    fs.renameSync(tmp, path);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // never made
    }
    warnings.push(`cannot point ${name} at ${target} (${String((e as { code?: unknown }).code ?? e)})`); // savecore only warns
  }
}

/** savecore's symlinks_remove + the new links: the newest good dump's .last links. */
function pointLastLinks(
  fs: SavecoreFs,
  dir: string,
  n: number,
  vmcoreName: string,
  c: DumpCompression,
  warnings: string[],
): void {
  const keep = `vmcore.last${compressionSuffix(c)}`;
  for (const old of ['vmcore.last', 'vmcore.last.gz', 'vmcore.last.zst']) {
    if (old === keep) continue;
    try {
      if (nodeFs.lstatSync(join(dir, old)).isSymbolicLink()) fs.unlinkSync(join(dir, old));
    } catch {
      // absent
    }
  }
  for (const [target, name] of [
    [`info.${n}`, 'info.last'],
    [vmcoreName, keep],
  ] as const) {
    let st: nodeFs.Stats | undefined;
    try {
      st = nodeFs.lstatSync(join(dir, name));
    } catch {
      st = undefined;
    }
    if (st !== undefined && !st.isSymbolicLink()) {
      warnings.push(`${join(dir, name)} is not a symbolic link (kboot's are): left as it is`);
      continue;
    }
    replaceLink(fs, dir, target, name, warnings);
  }
}

function syncDir(fs: SavecoreFs, dir: string): void {
  let d: number | undefined;
  try {
    d = nodeFs.openSync(dir, 'r');
    fs.fsyncSync(d);
  } catch {
    // directories that cannot be fsync'd (some file systems) still hold the names
  } finally {
    if (d !== undefined) nodeFs.closeSync(d);
  }
}

/** Checks the free space for the worst case; DUMP_NO_SPACE before anything is written. */
function checkRoom(fs: SavecoreFs, dir: string, need: bigint): void {
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
}

/** What the steps share: options, the slot, the target and the counters. */
interface Run {
  readonly opts: SaveDumpOptions;
  readonly fs: SavecoreFs;
  readonly compression: DumpCompression;
  readonly warnings: string[];
  readonly started: number;
  readonly infoFor: (n: number, status: 'good' | 'bad', dumplength: bigint, reason?: string) => string;
  bytesIn: bigint;
  readonly recovery?: DumpDirRecovery;
  /** Set once the dump is described (by the last step, or by an interruption). */
  result?: SaveDumpResult;
}

/** The start: warnings, recovery, room, bounds, the claimed slot and bounds = N + 1. */
function begin(opts: SaveDumpOptions): { run: Run; slot: Slot } {
  const fs = opts.fs ?? NODE_FS;
  const dir = opts.dir;
  const compression = opts.compression ?? 'none';
  const device = opts.device ?? '/dev/dumper';
  const warnings: string[] = [];
  const open = othersCanWrite(dir);
  if (open !== undefined) warnings.push(open);
  const recovery = opts.recover === false ? undefined : recoverDumpDirectory(dir);
  let names: Set<string>;
  try {
    names = new Set(fs.readdirSync(dir));
  } catch (e) {
    throw ioError('reading the dump directory', dir, e);
  }
  checkRoom(fs, dir, worstCaseBytes(opts.size, compression));
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
  const bounds = boundsOf(dir);
  if (bounds.warning !== undefined) warnings.push(bounds.warning);
  const slot = claimSlot(dir, names, bounds.n, (n) => infoFor(n, 'bad', opts.size, IN_PROGRESS));
  try {
    writeSmallFile(dir, 'bounds', `${slot.n + 1}\n`, { mode: 0o644, what: 'bounds file' });
  } catch (e) {
    warnings.push(`cannot write the bounds file of ${dir} (${e instanceof Error ? e.message : String(e)})`); // savecore's writebounds warns
  }
  const run: Run = {
    opts,
    fs,
    compression,
    warnings,
    started: performance.now(),
    infoFor,
    bytesIn: 0n,
    ...(recovery === undefined ? {} : { recovery }),
  };
  return { run, slot };
}

/** Saves a dump stream as savecore does (see the module contract), as steps. */
export function* saveDumpSteps(opts: SaveDumpOptions): Steps<SaveDumpResult> {
  const { run, slot } = begin(opts);
  const { fs, compression } = run;
  const vmcoreName = `vmcore.${slot.n}${compressionSuffix(compression)}`;
  let target: DumpTarget;
  try {
    target = openTarget(fs, opts.dir, vmcoreName);
  } catch (e) {
    fs.closeSync(slot.fd);
    try {
      fs.unlinkSync(slot.info); // nothing was written: give the slot back
    } catch {
      // best effort
    }
    throw ioError('creating', join(opts.dir, vmcoreName), e);
  }
  const g = createGatherer((b) => target.write(b), compression === 'none' ? (len) => target.skip(len) : undefined);
  // Interrupted (SIGINT, SIGTERM, SIGHUP) between two steps: the part written is named and
  // described, as for a failed write, before the process exits.
  const stop = onInterrupt(() => {
    try {
      g.flush();
    } catch {
      // described below with what reached the file
    }
    if (run.result !== undefined) return;
    run.result = end(
      run,
      slot,
      target,
      vmcoreName,
      new DumpError(DumpCode.Io, 'dump: kboot was interrupted by a signal', {}),
    );
    opts.onInterrupted?.(run.result);
  });
  try {
    const counted = function* (): Generator<Uint8Array, void, undefined> {
      for (const c of opts.chunks) {
        run.bytesIn += BigInt(c.length); // read from the source (the consumer takes it at once)
        yield c;
      }
    };
    const failure = yield* pump(counted(), compression, g);
    run.result ??= end(run, slot, target, vmcoreName, failure);
    return run.result;
  } finally {
    stop();
  }
}

/** Finishes the file, names it, describes it in info.N and (when good) points the .last links. */
function end(run: Run, slot: Slot, target: DumpTarget, vmcoreName: string, failure: unknown): SaveDumpResult {
  const { fs, opts, compression } = run;
  let streamError = failure;
  const finishError = target.finish();
  streamError ??= finishError;
  if (streamError === undefined && run.bytesIn !== opts.size) {
    streamError = new DumpError(
      DumpCode.Truncated,
      `dump: the stream ended after ${run.bytesIn} of ${opts.size} bytes`,
      {
        bytesIn: run.bytesIn,
        size: opts.size,
      },
    );
  }
  try {
    target.name();
  } catch (e) {
    fs.closeSync(slot.fd);
    throw e;
  }
  syncDir(fs, opts.dir);
  const base = {
    n: slot.n,
    vmcore: target.vmcore,
    info: slot.info,
    bytesIn: run.bytesIn,
    bytesOut: target.bytesOut,
    compression,
    warnings: run.warnings,
    ...(run.recovery === undefined ? {} : { recovery: run.recovery }),
  };
  try {
    if (streamError !== undefined) {
      const failed =
        streamError instanceof DumpError
          ? streamError
          : new DumpError(
              DumpCode.Io,
              `dump: writing ${target.vmcore} failed: ${String(streamError)}`,
              { path: target.vmcore },
              { cause: streamError },
            );
      const reason = `${failed.message} (${run.bytesIn} of ${opts.size} bytes streamed, ${target.bytesOut} written)`;
      try {
        rewriteInPlace(fs, slot, run.infoFor(slot.n, 'bad', target.bytesOut, reason));
      } catch {
        // info.N already says "in progress": still an honest "bad"
      }
      // A kboot bug (not a KbootError) is not a dump failure to report: the partial dump is kept
      // and described, and the bug goes on up.
      if (!isKbootError(streamError)) throw streamError;
      return { ...base, status: 'incomplete', reason, error: failed, ms: performance.now() - run.started };
    }
    // The dump is complete and named: from here nothing may turn it into a failure.
    const good = run.infoFor(slot.n, 'good', target.bytesOut);
    try {
      writeSmallFile(opts.dir, `info.${slot.n}`, good, { mode: 0o600, what: 'info file' });
    } catch {
      try {
        rewriteInPlace(fs, slot, good); // no room for a new file: in place
      } catch {
        // info.N still says "in progress"; the dump itself is whole
      }
    }
  } finally {
    fs.closeSync(slot.fd); // the lock goes with it
  }
  pointLastLinks(fs, opts.dir, slot.n, vmcoreName, compression, run.warnings);
  syncDir(fs, opts.dir);
  return { ...base, status: 'good', ms: performance.now() - run.started };
}

/** Saves a dump stream at once (see the module contract). */
export function saveDump(opts: SaveDumpOptions): SaveDumpResult {
  return runSteps(saveDumpSteps(opts));
}

/** Saves a dump stream, letting the event loop turn between chunks (progress, signals). */
export function saveDumpAsync(opts: SaveDumpOptions): Promise<SaveDumpResult> {
  return runStepsAsync(saveDumpSteps(opts));
}

/**
 * A dump-device image as dumpon(8)'s device holds it after a panic: leading
 * kerneldumpheader, the (compressed) dump padded to the block size, trailing header
 * (what savecore reads first). Created exclusively (0600) under an unpredictable temporary
 * name removed on SIGINT/SIGTERM; DumpError on any failure, with the partial image removed.
 */
export function* writeDeviceImageSteps(
  path: string,
  facts: DumpFacts,
  chunks: Iterable<Uint8Array>,
  compression: DumpCompression = 'none',
  fs: SavecoreFs = NODE_FS,
): Steps<{ readonly dumplength: bigint; readonly size: bigint }> {
  if (fs.existsSync(path)) {
    throw new DumpError(DumpCode.Io, `dump: ${path} exists: a dump-device image is never replaced`, { path });
  }
  const tmp = tempName(path);
  let fd: number | undefined;
  let stop: (() => void) | undefined;
  try {
    fd = createExclusive(tmp, 0o600, 'dump-device image');
    const file = fd;
    stop = onInterrupt(() => {
      try {
        fs.closeSync(file);
        fs.unlinkSync(tmp); // a partial image is not kept (the contract above)
      } catch {
        // already gone
      }
    });
    let pos = BigInt(BLOCKSIZE);
    const put = (b: Uint8Array, at: bigint): void => {
      for (let off = 0; off < b.length;) off += fs.writeSync(file, b, off, b.length - off, Number(at) + off);
    };
    put(new Uint8Array(BLOCKSIZE), 0n); // the leading header goes here once the length is known
    const g = createGatherer(
      (b) => {
        put(b, pos);
        pos += BigInt(b.length);
      },
      (len) => {
        pos += BigInt(len); // a hole; the trailing header write extends the file past it
      },
    );
    for (const c of compressChunks(compression, chunks)) {
      g.push(c);
      yield;
    }
    g.flush();
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
  } finally {
    stop?.();
  }
}

/** writeDeviceImageSteps at once. */
export function writeDeviceImage(
  path: string,
  facts: DumpFacts,
  chunks: Iterable<Uint8Array>,
  compression: DumpCompression = 'none',
  fs: SavecoreFs = NODE_FS,
): { readonly dumplength: bigint; readonly size: bigint } {
  return runSteps(writeDeviceImageSteps(path, facts, chunks, compression, fs));
}
