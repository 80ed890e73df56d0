// machine/journal.ts without a machine: the journal is read through the bounded opener (a FIFO,
// /dev/zero or a symlink standing in for state.json is an IoError at once), written through
// an exclusive temporary with an unpredictable name into a 0700 directory, and a recorded
// loader.conf is checked file by file (loadRecordedConfig). Also execPathFor (cli/actions/exec.ts).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execPathFor } from '../../../cli/actions/exec.js';
import {
  configRefs,
  JOURNAL_VERSION,
  loadJournal,
  loadRecordedConfig,
  saveJournal,
  type Journal,
} from '../../../machine/journal.js';
import { ConfigCode, IoCode } from '../../../loader/errors.js';
import { loadLoaderConf } from '../../../loader/preload/index.js';
import { throwsCode } from '../../helpers/errors.js';
import { CliCode } from '../../../cli/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-journal-unit-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const journal: Journal = {
  version: JOURNAL_VERSION,
  machine: 'amd64-efi',
  seed: 1,
  actions: [
    {
      action: 'boot',
      strategy: 'kexec',
      phase: 'running',
      rescue: { path: '/x/rescue.elf', sha256: 'a'.repeat(64) },
    },
  ],
};

t.test('saveJournal: a 0700 directory whatever the umask, no temporary left, loadJournal reads it back', (t) => {
  const state = join(dir, 'new', '.kboot');
  const old = process.umask(0);
  try {
    saveJournal(state, journal);
  } finally {
    process.umask(old);
  }
  t.equal(statSync(state).mode & 0o777, 0o700);
  t.same(readdirSync(state), ['state.json'], 'only the journal');
  t.same(loadJournal(state), journal);
  saveJournal(state, { ...journal, seed: 2 });
  t.equal(loadJournal(state)?.seed, 2, 'replaced by rename');
  t.equal(loadJournal(join(dir, 'none')), undefined, 'no journal');
  t.end();
});

t.test('state.json that is not a regular file: an IoError at once', (t) => {
  mkdirSync(join(dir, 'fifo'));
  execFileSync('mkfifo', [join(dir, 'fifo', 'state.json')]);
  throwsCode(t, () => loadJournal(join(dir, 'fifo')), IoCode.NotRegular, 'a FIFO');
  mkdirSync(join(dir, 'zero'));
  symlinkSync('/dev/zero', join(dir, 'zero', 'state.json'));
  throwsCode(t, () => loadJournal(join(dir, 'zero')), IoCode.Symlink, 'a symlink to /dev/zero');
  mkdirSync(join(dir, 'huge'));
  writeFileSync(join(dir, 'huge', 'state.json'), Buffer.alloc(16 * 1024 * 1024 + 1, 0x20));
  throwsCode(t, () => loadJournal(join(dir, 'huge')), IoCode.TooLarge, 'over INPUT_LIMITS.journal');
  mkdirSync(join(dir, 'bad'));
  writeFileSync(join(dir, 'bad', 'state.json'), '{"version": 3}');
  const e = throwsCode(t, () => loadJournal(join(dir, 'bad')), ConfigCode.Schema);
  t.notMatch(e?.message ?? '', /\n/, 'one line');
  t.end();
});

t.test('loadRecordedConfig: each file checked; new, changed and removed includes are CONFIG_STALE', (t) => {
  const boot = join(dir, 'boot');
  mkdirSync(boot);
  writeFileSync(join(boot, 'loader.conf'), 'loader_conf_files="a.conf b.conf"\n');
  writeFileSync(join(boot, 'a.conf'), 'a="1"\n');
  const { config, includes } = configRefs(loadLoaderConf(join(boot, 'loader.conf')));
  t.same(
    includes.map((r) => r.path),
    [join(boot, 'a.conf')],
    'b.conf is missing: not recorded',
  );
  t.ok(loadRecordedConfig(config, includes));
  const staleOn = (what: string): unknown =>
    throwsCode(t, () => loadRecordedConfig(config, includes), ConfigCode.Stale, what)?.details['file'];
  writeFileSync(join(boot, 'b.conf'), 'b="1"\n');
  t.equal(staleOn('b.conf appeared'), join(boot, 'b.conf'));
  rmSync(join(boot, 'b.conf'));
  writeFileSync(join(boot, 'a.conf'), 'a="2"\n');
  t.equal(staleOn('a.conf changed'), join(boot, 'a.conf'));
  rmSync(join(boot, 'a.conf'));
  t.equal(staleOn('a.conf removed'), join(boot, 'a.conf'));
  writeFileSync(join(boot, 'a.conf'), 'a="1"\n');
  t.ok(loadRecordedConfig(config, includes), 'as recorded again');
  t.equal(
    throwsCode(t, () => loadRecordedConfig(config, undefined), ConfigCode.Stale, 'v1: includes unrecorded')?.details[
      'include'
    ],
    join(boot, 'a.conf'),
  );
  rmSync(join(boot, 'loader.conf'));
  t.equal(staleOn('loader.conf removed'), join(boot, 'loader.conf'));
  t.end();
});

t.test('execPathFor: a probe is entered the way its mode expects', (t) => {
  t.same(execPathFor('rescue', false, 'p.elf'), { path: 'rescue', from: 'probe-mode' });
  t.same(execPathFor('rescue', true, 'p.elf'), { path: 'rescue', from: 'option' });
  t.same(execPathFor('kexec', false, 'p.elf'), { path: 'kexec', from: 'option' });
  throwsCode(t, () => execPathFor('kexec', true, 'p.elf'), CliCode.Usage);
  t.same(execPathFor(undefined, true, 'k'), { path: 'rescue', from: 'option' });
  t.same(execPathFor(undefined, false, 'k'), { path: 'kexec', from: 'option' });
  t.end();
});
