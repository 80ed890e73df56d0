/**
 * ELF fixtures for the elf tests, generated with writeElf (no binary files in the tree).
 *
 * `freebsdKernelSpec(arch)` is a small kernel laid out as FreeBSD links one and as the rescue
 * hand-off needs it (freebsd-handoff.md §8.3, §10.4): file offset 0 at KERNSTART, the first
 * PT_LOAD (R-X) covering the ELF and program headers, a PT_NOTE inside the text, a RW- PT_LOAD
 * with BSS, sections that point into the segments, and a symbol table. Tests break it by
 * changing one field (of the spec, or of the written bytes with `patch`).
 */
import type { KernelVa, Size } from '../../../../loader/addr.js';
import { archInfo, type Arch } from '../../../../loader/arch/index.js';
import {
  Elf64Ehdr,
  Elf64Phdr,
  Elf64Shdr,
  encodeNotes,
  PF,
  SHF,
  STB,
  STT,
  type ElfNoteSpec,
  type ElfWriteSpec,
} from '../../../../loader/elf/index.js';

/** Layout of the fixture kernel, as offsets from KERNSTART (= file offsets). */
export const K = {
  textOff: 0x1000,
  noteOff: 0x2000,
  textEnd: 0x3000,
  dataOff: 0x3000,
  dataFile: 0x1000,
  dataMem: 0x3000,
} as const;

export const KERNEL_NOTES: readonly ElfNoteSpec[] = [
  { name: 'FreeBSD', type: 1, desc: Uint8Array.of(0x40, 0x0d, 0x03, 0x00) },
  { name: 'kboot', type: 0x4b42, desc: new TextEncoder().encode('fixture kernel') },
];

/** Deterministic filler bytes. */
export function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** The spec of a small FreeBSD-layout kernel for `arch`. */
export function freebsdKernelSpec(arch: Arch): ElfWriteSpec {
  const ks = archInfo(arch).kernstart;
  const at = (off: number): KernelVa => (ks + BigInt(off)) as KernelVa;
  const notes = encodeNotes(KERNEL_NOTES);
  const text = new Uint8Array(K.textEnd); // bytes [0, textOff) stay zero: the writer puts the headers there
  text.set(pattern(K.noteOff - K.textOff, 1), K.textOff);
  text.set(notes, K.noteOff);
  return {
    arch,
    type: 'exec',
    osabi: 9,
    entry: at(K.textOff),
    layout: { linearBase: ks },
    segments: [
      { type: 'load', flags: PF.R | PF.X, vaddr: at(0), data: text, align: 0x20_0000n as Size },
      {
        type: 'load',
        flags: PF.R | PF.W,
        vaddr: at(K.dataOff),
        data: pattern(K.dataFile, 2),
        memsz: BigInt(K.dataMem) as Size,
        align: 0x20_0000n as Size,
      },
      { type: 'note', vaddr: at(K.noteOff), offset: BigInt(K.noteOff) as Size, notes: KERNEL_NOTES },
    ],
    sections: [
      {
        name: '.text',
        type: 'progbits',
        flags: SHF.ALLOC | SHF.EXECINSTR,
        addr: at(K.textOff),
        inSegment: 0,
        size: BigInt(K.noteOff - K.textOff) as Size,
        addralign: 16n as Size,
      },
      {
        name: '.note.kboot',
        type: 'note',
        flags: SHF.ALLOC,
        addr: at(K.noteOff),
        inSegment: 0,
        size: BigInt(notes.length) as Size,
        addralign: 4n as Size,
      },
      {
        name: '.data',
        type: 'progbits',
        flags: SHF.ALLOC | SHF.WRITE,
        addr: at(K.dataOff),
        inSegment: 1,
        size: BigInt(K.dataFile) as Size,
        addralign: 64n as Size,
      },
      {
        name: '.bss',
        type: 'nobits',
        flags: SHF.ALLOC | SHF.WRITE,
        addr: at(K.dataOff + K.dataFile),
        inSegment: 1,
        size: BigInt(K.dataMem - K.dataFile) as Size,
        addralign: 64n as Size,
      },
      { name: '.comment', type: 'progbits', data: new TextEncoder().encode('kboot fixture\0') },
    ],
    symbols: [
      { name: 'kboot_fixture.c', value: 0n as KernelVa, type: STT.FILE, bind: STB.LOCAL, shndx: 0xfff1 },
      { name: 'btext', value: at(K.textOff), size: 0x10n as Size, type: STT.FUNC, bind: STB.GLOBAL, shndx: 1 },
      { name: 'kernel_data', value: at(K.dataOff), size: 8n as Size, type: STT.OBJECT, bind: STB.GLOBAL, shndx: 3 },
      { name: '_end', value: at(K.dataOff + K.dataMem), bind: STB.GLOBAL },
    ],
  };
}

/** Offsets of the written fixture's tables, for one-field mutations. */
export interface FixtureOffsets {
  readonly phoff: number;
  readonly shoff: number;
  readonly shnum: number;
  /** Offset of program header `i`'s field `f`. */
  phdr(i: number, f: keyof typeof Elf64Phdr.offsets): number;
  /** Offset of section header `i`'s field `f`. */
  shdr(i: number, f: keyof typeof Elf64Shdr.offsets): number;
  /** Index of the first section of type `type`. */
  sectionIndex(type: number): number;
}

/** Finds the tables in a written fixture (read through DataView, not through parseElf). */
export function offsetsOf(bytes: Uint8Array): FixtureOffsets {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const phoff = Number(dv.getBigUint64(Elf64Ehdr.offsets.phoff, true));
  const shoff = Number(dv.getBigUint64(Elf64Ehdr.offsets.shoff, true));
  const shnum = dv.getUint16(Elf64Ehdr.offsets.shnum, true);
  const shdr = (i: number, f: keyof typeof Elf64Shdr.offsets): number =>
    shoff + i * Elf64Shdr.size + Elf64Shdr.offsets[f];
  return {
    phoff,
    shoff,
    shnum,
    phdr: (i, f) => phoff + i * Elf64Phdr.size + Elf64Phdr.offsets[f],
    shdr,
    sectionIndex(type: number): number {
      for (let i = 0; i < shnum; i++) if (dv.getUint32(shdr(i, 'type'), true) === type) return i;
      return -1;
    },
  };
}

/** A copy of `bytes` with a little-endian field of `width` bytes at `offset` set to `value`. */
export function patch(bytes: Uint8Array, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): Uint8Array {
  const out = bytes.slice();
  const dv = new DataView(out.buffer);
  if (width === 1) dv.setUint8(offset, Number(value));
  else if (width === 2) dv.setUint16(offset, Number(value), true);
  else if (width === 4) dv.setUint32(offset, Number(value), true);
  else dv.setBigUint64(offset, BigInt(value), true);
  return out;
}
