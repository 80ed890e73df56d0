/**
 * ELF64 for kboot: reader (`parseElf`), writer (`writeElf`), rescue-kernel lint
 * (`lintRescueKernel`), their error codes and the ELF structs/constants. See each module's
 * header for its contract; formats from FreeBSD sys/sys/elf64.h and sys/sys/elf_common.h.
 */
export { ElfCode, ElfError, type ElfErrorCode } from './errors.js';
export {
  DEFAULT_ELF_LIMITS,
  type ElfImage,
  type ElfLimits,
  type ElfNote,
  type ElfSection,
  type ElfSymbol,
  type ElfType,
  type ProgramHeader,
} from './image.js';
export {
  ELF_MAGIC,
  Elf64Ehdr,
  Elf64Nhdr,
  Elf64Phdr,
  Elf64Shdr,
  Elf64Sym,
  ElfIdent,
  ElfOsAbi,
  ET,
  PF,
  PN_XNUM,
  PT,
  SHF,
  SHN,
  SHT,
  STB,
  STT,
  phdrFlagsText,
  phdrTypeName,
} from './layout.js';
export { parseElf, sectionBytes, segmentBytes } from './reader.js';
export {
  encodeNotes,
  writeElf,
  type ElfNoteSpec,
  type ElfSectionSpec,
  type ElfSegmentSpec,
  type ElfSymbolSpec,
  type ElfWriteSpec,
} from './writer.js';
export { lintRescueKernel, RESCUE_RULES, type RescueLint, type RescueProblem, type RescueRule } from './rescue-lint.js';
