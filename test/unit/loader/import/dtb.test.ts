// The DTB importer on real board device trees (test/fixtures/dtb: Debian's arm64 kernel
// package and qemu-system-aarch64 dumpdtb, see test/fixtures/README.md): every board becomes
// a schema-valid profile, and the specific shapes give the answers issue 14 asks for —
// several /memory nodes, a multi-range reg, a /memory of size 0, GICv2 boards, several ITS,
// no /memory, reg translated through bus `ranges`, reserved-memory kinds, console kinds.
// Facts were read off `dtc -I dtb -O dts` of each file (test/external/machine-import.test.ts
// checks the memory nodes against dtc for every fixture).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { FdtCode } from '../../../../loader/handoff/errors.js';
import { parseFdt, readMemoryRanges } from '../../../../loader/handoff/fdt/index.js';
import {
  buildImportedProfile,
  importDtb,
  rescueRules,
  ImportCode,
  type MachineFacts,
} from '../../../../loader/import/index.js';
import { PlanCode } from '../../../../loader/errors.js';
import { packagePath } from '../../../../loader/paths.js';
import { planRescue } from '../../../../loader/plan/rescue-plan.js';
import { parseElf } from '../../../../loader/elf/reader.js';
import { validateJson } from '../../../../loader/schema.js';
import { buildProbeKernel } from '../../../../kernels/probe/index.js';
import { throwsCode } from '../../../helpers/errors.js';
import { BOARD_MEMORY } from '../../../helpers/boards.js';

const dtb = (name: string): Buffer => readFileSync(packagePath('test', 'fixtures', 'dtb', `${name}.dtb`));
const G = 1n << 30n;

function imported(name: string): { facts: MachineFacts; profile: ReturnType<typeof buildImportedProfile> } {
  const memory = BOARD_MEMORY[name];
  const facts = importDtb(dtb(name), memory === undefined ? {} : { memory });
  return { facts, profile: buildImportedProfile(facts, { name: name.toLowerCase(), command: 'test', inputs: [] }) };
}

const probe = parseElf(buildProbeKernel('arm64', { mode: 'rescue' }));

t.test('every fixture board imports to a schema-valid profile', async (t) => {
  const vendors = new Set<string>();
  for (const f of [
    'allwinner_sun50i-a64-pine64-plus',
    'amd_amd-overdrive-rev-b1',
    'amlogic_meson-g12b-odroid-n2',
    'apm_apm-mustang',
    'arm_fvp-base-revc',
    'arm_juno-r2',
    'broadcom_bcm2711-rpi-4-b',
    'cavium_thunder-88xx',
    'freescale_imx8mq-evk',
    'hisilicon_hip07-d05',
    'marvell_armada-8040-mcbin',
    'rockchip_rk3399-rockpro64',
    'xilinx_zynqmp-zcu102-rev1.0',
  ]) {
    const { profile } = imported(f);
    t.same(validateJson('machine', profile.json), [], `${f}: valid against machine.schema.json`);
    t.equal(profile.profile.arch, 'arm64');
    t.equal(profile.profile.firmware, 'fdt');
    t.ok(profile.profile.dtb !== undefined, `${f}: the board DTB travels with the profile`);
    vendors.add(f.split('_')[0] ?? f);
  }
  t.ok(vendors.size >= 8, `${vendors.size} vendors`);
});

t.test('several /memory nodes: all RAM is read, and the rescue rewrite is refused', async (t) => {
  const { facts, profile } = imported('qemu-virt-numa');
  t.same(
    facts.memoryNodes.map((n) => n.path),
    ['/memory@140000000', '/memory@40000000'],
    'both nodes, in tree order (QEMU lists the second NUMA node first)',
  );
  t.same(
    profile.profile.ram.map((r) => [r.start, r.size]),
    [[0x4000_0000n, 8n * G]],
    '4 GiB + 4 GiB, adjacent: one RAM range',
  );
  const rule = rescueRules(profile.profile).rules.find((r) => r.rule === 'single-memory-node');
  t.equal(rule?.status, 'fails');
  const e = throwsCode(
    t,
    () => planRescue({ kernel: probe, kernelName: 'probe', profile: profile.profile }),
    PlanCode.FirmwareMap,
  );
  t.same(e?.details['nodes'], ['memory@40000000'], 'names the node that would hand host RAM to the rescue kernel');
});

t.test('a /memory reg with two ranges: -FDT_ERR_NOSPACE, reported for Juno, FVP and ZCU102', async (t) => {
  for (const f of ['arm_juno-r2', 'arm_fvp-base-revc', 'xilinx_zynqmp-zcu102-rev1.0']) {
    const { facts, profile } = imported(f);
    t.equal(facts.memoryNodes.length, 1, `${f}: one node`);
    t.equal(facts.memoryNodes[0]?.regBytes, 32, `${f}: two 16-byte pairs`);
    t.equal(rescueRules(profile.profile).rules.find((r) => r.rule === 'memory-reg-inplace')?.status, 'fails');
    const e = throwsCode(
      t,
      () => planRescue({ kernel: probe, kernelName: 'probe', profile: profile.profile }),
      PlanCode.FirmwareMap,
      `${f}: plan --crash names the rule`,
    );
    t.same([e?.details['regLength'], e?.details['needed']], [32, 16]);
  }
  const juno = imported('arm_juno-r2').facts;
  t.same(
    juno.ram.map((r) => [r.start, r.size]),
    [
      [0x8000_0000n, 0x7f00_0000n],
      [0x8_8000_0000n, 0x1_8000_0000n],
    ],
  );
});

t.test('a /memory of size 0 (Raspberry Pi 4) and no /memory at all name --memory', async (t) => {
  for (const f of [
    'broadcom_bcm2711-rpi-4-b',
    'rockchip_rk3399-rockpro64',
    'allwinner_sun50i-a64-pine64-plus',
    'amd_amd-overdrive-rev-b1',
  ]) {
    const e = throwsCode(t, () => importDtb(dtb(f)), ImportCode.NoMemory, f);
    t.equal(e?.details['hint'], '--memory');
  }
  const { facts, profile } = imported('broadcom_bcm2711-rpi-4-b');
  t.same(
    facts.assumptions.map((a) => a.code),
    ['MEMORY_FROM_OPTION'],
  );
  const tree = parseFdt(profile.profile.dtb ?? new Uint8Array());
  t.same(readMemoryRanges(tree), [{ start: 0n, size: 0x3b40_0000n }], "the firmware's fill, in the board's 2/1 cells");
  t.same(facts.memReserve, [{ start: 0n, size: 0x1000n }], '/memreserve/ of the spin table page');
  t.ok(
    profile.profile.reserved.some((r) => r.range.start === 0n && r.range.size === 0x1000n),
    'and it is reserved in the profile',
  );
  t.ok(
    facts.reservedMemory.some(
      (r) => r.path === '/reserved-memory/linux,cma' && r.freebsd === 'not-placeable' && r.dynamicSize === 0x400_0000n,
    ),
    'CMA: dynamic, size 64 MiB',
  );
  t.ok(facts.reservedMemory.some((r) => r.path === '/reserved-memory/nvram@0' && r.freebsd === 'disabled'));
  // the firmware cannot put 4 GiB into 1-cell sizes
  throwsCode(
    t,
    () => importDtb(dtb('broadcom_bcm2711-rpi-4-b'), { memory: [{ start: 0n, size: 4n * G }] }),
    ImportCode.BadRange,
  );
  // several --memory ranges make a multi-range reg: the NOSPACE failure again
  const two = importDtb(dtb('allwinner_sun50i-a64-pine64-plus'), {
    memory: [
      { start: 0x4000_0000n, size: G },
      { start: 0x8000_0000n, size: G },
    ],
  });
  t.equal(two.memoryNodes[0]?.regBytes, 16, '1/1 cells: two 8-byte pairs');
});

t.test('GICv2 boards, with addresses translated through bus ranges', async (t) => {
  const rpi = imported('broadcom_bcm2711-rpi-4-b').facts;
  t.equal(rpi.gic?.version, 'v2');
  t.equal(rpi.gic?.compatible, 'arm,gic-400');
  t.equal(rpi.gic?.distributor.start, 0xff84_1000n, '/soc ranges map 0x40000000 to 0xff800000');
  t.equal(rpi.uart?.base, 0xfe21_5040n, 'serial1 (the mini UART) at 0x7e215040 on the VPU bus is 0xfe215040');
  t.equal(rpi.uart?.kind, 'other');
  const juno = imported('arm_juno-r2');
  t.equal(juno.facts.gic?.v2m.length, 4, 'four GICv2m frames');
  t.equal(juno.profile.profile.gic?.version, 'v2');
  t.same(juno.profile.profile.gic?.its, []);
  t.equal(rescueRules(juno.profile.profile).rules.find((r) => r.rule === 'its-tables-live')?.status, 'ok');
  const qemu = imported('qemu-virt-gicv2').facts;
  t.equal(qemu.gic?.compatible, 'arm,cortex-a15-gic');
  t.equal(qemu.gic?.cpuInterface?.start, 0x801_0000n);
});

t.test('several ITS: HiSilicon D05 (8 ITS, 4 redistributor regions, 64 CPUs)', async (t) => {
  const { facts, profile } = imported('hisilicon_hip07-d05');
  t.equal(facts.cpus, 64);
  t.same(
    facts.gic?.its.map((i) => i.start),
    [
      0x4c00_0000n,
      0x6c00_0000n,
      0xc600_0000n,
      0x8_c600_0000n,
      0x400_4c00_0000n,
      0x400_6c00_0000n,
      0x400_c600_0000n,
      0x408_c600_0000n,
    ],
  );
  t.equal(facts.gic?.redistributors.length, 4);
  const p = profile.profile;
  t.equal(p.gic?.its.length, 8);
  t.equal(p.gic?.tables.length, 1 + 64 + 8 * 3, 'LPI conf, 64 pending, device/collection/cmdq per ITS');
  t.ok(profile.assumptions.some((a) => a.code === 'LPI_TABLES_PLACED'));
  t.equal(rescueRules(p).rules.find((r) => r.rule === 'its-tables-live')?.status, 'warning');
  const plan = planRescue({ kernel: probe, kernelName: 'probe', profile: p, itsHandoff: 'none' });
  t.ok(plan.warnings.some((w) => w.code === 'ITS_TABLES_LIVE'));
  for (const table of p.gic?.tables ?? []) {
    t.notOk(
      table.range.start < plan.region.start + plan.region.size &&
        plan.region.start < table.range.start + table.range.size,
      'the reservation avoids every table',
    );
  }
});

t.test('consoles: PL011 modelled, 16550 and others reported, none assumed', async (t) => {
  const cavium = imported('cavium_thunder-88xx');
  t.same(
    [cavium.facts.uart?.kind, cavium.facts.uart?.modelled, cavium.facts.uart?.base],
    ['pl011', true, 0x87e0_2400_0000n],
    'the serial0 alias (no stdout-path)',
  );
  const pine = imported('allwinner_sun50i-a64-pine64-plus');
  t.same(
    [pine.facts.uart?.kind, pine.facts.uart?.regShift, pine.facts.uart?.regIoWidth, pine.facts.uart?.modelled],
    ['ns16550', 2, 4, false],
  );
  t.ok(pine.profile.assumptions.some((a) => a.code === 'UART_NOT_MODELLED'));
  t.equal(pine.profile.profile.uart.base, 0x1c2_8000n, "kboot's PL011 sits at the board UART's address");
  const mustang = imported('apm_apm-mustang');
  t.equal(mustang.facts.uart, undefined, 'no stdout-path, no serial0 alias');
  t.ok(mustang.profile.assumptions.some((a) => a.code === 'UART_ASSUMED'));
  const fvp = imported('arm_fvp-base-revc').facts;
  t.equal(fvp.uart?.base, 0x1c09_0000n, 'through three levels of bus ranges');
});

t.test('reserved memory: no-map is reserved, the rest is FreeBSD RAM', async (t) => {
  const { facts, profile } = imported('amlogic_meson-g12b-odroid-n2');
  t.same(
    facts.reservedMemory.map((r) => [r.path, r.freebsd]),
    [
      ['/reserved-memory/secmon@5000000', 'excluded'],
      ['/reserved-memory/secmon@5300000', 'excluded'],
      ['/reserved-memory/linux,cma', 'not-placeable'],
    ],
  );
  t.same(
    profile.profile.reserved.map((r) => [r.range.start, r.range.size]),
    [
      [0x500_0000n, 0x30_0000n],
      [0x530_0000n, 0x200_0000n],
    ],
  );
});

t.test('blobs that are not device trees are FdtErrors', async (t) => {
  const good = dtb('cavium_thunder-88xx');
  throwsCode(t, () => importDtb(new Uint8Array(64)), FdtCode.BadMagic);
  throwsCode(t, () => importDtb(good.subarray(0, 20)), FdtCode.Truncated);
  const lie = Buffer.from(good);
  lie.writeUInt32BE(good.length * 4, 4); // totalsize larger than the file
  throwsCode(t, () => importDtb(lie), FdtCode.Truncated);
});
