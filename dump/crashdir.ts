/**
 * The files of a crash directory as kboot handles them (the directory savecore(8) writes:
 * sbin/savecore/savecore.c), safe in a directory other users can write to.
 *
 * Contract:
 *  - every file is created O_EXCL|O_NOFOLLOW under an unpredictable name
 *    (loader/io/output.ts `createExclusive` / `tempName`: `.NAME.<32 hex>.tmp`) and renamed
 *    or linked into place; small files (`bounds`, info.N rewrites) are written by
 *    `writeSmallFile`, which holds an flock(2) on the temporary from before its first byte
 *    until it has its final name, so a recovering run can tell a live writer's temporary from
 *    a dead one's (an unlocked temporary with bytes in it is dead);
 *  - `lockFile(fd, waitMs)` takes that lock (the addon's flock, LOCK_NB, retried for `waitMs`);
 *    'unsupported' when the addon cannot be loaded;
 *  - `classifyName(name)` recognises kboot's temporaries, this version's (random names) and
 *    the older `NAME.tmp-PID` ones, for dump/recover.ts;
 *  - `readSmallFile` reads info.N / bounds without following a symlink, bounded
 *    (loader/io/input.ts); nothing here writes through a symlink.
 * Errors: IoError (loader/errors.ts).
 */
import { closeSync, fsyncSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { IoCode, IoError } from '../loader/errors.js';
import { forgetTemporary, registerTemporary } from '../loader/io/cleanup.js';
import { openInputFile } from '../loader/io/input.js';
import { createExclusive, tempName, writeAll, writeError } from '../loader/io/output.js';
import { loadNative } from '../native/binding.js';

/** How an flock attempt ended. */
export type LockResult = 'locked' | 'busy' | 'unsupported';

let flockFn: ((fd: number, mode: 'exclusive' | 'shared' | 'unlock') => string) | null | undefined;

function flockOrNull(): ((fd: number, mode: 'exclusive' | 'shared' | 'unlock') => string) | null {
  if (flockFn === undefined) {
    try {
      flockFn = loadNative().flock;
    } catch {
      flockFn = null;
    }
  }
  return flockFn;
}

/** True when flock(2) is available (the kboot addon loads). */
export function locksSupported(): boolean {
  return flockOrNull() !== null;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms` milliseconds (short waits for a lock held for microseconds). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Takes an exclusive flock on `fd`, retrying for up to `waitMs` while another holds it. */
export function lockFile(fd: number, waitMs = 0): LockResult {
  const flock = flockOrNull();
  if (flock === null) return 'unsupported';
  const until = performance.now() + waitMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    const r = flock(fd, 'exclusive');
    if (r === '') return 'locked';
    if (r !== 'EWOULDBLOCK') return 'unsupported'; // a file system without flock
    if (performance.now() >= until) return 'busy';
    sleepSync(delay);
  }
}

/** A kboot temporary name in a crash directory. */
export interface TempNameInfo {
  readonly name: string;
  readonly kind: 'vmcore' | 'info' | 'bounds' | 'last';
  /** 'random': this version's `.NAME.<32 hex>.tmp`; 'pid': an older `NAME.tmp-PID`. */
  readonly style: 'random' | 'pid';
  /** The final name it was written for (vmcore.3.zst, info.3, bounds, vmcore.last). */
  readonly final: string;
  /** The dump number (vmcore and info temporaries). */
  readonly n?: number;
  /** The writer's process id ('pid' style). */
  readonly pid?: number;
}

/** What a final name is: vmcore.N[.gz|.zst], info.N, bounds, or a .last link. */
function finalInfo(final: string): Pick<TempNameInfo, 'kind' | 'n'> | undefined {
  const vmcore = /^vmcore\.(\d{1,9})(?:\.gz|\.zst)?$/.exec(final);
  if (vmcore !== null) return { kind: 'vmcore', n: Number(vmcore[1]) };
  const info = /^info\.(\d{1,9})$/.exec(final);
  if (info !== null) return { kind: 'info', n: Number(info[1]) };
  if (final === 'bounds') return { kind: 'bounds' };
  if (/^(?:vmcore\.last(?:\.gz|\.zst)?|info\.last)$/.test(final)) return { kind: 'last' };
  return undefined;
}

/** What a directory entry is, when it is one of kboot's temporaries (either naming style). */
export function classifyName(name: string): TempNameInfo | undefined {
  const random = /^\.(.+)\.[0-9a-f]{32}\.tmp$/.exec(name);
  if (random !== null) {
    const final = random[1] ?? '';
    const info = finalInfo(final);
    return info === undefined ? undefined : { name, ...info, style: 'random', final };
  }
  // older kboot: `.vmcore.N[.gz|.zst].tmp-PID` (the dump), `info.N.tmp-PID` and `bounds.tmp-PID`
  const old = /^(\.?)(.+)\.tmp-(\d{1,10})$/.exec(name);
  if (old === null) return undefined;
  const final = old[2] ?? '';
  const info = finalInfo(final);
  if (info === undefined || info.kind === 'last' || (info.kind === 'vmcore') !== (old[1] === '.')) return undefined;
  return { name, ...info, style: 'pid', final, pid: Number(old[3]) };
}

/** How writeSmallFile places a file. */
export interface SmallFileOptions {
  readonly mode: number;
  readonly what: string;
}

/**
 * Writes `text` to `dir/final` through a locked, exclusively created temporary renamed over
 * it (replacing a file or symlink of that name, never writing through one). Throws IoError;
 * the temporary never outlives the call.
 */
export function writeSmallFile(dir: string, final: string, text: string, opts: SmallFileOptions): void {
  const path = join(dir, final);
  const tmp = tempName(path);
  const fd = createExclusive(tmp, opts.mode, opts.what);
  registerTemporary(tmp);
  let named = false;
  try {
    lockFile(fd, 1000); // nobody else has this name yet: at once, unless a recovery looked at it
    try {
      writeAll(fd, Buffer.from(text, 'utf8'), 0);
      fsyncSync(fd);
    } catch (e) {
      throw writeError(tmp, opts.what, e);
    }
    try {
      renameSync(tmp, path); // still locked: a recovery never takes a temporary being named
      named = true;
    } catch (e) {
      throw writeError(path, opts.what, e);
    }
  } finally {
    closeSync(fd);
    if (!named) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    }
    forgetTemporary(tmp);
  }
}

/** Reads a small file of a crash directory (info.N) without following a symlink; IoError. */
export function readSmallFile(path: string, what: string, maxBytes = 64 * 1024): string {
  const f = openInputFile(path, { what, followSymlinks: false });
  try {
    const b = f.read(0, maxBytes + 1);
    if (b.length > maxBytes) {
      throw new IoError(IoCode.TooLarge, `io: ${what} ${path} is larger than ${maxBytes} bytes`, {
        path,
        limit: maxBytes,
      });
    }
    return Buffer.from(b).toString('utf8');
  } finally {
    f.close();
  }
}
