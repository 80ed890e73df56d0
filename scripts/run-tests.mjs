#!/usr/bin/env node
// Runs the tap suite on the compiled tests and ends with the plain line `N passed, N failed`
// (tap's own `# { total, pass }` summary is not one CI parsers know). Exit status: tap's,
// or 1 when no summary was printed. Extra arguments go to tap (e.g. a test file).
import { spawn } from 'node:child_process';

const args = ['node_modules/.bin/tap', ...process.argv.slice(2)];
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString('utf8')).slice(-4096);
});
child.on('close', (code, signal) => {
  const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?[^}]*\}/.exec(
    tail,
  );
  if (m === null) {
    console.log(`\n0 passed, 1 failed`);
    console.error(`tests: no tap summary (exit ${code}, signal ${signal})`);
    process.exit(1);
  }
  const pass = Number(m[2] ?? 0);
  const fail = Number(m[3] ?? 0);
  const skip = Number(m[4] ?? 0);
  const failed = fail + (code !== 0 && fail === 0 ? 1 : 0);
  console.log(`\n${pass} passed, ${failed} failed${skip > 0 ? `, ${skip} skipped` : ''}`);
  process.exit(code === 0 && fail === 0 ? 0 : 1);
});
