/**
 * The entry-contract check: with the CPU stopped at a kernel's first instruction, verify
 * everything that kernel's entry code assumes, per arch and per way in, and report each
 * violation. Items follow loader/trampoline/contract.md (X items) and
 * shared/spec/freebsd-handoff.md §2.1 (amd64 btext), §2.4 (arm64 _start), §8.4–8.5, §10.
 *
 * Contract: reads only CPU registers and guest memory (through kboot's own page-table
 * walkers, since Unicorn 2.0.1 does not translate on x86); never throws for a bad state —
 * every problem becomes a `ContractViolation` with its facts in hex.
 */
import { hex, phys, size, SZ_2M, SZ_4G, type KernelVa, type PhysAddr, type PhysRange } from '../loader/addr.js';
import { archInfo, type Arch } from '../loader/arch/index.js';
import { walkArm64 } from './arm64-walker.js';
import { CPU_BITS } from './cpu/index.js';
import type { Machine } from './machine.js';
import { findRun, walkX86 } from './x86-walker.js';

export interface ContractViolation {
  /** The contract item (e.g. "X2b", "amd64.long-mode"). */
  readonly item: string;
  readonly message: string;
}

export type ContractInput =
  | {
      readonly kind: 'kexec-reboot';
      readonly entryVa: KernelVa;
      readonly entryPa: PhysAddr;
      /** amd64: offset from KERNBASE; arm64: VA. */
      readonly modulep: bigint;
      readonly kernend: bigint;
      readonly modulepPa: PhysAddr;
      readonly kernelFirstPagePa: PhysAddr;
    }
  | {
      readonly kind: 'rescue-exec';
      readonly entryVa: KernelVa;
      readonly entryPa: PhysAddr;
      readonly region: PhysRange;
      readonly kernelFirstPagePa: PhysAddr;
    };

type Translate = (va: bigint) => bigint | undefined;

interface ArchCheck {
  readonly check: (m: Machine, input: ContractInput, v: ContractViolation[]) => void;
}

const B = CPU_BITS.amd64;

function readU32(m: Machine, pa: bigint | undefined): bigint | undefined {
  if (pa === undefined || !m.ram.isRam(phys(pa), size(4))) return undefined;
  const b = m.ram.read(phys(pa), 4);
  return BigInt(new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true));
}

const CHECKS: { readonly [A in Arch]: ArchCheck } = {
  amd64: {
    check: (m, input, v) => {
      const cpu = m.cpu;
      const cr0 = cpu.reg('cr0');
      const cr4 = cpu.reg('cr4');
      const efer = cpu.reg('efer');
      if ((cr0 & (B.CR0_PE | B.CR0_PG)) !== (B.CR0_PE | B.CR0_PG))
        v.push({ item: 'X1', message: `not in paged protected mode (CR0 ${hex(cr0)})` });
      if ((cr4 & B.CR4_PAE) === 0n) v.push({ item: 'X1', message: `CR4.PAE is clear (CR4 ${hex(cr4)})` });
      if ((efer & B.EFER_LMA) === 0n) v.push({ item: 'X1', message: `long mode is not active (EFER ${hex(efer)})` });
      if ((cpu.reg('rflags') & 0x200n) !== 0n)
        v.push({ item: 'X1', message: 'interrupts are enabled (RFLAGS.IF = 1)' });
      const rip = cpu.reg('rip');
      if (rip !== input.entryVa)
        v.push({ item: 'X0', message: `RIP ${hex(rip)} is not the kernel entry ${hex(input.entryVa)}` });
      const walk = walkX86(m.ram, { cr3: cpu.reg('cr3'), nxe: (efer & B.EFER_NXE) !== 0n });
      for (const p of walk.problems)
        v.push({
          item: 'X2',
          message: `page tables: ${p.kind} at level ${p.level} for ${hex(p.va)} (entry ${hex(p.entry)} at ${hex(p.at)})`,
        });
      const tr: Translate = (va) => {
        const r = findRun(walk.runs, va);
        return r === undefined ? undefined : r.pa + (va - r.va);
      };
      const ks = archInfo('amd64').kernstart;
      const ksPa = tr(ks);
      if (ksPa === undefined) v.push({ item: 'X2b', message: `KERNSTART ${hex(ks)} is not mapped` });
      else {
        if (ksPa % SZ_2M !== 0n) v.push({ item: 'X2b', message: `KERNSTART maps to ${hex(ksPa)}, not 2 MiB aligned` });
        if (ksPa >= SZ_4G) v.push({ item: 'X2b', message: `KERNSTART maps to ${hex(ksPa)}, above 4 GiB` });
        if (ksPa !== input.kernelFirstPagePa)
          v.push({
            item: 'X2b',
            message: `KERNSTART maps to ${hex(ksPa)}, but the kernel's first page is at ${hex(input.kernelFirstPagePa)}`,
          });
      }
      if (tr(rip) === undefined) v.push({ item: 'X0', message: `the entry ${hex(rip)} is not mapped` });
      if (input.kind === 'kexec-reboot') {
        const rsp = cpu.reg('rsp');
        const modulep = readU32(m, tr(rsp + 4n));
        const kernend = readU32(m, tr(rsp + 8n));
        if (modulep !== input.modulep)
          v.push({
            item: 'X4',
            message: `4(%rsp) holds ${modulep === undefined ? 'nothing readable' : hex(modulep)}, not modulep ${hex(input.modulep)}`,
          });
        if (kernend !== input.kernend)
          v.push({
            item: 'X4',
            message: `8(%rsp) holds ${kernend === undefined ? 'nothing readable' : hex(kernend)}, not kernend ${hex(input.kernend)}`,
          });
        const mpa = tr(archInfo('amd64').kernbase + input.modulep);
        if (mpa !== input.modulepPa)
          v.push({
            item: 'X4',
            message: `KERNBASE + modulep maps to ${mpa === undefined ? 'nothing' : hex(mpa)}, not the metadata at ${hex(input.modulepPa)}`,
          });
      } else {
        const params = tr(archInfo('amd64').kernbase);
        if (params !== input.region.start)
          v.push({
            item: 'X2b',
            message: `VA KERNBASE maps to ${params === undefined ? 'nothing' : hex(params)}, not the rescue params at ${hex(input.region.start)}`,
          });
        for (const pa of [input.region.start, input.region.start + input.region.size - 1n]) {
          if (tr(pa) !== pa) v.push({ item: 'X2a', message: `the reservation byte ${hex(pa)} is not identity-mapped` });
        }
      }
    },
  },
  arm64: {
    check: (m, input, v) => {
      const cpu = m.cpu;
      const pc = cpu.reg('pc');
      if (pc !== input.entryPa)
        v.push({ item: 'X0', message: `PC ${hex(pc)} is not the kernel entry ${hex(input.entryPa)}` });
      if (input.kernelFirstPagePa % SZ_2M !== 0n)
        v.push({ item: 'X0', message: `the kernel is loaded at ${hex(input.kernelFirstPagePa)}, not 2 MiB aligned` });
      const el = (cpu.reg('currentel') >> 2n) & 3n;
      if (el !== 1n) v.push({ item: 'X1', message: `running at EL${el}, not EL1` });
      const mmu = (cpu.reg('sctlr_el1') & CPU_BITS.arm64.SCTLR_M) !== 0n;
      const x0 = cpu.reg('x0');
      if (input.kind === 'kexec-reboot') {
        if (mmu)
          v.push({ item: 'X1', message: 'the MMU is on at a kexec entry (locore expects it off, or an identity map)' });
        if (x0 !== input.modulep) v.push({ item: 'X4', message: `x0 ${hex(x0)} is not modulep ${hex(input.modulep)}` });
        return;
      }
      if (!mmu) v.push({ item: 'X1', message: 'the MMU is off at the rescue entry (D47358 jumps with it on)' });
      const want = archInfo('arm64').kernbase + input.region.size;
      if (x0 !== want) v.push({ item: 'X4', message: `x0 ${hex(x0)} is not KERNBASE + rescue_memsize ${hex(want)}` });
      const walk = walkArm64(m.ram, {
        tcr: cpu.reg('tcr_el1'),
        ttbr0: cpu.reg('ttbr0_el1'),
        ttbr1: cpu.reg('ttbr1_el1'),
      });
      for (const pa of [input.region.start, input.entryPa, input.region.start + input.region.size - 1n]) {
        const r = findRun(walk.runs, pa);
        if (r === undefined || r.pa + (pa - r.va) !== pa)
          v.push({ item: 'X2', message: `the reservation byte ${hex(pa)} is not identity-mapped through TTBR0` });
      }
    },
  },
};

/** Checks the state at a kernel entry; returns every violation (empty when the contract holds). */
export function checkEntryContract(machine: Machine, input: ContractInput): ContractViolation[] {
  const v: ContractViolation[] = [];
  CHECKS[machine.profile.arch].check(machine, input, v);
  return v;
}
