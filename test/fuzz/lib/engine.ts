/**
 * Runs one fuzz target (lib/target.ts) for N inputs with fast-check and counts what happened:
 * decoded, rejected by error code, escapes. No test runner needed: the tap files
 * (test/fuzz/*.test.ts) and the command-line runner (test/fuzz/run.ts) both call runTarget.
 *
 * - Every seed must decode first (else the target is broken: reported as an escape).
 * - After a rejection the parser must still decode a seed to the same result (reusable):
 *   checked after the first rejection of each code and then every `reuseEvery`-th one.
 * - Escapes do not stop the run (all are counted); the first one is kept with its run index.
 *   Then the same seed is run again with a property that fails on an escape, so fast-check
 *   shrinks that first escape to a smaller input (`shrunk`).
 * - `share` = decoded / runs must reach the target's floor.
 */
import fc from 'fast-check';
import { KbootError } from '../../../loader/errors.js';
import { fnv1a64 } from '../../../kernels/probe/checksum.js';
import type { FuzzCase, FuzzTarget, PreparedTarget } from './target.js';

export interface Escape {
  /** 0-based run index (with the seed, enough to make the input again), or -1 for a seed or reuse check. */
  readonly index: number;
  /** 'escape' (a foreign error), 'reuse' (a seed no longer decodes the same), 'seed' (a seed is rejected). */
  readonly kind: 'escape' | 'reuse' | 'seed' | 'hang' | 'crash';
  readonly error: string;
  readonly bytes: Uint8Array;
  /** The shrunk counterexample (when shrinking ran). */
  readonly shrunk?: Uint8Array;
  readonly shrunkError?: string;
}

export interface FuzzResult {
  readonly name: string;
  readonly entry: string;
  readonly seed: number;
  readonly runs: number;
  readonly decoded: number;
  /** Rejections by error code. */
  readonly rejected: Readonly<Record<string, number>>;
  readonly escapes: number;
  readonly firstEscape?: Escape;
  readonly floor: number;
  readonly share: number;
  readonly floorMet: boolean;
  readonly ms: number;
  readonly slowestMs: number;
  readonly slowestIndex: number;
  readonly reuseChecks: number;
  readonly seeds: number;
}

export interface RunOptions {
  readonly runs: number;
  readonly seed: number;
  /** Reuse check after every n-th rejection (and the first of each code); default 16. */
  readonly reuseEvery?: number;
  /** Shrink the first escape (default true). */
  readonly shrink?: boolean;
  /** Called before each input runs, shrinking included (the worker copies it where a watchdog can read it). */
  readonly beforeCase?: (index: number, c: FuzzCase) => void;
  /** Called about every `progressEvery` inputs (default 1000). */
  readonly onProgress?: (done: number) => void;
  readonly progressEvery?: number;
}

type Outcome =
  | { readonly kind: 'decoded'; readonly result: unknown }
  | { readonly kind: 'rejected'; readonly code: string }
  | { readonly kind: 'escape'; readonly error: string };

/** "Name: message" and where it was thrown, for reports. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const at = (e.stack ?? '').split('\n').find((l) => /^\s+at /.test(l));
    const code = e instanceof KbootError ? ` [${e.code}]` : '';
    return `${e.name}${code}: ${e.message.split('\n')[0] ?? ''}${at === undefined ? '' : ` (${at.trim()})`}`;
  }
  return `non-Error thrown: ${String(e)}`;
}

/** Runs one case under the target's contract. */
export function classify(target: FuzzTarget, c: FuzzCase): Outcome {
  try {
    return { kind: 'decoded', result: c.run() };
  } catch (e) {
    if (target.errors.some((cls) => e instanceof cls) && e instanceof KbootError)
      return { kind: 'rejected', code: e.code };
    return { kind: 'escape', error: describeError(e) };
  }
}

/** A stable, small fingerprint of a decoded result (bigints as hex, byte arrays by length and hash). */
export function fingerprint(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `0x${x.toString(16)}`;
    if (x instanceof Uint8Array) return `bytes:${x.length}:${fnv1a64(x).toString(16)}`;
    if (x instanceof Map) return [...x.entries()];
    if (x instanceof Set) return [...x.values()];
    return x;
  });
}

interface SeedCheck {
  readonly seeds: readonly FuzzCase[];
  readonly prints: readonly string[];
}

function checkSeeds(target: FuzzTarget, p: PreparedTarget): { ok: SeedCheck } | { bad: Escape } {
  const prints: string[] = [];
  for (const [i, s] of p.seeds.entries()) {
    const o = classify(target, s);
    if (o.kind !== 'decoded') {
      const error = o.kind === 'rejected' ? `seed ${i} is rejected (${o.code})` : `seed ${i}: ${o.error}`;
      return { bad: { index: -1, kind: 'seed', error, bytes: s.bytes } };
    }
    prints.push(fingerprint(o.result));
  }
  if (p.seeds.length === 0) return { bad: { index: -1, kind: 'seed', error: 'no seeds', bytes: new Uint8Array(0) } };
  return { ok: { seeds: p.seeds, prints } };
}

function reuseProblem(target: FuzzTarget, sc: SeedCheck, n: number): { error: string; bytes: Uint8Array } | undefined {
  const i = n % sc.seeds.length;
  const s = sc.seeds[i];
  if (s === undefined) return undefined;
  const o = classify(target, s);
  if (o.kind === 'decoded' && fingerprint(o.result) === sc.prints[i]) return undefined;
  const what =
    o.kind === 'decoded' ? 'decodes differently' : o.kind === 'rejected' ? `is rejected (${o.code})` : o.error;
  return { error: `after a rejection, seed ${i} ${what}`, bytes: s.bytes };
}

/** Shrinks the first escape: the same seed, a property that fails on one. */
function shrinkFirst(target: FuzzTarget, p: PreparedTarget, opts: RunOptions): Pick<Escape, 'shrunk' | 'shrunkError'> {
  let n = 0;
  const r = fc.check(
    fc.property(p.arbitrary, (c) => {
      opts.beforeCase?.(n++, c);
      return classify(target, c).kind !== 'escape';
    }),
    { numRuns: opts.runs, seed: opts.seed, interruptAfterTimeLimit: 120_000 },
  );
  const ce = r.counterexample?.[0];
  if (!r.failed || ce === undefined) return {};
  const o = classify(target, ce);
  return { shrunk: ce.bytes, shrunkError: o.kind === 'escape' ? o.error : o.kind };
}

function emptyResult(target: FuzzTarget, opts: RunOptions, seeds: number, escape: Escape): FuzzResult {
  return {
    name: target.name,
    entry: target.entry,
    seed: opts.seed,
    runs: 0,
    decoded: 0,
    rejected: {},
    escapes: 1,
    firstEscape: escape,
    floor: target.floor,
    share: 0,
    floorMet: false,
    ms: 0,
    slowestMs: 0,
    slowestIndex: -1,
    reuseChecks: 0,
    seeds,
  };
}

/** Runs `target` for `opts.runs` inputs; see the module contract. */
export function runTarget(target: FuzzTarget, opts: RunOptions): FuzzResult {
  const started = performance.now();
  const p = target.prepare();
  const sc = checkSeeds(target, p);
  if ('bad' in sc) return emptyResult(target, opts, p.seeds.length, sc.bad);
  const reuseEvery = opts.reuseEvery ?? 16;
  const progressEvery = opts.progressEvery ?? 1000;
  const rejected: Record<string, number> = {};
  let runs = 0;
  let decoded = 0;
  let rejections = 0;
  let escapes = 0;
  let reuseChecks = 0;
  let first: Escape | undefined;
  let slowestMs = 0;
  let slowestIndex = -1;
  const escape = (e: Escape): void => {
    escapes++;
    first ??= e;
  };
  fc.check(
    fc.property(p.arbitrary, (c) => {
      const index = runs++;
      opts.beforeCase?.(index, c);
      const t0 = performance.now();
      const o = classify(target, c);
      const ms = performance.now() - t0;
      if (ms > slowestMs) [slowestMs, slowestIndex] = [ms, index];
      if (o.kind === 'decoded') decoded++;
      else if (o.kind === 'escape') escape({ index, kind: 'escape', error: o.error, bytes: c.bytes });
      else {
        rejected[o.code] = (rejected[o.code] ?? 0) + 1;
        rejections++;
        if (rejected[o.code] === 1 || rejections % reuseEvery === 0) {
          reuseChecks++;
          const bad = reuseProblem(target, sc.ok, reuseChecks);
          if (bad !== undefined) escape({ index, kind: 'reuse', error: bad.error, bytes: c.bytes });
        }
      }
      if (runs % progressEvery === 0) opts.onProgress?.(runs);
      return true;
    }),
    { numRuns: opts.runs, seed: opts.seed },
  );
  const firstEscape =
    first !== undefined && first.kind === 'escape' && opts.shrink !== false
      ? { ...first, ...shrinkFirst(target, p, opts) }
      : first;
  const share = runs === 0 ? 0 : decoded / runs;
  return {
    name: target.name,
    entry: target.entry,
    seed: opts.seed,
    runs,
    decoded,
    rejected,
    escapes,
    ...(firstEscape === undefined ? {} : { firstEscape }),
    floor: target.floor,
    share,
    floorMet: share >= target.floor,
    ms: performance.now() - started,
    slowestMs,
    slowestIndex,
    reuseChecks,
    seeds: p.seeds.length,
  };
}

/** One line per code, most frequent first: "ELF_TRUNCATED 4021 · ELF_BAD_MAGIC 977". */
export function histogram(rejected: Readonly<Record<string, number>>, max = 8): string {
  const rows = Object.entries(rejected).sort((a, b) => b[1] - a[1]);
  const shown = rows.slice(0, max).map(([k, v]) => `${k} ${v}`);
  if (rows.length > max)
    shown.push(`+${rows.length - max} more codes (${rows.slice(max).reduce((n, r) => n + r[1], 0)})`);
  return shown.length === 0 ? '(none)' : shown.join(' · ');
}
