/**
 * How fast `kboot` starts, against the least a Node program costs (issue 13 item 5): a fresh
 * `node dist/cli/main.js --version` process and a fresh `kboot inspect` of the probe kernel
 * (kernels/probe, 12.6 KiB), each interleaved with a fresh `node -e ''`. Reported as runs per
 * second (1000 / median ms), so ratio = `node -e ''` time / kboot time; the requirement is
 * kboot ≤ 2× the empty process, i.e. ratio ≥ 0.5. What keeps it so: commands register
 * descriptors only and import their action's modules when they run (cli/commands/index.ts);
 * test/e2e/cli/startup.test.ts checks which modules load.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProbeKernel } from '../kernels/probe/index.js';
import { packageRoot } from '../loader/paths.js';
import { compare, medianPairMs, type Benchmark, type BenchResult } from './harness.js';

const REPS = 15;

function spawnOk(args: readonly string[]): void {
  const r = spawnSync(process.execPath, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${String(r.status)}: ${String(r.stderr)}`);
}

/** One row: `kboot ARGS` against `node -e ''`, both as fresh processes. */
function startupRow(name: string, label: string, args: readonly string[]): BenchResult {
  const main = join(packageRoot(), 'dist', 'cli', 'main.js');
  const [kbootMs, nodeMs] = medianPairMs(
    () => spawnOk([main, ...args]),
    () => spawnOk(['-e', '']),
    REPS,
    2,
  );
  return compare(name, `${label} (process)`, 1000 / kbootMs, "node -e '' (process)", 1000 / nodeMs, 'runs/s', 0.5);
}

export const benchmarks: Benchmark[] = [
  {
    name: 'startup',
    run: async (): Promise<BenchResult[]> => {
      const dir = mkdtempSync(join(tmpdir(), 'kboot-bench-startup-'));
      try {
        const probe = join(dir, 'rescue.elf');
        writeFileSync(probe, buildProbeKernel('amd64', { mode: 'rescue' }));
        return [
          startupRow('startup-version', 'kboot --version', ['--version']),
          startupRow('startup-inspect-probe', 'kboot inspect probe kernel', ['inspect', probe]),
        ];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
