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
  /** The kerneldumpheader names an architecture other than amd64 / aarch64, or an ELF dump's e_machine is neither. */
  UnknownArch: 'DUMP_UNKNOWN_ARCH',
  /** The kerneldumpheader's compression byte is not KERNELDUMP_COMP_NONE, _GZIP or _ZSTD. */
  UnknownCompression: 'DUMP_UNKNOWN_COMPRESSION',
  /** An arm64 minidump's page-size flag is neither MINIDUMP_FLAG_PS_4K nor _PS_16K. */
  BadPageSize: 'DUMP_BAD_PAGE_SIZE',
  /** A dump-device image's leading and trailing kerneldumpheaders differ (`details.fields` names the fields). */
  HeadersDisagree: 'DUMP_HEADERS_DISAGREE',
  /** No leading kerneldumpheader where the trailing header's dumpextent puts it. */
  NoLeadingHeader: 'DUMP_NO_LEADING_HEADER',
  /** A leading kerneldumpheader but none in the image's last sector (a cut dump-device image). */
  NoTrailingHeader: 'DUMP_NO_TRAILING_HEADER',
  /** The kerneldumpheader's dumplength exceeds its dumpextent. */
  BadLength: 'DUMP_BAD_LENGTH',
  /** The kerneldumpheader's architecture and the dump inside it disagree. */
  ArchMismatch: 'DUMP_ARCH_MISMATCH',
  /** An encrypted dump (dumpkeysize > 0): decrypt it first (savecore -k). */
  Encrypted: 'DUMP_ENCRYPTED',
  /** The dump headers were cleared (savecore -c, "Cleared Kernel Dump"): no dump is there. */
  Cleared: 'DUMP_CLEARED',
  /** A textdump (a tar archive of ddb output, "FreeBSD Text Dump"): no memory image. */
  Textdump: 'DUMP_TEXTDUMP',
  /** An ELF file that is not a little-endian ELF64 ET_CORE file. */
  NotCore: 'DUMP_NOT_CORE',
  /** An ELF dump's program-header table is unusable (entry size, count) or a segment wraps 2^64. */
  BadPhdrs: 'DUMP_BAD_PHDRS',
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
  /**
   * A page the dump holds but the file does not: it lies past the end of a truncated file
   * (`details`: the PA and the file offset where it would be).
   */
  PageMissing: 'DUMP_PAGE_MISSING',
  /**
   * A kernel VA that cannot be translated: an ELF full dump without the kernel's symbols
   * (amd64 needs `kernbase` and `KPML4phys` outside the direct map), or an arm64 full dump
   * (libkvm translates arm64 kernel addresses of minidumps only).
   */
  NoKva: 'DUMP_NO_KVA',
  /** A symbol the kernel file does not define (or a kernel file without a symbol table). */
  NoSymbol: 'DUMP_NO_SYMBOL',
  /** The kernel file does not belong to the dump: another architecture, or KERNBASE outside the dumped kernel map. */
  KernelMismatch: 'DUMP_KERNEL_MISMATCH',
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
