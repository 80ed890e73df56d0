/**
 * A small AArch64 (A64) assembler: the instruction forms kboot's trampolines and probe
 * kernels need, emitted as little-endian 32-bit words with labels and forward references.
 *
 *   const a = new A64Asm();
 *   a.movImm64('x1', 0x0900_0000n); a.label('spin'); a.wfi(); a.b('spin');
 *   const { bytes, labels } = a.finish(basePa);
 *
 * Contract: method names follow the Arm mnemonics (`and`/`orr`/`eor` etc.; `addImm` and
 * `add` split the immediate and register forms). Registers are `x0`..`x30`, `xzr`, `sp`
 * and `w0`..`w30`, `wzr`, `wsp`; an operand slot that encodes 31 as the zero register
 * refuses `sp` and vice versa, and the operands of one instruction must have one width,
 * else ASM_BAD_OPERAND. Immediates, offsets and branch distances are checked against their
 * fields (ASM_RANGE) and scales (ASM_MISALIGNED); writeback forms whose base is also a
 * transfer register (CONSTRAINED UNPREDICTABLE) are refused. `ldr`/`str` pick the scaled
 * unsigned-offset form when they can and the unscaled LDUR/STUR form for small negative or
 * unaligned offsets. Encodings: Arm ARM DDI 0487, chapter C4 (A64 encoding index) and the
 * C6.2 instruction pages named per method; disassembly by GNU objdump is asserted in
 * test/external/objdump.test.ts.
 */
import { hex } from '../addr.js';
import { Assembler, checkMultiple, checkRange, readLe32, writeLe } from './assembler.js';
import { AsmCode, AsmError } from './errors.js';

/** A 64-bit register operand. */
export type XReg = `x${number}` | 'xzr' | 'sp';
/** A 32-bit register operand. */
export type WReg = `w${number}` | 'wzr' | 'wsp';
/** Any general register operand. */
export type A64Reg = XReg | WReg;

/** Condition codes (Arm ARM C1.2.4), with the hs/lo aliases. */
// prettier-ignore
export const A64_CONDITIONS = {
  eq: 0, ne: 1, cs: 2, hs: 2, cc: 3, lo: 3, mi: 4, pl: 5, vs: 6, vc: 7,
  hi: 8, ls: 9, ge: 10, lt: 11, gt: 12, le: 13, al: 14,
} as const;
export type A64Cond = keyof typeof A64_CONDITIONS;

/**
 * System registers reachable with MRS/MSR: [op0, op1, CRn, CRm, op2] (Arm ARM D17 register
 * descriptions, "Accessing ..." encodings).
 */
export const A64_SYSREGS = {
  midr_el1: [3, 0, 0, 0, 0],
  mpidr_el1: [3, 0, 0, 0, 5],
  id_aa64mmfr0_el1: [3, 0, 0, 7, 0],
  sctlr_el1: [3, 0, 1, 0, 0],
  cpacr_el1: [3, 0, 1, 0, 2],
  ttbr0_el1: [3, 0, 2, 0, 0],
  ttbr1_el1: [3, 0, 2, 0, 1],
  tcr_el1: [3, 0, 2, 0, 2],
  spsr_el1: [3, 0, 4, 0, 0],
  elr_el1: [3, 0, 4, 0, 1],
  sp_el0: [3, 0, 4, 1, 0],
  spsel: [3, 0, 4, 2, 0],
  currentel: [3, 0, 4, 2, 2],
  daif: [3, 3, 4, 2, 1],
  esr_el1: [3, 0, 5, 2, 0],
  far_el1: [3, 0, 6, 0, 0],
  par_el1: [3, 0, 7, 4, 0],
  mair_el1: [3, 0, 10, 2, 0],
  vbar_el1: [3, 0, 12, 0, 0],
  tpidr_el1: [3, 0, 13, 0, 4],
  cntfrq_el0: [3, 3, 14, 0, 0],
  cntvct_el0: [3, 3, 14, 0, 2],
} as const satisfies Readonly<Record<string, readonly [number, number, number, number, number]>>;
export type A64SysReg = keyof typeof A64_SYSREGS;

/** DSB/DMB option field CRm (Arm ARM C6.2 DSB). */
// prettier-ignore
export const A64_BARRIERS = {
  oshst: 2, osh: 3, nshst: 6, nsh: 7, ishld: 9, ishst: 10, ish: 11, ld: 13, st: 14, sy: 15,
} as const;
export type A64Barrier = keyof typeof A64_BARRIERS;

/** TLBI operations without a register: SYS #op1, C8, Cm, #op2 (Arm ARM C5.5 TLBI). */
export const A64_TLBI = { vmalle1: [0, 8, 7, 0], vmalle1is: [0, 8, 3, 0] } as const;
/** DC operations taking an address in Xt (Arm ARM C5.3 DC). */
export const A64_DC = {
  ivac: [0, 7, 6, 1],
  cvac: [3, 7, 10, 1],
  cvau: [3, 7, 11, 1],
  civac: [3, 7, 14, 1],
} as const;
/** IC operations without a register (Arm ARM C5.3 IC). */
export const A64_IC = { ialluis: [0, 7, 1, 0], iallu: [0, 7, 5, 0] } as const;

/** A load/store address: `[base, #offset]`, `[base, #offset]!` (pre) or `[base], #offset` (post). */
export interface A64Addr {
  readonly base: XReg;
  readonly offset?: number;
  readonly mode?: 'offset' | 'pre' | 'post';
}

interface Reg {
  readonly n: number;
  readonly x: boolean;
  readonly kind: 'gp' | 'zr' | 'sp';
  readonly name: string;
}

/** What register 31 means in an operand slot. */
type Slot31 = 'zr' | 'sp';

/** The A64 assembler. */
export class A64Asm extends Assembler {
  protected readonly isa = 'a64';

  // --- moves -----------------------------------------------------------------------------

  /** MOVZ Rd, #imm16, LSL #shift (C6.2 MOVZ): Rd = imm16 << shift. */
  movz(rd: A64Reg, imm16: number, shift = 0): this {
    return this.moveWide(2, rd, imm16, shift, 'movz');
  }
  /** MOVK Rd, #imm16, LSL #shift (C6.2 MOVK): replaces one halfword, keeps the others. */
  movk(rd: A64Reg, imm16: number, shift = 0): this {
    return this.moveWide(3, rd, imm16, shift, 'movk');
  }
  /** MOVN Rd, #imm16, LSL #shift (C6.2 MOVN): Rd = ~(imm16 << shift). */
  movn(rd: A64Reg, imm16: number, shift = 0): this {
    return this.moveWide(0, rd, imm16, shift, 'movn');
  }

  /**
   * Loads any constant with MOVZ (or MOVN, when most halfwords are 0xffff) plus one MOVK per
   * remaining halfword. X registers take any u64/i64; W registers any u32/i32.
   */
  movImm(rd: A64Reg, value: bigint | number): this {
    const r = this.reg(rd, 'zr', 'mov immediate destination');
    const bits = r.x ? 64 : 32;
    checkRange(value, -(1n << BigInt(bits - 1)), (1n << BigInt(bits)) - 1n, `mov immediate for ${r.name}`);
    const v = BigInt(value);
    const u = BigInt.asUintN(bits, v);
    const halves = Array.from({ length: bits / 16 }, (_, i) => Number((u >> BigInt(16 * i)) & 0xffffn));
    const ones = halves.filter((h) => h === 0xffff).length;
    const zeros = halves.filter((h) => h === 0).length;
    const inverted = ones > zeros;
    const skip = inverted ? 0xffff : 0;
    const first = Math.max(
      0,
      halves.findIndex((h) => h !== skip),
    );
    const h0 = halves[first] ?? 0;
    if (inverted) this.movn(rd, ~h0 & 0xffff, 16 * first);
    else this.movz(rd, h0, 16 * first);
    halves.forEach((h, i) => {
      if (i !== first && h !== skip) this.movk(rd, h, 16 * i);
    });
    return this;
  }
  /** `movImm` for an X register (the usual way to load a 64-bit address). */
  movImm64(rd: XReg, value: bigint): this {
    this.reqX(this.reg(rd, 'zr', 'mov immediate destination'), 'movImm64');
    return this.movImm(rd, value);
  }

  /** MOV Rd, Rn: ORR Rd, ZR, Rn, or ADD Rd, Rn, #0 when either is SP (C6.2 MOV (register), MOV (to/from SP)). */
  mov(rd: A64Reg, rn: A64Reg): this {
    const d = parseReg(rd);
    const n = parseReg(rn);
    if (d.kind === 'sp' || n.kind === 'sp') return this.addImm(rd, rn, 0);
    return this.logical(1, rd, zeroLike(d), rn, 0, 'mov');
  }

  // --- arithmetic and logic --------------------------------------------------------------

  /** ADD Rd|SP, Rn|SP, #imm (imm < 4096, or a multiple of 4096 below 2^24: LSL #12). */
  addImm(rd: A64Reg, rn: A64Reg, imm: number): this {
    return this.addSubImm(0, 0, rd, rn, imm, 'add');
  }
  /** SUB Rd|SP, Rn|SP, #imm. */
  subImm(rd: A64Reg, rn: A64Reg, imm: number): this {
    return this.addSubImm(1, 0, rd, rn, imm, 'sub');
  }
  /** ADDS Rd, Rn|SP, #imm. */
  addsImm(rd: A64Reg, rn: A64Reg, imm: number): this {
    return this.addSubImm(0, 1, rd, rn, imm, 'adds');
  }
  /** SUBS Rd, Rn|SP, #imm. */
  subsImm(rd: A64Reg, rn: A64Reg, imm: number): this {
    return this.addSubImm(1, 1, rd, rn, imm, 'subs');
  }
  /** CMP Rn|SP, #imm = SUBS ZR, Rn, #imm. */
  cmpImm(rn: A64Reg, imm: number): this {
    return this.subsImm(zeroLike(parseReg(rn)), rn, imm);
  }

  /** ADD Rd, Rn, Rm{, LSL #amount} (shifted register; no SP). */
  add(rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl = 0): this {
    return this.addSubReg(0, 0, rd, rn, rm, lsl, 'add');
  }
  /** SUB Rd, Rn, Rm{, LSL #amount}. */
  sub(rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl = 0): this {
    return this.addSubReg(1, 0, rd, rn, rm, lsl, 'sub');
  }
  /** ADDS Rd, Rn, Rm{, LSL #amount}. */
  adds(rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl = 0): this {
    return this.addSubReg(0, 1, rd, rn, rm, lsl, 'adds');
  }
  /** SUBS Rd, Rn, Rm{, LSL #amount}. */
  subs(rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl = 0): this {
    return this.addSubReg(1, 1, rd, rn, rm, lsl, 'subs');
  }
  /** CMP Rn, Rm = SUBS ZR, Rn, Rm. */
  cmp(rn: A64Reg, rm: A64Reg): this {
    return this.subs(zeroLike(parseReg(rn)), rn, rm);
  }
  /** AND Rd, Rn, Rm{, LSL #amount} (logical shifted register). */
  and(rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl = 0): this {
    return this.logical(0, rd, rn, rm, lsl, 'and');
  }
  /** ORR Rd, Rn, Rm{, LSL #amount}. */
  orr(rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl = 0): this {
    return this.logical(1, rd, rn, rm, lsl, 'orr');
  }
  /** EOR Rd, Rn, Rm{, LSL #amount}. */
  eor(rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl = 0): this {
    return this.logical(2, rd, rn, rm, lsl, 'eor');
  }
  /** ANDS Rd, Rn, Rm{, LSL #amount}. */
  ands(rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl = 0): this {
    return this.logical(3, rd, rn, rm, lsl, 'ands');
  }
  /** TST Rn, Rm = ANDS ZR, Rn, Rm. */
  tst(rn: A64Reg, rm: A64Reg): this {
    return this.ands(zeroLike(parseReg(rn)), rn, rm);
  }
  /** MUL Rd, Rn, Rm = MADD Rd, Rn, Rm, ZR (C6.2 MADD): low bits of the product. */
  mul(rd: A64Reg, rn: A64Reg, rm: A64Reg): this {
    const [d, n, m] = this.same3('mul', [rd, 'zr'], [rn, 'zr'], [rm, 'zr']);
    return this.ins32((sf(d) | 0x1b00_0000 | (m.n << 16) | (31 << 10) | (n.n << 5) | d.n) >>> 0);
  }
  /** REV Rd, Rn: byte-reverse a register (C6.2 REV; 32-bit opc 10, 64-bit opc 11): big-endian loads. */
  rev(rd: A64Reg, rn: A64Reg): this {
    const [d, n] = this.same2('rev', [rd, 'zr'], [rn, 'zr']);
    return this.ins32((sf(d) | 0x5ac0_0800 | (d.x ? 0x400 : 0) | (n.n << 5) | d.n) >>> 0);
  }
  /** LSL Rd, Rn, #shift = UBFM Rd, Rn, #(-shift mod size), #(size-1-shift) (C6.2 LSL (immediate)). */
  lsl(rd: A64Reg, rn: A64Reg, shift: number): this {
    const [d] = this.same2('lsl', [rd, 'zr'], [rn, 'zr']);
    const size = d.x ? 64 : 32;
    checkRange(shift, 0, size - 1, 'lsl shift');
    return this.ubfm(rd, rn, (size - shift) % size, size - 1 - shift);
  }
  /** LSR Rd, Rn, #shift = UBFM Rd, Rn, #shift, #(size-1) (C6.2 LSR (immediate)). */
  lsr(rd: A64Reg, rn: A64Reg, shift: number): this {
    const [d] = this.same2('lsr', [rd, 'zr'], [rn, 'zr']);
    const size = d.x ? 64 : 32;
    checkRange(shift, 0, size - 1, 'lsr shift');
    return this.ubfm(rd, rn, shift, size - 1);
  }

  // --- loads and stores (C4.1.x "Loads and Stores") ----------------------------------------

  /** LDR Xt|Wt, address (the register's width sets the access size). */
  ldr(rt: A64Reg, addr: A64Addr): this {
    const t = this.reg(rt, 'zr', 'ldr register');
    return this.loadStore(t.x ? 3 : 2, 1, t, addr, 'ldr');
  }
  /** STR Xt|Wt, address. */
  str(rt: A64Reg, addr: A64Addr): this {
    const t = this.reg(rt, 'zr', 'str register');
    return this.loadStore(t.x ? 3 : 2, 0, t, addr, 'str');
  }
  /** LDRB Wt, address (zero-extends one byte). */
  ldrb(rt: WReg, addr: A64Addr): this {
    const t = this.reg(rt, 'zr', 'ldrb register');
    this.reqW(t, 'ldrb');
    return this.loadStore(0, 1, t, addr, 'ldrb');
  }
  /** STRB Wt, address. */
  strb(rt: WReg, addr: A64Addr): this {
    const t = this.reg(rt, 'zr', 'strb register');
    this.reqW(t, 'strb');
    return this.loadStore(0, 0, t, addr, 'strb');
  }
  /** LDR Xt|Wt, label (PC-relative literal, ±1 MiB; C6.2 LDR (literal)). */
  ldrLit(rt: A64Reg, label: string): this {
    const t = this.reg(rt, 'zr', 'ldr literal register');
    return this.pcRel19((t.x ? 0x5800_0000 : 0x1800_0000) | t.n, label, 'ldr literal');
  }
  /** LDP Rt1, Rt2, address (signed offset, pre- or post-index; imm7 scaled by the size). */
  ldp(rt1: A64Reg, rt2: A64Reg, addr: A64Addr): this {
    return this.pair(1, rt1, rt2, addr, 'ldp');
  }
  /** STP Rt1, Rt2, address. */
  stp(rt1: A64Reg, rt2: A64Reg, addr: A64Addr): this {
    return this.pair(0, rt1, rt2, addr, 'stp');
  }

  // --- PC-relative addresses and branches --------------------------------------------------

  /** ADR Xd, label (±1 MiB; C6.2 ADR). */
  adr(rd: XReg, label: string): this {
    const d = this.reg(rd, 'zr', 'adr destination');
    this.reqX(d, 'adr');
    const at = this.here();
    this.ins32(0x1000_0000 | d.n);
    this.fixup(label, at, (out, target) => {
      const rel = target - at;
      checkRange(rel, -(1 << 20), (1 << 20) - 1, `adr distance to ${label}`);
      patchOr(out, at, ((rel & 3) << 29) | (((rel >> 2) & 0x7ffff) << 5));
    });
    return this;
  }
  /** ADRP Xd, label: the 4 KiB page of the label (±4 GiB; C6.2 ADRP). */
  adrp(rd: XReg, label: string): this {
    const d = this.reg(rd, 'zr', 'adrp destination');
    this.reqX(d, 'adrp');
    const at = this.here();
    this.ins32(0x9000_0000 | d.n);
    this.fixup(label, at, (out, target, base) => {
      const pages = ((base + BigInt(target)) >> 12n) - ((base + BigInt(at)) >> 12n);
      checkRange(pages, -(1 << 20), (1 << 20) - 1, `adrp page distance to ${label}`);
      const p = Number(pages);
      patchOr(out, at, ((p & 3) << 29) | (((p >> 2) & 0x7ffff) << 5));
    });
    return this;
  }
  /** B label (±128 MiB). */
  b(label: string): this {
    return this.branch26(0x1400_0000, label, 'b');
  }
  /** BL label (±128 MiB). */
  bl(label: string): this {
    return this.branch26(0x9400_0000, label, 'bl');
  }
  /** B.cond label (±1 MiB). */
  bcond(cond: A64Cond, label: string): this {
    const c = A64_CONDITIONS[cond] as number | undefined;
    if (c === undefined) throw badOperand(`unknown condition ${JSON.stringify(cond)}`, { cond });
    return this.pcRel19(0x5400_0000 | c, label, `b.${cond}`);
  }
  /** CBZ Rt, label (±1 MiB). */
  cbz(rt: A64Reg, label: string): this {
    const t = this.reg(rt, 'zr', 'cbz register');
    return this.pcRel19((sf(t) | 0x3400_0000 | t.n) >>> 0, label, 'cbz');
  }
  /** CBNZ Rt, label (±1 MiB). */
  cbnz(rt: A64Reg, label: string): this {
    const t = this.reg(rt, 'zr', 'cbnz register');
    return this.pcRel19((sf(t) | 0x3500_0000 | t.n) >>> 0, label, 'cbnz');
  }
  /** BR Xn. */
  br(rn: XReg): this {
    return this.branchReg(0xd61f_0000, rn, 'br');
  }
  /** BLR Xn. */
  blr(rn: XReg): this {
    return this.branchReg(0xd63f_0000, rn, 'blr');
  }
  /** RET {Xn} (default x30). */
  ret(rn: XReg = 'x30'): this {
    return this.branchReg(0xd65f_0000, rn, 'ret');
  }
  /** ERET. */
  eret(): this {
    return this.ins32(0xd69f_03e0);
  }

  // --- system ------------------------------------------------------------------------------

  /** MRS Xt, sysreg (C6.2 MRS). */
  mrs(rt: XReg, sysreg: A64SysReg): this {
    const t = this.reg(rt, 'zr', 'mrs destination');
    this.reqX(t, 'mrs');
    return this.ins32((0xd520_0000 | sysregBits(sysreg) | t.n) >>> 0);
  }
  /** MSR sysreg, Xt (C6.2 MSR (register)). */
  msr(sysreg: A64SysReg, rt: XReg): this {
    const t = this.reg(rt, 'zr', 'msr source');
    this.reqX(t, 'msr');
    return this.ins32((0xd500_0000 | sysregBits(sysreg) | t.n) >>> 0);
  }
  /** MSR DAIFSet, #imm4 (C6.2 MSR (immediate): op1 3, op2 6): masks the named exceptions. */
  msrDaifSet(imm4: number): this {
    checkRange(imm4, 0, 15, 'daifset mask');
    return this.ins32((0xd503_401f | (imm4 << 8) | (6 << 5)) >>> 0);
  }
  /** MSR DAIFClr, #imm4 (op1 3, op2 7). */
  msrDaifClr(imm4: number): this {
    checkRange(imm4, 0, 15, 'daifclr mask');
    return this.ins32((0xd503_401f | (imm4 << 8) | (7 << 5)) >>> 0);
  }
  /** TLBI op (SYS with Xt = XZR). */
  tlbi(op: keyof typeof A64_TLBI): this {
    const e = A64_TLBI[op] as (typeof A64_TLBI)[keyof typeof A64_TLBI] | undefined;
    if (e === undefined) throw badOperand(`unknown tlbi operation ${JSON.stringify(op)}`, { op });
    return this.sys(e, 31);
  }
  /** DC op, Xt (clean/invalidate the cache line holding the address in Xt). */
  dc(op: keyof typeof A64_DC, rt: XReg): this {
    const e = A64_DC[op] as (typeof A64_DC)[keyof typeof A64_DC] | undefined;
    if (e === undefined) throw badOperand(`unknown dc operation ${JSON.stringify(op)}`, { op });
    const t = this.reg(rt, 'zr', 'dc address');
    this.reqX(t, 'dc');
    return this.sys(e, t.n);
  }
  /** IC op (IALLU / IALLUIS). */
  ic(op: keyof typeof A64_IC): this {
    const e = A64_IC[op] as (typeof A64_IC)[keyof typeof A64_IC] | undefined;
    if (e === undefined) throw badOperand(`unknown ic operation ${JSON.stringify(op)}`, { op });
    return this.sys(e, 31);
  }
  /** DSB option. */
  dsb(option: A64Barrier): this {
    return this.ins32((0xd503_309f | (barrier(option) << 8)) >>> 0);
  }
  /** DMB option. */
  dmb(option: A64Barrier): this {
    return this.ins32((0xd503_30bf | (barrier(option) << 8)) >>> 0);
  }
  /** ISB (SY). */
  isb(): this {
    return this.ins32(0xd503_3fdf);
  }
  nop(): this {
    return this.ins32(0xd503_201f);
  }
  wfe(): this {
    return this.ins32(0xd503_205f);
  }
  wfi(): this {
    return this.ins32(0xd503_207f);
  }
  /** BRK #imm16. */
  brk(imm16: number): this {
    checkRange(imm16, 0, 0xffff, 'brk immediate');
    return this.ins32((0xd420_0000 | (imm16 << 5)) >>> 0);
  }
  /** UDF #imm16 (permanently undefined). */
  udf(imm16: number): this {
    checkRange(imm16, 0, 0xffff, 'udf immediate');
    return this.ins32(imm16);
  }

  // --- encoding helpers --------------------------------------------------------------------

  protected override checkBase(base: bigint): void {
    if (base % 4n !== 0n) {
      throw new AsmError(AsmCode.Misaligned, `trampoline: a64 code base is not 4-byte aligned (${hex(base)})`, {
        base,
      });
    }
  }

  /** Emits one instruction word; A64 code must be 4-byte aligned. */
  private ins32(word: number): this {
    checkMultiple(this.here(), 4, 'a64 instruction offset');
    return this.emitLe(BigInt(word >>> 0), 4);
  }

  private reg(name: A64Reg, slot31: Slot31, what: string): Reg {
    const r = parseReg(name);
    if (r.kind !== 'gp' && r.kind !== slot31) {
      throw badOperand(
        `${what} cannot be ${r.name} (register 31 means ${slot31 === 'sp' ? 'SP' : 'the zero register'} here)`,
        {
          register: r.name,
          what,
        },
      );
    }
    return r;
  }

  /** Two operands that must share a width; each with what register 31 means in its slot. */
  private same2(what: string, a: readonly [A64Reg, Slot31], b: readonly [A64Reg, Slot31]): [Reg, Reg] {
    const r: [Reg, Reg] = [this.reg(a[0], a[1], `${what} operand 1`), this.reg(b[0], b[1], `${what} operand 2`)];
    this.sameWidth(what, r);
    return r;
  }
  /** Three operands that must share a width. */
  private same3(
    what: string,
    a: readonly [A64Reg, Slot31],
    b: readonly [A64Reg, Slot31],
    c: readonly [A64Reg, Slot31],
  ): [Reg, Reg, Reg] {
    const r: [Reg, Reg, Reg] = [
      this.reg(a[0], a[1], `${what} operand 1`),
      this.reg(b[0], b[1], `${what} operand 2`),
      this.reg(c[0], c[1], `${what} operand 3`),
    ];
    this.sameWidth(what, r);
    return r;
  }
  private sameWidth(what: string, regs: readonly Reg[]): void {
    if (regs.some((r) => r.x !== regs[0]?.x)) {
      throw badOperand(`${what} mixes 64- and 32-bit registers (${regs.map((r) => r.name).join(', ')})`, {
        registers: regs.map((r) => r.name),
      });
    }
  }

  private reqX(r: Reg, what: string): void {
    if (!r.x) throw badOperand(`${what} needs a 64-bit register (${r.name})`, { register: r.name });
  }
  private reqW(r: Reg, what: string): void {
    if (r.x) throw badOperand(`${what} needs a 32-bit register (${r.name})`, { register: r.name });
  }

  /** Move wide immediate: sf opc 100101 hw imm16 Rd (C4.1 "Move wide (immediate)"). */
  private moveWide(opc: number, rd: A64Reg, imm16: number, shift: number, what: string): this {
    const d = this.reg(rd, 'zr', `${what} destination`);
    checkRange(imm16, 0, 0xffff, `${what} immediate`);
    checkRange(shift, 0, d.x ? 48 : 16, `${what} shift`);
    checkMultiple(shift, 16, `${what} shift`);
    return this.ins32((sf(d) | (opc << 29) | 0x1280_0000 | ((shift / 16) << 21) | (imm16 << 5) | d.n) >>> 0);
  }

  /** Add/subtract (immediate): sf op S 100010 sh imm12 Rn Rd (C4.1 "Add/subtract (immediate)"). */
  private addSubImm(op: number, s: number, rd: A64Reg, rn: A64Reg, imm: number, what: string): this {
    const [d, n] = this.same2(what, [rd, s === 1 ? 'zr' : 'sp'], [rn, 'sp']);
    let sh = 0;
    let imm12 = imm;
    if (Number.isSafeInteger(imm) && imm > 0xfff && imm % 0x1000 === 0) {
      sh = 1;
      imm12 = imm / 0x1000;
    }
    checkRange(imm12, 0, 0xfff, `${what} immediate (imm12, optionally LSL #12)`);
    return this.ins32(
      (sf(d) | (op << 30) | (s << 29) | 0x1100_0000 | (sh << 22) | (imm12 << 10) | (n.n << 5) | d.n) >>> 0,
    );
  }

  /** Add/subtract (shifted register), LSL only (C4.1 "Add/subtract (shifted register)"). */
  private addSubReg(op: number, s: number, rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl: number, what: string): this {
    const [d, n, m] = this.same3(what, [rd, 'zr'], [rn, 'zr'], [rm, 'zr']);
    checkRange(lsl, 0, d.x ? 63 : 31, `${what} shift amount`);
    return this.ins32(
      (sf(d) | (op << 30) | (s << 29) | 0x0b00_0000 | (m.n << 16) | (lsl << 10) | (n.n << 5) | d.n) >>> 0,
    );
  }

  /** Logical (shifted register), LSL only: sf opc 01010 shift N Rm imm6 Rn Rd. */
  private logical(opc: number, rd: A64Reg, rn: A64Reg, rm: A64Reg, lsl: number, what: string): this {
    const [d, n, m] = this.same3(what, [rd, 'zr'], [rn, 'zr'], [rm, 'zr']);
    checkRange(lsl, 0, d.x ? 63 : 31, `${what} shift amount`);
    return this.ins32((sf(d) | (opc << 29) | 0x0a00_0000 | (m.n << 16) | (lsl << 10) | (n.n << 5) | d.n) >>> 0);
  }

  /** UBFM: sf 10 100110 N immr imms Rn Rd (C4.1 "Bitfield"); N = sf. */
  private ubfm(rd: A64Reg, rn: A64Reg, immr: number, imms: number): this {
    const [d, n] = this.same2('ubfm', [rd, 'zr'], [rn, 'zr']);
    const nBit = d.x ? 1 << 22 : 0;
    return this.ins32((sf(d) | (2 << 29) | 0x1300_0000 | nBit | (immr << 16) | (imms << 10) | (n.n << 5) | d.n) >>> 0);
  }

  /**
   * Single-register loads and stores. size: 0 byte, 2 word, 3 doubleword; opc: 0 store,
   * 1 load. Unsigned offset: size 111 0 01 opc imm12 Rn Rt; unscaled/post/pre: size 111 0 00
   * opc 0 imm9 {00,01,11} Rn Rt (C4.1 "Load/store register (unsigned immediate)",
   * "(unscaled immediate)", "(immediate post-indexed)", "(immediate pre-indexed)").
   */
  private loadStore(size: number, opc: number, t: Reg, addr: A64Addr, what: string): this {
    const n = this.reg(addr.base, 'sp', `${what} base`);
    this.reqX(n, `${what} base`);
    const off = addr.offset ?? 0;
    const mode = addressMode(addr);
    const scale = 1 << size;
    const top = ((size << 30) | 0x3800_0000 | (opc << 22)) >>> 0;
    if (mode === 'offset') {
      if (Number.isSafeInteger(off) && off >= 0 && off % scale === 0 && off / scale <= 0xfff) {
        return this.ins32((top | 0x0100_0000 | ((off / scale) << 10) | (n.n << 5) | t.n) >>> 0);
      }
      checkRange(off, -256, 0xfff * scale, `${what} offset`);
      if (off > 255) checkMultiple(off, scale, `${what} offset`); // LDUR/STUR reach only -256..255
      return this.ins32((top | ((off & 0x1ff) << 12) | (n.n << 5) | t.n) >>> 0);
    }
    checkRange(off, -256, 255, `${what} ${mode}-index offset`);
    if (t.kind === 'gp' && t.n === n.n && n.kind === 'gp') {
      throw badOperand(`${what} with writeback uses ${t.name} as both transfer and base register`, {
        register: t.name,
      });
    }
    const idx = mode === 'pre' ? 3 : 1;
    return this.ins32((top | ((off & 0x1ff) << 12) | (idx << 10) | (n.n << 5) | t.n) >>> 0);
  }

  /** Load/store pair: opc 101 0 {001 post, 010 offset, 011 pre} L imm7 Rt2 Rn Rt (C4.1 "Load/store register pair"). */
  private pair(l: number, rt1: A64Reg, rt2: A64Reg, addr: A64Addr, what: string): this {
    const [t1, t2] = this.same2(what, [rt1, 'zr'], [rt2, 'zr']);
    const n = this.reg(addr.base, 'sp', `${what} base`);
    this.reqX(n, `${what} base`);
    const scale = t1.x ? 8 : 4;
    const off = addr.offset ?? 0;
    const mode = addressMode(addr);
    checkRange(off, -64 * scale, 63 * scale, `${what} offset`);
    checkMultiple(off, scale, `${what} offset`);
    if (l === 1 && t1.kind === 'gp' && t1.n === t2.n) {
      throw badOperand(`${what} loads ${t1.name} twice`, { register: t1.name });
    }
    if (mode !== 'offset' && n.kind === 'gp' && [t1, t2].some((t) => t.kind === 'gp' && t.n === n.n)) {
      throw badOperand(`${what} with writeback uses its base ${n.name} as a transfer register`, { register: n.name });
    }
    const m = mode === 'post' ? 1 : mode === 'pre' ? 3 : 2;
    const opc = t1.x ? 2 : 0;
    return this.ins32(
      ((opc << 30) |
        0x2800_0000 |
        (m << 23) |
        (l << 22) |
        (((off / scale) & 0x7f) << 15) |
        (t2.n << 10) |
        (n.n << 5) |
        t1.n) >>>
        0,
    );
  }

  /** An instruction with a signed imm19 word offset at bits 23:5 (B.cond, CBZ, LDR literal). */
  private pcRel19(word: number, label: string, what: string): this {
    const at = this.here();
    this.ins32(word);
    this.fixup(label, at, (out, target) => {
      const rel = target - at;
      checkMultiple(rel, 4, `${what} distance to ${label}`);
      checkRange(rel, -(1 << 20), (1 << 20) - 4, `${what} distance to ${label}`);
      patchOr(out, at, ((rel >> 2) & 0x7ffff) << 5);
    });
    return this;
  }

  /** B / BL: imm26 word offset. */
  private branch26(word: number, label: string, what: string): this {
    const at = this.here();
    this.ins32(word);
    this.fixup(label, at, (out, target) => {
      const rel = target - at;
      checkMultiple(rel, 4, `${what} distance to ${label}`);
      checkRange(rel, -(1 << 27), (1 << 27) - 4, `${what} distance to ${label}`);
      patchOr(out, at, (rel >> 2) & 0x3ff_ffff);
    });
    return this;
  }

  private branchReg(word: number, rn: XReg, what: string): this {
    const n = this.reg(rn, 'zr', `${what} target`);
    this.reqX(n, what);
    return this.ins32((word | (n.n << 5)) >>> 0);
  }

  /** SYS #op1, Cn, Cm, #op2, Xt: 1101010100 0 01 op1 CRn CRm op2 Rt (C6.2 SYS). */
  private sys(e: readonly [number, number, number, number], rt: number): this {
    const [op1, crn, crm, op2] = e;
    return this.ins32((0xd508_0000 | (op1 << 16) | (crn << 12) | (crm << 8) | (op2 << 5) | rt) >>> 0);
  }
}

function badOperand(what: string, details: Record<string, unknown>): AsmError {
  return new AsmError(AsmCode.BadOperand, `trampoline: a64 ${what}`, details);
}

/** Parses a register name; throws ASM_BAD_OPERAND for anything else. */
function parseReg(name: string): Reg {
  if (name === 'sp') return { n: 31, x: true, kind: 'sp', name };
  if (name === 'wsp') return { n: 31, x: false, kind: 'sp', name };
  if (name === 'xzr') return { n: 31, x: true, kind: 'zr', name };
  if (name === 'wzr') return { n: 31, x: false, kind: 'zr', name };
  const m = /^([xw])(\d{1,2})$/.exec(typeof name === 'string' ? name : '');
  const n = m === null ? NaN : Number(m[2]);
  if (m === null || !(n >= 0 && n <= 30) || (m[2] ?? '').length !== String(n).length) {
    throw badOperand(`unknown register ${JSON.stringify(name)}`, { register: name });
  }
  return { n, x: m[1] === 'x', kind: 'gp', name };
}

/** The addressing mode of `addr`; ASM_BAD_OPERAND for anything but offset, pre and post. */
function addressMode(addr: A64Addr): 'offset' | 'pre' | 'post' {
  const mode = addr.mode ?? 'offset';
  if (mode !== 'offset' && mode !== 'pre' && mode !== 'post') {
    throw badOperand(`unknown addressing mode ${JSON.stringify(mode)}`, { mode });
  }
  return mode;
}

/** The zero register of `r`'s width. */
function zeroLike(r: Reg): A64Reg {
  return r.x ? 'xzr' : 'wzr';
}

/** The sf bit (bit 31) for 64-bit operations. */
function sf(r: Reg): number {
  return r.x ? 0x8000_0000 : 0;
}

function sysregBits(name: A64SysReg): number {
  const e = A64_SYSREGS[name] as (typeof A64_SYSREGS)[A64SysReg] | undefined;
  if (e === undefined) throw badOperand(`unknown system register ${JSON.stringify(name)}`, { sysreg: name });
  const [op0, op1, crn, crm, op2] = e;
  // MRS/MSR: 1101010100 L 1 o0 op1 CRn CRm op2 Rt, with op0 = 2 + o0 in bits 20:19.
  return (op0 << 19) | (op1 << 16) | (crn << 12) | (crm << 8) | (op2 << 5);
}

function barrier(option: A64Barrier): number {
  const v = A64_BARRIERS[option] as number | undefined;
  if (v === undefined) throw badOperand(`unknown barrier option ${JSON.stringify(option)}`, { option });
  return v;
}

/** ORs `bits` into the instruction word at `at`. */
function patchOr(out: Uint8Array, at: number, bits: number): void {
  writeLe(out, at, BigInt((readLe32(out, at) | bits) >>> 0), 4);
}
