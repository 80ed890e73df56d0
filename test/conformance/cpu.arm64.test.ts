// The arm64 CPU (machine/cpu.ts over native/cpu.cc, Unicorn 2.0.1) at EL1 with the MMU on,
// running code assembled by aarch64-linux-gnu-as (binutils; label offsets from
// aarch64-linux-gnu-nm) on stage-1 tables built by test/unit/machine/tables.ts.
import t from 'tap';
import { phys, size } from '../../loader/addr.js';
import { KERNBASE } from '../../loader/arch/arm64/layout.js';
import { sym } from '../unit/machine/asm.js';
import { ARM64, arm64Machine, cpuTestOptions, K4, u64 } from '../unit/machine/machines.js';
import { Arm64Tables, readU64, TEST_MAIR, TEST_SCTLR_MMU, TEST_TCR } from '../unit/machine/tables.js';

const OPTS = cpuTestOptions('arm64');
const LIMITS = { maxInstructions: 100_000, timeoutMs: 5_000 } as const;
const ODD_PA = ARM64.ram + 0x123_4000n; // not the linear KERNBASE default

t.test('MMU on: code at KERNBASE through TTBR1 touches the PA its descriptors name', OPTS, (t) => {
  const m = arm64Machine();
  m.tables.map(KERNBASE, ODD_PA, 4n * K4);
  m.ram.write(phys(ODD_PA + 0x18n), u64(0xfeed_f00dn));
  const a = m.load(
    ODD_PA + 0x800n,
    `
    str x1, [x0, #0x10]
    ldr x2, [x0, #0x18]
    adr x3, here
  here:
    mrs x4, CurrentEL
    tlbi vmalle1
    dsb ish
    isb
    wfi
  `,
  );
  m.cpu.setReg('x0', KERNBASE);
  m.cpu.setReg('x1', 0x1122_3344_5566_7788n);
  const r = m.cpu.run({ start: KERNBASE + 0x800n, ...LIMITS });
  t.equal(r.kind, 'halted');
  t.equal(r.pc, KERNBASE + 0x800n + BigInt(a.bytes.length));
  t.equal(r.executed, 8);
  t.equal(m.cpu.reg('x2'), 0xfeed_f00dn, 'read through TTBR1 came from the odd PA');
  t.equal(m.cpu.reg('x3'), KERNBASE + 0x800n + sym(a, 'here'), 'adr sees the VA');
  t.equal(m.cpu.reg('x4'), 4n, 'CurrentEL = EL1');
  t.equal(m.cpu.reg('currentel'), 4n);
  t.equal(readU64(m.ram, ODD_PA + 0x10n), 0x1122_3344_5566_7788n, 'write landed at the odd PA');
  t.ok(
    m.cpu.aliases().some((w) => w.va === KERNBASE && w.pa === ODD_PA),
    'the shadow region at KERNBASE aliases the odd PA',
  );
  m.close();
  t.end();
});

t.test('TTBR1 switched by the guest: the new mapping is usable at the next instruction', OPTS, (t) => {
  const m = arm64Machine();
  const b = new Arm64Tables(m.ram, ARM64.ram + 0x20_0000n, ARM64.ram + 0x30_0000n);
  const HV = KERNBASE + 0x4000_0000n; // only table B's TTBR1 maps it
  b.map(HV, ARM64.ram + 0x160_0000n, K4);
  m.ram.write(phys(ARM64.ram + 0x160_0008n), u64(0xabcdn));
  m.load(ARM64.code, 'msr ttbr1_el1, x0\n isb\n tlbi vmalle1\n dsb ish\n isb\n ldr x1, [x2, #8]\n wfi');
  m.cpu.setReg('x0', b.ttbr1);
  m.cpu.setReg('x2', HV);
  const r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.equal(r.kind, 'halted');
  t.equal(m.cpu.reg('x1'), 0xabcdn);
  t.equal(m.cpu.reg('ttbr1_el1'), b.ttbr1);
  m.close();
  t.end();
});

t.test('the guest turns the MMU on and off: the shadow follows SCTLR_EL1', OPTS, (t) => {
  const m = arm64Machine({ mmu: false });
  m.tables.map(KERNBASE, ODD_PA, K4);
  const MMU_OFF = TEST_SCTLR_MMU & ~1n;
  m.cpu.setupEl1({ mair: TEST_MAIR, tcr: TEST_TCR, ttbr0: m.tables.ttbr0, ttbr1: m.tables.ttbr1, sctlr: MMU_OFF });
  m.load(ODD_PA, 'mov x1, #42\n br x6');
  const a = m.load(
    ARM64.code,
    `
    mrs x0, sctlr_el1
    orr x0, x0, #1
    msr sctlr_el1, x0
    isb
    br x5
  back:
    mrs x0, sctlr_el1
    bic x0, x0, #1
    msr sctlr_el1, x0
    isb
  done:
    wfi
  `,
  );
  m.cpu.setReg('x5', KERNBASE);
  m.cpu.setReg('x6', ARM64.code + sym(a, 'back'));
  const r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.same([r.kind, r.pc], ['halted', ARM64.code + sym(a, 'done') + 4n]);
  t.equal(m.cpu.reg('x1'), 42n, 'ran at KERNBASE once the MMU was on');
  t.equal(m.cpu.reg('sctlr_el1') & 1n, 0n);
  t.equal(m.cpu.shadowPlan?.mode, 'identity', 'MMU off again: the map is RAM at its PA');
  m.close();
  t.end();
});

t.test('wfi, brk, svc', OPTS, (t) => {
  const m = arm64Machine();
  const a = m.load(ARM64.code, 'nop\n svc #0\n after_svc: nop\n trap: brk #0\n wfi');
  let r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.equal(r.kind, 'exception');
  if (r.kind === 'exception') t.same([r.vector, r.name, r.pc], [2, 'svc', ARM64.code + sym(a, 'after_svc')]);
  r = m.cpu.run(LIMITS);
  t.equal(r.kind, 'exception');
  if (r.kind === 'exception') t.same([r.vector, r.name, r.pc], [7, 'brk', ARM64.code + sym(a, 'trap')]);
  t.equal(r.executed, 1, 'brk leaves the PC on itself and is not counted');
  r = m.cpu.run({ start: ARM64.code + sym(a, 'trap') + 4n, ...LIMITS });
  t.same([r.kind, r.pc], ['halted', ARM64.code + sym(a, 'trap') + 8n]);
  m.close();
  t.end();
});

t.test('never a hang: b . stops at the instruction limit or the time limit', OPTS, (t) => {
  const m = arm64Machine();
  m.load(ARM64.code, 'spin: b spin');
  let r = m.cpu.run({ start: ARM64.code, maxInstructions: 5_000, timeoutMs: 5_000 });
  t.same([r.kind, r.executed, r.pc], ['limit', 5_000, ARM64.code]);
  const t0 = Date.now();
  r = m.cpu.run({ start: ARM64.code, maxInstructions: Number.MAX_SAFE_INTEGER, timeoutMs: 150 });
  t.equal(r.kind, 'timeout');
  t.ok(r.elapsedMs >= 150 && Date.now() - t0 < 2_000);
  m.close();
  t.end();
});

t.test('faults: unmapped fetch (MMU off); translation faults as aborts (MMU on)', OPTS, (t) => {
  const flat = arm64Machine({ mmu: false });
  flat.load(ARM64.code, 'br x0');
  flat.cpu.setReg('x0', 0x1000n);
  let r = flat.cpu.run({ start: ARM64.code, ...LIMITS });
  t.equal(r.kind, 'unmapped');
  if (r.kind === 'unmapped') t.same([r.access, r.address], ['fetch', 0x1000n]);
  flat.close();

  const m = arm64Machine();
  // A 2 MiB hole in the identity map: RAM is there (a Unicorn region), the tables are not.
  const HOLE = ARM64.ram + 0x200_0000n;
  m.tables.setEntry(HOLE, 2, 0n);
  const a = m.load(ARM64.code, 'ldr x1, [x0]\n ld2: ldr x1, [x2]\n br x3');
  m.cpu.setReg('x0', HOLE);
  m.cpu.setReg('x2', KERNBASE + 0x7000_0000n); // no region and no mapping
  m.cpu.setReg('x3', KERNBASE + 0x7100_0000n);
  r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.equal(r.kind, 'exception', 'the MMU faults on a region the tables do not map');
  if (r.kind === 'exception') t.same([r.vector, r.name, r.pc], [4, 'data-abort', ARM64.code]);
  r = m.cpu.run({ start: ARM64.code + sym(a, 'ld2'), ...LIMITS });
  t.equal(r.kind, 'exception', 'a VA without region or mapping is reported as the MMU would');
  if (r.kind === 'exception') t.same([r.vector, r.name, r.pc], [4, 'data-abort', ARM64.code + sym(a, 'ld2')]);
  r = m.cpu.run({ start: ARM64.code + sym(a, 'ld2') + 4n, ...LIMITS });
  t.equal(r.kind, 'exception');
  if (r.kind === 'exception') t.same([r.vector, r.name, r.pc], [3, 'prefetch-abort', KERNBASE + 0x7100_0000n]);
  m.close();
  t.end();
});

t.test('write-protect holds through the identity region and through the TTBR1 alias', OPTS, (t) => {
  const m = arm64Machine();
  const P = ARM64.ram + 0x60_0000n;
  m.tables.map(KERNBASE, P, 2n * K4);
  const a = m.load(ARM64.code, 'str x1, [x0, #8]\n st2: str x1, [x2, #0x20]\n wfi');
  m.cpu.setReg('x0', P);
  m.cpu.setReg('x2', KERNBASE + K4);
  m.cpu.setReg('x1', 7n);
  m.cpu.protect(phys(P), size(2n * K4), 'ro');
  let r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.equal(r.kind, 'write-protect');
  if (r.kind === 'write-protect') t.same([r.pc, r.address, r.pa, r.size, r.value], [ARM64.code, P + 8n, P + 8n, 8, 7n]);
  r = m.cpu.run({ start: ARM64.code + sym(a, 'st2'), ...LIMITS });
  t.equal(r.kind, 'write-protect', 'not silently dropped (spec Q11)');
  if (r.kind === 'write-protect') {
    t.same([r.pc, r.address, r.pa], [ARM64.code + sym(a, 'st2'), KERNBASE + K4 + 0x20n, P + K4 + 0x20n]);
  }
  t.same([readU64(m.ram, P + 8n), readU64(m.ram, P + K4 + 0x20n)], [0n, 0n], 'nothing landed');
  m.cpu.protect(phys(P), size(2n * K4), 'rw');
  r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.equal(r.kind, 'halted');
  t.same([readU64(m.ram, P + 8n), readU64(m.ram, P + K4 + 0x20n)], [7n, 7n]);
  m.close();
  t.end();
});

t.test('PL011: DR writes become console lines; FR reads TX empty; ID registers read', OPTS, (t) => {
  const m = arm64Machine();
  m.load(
    ARM64.code,
    `
    ldr w5, [x9, #0x18]
    ldr w6, [x9, #0xfe0]
    adr x1, msg
  next:
    ldrb w2, [x1], #1
    cbz w2, done
    strb w2, [x9]
    b next
  done:
    wfi
  msg:
    .asciz "kboot arm64\\nline 2\\n"
  `,
  );
  m.cpu.setReg('x9', ARM64.pl011);
  const r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.equal(r.kind, 'halted');
  t.equal(m.cpu.reg('x5'), 0x90n, 'FR: TXFE | RXFE');
  t.equal(m.cpu.reg('x6'), 0x11n, 'UARTPeriphID0');
  m.cpu.takeConsole();
  t.same(m.cpu.console.lines, ['kboot arm64', 'line 2']);
  m.close();
  t.end();
});

t.test('MMU off: RAM at its PA; a high VA is not a region', OPTS, (t) => {
  const m = arm64Machine({ mmu: false });
  m.load(ARM64.code, 'ldr x1, [x0]\n wfi');
  m.ram.write(phys(ARM64.ram + 0x30_0000n), u64(0x99n));
  m.cpu.setReg('x0', ARM64.ram + 0x30_0000n);
  const r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.same([r.kind, m.cpu.reg('x1')], ['halted', 0x99n]);
  t.equal(m.cpu.shadowPlan?.mode, 'identity');
  t.same(
    m.cpu.mappings().windows.map((w) => [w.va, w.pa, w.size, w.device]),
    [
      [ARM64.pl011, ARM64.pl011, K4, true],
      [ARM64.ram, ARM64.ram, ARM64.ramSize, false],
    ],
  );
  m.close();
  t.end();
});
