// A64Asm: branch and literal fixups, the ldr/str form choice (scaled, unscaled, indexed),
// movImm's MOVZ/MOVN + MOVK sequences (a property over random values, replayed by a tiny
// move-wide interpreter), and one test per error code, each made by changing one operand of
// a good instruction. Disassembly of every form is checked against aarch64-linux-gnu-objdump
// in test/external/objdump.test.ts.
import t from 'tap';
import fc from 'fast-check';
import { A64Asm, AsmCode, type A64Reg, type XReg } from '../../../../loader/codegen/index.js';
import { throwsCode } from '../../../helpers/errors.js';

const words = (b: Uint8Array): number[] =>
  Array.from({ length: b.length / 4 }, (_, i) => new DataView(b.buffer, b.byteOffset).getUint32(4 * i, true));
const sext = (v: number, bits: number): number => (v << (32 - bits)) >> (32 - bits);
const bytesOf = (f: (a: A64Asm) => unknown): Uint8Array => {
  const a = new A64Asm();
  f(a);
  return a.finish().bytes;
};

t.test('branches, cbz, b.cond, adr and ldr literal resolve to their labels', (t) => {
  const a = new A64Asm();
  a.label('top').nop().b('end').bl('top').bcond('ne', 'end').cbz('x3', 'top').adr('x1', 'end').ldrLit('x2', 'end');
  a.label('end').u64(0n);
  const w = words(a.finish(0x4000_0000n).bytes);
  const end = 28;
  t.equal(sext((w[1] ?? 0) & 0x3ff_ffff, 26) * 4, end - 4, 'b');
  t.equal(sext((w[2] ?? 0) & 0x3ff_ffff, 26) * 4, 0 - 8, 'bl');
  t.equal(sext(((w[3] ?? 0) >> 5) & 0x7ffff, 19) * 4, end - 12, 'b.ne');
  t.equal((w[3] ?? 0) & 0xf, 1, 'cond ne');
  t.equal(sext(((w[4] ?? 0) >> 5) & 0x7ffff, 19) * 4, 0 - 16, 'cbz');
  const adr = w[5] ?? 0;
  t.equal(sext((((adr >> 5) & 0x7ffff) << 2) | ((adr >>> 29) & 3), 21), end - 20, 'adr');
  t.equal(sext(((w[6] ?? 0) >> 5) & 0x7ffff, 19) * 4, end - 24, 'ldr literal');
  t.end();
});

t.test('adrp counts 4 KiB pages from the page of the instruction, so it depends on the base', (t) => {
  const a = new A64Asm();
  a.adrp('x0', 'far').labelAt('far', 0x20);
  const page = (base: bigint): number => {
    const w = words(a.finish(base).bytes)[0] ?? 0;
    return sext((((w >> 5) & 0x7ffff) << 2) | ((w >>> 29) & 3), 21);
  };
  t.equal(page(0x4000_0000n), 0, 'same page');
  t.equal(page(0x4000_0fe0n), 1, 'the label lies on the next page');
  t.end();
});

t.test('ldr/str pick the scaled, unscaled or indexed form', (t) => {
  const enc = (f: (a: A64Asm) => void): number => words(bytesOf(f))[0] ?? 0;
  t.equal(
    enc((a) => a.ldr('x0', { base: 'x1', offset: 32760 })),
    (0xf9400000 | (4095 << 10) | (1 << 5)) >>> 0,
    'scaled imm12',
  );
  t.equal(enc((a) => a.ldr('x0', { base: 'x1', offset: -8 })) >>> 24, 0xf8, 'negative: LDUR');
  t.equal(enc((a) => a.ldr('x0', { base: 'x1', offset: 3 })) >>> 24, 0xf8, 'unaligned: LDUR');
  t.equal((enc((a) => a.str('w0', { base: 'sp', offset: -4, mode: 'pre' })) >> 10) & 3, 3, 'pre-index');
  t.equal((enc((a) => a.ldrb('w0', { base: 'x1', offset: 1, mode: 'post' })) >> 10) & 3, 1, 'post-index');
  t.end();
});

/** Replays MOVZ/MOVN/MOVK words (64-bit forms) the way the CPU would. */
function replayMoveWide(ws: readonly number[], bits: 32 | 64): bigint {
  const mask = (1n << BigInt(bits)) - 1n;
  let v = 0n;
  for (const w of ws) {
    const opc = (w >>> 29) & 3;
    const shift = BigInt(((w >>> 21) & 3) * 16);
    const imm = BigInt((w >>> 5) & 0xffff);
    if (opc === 2) v = imm << shift;
    else if (opc === 0) v = ~(imm << shift) & mask;
    else v = (v & ~(0xffffn << shift)) | (imm << shift);
  }
  return v & mask;
}

t.test('property: movImm loads every value in at most 4 (x) or 2 (w) instructions', (t) => {
  const halfword = fc.constantFrom(0n, 0xffffn, 0x1234n, 0xfffen, 1n);
  const value64 = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.tuple(halfword, halfword, halfword, halfword).map(([a, b, c, d]) => a | (b << 16n) | (c << 32n) | (d << 48n)),
  );
  fc.assert(
    fc.property(value64, (v) => {
      const ws = words(bytesOf((a) => a.movImm64('x7', v)));
      return ws.length >= 1 && ws.length <= 4 && replayMoveWide(ws, 64) === v && ws.every((w) => (w & 31) === 7);
    }),
  );
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 0xffff_ffffn }), (v) => {
      const ws = words(bytesOf((a) => a.movImm('w2', v)));
      return ws.length <= 2 && replayMoveWide(ws, 32) === v;
    }),
  );
  t.equal(words(bytesOf((a) => a.movImm64('x0', -2n))).length, 1, '-2 is one MOVN');
  t.end();
});

t.test('error codes, one changed operand each', (t) => {
  const good = new A64Asm()
    .movz('x0', 0xffff, 48)
    .addImm('sp', 'sp', 0xfff000)
    .ldr('x1', { base: 'sp', offset: 32760 })
    .stp('x2', 'x3', { base: 'sp', offset: -512, mode: 'pre' })
    .brk(0xffff);
  t.equal(good.finish().bytes.length, 20, 'the good program assembles');
  throwsCode(t, () => new A64Asm().movz('x0', 0x10000, 48), AsmCode.Range, 'movz imm16 too wide');
  throwsCode(t, () => new A64Asm().movz('w0', 1, 32), AsmCode.Range, 'w register, shift 32');
  throwsCode(t, () => new A64Asm().movz('x0', 1, 8), AsmCode.Misaligned, 'shift not a multiple of 16');
  throwsCode(t, () => new A64Asm().addImm('sp', 'sp', 0x1001000), AsmCode.Range, 'imm12 << 12 too wide');
  throwsCode(t, () => new A64Asm().addImm('x0', 'x0', -1), AsmCode.Range, 'negative add immediate');
  throwsCode(t, () => new A64Asm().ldr('x1', { base: 'sp', offset: 32768 }), AsmCode.Range, 'past imm12 * 8');
  throwsCode(
    t,
    () => new A64Asm().ldr('x1', { base: 'sp', offset: 0x1001 }),
    AsmCode.Misaligned,
    'not a multiple of 8',
  );
  throwsCode(t, () => new A64Asm().ldr('x1', { base: 'sp', offset: 256, mode: 'pre' }), AsmCode.Range, 'imm9');
  throwsCode(t, () => new A64Asm().stp('x2', 'x3', { base: 'sp', offset: -520 }), AsmCode.Range, 'imm7 * 8');
  throwsCode(t, () => new A64Asm().stp('x2', 'x3', { base: 'sp', offset: -12 }), AsmCode.Misaligned, 'pair offset');
  throwsCode(t, () => new A64Asm().brk(0x10000), AsmCode.Range, 'brk imm16');
  throwsCode(t, () => new A64Asm().movImm('x0', 1.5), AsmCode.Range, 'a fraction');
  throwsCode(t, () => new A64Asm().movImm('w0', 1n << 32n), AsmCode.Range, 'w register, 33 bits');
  throwsCode(t, () => new A64Asm().lsl('x0', 'x1', 64), AsmCode.Range, 'shift 64');
  throwsCode(t, () => new A64Asm().movz('x31', 1), AsmCode.BadOperand, 'x31 is not a register name');
  throwsCode(t, () => new A64Asm().addImm('xzr', 'sp', 1), AsmCode.BadOperand, 'xzr where 31 means SP');
  throwsCode(t, () => new A64Asm().add('x0', 'sp', 'x1'), AsmCode.BadOperand, 'sp where 31 means XZR');
  throwsCode(t, () => new A64Asm().add('x0', 'w1', 'x2'), AsmCode.BadOperand, 'mixed widths');
  throwsCode(t, () => new A64Asm().ldrb('x0' as 'w0', { base: 'x1' }), AsmCode.BadOperand, 'ldrb into an x register');
  throwsCode(t, () => new A64Asm().ldr('x0', { base: 'w1' as XReg }), AsmCode.BadOperand, 'a w register as base');
  throwsCode(
    t,
    () => new A64Asm().ldr('x1', { base: 'x1', offset: 8, mode: 'post' }),
    AsmCode.BadOperand,
    'writeback onto Rt',
  );
  throwsCode(t, () => new A64Asm().ldp('x1', 'x1', { base: 'sp' }), AsmCode.BadOperand, 'ldp of one register twice');
  throwsCode(t, () => new A64Asm().mrs('x0', 'nosuch_el1' as 'daif'), AsmCode.BadOperand, 'unknown system register');
  throwsCode(t, () => new A64Asm().dsb('everything' as 'sy'), AsmCode.BadOperand, 'unknown barrier');
  throwsCode(
    t,
    () => new A64Asm().ldr('x1', { base: 'sp', offset: 8, mode: 'sideways' as 'pre' }),
    AsmCode.BadOperand,
    'unknown addressing mode',
  );
  throwsCode(t, () => new A64Asm().mov('x0', 'q0' as A64Reg), AsmCode.BadOperand, 'not a general register');
  throwsCode(t, () => new A64Asm().b('missing').finish(), AsmCode.UndefinedLabel, 'branch to nowhere');
  throwsCode(t, () => new A64Asm().label('a').label('a'), AsmCode.DuplicateLabel, 'label twice');
  throwsCode(t, () => new A64Asm().u8(0).nop(), AsmCode.Misaligned, 'an instruction after one data byte');
  throwsCode(t, () => new A64Asm().b('odd').labelAt('odd', 6).finish(), AsmCode.Misaligned, 'branch to a byte offset');
  throwsCode(t, () => new A64Asm().nop().finish(2n), AsmCode.Misaligned, 'base not 4-byte aligned');
  throwsCode(
    t,
    () =>
      new A64Asm()
        .cbz('x0', 'far')
        .labelAt('far', 1 << 20)
        .finish(),
    AsmCode.Range,
    'cbz past 1 MiB',
  );
  throwsCode(
    t,
    () =>
      new A64Asm()
        .b('far')
        .labelAt('far', 1 << 27)
        .finish(),
    AsmCode.Range,
    'b past 128 MiB',
  );
  throwsCode(
    t,
    () =>
      new A64Asm()
        .adr('x0', 'far')
        .labelAt('far', 1 << 20)
        .finish(),
    AsmCode.Range,
    'adr past 1 MiB',
  );
  t.end();
});
