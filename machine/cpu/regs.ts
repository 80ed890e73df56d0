/**
 * The CPU's registers: the names kboot reads and writes per arch (native/cpu_regs.cc knows the
 * same names), the control-register bits it sets or tests, the flat GDT and long-mode state
 * `Cpu.setupLongMode` enters, and the exception vectors as Unicorn reports them.
 *
 * Sources: Intel SDM vol. 3A §2.5 (CR0/CR4), §2.2.1 (EFER), table 6-1 (vectors); ARM ARM
 * D13.2.118 (SCTLR_EL1); QEMU target/arm/cpu.h EXCP_* (Unicorn's arm64 interrupt numbers);
 * the long-mode values themselves are loader/arch/amd64/layout.ts LONG_MODE_* (one definition).
 */
import type { Arch } from '../../loader/arch/index.js';
import {
  CR0_ET,
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  EFER_LMA,
  EFER_LME,
  EFER_NXE,
  LONG_MODE_CR0,
  LONG_MODE_CR4,
  LONG_MODE_EFER,
} from '../../loader/arch/amd64/layout.js';
import { MachineCode, MachineError } from '../errors.js';

/** amd64 register names (`efer` goes through the MSR interface). */
export const AMD64_REGS = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'rip', 'rflags', 'cr0', 'cr2', 'cr3', 'cr4', 'efer',
  'cs', 'ds', 'es', 'fs', 'gs', 'ss', 'fs_base', 'gs_base',
  'gdtr_base', 'gdtr_limit', 'idtr_base', 'idtr_limit',
] as const; // prettier-ignore
/** arm64 register names (system registers without a Unicorn id use the CP-register interface). */
export const ARM64_REGS = [
  'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10', 'x11', 'x12', 'x13', 'x14', 'x15',
  'x16', 'x17', 'x18', 'x19', 'x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29', 'x30',
  'sp', 'pc', 'pstate', 'nzcv', 'sctlr_el1', 'tcr_el1', 'mair_el1', 'ttbr0_el1', 'ttbr1_el1', 'vbar_el1',
  'elr_el1', 'esr_el1', 'far_el1', 'sp_el0', 'sp_el1', 'tpidr_el1', 'cpacr_el1', 'scr_el3', 'hcr_el2',
  'currentel',
] as const; // prettier-ignore

export type Amd64Reg = (typeof AMD64_REGS)[number];
export type Arm64Reg = (typeof ARM64_REGS)[number];
/** A register name of either arch. */
export type RegName = Amd64Reg | Arm64Reg;

/** The register names of each arch, as a set. */
export const REGS: { readonly [A in Arch]: ReadonlySet<string> } = {
  amd64: new Set<string>(AMD64_REGS),
  arm64: new Set<string>(ARM64_REGS),
};

/** Control-register bits kboot sets or tests (Intel SDM vol. 3A §2.5, §2.2.1; ARM ARM D13.2.118). */
export const CPU_BITS = {
  amd64: {
    CR0_PE,
    CR0_ET,
    CR0_NE: 1n << 5n,
    CR0_WP: 1n << 16n,
    CR0_PG,
    CR4_PAE,
    CR4_LA57: 1n << 12n,
    EFER_LME,
    EFER_LMA,
    EFER_NXE,
    RFLAGS_DF: 1n << 10n,
  },
  arm64: {
    SCTLR_M: 1n << 0n,
  },
} as const;

/**
 * The flat 64-bit GDT `setupLongMode` writes (Intel SDM vol. 3A §3.4.5, §5.2.1; the same
 * kernel code/data pair as FreeBSD's gdt_segs GCODE_SEL/GDATA_SEL): null, code (L=1, P, DPL 0,
 * execute/read), data (P, read/write, 4 GiB, G, D/B); and the long-mode registers, which are
 * loader/arch/amd64/layout.ts's LONG_MODE_* (the state kboot's hand-offs leave). EFER.NXE is
 * asked for, but Unicorn 2.0.1 does not keep it (EFER reads back LME|LMA): an XD bit in a
 * PTE is then a reserved bit and the walkers are told so (`nxe` from the live EFER).
 */
export const AMD64_LONG_MODE = {
  gdt: [0n, 0x00af_9a00_0000_ffffn, 0x00cf_9200_0000_ffffn],
  cs: 0x08,
  ds: 0x10,
  cr0: LONG_MODE_CR0,
  cr4: LONG_MODE_CR4,
  efer: LONG_MODE_EFER,
} as const;

/**
 * Exception vectors as Unicorn reports them. amd64: the architectural vectors (Intel SDM
 * vol. 3A table 6-1). arm64: QEMU's EXCP_* numbers (target/arm/cpu.h), as measured in
 * shared/spec/unicorn-system.md Q9 (brk 7, svc 2, udf/hvc 1, data abort 4, smc 13).
 */
export const EXCEPTION_NAMES: { readonly [A in Arch]: Readonly<Record<number, string>> } = {
  amd64: {
    0: '#DE',
    1: '#DB',
    2: 'NMI',
    3: '#BP',
    4: '#OF',
    5: '#BR',
    6: '#UD',
    7: '#NM',
    8: '#DF',
    10: '#TS',
    11: '#NP',
    12: '#SS',
    13: '#GP',
    14: '#PF',
    16: '#MF',
    17: '#AC',
    18: '#MC',
    19: '#XM',
  },
  arm64: {
    1: 'undefined-instruction',
    2: 'svc',
    3: 'prefetch-abort',
    4: 'data-abort',
    5: 'irq',
    6: 'fiq',
    7: 'brk',
    11: 'hvc',
    13: 'smc',
  },
} as const;

/** CPU_REGISTER unless `name` is a register of `arch`. */
export function checkRegName(arch: Arch, name: string, code: MachineError['code'] = MachineCode.CpuRegister): void {
  if (!REGS[arch].has(name)) {
    throw new MachineError(code, `machine: unknown ${arch} register '${name}'`, { arch, name });
  }
}

/** `code` unless `v` is a u64. */
export function checkU64(what: string, v: bigint, code: MachineError['code']): void {
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) {
    throw new MachineError(code, `machine: ${what} ${String(v)} is not a u64`, { what, value: v });
  }
}
