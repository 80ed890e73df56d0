// Address helpers: every edge of the u64 space, alignment and half-open ranges.
import t from 'tap';
import {
  add,
  alignDown,
  alignUp,
  contains,
  endAddr,
  formatRange,
  hex,
  intersect,
  isAligned,
  isEmpty,
  kva,
  offsetFrom,
  overlaps,
  parseSizeText,
  phys,
  range,
  rangeEnd,
  rangeFromEnd,
  requireAligned,
  size,
  sub,
  SZ_2M,
  SZ_4K,
  toNumber,
  U64_LIMIT,
  U64_MAX,
  wholePages,
  type PhysAddr,
  type RangeEnd,
} from '../../../loader/addr.js';
import { AddrCode } from '../../../loader/errors.js';
import { throwsCode } from '../../helpers/errors.js';

t.test('constructors accept exactly [0, 2^64)', (t) => {
  t.equal(phys(0), 0n);
  t.equal(phys(U64_MAX), U64_MAX);
  t.equal(kva(0xffff_ffff_8000_0000n), 0xffff_ffff_8000_0000n);
  t.equal(size(4096), 4096n);
  throwsCode(t, () => phys(-1), AddrCode.Negative);
  throwsCode(t, () => phys(-1n), AddrCode.Negative);
  throwsCode(t, () => phys(U64_LIMIT), AddrCode.TooLarge);
  throwsCode(t, () => size(U64_LIMIT + 5n), AddrCode.TooLarge);
  throwsCode(t, () => kva(1.5), AddrCode.NotInteger);
  throwsCode(t, () => phys(Number.MAX_SAFE_INTEGER + 2), AddrCode.NotInteger);
  throwsCode(t, () => phys(Number.NaN), AddrCode.NotInteger);
  t.end();
});

t.test('add and sub are checked at both ends', (t) => {
  t.equal(add(phys(0x1000), size(0x1000)), 0x2000n);
  t.equal(add(phys(U64_MAX - 1n), size(1)), U64_MAX, 'reaching 2^64-1 exactly is fine');
  throwsCode(t, () => add(phys(U64_MAX), size(1)), AddrCode.Overflow);
  throwsCode(t, () => add(kva(0xffff_ffff_ffff_f000n), size(0x1000)), AddrCode.Overflow);
  t.equal(sub(phys(0x2000), size(0x2000)), 0n);
  throwsCode(t, () => sub(phys(0x1000), size(0x1001)), AddrCode.Underflow);
  t.equal(offsetFrom(phys(0x3000), phys(0x1000)), 0x2000n);
  throwsCode(t, () => offsetFrom(phys(0x1000), phys(0x1001)), AddrCode.Underflow);
  t.end();
});

t.test('alignment', (t) => {
  t.ok(isAligned(phys(0), SZ_2M), 'zero is aligned to everything');
  t.ok(isAligned(phys(0x20_0000), SZ_2M));
  t.notOk(isAligned(phys(0x20_1000), SZ_2M));
  t.equal(alignUp(phys(0x20_0001), SZ_2M), 0x40_0000n);
  t.equal(alignUp(phys(0x20_0000), SZ_2M), 0x20_0000n, 'aligned values stay');
  t.equal(alignDown(phys(0x3f_ffff), SZ_2M), 0x20_0000n);
  t.equal(alignDown(phys(U64_MAX), SZ_4K), 0xffff_ffff_ffff_f000n);
  throwsCode(t, () => alignUp(phys(U64_MAX), SZ_4K), AddrCode.Overflow, 'align up past 2^64');
  t.equal(alignUp(phys(0xffff_ffff_ffff_f000n), SZ_4K), 0xffff_ffff_ffff_f000n);
  throwsCode(t, () => alignUp(phys(5), size(3)), AddrCode.BadAlignment);
  throwsCode(t, () => alignDown(phys(5), size(0)), AddrCode.BadAlignment);
  throwsCode(t, () => isAligned(phys(5), size(6)), AddrCode.BadAlignment);
  throwsCode(t, () => requireAligned(phys(0x1001), SZ_4K, 'segment'), AddrCode.Misaligned);
  requireAligned(phys(0x2000), SZ_4K, 'segment');
  t.end();
});

t.test('ranges are half-open', (t) => {
  const a = range(phys(0x1000), size(0x1000)); // [0x1000, 0x2000)
  const b = range(phys(0x2000), size(0x1000)); // adjacent
  const c = range(phys(0x1800), size(0x1000));
  const empty = range(phys(0x1800), size(0));
  t.notOk(overlaps(a, b), 'adjacent ranges do not overlap');
  t.ok(overlaps(a, c));
  t.ok(overlaps(c, a), 'overlap is symmetric');
  t.notOk(overlaps(a, empty), 'an empty range overlaps nothing');
  t.notOk(overlaps(empty, empty));
  t.ok(isEmpty(empty));
  t.ok(contains(a, phys(0x1000)));
  t.notOk(contains(a, phys(0x2000)), 'the end is exclusive');
  t.ok(contains(a, range(phys(0x1000), size(0x1000))), 'a range contains itself');
  t.notOk(contains(a, c));
  t.ok(contains(a, range(phys(0x2000), size(0))), 'an empty range at the end is contained');
  t.notOk(contains(a, range(phys(0x2001), size(0))));
  t.same(intersect(a, c), { start: 0x1800n, size: 0x800n });
  t.equal(intersect(a, b), undefined);
  t.equal(intersect(a, empty), undefined);
  const top = range(phys(0xffff_ffff_ffff_f000n), size(0x1000));
  t.equal(rangeEnd(top), U64_LIMIT, 'a range may end exactly at 2^64');
  throwsCode(t, () => endAddr(top), AddrCode.Overflow, 'an end of 2^64 is no address');
  t.equal(endAddr(a), 0x2000n, 'endAddr: the end as an address of the range space');
  const end: RangeEnd<PhysAddr> = rangeEnd(a);
  t.ok(end > a.start, 'a RangeEnd compares with addresses of its space');
  throwsCode(t, () => range(phys(0xffff_ffff_ffff_f000n), size(0x1001)), AddrCode.Overflow);
  t.same(rangeFromEnd(phys(0x1000), 0x3000n), { start: 0x1000n, size: 0x2000n });
  throwsCode(t, () => rangeFromEnd(phys(0x3000), 0x1000n), AddrCode.Underflow);
  throwsCode(t, () => rangeFromEnd(phys(0x3000), U64_LIMIT + 1n), AddrCode.Overflow);
  t.equal(formatRange(a), '0x1000-0x1fff');
  t.equal(formatRange(empty), '0x1800 (empty)');
  t.end();
});

t.test('hex and sizes', (t) => {
  t.equal(hex(0), '0x0');
  t.equal(hex(255n), '0xff');
  t.equal(hex(0xffff_ffff_8020_0000n, { group: true }), '0xffff_ffff_8020_0000');
  t.equal(hex(0x1000, { width: 8 }), '0x00001000');
  t.equal(hex(-16n), '-0x10');
  t.equal(hex(1.5), '1.5', 'non-integers print as decimals rather than throwing');
  t.equal(parseSizeText('128M'), 128n << 20n);
  t.equal(parseSizeText('2g'), 2n << 30n);
  t.equal(parseSizeText('0x1000'), 0x1000n);
  t.equal(parseSizeText('4096'), 4096n);
  t.equal(parseSizeText('64K'), 65536n);
  t.equal(parseSizeText('1T'), 1n << 40n);
  t.equal(parseSizeText('lots'), undefined);
  t.equal(parseSizeText('99999999999999999999T'), undefined, 'past 2^64');
  t.equal(toNumber(size(12345)), 12345);
  throwsCode(t, () => toNumber(size(1n << 60n)), AddrCode.TooLarge);
  t.end();
});

t.test('wholePages: a raw firmware range rounded inward to whole pages, clipped below 2^64', (t) => {
  const r = (start: bigint, sz: bigint): string | undefined => {
    const w = wholePages(start, sz);
    return w === undefined ? undefined : `${hex(w.start)}+${hex(w.size)}`;
  };
  t.equal(r(0x1000n, 0x3000n), '0x1000+0x3000', 'aligned: unchanged');
  t.equal(r(0x1001n, 0x3000n), '0x2000+0x2000', 'rounded inward at both ends');
  t.equal(r(0x1001n, 0xfffn), undefined, 'no whole page');
  t.equal(r(0n, 0n), undefined, 'empty');
  t.equal(r(U64_LIMIT - 0x3000n, 0x10_0000n), `${hex(U64_LIMIT - 0x3000n)}+0x3000`, 'a range past 2^64 stops there');
  t.equal(r(U64_LIMIT - 0x800n, 0x10n), undefined, 'a start in the last page');
  t.end();
});
