// The amd64 CPU (machine/cpu.ts over native/cpu.cc, Unicorn 2.0.1) running code assembled by
// GNU as (binutils; label offsets from nm) on page tables built by test/unit/machine/tables.ts.
// Every run is bounded; every stop is checked for its kind, PC and the bytes it touched.
import t from 'tap';
import { phys, size } from '../../loader/addr.js';
import { KERNBASE } from '../../loader/arch/amd64/layout.js';
import { CPU_BITS } from '../../machine/cpu/index.js';
import { sym } from '../unit/machine/asm.js';
import { AMD64, amd64Machine, cpuTestOptions, K4, M2, u64 } from '../unit/machine/machines.js';
import { readU64, writeU64, X86Tables } from '../unit/machine/tables.js';

const OPTS = cpuTestOptions('amd64');
const LIMITS = { maxInstructions: 100_000, timeoutMs: 5_000 } as const;
const KVA = KERNBASE + M2; // KERNBASE + 2 MiB, where a FreeBSD amd64 kernel starts
const ODD_PA = 0x123_4000n; // an arbitrary PA, not the linear KERNBASE default (2 MiB)

t.test('long mode with paging: code at KERNBASE + 2 MiB touches the PA its PTEs name', OPTS, (t) => {
  const m = amd64Machine();
  m.tables.map(KVA, ODD_PA, 4n * K4);
  m.ram.write(phys(ODD_PA + 0x18n), u64(0xfeed_f00dn));
  // The code itself lives at the odd PA and runs at its KERNBASE VA.
  const a = m.load(
    ODD_PA + 0x800n,
    `
    movabs $${KVA + 0x10n}, %rax
    movabs $0x1122334455667788, %rcx
    mov %rcx, (%rax)
    mov 8(%rax), %rbx
    lea here(%rip), %rdx
  here:
    hlt
  `,
  );
  const r = m.cpu.run({ start: KVA + 0x800n, ...LIMITS });
  t.equal(r.kind, 'halted');
  t.equal(r.pc, KVA + 0x800n + BigInt(a.bytes.length));
  t.equal(r.executed, 6);
  t.equal(m.cpu.reg('rbx'), 0xfeed_f00dn, 'read through KERNBASE came from the odd PA');
  t.equal(m.cpu.reg('rdx'), KVA + 0x800n + sym(a, 'here'), 'RIP-relative addressing sees the VA');
  t.equal(readU64(m.ram, ODD_PA + 0x10n), 0x1122_3344_5566_7788n, 'write landed at the odd PA');
  t.equal(readU64(m.ram, 0x20_0010n), 0n, 'the linear default PA is untouched');
  t.equal(m.cpu.reg('cr0') & CPU_BITS.amd64.CR0_PG, CPU_BITS.amd64.CR0_PG);
  t.equal(m.cpu.reg('efer'), 0x500n, 'EFER LME|LMA via the MSR interface');
  t.equal(m.cpu.reg('cs'), 0x8n);
  t.equal(m.cpu.shadowPlan?.mode, 'shadow');
  t.ok(
    m.cpu.aliases().some((w) => w.va === KVA && w.pa === ODD_PA),
    'the shadow aliases KERNBASE + 2 MiB over the odd PA',
  );
  m.close();
  t.end();
});

t.test('CR3 switch: the new tables apply from the next instruction, code and data', OPTS, (t) => {
  const m = amd64Machine();
  const V = 0x4000_0000n; // code VA mapped by both tables, to different PAs
  const W = 0x5000_0000n; // data VA only table B maps
  m.tables.map(V, 0x140_0000n, K4);
  const b = new X86Tables(m.ram, 0x18_0000n, 0x1c_0000n);
  b.map(0n, 0n, AMD64.identity, { pageSize: M2 });
  b.map(V, 0x150_0000n, K4);
  b.map(W, 0x160_0000n, K4);
  m.load(0x140_0000n, 'mov $1, %r10\n ret');
  m.load(0x150_0000n, 'mov $2, %r12\n ret');
  m.ram.write(phys(0x160_0008n), u64(0xabcdn));
  const a = m.load(
    AMD64.code,
    `
    call *%r8
    mov %rdi, %cr3
    mov 8(%r9), %r11
    call *%r8
    hlt
  `,
  );
  m.cpu.setReg('r8', V);
  m.cpu.setReg('rdi', b.cr3);
  m.cpu.setReg('r9', W);
  const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.equal(r.kind, 'halted');
  t.equal(r.pc, AMD64.code + BigInt(a.bytes.length));
  t.equal(m.cpu.reg('r10'), 1n, 'V ran table A code');
  t.equal(m.cpu.reg('r11'), 0xabcdn, 'W (only in B) read right after the CR3 load');
  t.equal(m.cpu.reg('r12'), 2n, 'V ran table B code: no stale translation or translated block');
  t.equal(m.cpu.reg('cr3'), b.cr3);
  t.equal(r.executed, 9);
  m.close();
  t.end();
});

t.test('#PF with CR2: a CR3 load that removes a mapping, and a cleared PTE', OPTS, (t) => {
  const V = 0x4000_0000n;
  t.test('switch to tables without V: the shadow has no region, the guest sees #PF', (t) => {
    const m = amd64Machine();
    m.tables.map(V, 0x140_0000n, K4);
    const c = new X86Tables(m.ram, 0x18_0000n, 0x1c_0000n);
    c.map(0n, 0n, AMD64.identity, { pageSize: M2 });
    const a = m.load(AMD64.code, 'mov (%r8), %rax\n mov %rdi, %cr3\n fault: mov (%r8), %rbx\n hlt');
    m.cpu.setReg('r8', V);
    m.cpu.setReg('rdi', c.cr3);
    const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
    t.equal(r.kind, 'exception');
    if (r.kind === 'exception') {
      t.equal(r.vector, 14);
      t.equal(r.name, '#PF');
      t.equal(r.cr2, V);
    }
    t.equal(r.pc, AMD64.code + sym(a, 'fault'), 'RIP is the faulting instruction');
    t.equal(m.cpu.reg('cr2'), V, 'CR2 holds the address');
    t.equal(r.executed, 2, 'the faulting instruction is not counted');
    m.close();
    t.end();
  });
  t.test('guest clears the PTE and reloads the same CR3: Unicorn walks and raises #PF', (t) => {
    const m = amd64Machine();
    m.tables.map(V, 0x140_0000n, K4);
    const pte = m.tables.entryAddr(V, 1);
    const a = m.load(
      AMD64.code,
      `
      mov (%r8), %rax
      movq $0, (%rsi)
      mov %cr3, %rcx
      mov %rcx, %cr3
    fault:
      mov (%r8), %rbx
      hlt
    `,
    );
    m.cpu.setReg('r8', V);
    m.cpu.setReg('rsi', pte);
    const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
    t.equal(r.kind, 'exception');
    if (r.kind === 'exception') t.same([r.vector, r.cr2], [14, V]);
    t.equal(r.pc, AMD64.code + sym(a, 'fault'));
    m.close();
    t.end();
  });
  t.test('a PTE added without a CR3 load is found by the shadow fault and the access retried', (t) => {
    const m = amd64Machine();
    m.tables.map(V, 0x140_0000n, K4); // creates the page table for V
    const pte2 = m.tables.entryAddr(V + K4, 1);
    m.ram.write(phys(0x170_0000n), u64(0x5151n));
    m.load(AMD64.code, 'mov %rdx, (%rsi)\n mov (%r8), %rbx\n hlt');
    m.cpu.setReg('rsi', pte2);
    m.cpu.setReg('rdx', 0x170_0000n | 3n);
    m.cpu.setReg('r8', V + K4);
    const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
    t.equal(r.kind, 'halted');
    t.equal(m.cpu.reg('rbx'), 0x5151n);
    t.equal(r.executed, 3, 'the retried load counts once');
    m.close();
    t.end();
  });
  t.end();
});

t.test('hlt, int3, ud2, breakpoints', OPTS, (t) => {
  const m = amd64Machine();
  const a = m.load(AMD64.code, 'nop\n bp: nop\n int3\n after: ud2\n');
  let r = m.cpu.run({ start: AMD64.code, ...LIMITS, breakpoints: [AMD64.code + sym(a, 'bp')] });
  t.same([r.kind, r.pc, r.executed], ['breakpoint', AMD64.code + sym(a, 'bp'), 1]);
  r = m.cpu.run({ ...LIMITS, breakpoints: [AMD64.code + sym(a, 'bp')] });
  t.equal(r.kind, 'exception', 'resuming steps over the breakpoint');
  if (r.kind === 'exception') t.same([r.vector, r.name], [3, '#BP']);
  t.equal(r.pc, AMD64.code + sym(a, 'after'), 'int3 traps after itself');
  r = m.cpu.run(LIMITS);
  t.same([r.kind, r.pc, r.executed], ['invalid-instruction', AMD64.code + sym(a, 'after'), 0]);
  m.close();
  t.end();
});

t.test('never a hang: an endless loop stops at the instruction limit or the time limit', OPTS, (t) => {
  const m = amd64Machine();
  m.load(AMD64.code, 'spin: jmp spin');
  let r = m.cpu.run({ start: AMD64.code, maxInstructions: 12_345, timeoutMs: 5_000 });
  t.same([r.kind, r.executed, r.pc], ['limit', 12_345, AMD64.code]);
  const t0 = Date.now();
  r = m.cpu.run({ start: AMD64.code, maxInstructions: Number.MAX_SAFE_INTEGER, timeoutMs: 150 });
  const took = Date.now() - t0;
  t.equal(r.kind, 'timeout');
  t.ok(r.elapsedMs >= 150 && took < 2_000, `stopped after ${took} ms`);
  t.ok(r.executed > 1000, 'it did run');
  r = m.cpu.run({ start: AMD64.code, maxInstructions: 0, timeoutMs: 1000 });
  t.same([r.kind, r.executed], ['limit', 0]);
  m.close();
  t.end();
});

t.test('until: stops before the address', OPTS, (t) => {
  const m = amd64Machine();
  const a = m.load(AMD64.code, 'inc %rax\n inc %rax\n stop: inc %rax\n hlt');
  m.cpu.setReg('rax', 0n);
  const r = m.cpu.run({ start: AMD64.code, until: AMD64.code + sym(a, 'stop'), ...LIMITS });
  t.same([r.kind, r.pc, r.executed, m.cpu.reg('rax')], ['reached', AMD64.code + sym(a, 'stop'), 2, 2n]);
  m.close();
  t.end();
});

t.test('unmapped: fetch without RAM (paging off); a VA the tables send outside RAM', OPTS, (t) => {
  const flat = amd64Machine({ paging: false });
  flat.load(AMD64.code, 'jmp *%rax');
  flat.cpu.setReg('rax', 0x4000_0000n);
  let r = flat.cpu.run({ start: AMD64.code, ...LIMITS });
  t.equal(r.kind, 'unmapped');
  if (r.kind === 'unmapped') t.same([r.access, r.address, r.pc], ['fetch', 0x4000_0000n, 0x4000_0000n]);
  flat.close();

  const m = amd64Machine();
  m.tables.map(0x4000_0000n, 0x8000_0000n, K4); // a PA with no RAM behind it
  const a = m.load(AMD64.code, 'nop\n load: mov (%rax), %rbx\n hlt');
  m.cpu.setReg('rax', 0x4000_0010n);
  r = m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.equal(r.kind, 'unmapped');
  if (r.kind === 'unmapped')
    t.same([r.access, r.address, r.pa, r.pc], ['read', 0x4000_0010n, 0x8000_0010n, AMD64.code + sym(a, 'load')]);
  t.equal(r.executed, 1);
  m.close();
  t.end();
});

t.test('write-protect holds through the identity region and through the KERNBASE shadow', OPTS, (t) => {
  const m = amd64Machine();
  const P = 0x60_0000n;
  m.tables.map(KVA, P, 2n * K4);
  const a = m.load(AMD64.code, 'movq $7, (%rax)\n st2: movq $9, (%rbx)\n hlt');
  m.cpu.setReg('rax', P + 8n); // identity VA of the protected PA
  m.cpu.setReg('rbx', KVA + K4 + 0x20n); // KERNBASE alias of the protected page P + 4 KiB
  m.cpu.protect(phys(P), size(2n * K4), 'ro');
  t.same(m.cpu.mappings().protected, [{ start: P, size: 2n * K4 }]);
  let r = m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.equal(r.kind, 'write-protect');
  if (r.kind === 'write-protect') t.same([r.pc, r.address, r.pa, r.size, r.value], [AMD64.code, P + 8n, P + 8n, 8, 7n]);
  t.equal(readU64(m.ram, P + 8n), 0n, 'nothing landed');
  r = m.cpu.run({ start: AMD64.code + sym(a, 'st2'), ...LIMITS });
  t.equal(r.kind, 'write-protect');
  if (r.kind === 'write-protect') {
    t.same([r.pc, r.address, r.pa], [AMD64.code + sym(a, 'st2'), KVA + K4 + 0x20n, P + K4 + 0x20n]);
  }
  t.equal(readU64(m.ram, P + K4 + 0x20n), 0n, 'nothing landed through the alias either');
  m.cpu.protect(phys(P), size(2n * K4), 'rw');
  r = m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.equal(r.kind, 'halted', 'released');
  t.same([readU64(m.ram, P + 8n), readU64(m.ram, P + K4 + 0x20n)], [7n, 9n]);
  m.close();
  t.end();
});

t.test(
  '16550 at 0x3f8: OUT bytes become console lines; LSR reads transmitter-empty; DLAB writes are not data',
  OPTS,
  (t) => {
    const m = amd64Machine();
    m.load(
      AMD64.code,
      `
    mov $0x3fd, %dx
    in %dx, %al
    mov %al, %bl
    mov $0x3fb, %dx
    mov $0x80, %al
    out %al, %dx
    mov $0x3f8, %dx
    mov $0x01, %al
    out %al, %dx
    mov $0x3fb, %dx
    mov $0x03, %al
    out %al, %dx
    mov $0x3f8, %dx
    lea msg(%rip), %rsi
  next:
    lodsb
    test %al, %al
    jz done
    out %al, %dx
    jmp next
  done:
    hlt
  msg:
    .asciz "kboot amd64\\r\\nok\\n"
  `,
    );
    const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
    t.equal(r.kind, 'halted');
    t.equal(m.cpu.reg('rbx') & 0xffn, 0x60n, 'LSR: THRE | TEMT');
    const bytes = m.cpu.takeConsole();
    t.equal(Buffer.from(bytes).toString('latin1'), 'kboot amd64\r\nok\n', 'the divisor byte was not output');
    t.same(m.cpu.console.lines, ['kboot amd64', 'ok']);
    t.equal(m.cpu.takeConsole().length, 0, 'taken once');
    m.close();
    t.end();
  },
);

t.test('code rewritten by the host between runs is re-translated', OPTS, (t) => {
  const m = amd64Machine();
  m.load(AMD64.code, 'mov $1, %rax\n hlt');
  m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.equal(m.cpu.reg('rax'), 1n);
  m.load(AMD64.code, 'mov $2, %rax\n hlt');
  m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.equal(m.cpu.reg('rax'), 2n);
  m.close();
  t.end();
});

t.test('paging off: the map is RAM at its PA (identity)', OPTS, (t) => {
  const m = amd64Machine({ paging: false });
  writeU64(m.ram, 0x30_0000n, 0x99n);
  m.load(AMD64.code, 'mov (%rax), %rbx\n hlt');
  m.cpu.setReg('rax', 0x30_0000n);
  const r = m.cpu.run({ start: AMD64.code, ...LIMITS });
  t.same([r.kind, m.cpu.reg('rbx')], ['halted', 0x99n]);
  t.equal(m.cpu.shadowPlan?.mode, 'identity');
  t.same(
    m.cpu.mappings().windows.map((w) => [w.va, w.pa, w.size]),
    [[0n, 0n, AMD64.ramSize]],
  );
  m.close();
  t.end();
});
