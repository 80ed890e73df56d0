/**
 * kboot's machine-code encoders: `X86Asm` (x86-64 long mode) and `A64Asm` (AArch64), with
 * labels and forward references, and their error type (`AsmError`, 'trampoline' domain).
 * See each module's header for its contract and encoding sources.
 */
export { AsmCode, AsmError, type AsmErrorCode } from './errors.js';
export { Assembler, type AsmResult } from './assembler.js';
export {
  X86Asm,
  X86_CONDITIONS,
  X86_REG8,
  X86_REG32,
  X86_REG64,
  type ControlReg,
  type Mem,
  type Reg8,
  type Reg32,
  type Reg64,
  type X86Cond,
} from './x86-64.js';
export {
  A64Asm,
  A64_BARRIERS,
  A64_CONDITIONS,
  A64_DC,
  A64_IC,
  A64_SYSREGS,
  A64_TLBI,
  type A64Addr,
  type A64Barrier,
  type A64Cond,
  type A64Reg,
  type A64SysReg,
  type WReg,
  type XReg,
} from './a64.js';
