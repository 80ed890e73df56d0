// compare/pool.ts: how many threads the strategies run on, progress lines in the order a
// serial run prints them, and a worker's KbootError raised again in this thread with the same
// domain and code (a rescue kernel that is not an ELF fails in parseElf on the worker).
import t from 'tap';
import { KbootError } from '../../../loader/errors.js';
import { loadProfile } from '../../../loader/plan/profile.js';
import { OrderedProgress, runTasks, threadsFor } from '../../../compare/pool.js';

t.test('threads: one more than the cores, never more than the tasks; one core runs here', (t) => {
  t.equal(threadsFor(3, 2), 3);
  t.equal(threadsFor(6, 2), 3);
  t.equal(threadsFor(3, 8), 3);
  t.equal(threadsFor(3, 1), 1);
  t.equal(threadsFor(1, 8), 1);
  t.end();
});

t.test('progress comes out in task order whatever order the tasks finish in', (t) => {
  const out: string[] = [];
  const p = new OrderedProgress(3, (l) => out.push(l));
  p.line(1, 'b1');
  p.line(0, 'a1');
  p.line(2, 'c1');
  p.line(1, 'b2');
  p.finished(2);
  t.same(out, ['a1'], 'later tasks wait');
  p.finished(0);
  t.same(out, ['a1', 'b1', 'b2'], 'the next task’s lines follow as soon as the earlier ones are done');
  p.line(1, 'b3');
  p.finished(1);
  t.same(out, ['a1', 'b1', 'b2', 'b3', 'c1']);
  t.end();
});

t.test('a KbootError on a worker is raised here with its domain and code', async (t) => {
  const profile = loadProfile('amd64-efi');
  const task = {
    rescue: Uint8Array.of(1, 2, 3),
    file: 'x',
    profile,
    seed: 1,
    tmp: '/nonexistent',
    strategy: 'kld' as const,
  };
  try {
    await runTasks([task, { ...task, strategy: 'embed' }], () => undefined, 2);
    t.fail('no error');
  } catch (e) {
    t.ok(e instanceof KbootError, 'a KbootError');
    if (e instanceof KbootError) {
      t.equal(e.domain, 'elf');
      t.match(e.code, /^ELF_/);
    }
  }
});
