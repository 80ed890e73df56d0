/**
 * Test kernels: small ELF files in FreeBSD rescue layout (file offset = VA − KERNSTART), made
 * with kboot's own ELF writer. Text is a recognisable byte pattern, not runnable code.
 */
import { add, alignUp, size, SZ_4K } from '../../loader/addr.js';
import { archInfo, type Arch } from '../../loader/arch/index.js';
import { ElfOsAbi, PF } from '../../loader/elf/layout.js';
import { writeElf } from '../../loader/elf/writer.js';

export interface TestKernelOptions {
  readonly text?: number;
  readonly data?: number;
  readonly bss?: number;
}

/** A rescue-compatible kernel ELF for `arch`: text at KERNSTART + 4 KiB, then data and BSS. */
export function makeRescueKernel(arch: Arch, opts: TestKernelOptions = {}): Uint8Array {
  const ks = archInfo(arch).kernstart;
  const text = opts.text ?? 0x3000;
  const data = opts.data ?? 0x1000;
  const bss = opts.bss ?? 0x2000;
  const textVa = add(ks, SZ_4K);
  const dataVa = add(textVa, alignUp(size(text), SZ_4K));
  return writeElf({
    arch,
    type: 'exec',
    entry: textVa,
    osabi: ElfOsAbi.FREEBSD,
    layout: { linearBase: ks },
    segments: [
      {
        type: 'load',
        flags: PF.R | PF.X,
        vaddr: textVa,
        data: Uint8Array.from({ length: text }, (_, i) => (i * 13 + 7) & 0xff),
      },
      {
        type: 'load',
        flags: PF.R | PF.W,
        vaddr: dataVa,
        data: Uint8Array.from({ length: data }, (_, i) => (i * 5 + 1) & 0xff),
        memsz: size(data + bss),
      },
    ],
  });
}
