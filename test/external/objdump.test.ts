// kboot's machine-code encoders checked against GNU binutils, an independent decoder:
//  - every instruction form X86Asm offers, assembled into one program and disassembled by
//    `objdump -D -b binary -m i386:x86-64` (binutils), instruction by instruction (mnemonic
//    and operands, whitespace normalised, objdump's `# address` comments dropped);
//  - every form A64Asm offers, disassembled by `aarch64-linux-gnu-objdump -D -b binary
//    -m aarch64`, the same way (objdump's `// ...` comments dropped);
//  - property tests: a few hundred random register/immediate/displacement choices per
//    ISA for the common forms, all in one objdump run per sample;
//  - the probe kernels' text (kernels/probe) disassembled by the same tools: the report
//    stores hit the report page, and the key instructions (halt, UART output, the checksum
//    loop, the hand-off copy) are there; in rescue mode every load from struct
//    rescue_kernel_params uses the offset rescueParamsLayout (loader/handoff/params.ts)
//    declares, the firmware-map sources are tried in rescue_preload_init's order, and the
//    copied lengths, addresses and kind land in their report fields.
// Each part skips only when its objdump is not installed (fails under CI=true).
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  A64Asm,
  A64_BARRIERS,
  A64_CONDITIONS,
  A64_SYSREGS,
  X86Asm,
  X86_CONDITIONS,
  X86_REG64,
  type A64Cond,
  type A64SysReg,
  type Assembler,
  type Reg64,
  type X86Cond,
  type XReg,
} from '../../loader/codegen/index.js';
import { parseElf, PF, segmentBytes } from '../../loader/elf/index.js';
import { rescueParamsLayout } from '../../loader/handoff/params.js';
import {
  buildProbeKernel,
  probeEntryVa,
  probeReportVa,
  PROBE_FIRMWARE_KIND,
  PROBE_FIRMWARE_SOURCES,
  PROBE_FOLLOW_BYTES,
  PROBE_FOLLOW_START,
  PROBE_GPR_NAMES,
  ProbeReportLayout,
} from '../../kernels/probe/index.js';
import { requireTool } from '../helpers/tools.js';

const X86_OBJDUMP = 'objdump';
const A64_OBJDUMP = 'aarch64-linux-gnu-objdump';

const skipX86 = requireTool(X86_OBJDUMP).skip ?? false;
const skipA64 = requireTool(A64_OBJDUMP).skip ?? false;

const dir = mkdtempSync(join(tmpdir(), 'kboot-objdump-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Line {
  readonly addr: bigint;
  /** Mnemonic and operands, whitespace collapsed, comment dropped. */
  readonly text: string;
  /** objdump's comment (`# ...` on x86, `// ...` on A64), if any. */
  readonly comment: string;
}

type Isa = 'x86' | 'a64';
const TOOL: Record<Isa, { tool: string; machine: string; comment: RegExp }> = {
  x86: { tool: X86_OBJDUMP, machine: 'i386:x86-64', comment: /\s+#\s*(.*)$/ },
  a64: { tool: A64_OBJDUMP, machine: 'aarch64', comment: /\s*\/\/\s*(.*)$/ },
};

let seq = 0;
/** Disassembles raw bytes loaded at `base`; one entry per instruction (continuation lines dropped). */
function disassemble(t: Test, isa: Isa, bytes: Uint8Array, base: bigint): Line[] {
  const { tool, machine, comment } = TOOL[isa];
  const file = join(dir, `code-${seq++}.bin`);
  writeFileSync(file, bytes);
  const r = spawnSync(tool, ['-D', '-b', 'binary', '-m', machine, `--adjust-vma=0x${base.toString(16)}`, file], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  t.equal(r.status, 0, `${tool} exits 0`);
  t.equal(r.stderr, '', `${tool} prints no warning`);
  const lines: Line[] = [];
  for (const raw of r.stdout.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t[0-9a-f ]+\t(.+)$/.exec(raw);
    if (m === null) continue;
    const body = m[2] ?? '';
    const c = comment.exec(body);
    const text = (c === null ? body : body.slice(0, c.index)).replace(/\s+/g, ' ').trim();
    lines.push({ addr: BigInt(`0x${m[1] ?? '0'}`), text, comment: c?.[1] ?? '' });
  }
  return lines;
}

/** One instruction (or several) and what objdump must print for each, given the finished labels. */
interface Case<A extends Assembler> {
  readonly emit: (a: A) => unknown;
  readonly expect: string | ((ctx: Ctx) => string);
}
interface Ctx {
  /** Address of a label. */
  readonly at: (label: string) => bigint;
  /** Address just past this case's bytes (for RIP-relative displacements). */
  readonly end: bigint;
}

const h = (v: bigint | number): string => `0x${BigInt(v).toString(16)}`;
const sdisp = (v: bigint): string => (v < 0n ? `-${h(-v)}` : h(v));

/**
 * Assembles every case into one program, disassembles it, and pairs each case's expected
 * text with what objdump printed at the case's first address.
 */
function runCases<A extends Assembler>(
  t: Test,
  isa: Isa,
  make: () => A,
  cases: readonly Case<A>[],
  base: bigint,
): { expected: string; actual: string | undefined }[] {
  const a = make();
  const spans: { start: number; end: number }[] = [];
  for (const c of cases) {
    const start = a.here();
    c.emit(a);
    spans.push({ start, end: a.here() });
  }
  a.label('data').u64(0x1122_3344_5566_7788n);
  const res = a.finish(base);
  const byAddr = new Map(disassemble(t, isa, res.bytes, base).map((l) => [l.addr, l.text]));
  return cases.map((c, i) => {
    const { start, end } = spans[i] ?? { start: 0, end: 0 };
    const ctx: Ctx = { at: (l) => res.address(l), end: base + BigInt(end) };
    return {
      expected: typeof c.expect === 'string' ? c.expect : c.expect(ctx),
      actual: byAddr.get(base + BigInt(start)),
    };
  });
}

/** The fixed table: one assertion per case. */
function checkCases<A extends Assembler>(
  t: Test,
  isa: Isa,
  make: () => A,
  cases: readonly Case<A>[],
  base: bigint,
): void {
  for (const { expected, actual } of runCases(t, isa, make, cases, base)) t.equal(actual, expected, expected);
}

/** Random cases: 2 samples of 300 instructions, one objdump run each, no shrinking. */
function checkRandom<A extends Assembler>(t: Test, isa: Isa, make: () => A, arb: fc.Arbitrary<Case<A>>): void {
  fc.assert(
    fc.property(fc.array(arb, { minLength: 300, maxLength: 300 }), (cases) => {
      const bad = runCases(t, isa, make, cases, 0x4000_0000n).filter((r) => r.actual !== r.expected);
      if (bad.length > 0)
        t.fail(
          `objdump disagrees: ${bad
            .slice(0, 5)
            .map((b) => `${b.expected} != ${String(b.actual)}`)
            .join(' | ')}`,
        );
      return bad.length === 0;
    }),
    { numRuns: 2, endOnFailure: true },
  );
  t.pass('600 random instructions agree');
}

// --- x86-64 -------------------------------------------------------------------------------

// prettier-ignore
const X86_JCC_NAME: Record<number, string> = {
  0: 'jo', 1: 'jno', 2: 'jb', 3: 'jae', 4: 'je', 5: 'jne', 6: 'jbe', 7: 'ja',
  8: 'js', 9: 'jns', 10: 'jp', 11: 'jnp', 12: 'jl', 13: 'jge', 14: 'jle', 15: 'jg',
};

const X86_BASE = 0xffff_ffff_8020_1000n;
// prettier-ignore
const rip = (label: string, addend = 0) => (c: Ctx): string => `${sdisp(c.at(label) + BigInt(addend) - c.end)}(%rip)`;

const X86_CASES: Case<X86Asm>[] = [
  { emit: (a) => a.label('top').movImm64('rax', 0x1234n), expect: 'movabs $0x1234,%rax' },
  { emit: (a) => a.movImm64('r15', 0xffff_ffff_8000_0000n), expect: 'movabs $0xffffffff80000000,%r15' },
  { emit: (a) => a.movImm64('rcx', -1n), expect: 'movabs $0xffffffffffffffff,%rcx' },
  { emit: (a) => a.movImm32('edx', 0x3f8), expect: 'mov $0x3f8,%edx' },
  { emit: (a) => a.movImm32('r9d', 0xffff_ffff), expect: 'mov $0xffffffff,%r9d' },
  { emit: (a) => a.movImm8('al', 0x41), expect: 'mov $0x41,%al' },
  { emit: (a) => a.movImm8('sil', 1), expect: 'mov $0x1,%sil' },
  { emit: (a) => a.movImm8('r12b', 0xff), expect: 'mov $0xff,%r12b' },
  { emit: (a) => a.mov('r9', 'rsi'), expect: 'mov %rsi,%r9' },
  { emit: (a) => a.mov('rsp', 'r13'), expect: 'mov %r13,%rsp' },
  { emit: (a) => a.movLoad64('rax', { base: 'rdi', disp: 8 }), expect: 'mov 0x8(%rdi),%rax' },
  { emit: (a) => a.movLoad64('r10', { base: 'rsp' }), expect: 'mov (%rsp),%r10' },
  { emit: (a) => a.movLoad64('rax', { base: 'r13' }), expect: 'mov 0x0(%r13),%rax' },
  { emit: (a) => a.movLoad64('rbx', { base: 'r12', disp: -0x1000 }), expect: 'mov -0x1000(%r12),%rbx' },
  { emit: (a) => a.movLoad64('rax', { label: 'data' }), expect: (c) => `mov ${rip('data')(c)},%rax` },
  { emit: (a) => a.movStore64({ base: 'rsp', disp: -8 }, 'rax'), expect: 'mov %rax,-0x8(%rsp)' },
  { emit: (a) => a.movStore64({ label: 'data', disp: 8 }, 'r14'), expect: (c) => `mov %r14,${rip('data', 8)(c)}` },
  { emit: (a) => a.movLoad32('eax', { base: 'rsp', disp: 4 }), expect: 'mov 0x4(%rsp),%eax' },
  { emit: (a) => a.movStore32({ base: 'rbp', disp: 0x10 }, 'r8d'), expect: 'mov %r8d,0x10(%rbp)' },
  { emit: (a) => a.movLoad8('r9b', { base: 'r8' }), expect: 'mov (%r8),%r9b' },
  { emit: (a) => a.movLoad8('dil', { base: 'rax', disp: 3 }), expect: 'mov 0x3(%rax),%dil' },
  { emit: (a) => a.movStore8({ base: 'rax' }, 'sil'), expect: 'mov %sil,(%rax)' },
  { emit: (a) => a.movStore8({ base: 'r11', disp: 0x7f }, 'cl'), expect: 'mov %cl,0x7f(%r11)' },
  { emit: (a) => a.movzxLoad8('edx', { base: 'rsi' }), expect: 'movzbl (%rsi),%edx' },
  { emit: (a) => a.movzxLoad8('r10d', { base: 'r9', disp: 1 }), expect: 'movzbl 0x1(%r9),%r10d' },
  { emit: (a) => a.movStoreImm32({ label: 'data' }, 5), expect: (c) => `movl $0x5,${rip('data')(c)}` },
  { emit: (a) => a.movStoreImm32({ base: 'rdi', disp: 0x10 }, 0xffff_ffff), expect: 'movl $0xffffffff,0x10(%rdi)' },
  { emit: (a) => a.movStoreImm64({ base: 'rdi' }, -1), expect: 'movq $0xffffffffffffffff,(%rdi)' },
  { emit: (a) => a.lea('rax', { label: 'top' }), expect: (c) => `lea ${rip('top')(c)},%rax` },
  { emit: (a) => a.lea('rdi', { base: 'rsp', disp: 0x20 }), expect: 'lea 0x20(%rsp),%rdi' },
  { emit: (a) => a.movToCr('cr3', 'rax'), expect: 'mov %rax,%cr3' },
  { emit: (a) => a.movToCr('cr0', 'r8'), expect: 'mov %r8,%cr0' },
  { emit: (a) => a.movToCr('cr4', 'rcx'), expect: 'mov %rcx,%cr4' },
  { emit: (a) => a.movToCr('cr2', 'rdx'), expect: 'mov %rdx,%cr2' },
  { emit: (a) => a.movFromCr('r10', 'cr4'), expect: 'mov %cr4,%r10' },
  { emit: (a) => a.movFromCr('rax', 'cr3'), expect: 'mov %cr3,%rax' },
  { emit: (a) => a.movFromCr('rbx', 'cr0'), expect: 'mov %cr0,%rbx' },
  { emit: (a) => a.movFromCr('rsi', 'cr2'), expect: 'mov %cr2,%rsi' },
  { emit: (a) => a.push('r15'), expect: 'push %r15' },
  { emit: (a) => a.push('rbp'), expect: 'push %rbp' },
  { emit: (a) => a.pop('rbx'), expect: 'pop %rbx' },
  { emit: (a) => a.pop('r8'), expect: 'pop %r8' },
  { emit: (a) => a.add('rax', 8), expect: 'add $0x8,%rax' },
  { emit: (a) => a.add('r11', 0x12345), expect: 'add $0x12345,%r11' },
  { emit: (a) => a.add('r11', 'rsi'), expect: 'add %rsi,%r11' },
  { emit: (a) => a.sub('rsp', -8), expect: 'sub $0xfffffffffffffff8,%rsp' },
  { emit: (a) => a.sub('rdx', 0x1000), expect: 'sub $0x1000,%rdx' },
  { emit: (a) => a.sub('rax', 'r9'), expect: 'sub %r9,%rax' },
  { emit: (a) => a.and('rcx', -4096), expect: 'and $0xfffffffffffff000,%rcx' },
  { emit: (a) => a.and('r12', 'r13'), expect: 'and %r13,%r12' },
  { emit: (a) => a.or('rax', 0x80), expect: 'or $0x80,%rax' },
  { emit: (a) => a.or('rax', 'rdx'), expect: 'or %rdx,%rax' },
  { emit: (a) => a.xor('rbx', 0x7f), expect: 'xor $0x7f,%rbx' },
  { emit: (a) => a.xor('rax', 'rdx'), expect: 'xor %rdx,%rax' },
  { emit: (a) => a.cmp('rdi', 0x7fff_ffff), expect: 'cmp $0x7fffffff,%rdi' },
  { emit: (a) => a.cmp('rdi', 'rsi'), expect: 'cmp %rsi,%rdi' },
  { emit: (a) => a.test('rax', 'rax'), expect: 'test %rax,%rax' },
  { emit: (a) => a.test('rcx', 0x10), expect: 'test $0x10,%rcx' },
  { emit: (a) => a.imul('rax', 'r8'), expect: 'imul %r8,%rax' },
  { emit: (a) => a.shl('rax', 4), expect: 'shl $0x4,%rax' },
  { emit: (a) => a.shr('r9', 60), expect: 'shr $0x3c,%r9' },
  { emit: (a) => a.sar('rdx', 3), expect: 'sar $0x3,%rdx' },
  { emit: (a) => a.inc('r8'), expect: 'inc %r8' },
  { emit: (a) => a.dec('rcx'), expect: 'dec %rcx' },
  { emit: (a) => a.jmp('top'), expect: (c) => `jmp ${h(c.at('top'))}` },
  { emit: (a) => a.jmp('data'), expect: (c) => `jmp ${h(c.at('data'))}` },
  { emit: (a) => a.jmpReg('rax'), expect: 'jmp *%rax' },
  { emit: (a) => a.jmpReg('r11'), expect: 'jmp *%r11' },
  { emit: (a) => a.call('top'), expect: (c) => `call ${h(c.at('top'))}` },
  { emit: (a) => a.callReg('rbx'), expect: 'call *%rbx' },
  ...(Object.keys(X86_CONDITIONS) as X86Cond[]).map((cc): Case<X86Asm> => ({
    emit: (a) => a.jcc(cc, 'data'),
    expect: (c) => `${X86_JCC_NAME[X86_CONDITIONS[cc]] ?? '?'} ${h(c.at('data'))}`,
  })),
  { emit: (a) => a.ret(), expect: 'ret' },
  { emit: (a) => a.cli(), expect: 'cli' },
  { emit: (a) => a.sti(), expect: 'sti' },
  { emit: (a) => a.cld(), expect: 'cld' },
  { emit: (a) => a.hlt(), expect: 'hlt' },
  { emit: (a) => a.pause(), expect: 'pause' },
  { emit: (a) => a.int3(), expect: 'int3' },
  { emit: (a) => a.ud2(), expect: 'ud2' },
  { emit: (a) => a.nop(), expect: 'nop' },
  { emit: (a) => a.wrmsr(), expect: 'wrmsr' },
  { emit: (a) => a.rdmsr(), expect: 'rdmsr' },
  { emit: (a) => a.repMovsq(), expect: 'rep movsq %ds:(%rsi),%es:(%rdi)' },
  { emit: (a) => a.repMovsb(), expect: 'rep movsb %ds:(%rsi),%es:(%rdi)' },
  { emit: (a) => a.repStosq(), expect: 'rep stos %rax,%es:(%rdi)' },
  { emit: (a) => a.repStosb(), expect: 'rep stos %al,%es:(%rdi)' },
  { emit: (a) => a.outDx(), expect: 'out %al,(%dx)' },
  { emit: (a) => a.outImm(0x80), expect: 'out %al,$0x80' },
  { emit: (a) => a.inDx(), expect: 'in (%dx),%al' },
  { emit: (a) => a.inImm(0x60), expect: 'in $0x60,%al' },
  { emit: (a) => a.lgdt({ base: 'rax' }), expect: 'lgdt (%rax)' },
  { emit: (a) => a.lgdt({ base: 'r12', disp: 8 }), expect: 'lgdt 0x8(%r12)' },
  { emit: (a) => a.lgdt({ label: 'data' }), expect: (c) => `lgdt ${rip('data')(c)}` },
];

t.test('x86-64: every form disassembles as intended', { skip: skipX86 }, async (t) => {
  checkCases(t, 'x86', () => new X86Asm(), X86_CASES, X86_BASE);
});

// Random operands: one x86 instruction and its objdump text.
const reg64 = fc.constantFrom(...X86_REG64);
const int32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
const imm = (v: number): string => (v < 0 ? h((1n << 64n) + BigInt(v)) : h(v));
const memText = (base: Reg64, disp: number): string =>
  disp === 0 && base !== 'rbp' && base !== 'r13' ? `(%${base})` : `${sdisp(BigInt(disp))}(%${base})`;
const x86Random: fc.Arbitrary<Case<X86Asm>> = fc.oneof(
  fc.tuple(reg64, reg64, fc.oneof(int32, fc.integer({ min: -128, max: 127 }))).map(([r, b, d]): Case<X86Asm> => ({
    emit: (a) => a.movLoad64(r, { base: b, disp: d }),
    expect: `mov ${memText(b, d)},%${r}`,
  })),
  fc.tuple(reg64, reg64, int32).map(([r, b, d]): Case<X86Asm> => ({
    emit: (a) => a.movStore64({ base: b, disp: d }, r),
    expect: `mov %${r},${memText(b, d)}`,
  })),
  fc
    .tuple(
      fc.constantFrom('add', 'sub', 'and', 'or', 'xor', 'cmp'),
      reg64,
      fc.oneof(int32, fc.integer({ min: -128, max: 127 })),
    )
    .map(([op, r, v]): Case<X86Asm> => ({ emit: (a) => a[op](r, v), expect: `${op} $${imm(v)},%${r}` })),
  fc
    .tuple(fc.constantFrom('add', 'sub', 'and', 'or', 'xor', 'cmp'), reg64, reg64)
    .map(([op, d, s]): Case<X86Asm> => ({ emit: (a) => a[op](d, s), expect: `${op} %${s},%${d}` })),
  fc
    .tuple(reg64, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }))
    .map(([r, v]): Case<X86Asm> => ({ emit: (a) => a.movImm64(r, v), expect: `movabs $${h(v)},%${r}` })),
  fc
    .tuple(fc.constantFrom('shl', 'shr', 'sar'), reg64, fc.integer({ min: 0, max: 63 }))
    .map(([op, r, n]): Case<X86Asm> => ({ emit: (a) => a[op](r, n), expect: `${op} $${h(n)},%${r}` })),
  fc.tuple(reg64, reg64, int32).map(([r, b, d]): Case<X86Asm> => ({
    emit: (a) => a.lea(r, { base: b, disp: d }),
    expect: `lea ${memText(b, d)},%${r}`,
  })),
);

t.test('x86-64: random operands agree with objdump', { skip: skipX86 }, async (t) => {
  checkRandom(t, 'x86', () => new X86Asm(), x86Random);
});

// --- AArch64 ------------------------------------------------------------------------------

const A64_BASE = 0xffff_0000_0000_1000n;
// prettier-ignore
const A64_COND_NAME: Record<number, string> = {
  0: 'eq', 1: 'ne', 2: 'cs', 3: 'cc', 4: 'mi', 5: 'pl', 6: 'vs', 7: 'vc',
  8: 'hi', 9: 'ls', 10: 'ge', 11: 'lt', 12: 'gt', 13: 'le', 14: 'al',
};
/** System registers MSR cannot write (read-only); they are checked with MRS only. */
const READ_ONLY: readonly A64SysReg[] = ['midr_el1', 'mpidr_el1', 'id_aa64mmfr0_el1', 'currentel', 'cntvct_el0'];

const A64_CASES: Case<A64Asm>[] = [
  { emit: (a) => a.label('top').movz('x0', 0x1234), expect: 'mov x0, #0x1234' },
  { emit: (a) => a.movz('x1', 0x1234, 16), expect: 'mov x1, #0x12340000' },
  { emit: (a) => a.movz('x1', 0, 16), expect: 'movz x1, #0x0, lsl #16' },
  { emit: (a) => a.movz('w3', 0x10), expect: 'mov w3, #0x10' },
  { emit: (a) => a.movk('x2', 0xbeef, 48), expect: 'movk x2, #0xbeef, lsl #48' },
  { emit: (a) => a.movk('w2', 0x1234, 16), expect: 'movk w2, #0x1234, lsl #16' },
  { emit: (a) => a.movn('x4', 0x1234), expect: 'mov x4, #0xffffffffffffedcb' },
  { emit: (a) => a.movn('w4', 0x1234), expect: 'mov w4, #0xffffedcb' },
  { emit: (a) => a.mov('x5', 'x6'), expect: 'mov x5, x6' },
  { emit: (a) => a.mov('w5', 'w6'), expect: 'mov w5, w6' },
  { emit: (a) => a.mov('x7', 'sp'), expect: 'mov x7, sp' },
  { emit: (a) => a.mov('sp', 'x8'), expect: 'mov sp, x8' },
  { emit: (a) => a.mov('x9', 'xzr'), expect: 'mov x9, xzr' },
  { emit: (a) => a.addImm('x0', 'x1', 0x10), expect: 'add x0, x1, #0x10' },
  { emit: (a) => a.addImm('x0', 'x1', 0x1000), expect: 'add x0, x1, #0x1, lsl #12' },
  { emit: (a) => a.addImm('w0', 'w1', 0xfff), expect: 'add w0, w1, #0xfff' },
  { emit: (a) => a.subImm('sp', 'sp', 0x20), expect: 'sub sp, sp, #0x20' },
  { emit: (a) => a.subImm('x1', 'x2', 0x20_0000), expect: 'sub x1, x2, #0x200, lsl #12' },
  { emit: (a) => a.addsImm('x0', 'x1', 4), expect: 'adds x0, x1, #0x4' },
  { emit: (a) => a.subsImm('x0', 'x1', 3), expect: 'subs x0, x1, #0x3' },
  { emit: (a) => a.cmpImm('x2', 5), expect: 'cmp x2, #0x5' },
  { emit: (a) => a.cmpImm('sp', 16), expect: 'cmp sp, #0x10' },
  { emit: (a) => a.add('x0', 'x1', 'x2'), expect: 'add x0, x1, x2' },
  { emit: (a) => a.add('x0', 'x1', 'x2', 3), expect: 'add x0, x1, x2, lsl #3' },
  { emit: (a) => a.add('w0', 'w1', 'w2'), expect: 'add w0, w1, w2' },
  { emit: (a) => a.sub('x3', 'x4', 'x5'), expect: 'sub x3, x4, x5' },
  { emit: (a) => a.adds('x3', 'x4', 'x5'), expect: 'adds x3, x4, x5' },
  { emit: (a) => a.subs('x3', 'x4', 'x5'), expect: 'subs x3, x4, x5' },
  { emit: (a) => a.cmp('x6', 'x7'), expect: 'cmp x6, x7' },
  { emit: (a) => a.and('x0', 'x1', 'x2'), expect: 'and x0, x1, x2' },
  { emit: (a) => a.orr('x0', 'x1', 'x2', 4), expect: 'orr x0, x1, x2, lsl #4' },
  { emit: (a) => a.eor('x0', 'x1', 'x2'), expect: 'eor x0, x1, x2' },
  { emit: (a) => a.eor('w0', 'w1', 'w2'), expect: 'eor w0, w1, w2' },
  { emit: (a) => a.ands('x0', 'x1', 'x2'), expect: 'ands x0, x1, x2' },
  { emit: (a) => a.tst('x0', 'x1'), expect: 'tst x0, x1' },
  { emit: (a) => a.mul('x0', 'x1', 'x2'), expect: 'mul x0, x1, x2' },
  { emit: (a) => a.mul('w0', 'w1', 'w2'), expect: 'mul w0, w1, w2' },
  { emit: (a) => a.rev('x1', 'x2'), expect: 'rev x1, x2' },
  { emit: (a) => a.rev('w3', 'w4'), expect: 'rev w3, w4' },
  { emit: (a) => a.lsl('x0', 'x1', 4), expect: 'lsl x0, x1, #4' },
  { emit: (a) => a.lsr('x0', 'x1', 60), expect: 'lsr x0, x1, #60' },
  { emit: (a) => a.lsl('w0', 'w1', 31), expect: 'lsl w0, w1, #31' },
  { emit: (a) => a.lsr('w0', 'w1', 4), expect: 'lsr w0, w1, #4' },
  { emit: (a) => a.ldr('x0', { base: 'x1', offset: 8 }), expect: 'ldr x0, [x1, #8]' },
  { emit: (a) => a.ldr('x0', { base: 'sp' }), expect: 'ldr x0, [sp]' },
  { emit: (a) => a.str('x0', { base: 'x1', offset: 32760 }), expect: 'str x0, [x1, #32760]' },
  { emit: (a) => a.str('xzr', { base: 'x1', offset: 16 }), expect: 'str xzr, [x1, #16]' },
  { emit: (a) => a.ldr('w0', { base: 'x1', offset: 4 }), expect: 'ldr w0, [x1, #4]' },
  { emit: (a) => a.str('w0', { base: 'x1' }), expect: 'str w0, [x1]' },
  { emit: (a) => a.ldr('x0', { base: 'x1', offset: 16, mode: 'pre' }), expect: 'ldr x0, [x1, #16]!' },
  { emit: (a) => a.ldr('x0', { base: 'x1', offset: 16, mode: 'post' }), expect: 'ldr x0, [x1], #16' },
  { emit: (a) => a.str('x0', { base: 'sp', offset: -16, mode: 'pre' }), expect: 'str x0, [sp, #-16]!' },
  { emit: (a) => a.str('w2', { base: 'x3', offset: -4, mode: 'post' }), expect: 'str w2, [x3], #-4' },
  { emit: (a) => a.ldr('x0', { base: 'x1', offset: -8 }), expect: 'ldur x0, [x1, #-8]' },
  { emit: (a) => a.str('x0', { base: 'x1', offset: 3 }), expect: 'stur x0, [x1, #3]' },
  { emit: (a) => a.ldrb('w0', { base: 'x1', offset: 1 }), expect: 'ldrb w0, [x1, #1]' },
  { emit: (a) => a.strb('w0', { base: 'x1' }), expect: 'strb w0, [x1]' },
  { emit: (a) => a.ldrb('w2', { base: 'x1', offset: 1, mode: 'post' }), expect: 'ldrb w2, [x1], #1' },
  { emit: (a) => a.strb('w2', { base: 'x1', offset: -1, mode: 'pre' }), expect: 'strb w2, [x1, #-1]!' },
  { emit: (a) => a.ldrb('w2', { base: 'x1', offset: -1 }), expect: 'ldurb w2, [x1, #-1]' },
  { emit: (a) => a.ldrLit('x0', 'data'), expect: (c) => `ldr x0, ${h(c.at('data'))}` },
  { emit: (a) => a.ldrLit('w1', 'top'), expect: (c) => `ldr w1, ${h(c.at('top'))}` },
  { emit: (a) => a.stp('x0', 'x1', { base: 'sp', offset: -16, mode: 'pre' }), expect: 'stp x0, x1, [sp, #-16]!' },
  { emit: (a) => a.stp('x2', 'x3', { base: 'x0', offset: 16 }), expect: 'stp x2, x3, [x0, #16]' },
  { emit: (a) => a.stp('w1', 'w2', { base: 'sp', offset: 8 }), expect: 'stp w1, w2, [sp, #8]' },
  { emit: (a) => a.ldp('x0', 'x1', { base: 'sp', offset: 16, mode: 'post' }), expect: 'ldp x0, x1, [sp], #16' },
  { emit: (a) => a.ldp('x29', 'x30', { base: 'sp', offset: 32 }), expect: 'ldp x29, x30, [sp, #32]' },
  { emit: (a) => a.ldp('x2', 'x3', { base: 'x4', offset: -512, mode: 'pre' }), expect: 'ldp x2, x3, [x4, #-512]!' },
  { emit: (a) => a.adr('x0', 'data'), expect: (c) => `adr x0, ${h(c.at('data'))}` },
  { emit: (a) => a.adr('x1', 'top'), expect: (c) => `adr x1, ${h(c.at('top'))}` },
  { emit: (a) => a.adrp('x0', 'data'), expect: (c) => `adrp x0, ${h(c.at('data') & ~0xfffn)}` },
  { emit: (a) => a.b('top'), expect: (c) => `b ${h(c.at('top'))}` },
  { emit: (a) => a.bl('data'), expect: (c) => `bl ${h(c.at('data'))}` },
  ...(Object.keys(A64_CONDITIONS) as A64Cond[]).map((cc): Case<A64Asm> => ({
    emit: (a) => a.bcond(cc, 'data'),
    expect: (c) => `b.${A64_COND_NAME[A64_CONDITIONS[cc]] ?? '?'} ${h(c.at('data'))}`,
  })),
  { emit: (a) => a.cbz('x0', 'data'), expect: (c) => `cbz x0, ${h(c.at('data'))}` },
  { emit: (a) => a.cbnz('w1', 'top'), expect: (c) => `cbnz w1, ${h(c.at('top'))}` },
  { emit: (a) => a.cbz('w5', 'top'), expect: (c) => `cbz w5, ${h(c.at('top'))}` },
  { emit: (a) => a.cbnz('x9', 'data'), expect: (c) => `cbnz x9, ${h(c.at('data'))}` },
  { emit: (a) => a.br('x2'), expect: 'br x2' },
  { emit: (a) => a.blr('x3'), expect: 'blr x3' },
  { emit: (a) => a.ret(), expect: 'ret' },
  { emit: (a) => a.ret('x5'), expect: 'ret x5' },
  { emit: (a) => a.eret(), expect: 'eret' },
  ...(Object.keys(A64_SYSREGS) as A64SysReg[]).map((r): Case<A64Asm> => ({
    emit: (a) => a.mrs('x1', r),
    expect: `mrs x1, ${r}`,
  })),
  ...(Object.keys(A64_SYSREGS) as A64SysReg[])
    .filter((r) => !READ_ONLY.includes(r))
    .map((r): Case<A64Asm> => ({ emit: (a) => a.msr(r, 'x2'), expect: `msr ${r}, x2` })),
  { emit: (a) => a.msrDaifSet(0xf), expect: 'msr daifset, #0xf' },
  { emit: (a) => a.msrDaifClr(2), expect: 'msr daifclr, #0x2' },
  { emit: (a) => a.tlbi('vmalle1'), expect: 'tlbi vmalle1' },
  { emit: (a) => a.tlbi('vmalle1is'), expect: 'tlbi vmalle1is' },
  ...(Object.keys(A64_BARRIERS) as (keyof typeof A64_BARRIERS)[]).flatMap((o): Case<A64Asm>[] => [
    { emit: (a) => a.dsb(o), expect: `dsb ${o}` },
    { emit: (a) => a.dmb(o), expect: `dmb ${o}` },
  ]),
  { emit: (a) => a.isb(), expect: 'isb' },
  { emit: (a) => a.dc('civac', 'x0'), expect: 'dc civac, x0' },
  { emit: (a) => a.dc('cvac', 'x1'), expect: 'dc cvac, x1' },
  { emit: (a) => a.dc('cvau', 'x2'), expect: 'dc cvau, x2' },
  { emit: (a) => a.dc('ivac', 'x3'), expect: 'dc ivac, x3' },
  { emit: (a) => a.ic('iallu'), expect: 'ic iallu' },
  { emit: (a) => a.ic('ialluis'), expect: 'ic ialluis' },
  { emit: (a) => a.wfi(), expect: 'wfi' },
  { emit: (a) => a.wfe(), expect: 'wfe' },
  { emit: (a) => a.nop(), expect: 'nop' },
  { emit: (a) => a.brk(1), expect: 'brk #0x1' },
  { emit: (a) => a.udf(0x1234), expect: 'udf #4660' },
];

t.test('AArch64: every form disassembles as intended', { skip: skipA64 }, async (t) => {
  checkCases(t, 'a64', () => new A64Asm(), A64_CASES, A64_BASE);
});

const xreg = fc.integer({ min: 0, max: 30 }).map((n) => `x${n}` as XReg);
const xregOrSp = fc.oneof(xreg, fc.constant<XReg>('sp'));
const a64Random: fc.Arbitrary<Case<A64Asm>> = fc.oneof(
  fc.tuple(xreg, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })).map(([r, v]): Case<A64Asm> => ({
    // movImm's first word is MOVZ (or MOVN); the rest are MOVKs, checked by the unit test
    emit: (a) => a.movz(r, Number(v & 0xffffn)).movk(r, Number((v >> 16n) & 0xffffn), 16),
    expect: `mov ${r}, #${h(v & 0xffffn)}`,
  })),
  fc
    .tuple(fc.constantFrom('add', 'sub', 'eor', 'orr', 'and'), xreg, xreg, xreg, fc.integer({ min: 0, max: 63 }))
    .map(([op, d, n, m, s]): Case<A64Asm> => ({
      emit: (a) => a[op](d, n, m, s),
      expect: `${op} ${d}, ${n}, ${m}${s === 0 ? '' : `, lsl #${s}`}`,
    })),
  fc
    .tuple(fc.constantFrom('addImm', 'subImm'), xregOrSp, xregOrSp, fc.integer({ min: 1, max: 0xfff }))
    .map(([op, d, n, v]): Case<A64Asm> => ({
      emit: (a) => a[op](d, n, v),
      expect: `${op.slice(0, 3)} ${d}, ${n}, #${h(v)}`,
    })),
  fc
    .tuple(fc.constantFrom('ldr', 'str'), xreg, xregOrSp, fc.integer({ min: 0, max: 4095 }))
    .map(([op, t, b, k]): Case<A64Asm> => ({
      emit: (a) => a[op](t, { base: b, offset: 8 * k }),
      expect: `${op} ${t}, [${b}${k === 0 ? '' : `, #${8 * k}`}]`,
    })),
  fc
    .tuple(
      fc.constantFrom('ldr', 'str'),
      xreg,
      xregOrSp,
      fc.integer({ min: -256, max: 255 }),
      fc.constantFrom('pre', 'post') as fc.Arbitrary<'pre' | 'post'>,
    )
    .filter(([, t, b]) => t !== b)
    .map(([op, t, b, k, mode]): Case<A64Asm> => ({
      emit: (a) => a[op](t, { base: b, offset: k, mode }),
      expect: mode === 'pre' ? `${op} ${t}, [${b}, #${k}]!` : `${op} ${t}, [${b}], #${k}`,
    })),
  fc
    .tuple(fc.constantFrom('ldp', 'stp'), xreg, xreg, xregOrSp, fc.integer({ min: -64, max: 63 }))
    .filter(([op, t1, t2]) => op === 'stp' || t1 !== t2)
    .map(([op, t1, t2, b, k]): Case<A64Asm> => ({
      emit: (a) => a[op](t1, t2, { base: b, offset: 8 * k }),
      expect: `${op} ${t1}, ${t2}, [${b}${k === 0 ? '' : `, #${8 * k}`}]`,
    })),
  fc
    .tuple(fc.constantFrom('lsl', 'lsr'), xreg, xreg, fc.integer({ min: 1, max: 63 }))
    .map(([op, d, n, s]): Case<A64Asm> => ({ emit: (a) => a[op](d, n, s), expect: `${op} ${d}, ${n}, #${s}` })),
);

t.test('AArch64: random operands agree with objdump', { skip: skipA64 }, async (t) => {
  checkRandom(t, 'a64', () => new A64Asm(), a64Random);
});

// --- probe kernels --------------------------------------------------------------------------

/** The probe's text segment, disassembled at its link address. */
function probeText(t: Test, arch: 'amd64' | 'arm64', mode: 'rescue' | 'kexec', gicr?: bigint): Line[] {
  const image = parseElf(buildProbeKernel(arch, { mode, ...(gicr === undefined ? {} : { gicr }) }));
  const text = image.loadSegments.find((p) => (p.flags & PF.X) !== 0);
  if (text === undefined) throw new Error('no text segment');
  t.equal(text.vaddr, probeEntryVa(arch), 'text starts at the entry');
  const lines = disassemble(t, arch === 'amd64' ? 'x86' : 'a64', segmentBytes(image, text), text.vaddr);
  return lines;
}

t.test('amd64 probe: report stores, hand-off copy, checksum loop, UART, halt', { skip: skipX86 }, async (t) => {
  for (const mode of ['rescue', 'kexec'] as const) {
    const lines = probeText(t, 'amd64', mode);
    const texts = lines.map((l) => l.text);
    const report = probeReportVa('amd64');
    // each incoming GPR is stored RIP-relatively into its gpr slot (objdump's comment is the target)
    PROBE_GPR_NAMES.amd64.forEach((r, i) => {
      const want = report + BigInt(ProbeReportLayout.offsets.gpr + 8 * i);
      const line = lines[i];
      t.match(line?.text ?? '', new RegExp(`^mov %${r},0x[0-9a-f]+\\(%rip\\)$`), `${mode}: stores ${r} first`);
      t.equal(line?.comment, h(want), `${mode}: ${r} lands in gpr[${i}]`);
    });
    for (const cr of ['cr0', 'cr3', 'cr4']) t.ok(texts.includes(`mov %${cr},%rax`), `${mode}: reads ${cr}`);
    t.ok(texts.includes('rdmsr'), 'reads EFER');
    t.ok(texts.includes('mov 0x4(%rsp),%eax') && texts.includes('mov 0x8(%rsp),%eax'), 'reads modulep and kernend');
    t.ok(texts.includes('rep movsq %ds:(%rsi),%es:(%rdi)'), 'copies the hand-off');
    t.ok(
      texts.includes(mode === 'rescue' ? 'movabs $0xffffffff80000000,%rsi' : 'mov 0x4(%rsp),%esi'),
      `${mode}: hand-off source`,
    );
    const loop = texts.indexOf('movzbl (%rsi),%edx');
    t.same(
      texts.slice(loop, loop + 4),
      ['movzbl (%rsi),%edx', 'xor %rdx,%rax', 'imul %r8,%rax', 'inc %rsi'],
      'FNV-1a loop',
    );
    t.ok(
      texts.includes('movabs $0x100000001b3,%r8') && texts.includes('movabs $0xcbf29ce484222325,%rax'),
      'FNV constants',
    );
    t.ok(texts.includes('mov $0x3f8,%edx') && texts.filter((x) => x === 'out %al,(%dx)').length >= 3, 'UART out');
    const halt = texts.indexOf('hlt');
    t.same(texts.slice(halt - 1, halt + 2), ['cli', 'hlt', `jmp ${h(lines[halt - 1]?.addr ?? 0n)}`], 'halt loop');
  }
});

t.test('arm64 probe: report base, hand-off copy, checksum loop, UART, halt', { skip: skipA64 }, async (t) => {
  for (const mode of ['rescue', 'kexec'] as const) {
    const texts = probeText(t, 'arm64', mode).map((l) => l.text);
    t.same(
      texts.slice(0, 2),
      ['msr tpidr_el1, x0', `adr x0, ${h(probeReportVa('arm64'))}`],
      `${mode}: parks x0, finds the report`,
    );
    t.equal(texts[2], `str x1, [x0, #${ProbeReportLayout.offsets.gpr + 8}]`, 'x1 into gpr[1]');
    t.equal(texts[3], `stp x2, x3, [x0, #${ProbeReportLayout.offsets.gpr + 16}]`, 'x2, x3 into gpr[2..3]');
    for (const r of ['currentel', 'sctlr_el1', 'ttbr0_el1', 'ttbr1_el1', 'tcr_el1'])
      t.ok(texts.includes(`mrs x1, ${r}`), r);
    t.ok(
      texts.includes(mode === 'rescue' ? 'sub x1, x2, #0x200, lsl #12' : 'sub x1, x1, x3'),
      `${mode}: hand-off address`,
    );
    const copy = texts.indexOf('ldr x5, [x1], #8');
    t.same(texts.slice(copy, copy + 3), ['ldr x5, [x1], #8', 'str x5, [x3], #8', 'subs x4, x4, #0x1'], 'copy loop');
    // the checksum loop is the last post-indexed byte load (rescue mode's byte copies come first)
    const loop = texts.lastIndexOf('ldrb w5, [x1], #1');
    t.same(texts.slice(loop, loop + 3), ['ldrb w5, [x1], #1', 'eor x3, x3, x5', 'mul x3, x3, x4'], 'FNV-1a loop');
    t.ok(texts.filter((x) => x === 'strb w5, [x1]').length >= 3, 'UART strb');
    t.ok(texts.includes('mov x1, #0x9000000'), 'default PL011 base');
    t.ok(texts.includes('dc civac, x1') && texts.includes('dsb sy'), 'cleans the report');
    const wfi = texts.indexOf('wfi');
    t.match(texts[wfi + 1] ?? '', /^b 0x/, 'wfi loop');
  }
});

t.test(
  'arm64 probe --gic: GICR_CTLR, PROPBASER, PENDBASER and GICR_TYPER loads, big-endian DTB words',
  { skip: skipA64 },
  async (t) => {
    const texts = probeText(t, 'arm64', 'rescue', 0x080a_0000n).map((l) => l.text);
    // gic_v3_reg.h: GICR_CTLR 0x0, GICR_TYPER 0x8, GICR_PROPBASER 0x70, GICR_PENDBASER 0x78
    t.ok(texts.includes('mov x19, #0x80a0000'), 'the redistributor base');
    t.ok(texts.includes('ldr w1, [x19]'), 'GICR_CTLR (32-bit)');
    t.ok(texts.includes('ldr x1, [x19, #112]'), 'GICR_PROPBASER');
    t.ok(texts.includes('ldr x1, [x23, #120]'), "each CPU's GICR_PENDBASER");
    t.ok(texts.includes('ldr x1, [x23, #8]'), 'GICR_TYPER (Last)');
    t.ok(texts.includes('rev w1, w1'), 'FDT words are big-endian');
    t.ok(texts.filter((x) => x.startsWith('bl ')).length >= 3, 'the leaf checks are called');
  },
);

t.test('amd64 probe: params, kenv and firmware loads use rescueParamsLayout offsets', { skip: skipX86 }, async (t) => {
  const P = rescueParamsLayout('amd64');
  const R = ProbeReportLayout.offsets;
  const report = probeReportVa('amd64');
  for (const mode of ['rescue', 'kexec'] as const) {
    const lines = probeText(t, 'amd64', mode);
    const texts = lines.map((l) => l.text);
    // the zeroed tail: lea of report + PROBE_FOLLOW_START, then rep stos of whole words
    const stos = texts.indexOf('rep stos %rax,%es:(%rdi)');
    t.ok(stos > 0, `${mode}: zeroes the followed areas`);
    t.equal(lines[stos - 3]?.comment, h(report + BigInt(PROBE_FOLLOW_START)), `${mode}: from PROBE_FOLLOW_START`);
    t.equal(texts[stos - 1], `mov $${h((ProbeReportLayout.size - PROBE_FOLLOW_START) / 8)},%ecx`);
    const loads = texts.flatMap((x) => {
      const m = /^mov (0x[0-9a-f]+)\(%rbx\),%(rsi|rcx)$/.exec(x);
      return m === null ? [] : [[Number(m[1]), m[2]]];
    });
    if (mode === 'kexec') {
      t.same(loads, [], 'kexec: no params loads');
      t.notOk(texts.includes('rep movsb %ds:(%rsi),%es:(%rdi)'), 'kexec: nothing followed');
      continue;
    }
    t.ok(texts.includes('movabs $0xffffffff80000000,%rbx'), 'params base: VA KERNBASE');
    const copy = texts.indexOf('mov %rbx,%rsi');
    t.equal(lines[copy + 1]?.comment, h(report + BigInt(R.params)), 'params copied into report.params');
    t.same(texts.slice(copy + 2, copy + 4), [`mov $${h(P.size / 8)},%ecx`, 'rep movsq %ds:(%rsi),%es:(%rdi)']);
    t.same(
      loads,
      [
        [P.offsets.kpKenvstart, 'rsi'],
        [P.offsets.kpKenvlen, 'rcx'],
        ...PROBE_FIRMWARE_SOURCES.amd64.flatMap((src) => [
          [P.offsets[src.start], 'rsi'],
          [P.offsets[src.len], 'rcx'],
        ]),
      ],
      'kenv, then EFI map else SMAP, at the rescue_kernel_params offsets',
    );
    // the kind moves come first; the UART port's `mov $0x3f8,%edx` follows later
    const kinds = texts.filter((x) => /^mov \$0x[0-9a-f]+,%edx$/.test(x)).slice(0, 3);
    t.same(
      kinds,
      [...PROBE_FIRMWARE_SOURCES.amd64.map((s) => PROBE_FIRMWARE_KIND[s.kind]), PROBE_FIRMWARE_KIND.none].map(
        (k) => `mov $${h(k)},%edx`,
      ),
      'firmware kinds',
    );
    t.equal(texts.filter((x) => x === `cmp $${h(PROBE_FOLLOW_BYTES)},%rcx`).length, 2, 'both copies capped at 256');
    t.equal(texts.filter((x) => x === 'rep movsb %ds:(%rsi),%es:(%rdi)').length, 2, 'two byte copies');
    const storeTargets = (re: RegExp): string[] => lines.filter((l) => re.test(l.text)).map((l) => l.comment);
    t.same(
      storeTargets(/^mov %ecx,0x[0-9a-f]+\(%rip\)$/),
      [R.kenvLen, R.firmwareLen].map((o) => h(report + BigInt(o))),
      'lengths stored',
    );
    t.same(storeTargets(/^mov %edx,0x[0-9a-f]+\(%rip\)$/), [h(report + BigInt(R.firmwareKind))], 'kind stored');
    t.ok(
      [R.handoffAddr, R.kenvAddr, R.firmwareAddr].every((o) =>
        storeTargets(/^mov %rsi,0x[0-9a-f]+\(%rip\)$/).includes(h(report + BigInt(o))),
      ),
      'addresses stored',
    );
  }
});

t.test('arm64 probe: params, kenv and firmware loads use rescueParamsLayout offsets', { skip: skipA64 }, async (t) => {
  const P = rescueParamsLayout('arm64');
  const R = ProbeReportLayout.offsets;
  for (const mode of ['rescue', 'kexec'] as const) {
    const texts = probeText(t, 'arm64', mode).map((l) => l.text);
    const zero = texts.indexOf('str xzr, [x3], #8');
    t.same(
      texts.slice(zero - 2, zero),
      [`add x3, x0, #${h(PROBE_FOLLOW_START)}`, `mov x4, #${h((ProbeReportLayout.size - PROBE_FOLLOW_START) / 8)}`],
      `${mode}: zeroes the followed areas`,
    );
    const loads = texts.flatMap((x) => {
      const m = /^ldr (x\d+), \[x6, #(\d+)\]$/.exec(x);
      return m === null ? [] : [[Number(m[2]), m[1]]];
    });
    if (mode === 'kexec') {
      t.same(loads, [], 'kexec: no params loads');
      continue;
    }
    const base = texts.indexOf('sub x6, x2, #0x200, lsl #12');
    t.ok(base > 0, 'params base: load PA - 2 MiB');
    t.same(
      texts.slice(base + 1, base + 4),
      ['mov x1, x6', `add x3, x0, #${h(R.params)}`, `mov x4, #${h(P.size / 8)}`],
      'whole params into report.params',
    );
    t.ok(texts.includes(`str w1, [x0, #${R.paramsLen}]`), 'params length stored');
    t.same(
      loads,
      [
        [P.offsets.kpKenvstart, 'x1'],
        [P.offsets.kpKenvlen, 'x4'],
        ...PROBE_FIRMWARE_SOURCES.arm64.flatMap((src) => [
          [P.offsets[src.start], 'x1'],
          [P.offsets[src.len], 'x4'],
        ]),
      ],
      'kenv, then DTB else EFI map, at the rescue_kernel_params offsets',
    );
    t.equal(texts.filter((x) => x === `cmp x4, #${h(PROBE_FOLLOW_BYTES)}`).length, 2, 'both copies capped at 256');
    const copy = texts.indexOf('ldrb w5, [x1], #1');
    t.same(texts.slice(copy, copy + 3), ['ldrb w5, [x1], #1', 'strb w5, [x3], #1', 'subs x4, x4, #0x1'], 'byte copy');
    for (const [what, line] of [
      ['kenv length', `str w4, [x0, #${R.kenvLen}]`],
      ['firmware length', `str w4, [x0, #${R.firmwareLen}]`],
      ['firmware kind', `str w7, [x0, #${R.firmwareKind}]`],
      ['kenv address', `str x1, [x0, #${R.kenvAddr}]`],
      ['firmware address', `str x1, [x0, #${R.firmwareAddr}]`],
    ] as const)
      t.ok(texts.includes(line), `${what} stored (${line})`);
  }
});
