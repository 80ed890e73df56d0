/**
 * The FreeBSD-written crash dump and kernel symbols of test/fixtures/freebsd-dumps/ (see its
 * README), made usable: the dump decompressed with the system `bzip2`, the symbol file built
 * with `yaml2obj --max-size=0` (Debian's llvm), both into one temporary directory per process,
 * removed when the process exits. Nothing is downloaded.
 *
 * `freebsdFixtures()` returns the two paths, or `undefined` when a tool is missing — then the
 * caller skips, except under CI (CI=true), where a missing tool is a failure (`fixtureSkip`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../../loader/paths.js';
import { haveTool, requireTool } from './tools.js';

export interface FreebsdFixtures {
  /** vmcore-amd64-minidump, decompressed (101,685,248 bytes, sparse on disk where the file system allows). */
  readonly vmcore: string;
  /** kernel-amd64.elf, built from kernel-amd64.yaml. */
  readonly kernel: string;
  readonly dir: string;
}

const FIXTURES = packagePath('test', 'fixtures', 'freebsd-dumps');

let made: FreebsdFixtures | undefined;

/** The two files, made once per process; undefined when bzip2 or yaml2obj is not installed. */
export function freebsdFixtures(): FreebsdFixtures | undefined {
  if (made !== undefined) return made;
  if (!haveTool('bzip2') || !haveTool('yaml2obj')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'kboot-freebsd-dumps-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const vmcore = join(dir, 'vmcore');
  const out = openSync(vmcore, 'wx', 0o600);
  try {
    const r = spawnSync('bzip2', ['-dc', join(FIXTURES, 'vmcore-amd64-minidump.bz2')], {
      stdio: ['ignore', out, 'inherit'],
    });
    if (r.status !== 0) throw new Error(`bzip2 -dc failed (${r.status})`);
  } finally {
    closeSync(out);
  }
  const kernel = join(dir, 'kernel-amd64.elf');
  const y = spawnSync('yaml2obj', ['--max-size=0', join(FIXTURES, 'kernel-amd64.yaml'), '-o', kernel], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (y.status !== 0) throw new Error(`yaml2obj failed (${y.status})`);
  made = { vmcore, kernel, dir };
  return made;
}

/** tap options: skip without the tools, but never under CI (there the test fails instead). */
export function fixtureSkip(): { skip?: string } {
  return requireTool('bzip2', 'yaml2obj');
}
