/**
 * The symbol table of an ELF64 kernel file, read as a debugger reads a namelist (libkvm
 * kvm_nlist through libelf): with or without program headers — a kernel, its debug file
 * (`kernel.debug`) or a symbol-only file made for tests (sections and `.symtab`, no
 * PT_LOAD) all do.
 *
 * Contract: `readElfSymbols(input, limits)` reads the ELF header, the section headers, the
 * section-name table, `.symtab` (SHT_SYMTAB) or else `.dynsym` (SHT_DYNSYM) and its string
 * table — nothing else: section contents stay on disk — from bytes or any random-access
 * source (a kernel on disk is never read whole). It returns every symbol with its value,
 * size, type (STT_*), binding (STB_*) and section, `lookup(name)` (a global symbol before a
 * weak one before a local one; undefined, section and file symbols are never found), the
 * count of PT_LOAD headers (0: a symbol-only file, which cannot be booted) and the sections.
 * Accepted: ELFCLASS64, ELFDATA2LSB, EV_CURRENT, EM_X86_64 or EM_AARCH64, ET_EXEC or ET_DYN.
 * Every count is checked against `limits` before it drives a loop and every offset against
 * the file size before a read; only ElfError escapes for bytes in memory (the fuzz
 * contract), and a source's own read errors (IoError) for a file.
 * Format: FreeBSD sys/sys/elf64.h, sys/sys/elf_common.h (System V gABI ch. 4).
 */
import { hex } from '../addr.js';
import { archForElfMachine, type Arch } from '../arch/index.js';
import { ElfCode, ElfError, type ElfErrorCode } from './errors.js';
import { DEFAULT_ELF_LIMITS } from './image.js';
import {
  ELF_MAGIC,
  Elf64Ehdr,
  Elf64Phdr,
  Elf64Shdr,
  Elf64Sym,
  ElfIdent,
  ET,
  PN_XNUM,
  PT,
  SHN,
  SHT,
  STB,
  STT,
} from './layout.js';

/** Random access to a file's bytes; `read` returns fewer bytes only at the end. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

/** Bounds on what the symbol reader takes from a file. */
export interface SymbolLimits {
  readonly maxShdrs: number;
  readonly maxPhdrs: number;
  readonly maxSymbols: number;
  /** Largest symbol table or string table read into memory. */
  readonly maxTableBytes: number;
}

/** A FreeBSD GENERIC kernel has ~50,000 symbols and a string table of about 1 MiB. */
export const DEFAULT_SYMBOL_LIMITS: SymbolLimits = Object.freeze({
  maxShdrs: DEFAULT_ELF_LIMITS.maxShdrs,
  maxPhdrs: DEFAULT_ELF_LIMITS.maxPhdrs,
  maxSymbols: DEFAULT_ELF_LIMITS.maxSymbols,
  maxTableBytes: 128 << 20,
});

/** One section header, its name resolved. */
export interface SymbolFileSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: bigint;
  readonly addr: bigint;
  readonly offset: bigint;
  readonly size: bigint;
  readonly link: number;
  readonly entsize: bigint;
}

/** One Elf64_Sym (the null symbol left out). */
export interface KernelSymbol {
  readonly name: string;
  readonly value: bigint;
  readonly size: bigint;
  /** STT_* (low nibble of st_info). */
  readonly type: number;
  /** STB_* (high nibble of st_info). */
  readonly bind: number;
  /** st_shndx: a section index, SHN_ABS, SHN_COMMON or SHN_UNDEF. */
  readonly shndx: number;
  /** The section's name, 'ABS' / 'COMMON' / 'UNDEF', or undefined for an index with no section. */
  readonly section: string | undefined;
}

/** What `readElfSymbols` found. */
export interface ElfSymbolFile {
  readonly arch: Arch;
  readonly machine: number;
  readonly type: 'exec' | 'dyn';
  readonly osabi: number;
  readonly entry: bigint;
  /** Program headers (e_phnum, or section 0's sh_info with PN_XNUM). */
  readonly phnum: number;
  /** PT_LOAD headers: 0 for a symbol-only file. */
  readonly loadCount: number;
  readonly sections: readonly SymbolFileSection[];
  /** Which table the symbols came from. */
  readonly source: 'symtab' | 'dynsym' | 'none';
  readonly symbols: readonly KernelSymbol[];
  /** The symbol of that name (global, else weak, else local); undefined when there is none. */
  lookup(name: string): KernelSymbol | undefined;
  readonly fileSize: number;
}

const utf8 = new TextDecoder('utf-8');

function fail(code: ElfErrorCode, message: string, details: Record<string, unknown>): ElfError {
  return new ElfError(code, `elf: ${message}`, details);
}

/** A bytes-in-memory source. */
function bytesSource(b: Uint8Array): ByteSource {
  return { size: b.length, read: (o, n) => b.subarray(o, Math.min(b.length, o + n)) };
}

/** [offset, offset + len) of the file, checked; `code` when it lies outside. */
function readRange(src: ByteSource, offset: bigint, len: bigint, code: ElfErrorCode, what: string): Uint8Array {
  const size = BigInt(src.size);
  if (offset > size || len > size - offset) {
    throw fail(
      code,
      `${what} lies outside the file (offset ${hex(offset)}, size ${hex(len)}, file size ${hex(size)})`,
      {
        what,
        offset,
        length: len,
        fileSize: src.size,
      },
    );
  }
  const b = src.read(Number(offset), Number(len));
  if (b.length !== Number(len)) {
    throw fail(ElfCode.Truncated, `short read of ${what} at ${hex(offset)} (${hex(b.length)} of ${hex(len)} bytes)`, {
      what,
      offset,
      length: len,
      got: b.length,
    });
  }
  return b;
}

interface Header {
  readonly arch: Arch;
  readonly machine: number;
  readonly type: 'exec' | 'dyn';
  readonly osabi: number;
  readonly entry: bigint;
  readonly phoff: bigint;
  readonly phentsize: number;
  readonly phnum: number;
  readonly shoff: bigint;
  readonly shnum: number;
  readonly shstrndx: number;
}

/** e_ident and the ELF header: ELF64 little-endian, EV_CURRENT, amd64/arm64, ET_EXEC/ET_DYN. */
function readHeader(src: ByteSource): ReturnType<typeof Elf64Ehdr.decode> {
  const head = src.read(0, Elf64Ehdr.size);
  ELF_MAGIC.forEach((m, i) => {
    if (i < head.length && head[i] !== m) {
      throw fail(ElfCode.BadMagic, `not an ELF file (e_ident[${i}] ${hex(head[i] ?? 0)})`, {
        index: i,
        value: head[i],
      });
    }
  });
  if (head.length < Elf64Ehdr.size) {
    throw fail(ElfCode.Truncated, `file ends inside the ELF header (${hex(head.length)} bytes)`, {
      fileSize: src.size,
    });
  }
  const eh = Elf64Ehdr.decode(head);
  if (eh.class !== ElfIdent.CLASS64)
    throw fail(ElfCode.BadClass, `not ELF64 (EI_CLASS ${hex(eh.class)})`, { class: eh.class });
  if (eh.data !== ElfIdent.DATA2LSB) {
    throw fail(ElfCode.NotLittleEndian, `not little-endian (EI_DATA ${hex(eh.data)})`, { data: eh.data });
  }
  if (eh.identVersion !== ElfIdent.VERSION_CURRENT || eh.version !== ElfIdent.VERSION_CURRENT) {
    throw fail(ElfCode.BadVersion, `unknown ELF version (EI_VERSION ${eh.identVersion}, e_version ${eh.version})`, {
      identVersion: eh.identVersion,
      version: eh.version,
    });
  }
  return eh;
}

/** The header's facts, extended counts (PN_XNUM, e_shnum 0, SHN_XINDEX) resolved from section 0. */
function decodeHeader(src: ByteSource, limits: SymbolLimits): Header {
  const eh = readHeader(src);
  const arch = archForElfMachine(eh.machine);
  if (arch === undefined) {
    throw fail(ElfCode.UnsupportedMachine, `unsupported machine (e_machine ${hex(eh.machine)})`, {
      machine: eh.machine,
    });
  }
  if (eh.type !== ET.EXEC && eh.type !== ET.DYN) {
    throw fail(ElfCode.UnsupportedType, `not a kernel (e_type ${hex(eh.type)}; ET_EXEC or ET_DYN)`, { type: eh.type });
  }
  let { shnum, shstrndx } = eh;
  let phnum = eh.phnum;
  if (eh.shoff !== 0n) {
    if (eh.shentsize !== Elf64Shdr.size) {
      throw fail(ElfCode.BadHeaderSize, `wrong section header size (e_shentsize ${hex(eh.shentsize)})`, {
        field: 'e_shentsize',
        value: eh.shentsize,
      });
    }
    const sh0 = Elf64Shdr.decode(
      readRange(src, eh.shoff, BigInt(Elf64Shdr.size), ElfCode.ShdrOutOfFile, 'section header 0'),
    );
    if (shnum === 0) shnum = Number(sh0.size > BigInt(limits.maxShdrs) ? BigInt(limits.maxShdrs) + 1n : sh0.size);
    if (shstrndx === SHN.XINDEX) shstrndx = sh0.link;
    if (phnum === PN_XNUM) phnum = sh0.info;
  } else {
    shnum = 0;
  }
  if (shnum > limits.maxShdrs) {
    throw fail(ElfCode.TooManyShdrs, `too many section headers (${hex(shnum)}, limit ${hex(limits.maxShdrs)})`, {
      shnum,
    });
  }
  if (phnum > limits.maxPhdrs) {
    throw fail(ElfCode.TooManyPhdrs, `too many program headers (${hex(phnum)}, limit ${hex(limits.maxPhdrs)})`, {
      phnum,
    });
  }
  const type = eh.type === ET.EXEC ? 'exec' : 'dyn';
  return {
    arch,
    machine: eh.machine,
    type,
    osabi: eh.osabi,
    entry: eh.entry,
    phoff: eh.phoff,
    phentsize: eh.phentsize,
    phnum,
    shoff: eh.shoff,
    shnum,
    shstrndx,
  };
}

/** How many PT_LOAD headers the file has (0: symbol-only). */
function countLoads(src: ByteSource, h: Header): number {
  if (h.phnum === 0) return 0;
  if (h.phentsize !== Elf64Phdr.size) {
    throw fail(ElfCode.BadHeaderSize, `wrong program header size (e_phentsize ${hex(h.phentsize)})`, {
      field: 'e_phentsize',
      value: h.phentsize,
    });
  }
  const table = readRange(src, h.phoff, BigInt(h.phnum * Elf64Phdr.size), ElfCode.PhdrOutOfFile, 'the program headers');
  let loads = 0;
  for (let i = 0; i < h.phnum; i++) if (Elf64Phdr.decode(table, i * Elf64Phdr.size).type === PT.LOAD) loads++;
  return loads;
}

/** The NUL-terminated name at `off` of a string table; ELF_BAD_STRTAB when it runs off the table. */
function nameAt(table: Uint8Array, off: number, what: string): string {
  if (off === 0) return '';
  const nul = off < table.length ? table.indexOf(0, off) : -1;
  if (nul < 0) {
    throw fail(
      ElfCode.BadStrtab,
      `${what} name lies past its string table (offset ${hex(off)}, table ${hex(table.length)})`,
      {
        what,
        offset: off,
        tableSize: table.length,
      },
    );
  }
  return utf8.decode(table.subarray(off, nul));
}

/** A table's bytes, bounded by `maxTableBytes`. */
function tableBytes(
  src: ByteSource,
  s: { offset: bigint; size: bigint; index: number },
  limits: SymbolLimits,
  what: string,
): Uint8Array {
  if (s.size > BigInt(limits.maxTableBytes)) {
    throw fail(
      ElfCode.TooManySymbols,
      `${what} (section #${s.index}) is ${hex(s.size)} bytes (limit ${hex(limits.maxTableBytes)})`,
      {
        index: s.index,
        size: s.size,
        limit: limits.maxTableBytes,
      },
    );
  }
  return readRange(src, s.offset, s.size, ElfCode.ShdrOutOfFile, `${what} (section #${s.index})`);
}

/** Every section header, named through the section-name table. */
function readSectionHeaders(src: ByteSource, h: Header, limits: SymbolLimits): SymbolFileSection[] {
  if (h.shnum === 0) return [];
  const table = readRange(src, h.shoff, BigInt(h.shnum * Elf64Shdr.size), ElfCode.ShdrOutOfFile, 'the section headers');
  const raw = Array.from({ length: h.shnum }, (_, i) => Elf64Shdr.decode(table, i * Elf64Shdr.size));
  let names: Uint8Array = new Uint8Array(0);
  if (h.shstrndx !== SHN.UNDEF) {
    const st = raw[h.shstrndx];
    if (st === undefined || st.type !== SHT.STRTAB) {
      throw fail(ElfCode.BadStrtab, `section-name table is not a string table (e_shstrndx ${hex(h.shstrndx)})`, {
        shstrndx: h.shstrndx,
        type: st?.type,
      });
    }
    names = tableBytes(src, { offset: st.offset, size: st.size, index: h.shstrndx }, limits, 'the section-name table');
  }
  return raw.map((s, i) => ({
    index: i,
    name: names.length === 0 ? '' : nameAt(names, s.name, `section #${i}`),
    type: s.type,
    flags: s.flags,
    addr: s.addr,
    offset: s.offset,
    size: s.size,
    link: s.link,
    entsize: s.entsize,
  }));
}

const SPECIAL_SECTIONS: Readonly<Record<number, string>> = {
  [SHN.UNDEF]: 'UNDEF',
  [SHN.ABS]: 'ABS',
  [SHN.COMMON]: 'COMMON',
};

/** The symbols of one SHT_SYMTAB / SHT_DYNSYM section. */
function readSymbolTable(
  src: ByteSource,
  sec: SymbolFileSection,
  sections: readonly SymbolFileSection[],
  limits: SymbolLimits,
): KernelSymbol[] {
  const { link, entsize } = sec;
  if (entsize !== BigInt(Elf64Sym.size) || sec.size % entsize !== 0n) {
    throw fail(
      ElfCode.BadSymtab,
      `symbol table #${sec.index} has a bad entry size or length (sh_entsize ${hex(entsize)}, sh_size ${hex(sec.size)})`,
      {
        index: sec.index,
        entsize,
        size: sec.size,
      },
    );
  }
  const count = sec.size / entsize;
  if (count > BigInt(limits.maxSymbols) + 1n) {
    throw fail(ElfCode.TooManySymbols, `too many symbols (${hex(count)}, limit ${hex(limits.maxSymbols)})`, { count });
  }
  const strSec = sections[link];
  if (strSec === undefined || strSec.type !== SHT.STRTAB) {
    throw fail(ElfCode.BadSymtab, `symbol table #${sec.index} does not link to a string table (sh_link ${hex(link)})`, {
      index: sec.index,
      link,
    });
  }
  const strtab = tableBytes(src, strSec, limits, 'the symbol string table');
  const table = tableBytes(src, sec, limits, 'the symbol table');
  const out: KernelSymbol[] = [];
  for (let i = 1; i < Number(count); i++) {
    const s = Elf64Sym.decode(table, i * Elf64Sym.size);
    out.push({
      name: nameAt(strtab, s.name, `symbol #${i}`),
      value: s.value,
      size: s.size,
      type: s.info & 0xf,
      bind: s.info >> 4,
      shndx: s.shndx,
      section: SPECIAL_SECTIONS[s.shndx] ?? (s.shndx < SHN.LORESERVE ? sections[s.shndx]?.name : undefined),
    });
  }
  return out;
}

const BIND_RANK: Readonly<Record<number, number>> = { [STB.GLOBAL]: 0, [STB.WEAK]: 1, [STB.LOCAL]: 2 };

/** name → symbol, preferring global over weak over local; undefined, section and file symbols left out. */
function symbolIndex(symbols: readonly KernelSymbol[]): Map<string, KernelSymbol> {
  const byName = new Map<string, KernelSymbol>();
  for (const s of symbols) {
    if (s.name === '' || s.shndx === SHN.UNDEF || s.type === STT.SECTION || s.type === STT.FILE) continue;
    const had = byName.get(s.name);
    if (had === undefined || (BIND_RANK[s.bind] ?? 3) < (BIND_RANK[had.bind] ?? 3)) byName.set(s.name, s);
  }
  return byName;
}

/** Reads the symbol table of an ELF64 kernel file (see the module contract). */
export function readElfSymbols(input: Uint8Array | ByteSource, limits: Partial<SymbolLimits> = {}): ElfSymbolFile {
  const lim: SymbolLimits = { ...DEFAULT_SYMBOL_LIMITS, ...limits };
  const src = input instanceof Uint8Array ? bytesSource(input) : input;
  const h = decodeHeader(src, lim);
  const loadCount = countLoads(src, h);
  const sections = readSectionHeaders(src, h, lim);
  const sym = sections.find((s) => s.type === SHT.SYMTAB) ?? sections.find((s) => s.type === SHT.DYNSYM);
  const source = sym === undefined ? 'none' : sym.type === SHT.SYMTAB ? 'symtab' : 'dynsym';
  let symbols: KernelSymbol[] = [];
  if (sym !== undefined) symbols = readSymbolTable(src, sym, sections, lim);
  let index: Map<string, KernelSymbol> | undefined;
  return {
    arch: h.arch,
    machine: h.machine,
    type: h.type,
    osabi: h.osabi,
    entry: h.entry,
    phnum: h.phnum,
    loadCount,
    sections,
    source,
    symbols,
    lookup(name) {
      index ??= symbolIndex(symbols);
      return index.get(name);
    },
    fileSize: src.size,
  };
}
