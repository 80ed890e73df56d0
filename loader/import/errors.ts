/**
 * Errors of the machine importers (loader/import/): a board's device tree, a FreeBSD
 * efi_map / smap, a Linux /sys/firmware/memmap or /proc/iomem, the running host.
 *
 * Contract: the importers' parsers raise only `ImportError` (and, for the binary forms they
 * hand to loader/handoff's decoders, `HandoffError`: FDT_* for a blob that is not a device
 * tree, HANDOFF_* for an efi_map header that lies) — their fuzz contract. `details` carry the
 * facts (line numbers, offsets, ranges, the option that would help: `hint: '--memory'`).
 */
import { KbootError, type CodeOf } from '../errors.js';

/** Codes of ImportError: machine sources (DTB, efi_map, smap, memmap, iomem, the host) that cannot be imported (`IMPORT_*`). */
export const ImportCode = {
  /** No RAM could be found: no /memory node, a /memory of size 0, a map without RAM (details.hint names --memory). */
  NoMemory: 'IMPORT_NO_MEMORY',
  /** A line of a text map (sysctl machdep.efi_map / machdep.smap, /proc/iomem, a memmap entry) kboot cannot read (details.line). */
  Syntax: 'IMPORT_SYNTAX',
  /** A binary map whose length or structure disagrees with itself (efi_map length vs memory_size, smap not a whole number of entries). */
  BadMap: 'IMPORT_BAD_MAP',
  /** A range that is empty where it may not be, passes 2^64, or overlaps another it may not overlap. */
  BadRange: 'IMPORT_BAD_RANGE',
  /** Something the importer does not handle (3-cell addresses, an unknown arch or OS). */
  Unsupported: 'IMPORT_UNSUPPORTED',
  /** More entries, lines, nodes or ranges than the importer's limits. */
  TooLarge: 'IMPORT_TOO_LARGE',
  /** The running host could not be read (details.what: the file or command). */
  Host: 'IMPORT_HOST',
  /** The facts do not make a usable machine profile (details.problems, as parseProfile found them). */
  Unusable: 'IMPORT_UNUSABLE',
} as const;

/** A machine description kboot cannot turn into a profile. */
export class ImportError extends KbootError<CodeOf<typeof ImportCode>> {
  readonly domain = 'import';
  override readonly name = 'ImportError';
}
