// The README's five-minute tour, run as written: every `$ kboot ...` (and `$ mkdir`) line of
// its console blocks runs in order in one temporary directory, and each command's stdout must
// match the lines the README shows, numbers and size units aside; a `...` line stands for any
// number of lines. A README that drifts from the CLI fails here.
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../cli/io.js';
import { runCli } from '../../cli/run.js';
import { packagePath } from '../../loader/paths.js';
import { nativeAvailable } from '../../native/binding.js';

interface Step {
  readonly argv: readonly string[];
  readonly expected: readonly string[];
}

/** The console blocks of the tour section, as commands with their expected output. */
export function tourSteps(readme: string): Step[] {
  const start = readme.indexOf('## A five-minute tour');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const steps: { argv: string[]; expected: string[] }[] = [];
  for (const block of section.matchAll(/```console\n([\s\S]*?)```/g)) {
    for (const line of (block[1] ?? '').split('\n')) {
      if (line.startsWith('$ ')) steps.push({ argv: line.slice(2).trim().split(/\s+/), expected: [] });
      else if (line !== '' || steps.at(-1)?.expected.length !== 0) steps.at(-1)?.expected.push(line);
    }
  }
  for (const s of steps) while (s.expected.at(-1) === '') s.expected.pop();
  return steps;
}

/**
 * Numbers (hex and decimal), size units and time units do not have to match: a duration
 * printed as "147.1 ms" in the README may be "1.02 s" in a run on a slower machine. Nor does
 * the width of the gaps between words, since a table pads its columns to what they hold.
 */
const norm = (l: string): string =>
  l
    .replace(/0x[0-9a-f]+/gi, 'H')
    .replace(/\d+(\.\d+)?/g, 'N')
    .replace(/\b(B|KiB|MiB|GiB|TiB)\b/g, 'U')
    .replace(/\bN (ns|µs|us|ms|s)\b/g, 'N T')
    .replace(/(?<=\S) +/g, ' ')
    .trimEnd();

/** Where the actual lines first disagree with the expected ones, or undefined. */
export function mismatch(expected: readonly string[], actual: readonly string[]): string | undefined {
  let i = 0;
  let gap = false;
  for (const e of expected) {
    if (e === '...') {
      gap = true;
      continue;
    }
    if (gap) {
      while (i < actual.length && norm(actual[i] ?? '') !== norm(e)) i++;
      if (i === actual.length) return `"${e}" not found after a gap`;
    } else if (norm(actual[i] ?? '') !== norm(e)) {
      return `line ${i + 1}: expected "${e}", got "${actual[i] ?? '(end)'}"`;
    }
    i++;
    gap = false;
  }
  if (!gap && i < actual.length) return `unexpected extra line ${i + 1}: "${actual[i] ?? ''}"`;
  return undefined;
}

t.test('the matcher', (t) => {
  t.equal(mismatch(['a 0x1f', '...', 'c 12 MiB'], ['a 0x2', 'b', 'b', 'c 7.5 GiB']), undefined);
  t.match(mismatch(['a', 'b'], ['a', 'c']), /line 2/);
  t.match(mismatch(['a'], ['a', 'b']), /extra line/);
  t.equal(mismatch(['a', '...'], ['a', 'b', 'c']), undefined);
  // a duration that crossed a unit boundary (the flake this guards against)
  t.equal(mismatch(['replace  ✗ rebuild (147.1 ms)'], ['replace  ✗ rebuild (1.02 s)']), undefined);
  t.equal(mismatch(['in 0.16 s, 507 MiB/s'], ['in 812 ms, 98.2 KiB/s']), undefined);
  t.match(mismatch(['3 insns'], ['3 ms']), /line 1/, 'a unit only after a number, and only a time unit');
  // table columns padded to what they hold
  t.equal(mismatch(['x  ✓ 7.6 ms       ✓ y'], ['x  ✓ 12.4 ms      ✓ y']), undefined);
  t.match(mismatch(['  indented'], ['indented']), /line 1/, 'leading indentation still counts');
  t.end();
});

t.test('README tour', nativeAvailable() ? {} : { skip: 'the native addon is not built' }, async (t) => {
  const steps = tourSteps(readFileSync(packagePath('README.md'), 'utf8'));
  t.ok(steps.length >= 10, `${steps.length} commands in the tour`);
  const names = steps.map((s) => s.argv.slice(1, 3).join(' '));
  for (const c of ['inspect', 'plan --crash', 'boot --strategy', 'load --crash', 'panic --dump-dir', 'dump inspect']) {
    t.ok(
      names.some((n) => n.startsWith(c)),
      `the tour shows kboot ${c}`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'kboot-tour-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const step of steps) {
    const [cmd, ...args] = step.argv;
    if (cmd === 'mkdir') {
      for (const a of args) mkdirSync(join(dir, a));
      continue;
    }
    t.equal(cmd, 'kboot', 'only kboot and mkdir in the tour');
    const io = memoryIo(dir);
    const code = await runCli(args, io);
    t.equal(code, 0, `kboot ${args.join(' ')} exits 0 ${io.stderr()}`);
    const actual = io.stdout().replace(/\n$/, '').split('\n');
    t.equal(mismatch(step.expected, actual), undefined, `kboot ${args.join(' ')}: output as in the README`);
  }
});
