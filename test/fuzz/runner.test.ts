// The fuzz machinery itself (test/fuzz/lib, run.ts, registry.ts): the engine reports an
// escape with a shrunk input, a missed floor, a parser that is not reusable and a seed that
// does not decode; mutations never change the seeds; the registry is consistent; and the
// command-line runner (no test runner) runs targets, replays a saved input, and reports a
// hang and an out-of-memory worker through its self-test targets.
import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandoffError } from '../../loader/handoff/errors.js';
import { packagePath } from '../../loader/paths.js';
import { bytesTarget } from './lib/build.js';
import { histogram, runTarget } from './lib/engine.js';
import { applyOps, byteOp, type MutationContext } from './lib/mutate.js';
import { FUZZ_GROUPS, NotDecoded, type FuzzTarget } from './lib/target.js';
import { FUZZ_TARGETS, fuzzTarget, SELF_TEST_TARGETS } from './registry.js';

const SEED = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const fake = (decode: (b: Uint8Array) => unknown, seeds = [SEED]): FuzzTarget =>
  bytesTarget({
    name: 'fake',
    group: 'elf',
    entry: 'fake',
    errors: [NotDecoded],
    floor: 0.01,
    tapRuns: 0,
    seeds: () => seeds,
    decode,
  });

t.test('an escape is counted, kept with its run index, and shrunk', (t) => {
  const target = fake((b) => {
    if (b.includes(0x42)) throw new TypeError('boom');
    if (b.length < 8) throw new NotDecoded('short');
    return b.length;
  });
  const r = runTarget(target, { runs: 3000, seed: 7 });
  t.ok(r.escapes > 0, `${r.escapes} escapes`);
  t.equal(r.firstEscape?.kind, 'escape');
  t.match(r.firstEscape?.error, /^TypeError: boom/);
  t.ok(r.firstEscape?.bytes.includes(0x42), 'the input that escaped');
  t.ok(r.firstEscape?.index !== undefined && r.firstEscape.index >= 0, 'with its run index');
  t.ok((r.firstEscape?.shrunk?.length ?? 99) <= (r.firstEscape?.bytes.length ?? 0), 'shrunk no larger');
  t.ok(r.firstEscape?.shrunk?.includes(0x42), 'and still escaping');
  t.ok((r.rejected['FUZZ_NOT_DECODED'] ?? 0) > 0, 'rejections counted by code');
  t.equal(r.runs, 3000, 'the run went on after the escape');
  t.end();
});

t.test('another domain’s KbootError is an escape', (t) => {
  const target = fake((b) => {
    if (b.length < 8) throw new HandoffError('HANDOFF_TRUNCATED', 'handoff: short');
    return 1;
  });
  const r = runTarget(target, { runs: 500, seed: 1, shrink: false });
  t.ok(r.escapes > 0);
  t.match(r.firstEscape?.error, /HandoffError \[HANDOFF_TRUNCATED\]/);
  t.end();
});

t.test('a parser that rejects everything but its seeds misses the floor', (t) => {
  const target = fake((b) => {
    if (b.length !== SEED.length || b.some((x, i) => x !== SEED[i])) throw new NotDecoded('no');
    return 1;
  });
  const r = runTarget({ ...target, floor: 0.2 }, { runs: 500, seed: 3 });
  t.equal(r.escapes, 0);
  t.notOk(r.floorMet, `share ${r.share} < 0.2`);
  t.end();
});

t.test('a parser that breaks after a rejection is not reusable', (t) => {
  let broken = false;
  const target = fake((b) => {
    if (broken) throw new NotDecoded('state left behind');
    if (b.length < 8) {
      broken = true;
      throw new NotDecoded('short');
    }
    return 1;
  });
  const r = runTarget(target, { runs: 300, seed: 5 });
  t.equal(r.firstEscape?.kind, 'reuse');
  t.match(r.firstEscape?.error, /after a rejection, seed 0 is rejected/);
  t.end();
});

t.test('a seed that does not decode stops the target before any run', (t) => {
  const r = runTarget(
    fake(() => {
      throw new NotDecoded('never');
    }),
    { runs: 100, seed: 1 },
  );
  t.equal(r.runs, 0);
  t.equal(r.firstEscape?.kind, 'seed');
  t.end();
});

t.test('mutations never change the seeds, even Buffers from the shared pool', (t) => {
  // Buffer#slice is a view: a seed handed over as a pooled Buffer must still be copied first
  const seeds = [Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]), Buffer.from('abcdefghijklmnop')];
  const copies = seeds.map((s) => Buffer.from(s));
  const p = fake(() => 1, seeds).prepare();
  for (const c of fc.sample(p.arbitrary, { numRuns: 3000, seed: 11 })) c.run();
  t.ok(
    seeds.every((s, i) => s.equals(copies[i] ?? Buffer.alloc(0))),
    'the seeds are as they were',
  );
  const ctx: MutationContext = { seeds: copies, fields: [[{ at: 0, width: 4 }], []], bigEndian: false, maxLength: 64 };
  fc.assert(
    fc.property(fc.nat(), fc.array(byteOp, { maxLength: 6 }), (s, ops) => applyOps(ctx, s, ops).length <= 64),
    { numRuns: 2000 },
  );
  t.pass('no mutation grows an input past maxLength');
  t.end();
});

t.test('histogram: most frequent first, the rest summed', (t) => {
  t.equal(histogram({ A: 1, B: 5, C: 3 }), 'B 5 · C 3 · A 1');
  t.equal(histogram({ A: 1, B: 5, C: 3 }, 1), 'B 5 · +2 more codes (4)');
  t.equal(histogram({}), '(none)');
  t.end();
});

t.test('the registry: unique names, every group has its tap file, every self-test is separate', (t) => {
  const names = FUZZ_TARGETS.map((x) => x.name);
  t.equal(new Set(names).size, names.length, 'unique');
  t.ok(
    names.every((n) => /^[a-z0-9]+(-[a-z0-9]+)*$/.test(n)),
    'kebab-case',
  );
  for (const g of FUZZ_GROUPS) t.ok(existsSync(packagePath('test', 'fuzz', `${g}.test.ts`)), `test/fuzz/${g}.test.ts`);
  for (const s of SELF_TEST_TARGETS) {
    t.notOk(names.includes(s.name), `${s.name} is not run by default`);
    t.equal(fuzzTarget(s.name), s, 'but can be named');
  }
  t.ok(
    FUZZ_TARGETS.every((x) => x.floor > 0 && x.floor < 1 && x.tapRuns > 0),
    'every target has a floor and a tap count',
  );
  t.end();
});

const runner = packagePath('dist', 'test', 'fuzz', 'run.js');
const fuzz = (...args: string[]) =>
  spawnSync(process.execPath, [runner, ...args], { encoding: 'utf8', timeout: 120_000, cwd: packagePath() });

t.test('npm run fuzz: targets by name, the table, JSON, exit 0', (t) => {
  const r = fuzz('--runs', '200', '--target', 'kenv,smap', '--seed', '9', '--json');
  t.equal(r.status, 0, r.stderr);
  const results = JSON.parse(r.stdout) as { name: string; runs: number; escapes: number; floorMet: boolean }[];
  t.same(
    results.map((x) => [x.name, x.runs, x.escapes, x.floorMet]),
    [
      ['kenv', 200, 0, true],
      ['smap', 200, 0, true],
    ],
  );
  t.match(r.stderr, /kenv: decodeKenv/);
  t.match(r.stderr, /rejected: HANDOFF_/);
  t.match(r.stderr, /fuzz: no escapes, every floor met/);
  const list = fuzz('--list');
  t.equal(list.status, 0);
  for (const x of FUZZ_TARGETS) t.match(list.stdout, x.name);
  t.equal(fuzz('--target', 'no-such-target').status, 2, 'an unknown target is a usage error');
  t.equal(fuzz('--runs', 'many').status, 2, 'so is a count that is not a number');
  t.end();
});

t.test('npm run fuzz: an escape, a hang and an out-of-memory are reported, saved and exit 1', (t) => {
  const out = mkdtempSync(join(tmpdir(), 'kboot-fuzz-out-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const escape = fuzz('--target', 'self-test-escape', '--runs', '3000', '--seed', '1', '--out', out);
  t.equal(escape.status, 1);
  t.match(escape.stdout, /ESCAPE \(seed 1, run \d+\): TypeError: self-test escape/);
  const hang = fuzz('--target', 'self-test-hang', '--runs', '10', '--seed', '1', '--timeout', '1', '--out', out);
  t.equal(hang.status, 1);
  t.match(hang.stdout, /HANG \(seed 1, run 0\): one input ran for more than 1 s/);
  const oom = fuzz('--target', 'self-test-memory', '--runs', '10', '--seed', '1', '--max-memory', '32', '--out', out);
  t.equal(oom.status, 1);
  t.match(oom.stdout, /CRASH \(seed 1, run 0\): the worker died: .*memory/);
  const files = readdirSync(out).sort();
  for (const name of ['self-test-escape', 'self-test-hang', 'self-test-memory']) {
    t.ok(
      files.some((f) => f.startsWith(`${name}-seed1-run`) && f.endsWith('.bin')),
      `${name}: the input is saved`,
    );
    const facts = files.find((f) => f.startsWith(name) && f.endsWith('.json'));
    t.match(JSON.parse(readFileSync(join(out, facts ?? 'none'), 'utf8')), { target: name, seed: 1 });
  }
  const shrunk = files.find((f) => f.startsWith('self-test-escape') && f.endsWith('.shrunk.bin')) ?? 'none';
  const replay = fuzz('--target', 'self-test-escape', '--input', join(out, shrunk));
  t.equal(replay.status, 1, 'the saved input replays the escape');
  t.match(replay.stdout, /ESCAPE: TypeError: self-test escape/);
  const fixture = packagePath('test', 'fixtures', 'fuzz', 'minidump-pmapsize-not-multiple-of-8.bin');
  const ok = fuzz('--target', 'minidump', '--input', fixture);
  t.equal(ok.status, 0, 'a fixed counterexample replays clean');
  t.match(ok.stdout, /decoded/);
  t.end();
});
