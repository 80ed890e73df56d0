/**
 * A dump-device image read as savecore(8) reads a dump device (sbin/savecore/savecore.c
 * DoFile): the leading kerneldumpheader, the dump, and the trailing copy of the header in the
 * device's last sector (sys/kern/kern_dump.c dump_start / dump_write_headers,
 * sys/sys/kerneldump.h).
 *
 * Contract: `findTrailingHeader(f)` finds the sector size (the smallest power of two from
 * 512 bytes to 64 KiB whose last sector starts with a header magic). `locateDevicePayload(f,
 * sectorSize)` reads the LAST header first, then the leading one at lasthd − dumpextent −
 * sectorsize − dumpkeysize; both must decode (magic, version, parity) and be byte-identical;
 * the dump is the `dumplength` bytes after the leading header and the key. Refusals, each
 * with its code: cleared headers (savecore -c) DUMP_CLEARED, a textdump DUMP_TEXTDUMP,
 * dumplength > dumpextent DUMP_BAD_LENGTH, a dumpextent reaching before the image
 * DUMP_TRUNCATED, no leading header where the extent puts it DUMP_NO_LEADING_HEADER,
 * headers that differ DUMP_HEADERS_DISAGREE (`details.fields`), an encrypted dump
 * DUMP_ENCRYPTED. Only DumpError escapes.
 */
import { hex } from '../loader/addr.js';
import { DumpCode, DumpError } from './errors.js';
import { decodeKernelDumpHeader, type DecodedKernelDumpHeader } from './kerneldumpheader.js';
import { KDH, KernelDumpHeader } from './layout.js';
import { readExact, type DumpFile } from './reader.js';

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

const KDH_SIZE = KernelDumpHeader.size;
/** Sector sizes tried for the trailing header, smallest first. */
const SECTOR_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536] as const;

const latin1 = (b: Uint8Array): string => new TextDecoder('latin1').decode(b);

/** The kerneldumpheader magic at the start of `b`, if any. */
export function kdhMagicAt(b: Uint8Array): string | undefined {
  return [KDH.MAGIC, KDH.TEXT_MAGIC, KDH.CLEARED_MAGIC].find((m) => latin1(b.subarray(0, m.length + 1)) === `${m}\0`);
}

/** The sector whose start holds a kerneldumpheader magic at the image's end, smallest first. */
export function findTrailingHeader(f: DumpFile): { sectorSize: number } | undefined {
  for (const s of SECTOR_SIZES) {
    if (f.size < 2 * s) break;
    const b = readExact(f, f.size - s, KDH_SIZE, 'the trailing kerneldumpheader');
    if (kdhMagicAt(b) !== undefined) return { sectorSize: s };
  }
  return undefined;
}

/** The trailing header, decoded; a cleared header or a textdump is refused with its own code. */
function readTrailingHeader(f: DumpFile, lasthd: number): { bytes: Uint8Array; kdh: DecodedKernelDumpHeader } {
  const bytes = readExact(f, lasthd, KDH_SIZE, 'the trailing kerneldumpheader');
  const magic = kdhMagicAt(bytes);
  if (magic === KDH.CLEARED_MAGIC) {
    throw new DumpError(DumpCode.Cleared, 'dump: the dump headers were cleared (savecore -c): no dump here', { magic });
  }
  const kdh = decodeKernelDumpHeader(bytes);
  if (kdh.magic === 'text') {
    throw new DumpError(
      DumpCode.Textdump,
      'dump: a textdump (a tar archive of ddb output) holds no memory image: extract it with tar',
      { magic },
    );
  }
  if (kdh.dumplength > kdh.dumpextent) {
    throw new DumpError(
      DumpCode.BadLength,
      `dump: kerneldumpheader dumplength ${hex(kdh.dumplength)} exceeds dumpextent ${hex(kdh.dumpextent)}`,
      { dumplength: kdh.dumplength, dumpextent: kdh.dumpextent },
    );
  }
  return { bytes, kdh };
}

/** The header fields in which two encoded headers differ ('padding' when only padding does). */
function differingFields(a: Uint8Array, b: Uint8Array): string[] {
  const differ: string[] = [];
  let o = 0;
  for (const fld of KernelDumpHeader.fields) {
    if (fld.kind !== 'pad' && !a.subarray(o, o + fld.size).every((x, i) => x === b[o + i])) differ.push(fld.name);
    o += fld.size;
  }
  return differ.length === 0 ? ['padding'] : differ;
}

/** The leading header at savecore's firsthd, checked against the trailing one. */
function checkLeadingHeader(
  f: DumpFile,
  lasthd: number,
  sectorSize: number,
  last: DecodedKernelDumpHeader,
  lastBytes: Uint8Array,
): number {
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
      DumpCode.NoLeadingHeader,
      `dump: no leading kerneldumpheader at ${hex(leading)} (where the trailing header's dumpextent puts it)`,
      { leadingOffset: leading, trailingOffset: lasthd },
    );
  }
  decodeKernelDumpHeader(firstBytes); // its own magic, version and parity
  if (!firstBytes.every((b, i) => b === lastBytes[i])) {
    const fields = differingFields(firstBytes, lastBytes);
    throw new DumpError(DumpCode.HeadersDisagree, `dump: first and last dump headers disagree (${fields.join(', ')})`, {
      leadingOffset: leading,
      trailingOffset: lasthd,
      fields,
    });
  }
  return leading;
}

/** The headers and the payload's place in a dump-device image (see the module contract). */
export function locateDevicePayload(
  f: DumpFile,
  sectorSize: number,
): { kdh: DecodedKernelDumpHeader; device: DeviceLayout } {
  const lasthd = f.size - sectorSize;
  const { bytes, kdh } = readTrailingHeader(f, lasthd);
  const leading = checkLeadingHeader(f, lasthd, sectorSize, kdh, bytes);
  if (kdh.dumpkeysize > 0) {
    throw new DumpError(
      DumpCode.Encrypted,
      `dump: an encrypted dump (dumpkeysize ${hex(kdh.dumpkeysize)}): decrypt it first (savecore -k with the private key)`,
      { dumpkeysize: kdh.dumpkeysize },
    );
  }
  const device: DeviceLayout = {
    sectorSize,
    leadingOffset: leading,
    trailingOffset: lasthd,
    dumpOffset: leading + sectorSize + kdh.dumpkeysize,
    dumpLength: Number(kdh.dumplength),
  };
  return { kdh, device };
}
