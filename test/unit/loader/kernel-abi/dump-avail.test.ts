// The vm_page_dump bitmap helpers (loader/kernel-abi/dump-avail.ts) that scan a bitmap word
// by word (a 4 TiB host's bitmap is 128 MiB) against the plain reading of FreeBSD's numbering:
// bit i is page i of dump_avail's ranges in order (sys/vm/vm_dumpset.h vm_page_dump_index;
// libkvm _kvm_bit_id_pa), one byte and one bit at a time.
import t from 'tap';
import fc from 'fast-check';
import { bitToPa, popcount8, popcountBytes, setBitPas } from '../../../../loader/kernel-abi/dump-avail.js';

const pairsArb = fc
  .array(fc.tuple(fc.bigInt({ min: 0n, max: 1n << 40n }), fc.bigInt({ min: 1n, max: 1n << 22n })), {
    minLength: 1,
    maxLength: 4,
  })
  .map((rs) => {
    let at = 0n;
    return rs.map(([gap, len]) => {
      const s = at + gap;
      at = s + len;
      return [s, at] as const;
    });
  });

t.test('popcountBytes and setBitPas agree with a bit-at-a-time reading, at any offset', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 7 }), pairsArb, (raw, skip, pairs) => {
      const bitmap = raw.subarray(Math.min(skip, raw.length)); // unaligned views too
      let count = 0;
      const pas: (bigint | undefined)[] = [];
      for (let i = 0; i < bitmap.length; i++) {
        count += popcount8(bitmap[i] ?? 0);
        for (let j = 0; j < 8; j++)
          if ((((bitmap[i] ?? 0) >> j) & 1) === 1) pas.push(bitToPa(pairs, BigInt(i * 8 + j)));
      }
      return (
        popcountBytes(bitmap) === count &&
        JSON.stringify([...setBitPas(pairs, bitmap)].map(String)) === JSON.stringify(pas.map(String))
      );
    }),
    { numRuns: 300 },
  );
  t.end();
});

t.test('a 128 MiB bitmap (4 TiB of pages) is counted and listed word by word', (t) => {
  const bitmap = new Uint8Array(128 << 20);
  const bits = [0, 31, 32, 1 << 20, (128 << 23) - 1];
  for (const b of bits) bitmap[b >> 3] = (bitmap[b >> 3] ?? 0) | (1 << (b & 7));
  t.equal(popcountBytes(bitmap), bits.length);
  const pas = [...setBitPas([[0x1_0000_0000n, 0x1_0000_0000n + 4n * (1n << 40n)]], bitmap)];
  t.same(
    pas,
    bits.map((b) => 0x1_0000_0000n + BigInt(b) * 0x1000n),
  );
  t.end();
});
