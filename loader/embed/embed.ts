/**
 * Embed strategy: a host kernel ELF that carries the rescue kernel ELF, as D47358's
 * `makeoptions RESCUE_EMBED=/path/to/rescue/kernel` arranges, and the way back.
 *
 * What RESCUE_EMBED builds (markjdb/freebsd @bd74b35 sys/conf/kern.post.mk: rescue.o is
 * sys/dev/md/embedfs.S assembled with -DSYM=rescue_start -DSYM_END=rescue_end; embedfs.S
 * read at markjdb/freebsd @64f0f349): a section named `mfs`, flags "a" (SHF_ALLOC),
 * %progbits, holding the raw rescue ELF file, with two global STT_OBJECT symbols —
 * `rescue_start` at its first byte (st_size = the file's length) and `rescue_end` just past
 * its last (st_size 0). rescue_kernel_init takes `&rescue_end - &rescue_start` as the
 * kernel's length (freebsd-handoff.md §8.2).
 *
 * Contract of embedRescue(host, rescue) — pure, bytes in, bytes out, after the link:
 *  - the rescue ELF must pass lintRescueKernel (EMBED_NOT_RESCUE_KERNEL with every problem)
 *    and match the host's arch (EMBED_ARCH_MISMATCH); a host that already defines
 *    rescue_start or rescue_end is refused (EMBED_ALREADY_EMBEDDED);
 *  - the bytes go into the host's memory image: the PT_LOAD with the highest address grows.
 *    Its BSS becomes file-backed zeros (the bytes are the same in memory), the rescue ELF
 *    follows at the next page boundary (embedfs.S asks for no alignment; page alignment
 *    lets the host free the pages after staging, debug.rescue_free_kernel), and p_filesz =
 *    p_memsz cover both. Every other program header, and every byte before the old end of
 *    that segment, is unchanged. Non-allocated sections after it (.symtab, .strtab,
 *    .shstrtab, .comment, debug info) move behind the new bytes; a new `mfs` section is
 *    appended to the section table (no existing index changes) and the two symbols are
 *    appended to .symtab (globals go last, so sh_info stays right);
 *  - EMBED_NO_ROOM when that segment cannot grow: loaded bytes (another segment, an
 *    allocated section, the program headers) lie after it in the file, or the new end
 *    passes the arch's highest kernel address (or `opts.maxEnd`);
 *  - EMBED_BAD_HOST when there is no .symtab to carry the symbols, or the file uses
 *    extended section numbering or SHT_SYMTAB_SHNDX.
 * Limit: the symbols are added to .symtab after the link, so code that refers to
 * rescue_start is not relocated to them; a real kernel needs RESCUE_EMBED at build time.
 * kboot's host model finds the embedded kernel through the symbol table
 * (extractEmbeddedRescue), as here.
 *
 * extractEmbeddedRescue(host) reads the bytes between the two symbols back through the
 * PT_LOAD that holds them (EMBED_NOT_FOUND, EMBED_BAD_SYMBOLS). parseElf errors of either
 * input escape as ElfError.
 */
import assert from 'node:assert/strict';
import { hex, kva, offsetFrom, type KernelVa, type Size } from '../addr.js';
import { archInfo } from '../arch/index.js';
import type { ElfImage, ElfSection, ProgramHeader } from '../elf/image.js';
import { Elf64Ehdr, Elf64Phdr, Elf64Shdr, Elf64Sym, PN_XNUM, SHF, SHN, SHT, STB, STT } from '../elf/layout.js';
import type { LayoutValues } from '../bytes/layout.js';
import { parseElf } from '../elf/reader.js';
import { lintRescueKernel } from '../elf/rescue-lint.js';
import { EmbedCode, EmbedError } from './errors.js';

/** Name of the section RESCUE_EMBED's embedfs.S puts the rescue kernel in. */
export const RESCUE_SECTION = 'mfs';
/** Symbol at the first byte of the embedded rescue ELF. */
export const RESCUE_START_SYMBOL = 'rescue_start';
/** Symbol just past the last byte of the embedded rescue ELF. */
export const RESCUE_END_SYMBOL = 'rescue_end';
/** The largest file embedRescue builds in one Uint8Array (4 GiB - 1, as writeElf). */
const MAX_IN_MEMORY = 0xffff_ffffn;
/** sh_type of an extended-section-index table (sys/sys/elf_common.h SHT_SYMTAB_SHNDX). */
const SHT_SYMTAB_SHNDX = 18;

/** Options of embedRescue. */
export interface EmbedOptions {
  /** The embedded bytes must end at or below this kernel address (default: the arch's highest kernel address). */
  readonly maxEnd?: KernelVa;
}

/** The embedded rescue kernel as found through its symbols. */
export interface EmbeddedRescue {
  /** A copy of the rescue ELF file. */
  readonly bytes: Uint8Array;
  /** Value of rescue_start. */
  readonly start: KernelVa;
  /** Value of rescue_end. */
  readonly end: KernelVa;
  /** The PT_LOAD (index in the program-header table) that holds the bytes. */
  readonly segment: number;
}

function fail(
  code: (typeof EmbedCode)[keyof typeof EmbedCode],
  what: string,
  details: Record<string, unknown>,
): EmbedError {
  return new EmbedError(code, `elf: ${what}`, details);
}

const utf8 = new TextEncoder();
type ElfHeaderValues = LayoutValues<(typeof Elf64Ehdr)['fields']>;
const roundUp = (v: bigint, a: bigint): bigint => (a <= 1n ? v : ((v + a - 1n) / a) * a);

function sectionData(host: Uint8Array, s: ElfSection): Uint8Array {
  return host.subarray(Number(s.offset), Number(s.offset + s.size));
}

/** Appends NUL-terminated names to a string table; returns the new table and each name's offset. */
function extendStrtab(table: Uint8Array, names: readonly string[]): { bytes: Uint8Array; offsets: number[] } {
  const parts = names.map((n) => utf8.encode(`${n}\0`));
  const out = new Uint8Array(table.length + parts.reduce((a, p) => a + p.length, 0));
  out.set(table);
  const offsets: number[] = [];
  let o = table.length;
  for (const p of parts) {
    offsets.push(o);
    out.set(p, o);
    o += p.length;
  }
  return { bytes: out, offsets };
}

/** The section tables embedRescue extends. */
interface HostTables {
  readonly symtab: ElfSection;
  readonly strtab: ElfSection;
  readonly shstrtab: ElfSection;
  /** The index the new `mfs` section gets. */
  readonly newIndex: number;
}

/** Where the rescue ELF goes: after the last PT_LOAD's memory image, at the next page. */
interface RescuePlacement {
  /** The PT_LOAD that grows. */
  readonly last: ProgramHeader;
  /** Its file end before it grows. */
  readonly fileEnd: bigint;
  /** Non-allocated sections after it, which move behind the new bytes. */
  readonly moved: readonly ElfSection[];
  readonly dataVa: bigint;
  readonly dataOff: bigint;
  readonly dataLen: bigint;
  readonly dataEnd: bigint;
  /** The segment's new p_filesz = p_memsz. */
  readonly newSize: bigint;
}

/** A section's bytes at its new file offset. */
interface TailSection {
  readonly index: number;
  readonly offset: bigint;
  readonly data: Uint8Array;
}

/** What embedRescue writes, decided before a byte is written (planEmbed). */
export interface EmbedPlan {
  readonly placement: RescuePlacement;
  readonly tables: HostTables;
  /** sh_name of the new `mfs` section. */
  readonly mfsName: number;
  /** Sections written after the rescue ELF (moved, and the extended tables), in section order. */
  readonly tail: readonly TailSection[];
  readonly shoff: bigint;
  readonly shnum: number;
  /** The new file's size. */
  readonly total: bigint;
}

/** The rescue ELF must be a rescue kernel of the host's arch, and the host must not carry one yet. */
function checkPair(img: ElfImage, resc: ElfImage): void {
  if (resc.arch !== img.arch) {
    throw fail(
      EmbedCode.ArchMismatch,
      `rescue kernel is ${resc.arch} but the host kernel is ${img.arch} (e_machine ${hex(resc.machine)} vs ${hex(img.machine)})`,
      { host: img.arch, rescue: resc.arch },
    );
  }
  const lint = lintRescueKernel(resc);
  if (!lint.ok) {
    throw fail(
      EmbedCode.NotRescueKernel,
      `the file to embed cannot be a rescue kernel (${lint.problems.length} problem${lint.problems.length === 1 ? '' : 's'}):\n${lint.problems.map((p) => `  [${p.rule}] ${p.message}`).join('\n')}`,
      { problems: lint.problems },
    );
  }
  const existing = img.symbols.filter((s) => s.name === RESCUE_START_SYMBOL || s.name === RESCUE_END_SYMBOL);
  const first = existing[0];
  if (first !== undefined) {
    throw fail(
      EmbedCode.AlreadyEmbedded,
      `the host already embeds a rescue kernel (${first.name} = ${hex(first.value)})`,
      {
        symbols: existing.map((s) => ({ name: s.name, value: s.value })),
      },
    );
  }
}

/** The host's .symtab, its string table and .shstrtab (EMBED_BAD_HOST when they cannot be extended). */
function hostTables(img: ElfImage, eh: ElfHeaderValues): HostTables {
  if (eh.phnum === PN_XNUM || eh.shnum === 0 || eh.shstrndx === SHN.XINDEX) {
    throw fail(
      EmbedCode.BadHost,
      `the host uses extended ELF numbering (e_phnum ${hex(eh.phnum)}, e_shnum ${hex(eh.shnum)}, e_shstrndx ${hex(eh.shstrndx)})`,
      { phnum: eh.phnum, shnum: eh.shnum, shstrndx: eh.shstrndx },
    );
  }
  const sections = img.sections;
  const symtab = sections.find((s) => s.type === SHT.SYMTAB);
  const strtab = symtab === undefined ? undefined : sections[symtab.link];
  const shstrtab = sections[eh.shstrndx];
  if (symtab === undefined || strtab?.type !== SHT.STRTAB || shstrtab?.type !== SHT.STRTAB) {
    throw fail(
      EmbedCode.BadHost,
      `the host has no symbol table to carry ${RESCUE_START_SYMBOL}/${RESCUE_END_SYMBOL} (.symtab ${symtab === undefined ? 'missing' : `#${symtab.index}`}, ${hex(sections.length)} sections)`,
      { sections: sections.length },
    );
  }
  if (sections.some((s) => s.type === SHT_SYMTAB_SHNDX)) {
    throw fail(EmbedCode.BadHost, 'the host has an SHT_SYMTAB_SHNDX table, which kboot does not extend', {});
  }
  if (sections.length >= SHN.LORESERVE) {
    throw fail(EmbedCode.BadHost, `no room for another section index (${hex(sections.length)} sections)`, {
      sections: sections.length,
    });
  }
  return { symtab, strtab, shstrtab, newIndex: sections.length };
}

/** EMBED_NO_ROOM for the last PT_LOAD. */
function noRoom(last: ProgramHeader, fileEnd: bigint, what: string, details: Record<string, unknown>): EmbedError {
  return fail(EmbedCode.NoRoom, `the host's last PT_LOAD #${last.index} cannot grow: ${what}`, {
    segment: last.index,
    fileEnd,
    ...details,
  });
}

/** Nothing loaded may lie after the last PT_LOAD in the file; the sections that do not load move. */
function sectionsAfter(img: ElfImage, eh: ElfHeaderValues, last: ProgramHeader, fileEnd: bigint): ElfSection[] {
  for (const p of img.phdrs) {
    if (p.index === last.index || p.filesz === 0n || p.offset + p.filesz <= fileEnd) continue;
    throw noRoom(
      last,
      fileEnd,
      `program header #${p.index} has file bytes after it ([${hex(p.offset)}, ${hex(p.offset + p.filesz)}) past ${hex(fileEnd)})`,
      { other: p.index },
    );
  }
  const phEnd = eh.phoff + BigInt(eh.phnum * Elf64Phdr.size);
  if (eh.phnum > 0 && phEnd > fileEnd) {
    throw noRoom(
      last,
      fileEnd,
      `the program headers lie after it (end ${hex(phEnd)}, segment file end ${hex(fileEnd)})`,
      {
        phEnd,
      },
    );
  }
  const moved: ElfSection[] = [];
  for (const s of img.sections) {
    if (s.index === 0 || s.type === SHT.NOBITS) continue;
    const end = s.offset + s.size;
    if ((s.flags & SHF.ALLOC) !== 0n) {
      if (s.size > 0n && end > fileEnd) {
        throw noRoom(
          last,
          fileEnd,
          `allocated section ${JSON.stringify(s.name)} has file bytes after it ([${hex(s.offset)}, ${hex(end)}))`,
          { section: s.name },
        );
      }
    } else if (s.offset >= fileEnd) moved.push(s);
    else if (end > fileEnd) {
      throw noRoom(
        last,
        fileEnd,
        `section ${JSON.stringify(s.name)} straddles its end ([${hex(s.offset)}, ${hex(end)}))`,
        {
          section: s.name,
        },
      );
    }
  }
  return moved;
}

/** The segment that grows and where the rescue ELF goes in it (see the module contract). */
function placeRescue(img: ElfImage, eh: ElfHeaderValues, rescueLength: number, opts: EmbedOptions): RescuePlacement {
  const loads = img.loadSegments;
  const last = loads[loads.length - 1];
  assert(last !== undefined, 'parseElf guarantees a PT_LOAD in an ET_EXEC/ET_DYN file');
  const fileEnd = last.offset + last.filesz;
  const moved = sectionsAfter(img, eh, last, fileEnd);
  const info = archInfo(img.arch);
  // plain bigints: an end near 2^64 must become EMBED_NO_ROOM below, not an ADDR_OVERFLOW here
  const dataVa = roundUp(last.vaddr + last.memsz, info.pageSize);
  const dataLen = BigInt(rescueLength);
  const dataEnd = dataVa + dataLen;
  const limit: bigint = opts.maxEnd ?? info.vmMaxKernelAddress;
  if (dataEnd > limit) {
    throw noRoom(last, fileEnd, `the rescue kernel would end at ${hex(dataEnd)}, past ${hex(limit)}`, {
      dataVa,
      dataEnd,
      limit,
    });
  }
  const dataOff = last.offset + (dataVa - last.vaddr);
  return { last, fileEnd, moved, dataVa, dataOff, dataLen, dataEnd, newSize: dataEnd - last.vaddr };
}

/** The extended string tables and .symtab (rescue_start, rescue_end appended), by section index. */
function extendedTables(
  host: Uint8Array,
  t: HostTables,
  at: RescuePlacement,
): { tables: Map<number, Uint8Array>; mfsName: number } {
  const tables = new Map<number, Uint8Array>();
  const strAdds = extendStrtab(sectionData(host, t.strtab), [RESCUE_START_SYMBOL, RESCUE_END_SYMBOL]);
  let mfsName: number;
  if (t.strtab.index === t.shstrtab.index) {
    const both = extendStrtab(strAdds.bytes, [RESCUE_SECTION]);
    tables.set(t.strtab.index, both.bytes);
    mfsName = both.offsets[0] ?? 0;
  } else {
    tables.set(t.strtab.index, strAdds.bytes);
    const sh = extendStrtab(sectionData(host, t.shstrtab), [RESCUE_SECTION]);
    tables.set(t.shstrtab.index, sh.bytes);
    mfsName = sh.offsets[0] ?? 0;
  }
  const oldSyms = sectionData(host, t.symtab);
  const syms = new Uint8Array(oldSyms.length + 2 * Elf64Sym.size);
  syms.set(oldSyms);
  const info = (STB.GLOBAL << 4) | STT.OBJECT;
  const sym = { info, other: 0, shndx: t.newIndex };
  Elf64Sym.encodeInto(syms, oldSyms.length, {
    ...sym,
    name: strAdds.offsets[0] ?? 0,
    value: at.dataVa,
    size: at.dataLen,
  });
  Elf64Sym.encodeInto(syms, oldSyms.length + Elf64Sym.size, {
    ...sym,
    name: strAdds.offsets[1] ?? 0,
    value: at.dataEnd,
    size: 0n,
  });
  tables.set(t.symtab.index, syms);
  return { tables, mfsName };
}

/** Lays out what embedRescue writes (see the module contract); pure, throws the EmbedErrors. */
export function planEmbed(host: Uint8Array, rescue: Uint8Array, opts: EmbedOptions = {}): EmbedPlan {
  const img = parseElf(host);
  checkPair(img, parseElf(rescue));
  const eh = Elf64Ehdr.decode(host, 0);
  const tables = hostTables(img, eh);
  const placement = placeRescue(img, eh, rescue.length, opts);
  const ext = extendedTables(host, tables, placement);
  let cursor = placement.dataOff + placement.dataLen;
  const tail: TailSection[] = [];
  const tailIndexes = new Set<number>([...placement.moved.map((s) => s.index), ...ext.tables.keys()]);
  for (const s of img.sections) {
    if (!tailIndexes.has(s.index)) continue;
    const data = ext.tables.get(s.index) ?? sectionData(host, s);
    cursor = roundUp(cursor, s.addralign > 1n ? s.addralign : 1n);
    tail.push({ index: s.index, offset: cursor, data });
    cursor += BigInt(data.length);
  }
  const shoff = roundUp(cursor, 8n);
  const shnum = img.sections.length + 1;
  const total = shoff + BigInt(shnum * Elf64Shdr.size);
  if (total > MAX_IN_MEMORY) {
    throw noRoom(
      placement.last,
      placement.fileEnd,
      `the file would be ${hex(total)} bytes, more than kboot builds in memory`,
      {
        total,
      },
    );
  }
  return { placement, tables, mfsName: ext.mfsName, tail, shoff, shnum, total };
}

/** Writes the planned file: the host up to the old segment end, the rescue ELF, the tail, the headers. */
function encodeEmbed(host: Uint8Array, rescue: Uint8Array, plan: EmbedPlan): Uint8Array {
  const { placement: at, shoff, shnum } = plan;
  const eh = Elf64Ehdr.decode(host, 0);
  const out = new Uint8Array(Number(plan.total));
  out.set(host.subarray(0, Number(at.fileEnd)));
  out.set(rescue, Number(at.dataOff));
  for (const t of plan.tail) out.set(t.data, Number(t.offset));
  Elf64Ehdr.encodeInto(out, 0, { ...eh, shoff, shnum });
  const phAt = Number(eh.phoff) + at.last.index * Elf64Phdr.size;
  Elf64Phdr.encodeInto(out, phAt, { ...Elf64Phdr.decode(host, phAt), filesz: at.newSize, memsz: at.newSize });
  const tailBy = new Map(plan.tail.map((t) => [t.index, t]));
  for (let index = 0; index < plan.tables.newIndex; index++) {
    const sh = Elf64Shdr.decode(host, Number(eh.shoff) + index * Elf64Shdr.size);
    const t = tailBy.get(index);
    Elf64Shdr.encodeInto(out, Number(shoff) + index * Elf64Shdr.size, {
      ...sh,
      ...(t === undefined ? {} : { offset: t.offset, size: BigInt(t.data.length) }),
    });
  }
  Elf64Shdr.encodeInto(out, Number(shoff) + plan.tables.newIndex * Elf64Shdr.size, {
    name: plan.mfsName,
    type: SHT.PROGBITS,
    flags: SHF.ALLOC,
    addr: at.dataVa,
    offset: at.dataOff,
    size: at.dataLen,
    link: 0,
    info: 0,
    addralign: 1n,
    entsize: 0n,
  });
  return out;
}

/** Embeds `rescue` (an ELF file) in `host` (an ELF file); see the module contract. */
export function embedRescue(host: Uint8Array, rescue: Uint8Array, opts: EmbedOptions = {}): Uint8Array {
  const plan = planEmbed(host, rescue, opts);
  const out = encodeEmbed(host, rescue, plan);
  // postcondition: the result parses and gives the same bytes back
  const back = extractEmbeddedRescue(out);
  assert.equal(back.start, plan.placement.dataVa);
  assert.equal(back.bytes.length, rescue.length);
  return out;
}

function findSegment(img: ElfImage, start: bigint, end: bigint): ProgramHeader | undefined {
  return img.loadSegments.find((p) => start >= p.vaddr && end <= p.vaddr + p.filesz);
}

/** Reads the rescue kernel embedded in `host` (bytes or a parsed image) through rescue_start/rescue_end. */
export function extractEmbeddedRescue(host: Uint8Array | ElfImage): EmbeddedRescue {
  const img = host instanceof Uint8Array ? parseElf(host) : host;
  const starts = img.symbols.filter((s) => s.name === RESCUE_START_SYMBOL);
  const ends = img.symbols.filter((s) => s.name === RESCUE_END_SYMBOL);
  if (starts.length === 0 && ends.length === 0) {
    throw fail(
      EmbedCode.NotEmbedded,
      `no embedded rescue kernel (no ${RESCUE_START_SYMBOL} or ${RESCUE_END_SYMBOL} among ${hex(img.symbolCount)} symbols)`,
      {
        symbols: img.symbolCount,
      },
    );
  }
  const s = starts[0];
  const e = ends[0];
  if (s === undefined || e === undefined || starts.length > 1 || ends.length > 1) {
    throw fail(
      EmbedCode.BadSymbols,
      `need exactly one ${RESCUE_START_SYMBOL} and one ${RESCUE_END_SYMBOL} (found ${starts.length} and ${ends.length})`,
      {
        starts: starts.length,
        ends: ends.length,
      },
    );
  }
  const start = s.value as bigint;
  const end = e.value as bigint;
  if (end < start) {
    throw fail(
      EmbedCode.BadSymbols,
      `${RESCUE_END_SYMBOL} lies below ${RESCUE_START_SYMBOL} (${hex(end)} < ${hex(start)})`,
      { start, end },
    );
  }
  const seg = findSegment(img, start, end);
  if (seg === undefined) {
    throw fail(EmbedCode.BadSymbols, `[${hex(start)}, ${hex(end)}) is not file-backed bytes of one PT_LOAD`, {
      start,
      end,
    });
  }
  const off = Number(seg.offset + (start - seg.vaddr));
  const bytes = img.bytes.slice(off, off + Number(end - start));
  return Object.freeze({ bytes, start: kva(start), end: kva(end), segment: seg.index });
}

/** The rescue kernel's length as rescue_kernel_init computes it (`&rescue_end - &rescue_start`). */
export function embeddedRescueLength(rescue: EmbeddedRescue): Size {
  return offsetFrom(rescue.end, rescue.start);
}
