/**
 * Zero pages of a dump: how many of its dumped data pages hold nothing but zeros (never
 * touched RAM, a sparse dump whose unread ranges were zeroed, pages the dumper could not
 * read). FreeBSD's dumpers write such pages like any other (sys/kern/kern_dump.c,
 * minidump_machdep.c); savecore and kboot's writer leave holes for them on disk.
 *
 * Contract: `countZeroPagesSteps(d)` (dump/steps.ts: run it at once with `runSteps` or with
 * the event loop turning with `runStepsAsync`) reads the data pages the file holds — a
 * minidump's page area up to the last whole page in the file, each ELF PT_LOAD range up to
 * what the file holds — in reads of at most 1 MiB, yielding between reads, and returns how
 * many whole pages are all zero; missing pages (a truncated file) are not counted. Reads go
 * through the dump's own file (a decompressed dump is decoded as it goes). Only the
 * DumpFile's errors escape.
 */
import type { OpenedDump } from './open.js';
import { readExact, type DumpFile } from './reader.js';
import type { Steps } from './steps.js';

const READ_BYTES = 1 << 20;

/** A run of whole data pages in the dump file: `pages` pages of `pageSize` bytes from `offset`. */
interface PageRun {
  readonly offset: number;
  readonly pages: number;
}

/** The runs of data pages the file holds. */
function presentRuns(d: OpenedDump): PageRun[] {
  if (d.kind === 'minidump') return [{ offset: d.reader.offsets.sparse, pages: d.reader.presentPages }];
  const ps = BigInt(d.pageSize);
  return d.reader.segments.map((s) => ({ offset: Number(s.offset), pages: Number(s.present / ps) }));
}

/** Zero pages among `pages` pages of `ps` bytes at the start of `b`. */
function zeroPagesIn(b: Uint8Array, ps: number, zero: Uint8Array): number {
  let n = 0;
  for (let o = 0; o + ps <= b.length; o += ps) if (Buffer.compare(b.subarray(o, o + ps), zero) === 0) n++;
  return n;
}

/** Counts the all-zero data pages of `d` (see the module contract). */
export function* countZeroPagesSteps(d: OpenedDump): Steps<number> {
  const f: DumpFile = d.inner;
  const ps = d.pageSize;
  const zero = new Uint8Array(ps);
  const perRead = Math.max(1, Math.floor(READ_BYTES / ps));
  let zeros = 0;
  for (const run of presentRuns(d)) {
    for (let done = 0; done < run.pages;) {
      const n = Math.min(perRead, run.pages - done);
      zeros += zeroPagesIn(readExact(f, run.offset + done * ps, n * ps, 'data pages'), ps, zero);
      done += n;
      yield;
    }
  }
  return zeros;
}
