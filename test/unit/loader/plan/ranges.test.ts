// Range-list algebra and the hole finder, checked against brute force over small spaces.
import t from 'tap';
import fc from 'fast-check';
import type { PhysAddr, PhysRange, Size } from '../../../../loader/addr.js';
import { findHole, intersectAll, normalize, subtract, totalSize } from '../../../../loader/plan/ranges.js';

const R = (start: number, size: number): PhysRange => ({
  start: BigInt(start) as PhysAddr,
  size: BigInt(size) as Size,
});
const arb = fc.array(
  fc
    .record({ start: fc.integer({ min: 0, max: 255 }), size: fc.integer({ min: 0, max: 64 }) })
    .map((r) => R(r.start, r.size)),
  { maxLength: 8 },
);
/** A byte map of a range list over [0, 320). */
const bytes = (rs: readonly PhysRange[]): boolean[] => {
  const m = new Array<boolean>(320).fill(false);
  for (const r of rs) for (let i = Number(r.start); i < Number(r.start + r.size); i++) m[i] = true;
  return m;
};

t.test('normalize / subtract / intersect agree with a byte map', (t) => {
  fc.assert(
    fc.property(arb, arb, (a, b) => {
      const n = normalize(a);
      for (let i = 1; i < n.length; i++) {
        const p = n[i - 1];
        const c = n[i];
        if (p === undefined || c === undefined || p.start + p.size >= c.start) return false; // sorted, merged, gaps between
      }
      const ma = bytes(a);
      const mb = bytes(b);
      const sub = bytes(subtract(a, b));
      const int = bytes(intersectAll(a, b));
      const nm = bytes(n);
      return ma.every((x, i) => nm[i] === x && sub[i] === (x && !mb[i]) && int[i] === (x && (mb[i] ?? false)));
    }),
    { numRuns: 500 },
  );
  t.equal(totalSize([R(0, 10), R(5, 10)]), 15n);
  t.end();
});

t.test('findHole returns exactly what brute force finds', (t) => {
  fc.assert(
    fc.property(
      arb,
      fc.integer({ min: 1, max: 64 }),
      fc.constantFrom(1, 2, 4, 8, 16),
      fc.constantFrom(0, 16, 32, 64),
      fc.integer({ min: 0, max: 320 }),
      fc.constantFrom('highest' as const, 'lowest' as const),
      (free, size, align, boundary, below, prefer) => {
        const got = findHole(free, {
          size: BigInt(size) as Size,
          align: BigInt(align) as Size,
          boundary: BigInt(boundary) as Size,
          below: BigInt(below),
          prefer,
        });
        const m = bytes(free);
        const ok: number[] = [];
        for (let s = 0; s + size <= Math.min(below, 320); s += align) {
          if (boundary !== 0 && Math.floor(s / boundary) !== Math.floor((s + size - 1) / boundary)) continue;
          let all = true;
          for (let i = s; i < s + size; i++) if (!m[i]) all = false;
          if (all) ok.push(s);
        }
        const want = ok.length === 0 ? undefined : prefer === 'highest' ? ok[ok.length - 1] : ok[0];
        if (want === undefined) return got === undefined;
        return got !== undefined && got.start === BigInt(want) && got.size === BigInt(size);
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('3000 random cases agree');
  t.end();
});

t.test('findHole edge cases', (t) => {
  const req = {
    size: 16n as Size,
    align: 16n as Size,
    boundary: 64n as Size,
    below: 1000n,
    prefer: 'highest' as const,
  };
  t.equal(findHole([], req), undefined, 'nothing free');
  t.equal(findHole([R(0, 1000)], { ...req, size: 128n as Size }), undefined, 'larger than the boundary');
  t.same(findHole([R(0, 1000)], req), R(976, 16));
  t.same(findHole([R(0, 1000)], { ...req, below: 60n }), R(32, 16), 'the end may not pass below');
  t.same(findHole([R(56, 100)], { ...req, prefer: 'lowest' }), R(64, 16));
  t.equal(findHole([R(0, 1000)], { ...req, size: 0n as Size }), undefined, 'zero size');
  t.end();
});
