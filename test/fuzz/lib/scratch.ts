/**
 * One private temporary directory per process for targets that read files (the journal, dump
 * files, `bounds`): made with mkdtemp (0700, unpredictable name) in /dev/shm when there is one
 * (a write there costs microseconds, not the milliseconds of a disk), removed when the process
 * (or the worker thread) exits.
 */
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let dir: string | undefined;

function memoryBacked(): string | undefined {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return undefined;
  }
}

export function scratchDir(): string {
  if (dir === undefined) {
    const made = mkdtempSync(join(memoryBacked() ?? tmpdir(), 'kboot-fuzz-'));
    dir = made;
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return dir;
}
