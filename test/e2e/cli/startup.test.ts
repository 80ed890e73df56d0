// What `kboot` loads to start (issue 13 item 5): a real process with a module loader hook
// that names every module it loads (ESM through node:module register's `load` hook, CommonJS
// and the native addon from require's cache at exit), on fd 3. `kboot --version` loads no
// command at all; `kboot inspect` of the probe kernel loads its own action and the ELF
// reader, never the emulated machine, the dumper, the addon, ajv or another command's
// action; `kboot panic --help` loads the descriptors, not the machine. The timings are
// bench/startup.bench.ts's (rows startup-version and startup-inspect-probe).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { KBOOT_BIN } from '../../helpers/spawn-kboot.js';
import { packagePath } from '../../../loader/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-startup-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const hooks = join(dir, 'hooks.mjs');
writeFileSync(
  hooks,
  "import { writeSync } from 'node:fs';\n" +
    'export async function load(url, context, next) { writeSync(3, `${url}\\n`); return next(url, context); }\n',
);
const preload = join(dir, 'preload.mjs');
writeFileSync(
  preload,
  "import { register, createRequire } from 'node:module';\nimport { writeSync } from 'node:fs';\n" +
    `register(${JSON.stringify(pathToFileURL(hooks).href)});\n` +
    "const require = createRequire(import.meta.url);\nprocess.on('exit', () => { for (const f of Object.keys(require.cache)) writeSync(3, `${f}\\n`); });\n",
);
const probe = join(dir, 'rescue.elf');
writeFileSync(probe, buildProbeKernel('amd64'));

/** The modules `kboot ARGS` loads, as paths relative to the package (node: built-ins left out). */
function loaded(args: readonly string[]): { status: number | null; modules: string[] } {
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(preload).href, KBOOT_BIN, ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const root = packagePath();
  const modules = String(r.output[3] ?? '')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('node:'))
    .map((l) => (l.startsWith('file://') ? new URL(l).pathname : l).replace(`${root}/`, ''));
  return { status: r.status, modules: [...new Set(modules)] };
}

/** Modules no start-up should load unless its command needs them. */
const HEAVY = [/^dist\/(machine|dump|rescue|compare|scenario|kernels|native)\//, /^node_modules\/ajv/, /\.node$/];

t.test('kboot --version: no command, no library', (t) => {
  const { status, modules } = loaded(['--version']);
  t.equal(status, 0);
  t.ok(modules.includes('dist/cli/main.js'), 'the hook sees the modules');
  t.ok(
    modules.some((m) => m.startsWith('node_modules/commander/')),
    'commander (CommonJS) is seen too',
  );
  t.same(
    modules.filter((m) => m.startsWith('dist/cli/commands/') || m.startsWith('dist/cli/actions/')).sort(),
    ['dist/cli/commands/help.js', 'dist/cli/commands/index.js'],
    'the command table, no command',
  );
  for (const re of HEAVY)
    t.same(
      modules.filter((m) => re.test(m)),
      [],
      `nothing matching ${re.source}`,
    );
  t.end();
});

t.test('kboot inspect: its descriptor, its action and the ELF reader only', (t) => {
  const { status, modules } = loaded(['inspect', probe]);
  t.equal(status, 0);
  t.same(modules.filter((m) => m.startsWith('dist/cli/commands/') || m.startsWith('dist/cli/actions/')).sort(), [
    'dist/cli/actions/inspect.js',
    'dist/cli/commands/help.js',
    'dist/cli/commands/index.js',
    'dist/cli/commands/inspect.js',
  ]);
  t.ok(modules.includes('dist/loader/elf/reader.js'), 'the ELF reader');
  for (const re of HEAVY)
    t.same(
      modules.filter((m) => re.test(m)),
      [],
      `nothing matching ${re.source}`,
    );
  t.end();
});

t.test('kboot panic --help: the descriptor, not the machine', (t) => {
  const { status, modules } = loaded(['panic', '--help']);
  t.equal(status, 0);
  t.ok(modules.includes('dist/cli/commands/host.js'));
  t.same(
    modules.filter((m) => m.startsWith('dist/cli/actions/')),
    [],
    'no action',
  );
  t.same(
    modules.filter((m) => /^dist\/(dump|rescue|compare|scenario|kernels|native)\//.test(m) || /\.node$/.test(m)),
    [],
    'no dumper, no addon',
  );
  t.same(
    modules.filter((m) => m.startsWith('dist/machine/') && !m.startsWith('dist/machine/host/')),
    [],
    'no machine (its phase list only)',
  );
  t.end();
});

t.test('kboot help: every descriptor, still no action', (t) => {
  const { status, modules } = loaded(['help']);
  t.equal(status, 0);
  t.ok(modules.filter((m) => m.startsWith('dist/cli/commands/')).length >= 10, 'every descriptor');
  t.same(
    modules.filter((m) => m.startsWith('dist/cli/actions/')),
    [],
    'no action',
  );
  t.end();
});
