// loader/io/output.ts: files are created exclusively (never through a planted symlink,
// never over an existing file), with their mode whatever the umask; temporaries have
// unpredictable names and never outlive the call; output directories are directories.
import t from 'tap';
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoCode } from '../../../../loader/errors.js';
import { registeredTemporaries, runInterruptCleanupForTest } from '../../../../loader/io/cleanup.js';
import {
  createExclusive,
  createTemp,
  othersCanWrite,
  outputDirectory,
  tempName,
  writeAll,
  writeNewFile,
} from '../../../../loader/io/output.js';
import { throwsCode } from '../../../helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-output-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mode = (p: string): number => statSync(p).mode & 0o7777;

/** Runs `f` under `mask`, restoring the umask after. */
function withUmask<T>(mask: number, f: () => T): T {
  const old = process.umask(mask);
  try {
    return f();
  } finally {
    process.umask(old);
  }
}

t.test('createExclusive refuses a planted symlink and an existing file, touching neither', (t) => {
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious');
  const planted = join(dir, 'bounds.tmp-1234');
  symlinkSync(victim, planted);
  throwsCode(t, () => createExclusive(planted, 0o600), IoCode.Exists, 'planted symlink');
  symlinkSync(join(dir, 'no-such-target'), join(dir, 'dangling'));
  throwsCode(t, () => createExclusive(join(dir, 'dangling'), 0o600), IoCode.Exists, 'dangling symlink');
  t.notOk(existsSync(join(dir, 'no-such-target')), 'nothing created through the dangling link');
  throwsCode(t, () => createExclusive(victim, 0o600), IoCode.Exists, 'existing file');
  t.equal(readFileSync(victim, 'utf8'), 'precious', 'the victim is untouched');
  t.ok(lstatSync(planted).isSymbolicLink());
  t.end();
});

t.test('umask 000 and 077: the mode asked for is the mode given', (t) => {
  const a = join(dir, 'a');
  closeSync(withUmask(0o000, () => createExclusive(a, 0o600)));
  t.equal(mode(a), 0o600, 'umask 000: 0600, not group/world writable');
  const b = join(dir, 'b');
  closeSync(withUmask(0o077, () => createExclusive(b, 0o644)));
  t.equal(mode(b), 0o644, 'umask 077: still 0644');
  const d = withUmask(0o000, () =>
    outputDirectory(join(dir, 'state', '.kboot'), { what: 'state directory', create: true, mode: 0o700 }),
  );
  t.equal(mode(d), 0o700, 'a private directory is private under umask 000');
  t.equal(mode(join(dir, 'state')), 0o755, 'a parent kboot creates is 0755, not 0777');
  t.end();
});

t.test('tempName: 128 random bits, beside the final name', (t) => {
  const final = join(dir, 'state.json');
  const a = tempName(final);
  const b = tempName(final);
  t.not(a, b);
  t.match(a, /\/\.state\.json\.[0-9a-f]{32}\.tmp$/);
  t.notMatch(a, new RegExp(String(process.pid)), 'no PID in the name');
  t.end();
});

t.test('createTemp: registered until committed or discarded; commit never replaces unless asked', (t) => {
  const final = join(dir, 'out.json');
  const tmp = createTemp(final, 0o644, 'state journal');
  t.ok(registeredTemporaries().includes(tmp.path), 'registered for SIGINT/SIGTERM');
  writeAll(tmp.fd, Buffer.from('one'));
  tmp.commit(final);
  t.equal(readFileSync(final, 'utf8'), 'one');
  t.notOk(existsSync(tmp.path));
  t.notOk(registeredTemporaries().includes(tmp.path));
  const second = createTemp(final, 0o644);
  writeAll(second.fd, Buffer.from('two'));
  throwsCode(t, () => second.commit(final), IoCode.Exists);
  t.equal(readFileSync(final, 'utf8'), 'one', 'the existing file is kept');
  second.discard();
  t.notOk(existsSync(second.path), 'a failed commit is discarded');
  const third = createTemp(final, 0o644);
  writeAll(third.fd, Buffer.from('three'));
  third.commit(final, { replace: true, sync: true });
  t.equal(readFileSync(final, 'utf8'), 'three', 'replace renames over it');
  t.same(
    readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary left',
  );
  t.end();
});

t.test('an interruption removes the registered temporaries', (t) => {
  const tmp = createTemp(join(dir, 'interrupted'), 0o600);
  t.ok(existsSync(tmp.path));
  runInterruptCleanupForTest();
  t.notOk(existsSync(tmp.path), 'removed');
  t.notOk(registeredTemporaries().includes(tmp.path));
  tmp.discard();
  t.end();
});

t.test('signal handlers exist only while something is registered (Ctrl-C keeps its default otherwise)', (t) => {
  const before = process.listenerCount('SIGINT');
  const tmp = createTemp(join(dir, 'handlers'), 0o600);
  t.equal(process.listenerCount('SIGINT'), before + 1, 'installed with the first temporary');
  tmp.discard();
  t.equal(process.listenerCount('SIGINT'), before, 'removed when nothing is left to clean up');
  t.end();
});

t.test('writeNewFile: new, refused, replaced (a symlink is replaced, not written through)', (t) => {
  const out = join(dir, 'probe.elf');
  withUmask(0o077, () => writeNewFile(out, Buffer.from('v1'), { replace: false, what: 'probe kernel' }));
  t.equal(readFileSync(out, 'utf8'), 'v1');
  t.equal(mode(out), 0o644);
  const e = throwsCode(t, () => writeNewFile(out, 'v2', { replace: false, shown: 'probe.elf' }), IoCode.Exists);
  t.equal(e?.details['reason'], 'EEXIST');
  t.equal(readFileSync(out, 'utf8'), 'v1');
  writeNewFile(out, 'v3', { replace: true });
  t.equal(readFileSync(out, 'utf8'), 'v3');
  const victim = join(dir, 'victim2');
  writeFileSync(victim, 'precious');
  const link = join(dir, 'chart.svg');
  symlinkSync(victim, link);
  throwsCode(t, () => writeNewFile(link, '<svg/>', { replace: false }), IoCode.Exists);
  writeNewFile(link, '<svg/>', { replace: true });
  t.equal(readFileSync(victim, 'utf8'), 'precious', 'not written through the link');
  t.ok(lstatSync(link).isFile(), 'the link itself was replaced by the file');
  throwsCode(t, () => writeNewFile(join(dir, 'no', 'such', 'dir', 'x'), 'x'), IoCode.NotFound, 'a missing directory');
  t.end();
});

t.test('outputDirectory: only directories; created when asked', (t) => {
  const o = (p: string, create: boolean, writable?: boolean): string =>
    outputDirectory(p, { what: 'state directory', create, ...(writable === undefined ? {} : { writable }) });
  let e = throwsCode(t, () => o('/dev/null', true), IoCode.NotDirectory, '/dev/null');
  t.equal(e?.details['kind'], 'character device');
  writeFileSync(join(dir, 'a-file'), 'x');
  e = throwsCode(t, () => o(join(dir, 'a-file'), true), IoCode.NotDirectory, 'an existing file');
  t.equal(e?.details['kind'], 'regular file');
  throwsCode(t, () => o(join(dir, 'a-file', 'sub'), true), IoCode.NotDirectory, 'below a file');
  throwsCode(t, () => o('/proc/self', true, true), IoCode.NotDirectory, '/proc/self: no files can be created');
  throwsCode(t, () => o('/proc/self/kboot', true), IoCode.NotDirectory, 'cannot be created in /proc');
  throwsCode(t, () => o(join(dir, 'missing'), false), IoCode.NotFound, 'missing without create');
  t.notOk(existsSync(join(dir, 'missing')));
  const made = o(join(dir, 'missing', 'deeper'), true, true);
  t.ok(statSync(made).isDirectory(), 'missing with create: made, parents too');
  t.equal(o(made, false, true), made, 'an existing directory is used as it is');
  mkdirSync(join(dir, 'real'));
  symlinkSync(join(dir, 'real'), join(dir, 'via-link'));
  t.equal(
    outputDirectory('via-link', { what: 'dump directory', create: false, cwd: dir }),
    join(dir, 'via-link'),
    'relative to cwd; a symlink to a directory is followed',
  );
  t.end();
});

t.test('othersCanWrite warns about world- and group-writable directories', (t) => {
  const open = join(dir, 'scratch');
  mkdirSync(open);
  chmodSync(open, 0o1777);
  t.match(othersCanWrite(open), /writable by every user \(mode 1777\)/);
  chmodSync(open, 0o700);
  t.equal(othersCanWrite(open), undefined);
  t.end();
});
