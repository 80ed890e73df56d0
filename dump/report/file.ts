/**
 * A dump file on disk, opened and read in one call: what `kboot dump inspect | read | info`
 * run, and what a library user calls to read a dump by its path — raw, vmcore.N.gz / .zst, or
 * a dump-device image, with or without the kernel's symbols.
 *
 * Contract: `withDumpFile(path, opts, f)` opens the file for random access (dump/file.ts
 * openDumpFileAsync: a regular file only; gzip/zstd decoded on demand into a nameless scratch
 * file, bounded, `onProgress` told as it decodes), reads the kernel's symbols when
 * `opts.kernel` names a file (dump/kernel.ts), opens the dump (dump/open.ts openDump, which
 * checks the kernel against it), runs `f` and closes everything, whatever `f` does.
 * `inspectDumpFile`, `readDumpFile` and `summarizeDumpFile` are the three reports
 * (dump/report/): the zero pages are counted with the event loop turning (dump/pages.ts) for
 * a dump read in place, and not for a compressed one (that would decode all of it: the
 * report says so); a read decodes the part of a compressed dump it needs first
 * (`prefetch`); the summary reads savecore's info file beside a vmcore.N (info.N) when there
 * is one. Errors: IoError (the files), ElfError (the kernel), DumpError (the dump).
 */
import { basename, dirname, join, resolve } from 'node:path';
import { IoCode, IoError } from '../../loader/errors.js';
import { readInputText } from '../../loader/io/input.js';
import type { DumpCompression } from '../compress.js';
import { openDumpFileAsync } from '../file.js';
import { loadKernelSymbols } from '../kernel.js';
import { openDump, type OpenedDump } from '../open.js';
import { countZeroPagesSteps } from '../pages.js';
import { inspectReport, type DumpInspectReport } from './inspect.js';
import { planRead, readReport, type DumpReadReport, type ReadRequest } from './read.js';
import { summarizeDump, type DumpInfoReport } from './summary.js';
import { runStepsAsync } from '../steps.js';

/** How to open a dump file. */
export interface DumpFileOptions {
  /** Directory relative paths are relative to (default the process's cwd). */
  readonly cwd?: string;
  /** The kernel's ELF file (its symbol table is read). */
  readonly kernel?: string;
  /** Told bytes done and to do while a compressed dump is decoded. */
  readonly onProgress?: (done: bigint, total: bigint) => void;
}

/** An opened dump and how its file is stored. */
export interface DumpAtHand {
  readonly d: OpenedDump;
  /** How the file as a whole is compressed. */
  readonly compression: DumpCompression;
  /** The absolute path. */
  readonly path: string;
}

/** Opens `path`, runs `f` on the dump, and closes it (see the module contract). */
export async function withDumpFile<T>(
  path: string,
  opts: DumpFileOptions,
  f: (at: DumpAtHand) => T | Promise<T>,
): Promise<T> {
  const cwd = opts.cwd ?? process.cwd();
  const kernel = opts.kernel === undefined ? undefined : loadKernelSymbols(opts.kernel, { cwd });
  const df = await openDumpFileAsync(path, {
    cwd,
    what: path,
    ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
  });
  try {
    const d = openDump(df, kernel === undefined ? {} : { kernel });
    return await f({ d, compression: df.compression, path: resolve(cwd, path) });
  } finally {
    df.close();
  }
}

/** Zero pages of a dump read in place; for a compressed one, why they are not counted. */
async function zeroPages(at: DumpAtHand): Promise<number | string> {
  if (at.compression !== 'none' || at.d.compressedPayload !== undefined) {
    return 'a compressed dump: counting would decode all of it (decompress it and inspect the copy)';
  }
  return runStepsAsync(countZeroPagesSteps(at.d));
}

/** `kboot dump inspect`: the report of the dump at `path`. */
export function inspectDumpFile(
  path: string,
  opts: DumpFileOptions & { readonly msgbufLines?: number },
): Promise<DumpInspectReport> {
  return withDumpFile(path, opts, async (at) =>
    inspectReport(path, at.d, {
      fileCompression: at.compression,
      zeroPages: await zeroPages(at),
      ...(opts.msgbufLines === undefined ? {} : { msgbufLines: opts.msgbufLines }),
    }),
  );
}

/** `kboot dump read`: bytes of the dump at `path`. */
export function readDumpFile(path: string, req: ReadRequest, opts: DumpFileOptions): Promise<DumpReadReport> {
  return withDumpFile(path, opts, async (at) => {
    const plan = planRead(at.d, req);
    await at.d.inner.prefetch?.(plan.furthest); // a compressed dump: decoded that far with the event loop turning
    return readReport(at.d, plan, path, at.compression);
  });
}

/** savecore's info.N beside vmcore.N[.gz|.zst] (bounded, 64 KiB), or undefined. */
function infoBeside(full: string): string | undefined {
  const m = /^vmcore\.(\d+)(?:\.(?:gz|zst))?$/.exec(basename(full));
  if (m === null) return undefined;
  try {
    // a crash directory's small text file, as `bounds` is (savecore writes both): bounded, no symlink followed
    const info = join(dirname(full), `info.${m[1] ?? ''}`);
    return readInputText(info, 'bounds', { what: 'info file', maxBytes: 64 << 10, followSymlinks: false });
  } catch (e) {
    if (e instanceof IoError && (e.code === IoCode.NotFound || e.code === IoCode.Symlink)) return undefined;
    throw e;
  }
}

/** `kboot dump info`: the crash summary of the dump at `path`. */
export function summarizeDumpFile(path: string, opts: DumpFileOptions): Promise<DumpInfoReport> {
  return withDumpFile(path, opts, async (at) => {
    const infoText = infoBeside(at.path);
    return summarizeDump(path, at.d, {
      fileCompression: at.compression,
      zeroPages: await zeroPages(at),
      ...(infoText === undefined ? {} : { infoText }),
    });
  });
}
