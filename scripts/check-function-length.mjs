#!/usr/bin/env node
// The C++ half of "no function over 100 lines" (issue 12; ESLint's max-lines-per-function
// covers the TypeScript): fails when a C++ function definition is longer than the limit.
//
// A function's length is its physical lines from the line naming it to its closing brace,
// blank lines and comments included (stricter than the ESLint rule). Universal Ctags (Debian
// universal-ctags, installed by scripts/ensure-deps.sh) finds the definitions - free
// functions, methods, constructors, in-class and template definitions (C++ kind `f`) - and
// their end lines (`--fields=+ne`); a lambda counts toward the function that holds it and is
// also measured on its own.
//
// Usage: node scripts/check-function-length.mjs [--max N] [FILE...]
//   (default: every native/*.cc and native/*.h). `make lint` runs it.
// Prints one line per function over the limit, `file:line: name is N lines (limit M)`.
// Exit status: 0 when every function is within the limit; 1 when one is longer; 2 when the
// check cannot be made (no Universal Ctags, a file it cannot parse, a definition without an
// end line): an unmeasured function never passes.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function usage(message) {
  console.error(`check-function-length: ${message}`);
  console.error('usage: node scripts/check-function-length.mjs [--max N] [FILE...]');
  process.exit(2);
}

function parseArgs(argv) {
  let max = 100;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--max') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) usage(`--max takes a positive integer, not ${String(argv[i])}`);
      max = n;
    } else if (argv[i].startsWith('-')) {
      usage(`unknown option ${argv[i]}`);
    } else {
      files.push(argv[i]);
    }
  }
  if (files.length === 0) {
    const dir = join(root, 'native');
    for (const f of readdirSync(dir).sort()) if (/\.(cc|h)$/.test(f)) files.push(join(dir, f));
  }
  return { max, files };
}

/** The function definitions ctags finds in `files`, as { path, line, end?, name, scope? }. */
function functionTags(files) {
  const args = ['--output-format=json', '--language-force=C++', '--kinds-C++=f', '--fields=+ne', '--sort=no'];
  args.push('-f', '-', ...files);
  const r = spawnSync('ctags', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error !== undefined) {
    console.error(`check-function-length: cannot run ctags (${r.error.message}); install universal-ctags`);
    process.exit(2);
  }
  if (r.status !== 0) {
    console.error(`check-function-length: ctags failed (exit ${r.status}): ${r.stderr.trim()}`);
    process.exit(2);
  }
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l))
    .filter((t) => t._type === 'tag');
}

const { max, files } = parseArgs(process.argv.slice(2));
const version = spawnSync('ctags', ['--version'], { encoding: 'utf8' });
if (version.error !== undefined || !/Universal Ctags/.test(version.stdout ?? '')) {
  console.error('check-function-length: needs Universal Ctags (Debian package universal-ctags)');
  process.exit(2);
}
let over = 0;
let unmeasured = 0;
const tags = functionTags(files);
for (const t of tags) {
  const where = `${relative(process.cwd(), t.path) || t.path}:${t.line}`;
  // ctags names anonymous namespaces and lambdas __anon<hex>
  const name = (t.scope === undefined ? t.name : `${t.scope}::${t.name}`).replace(/__anon[0-9a-f]+/g, '(anonymous)');
  if (typeof t.end !== 'number' || t.end < t.line) {
    console.error(`${where}: ${name}: ctags found no end line`);
    unmeasured++;
    continue;
  }
  const lines = t.end - t.line + 1;
  if (lines > max) {
    console.log(`${where}: ${name} is ${lines} lines (limit ${max})`);
    over++;
  }
}
if (unmeasured > 0) process.exit(2);
if (over > 0) {
  console.log(`check-function-length: ${over} C++ function(s) over ${max} lines`);
  process.exit(1);
}
console.log(`check-function-length: ${tags.length} C++ functions in ${files.length} files, none over ${max} lines`);
