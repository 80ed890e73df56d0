// writeElf: parseElf(writeElf(spec)) gives the spec back (examples and a property over random
// specs), placement rules (packed, linear, explicit, headers inside the first PT_LOAD), and
// ELF_BAD_WRITE_SPEC for each kind of spec it refuses.
import t from 'tap';
import fc from 'fast-check';
import type { KernelVa, PhysAddr, Size } from '../../../../loader/addr.js';
import { archInfo, type Arch } from '../../../../loader/arch/index.js';
import {
  ElfCode,
  encodeNotes,
  parseElf,
  PF,
  PT,
  SHT,
  STB,
  segmentBytes,
  writeElf,
  type ElfImage,
  type ElfSegmentSpec,
  type ElfWriteSpec,
} from '../../../../loader/elf/index.js';
import { throwsCode } from '../../../helpers/errors.js';
import { freebsdKernelSpec, pattern } from './fixtures.js';

const va = (v: bigint | number): KernelVa => BigInt(v) as KernelVa;
const sz = (v: bigint | number): Size => BigInt(v) as Size;

function segType(s: ElfSegmentSpec): number {
  return s.type === 'load' ? PT.LOAD : s.type === 'note' ? PT.NOTE : s.type;
}
function segData(s: ElfSegmentSpec): Uint8Array {
  if (s.notes !== undefined) return encodeNotes(s.notes, s.align === 8n ? 8 : 4);
  return s.data ?? new Uint8Array(0);
}

const show = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));

/** Every way `img` differs from what `spec` asked for (empty when it carries it all). */
function mismatches(img: ElfImage, spec: ElfWriteSpec): string[] {
  const out: string[] = [];
  const check = {
    equal: (got: unknown, want: unknown, what: string): void => {
      if (show(got) !== show(want)) out.push(`${what}: got ${show(got)}, want ${show(want)}`);
    },
    ok: (v: boolean, what: string): void => {
      if (!v) out.push(what);
    },
  };
  check.equal(img.arch, spec.arch, 'arch');
  check.equal(img.type, spec.type, 'type');
  check.equal(img.osabi, spec.osabi ?? 0, 'osabi');
  check.equal(img.flags, spec.flags ?? 0, 'e_flags');
  const wantEntry = spec.entry ?? 0n;
  check.equal(img.entry, wantEntry === 0n && spec.type !== 'exec' ? undefined : wantEntry, 'entry');
  check.equal(img.phdrs.length, spec.segments.length, 'phnum');
  spec.segments.forEach((s, i) => {
    const p = img.phdrs[i];
    if (p === undefined) return;
    const data = segData(s);
    const type = segType(s);
    check.equal(
      [p.type, p.flags, p.vaddr, p.paddr, p.filesz, p.memsz],
      [
        type,
        s.flags ?? PF.R,
        s.vaddr ?? 0n,
        s.paddr ?? s.vaddr ?? 0n,
        BigInt(data.length),
        s.memsz ?? BigInt(data.length),
      ],
      `segment #${i} fields`,
    );
    const defAlign = type === PT.LOAD ? archInfo(spec.arch).pageSize : type === PT.NOTE ? 4n : 1n;
    check.equal(p.align, s.align ?? defAlign, `segment #${i} align`);
    if (s.offset !== undefined) check.equal(p.offset, s.offset, `segment #${i} offset`);
    const got = segmentBytes(img, p);
    const skip =
      p.offset < 0x40n + 56n * BigInt(spec.segments.length) ? 0x40 + 56 * spec.segments.length - Number(p.offset) : 0;
    check.ok(
      Buffer.from(got.subarray(skip)).equals(Buffer.from(data.subarray(skip))),
      `segment #${i} bytes${skip > 0 ? ' (after the headers)' : ''}`,
    );
  });
  const secs = spec.sections ?? [];
  secs.forEach((s, i) => {
    const got = img.sections[i + 1];
    const type =
      typeof s.type === 'number' ? s.type : { progbits: SHT.PROGBITS, note: SHT.NOTE, nobits: SHT.NOBITS }[s.type];
    const size = s.data?.length ?? (s.notes !== undefined ? encodeNotes(s.notes).length : Number(s.size ?? 0n));
    check.equal(
      got === undefined
        ? undefined
        : [got.name, got.type, got.flags, got.addr, got.size, got.link, got.info, got.addralign, got.entsize],
      [
        s.name,
        type,
        s.flags ?? 0n,
        s.addr ?? 0n,
        BigInt(size),
        s.link ?? 0,
        s.info ?? 0,
        s.addralign ?? 1n,
        s.entsize ?? 0n,
      ],
      `section ${s.name}`,
    );
  });
  if (spec.symbols !== undefined) {
    const want = [
      ...spec.symbols.filter((s) => (s.bind ?? STB.GLOBAL) === STB.LOCAL),
      ...spec.symbols.filter((s) => (s.bind ?? STB.GLOBAL) !== STB.LOCAL),
    ].map((s) => [s.name, s.value, s.size ?? 0n, s.type ?? 0, s.bind ?? STB.GLOBAL, s.other ?? 0, s.shndx ?? 0xfff1]);
    check.equal(
      img.symbols.map((s) => [s.name, s.value, s.size, s.type, s.bind, s.other, s.shndx]),
      want,
      'symbols (locals first)',
    );
  } else {
    check.equal(img.symbolSource, 'none', 'no symbol table');
  }
  const wantNotes = spec.segments.flatMap((s) => s.notes ?? []);
  check.equal(
    img.notes.slice(0, wantNotes.length).map((n) => [n.name, n.type, [...n.desc]]),
    wantNotes.map((n) => [n.name, n.type, [...n.desc]]),
    'notes',
  );
  return out;
}

t.test('round trip: the FreeBSD-layout kernels', (t) => {
  for (const arch of ['amd64', 'arm64'] as const) {
    const spec = freebsdKernelSpec(arch);
    const bytes = writeElf(spec);
    const img = parseElf(bytes);
    t.test(arch, (t) => {
      t.same(mismatches(img, spec), [], 'matches the spec');
      const text = img.loadSegments[0];
      t.equal(text?.offset, 0n, 'the first PT_LOAD starts at file offset 0 and holds the headers');
      t.equal(bytes[0], 0x7f);
      t.equal(img.loadSegments[1]?.offset, 0x3000n, 'linear layout: offset = vaddr - KERNSTART');
      t.end();
    });
  }
  t.end();
});

t.test('round trip: packed layout keeps offset ≡ vaddr (mod align); ET_CORE with notes', (t) => {
  const spec: ElfWriteSpec = {
    arch: 'arm64',
    type: 'core',
    flags: 0x10,
    segments: [
      {
        type: 'note',
        align: 8n as Size,
        notes: [
          { name: 'CORE', type: 1, desc: pattern(0x150, 3) },
          { name: '', type: 2, desc: new Uint8Array(0) },
        ],
      },
      {
        type: 'load',
        flags: PF.R | PF.W,
        vaddr: va(0x4000_0123),
        paddr: 0x4000_0123n as PhysAddr,
        data: pattern(0x2345, 4),
        align: sz(0x10000),
      },
      { type: 'load', flags: PF.R, vaddr: va(0x8000_0000), memsz: sz(0x10000), align: sz(0x1000) },
    ],
  };
  const img = parseElf(writeElf(spec));
  t.same(mismatches(img, spec), [], 'matches the spec');
  for (const p of img.loadSegments) t.equal((p.vaddr - p.offset) % p.align, 0n, `#${p.index} congruent`);
  t.end();
});

const archArb = fc.constantFrom<Arch>('amd64', 'arm64');
const name = fc.string({ minLength: 0, maxLength: 12 }).filter((s) => !s.includes('\0'));

const specArb: fc.Arbitrary<ElfWriteSpec> = fc
  .record({
    arch: archArb,
    type: fc.constantFrom('exec' as const, 'dyn' as const, 'core' as const),
    osabi: fc.constantFrom(0, 9),
    base: fc.bigInt({ min: 0n, max: (1n << 60n) - 1n }).map((b) => b & ~0xffffn),
    segs: fc.array(
      fc.record({
        gap: fc.integer({ min: 0, max: 0x40 }),
        len: fc.integer({ min: 0, max: 300 }),
        bss: fc.integer({ min: 0, max: 0x3000 }),
        flags: fc.integer({ min: 0, max: 7 }),
        align: fc.constantFrom(1n, 0x1000n, 0x10000n),
        seed: fc.integer({ min: 1, max: 1000 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    notes: fc.array(fc.record({ name, type: fc.nat(0xffffffff), desc: fc.uint8Array({ maxLength: 40 }) }), {
      maxLength: 3,
    }),
    sections: fc.array(fc.record({ name, data: fc.uint8Array({ maxLength: 64 }), align: fc.constantFrom(1n, 8n) }), {
      maxLength: 3,
    }),
    symbols: fc.option(
      fc.array(
        fc.record({
          name,
          value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          size: fc.bigInt({ min: 0n, max: 0xffffn }),
          type: fc.integer({ min: 0, max: 6 }),
          bind: fc.integer({ min: 0, max: 2 }),
          shndx: fc.constantFrom(0, 1, 0xfff1),
        }),
        { maxLength: 8 },
      ),
      { nil: undefined },
    ),
  })
  .map((r) => {
    let cursor = r.base;
    const segments: ElfSegmentSpec[] = r.segs.map((s, i) => {
      const vaddr = cursor + BigInt(s.gap) * 0x1000n;
      const len = i === 0 ? Math.max(1, s.len) : s.len;
      const memsz = BigInt(len + s.bss);
      cursor = vaddr + memsz + 0x1000n;
      return {
        type: 'load' as const,
        flags: i === 0 ? PF.R | PF.X : s.flags,
        vaddr: va(vaddr),
        data: pattern(len, s.seed),
        memsz: sz(memsz),
        align: sz(s.align),
      };
    });
    if (r.notes.length > 0) segments.push({ type: 'note', notes: r.notes });
    const first = segments[0];
    const spec: ElfWriteSpec = {
      arch: r.arch,
      type: r.type,
      osabi: r.osabi,
      ...(r.type === 'exec' && first?.vaddr !== undefined ? { entry: first.vaddr } : {}),
      segments,
      sections: r.sections.map((s) => ({
        name: s.name,
        type: 'progbits' as const,
        data: s.data,
        addralign: sz(s.align),
      })),
      ...(r.symbols === undefined
        ? {}
        : {
            symbols: [
              ...r.symbols.filter((s) => s.bind === STB.LOCAL),
              ...r.symbols.filter((s) => s.bind !== STB.LOCAL),
            ].map((s) => ({ ...s, value: va(s.value), size: sz(s.size) })),
          }),
    };
    return spec;
  });

t.test('round trip property: parseElf(writeElf(x)) matches x (300 random specs)', (t) => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const diff = mismatches(parseElf(writeElf(spec)), spec);
      if (diff.length > 0) throw new Error(diff.join('\n'));
    }),
    { numRuns: 300 },
  );
  t.pass('held for 300 specs');
  t.end();
});

t.test('segments may share file bytes when they agree', (t) => {
  const data = pattern(0x100, 9);
  const img = parseElf(
    writeElf({
      arch: 'amd64',
      type: 'exec',
      entry: va(0x10_0000),
      segments: [
        { type: 'load', flags: PF.R | PF.X, vaddr: va(0x10_0000), offset: sz(0x1000), data, align: sz(0x1000) },
        { type: PT.GNU_EH_FRAME, vaddr: va(0x10_0010), offset: sz(0x1010), data: data.subarray(0x10, 0x20) },
      ],
    }),
  );
  t.equal(img.phdrs[1]?.offset, 0x1010n);
  t.end();
});

t.test('ELF_BAD_WRITE_SPEC for every spec the writer refuses', (t) => {
  const base = freebsdKernelSpec('amd64');
  const load = (over: Partial<ElfSegmentSpec>): ElfWriteSpec => ({
    arch: 'amd64',
    type: 'exec',
    entry: va(0x40_1000),
    segments: [{ type: 'load', flags: PF.R | PF.X, vaddr: va(0x40_1000), data: new Uint8Array(16), ...over }],
  });
  const cases: [string, () => unknown][] = [
    ['memsz below the data', () => writeElf(load({ memsz: sz(8) }))],
    ['align not a power of two', () => writeElf(load({ align: sz(0x3000) }))],
    ['explicit offset not congruent to vaddr', () => writeElf(load({ offset: sz(0x2800) }))],
    ['both data and notes', () => writeElf(load({ notes: [] }))],
    ['entry wider than 64 bits', () => writeElf({ ...load({}), entry: va(1n << 64n) })],
    ['p_flags wider than 32 bits', () => writeElf(load({ flags: 2 ** 32 }))],
    [
      'header bytes under a segment are not zero',
      () =>
        writeElf({
          ...base,
          segments: [{ ...base.segments[0], data: pattern(0x3000, 5) } as ElfSegmentSpec, ...base.segments.slice(1)],
        }),
    ],
    [
      'overlapping segments disagree',
      () =>
        writeElf({
          ...base,
          segments: [...base.segments.slice(0, 2), { type: 'note', offset: sz(0x2000), data: pattern(0x20, 6) }],
        }),
    ],
    ['linear base above a PT_LOAD', () => writeElf({ ...load({}), layout: { linearBase: va(0x50_0000) } })],
    [
      'note name with a NUL',
      () =>
        writeElf({
          arch: 'amd64',
          type: 'core',
          segments: [{ type: 'note', notes: [{ name: 'a\0b', type: 1, desc: new Uint8Array(0) }] }],
        }),
    ],
    [
      'symbol binding wider than a nibble',
      () => writeElf({ ...load({}), symbols: [{ name: 's', value: va(0), bind: 16 }] }),
    ],
    ['section name with a NUL', () => writeElf({ ...load({}), sections: [{ name: 'x\0', type: 'progbits' }] })],
    [
      'section in a missing segment',
      () => writeElf({ ...load({}), sections: [{ name: '.t', type: 'progbits', inSegment: 3 }] }),
    ],
    [
      'section outside its segment',
      () =>
        writeElf({
          ...load({}),
          sections: [{ name: '.t', type: 'progbits', inSegment: 0, addr: va(0x40_1008), size: sz(16) }],
        }),
    ],
    [
      'SHT_NOBITS with data',
      () => writeElf({ ...load({}), sections: [{ name: '.bss', type: 'nobits', data: Uint8Array.of(1) }] }),
    ],
    [
      'in-segment section with data',
      () =>
        writeElf({
          ...load({}),
          sections: [{ name: '.t', type: 'progbits', inSegment: 0, addr: va(0x40_1000), data: Uint8Array.of(1) }],
        }),
    ],
    [
      'section with data and notes',
      () => writeElf({ ...load({}), sections: [{ name: '.n', type: 'note', data: Uint8Array.of(1), notes: [] }] }),
    ],
  ];
  for (const [what, fn] of cases) throwsCode(t, fn, ElfCode.BadWriteSpec, what);
  t.end();
});
