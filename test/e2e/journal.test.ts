// The state journal under concurrency and change (issue 11, items 7 and 8): 20 `kboot load
// --crash` processes started together in one state directory all report success and the
// journal holds all 20 loads after its boot; a command that cannot get the directory's lock
// in its --wait fails with IO_LOCKED and changes nothing; every file a replay reads — each
// loader.conf include (loader_conf_files and loader_conf_dirs), the machine profile file —
// is recorded with its SHA-256 and a change, a new file or a removed one is CONFIG_STALE
// naming it; a version-1 journal is still replayed when it recorded enough; the state
// directory is 0700 under umask 000.
import t from 'tap';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadJournal, type Journal } from '../../machine/journal.js';
import { memoryIo } from '../../cli/io.js';
import { Exit, runCli } from '../../cli/run.js';
import { packagePath } from '../../loader/paths.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { validateJson } from '../../loader/schema.js';
import { withDirectoryLock } from '../../native/dir-lock.js';
import { nativeAvailable } from '../../native/binding.js';
import { runBounded } from '../helpers/spawn-kboot.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const dir = mkdtempSync(join(tmpdir(), 'kboot-journal-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'k.elf'), buildProbeKernel('amd64', { mode: 'kexec' }));
writeFileSync(join(dir, 'rescue.elf'), buildProbeKernel('amd64', { mode: 'rescue' }));

async function kboot(...argv: string[]): Promise<{ code: number; out: string; err: string; error?: string }> {
  const io = memoryIo(dir);
  const code = await runCli(argv, io);
  const out = io.stdout();
  let error: string | undefined;
  if (argv.includes('--json') && code !== Exit.Ok) {
    error = (JSON.parse(out) as { error?: { code?: string } }).error?.code;
  }
  return { code, out, err: io.stderr(), ...(error === undefined ? {} : { error }) };
}

function journalIn(state: string): Journal {
  const j = loadJournal(join(dir, state));
  if (j === undefined) throw new Error(`no journal in ${state}`);
  return j;
}

t.test('20 concurrent load --crash processes: 20 loads in the journal, all reported', { skip }, async (t) => {
  const boot = await kboot('boot', '--strategy', 'kexec', '--rescue', 'k.elf', '--state', 'many');
  t.equal(boot.code, Exit.Ok, boot.err);
  const started = performance.now();
  const runs = await Promise.all(
    Array.from({ length: 20 }, () =>
      runBounded(['load', '--crash', 'k.elf', '--state', 'many', '--wait', '300'], {
        cwd: dir,
        timeoutMs: 300_000,
        killAboveKiB: 1024 * 1024,
      }),
    ),
  );
  t.comment(`20 loads in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  for (const [i, r] of runs.entries()) {
    t.equal(r.code, 0, `load ${i}: exit 0${r.code === 0 ? '' : ` (${r.stderr})`}`);
    t.match(r.stdout, /^crash kernel loaded/, `load ${i}: reported`);
  }
  const j = journalIn('many');
  t.same(validateJson('state', j), [], 'schema-valid');
  t.same(
    j.actions.map((a) => a.action),
    ['boot', ...Array.from({ length: 20 }, () => 'load')],
    'the boot, then every one of the 20 loads',
  );
  const status = await kboot('status', '--state', 'many');
  t.equal(status.code, Exit.Ok, 'the journal replays: armed');
});

t.test('a held lock: IO_LOCKED after --wait, the journal unchanged', { skip }, async (t) => {
  t.equal((await kboot('boot', '--strategy', 'kexec', '--rescue', 'k.elf', '--state', 'held')).code, Exit.Ok);
  const before = readFileSync(join(dir, 'held', 'state.json'), 'utf8');
  const r = await withDirectoryLock(join(dir, 'held'), () =>
    kboot('--json', 'load', '--crash', 'k.elf', '--state', 'held', '--wait', '0.2'),
  );
  t.equal(r.code, Exit.Failure);
  t.equal(r.error, 'IO_LOCKED');
  t.equal(readFileSync(join(dir, 'held', 'state.json'), 'utf8'), before, 'nothing journaled');
  t.equal((await kboot('--json', 'load', '--crash', 'k.elf', '--state', 'held', '--wait', 'soon')).code, Exit.Usage);
});

t.test('every loader.conf include is recorded and checked on replay', { skip }, async (t) => {
  const boot = join(dir, 'boot');
  mkdirSync(join(boot, 'conf.d'), { recursive: true });
  writeFileSync(
    join(boot, 'loader.conf'),
    'rescue_kernel_load="YES"\nrescue_kernel_type="rescue_kernel"\nrescue_kernel_name="../rescue.elf"\n' +
      'loader_conf_files="extra.conf"\nloader_conf_dirs="conf.d"\n',
  );
  writeFileSync(join(boot, 'extra.conf'), 'kern.extra="1"\n');
  writeFileSync(join(boot, 'conf.d', 'a.conf'), 'debug.rescue_minidump="1"\n');
  const b = await kboot('boot', '--strategy', 'kld', '--config', 'boot/loader.conf', '--state', 'inc');
  t.equal(b.code, Exit.Ok, b.err);
  const [first] = journalIn('inc').actions;
  t.match(first, {
    config: { path: join(boot, 'loader.conf') },
    includes: [{ path: join(boot, 'extra.conf') }, { path: join(boot, 'conf.d', 'a.conf') }],
  });
  const status = (): Promise<{ code: number; error?: string; out: string }> =>
    kboot('--json', 'status', '--state', 'inc');
  t.equal((await status()).code, Exit.Ok, 'unchanged: replays');
  const staleFile = async (what: string): Promise<unknown> => {
    const r = await status();
    t.equal(r.error, 'CONFIG_STALE', what);
    return (JSON.parse(r.out) as { error: { details: { file: unknown } } }).error.details.file;
  };
  writeFileSync(join(boot, 'extra.conf'), 'kern.extra="2"\n');
  t.equal(await staleFile('an include changed'), join(boot, 'extra.conf'), 'named');
  writeFileSync(join(boot, 'extra.conf'), 'kern.extra="1"\n');
  t.equal((await status()).code, Exit.Ok, 'restored: replays again');
  writeFileSync(join(boot, 'conf.d', 'b.conf'), 'kern.b="1"\n');
  t.equal(await staleFile('a new loader_conf_dirs file'), join(boot, 'conf.d', 'b.conf'));
  unlinkSync(join(boot, 'conf.d', 'b.conf'));
  unlinkSync(join(boot, 'conf.d', 'a.conf'));
  t.equal(await staleFile('a removed include'), join(boot, 'conf.d', 'a.conf'));
  writeFileSync(join(boot, 'conf.d', 'a.conf'), 'debug.rescue_minidump="1"\n');
  t.equal((await status()).code, Exit.Ok);
  // a version-1 journal recorded the top file only: its includes cannot be vouched for
  const j = journalIn('inc');
  const v1 = {
    ...j,
    version: 1,
    actions: j.actions.map((a) => (a.action === 'boot' ? { ...a, includes: undefined } : a)),
  };
  writeFileSync(join(dir, 'inc', 'state.json'), JSON.stringify(v1));
  t.equal(await staleFile('v1 with includes'), join(boot, 'loader.conf'));
});

t.test('a machine profile file is recorded with its checksum', { skip }, async (t) => {
  copyFileSync(packagePath('profiles', 'amd64-efi.json'), join(dir, 'mine.json'));
  const b = await kboot(
    'boot',
    '--strategy',
    'kexec',
    '--rescue',
    'k.elf',
    '--machine',
    'mine.json',
    '--state',
    'prof',
  );
  t.equal(b.code, Exit.Ok, b.err);
  const j = journalIn('prof');
  t.equal(j.machine, join(dir, 'mine.json'));
  t.equal(j.machineFile?.path, join(dir, 'mine.json'));
  t.equal((await kboot('status', '--state', 'prof')).code, 1, 'replays (nothing armed yet: exit 1)');
  writeFileSync(join(dir, 'mine.json'), `${readFileSync(join(dir, 'mine.json'), 'utf8')}\n`);
  const r = await kboot('--json', 'status', '--state', 'prof');
  t.equal(r.error, 'CONFIG_STALE', 'a changed profile');
  t.equal((await kboot('--json', 'status', '--state', 'nope')).error, 'CLI_USAGE', 'no state directory: boot first');
});

t.test('umask 000: the state directory is 0700 and the journal not world-writable', { skip }, async (t) => {
  const r = await runBounded(['boot', '--strategy', 'kexec', '--rescue', 'k.elf', '--state', 'private/.kboot'], {
    cwd: dir,
    umask: 0o000,
    timeoutMs: 60_000,
  });
  t.equal(r.code, 0, r.stderr);
  t.equal(statSync(join(dir, 'private', '.kboot')).mode & 0o777, 0o700);
  t.equal(statSync(join(dir, 'private', '.kboot', 'state.json')).mode & 0o777, 0o644);
});
