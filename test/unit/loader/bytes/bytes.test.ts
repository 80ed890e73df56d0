// ByteReader / ByteWriter / defineLayout: bounds, endianness, range checks, declared sizes.
import t from 'tap';
import fc from 'fast-check';
import {
  ByteReader,
  ByteWriter,
  bytes,
  cstring,
  defineLayout,
  pad,
  u16,
  u32,
  u32array,
  u64,
  u64array,
  u8,
} from '../../../../loader/bytes/index.js';
import { BytesCode, ElfLikeTestError } from '../../../helpers/domain-error.js';
import { throwsCode } from '../../../helpers/errors.js';

t.test('reader reads both byte orders and refuses to read past the end', (t) => {
  const b = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const le = new ByteReader(b);
  const be = new ByteReader(b, { endian: 'be' });
  t.equal(le.u16At(0), 0x0201);
  t.equal(be.u16At(0), 0x0102);
  t.equal(le.u32At(1), 0x05040302);
  t.equal(be.u32At(1), 0x02030405);
  t.equal(le.u64At(1), 0x0908070605040302n);
  t.equal(be.u64At(0), 0x0102030405060708n);
  throwsCode(t, () => le.u64At(2), BytesCode.OutOfBounds, 'u64 one byte short');
  throwsCode(t, () => le.u8At(9), BytesCode.OutOfBounds, 'u8 at length');
  throwsCode(t, () => le.u8At(-1), BytesCode.OutOfBounds, 'negative offset');
  throwsCode(t, () => le.bytesAt(5, 5), BytesCode.OutOfBounds);
  t.equal(le.bytesAt(9, 0).length, 0, 'empty read at the end is fine');
  t.equal(le.u8(), 1);
  t.equal(le.u16(), 0x0302);
  t.equal(le.pos, 3);
  le.advance(6);
  throwsCode(t, () => le.u8(), BytesCode.OutOfBounds, 'sequential read past the end');
  t.ok(le.fits(0, 9));
  t.notOk(le.fits(1, 9));
  t.notOk(le.fits(0n, 1n << 64n));
  t.end();
});

t.test('reader raises the parser’s own error when asked', (t) => {
  const r = new ByteReader(new Uint8Array(4), {
    onOutOfBounds: (i) => new ElfLikeTestError('TEST_TRUNCATED', `truncated at ${i.offset}`, { ...i }),
  });
  throwsCode(t, () => r.u64At(0), 'TEST_TRUNCATED');
  t.end();
});

t.test('reader C strings', (t) => {
  const b = new TextEncoder().encode('abc\0defg');
  const r = new ByteReader(b);
  t.equal(r.cstringAt(0, 16), 'abc');
  t.equal(r.cstringAt(4, 4), 'defg', 'a field filled to its width is the whole string');
  throwsCode(t, () => r.cstringAt(4, 16), BytesCode.OutOfBounds, 'unterminated at the end of the data');
  throwsCode(t, () => r.cstringAt(9, 1), BytesCode.OutOfBounds, 'start past the end');
  t.end();
});

t.test('writer: range checks, alignment, patching, measuring', (t) => {
  const w = new ByteWriter();
  w.u8(0xff).u16(0x1234).u32(0xdeadbeef).align(8).u64(0x0102030405060708n).cstring('hi');
  const out = w.finish();
  t.same([...out.subarray(0, 8)], [0xff, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 0]);
  t.equal(new ByteReader(out).u64At(8), 0x0102030405060708n);
  t.same([...out.subarray(16)], [0x68, 0x69, 0]);
  throwsCode(t, () => new ByteWriter().u8(256), BytesCode.ValueRange);
  throwsCode(t, () => new ByteWriter().u16(-1), BytesCode.ValueRange);
  throwsCode(t, () => new ByteWriter().u32(2 ** 32), BytesCode.ValueRange);
  throwsCode(t, () => new ByteWriter().u32(1.5), BytesCode.ValueRange);
  throwsCode(t, () => new ByteWriter().u64(1n << 64n), BytesCode.ValueRange);
  throwsCode(t, () => new ByteWriter().u64(-1n), BytesCode.ValueRange);
  throwsCode(t, () => new ByteWriter().cstring('a\0b'), BytesCode.BadString);
  throwsCode(t, () => new ByteWriter().zeros(-1), BytesCode.ValueRange);
  const p = new ByteWriter({ endian: 'be' }).u32(0).u64(0n);
  p.patchU32(0, 0xa0b0c0d0).patchU64(4, 7n).patchBytes(0, Uint8Array.of(9));
  t.same([...p.finish()], [9, 0xb0, 0xc0, 0xd0, 0, 0, 0, 0, 0, 0, 0, 7]);
  throwsCode(t, () => p.patchU64(5, 1n), BytesCode.OutOfBounds, 'patch past what was written');
  const m = new ByteWriter({ measureOnly: true }).u32(1).u64(2n).align(16).cstring('abc');
  t.equal(m.length, 20, 'measure-only counts exactly as a real write would');
  t.equal(m.finish().length, 20);
  t.end();
});

t.test('writer and reader round-trip random fields (property)', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.integer({ min: 0, max: 0xffffffff }).map((v) => ({ k: 'u32' as const, v })),
          fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => ({ k: 'u64' as const, v })),
        ),
      ),
      fc.constantFrom('le' as const, 'be' as const),
      (fields, endian) => {
        const w = new ByteWriter({ endian });
        for (const f of fields) {
          if (f.k === 'u32') w.u32(f.v);
          else w.u64(f.v);
        }
        const r = new ByteReader(w.finish(), { endian });
        for (const f of fields) {
          const got = f.k === 'u32' ? r.u32() : r.u64();
          if (got !== f.v) return false;
        }
        return r.pos === r.length;
      },
    ),
  );
  t.pass('round trip holds');
  t.end();
});

const Demo = defineLayout(
  'demo',
  [
    u32('magic', { at: 0 }),
    u16('version'),
    pad(2),
    u64('addr', { at: 8 }),
    cstring('name', 8),
    bytes('raw', 4),
    u8('flag'),
    pad(3),
    u32array('w', 2),
    u64array('q', 1, { endian: 'be' }),
  ],
  { size: 48 },
);

t.test('defineLayout: offsets, size, round trip, per-field endianness', (t) => {
  t.equal(Demo.size, 48);
  t.same(Demo.offsets, { magic: 0, version: 4, addr: 8, name: 16, raw: 24, flag: 28, w: 32, q: 40 });
  const v = {
    magic: 0xcafe,
    version: 3,
    addr: 0xffff_ffff_8020_0000n,
    name: 'kboot',
    raw: Uint8Array.of(1, 2),
    flag: 1,
    w: [5, 6],
    q: [0x0102n],
  };
  const enc = Demo.encode(v);
  t.equal(enc.length, 48);
  const dec = Demo.decode(enc);
  t.same({ ...dec, raw: [...dec.raw] }, { ...v, raw: [1, 2, 0, 0] });
  t.equal(enc[47], 0x02, 'big-endian field stored most significant byte first');
  t.equal(enc[6], 0, 'padding is zero');
  const shifted = new Uint8Array(60).fill(0xee);
  Demo.encodeInto(shifted, 12, v);
  t.equal(Demo.decode(shifted, 12).addr, v.addr);
  t.equal(shifted[18], 0, 'padding zeroed when encoding into a dirty buffer');
  throwsCode(t, () => Demo.decode(enc, 1), BytesCode.OutOfBounds);
  throwsCode(t, () => Demo.encodeInto(new Uint8Array(47), 0, v), BytesCode.OutOfBounds);
  throwsCode(t, () => Demo.encode({ ...v, name: 'toolongname' }), BytesCode.BadString);
  throwsCode(t, () => Demo.encode({ ...v, raw: new Uint8Array(5) }), BytesCode.ValueRange);
  throwsCode(t, () => Demo.encode({ ...v, w: [1] }), BytesCode.ValueRange);
  throwsCode(t, () => Demo.encode({ ...v, version: 70000 }), BytesCode.ValueRange);
  throwsCode(
    t,
    () => Demo.decode(enc, 1, (i) => new ElfLikeTestError('TEST_TRUNCATED', 'x', { ...i })),
    'TEST_TRUNCATED',
  );
  t.end();
});

t.test('defineLayout asserts the declared size and offsets at definition', (t) => {
  t.throws(() => defineLayout('bad', [u32('a'), u64('b')], { size: 16 }), /fields add up to 12/);
  t.throws(() => defineLayout('bad', [u32('a'), u64('b', { at: 8 })], { size: 12 }), /declared at 8/);
  t.throws(() => defineLayout('bad', [u32('a'), u32('a')], { size: 8 }), /duplicate/);
  t.end();
});
