/**
 * ELF64 little-endian reader for amd64 (EM_X86_64) and arm64 (EM_AARCH64) files.
 *
 * Contract: `parseElf(bytes, limits)` returns a frozen `ElfImage` or throws `ElfError` —
 * nothing else escapes, whatever the bytes (fuzz contract). Every count read from the file
 * is checked against `ElfLimits` before it drives a loop, and every offset/length is
 * checked against the file size in bigint arithmetic before it is turned into a number.
 * Accepted e_type: ET_EXEC and ET_DYN (kernels, programs, libraries) and ET_CORE (ELF crash
 * dumps written by writer.ts); ET_REL and the rest are rejected. Extended numbering
 * (PN_XNUM, e_shnum 0, SHN_XINDEX) is honoured. The reader does not judge whether a file
 * suits a rescue hand-off: that is rescue-lint.ts.
 * Format source: FreeBSD `sys/sys/elf64.h`, `sys/sys/elf_common.h` (System V gABI ch. 4–5).
 */
import type { KernelVa, PhysAddr, Size } from '../addr.js';
import { hex, U64_LIMIT } from '../addr.js';
import { archForElfMachine } from '../arch/index.js';
import type { OutOfBoundsInfo } from '../bytes/index.js';
import { ElfCode, ElfError, type ElfErrorCode } from './errors.js';
import {
  ELF_MAGIC,
  Elf64Ehdr,
  Elf64Nhdr,
  Elf64Phdr,
  Elf64Shdr,
  Elf64Sym,
  ElfIdent,
  ET,
  PF,
  PN_XNUM,
  PT,
  SHF,
  SHN,
  SHT,
} from './layout.js';
import {
  DEFAULT_ELF_LIMITS,
  type ElfImage,
  type ElfLimits,
  type ElfNote,
  type ElfSection,
  type ElfSymbol,
  type ElfType,
  type ProgramHeader,
} from './image.js';

const utf8 = new TextDecoder('utf-8');

function fail(code: ElfErrorCode, message: string, details: Record<string, unknown>): ElfError {
  return new ElfError(code, `elf: ${message}`, details);
}

/** An out-of-bounds factory for ByteReader/Layout.decode that raises `code`. */
function oob(code: ElfErrorCode): (info: OutOfBoundsInfo) => ElfError {
  return (info) =>
    fail(
      code,
      `${info.what} lies past the end of the file (offset ${hex(info.offset)}, width ${hex(info.width)}, file size ${hex(info.length)})`,
      {
        ...info,
      },
    );
}

/** True when [offset, offset + len) lies inside a file of `fileLen` bytes (all u64). */
function inFile(offset: bigint, len: bigint, fileLen: bigint): boolean {
  return offset <= fileLen && len <= fileLen - offset;
}

const isPow2 = (v: bigint): boolean => v > 0n && (v & (v - 1n)) === 0n;

function elfType(type: number): ElfType | undefined {
  switch (type) {
    case ET.EXEC:
      return 'exec';
    case ET.DYN:
      return 'dyn';
    case ET.CORE:
      return 'core';
    default:
      return undefined;
  }
}

/** Reads the NUL-terminated string at `off` of a string table; ELF_BAD_STRTAB when it runs off. */
function strAt(table: Uint8Array, off: number, what: string): string {
  if (off >= table.length) {
    if (off === 0 && table.length === 0) return '';
    throw fail(
      ElfCode.BadStrtab,
      `${what} name lies past its string table (name offset ${hex(off)}, table size ${hex(table.length)})`,
      {
        what,
        offset: off,
        tableSize: table.length,
      },
    );
  }
  const nul = table.indexOf(0, off);
  if (nul < 0) {
    throw fail(
      ElfCode.BadStrtab,
      `${what} name has no NUL before the end of its string table (name offset ${hex(off)}, table size ${hex(table.length)})`,
      {
        what,
        offset: off,
        tableSize: table.length,
      },
    );
  }
  return utf8.decode(table.subarray(off, nul));
}

/** The decoded ELF header as the reader uses it: `Elf64Ehdr` values. */
type Ehdr = ReturnType<typeof Elf64Ehdr.decode>;

/** Counts that section header 0 may extend (PN_XNUM, e_shnum 0, SHN_XINDEX). */
interface HeaderCounts {
  readonly needShdrs: boolean;
  readonly shnum: bigint;
  readonly phnum: bigint;
  readonly shstrndx: number;
}

/**
 * Parses an ELF64 file. See the module contract; `limits` override `DEFAULT_ELF_LIMITS`.
 */
export function parseElf(bytes: Uint8Array, limits: Partial<ElfLimits> = {}): ElfImage {
  const lim: ElfLimits = { ...DEFAULT_ELF_LIMITS, ...limits };
  const fileSize = bytes.length;
  const fileLen = BigInt(fileSize);
  readIdent(bytes);
  const { eh, arch, type } = readEhdr(bytes);
  const counts = readHeaderCounts(bytes, eh, fileLen);
  const phdrs = readPhdrs(bytes, eh, counts.phnum, lim, fileLen);
  const loadSegments = sortedLoadSegments(phdrs, type, counts.phnum);
  const entry = checkEntry(eh, type, loadSegments);
  const sections = counts.needShdrs ? readSections(bytes, eh.shoff, counts.shnum, counts.shstrndx, lim, fileLen) : [];
  const { symtab, symbolSource } = chooseSymbolTable(bytes, sections, lim);
  const notes = readNotes(bytes, phdrs, sections, lim);
  let symbols: readonly ElfSymbol[] | undefined;
  return Object.freeze({
    arch,
    machine: eh.machine,
    type,
    osabi: eh.osabi,
    flags: eh.flags,
    entry,
    phdrs: Object.freeze(phdrs),
    loadSegments: Object.freeze(loadSegments),
    sections: Object.freeze(sections),
    get symbols(): readonly ElfSymbol[] {
      symbols ??= Object.freeze(symtab.decode());
      return symbols;
    },
    symbolCount: symtab.count,
    symbolSource,
    notes: Object.freeze(notes),
    fileSize,
    bytes,
  });
}

/** e_ident: the magic (checked on as many bytes as the file has), EI_CLASS, EI_DATA, EI_VERSION. */
function readIdent(bytes: Uint8Array): void {
  const fileSize = bytes.length;
  for (let i = 0; i < ELF_MAGIC.length && i < fileSize; i++) {
    if (bytes[i] !== ELF_MAGIC[i]) {
      throw fail(
        ElfCode.BadMagic,
        `not an ELF file (e_ident[${i}] ${hex(bytes[i] ?? 0)}, expected ${hex(ELF_MAGIC[i] ?? 0)})`,
        {
          index: i,
          value: bytes[i],
          expected: ELF_MAGIC[i],
        },
      );
    }
  }
  if (fileSize < ElfIdent.NIDENT) {
    throw fail(
      ElfCode.Truncated,
      `file ends inside e_ident (file size ${hex(fileSize)}, e_ident ${hex(ElfIdent.NIDENT)} bytes)`,
      {
        fileSize,
      },
    );
  }
  const cls = bytes[Elf64Ehdr.offsets.class] ?? 0;
  if (cls !== ElfIdent.CLASS64) {
    throw fail(ElfCode.BadClass, `not an ELF64 file (EI_CLASS ${hex(cls)}, expected ${hex(ElfIdent.CLASS64)})`, {
      class: cls,
    });
  }
  const data = bytes[Elf64Ehdr.offsets.data] ?? 0;
  if (data !== ElfIdent.DATA2LSB) {
    throw fail(
      ElfCode.NotLittleEndian,
      `not little-endian (EI_DATA ${hex(data)}, expected ${hex(ElfIdent.DATA2LSB)})`,
      {
        data,
      },
    );
  }
  const identVersion = bytes[Elf64Ehdr.offsets.identVersion] ?? 0;
  if (identVersion !== ElfIdent.VERSION_CURRENT) {
    throw fail(
      ElfCode.BadVersion,
      `unknown ELF version (EI_VERSION ${hex(identVersion)}, expected ${hex(ElfIdent.VERSION_CURRENT)})`,
      {
        identVersion,
      },
    );
  }
}

/** Elf64_Ehdr after e_ident: e_version, e_machine (the arch), e_type, e_ehsize. */
function readEhdr(bytes: Uint8Array): {
  eh: Ehdr;
  arch: NonNullable<ReturnType<typeof archForElfMachine>>;
  type: ElfType;
} {
  const fileSize = bytes.length;
  if (fileSize < Elf64Ehdr.size) {
    throw fail(
      ElfCode.Truncated,
      `file ends inside the ELF header (file size ${hex(fileSize)}, header ${hex(Elf64Ehdr.size)} bytes)`,
      {
        fileSize,
      },
    );
  }
  const eh = Elf64Ehdr.decode(bytes, 0, oob(ElfCode.Truncated));
  if (eh.version !== ElfIdent.VERSION_CURRENT) {
    throw fail(
      ElfCode.BadVersion,
      `unknown ELF version (e_version ${hex(eh.version)}, expected ${hex(ElfIdent.VERSION_CURRENT)})`,
      {
        version: eh.version,
      },
    );
  }
  const arch = archForElfMachine(eh.machine);
  if (arch === undefined) {
    throw fail(
      ElfCode.UnsupportedMachine,
      `unsupported machine (e_machine ${hex(eh.machine)}; kboot reads EM_X86_64 0x3e and EM_AARCH64 0xb7)`,
      {
        machine: eh.machine,
      },
    );
  }
  const type = elfType(eh.type);
  if (type === undefined) {
    throw fail(
      ElfCode.UnsupportedType,
      `unsupported file type (e_type ${hex(eh.type)}; kboot reads ET_EXEC 0x2, ET_DYN 0x3, ET_CORE 0x4)`,
      {
        type: eh.type,
      },
    );
  }
  if (eh.ehsize !== Elf64Ehdr.size) {
    throw fail(
      ElfCode.BadHeaderSize,
      `wrong ELF header size (e_ehsize ${hex(eh.ehsize)}, expected ${hex(Elf64Ehdr.size)})`,
      {
        field: 'e_ehsize',
        value: eh.ehsize,
        expected: Elf64Ehdr.size,
      },
    );
  }
  return { eh, arch, type };
}

/** Section header 0 is read first: it may hold the extended e_shnum, e_shstrndx and e_phnum. */
function readHeaderCounts(bytes: Uint8Array, eh: Ehdr, fileLen: bigint): HeaderCounts {
  const needShdrs = eh.shoff !== 0n || eh.shnum !== 0;
  if (needShdrs && eh.shentsize !== Elf64Shdr.size) {
    throw fail(
      ElfCode.BadHeaderSize,
      `wrong section header size (e_shentsize ${hex(eh.shentsize)}, expected ${hex(Elf64Shdr.size)})`,
      {
        field: 'e_shentsize',
        value: eh.shentsize,
        expected: Elf64Shdr.size,
      },
    );
  }
  let shnum = BigInt(eh.shnum);
  let phnum = BigInt(eh.phnum);
  let shstrndx = eh.shstrndx;
  if (needShdrs) {
    if (eh.shoff === 0n || !inFile(eh.shoff, BigInt(Elf64Shdr.size), fileLen)) {
      throw fail(
        ElfCode.ShdrOutOfFile,
        `section headers lie outside the file (e_shoff ${hex(eh.shoff)}, file size ${hex(fileLen)})`,
        {
          shoff: eh.shoff,
          shnum: eh.shnum,
          fileSize: Number(fileLen),
        },
      );
    }
    const sh0 = Elf64Shdr.decode(bytes, Number(eh.shoff), oob(ElfCode.ShdrOutOfFile));
    if (eh.shnum === 0) shnum = sh0.size;
    if (eh.shstrndx === SHN.XINDEX) shstrndx = sh0.link;
    if (eh.phnum === PN_XNUM) phnum = BigInt(sh0.info);
  }
  return { needShdrs, shnum, phnum, shstrndx };
}

/** The program header table: bounded by `maxPhdrs`, inside the file, each entry checked. */
function readPhdrs(bytes: Uint8Array, eh: Ehdr, phnum: bigint, lim: ElfLimits, fileLen: bigint): ProgramHeader[] {
  if (phnum > BigInt(lim.maxPhdrs)) {
    throw fail(ElfCode.TooManyPhdrs, `too many program headers (${hex(phnum)}, limit ${hex(lim.maxPhdrs)})`, {
      phnum,
      max: lim.maxPhdrs,
    });
  }
  if (phnum > 0n && eh.phentsize !== Elf64Phdr.size) {
    throw fail(
      ElfCode.BadHeaderSize,
      `wrong program header size (e_phentsize ${hex(eh.phentsize)}, expected ${hex(Elf64Phdr.size)})`,
      {
        field: 'e_phentsize',
        value: eh.phentsize,
        expected: Elf64Phdr.size,
      },
    );
  }
  if (phnum > 0n && !inFile(eh.phoff, phnum * BigInt(Elf64Phdr.size), fileLen)) {
    throw fail(
      ElfCode.PhdrOutOfFile,
      `program headers lie outside the file (e_phoff ${hex(eh.phoff)}, e_phnum ${hex(phnum)}, entry size ${hex(Elf64Phdr.size)}, file size ${hex(fileLen)})`,
      {
        phoff: eh.phoff,
        phnum,
        fileSize: Number(fileLen),
      },
    );
  }
  const phdrs: ProgramHeader[] = [];
  for (let i = 0; i < Number(phnum); i++) {
    const p = Elf64Phdr.decode(bytes, Number(eh.phoff) + i * Elf64Phdr.size, oob(ElfCode.PhdrOutOfFile));
    const ph: ProgramHeader = Object.freeze({
      index: i,
      type: p.type,
      flags: p.flags,
      offset: p.offset as Size,
      vaddr: p.vaddr as KernelVa,
      paddr: p.paddr as PhysAddr,
      filesz: p.filesz as Size,
      memsz: p.memsz as Size,
      align: p.align as Size,
    });
    checkPhdr(ph, fileLen);
    phdrs.push(ph);
  }
  return phdrs;
}

/** The PT_LOAD segments by address, checked for overlap; an executable or library needs one. */
function sortedLoadSegments(phdrs: readonly ProgramHeader[], type: ElfType, phnum: bigint): ProgramHeader[] {
  const loadSegments = phdrs
    .filter((p) => p.type === PT.LOAD)
    .sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : a.index - b.index));
  checkLoadOverlap(loadSegments);
  if (loadSegments.length === 0 && type !== 'core') {
    throw fail(
      ElfCode.NoLoad,
      `no PT_LOAD segment in an ${type === 'exec' ? 'ET_EXEC' : 'ET_DYN'} file (${hex(phnum)} program headers)`,
      {
        type,
        phnum,
      },
    );
  }
  return loadSegments;
}

/** e_entry (none for a library or core with 0); outside a core it must lie in an executable PT_LOAD. */
function checkEntry(eh: Ehdr, type: ElfType, loadSegments: readonly ProgramHeader[]): KernelVa | undefined {
  const entry = eh.entry === 0n && type !== 'exec' ? undefined : (eh.entry as KernelVa);
  if (entry !== undefined && type !== 'core') {
    const inText = loadSegments.some((s) => (s.flags & PF.X) !== 0 && entry >= s.vaddr && entry - s.vaddr < s.memsz);
    if (!inText) {
      throw fail(ElfCode.EntryNotInText, `entry point lies outside every executable PT_LOAD (e_entry ${hex(entry)})`, {
        entry,
        text: loadSegments.filter((s) => (s.flags & PF.X) !== 0).map((s) => ({ vaddr: s.vaddr, memsz: s.memsz })),
      });
    }
  }
  return entry;
}

/** SHT_SYMTAB when there is one, else SHT_DYNSYM, else none; decoded lazily. */
function chooseSymbolTable(
  bytes: Uint8Array,
  sections: readonly ElfSection[],
  lim: ElfLimits,
): { symtab: { count: number; decode: () => ElfSymbol[] }; symbolSource: ElfImage['symbolSource'] } {
  let symSec = sections.find((s) => s.type === SHT.SYMTAB);
  let symbolSource: ElfImage['symbolSource'] = 'symtab';
  if (symSec === undefined) {
    symSec = sections.find((s) => s.type === SHT.DYNSYM);
    symbolSource = symSec === undefined ? 'none' : 'dynsym';
  }
  const symtab =
    symSec === undefined ? { count: 0, decode: (): ElfSymbol[] => [] } : readSymbols(bytes, symSec, sections, lim);
  return { symtab, symbolSource };
}

function checkPhdr(p: ProgramHeader, fileLen: bigint): void {
  if (p.type === PT.NULL) return;
  const facts = { index: p.index, type: p.type, offset: p.offset, vaddr: p.vaddr, filesz: p.filesz, memsz: p.memsz };
  if (p.filesz > 0n && !inFile(p.offset, p.filesz, fileLen)) {
    throw fail(
      ElfCode.SegmentOutOfFile,
      `segment #${p.index} file bytes lie outside the file (p_offset ${hex(p.offset)}, p_filesz ${hex(p.filesz)}, file size ${hex(fileLen)})`,
      {
        ...facts,
        fileSize: fileLen,
      },
    );
  }
  if (p.type === PT.LOAD && p.filesz > p.memsz) {
    throw fail(
      ElfCode.FileszGtMemsz,
      `PT_LOAD #${p.index} has more file bytes than memory (p_filesz ${hex(p.filesz)}, p_memsz ${hex(p.memsz)})`,
      facts,
    );
  }
  if (p.vaddr + p.memsz > U64_LIMIT || p.paddr + p.memsz > U64_LIMIT) {
    throw fail(
      ElfCode.AddrOverflow,
      `segment #${p.index} address range passes 2^64 (p_vaddr ${hex(p.vaddr)}, p_paddr ${hex(p.paddr)}, p_memsz ${hex(p.memsz)})`,
      {
        ...facts,
        paddr: p.paddr,
      },
    );
  }
  if (p.type === PT.LOAD && p.align > 1n) {
    if (!isPow2(p.align) || (p.vaddr - p.offset) % p.align !== 0n) {
      throw fail(
        ElfCode.BadAlignment,
        `PT_LOAD #${p.index} alignment is not a power of two or p_vaddr and p_offset differ modulo it (p_align ${hex(p.align)}, p_vaddr ${hex(p.vaddr)}, p_offset ${hex(p.offset)})`,
        {
          ...facts,
          align: p.align,
        },
      );
    }
  }
}

function checkLoadOverlap(sorted: readonly ProgramHeader[]): void {
  let widest: ProgramHeader | undefined;
  for (const s of sorted) {
    if (s.memsz === 0n) continue;
    if (widest !== undefined && s.vaddr < widest.vaddr + widest.memsz) {
      throw fail(
        ElfCode.LoadOverlap,
        `PT_LOAD #${widest.index} and #${s.index} overlap (${hex(widest.vaddr)}+${hex(widest.memsz)}, ${hex(s.vaddr)}+${hex(s.memsz)})`,
        {
          a: { index: widest.index, vaddr: widest.vaddr, memsz: widest.memsz },
          b: { index: s.index, vaddr: s.vaddr, memsz: s.memsz },
        },
      );
    }
    if (widest === undefined || s.vaddr + s.memsz > widest.vaddr + widest.memsz) widest = s;
  }
}

function readSections(
  bytes: Uint8Array,
  shoff: bigint,
  shnum: bigint,
  shstrndx: number,
  lim: ElfLimits,
  fileLen: bigint,
): ElfSection[] {
  if (shnum > BigInt(lim.maxShdrs)) {
    throw fail(ElfCode.TooManyShdrs, `too many section headers (${hex(shnum)}, limit ${hex(lim.maxShdrs)})`, {
      shnum,
      max: lim.maxShdrs,
    });
  }
  if (!inFile(shoff, shnum * BigInt(Elf64Shdr.size), fileLen)) {
    throw fail(
      ElfCode.ShdrOutOfFile,
      `section headers lie outside the file (e_shoff ${hex(shoff)}, e_shnum ${hex(shnum)}, entry size ${hex(Elf64Shdr.size)}, file size ${hex(fileLen)})`,
      {
        shoff,
        shnum,
        fileSize: fileLen,
      },
    );
  }
  const n = Number(shnum);
  const raw = [];
  for (let i = 0; i < n; i++) {
    const s = Elf64Shdr.decode(bytes, Number(shoff) + i * Elf64Shdr.size, oob(ElfCode.ShdrOutOfFile));
    if (s.type !== SHT.NOBITS && s.type !== SHT.NULL && s.size > 0n && !inFile(s.offset, s.size, fileLen)) {
      throw fail(
        ElfCode.ShdrOutOfFile,
        `section #${i} bytes lie outside the file (sh_offset ${hex(s.offset)}, sh_size ${hex(s.size)}, file size ${hex(fileLen)})`,
        {
          index: i,
          offset: s.offset,
          size: s.size,
          fileSize: fileLen,
        },
      );
    }
    if ((s.flags & SHF.ALLOC) !== 0n && s.addr + s.size > U64_LIMIT) {
      throw fail(
        ElfCode.AddrOverflow,
        `section #${i} address range passes 2^64 (sh_addr ${hex(s.addr)}, sh_size ${hex(s.size)})`,
        {
          index: i,
          addr: s.addr,
          size: s.size,
        },
      );
    }
    raw.push(s);
  }
  let names: Uint8Array | undefined;
  if (shstrndx !== SHN.UNDEF) {
    const st = raw[shstrndx];
    if (st === undefined || st.type !== SHT.STRTAB) {
      throw fail(
        ElfCode.BadStrtab,
        `section-name table is not a string table (e_shstrndx ${hex(shstrndx)}, e_shnum ${hex(n)}${st === undefined ? '' : `, sh_type ${hex(st.type)}`})`,
        {
          shstrndx,
          shnum: n,
          type: st?.type,
        },
      );
    }
    names = bytes.subarray(Number(st.offset), Number(st.offset + st.size));
  }
  return raw.map((s, i) =>
    Object.freeze({
      index: i,
      name: names === undefined || (i === 0 && s.name === 0) ? '' : strAt(names, s.name, `section #${i}`),
      type: s.type,
      flags: s.flags,
      addr: s.addr as KernelVa,
      offset: s.offset as Size,
      size: s.size as Size,
      link: s.link,
      info: s.info,
      addralign: s.addralign as Size,
      entsize: s.entsize as Size,
    }),
  );
}

/** Checks a symbol table and returns its entry count (without the null symbol) and a decoder. */
function readSymbols(
  bytes: Uint8Array,
  sec: ElfSection,
  sections: readonly ElfSection[],
  lim: ElfLimits,
): { count: number; decode: () => ElfSymbol[] } {
  const entsize = BigInt(Elf64Sym.size);
  if (sec.entsize !== entsize || sec.size % entsize !== 0n) {
    throw fail(
      ElfCode.BadSymtab,
      `symbol table #${sec.index} has a bad entry size or length (sh_entsize ${hex(sec.entsize)}, sh_size ${hex(sec.size)}, Elf64_Sym ${hex(entsize)} bytes)`,
      {
        index: sec.index,
        entsize: sec.entsize,
        size: sec.size,
      },
    );
  }
  const count = sec.size / entsize;
  if (count > BigInt(lim.maxSymbols) + 1n) {
    throw fail(ElfCode.TooManySymbols, `too many symbols (${hex(count - 1n)}, limit ${hex(lim.maxSymbols)})`, {
      count,
      max: lim.maxSymbols,
    });
  }
  const strSec = sections[sec.link];
  if (strSec === undefined || strSec.type !== SHT.STRTAB) {
    throw fail(
      ElfCode.BadSymtab,
      `symbol table #${sec.index} does not link to a string table (sh_link ${hex(sec.link)}${strSec === undefined ? '' : `, sh_type ${hex(strSec.type)}`})`,
      {
        index: sec.index,
        link: sec.link,
        linkType: strSec?.type,
      },
    );
  }
  const strtab = bytes.subarray(Number(strSec.offset), Number(strSec.offset + strSec.size));
  // The table lies inside the file (checked in readSections). Validate every name now (a
  // name is readable when a NUL follows its offset inside the table: offset <= last NUL),
  // but decode the entries only when `symbols` is first read: inspect needs only the count,
  // and a FreeBSD kernel has tens of thousands of symbols.
  const base = Number(sec.offset);
  const n = Number(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const o = Elf64Sym.offsets;
  const lastNul = strtab.lastIndexOf(0);
  for (let i = 1; i < n; i++) {
    const nameOff = dv.getUint32(base + i * Elf64Sym.size + o.name, true);
    if (nameOff !== 0 && nameOff > lastNul) strAt(strtab, nameOff, `symbol #${i}`); // throws ELF_BAD_STRTAB
  }
  const decode = (): ElfSymbol[] => {
    const out: ElfSymbol[] = [];
    for (let i = 1; i < n; i++) {
      const at = base + i * Elf64Sym.size;
      const info = dv.getUint8(at + o.info);
      const nameOff = dv.getUint32(at + o.name, true);
      out.push(
        Object.freeze({
          name: nameOff === 0 ? '' : strAt(strtab, nameOff, `symbol #${i}`),
          value: dv.getBigUint64(at + o.value, true) as KernelVa,
          size: dv.getBigUint64(at + o.size, true) as Size,
          type: info & 0xf,
          bind: info >> 4,
          other: dv.getUint8(at + o.other),
          shndx: dv.getUint16(at + o.shndx, true),
        }),
      );
    }
    return out;
  };
  return { count: Math.max(0, n - 1), decode };
}

interface NoteRegion {
  readonly offset: bigint;
  readonly size: bigint;
  readonly align: number;
  readonly what: string;
}

function readNotes(
  bytes: Uint8Array,
  phdrs: readonly ProgramHeader[],
  sections: readonly ElfSection[],
  lim: ElfLimits,
): ElfNote[] {
  const regions: NoteRegion[] = [];
  for (const p of phdrs) {
    if (p.type === PT.NOTE && p.filesz > 0n) {
      regions.push({ offset: p.offset, size: p.filesz, align: p.align === 8n ? 8 : 4, what: `PT_NOTE #${p.index}` });
    }
  }
  const segRegions = [...regions];
  for (const s of sections) {
    if (s.type !== SHT.NOTE || s.size === 0n) continue;
    const covered = segRegions.some((r) => s.offset >= r.offset && s.offset + s.size <= r.offset + r.size);
    if (!covered)
      regions.push({
        offset: s.offset,
        size: s.size,
        align: s.addralign === 8n ? 8 : 4,
        what: `SHT_NOTE section #${s.index}`,
      });
  }
  const notes: ElfNote[] = [];
  const hdr = Elf64Nhdr.size;
  for (const r of regions) {
    const start = Number(r.offset);
    const end = start + Number(r.size);
    let pos = start;
    const roundUp = (v: number): number => Math.ceil(v / r.align) * r.align;
    while (pos < end) {
      if (notes.length >= lim.maxNotes) {
        throw fail(ElfCode.TooManyNotes, `too many notes (limit ${hex(lim.maxNotes)})`, { max: lim.maxNotes });
      }
      if (end - pos < hdr) {
        throw fail(
          ElfCode.BadNote,
          `${r.what} ends inside a note header (offset ${hex(pos)}, ${hex(end - pos)} bytes left)`,
          {
            region: r.what,
            offset: pos,
            left: end - pos,
          },
        );
      }
      const n = Elf64Nhdr.decode(bytes, pos, oob(ElfCode.BadNote));
      const nameAt = pos + hdr;
      const descAt = roundUp(nameAt + n.namesz);
      const descEnd = descAt + n.descsz;
      if (nameAt + n.namesz > end || descEnd > end) {
        throw fail(
          ElfCode.BadNote,
          `${r.what}: a note runs past its end (offset ${hex(pos)}, namesz ${hex(n.namesz)}, descsz ${hex(n.descsz)}, end ${hex(end)})`,
          {
            region: r.what,
            offset: pos,
            namesz: n.namesz,
            descsz: n.descsz,
            end,
          },
        );
      }
      const nameBytes = bytes.subarray(nameAt, nameAt + n.namesz);
      const nul = nameBytes.indexOf(0);
      notes.push(
        Object.freeze({
          name: utf8.decode(nul < 0 ? nameBytes : nameBytes.subarray(0, nul)),
          type: n.type,
          desc: bytes.slice(descAt, descEnd),
        }),
      );
      pos = Math.min(end, roundUp(descEnd));
    }
  }
  return notes;
}

/** The file bytes of a segment, [p_offset, p_offset + p_filesz) (a view, not a copy). */
export function segmentBytes(image: ElfImage, p: ProgramHeader): Uint8Array {
  if (p.filesz === 0n) return image.bytes.subarray(0, 0);
  return image.bytes.subarray(Number(p.offset), Number(p.offset + p.filesz));
}

/** The file bytes of a section (empty for SHT_NOBITS / SHT_NULL; a view, not a copy). */
export function sectionBytes(image: ElfImage, s: ElfSection): Uint8Array {
  if (s.type === SHT.NOBITS || s.type === SHT.NULL || s.size === 0n) return image.bytes.subarray(0, 0);
  return image.bytes.subarray(Number(s.offset), Number(s.offset + s.size));
}
