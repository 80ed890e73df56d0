// Fuzz contract of parseElf: whatever the bytes, it returns an image or throws ElfError —
// never TypeError/RangeError or another domain's error. Random bytes, random bytes behind a
// valid ELF header, and good ELF files (written by writeElf) with bytes, fields or the length
// changed. When a mutant parses, the rescue lint and the inspect report must not throw either.
import t from 'tap';
import fc from 'fast-check';
import type { KernelVa, Size } from '../../loader/addr.js';
import {
  Elf64Ehdr,
  Elf64Nhdr,
  Elf64Phdr,
  Elf64Shdr,
  ElfError,
  lintRescueKernel,
  parseElf,
  PF,
  writeElf,
} from '../../loader/elf/index.js';
import { inspectReport } from '../../cli/commands/inspect.js';
import { freebsdKernelSpec, offsetsOf, pattern } from '../unit/loader/elf/fixtures.js';

const goods: readonly Uint8Array[] = [
  writeElf(freebsdKernelSpec('amd64')),
  writeElf(freebsdKernelSpec('arm64')),
  writeElf({
    arch: 'amd64',
    type: 'core',
    segments: [
      { type: 'note', align: 8n as Size, notes: [{ name: 'CORE', type: 1, desc: pattern(0x40, 7) }] },
      { type: 'load', flags: PF.R | PF.W, vaddr: 0x1000n as KernelVa, data: pattern(0x200, 8), align: 0x1000n as Size },
    ],
  }),
  writeElf({
    arch: 'arm64',
    type: 'dyn',
    segments: [{ type: 'load', flags: PF.R | PF.X, data: pattern(0x100, 9) }],
    symbols: [{ name: 'f', value: 0x10n as KernelVa, size: 4n as Size, type: 2 }],
  }),
];

/** parseElf under the fuzz contract; false if anything but an ElfError escaped. */
function holds(bytes: Uint8Array): boolean {
  let img;
  try {
    img = parseElf(bytes);
  } catch (e) {
    if (e instanceof ElfError) return true;
    throw e; // fast-check reports and shrinks it
  }
  if (img.symbols.length !== img.symbolCount) throw new Error('symbolCount disagrees with symbols');
  const lint = lintRescueKernel(img);
  JSON.stringify(inspectReport('fuzz', img, lint));
  return true;
}

/** Offsets of every header field in a good file: where a mutation does the most damage. */
function fieldOffsets(bytes: Uint8Array): { at: number; width: 1 | 2 | 4 | 8 }[] {
  const o = offsetsOf(bytes);
  const widthOf = (kind: string): 1 | 2 | 4 | 8 => (kind === 'u8' ? 1 : kind === 'u16' ? 2 : kind === 'u32' ? 4 : 8);
  const out: { at: number; width: 1 | 2 | 4 | 8 }[] = [];
  const addStruct = (base: number, layout: { fields: readonly { kind: string; size: number }[] }): void => {
    let at = base;
    for (const f of layout.fields) {
      if (f.kind !== 'pad' && f.kind !== 'bytes' && at + f.size <= bytes.length)
        out.push({ at, width: widthOf(f.kind) });
      at += f.size;
    }
  };
  addStruct(0, Elf64Ehdr);
  const phnum = new DataView(bytes.buffer, bytes.byteOffset).getUint16(Elf64Ehdr.offsets.phnum, true);
  for (let i = 0; i < phnum; i++) addStruct(o.phoff + i * Elf64Phdr.size, Elf64Phdr);
  for (let i = 0; i < o.shnum; i++) addStruct(o.shoff + i * Elf64Shdr.size, Elf64Shdr);
  return out;
}
const fields = goods.map(fieldOffsets);

const extreme = fc.oneof(
  fc.constantFrom(0n, 1n, 0x7fn, 0xffn, 0xffffn, 0xffff_ffffn, (1n << 63n) - 1n, (1n << 64n) - 1n, 0x40n, 0x38n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.bigInt({ min: 0n, max: 0x1_0000n }),
);

t.test('random bytes (2000 runs)', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1024 }), holds), { numRuns: 2000 });
  t.pass('only ElfError escaped');
  t.end();
});

t.test('random bytes behind a valid ELF header (2000 runs)', (t) => {
  const head = (goods[0] ?? new Uint8Array(0)).subarray(0, Elf64Ehdr.size);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), fc.integer({ min: 0, max: 3 }), (tail, g) => {
      const good = goods[g] ?? head;
      const b = new Uint8Array(Elf64Ehdr.size + tail.length);
      b.set(good.subarray(0, Elf64Ehdr.size));
      b.set(tail, Elf64Ehdr.size);
      return holds(b);
    }),
    { numRuns: 2000 },
  );
  t.pass('only ElfError escaped');
  t.end();
});

t.test('good files with random bytes changed (2000 runs)', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: goods.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      (g, edits) => {
        const b = (goods[g] ?? new Uint8Array(0)).slice();
        for (const [pos, v] of edits) b[pos % b.length] = v;
        return holds(b);
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('only ElfError escaped');
  t.end();
});

t.test('good files with header fields set to extreme values (3000 runs)', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: goods.length - 1 }),
      fc.array(fc.tuple(fc.nat(), extreme), { minLength: 1, maxLength: 3 }),
      (g, edits) => {
        const b = (goods[g] ?? new Uint8Array(0)).slice();
        const fs = fields[g] ?? [];
        const dv = new DataView(b.buffer);
        for (const [k, v] of edits) {
          const f = fs[k % fs.length];
          if (f === undefined) continue;
          if (f.width === 1) dv.setUint8(f.at, Number(v & 0xffn));
          else if (f.width === 2) dv.setUint16(f.at, Number(v & 0xffffn), true);
          else if (f.width === 4) dv.setUint32(f.at, Number(v & 0xffff_ffffn), true);
          else dv.setBigUint64(f.at, v, true);
        }
        return holds(b);
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('only ElfError escaped');
  t.end();
});

t.test('good files cut short or with note headers changed (1500 runs)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: goods.length - 1 }), fc.nat(), fc.nat(), extreme, (g, cut, noteField, v) => {
      const good = goods[g] ?? new Uint8Array(0);
      if (!holds(good.subarray(0, cut % (good.length + 1)))) return false;
      // the fixtures' first note sits at 0x2000 (kernels) or right after the headers (core)
      const noteAt = g < 2 ? 0x2000 : 0x40 + 2 * Elf64Phdr.size;
      const b = good.slice();
      const names = ['namesz', 'descsz', 'type'] as const;
      const at = noteAt + Elf64Nhdr.offsets[names[noteField % names.length] ?? 'namesz'];
      if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, Number(v & 0xffff_ffffn), true);
      return holds(b);
    }),
    { numRuns: 1500 },
  );
  t.pass('only ElfError escaped');
  t.end();
});
