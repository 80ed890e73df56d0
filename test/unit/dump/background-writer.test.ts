// dump/file.ts backgroundWriter over native/file_writer.cc: positional writes done by a
// thread while the caller goes on, holes left where nothing was written, and a real ENOSPC
// (Linux's /dev/full) reported as DUMP_IO naming the errno — by a later write or by finish.
import t from 'tap';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backgroundWriter } from '../../../dump/file.js';
import { DumpCode, DumpError } from '../../../dump/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-writer-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('positional writes land where asked; the buffer may be reused at once', (t) => {
  const path = join(dir, 'a');
  const fd = openSync(path, 'w+');
  const w = backgroundWriter(fd, path);
  const buf = new Uint8Array(1 << 20);
  for (let i = 0; i < 48; i++) {
    buf.fill(i + 1); // reused for every write: the writer must have copied it
    w.write(buf, i * (1 << 20) + (i % 2 === 0 ? 0 : 4096));
  }
  w.finish();
  closeSync(fd);
  const got = readFileSync(path);
  t.equal(got.length, 47 * (1 << 20) + 4096 + (1 << 20));
  t.equal(got[5 * (1 << 20) + 4096], 6);
  t.equal(got[5 * (1 << 20) - 1], 5, 'the previous write ends here');
  t.equal(got[5 * (1 << 20)], 0, 'a hole where nothing was written');
  t.equal(got[47 * (1 << 20) + 4096], 48);
  t.end();
});

t.test(
  'ENOSPC from /dev/full is DUMP_IO with the errno',
  existsSync('/dev/full') ? {} : { skip: 'no /dev/full here' },
  (t) => {
    const fd = openSync('/dev/full', 'w');
    t.teardown(() => closeSync(fd));
    const w = backgroundWriter(fd, '/dev/full');
    let err: unknown;
    try {
      for (let i = 0; i < 64; i++) w.write(new Uint8Array(1 << 20), i << 20);
      w.finish();
    } catch (e) {
      err = e;
      w.abort();
    }
    t.ok(err instanceof DumpError);
    t.equal((err as DumpError).code, DumpCode.Io);
    t.equal((err as DumpError).details['errno'], 'ENOSPC');
    t.match((err as DumpError).message, /ENOSPC/);
    t.end();
  },
);
