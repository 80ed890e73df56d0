/**
 * struct kerneldumpheader v4: encode, decode and parity (sys/sys/kerneldump.h,
 * sys/kern/kern_shutdown.c dump_init_header, kerneldump_parity).
 *
 * Contract: `encodeKernelDumpHeader(h)` returns 512 bytes with big-endian integers,
 * NUL-padded strings truncated as strlcpy truncates them (a truncated versionstring gets
 * '\n' at byte 190) and a parity word chosen so that the XOR of all 128 32-bit words is 0.
 * `decodeKernelDumpHeader(bytes)` checks magic, version, parity, architecture and
 * compression and throws only DumpError. `kerneldumpParity(bytes)` is the XOR of the 128
 * words (0 for a good header), read little-endian (the check is byte-order independent).
 */
import { hex } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { DumpCode, DumpError } from './errors.js';
import { KDH, KDH_ARCH, KernelDumpHeader, KerneldumpComp, type KerneldumpCompression } from './layout.js';

export type KernelDumpMagic = 'kernel' | 'text' | 'cleared';
const MAGIC_TEXT: { readonly [M in KernelDumpMagic]: string } = {
  kernel: KDH.MAGIC,
  text: KDH.TEXT_MAGIC,
  cleared: KDH.CLEARED_MAGIC,
};

export interface KernelDumpHeaderFields {
  readonly magic: KernelDumpMagic;
  readonly arch: Arch;
  /** Bytes of dump, headers not included. */
  readonly dumplength: bigint;
  /** Defaults to dumplength. */
  readonly dumpextent?: bigint;
  /** time_second at dump time. */
  readonly dumptime: bigint;
  readonly dumpkeysize?: number;
  readonly blocksize: number;
  readonly hostname: string;
  readonly versionstring: string;
  readonly panicstring: string;
  readonly compression: KerneldumpCompression;
}

export interface DecodedKernelDumpHeader extends Required<KernelDumpHeaderFields> {
  readonly version: number;
  readonly architectureversion: number;
  readonly parity: number;
}

const SIZE = KernelDumpHeader.size;

/** XOR of the 128 little-endian u32 words of a 512-byte header (0 when the parity is right). */
export function kerneldumpParity(b: Uint8Array): number {
  if (b.length < SIZE) throw truncated(b.length);
  const dv = new DataView(b.buffer, b.byteOffset, SIZE);
  let p = 0;
  for (let i = 0; i < SIZE; i += 4) p ^= dv.getUint32(i, true);
  return p >>> 0;
}

/** strlcpy(dst, s, n): at most n-1 bytes, NUL-padded; UTF-8 cut at the byte. */
function strField(s: string, n: number): { bytes: Uint8Array; truncated: boolean } {
  const enc = new TextEncoder().encode(s);
  const nul = enc.indexOf(0);
  const src = nul < 0 ? enc : enc.subarray(0, nul);
  const out = new Uint8Array(n);
  out.set(src.subarray(0, n - 1));
  return { bytes: out, truncated: src.length > n - 1 };
}

function readStr(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return new TextDecoder('utf-8').decode(nul < 0 ? b : b.subarray(0, nul));
}

function truncated(len: number): DumpError {
  return new DumpError(DumpCode.Truncated, `dump: kerneldumpheader needs ${hex(SIZE)} bytes (have ${hex(len)})`, {
    length: len,
    need: SIZE,
  });
}

/** Encodes a kerneldumpheader (see the module contract). */
export function encodeKernelDumpHeader(h: KernelDumpHeaderFields): Uint8Array {
  const u64ok = (v: bigint): boolean => v >= 0n && v < 1n << 64n;
  const u32ok = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
  const extent = h.dumpextent ?? h.dumplength;
  const keysize = h.dumpkeysize ?? 0;
  for (const [name, v] of [
    ['dumplength', h.dumplength],
    ['dumpextent', extent],
    ['dumptime', h.dumptime],
  ] as const) {
    if (!u64ok(v))
      throw new DumpError(DumpCode.BadValue, `dump: ${name} is not a u64 (${hex(v)})`, { field: name, value: v });
  }
  for (const [name, v] of [
    ['blocksize', h.blocksize],
    ['dumpkeysize', keysize],
  ] as const) {
    if (!u32ok(v))
      throw new DumpError(DumpCode.BadValue, `dump: ${name} is not a u32 (${String(v)})`, { field: name, value: v });
  }
  const ver = strField(h.versionstring, 192);
  if (ver.truncated) ver.bytes[KDH.VERSION_TRUNC_MARK_AT] = 0x0a;
  const a = KDH_ARCH[h.arch];
  const out = KernelDumpHeader.encode({
    magic: strField(MAGIC_TEXT[h.magic], 20).bytes,
    architecture: strField(a.machineArch, 12).bytes,
    version: KDH.VERSION,
    architectureversion: a.archVersion,
    dumplength: h.dumplength,
    dumptime: h.dumptime,
    dumpkeysize: keysize,
    blocksize: h.blocksize,
    hostname: strField(h.hostname, 64).bytes,
    versionstring: ver.bytes,
    panicstring: strField(h.panicstring, 175).bytes,
    compression: KerneldumpComp[h.compression],
    dumpextent: extent,
    parity: 0,
  });
  const p = kerneldumpParity(out);
  new DataView(out.buffer, out.byteOffset, SIZE).setUint32(KernelDumpHeader.offsets.parity, p, true);
  return out;
}

/** Decodes and checks a kerneldumpheader at the start of `b` (see the module contract). */
export function decodeKernelDumpHeader(b: Uint8Array): DecodedKernelDumpHeader {
  if (b.length < SIZE) throw truncated(b.length);
  const v = KernelDumpHeader.decode(b.subarray(0, SIZE));
  const magicText = readStr(v.magic);
  const magic = (Object.keys(MAGIC_TEXT) as KernelDumpMagic[]).find((k) => MAGIC_TEXT[k] === magicText);
  if (magic === undefined) {
    throw new DumpError(DumpCode.BadMagic, `dump: kerneldumpheader magic is not known (${JSON.stringify(magicText)})`, {
      magic: magicText,
    });
  }
  if (v.version !== KDH.VERSION) {
    throw new DumpError(
      DumpCode.BadVersion,
      `dump: kerneldumpheader version ${hex(v.version)} (want ${hex(KDH.VERSION)})`,
      {
        version: v.version,
      },
    );
  }
  const parity = kerneldumpParity(b);
  if (parity !== 0) {
    throw new DumpError(DumpCode.BadParity, `dump: kerneldumpheader parity does not check (xor ${hex(parity)})`, {
      xor: parity,
    });
  }
  const archText = readStr(v.architecture);
  const arch = (Object.keys(KDH_ARCH) as Arch[]).find((k) => KDH_ARCH[k].machineArch === archText);
  if (arch === undefined) {
    throw new DumpError(
      DumpCode.UnknownArch,
      `dump: kerneldumpheader architecture is not amd64/aarch64 (${JSON.stringify(archText)})`,
      {
        architecture: archText,
      },
    );
  }
  const compression = (Object.keys(KerneldumpComp) as KerneldumpCompression[]).find(
    (k) => KerneldumpComp[k] === v.compression,
  );
  if (compression === undefined) {
    throw new DumpError(
      DumpCode.UnknownCompression,
      `dump: kerneldumpheader compression ${hex(v.compression)} is not known`,
      {
        compression: v.compression,
      },
    );
  }
  return {
    magic,
    arch,
    version: v.version,
    architectureversion: v.architectureversion,
    dumplength: v.dumplength,
    dumpextent: v.dumpextent,
    dumptime: v.dumptime,
    dumpkeysize: v.dumpkeysize,
    blocksize: v.blocksize,
    hostname: readStr(v.hostname),
    versionstring: readStr(v.versionstring),
    panicstring: readStr(v.panicstring),
    compression,
    parity: v.parity,
  };
}
