/**
 * `npm run bench`: runs every bench/*.bench.ts module (or those named on the command line),
 * prints each figure beside its baseline and their ratio, and writes bench/results.json.
 * Exit status 1 if a result misses its required ratio.
 */
import { readdirSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageRoot } from '../native/binding.js';
import type { Benchmark, BenchResult } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

const all: BenchResult[] = [];
const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(2));
for (const f of files) {
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { benchmarks: Benchmark[] };
  for (const b of mod.benchmarks) {
    const results = await b.run();
    for (const r of results) {
      all.push(r);
      const verdict =
        r.minRatio === undefined
          ? ''
          : r.ratio >= r.minRatio
            ? `  (>= ${r.minRatio}: ok)`
            : `  (< ${r.minRatio}: MISSED)`;
      console.log(
        `${r.figureLabel.padEnd(34)} ${fmt(r.figure).padStart(9)} ${r.unit}   vs ${r.baselineLabel.padEnd(30)} ${fmt(r.baseline).padStart(9)} ${r.unit}   ratio ${r.ratio.toFixed(2)}${verdict}`,
      );
      if (r.note !== undefined) console.log(`    ${r.note}`);
    }
  }
}
const out = join(packageRoot(), 'bench', 'results.json');
const tmp = `${out}.tmp`;
writeFileSync(
  tmp,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, results: all }, null, 2)}\n`,
);
renameSync(tmp, out);
console.log(`results written to ${out}`);
process.exitCode = all.some((r) => r.minRatio !== undefined && r.ratio < r.minRatio) ? 1 : 0;
