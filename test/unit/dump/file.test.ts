// dump/file.ts: writeDumpFile keeps the stream's order whatever the chunk sizes (small chunks
// are gathered, large ones written directly), returns the byte count, creates 0600, never
// overwrites, and leaves no temporary file behind on failure; openDumpFile reads it back and
// refuses what is not a regular file (a FIFO, /dev/zero through a symlink, a directory).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDumpFile, writeDumpFile } from '../../../dump/file.js';
import { DumpCode } from '../../../dump/errors.js';
import { IoCode } from '../../../loader/errors.js';
import { throwsCode } from '../../helpers/errors.js';

t.test('order, size, mode, no overwrite, no leftovers', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-dumpfile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let seed = 1;
  const chunk = (n: number): Uint8Array =>
    Uint8Array.from({ length: n }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
  // small, large (written directly) while small ones are pending, many small past the buffer, empty, large
  const sizes = [4096, 300_000, 4096, 17, ...Array.from({ length: 300 }, () => 4096), 0, 2 << 20, 5];
  const chunks = sizes.map(chunk);
  const path = join(dir, 'vmcore.0');
  t.equal(writeDumpFile(path, chunks), BigInt(sizes.reduce((a, b) => a + b, 0)));
  t.same(readFileSync(path), Buffer.concat(chunks), 'the file is the stream, in order');
  t.equal(statSync(path).mode & 0o777, 0o600);
  const f = openDumpFile(path);
  t.same(Buffer.from(f.read(4090, 20)), Buffer.concat(chunks).subarray(4090, 4110));
  f.close();
  throwsCode(t, () => writeDumpFile(path, [chunk(10)]), DumpCode.Io, 'an existing dump is kept');
  t.same(readFileSync(path), Buffer.concat(chunks), 'and unchanged');
  function* failing(): Generator<Uint8Array> {
    yield chunk(10);
    throw new Error('source failed');
  }
  throwsCode(t, () => writeDumpFile(join(dir, 'vmcore.1'), failing()), DumpCode.Io);
  t.same(readdirSync(dir).sort(), ['vmcore.0'], 'no partial or temporary file left');
  throwsCode(t, () => openDumpFile(join(dir, 'missing')), IoCode.NotFound);
  t.end();
});

t.test('openDumpFile opens regular files only, at once (loader/io/input.ts)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-dumpfile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  symlinkSync('/dev/zero', join(dir, 'zero'));
  const started = Date.now();
  for (const p of ['fifo', 'zero', '.']) throwsCode(t, () => openDumpFile(join(dir, p)), IoCode.NotRegular, p);
  t.ok(Date.now() - started < 1000, 'a FIFO with no writer does not block');
  t.end();
});
