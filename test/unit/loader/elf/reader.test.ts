// parseElf: the good fixture parses to the values it was written with; every ElfCode the
// reader raises is reached by changing ONE field of that fixture (or one limit).
import t from 'tap';
import type { KernelVa, Size } from '../../../../loader/addr.js';
import { archInfo } from '../../../../loader/arch/index.js';
import {
  DEFAULT_ELF_LIMITS,
  Elf64Ehdr,
  ElfCode,
  ElfError,
  parseElf,
  PF,
  PN_XNUM,
  PT,
  SHN,
  SHT,
  segmentBytes,
  sectionBytes,
  writeElf,
} from '../../../../loader/elf/index.js';
import { throwsCode } from '../../../helpers/errors.js';
import { freebsdKernelSpec, K, KERNEL_NOTES, offsetsOf, patch } from './fixtures.js';

const good = writeElf(freebsdKernelSpec('amd64'));
const off = offsetsOf(good);
const E = Elf64Ehdr.offsets;
const KS = archInfo('amd64').kernstart;
const u64 = (at: number): bigint => new DataView(good.buffer).getBigUint64(at, true);

t.test('the good fixture parses to what was written', (t) => {
  const img = parseElf(good);
  t.equal(img.arch, 'amd64');
  t.equal(img.machine, 62);
  t.equal(img.type, 'exec');
  t.equal(img.osabi, 9);
  t.equal(img.entry, KS + 0x1000n);
  t.equal(img.phdrs.length, 3);
  t.same(
    img.loadSegments.map((p) => [p.index, p.offset, p.vaddr, p.filesz, p.memsz, p.flags]),
    [
      [0, 0n, KS, 0x3000n, 0x3000n, PF.R | PF.X],
      [1, 0x3000n, KS + 0x3000n, 0x1000n, 0x3000n, PF.R | PF.W],
    ],
  );
  t.same(
    img.sections.map((s) => s.name),
    ['', '.text', '.note.kboot', '.data', '.bss', '.comment', '.symtab', '.strtab', '.shstrtab'],
  );
  t.equal(img.symbolSource, 'symtab');
  t.same(
    img.symbols.map((s) => [s.name, s.value]),
    [
      ['kboot_fixture.c', 0n],
      ['btext', KS + 0x1000n],
      ['kernel_data', KS + 0x3000n],
      ['_end', KS + 0x6000n],
    ],
  );
  t.same(
    img.notes.map((n) => [n.name, n.type, [...n.desc]]),
    KERNEL_NOTES.map((n) => [n.name, n.type, [...n.desc]]),
    'notes from the PT_NOTE, not repeated from the SHT_NOTE section it covers',
  );
  t.equal(img.fileSize, good.length);
  t.ok(Object.isFrozen(img) && Object.isFrozen(img.phdrs) && Object.isFrozen(img.symbols[0]), 'frozen');
  const data = img.loadSegments[1];
  t.ok(data !== undefined && segmentBytes(img, data).length === K.dataFile);
  const bss = img.sections[4];
  t.ok(bss !== undefined && sectionBytes(img, bss).length === 0, 'SHT_NOBITS has no file bytes');
  t.end();
});

t.test('ET_DYN with e_entry 0 means no entry; ET_CORE needs no PT_LOAD', (t) => {
  const dyn = parseElf(
    writeElf({ arch: 'arm64', type: 'dyn', segments: [{ type: 'load', flags: PF.R, data: new Uint8Array(8) }] }),
  );
  t.equal(dyn.entry, undefined);
  t.equal(dyn.arch, 'arm64');
  const core = parseElf(
    writeElf({
      arch: 'amd64',
      type: 'core',
      segments: [{ type: 'note', notes: [{ name: 'CORE', type: 1, desc: new Uint8Array(16) }] }],
    }),
  );
  t.equal(core.type, 'core');
  t.equal(core.loadSegments.length, 0);
  t.equal(core.notes[0]?.name, 'CORE');
  t.equal(core.symbolSource, 'none');
  t.end();
});

t.test('one changed field → one error code', (t) => {
  const len = good.length;
  const cases: [string, Uint8Array, string][] = [
    ['file cut inside e_ident', good.slice(0, 10), ElfCode.Truncated],
    ['file cut inside the header', good.slice(0, 40), ElfCode.Truncated],
    ['magic', patch(good, 1, 1, 0x33), ElfCode.BadMagic],
    ['magic of a short file', Uint8Array.of(0x7f, 0x45, 0x00), ElfCode.BadMagic],
    ['EI_CLASS = ELFCLASS32', patch(good, E.class, 1, 1), ElfCode.BadClass],
    ['EI_DATA = ELFDATA2MSB', patch(good, E.data, 1, 2), ElfCode.NotLittleEndian],
    ['EI_VERSION = 2', patch(good, E.identVersion, 1, 2), ElfCode.BadVersion],
    ['e_version = 0', patch(good, E.version, 4, 0), ElfCode.BadVersion],
    ['e_machine = EM_386', patch(good, E.machine, 2, 3), ElfCode.UnsupportedMachine],
    ['e_type = ET_REL', patch(good, E.type, 2, 1), ElfCode.UnsupportedType],
    ['e_ehsize = 52', patch(good, E.ehsize, 2, 52), ElfCode.BadHeaderSize],
    ['e_phentsize = 32', patch(good, E.phentsize, 2, 32), ElfCode.BadHeaderSize],
    ['e_shentsize = 40', patch(good, E.shentsize, 2, 40), ElfCode.BadHeaderSize],
    ['e_phnum = 5000', patch(good, E.phnum, 2, 5000), ElfCode.TooManyPhdrs],
    ['e_shnum = 5000', patch(good, E.shnum, 2, 5000), ElfCode.TooManyShdrs],
    ['e_phoff near the end', patch(good, E.phoff, 8, len - 10), ElfCode.PhdrOutOfFile],
    ['e_phoff = 2^64 - 1', patch(good, E.phoff, 8, (1n << 64n) - 1n), ElfCode.PhdrOutOfFile],
    ['data p_offset = file size', patch(good, off.phdr(1, 'offset'), 8, len), ElfCode.SegmentOutOfFile],
    ['note p_filesz huge', patch(good, off.phdr(2, 'filesz'), 8, 1n << 62n), ElfCode.SegmentOutOfFile],
    ['text p_memsz < p_filesz', patch(good, off.phdr(0, 'memsz'), 8, 0x10), ElfCode.FileszGtMemsz],
    ['data p_vaddr near 2^64', patch(good, off.phdr(1, 'vaddr'), 8, (1n << 64n) - 0x1000n), ElfCode.AddrOverflow],
    ['data p_paddr near 2^64', patch(good, off.phdr(1, 'paddr'), 8, (1n << 64n) - 0x1000n), ElfCode.AddrOverflow],
    ['data p_align = 0x3000', patch(good, off.phdr(1, 'align'), 8, 0x3000), ElfCode.BadAlignment],
    ['data p_vaddr off by one page', patch(good, off.phdr(1, 'vaddr'), 8, KS + 0x4000n), ElfCode.BadAlignment],
    ['text p_memsz reaches the data', patch(good, off.phdr(0, 'memsz'), 8, 0x5000), ElfCode.LoadOverlap],
    ['e_phnum = 0', patch(good, E.phnum, 2, 0), ElfCode.NoLoad],
    ['e_entry in the data', patch(good, E.entry, 8, KS + 0x3000n), ElfCode.EntryNotInText],
    ['e_entry 0 in an ET_EXEC', patch(good, E.entry, 8, 0), ElfCode.EntryNotInText],
    ['e_shoff near the end', patch(good, E.shoff, 8, len - 32), ElfCode.ShdrOutOfFile],
    ['.comment sh_offset past the end', patch(good, off.shdr(5, 'offset'), 8, len), ElfCode.ShdrOutOfFile],
    ['.text sh_addr near 2^64', patch(good, off.shdr(1, 'addr'), 8, (1n << 64n) - 0x10n), ElfCode.AddrOverflow],
    ['e_shstrndx names .text', patch(good, E.shstrndx, 2, 1), ElfCode.BadStrtab],
    ['e_shstrndx past the table', patch(good, E.shstrndx, 2, 40), ElfCode.BadStrtab],
    ['a section name offset past .shstrtab', patch(good, off.shdr(1, 'name'), 4, 0xffff), ElfCode.BadStrtab],
    [
      '.shstrtab cut before its last NUL',
      patch(good, off.shdr(off.shnum - 1, 'size'), 8, u64(off.shdr(off.shnum - 1, 'size')) - 1n),
      ElfCode.BadStrtab,
    ],
    [
      'a symbol name offset past .strtab',
      patch(good, off.shdr(off.sectionIndex(SHT.STRTAB), 'size'), 8, 4),
      ElfCode.BadStrtab,
    ],
    [
      '.symtab sh_entsize = 16',
      patch(good, off.shdr(off.sectionIndex(SHT.SYMTAB), 'entsize'), 8, 16),
      ElfCode.BadSymtab,
    ],
    [
      '.symtab sh_size not a multiple',
      patch(good, off.shdr(off.sectionIndex(SHT.SYMTAB), 'size'), 8, 25),
      ElfCode.BadSymtab,
    ],
    ['.symtab sh_link = .text', patch(good, off.shdr(off.sectionIndex(SHT.SYMTAB), 'link'), 4, 1), ElfCode.BadSymtab],
    [
      '.symtab sh_link past the table',
      patch(good, off.shdr(off.sectionIndex(SHT.SYMTAB), 'link'), 4, 99),
      ElfCode.BadSymtab,
    ],
    ['PT_NOTE p_filesz cut by 4', patch(good, off.phdr(2, 'filesz'), 8, 0x3c - 4), ElfCode.BadNote],
    ['PT_NOTE p_filesz = 8 (no room for a header)', patch(good, off.phdr(2, 'filesz'), 8, 8), ElfCode.BadNote],
    ['first note n_descsz huge', patch(good, K.noteOff + 4, 4, 0xffff_ff00), ElfCode.BadNote],
  ];
  for (const [name, bytes, code] of cases) throwsCode(t, () => parseElf(bytes), code, name);
  t.end();
});

t.test('limits are an options object', (t) => {
  t.same(DEFAULT_ELF_LIMITS, { maxPhdrs: 4096, maxShdrs: 4096, maxSymbols: 1_000_000, maxNotes: 4096 });
  throwsCode(t, () => parseElf(good, { maxPhdrs: 2 }), ElfCode.TooManyPhdrs);
  throwsCode(t, () => parseElf(good, { maxShdrs: 8 }), ElfCode.TooManyShdrs);
  throwsCode(t, () => parseElf(good, { maxSymbols: 3 }), ElfCode.TooManySymbols);
  throwsCode(t, () => parseElf(good, { maxNotes: 1 }), ElfCode.TooManyNotes);
  t.equal(parseElf(good, { maxPhdrs: 3, maxShdrs: 9, maxSymbols: 4, maxNotes: 2 }).symbols.length, 4, 'at the limit');
  t.end();
});

t.test('errors are ElfErrors with domain elf, a hex message and details', (t) => {
  const e = throwsCode(t, () => parseElf(patch(good, off.phdr(1, 'offset'), 8, good.length)), ElfCode.SegmentOutOfFile);
  t.ok(e instanceof ElfError);
  t.equal(e?.domain, 'elf');
  t.match(e?.message ?? '', /^elf: segment #1 .*\(p_offset 0x[0-9a-f]+, p_filesz 0x1000, file size 0x[0-9a-f]+\)$/);
  t.equal(e?.details['offset'], BigInt(good.length));
  t.end();
});

t.test('extended numbering: PN_XNUM and e_shnum 0 / SHN_XINDEX', (t) => {
  const n = PN_XNUM + 2;
  const many = writeElf({
    arch: 'amd64',
    type: 'core',
    segments: Array.from({ length: n }, (_, i) => ({
      type: 'load' as const,
      vaddr: (BigInt(i) * 0x1000n) as KernelVa,
      memsz: 0x1000n as Size,
      align: 0x1000n as Size,
    })),
  });
  const dv = new DataView(many.buffer);
  t.equal(dv.getUint16(Elf64Ehdr.offsets.phnum, true), PN_XNUM, 'e_phnum is PN_XNUM');
  throwsCode(t, () => parseElf(many), ElfCode.TooManyPhdrs, 'the default limit still applies');
  const img = parseElf(many, { maxPhdrs: n });
  t.equal(img.phdrs.length, n);
  t.equal(img.loadSegments[n - 1]?.vaddr, BigInt(n - 1) * 0x1000n);

  const nsec = SHN.LORESERVE + 1;
  const wide = writeElf({
    arch: 'arm64',
    type: 'dyn',
    segments: [{ type: 'load', data: new Uint8Array(4) }],
    sections: Array.from({ length: nsec }, (_, i) => ({ name: `s${i % 4}`, type: 'progbits' as const })),
  });
  const wdv = new DataView(wide.buffer);
  t.equal(wdv.getUint16(Elf64Ehdr.offsets.shnum, true), 0, 'e_shnum is 0');
  t.equal(wdv.getUint16(Elf64Ehdr.offsets.shstrndx, true), SHN.XINDEX, 'e_shstrndx is SHN_XINDEX');
  const wimg = parseElf(wide, { maxShdrs: nsec + 2 });
  t.equal(wimg.sections.length, nsec + 2);
  t.equal(wimg.sections[nsec + 1]?.name, '.shstrtab');
  t.end();
});

t.test('.dynsym is used when there is no .symtab; notes in sections no PT_NOTE covers', (t) => {
  const spec = freebsdKernelSpec('arm64');
  const bytes = writeElf({
    ...spec,
    segments: spec.segments.slice(0, 2),
    sections: [
      ...(spec.sections ?? []).slice(0, 5),
      {
        name: '.note.extra',
        type: 'note',
        notes: [{ name: 'extra', type: 7, desc: Uint8Array.of(1) }],
        addralign: 4n as Size,
      },
    ],
  });
  const o = offsetsOf(bytes);
  const img = parseElf(patch(bytes, o.shdr(o.sectionIndex(SHT.SYMTAB), 'type'), 4, SHT.DYNSYM));
  t.equal(img.symbolSource, 'dynsym');
  t.equal(img.symbols.length, 4);
  t.same(
    img.notes.map((n) => n.name),
    ['FreeBSD', 'kboot', 'extra'],
    'no PT_NOTE: both SHT_NOTE sections are read',
  );
  t.end();
});

t.test('PT_LOAD p_align 0 and 1 need no congruence; PT_NOTE memsz 0 (core) is fine', (t) => {
  const b = writeElf({
    arch: 'amd64',
    type: 'exec',
    entry: 0x401003n as KernelVa,
    segments: [
      { type: 'load', flags: PF.R | PF.X, vaddr: 0x401003n as KernelVa, data: new Uint8Array(16), align: 1n as Size },
      { type: PT.GNU_STACK, flags: PF.R | PF.W, align: 16n as Size },
    ],
  });
  const img = parseElf(b);
  t.equal(img.phdrs[1]?.type, PT.GNU_STACK);
  t.equal(img.entry, 0x401003n);
  t.end();
});
