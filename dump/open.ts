/**
 * Opens any crash dump kboot reads, by its bytes: a raw amd64/arm64 minidump (libkvm
 * _kvm_is_minidump: "minidump" at offset 0), an ELF full dump (ET_CORE, sys/kern/kern_dump.c
 * dumpsys_generic) or a dump-device image (dump/device.ts: the leading kerneldumpheader, the
 * dump, the trailing copy of the header in the device's last sector).
 *
 * Contract: `openDump(file, { kernel })` returns a discriminated union on `kind` ('minidump' |
 * 'elf') with `container` ('raw' | 'device'), the decoded header and its placement for a
 * device image, the format's reader, and the common `readPa` / `kvaToPa` / `readKva` /
 * `paToFileOffset` (offsets in the opened file). `extent` says whether the file holds all
 * the dump's headers imply: a file cut short opens (a minidump whose sections are whole, an
 * ELF dump whose program headers are), `extent` gives the bytes and data pages missing and
 * the physical ranges they held, and a read that needs one is DUMP_PAGE_MISSING naming the
 * PA and file offset. Kernel addresses: a minidump through its own page-table section; an
 * ELF full dump through dump/full-kva.ts (amd64: the kernel's page tables from its symbols
 * `kernbase` and `KPML4phys`, or the direct map without them; arm64: DUMP_NO_KVA, as libkvm).
 * `kernel` (dump/kernel.ts) is checked against the dump (DUMP_KERNEL_MISMATCH) and kept as
 * `kernel`. A device image whose header says gzip/zstd is read through the file's
 * `decompress` (dump/file.ts openDumpFile gives one; dump/decompressed.ts):
 * `compressedPayload` names the codec and file offsets are then offsets in the decompressed
 * dump. Without `decompress`, and for a gzip/zstd file handed over as it is, DUMP_COMPRESSED.
 * A kerneldumpheader whose architecture is not the dump's is DUMP_ARCH_MISMATCH; a leading
 * header with no trailing one (a cut device image) DUMP_NO_TRAILING_HEADER.
 * `minidumpMsgbuf(d)` reads the MSGBUF section as dmesg(8) does (dump/msgbuf.ts). Only
 * DumpError escapes.
 */
import { hex } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { ELF_MAGIC, Elf64Ehdr } from '../loader/elf/layout.js';
import { detectCompression, type DumpCompression } from './compress.js';
import { findTrailingHeader, kdhMagicAt, locateDevicePayload, type DeviceLayout } from './device.js';
import { openElfDump, type ElfDump, type MissingRange } from './elfdump.js';
import { DumpCode, DumpError } from './errors.js';
import { fullDumpKva, type FullKvaMethod } from './full-kva.js';
import { checkKernel, type DumpKernel, type KernelCheck } from './kernel.js';
import type { DecodedKernelDumpHeader } from './kerneldumpheader.js';
import { KDH_ARCH, MINIDUMP } from './layout.js';
import { minidumpMsgbufText, type MsgbufText } from './msgbuf.js';
import { bytesFile, openMinidump, pageMissing, readExact, type DumpFile, type Minidump } from './reader.js';

export type { DeviceLayout } from './device.js';
export type { MsgbufText } from './msgbuf.js';
export type { MissingRange } from './elfdump.js';

export type DumpKind = 'minidump' | 'elf';
export type DumpContainer = 'raw' | 'device';
export type CompressedKind = Exclude<DumpCompression, 'none'>;

/** gzip or zstd from a file's first bytes (dump/compress.ts detectCompression); undefined otherwise. */
export function compressedKind(first4: Uint8Array): CompressedKind | undefined {
  const kind = detectCompression(first4);
  return kind === 'none' ? undefined : kind;
}

/** What of the dump the file holds. */
export interface DumpExtent {
  /** Bytes of the dump its headers imply. */
  readonly expectedSize: number;
  /** Bytes of the dump the file holds (less than expectedSize when it was cut short). */
  readonly size: number;
  /** expectedSize − size when positive. */
  readonly missingBytes: number;
  /** Data pages the dump holds (minidump: set bits; ELF: pages of the PT_LOAD ranges). */
  readonly dataPages: number;
  /** Data pages not wholly in the file: every read of them is DUMP_PAGE_MISSING. */
  readonly missingPages: number;
  /** The physical ranges of the missing pages (offsets in the opened file), the first `limit`. */
  missingRanges(limit: number): MissingRange[];
}

/** How kernel virtual addresses are translated. */
export type KvaMethod = 'minidump' | FullKvaMethod;

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
  readonly extent: DumpExtent;
  /** The kernel given to openDump, and what its check against the dump found. */
  readonly kernel?: { readonly file: DumpKernel; readonly check: KernelCheck };
  readonly kvaMethod: KvaMethod;
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

/** How to open a dump. */
export interface OpenDumpOptions {
  /** The kernel's symbol table (dump/kernel.ts loadKernelSymbols): checked, kept, used for ELF dumps' KVAs. */
  readonly kernel?: DumpKernel;
}

const ELF_PAGE = 0x1000;

const startsWith = (b: Uint8Array, text: string): boolean =>
  new TextDecoder('latin1').decode(b.subarray(0, text.length)) === text;

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
export function openDump(input: DumpFile | Uint8Array, opts: OpenDumpOptions = {}): OpenedDump {
  const f = input instanceof Uint8Array ? bytesFile(input) : input;
  const head = readExact(f, 0, Math.min(f.size, 32), 'the first bytes');
  if (head.length < 4) {
    throw new DumpError(DumpCode.Truncated, `dump: ${f.size} bytes is too short for any dump format`, {
      size: f.size,
    });
  }
  const inner = classify(head, 'the file');
  if (inner !== 'unknown') return openInner(f, inner, { fileSize: f.size, container: 'raw', base: 0 }, opts);
  const dev = findTrailingHeader(f);
  if (dev === undefined && kdhMagicAt(head) !== undefined) {
    throw new DumpError(
      DumpCode.NoTrailingHeader,
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
  return openDevice(f, dev.sectorSize, opts);
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
  /** Offset of the dump in the opened file (0 for a decompressed payload). */
  readonly base: number;
  readonly kdh?: DecodedKernelDumpHeader;
  readonly device?: DeviceLayout;
  readonly compressedPayload?: CompressedKind;
}

/** The fields every opened dump has, from its placement. */
function placed(
  file: DumpFile,
  at: Placement,
): Pick<OpenedBase, 'container' | 'inner' | 'fileSize' | 'kdh' | 'device' | 'compressedPayload'> {
  return {
    container: at.container,
    ...(at.kdh === undefined ? {} : { kdh: at.kdh }),
    ...(at.device === undefined ? {} : { device: at.device }),
    ...(at.compressedPayload === undefined ? {} : { compressedPayload: at.compressedPayload }),
    inner: file,
    fileSize: at.fileSize,
  };
}

function openInner(file: DumpFile, format: 'minidump' | 'elf', at: Placement, opts: OpenDumpOptions): OpenedDump {
  return format === 'minidump' ? openMinidumpInner(file, at, opts) : openElfInner(file, at, opts);
}

/**
 * The dump's reads with DUMP_PAGE_MISSING naming offsets in the opened file (a dump-device
 * image's dump starts after its leading header).
 */
function inOpenedFile<R extends Pick<OpenedBase, 'readPa' | 'kvaToPa' | 'readKva'>>(r: R, at: Placement): R {
  if (at.base === 0) return r;
  const rebase = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof DumpError) || e.code !== DumpCode.PageMissing) throw e;
      const { pa, offset } = e.details as { pa: bigint; offset: bigint };
      throw pageMissing(pa, offset + BigInt(at.base), at.fileSize);
    }
  };
  return {
    ...r,
    readPa: (pa: bigint, len: number) => rebase(() => r.readPa(pa, len)),
    kvaToPa: (va: bigint) => rebase(() => r.kvaToPa(va)),
    readKva: (va: bigint, len: number) => rebase(() => r.readKva(va, len)),
  };
}

/** The kernel checked against the dump, or nothing. */
function withKernel(opts: OpenDumpOptions, arch: Arch, kernelMapStart?: bigint): Pick<OpenedBase, 'kernel'> {
  if (opts.kernel === undefined) return {};
  const check = checkKernel(opts.kernel, { arch, ...(kernelMapStart === undefined ? {} : { kernelMapStart }) });
  return { kernel: { file: opts.kernel, check } };
}

/** A minidump's extent: the data pages past the end of the file, by PA. */
function minidumpExtent(r: Minidump, file: DumpFile, base: number): DumpExtent {
  const missingPages = r.pages - r.presentPages;
  return {
    expectedSize: r.expectedSize,
    size: file.size,
    missingBytes: Math.max(0, r.expectedSize - file.size),
    dataPages: r.pages,
    missingPages,
    missingRanges(limit) {
      const out: MissingRange[] = [];
      if (missingPages === 0) return out;
      const ps = BigInt(r.pageSize);
      for (const { index, pa } of r.pagesFrom(r.presentPages)) {
        if (pa === undefined) continue;
        const last = out[out.length - 1];
        if (last !== undefined && last.end === pa) {
          out[out.length - 1] = { ...last, end: pa + ps };
          continue;
        }
        if (out.length === limit) break;
        out.push({ pa, end: pa + ps, offset: BigInt(base + r.offsets.sparse) + BigInt(index) * ps });
      }
      return out;
    },
  };
}

function openMinidumpInner(file: DumpFile, at: Placement, opts: OpenDumpOptions): OpenedMinidump {
  const r = openMinidump(file);
  checkArch(r.arch, at.kdh);
  return inOpenedFile<OpenedMinidump>(
    {
      kind: 'minidump',
      arch: r.arch,
      ...placed(file, at),
      pageSize: r.pageSize,
      reader: r,
      extent: minidumpExtent(r, file, at.base),
      ...withKernel(opts, r.arch, r.header.kernbase),
      kvaMethod: 'minidump',
      readPa: (pa, len) => r.readPa(pa, len),
      kvaToPa: (kva) => r.kvaToPa(kva),
      readKva: (kva, len) => r.readKva(kva, len),
      paToFileOffset: (pa) => at.base + r.paToOffset(pa),
      paToDumpOffset: (pa) => r.paToOffset(pa),
    },
    at,
  );
}

/** An ELF dump's extent: the parts of its PT_LOAD ranges past the end of the file. */
function elfExtent(r: ElfDump, file: DumpFile, base: number): DumpExtent {
  const page = BigInt(ELF_PAGE);
  const pages = (n: bigint): number => Number((n + page - 1n) / page);
  const expected = Number(r.expectedSize);
  return {
    expectedSize: expected,
    size: file.size,
    missingBytes: Math.max(0, expected - file.size),
    dataPages: r.segments.reduce((n, s) => n + pages(s.size), 0),
    missingPages: r.missing.reduce((n, m) => n + pages(m.end - m.pa), 0),
    missingRanges: (limit) => r.missing.slice(0, limit).map((m) => ({ ...m, offset: m.offset + BigInt(base) })),
  };
}

function openElfInner(file: DumpFile, at: Placement, opts: OpenDumpOptions): OpenedElfDump {
  const r = openElfDump(file);
  checkArch(r.arch, at.kdh);
  const eh = Elf64Ehdr.decode(readExact(file, 0, Elf64Ehdr.size, 'ELF header'));
  const dumpOffset = (pa: bigint): number => {
    const s = r.segments.find((x) => pa >= x.pa && pa < x.pa + x.size);
    if (s === undefined) {
      throw new DumpError(DumpCode.NotDumped, `dump: physical address ${hex(pa)} is not in the dump`, { pa });
    }
    return Number(s.offset + (pa - s.pa));
  };
  const kernel = withKernel(opts, r.arch);
  const kva = fullDumpKva(r.arch, (pa, len) => r.readPa(pa, len), kernel.kernel?.file.symbols);
  const readKva = (va: bigint, len: number): Uint8Array => {
    const out = new Uint8Array(len);
    for (let done = 0; done < len;) {
      const a = (va + BigInt(done)) & 0xffff_ffff_ffff_ffffn;
      const n = Math.min(ELF_PAGE - Number(a % BigInt(ELF_PAGE)), len - done);
      out.set(r.readPa(kva.kvaToPa(a), n), done);
      done += n;
    }
    return out;
  };
  return inOpenedFile<OpenedElfDump>(
    {
      kind: 'elf',
      arch: r.arch,
      ...placed(file, at),
      pageSize: ELF_PAGE,
      reader: r,
      elf: { phnum: eh.phnum, machine: eh.machine, osabi: eh.osabi },
      extent: elfExtent(r, file, at.base),
      ...kernel,
      kvaMethod: kva.method,
      readPa: (pa, len) => r.readPa(pa, len),
      kvaToPa: (va) => kva.kvaToPa(va),
      readKva: (va, len) => readKva(va, len),
      paToFileOffset: (pa) => at.base + dumpOffset(pa),
      paToDumpOffset: (pa) => dumpOffset(pa),
    },
    at,
  );
}

function checkArch(arch: Arch, kdh: DecodedKernelDumpHeader | undefined): void {
  if (kdh !== undefined && kdh.arch !== arch) {
    throw new DumpError(
      DumpCode.ArchMismatch,
      `dump: the kerneldumpheader says ${KDH_ARCH[kdh.arch].machineArch} but the dump inside is ${arch}`,
      { header: kdh.arch, dump: arch },
    );
  }
}

function openDevice(f: DumpFile, sectorSize: number, opts: OpenDumpOptions): OpenedDump {
  const { kdh, device } = locateDevicePayload(f, sectorSize);
  const payload = subFile(f, device.dumpOffset, device.dumpLength);
  const codec: CompressedKind | undefined =
    kdh.compression === 'NONE' ? undefined : kdh.compression === 'GZIP' ? 'gzip' : 'zstd';
  if (codec !== undefined && f.decompress === undefined) throw compressedError(codec, ' in the dump');
  const inner = codec === undefined || f.decompress === undefined ? payload : f.decompress(payload, codec);
  const format = classify(readExact(inner, 0, Math.min(inner.size, 32), 'the dump'), 'the dump');
  if (format === 'unknown') {
    throw new DumpError(
      DumpCode.BadMagic,
      `dump: the dump between the kerneldumpheaders (at ${hex(device.dumpOffset)}) is not a minidump or an ELF full dump`,
      { dumpOffset: device.dumpOffset },
    );
  }
  const at: Placement = {
    fileSize: f.size,
    container: 'device',
    base: codec === undefined ? device.dumpOffset : 0,
    kdh,
    device,
    ...(codec === undefined ? {} : { compressedPayload: codec }),
  };
  return openInner(inner, format, at, opts);
}

/** Reads the MSGBUF section of a minidump (dump/msgbuf.ts). */
export function minidumpMsgbuf(d: OpenedMinidump): MsgbufText {
  return minidumpMsgbufText(d.inner, d.reader, d.device?.dumpOffset ?? 0);
}
