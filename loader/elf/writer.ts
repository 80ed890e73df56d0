/**
 * ELF64 little-endian writer: tests' fixtures, probe kernels, ELF crash dumps.
 *
 * Contract: `writeElf(spec)` returns the bytes of one ELF64 file with the ELF header at 0,
 * the program headers right after it, every segment's bytes at its file offset, then the
 * bytes of sections that own data, then the section headers. `parseElf(writeElf(spec))`
 * gives back the spec's type, arch, entry, segments (type, flags, vaddr, paddr, filesz =
 * data length, memsz, align, offset), sections, symbols and notes.
 *
 * Placement: a segment with `offset` is put there. The others follow `spec.layout`:
 *  - 'packed' (default): after the headers and every placed byte, at the first offset
 *    congruent to vaddr modulo align (what a linker does);
 *  - `{ linearBase: B }`: every PT_LOAD at `offset = vaddr - B`, so that the file-offset
 *    layout equals the memory layout (FreeBSD kernels, freebsd-handoff.md §8.3/§10.4);
 *    other segments are packed after.
 * Byte ranges may overlap (a PT_NOTE inside a PT_LOAD, a kernel's first PT_LOAD covering
 * the headers at offset 0) when they agree byte for byte; a segment that covers the ELF or
 * program headers must hold zeros there, and the writer fills the headers in.
 * Sections: index 0 is the null section, then `spec.sections` in order (so a symbol's
 * `shndx` can name them as 1, 2, ...), then .symtab and .strtab when `spec.symbols` is
 * given, then .shstrtab. Symbols are written local-first, as the gABI requires.
 * Counts past 0xfeff use extended numbering (PN_XNUM, e_shnum 0, SHN_XINDEX).
 * Throws `ElfError(ELF_BAD_WRITE_SPEC)` for anything it cannot encode, including a value
 * too wide for its field.
 * Format source: FreeBSD `sys/sys/elf64.h`, `sys/sys/elf_common.h`.
 */
import type { KernelVa, PhysAddr, Size } from '../addr.js';
import { hex } from '../addr.js';
import { archInfo, type Arch } from '../arch/index.js';
import { BytesError } from '../errors.js';
import { ElfCode, ElfError } from './errors.js';
import type { ElfType } from './image.js';
import {
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
  SHN,
  SHT,
  STB,
} from './layout.js';

/** One note record to write. */
export interface ElfNoteSpec {
  readonly name: string;
  readonly type: number;
  readonly desc: Uint8Array;
}

/** One program header and the bytes it covers. */
export interface ElfSegmentSpec {
  /** PT_LOAD, PT_NOTE, or any raw p_type. */
  readonly type: 'load' | 'note' | number;
  /** p_flags; default PF_R. */
  readonly flags?: number;
  /** p_vaddr; default 0. */
  readonly vaddr?: KernelVa;
  /** p_paddr; default the vaddr's value. */
  readonly paddr?: PhysAddr;
  /** The file bytes (p_filesz = length). Give either `data` or `notes`. */
  readonly data?: Uint8Array;
  /** Note records, encoded as the segment's bytes (padded to `align` 8, else 4). */
  readonly notes?: readonly ElfNoteSpec[];
  /** p_memsz; default the file size. Must not be below it for PT_LOAD. */
  readonly memsz?: Size;
  /** An explicit file offset. */
  readonly offset?: Size;
  /** p_align; default the arch page size for PT_LOAD, 4 for PT_NOTE, else 1. */
  readonly align?: Size;
}

/** One section. */
export interface ElfSectionSpec {
  readonly name: string;
  /** SHT_PROGBITS, SHT_NOTE, SHT_NOBITS, or any raw sh_type. */
  readonly type: 'progbits' | 'note' | 'nobits' | number;
  readonly flags?: bigint;
  readonly addr?: KernelVa;
  /** Bytes the section owns (placed after the segments). */
  readonly data?: Uint8Array;
  /** Note records, encoded as the section's own bytes. */
  readonly notes?: readonly ElfNoteSpec[];
  /**
   * The section describes bytes of segment #`inSegment` instead of owning any: its file
   * offset is `segment.offset + (addr - segment.vaddr)` and its size is `size`.
   */
  readonly inSegment?: number;
  /** sh_size for SHT_NOBITS and `inSegment` sections (else the data length). */
  readonly size?: Size;
  /** sh_addralign; default 1. */
  readonly addralign?: Size;
  readonly entsize?: Size;
  readonly link?: number;
  readonly info?: number;
}

/** One symbol for .symtab. */
export interface ElfSymbolSpec {
  readonly name: string;
  readonly value: KernelVa;
  readonly size?: Size;
  /** STT_*; default STT_NOTYPE. */
  readonly type?: number;
  /** STB_*; default STB_GLOBAL. */
  readonly bind?: number;
  readonly other?: number;
  /** Section index (1 = first of `spec.sections`) or SHN_ABS/SHN_UNDEF; default SHN_ABS. */
  readonly shndx?: number;
}

/** What to write. */
export interface ElfWriteSpec {
  readonly arch: Arch;
  readonly type: ElfType;
  /** e_entry; default 0 ("no entry"). */
  readonly entry?: KernelVa;
  /** EI_OSABI; default ELFOSABI_NONE. */
  readonly osabi?: number;
  /** e_flags; default 0. */
  readonly flags?: number;
  readonly segments: readonly ElfSegmentSpec[];
  readonly sections?: readonly ElfSectionSpec[];
  readonly symbols?: readonly ElfSymbolSpec[];
  /** How segments without an explicit offset are placed (see the module contract). */
  readonly layout?: 'packed' | { readonly linearBase: KernelVa };
}

const ELF_TYPE_VALUE: { readonly [T in ElfType]: number } = { exec: ET.EXEC, dyn: ET.DYN, core: ET.CORE };
const SECTION_TYPE_VALUE = { progbits: SHT.PROGBITS, note: SHT.NOTE, nobits: SHT.NOBITS } as const;
/** The largest file writeElf builds in one Uint8Array (4 GiB - 1). */
const MAX_IN_MEMORY = 0xffff_ffffn;
/** Counts at or above this need extended numbering (elf_common.h SHN_LORESERVE). */
const XNUM_THRESHOLD = SHN.LORESERVE;

function bad(message: string, details: Record<string, unknown>, cause?: unknown): ElfError {
  return new ElfError(ElfCode.BadWriteSpec, `elf: ${message}`, details, cause === undefined ? undefined : { cause });
}

/** The bytes of a section that owns none (shared: nothing writes into it). */
const NO_BYTES = new Uint8Array(0);

const roundUp = (v: bigint, a: bigint): bigint => (a <= 1n ? v : ((v + a - 1n) / a) * a);
const isPow2 = (v: bigint): boolean => v > 0n && (v & (v - 1n)) === 0n;

/** Encodes note records with the gABI layout (name and desc each padded to `align`). */
export function encodeNotes(notes: readonly ElfNoteSpec[], align: 4 | 8 = 4): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const n of notes) {
    const name = enc.encode(n.name);
    if (name.includes(0)) throw bad(`note name contains a NUL byte (${JSON.stringify(n.name)})`, { name: n.name });
    const namesz = name.length === 0 ? 0 : name.length + 1;
    const descAt = Number(roundUp(BigInt(Elf64Nhdr.size + namesz), BigInt(align)));
    const len = Number(roundUp(BigInt(descAt + n.desc.length), BigInt(align)));
    const rec = new Uint8Array(len);
    encode(() => Elf64Nhdr.encodeInto(rec, 0, { namesz, descsz: n.desc.length, type: n.type }), 'note header');
    rec.set(name, Elf64Nhdr.size);
    rec.set(n.desc, descAt);
    parts.push(rec);
    total += len;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Runs a layout encoder, turning a field-width error into ELF_BAD_WRITE_SPEC. */
function encode(fn: () => void, what: string): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof BytesError) throw bad(`${what} does not fit its ELF field (${e.message})`, { what }, e);
    throw e;
  }
}

interface PlacedSegment {
  readonly type: number;
  readonly flags: number;
  readonly vaddr: bigint;
  readonly paddr: bigint;
  readonly data: Uint8Array;
  readonly memsz: bigint;
  readonly align: bigint;
  offset: bigint;
}

interface PlacedSection {
  readonly name: string;
  readonly type: number;
  readonly flags: bigint;
  readonly addr: bigint;
  readonly data: Uint8Array | undefined;
  offset: bigint;
  readonly size: bigint;
  readonly link: number;
  readonly info: number;
  readonly addralign: bigint;
  readonly entsize: bigint;
}

/** Where everything goes: the result of `layoutElf`, the input of `encodeElf`. */
interface ElfLayout {
  readonly elfMachine: number;
  readonly segs: readonly PlacedSegment[];
  /** End of the ELF and program headers. */
  readonly headersEnd: bigint;
  /** Every section header, index 0 first, with its data's file offset. */
  readonly sections: readonly PlacedSection[];
  /** sh_name of each section in .shstrtab. */
  readonly nameOffsets: readonly number[];
  readonly shnum: number;
  readonly shstrndx: number;
  readonly shoff: bigint;
  /** The file size. */
  readonly total: bigint;
}

/** How many section headers there are and which one is .shstrtab. */
interface SectionCounts {
  readonly needSh0: boolean;
  readonly hasSections: boolean;
  readonly wantSymbols: boolean;
  readonly shnum: number;
  readonly shstrndx: number;
}

/** Writes an ELF64 file; see the module contract. */
export function writeElf(spec: ElfWriteSpec): Uint8Array {
  return encodeElf(spec, layoutElf(spec));
}

/** Places segments, sections and section headers (file offsets and sizes); no bytes yet. */
function layoutElf(spec: ElfWriteSpec): ElfLayout {
  const info = archInfo(spec.arch);
  const segs = spec.segments.map((s, i) => normalizeSegment(s, i, info.pageSize));
  const counts = sectionCounts(spec, segs.length);
  const headersEnd = BigInt(Elf64Ehdr.size + segs.length * Elf64Phdr.size);
  const segmentsEnd = placeSegments(spec, segs, headersEnd);
  const { sections, nameOffsets } = listSections(spec, segs, counts);
  let end = segmentsEnd;
  for (const s of sections) {
    if (s.data === undefined) continue;
    end = roundUp(end, s.addralign > 0n ? s.addralign : 1n);
    s.offset = end;
    end += BigInt(s.data.length);
  }
  const shoff = counts.shnum > 0 ? roundUp(end, 8n) : 0n;
  const total = counts.shnum > 0 ? shoff + BigInt(counts.shnum * Elf64Shdr.size) : end;
  if (total > MAX_IN_MEMORY) {
    throw bad(`file too large to build in memory (${hex(total)} bytes, limit ${hex(MAX_IN_MEMORY)})`, { size: total });
  }
  const { shnum, shstrndx } = counts;
  return { elfMachine: info.elfMachine, segs, headersEnd, sections, nameOffsets, shnum, shstrndx, shoff, total };
}

/** Section 0 exists for sections or extended numbering; then the user's, .symtab/.strtab, .shstrtab. */
function sectionCounts(spec: ElfWriteSpec, phnum: number): SectionCounts {
  const userCount = spec.sections?.length ?? 0;
  const wantSymbols = spec.symbols !== undefined;
  const hasSections = userCount > 0 || wantSymbols;
  const needSh0 = hasSections || phnum >= PN_XNUM;
  const shnum = !needSh0 ? 0 : 1 + userCount + (wantSymbols ? 2 : 0) + (hasSections ? 1 : 0);
  const shstrndx = hasSections ? shnum - 1 : 0;
  return { needSh0, hasSections, wantSymbols, shnum, shstrndx };
}

/**
 * Gives every segment its file offset: explicit ones first, then the linear layout's PT_LOADs,
 * then the rest packed after all of them. Returns the end of the segment bytes.
 */
function placeSegments(spec: ElfWriteSpec, segs: readonly PlacedSegment[], headersEnd: bigint): bigint {
  const layout = spec.layout ?? 'packed';
  let cursor = headersEnd;
  const fixed: PlacedSegment[] = [];
  const floating: PlacedSegment[] = [];
  segs.forEach((s, i) => {
    const explicit = spec.segments[i]?.offset;
    if (explicit !== undefined) {
      s.offset = explicit;
      fixed.push(s);
    } else if (layout !== 'packed' && s.type === PT.LOAD) {
      if (s.vaddr < layout.linearBase) {
        throw bad(
          `segment #${i} lies below the linear layout's base (p_vaddr ${hex(s.vaddr)}, base ${hex(layout.linearBase)})`,
          {
            index: i,
            vaddr: s.vaddr,
            base: layout.linearBase,
          },
        );
      }
      s.offset = s.vaddr - layout.linearBase;
      fixed.push(s);
    } else {
      floating.push(s);
    }
  });
  for (const s of fixed) {
    const end = s.offset + BigInt(s.data.length);
    if (end > cursor) cursor = end;
  }
  for (const s of floating) {
    cursor = congruentOffset(cursor, s);
    s.offset = cursor;
    cursor += BigInt(s.data.length);
  }
  segs.forEach((s, i) => checkSegmentCongruence(s, i));
  return cursor;
}

/** A PT_LOAD's file offset and address must agree modulo its alignment (what loaders map). */
function checkSegmentCongruence(s: PlacedSegment, i: number): void {
  if (s.type === PT.LOAD && s.align > 1n && (s.vaddr - s.offset) % s.align !== 0n) {
    throw bad(
      `segment #${i} file offset and address differ modulo its alignment (p_offset ${hex(s.offset)}, p_vaddr ${hex(s.vaddr)}, p_align ${hex(s.align)})`,
      {
        index: i,
        offset: s.offset,
        vaddr: s.vaddr,
        align: s.align,
      },
    );
  }
}

/** Every section in index order, the string tables filled in, and each name's .shstrtab offset. */
function listSections(
  spec: ElfWriteSpec,
  segs: readonly PlacedSegment[],
  counts: SectionCounts,
): { sections: PlacedSection[]; nameOffsets: number[] } {
  const { needSh0, hasSections, wantSymbols, shnum, shstrndx } = counts;
  const sections: PlacedSection[] = [];
  if (needSh0) sections.push(nullSection(segs.length, shnum, shstrndx));
  (spec.sections ?? []).forEach((s, i) => sections.push(normalizeSection(s, i, segs)));
  const shstr = new StringTable();
  let symtabIndex = -1;
  let strtab: StringTable | undefined;
  if (wantSymbols) {
    symtabIndex = sections.length;
    const symtab = symbolTableSection(spec.symbols ?? [], symtabIndex);
    strtab = symtab.strtab;
    sections.push(symtab.section);
    sections.push(ownedSection('.strtab', SHT.STRTAB, new Uint8Array(0)));
  }
  if (hasSections) sections.push(ownedSection('.shstrtab', SHT.STRTAB, new Uint8Array(0)));
  // Names are known now; fill the string tables.
  const nameOffsets = sections.map((s, i) => (i === 0 && needSh0 ? 0 : shstr.add(s.name)));
  const filled = sections.map((s, i) => {
    if (wantSymbols && strtab !== undefined && i === symtabIndex + 1) return withData(s, strtab.bytes());
    if (hasSections && i === shstrndx) return withData(s, shstr.bytes());
    return s;
  });
  return { sections: filled, nameOffsets };
}

/** .symtab (local symbols first, as the gABI requires) and the .strtab it links to. */
function symbolTableSection(
  symbols: readonly ElfSymbolSpec[],
  symtabIndex: number,
): { section: PlacedSection; strtab: StringTable } {
  const strtab = new StringTable();
  const locals = symbols.filter((s) => (s.bind ?? STB.GLOBAL) === STB.LOCAL);
  const globals = symbols.filter((s) => (s.bind ?? STB.GLOBAL) !== STB.LOCAL);
  const ordered = [...locals, ...globals];
  const table = new Uint8Array((ordered.length + 1) * Elf64Sym.size);
  ordered.forEach((s, i) => {
    const bind = s.bind ?? STB.GLOBAL;
    const type = s.type ?? 0;
    if (bind < 0 || bind > 0xf || type < 0 || type > 0xf || !Number.isInteger(bind) || !Number.isInteger(type)) {
      throw bad(
        `symbol ${JSON.stringify(s.name)} binding or type does not fit st_info's nibbles (bind ${hex(bind)}, type ${hex(type)})`,
        {
          name: s.name,
          bind,
          type,
        },
      );
    }
    const name = strtab.add(s.name);
    encode(
      () =>
        Elf64Sym.encodeInto(table, (i + 1) * Elf64Sym.size, {
          name,
          info: (bind << 4) | type,
          other: s.other ?? 0,
          shndx: s.shndx ?? SHN.ABS,
          value: s.value,
          size: s.size ?? 0n,
        }),
      `symbol ${JSON.stringify(s.name)}`,
    );
  });
  const section: PlacedSection = {
    name: '.symtab',
    type: SHT.SYMTAB,
    flags: 0n,
    addr: 0n,
    data: table,
    offset: 0n,
    size: BigInt(table.length),
    link: symtabIndex + 1,
    info: locals.length + 1,
    addralign: 8n,
    entsize: BigInt(Elf64Sym.size),
  };
  return { section, strtab };
}

/** The file's bytes from its layout: segment and section data, then the three header kinds. */
function encodeElf(spec: ElfWriteSpec, l: ElfLayout): Uint8Array {
  const out = new Uint8Array(Number(l.total));
  writeSegmentData(out, l.segs, l.headersEnd);
  for (const s of l.sections) if (s.data !== undefined) out.set(s.data, Number(s.offset));
  encodeEhdr(out, spec, l);
  l.segs.forEach((s, i) =>
    encode(
      () =>
        Elf64Phdr.encodeInto(out, Elf64Ehdr.size + i * Elf64Phdr.size, {
          type: s.type,
          flags: s.flags,
          offset: s.offset,
          vaddr: s.vaddr,
          paddr: s.paddr,
          filesz: BigInt(s.data.length),
          memsz: s.memsz,
          align: s.align,
        }),
      `program header #${i}`,
    ),
  );
  l.sections.forEach((s, i) =>
    encode(
      () =>
        Elf64Shdr.encodeInto(out, Number(l.shoff) + i * Elf64Shdr.size, {
          name: l.nameOffsets[i] ?? 0,
          type: s.type,
          flags: s.flags,
          addr: s.addr,
          offset: s.offset,
          size: s.size,
          link: s.link,
          info: s.info,
          addralign: s.addralign,
          entsize: s.entsize,
        }),
      `section header #${i} (${s.name})`,
    ),
  );
  return out;
}

/** Elf64_Ehdr, with the extended-numbering escapes when a count does not fit. */
function encodeEhdr(out: Uint8Array, spec: ElfWriteSpec, l: ElfLayout): void {
  const phnum = l.segs.length;
  encode(
    () =>
      Elf64Ehdr.encodeInto(out, 0, {
        magic: Uint8Array.from(ELF_MAGIC),
        class: ElfIdent.CLASS64,
        data: ElfIdent.DATA2LSB,
        identVersion: ElfIdent.VERSION_CURRENT,
        osabi: spec.osabi ?? ElfOsAbi.NONE,
        abiVersion: 0,
        type: ELF_TYPE_VALUE[spec.type],
        machine: l.elfMachine,
        version: ElfIdent.VERSION_CURRENT,
        entry: spec.entry ?? 0n,
        phoff: phnum > 0 ? BigInt(Elf64Ehdr.size) : 0n,
        shoff: l.shoff,
        flags: spec.flags ?? 0,
        ehsize: Elf64Ehdr.size,
        phentsize: phnum > 0 ? Elf64Phdr.size : 0,
        phnum: phnum >= PN_XNUM ? PN_XNUM : phnum,
        shentsize: l.shnum > 0 ? Elf64Shdr.size : 0,
        shnum: l.shnum >= XNUM_THRESHOLD ? 0 : l.shnum,
        shstrndx: l.shstrndx >= XNUM_THRESHOLD ? SHN.XINDEX : l.shstrndx,
      }),
    'ELF header',
  );
}

function normalizeSegment(s: ElfSegmentSpec, i: number, pageSize: Size): PlacedSegment {
  const type = s.type === 'load' ? PT.LOAD : s.type === 'note' ? PT.NOTE : s.type;
  if (s.data !== undefined && s.notes !== undefined) {
    throw bad(`segment #${i} has both data and notes (index ${hex(i)})`, { index: i });
  }
  const defaultAlign = type === PT.LOAD ? pageSize : type === PT.NOTE ? 4n : 1n;
  const align: bigint = s.align ?? defaultAlign;
  const data = s.notes !== undefined ? encodeNotes(s.notes, align === 8n ? 8 : 4) : (s.data ?? new Uint8Array(0));
  const filesz = BigInt(data.length);
  const memsz: bigint = s.memsz ?? filesz;
  if (type === PT.LOAD && memsz < filesz) {
    throw bad(`segment #${i} memory size is below its file size (p_memsz ${hex(memsz)}, p_filesz ${hex(filesz)})`, {
      index: i,
      memsz,
      filesz,
    });
  }
  if (align > 1n && !isPow2(align)) {
    throw bad(`segment #${i} alignment is not a power of two (p_align ${hex(align)})`, { index: i, align });
  }
  const vaddr: bigint = s.vaddr ?? 0n;
  return {
    type,
    flags: s.flags ?? PF.R,
    vaddr,
    paddr: s.paddr ?? vaddr,
    data,
    memsz,
    align,
    offset: 0n,
  };
}

/** The first offset at or after `at` that is congruent to the segment's vaddr modulo its align. */
function congruentOffset(at: bigint, s: PlacedSegment): bigint {
  if (s.align <= 1n) return at;
  if (s.type !== PT.LOAD) return roundUp(at, s.align);
  const want = s.vaddr % s.align;
  const base = at - (at % s.align) + want;
  return base >= at ? base : base + s.align;
}

/** Copies segment bytes into place; overlapping bytes must agree, header bytes must be zero. */
function writeSegmentData(out: Uint8Array, segs: readonly PlacedSegment[], headersEnd: bigint): void {
  const order = segs.map((s, i) => ({ s, i })).filter((x) => x.s.data.length > 0);
  order.sort((a, b) => (a.s.offset < b.s.offset ? -1 : a.s.offset > b.s.offset ? 1 : 0));
  let writtenEnd = 0n;
  const written: { start: bigint; end: bigint; i: number }[] = [];
  for (const { s, i } of order) {
    const start = s.offset;
    const end = start + BigInt(s.data.length);
    if (start < headersEnd) {
      const covered = s.data.subarray(0, Number((end < headersEnd ? end : headersEnd) - start));
      if (covered.some((b) => b !== 0)) {
        throw bad(
          `segment #${i} covers the ELF and program headers with non-zero bytes (p_offset ${hex(start)}, headers end ${hex(headersEnd)})`,
          {
            index: i,
            offset: start,
            headersEnd,
          },
        );
      }
    }
    if (start < writtenEnd) {
      for (const w of written) {
        const lo = start > w.start ? start : w.start;
        const hi = end < w.end ? end : w.end;
        if (lo >= hi) continue;
        const mine = s.data.subarray(Number(lo - start), Number(hi - start));
        const theirs = out.subarray(Number(lo), Number(hi));
        if (!mine.every((b, k) => b === theirs[k])) {
          throw bad(`segments #${w.i} and #${i} share file bytes that differ (file range [${hex(lo)}, ${hex(hi)}))`, {
            a: w.i,
            b: i,
            start: lo,
            end: hi,
          });
        }
      }
    }
    // header bytes stay as written below; everything else comes from the segment
    if (start < headersEnd) {
      const skip = Number((end < headersEnd ? end : headersEnd) - start);
      out.set(s.data.subarray(skip), Number(start) + skip);
    } else {
      out.set(s.data, Number(start));
    }
    written.push({ start, end, i });
    if (end > writtenEnd) writtenEnd = end;
  }
}

function normalizeSection(s: ElfSectionSpec, i: number, segs: readonly PlacedSegment[]): PlacedSection {
  const type = typeof s.type === 'number' ? s.type : SECTION_TYPE_VALUE[s.type];
  const where = `section #${i + 1} ${JSON.stringify(s.name)}`;
  if (s.data !== undefined && s.notes !== undefined)
    throw bad(`${where} has both data and notes (sh_type ${hex(type)})`, { name: s.name });
  const addralign: bigint = s.addralign ?? 1n;
  const data = s.notes !== undefined ? encodeNotes(s.notes, addralign === 8n ? 8 : 4) : s.data;
  const common = {
    name: s.name,
    type,
    flags: s.flags ?? 0n,
    addr: s.addr ?? 0n,
    link: s.link ?? 0,
    info: s.info ?? 0,
    addralign,
    entsize: s.entsize ?? 0n,
  };
  if (s.inSegment !== undefined) {
    const seg = segs[s.inSegment];
    if (seg === undefined)
      throw bad(
        `${where} names a segment that does not exist (segment ${hex(s.inSegment)}, ${hex(segs.length)} segments)`,
        { name: s.name, segment: s.inSegment },
      );
    if (data !== undefined)
      throw bad(
        `${where} lies in a segment and cannot also own data (segment ${hex(s.inSegment)}, ${hex(data.length)} bytes)`,
        { name: s.name },
      );
    const size: bigint = s.size ?? 0n;
    const addr = common.addr;
    const limit = type === SHT.NOBITS ? seg.memsz : BigInt(seg.data.length);
    if (addr < seg.vaddr || addr - seg.vaddr + size > limit) {
      throw bad(
        `${where} does not lie inside its segment (sh_addr ${hex(addr)}, sh_size ${hex(size)}, segment #${s.inSegment} [${hex(seg.vaddr)}, ${hex(seg.vaddr + limit)}))`,
        {
          name: s.name,
          addr,
          size,
          segment: s.inSegment,
        },
      );
    }
    return { ...common, data: undefined, offset: seg.offset + (addr - seg.vaddr), size };
  }
  if (type === SHT.NOBITS) {
    if (data !== undefined)
      throw bad(`${where} is SHT_NOBITS and cannot own data (${hex(data.length)} bytes)`, { name: s.name });
    return { ...common, data: undefined, offset: 0n, size: s.size ?? 0n };
  }
  const bytes = data ?? NO_BYTES;
  return { ...common, data: bytes, offset: 0n, size: BigInt(bytes.length) };
}

function nullSection(phnum: number, shnum: number, shstrndx: number): PlacedSection {
  return {
    name: '',
    type: SHT.NULL,
    flags: 0n,
    addr: 0n,
    data: undefined,
    offset: 0n,
    size: shnum >= XNUM_THRESHOLD ? BigInt(shnum) : 0n,
    link: shstrndx >= XNUM_THRESHOLD ? shstrndx : 0,
    info: phnum >= PN_XNUM ? phnum : 0,
    addralign: 0n,
    entsize: 0n,
  };
}

function ownedSection(name: string, type: number, data: Uint8Array): PlacedSection {
  return {
    name,
    type,
    flags: 0n,
    addr: 0n,
    data,
    offset: 0n,
    size: BigInt(data.length),
    link: 0,
    info: 0,
    addralign: 1n,
    entsize: 0n,
  };
}

function withData(s: PlacedSection, data: Uint8Array): PlacedSection {
  return { ...s, data, size: BigInt(data.length) };
}

/** A string table under construction (offset 0 is the empty string). */
class StringTable {
  private readonly enc = new TextEncoder();
  private readonly parts: Uint8Array[] = [new Uint8Array(1)];
  private readonly seen = new Map<string, number>([['', 0]]);
  private len = 1;

  add(s: string): number {
    const hit = this.seen.get(s);
    if (hit !== undefined) return hit;
    const b = this.enc.encode(s);
    if (b.includes(0)) throw bad(`name contains a NUL byte (${JSON.stringify(s)})`, { name: s });
    const off = this.len;
    this.parts.push(b, new Uint8Array(1));
    this.len += b.length + 1;
    this.seen.set(s, off);
    return off;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
