// The package's public entry points, imported the way a user imports them: by the package's
// own name through package.json `exports` (Node's self-reference), never by a dist/ path.
// Each subpath resolves to its index, exports exactly the names its source index lists (no
// `export *`), each with a doc comment at its declaration; `main`/`types` agree with `.`; no
// other dist/ module is reachable by name; what `npm pack` ships leaves dist/test and
// dist/bench out. The names are checked against the TypeScript compiler's view of the
// source indexes (typescript's checker, an independent reader of the export lists).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as kboot from 'kboot';
import * as machine from 'kboot/machine';
import * as dump from 'kboot/dump';
import * as rescue from 'kboot/rescue';
import * as scenario from 'kboot/scenario';
import { packagePath } from '../../loader/paths.js';
import { entryPoints, exportedNames, packageJson, readmeLibraryBlocks, typeCheck } from './entry-points.js';

const entries = entryPoints();
const names = exportedNames(entries.map((e) => e.source));

t.test('exports: kboot, kboot/machine, kboot/dump, kboot/rescue, kboot/scenario', (t) => {
  t.same(
    entries.map((e) => e.specifier),
    ['kboot', 'kboot/machine', 'kboot/dump', 'kboot/rescue', 'kboot/scenario'],
  );
  const pkg = packageJson();
  const main = entries.find((e) => e.subpath === '.');
  t.equal(`./${pkg.main ?? ''}`, main?.js, 'main is the . entry');
  t.equal(`./${pkg.types ?? ''}`, main?.types, 'types is the . entry');
  for (const e of entries) t.equal(e.types, e.js.replace(/\.js$/, '.d.ts'), `${e.specifier}: types beside the module`);
  t.end();
});

t.test('each entry point resolves by name and exports what its index lists', async (t) => {
  const loaded: Record<string, object> = {
    kboot,
    'kboot/machine': machine,
    'kboot/dump': dump,
    'kboot/rescue': rescue,
    'kboot/scenario': scenario,
  };
  for (const e of entries) {
    const mod = (await import(e.specifier)) as object;
    t.equal(mod, loaded[e.specifier], `import('${e.specifier}') is the statically imported module`);
    t.equal(
      import.meta.resolve(e.specifier),
      new URL(e.js, new URL(`file://${packagePath()}/`)).href,
      `${e.specifier} -> ${e.js}`,
    );
    const listed = (names.get(e.source) ?? []).map((n) => n.name);
    const runtime = Object.keys(mod);
    // types have no runtime value; every runtime export is listed, and nothing else exists
    t.same(
      runtime.filter((n) => !listed.includes(n)),
      [],
      `${e.specifier}: nothing exported that the index does not list`,
    );
    t.ok(listed.length >= runtime.length, `${e.specifier}: ${listed.length} names (${runtime.length} values)`);
  }
});

t.test('no export * in an entry point; a doc comment on every exported name', (t) => {
  for (const e of entries) {
    const text = readFileSync(packagePath(e.source), 'utf8');
    t.notMatch(text, /^\s*export \* /m, `${e.source}: an explicit list`);
    const undocumented = (names.get(e.source) ?? []).filter((n) => !n.documented).map((n) => `${n.name} (${n.at})`);
    t.same(undocumented, [], `${e.specifier}: every name documented`);
  }
  t.end();
});

t.test('the pure pipeline from the main entry point', (t) => {
  for (const name of [
    'parseElf',
    'writeElf',
    'lintRescueKernel',
    'loadProfile',
    'planRescue',
    'validatePlan',
    'encodeModinfo',
    'decodeKenv',
    'parseFdt',
    'encodeRescueParams',
    'phys',
    'KbootError',
  ])
    t.ok(name in kboot, `kboot exports ${name}`);
  for (const name of ['HostSession', 'execKernel', 'HOST_PHASES', 'MachineError'])
    t.ok(name in machine, `kboot/machine exports ${name}`);
  for (const name of ['openDump', 'openDumpFile', 'DumpError', 'DumpCode'])
    t.ok(name in dump, `kboot/dump exports ${name}`);
  for (const name of ['crashDump', 'crashDumpAsync', 'DUMP_FAULTS'])
    t.ok(name in rescue, `kboot/rescue exports ${name}`);
  t.ok('runDemo' in scenario, 'kboot/scenario exports runDemo');
  t.end();
});

t.test('deep imports are closed: only the exports map is reachable by name', (t) => {
  const require = createRequire(import.meta.url);
  for (const deep of ['kboot/dist/machine/session.js', 'kboot/dist/loader/index.js', 'kboot/machine/session']) {
    t.throws(() => require.resolve(deep), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }, `${deep} is not exported`);
  }
  t.doesNotThrow(() => require.resolve('kboot/package.json'), 'package.json is');
  t.end();
});

t.test("the README's library section imports only the entry points, and its code type-checks", (t) => {
  const blocks = readmeLibraryBlocks(readFileSync(packagePath('README.md'), 'utf8'));
  t.ok(blocks.length >= 2, `${blocks.length} code blocks`);
  const specifiers = new Set(entries.map((e) => e.specifier));
  for (const block of blocks) {
    for (const m of block.matchAll(/from '([^']+)'/g)) {
      const spec = m[1] ?? '';
      t.ok(spec.startsWith('node:') || specifiers.has(spec), `${spec} is an entry point (or a Node built-in)`);
    }
  }
  // each block as a module of this package: its imports resolve through `exports`
  t.same(typeCheck(blocks.map((b) => `${b}\nexport {};\n`)), [], 'tsc: no errors');
  t.end();
});

t.test('npm pack ships the library and the CLI, not dist/test or dist/bench', (t) => {
  const files = packageJson().files ?? [];
  t.ok(files.length > 0, 'files is set');
  for (const f of files)
    t.notMatch(f, /^dist\/?$|^dist\/(test|bench)/, `${f} is not all of dist, nor its tests or benchmarks`);
  for (const e of entries)
    t.ok(
      files.some((f) => e.js.startsWith(`./${f}/`)),
      `${e.js} is shipped`,
    );
  t.ok(files.includes('profiles'), 'the built-in machine profiles are shipped');
  t.end();
});
