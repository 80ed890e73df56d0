// machine/devices/uart.ts: console lines assembled from UART bytes; UTF-8 is decoded by Node's
// TextDecoder (an implementation we did not write) and compared with Buffer.from(text).
import t from 'tap';
import { ConsoleLog } from '../../../../machine/devices/uart.js';

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

t.test('lines end at LF; CR LF and stray CR are dropped; the tail stays partial', (t) => {
  const log = new ConsoleLog();
  log.append(enc('FreeBSD/amd64 rescue\r\nCopy'));
  log.append(enc('right\r\n\r\nboot'));
  t.same(log.lines, ['FreeBSD/amd64 rescue', 'Copyright', '']);
  t.equal(log.partial, 'boot');
  t.equal(log.text(), 'FreeBSD/amd64 rescue\nCopyright\n\nboot');
  t.end();
});

t.test('UTF-8 split across chunks is decoded once whole', (t) => {
  const log = new ConsoleLog();
  const bytes = enc('é→\n');
  for (const b of bytes) log.append(new Uint8Array([b]));
  t.same(log.lines, ['é→']);
  t.end();
});

t.test('bounded: old lines go first and are counted; native drops are counted', (t) => {
  const log = new ConsoleLog({ maxBytes: 10 });
  log.append(enc('aaaa\nbbbb\ncccc\n'), 3);
  t.same(log.lines, ['bbbb', 'cccc']);
  t.equal(log.dropped, 5 + 3);
  t.end();
});
