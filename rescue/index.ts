/**
 * `kboot/rescue`: the rescue kernel's side after the jump — its /dev/dumper reading the
 * hand-off from the reservation and streaming a minidump (or an ELF full dump) of the host,
 * watching for pages that change while it dumps, saved the way savecore(8) saves it
 * (`vmcore.N`, `info.N`, `bounds`) or as a dump-device image, with the faults kboot can put
 * a dump through.
 *
 * Contract: an explicit list (no `export *`), each name with a doc comment at its declaration;
 * api/kboot-rescue.api.md is the checked-in report of this surface (test/api).
 *
 *   import { crashDump } from 'kboot/rescue';
 *   if (session.panic().rescued) crashDump(session, { dir: 'crash' });
 */
export {
  crashDump,
  crashDumpAsync,
  DUMP_FAULTS,
  type CrashDumpOptions,
  type CrashDumpResult,
  type DumpFault,
} from './crash-dump.js';
export { probeObserver, type ProbeRun } from './probe-observer.js';
export { DUMP_FORMATS, type ChangedPage, type DumpFormat, type DumpWatchReport } from './dumper.js';
