// The lazy shadow (machine/cpu/lazy.ts over native/cpu_memory_map.cc, Unicorn 2.0.1): windows
// appear where the guest touches memory, from the live tables, and go when a watched register
// changes. Code is assembled by GNU as / aarch64-linux-gnu-as; tables are written by
// test/unit/machine/tables.ts from the manuals, independently of kboot's walkers.
import t from 'tap';
import { phys, size } from '../../loader/addr.js';
import { KERNBASE as KERNBASE_ARM64 } from '../../loader/arch/arm64/layout.js';
import { Cpu, type CpuWindow } from '../../machine/cpu/index.js';
import { MAX_LAZY_WINDOWS } from '../../machine/cpu/lazy.js';
import { NativeRam } from '../../machine/native-ram.js';
import { sym } from '../unit/machine/asm.js';
import { AMD64, amd64Machine, ARM64, arm64Machine, cpuTestOptions, K4, M2, u64 } from '../unit/machine/machines.js';
import { Arm64Tables, readU64, TEST_MAIR, TEST_SCTLR_MMU, TEST_TCR, X86Tables } from '../unit/machine/tables.js';
import { assembleWithSymbols } from '../unit/machine/asm.js';

const X86 = cpuTestOptions('amd64');
const A64 = cpuTestOptions('arm64');
const LIMITS = { maxInstructions: 1_000_000, timeoutMs: 10_000 } as const;
const G1 = 0x4000_0000n;

const covering = (ws: readonly CpuWindow[], va: bigint): CpuWindow | undefined =>
  ws.find((w) => va >= w.va && va - w.va < w.size);
const brief = (w: CpuWindow | undefined): [bigint, bigint, bigint] | undefined =>
  w === undefined ? undefined : [w.va, w.pa, w.size];

t.test('amd64: the first touch of a 4 KiB page, a 2 MiB page and a 1 GiB page maps that much, no more', X86, (t) => {
  // 2 GiB of RAM (MAP_NORESERVE: only touched pages cost); tables in [1 MiB, 1.5 MiB).
  const ram = new NativeRam([{ base: phys(0), size: size(2n * G1) }]);
  const tb = new X86Tables(ram, 0x10_0000n, 0x18_0000n);
  tb.map(0n, 0n, 0x100_0000n, { pageSize: M2 }); // code, stack, tables: identity
  const V4 = 0x10_0000_0000n; // two 4 KiB pages, somewhere odd
  const V2 = 0x20_0000_0000n; // one 2 MiB page
  const V1 = 0x40_0000_0000n; // one 1 GiB page at PA 1 GiB
  tb.map(V4, 0x123_4000n, 2n * K4);
  tb.map(V2, 0x140_0000n, M2, { pageSize: M2 });
  tb.map(V1, G1, G1, { pageSize: G1 });
  const far = 0x1234_5678n; // inside the 1 GiB page, in its 146th 2 MiB block
  ram.write(phys(0x123_4000n + K4 + 8n), u64(0x44n));
  ram.write(phys(0x140_0000n + 0x10_0008n), u64(0x22n));
  ram.write(phys(G1 + far), u64(0x11n));
  const cpu = new Cpu('amd64', ram);
  try {
    cpu.setupLongMode({ cr3: phys(tb.cr3), gdtBase: phys(AMD64.gdt) });
    const a = assembleWithSymbols('amd64', 'mov 0x1008(%r8), %rax\n mov 0x100008(%r9), %rbx\n mov (%r10), %rcx\n hlt');
    ram.write(phys(AMD64.code), a.bytes);
    cpu.setReg('r8', V4);
    cpu.setReg('r9', V2);
    cpu.setReg('r10', V1 + far);
    const r = cpu.run({ start: AMD64.code, ...LIMITS });
    t.equal(r.kind, 'halted');
    t.same([cpu.reg('rax'), cpu.reg('rbx'), cpu.reg('rcx')], [0x44n, 0x22n, 0x11n], 'each load read its PA');
    const ws = cpu.mappings().windows;
    t.same(brief(covering(ws, V4 + K4)), [V4, 0x123_4000n, 2n * K4], '4 KiB leaves: the run of pages, not the block');
    t.same(brief(covering(ws, V2)), [V2, 0x140_0000n, M2], '2 MiB leaf: the page');
    const block = (far / M2) * M2;
    t.same(brief(covering(ws, V1 + far)), [V1 + block, G1 + block, M2], '1 GiB leaf: the 2 MiB block touched');
    t.equal(covering(ws, V1), undefined, 'the rest of the 1 GiB page is not mapped');
    t.ok(ws.length < 16, `${ws.length} windows in all`);
  } finally {
    cpu.close();
    ram.close();
  }
  t.end();
});

t.test('amd64: a PTE edited, then a CR3 switch: the old window is gone, the access sees the new PA', X86, (t) => {
  const m = amd64Machine();
  const V = 0x4000_0000n;
  const [A, B] = [0x140_0000n, 0x150_0000n];
  m.tables.map(V, A, K4);
  m.ram.write(phys(A), u64(0xaan));
  m.ram.write(phys(B), u64(0xbbn));
  // A second root sharing every lower table with the first (its PML4 is a copy).
  const root2 = 0x17_0000n;
  m.ram.write(phys(root2), m.ram.read(phys(m.tables.cr3), 4096));
  const pte = m.tables.entryAddr(V, 1);
  m.load(
    AMD64.code,
    `
    mov (%r8), %rax
    mov %rdx, (%rsi)
    mov %rdi, %cr3
    mov (%r8), %rbx
    hlt
  `,
  );
  m.cpu.setReg('r8', V);
  m.cpu.setReg('rsi', pte);
  m.cpu.setReg('rdx', B | 3n);
  m.cpu.setReg('rdi', root2);
  const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.same([r.kind, r.executed], ['halted', 5]);
  t.equal(m.cpu.reg('rax'), 0xaan, 'first read through the old PTE');
  t.equal(m.cpu.reg('rbx'), 0xbbn, 'after the switch, the edited PTE is what counts');
  t.same(brief(covering(m.cpu.mappings().windows, V)), [V, B, K4]);
  m.close();
  t.end();
});

t.test('amd64: faults inside the tables themselves', X86, (t) => {
  t.test("a fetch whose table pages were never mapped: not the guest's fault, CR2 untouched", (t) => {
    const m = amd64Machine();
    // V's PDPT, PD and PT are new pages no window covers (the identity 2 MiB pages do, but the
    // shadow maps only what was touched): Unicorn's walk reads them as zero and raises #PF.
    const V = 0x80_0000_0000n;
    const D = 0x81_0000_0000n;
    m.tables.map(V, 0x140_0000n, K4);
    m.tables.map(D, 0x150_0000n, K4);
    m.load(0x140_0000n, 'mov $7, %r10\n ret');
    const a = m.load(
      AMD64.code,
      `
      call *%r8
      mov (%r9), %rax
      movq $0, (%rsi)
      mov %cr3, %rcx
      mov %rcx, %cr3
    fault:
      mov (%r9), %rbx
      hlt
    `,
    );
    m.cpu.setReg('r8', V);
    m.cpu.setReg('r9', D);
    m.cpu.setReg('rsi', m.tables.entryAddr(D, 1));
    const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
    t.equal(m.cpu.reg('r10'), 7n, 'the call ran the code behind the new tables');
    t.equal(r.kind, 'exception', 'the cleared PTE: Unicorn walks and faults');
    if (r.kind === 'exception') t.same([r.vector, r.name, r.cr2], [14, '#PF', D], 'a #PF, not a #DF');
    t.equal(r.pc, AMD64.code + sym(a, 'fault'));
    t.equal(r.executed, 7);
    m.close();
    t.end();
  });
  t.test('a table the tables put outside RAM: the guest sees #PF with CR2', (t) => {
    const m = amd64Machine();
    const V = 0xc0_0000_0000n;
    m.tables.setEntry(V, 3, 0x8000_0000n | 3n); // the PD of V is at 2 GiB: no RAM there
    m.load(AMD64.code, 'mov $0x1234, %rax\n mov %rax, %cr2\n mov (%r8), %rbx\n hlt');
    m.cpu.setReg('r8', V + 0x18n);
    for (let i = 0; i < 2; i++) {
      const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
      t.equal(r.kind, 'exception');
      if (r.kind === 'exception') t.same([r.vector, r.cr2], [14, V + 0x18n], `run ${i + 1}: #PF every time`);
      t.equal(m.cpu.reg('cr2'), V + 0x18n);
    }
    m.close();
    t.end();
  });
  t.end();
});

t.test(`amd64: touching more than ${MAX_LAZY_WINDOWS} blocks drops the shadow and goes on`, X86, (t) => {
  const ram = new NativeRam([{ base: phys(0), size: size(2n * G1) }]);
  const tb = new X86Tables(ram, 0x10_0000n, 0x18_0000n);
  tb.map(0n, 0n, 2n * G1, { pageSize: M2 });
  const cpu = new Cpu('amd64', ram);
  try {
    cpu.setupLongMode({ cr3: phys(tb.cr3), gdtBase: phys(AMD64.gdt) });
    // one byte in each of 600 2 MiB blocks from 64 MiB
    const a = assembleWithSymbols('amd64', 'loop: add (%r8), %al\n add %r9, %r8\n dec %rcx\n jnz loop\n hlt');
    ram.write(phys(AMD64.code), a.bytes);
    cpu.setReg('r8', 0x400_0000n);
    cpu.setReg('r9', M2);
    cpu.setReg('rcx', 600n);
    const r = cpu.run({ start: AMD64.code, ...LIMITS });
    t.equal(r.kind, 'halted');
    t.equal(r.executed, 4 * 600 + 1);
    t.ok(cpu.shadowEvictions >= 1, `${cpu.shadowEvictions} evictions`);
    t.ok(cpu.mappings().windows.length <= MAX_LAZY_WINDOWS, 'never more windows than the cap');
  } finally {
    cpu.close();
    ram.close();
  }
  t.end();
});

t.test('arm64: 4 KiB page, 2 MiB block and 1 GiB block through TTBR1, each with its RAM at the PA', A64, (t) => {
  const RAM = ARM64.ram;
  const ram = new NativeRam([{ base: phys(RAM), size: size(2n * G1) }]);
  const tb = new Arm64Tables(ram, RAM + 0x10_0000n, RAM + 0x20_0000n);
  tb.map(RAM, RAM, 0x400_0000n, { block: M2 });
  tb.map(ARM64.pl011, ARM64.pl011, K4, { attr: 1n });
  const [V4, V2, V1] = [KERNBASE_ARM64, KERNBASE_ARM64 + 0x4000_0000n, KERNBASE_ARM64 + 0x8000_0000n];
  tb.map(V4, RAM + 0x123_4000n, 2n * K4);
  tb.map(V2, RAM + 0x140_0000n, M2, { block: M2 });
  tb.map(V1, RAM + G1, G1, { block: G1 });
  const far = 0x1234_5678n;
  ram.write(phys(RAM + 0x123_4000n + K4 + 8n), u64(0x44n));
  ram.write(phys(RAM + 0x140_0000n + 0x10_0008n), u64(0x22n));
  ram.write(phys(RAM + G1 + far), u64(0x11n));
  const cpu = new Cpu('arm64', ram, { uart: { kind: 'pl011', base: ARM64.pl011 } });
  try {
    cpu.setupEl1({ mair: TEST_MAIR, tcr: TEST_TCR, ttbr0: tb.ttbr0, ttbr1: tb.ttbr1, sctlr: TEST_SCTLR_MMU });
    const a = assembleWithSymbols('arm64', 'ldr x1, [x4, #0x1008]\n ldr x2, [x5]\n ldr x3, [x6]\n wfi');
    ram.write(phys(ARM64.code), a.bytes);
    cpu.setReg('x4', V4);
    cpu.setReg('x5', V2 + 0x10_0008n);
    cpu.setReg('x6', V1 + far);
    const r = cpu.run({ start: ARM64.code, ...LIMITS });
    t.equal(r.kind, 'halted');
    t.same([cpu.reg('x1'), cpu.reg('x2'), cpu.reg('x3')], [0x44n, 0x22n, 0x11n], 'no load read zeros');
    const ws = cpu.mappings().windows;
    t.same(brief(covering(ws, V4)), [V4, RAM + 0x123_4000n, 2n * K4]);
    t.same(brief(covering(ws, V2)), [V2, RAM + 0x140_0000n, M2]);
    const block = (far / M2) * M2;
    t.same(brief(covering(ws, V1 + far)), [V1 + block, RAM + G1 + block, M2]);
    for (const pa of [RAM + 0x123_4000n, RAM + 0x140_0000n, RAM + G1 + far]) {
      t.ok(covering(ws, pa) !== undefined, `RAM at ${pa.toString(16)} is mapped at its PA`);
    }
    t.equal(covering(ws, RAM + G1), undefined, 'the rest of the 1 GiB block is not');
  } finally {
    cpu.close();
    ram.close();
  }
  t.end();
});

t.test('arm64: a descriptor edited, then a TTBR1 switch: the alias follows the new tables', A64, (t) => {
  const m = arm64Machine();
  const V = KERNBASE_ARM64 + 0x10_0000n;
  const [A, B] = [ARM64.ram + 0x140_0000n, ARM64.ram + 0x300_0000n]; // B: a 2 MiB block nothing touched
  m.tables.map(V, A, K4);
  m.ram.write(phys(A), u64(0xaan));
  m.ram.write(phys(B), u64(0xbbn));
  const root2 = ARM64.ram + 0x1f_0000n;
  m.ram.write(phys(root2), m.ram.read(phys(m.tables.ttbr1), 4096));
  const desc = m.tables.entryAddr(V, 3);
  m.load(
    ARM64.code,
    `
    ldr x1, [x0]
    str x4, [x3]
    dsb ishst
    msr ttbr1_el1, x5
    isb
    tlbi vmalle1
    dsb ish
    isb
    ldr x2, [x0]
    wfi
  `,
  );
  m.cpu.setReg('x0', V);
  m.cpu.setReg('x3', desc);
  m.cpu.setReg('x4', B | 0x703n);
  m.cpu.setReg('x5', root2);
  const r = m.cpu.run({ start: ARM64.code, ...LIMITS });
  t.equal(r.kind, 'halted');
  t.same([m.cpu.reg('x1'), m.cpu.reg('x2')], [0xaan, 0xbbn]);
  t.same(brief(covering(m.cpu.mappings().windows, V)), [V, B, K4]);
  t.equal(readU64(m.ram, A), 0xaan);
  m.close();
  t.end();
});
