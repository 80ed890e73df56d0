// loadLoaderConf over a real directory tree: includes, loader_conf_dirs, and every way out of
// the configuration directory (../, an absolute path, a symlink to a file or to a directory
// outside), plus the file errors (missing, not a file, too large).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigCode } from '../../../../loader/errors.js';
import { confEnv, loadLoaderConf } from '../../../../loader/preload/index.js';
import { throwsCode } from '../../../helpers/errors.js';

const base = mkdtempSync(join(tmpdir(), 'kboot-loaderconf-'));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
const boot = join(base, 'boot');
const outside = join(base, 'outside');
mkdirSync(join(boot, 'conf.d'), { recursive: true });
mkdirSync(outside);
writeFileSync(join(outside, 'secret.conf'), 'secret="1"\n');
writeFileSync(join(boot, 'loader.conf.local'), 'local="1"\n');
writeFileSync(join(boot, 'conf.d', 'b.conf'), 'b="1"\n');
writeFileSync(join(boot, 'conf.d', 'a.conf'), 'a="1"\n');
writeFileSync(join(boot, 'conf.d', 'notes.txt'), 'not=1\n');
symlinkSync(join(outside, 'secret.conf'), join(boot, 'evil.conf'));
symlinkSync(outside, join(boot, 'evil.d'));
symlinkSync(join(boot, 'loader.conf.local'), join(boot, 'good-link.conf'));

function conf(name: string, body: string): string {
  const p = join(boot, name);
  writeFileSync(p, body);
  return p;
}

t.test('a tree of includes and loader_conf_dirs', (t) => {
  const p = conf(
    'loader.conf',
    'kernel="kernel"\nloader_conf_files="loader.conf.local good-link.conf missing.conf"\nloader_conf_dirs="conf.d"\n',
  );
  const c = loadLoaderConf(p);
  t.same(
    c.files,
    [
      p,
      join(boot, 'loader.conf.local'),
      join(boot, 'good-link.conf'),
      join(boot, 'conf.d', 'a.conf'),
      join(boot, 'conf.d', 'b.conf'),
    ],
    'a symlink to a file inside is fine (read again: FreeBSD keys files by name)',
  );
  t.equal(confEnv(c, 'local'), '1');
  t.equal(confEnv(c, 'a'), '1');
  t.equal(confEnv(c, 'not'), undefined, 'only *.conf files of a loader_conf_dirs directory');
  t.same(
    c.warnings.map((w) => w.code),
    ['INCLUDE_MISSING'],
    'missing.conf is missing',
  );
  t.end();
});

t.test('CONFIG_INCLUDE_ESCAPE: ../', (t) => {
  const p = conf('up.conf', 'x=1\nloader_conf_files="../outside/secret.conf"\n');
  const e = throwsCode(t, () => loadLoaderConf(p), ConfigCode.IncludeEscape);
  t.equal(e?.details['file'], p);
  t.equal(e?.details['line'], 2);
  t.end();
});

t.test('CONFIG_INCLUDE_ESCAPE: an absolute path outside', (t) => {
  const p = conf('abs.conf', `loader_conf_files="${join(outside, 'secret.conf')}"\n`);
  const e = throwsCode(t, () => loadLoaderConf(p), ConfigCode.IncludeEscape);
  t.equal(e?.details['line'], 1);
  t.end();
});

t.test('CONFIG_INCLUDE_ESCAPE: a symlink to a file outside', (t) => {
  const p = conf('sym.conf', 'loader_conf_files="evil.conf"\n');
  const e = throwsCode(t, () => loadLoaderConf(p), ConfigCode.IncludeEscape);
  t.equal(e?.details['file'], p);
  t.equal(e?.details['line'], 1);
  t.equal(e?.details['realPath'], join(outside, 'secret.conf'));
  t.end();
});

t.test('CONFIG_INCLUDE_ESCAPE: a file reached through a symlinked directory', (t) => {
  const p = conf('symdir.conf', 'loader_conf_files="evil.d/secret.conf"\n');
  throwsCode(t, () => loadLoaderConf(p), ConfigCode.IncludeEscape);
  const q = conf('symdirs.conf', 'loader_conf_dirs="evil.d"\n');
  throwsCode(t, () => loadLoaderConf(q), ConfigCode.IncludeEscape, 'through loader_conf_dirs');
  t.end();
});

t.test('an absolute path inside works, and absoluteBase maps /boot paths', (t) => {
  const p = conf('absin.conf', `loader_conf_files="${join(boot, 'loader.conf.local')}"\n`);
  t.equal(confEnv(loadLoaderConf(p), 'local'), '1');
  const q = conf('mapped.conf', 'loader_conf_files="/boot/loader.conf.local"\n');
  t.equal(confEnv(loadLoaderConf(q, { absoluteBase: base }), 'local'), '1');
  t.end();
});

t.test('CONFIG_NOT_FOUND, CONFIG_UNREADABLE, CONFIG_TOO_LARGE for the file itself', (t) => {
  throwsCode(t, () => loadLoaderConf(join(boot, 'nope.conf')), ConfigCode.NotFound);
  throwsCode(t, () => loadLoaderConf(join(boot, 'conf.d')), ConfigCode.Unreadable, 'a directory');
  const big = conf('big.conf', `a="${'x'.repeat(2000)}"\n`);
  const e = throwsCode(t, () => loadLoaderConf(big, { limits: { maxFileBytes: 1000 } }), ConfigCode.TooLarge);
  t.equal(e?.details['file'], big);
  t.end();
});

t.test('files that are not regular files: CONFIG_UNREADABLE at once, never a hang or a flood', (t) => {
  const fifo = join(boot, 'fifo.conf');
  execFileSync('mkfifo', [fifo]);
  const top = throwsCode(t, () => loadLoaderConf(fifo), ConfigCode.Unreadable, 'a FIFO as loader.conf');
  t.equal(top?.details['kind'], 'FIFO');
  const inc = conf('with-fifo.conf', 'loader_conf_files="fifo.conf"\n');
  throwsCode(t, () => loadLoaderConf(inc), ConfigCode.Unreadable, 'a FIFO as an include');
  symlinkSync('/dev/zero', join(boot, 'zero.conf'));
  const z = conf('with-zero.conf', 'loader_conf_files="zero.conf"\n');
  throwsCode(t, () => loadLoaderConf(z), ConfigCode.Unreadable, 'an include that is a symlink to /dev/zero');
  throwsCode(t, () => loadLoaderConf('/dev/zero', { root: '/dev' }), ConfigCode.Unreadable, '/dev/zero itself');
  t.end();
});

t.test('digests: every file read, in order, with the SHA-256 of the bytes parsed (node:crypto)', (t) => {
  const p = conf('digest.conf', 'loader_conf_files="loader.conf.local missing.conf"\nloader_conf_dirs="conf.d"\n');
  const got = loadLoaderConf(p).digests;
  const files = [p, join(boot, 'loader.conf.local'), join(boot, 'conf.d', 'a.conf'), join(boot, 'conf.d', 'b.conf')];
  t.same(
    got.map((d) => d.path),
    files,
    'a missing include is not a file read',
  );
  for (const [i, f] of files.entries()) {
    t.equal(got[i]?.sha256, createHash('sha256').update(readFileSync(f)).digest('hex'), f);
  }
  t.end();
});
