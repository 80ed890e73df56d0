/**
 * ELF64 structures, each declared once (ANCHORS.md house rule 3), plus the constants.
 *
 * Contract: the five on-disk structs kboot reads and writes (Elf64_Ehdr 64 bytes,
 * Elf64_Phdr 56, Elf64_Shdr 64, Elf64_Sym 24, Elf64_Nhdr 12) are `defineLayout` values whose
 * sizes and field offsets are asserted at import; the reader and the writer both use them,
 * so neither restates an offset. The numeric constants live in constants.ts and are
 * re-exported here.
 * Source: FreeBSD `sys/sys/elf64.h` (struct layouts).
 */
import { bytes, defineLayout, pad, u16, u32, u64, u8 } from '../bytes/index.js';

export * from './constants.js';

/** Elf64_Ehdr (sys/sys/elf64.h), with e_ident spelled out byte by byte. */
export const Elf64Ehdr = defineLayout(
  'Elf64_Ehdr',
  [
    bytes('magic', 4, { at: 0 }),
    u8('class', { at: 4 }),
    u8('data', { at: 5 }),
    u8('identVersion', { at: 6 }),
    u8('osabi', { at: 7 }),
    u8('abiVersion', { at: 8 }),
    pad(7),
    u16('type', { at: 16 }),
    u16('machine', { at: 18 }),
    u32('version', { at: 20 }),
    u64('entry', { at: 24 }),
    u64('phoff', { at: 32 }),
    u64('shoff', { at: 40 }),
    u32('flags', { at: 48 }),
    u16('ehsize', { at: 52 }),
    u16('phentsize', { at: 54 }),
    u16('phnum', { at: 56 }),
    u16('shentsize', { at: 58 }),
    u16('shnum', { at: 60 }),
    u16('shstrndx', { at: 62 }),
  ],
  { size: 64 },
);

/** Elf64_Phdr (sys/sys/elf64.h). */
export const Elf64Phdr = defineLayout(
  'Elf64_Phdr',
  [
    u32('type', { at: 0 }),
    u32('flags', { at: 4 }),
    u64('offset', { at: 8 }),
    u64('vaddr', { at: 16 }),
    u64('paddr', { at: 24 }),
    u64('filesz', { at: 32 }),
    u64('memsz', { at: 40 }),
    u64('align', { at: 48 }),
  ],
  { size: 56 },
);

/** Elf64_Shdr (sys/sys/elf64.h). */
export const Elf64Shdr = defineLayout(
  'Elf64_Shdr',
  [
    u32('name', { at: 0 }),
    u32('type', { at: 4 }),
    u64('flags', { at: 8 }),
    u64('addr', { at: 16 }),
    u64('offset', { at: 24 }),
    u64('size', { at: 32 }),
    u32('link', { at: 40 }),
    u32('info', { at: 44 }),
    u64('addralign', { at: 48 }),
    u64('entsize', { at: 56 }),
  ],
  { size: 64 },
);

/** Elf64_Sym (sys/sys/elf64.h). */
export const Elf64Sym = defineLayout(
  'Elf64_Sym',
  [
    u32('name', { at: 0 }),
    u8('info', { at: 4 }),
    u8('other', { at: 5 }),
    u16('shndx', { at: 6 }),
    u64('value', { at: 8 }),
    u64('size', { at: 16 }),
  ],
  { size: 24 },
);

/** Elf64_Nhdr (sys/sys/elf64.h, Elf_Note in elf_common.h); name and desc follow, padded. */
export const Elf64Nhdr = defineLayout(
  'Elf64_Nhdr',
  [u32('namesz', { at: 0 }), u32('descsz', { at: 4 }), u32('type', { at: 8 })],
  { size: 12 },
);
