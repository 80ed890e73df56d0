// machine/arm64-walker.ts on hand-built tables (test/unit/machine/tables.ts, written from the
// ARM ARM D8.3 independently of the walker), pure TS over ArrayRam.
import t from 'tap';
import fc from 'fast-check';
import { phys, size } from '../../../loader/addr.js';
import { KERNBASE } from '../../../loader/arch/arm64/layout.js';
import { walkArm64, type Arm64Run } from '../../../machine/arm64-walker.js';
import { ArrayRam } from '../../../loader/memory/guest-ram.js';
import { findRun } from '../../../machine/x86-walker.js';
import { throwsCode } from '../../helpers/errors.js';
import { Arm64Tables, TEST_TCR } from './tables.js';
import { MachineCode } from '../../../machine/errors.js';

const K4 = 0x1000n;
const M2 = 0x20_0000n;
const G1 = 0x4000_0000n;
const RAM = 0x4000_0000n;

function fresh(): { ram: ArrayRam; tb: Arm64Tables } {
  const ram = new ArrayRam([{ base: phys(RAM), size: size(0x40_0000) }]);
  return { ram, tb: new Arm64Tables(ram, RAM + 0x10_0000n, RAM + 0x20_0000n) };
}
const walk = (ram: ArrayRam, tb: Arm64Tables, tcr = TEST_TCR) =>
  walkArm64(ram, { tcr, ttbr0: tb.ttbr0, ttbr1: tb.ttbr1 });
const brief = (r: Arm64Run): [string, bigint, bigint, bigint, bigint, boolean] => [
  r.half,
  r.va,
  r.pa,
  r.size,
  r.pageSize,
  r.write,
];

t.test('TTBR0 identity blocks, TTBR1 KERNBASE pages and a 1 GiB block, sorted by VA', (t) => {
  const { ram, tb } = fresh();
  tb.map(RAM, RAM, 2n * M2, { block: M2 });
  tb.map(0x8000_0000n, 0x8000_0000n, G1, { block: G1, attr: 1n });
  tb.map(KERNBASE, 0x4012_3000n, 2n * K4);
  tb.map(KERNBASE + 2n * K4, 0x4012_5000n, K4, { readOnly: true });
  const w = walk(ram, tb);
  t.same(w.problems, []);
  t.same(w.runs.map(brief), [
    ['ttbr0', RAM, RAM, 2n * M2, M2, true],
    ['ttbr0', 0x8000_0000n, 0x8000_0000n, G1, G1, true],
    ['ttbr1', KERNBASE, 0x4012_3000n, 2n * K4, K4, true],
    ['ttbr1', KERNBASE + 2n * K4, 0x4012_5000n, K4, K4, false],
  ]);
  t.equal(findRun(w.runs, KERNBASE + 0x1008n)?.pa, 0x4012_3000n);
  t.end();
});

t.test('APTable, PXNTable and the access flag are inherited / reported', (t) => {
  const { ram, tb } = fresh();
  tb.map(KERNBASE, RAM, K4, { af: false });
  const l2 = tb.entryAddr(KERNBASE, 2);
  const v = new DataView(ram.read(phys(l2), 8).buffer).getBigUint64(0, true);
  tb.setEntry(KERNBASE, 2, v | (1n << 62n) | (1n << 59n)); // APTable[1] (read-only), PXNTable
  const [r] = walk(ram, tb).runs;
  t.same([r?.write, r?.pxn, r?.af], [false, true, false]);
  t.end();
});

t.test('TCR: T1SZ 25 starts TTBR1 at level 1; EPD disables a half; other granules are reported', (t) => {
  const { ram, tb } = fresh();
  // A 39-bit TTBR1 region: level-1 table at the root; VA 0xffff_ff80_0000_0000 + n.
  const t39 = (TEST_TCR & ~(0x3fn << 16n)) | (25n << 16n);
  // Build by hand: root (level 1) entry 0 -> level 2 table with a 2 MiB block at index 1.
  const l2 = RAM + 0x30_0000n;
  ram.fill(phys(l2), size(K4), 0);
  const put = (at: bigint, val: bigint): void => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, val, true);
    ram.write(phys(at), b);
  };
  put(tb.ttbr1, l2 | 3n);
  put(l2 + 8n, 0x4020_0000n | 0x701n);
  const w = walk(ram, tb, t39);
  t.same(
    w.runs.map((r) => [r.va, r.pa, r.size]),
    [[0xffff_ff80_0020_0000n, 0x4020_0000n, M2]],
  );
  t.same(walk(ram, tb, t39 | (1n << 23n)).runs, [], 'EPD1 disables TTBR1');
  const g64k = (TEST_TCR & ~(3n << 30n)) | (3n << 30n);
  t.same(
    walk(ram, tb, g64k).problems.map((p) => [p.kind, p.half]),
    [['unsupported-granule', 'ttbr1']],
  );
  const bad = (TEST_TCR & ~0x3fn) | 12n;
  t.same(
    walk(ram, tb, bad).problems.map((p) => [p.kind, p.half]),
    [['bad-txsz', 'ttbr0']],
  );
  t.end();
});

t.test('reserved descriptors and tables outside RAM are problems', (t) => {
  const { ram, tb } = fresh();
  tb.map(RAM, RAM, K4);
  t.same(walk(ram, tb).problems, [], 'good fixture');
  tb.setEntry(RAM, 3, RAM | 0x401n); // 0b01 at level 3: reserved
  t.same(
    walk(ram, tb).problems.map((p) => [p.kind, p.level]),
    [['reserved-descriptor', 3]],
  );
  tb.setEntry(RAM, 2, 0x9000_0000n | 3n);
  t.same(
    walk(ram, tb).problems.map((p) => [p.kind, p.level]),
    [['table-not-ram', 3]],
  );
  tb.setEntry(0n, 0, 0x401n); // a block at level 0 is reserved with 4 KiB granules
  t.ok(walk(ram, tb).problems.some((p) => p.kind === 'reserved-descriptor' && p.level === 0));
  t.end();
});

t.test('CPU_WALK: the walk is bounded', (t) => {
  const { ram, tb } = fresh();
  tb.map(KERNBASE, RAM, 8n * K4);
  t.ok(walk(ram, tb).runs.length > 0, 'the good fixture walks');
  throwsCode(
    t,
    () => walkArm64(ram, { tcr: TEST_TCR, ttbr0: tb.ttbr0, ttbr1: tb.ttbr1, maxTables: 2 }),
    MachineCode.CpuWalk,
    'maxTables',
  );
  throwsCode(
    t,
    () => walkArm64(ram, { tcr: TEST_TCR, ttbr0: tb.ttbr0, ttbr1: tb.ttbr1, maxEntries: 4 }),
    MachineCode.CpuWalk,
    'maxEntries',
  );
  t.end();
});

t.test('property: runs expand to exactly the mapped pages', (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.record({ vpn: fc.integer({ min: 0, max: 4095 }), pfn: fc.integer({ min: 0, max: 1023 }) }), {
        selector: (m) => m.vpn,
        maxLength: 40,
      }),
      (maps) => {
        const { ram, tb } = fresh();
        const model = new Map<bigint, bigint>();
        for (const m of maps) {
          const va = KERNBASE + BigInt(m.vpn) * K4;
          tb.map(va, RAM + BigInt(m.pfn) * K4, K4);
          model.set(va, RAM + BigInt(m.pfn) * K4);
        }
        const got = new Map<bigint, bigint>();
        for (const r of walk(ram, tb).runs) for (let o = 0n; o < r.size; o += K4) got.set(r.va + o, r.pa + o);
        t.same([...got.entries()].sort(), [...model.entries()].sort());
      },
    ),
    { numRuns: 50 },
  );
  t.end();
});
