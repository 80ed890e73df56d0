// Shadow planning (machine/cpu.ts planAmd64Shadow / planArm64Shadow) is pure: walks of
// hand-built tables over ArrayRam in, Unicorn windows out.
import t from 'tap';
import { phys, size } from '../../../loader/addr.js';
import { KERNBASE as KERNBASE_AMD64 } from '../../../loader/arch/amd64/layout.js';
import { KERNBASE as KERNBASE_ARM64 } from '../../../loader/arch/arm64/layout.js';
import { walkArm64 } from '../../../machine/arm64-walker.js';
import { MAX_SHADOW_WINDOWS, planAmd64Shadow, planArm64Shadow } from '../../../machine/cpu/index.js';
import { ArrayRam, type RamRegion } from '../../../loader/memory/guest-ram.js';
import { walkX86 } from '../../../machine/x86-walker.js';
import { throwsCode } from '../../helpers/errors.js';
import { Arm64Tables, TEST_TCR, X86Tables } from './tables.js';
import { MachineCode } from '../../../machine/errors.js';

const K4 = 0x1000n;
const M2 = 0x20_0000n;
const short = (ws: readonly { va: bigint; pa: bigint; size: bigint }[]): [bigint, bigint, bigint][] =>
  ws.map((w) => [w.va, w.pa, w.size]);

t.test('amd64: one window per RAM run (split at region ends), plus the table pages at their PAs', (t) => {
  const regions: RamRegion[] = [
    { base: phys(0), size: size(0x40_0000) },
    { base: phys(0x40_0000), size: size(0x40_0000) },
  ];
  const ram = new ArrayRam(regions);
  const tb = new X86Tables(ram, 0x70_0000n, 0x78_0000n);
  tb.map(0x20_0000n, 0x20_0000n, M2, { pageSize: M2 }); // identity
  tb.map(KERNBASE_AMD64 + M2, 0x3f_f000n, 2n * K4); // crosses from region 0 into region 1
  tb.map(0x1_0000_0000n, 0x9000_0000n, K4); // not RAM: translation only
  const plan = planAmd64Shadow(regions, walkX86(ram, { cr3: tb.cr3 }));
  t.equal(plan.mode, 'shadow');
  t.same(short(plan.translation), [
    [0x20_0000n, 0x20_0000n, M2],
    [0x1_0000_0000n, 0x9000_0000n, K4],
    [KERNBASE_AMD64 + M2, 0x3f_f000n, 2n * K4],
  ]);
  const tables = plan.windows.filter((w) => w.va >= 0x70_0000n && w.va < 0x78_0000n);
  t.ok(tables.length > 0 && tables.every((w) => (w.va as bigint) === (w.pa as bigint)), 'table pages identity');
  t.same(short(plan.windows.filter((w) => w.va < 0x70_0000n || w.va >= 0x78_0000n)), [
    [0x20_0000n, 0x20_0000n, M2],
    [KERNBASE_AMD64 + M2, 0x3f_f000n, K4],
    [KERNBASE_AMD64 + M2 + K4, 0x40_0000n, K4],
  ]);
  t.end();
});

t.test('CPU_SHADOW: a table page whose PA is a VA the tables map elsewhere; too many windows', (t) => {
  const regions: RamRegion[] = [{ base: phys(0), size: size(0x80_0000) }];
  const ram = new ArrayRam(regions);
  const tb = new X86Tables(ram, 0x70_0000n, 0x78_0000n);
  tb.map(0x60_0000n, 0x10_0000n, K4);
  t.doesNotThrow(() => planAmd64Shadow(regions, walkX86(ram, { cr3: tb.cr3 })), 'good fixture');
  tb.map(tb.cr3, 0x10_0000n, K4); // the PML4's own PA, as a VA, now points elsewhere
  throwsCode(t, () => planAmd64Shadow(regions, walkX86(ram, { cr3: tb.cr3 })), MachineCode.CpuShadow, 'conflict');
  const tb2 = new X86Tables(ram, 0x78_0000n, 0x80_0000n);
  for (let i = 0n; i <= BigInt(MAX_SHADOW_WINDOWS); i++) tb2.map(0x4000_0000n + i * 2n * K4, i * K4, K4);
  throwsCode(t, () => planAmd64Shadow(regions, walkX86(ram, { cr3: tb2.cr3 })), MachineCode.CpuShadow, 'too many');
  t.end();
});

t.test('arm64: RAM stays at its PA; high runs become aliases; low VA != PA runs are collisions', (t) => {
  const RAM = 0x4000_0000n;
  const regions: RamRegion[] = [{ base: phys(RAM), size: size(0x80_0000) }];
  const ram = new ArrayRam(regions);
  const tb = new Arm64Tables(ram, RAM + 0x70_0000n, RAM + 0x80_0000n);
  tb.map(RAM, RAM, M2, { block: M2 });
  tb.map(KERNBASE_ARM64, RAM + 0x20_0000n, 4n * K4);
  tb.map(RAM + 0x40_0000n, RAM + 0x10_0000n, K4); // low VA inside RAM, other PA
  tb.map(0x20_0000n, 0x0900_0000n, K4, { attr: 1n }); // the PL011 at a low VA
  const plan = planArm64Shadow(regions, walkArm64(ram, { tcr: TEST_TCR, ttbr0: tb.ttbr0, ttbr1: tb.ttbr1 }), {
    base: 0x0900_0000n,
    size: 0x1000n,
  });
  t.same(short(plan.windows), [
    [0x20_0000n, 0x0900_0000n, 0x1000n],
    [RAM, RAM, 0x80_0000n],
    [KERNBASE_ARM64, RAM + 0x20_0000n, 4n * K4],
  ]);
  t.same(short(plan.collisions), [[RAM + 0x40_0000n, RAM + 0x10_0000n, K4]]);
  t.end();
});
