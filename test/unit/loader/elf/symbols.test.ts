// loader/elf/symbols.ts: a kernel's symbol table read with or without program headers —
// symbol-only files (sections and .symtab only, as debug files and lldb's kernel-amd64.yaml
// are), whole kernels (checked against parseElf's symbols), the .dynsym fallback, global
// before weak before local, every refusal with its ElfError code, the limits, and random
// access (a kernel on disk is never read whole). readelf cross-checks are in
// test/external/symbols-readelf.test.ts.
import t from 'tap';
import { Elf64Ehdr, Elf64Shdr, SHT, STB, STT } from '../../../../loader/elf/layout.js';
import { ElfCode } from '../../../../loader/elf/errors.js';
import { parseElf } from '../../../../loader/elf/reader.js';
import { readElfSymbols, type ByteSource } from '../../../../loader/elf/symbols.js';
import { makeRescueKernel } from '../../../helpers/kernels.js';
import { symbolFile } from '../../../helpers/kernel-symbols.js';
import { throwsCode } from '../../../helpers/errors.js';

const KB = 0xffff_ffff_8000_0000n;
const SYMS = [
  { name: 'kernbase', value: KB },
  { name: 'hz', value: KB + 0x1cd_4c0cn, size: 4n },
  { name: 'dup', value: KB + 0x100_0000n, size: 8n, bind: STB.LOCAL },
  { name: 'dup', value: KB + 0x100_0100n, size: 8n, bind: STB.WEAK },
  { name: 'dup', value: KB + 0x100_0200n, size: 8n },
  { name: 'panic', value: KB + 0x40_0000n, size: 0x80n, type: STT.FUNC },
];

const u16 = (b: Uint8Array, at: number, v: number): Uint8Array => {
  const c = Uint8Array.from(b);
  new DataView(c.buffer).setUint16(at, v, true);
  return c;
};
const u32 = (b: Uint8Array, at: number, v: number): Uint8Array => {
  const c = Uint8Array.from(b);
  new DataView(c.buffer).setUint32(at, v, true);
  return c;
};
const u64 = (b: Uint8Array, at: number, v: bigint): Uint8Array => {
  const c = Uint8Array.from(b);
  new DataView(c.buffer).setBigUint64(at, v, true);
  return c;
};

/** File offset of section header `i`. */
function shdrAt(b: Uint8Array, i: number): number {
  const dv = new DataView(b.buffer, b.byteOffset);
  return Number(dv.getBigUint64(Elf64Ehdr.offsets.shoff, true)) + i * Elf64Shdr.size;
}
/** Index of the first section of type `type`. */
function sectionOf(b: Uint8Array, type: number): number {
  const dv = new DataView(b.buffer, b.byteOffset);
  const n = dv.getUint16(Elf64Ehdr.offsets.shnum, true);
  for (let i = 0; i < n; i++) if (dv.getUint32(shdrAt(b, i) + Elf64Shdr.offsets.type, true) === type) return i;
  throw new Error(`no section of type ${type}`);
}

t.test('a symbol-only file: every symbol with its value, size, type, binding and section', (t) => {
  const f = readElfSymbols(symbolFile('amd64', SYMS));
  t.equal(f.arch, 'amd64');
  t.equal(f.type, 'exec');
  t.equal(f.osabi, 9);
  t.equal(f.phnum, 0);
  t.equal(f.loadCount, 0, 'no PT_LOAD: symbol-only');
  t.equal(f.source, 'symtab');
  t.same(
    f.symbols.map((s) => [s.name, s.value, s.size, s.type, s.bind, s.section]),
    [
      ['dup', KB + 0x100_0000n, 8n, STT.OBJECT, STB.LOCAL, '.data'], // locals first (gABI: sh_info)
      ['kernbase', KB, 0n, STT.NOTYPE, STB.GLOBAL, 'ABS'],
      ['hz', KB + 0x1cd_4c0cn, 4n, STT.OBJECT, STB.GLOBAL, '.data'],
      ['dup', KB + 0x100_0100n, 8n, STT.OBJECT, STB.WEAK, '.data'],
      ['dup', KB + 0x100_0200n, 8n, STT.OBJECT, STB.GLOBAL, '.data'],
      ['panic', KB + 0x40_0000n, 0x80n, STT.FUNC, STB.GLOBAL, '.data'],
    ],
  );
  t.equal(f.lookup('hz')?.value, KB + 0x1cd_4c0cn);
  t.equal(f.lookup('dup')?.value, KB + 0x100_0200n, 'global before weak before local');
  t.equal(f.lookup('nope'), undefined);
  t.equal(f.lookup(''), undefined, 'the empty name is never found');
  t.same(
    f.sections.map((s) => s.name),
    ['', '.bss', '.data', '.symtab', '.strtab', '.shstrtab'],
  );
  t.end();
});

t.test('a whole kernel: the same symbols as parseElf, PT_LOADs counted', (t) => {
  for (const arch of ['amd64', 'arm64'] as const) {
    const bytes = makeRescueKernel(arch);
    const img = parseElf(bytes);
    const f = readElfSymbols(bytes);
    t.equal(f.loadCount, img.loadSegments.length, `${arch}: PT_LOADs`);
    t.equal(f.arch, arch);
    t.same(
      f.symbols.map((s) => [s.name, s.value, s.size, s.type, s.bind, s.shndx]),
      img.symbols.map((s) => [s.name, s.value as bigint, s.size as bigint, s.type, s.bind, s.shndx]),
      `${arch}: symbols as parseElf reads them`,
    );
  }
  t.end();
});

t.test('.dynsym when there is no .symtab; no table at all', (t) => {
  const b = symbolFile('arm64', SYMS);
  const dyn = u32(b, shdrAt(b, sectionOf(b, SHT.SYMTAB)) + Elf64Shdr.offsets.type, SHT.DYNSYM);
  const f = readElfSymbols(dyn);
  t.equal(f.source, 'dynsym');
  t.equal(f.lookup('hz')?.value, KB + 0x1cd_4c0cn);
  const none = u32(b, shdrAt(b, sectionOf(b, SHT.SYMTAB)) + Elf64Shdr.offsets.type, SHT.PROGBITS);
  const n = readElfSymbols(none);
  t.equal(n.source, 'none');
  t.same(n.symbols, []);
  t.equal(n.lookup('hz'), undefined);
  t.end();
});

t.test('random access: a file of 1 GiB is read only where its headers and tables are', (t) => {
  const b = symbolFile('amd64', SYMS);
  let read = 0;
  const src: ByteSource = {
    size: 1 << 30,
    read: (o, n) => {
      if (o + n > b.length) throw new Error(`read past the tables: ${o}+${n}`);
      read += n;
      return b.subarray(o, o + n);
    },
  };
  const f = readElfSymbols(src);
  t.equal(f.symbols.length, SYMS.length);
  t.equal(f.fileSize, 1 << 30);
  t.ok(read < 2 * b.length, `${read} bytes read`);
  t.end();
});

t.test('refusals, each with its code', (t) => {
  const b = symbolFile('amd64', SYMS);
  const symtab = shdrAt(b, sectionOf(b, SHT.SYMTAB));
  const E = Elf64Ehdr.offsets;
  const S = Elf64Shdr.offsets;
  const cases: [string, Uint8Array, string][] = [
    ['not ELF', u32(b, 0, 0x464c457e), ElfCode.BadMagic],
    ['ELF32', Uint8Array.from(b).fill(1, E.class, E.class + 1), ElfCode.BadClass],
    ['big-endian', Uint8Array.from(b).fill(2, E.data, E.data + 1), ElfCode.NotLittleEndian],
    ['e_version 0', u32(b, E.version, 0), ElfCode.BadVersion],
    ['EM_386', u16(b, E.machine, 3), ElfCode.UnsupportedMachine],
    ['ET_REL', u16(b, E.type, 1), ElfCode.UnsupportedType],
    ['ET_CORE', u16(b, E.type, 4), ElfCode.UnsupportedType],
    ['cut in the ELF header', b.subarray(0, 40), ElfCode.Truncated],
    ['e_shentsize 40', u16(b, E.shentsize, 40), ElfCode.BadHeaderSize],
    ['e_shoff past the end', u64(b, E.shoff, BigInt(b.length)), ElfCode.ShdrOutOfFile],
    ['e_shnum past the end', u16(b, E.shnum, 0x400), ElfCode.ShdrOutOfFile],
    ['e_shstrndx not a string table', u16(b, E.shstrndx, 1), ElfCode.BadStrtab],
    ['e_phnum 1 with e_phentsize 0', u16(b, E.phnum, 1), ElfCode.BadHeaderSize],
    ['sh_entsize 16', u64(b, symtab + S.entsize, 16n), ElfCode.BadSymtab],
    ['sh_size not whole entries', u64(b, symtab + S.size, 24n * 3n + 5n), ElfCode.BadSymtab],
    ['sh_link to a non-string table', u32(b, symtab + S.link, 1), ElfCode.BadSymtab],
    ['symtab past the end', u64(b, symtab + S.offset, BigInt(b.length)), ElfCode.ShdrOutOfFile],
  ];
  for (const [what, bytes, code] of cases) throwsCode(t, () => readElfSymbols(bytes), code, what);
  // a name offset past the string table
  const strtab = shdrAt(b, sectionOf(b, SHT.STRTAB));
  const dv = new DataView(b.buffer, b.byteOffset);
  const symOff = Number(dv.getBigUint64(symtab + S.offset, true));
  const strSize = Number(dv.getBigUint64(strtab + S.size, true));
  throwsCode(t, () => readElfSymbols(u32(b, symOff + 24, strSize + 10)), ElfCode.BadStrtab, 'a name past its table');
  throwsCode(t, () => readElfSymbols(b, { maxSymbols: 3 }), ElfCode.TooManySymbols, 'maxSymbols');
  throwsCode(t, () => readElfSymbols(b, { maxShdrs: 4 }), ElfCode.TooManyShdrs, 'maxShdrs');
  throwsCode(t, () => readElfSymbols(b, { maxTableBytes: 64 }), ElfCode.TooManySymbols, 'maxTableBytes');
  t.end();
});
