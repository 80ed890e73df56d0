// native/dir-lock.ts: one holder of a directory's flock(2) at a time; a bounded wait ends
// in IO_LOCKED; the lock is released when the function returns or throws.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoCode } from '../../../loader/errors.js';
import { withDirectoryLock } from '../../../native/dir-lock.js';
import { nativeAvailable } from '../../../native/binding.js';
import { rejectsCode } from '../../helpers/errors.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const dir = mkdtempSync(join(tmpdir(), 'kboot-lock-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('a second holder waits a bounded time, then IO_LOCKED', { skip }, async (t) => {
  const started = Date.now();
  const inner = await withDirectoryLock(dir, () =>
    rejectsCode(t, () => withDirectoryLock(dir, () => 'never', { timeoutMs: 150 }), IoCode.Locked),
  );
  t.ok((inner?.details['waitedMs'] as number) >= 150, 'waited the bound');
  t.ok(Date.now() - started < 3000, 'and not much longer');
  t.equal(await withDirectoryLock(dir, () => 'free again', { timeoutMs: 0 }), 'free again');
});

t.test('released when the function throws; the caller waits its turn', { skip }, async (t) => {
  await t.rejects(
    withDirectoryLock(dir, () => {
      throw new Error('boom');
    }),
  );
  const order: string[] = [];
  let release = (): void => undefined;
  const first = withDirectoryLock(
    dir,
    () =>
      new Promise<void>((ok) => {
        order.push('first');
        release = ok;
      }),
  );
  const second = withDirectoryLock(
    dir,
    () => {
      order.push('second');
    },
    { timeoutMs: 5000 },
  );
  await new Promise((ok) => setTimeout(ok, 100));
  t.same(order, ['first'], 'the second waits');
  release();
  await Promise.all([first, second]);
  t.same(order, ['first', 'second']);
});

t.test('not a directory: IO_NOT_DIRECTORY', { skip }, async (t) => {
  writeFileSync(join(dir, 'file'), 'x');
  await rejectsCode(t, () => withDirectoryLock(join(dir, 'file'), () => 1), IoCode.NotDirectory);
  await rejectsCode(t, () => withDirectoryLock(join(dir, 'missing'), () => 1), IoCode.NotDirectory);
});
