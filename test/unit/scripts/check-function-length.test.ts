// scripts/check-function-length.mjs, the C++ function-length check `make lint` runs (issue 12).
// The fixture is C++ generated here line by line, so every function's length is known by
// construction (the independent count); it has the shapes native/ uses: out-of-class methods,
// a constructor with an initializer list, in-class methods, a template, a lambda, braces
// inside strings and comments. The check must report exactly the functions over the limit,
// with their lengths, and pass the project's own native/ files. It needs Universal Ctags
// (Debian universal-ctags): skipped without it, except under CI=true, where it then fails.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../../loader/paths.js';
import { requireTool } from '../../helpers/tools.js';

const SCRIPT = join(packageRoot(), 'scripts', 'check-function-length.mjs');
const CTAGS = requireTool('ctags');

interface Expected {
  readonly file: string;
  readonly line: number;
  readonly name: string;
  readonly lines: number;
}

/** C++ source built line by line; `fn` records where each function starts and how long it is. */
class Source {
  readonly text: string[] = [];
  readonly functions: Expected[] = [];
  constructor(readonly file: string) {}
  add(...lines: string[]): void {
    this.text.push(...lines);
  }
  /** A function whose first line is `head[0]` (the line naming it), `body` statements, then `close`. */
  fn(name: string, head: readonly string[], body: number, close = '}', indent = '  '): void {
    const line = this.text.length + 1;
    this.add(...head);
    for (let i = 0; i < body; i++) this.add(`${indent}x += ${i};`);
    this.add(close);
    this.functions.push({ file: this.file, line, name, lines: head.length + body + 1 });
  }
  /** A function on one line. */
  one(name: string, text: string): void {
    this.add(text);
    this.functions.push({ file: this.file, line: this.text.length, name, lines: 1 });
  }
}

function fixture(dir: string): Expected[] {
  const a = new Source('a.cc');
  a.add('// fixture', 'namespace kboot {', 'namespace {');
  a.fn('kboot::(anonymous)::Exactly100', ['int Exactly100(int x) {'], 98);
  a.add('}  // namespace', '');
  a.fn(
    'kboot::Engine::TooLong',
    [
      'uint64_t Engine::TooLong(int x) const {',
      '  const char* s = "}";  // a brace in a string',
      '  // } a brace in a comment',
    ],
    97,
  );
  a.add('', 'template <typename T>');
  a.fn('kboot::Twice', ['T Twice(T v) {'], 3);
  a.fn('kboot::Engine::Engine', ['Engine::Engine(const Config& c)', '    : a_(c.a),', '      b_(c.b) {'], 97);
  a.fn('kboot::Engine::WithLambda', ['int Engine::WithLambda() {', '  auto f = [&](int y) { return y + 1; };'], 10);
  a.add('}  // namespace kboot');
  const b = new Source('b.h');
  b.add('#pragma once', 'namespace kboot {', 'class Holder {', ' public:');
  b.fn('kboot::Holder::Inline', ['  int Inline(int x) {'], 100, '  }', '    ');
  b.one('kboot::Holder::Short', '  int Short() const { return 1; }');
  b.add('};', '}  // namespace kboot');
  writeFileSync(join(dir, a.file), `${a.text.join('\n')}\n`);
  writeFileSync(join(dir, b.file), `${b.text.join('\n')}\n`);
  return [...a.functions, ...b.functions];
}

function check(cwd: string, ...args: string[]): { status: number | null; reported: string[]; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { cwd, encoding: 'utf8' });
  const reported = r.stdout
    .split('\n')
    .filter((l) => / is \d+ lines \(limit \d+\)$/.test(l))
    .sort();
  return { status: r.status, reported, stderr: r.stderr };
}

const line = (f: Expected, max: number): string => `${f.file}:${f.line}: ${f.name} is ${f.lines} lines (limit ${max})`;

t.test('reports exactly the functions over the limit, with their lengths', CTAGS, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-fnlen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fns = fixture(dir);
  const byName = new Map(fns.map((f) => [f.name, f]));
  t.equal(byName.get('kboot::(anonymous)::Exactly100')?.lines, 100, 'fixture: a function of exactly 100 lines');
  t.equal(byName.get('kboot::Engine::TooLong')?.lines, 101, 'fixture: one of 101 lines');
  t.equal(byName.get('kboot::Holder::Inline')?.lines, 102, 'fixture: an in-class one of 102 lines');
  for (const max of [100, 101, 102, 60]) {
    const want = fns
      .filter((f) => f.lines > max)
      .map((f) => line(f, max))
      .sort();
    const r = check(dir, '--max', String(max), 'a.cc', 'b.h');
    t.same(r.reported, want, `--max ${max}: ${want.length} reported`);
    t.equal(r.status, want.length === 0 ? 0 : 1, `--max ${max}: exit status`);
  }
  t.end();
});

t.test('the limit defaults to 100 and the files to native/; the project passes', CTAGS, (t) => {
  const r = check(packageRoot());
  t.equal(r.status, 0, `native/ passes (${r.reported.join('; ')}${r.stderr})`);
  t.end();
});

t.test('a bad option cannot pass', (t) => {
  t.equal(check(packageRoot(), '--max', '0').status, 2);
  t.equal(check(packageRoot(), '--frobnicate').status, 2);
  t.end();
});
