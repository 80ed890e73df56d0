#!/usr/bin/env node
// Runs the compiled tests (tsc builds test/ into dist/test/) and ends with the plain line
// `N passed, N failed` (tap's own `# { total, pass }` summary is not one CI parsers know).
//
//   node scripts/run-tests.mjs [TAP-ARGS...]   the whole suite through tap (`make test`); extra
//                                              arguments go to tap (e.g. a test file)
//   node scripts/run-tests.mjs --e2e           everything but test/unit through tap: e2e,
//                                              conformance, external, fuzz (`npm run test:e2e`)
//   node scripts/run-tests.mjs --unit [FILE..] test/unit (or the files given), each file run by
//                                              node itself, as many at a time as there are CPUs,
//                                              without tap's runner and its coverage
//                                              (`npm run test:unit`: the fast loop)
//
// Unit tests run no emulated machine and no CLI process (docs/ARCHITECTURE.md); a file whose
// test fails, that prints no tap summary, or that runs past UNIT_TIMEOUT_MS fails the run.
// A compiled test whose TypeScript source is gone (a test that moved) is left out, so a stale
// dist/ never runs a test twice. Exit status: 0 when every test passed, else 1.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { clearTimeout, setTimeout } from 'node:timers';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const UNIT_TIMEOUT_MS = 120_000;
const SUMMARY = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?[^}]*\}/;

/** Compiled test files under `dir` (relative to the package root) whose .ts source still exists. */
function compiledTests(dir) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : compiledTests(rel);
    if (!e.isFile() || !rel.endsWith('.test.js')) return [];
    const source = join(root, rel.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
    return existsSync(source) ? [rel] : [];
  });
}

/** The `N passed, N failed[, N skipped]` line and the exit status. */
function finish(pass, fail, skip) {
  console.log(`\n${pass} passed, ${fail} failed${skip > 0 ? `, ${skip} skipped` : ''}`);
  process.exit(fail === 0 ? 0 : 1);
}

/** Runs tap on `args`, passing its output through, and finishes with its summary. */
function runTap(args) {
  const child = spawn(process.execPath, [join(root, 'node_modules/.bin/tap'), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let tail = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4096);
  });
  child.on('close', (code, signal) => {
    const m = SUMMARY.exec(tail);
    if (m === null) {
      console.error(`tests: no tap summary (exit ${code}, signal ${signal})`);
      finish(0, 1, 0);
    }
    const fail = Number(m[3] ?? 0);
    finish(Number(m[2] ?? 0), fail + (code !== 0 && fail === 0 ? 1 : 0), Number(m[4] ?? 0));
  });
}

/** Runs one compiled test file with node; resolves to its counts and output. */
function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => out.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, UNIT_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = Buffer.concat(out).toString('utf8');
      const m = SUMMARY.exec(text.slice(-4096));
      const pass = Number(m?.[2] ?? 0);
      const fail = Number(m?.[3] ?? 0);
      const broken = m === null || code !== 0 || timedOut;
      const why = timedOut
        ? `timed out after ${UNIT_TIMEOUT_MS / 1000} s`
        : m === null
          ? `no tap summary (exit ${code}, signal ${signal})`
          : '';
      resolve({
        file,
        pass,
        fail: fail + (broken && fail === 0 ? 1 : 0),
        skip: Number(m?.[4] ?? 0),
        text,
        why,
        ms: Date.now() - started,
      });
    });
  });
}

/** Runs the unit files, `jobs` at a time; prints a line per file and the output of failures. */
async function runUnit(files) {
  const jobs = Math.max(1, availableParallelism());
  const queue = [...files];
  const results = [];
  const worker = async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      const r = await runFile(f);
      results.push(r);
      const status = r.fail === 0 ? 'ok    ' : 'not ok';
      console.log(
        `${status} ${(r.ms / 1000).toFixed(1).padStart(5)} s  ${relative(root, join(root, f))}  (${r.pass} passed${r.skip > 0 ? `, ${r.skip} skipped` : ''})`,
      );
      if (r.fail > 0) {
        process.stdout.write(r.text.replace(/^/gm, '    | '));
        if (r.why !== '') console.log(`    ${r.why}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));
  const sum = (k) => results.reduce((n, r) => n + r[k], 0);
  finish(sum('pass'), sum('fail'), sum('skip'));
}

const args = process.argv.slice(2);
if (args[0] === '--unit') {
  const given = args.slice(1);
  const files = given.length > 0 ? given : compiledTests('dist/test/unit');
  if (files.length === 0) {
    console.error('tests: no compiled unit tests in dist/test/unit (run tsc first)');
    finish(0, 1, 0);
  }
  await runUnit(files);
} else if (args[0] === '--e2e') {
  const files = ['e2e', 'conformance', 'external', 'fuzz'].flatMap((d) => compiledTests(`dist/test/${d}`));
  runTap([...files, ...args.slice(1)]);
} else {
  const explicit = args.some((a) => a.endsWith('.js') || existsSync(join(root, a)));
  runTap(explicit ? args : [...compiledTests('dist/test'), ...args]);
}
