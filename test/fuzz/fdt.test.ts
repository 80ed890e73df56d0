// Fuzz contract of parseFdt: random bytes, random bytes behind a valid-looking header,
// mutated good blobs and truncated good blobs either parse or throw a HandoffError;
// nothing else (TypeError, RangeError, BytesError, ...) may escape. A blob that parses is
// written back and must parse to the same tree.
import t from 'tap';
import fc from 'fast-check';
import { parseFdt, writeFdt, type Fdt } from '../../loader/handoff/fdt.js';
import { HandoffError } from '../../loader/handoff/errors.js';
import { arbFdt, goodFdt, machineFdt, plain } from '../unit/loader/handoff/fdt-fixtures.js';

const RUNS = 1000;

/** Parses; returns true when the only failure is a HandoffError, and re-checks a success. */
function contractHolds(bytes: Uint8Array): boolean {
  let fdt: Fdt;
  try {
    fdt = parseFdt(bytes);
  } catch (e) {
    if (e instanceof HandoffError) return true;
    throw e;
  }
  // What parses must survive a write/parse round trip (or be refused by the writer with a HandoffError).
  try {
    return JSON.stringify(plain(parseFdt(writeFdt(fdt)))) === JSON.stringify(plain(fdt));
  } catch (e) {
    if (e instanceof HandoffError) return true;
    throw e;
  }
}

const header = (words: readonly number[]): Uint8Array => {
  const b = new Uint8Array(40);
  const dv = new DataView(b.buffer);
  words.slice(0, 10).forEach((w, i) => dv.setUint32(4 * i, w >>> 0, false));
  return b;
};

const GOOD_BLOBS = [writeFdt(goodFdt()), writeFdt(machineFdt())];
const INTERESTING = [0, 1, 2, 3, 4, 9, 16, 17, 40, 0x7fff_ffff, 0x8000_0000, 0xffff_fffc, 0xffff_ffff, 0xd00dfeed];

t.test('random bytes', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), contractHolds), { numRuns: RUNS });
  t.pass(`${RUNS} runs`);
  t.end();
});

t.test('random bytes behind a plausible header', (t) => {
  const word = fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 600 }), fc.nat());
  fc.assert(
    fc.property(fc.array(word, { minLength: 10, maxLength: 10 }), fc.uint8Array({ maxLength: 560 }), (words, body) => {
      const h = header([0xd00dfeed, ...words.slice(1)]);
      const b = new Uint8Array(40 + body.length);
      b.set(h);
      b.set(body, 40);
      return contractHolds(b);
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} runs`);
  t.end();
});

t.test('mutated good blobs (aligned words and single bytes)', (t) => {
  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant('word' as const),
      at: fc.nat(),
      value: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat()),
    }),
    fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  );
  fc.assert(
    fc.property(fc.constantFrom(...GOOD_BLOBS), fc.array(mutation, { minLength: 1, maxLength: 4 }), (good, muts) => {
      const b = good.slice();
      const dv = new DataView(b.buffer);
      for (const m of muts) {
        if (m.kind === 'word') dv.setUint32((m.at % (b.length >> 2)) * 4, m.value >>> 0, false);
        else b[m.at % b.length] = m.value;
      }
      return contractHolds(b);
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} runs`);
  t.end();
});

t.test('mutated random trees and truncations', (t) => {
  fc.assert(
    fc.property(arbFdt({ dtcClean: false }), fc.nat(), fc.nat(), fc.nat(), (fdt, cut, at, value) => {
      const b = writeFdt(fdt);
      const mutated = b.slice();
      mutated[at % mutated.length] = value & 0xff;
      return contractHolds(b.subarray(0, cut % (b.length + 1))) && contractHolds(mutated);
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} runs`);
  t.end();
});
