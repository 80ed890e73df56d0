/**
 * The value `parseElf` returns: an immutable, checked description of an ELF64 file.
 *
 * Contract: every address and size in an `ElfImage` was read from the file and checked by
 * the reader (segment and section bytes lie inside `bytes`, address ranges end at or below
 * 2^64, PT_LOAD segments do not overlap and are listed in `loadSegments` sorted by
 * `vaddr`). Objects and arrays are frozen; `bytes` is the caller's buffer, kept without a
 * copy, so callers must not change it afterwards. Field meanings follow FreeBSD
 * `sys/sys/elf64.h`.
 */
import type { KernelVa, PhysAddr, Size } from '../addr.js';
import type { Arch } from '../arch/index.js';

/** The e_type values kboot reads: ET_EXEC, ET_DYN and ET_CORE (the last for ELF crash dumps). */
export type ElfType = 'exec' | 'dyn' | 'core';

/** Bounds on counts read from the file (ANCHORS.md house rule 7). */
export interface ElfLimits {
  /** Most program headers accepted (e_phnum, or sh_info with PN_XNUM). */
  readonly maxPhdrs: number;
  /** Most section headers accepted (e_shnum, or sh_size of section 0). */
  readonly maxShdrs: number;
  /** Most symbols accepted in the one symbol table read. */
  readonly maxSymbols: number;
  /** Most note records accepted over all PT_NOTE segments and SHT_NOTE sections. */
  readonly maxNotes: number;
}

/**
 * Defaults: a FreeBSD GENERIC kernel has a handful of program headers, ~40 sections and
 * well under 10^5 symbols; ELF crash dumps have one PT_LOAD per memory range.
 */
export const DEFAULT_ELF_LIMITS: ElfLimits = Object.freeze({
  maxPhdrs: 4096,
  maxShdrs: 4096,
  maxSymbols: 1_000_000,
  maxNotes: 4096,
});

/** One Elf64_Phdr. */
export interface ProgramHeader {
  /** Position in the program-header table. */
  readonly index: number;
  /** p_type (PT_*). */
  readonly type: number;
  /** p_flags (PF_R | PF_W | PF_X). */
  readonly flags: number;
  readonly offset: Size;
  readonly vaddr: KernelVa;
  readonly paddr: PhysAddr;
  readonly filesz: Size;
  readonly memsz: Size;
  readonly align: Size;
}

/** One Elf64_Shdr with its name resolved through .shstrtab. */
export interface ElfSection {
  /** Position in the section-header table (0 is the null section). */
  readonly index: number;
  readonly name: string;
  /** sh_type (SHT_*). */
  readonly type: number;
  /** sh_flags (SHF_*). */
  readonly flags: bigint;
  readonly addr: KernelVa;
  readonly offset: Size;
  readonly size: Size;
  readonly link: number;
  readonly info: number;
  readonly addralign: Size;
  readonly entsize: Size;
}

/** One Elf64_Sym (the null symbol 0 is left out). */
export interface ElfSymbol {
  readonly name: string;
  readonly value: KernelVa;
  readonly size: Size;
  /** STT_* (low nibble of st_info). */
  readonly type: number;
  /** STB_* (high nibble of st_info). */
  readonly bind: number;
  /** st_other (visibility). */
  readonly other: number;
  /** st_shndx: a section index or SHN_ABS / SHN_COMMON / SHN_UNDEF. */
  readonly shndx: number;
}

/** One note record (Elf64_Nhdr + name + desc). */
export interface ElfNote {
  readonly name: string;
  readonly type: number;
  /** A copy of the descriptor bytes. */
  readonly desc: Uint8Array;
}

/** A parsed ELF64 little-endian file for a supported arch. */
export interface ElfImage {
  readonly arch: Arch;
  /** e_machine (EM_X86_64 or EM_AARCH64). */
  readonly machine: number;
  readonly type: ElfType;
  /** EI_OSABI (9 for FreeBSD). */
  readonly osabi: number;
  /** e_flags. */
  readonly flags: number;
  /** e_entry; undefined for ET_DYN / ET_CORE files whose e_entry is 0 ("no entry point"). */
  readonly entry: KernelVa | undefined;
  /** Every program header in file order. */
  readonly phdrs: readonly ProgramHeader[];
  /** PT_LOAD headers only, sorted by vaddr. */
  readonly loadSegments: readonly ProgramHeader[];
  /** Every section header in file order (index 0 is the null section when sections exist). */
  readonly sections: readonly ElfSection[];
  /**
   * Symbols from .symtab (SHT_SYMTAB), else from .dynsym (SHT_DYNSYM). Checked by parseElf,
   * decoded on first access (so reading only `symbolCount` costs nothing per symbol).
   */
  readonly symbols: readonly ElfSymbol[];
  /** `symbols.length`, known without decoding them. */
  readonly symbolCount: number;
  /** Which table `symbols` came from. */
  readonly symbolSource: 'symtab' | 'dynsym' | 'none';
  /** Notes from PT_NOTE segments, plus SHT_NOTE sections that no PT_NOTE covers. */
  readonly notes: readonly ElfNote[];
  /** Length of the file in bytes. */
  readonly fileSize: number;
  /** The file itself (not copied). */
  readonly bytes: Uint8Array;
}
