/**
 * One writer at a time in a state directory: an exclusive flock(2) on the directory itself.
 *
 * Contract: `withDirectoryLock(dir, f)` opens `dir` (O_RDONLY|O_DIRECTORY|O_NOFOLLOW is not
 * used: the user named the directory, a symlink to one is fine), takes LOCK_EX without
 * blocking, and polls every 10–50 ms until it has the lock or `timeoutMs` passed (then
 * IoError IO_LOCKED naming the directory and the time waited); runs `f`; releases the lock by
 * closing the descriptor, also when `f` throws. The lock is the open file description's, so
 * a process that dies (even by SIGKILL) releases it. No lock file is left behind.
 * Source: flock(2); the native call is native/fs_lock.cc (never blocks the event loop).
 */
import { closeSync, constants, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { IoCode, IoError } from '../loader/errors.js';
import { errnoOf } from '../loader/io/input.js';
import { loadNative } from './binding.js';

/** How long a command waits for another one by default. */
export const DEFAULT_LOCK_WAIT_MS = 60_000;

/** Options of withDirectoryLock. */
export interface DirectoryLockOptions {
  readonly timeoutMs?: number;
  /** What the directory is, in messages. */
  readonly what?: string;
}

/** Runs `f` holding the exclusive lock of `dir`; see the module contract. */
export async function withDirectoryLock<T>(
  dir: string,
  f: () => T | Promise<T>,
  opts: DirectoryLockOptions = {},
): Promise<T> {
  const what = opts.what ?? 'state directory';
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LOCK_WAIT_MS;
  const { flock } = loadNative();
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (e) {
    throw new IoError(IoCode.NotDirectory, `io: cannot open ${what} ${dir} to lock it (${errnoOf(e)})`, {
      path: dir,
      reason: errnoOf(e),
    });
  }
  try {
    const started = Date.now();
    let delay = 10;
    for (;;) {
      const r = flock(fd, 'exclusive');
      if (r === '') break;
      if (r !== 'EWOULDBLOCK') {
        throw new IoError(IoCode.Locked, `io: cannot lock ${what} ${dir} (${r})`, { path: dir, reason: r });
      }
      const waited = Date.now() - started;
      if (waited >= timeoutMs) {
        throw new IoError(
          IoCode.Locked,
          `io: another kboot command is using ${what} ${dir} (waited ${(waited / 1000).toFixed(1)} s for it)`,
          { path: dir, waitedMs: waited },
        );
      }
      await sleep(Math.min(delay, timeoutMs - waited));
      delay = Math.min(50, delay * 2);
    }
    return await f();
  } finally {
    closeSync(fd);
  }
}
