/**
 * Benchmark harness: each figure is measured beside a baseline in the same process, and
 * reported with their ratio (higher is better for both, so ratio = figure / baseline).
 * Timings take the median of several repetitions after a warm-up.
 */
import { performance } from 'node:perf_hooks';

/** One measured comparison. */
export interface BenchResult {
  readonly name: string;
  /** What was measured, e.g. "GuestRam.copy 64 MiB". */
  readonly figureLabel: string;
  readonly figure: number;
  readonly baselineLabel: string;
  readonly baseline: number;
  readonly unit: string;
  /** figure / baseline. */
  readonly ratio: number;
  /** The ratio the project requires, if any. */
  readonly minRatio?: number;
  readonly note?: string;
}

/** A module under bench/ exports `benchmarks`. */
export interface Benchmark {
  readonly name: string;
  run(): Promise<readonly BenchResult[]>;
}

/** Median wall time (ms) of `reps` runs of `fn`, after `warmup` unmeasured runs. */
export function medianMs(fn: () => void, reps: number, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

/**
 * Median wall times (ms) of `a` and `b`, measured interleaved (a, b, a, b, ...) so that
 * drift in the machine's speed affects both sides alike.
 */
export function medianPairMs(a: () => void, b: () => void, reps: number, warmup = 1): [number, number] {
  for (let i = 0; i < warmup; i++) {
    a();
    b();
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < reps; i++) {
    let t0 = performance.now();
    a();
    ta.push(performance.now() - t0);
    t0 = performance.now();
    b();
    tb.push(performance.now() - t0);
  }
  const med = (xs: number[]): number => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;
  return [med(ta), med(tb)];
}

/** Throughput in MiB/s for `bytes` moved in `ms`. */
export function mibPerSec(bytes: number, ms: number): number {
  return bytes / (1 << 20) / (ms / 1000);
}

/** Builds a result from two throughputs. */
export function compare(
  name: string,
  figureLabel: string,
  figure: number,
  baselineLabel: string,
  baseline: number,
  unit: string,
  minRatio?: number,
): BenchResult {
  const r = { name, figureLabel, figure, baselineLabel, baseline, unit, ratio: figure / baseline };
  return minRatio === undefined ? r : { ...r, minRatio };
}
