// KbootError: stable codes, structured details, cause chaining, JSON-safe output.
import t from 'tap';
import { AddrError, AddrCode, jsonSafe, KbootError, isKbootError } from '../../../loader/errors.js';
import { MemoryError, MemoryCode } from '../../../loader/memory/errors.js';

t.test('codes, details, cause, domain', (t) => {
  const cause = new Error('root');
  const e = new MemoryError(MemoryCode.GuestRange, 'machine: x', { addr: 0x1000n }, { cause });
  t.ok(e instanceof KbootError);
  t.ok(e instanceof Error);
  t.ok(isKbootError(e));
  t.notOk(isKbootError(new Error('plain')));
  t.equal(e.code, 'GUEST_RANGE');
  t.equal(e.domain, 'memory');
  t.equal(e.name, 'MemoryError');
  t.equal(e.cause, cause);
  t.same(e.toJSON(), {
    name: 'MemoryError',
    domain: 'memory',
    code: 'GUEST_RANGE',
    message: 'machine: x',
    details: { addr: '0x1000' },
  });
  t.end();
});

t.test('jsonSafe', (t) => {
  const inner = new AddrError(AddrCode.Overflow, 'addr: o', { a: 1n });
  t.same(jsonSafe({ a: [1n, new Uint8Array(3)], e: inner, p: new Error('m') }), {
    a: ['0x1', { bytes: 3 }],
    e: { name: 'AddrError', domain: 'addr', code: 'ADDR_OVERFLOW', message: 'addr: o', details: { a: '0x1' } },
    p: { name: 'Error', message: 'm' },
  });
  t.doesNotThrow(() => JSON.stringify(jsonSafe({ big: 1n << 70n })));
  t.end();
});
