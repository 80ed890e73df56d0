// dump/open.ts: format detection (raw amd64/arm64 minidump, ELF full dump, dump-device image,
// gzip/zstd), the device image read as savecore(8) reads a dump device (the trailing header in
// the last sector first, the leading one at lasthd - dumpextent - sectorsize - dumpkeysize,
// both decoded and byte-identical, the dump after the leading header), every refusal with its
// code, and the msgbuf read as dmesg(8) unwraps it. Dumps are made by the real writers
// (planMinidump, planElfDump) over a small hand-filled memory; struct msgbuf is written at the
// offsets of sys/sys/msgbuf.h by hand.
import t, { type Test } from 'tap';
import { planMinidump, type MinidumpSource } from '../../../dump/minidump.js';
import { planElfDump } from '../../../dump/elfdump.js';
import { encodeKernelDumpHeader, type KernelDumpHeaderFields } from '../../../dump/kerneldumpheader.js';
import { compressedKind, minidumpMsgbuf, openDump, type OpenedDump } from '../../../dump/open.js';
import { bytesFile } from '../../../dump/reader.js';
import { DumpCode } from '../../../dump/errors.js';
import { throwsCode } from '../../helpers/errors.js';

type Arch = 'amd64' | 'arm64';
const MEM = 0x80_0000;
const MSG = { pa: 0x40_0000, region: 0x4000, struct: 72, magic: 0x063062 } as const;
const KERN = { amd64: 0xffff_fe00_0000_0000n, arm64: 0xffff_0000_0000_0000n } as const;
const DMAP = {
  amd64: [0xffff_f800_0000_0000n, 0xffff_fc00_0000_0000n],
  arm64: [0xffff_a000_0000_0000n, 0xffff_ff00_0000_0000n],
} as const;
const DUMPED = [...Array.from({ length: 0x20 }, (_, i) => 0x10 + i), 0x100, 0x101, 0x103, 0x400, 0x401, 0x402, 0x403];

/** The msgbuf ring after writing `stream`: byte i at i % msg_size, msg_wseq = total (sys/kern/subr_msgbuf.c). */
function writeMsgbuf(mem: Uint8Array, stream: Uint8Array, magic: number): void {
  const size = MSG.region - MSG.struct;
  for (let i = 0; i < stream.length; i++) mem[MSG.pa + (i % size)] = stream[i] ?? 0;
  const dv = new DataView(mem.buffer, MSG.pa + size, MSG.struct);
  dv.setBigUint64(0, 0xffff_f800_0040_0000n, true); // msg_ptr
  dv.setUint32(8, magic, true); // msg_magic
  dv.setUint32(12, size, true); // msg_size
  dv.setUint32(16, stream.length % (size * 16), true); // msg_wseq (mod msg_seqmod)
  dv.setUint32(20, 0, true); // msg_rseq
  dv.setUint32(28, size * 16, true); // msg_seqmod
}

function memory(stream: Uint8Array, magic: number = MSG.magic): Uint8Array {
  const mem = new Uint8Array(MEM);
  for (let i = 0; i < MEM; i += 4) new DataView(mem.buffer).setUint32(i, (i * 2654435761) >>> 0, true);
  mem.fill(0, 0x1000, 0x4000); // dump_avail, bitmap, an all-zero page-table root
  const dv = new DataView(mem.buffer);
  dv.setBigUint64(0x1008, BigInt(MEM), true); // dump_avail [0, 8 MiB)
  for (const p of DUMPED) mem[0x2000 + (p >> 3)] = (mem[0x2000 + (p >> 3)] ?? 0) | (1 << (p & 7));
  mem.fill(0, MSG.pa, MSG.pa + MSG.region);
  writeMsgbuf(mem, stream, magic);
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

const lines = (n: number, from = 0): string =>
  Array.from({ length: n }, (_, i) => `<6>line ${String(from + i).padStart(5, '0')}: kernel message\n`).join('');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function minidump(arch: Arch, stream = enc(lines(3)), magic?: number): { mem: Uint8Array; bytes: Uint8Array } {
  const mem = memory(stream, magic);
  return { mem, bytes: Buffer.concat([...planMinidump(source(arch, mem)).chunks()]) };
}

function kdh(arch: Arch, dumplength: bigint, over: Partial<KernelDumpHeaderFields> = {}): Uint8Array {
  return encodeKernelDumpHeader({
    magic: 'kernel',
    arch,
    dumplength,
    dumptime: 1_700_000_000n,
    blocksize: 512,
    hostname: 'crashed.example.org',
    versionstring: 'FreeBSD 15.0-CURRENT #0 main-n123456: Thu Jan  1 00:00:00 UTC 2025\n',
    panicstring: 'page fault while in kernel mode',
    compression: 'NONE',
    ...over,
  });
}

/** leading header, dump, trailing header (sys/kern/kern_dump.c dump_write_headers), optionally padded. */
function device(lead: Uint8Array, dump: Uint8Array, trail: Uint8Array, opts: { pre?: number; sector?: number } = {}) {
  const sector = opts.sector ?? 512;
  const block = (h: Uint8Array): Uint8Array => {
    const b = new Uint8Array(sector);
    b.set(h.subarray(0, Math.min(h.length, sector)));
    return b;
  };
  return Buffer.concat([new Uint8Array(opts.pre ?? 0), block(lead), dump, block(trail)]);
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

function checkReads(t: Test, d: OpenedDump, mem: Uint8Array, image: Uint8Array): void {
  let bad = 0;
  for (const p of DUMPED) {
    const pa = BigInt(p * 0x1000 + ((p * 97) % 0xff0));
    if (!same(d.readPa(pa, 16), mem.subarray(Number(pa), Number(pa) + 16))) bad++;
    const off = d.paToFileOffset(pa);
    if (!same(image.subarray(off, off + 16), mem.subarray(Number(pa), Number(pa) + 16))) bad++;
  }
  t.equal(bad, 0, 'readPa and paToFileOffset find every dumped page');
}

for (const arch of ['amd64', 'arm64'] as const) {
  t.test(`${arch}: a raw minidump`, (t) => {
    const { mem, bytes } = minidump(arch);
    const d = openDump(bytes);
    t.equal(d.kind, 'minidump');
    t.equal(d.arch, arch);
    t.equal(d.container, 'raw');
    t.equal(d.kdh, undefined);
    t.equal(d.device, undefined);
    t.equal(d.fileSize, bytes.length);
    t.equal(d.pageSize, 0x1000);
    checkReads(t, d, mem, bytes);
    const va = DMAP[arch][0] + 0x10_0123n;
    t.equal(d.kvaToPa(va), 0x10_0123n, 'the direct map');
    t.ok(same(d.readKva(va, 32), mem.subarray(0x10_0123, 0x10_0143)));
    throwsCode(t, () => d.kvaToPa(KERN[arch] + 0x1000n), DumpCode.NotMapped, 'an all-zero kernel map');
    throwsCode(t, () => d.readPa(0x50_0000n, 4), DumpCode.NotDumped);
    t.end();
  });
}

t.test('the msgbuf, unwrapped at msg_wseq as dmesg does', (t) => {
  const size = MSG.region - MSG.struct;
  const stream = enc(lines(1500)); // wraps the 0x3fb8-byte ring more than once
  t.ok(stream.length > 2 * size, 'the stream is over twice the ring');
  const { bytes } = minidump('amd64', stream);
  const d = openDump(bytes);
  if (d.kind !== 'minidump') throw new Error('not a minidump');
  const m = minidumpMsgbuf(d);
  t.equal(m.offset, 0x1000, 'the section follows the header page');
  t.equal(m.size, MSG.region, 'the rescue dumper rounds msgbufsize up to the region');
  t.same(m.struct, { offset: 0x1000 + size, msgSize: size, wseq: stream.length, rseq: 0 });
  t.equal(
    m.text,
    new TextDecoder().decode(stream.subarray(stream.length - size)),
    'the last msg_size bytes, oldest first',
  );
  const short = openDump(minidump('arm64', enc('hello\nworld\n')).bytes);
  if (short.kind !== 'minidump') throw new Error('not a minidump');
  t.equal(minidumpMsgbuf(short).text, 'hello\nworld\n', 'an unwrapped buffer: NULs skipped');
  const raw = openDump(minidump('amd64', enc('no struct here\n'), 0x1234).bytes);
  if (raw.kind !== 'minidump') throw new Error('not a minidump');
  const r = minidumpMsgbuf(raw);
  t.equal(r.struct, undefined, 'no MSG_MAGIC: no struct');
  t.ok(r.text.startsWith('no struct here\n'), 'the raw section, NULs skipped');
  t.end();
});

t.test('a dump-device image: leading header, dump, trailing header', (t) => {
  for (const arch of ['amd64', 'arm64'] as const) {
    const { mem, bytes } = minidump(arch);
    const h = kdh(arch, BigInt(bytes.length));
    const image = device(h, bytes, h);
    const d = openDump(image);
    t.equal(d.kind, 'minidump');
    t.equal(d.container, 'device');
    t.equal(d.fileSize, image.length);
    t.same(d.device, {
      sectorSize: 512,
      leadingOffset: 0,
      trailingOffset: image.length - 512,
      dumpOffset: 512,
      dumpLength: bytes.length,
    });
    t.match(d.kdh, {
      magic: 'kernel',
      arch,
      version: 4,
      dumplength: BigInt(bytes.length),
      dumpextent: BigInt(bytes.length),
      blocksize: 512,
      hostname: 'crashed.example.org',
      panicstring: 'page fault while in kernel mode',
      compression: 'NONE',
    });
    t.equal(d.inner.size, bytes.length, 'the inner file is the dump alone');
    checkReads(t, d, mem, image);
    if (d.kind === 'minidump') t.equal(minidumpMsgbuf(d).offset, 512 + 0x1000, 'msgbuf offset in the image');
  }
  t.end();
});

t.test('device images laid out as on a disk', (t) => {
  const { mem, bytes } = minidump('amd64');
  const n = BigInt(bytes.length);
  // the dump ends at the end of the media; SIZEOF_METADATA and free space lie before it
  const padded = device(kdh('amd64', n), bytes, kdh('amd64', n), { pre: 0x1_0000 + 0x2345 });
  const p = openDump(padded);
  t.equal(p.device?.leadingOffset, 0x1_2345, 'the leading header is found from the trailing one');
  t.equal(p.device?.dumpOffset, 0x1_2345 + 512);
  checkReads(t, p, mem, padded);
  const h4k = kdh('amd64', n, { blocksize: 4096 });
  const s4k = device(h4k, bytes, h4k, { sector: 4096 });
  const q = openDump(s4k);
  t.equal(q.device?.sectorSize, 4096, '4 KiB sectors: the header heads the last sector');
  t.equal(q.device?.dumpOffset, 4096);
  checkReads(t, q, mem, s4k);
  // dumpextent > dumplength (space reserved for a compressed dump): the dump is dumplength bytes
  const big = kdh('amd64', n, { dumpextent: n + 0x3000n });
  const ext = device(big, Buffer.concat([bytes, new Uint8Array(0x3000)]), big);
  const e = openDump(ext);
  t.equal(e.inner.size, bytes.length);
  t.equal(e.device?.trailingOffset, ext.length - 512);
  t.end();
});

t.test('device images savecore refuses', (t) => {
  const { bytes } = minidump('amd64');
  const n = BigInt(bytes.length);
  const good = kdh('amd64', n);
  const other = kdh('amd64', n, { hostname: 'other.example.org' });
  const e1 = throwsCode(t, () => openDump(device(good, bytes, other)), DumpCode.HeadersDisagree, 'trailer differs');
  t.same((e1?.details as { fields?: unknown }).fields, ['hostname', 'parity'], 'the fields that differ');
  const badParity = Uint8Array.from(good);
  badParity[70] = (badParity[70] ?? 0) ^ 0x20; // a hostname byte
  throwsCode(t, () => openDump(device(good, bytes, badParity)), DumpCode.BadParity, 'trailing header parity');
  throwsCode(t, () => openDump(device(badParity, bytes, good)), DumpCode.BadParity, 'leading header parity');
  const shortExtent = kdh('amd64', n - 0x1000n);
  const e2 = throwsCode(
    t,
    () => openDump(device(shortExtent, bytes, shortExtent)),
    DumpCode.NoLeadingHeader,
    'a dumpextent that misses the leading header',
  );
  t.equal((e2?.details as { leadingOffset?: unknown }).leadingOffset, 0x1000, 'where the extent put it');
  const longExtent = kdh('amd64', n + 0x1000n);
  throwsCode(t, () => openDump(device(longExtent, bytes, longExtent)), DumpCode.Truncated, 'dumpextent past the start');
  const lenPastExtent = kdh('amd64', n + 1n, { dumpextent: n });
  throwsCode(
    t,
    () => openDump(device(lenPastExtent, bytes, lenPastExtent)),
    DumpCode.BadLength,
    'dumplength > dumpextent',
  );
  throwsCode(t, () => openDump(Buffer.concat([good, bytes])), DumpCode.NoTrailingHeader, 'no trailing header');
  const text = kdh('amd64', n, { magic: 'text' });
  throwsCode(t, () => openDump(device(text, bytes, text)), DumpCode.Textdump, 'a textdump');
  const cleared = kdh('amd64', n, { magic: 'cleared' });
  throwsCode(t, () => openDump(device(good, bytes, cleared)), DumpCode.Cleared, 'savecore -c');
  const arm = kdh('arm64', n);
  const e5 = throwsCode(t, () => openDump(device(arm, bytes, arm)), DumpCode.ArchMismatch, 'header arch ≠ dump arch');
  t.same(e5?.details, { header: 'arm64', dump: 'amd64' });
  const gz = kdh('amd64', n, { compression: 'GZIP' });
  const e6 = throwsCode(t, () => openDump(device(gz, bytes, gz)), DumpCode.Compressed, 'a compressed kernel dump');
  t.same(e6?.details, { compression: 'gzip' });
  const key = kdh('amd64', n, { dumpkeysize: 64 });
  const keyed = device(key, Buffer.concat([new Uint8Array(64), bytes]), key);
  const e7 = throwsCode(t, () => openDump(keyed), DumpCode.Encrypted, 'an encrypted dump');
  t.same(e7?.details, { dumpkeysize: 64 });
  const junk = new Uint8Array(0x3000).fill(0x5a);
  const j = kdh('amd64', 0x3000n);
  throwsCode(t, () => openDump(device(j, junk, j)), DumpCode.BadMagic, 'neither minidump nor ELF inside');
  t.end();
});

t.test('ELF full dumps carry physical addresses only', (t) => {
  const mem = new Uint8Array(0x40_0000).map((_, i) => (i * 2654435761) >>> 24);
  const ranges = [
    [0x1000n, 0x9_f000n],
    [0x10_0000n, 0x40_0000n],
  ] as const;
  const plan = planElfDump({ arch: 'arm64', ranges, readPhys: (pa, len) => mem.slice(Number(pa), Number(pa) + len) });
  const bytes = Buffer.concat([...plan.chunks()]);
  for (const image of [bytes, device(kdh('arm64', BigInt(bytes.length)), bytes, kdh('arm64', BigInt(bytes.length)))]) {
    const d = openDump(image);
    if (d.kind !== 'elf') throw new Error('not an ELF dump');
    t.equal(d.arch, 'arm64');
    t.same(d.elf, { phnum: 2, machine: 183, osabi: 255 });
    t.equal(d.reader.segments.length, 2);
    t.ok(same(d.readPa(0x10_0ff8n, 16), mem.subarray(0x10_0ff8, 0x10_1008)));
    const off = d.paToFileOffset(0x9_eff0n);
    t.ok(same(image.subarray(off, off + 16), mem.subarray(0x9_eff0, 0x9_f000)), 'paToFileOffset');
    throwsCode(t, () => d.paToFileOffset(0x9_f000n), DumpCode.NotDumped, 'a hole between PT_LOADs');
    const e = throwsCode(t, () => d.kvaToPa(0xffff_a000_0010_0000n), DumpCode.NoKva, 'arm64: no full-dump KVAs');
    t.equal((e?.details as { arch?: unknown }).arch, 'arm64');
    throwsCode(t, () => d.readKva(0xffff_0000_0000_0000n, 8), DumpCode.NoKva);
  }
  const exec = Uint8Array.from(bytes);
  exec[16] = 2; // e_type ET_EXEC
  throwsCode(t, () => openDump(exec), DumpCode.NotCore, 'an ELF file that is not a core');
  t.end();
});

t.test('compressed and unknown files', (t) => {
  t.equal(compressedKind(Uint8Array.of(0x1f, 0x8b, 0x08, 0x00)), 'gzip');
  t.equal(compressedKind(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd)), 'zstd');
  t.equal(compressedKind(Uint8Array.of(0x5e, 0x2a, 0x4d, 0x18)), 'zstd', 'a zstd skippable frame');
  t.equal(compressedKind(Uint8Array.of(0x28, 0xb5, 0x2f)), undefined, 'short');
  t.equal(compressedKind(enc('minidump')), undefined);
  for (const [name, head] of [
    ['gzip', [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3]],
    ['zstd', [0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00]],
  ] as const) {
    const b = new Uint8Array(4096);
    b.set(head);
    const e = throwsCode(t, () => openDump(b), DumpCode.Compressed, name);
    t.same(e?.details, { compression: name }, 'the codec in the details');
  }
  throwsCode(t, () => openDump(new Uint8Array(0x2000).fill(0x41)), DumpCode.BadMagic, 'not a dump');
  throwsCode(t, () => openDump(Uint8Array.of(1, 2, 3)), DumpCode.Truncated, 'three bytes');
  throwsCode(t, () => openDump(new Uint8Array(0)), DumpCode.Truncated, 'empty');
  const d = openDump(bytesFile(minidump('amd64').bytes));
  t.equal(d.kind, 'minidump', 'a DumpFile works as well as bytes');
  t.end();
});
