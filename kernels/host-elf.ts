/**
 * A generated host kernel ELF, for strategies that need the host kernel as a file (embed
 * appends the rescue kernel to it, as RESCUE_EMBED does at link time): FreeBSD layout
 * (file offset = VA − KERNSTART), seeded text and data, BSS, and a .symtab with the
 * symbols a kernel image has (btext, etext, edata, end). Deterministic for arch + seed.
 */
import { add, size, SZ_4K } from '../loader/addr.js';
import { archInfo, type Arch } from '../loader/arch/index.js';
import { ElfOsAbi, PF, STT } from '../loader/elf/layout.js';
import { writeElf } from '../loader/elf/writer.js';
import { SeededRandom } from '../loader/bytes/prng.js';

/** Sizes of the generated host kernel (small: the model needs a file, not a real kernel). */
export const HOST_ELF = { text: 0x4_0000, data: 0x1_0000, bss: 0x2_0000 } as const;

/** The generated host kernel ELF for `arch`. */
export function hostKernelElf(arch: Arch, seed: bigint | number): Uint8Array {
  const ks = archInfo(arch).kernstart;
  const rnd = new SeededRandom(BigInt(seed), 0x686f_7374n);
  const bytes = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 8) new DataView(b.buffer).setBigUint64(i, rnd.next64(), true);
    return b;
  };
  const textVa = add(ks, SZ_4K);
  const dataVa = add(textVa, size(HOST_ELF.text));
  const end = add(dataVa, size(HOST_ELF.data + HOST_ELF.bss));
  return writeElf({
    arch,
    type: 'exec',
    entry: textVa,
    osabi: ElfOsAbi.FREEBSD,
    layout: { linearBase: ks },
    segments: [
      { type: 'load', flags: PF.R | PF.X, vaddr: textVa, data: bytes(HOST_ELF.text) },
      {
        type: 'load',
        flags: PF.R | PF.W,
        vaddr: dataVa,
        data: bytes(HOST_ELF.data),
        memsz: size(HOST_ELF.data + HOST_ELF.bss),
      },
    ],
    symbols: [
      { name: 'btext', value: textVa, type: STT.FUNC },
      { name: 'etext', value: dataVa },
      { name: 'edata', value: add(dataVa, size(HOST_ELF.data)) },
      { name: 'end', value: end },
    ],
  });
}
