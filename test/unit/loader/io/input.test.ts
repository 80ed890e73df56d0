// loader/io/input.ts: only regular files are read, never blocking, never more than the
// kind's bound. The independent reader is node:fs readFileSync (for files it can read safely).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoCode } from '../../../../loader/errors.js';
import { INPUT_LIMITS, openInputFile, readInputFile, readInputText } from '../../../../loader/io/input.js';
import { throwsCode } from '../../../helpers/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-input-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const what = 'machine profile';

t.test('a regular file is read whole, relative to cwd', (t) => {
  const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i & 0xff));
  writeFileSync(join(dir, 'f.bin'), bytes);
  t.same(readInputFile('f.bin', 'kernel', { what, cwd: dir }), bytes);
  writeFileSync(join(dir, 'e.txt'), '');
  t.equal(readInputText(join(dir, 'e.txt'), 'profile', { what }), '', 'an empty file');
  t.end();
});

t.test('a FIFO is refused at once (no writer, no hang)', (t) => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const e = throwsCode(t, () => readInputFile(fifo, 'profile', { what }), IoCode.NotRegular);
  t.equal(e?.details['kind'], 'FIFO');
  t.equal(e?.details['path'], fifo);
  t.end();
});

t.test('/dev/zero, /dev/urandom and a symlink to /dev/zero are character devices', (t) => {
  for (const dev of ['/dev/zero', '/dev/urandom']) {
    const e = throwsCode(t, () => readInputFile(dev, 'profile', { what }), IoCode.NotRegular, dev);
    t.equal(e?.details['kind'], 'character device');
  }
  symlinkSync('/dev/zero', join(dir, 'zero-link'));
  throwsCode(t, () => readInputFile(join(dir, 'zero-link'), 'journal', { what }), IoCode.NotRegular);
  t.end();
});

t.test('a directory is refused', (t) => {
  const e = throwsCode(t, () => readInputFile(dir, 'kernel', { what }), IoCode.NotRegular);
  t.equal(e?.details['kind'], 'directory');
  t.end();
});

t.test('a socket is refused', async (t) => {
  const sock = join(dir, 'sock');
  const server = createServer();
  await new Promise<void>((ok) => server.listen(sock, ok));
  try {
    throwsCode(t, () => readInputFile(sock, 'profile', { what }), IoCode.NotRegular);
  } finally {
    server.close();
  }
});

t.test('symlinks: followed by default, refused with followSymlinks: false', (t) => {
  writeFileSync(join(dir, 'target'), 'x');
  symlinkSync(join(dir, 'target'), join(dir, 'link'));
  t.equal(readInputText(join(dir, 'link'), 'bounds', { what }), 'x');
  throwsCode(t, () => readInputFile(join(dir, 'link'), 'bounds', { what, followSymlinks: false }), IoCode.Symlink);
  t.equal(readInputText(join(dir, 'target'), 'bounds', { what, followSymlinks: false }), 'x');
  t.end();
});

t.test('a /proc file with st_size 0 is read fully (compared with readFileSync)', (t) => {
  const got = readInputFile('/proc/self/environ', 'profile', { what });
  t.ok(got.length > 0, 'not empty although fstat says 0 bytes');
  t.same(got, readFileSync('/proc/self/environ'));
  const version = readInputText('/proc/version', 'profile', { what });
  t.equal(version, readFileSync('/proc/version', 'utf8'));
  // the bound holds while reading, not only against fstat's size
  const e = throwsCode(
    t,
    () => readInputFile('/proc/self/environ', 'profile', { what, maxBytes: 16 }),
    IoCode.TooLarge,
  );
  t.equal(e?.details['limit'], 16);
  t.end();
});

t.test('too large: refused before reading when fstat says so; exactly the bound is fine', (t) => {
  writeFileSync(join(dir, 'hundred'), Buffer.alloc(100, 1));
  throwsCode(t, () => readInputFile(join(dir, 'hundred'), 'profile', { what, maxBytes: 99 }), IoCode.TooLarge);
  t.equal(readInputFile(join(dir, 'hundred'), 'profile', { what, maxBytes: 100 }).length, 100);
  t.equal(INPUT_LIMITS.bounds, 64);
  writeFileSync(join(dir, 'bounds'), '1'.repeat(65));
  throwsCode(t, () => readInputFile(join(dir, 'bounds'), 'bounds', { what: 'bounds' }), IoCode.TooLarge);
  t.end();
});

t.test('missing files and paths through a file are IO_NOT_FOUND', (t) => {
  throwsCode(t, () => readInputFile(join(dir, 'nope'), 'kernel', { what }), IoCode.NotFound);
  writeFileSync(join(dir, 'plain'), 'x');
  throwsCode(t, () => readInputFile(join(dir, 'plain', 'x'), 'kernel', { what }), IoCode.NotFound);
  t.end();
});

t.test('openInputFile: positional reads bounded by the size at open; closed is IO_READ', (t) => {
  writeFileSync(join(dir, 'ra'), Buffer.from('0123456789'));
  const f = openInputFile(join(dir, 'ra'), { what: 'dump' });
  t.equal(f.size, 10);
  t.equal(Buffer.from(f.read(3, 4)).toString(), '3456');
  t.equal(Buffer.from(f.read(8, 100)).toString(), '89', 'short only at the end');
  t.equal(f.read(10, 4).length, 0);
  f.close();
  f.close();
  throwsCode(t, () => f.read(0, 1), IoCode.Read);
  t.end();
});
