/**
 * ELF numeric constants as `as const` tables (ANCHORS.md house rule 9), and their names.
 *
 * Contract: every ELF number kboot uses is declared here once, with no imports, so that
 * cheap consumers (the CLI's start-up path) can use them without loading the struct
 * layouts. layout.ts re-exports all of it next to the structs.
 * Source: FreeBSD `sys/sys/elf_common.h` (the System V gABI, chapters 4 and 5, has the same).
 */

/** e_ident[EI_MAG0..3]: 0x7f 'E' 'L' 'F' (elf_common.h ELFMAG). */
export const ELF_MAGIC: readonly number[] = [0x7f, 0x45, 0x4c, 0x46];

/** e_ident values kboot accepts (elf_common.h). */
export const ElfIdent = {
  /** EI_NIDENT: bytes of e_ident. */
  NIDENT: 16,
  /** ELFCLASS64. */
  CLASS64: 2,
  /** ELFDATA2LSB. */
  DATA2LSB: 1,
  /** EV_CURRENT (also the only valid e_version). */
  VERSION_CURRENT: 1,
} as const;

/** EI_OSABI values (elf_common.h ELFOSABI_*). */
export const ElfOsAbi = {
  NONE: 0,
  LINUX: 3,
  FREEBSD: 9,
} as const;

/** e_type values (elf_common.h ET_*). */
export const ET = {
  NONE: 0,
  REL: 1,
  EXEC: 2,
  DYN: 3,
  CORE: 4,
} as const;

/** p_type values (elf_common.h PT_*). */
export const PT = {
  NULL: 0,
  LOAD: 1,
  DYNAMIC: 2,
  INTERP: 3,
  NOTE: 4,
  SHLIB: 5,
  PHDR: 6,
  TLS: 7,
  GNU_EH_FRAME: 0x6474_e550,
  GNU_STACK: 0x6474_e551,
  GNU_RELRO: 0x6474_e552,
  GNU_PROPERTY: 0x6474_e553,
} as const;

/** p_flags bits (elf_common.h PF_*). */
export const PF = {
  X: 0x1,
  W: 0x2,
  R: 0x4,
} as const;

/** sh_type values (elf_common.h SHT_*). */
export const SHT = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  HASH: 5,
  DYNAMIC: 6,
  NOTE: 7,
  NOBITS: 8,
  REL: 9,
  DYNSYM: 11,
} as const;

/** sh_flags bits (elf_common.h SHF_*). */
export const SHF = {
  WRITE: 0x1n,
  ALLOC: 0x2n,
  EXECINSTR: 0x4n,
} as const;

/** Special section indexes (elf_common.h SHN_*) and PN_XNUM (extended program-header count). */
export const SHN = {
  UNDEF: 0,
  LORESERVE: 0xff00,
  ABS: 0xfff1,
  COMMON: 0xfff2,
  XINDEX: 0xffff,
} as const;
/** e_phnum value meaning "the real count is in section header 0's sh_info" (elf_common.h). */
export const PN_XNUM = 0xffff;

/** Symbol binding, the high nibble of st_info (elf_common.h STB_*). */
export const STB = {
  LOCAL: 0,
  GLOBAL: 1,
  WEAK: 2,
} as const;

/** Symbol type, the low nibble of st_info (elf_common.h STT_*). */
export const STT = {
  NOTYPE: 0,
  OBJECT: 1,
  FUNC: 2,
  SECTION: 3,
  FILE: 4,
  COMMON: 5,
  TLS: 6,
} as const;

/** Human names of the p_type values above (for `kboot inspect`); others print in hex. */
export function phdrTypeName(type: number): string {
  for (const [name, v] of Object.entries(PT)) if (v === type) return `PT_${name}`;
  return `0x${type.toString(16)}`;
}

/** `RWX`-style flags (`-` for a missing permission), as readelf prints them. */
export function phdrFlagsText(flags: number): string {
  return `${flags & PF.R ? 'R' : '-'}${flags & PF.W ? 'W' : '-'}${flags & PF.X ? 'X' : '-'}`;
}
