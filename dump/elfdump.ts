/**
 * FreeBSD full ("ELF") crash dump writer, amd64 and arm64, streamed.
 *
 * Contract: `planElfDump(source)` computes the whole layout up front (no memory read) and
 * returns the header bytes, the size, and `chunks()`, a sync generator yielding the file in
 * order: the ELF header, one PT_LOAD program header per physical range, zero fill up to the
 * page boundary, then each range's bytes read through `source.readPhys` in `chunkBytes`
 * pieces (so a dump of GiBs never sits in memory). The layout is dumpsys_generic()'s
 * (sys/kern/kern_dump.c): e_ident ELFCLASS64 / ELFDATA2LSB / EV_CURRENT /
 * ELFOSABI_STANDALONE, e_type ET_CORE, e_machine EM_X86_64 or EM_AARCH64, e_version and
 * e_flags 0 (the kernel bzero()s the header and never sets e_version), e_phoff 64,
 * e_shentsize 64 with no sections; each PT_LOAD has p_flags PF_R, p_vaddr = p_paddr = the
 * range's PA, p_filesz = p_memsz = its length, p_align PAGE_SIZE; the first range's data
 * sits at round_page(headers) (MD_ALIGN), the others follow back to back. FreeBSD's ranges
 * are dump_avail's pairs (dumpsys_pa_init); a range must be page aligned and non-empty.
 * Bad ranges raise DumpError(DUMP_BAD_PARAMS).
 *
 * `openElfDump(file)` reads such a dump back (any ET_CORE ELF64 little-endian file whose
 * PT_LOADs carry physical addresses in p_paddr): `readPa(pa, len)` across segments. Bounded:
 * headers are checked against the file size; a file cut short opens, its missing ranges
 * listed (`missing`), and a read that needs one is DUMP_PAGE_MISSING; only DumpError escapes.
 */
import { hex } from '../loader/addr.js';
import { archForElfMachine, archInfo, type Arch } from '../loader/arch/index.js';
import { ELF_MAGIC, ET, Elf64Ehdr, Elf64Phdr, Elf64Shdr, ElfIdent, PF, PT } from '../loader/elf/layout.js';
import { DumpCode, DumpError } from './errors.js';
import { ELF_DUMP } from './layout.js';
import { bytesFile, pageMissing, readExact, type DumpFile } from './reader.js';

const PAGE = 0x1000n;

/** Where a full dump's memory comes from: physical ranges [start, end) and a reader. */
export interface ElfDumpSource {
  readonly arch: Arch;
  readonly ranges: readonly (readonly [bigint, bigint])[];
  readPhys(pa: bigint, len: number): Uint8Array;
  /**
   * Optional: the bytes of [pa, pa + len) as consecutive pieces (a dumper may hand runs of
   * zero pages over as known zeros, dump/zero.ts, so the file writer leaves holes).
   */
  readRuns?(pa: bigint, len: number): Iterable<Uint8Array>;
}

export interface ElfDumpSegment {
  readonly pa: bigint;
  readonly size: bigint;
  /** File offset of the range's first byte. */
  readonly offset: bigint;
}

export interface ElfDumpPlan {
  readonly headerBytes: Uint8Array;
  /** Offset of the first range's data: round_page(64 + 56 * ranges). */
  readonly dataOffset: bigint;
  readonly segments: readonly ElfDumpSegment[];
  /** Bytes of the whole file. */
  readonly size: bigint;
  chunks(chunkBytes?: number): Generator<Uint8Array>;
}

export function planElfDump(src: ElfDumpSource): ElfDumpPlan {
  if (src.ranges.length === 0 || src.ranges.length > 0xfffe) {
    throw new DumpError(DumpCode.BadParams, `dump: an ELF dump needs 1..65534 ranges, got ${src.ranges.length}`, {
      ranges: src.ranges.length,
    });
  }
  let prevEnd = 0n;
  for (const [s, e] of src.ranges) {
    if (s % PAGE !== 0n || e % PAGE !== 0n || e <= s || s < prevEnd || e > 1n << 52n) {
      throw new DumpError(
        DumpCode.BadParams,
        `dump: range [${hex(s)}, ${hex(e)}) is not a page-aligned ascending range`,
        {
          start: hex(s),
          end: hex(e),
        },
      );
    }
    prevEnd = e;
  }
  const hdrsz = BigInt(Elf64Ehdr.size + Elf64Phdr.size * src.ranges.length);
  const dataOffset = (hdrsz + PAGE - 1n) & ~(PAGE - 1n);
  let fileofs = dataOffset;
  const segments = src.ranges.map(([s, e]): ElfDumpSegment => {
    const seg = { pa: s, size: e - s, offset: fileofs };
    fileofs += e - s;
    return seg;
  });
  const size = fileofs;

  const headerBytes = new Uint8Array(Number(dataOffset));
  Elf64Ehdr.encodeInto(headerBytes, 0, {
    magic: Uint8Array.from(ELF_MAGIC),
    class: ElfIdent.CLASS64,
    data: ElfIdent.DATA2LSB,
    identVersion: ElfIdent.VERSION_CURRENT,
    osabi: ELF_DUMP.OSABI_STANDALONE,
    abiVersion: 0,
    type: ET.CORE,
    machine: archInfo(src.arch).elfMachine,
    version: 0,
    entry: 0n,
    phoff: BigInt(Elf64Ehdr.size),
    shoff: 0n,
    flags: 0,
    ehsize: Elf64Ehdr.size,
    phentsize: Elf64Phdr.size,
    phnum: segments.length,
    shentsize: Elf64Shdr.size,
    shnum: 0,
    shstrndx: 0,
  });
  segments.forEach((s, i) =>
    Elf64Phdr.encodeInto(headerBytes, Elf64Ehdr.size + i * Elf64Phdr.size, {
      type: PT.LOAD,
      flags: PF.R,
      offset: s.offset,
      vaddr: s.pa,
      paddr: s.pa,
      filesz: s.size,
      memsz: s.size,
      align: PAGE,
    }),
  );

  function* chunks(chunkBytes = 1 << 20): Generator<Uint8Array> {
    const step = BigInt(Math.max(Number(PAGE), Math.min(chunkBytes, 1 << 26)) & ~(Number(PAGE) - 1));
    yield headerBytes;
    for (const s of segments) {
      for (let off = 0n; off < s.size; off += step) {
        const n = s.size - off < step ? s.size - off : step;
        if (src.readRuns !== undefined) yield* src.readRuns(s.pa + off, Number(n));
        else yield src.readPhys(s.pa + off, Number(n));
      }
    }
  }

  return { headerBytes, dataOffset, segments, size, chunks };
}

/** A segment of a dump read back: what of it the file holds. */
export interface ElfDumpReadSegment extends ElfDumpSegment {
  /**
   * Bytes of the segment wholly in the file, from its start: `size`, or less in a truncated
   * file (whole 4 KiB pages only; a page the file ends inside counts as missing).
   */
  readonly present: bigint;
}

/** A physical range a truncated dump should hold but does not: [pa, end), at file offset `offset`. */
export interface MissingRange {
  readonly pa: bigint;
  readonly end: bigint;
  readonly offset: bigint;
}

export interface ElfDump {
  readonly arch: Arch;
  readonly segments: readonly ElfDumpReadSegment[];
  /** Bytes the program headers imply (the furthest segment end). */
  readonly expectedSize: bigint;
  /** The ranges past the end of a truncated file (empty for a whole one). */
  readonly missing: readonly MissingRange[];
  /** Reads `len` bytes of physical memory at `pa`, across segments; DUMP_NOT_DUMPED if any byte is absent, DUMP_PAGE_MISSING if it lies past the end of a truncated file. */
  readPa(pa: bigint, len: number): Uint8Array;
}

const MAX_PHNUM = 0xfffe;
const MAX_READ = 1 << 30;

/** The ELF header of a full dump: ELF64, little-endian, ET_CORE, amd64 or arm64, a usable program-header table. */
function elfDumpHeader(file: DumpFile): { arch: Arch; phoff: bigint; phnum: number } {
  const eh = Elf64Ehdr.decode(readExact(file, 0, Elf64Ehdr.size, 'ELF header'));
  if (!ELF_MAGIC.every((b, i) => eh.magic[i] === b)) {
    throw new DumpError(DumpCode.BadMagic, 'dump: not an ELF file', {});
  }
  if (eh.class !== ElfIdent.CLASS64 || eh.data !== ElfIdent.DATA2LSB || eh.type !== ET.CORE) {
    throw new DumpError(DumpCode.NotCore, 'dump: not a little-endian ELF64 core file', {
      class: eh.class,
      data: eh.data,
      type: eh.type,
    });
  }
  const arch = archForElfMachine(eh.machine);
  if (arch === undefined) {
    throw new DumpError(DumpCode.UnknownArch, `dump: e_machine ${eh.machine} is not amd64 or arm64`, {
      machine: eh.machine,
    });
  }
  if (eh.phentsize !== Elf64Phdr.size || eh.phnum === 0 || eh.phnum > MAX_PHNUM) {
    throw new DumpError(DumpCode.BadPhdrs, 'dump: bad program header table', {
      phentsize: eh.phentsize,
      phnum: eh.phnum,
    });
  }
  if (eh.phoff > BigInt(file.size)) {
    throw new DumpError(DumpCode.Truncated, 'dump: the program headers lie past the end', { phoff: eh.phoff });
  }
  return { arch, phoff: eh.phoff, phnum: eh.phnum };
}

/** Bytes of [offset, offset + size) the file holds in whole pages of PA from `pa`. */
function presentBytes(pa: bigint, size: bigint, offset: bigint, fileSize: bigint): bigint {
  if (offset + size <= fileSize) return size;
  if (offset >= fileSize) return 0n;
  const end = (pa + (fileSize - offset)) & ~(PAGE - 1n);
  return end > pa ? end - pa : 0n;
}

/** The PT_LOAD segments with file bytes, each with what of it the file holds. */
function elfDumpSegments(file: DumpFile, phoff: bigint, phnum: number): ElfDumpReadSegment[] {
  const ph = readExact(file, Number(phoff), phnum * Elf64Phdr.size, 'program headers');
  const fileSize = BigInt(file.size);
  const segments: ElfDumpReadSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = Elf64Phdr.decode(ph, i * Elf64Phdr.size);
    if (p.type !== PT.LOAD || p.filesz === 0n) continue;
    if (p.paddr + p.filesz > 1n << 64n || p.offset + p.filesz > 1n << 64n) {
      throw new DumpError(DumpCode.BadPhdrs, `dump: segment ${i} wraps the address space`, { segment: i });
    }
    const present = presentBytes(p.paddr, p.filesz, p.offset, fileSize);
    segments.push({ pa: p.paddr, size: p.filesz, offset: p.offset, present });
  }
  return segments;
}

export function openElfDump(input: DumpFile | Uint8Array): ElfDump {
  const file = input instanceof Uint8Array ? bytesFile(input) : input;
  const { arch, phoff, phnum } = elfDumpHeader(file);
  const segments = elfDumpSegments(file, phoff, phnum);
  const expectedSize = segments.reduce((m, s) => (s.offset + s.size > m ? s.offset + s.size : m), 0n);
  const missing = segments
    .filter((s) => s.present < s.size)
    .map((s) => ({ pa: s.pa + s.present, end: s.pa + s.size, offset: s.offset + s.present }));

  function readPa(pa: bigint, len: number): Uint8Array {
    if (!Number.isSafeInteger(len) || len < 0 || len > MAX_READ) {
      throw new DumpError(DumpCode.TooLarge, `dump: cannot read ${len} bytes at once`, { len });
    }
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const at = pa + BigInt(done);
      const seg = segments.find((s) => at >= s.pa && at < s.pa + s.size);
      if (seg === undefined) {
        throw new DumpError(DumpCode.NotDumped, `dump: physical address ${hex(at)} is not in the dump`, {
          pa: hex(at),
        });
      }
      const offset = seg.offset + (at - seg.pa);
      if (at >= seg.pa + seg.present) throw pageMissing(at, offset, file.size);
      const inSeg = seg.pa + seg.present - at;
      const n = Number(inSeg < BigInt(len - done) ? inSeg : BigInt(len - done));
      out.set(readExact(file, Number(offset), n, 'segment data'), done);
      done += n;
    }
    return out;
  }

  return { arch, segments, expectedSize, missing, readPa };
}
