/**
 * DumpError: the error domain of dump/ (minidump, kerneldumpheader, ELF full dump, reader).
 *
 * Contract: every failure in dump/ on bad input raises a DumpError with one of the stable
 * `DumpCode` values; dump readers are fuzzable and let nothing else escape. Formats follow
 * sys/sys/kerneldump.h, sys/{amd64,arm64}/include/minidump.h and lib/libkvm.
 */
import { KbootError, type CodeOf } from '../loader/errors.js';

export const DumpCode = {
  /** The input is shorter than a header or section it must hold. */
  Truncated: 'DUMP_TRUNCATED',
  /** The magic string is not one the format knows. */
  BadMagic: 'DUMP_BAD_MAGIC',
  /** A version (or architecture version) this reader does not handle. */
  BadVersion: 'DUMP_BAD_VERSION',
  /** kerneldumpheader parity does not XOR to zero. */
  BadParity: 'DUMP_BAD_PARITY',
  /** A header field with an impossible value (size, flags, architecture, compression). */
  BadHeader: 'DUMP_BAD_HEADER',
  /** A value given to an encoder/writer that the format cannot hold. */
  BadValue: 'DUMP_BAD_VALUE',
  /** rescue_dump_params (or the memory they point at) that cannot produce a dump. */
  BadParams: 'DUMP_BAD_PARAMS',
  /** A section or allocation larger than kboot handles. */
  TooLarge: 'DUMP_TOO_LARGE',
  /** A kernel VA the dumped page tables do not map. */
  NotMapped: 'DUMP_NOT_MAPPED',
  /** A physical page that is not in the dump (outside dump_avail, or its bit is clear). */
  NotDumped: 'DUMP_NOT_DUMPED',
  /** A kernel VA asked of a dump that carries physical addresses only (an ELF full dump has no page tables). */
  NoKva: 'DUMP_NO_KVA',
  /** A gzip- or zstd-compressed dump (savecore -z, or a compressed kernel dump) that must be decompressed first. */
  Compressed: 'DUMP_COMPRESSED',
  /** A gzip or zstd stream that cannot be decoded (corrupt, not that format, trailing garbage), or a compressor failure. */
  Compress: 'DUMP_COMPRESS',
  /** The dump file cannot be created, written or read. */
  Io: 'DUMP_IO',
  /** The dump directory lacks room for the worst case; nothing was written. */
  NoSpace: 'DUMP_NO_SPACE',
  /** The rescue kernel panicked while dumping (a second panic); the stream ended there. */
  RescuePanic: 'DUMP_RESCUE_PANIC',
} as const;
export type DumpErrorCode = CodeOf<typeof DumpCode>;

/** A dump could not be written, parsed or read. */
export class DumpError extends KbootError<DumpErrorCode> {
  readonly domain = 'dump';
  override readonly name = 'DumpError';
}
