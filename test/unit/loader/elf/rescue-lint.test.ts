// lintRescueKernel: a FreeBSD-layout kernel passes on both arches; each rule fails on a kernel
// changed in one way, and several failures are reported together.
import t from 'tap';
import type { KernelVa, Size } from '../../../../loader/addr.js';
import { archInfo } from '../../../../loader/arch/index.js';
import {
  lintRescueKernel,
  parseElf,
  PF,
  RESCUE_RULES,
  writeElf,
  type ElfSegmentSpec,
  type ElfWriteSpec,
  type RescueLint,
} from '../../../../loader/elf/index.js';
import { freebsdKernelSpec, K, pattern } from './fixtures.js';

const va = (v: bigint): KernelVa => v as KernelVa;
const sz = (v: bigint | number): Size => BigInt(v) as Size;
const lint = (spec: ElfWriteSpec): RescueLint => lintRescueKernel(parseElf(writeElf(spec)));
const rules = (l: RescueLint): string[] => [...new Set(l.problems.map((p) => p.rule))].sort();

/** The fixture with segment `i` replaced by `seg(old)`. */
function withSegment(spec: ElfWriteSpec, i: number, seg: (old: ElfSegmentSpec) => ElfSegmentSpec): ElfWriteSpec {
  return { ...spec, segments: spec.segments.map((s, j) => (j === i ? seg(s) : s)) };
}

t.test('a FreeBSD-layout kernel passes on both arches', (t) => {
  for (const arch of ['amd64', 'arm64'] as const) {
    const l = lint(freebsdKernelSpec(arch));
    const ks = archInfo(arch).kernstart;
    t.same(l.problems, [], `${arch}: no problems`);
    t.equal(l.ok, true);
    t.equal(l.arch, arch);
    t.same(l.kernelVaSpan, { start: ks, end: ks + BigInt(K.dataOff + K.dataMem) }, `${arch}: VA span`);
    t.equal(l.memEnd, BigInt(K.dataOff + K.dataMem), `${arch}: memEnd = max(p_offset + p_memsz)`);
    t.ok(l.footprint >= l.memEnd && l.footprint >= l.fileSize && l.footprint % 0x1000n === 0n, 'footprint');
    t.ok(Object.isFrozen(l));
  }
  t.end();
});

t.test("'elf-type': an ET_DYN kernel", (t) => {
  const l = lint({ ...freebsdKernelSpec('amd64'), type: 'dyn' });
  t.same(rules(l), ['elf-type']);
  t.match(l.problems[0]?.message, /^elf: .*\(this file is ET_DYN, e_type 0x3\)$/);
  t.equal(l.ok, false);
  t.end();
});

t.test("'file-layout': a data segment whose address moved by 2 MiB", (t) => {
  // (without section headers: .data/.bss would no longer lie inside the moved segment)
  const { sections: _sections, ...kernel } = freebsdKernelSpec('amd64');
  const spec = withSegment(kernel, 1, (s) => ({
    ...s,
    vaddr: va((s.vaddr ?? 0n) + 0x20_0000n),
    offset: sz(K.dataOff),
  }));
  const l = lint(spec);
  t.same(rules(l), ['file-layout']);
  const p = l.problems[0];
  t.equal(p?.details['index'], 1);
  t.match(p?.message, /needed p_offset 0x203000\)$/);
  t.end();
});

t.test("'link-address': arm64 BSS running past VM_MAX_KERNEL_ADDRESS", (t) => {
  const info = archInfo('arm64');
  const spec = withSegment(freebsdKernelSpec('arm64'), 1, (s) => ({
    ...s,
    memsz: sz(info.vmMaxKernelAddress - (s.vaddr ?? 0n) + 0x1000n),
  }));
  const l = lint(spec);
  t.same(rules(l), ['link-address', 'reservation-size'], 'and it cannot fit a reservation either');
  t.match(
    l.problems.find((p) => p.rule === 'link-address')?.message,
    /range \[0xffff000000000000, 0xffff008000000000\)\)$/,
  );
  t.end();
});

t.test("'entry-in-text': entry in the BSS tail of the text segment", (t) => {
  const ks = archInfo('arm64').kernstart;
  const spec: ElfWriteSpec = {
    arch: 'arm64',
    type: 'exec',
    entry: va(ks + 0x3800n),
    layout: { linearBase: ks },
    segments: [
      { type: 'load', flags: PF.R | PF.X, vaddr: ks, data: new Uint8Array(0x3000), memsz: sz(0x4000) },
      { type: 'load', flags: PF.R | PF.W, vaddr: va(ks + 0x4000n), data: pattern(0x100, 1) },
    ],
  };
  const l = lint(spec);
  t.same(rules(l), ['entry-in-text']);
  t.match(l.problems[0]?.message, /e_entry 0xffff000000003800; #0 \[0xffff000000000000, 0xffff000000003000\)\)$/);
  t.end();
});

t.test("'bss-overlap': an ordinary link whose text BSS covers the data's file bytes", (t) => {
  const spec: ElfWriteSpec = {
    arch: 'amd64',
    type: 'exec',
    entry: va(0x40_0100n),
    segments: [
      {
        type: 'load',
        flags: PF.R | PF.X,
        vaddr: va(0x40_0000n),
        offset: sz(0x1000),
        data: pattern(0x1000, 2),
        memsz: sz(0x3000),
      },
      { type: 'load', flags: PF.R | PF.W, vaddr: va(0x40_3000n), offset: sz(0x2000), data: pattern(0x800, 3) },
    ],
  };
  const l = lint(spec);
  t.same(rules(l), ['bss-overlap', 'file-layout', 'link-address'], 'every failed rule at once');
  const bss = l.problems.find((p) => p.rule === 'bss-overlap');
  t.match(bss?.message, /BSS \[0x2000, 0x4000\), #1 file bytes \[0x2000, 0x2800\)\)$/);
  t.equal(l.problems.filter((p) => p.rule === 'file-layout').length, 2, 'one problem per segment');
  t.end();
});

t.test("'load-alignment': arm64 text asking for 4 MiB alignment", (t) => {
  const spec = withSegment(freebsdKernelSpec('arm64'), 0, (s) => ({ ...s, align: sz(0x40_0000) }));
  const l = lint(spec);
  t.same(rules(l), ['load-alignment']);
  t.equal(l.problems[0]?.details['align'], 0x40_0000n);
  t.end();
});

t.test("'reservation-size': 1 GiB of BSS", (t) => {
  const spec = withSegment(freebsdKernelSpec('arm64'), 1, (s) => ({ ...s, memsz: sz(0x4000_0000) }));
  const l = lint(spec);
  t.same(rules(l), ['reservation-size']);
  t.equal(l.memEnd, BigInt(K.dataOff) + 0x4000_0000n);
  t.end();
});

t.test('all seven rules fail together, each reported', (t) => {
  const spec: ElfWriteSpec = {
    arch: 'arm64',
    type: 'dyn',
    segments: [
      {
        type: 'load',
        flags: PF.R | PF.X,
        vaddr: va(0x40_0000n),
        offset: sz(0),
        data: new Uint8Array(0x1000),
        memsz: sz(0x4000_0000),
        align: sz(0x40_0000),
      },
      { type: 'load', flags: PF.R | PF.W, vaddr: va(0x4040_1000n), offset: sz(0x1000), data: pattern(0x800, 4) },
    ],
  };
  const l = lint(spec);
  t.same(rules(l), [...RESCUE_RULES].sort());
  t.same([...RESCUE_RULES].sort(), [
    'bss-overlap',
    'elf-type',
    'entry-in-text',
    'file-layout',
    'link-address',
    'load-alignment',
    'reservation-size',
  ]);
  for (const p of l.problems) t.match(p.message, /^elf: .*\(.*0x[0-9a-f]+.*\)$/, `${p.rule}: facts in hex`);
  t.end();
});

t.test('an ET_CORE without PT_LOAD is linted without throwing', (t) => {
  const core = lintRescueKernel(
    parseElf(
      writeElf({
        arch: 'amd64',
        type: 'core',
        segments: [{ type: 'note', notes: [{ name: 'CORE', type: 1, desc: new Uint8Array(4) }] }],
      }),
    ),
  );
  t.same(rules(core), ['elf-type', 'entry-in-text']);
  const ks = archInfo('amd64').kernstart;
  t.same(core.kernelVaSpan, { start: ks, end: ks });
  t.equal(core.memEnd, 0n);
  t.end();
});
