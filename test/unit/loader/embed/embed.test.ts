// embedRescue / extractEmbeddedRescue: the round trip, what stays unchanged, and every error
// code. Independent decoders (GNU binutils): `readelf -S -s -l -W` must show the `mfs`
// section (PROGBITS, flag A, inside the last LOAD) and both global symbols with no warning,
// and `objcopy --dump-section mfs=...` must give back the rescue ELF byte for byte. Hosts: the
// writeElf fixture kernel, and kernels linked by as + ld (amd64) and aarch64-linux-gnu-as + ld
// (arm64). Each binutils part skips only when its tools are not installed (fails under CI=true).
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KernelVa, Size } from '../../../../loader/addr.js';
import type { Arch } from '../../../../loader/arch/index.js';
import { ElfCode, ET, parseElf, STB, STT, writeElf, type ElfImage } from '../../../../loader/elf/index.js';
import { EmbedCode, embedRescue, extractEmbeddedRescue, RESCUE_SECTION } from '../../../../loader/embed/index.js';
import { throwsCode } from '../../../helpers/errors.js';
import { makeRescueKernel } from '../../../helpers/kernels.js';
import { freebsdKernelSpec, offsetsOf, patch } from '../elf/fixtures.js';
import { requireTool, type ToolName } from '../../../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'kboot-embed-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const TOOLS: { readonly [A in Arch]: { as: ToolName; ld: ToolName; readelf: ToolName; objcopy: ToolName } } = {
  amd64: { as: 'as', ld: 'ld', readelf: 'readelf', objcopy: 'objcopy' },
  arm64: {
    as: 'aarch64-linux-gnu-as',
    ld: 'aarch64-linux-gnu-ld',
    readelf: 'aarch64-linux-gnu-readelf',
    objcopy: 'aarch64-linux-gnu-objcopy',
  },
};

/** Checks an embedded host against the original host and the rescue bytes. */
function checkRoundTrip(t: Test, host: Uint8Array, rescue: Uint8Array, out: Uint8Array): void {
  const before = parseElf(host);
  const after = parseElf(out);
  const back = extractEmbeddedRescue(out);
  t.same(back.bytes, rescue, 'extract gives back the same bytes');
  t.equal(back.end - back.start, BigInt(rescue.length), '&rescue_end - &rescue_start is the file length');
  t.equal(back.start % 0x1000n, 0n, 'page aligned');
  const last = before.loadSegments[before.loadSegments.length - 1];
  t.ok(last);
  if (last === undefined) return;
  t.equal(back.segment, last.index, 'inside the last PT_LOAD');
  t.equal(after.phdrs.length, before.phdrs.length, 'no program header added');
  for (const p of before.phdrs) {
    const q = after.phdrs[p.index];
    if (p.index === last.index) {
      t.same(
        { ...q, filesz: 0n, memsz: 0n },
        { ...p, filesz: 0n, memsz: 0n },
        'the grown segment keeps its type, flags, offset, addresses and alignment',
      );
      t.equal(q?.filesz, q?.memsz, 'its BSS is file-backed now');
      t.ok((q?.memsz ?? 0n) >= p.memsz + BigInt(rescue.length), 'and it holds the rescue kernel');
    } else {
      t.same(q, p, `program header #${p.index} unchanged`);
    }
  }
  // e_shoff, e_shnum and the grown segment's p_filesz/p_memsz are the only bytes that change
  const end = Number(last.offset + last.filesz);
  const masked = (b: Uint8Array): Uint8Array => {
    const c = b.slice(0, end);
    const ph = offsetsOf(b).phdr(last.index, 'filesz');
    for (const [at, n] of [
      [40, 8],
      [60, 2],
      [ph, 16],
    ] as const)
      c.fill(0, at, at + n);
    return c;
  };
  t.same(masked(out), masked(host), 'every other byte before the old end of the last segment is unchanged');
  const bssStart = Number(last.offset + last.filesz);
  const bssEnd = Number(last.offset + last.memsz);
  t.ok(
    out.subarray(bssStart, bssEnd).every((b) => b === 0),
    'the old BSS is zeros',
  );
  t.equal(after.entry, before.entry);
  const names = (img: ElfImage): string[] => img.sections.map((s) => s.name);
  t.same(names(after), [...names(before), RESCUE_SECTION], 'sections kept in place, mfs appended');
  t.same(after.symbols.slice(0, before.symbols.length), before.symbols, 'old symbols unchanged');
  const mfs = after.sections[after.sections.length - 1];
  t.same(
    after.symbols.slice(before.symbols.length).map((s) => [s.name, s.value, s.size, s.type, s.bind, s.shndx]),
    [
      ['rescue_start', back.start, BigInt(rescue.length), STT.OBJECT, STB.GLOBAL, mfs?.index],
      ['rescue_end', back.end, 0n, STT.OBJECT, STB.GLOBAL, mfs?.index],
    ],
    'two global objects in mfs, as embedfs.S declares them',
  );
  for (const s of before.sections) {
    if (s.type === 8 || s.size === 0n || ['.symtab', '.strtab', '.shstrtab'].includes(s.name)) continue;
    const a = host.subarray(Number(s.offset), Number(s.offset + s.size));
    const s2 = after.sections[s.index];
    const b = s2 === undefined ? new Uint8Array(0) : out.subarray(Number(s2.offset), Number(s2.offset + s2.size));
    t.same(b, a, `section ${s.name} bytes unchanged`);
  }
}

/** readelf and objcopy on the embedded file. */
function checkWithBinutils(t: Test, arch: Arch, out: Uint8Array, rescue: Uint8Array, name: string): void {
  const tools = TOOLS[arch];
  const file = join(dir, `${name}.elf`);
  writeFileSync(file, out);
  const r = spawnSync(tools.readelf, ['-S', '-s', '-l', '-W', file], { encoding: 'utf8' });
  t.equal(r.status, 0, 'readelf exits 0');
  t.equal(r.stderr, '', 'readelf prints no warning');
  const back = extractEmbeddedRescue(out);
  const hex16 = (v: bigint): string => v.toString(16).padStart(16, '0');
  const sec = new RegExp(
    `\\]\\s+${RESCUE_SECTION}\\s+PROGBITS\\s+${hex16(back.start)}\\s+[0-9a-f]+\\s+0*${rescue.length.toString(16)}\\s+00\\s+A\\s`,
  );
  t.match(r.stdout, sec, 'readelf -S: mfs PROGBITS, flag A, at rescue_start, the rescue length');
  t.match(
    r.stdout,
    new RegExp(`${hex16(back.start)}\\s+${rescue.length}\\s+OBJECT\\s+GLOBAL\\s+DEFAULT\\s+\\d+\\s+rescue_start`),
    'readelf -s: rescue_start',
  );
  t.match(
    r.stdout,
    new RegExp(`${hex16(back.end)}\\s+0\\s+OBJECT\\s+GLOBAL\\s+DEFAULT\\s+\\d+\\s+rescue_end`),
    'readelf -s: rescue_end',
  );
  const mapping = r.stdout.split('Section to Segment mapping:')[1] ?? '';
  t.match(mapping, new RegExp(`\\s${RESCUE_SECTION}\\s*\\n`), 'readelf -l: mfs lies in a LOAD segment');
  const dump = join(dir, `${name}.mfs`);
  execFileSync(tools.objcopy, [`--dump-section`, `${RESCUE_SECTION}=${dump}`, file, join(dir, `${name}.copy`)]);
  t.same(new Uint8Array(readFileSync(dump)), rescue, 'objcopy --dump-section mfs gives the rescue ELF');
}

for (const arch of ['amd64', 'arm64'] as const) {
  t.test(`${arch}: fixture host round trip`, (t) => {
    const host = writeElf(freebsdKernelSpec(arch));
    const rescue = makeRescueKernel(arch);
    const out = embedRescue(host, rescue);
    checkRoundTrip(t, host, rescue, out);
    t.same(
      parseElf(extractEmbeddedRescue(out).bytes).loadSegments,
      parseElf(rescue).loadSegments,
      'the extracted ELF parses',
    );
    const tools = TOOLS[arch];
    t.test('binutils sees the section and both symbols', requireTool(tools.readelf, tools.objcopy), (t) => {
      checkWithBinutils(t, arch, out, rescue, `fixture-${arch}`);
      t.end();
    });
    t.end();
  });
}

const SOURCE: { readonly [A in Arch]: string } = {
  amd64: `\t.text\n\t.globl btext\nbtext:\n\tmovq $1, %rax\n1:\thlt\n\tjmp 1b\n\t.section .rodata\nmsg:\t.asciz "kboot"\n\t.data\n\t.globl counter\ncounter: .quad 42\n\t.bss\n\t.globl buf\nbuf:\t.space 0x2000\n`,
  arm64: `\t.text\n\t.globl _start\n_start:\n\tmov x1, #1\n1:\tb 1b\n\t.section .rodata\nmsg:\t.asciz "kboot"\n\t.data\n\t.globl counter\ncounter: .quad 42\n\t.bss\n\t.globl buf\nbuf:\t.space 0x2000\n`,
};
const BASE: { readonly [A in Arch]: string } = { amd64: '0xffffffff80200000', arm64: '0xffff000000000000' };
const ENTRY: { readonly [A in Arch]: string } = { amd64: 'btext', arm64: '_start' };

for (const arch of ['amd64', 'arm64'] as const) {
  const tools = TOOLS[arch];
  t.test(`${arch}: a host linked by binutils`, requireTool(...Object.values(tools)), (t) => {
    const src = join(dir, `host-${arch}.S`);
    const obj = join(dir, `host-${arch}.o`);
    const script = join(dir, `host-${arch}.ld`);
    const exe = join(dir, `host-${arch}`);
    writeFileSync(src, SOURCE[arch]);
    writeFileSync(
      script,
      `ENTRY(${ENTRY[arch]})\nPHDRS { text PT_LOAD FILEHDR PHDRS FLAGS(5); data PT_LOAD FLAGS(6); }\nSECTIONS {\n  . = ${BASE[arch]} + SIZEOF_HEADERS;\n  .text : { *(.text) } :text\n  .rodata : { *(.rodata) } :text\n  . = ALIGN(0x1000);\n  .data : { *(.data) } :data\n  .bss : { *(.bss) } :data\n}\n`,
    );
    execFileSync(tools.as, ['-o', obj, src]);
    execFileSync(tools.ld, ['-z', 'max-page-size=0x1000', '-T', script, '-o', exe, obj]);
    const host = new Uint8Array(readFileSync(exe));
    const rescue = makeRescueKernel(arch);
    const out = embedRescue(host, rescue);
    checkRoundTrip(t, host, rescue, out);
    checkWithBinutils(t, arch, out, rescue, `linked-${arch}`);
    t.end();
  });
}

t.test('errors', async (t) => {
  const host = writeElf(freebsdKernelSpec('amd64'));
  const rescue = makeRescueKernel('amd64');

  t.test('EMBED_NOT_RESCUE_KERNEL: the rescue ELF with e_type changed to ET_DYN', (t) => {
    const bad = patch(rescue, 16, 2, ET.DYN);
    const e = throwsCode(t, () => embedRescue(host, bad), EmbedCode.NotRescueKernel);
    const problems = e?.details['problems'];
    t.ok(
      Array.isArray(problems) && problems.some((p: { rule?: string }) => p.rule === 'elf-type'),
      'the lint problems are listed',
    );
    t.equal(e?.domain, 'elf');
    t.end();
  });
  t.test('EMBED_ARCH_MISMATCH: an arm64 rescue kernel for an amd64 host', (t) => {
    throwsCode(t, () => embedRescue(host, makeRescueKernel('arm64')), EmbedCode.ArchMismatch);
    t.end();
  });
  t.test('EMBED_ALREADY_EMBEDDED: embedding twice', (t) => {
    const once = embedRescue(host, rescue);
    throwsCode(t, () => embedRescue(once, rescue), EmbedCode.AlreadyEmbedded);
    t.end();
  });
  t.test('EMBED_NO_ROOM: loaded bytes after the last segment in the file', (t) => {
    const spec = freebsdKernelSpec('amd64');
    const withNote = writeElf({
      ...spec,
      segments: [
        ...spec.segments,
        { type: 'note', offset: 0x9000n as Size, notes: [{ name: 'x', type: 1, desc: new Uint8Array(4) }] },
      ],
    });
    throwsCode(t, () => embedRescue(withNote, rescue), EmbedCode.NoRoom);
    t.end();
  });
  t.test('EMBED_NO_ROOM: past the highest address the caller allows', (t) => {
    const e = throwsCode(
      t,
      () => embedRescue(host, rescue, { maxEnd: 0xffff_ffff_8020_8000n as KernelVa }),
      EmbedCode.NoRoom,
    );
    t.equal(e?.details['limit'], 0xffff_ffff_8020_8000n);
    t.end();
  });
  t.test('EMBED_BAD_HOST: no symbol table', (t) => {
    const spec = freebsdKernelSpec('amd64');
    const { symbols: _drop, ...noSyms } = spec;
    throwsCode(t, () => embedRescue(writeElf(noSyms), rescue), EmbedCode.BadHost);
    t.end();
  });
  t.test('EMBED_BAD_HOST: an SHT_SYMTAB_SHNDX table it would have to extend', (t) => {
    const spec = freebsdKernelSpec('amd64');
    const withShndx = writeElf({
      ...spec,
      sections: [...(spec.sections ?? []), { name: '.symtab_shndx', type: 18, data: new Uint8Array(4) }],
    });
    throwsCode(t, () => embedRescue(withShndx, rescue), EmbedCode.BadHost);
    t.end();
  });
  t.test('ElfError passes through for a host that is not ELF', (t) => {
    throwsCode(t, () => embedRescue(patch(host, 0, 1, 0), rescue), ElfCode.BadMagic);
    t.end();
  });
  t.test('EMBED_NOT_FOUND: a host without the symbols', (t) => {
    throwsCode(t, () => extractEmbeddedRescue(host), EmbedCode.NotEmbedded);
    t.end();
  });
  const spec = freebsdKernelSpec('amd64');
  const withSyms = (syms: { name: string; value: bigint }[]): Uint8Array =>
    writeElf({
      ...spec,
      symbols: [...(spec.symbols ?? []), ...syms.map((s) => ({ name: s.name, value: s.value as KernelVa }))],
    });
  const text = 0xffff_ffff_8020_1000n;
  t.test('EMBED_BAD_SYMBOLS: only rescue_start', (t) => {
    throwsCode(t, () => extractEmbeddedRescue(withSyms([{ name: 'rescue_start', value: text }])), EmbedCode.BadSymbols);
    t.end();
  });
  t.test('EMBED_BAD_SYMBOLS: rescue_end below rescue_start', (t) => {
    const b = withSyms([
      { name: 'rescue_start', value: text + 0x10n },
      { name: 'rescue_end', value: text },
    ]);
    throwsCode(t, () => extractEmbeddedRescue(b), EmbedCode.BadSymbols);
    t.end();
  });
  t.test('EMBED_BAD_SYMBOLS: the range is BSS, not file bytes', (t) => {
    const bss = 0xffff_ffff_8020_4000n;
    const b = withSyms([
      { name: 'rescue_start', value: bss },
      { name: 'rescue_end', value: bss + 0x100n },
    ]);
    throwsCode(t, () => extractEmbeddedRescue(b), EmbedCode.BadSymbols);
    t.end();
  });
  t.test('a range inside file bytes reads back (also from a parsed image)', (t) => {
    const b = withSyms([
      { name: 'rescue_start', value: text },
      { name: 'rescue_end', value: text + 0x10n },
    ]);
    const img = parseElf(b);
    t.equal(extractEmbeddedRescue(img).bytes.length, 0x10);
    t.equal(extractEmbeddedRescue(img).segment, 0);
    t.end();
  });
});
