/**
 * Test helper: small amd64 and arm64 machines for the CPU conformance tests (native RAM,
 * Unicorn CPU, hand-built page tables, code assembled by GNU as).
 *
 * amd64: RAM [0, 32 MiB); tables from [1 MiB, 1.5 MiB); GDT at 0x500; long mode with the
 *   first 16 MiB identity-mapped by 2 MiB pages; stack top at 0x9_0000.
 * arm64: RAM [1 GiB, 1 GiB + 64 MiB); tables from RAM + [1 MiB, 2 MiB); TTBR0 identity-maps
 *   the RAM (2 MiB blocks) and the PL011 page at 0x0900_0000 (device); MMU on at EL1.
 */
import { phys, size } from '../../../loader/addr.js';
import { Cpu, type CpuOptions } from '../../../machine/cpu/index.js';
import { NativeRam } from '../../../machine/native-ram.js';
import { nativeAvailable } from '../../../native/binding.js';
import { asmMissing, assembleWithSymbols, type Assembled } from './asm.js';
import { Arm64Tables, TEST_MAIR, TEST_SCTLR_MMU, TEST_TCR, X86Tables } from './tables.js';

/** tap test options: `{ skip: reason }` when the CPU tests for `arch` cannot run. */
export function cpuTestOptions(arch: 'amd64' | 'arm64'): { skip?: string } {
  const reason = cpuSkip(arch);
  return reason === undefined ? {} : { skip: reason };
}

export const K4 = 0x1000n;
export const M2 = 0x20_0000n;

/** Why the CPU conformance tests for `arch` cannot run, or undefined. */
export function cpuSkip(arch: 'amd64' | 'arm64'): string | undefined {
  if (!nativeAvailable()) return 'the native addon is not built';
  return asmMissing(arch);
}

export const AMD64 = {
  ramSize: 0x200_0000n,
  poolStart: 0x10_0000n,
  poolEnd: 0x18_0000n,
  gdt: 0x500n,
  identity: 0x100_0000n,
  stack: 0x9_0000n,
  code: 0x20_0000n,
} as const;

export interface Amd64Machine {
  readonly ram: NativeRam;
  readonly cpu: Cpu;
  readonly tables: X86Tables;
  /** Writes `source` assembled at PA `at`; returns the code and its label offsets. */
  load(at: bigint, source: string): Assembled;
  close(): void;
}

/** An amd64 machine in long mode (paging on, identity for the first 16 MiB). */
export function amd64Machine(opts: CpuOptions & { readonly paging?: boolean } = {}): Amd64Machine {
  const ram = new NativeRam([{ base: phys(0), size: size(AMD64.ramSize) }]);
  const tables = new X86Tables(ram, AMD64.poolStart, AMD64.poolEnd);
  tables.map(0n, 0n, AMD64.identity, { pageSize: M2 });
  const cpu = new Cpu('amd64', ram, opts);
  if (opts.paging !== false) cpu.setupLongMode({ cr3: phys(tables.cr3), gdtBase: phys(AMD64.gdt) });
  cpu.setReg('rsp', AMD64.stack);
  return {
    ram,
    cpu,
    tables,
    load(at, source) {
      const a = assembleWithSymbols('amd64', source);
      ram.write(phys(at), a.bytes);
      return a;
    },
    close() {
      cpu.close();
      ram.close();
    },
  };
}

export const ARM64 = {
  ram: 0x4000_0000n,
  ramSize: 0x400_0000n,
  poolStart: 0x4010_0000n,
  poolEnd: 0x4020_0000n,
  pl011: 0x0900_0000n,
  code: 0x4008_0000n,
  stack: 0x4009_0000n,
} as const;

export interface Arm64Machine {
  readonly ram: NativeRam;
  readonly cpu: Cpu;
  readonly tables: Arm64Tables;
  load(at: bigint, source: string): Assembled;
  close(): void;
}

/** An arm64 machine at EL1, MMU on, with a PL011. */
export function arm64Machine(opts: CpuOptions & { readonly mmu?: boolean } = {}): Arm64Machine {
  const ram = new NativeRam([{ base: phys(ARM64.ram), size: size(ARM64.ramSize) }]);
  const tables = new Arm64Tables(ram, ARM64.poolStart, ARM64.poolEnd);
  tables.map(ARM64.ram, ARM64.ram, ARM64.ramSize, { block: M2 });
  tables.map(ARM64.pl011, ARM64.pl011, K4, { attr: 1n });
  const cpu = new Cpu('arm64', ram, { uart: { kind: 'pl011', base: ARM64.pl011 }, ...opts });
  if (opts.mmu !== false) {
    cpu.setupEl1({ mair: TEST_MAIR, tcr: TEST_TCR, ttbr0: tables.ttbr0, ttbr1: tables.ttbr1, sctlr: TEST_SCTLR_MMU });
  }
  cpu.setReg('sp', ARM64.stack);
  return {
    ram,
    cpu,
    tables,
    load(at, source) {
      const a = assembleWithSymbols('arm64', source);
      ram.write(phys(at), a.bytes);
      return a;
    },
    close() {
      cpu.close();
      ram.close();
    },
  };
}

/** Little-endian u64 as bytes. */
export function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}
