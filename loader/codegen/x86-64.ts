/**
 * A small x86-64 (long mode) assembler: the instruction forms kboot's trampolines and probe
 * kernels need, emitted as bytes with labels and forward references.
 *
 *   const a = new X86Asm();
 *   a.label('loop'); a.movImm64('rax', 0x1234n); a.movStore64({ base: 'rdi', disp: 8 }, 'rax');
 *   a.jcc('nz', 'loop'); a.hlt();
 *   const { bytes, labels } = a.finish(baseVa);
 *
 * Contract: method names follow Intel mnemonics, operands are in Intel order (destination
 * first). Memory operands are `{ base, disp }` (disp32) or `{ label, disp }` (RIP-relative,
 * resolved by `finish`). Immediates are checked against their field: `add`/`sub`/... take a
 * sign-extended imm32 (so `and rcx, ~0xfff` is written -0x1000); an out-of-range value is
 * ASM_RANGE, an unknown register ASM_BAD_OPERAND. Branches and calls to labels are always
 * rel32 (no relaxation), so code size does not depend on label distances. Encodings are
 * from the Intel SDM Vol. 2 (instruction pages named per method) and §2.1–2.2 (ModR/M,
 * SIB, REX). Disassembly by GNU objdump is asserted in test/external/objdump.test.ts.
 */
import { Assembler, checkRange, writeLe } from './assembler.js';
import { AsmCode, AsmError } from './errors.js';

/** 64-bit general registers in encoding order (SDM Vol. 2 Table 3-1). */
// prettier-ignore
export const X86_REG64 = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
/** 32-bit general registers in encoding order. */
// prettier-ignore
export const X86_REG32 = [
  'eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi',
  'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d',
] as const;
/** 8-bit registers in encoding order; spl..dil need a REX prefix (ah..bh are not offered). */
// prettier-ignore
export const X86_REG8 = [
  'al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil',
  'r8b', 'r9b', 'r10b', 'r11b', 'r12b', 'r13b', 'r14b', 'r15b',
] as const;

export type Reg64 = (typeof X86_REG64)[number];
export type Reg32 = (typeof X86_REG32)[number];
export type Reg8 = (typeof X86_REG8)[number];
/** Control registers kboot moves to and from (MOV—Move to/from Control Registers). */
export type ControlReg = 'cr0' | 'cr2' | 'cr3' | 'cr4';
const CONTROL_REGS: Readonly<Record<ControlReg, number>> = { cr0: 0, cr2: 2, cr3: 3, cr4: 4 };

/** A memory operand: `[base + disp32]` or `[rip + label + disp]`. */
export type Mem = { readonly base: Reg64; readonly disp?: number } | { readonly label: string; readonly disp?: number };

/** Condition codes for `jcc` (SDM Vol. 2 Appendix B.1.4.7, "tttn"), with the usual aliases. */
// prettier-ignore
export const X86_CONDITIONS = {
  o: 0x0, no: 0x1, b: 0x2, c: 0x2, nae: 0x2, ae: 0x3, nb: 0x3, nc: 0x3,
  e: 0x4, z: 0x4, ne: 0x5, nz: 0x5, be: 0x6, na: 0x6, a: 0x7, nbe: 0x7,
  s: 0x8, ns: 0x9, p: 0xa, pe: 0xa, np: 0xb, po: 0xb,
  l: 0xc, nge: 0xc, ge: 0xd, nl: 0xd, le: 0xe, ng: 0xe, g: 0xf, nle: 0xf,
} as const;
export type X86Cond = keyof typeof X86_CONDITIONS;

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;

/** The r/m operand of an instruction: a register number or memory. */
type Rm = { readonly reg: number } | Mem;

interface Insn {
  /** REX.W (64-bit operand size). */
  readonly w?: boolean;
  /** Emit REX even with no bit set (to reach spl/bpl/sil/dil). */
  readonly forceRex?: boolean;
  readonly opcode: readonly number[];
  /** ModR/M.reg: a register number or an opcode extension (/digit). */
  readonly reg: number;
  readonly rm: Rm;
  readonly imm?: { readonly value: bigint; readonly width: 1 | 2 | 4 };
}

/** The x86-64 assembler. */
export class X86Asm extends Assembler {
  protected readonly isa = 'x86-64';

  // --- data movement ---------------------------------------------------------------------

  /** MOV r64, imm64 (REX.W B8+rd io; printed `movabs`). Takes any u64 or i64 value. */
  movImm64(dst: Reg64, value: bigint): this {
    checkRange(value, -(1n << 63n), (1n << 64n) - 1n, 'mov imm64');
    const r = reg64(dst);
    this.rex(true, 0, 0, r >> 3, false);
    this.emit8(0xb8 + (r & 7));
    return this.emitLe(value, 8);
  }

  /** MOV r32, imm32 (B8+rd id); the upper half of the 64-bit register becomes zero. */
  movImm32(dst: Reg32, value: number): this {
    checkRange(value, INT32_MIN, 0xffff_ffff, 'mov imm32');
    const r = regIn(X86_REG32, dst, 'mov imm32 destination');
    this.rex(false, 0, 0, r >> 3, false);
    this.emit8(0xb8 + (r & 7));
    return this.emitLe(BigInt(value), 4);
  }

  /** MOV r8, imm8 (B0+rb ib). */
  movImm8(dst: Reg8, value: number): this {
    checkRange(value, -0x80, 0xff, 'mov imm8');
    const r = regIn(X86_REG8, dst, 'mov imm8 destination');
    this.rex(false, 0, 0, r >> 3, r >= 4 && r < 8);
    this.emit8(0xb0 + (r & 7));
    return this.emitLe(BigInt(value), 1);
  }

  /** MOV r64, r64 (REX.W 89 /r). */
  mov(dst: Reg64, src: Reg64): this {
    return this.insn({ w: true, opcode: [0x89], reg: reg64(src), rm: { reg: reg64(dst) } });
  }

  /** MOV r64, [mem] (REX.W 8B /r). */
  movLoad64(dst: Reg64, mem: Mem): this {
    return this.insn({ w: true, opcode: [0x8b], reg: reg64(dst), rm: memOperand(mem) });
  }
  /** MOV [mem], r64 (REX.W 89 /r). */
  movStore64(mem: Mem, src: Reg64): this {
    return this.insn({ w: true, opcode: [0x89], reg: reg64(src), rm: memOperand(mem) });
  }
  /** MOV r32, [mem] (8B /r); zero-extends into the 64-bit register. */
  movLoad32(dst: Reg32, mem: Mem): this {
    return this.insn({ opcode: [0x8b], reg: regIn(X86_REG32, dst, 'load destination'), rm: memOperand(mem) });
  }
  /** MOV [mem], r32 (89 /r). */
  movStore32(mem: Mem, src: Reg32): this {
    return this.insn({ opcode: [0x89], reg: regIn(X86_REG32, src, 'store source'), rm: memOperand(mem) });
  }
  /** MOV r8, [mem] (8A /r). */
  movLoad8(dst: Reg8, mem: Mem): this {
    const r = regIn(X86_REG8, dst, 'load destination');
    return this.insn({ opcode: [0x8a], reg: r, rm: memOperand(mem), forceRex: r >= 4 && r < 8 });
  }
  /** MOV [mem], r8 (88 /r). */
  movStore8(mem: Mem, src: Reg8): this {
    const r = regIn(X86_REG8, src, 'store source');
    return this.insn({ opcode: [0x88], reg: r, rm: memOperand(mem), forceRex: r >= 4 && r < 8 });
  }
  /** MOVZX r32, byte [mem] (0F B6 /r; printed `movzbl`). */
  movzxLoad8(dst: Reg32, mem: Mem): this {
    return this.insn({ opcode: [0x0f, 0xb6], reg: regIn(X86_REG32, dst, 'movzx destination'), rm: memOperand(mem) });
  }
  /** MOV dword [mem], imm32 (C7 /0 id; printed `movl`). */
  movStoreImm32(mem: Mem, value: number): this {
    checkRange(value, INT32_MIN, 0xffff_ffff, 'mov dword imm32');
    return this.insn({ opcode: [0xc7], reg: 0, rm: memOperand(mem), imm: { value: BigInt(value), width: 4 } });
  }
  /** MOV qword [mem], imm32 sign-extended (REX.W C7 /0 id; printed `movq`). */
  movStoreImm64(mem: Mem, value: number): this {
    checkRange(value, INT32_MIN, INT32_MAX, 'mov qword imm32');
    return this.insn({ w: true, opcode: [0xc7], reg: 0, rm: memOperand(mem), imm: { value: BigInt(value), width: 4 } });
  }

  /** LEA r64, [mem] (REX.W 8D /r); with a label, the label's address RIP-relatively. */
  lea(dst: Reg64, mem: Mem): this {
    return this.insn({ w: true, opcode: [0x8d], reg: reg64(dst), rm: memOperand(mem) });
  }

  /** MOV CRn, r64 (0F 22 /r; operand size is 64 bits in long mode without REX.W). */
  movToCr(cr: ControlReg, src: Reg64): this {
    return this.insn({ opcode: [0x0f, 0x22], reg: controlReg(cr), rm: { reg: reg64(src) } });
  }
  /** MOV r64, CRn (0F 20 /r). */
  movFromCr(dst: Reg64, cr: ControlReg): this {
    return this.insn({ opcode: [0x0f, 0x20], reg: controlReg(cr), rm: { reg: reg64(dst) } });
  }

  /** PUSH r64 (50+rd). */
  push(r: Reg64): this {
    const n = reg64(r);
    this.rex(false, 0, 0, n >> 3, false);
    return this.emit8(0x50 + (n & 7));
  }
  /** POP r64 (58+rd). */
  pop(r: Reg64): this {
    const n = reg64(r);
    this.rex(false, 0, 0, n >> 3, false);
    return this.emit8(0x58 + (n & 7));
  }

  // --- arithmetic and logic (SDM Vol. 2: ADD, OR, AND, SUB, XOR, CMP; group 1 is 81/83 /digit) ---

  /** ADD r64, r64 | imm32. */
  add(dst: Reg64, src: Reg64 | number): this {
    return this.alu(0, 0x01, dst, src, 'add');
  }
  /** OR r64, r64 | imm32. */
  or(dst: Reg64, src: Reg64 | number): this {
    return this.alu(1, 0x09, dst, src, 'or');
  }
  /** AND r64, r64 | imm32 (sign-extended). */
  and(dst: Reg64, src: Reg64 | number): this {
    return this.alu(4, 0x21, dst, src, 'and');
  }
  /** SUB r64, r64 | imm32. */
  sub(dst: Reg64, src: Reg64 | number): this {
    return this.alu(5, 0x29, dst, src, 'sub');
  }
  /** XOR r64, r64 | imm32. */
  xor(dst: Reg64, src: Reg64 | number): this {
    return this.alu(6, 0x31, dst, src, 'xor');
  }
  /** CMP r64, r64 | imm32 (flags from dst - src). */
  cmp(dst: Reg64, src: Reg64 | number): this {
    return this.alu(7, 0x39, dst, src, 'cmp');
  }
  /** TEST r64, r64 (REX.W 85 /r) | imm32 (REX.W F7 /0 id). */
  test(a: Reg64, b: Reg64 | number): this {
    if (typeof b === 'number') {
      checkRange(b, INT32_MIN, INT32_MAX, 'test imm32');
      return this.insn({ w: true, opcode: [0xf7], reg: 0, rm: { reg: reg64(a) }, imm: { value: BigInt(b), width: 4 } });
    }
    return this.insn({ w: true, opcode: [0x85], reg: reg64(b), rm: { reg: reg64(a) } });
  }
  /** IMUL r64, r64 (REX.W 0F AF /r): dst = low 64 bits of dst * src. */
  imul(dst: Reg64, src: Reg64): this {
    return this.insn({ w: true, opcode: [0x0f, 0xaf], reg: reg64(dst), rm: { reg: reg64(src) } });
  }
  /** SHL r64, imm8 (REX.W C1 /4 ib). */
  shl(dst: Reg64, count: number): this {
    return this.shift(4, dst, count, 'shl');
  }
  /** SHR r64, imm8 (REX.W C1 /5 ib). */
  shr(dst: Reg64, count: number): this {
    return this.shift(5, dst, count, 'shr');
  }
  /** SAR r64, imm8 (REX.W C1 /7 ib). */
  sar(dst: Reg64, count: number): this {
    return this.shift(7, dst, count, 'sar');
  }
  /** INC r64 (REX.W FF /0). */
  inc(r: Reg64): this {
    return this.insn({ w: true, opcode: [0xff], reg: 0, rm: { reg: reg64(r) } });
  }
  /** DEC r64 (REX.W FF /1). */
  dec(r: Reg64): this {
    return this.insn({ w: true, opcode: [0xff], reg: 1, rm: { reg: reg64(r) } });
  }

  // --- control flow --------------------------------------------------------------------

  /** JMP rel32 to a label (E9 cd). */
  jmp(label: string): this {
    return this.rel32([0xe9], label);
  }
  /** JMP r64 (FF /4). */
  jmpReg(r: Reg64): this {
    return this.insn({ opcode: [0xff], reg: 4, rm: { reg: reg64(r) } });
  }
  /** CALL rel32 to a label (E8 cd). */
  call(label: string): this {
    return this.rel32([0xe8], label);
  }
  /** CALL r64 (FF /2). */
  callReg(r: Reg64): this {
    return this.insn({ opcode: [0xff], reg: 2, rm: { reg: reg64(r) } });
  }
  /** Jcc rel32 to a label (0F 80+cc cd). */
  jcc(cond: X86Cond, label: string): this {
    const cc = X86_CONDITIONS[cond] as number | undefined;
    if (cc === undefined) throw badOperand(`unknown jcc condition ${JSON.stringify(cond)}`, { cond });
    return this.rel32([0x0f, 0x80 + cc], label);
  }
  /** RET (C3). */
  ret(): this {
    return this.emit8(0xc3);
  }

  // --- system and string instructions (one opcode each; SDM Vol. 2 pages of the same name) ---

  cli(): this {
    return this.emit8(0xfa);
  }
  sti(): this {
    return this.emit8(0xfb);
  }
  cld(): this {
    return this.emit8(0xfc);
  }
  hlt(): this {
    return this.emit8(0xf4);
  }
  /** PAUSE (F3 90). */
  pause(): this {
    return this.bytes([0xf3, 0x90]);
  }
  int3(): this {
    return this.emit8(0xcc);
  }
  /** UD2 (0F 0B). */
  ud2(): this {
    return this.bytes([0x0f, 0x0b]);
  }
  nop(): this {
    return this.emit8(0x90);
  }
  /** WRMSR (0F 30): MSR[ecx] = edx:eax. */
  wrmsr(): this {
    return this.bytes([0x0f, 0x30]);
  }
  /** RDMSR (0F 32): edx:eax = MSR[ecx]. */
  rdmsr(): this {
    return this.bytes([0x0f, 0x32]);
  }
  /** REP MOVSQ (F3 REX.W A5): copy rcx qwords from [rsi] to [rdi]. */
  repMovsq(): this {
    return this.bytes([0xf3, 0x48, 0xa5]);
  }
  /** REP MOVSB (F3 A4). */
  repMovsb(): this {
    return this.bytes([0xf3, 0xa4]);
  }
  /** REP STOSQ (F3 REX.W AB): store rax into rcx qwords at [rdi]. */
  repStosq(): this {
    return this.bytes([0xf3, 0x48, 0xab]);
  }
  /** REP STOSB (F3 AA). */
  repStosb(): this {
    return this.bytes([0xf3, 0xaa]);
  }
  /** OUT dx, al (EE). */
  outDx(): this {
    return this.emit8(0xee);
  }
  /** OUT imm8, al (E6 ib). */
  outImm(port: number): this {
    checkRange(port, 0, 0xff, 'out port imm8');
    return this.emit8(0xe6).emit8(port);
  }
  /** IN al, dx (EC). */
  inDx(): this {
    return this.emit8(0xec);
  }
  /** IN al, imm8 (E4 ib). */
  inImm(port: number): this {
    checkRange(port, 0, 0xff, 'in port imm8');
    return this.emit8(0xe4).emit8(port);
  }
  /** LGDT [mem] (0F 01 /2): loads the 10-byte limit:base pseudo-descriptor at mem. */
  lgdt(mem: Mem): this {
    return this.insn({ opcode: [0x0f, 0x01], reg: 2, rm: memOperand(mem) });
  }

  // --- encoding helpers ----------------------------------------------------------------

  private alu(digit: number, opRR: number, dst: Reg64, src: Reg64 | number, what: string): this {
    const d = reg64(dst);
    if (typeof src === 'number') {
      checkRange(src, INT32_MIN, INT32_MAX, `${what} imm32`);
      const short = src >= -0x80 && src <= 0x7f; // 83 /digit ib: sign-extended imm8
      return this.insn({
        w: true,
        opcode: [short ? 0x83 : 0x81],
        reg: digit,
        rm: { reg: d },
        imm: { value: BigInt(src), width: short ? 1 : 4 },
      });
    }
    return this.insn({ w: true, opcode: [opRR], reg: reg64(src), rm: { reg: d } });
  }

  private shift(digit: number, dst: Reg64, count: number, what: string): this {
    checkRange(count, 0, 63, `${what} count`);
    return this.insn({
      w: true,
      opcode: [0xc1],
      reg: digit,
      rm: { reg: reg64(dst) },
      imm: { value: BigInt(count), width: 1 },
    });
  }

  private rel32(opcode: readonly number[], label: string): this {
    const start = this.here();
    this.bytes(opcode);
    const at = this.here();
    this.emitLe(0n, 4);
    const end = this.here();
    this.fixup(label, start, (out, target) => {
      const rel = target - end;
      checkRange(rel, INT32_MIN, INT32_MAX, `branch distance to ${label}`);
      writeLe(out, at, BigInt(rel), 4);
    });
    return this;
  }

  /** REX = 0100WRXB (SDM Vol. 2 §2.2.1), emitted when a bit is set or when forced. */
  private rex(w: boolean, r: number, x: number, b: number, force: boolean): void {
    const v = 0x40 | (w ? 8 : 0) | ((r & 1) << 2) | ((x & 1) << 1) | (b & 1);
    if (v !== 0x40 || force) this.emit8(v);
  }

  /** REX, opcode, ModR/M, SIB, displacement and immediate (SDM Vol. 2 §2.1). */
  private insn(i: Insn): this {
    const start = this.here();
    const parts: number[] = [];
    const rm = i.rm;
    let b = 0;
    if ('reg' in rm) b = rm.reg >> 3;
    else if ('base' in rm) b = reg64(rm.base) >> 3;
    const rex = 0x40 | (i.w === true ? 8 : 0) | (((i.reg >> 3) & 1) << 2) | (b & 1);
    if (rex !== 0x40 || i.forceRex === true) parts.push(rex);
    parts.push(...i.opcode);
    const regBits = (i.reg & 7) << 3;
    let ripDispAt = -1;
    let ripMem: { readonly label: string; readonly disp?: number } | undefined;
    if ('reg' in rm) {
      parts.push(0xc0 | regBits | (rm.reg & 7));
    } else if ('base' in rm) {
      const base = reg64(rm.base) & 7;
      const disp = rm.disp ?? 0;
      checkRange(disp, INT32_MIN, INT32_MAX, 'memory displacement');
      // mod 00 with rm=101 means RIP-relative, so [rbp]/[r13] take a zero disp8 instead.
      const mod = disp === 0 && base !== 5 ? 0 : disp >= -0x80 && disp <= 0x7f ? 1 : 2;
      parts.push((mod << 6) | regBits | base);
      if (base === 4) parts.push(0x24); // rsp/r12 as base need a SIB byte: no index, base = 100
      if (mod === 1) parts.push(disp & 0xff);
      if (mod === 2) for (let k = 0; k < 4; k++) parts.push((disp >>> (8 * k)) & 0xff);
    } else {
      checkRange(rm.disp ?? 0, INT32_MIN, INT32_MAX, 'RIP-relative addend');
      parts.push(regBits | 0x05); // mod 00, rm 101: [rip + disp32]
      ripDispAt = parts.length;
      ripMem = rm;
      parts.push(0, 0, 0, 0);
    }
    if (i.imm !== undefined) {
      let v = BigInt.asUintN(i.imm.width * 8, i.imm.value);
      for (let k = 0; k < i.imm.width; k++) {
        parts.push(Number(v & 0xffn));
        v >>= 8n;
      }
    }
    this.bytes(parts);
    if (ripMem !== undefined) {
      const at = start + ripDispAt;
      const end = start + parts.length;
      const { label } = ripMem;
      const addend = ripMem.disp ?? 0;
      this.fixup(label, start, (out, target) => {
        const rel = target + addend - end;
        checkRange(rel, INT32_MIN, INT32_MAX, `RIP-relative distance to ${label}`);
        writeLe(out, at, BigInt(rel), 4);
      });
    }
    return this;
  }
}

function badOperand(what: string, details: Record<string, unknown>): AsmError {
  return new AsmError(AsmCode.BadOperand, `trampoline: x86-64 ${what}`, details);
}

function regIn(table: readonly string[], name: string, what: string): number {
  const n = table.indexOf(name);
  if (n < 0)
    throw badOperand(`${what} is not a register of this width (${JSON.stringify(name)})`, { register: name, what });
  return n;
}

function reg64(name: Reg64): number {
  return regIn(X86_REG64, name, '64-bit register operand');
}

function controlReg(cr: ControlReg): number {
  const n = CONTROL_REGS[cr] as number | undefined;
  if (n === undefined) throw badOperand(`unknown control register (${JSON.stringify(cr)})`, { register: cr });
  return n;
}

function memOperand(m: Mem): Mem {
  if (typeof m !== 'object' || m === null || !('base' in m || 'label' in m)) {
    throw badOperand('memory operand needs a base register or a label (neither given)', { operand: m });
  }
  return m;
}
