/**
 * A generated host kernel ELF, for strategies that need the host kernel as a file (embed
 * appends the rescue kernel to it, as RESCUE_EMBED does at link time): FreeBSD layout
 * (file offset = VA − KERNSTART), seeded text and data, BSS, and a .symtab with the
 * symbols a kernel image has (btext, etext, edata, end). Deterministic for arch + seed, so
 * the last few are kept and each caller gets its own copy: `kboot compare` and the demo boot
 * 30-odd sessions of one machine, and generating the seeded bytes was 4% of the demo's time.
 */
import { add, size, SZ_4K } from '../loader/addr.js';
import { archInfo, type Arch } from '../loader/arch/index.js';
import { ElfOsAbi, PF, STT } from '../loader/elf/layout.js';
import { writeElf } from '../loader/elf/writer.js';
import { SeededRandom } from '../loader/bytes/prng.js';

/** Sizes of the generated host kernel (small: the model needs a file, not a real kernel). */
export const HOST_ELF = { text: 0x4_0000, data: 0x1_0000, bss: 0x2_0000 } as const;

/** Host kernels already generated, by arch and seed (at most HOST_ELF_CACHE, oldest dropped). */
const generated = new Map<string, Uint8Array>();
const HOST_ELF_CACHE = 4;

/** The generated host kernel ELF for `arch` (a fresh copy the caller may change). */
export function hostKernelElf(arch: Arch, seed: bigint | number): Uint8Array {
  const key = `${arch}:${BigInt(seed)}`;
  let elf = generated.get(key);
  if (elf === undefined) {
    elf = generateHostKernel(arch, seed);
    if (generated.size >= HOST_ELF_CACHE) generated.delete(generated.keys().next().value ?? key);
    generated.set(key, elf);
  }
  return elf.slice();
}

/** Builds the host kernel ELF (see the module contract). */
function generateHostKernel(arch: Arch, seed: bigint | number): Uint8Array {
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
