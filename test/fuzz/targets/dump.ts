/**
 * Dump targets: the kerneldumpheader decoder, the minidump and ELF-dump readers (opened,
 * then read by PA and KVA as `kboot dump read` does, and walked page by page), format
 * detection and device-image opening (openDump with the message buffer), openDump over a
 * real file (openDumpFile, no descriptor left open), savecore's `bounds`. Seeds: kboot's
 * own writers (planMinidump, planElfDump, encodeKernelDumpHeader) over a small synthetic
 * memory with a message buffer, device images, and the same dumps gzip/zstd compressed.
 */
import fc from 'fast-check';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../../../loader/arch/index.js';
import { compressChunks } from '../../../dump/compress.js';
import { openElfDump, planElfDump } from '../../../dump/elfdump.js';
import { DumpError } from '../../../dump/errors.js';
import { openDumpFile } from '../../../dump/file.js';
import { decodeKernelDumpHeader, encodeKernelDumpHeader } from '../../../dump/kerneldumpheader.js';
import { Amd64MinidumpHdr, AMD64_PTE, ARM64_PTE, KernelDumpHeader } from '../../../dump/layout.js';
import { planMinidump, type MinidumpSource } from '../../../dump/minidump.js';
import { minidumpMsgbuf, openDump, type OpenedDump } from '../../../dump/open.js';
import { openMinidump, type Minidump } from '../../../dump/reader.js';
import { readBounds } from '../../../dump/savecore.js';
import { nativeAvailable } from '../../../native/binding.js';
import { bytesTarget } from '../lib/build.js';
import { elfFields } from './elf.js';
import { layoutFields, words } from '../lib/fields.js';
import { mutatedBytes, type Field } from '../lib/mutate.js';
import { scratchDir } from '../lib/scratch.js';
import { invariant, type FuzzTarget } from '../lib/target.js';

const MEM = 0x10_0000;
const MSG = { pa: 0x8_0000, region: 0x4000, struct: 72, magic: 0x063062 } as const;
const KERN = { amd64: 0xffff_fe00_0000_0000n, arm64: 0xffff_0000_0000_0000n } as const;
const DMAP = {
  amd64: [0xffff_f800_0000_0000n, 0xffff_fc00_0000_0000n],
  arm64: [0xffff_a000_0000_0000n, 0xffff_ff00_0000_0000n],
} as const;
/** Dumped pages: a run, a few scattered, the message buffer's. */
const DUMPED = [...Array.from({ length: 8 }, (_, i) => 0x10 + i), 0x40, 0x43, 0x80, 0x81, 0x82, 0x83];

/** 1 MiB of guest memory: dump_avail, a bitmap, an empty page-table root, a message buffer (sys/sys/msgbuf.h). */
function memory(): Uint8Array {
  const mem = new Uint8Array(MEM);
  const dv = new DataView(mem.buffer);
  for (let i = 0; i < MEM; i += 4) dv.setUint32(i, (i * 2654435761) >>> 0, true);
  mem.fill(0, 0x1000, 0x4000);
  dv.setBigUint64(0x1008, BigInt(MEM), true); // dump_avail [0, 1 MiB)
  for (const p of DUMPED) mem[0x2000 + (p >> 3)] = (mem[0x2000 + (p >> 3)] ?? 0) | (1 << (p & 7));
  mem.fill(0, MSG.pa, MSG.pa + MSG.region);
  const size = MSG.region - MSG.struct;
  const text = new TextEncoder().encode('<6>panic: page fault while in kernel mode\n<6>cpuid = 0\n'.repeat(40));
  for (let i = 0; i < text.length; i++) mem[MSG.pa + (i % size)] = text[i] ?? 0;
  const m = new DataView(mem.buffer, MSG.pa + size, MSG.struct);
  m.setUint32(8, MSG.magic, true); // msg_magic
  m.setUint32(12, size, true); // msg_size
  m.setUint32(16, text.length, true); // msg_wseq
  m.setUint32(28, size * 16, true); // msg_seqmod
  return mem;
}

function source(arch: Arch, mem: Uint8Array): MinidumpSource {
  return {
    arch,
    params: {
      dpMsgbufpa: BigInt(MSG.pa),
      dpMsgbufsz: BigInt(MSG.region - MSG.struct),
      dpVmdumppa: 0x2000n,
      dpVmdumpsz: BigInt(MEM / 0x1000 / 8),
      dpDumpavailpa: 0x1000n,
      rootPa: 0x3000n,
      dpKernstart: KERN[arch],
      dpKernend: KERN[arch] + 0x20_0000n,
      dpDmapbasepa: arch === 'arm64' ? 0n : undefined,
      dpDmapmin: DMAP[arch][0],
      dpDmapmax: DMAP[arch][1],
    },
    readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len),
  };
}

const concat = (parts: Iterable<Uint8Array>): Uint8Array => Buffer.concat([...parts]);

/**
 * A minidump of the synthetic memory, per arch, with kernel mappings written into its
 * page-table section (and, on amd64, into a dumped page-table page), so KVA reads walk
 * real entries: amd64 PDE 0 -> a page table at PA 0x10000 mapping dumped pages, PDE 1 a 2 MiB
 * page at PA 0; arm64 L3 entries 0..7 -> dumped pages from PA 0x10000.
 */
export function minidumpSeed(arch: Arch): Uint8Array {
  const b = new Uint8Array(concat(planMinidump(source(arch, memory())).chunks()));
  const d = openMinidump(b);
  const dv = new DataView(b.buffer);
  const pmap = d.offsets.pmap;
  if (arch === 'amd64') {
    dv.setBigUint64(pmap, 0x10000n | AMD64_PTE.PG_V, true);
    dv.setBigUint64(pmap + 8, AMD64_PTE.PG_V | AMD64_PTE.PG_PS, true);
    const pt = d.paToOffset(0x10000n);
    for (let i = 0; i < 7; i++) dv.setBigUint64(pt + 8 * i, (0x11000n + BigInt(i) * 0x1000n) | AMD64_PTE.PG_V, true);
  } else {
    for (let i = 0; i < 8; i++)
      dv.setBigUint64(pmap + 8 * i, (0x10000n + BigInt(i) * 0x1000n) | ARM64_PTE.L3_PAGE, true);
  }
  return b;
}

function elfDumpSeed(arch: Arch): Uint8Array {
  const mem = memory();
  return concat(
    planElfDump({
      arch,
      ranges: [
        [0x1000n, 0x3000n],
        [0x8_0000n, 0x8_4000n],
      ],
      readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len),
    }).chunks(),
  );
}

function kdh(arch: Arch, dumplength: bigint, compression: 'NONE' | 'GZIP' | 'ZSTD' = 'NONE'): Uint8Array {
  return encodeKernelDumpHeader({
    magic: 'kernel',
    arch,
    dumplength,
    dumptime: 1_700_000_000n,
    blocksize: 512,
    hostname: 'crashed.example.org',
    versionstring: 'FreeBSD 15.0-CURRENT #0 main-n123456: Thu Jan  1 00:00:00 UTC 2025\n',
    panicstring: 'page fault while in kernel mode',
    compression,
  });
}

/** dumpon(8)'s device after a panic: leading header, the dump padded to 512, trailing header. */
function deviceImage(arch: Arch, dump: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(dump.length / 512) * 512);
  padded.set(dump);
  const h = kdh(arch, BigInt(padded.length));
  return concat([h, padded, h]);
}

const kdhFields = (b: Uint8Array): Field[] => layoutFields(KernelDumpHeader, 0, b.length);

/**
 * Sets the parity word of the header at `at` so every word XORs to zero (sys/sys/kerneldump.h
 * kerneldump_parity): a mutated header then gets past the parity check to the rest.
 */
export function fixParity(b: Uint8Array, at: number): Uint8Array {
  const size = KernelDumpHeader.size;
  const p = at + KernelDumpHeader.offsets.parity;
  if (at < 0 || at + size > b.length) return b;
  const out = Uint8Array.from(b);
  for (let j = 0; j < 4; j++) {
    let x = 0;
    for (let w = at; w < at + size; w += 4) if (w + j !== p + j) x ^= out[w + j] ?? 0;
    out[p + j] = x;
  }
  return out;
}

export const kdhTarget: FuzzTarget = bytesTarget({
  name: 'kerneldumpheader',
  group: 'dump',
  entry: 'decodeKernelDumpHeader (struct kerneldumpheader, parity)',
  errors: [DumpError],
  floor: 0.1,
  tapRuns: 4000,
  bigEndian: true,
  seeds: () => [
    kdh('amd64', 0x1000n),
    kdh('arm64', 0x20_0000n, 'GZIP'),
    encodeKernelDumpHeader({
      magic: 'text',
      arch: 'amd64',
      dumplength: 512n,
      dumptime: 2n,
      blocksize: 512,
      hostname: 'h',
      versionstring: 'v',
      panicstring: 'p',
      compression: 'ZSTD',
    }),
  ],
  decode: (b) => {
    const h = decodeKernelDumpHeader(b);
    return { arch: h.arch, length: h.dumplength };
  },
  fields: kdhFields,
  extra: (ctx) => [{ weight: 5, arbitrary: mutatedBytes(ctx).map((b) => fixParity(b, 0)) }],
});

const KVAS = (arch: Arch): bigint[] => [
  DMAP[arch][0] + 0x10_000n,
  KERN[arch] + 0x1000n,
  KERN[arch] + 0x5ff8n,
  KERN[arch] + 0x21_0000n,
  DMAP[arch][0],
  0n,
  (1n << 64n) - 8n,
];

/** Reads as `kboot dump read` does; each read's own DumpError is fine. Returns how many succeeded. */
function exerciseReads(d: Pick<Minidump, 'readPa' | 'readKva'>, arch: Arch, pages: Iterable<bigint>): number {
  let ok = 0;
  const attempt = (fn: () => unknown): void => {
    try {
      fn();
      ok++;
    } catch (e) {
      if (!(e instanceof DumpError)) throw e;
    }
  };
  for (const va of KVAS(arch)) attempt(() => d.readKva(va, 16));
  for (const pa of [0x1000n, 0x10_000n, BigInt(MSG.pa), 0xffff_ffff_ffff_f000n]) attempt(() => d.readPa(pa, 32));
  let n = 0;
  for (const pa of pages) {
    if (n++ >= 32) break;
    attempt(() => d.readPa(pa, 8));
  }
  return ok;
}

/** The minidump header (amd64's and arm64's share their first fields), dump_avail's first pairs, the first page-table entries. */
function minidumpFields(b: Uint8Array): Field[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u32 = (at: number): number => (at + 4 <= b.length ? dv.getUint32(at, true) : 0);
  const page = (n: number): number => Math.ceil(n / 0x1000) * 0x1000;
  const availAt = 0x1000 + page(u32(28));
  const pmapAt = availAt + page(u32(64)) + page(u32(32));
  const entries = Array.from({ length: 8 }, (_, i): Field => ({ at: pmapAt + 8 * i, width: 8 }));
  return [
    ...layoutFields(Amd64MinidumpHdr, 0, b.length),
    ...words(availAt, Math.min(availAt + 64, b.length)),
    ...entries.filter((f) => f.at + 8 <= b.length),
  ];
}

export const minidumpTarget: FuzzTarget = bytesTarget({
  name: 'minidump',
  group: 'dump',
  entry: 'openMinidump + readKva/readPa/dumpedPages (amd64 and arm64 minidumps)',
  errors: [DumpError],
  floor: 0.3,
  tapRuns: 4000,
  seeds: () => [minidumpSeed('amd64'), minidumpSeed('arm64')],
  decode: (b) => {
    const d = openMinidump(b);
    return { arch: d.arch, pages: d.pages, reads: exerciseReads(d, d.arch, d.dumpedPages()) };
  },
  fields: minidumpFields,
  keepHead: 0x100,
  randomLength: 4096,
  maxOps: 3,
});

export const elfDumpTarget: FuzzTarget = bytesTarget({
  name: 'elfdump',
  group: 'dump',
  entry: 'openElfDump + readPa (ELF full dumps)',
  errors: [DumpError],
  floor: 0.2,
  tapRuns: 4000,
  seeds: () => [elfDumpSeed('amd64'), elfDumpSeed('arm64')],
  decode: (b) => {
    const d = openElfDump(b);
    let ok = 0;
    for (const s of d.segments.slice(0, 8)) {
      try {
        d.readPa(s.pa, 16);
        ok++;
      } catch (e) {
        if (!(e instanceof DumpError)) throw e;
      }
    }
    return { arch: d.arch, segments: d.segments.length, ok };
  },
  fields: elfFields,
  keepHead: 64,
});

/** openDump and what `kboot dump inspect|read` run on it. */
function exerciseOpened(d: OpenedDump): unknown {
  const reads = exerciseReads(d, d.arch, d.kind === 'minidump' ? d.reader.dumpedPages() : []);
  let msgbuf = 0;
  if (d.kind === 'minidump') {
    try {
      msgbuf = minidumpMsgbuf(d).text.length;
    } catch (e) {
      if (!(e instanceof DumpError)) throw e;
    }
    try {
      d.paToFileOffset(0x10_000n);
    } catch (e) {
      if (!(e instanceof DumpError)) throw e;
    }
  }
  return { kind: d.kind, container: d.container, arch: d.arch, reads, msgbuf };
}

/** Raw minidumps, ELF dumps, device images of both, and the raw ones compressed. */
export function openSeeds(): Uint8Array[] {
  const raw = [minidumpSeed('amd64'), minidumpSeed('arm64'), elfDumpSeed('amd64')];
  return [...raw, deviceImage('arm64', raw[1] ?? new Uint8Array(0)), deviceImage('amd64', raw[2] ?? new Uint8Array(0))];
}

/** Compressed dumps (need the addon): openDump refuses them with DUMP_COMPRESSED until decompression is wired in. */
function compressedSeeds(): Uint8Array[] {
  if (!nativeAvailable()) return [];
  const m = minidumpSeed('amd64');
  return [concat(compressChunks('gzip', [m])), concat(compressChunks('zstd', [m]))];
}

export const dumpOpenTarget: FuzzTarget = bytesTarget({
  name: 'dump-open',
  group: 'dump',
  entry: 'openDump over bytes (minidump / ELF / device-image detection) + reads + minidumpMsgbuf',
  errors: [DumpError],
  floor: 0.2,
  tapRuns: 4000,
  seeds: openSeeds,
  decode: (b) => exerciseOpened(openDump(b)),
  fields: (b) => [
    ...kdhFields(b),
    ...layoutFields(KernelDumpHeader, b.length - 512, b.length),
    ...(b[0] === 0x7f ? elfFields(b) : minidumpFields(b)),
  ],
  extra: (ctx) => {
    const comp = compressedSeeds();
    return [
      // device images with a header field changed and its parity made right again
      { weight: 2, arbitrary: mutatedBytes(ctx).map((b) => fixParity(fixParity(b, 0), b.length - 512)) },
      ...(comp.length === 0 ? [] : [{ weight: 1, arbitrary: fc.constantFrom(...comp) }]),
    ];
  },
  keepHead: 0x200,
  randomLength: 4096,
  maxOps: 3,
});

const openFds = (): number => {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
};

export const dumpFileTarget: FuzzTarget = bytesTarget({
  name: 'dump-file',
  group: 'dump',
  entry: 'openDumpFile + openDump over a file on disk + reads + close (no descriptor left open)',
  errors: [DumpError],
  floor: 0.25,
  tapRuns: 2000,
  seeds: openSeeds,
  decode: (b) => {
    const path = join(scratchDir(), 'vmcore.0');
    writeFileSync(path, b);
    const before = openFds();
    const f = openDumpFile(path);
    try {
      return exerciseOpened(openDump(f));
    } finally {
      f.close();
      invariant(openFds() === before, 'a descriptor is left open');
    }
  },
  keepHead: 0x200,
  maxOps: 3,
});

export const boundsTarget: FuzzTarget = bytesTarget({
  name: 'bounds',
  group: 'dump',
  entry: "readBounds (savecore's bounds file)",
  errors: [DumpError],
  floor: 0.99,
  tapRuns: 300,
  seeds: () => [new TextEncoder().encode('0\n'), new TextEncoder().encode('17\n'), new TextEncoder().encode('99999\n')],
  decode: (b) => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'bounds'), b);
    const n = readBounds(dir);
    invariant(Number.isSafeInteger(n) && n >= 0, `bounds gave ${n}`);
    return n;
  },
  randomLength: 16,
});
