// kboot boot / load / unload / status / panic over the state journal: commands in separate
// processes behave as one run; the journal is validated; recorded files may not change.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../../cli/io.js';
import { loadJournal, replay } from '../../../machine/journal.js';
import { Exit, runCli } from '../../../cli/run.js';
import { packagePath } from '../../../loader/paths.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { validateJson } from '../../../loader/schema.js';
import { nativeAvailable } from '../../../native/binding.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const bin = packagePath('dist', 'cli', 'main.js');

function workdir(): { dir: string; rescue: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-host-'));
  const rescue = join(dir, 'rescue.elf');
  writeFileSync(rescue, buildProbeKernel('amd64', { mode: 'rescue' }));
  return { dir, rescue };
}

async function kboot(dir: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo(dir);
  const code = await runCli(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

t.test('kld: boot arms at SI_SUB_VM_CONF; status and panic', { skip }, async (t) => {
  const { dir, rescue } = workdir();
  const boot = await kboot(dir, 'boot', '--strategy', 'kld', '--rescue', rescue);
  t.equal(boot.code, Exit.Ok, boot.err);
  t.match(boot.out, /SI_SUB_VM_CONF: rescue_kernel_init/);
  const journal = JSON.parse(readFileSync(join(dir, '.kboot', 'state.json'), 'utf8')) as unknown;
  t.same(validateJson('state', journal), [], 'the journal is schema-valid');
  const status = await kboot(dir, 'status');
  t.equal(status.code, Exit.Ok, 'armed: exit 0');
  t.match(status.out, /armed at .*SI_SUB_VM_CONF/);
  const panic = await kboot(dir, 'panic');
  t.equal(panic.code, Exit.Ok);
  t.match(panic.out, /the rescue kernel \(armed at SI_SUB_VM_CONF\) was entered/);
  t.match(panic.out, /console: kboot probe: ok arch=amd64 mode=rescue/);
});

t.test('kexec: load then panic in separate processes behave as one run', { skip }, async (t) => {
  const { dir, rescue } = workdir();
  t.equal((await kboot(dir, 'boot', '--strategy', 'kexec', '--rescue', rescue)).code, Exit.Ok);
  t.equal(spawnSync(process.execPath, [bin, 'status'], { cwd: dir }).status, 1, 'nothing armed yet: exit 1');
  t.match(
    execFileSync(process.execPath, [bin, 'load', '--crash', rescue], { cwd: dir, encoding: 'utf8' }),
    /crash kernel loaded/,
  );
  t.equal(spawnSync(process.execPath, [bin, 'status'], { cwd: dir }).status, 0, 'armed after the load');
  const panic = spawnSync(process.execPath, [bin, '--json', 'panic'], { cwd: dir, encoding: 'utf8' });
  t.equal(panic.status, 0, panic.stderr);
  const out = JSON.parse(panic.stdout) as { rescued: boolean; armedAt: string };
  t.equal(out.rescued, true);
  t.equal(out.armedAt, 'running');
  t.equal((await kboot(dir, 'unload', '--crash')).code, Exit.Ok);
  t.equal((await kboot(dir, 'status')).code, 1, 'unloaded');
  // a normal (non-crash) image: the same rules, and status reports it
  const normal = join(dir, 'next.elf');
  writeFileSync(normal, buildProbeKernel('amd64', { mode: 'kexec' }));
  t.match((await kboot(dir, 'load', normal)).out, /^kernel loaded/);
  const st = await kboot(dir, '--json', 'status');
  t.equal((JSON.parse(st.out) as { normalImageLoaded: boolean }).normalImageLoaded, true);
});

t.test('errors: load before userspace, a past phase, a changed file, a broken journal', { skip }, async (t) => {
  const { dir, rescue } = workdir();
  t.equal((await kboot(dir, 'boot', '--strategy', 'kexec', '--rescue', rescue, '--to', 'drivers')).code, Exit.Ok);
  const early = await kboot(dir, '--json', 'load', '--crash', rescue);
  t.equal(early.code, Exit.Failure);
  t.equal((JSON.parse(early.out) as { error: { code: string } }).error.code, 'KEXEC_NO_USERSPACE');
  const past = await kboot(dir, '--json', 'panic', '--at', 'SI_SUB_VM');
  t.equal((JSON.parse(past.out) as { error: { code: string } }).error.code, 'CLI_USAGE');
  const notArmed = await kboot(dir, 'panic');
  t.equal(notArmed.code, 1, 'a kexec host panicking before any load is not rescued');
  writeFileSync(rescue, Buffer.concat([readFileSync(rescue), Buffer.from('x')]));
  const stale = await kboot(dir, '--json', 'status');
  t.equal((JSON.parse(stale.out) as { error: { code: string } }).error.code, 'CONFIG_STALE');
  writeFileSync(join(dir, '.kboot', 'state.json'), '{"version": 2}');
  const broken = await kboot(dir, '--json', 'status');
  t.equal((JSON.parse(broken.out) as { error: { code: string } }).error.code, 'CONFIG_SCHEMA');
  const none = await kboot(mkdtempSync(join(tmpdir(), 'kboot-none-')), '--json', 'status');
  t.equal((JSON.parse(none.out) as { error: { code: string } }).error.code, 'CLI_USAGE');
});

t.test('boot --config: the loader.conf rescue_kernel module is preloaded', { skip }, async (t) => {
  const { dir, rescue } = workdir();
  writeFileSync(
    join(dir, 'loader.conf'),
    `rescue_kernel_load="YES"\nrescue_kernel_type="rescue_kernel"\nrescue_kernel_name="${rescue}"\ndebug.rescue_minidump="1"\nkern.test_tunable="42"\n`,
  );
  const boot = await kboot(dir, 'boot', '--strategy', 'kld', '--config', join(dir, 'loader.conf'));
  t.equal(boot.code, Exit.Ok, boot.err);
  t.match(boot.out, /rescue_kernel_init: armed from the preloaded module/);
  // every other loader.conf variable reaches the host's kenv, as the host decodes it from guest RAM
  const journal = loadJournal(join(dir, '.kboot'));
  if (journal === undefined) {
    t.fail('no journal');
    return;
  }
  const session = replay(journal);
  try {
    t.ok(
      session.model.view.kenv.some(([k, v]) => k === 'kern.test_tunable' && v === '42'),
      'kern.test_tunable=42 in the host kenv',
    );
    t.ok(session.armed !== undefined, 'armed');
  } finally {
    session.close();
  }
  t.equal((await kboot(dir, 'panic')).code, Exit.Ok, 'rescued');
});

t.test('panic --dump-dir: savecore output, progress lines, faults and exit status', { skip }, async (t) => {
  const { dir, rescue } = workdir();
  t.equal((await kboot(dir, 'boot', '--strategy', 'kld', '--rescue', rescue)).code, Exit.Ok);
  const crash = join(dir, 'crash');
  mkdirSync(crash);
  const ok = await kboot(dir, 'panic', '--dump-dir', 'crash');
  t.equal(ok.code, Exit.Ok, ok.err);
  t.match(ok.out, /dump saved: .*vmcore\.0: [\d.]+ MiB \(\d+ pages\) in [\d.]+ s, [\d.]+ \w+\/s\n/);
  t.match(ok.out, /pages changed while dumping: none of \d+/);
  t.match(ok.err, /^\/dev\/dumper: 10% \(/m, 'off a terminal: a line every 10%');
  t.equal(ok.err.split('\n').filter((l) => l.includes('%')).length, 10);
  t.ok(existsSync(join(crash, 'vmcore.0')) && existsSync(join(crash, 'info.0')));

  const dma = await kboot(dir, '--json', 'panic', '--dump-dir', 'crash', '--fault', 'dma', '--compress', 'zstd');
  t.equal(dma.code, Exit.Ok, dma.err);
  const j = JSON.parse(dma.out) as { dump: { n: number; vmcore: string; status: string; changedPages: unknown[] } };
  t.equal(j.dump.n, 1);
  t.match(j.dump.vmcore, /vmcore\.1\.zst$/);
  t.ok(j.dump.changedPages.length > 0, 'pages the DMA engine wrote are reported');

  const before = new Map(readdirSync(crash).map((f) => [f, readFileSync(join(crash, f)).toString('base64')]));
  const full = await kboot(dir, 'panic', '--dump-dir', 'crash', '--fault', 'full-target', '--no-progress');
  t.equal(full.code, Exit.Failure, 'an incomplete dump exits non-zero');
  t.match(full.out, /dump INCOMPLETE: .*vmcore\.2/);
  t.match(readFileSync(join(crash, 'info.2'), 'utf8'), /Dump Status: bad\n {2}Incomplete: .*ENOSPC/);
  t.equal(full.err, '', '--no-progress: no progress lines');
  const after = readdirSync(crash);
  t.same(
    after.filter((f) => !before.has(f)).sort(),
    ['info.2', 'vmcore.2'],
    'the full target added only the incomplete dump and its info',
  );
  for (const [f, b] of before) {
    if (f === 'bounds') t.equal(readFileSync(join(crash, f), 'utf8'), '3\n', 'bounds moved on');
    else if (f !== 'info.last' && !f.startsWith('vmcore.last'))
      t.equal(readFileSync(join(crash, f)).toString('base64'), b, `${f} unchanged`);
  }

  const its = await kboot(dir, 'panic', '--dump-dir', 'crash', '--fault', 'its');
  t.equal(its.code, Exit.Usage);
  t.match(its.err, /its fault needs an arm64 machine/);
  for (const bad of [
    ['--format', 'core'],
    ['--compress', 'xz'],
    ['--fault', 'nope'],
  ]) {
    const r = await kboot(dir, 'panic', '--dump-dir', 'crash', ...bad);
    t.equal(r.code, Exit.Usage, bad.join(' '));
  }
  t.equal((await kboot(dir, 'panic', '--format', 'elf')).code, Exit.Usage, '--format needs a dump target');
  t.equal(
    (await kboot(dir, 'panic', '--dump-dir', 'crash', '--dump-device', 'img')).code,
    Exit.Usage,
    'one target only',
  );
  const dev = await kboot(dir, 'panic', '--dump-device', 'dumpdev.img', '--no-progress');
  t.equal(dev.code, Exit.Ok, dev.err);
  const inspect = await kboot(dir, '--json', 'dump', 'inspect', 'dumpdev.img');
  t.equal(inspect.code, Exit.Ok, inspect.err);
  t.match(inspect.out, /"container": "device"/, 'kboot dump inspect reads the dump-device image back');
});
