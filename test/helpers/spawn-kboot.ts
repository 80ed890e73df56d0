/**
 * Runs dist/cli/main.js as a real process with bounds on time and memory, and reports how
 * much memory it used: the child's own peak RSS (getrusage ru_maxrss through
 * process.resourceUsage(), written on exit to an extra pipe by a preloaded module), so no
 * tool outside Node is needed. A watchdog polls /proc/PID/status (VmRSS) every 25 ms and
 * SIGKILLs a child over `killAboveKiB`, and a timer SIGKILLs one that runs past `timeoutMs`:
 * a regression shows as a failed test, not as a machine out of memory.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packagePath } from '../../loader/paths.js';

/** The kboot executable these tests run. */
export const KBOOT_BIN = packagePath('dist', 'cli', 'main.js');

/** What a bounded run gave. */
export interface BoundedRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** The child's peak RSS in KiB (undefined when it died before reporting, e.g. killed). */
  readonly maxRssKiB: number | undefined;
  /** Why the harness killed it, if it did. */
  readonly killed?: 'timeout' | 'memory';
}

export interface BoundedOptions {
  readonly cwd: string;
  readonly timeoutMs?: number;
  readonly killAboveKiB?: number;
  /** Run through `sh -c 'umask U; exec ...'`. */
  readonly umask?: number;
}

let preload: string | undefined;

/** The module preloaded into the child: reports ru_maxrss (KiB) on fd 3 at exit. */
function preloadModule(): string {
  if (preload !== undefined) return preload;
  const dir = mkdtempSync(join(tmpdir(), 'kboot-rss-'));
  preload = join(dir, 'report-rss.mjs');
  writeFileSync(
    preload,
    "import { writeSync } from 'node:fs';\n" +
      "process.on('exit', () => { try { writeSync(3, `${process.resourceUsage().maxRSS}\\n`); } catch {} });\n",
  );
  return preload;
}

function vmRssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Runs `kboot ARGV` (see the module contract). */
export function runBounded(argv: readonly string[], opts: BoundedOptions): Promise<BoundedRun> {
  const nodeArgv = ['--import', pathToFileURL(preloadModule()).href, KBOOT_BIN, ...argv];
  const [cmd, args] =
    opts.umask === undefined
      ? [process.execPath, nodeArgv]
      : [
          '/bin/sh',
          ['-c', `umask ${opts.umask.toString(8).padStart(3, '0')}; exec "$0" "$@"`, process.execPath, ...nodeArgv],
        ];
  const started = performance.now();
  const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let rss = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  child.stdio[3]?.on('data', (b: Buffer) => (rss += b.toString('utf8')));
  let killed: BoundedRun['killed'];
  const limit = opts.killAboveKiB ?? 512 * 1024;
  const watchdog = setInterval(() => {
    const now = child.pid === undefined ? undefined : vmRssKiB(child.pid);
    if (now !== undefined && now > limit) {
      killed = 'memory';
      child.kill('SIGKILL');
    }
  }, 25);
  const timer = setTimeout(() => {
    killed = 'timeout';
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 10_000);
  return new Promise((done) => {
    child.on('close', (code, signal) => {
      clearInterval(watchdog);
      clearTimeout(timer);
      const kib = Number.parseInt(rss.trim(), 10);
      done({
        code,
        signal,
        stdout,
        stderr,
        ms: performance.now() - started,
        maxRssKiB: Number.isInteger(kib) ? kib : undefined,
        ...(killed === undefined ? {} : { killed }),
      });
    });
  });
}
