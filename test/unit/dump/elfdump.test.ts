// dump/elfdump.ts: the FreeBSD full-dump ELF layout of dumpsys_generic() (sys/kern/kern_dump.c)
// checked byte by byte at the Elf64_Ehdr / Elf64_Phdr offsets of sys/sys/elf64.h
// (hand-written offsets here, not the layout declarations), read back with openElfDump, and
// the writer's and reader's errors. readelf and gdb-multiarch read the same files in
// test/external/gdb-dump.test.ts.
import t from 'tap';
import { openElfDump, planElfDump } from '../../../dump/elfdump.js';
import { DumpCode } from '../../../dump/errors.js';
import { throwsCode } from '../../helpers/errors.js';

const mem = new Uint8Array(0x40_0000).map((_, i) => (i * 2654435761) >>> 24);
const readPhys = (pa: bigint, len: number): Uint8Array => mem.slice(Number(pa), Number(pa) + len);
const ranges = [
  [0x1000n, 0x9f000n],
  [0x10_0000n, 0x40_0000n],
] as const;

for (const [arch, em] of [
  ['amd64', 62],
  ['arm64', 183],
] as const) {
  t.test(`${arch} full dump header bytes`, (t) => {
    const plan = planElfDump({ arch, ranges, readPhys });
    const h = plan.headerBytes;
    const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
    t.same([...h.subarray(0, 8)], [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 255], 'e_ident: ELF64 LSB EV_CURRENT STANDALONE');
    t.same([...h.subarray(8, 16)], [0, 0, 0, 0, 0, 0, 0, 0]);
    t.equal(dv.getUint16(16, true), 4, 'e_type ET_CORE');
    t.equal(dv.getUint16(18, true), em, 'e_machine');
    t.equal(dv.getUint32(20, true), 0, 'e_version left 0 as the kernel does');
    t.equal(dv.getBigUint64(24, true), 0n, 'e_entry');
    t.equal(dv.getBigUint64(32, true), 64n, 'e_phoff');
    t.equal(dv.getBigUint64(40, true), 0n, 'e_shoff');
    t.equal(dv.getUint32(48, true), 0, 'e_flags');
    t.equal(dv.getUint16(52, true), 64, 'e_ehsize');
    t.equal(dv.getUint16(54, true), 56, 'e_phentsize');
    t.equal(dv.getUint16(56, true), 2, 'e_phnum');
    t.equal(dv.getUint16(58, true), 64, 'e_shentsize');
    t.equal(dv.getUint16(60, true), 0, 'e_shnum');
    const want = [
      { off: 0x1000n, pa: 0x1000n, sz: 0x9e000n },
      { off: 0x9f000n, pa: 0x10_0000n, sz: 0x30_0000n },
    ];
    want.forEach((w, i) => {
      const p = 64 + i * 56;
      t.equal(dv.getUint32(p, true), 1, 'p_type PT_LOAD');
      t.equal(dv.getUint32(p + 4, true), 4, 'p_flags PF_R');
      t.equal(dv.getBigUint64(p + 8, true), w.off, 'p_offset (first at MD_ALIGN(headers))');
      t.equal(dv.getBigUint64(p + 16, true), w.pa, 'p_vaddr = PA');
      t.equal(dv.getBigUint64(p + 24, true), w.pa, 'p_paddr = PA');
      t.equal(dv.getBigUint64(p + 32, true), w.sz, 'p_filesz');
      t.equal(dv.getBigUint64(p + 40, true), w.sz, 'p_memsz');
      t.equal(dv.getBigUint64(p + 48, true), 0x1000n, 'p_align PAGE_SIZE');
    });
    t.equal(h.length, 0x1000, 'headers padded to a page');
    t.ok(
      h.subarray(64 + 2 * 56).every((b) => b === 0),
      'zero gap',
    );
    t.equal(plan.size, 0x1000n + 0x9e000n + 0x30_0000n);

    const file = Buffer.concat([...plan.chunks(0x3000)]);
    t.equal(BigInt(file.length), plan.size, 'stream length = size computed up front');
    const d = openElfDump(file);
    t.equal(d.arch, arch);
    t.same(Buffer.from(d.readPa(0x9e000n, 0x1000)), Buffer.from(mem.subarray(0x9e000, 0x9f000)));
    t.same(Buffer.from(d.readPa(0x10_0ff0n, 0x2020)), Buffer.from(mem.subarray(0x10_0ff0, 0x10_3010)), 'across pages');
    throwsCode(t, () => d.readPa(0x9f000n, 8), DumpCode.NotDumped, 'the hole between ranges');
    throwsCode(t, () => d.readPa(0x9eff8n, 16), DumpCode.NotDumped, 'a read running into the hole');
    throwsCode(t, () => openElfDump(file.subarray(0, 0x40)), DumpCode.Truncated, 'cut inside the program headers');
    const cut = openElfDump(file.subarray(0, 0x2800)); // inside the first range's second page
    t.same(cut.missing, [
      { pa: 0x2000n, end: 0x9f000n, offset: 0x2000n },
      { pa: 0x10_0000n, end: 0x40_0000n, offset: 0x9f000n },
    ]);
    t.equal(cut.expectedSize, plan.size);
    t.same(Buffer.from(cut.readPa(0x1000n, 0x1000)), Buffer.from(mem.subarray(0x1000, 0x2000)), 'the present page');
    const e = throwsCode(t, () => cut.readPa(0x1ff8n, 16), DumpCode.PageMissing, 'a read into the partly present page');
    t.same(e?.details, { pa: 0x2000n, offset: 0x2000n, fileSize: 0x2800 });
    t.end();
  });
}

t.test('writer refuses ranges it cannot lay out', (t) => {
  const bad: (readonly (readonly [bigint, bigint])[])[] = [
    [],
    [[0x1001n, 0x2000n]],
    [[0x2000n, 0x2000n]],
    [
      [0x4000n, 0x5000n],
      [0x1000n, 0x2000n],
    ],
  ];
  for (const r of bad) throwsCode(t, () => planElfDump({ arch: 'amd64', ranges: r, readPhys }), DumpCode.BadParams);
  t.end();
});

t.test('reader refuses what is not a FreeBSD-style core', (t) => {
  const plan = planElfDump({ arch: 'amd64', ranges: [[0x1000n, 0x2000n]], readPhys });
  const file = Buffer.concat([...plan.chunks()]);
  const mut = (at: number, v: number): Buffer => {
    const b = Buffer.from(file);
    b[at] = v;
    return b;
  };
  throwsCode(t, () => openElfDump(mut(0, 0)), DumpCode.BadMagic);
  throwsCode(t, () => openElfDump(mut(4, 1)), DumpCode.NotCore, 'ELF32');
  throwsCode(t, () => openElfDump(mut(16, 2)), DumpCode.NotCore, 'ET_EXEC');
  throwsCode(t, () => openElfDump(mut(18, 3)), DumpCode.UnknownArch, 'EM_386');
  throwsCode(t, () => openElfDump(mut(56, 0)), DumpCode.BadPhdrs, 'no program headers');
  throwsCode(t, () => openElfDump(file.subarray(0, 40)), DumpCode.Truncated);
  throwsCode(t, () => openElfDump(file).readPa(0x1000n, -1), DumpCode.TooLarge);
  t.end();
});
