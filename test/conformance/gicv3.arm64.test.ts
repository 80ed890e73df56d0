// The GICv3 as MMIO of the arm64 CPU (machine/devices/gicv3.ts through native/cpu_engine.cc's
// modelled MMIO ranges): guest code assembled by aarch64-linux-gnu-as runs at EL1 with the MMU
// on (identity-mapped device pages) and reads and writes the redistributor and ITS registers.
import t from 'tap';
import { Gicv3, GIC_BITS, GIC_REG } from '../../machine/devices/gicv3.js';
import { throwsCode } from '../helpers/errors.js';
import { ARM64, arm64Machine, cpuTestOptions } from '../unit/machine/machines.js';

const OPTS = cpuTestOptions('arm64');
const LIMITS = { maxInstructions: 10_000, timeoutMs: 5_000 } as const;
const GICD = 0x0800_0000n;
const ITS = 0x0808_0000n;
const GICR = 0x080a_0000n;

function gicMachine(): { gic: Gicv3; m: ReturnType<typeof arm64Machine> } {
  const gic = new Gicv3({ distributor: GICD, redistributors: [{ start: GICR, size: 0x40000n }], its: [ITS], cpus: 2 });
  const m = arm64Machine({ mmio: gic });
  for (const r of gic.ranges()) m.tables.map(r.base, r.base, r.size, { attr: 1n });
  return { gic, m };
}

t.test('GICR_CTLR.EnableLPIs: guest code sets it, then clears it, and reads it still set', OPTS, (t) => {
  const { gic, m } = gicMachine();
  m.load(
    ARM64.code,
    `
    mov w1, #1
    str w1, [x0]          // GICR_CTLR = EnableLPIs
    str wzr, [x0]         // try to clear it
    ldr w2, [x0]          // GICR_CTLR
    ldr x3, [x0, #8]      // GICR_TYPER
    add x4, x0, #0x20000  // the second redistributor
    ldr x5, [x4, #8]
    ldr w6, [x4]          // its GICR_CTLR: untouched
    wfi
  `,
  );
  m.cpu.setReg('x0', GICR);
  const r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.equal(r.kind, 'halted');
  t.equal(m.cpu.reg('x2'), 1n, 'EnableLPIs stayed set');
  t.equal(m.cpu.reg('x3') & GIC_BITS.GICR_TYPER_PLPIS, 1n, 'GICR_TYPER.PLPIS');
  t.equal(m.cpu.reg('x3') & GIC_BITS.GICR_TYPER_LAST, 0n, 'CPU 0 is not the last redistributor');
  t.equal((m.cpu.reg('x5') >> 8n) & 0xfffn, 1n, 'CPU 1 Processor_Number');
  t.equal(m.cpu.reg('x5') & GIC_BITS.GICR_TYPER_LAST, GIC_BITS.GICR_TYPER_LAST, 'CPU 1 is the last');
  t.equal(m.cpu.reg('x6'), 0n);
  t.ok(gic.events.some((e) => e.kind === 'ignored-write' && e.frame === 'gicr0' && e.offset === GIC_REG.GICR_CTLR));
  m.close();
  t.end();
});

t.test('PROPBASER/PENDBASER: 64-bit and 32-bit halves; frozen once LPIs are enabled', OPTS, (t) => {
  const { gic, m } = gicMachine();
  m.load(
    ARM64.code,
    `
    str x1, [x0, #0x70]   // GICR_PROPBASER
    str w2, [x0, #0x78]   // GICR_PENDBASER low half
    str w3, [x0, #0x7c]   // high half
    mov w4, #1
    str w4, [x0]          // EnableLPIs
    str xzr, [x0, #0x70]  // ignored now
    ldr x5, [x0, #0x70]
    ldr x6, [x0, #0x78]
    ldr w7, [x0, #0x74]   // PROPBASER high half
    wfi
  `,
  );
  m.cpu.setReg('x0', GICR);
  m.cpu.setReg('x1', 0x4010_0000n | (1n << 10n) | (5n << 7n) | 15n);
  m.cpu.setReg('x2', 0x4020_0000n);
  m.cpu.setReg('x3', 0x1n);
  t.equal(m.cpu.run({ start: ARM64.code, ...LIMITS }).kind, 'halted');
  t.equal(m.cpu.reg('x5'), 0x4010_0000n | (1n << 10n) | (5n << 7n) | 15n);
  t.equal(m.cpu.reg('x6'), 0x1_4020_0000n);
  t.equal(m.cpu.reg('x7'), 0n);
  t.same(
    gic.liveLpiTables().map((l) => [l.kind, l.pa]),
    [
      ['lpi-conf', 0x4010_0000n],
      ['lpi-pend', 0x1_4020_0000n],
    ],
  );
  m.close();
  t.end();
});

t.test('the ITS: BASER types, CBASER, CWRITER consumed into CREADR once enabled', OPTS, (t) => {
  const { m } = gicMachine();
  m.load(
    ARM64.code,
    `
    ldr x1, [x0, #0x100]  // GITS_BASER0
    ldr x2, [x0, #0x108]  // GITS_BASER1
    str x3, [x0, #0x80]   // GITS_CBASER
    mov x4, #0x40
    str x4, [x0, #0x88]   // GITS_CWRITER (disabled: not consumed)
    ldr x5, [x0, #0x90]
    mov w4, #1
    str w4, [x0]          // GITS_CTLR.Enabled
    ldr x6, [x0, #0x90]
    ldr w7, [x0]
    wfi
  `,
  );
  m.cpu.setReg('x0', ITS);
  m.cpu.setReg('x3', GIC_BITS.VALID | 0x4030_0000n | 15n);
  t.equal(m.cpu.run({ start: ARM64.code, ...LIMITS }).kind, 'halted');
  t.equal((m.cpu.reg('x1') >> 56n) & 7n, GIC_BITS.BASER_TYPE_DEV, 'BASER0 is the device table');
  t.equal((m.cpu.reg('x2') >> 56n) & 7n, GIC_BITS.BASER_TYPE_IC, 'BASER1 is the collection table');
  t.equal(m.cpu.reg('x5'), 0n, 'a disabled ITS consumes nothing');
  t.equal(m.cpu.reg('x6'), 0x40n, 'CREADR caught up with CWRITER');
  t.equal(m.cpu.reg('x7'), 1n, 'Enabled, not quiescent');
  m.close();
  t.end();
});

t.test('a read of an unimplemented GIC register stops the run with DEVICE_REGISTER and is recorded', OPTS, (t) => {
  const { gic, m } = gicMachine();
  m.load(ARM64.code, 'ldr w1, [x0, #0x20]\n wfi');
  m.cpu.setReg('x0', GICR);
  const e = throwsCode(t, () => m.cpu.run({ start: ARM64.code, ...LIMITS }), 'DEVICE_REGISTER');
  t.same(e?.details['frame'], 'gicr0');
  t.equal(gic.events.length, 1);
  t.equal(gic.events[0]?.kind, 'unimplemented-read');
  t.equal(gic.events[0]?.offset, 0x20n);
  // The CPU stays usable after the device failed a run.
  m.cpu.setReg('x0', GICR + 0xffe8n);
  m.load(ARM64.code + 0x100n, 'ldr w1, [x0]\n wfi');
  t.equal(m.cpu.run({ start: ARM64.code + 0x100n, ...LIMITS }).kind, 'halted');
  t.equal(m.cpu.reg('x1'), 0x3bn, 'GICR_PIDR2: ArchRev 3');
  m.close();
  t.end();
});

t.test(
  'non-strict: an unimplemented read is recorded and reads zero; a write to a read-only register is recorded',
  OPTS,
  (t) => {
    const gic = new Gicv3(
      { distributor: GICD, redistributors: [{ start: GICR, size: 0x20000n }], its: [], cpus: 1 },
      {
        strict: false,
      },
    );
    t.equal(gic.read(GICD + 0x1000n, 4), 0n);
    gic.write(GICD + GIC_REG.GICD_TYPER, 4, 0n);
    t.same(
      gic.events.map((e) => e.kind),
      ['unimplemented-read', 'unimplemented-write'],
    );
    t.end();
  },
);
