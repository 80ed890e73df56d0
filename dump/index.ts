/**
 * `kboot/dump`: FreeBSD crash dumps as files — open one (a raw amd64/arm64 minidump, an ELF
 * full dump or a dump-device image between kerneldumpheaders; gzip/zstd decoded on demand)
 * and read its memory by physical address or by kernel VA through the dumped page tables, as
 * libkvm does; what a killed savecore-style writer left in a crash directory. Writing a dump
 * from a machine is `kboot/rescue`.
 *
 * Contract: an explicit list (no `export *`), each name with a doc comment (at its
 * declaration, or here where this index names a type or table of dump/ under its public
 * name); api/kboot-dump.api.md is the checked-in report of this surface (test/api).
 *
 *   import { openDump, openDumpFile } from 'kboot/dump';
 *   const d = openDump(openDumpFile('crash/vmcore.0'));
 */
import { DumpCode as DUMP_CODES, type DumpErrorCode as AnyDumpCode } from './errors.js';
import type * as open from './open.js';

export { openDump } from './open.js';
export { openDumpFile, openDumpFileAsync, type DumpInputFile } from './file.js';
export { DUMP_COMPRESSIONS, type DumpCompression } from './compress.js';
export { recoverDumpDirectory, type DumpDirRecovery, type RecoveredDump } from './recover.js';
export { DumpError } from './errors.js';
export {
  inspectDumpFile,
  readDumpFile,
  summarizeDumpFile,
  type DumpAtHand,
  type DumpFileOptions,
} from './report/file.js';
export type { DumpInspectReport } from './report/inspect.js';
export type { DumpReadReport, ReadFormat, ReadRequest } from './report/read.js';
export type { DumpInfoReport } from './report/summary.js';

/** A crash dump opened for reading: a minidump or an ELF full dump (`kind` tells which). */
export type OpenedDump = open.OpenedDump;
/** An opened minidump (FreeBSD's default dump: the pages dump_avail and the page bitmap name). */
export type OpenedMinidump = open.OpenedMinidump;
/** An opened ELF full dump (one PT_LOAD per dump_avail range; readelf and gdb read it). */
export type OpenedElfDump = open.OpenedElfDump;
/** The format of an opened dump. */
export type DumpKind = open.DumpKind;
/** How an opened dump is stored: the whole file, or between the kerneldumpheaders of a dump-device image. */
export type DumpContainer = open.DumpContainer;
/** A code of DumpError. */
export type DumpErrorCode = AnyDumpCode;
/** Codes of DumpError: dumps that cannot be written, parsed or read (`DUMP_*`). */
export const DumpCode: typeof DUMP_CODES = DUMP_CODES;
