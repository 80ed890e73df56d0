/**
 * Symbol-only kernel files for tests, made with kboot's ELF writer (loader/elf/writer.ts): an
 * ELF header, sections (.bss and .data of the kernel, no program headers) and a .symtab, as
 * debug files and lldb's kernel-amd64.yaml are. `symbolFile(arch, symbols)` places each
 * symbol given with a size in .data (section 2) unless it is given a section, and the others
 * as SHN_ABS; `kernelOf(bytes)` reads it back as dump/kernel.ts does.
 */
import type { KernelVa, Size } from '../../loader/addr.js';
import type { Arch } from '../../loader/arch/index.js';
import { SHF, SHN, STT } from '../../loader/elf/layout.js';
import { readElfSymbols } from '../../loader/elf/symbols.js';
import { writeElf, type ElfSymbolSpec } from '../../loader/elf/writer.js';
import type { DumpKernel } from '../../dump/kernel.js';

export interface TestSymbol {
  readonly name: string;
  readonly value: bigint;
  readonly size?: bigint;
  readonly type?: number;
  readonly bind?: number;
  /** 1: .bss, 2: .data, or SHN_ABS (default: .data when sized, else ABS). */
  readonly shndx?: number;
}

/** A symbol-only ELF whose sections span [lo, hi) of the symbols' values (see the module contract). */
export function symbolFile(
  arch: Arch,
  symbols: readonly TestSymbol[],
  opts: { readonly osabi?: number } = {},
): Uint8Array {
  const sized = symbols.filter((s) => (s.size ?? 0n) > 0n);
  const lo = sized.reduce((m, s) => (s.value < m ? s.value : m), sized[0]?.value ?? 0xffff_ffff_8000_0000n);
  const hi = sized.reduce((m, s) => (s.value + (s.size ?? 0n) > m ? s.value + (s.size ?? 0n) : m), lo + 0x1000n);
  const specs: ElfSymbolSpec[] = symbols.map((s) => ({
    name: s.name,
    value: s.value as KernelVa,
    size: (s.size ?? 0n) as Size,
    type: s.type ?? ((s.size ?? 0n) > 0n ? STT.OBJECT : STT.NOTYPE),
    ...(s.bind === undefined ? {} : { bind: s.bind }),
    shndx: s.shndx ?? ((s.size ?? 0n) > 0n ? 2 : SHN.ABS),
  }));
  return writeElf({
    arch,
    type: 'exec',
    osabi: opts.osabi ?? 9,
    segments: [],
    sections: [
      { name: '.bss', type: 'nobits', flags: SHF.ALLOC | SHF.WRITE, addr: hi as KernelVa, size: 0x1000n as Size },
      { name: '.data', type: 'nobits', flags: SHF.ALLOC | SHF.WRITE, addr: lo as KernelVa, size: (hi - lo) as Size },
    ],
    symbols: specs,
  });
}

/** The kernel as dump/kernel.ts loadKernelSymbols gives it. */
export function kernelOf(bytes: Uint8Array, path = 'kernel.elf'): DumpKernel {
  return { path, symbols: readElfSymbols(bytes) };
}
