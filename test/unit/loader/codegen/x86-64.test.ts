// X86Asm: labels and fixups (forward, backward, RIP-relative, absolute), data directives,
// the ModR/M special cases (rsp/r12 need a SIB, rbp/r13 need a disp8), and one test per
// error code, each made by changing one operand of a good instruction. The disassembly of
// every form is checked against GNU objdump in test/external/objdump.test.ts.
import t from 'tap';
import fc from 'fast-check';
import { AsmCode, X86Asm, type Reg64 } from '../../../../loader/codegen/index.js';
import { throwsCode } from '../../../helpers/errors.js';

const hexBytes = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const i32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset).getInt32(at, true);

t.test('a forward and a backward branch resolve to their labels', (t) => {
  const a = new X86Asm();
  a.label('top').nop().jcc('nz', 'end').jmp('top').label('end').hlt();
  const { bytes, labels, address } = a.finish(0x1000n);
  // nop @0; jne rel32 @1..7 (0f 85 +4); jmp rel32 @7..12 (e9 +4); hlt @12
  t.equal(bytes.length, 13);
  t.equal(i32(bytes, 3), 12 - 7, 'jne: end - end of the jne');
  t.equal(i32(bytes, 8), 0 - 12, 'jmp: top - end of the jmp');
  t.equal(labels.get('end'), 0x100cn);
  t.equal(address('top'), 0x1000n);
  throwsCode(t, () => address('nowhere'), AsmCode.UndefinedLabel);
  t.end();
});

t.test('RIP-relative operands count from the end of the instruction, immediates included', (t) => {
  const a = new X86Asm();
  a.movStoreImm32({ label: 'data', disp: 4 }, 0x11223344); // c7 05 disp32 imm32: 10 bytes
  a.lea('r13', { label: 'data' }); // 4c 8d 2d disp32: 7 bytes
  a.label('data').u64(0n);
  const { bytes } = a.finish();
  t.equal(hexBytes(bytes.subarray(0, 2)), 'c705');
  t.equal(i32(bytes, 2), 17 + 4 - 10, 'store: data + 4 - end of instruction (imm32 included)');
  t.equal(hexBytes(bytes.subarray(10, 13)), '4c8d2d');
  t.equal(i32(bytes, 13), 17 - 17, 'lea: data - end');
  t.end();
});

t.test('ModR/M special cases: rsp/r12 take a SIB byte, rbp/r13 a zero disp8', (t) => {
  const enc = (f: (a: X86Asm) => void): string => {
    const a = new X86Asm();
    f(a);
    return hexBytes(a.finish().bytes);
  };
  t.equal(
    enc((a) => a.movLoad64('rax', { base: 'rsp' })),
    '488b0424',
  );
  t.equal(
    enc((a) => a.movLoad64('rax', { base: 'r12' })),
    '498b0424',
  );
  t.equal(
    enc((a) => a.movLoad64('rax', { base: 'rbp' })),
    '488b4500',
  );
  t.equal(
    enc((a) => a.movLoad64('rax', { base: 'r13' })),
    '498b4500',
  );
  t.equal(
    enc((a) => a.movLoad64('rax', { base: 'rdi', disp: 0x80 })),
    '488b8780000000',
    'disp32 past the disp8 range',
  );
  t.equal(
    enc((a) => a.movStore8({ base: 'rax' }, 'dil')),
    '408838',
    'dil needs an empty REX',
  );
  t.equal(
    enc((a) => a.movImm64('r9', -1n)),
    '49b9ffffffffffffffff',
    'a negative i64 is its two’s complement',
  );
  t.end();
});

t.test('data directives and absolute label addresses', (t) => {
  const a = new X86Asm();
  a.u8(1).align(8, 0xcc).u64Label('here', 2).label('here').asciz('hi').u16(0x1234).u32(0xdeadbeef);
  const { bytes } = a.finish(0xffff_ffff_8020_0000n);
  t.equal(hexBytes(bytes.subarray(0, 8)), '01cccccccccccccc');
  t.equal(new DataView(bytes.buffer).getBigUint64(8, true), 0xffff_ffff_8020_0012n, 'base + 16 + 2');
  t.equal(hexBytes(bytes.subarray(16)), '6869003412efbeadde');
  throwsCode(t, () => new X86Asm().asciz('a\0b'), AsmCode.BadOperand, 'a NUL inside asciz');
  throwsCode(t, () => new X86Asm().align(3), AsmCode.BadOperand, 'alignment not a power of two');
  throwsCode(t, () => new X86Asm().u8(256), AsmCode.Range, 'u8 data too wide');
  throwsCode(t, () => new X86Asm().bytes([1, 256]), AsmCode.Range, 'a raw byte too wide');
  throwsCode(
    t,
    () => new X86Asm().u64Label('x').label('x').finish(0xffff_ffff_ffff_fff8n),
    AsmCode.Range,
    'an absolute address past 2^64',
  );
  t.end();
});

t.test('finish does not change the assembler: two bases, same code, different absolute words', (t) => {
  const a = new X86Asm();
  a.lea('rax', { label: 'x' }).u64Label('x').label('x');
  const one = a.finish(0x1000n);
  const two = a.finish(0x2000n);
  t.same(one.bytes.subarray(0, 7), two.bytes.subarray(0, 7), 'PC-relative code does not depend on the base');
  t.not(hexBytes(one.bytes.subarray(7)), hexBytes(two.bytes.subarray(7)));
  t.end();
});

t.test('error codes, one changed operand each', (t) => {
  const good = (): X86Asm => new X86Asm().add('rax', 0x7fff_ffff).shl('rax', 63).outImm(0xff);
  t.ok(good().finish().bytes.length > 0, 'the good program assembles');
  throwsCode(t, () => new X86Asm().add('rax', 0x8000_0000), AsmCode.Range, 'add imm32 one past the top');
  throwsCode(t, () => new X86Asm().shl('rax', 64), AsmCode.Range, 'shift count 64');
  throwsCode(t, () => new X86Asm().outImm(0x100), AsmCode.Range, 'out port past imm8');
  throwsCode(t, () => new X86Asm().movImm8('al', 0x100), AsmCode.Range, 'imm8 too wide');
  throwsCode(t, () => new X86Asm().movImm64('rax', 1n << 64n), AsmCode.Range, 'imm64 too wide');
  throwsCode(t, () => new X86Asm().movLoad64('rax', { base: 'rdi', disp: 0x8000_0000 }), AsmCode.Range, 'disp32');
  throwsCode(t, () => new X86Asm().add('rxx' as Reg64, 1), AsmCode.BadOperand, 'unknown register');
  throwsCode(
    t,
    () => new X86Asm().mov('rax', 'eax' as Reg64),
    AsmCode.BadOperand,
    'a 32-bit register in a 64-bit slot',
  );
  throwsCode(t, () => new X86Asm().movToCr('cr5' as 'cr0', 'rax'), AsmCode.BadOperand, 'unknown control register');
  throwsCode(t, () => new X86Asm().jcc('xx' as 'z', 'a'), AsmCode.BadOperand, 'unknown condition');
  throwsCode(t, () => new X86Asm().jmp('missing').finish(), AsmCode.UndefinedLabel, 'branch to nowhere');
  throwsCode(t, () => new X86Asm().label('a').label('a'), AsmCode.DuplicateLabel, 'label twice');
  throwsCode(
    t,
    () => new X86Asm().labelAt('far', -0x8000_0000).nop().lea('rax', { label: 'far' }).finish(),
    AsmCode.Range,
    'RIP-relative distance past 2 GiB',
  );
  throwsCode(t, () => new X86Asm().finish(-1n), AsmCode.Range, 'negative base');
  t.end();
});

t.test('property: every jmp/jcc/call lands on its label', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ pad: fc.integer({ min: 0, max: 300 }), kind: fc.constantFrom('jmp', 'jcc', 'call') }), {
        minLength: 1,
        maxLength: 12,
      }),
      fc.nat({ max: 11 }),
      (steps, pick) => {
        const a = new X86Asm();
        const sites: { end: number; target: string }[] = [];
        steps.forEach((s, i) => {
          a.label(`L${i}`);
          for (let k = 0; k < s.pad; k++) a.nop();
          const target = `L${pick % steps.length}`;
          if (s.kind === 'jmp') a.jmp(target);
          else if (s.kind === 'call') a.call(target);
          else a.jcc('le', target);
          sites.push({ end: a.here(), target });
        });
        const r = a.finish(0x40_0000n);
        return sites.every(({ end, target }) => BigInt(end + i32(r.bytes, end - 4)) + 0x40_0000n === r.address(target));
      },
    ),
  );
  t.end();
});
