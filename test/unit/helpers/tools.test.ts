// test/helpers/tools.ts: a test that needs a missing independent tool is skipped outside CI
// and fails under CI=true (MissingToolError); one whose tools are here runs. The missing tool
// is made missing by emptying PATH for its first probe (probes are cached per process).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../../loader/paths.js';
import { haveTool, MissingToolError, requireTool, TOOLS } from '../../helpers/tools.js';

t.test('a missing tool: skipped outside CI, an error under CI=true', (t) => {
  const saved = { PATH: process.env['PATH'], CI: process.env['CI'] };
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  process.env['PATH'] = '/nonexistent-kboot-test-dir';
  t.equal(haveTool('gzip'), false, 'gzip is not found on an empty PATH');
  delete process.env['CI'];
  const opts = requireTool('gzip');
  t.type(opts.skip, 'string', 'outside CI the test is skipped');
  t.match(opts.skip ?? '', TOOLS.gzip.package, 'the reason names the package to install');
  process.env['CI'] = 'true';
  t.throws(() => requireTool('gzip'), MissingToolError, 'under CI=true a missing tool fails');
  t.end();
});

t.test('a tool that is here: the test runs, under CI or not', (t) => {
  t.equal(haveTool('mkfifo'), true, 'coreutils mkfifo answers --version');
  t.same(requireTool('mkfifo'), {});
  t.end();
});

t.test('Universal Ctags is told from other ctags by its --version text', (t) => {
  t.ok(TOOLS.ctags.match.test('Universal Ctags 6.0.0, Copyright (C) 2015-2022 Universal Ctags Team'));
  t.notOk(TOOLS.ctags.match.test('Exuberant Ctags 5.9~svn20110310'));
  t.end();
});

t.test('scripts/ensure-deps.sh installs the package of every tool (coreutils is Essential)', (t) => {
  const script = readFileSync(join(packageRoot(), 'scripts', 'ensure-deps.sh'), 'utf8');
  const listed = new Set(/packages=\(([^)]*)\)/.exec(script)?.[1]?.match(/[a-z0-9][a-z0-9.+-]+/g) ?? []);
  for (const [tool, probe] of Object.entries(TOOLS)) {
    if (probe.package === 'coreutils') continue;
    t.ok(listed.has(probe.package), `${tool}: ${probe.package} is in ensure-deps.sh`);
  }
  t.end();
});
