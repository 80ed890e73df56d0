/**
 * Errors of the ELF64 reader and writer (loader/elf/).
 *
 * Contract: `parseElf` may throw only `ElfError` (its fuzz contract); each distinct way an
 * input can be malformed has its own stable code, and `details` carries the offending
 * values (bigints as they were read). `writeElf` also throws `ElfError`, with
 * ELF_BAD_WRITE_SPEC for a spec it cannot encode. The rescue-kernel lint does not throw: it
 * reports problems as data (rescue-lint.ts).
 * Source of the format: FreeBSD `sys/sys/elf64.h`, `sys/sys/elf_common.h`.
 */
import { KbootError, type CodeOf } from '../errors.js';

/** Stable codes of every ELF failure. */
export const ElfCode = {
  /** The file ends inside a header or table that must be there. */
  Truncated: 'ELF_TRUNCATED',
  /** e_ident does not start with 0x7f 'E' 'L' 'F'. */
  BadMagic: 'ELF_BAD_MAGIC',
  /** EI_CLASS is not ELFCLASS64. */
  BadClass: 'ELF_BAD_CLASS',
  /** EI_DATA is not ELFDATA2LSB. */
  NotLittleEndian: 'ELF_NOT_LE',
  /** EI_VERSION or e_version is not EV_CURRENT. */
  BadVersion: 'ELF_BAD_VERSION',
  /** e_machine is neither EM_X86_64 nor EM_AARCH64. */
  UnsupportedMachine: 'ELF_UNSUPPORTED_MACHINE',
  /** e_type is not ET_EXEC, ET_DYN or ET_CORE. */
  UnsupportedType: 'ELF_UNSUPPORTED_TYPE',
  /** e_ehsize, e_phentsize or e_shentsize is not the ELF64 size. */
  BadHeaderSize: 'ELF_BAD_HEADER_SIZE',
  /** More program headers than `ElfLimits.maxPhdrs`. */
  TooManyPhdrs: 'ELF_TOO_MANY_PHDRS',
  /** More section headers than `ElfLimits.maxShdrs`. */
  TooManyShdrs: 'ELF_TOO_MANY_SHDRS',
  /** More symbols than `ElfLimits.maxSymbols`. */
  TooManySymbols: 'ELF_TOO_MANY_SYMBOLS',
  /** More notes than `ElfLimits.maxNotes`. */
  TooManyNotes: 'ELF_TOO_MANY_NOTES',
  /** The program-header table lies (partly) outside the file. */
  PhdrOutOfFile: 'ELF_PHDR_OUT_OF_FILE',
  /** A segment's file bytes [p_offset, p_offset + p_filesz) lie outside the file. */
  SegmentOutOfFile: 'ELF_SEGMENT_OUT_OF_FILE',
  /** A PT_LOAD has p_filesz > p_memsz. */
  FileszGtMemsz: 'ELF_FILESZ_GT_MEMSZ',
  /** A segment's or section's address range passes 2^64. */
  AddrOverflow: 'ELF_ADDR_OVERFLOW',
  /** A PT_LOAD's p_align is not 0 or a power of two, or p_vaddr ≢ p_offset (mod p_align). */
  BadAlignment: 'ELF_BAD_ALIGNMENT',
  /** Two PT_LOAD segments share virtual addresses. */
  LoadOverlap: 'ELF_LOAD_OVERLAP',
  /** An ET_EXEC or ET_DYN file without a PT_LOAD segment. */
  NoLoad: 'ELF_NO_LOAD',
  /** e_entry lies outside every executable PT_LOAD. */
  EntryNotInText: 'ELF_ENTRY_NOT_IN_TEXT',
  /** The section-header table or a section's bytes lie outside the file. */
  ShdrOutOfFile: 'ELF_SHDR_OUT_OF_FILE',
  /** A string table is missing, of the wrong type, or a name runs past it. */
  BadStrtab: 'ELF_BAD_STRTAB',
  /** A symbol table has a bad entry size, length or string-table link. */
  BadSymtab: 'ELF_BAD_SYMTAB',
  /** A note record runs past its segment or section. */
  BadNote: 'ELF_BAD_NOTE',
  /** writeElf was given a spec it cannot encode (overlapping data, bad sizes, ...). */
  BadWriteSpec: 'ELF_BAD_WRITE_SPEC',
} as const;

/** One of the ELF error codes. */
export type ElfErrorCode = CodeOf<typeof ElfCode>;

/** A malformed or unsupported ELF file, or an unencodable write spec. */
export class ElfError extends KbootError<ElfErrorCode> {
  readonly domain = 'elf';
  override readonly name = 'ElfError';
}
