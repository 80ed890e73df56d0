/**
 * The one way kboot opens a file it reads: kernels, machine profiles, loader.conf and its
 * includes, the state journal and the files it records, dumps, a dump directory's `bounds`,
 * device trees and firmware memory maps.
 *
 * Contract:
 *  - the file is opened O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC, so a FIFO (or a FIFO swapped
 *    in after any earlier check) never blocks and a terminal never becomes the controlling
 *    one; with `followSymlinks: false` also O_NOFOLLOW (a symlink is IO_SYMLINK);
 *  - the opened descriptor is checked with fstat: anything but a regular file (directory,
 *    character or block device, FIFO, socket) is IO_NOT_REGULAR naming the path and its kind,
 *    and nothing is read from it;
 *  - whole-file reads stop at the kind's bound: a file that holds more than `maxBytes` is
 *    IO_TOO_LARGE (checked against fstat's size first, then while reading, because files of
 *    /proc and /sys report a size of 0 or 4096 whatever they hold);
 *  - random-access inputs (dumps) get an `InputFile` whose reads are positional and bounded
 *    by the size fstat gave at open;
 *  - errors are IoErrors with the path as given, the absolute path, the errno name and what
 *    the file was for (`what`), never a raw ENOENT.
 * Sources: open(2) O_NONBLOCK on FIFOs (POSIX: an O_RDONLY open with O_NONBLOCK returns at
 * once), fstat(2) st_mode; FreeBSD's loader likewise reads only regular files
 * (stand/libsa/open.c refuses other vnode types through its file-system drivers).
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { IoCode, IoError } from '../errors.js';

const MiB = 1024 * 1024;

/**
 * Per-kind bounds on whole-file reads. A FreeBSD amd64 GENERIC kernel is about 30 MiB and a
 * kernel with debug symbols under 200 MiB; a loader.conf, a profile or a memory map of
 * more than a few MiB is not one a person wrote.
 */
export const INPUT_LIMITS = {
  /** ELF kernels and modules (rescue, host, kexec images). */
  kernel: 512 * MiB,
  /** Machine profiles (JSON). */
  profile: 4 * MiB,
  /** loader.conf and each file it includes. */
  loaderConf: 1 * MiB,
  /** The state journal. */
  journal: 16 * MiB,
  /** A device tree blob (the FDT header's totalsize is a u32; real ones are < 1 MiB). */
  dtb: 16 * MiB,
  /** Firmware memory maps: efi_map / smap binaries and text, /proc/iomem, memmap entries. */
  memoryMap: 4 * MiB,
  /** A dump directory's `bounds` file (savecore writes a decimal number and a newline). */
  bounds: 64,
  /** kboot's own package files (schemas, package.json). */
  package: 4 * MiB,
} as const;

/** A kind of input with its bound. */
export type InputKind = keyof typeof INPUT_LIMITS;

/** How to open an input. */
export interface InputOptions {
  /** What the file is for, in messages: "machine profile", "rescue kernel". */
  readonly what: string;
  /** Directory a relative path is relative to (default: the process's cwd). */
  readonly cwd?: string;
  /** Refuse a symbolic link instead of following it (inside dump directories). */
  readonly followSymlinks?: boolean;
}

/** The name of a file type, for messages ("a character device"). */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'directory';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isSymbolicLink()) return 'symbolic link';
  return 'special file';
}

/** The errno name of a system error, or the message. */
export function errnoOf(e: unknown): string {
  const code = e !== null && typeof e === 'object' && 'code' in e ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : String(e);
}

/** The IoError for a failed open/stat of an input. */
export function openError(shown: string, full: string, what: string, e: unknown): IoError {
  const reason = errnoOf(e);
  const facts = { path: full, shown, what, reason };
  switch (reason) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new IoError(IoCode.NotFound, `io: ${what} ${shown} does not exist`, facts, { cause: e });
    case 'EACCES':
    case 'EPERM':
      return new IoError(IoCode.Permission, `io: cannot open ${what} ${shown} (permission denied)`, facts, {
        cause: e,
      });
    case 'ELOOP':
    case 'EMLINK':
      return new IoError(
        IoCode.Symlink,
        `io: ${what} ${shown} is a symbolic link, which kboot does not follow here`,
        facts,
        { cause: e },
      );
    case 'ENXIO':
    case 'ENODEV':
    case 'EISDIR':
      return new IoError(IoCode.NotRegular, `io: ${what} ${shown} is not a regular file (${reason})`, facts, {
        cause: e,
      });
    default:
      return new IoError(IoCode.Read, `io: cannot open ${what} ${shown} (${reason})`, facts, { cause: e });
  }
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** An open regular input file for positional reads. */
export interface InputFile {
  /** The path as given. */
  readonly shown: string;
  /** The absolute path. */
  readonly path: string;
  /** The size fstat gave at open. */
  readonly size: number;
  /** The descriptor (valid until close). */
  readonly fd: number;
  /** Reads up to `length` bytes at `position` into `into` (at `offset`); returns the count (0 at the end). */
  readAt(into: Uint8Array, offset: number, length: number, position: number): number;
  /** Reads exactly `length` bytes at `position`, or fewer only at the end of the file. */
  read(position: number, length: number): Uint8Array;
  close(): void;
}

/**
 * Opens `path` for reading after the checks of the module contract (regular file, never
 * blocking). Throws IoError.
 */
export function openInputFile(path: string, opts: InputOptions): InputFile {
  const full = resolve(opts.cwd ?? process.cwd(), path);
  const flags = OPEN_FLAGS | (opts.followSymlinks === false ? constants.O_NOFOLLOW : 0);
  let fd: number;
  try {
    fd = openSync(full, flags);
  } catch (e) {
    throw openError(path, full, opts.what, e);
  }
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    throw openError(path, full, opts.what, e);
  }
  if (!st.isFile()) {
    closeSync(fd);
    const kind = fileKind(st);
    throw new IoError(IoCode.NotRegular, `io: ${opts.what} ${path} is a ${kind}, not a regular file`, {
      path: full,
      shown: path,
      what: opts.what,
      kind,
    });
  }
  let open = true;
  const readAt = (into: Uint8Array, offset: number, length: number, position: number): number => {
    if (!open) throw new IoError(IoCode.Read, `io: ${opts.what} ${path} is closed`, { path: full });
    try {
      return readSync(fd, into, offset, length, position);
    } catch (e) {
      const reason = errnoOf(e);
      throw new IoError(IoCode.Read, `io: cannot read ${opts.what} ${path} (${reason})`, {
        path: full,
        shown: path,
        what: opts.what,
        reason,
        position,
      });
    }
  };
  return {
    shown: path,
    path: full,
    size: st.size,
    fd,
    readAt,
    read(position: number, length: number): Uint8Array {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readAt(out, done, length - done, position + done);
        if (n === 0) break;
        done += n;
      }
      return done === length ? out : out.subarray(0, done);
    },
    close(): void {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/**
 * Reads a whole input file of the given kind: regular files only, never more than the kind's
 * bound (or `maxBytes` when given). Throws IoError.
 */
export function readInputFile(
  path: string,
  kind: InputKind,
  opts: InputOptions & { readonly maxBytes?: number },
): Buffer {
  const limit = opts.maxBytes ?? INPUT_LIMITS[kind];
  const f = openInputFile(path, opts);
  try {
    const tooLarge = (seen: number): IoError =>
      new IoError(
        IoCode.TooLarge,
        `io: ${opts.what} ${path} is larger than kboot reads for a ${opts.what} (${seen} bytes or more, limit ${limit})`,
        { path: f.path, shown: path, what: opts.what, size: seen, limit },
      );
    if (f.size > limit) throw tooLarge(f.size);
    // fstat's size is a hint (/proc and /sys files say 0 or 4096): read until the end, bounded.
    let buf = Buffer.allocUnsafe(Math.min(limit + 1, Math.max(f.size + 1, 4096)));
    let done = 0;
    for (;;) {
      if (done === buf.length) {
        if (buf.length > limit) throw tooLarge(done);
        const bigger = Buffer.allocUnsafe(Math.min(limit + 1, buf.length * 2));
        buf.copy(bigger, 0, 0, done);
        buf = bigger;
      }
      const n = f.readAt(buf, done, buf.length - done, done);
      if (n === 0) break;
      done += n;
    }
    if (done > limit) throw tooLarge(done);
    return buf.subarray(0, done);
  } finally {
    f.close();
  }
}

/** readInputFile as UTF-8 text. */
export function readInputText(
  path: string,
  kind: InputKind,
  opts: InputOptions & { readonly maxBytes?: number },
): string {
  return readInputFile(path, kind, opts).toString('utf8');
}
