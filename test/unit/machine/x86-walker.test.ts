// machine/x86-walker.ts on hand-built tables (test/unit/machine/tables.ts writes them from the
// Intel SDM independently of the walker), pure TS over ArrayRam: no addon needed.
import t from 'tap';
import fc from 'fast-check';
import { phys, size } from '../../../loader/addr.js';
import { KERNBASE } from '../../../loader/arch/amd64/layout.js';
import { ArrayRam } from '../../../loader/memory/guest-ram.js';
import { findRun, walkX86, type X86Run } from '../../../machine/x86-walker.js';
import { throwsCode } from '../../helpers/errors.js';
import { X86Tables } from './tables.js';
import { MachineCode } from '../../../machine/errors.js';

const K4 = 0x1000n;
const M2 = 0x20_0000n;
const G1 = 0x4000_0000n;
const POOL = [0x10_0000n, 0x20_0000n] as const;

function fresh(): { ram: ArrayRam; tb: X86Tables } {
  const ram = new ArrayRam([{ base: phys(0), size: size(0x40_0000) }]);
  return { ram, tb: new X86Tables(ram, POOL[0], POOL[1]) };
}

const brief = (r: X86Run): [bigint, bigint, bigint, bigint, boolean, boolean, boolean] => [
  r.va,
  r.pa,
  r.size,
  r.pageSize,
  r.write,
  r.user,
  r.nx,
];

t.test('4 KiB, 2 MiB and 1 GiB leaves with their permissions, sorted by VA', (t) => {
  const { ram, tb } = fresh();
  tb.map(0n, 0n, 4n * M2, { pageSize: M2 }); // identity, 2 MiB pages
  tb.map(0x80_0000_0000n, 0x1_0000_0000n, G1, { pageSize: G1, nx: true }); // 1 GiB page
  // KERNBASE + 2 MiB mapped with 4 KiB pages to an arbitrary PA, not the linear default.
  tb.map(KERNBASE + M2, 0x6a_3000n, 3n * K4);
  tb.map(KERNBASE + M2 + 3n * K4, 0x6a_6000n, K4, { write: false, user: true });
  const w = walkX86(ram, { cr3: tb.cr3 });
  t.same(w.problems, []);
  t.same(w.runs.map(brief), [
    [0n, 0n, 4n * M2, M2, true, false, false],
    [0x80_0000_0000n, 0x1_0000_0000n, G1, G1, true, false, true],
    [KERNBASE + M2, 0x6a_3000n, 3n * K4, K4, true, false, false],
    [KERNBASE + M2 + 3n * K4, 0x6a_6000n, K4, K4, false, true, false],
  ]);
  // X86Tables sets U on intermediate entries, so the leaf decides: this one is user, read-only.
  t.equal(findRun(w.runs, KERNBASE + M2 + 0x1234n)?.pa, 0x6a_3000n);
  t.equal(findRun(w.runs, KERNBASE), undefined, 'KERNBASE itself is not mapped');
  t.ok(
    w.tables.length > 0 && w.tables.every((r) => r.start >= POOL[0] && r.start < POOL[1]),
    'tables come from the pool',
  );
  t.end();
});

t.test('user pages need U at every level; write needs RW at every level; NX at any level', (t) => {
  const { ram, tb } = fresh();
  tb.map(0x4000_0000n, 0x30_0000n, K4, { user: true });
  tb.map(0x4000_1000n, 0x30_1000n, K4, { user: true });
  // Clear RW on the PDE above both pages, set XD on the PDPTE.
  const pde = tb.entryAddr(0x4000_0000n, 2);
  const pdpte = tb.entryAddr(0x4000_0000n, 3);
  const rd = (a: bigint): bigint => new DataView(ram.read(phys(a), 8).buffer).getBigUint64(0, true);
  tb.setEntry(0x4000_0000n, 2, rd(pde) & ~2n);
  tb.setEntry(0x4000_0000n, 3, rd(pdpte) | (1n << 63n));
  const w = walkX86(ram, { cr3: tb.cr3 });
  t.same(w.runs.map(brief), [[0x4000_0000n, 0x30_0000n, 2n * K4, K4, false, true, true]]);
  t.end();
});

t.test('non-present entries are skipped; clearing a PTE splits the run', (t) => {
  const { ram, tb } = fresh();
  tb.map(0x20_0000n, 0x20_0000n, 4n * K4);
  t.equal(walkX86(ram, { cr3: tb.cr3 }).runs.length, 1);
  tb.unmap(0x20_1000n);
  const w = walkX86(ram, { cr3: tb.cr3 });
  t.same(
    w.runs.map((r) => [r.va, r.size]),
    [
      [0x20_0000n, K4],
      [0x20_2000n, 2n * K4],
    ],
  );
  t.equal(findRun(w.runs, 0x20_1000n), undefined);
  t.end();
});

t.test('canonical high VAs are sign-extended from bit 47', (t) => {
  const { ram, tb } = fresh();
  tb.map(0xffff_8000_0000_0000n, 0x1000n, K4);
  t.same(
    walkX86(ram, { cr3: tb.cr3 }).runs.map((r) => r.va),
    [0xffff_8000_0000_0000n],
  );
  t.end();
});

t.test('reserved bits become problems, not mappings', (t) => {
  const { ram, tb } = fresh();
  tb.map(0n, 0n, M2, { pageSize: M2 });
  tb.map(0x4000_0000n, 0x4000_0000n, G1, { pageSize: G1 });
  tb.map(0x60_0000n, 0x60_0000n, K4, { nx: true });
  const good = walkX86(ram, { cr3: tb.cr3 });
  t.same(good.problems, []);
  // One field at a time: a 2 MiB PDE with bit 13 set (reserved in large pages).
  tb.setEntry(0n, 2, 0n | 0x83n | (1n << 13n));
  let w = walkX86(ram, { cr3: tb.cr3 });
  t.same(
    w.problems.map((p) => [p.kind, p.level, p.va]),
    [['reserved-bits', 2, 0n]],
  );
  t.equal(findRun(w.runs, 0x1000n), undefined);
  // XD without EFER.NXE is reserved.
  w = walkX86(ram, { cr3: tb.cr3, nxe: false });
  t.ok(
    w.problems.some((p) => p.level === 1 && p.va === 0x60_0000n),
    'XD reserved without NXE',
  );
  // An address bit above MAXPHYADDR.
  tb.setEntry(0x4000_0000n, 3, 0x4000_0000n | 0x83n | (1n << 45n));
  w = walkX86(ram, { cr3: tb.cr3, maxPhysAddrBits: 40 });
  t.ok(
    w.problems.some((p) => p.level === 3),
    'bit 45 reserved at MAXPHYADDR 40',
  );
  t.notOk(
    walkX86(ram, { cr3: tb.cr3, maxPhysAddrBits: 46 }).problems.some((p) => p.level === 3),
    'fine at 46',
  );
  t.end();
});

t.test('PS in a PML4E is reserved; a table outside RAM is a problem', (t) => {
  const { ram, tb } = fresh();
  tb.setEntry(0n, 4, 0x83n);
  let w = walkX86(ram, { cr3: tb.cr3 });
  t.same(
    w.problems.map((p) => [p.kind, p.level]),
    [['reserved-bits', 4]],
  );
  tb.setEntry(0n, 4, 0x8000_0000n | 3n);
  w = walkX86(ram, { cr3: tb.cr3 });
  t.same(
    w.problems.map((p) => [p.kind, p.level, p.at]),
    [['table-not-ram', 3, 0x8000_0000n]],
  );
  t.same(walkX86(ram, { cr3: 0x9000_0000n }).problems[0]?.kind, 'table-not-ram', 'CR3 outside RAM');
  t.end();
});

t.test('CPU_WALK: the walk is bounded', (t) => {
  const { ram, tb } = fresh();
  tb.map(0n, 0n, 64n * K4);
  t.ok(walkX86(ram, { cr3: tb.cr3 }).runs.length > 0, 'the good fixture walks');
  throwsCode(t, () => walkX86(ram, { cr3: tb.cr3, maxTables: 3 }), MachineCode.CpuWalk, 'maxTables');
  throwsCode(t, () => walkX86(ram, { cr3: tb.cr3, maxEntries: 10 }), MachineCode.CpuWalk, 'maxEntries');
  throwsCode(t, () => walkX86(ram, { cr3: tb.cr3, maxPhysAddrBits: 60 }), MachineCode.CpuWalk, 'MAXPHYADDR');
  throwsCode(t, () => walkX86(ram, { cr3: -1n }), MachineCode.CpuWalk, 'CR3 not a u64');
  // A self-referencing PML4 (FreeBSD's old recursive slot) is finite: four levels at most;
  // the all-511 VA maps the PML4 page itself.
  tb.setEntry(0xffff_ff80_0000_0000n, 4, tb.cr3 | 3n);
  const rec = walkX86(ram, { cr3: tb.cr3 });
  t.equal(findRun(rec.runs, 0xffff_ffff_ffff_f000n)?.pa, tb.cr3, 'recursive slot maps the PML4');
  t.end();
});

t.test('property: the runs expand to exactly the mapped pages (against a page model)', (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.record({ vpn: fc.integer({ min: 0, max: 2047 }), pfn: fc.integer({ min: 0, max: 4095 }), ro: fc.boolean() }),
        {
          selector: (m) => m.vpn,
          maxLength: 40,
        },
      ),
      (maps) => {
        const { ram, tb } = fresh();
        const model = new Map<bigint, { pa: bigint; write: boolean }>();
        for (const m of maps) {
          const va = 0x7f_0000_0000n + BigInt(m.vpn) * K4;
          const pa = BigInt(m.pfn) * K4;
          tb.map(va, pa, K4, { write: !m.ro });
          model.set(va, { pa, write: !m.ro });
        }
        const got = new Map<bigint, { pa: bigint; write: boolean }>();
        const runs = walkX86(ram, { cr3: tb.cr3 }).runs;
        for (const r of runs) {
          for (let o = 0n; o < r.size; o += K4) got.set(r.va + o, { pa: r.pa + o, write: r.write });
        }
        t.same([...got.entries()].sort(), [...model.entries()].sort());
        // Runs are sorted and maximal for equal permissions.
        for (let i = 1; i < runs.length; i++) {
          const a = runs[i - 1];
          const b = runs[i];
          if (a === undefined || b === undefined) continue;
          t.ok(a.va + a.size <= b.va);
          t.notOk(a.va + a.size === b.va && a.pa + a.size === b.pa && a.write === b.write, 'not mergeable');
        }
      },
    ),
    { numRuns: 60 },
  );
  t.end();
});
