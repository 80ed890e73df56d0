/**
 * Opens any crash dump kboot reads, by its bytes: a raw amd64/arm64 minidump (libkvm
 * _kvm_is_minidump: "minidump" at offset 0), an ELF full dump (ET_CORE, sys/kern/kern_dump.c
 * dumpsys_generic) or a dump-device image: the leading kerneldumpheader, the dump, then the
 * trailing copy of the header in the device's last block (sys/kern/kern_dump.c
 * dump_start / dump_write_headers, sys/sys/kerneldump.h).
 *
 * Contract: `openDump(file)` returns a discriminated union on `kind` ('minidump' | 'elf') with
 * `container` ('raw' | 'device'), the decoded header and its placement for a device image, the
 * format's reader, and the common `readPa` / `kvaToPa` / `readKva` / `paToFileOffset`
 * (offsets in the opened file). An ELF full dump carries physical addresses only: `kvaToPa`
 * and `readKva` raise DUMP_NO_KVA. A device image is read as savecore(8) reads a dump device
 * (sbin/savecore/savecore.c): the LAST header first (at the start of the image's last sector:
 * the smallest power of two from 512 bytes to 64 KiB where a header magic sits), then the leading one at
 * lasthd - dumpextent - sectorsize - dumpkeysize; both must decode (magic, version, parity)
 * and be byte-identical; the dump is the `dumplength` bytes after the leading header and the
 * key. A device image whose header says gzip/zstd (`panic --dump-device X --compress`, a
 * kernel's compressed dump) is read through the file's `decompress` (dump/file.ts
 * openDumpFile gives one; dump/decompressed.ts): `compressedPayload` names the codec and file
 * offsets are then offsets in the decompressed dump. Without `decompress`, and for a gzip/zstd
 * file handed over as it is, DUMP_COMPRESSED (open it with openDumpFile). An encrypted dump
 * (dumpkeysize > 0) is DUMP_BAD_HEADER.
 * `minidumpMsgbuf(d)` reads the MSGBUF section as dmesg(8) does (struct msgbuf at its end,
 * sys/sys/msgbuf.h; unwrapped at msg_wseq, NULs skipped). Only DumpError escapes.
 */
import { hex } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { ELF_MAGIC, ET, Elf64Ehdr } from '../loader/elf/layout.js';
import { HOST, Msgbuf } from '../loader/kernel-abi/structs.js';
import { openElfDump, type ElfDump } from './elfdump.js';
import { DumpCode, DumpError } from './errors.js';
import { decodeKernelDumpHeader, type DecodedKernelDumpHeader } from './kerneldumpheader.js';
import { KDH, KDH_ARCH, KernelDumpHeader, MINIDUMP } from './layout.js';
import { bytesFile, openMinidump, readExact, type DumpFile, type Minidump } from './reader.js';
import { detectCompression, type DumpCompression } from './compress.js';

export type DumpKind = 'minidump' | 'elf';
export type DumpContainer = 'raw' | 'device';
export type CompressedKind = Exclude<DumpCompression, 'none'>;

/** gzip or zstd from a file's first bytes (dump/compress.ts detectCompression); undefined otherwise. */
export function compressedKind(first4: Uint8Array): CompressedKind | undefined {
  const kind = detectCompression(first4);
  return kind === 'none' ? undefined : kind;
}

/** Where the headers and the dump lie in a dump-device image (byte offsets in the opened file). */
export interface DeviceLayout {
  /** The sector the headers occupy (savecore's DIOCGSECTORSIZE; found at the image's end). */
  readonly sectorSize: number;
  readonly leadingOffset: number;
  readonly trailingOffset: number;
  /** First byte of the dump (after the leading header block and dumpkeysize bytes of key). */
  readonly dumpOffset: number;
  readonly dumpLength: number;
}

interface OpenedBase {
  readonly arch: Arch;
  readonly container: DumpContainer;
  /** Both headers of a device image (identical), absent for a raw file. */
  readonly kdh?: DecodedKernelDumpHeader;
  readonly device?: DeviceLayout;
  /** The dump itself: the whole file, or the range between the headers of a device image. */
  readonly inner: DumpFile;
  /** Size of the opened file. */
  readonly fileSize: number;
  /** The translation granule (minidump page size; 4 KiB for an ELF dump). */
  readonly pageSize: number;
  readPa(pa: bigint, len: number): Uint8Array;
  kvaToPa(kva: bigint): bigint;
  readKva(kva: bigint, len: number): Uint8Array;
  /** Offset in the opened file of the byte holding `pa` (DUMP_NOT_DUMPED when the dump lacks it). */
  paToFileOffset(pa: bigint): number;
  /** Offset in `inner` (the dump itself) of the byte holding `pa`. */
  paToDumpOffset(pa: bigint): number;
  /** The codec of a compressed dump-device payload (decompressed to read it). */
  readonly compressedPayload?: CompressedKind;
}

export interface OpenedMinidump extends OpenedBase {
  readonly kind: 'minidump';
  readonly reader: Minidump;
}

export interface OpenedElfDump extends OpenedBase {
  readonly kind: 'elf';
  readonly reader: ElfDump;
  /** e_phnum (every program header, PT_LOAD or not), e_machine, EI_OSABI. */
  readonly elf: { readonly phnum: number; readonly machine: number; readonly osabi: number };
}

export type OpenedDump = OpenedMinidump | OpenedElfDump;

const KDH_SIZE = KernelDumpHeader.size;
/** Sector sizes tried for the trailing header, smallest first. */
const SECTOR_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536] as const;
const ELF_PAGE = 0x1000;

const latin1 = (b: Uint8Array): string => new TextDecoder('latin1').decode(b);
const startsWith = (b: Uint8Array, text: string): boolean => latin1(b.subarray(0, text.length)) === text;
const kdhMagicAt = (b: Uint8Array): string | undefined =>
  [KDH.MAGIC, KDH.TEXT_MAGIC, KDH.CLEARED_MAGIC].find((m) => startsWith(b, `${m}\0`));

function compressedError(kind: CompressedKind, where: string): DumpError {
  return new DumpError(
    DumpCode.Compressed,
    `dump: compressed dump: decompress first (${kind}${where}; dump/file.ts openDumpFile reads it)`,
    { compression: kind },
  );
}

/** A DumpFile over [base, base + size) of `f`. */
function subFile(f: DumpFile, base: number, size: number): DumpFile {
  const prefetch = f.prefetch;
  return {
    size,
    read: (o, n) => (o >= size ? new Uint8Array(0) : f.read(base + o, Math.min(n, size - o))),
    ...(prefetch === undefined ? {} : { prefetch: (end: number) => prefetch(base + Math.min(end, size)) }),
  };
}

/** Opens a dump of any supported format (see the module contract). */
export function openDump(input: DumpFile | Uint8Array): OpenedDump {
  const f = input instanceof Uint8Array ? bytesFile(input) : input;
  const head = readExact(f, 0, Math.min(f.size, 32), 'the first bytes');
  if (head.length < 4) {
    throw new DumpError(DumpCode.Truncated, `dump: ${f.size} bytes is too short for any dump format`, {
      size: f.size,
    });
  }
  const inner = classify(head, 'the file');
  if (inner !== 'unknown') return openInner(f, inner, { fileSize: f.size, container: 'raw', base: 0 });
  const dev = findTrailingHeader(f);
  if (dev === undefined && kdhMagicAt(head) !== undefined) {
    throw new DumpError(
      DumpCode.BadHeader,
      'dump: a leading kerneldumpheader but no trailing one in the last sector: a truncated dump-device image?',
      { size: f.size },
    );
  }
  if (dev === undefined) {
    throw new DumpError(
      DumpCode.BadMagic,
      'dump: not a FreeBSD crash dump (a minidump, an ELF full dump, or a dump-device image with kerneldumpheaders)',
      { first: hex(new DataView(head.buffer, head.byteOffset, 4).getUint32(0, false), { width: 8 }) },
    );
  }
  return openDevice(f, dev.sectorSize);
}

type InnerFormat = 'minidump' | 'elf' | 'unknown';

function classify(head: Uint8Array, where: string): InnerFormat {
  const comp = compressedKind(head);
  if (comp !== undefined) throw compressedError(comp, where === 'the file' ? '' : ` in ${where}`);
  if (startsWith(head, MINIDUMP.PREFIX)) return 'minidump';
  if (ELF_MAGIC.every((b, i) => head[i] === b)) return 'elf';
  return 'unknown';
}

interface Placement {
  readonly fileSize: number;
  readonly container: DumpContainer;
  readonly base: number;
  readonly kdh?: DecodedKernelDumpHeader;
  readonly device?: DeviceLayout;
  readonly compressedPayload?: CompressedKind;
}

function openInner(file: DumpFile, format: 'minidump' | 'elf', at: Placement): OpenedDump {
  const extra = {
    ...(at.kdh === undefined ? {} : { kdh: at.kdh }),
    ...(at.device === undefined ? {} : { device: at.device }),
    ...(at.compressedPayload === undefined ? {} : { compressedPayload: at.compressedPayload }),
  };
  if (format === 'minidump') {
    const r = openMinidump(file);
    checkArch(r.arch, at.kdh);
    return {
      kind: 'minidump',
      arch: r.arch,
      container: at.container,
      ...extra,
      inner: file,
      fileSize: at.fileSize,
      pageSize: r.pageSize,
      reader: r,
      readPa: (pa, len) => r.readPa(pa, len),
      kvaToPa: (kva) => r.kvaToPa(kva),
      readKva: (kva, len) => r.readKva(kva, len),
      paToFileOffset: (pa) => at.base + r.paToOffset(pa),
      paToDumpOffset: (pa) => r.paToOffset(pa),
    };
  }
  const r = openElfDump(file);
  checkArch(r.arch, at.kdh);
  const eh = Elf64Ehdr.decode(readExact(file, 0, Elf64Ehdr.size, 'ELF header'));
  if (eh.type !== ET.CORE) {
    // openElfDump has checked it; kept so the union never describes a non-core file
    throw new DumpError(DumpCode.BadHeader, 'dump: not an ELF core file', { type: eh.type });
  }
  const dumpOffset = (pa: bigint): number => {
    const s = r.segments.find((x) => pa >= x.pa && pa < x.pa + x.size);
    if (s === undefined) {
      throw new DumpError(DumpCode.NotDumped, `dump: physical address ${hex(pa)} is not in the dump`, { pa });
    }
    return Number(s.offset + (pa - s.pa));
  };
  const noKva = (kva: bigint): DumpError =>
    new DumpError(
      DumpCode.NoKva,
      `dump: an ELF full dump carries physical addresses only: KVA ${hex(kva)} cannot be translated (read by physical address)`,
      { va: kva },
    );
  return {
    kind: 'elf',
    arch: r.arch,
    container: at.container,
    ...extra,
    inner: file,
    fileSize: at.fileSize,
    pageSize: ELF_PAGE,
    reader: r,
    elf: { phnum: eh.phnum, machine: eh.machine, osabi: eh.osabi },
    readPa: (pa, len) => r.readPa(pa, len),
    kvaToPa: (kva) => {
      throw noKva(kva);
    },
    readKva: (kva) => {
      throw noKva(kva);
    },
    paToFileOffset: (pa) => at.base + dumpOffset(pa),
    paToDumpOffset: (pa) => dumpOffset(pa),
  };
}

function checkArch(arch: Arch, kdh: DecodedKernelDumpHeader | undefined): void {
  if (kdh !== undefined && kdh.arch !== arch) {
    throw new DumpError(
      DumpCode.BadHeader,
      `dump: the kerneldumpheader says ${KDH_ARCH[kdh.arch].machineArch} but the dump inside is ${arch}`,
      { header: kdh.arch, dump: arch },
    );
  }
}

/** The sector whose start holds a kerneldumpheader magic at the image's end, smallest first. */
function findTrailingHeader(f: DumpFile): { sectorSize: number } | undefined {
  for (const s of SECTOR_SIZES) {
    if (f.size < 2 * s) break;
    const b = readExact(f, f.size - s, KDH_SIZE, 'the trailing kerneldumpheader');
    if (kdhMagicAt(b) !== undefined) return { sectorSize: s };
  }
  return undefined;
}

function openDevice(f: DumpFile, sectorSize: number): OpenedDump {
  const lasthd = f.size - sectorSize;
  const lastBytes = readExact(f, lasthd, KDH_SIZE, 'the trailing kerneldumpheader');
  const magic = kdhMagicAt(lastBytes);
  if (magic === KDH.CLEARED_MAGIC) {
    throw new DumpError(DumpCode.BadMagic, 'dump: the dump headers were cleared (savecore -c): no dump here', {
      magic,
    });
  }
  const last = decodeKernelDumpHeader(lastBytes);
  if (last.magic === 'text') {
    throw new DumpError(
      DumpCode.BadMagic,
      'dump: a textdump (a tar archive of ddb output) holds no memory image: extract it with tar',
      { magic },
    );
  }
  if (last.dumplength > last.dumpextent) {
    throw new DumpError(
      DumpCode.BadHeader,
      `dump: kerneldumpheader dumplength ${hex(last.dumplength)} exceeds dumpextent ${hex(last.dumpextent)}`,
      { dumplength: last.dumplength, dumpextent: last.dumpextent },
    );
  }
  // savecore: firsthd = lasthd - dumpextent - sectorsize - dumpkeysize
  const firsthd = BigInt(lasthd) - last.dumpextent - BigInt(sectorSize) - BigInt(last.dumpkeysize);
  if (firsthd < 0n) {
    throw new DumpError(
      DumpCode.Truncated,
      `dump: the image (${hex(f.size)} bytes) is shorter than its trailing kerneldumpheader says (dumpextent ${hex(last.dumpextent)})`,
      { size: f.size, dumpextent: last.dumpextent, dumpkeysize: last.dumpkeysize, sectorSize },
    );
  }
  const leading = Number(firsthd);
  const firstBytes = readExact(f, leading, KDH_SIZE, 'the leading kerneldumpheader');
  if (kdhMagicAt(firstBytes) === undefined) {
    throw new DumpError(
      DumpCode.BadHeader,
      `dump: first and last dump headers disagree: no leading kerneldumpheader at ${hex(leading)} (where the trailing header's dumpextent puts it)`,
      { leadingOffset: leading, trailingOffset: lasthd },
    );
  }
  decodeKernelDumpHeader(firstBytes); // its own magic, version and parity
  if (!firstBytes.every((b, i) => b === lastBytes[i])) {
    const differ: string[] = [];
    let o = 0;
    for (const fld of KernelDumpHeader.fields) {
      if (fld.kind !== 'pad' && !firstBytes.subarray(o, o + fld.size).every((b, i) => b === lastBytes[o + i])) {
        differ.push(fld.name);
      }
      o += fld.size;
    }
    throw new DumpError(
      DumpCode.BadHeader,
      `dump: first and last dump headers disagree (${differ.join(', ') || 'padding'})`,
      { leadingOffset: leading, trailingOffset: lasthd, fields: differ },
    );
  }
  const dumpOffset = leading + sectorSize + last.dumpkeysize;
  const dumpLength = Number(last.dumplength);
  const device: DeviceLayout = { sectorSize, leadingOffset: leading, trailingOffset: lasthd, dumpOffset, dumpLength };
  if (last.dumpkeysize > 0) {
    throw new DumpError(
      DumpCode.BadHeader,
      `dump: an encrypted dump (dumpkeysize ${hex(last.dumpkeysize)}): decrypt it first (savecore -k with the private key)`,
      { dumpkeysize: last.dumpkeysize },
    );
  }
  const payload = subFile(f, dumpOffset, dumpLength);
  const codec: CompressedKind | undefined =
    last.compression === 'NONE' ? undefined : last.compression === 'GZIP' ? 'gzip' : 'zstd';
  if (codec !== undefined && f.decompress === undefined) throw compressedError(codec, ' in the dump');
  const inner = codec === undefined || f.decompress === undefined ? payload : f.decompress(payload, codec);
  const format = classify(readExact(inner, 0, Math.min(inner.size, 32), 'the dump'), 'the dump');
  if (format === 'unknown') {
    throw new DumpError(
      DumpCode.BadMagic,
      `dump: the dump between the kerneldumpheaders (at ${hex(dumpOffset)}) is not a minidump or an ELF full dump`,
      { dumpOffset },
    );
  }
  return openInner(inner, format, {
    fileSize: f.size,
    container: 'device',
    base: codec === undefined ? dumpOffset : 0,
    kdh: last,
    device,
    ...(codec === undefined ? {} : { compressedPayload: codec }),
  });
}

/** The message buffer of a minidump, as dmesg -M would show it. */
export interface MsgbufText {
  /** File offset (in the opened file) and size of the MSGBUF section (header msgbufsize). */
  readonly offset: number;
  readonly size: number;
  /** struct msgbuf found after the buffer (MSG_MAGIC, msg_size matching its place). */
  readonly struct?: { readonly offset: number; readonly msgSize: number; readonly wseq: number; readonly rseq: number };
  /** The text, oldest first, NULs removed. */
  readonly text: string;
}

/** Largest msgbuf section read. */
const MAX_MSGBUF = 64 << 20;

/** Reads the MSGBUF section (see the module contract). */
export function minidumpMsgbuf(d: OpenedMinidump): MsgbufText {
  const size = d.reader.header.msgbufsize;
  const ps = d.pageSize;
  const rounded = Math.ceil(size / ps) * ps;
  const want = Math.min(rounded, MAX_MSGBUF);
  const sect = readExact(d.inner, ps, want, 'the msgbuf section');
  const base = (d.device?.dumpOffset ?? 0) + ps;
  // The struct sits right after the buffer: at msgbufsize (the kernel's msg_size) or at
  // msgbufsize - sizeof(struct msgbuf) (a dumper that rounded msgbufsize up to the region).
  for (const at of [size, size - Msgbuf.size]) {
    if (at <= 0 || at + Msgbuf.size > sect.length) continue;
    const m = Msgbuf.decode(sect, at);
    if (m.msgMagic !== HOST.MSG_MAGIC || m.msgSize !== at) continue;
    const pos = m.msgWseq % m.msgSize; // MSGBUF_SEQ_TO_POS
    const buf = sect.subarray(0, at);
    const unwrapped = new Uint8Array(at);
    unwrapped.set(buf.subarray(pos), 0);
    unwrapped.set(buf.subarray(0, pos), at - pos);
    return {
      offset: base,
      size,
      struct: { offset: base + at, msgSize: m.msgSize, wseq: m.msgWseq, rseq: m.msgRseq },
      text: textOf(unwrapped),
    };
  }
  return { offset: base, size, text: textOf(sect.subarray(0, Math.min(size, sect.length))) };
}

function textOf(b: Uint8Array): string {
  return new TextDecoder('utf-8').decode(b.filter((x) => x !== 0));
}
