/**
 * `npm run fuzz -- [--runs N] [--target NAME ...] [--seed S] [--out DIR] [--timeout SEC] [--max-memory MB]`:
 * runs every fuzz target of registry.ts (or those named) for N inputs each, one at a time,
 * each in a worker thread (a hang or an out-of-memory names its input instead of stopping
 * the run), and prints per target: runs, decoded (against its floor), rejections by error
 * code, escapes, time. The first escape of a target is saved in DIR (default fuzz-out/)
 * with its seed and run index, and its shrunk form. Exit status 1 on any escape, hang,
 * crash or missed floor. No test runner involved. An input runs at most --timeout seconds
 * (default 60) and the worker's heap is --max-memory MiB (default 2048).
 *
 *   --list                 the targets, what they run and the errors they may raise
 *   --target NAME --input FILE   runs one saved input (a counterexample) through NAME
 *   --json                 the results as JSON on stdout (the report goes to stderr)
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { readInputFile } from '../../loader/io/input.js';
import { outputDirectory, writeNewFile } from '../../loader/io/output.js';
import { nativeAvailable } from '../../native/binding.js';
import { classify, histogram, type Escape, type FuzzResult } from './lib/engine.js';
import type { FuzzTarget } from './lib/target.js';
import { FUZZ_TARGETS, fuzzTarget, SELF_TEST_TARGETS } from './registry.js';
import { SHARED_HEADER, type WorkerInput, type WorkerMessage } from './worker.js';

const USAGE = `usage: npm run fuzz -- [--runs N] [--target NAME ...] [--seed S] [--out DIR] [--timeout SEC] [--max-memory MB] [--json]
       npm run fuzz -- --list
       npm run fuzz -- --target NAME --input FILE`;

/** Largest input the watchdog can save. */
const SHARED_BYTES = 16 << 20;

interface Options {
  readonly runs: number;
  readonly seed: number;
  readonly targets: readonly FuzzTarget[];
  readonly out: string;
  readonly timeoutMs: number;
  readonly maxMemoryMb: number;
  readonly json: boolean;
}

function fail(message: string): never {
  process.stderr.write(`fuzz: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function intOption(text: string | undefined, name: string, dflt: number, max: number): number {
  if (text === undefined) return dflt;
  const v = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(v) || v > max) fail(`${name} must be an integer 0..${max}`);
  return v;
}

/** Results go to stdout, or to stderr with --json (stdout then holds the JSON only). */
let say = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      target: { type: 'string', multiple: true },
      seed: { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string' },
      'max-memory': { type: 'string' },
      input: { type: 'string' },
      list: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    say(USAGE);
    return 0;
  }
  if (values.list === true) {
    for (const t of FUZZ_TARGETS) {
      say(
        `${t.name.padEnd(18)} ${t.entry}\n${''.padEnd(18)} errors: ${t.errors.map((e) => e.name).join(', ')}; floor ${t.floor}`,
      );
    }
    say(`runner self-tests (only with --target): ${SELF_TEST_TARGETS.map((t) => t.name).join(', ')}`);
    return 0;
  }
  const names = (values.target ?? []).flatMap((n) => n.split(',')).filter((n) => n !== '');
  const targets =
    names.length === 0 ? [...FUZZ_TARGETS] : names.map((n) => fuzzTarget(n) ?? fail(`no target ${n} (--list)`));
  if (values.input !== undefined) {
    const [only] = targets;
    if (targets.length !== 1 || only === undefined) fail('--input needs exactly one --target');
    return replay(only, values.input);
  }
  const opts: Options = {
    runs: intOption(values.runs, '--runs', 1000, 1e9),
    seed: intOption(values.seed, '--seed', randomInt(0, 0x7fff_ffff), 0x7fff_ffff),
    targets,
    out: values.out ?? 'fuzz-out',
    timeoutMs: intOption(values.timeout, '--timeout', 60, 86_400) * 1000,
    maxMemoryMb: intOption(values['max-memory'], '--max-memory', 2048, 65_536),
    json: values.json === true,
  };
  if (opts.json) say = (line) => void process.stderr.write(`${line}\n`);
  return runAll(opts);
}

function replay(target: FuzzTarget, file: string): number {
  const bytes = readInputFile(file, 'kernel', { what: 'fuzz input' });
  const c = target.prepare().fromBytes(bytes);
  const o = classify(target, c);
  const what = o.kind === 'decoded' ? 'decoded' : o.kind === 'rejected' ? `rejected: ${o.code}` : `ESCAPE: ${o.error}`;
  say(`${target.name}: ${file} (${bytes.length} bytes): ${what}`);
  return o.kind === 'escape' ? 1 : 0;
}

/** Runs one target in a worker with the watchdog; a hang or a dead worker becomes an escape. */
function runInWorker(target: FuzzTarget, opts: Options): Promise<FuzzResult> {
  const shared = new SharedArrayBuffer(SHARED_HEADER + SHARED_BYTES);
  const head = new Int32Array(shared, 0, SHARED_HEADER / 4);
  const started = performance.now();
  const worker = new Worker(new URL('./worker.js', import.meta.url), {
    workerData: { name: target.name, runs: opts.runs, seed: opts.seed, shared } satisfies WorkerInput,
    resourceLimits: { maxOldGenerationSizeMb: opts.maxMemoryMb },
  });
  const current = (): { index: number; bytes: Uint8Array } => {
    const len = Atomics.load(head, 1);
    return { index: Atomics.load(head, 2), bytes: new Uint8Array(shared, SHARED_HEADER, Math.max(0, len)).slice() };
  };
  const lost = (kind: 'hang' | 'crash', error: string): FuzzResult => {
    const { index, bytes } = current();
    const e: Escape = { index, kind, error, bytes };
    return {
      name: target.name,
      entry: target.entry,
      seed: opts.seed,
      runs: Atomics.load(head, 0),
      decoded: 0,
      rejected: {},
      escapes: 1,
      firstEscape: e,
      floor: target.floor,
      share: 0,
      floorMet: false,
      ms: performance.now() - started,
      slowestMs: 0,
      slowestIndex: -1,
      reuseChecks: 0,
      seeds: 0,
    };
  };
  return new Promise((resolve) => {
    let settled = false;
    let lastCount = -1;
    let lastChange = performance.now();
    let done = 0;
    const finish = (r: FuzzResult): void => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      resolve(r);
    };
    const timer = setInterval(() => {
      const n = Atomics.load(head, 0);
      const now = performance.now();
      if (n !== lastCount) [lastCount, lastChange] = [n, now];
      else if (now - lastChange > opts.timeoutMs) {
        const r = lost('hang', `one input ran for more than ${opts.timeoutMs / 1000} s`);
        void worker.terminate();
        finish(r);
      }
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${target.name}: ${done}/${opts.runs}`);
    }, 500);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') done = m.done;
      else finish(m.result);
    });
    worker.on('error', (e) => finish(lost('crash', `the worker died: ${e.name}: ${e.message}`)));
    worker.on('exit', (code) => finish(lost('crash', `the worker exited (${code}) without a result`)));
  });
}

function saveEscape(r: FuzzResult, e: Escape, dir: string): string[] {
  const base = join(
    outputDirectory(dir, { what: 'fuzz output directory', create: true }),
    `${r.name}-seed${r.seed}-run${e.index}`,
  );
  const unique = `${base}-${Date.now().toString(36)}`;
  const saved = [`${unique}.bin`];
  writeNewFile(`${unique}.bin`, e.bytes, { what: 'counterexample' });
  if (e.shrunk !== undefined) {
    writeNewFile(`${unique}.shrunk.bin`, e.shrunk, { what: 'counterexample' });
    saved.push(`${unique}.shrunk.bin`);
  }
  const facts = { target: r.name, entry: r.entry, seed: r.seed, run: e.index, kind: e.kind, error: e.error };
  writeNewFile(`${unique}.json`, `${JSON.stringify({ ...facts, shrunkError: e.shrunkError }, null, 2)}\n`);
  return saved;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function report(r: FuzzResult, opts: Options): void {
  const rate = r.ms > 0 ? Math.round((r.runs / r.ms) * 1000) : 0;
  const floor = r.floorMet ? `>= floor ${pct(r.floor)}` : `BELOW floor ${pct(r.floor)}`;
  say(`${r.name}: ${r.entry}`);
  say(
    `  runs ${r.runs}, decoded ${r.decoded} (${pct(r.share)}, ${floor}), escapes ${r.escapes}, ${(r.ms / 1000).toFixed(1)} s (${rate}/s, slowest input ${r.slowestMs.toFixed(1)} ms)`,
  );
  say(`  rejected: ${histogram(r.rejected)}`);
  const e = r.firstEscape;
  if (e !== undefined) {
    say(`  ${e.kind.toUpperCase()} (seed ${r.seed}, run ${e.index}): ${e.error}`);
    if (e.shrunkError !== undefined) say(`  shrunk: ${e.shrunkError}`);
    for (const f of saveEscape(r, e, opts.out)) say(`  saved ${f}`);
    say(`  replay: npm run fuzz -- --target ${r.name} --input FILE`);
  }
}

async function runAll(opts: Options): Promise<number> {
  say(`fuzz: ${opts.targets.length} targets, ${opts.runs} runs each, seed ${opts.seed}`);
  const results: FuzzResult[] = [];
  for (const t of opts.targets) {
    if (t.native === true && !nativeAvailable()) {
      say(`${t.name}: skipped (the native addon is not built)`);
      continue;
    }
    const r = await runInWorker(t, opts);
    report(r, opts);
    results.push(r);
  }
  say('');
  say(
    `${'target'.padEnd(18)} ${'runs'.padStart(9)} ${'decoded'.padStart(8)} ${'floor'.padStart(6)} ${'escapes'.padStart(8)} ${'time'.padStart(8)}`,
  );
  for (const r of results) {
    say(
      `${r.name.padEnd(18)} ${String(r.runs).padStart(9)} ${pct(r.share).padStart(8)} ${pct(r.floor).padStart(6)} ${String(r.escapes).padStart(8)} ${`${(r.ms / 1000).toFixed(1)} s`.padStart(8)}${r.floorMet || r.escapes > 0 ? '' : '  floor missed'}`,
    );
  }
  const bad = results.filter((r) => r.escapes > 0 || !r.floorMet);
  say(bad.length === 0 ? 'fuzz: no escapes, every floor met' : `fuzz: ${bad.map((r) => r.name).join(', ')} failed`);
  if (opts.json) {
    const plain = results.map(({ firstEscape, ...r }) => ({
      ...r,
      ...(firstEscape === undefined
        ? {}
        : { firstEscape: { ...firstEscape, bytes: firstEscape.bytes.length, shrunk: firstEscape.shrunk?.length } }),
    }));
    process.stdout.write(`${JSON.stringify(plain, null, 2)}\n`);
  }
  return bad.length === 0 ? 0 : 1;
}

process.exitCode = await main();
