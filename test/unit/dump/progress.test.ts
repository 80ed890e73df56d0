// Dump progress (dump/progress.ts): a terminal bar redrawn in place at 0.1% resolution, a
// line per 10% off a terminal, and the final summary; time is injected, so rates are exact.
import t from 'tap';
import { createProgress, formatBytes, formatDuration, progressReporter, summaryLine } from '../../../dump/progress.js';

t.test('terminal: one redraw per 0.1% step, with bytes, rate and time left', (t) => {
  let out = '';
  let now = 0;
  const p = createProgress({
    label: 'vmcore.0',
    total: 1_000_000n,
    tty: true,
    write: (s) => (out += s),
    now: () => now,
  });
  for (let done = 0; done <= 1_000_000; done += 250) {
    now = done / 1000; // 1 MB/s
    p.update(BigInt(done));
  }
  p.end();
  t.equal(p.redraws, 1001, 'every permille 0..1000 drawn once, however often update is called');
  const lines = out.split('\r').filter((l) => l !== '');
  const ESC = String.fromCharCode(0x1b); // erase to the end of the line: ESC [ K
  t.equal(
    lines[500],
    `vmcore.0 [${'#'.repeat(15)}${'.'.repeat(15)}]  50.0%  488 KiB / 977 KiB, 977 KiB/s, 0:01 left${ESC}[K`,
  );
  t.ok(out.endsWith('\n'), 'end() closes the line');
  t.end();
});

t.test('not a terminal: a line at every 10%, nothing in between', (t) => {
  const lines: string[] = [];
  let now = 0;
  const p = createProgress({ label: 'dump', total: 100n, tty: false, write: (s) => lines.push(s), now: () => now });
  for (let done = 0; done <= 100; done++) {
    now = done * 10;
    p.update(BigInt(done));
  }
  p.end();
  t.equal(lines.length, 10);
  t.match(lines[0] ?? '', /^dump: 10% \(10 B \/ 100 B, 100 B\/s, 0:01 left\)\n$/);
  t.match(lines[9] ?? '', /^dump: 100% /);
  t.end();
});

t.test('formatting', (t) => {
  t.equal(formatBytes(512), '512 B');
  t.equal(formatBytes(1536), '1.5 KiB');
  t.equal(formatBytes(1n << 30n), '1.0 GiB');
  t.equal(formatDuration(3725), '1:02:05');
  t.equal(formatDuration(Infinity), '--:--');
  t.equal(
    summaryLine({ file: 'vmcore.1', bytesIn: 2n << 20n, bytesOut: 1n << 20n, pages: 512, ms: 1000, status: 'good' }),
    'dump saved: vmcore.1: 2.0 MiB (512 pages, 1.0 MiB on disk (2.00:1)) in 1.00 s, 2.0 MiB/s',
  );
  t.match(
    summaryLine({ file: 'v', bytesIn: 1n, bytesOut: 1n, pages: 0, ms: 1, status: 'incomplete' }),
    /^dump INCOMPLETE/,
  );
  t.end();
});

t.test(
  'progressReporter: the bar appears with the first report (the total known then); disabled draws nothing',
  (t) => {
    const lines: string[] = [];
    const r = progressReporter({ label: 'd', tty: false, write: (s) => lines.push(s) });
    r.onProgress(50n, 100n);
    r.onProgress(100n, 100n);
    r.end();
    t.same(
      lines.map((l) => l.split(' (')[0]),
      ['d: 50%', 'd: 100%'],
    );
    const off: string[] = [];
    const q = progressReporter({ label: 'd', tty: true, write: (s) => off.push(s), enabled: false });
    q.onProgress(1n, 2n);
    q.end();
    t.same(off, []);
    t.end();
  },
);
