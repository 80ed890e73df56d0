/**
 * The one way kboot creates files and output directories.
 *
 * Contract:
 *  - every file kboot creates is opened O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC
 *    (`createExclusive`): it never truncates, follows or writes through an existing file or
 *    symlink, whoever planted it; temporary names (`tempName`) carry 128 random bits, so no
 *    other user can predict them; the mode is set with fchmod, whatever the umask;
 *  - a finished file gets its name by link(2) (never replacing: IO_EXISTS) or, with
 *    `replace`, rename(2); the temporary never outlives the call (`writeNewFile`);
 *  - an output directory (`--state`, `--out`, `--dump-dir`) is an existing directory (a
 *    symlink to one is followed: the user named it), or is created when the command says it
 *    creates one (mode given, whatever the umask); anything else is IO_NOT_DIRECTORY; with
 *    `writable` a directory where no file can be created (/proc, a read-only mount) is too;
 *  - temporaries are registered with loader/io/cleanup.ts while they exist, so SIGINT and
 *    SIGTERM remove them.
 * Sources: open(2) O_EXCL|O_NOFOLLOW, link(2), rename(2); savecore(8) writes 0600 dumps.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { IoCode, IoError } from '../errors.js';
import { forgetTemporary, registerTemporary } from './cleanup.js';
import { errnoOf, fileKind } from './input.js';

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** An unpredictable temporary name for `final` in its directory: `.NAME.<32 hex>.tmp`. */
export function tempName(final: string): string {
  return join(dirname(final), `.${basename(final)}.${randomBytes(16).toString('hex')}.tmp`);
}

/** The IoError for a failed create/write/link of `path`. */
export function writeError(path: string, what: string, e: unknown): IoError {
  const reason = errnoOf(e);
  if (reason === 'EEXIST') {
    return new IoError(IoCode.Exists, `io: ${what} ${path} already exists`, { path, what, reason }, { cause: e });
  }
  if (reason === 'ENOENT' || reason === 'ENOTDIR') {
    return new IoError(IoCode.NotFound, `io: cannot write ${what} ${path} (its directory does not exist)`, {
      path,
      what,
      reason,
    });
  }
  if (reason === 'ELOOP') {
    return new IoError(IoCode.Symlink, `io: ${what} ${path} is a symbolic link; kboot does not write through one`, {
      path,
      what,
      reason,
    });
  }
  if (reason === 'EACCES' || reason === 'EPERM') {
    return new IoError(IoCode.Permission, `io: cannot write ${what} ${path} (permission denied)`, {
      path,
      what,
      reason,
    });
  }
  if (reason === 'ENOSPC' || reason === 'EDQUOT') {
    return new IoError(IoCode.NoSpace, `io: no room to write ${what} ${path} (${reason})`, { path, what, reason });
  }
  return new IoError(
    IoCode.Write,
    `io: cannot write ${what} ${path} (${reason})`,
    { path, what, reason },
    { cause: e },
  );
}

/**
 * Creates `path` exclusively (never an existing file, never through a symlink) with `mode`
 * (applied with fchmod, so the umask does not matter); returns the descriptor. Throws IoError.
 */
export function createExclusive(path: string, mode: number, what = 'file'): number {
  let fd: number;
  try {
    fd = openSync(path, CREATE_FLAGS, mode);
  } catch (e) {
    throw writeError(path, what, e);
  }
  try {
    fchmodSync(fd, mode);
  } catch (e) {
    closeSync(fd);
    throw writeError(path, what, e);
  }
  return fd;
}

/** A temporary file created exclusively under an unpredictable name, registered for signal clean-up. */
export interface TempFile {
  readonly path: string;
  readonly fd: number;
  /** Gives the file the name `final` (link: never replacing; or rename when `replace`), closes and forgets it. */
  commit(final: string, opts?: { readonly replace?: boolean; readonly sync?: boolean }): void;
  /** Closes and removes the temporary (nothing happens when it was committed). */
  discard(): void;
}

/** Errors of link(2) that mean "this file system has no hard links", not "the name exists". */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/**
 * Gives `tmp` the name `to` without replacing anything: link(2) refuses an existing name
 * atomically; on a file system without hard links (vfat, some FUSE mounts) an lstat check
 * and rename(2) stand in (a name created in between would be replaced).
 */
function placeWithoutReplacing(tmp: string, to: string): void {
  try {
    linkSync(tmp, to);
  } catch (e) {
    if (!NO_LINKS.has(errnoOf(e))) throw e;
    if (lstatOrUndefined(to) !== undefined) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
    renameSync(tmp, to);
    return;
  }
  unlinkSync(tmp);
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** True when `path` names anything, a dangling symlink included (lstat). */
export function pathTaken(path: string): boolean {
  return lstatOrUndefined(path) !== undefined;
}

/** Creates a temporary beside `final` (see TempFile). */
export function createTemp(final: string, mode: number, what = 'file'): TempFile {
  for (let attempt = 0; ; attempt++) {
    const path = tempName(final);
    let fd: number;
    try {
      fd = createExclusive(path, mode, what);
    } catch (e) {
      // 128 random bits never collide by chance; a planted name is retried with new bits once
      if (e instanceof IoError && e.code === IoCode.Exists && attempt < 3) continue;
      throw e;
    }
    registerTemporary(path);
    let state: 'open' | 'closed' | 'done' = 'open';
    const close = (): void => {
      if (state !== 'open') return;
      state = 'closed';
      closeSync(fd);
    };
    return {
      path,
      fd,
      commit(to: string, o = {}): void {
        if (state === 'done') throw new IoError(IoCode.Write, `io: ${what} ${path} was already committed`, { path });
        if (o.sync === true && state === 'open') {
          try {
            fsyncSync(fd);
          } catch (e) {
            throw writeError(path, what, e);
          }
        }
        close();
        try {
          if (o.replace === true) renameSync(path, to);
          else placeWithoutReplacing(path, to);
        } catch (e) {
          throw writeError(to, what, e);
        }
        state = 'done';
        forgetTemporary(path);
      },
      discard(): void {
        if (state === 'done') return;
        close();
        state = 'done';
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
        forgetTemporary(path);
      },
    };
  }
}

/** Writes all of `bytes` to `fd` at `position`. */
export function writeAll(fd: number, bytes: Uint8Array, position: number | null = null): void {
  let done = 0;
  while (done < bytes.length) {
    const n = writeSync(fd, bytes, done, bytes.length - done, position === null ? null : position + done);
    if (n <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    done += n;
  }
}

/** How writeNewFile places a file. */
export interface NewFileOptions {
  /** The path as the user typed it, for messages (default: `path`). */
  readonly shown?: string;
  /** Replace an existing file (rename) instead of refusing it (IO_EXISTS). */
  readonly replace?: boolean;
  /** File mode (default 0644; dump material 0600). */
  readonly mode?: number;
  /** What the file is, for messages. */
  readonly what?: string;
  /** fsync before the file gets its name. */
  readonly sync?: boolean;
}

/** Writes `bytes` to a new file `path` through an exclusive temporary; see the module contract. */
export function writeNewFile(path: string, bytes: Uint8Array | string, opts: NewFileOptions = {}): void {
  const what = opts.what ?? 'file';
  const tmp = createTemp(path, opts.mode ?? 0o644, what);
  try {
    try {
      writeAll(tmp.fd, typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes, 0);
    } catch (e) {
      throw writeError(tmp.path, what, e);
    }
    try {
      tmp.commit(path, { replace: opts.replace === true, sync: opts.sync === true });
    } catch (e) {
      if (e instanceof IoError && e.code === IoCode.Exists) {
        throw new IoError(
          IoCode.Exists,
          `io: ${opts.shown ?? path} already exists${opts.replace === undefined ? '' : ' (use --force to replace it)'}`,
          { path, what, reason: 'EEXIST' },
        );
      }
      throw e;
    }
  } finally {
    tmp.discard();
  }
}

/** How an output directory is obtained. */
export interface OutputDirOptions {
  /** What the directory is for, in messages ("state directory", "dump directory"). */
  readonly what: string;
  /** Create it (and missing parents) when it does not exist; otherwise a missing one is IO_NOT_FOUND. */
  readonly create: boolean;
  /** Mode of a directory kboot creates (applied whatever the umask; default 0755). */
  readonly mode?: number;
  /** Directory a relative path is relative to. */
  readonly cwd?: string;
  /**
   * Check that kboot can create files in it (an exclusive temporary created and removed):
   * a directory of /proc or /sys, a read-only mount or one without write permission is
   * IO_NOT_DIRECTORY / IO_PERMISSION before the command does any work.
   */
  readonly writable?: boolean;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    const r = errnoOf(e);
    if (r === 'ENOENT') return undefined;
    if (r === 'ENOTDIR') {
      throw new IoError(IoCode.NotDirectory, `io: ${path} is not a directory (a part of its path is a file)`, {
        path,
        reason: r,
      });
    }
    throw new IoError(IoCode.Read, `io: cannot look at ${path} (${r})`, { path, reason: r }, { cause: e });
  }
}

/**
 * An output directory: returns its absolute path. An existing directory (or a symlink to
 * one) is used as it is; a missing one is created when `create` (with `mode`, whatever the
 * umask); anything else — a file, a device, /proc entries that vanish — is IO_NOT_DIRECTORY.
 */
export function outputDirectory(path: string, opts: OutputDirOptions): string {
  const full = resolve(opts.cwd ?? process.cwd(), path);
  const st = statOrUndefined(full);
  if (st !== undefined) {
    if (!st.isDirectory()) {
      const kind = fileKind(st);
      throw new IoError(IoCode.NotDirectory, `io: ${opts.what} ${path} is a ${kind}, not a directory`, {
        path: full,
        shown: path,
        what: opts.what,
        kind,
      });
    }
    if (opts.writable === true) checkWritable(full, path, opts.what);
    return full;
  }
  if (!opts.create) {
    throw new IoError(IoCode.NotFound, `io: ${opts.what} ${path} does not exist (create it first)`, {
      path: full,
      shown: path,
      what: opts.what,
    });
  }
  const mode = opts.mode ?? 0o755;
  const parent = dirname(full);
  if (parent !== full && statOrUndefined(parent) === undefined) outputDirectory(parent, { ...opts, mode: 0o755 });
  try {
    mkdirSync(full, { mode });
  } catch (e) {
    const r = errnoOf(e);
    if (r !== 'EEXIST') {
      const code = r === 'EACCES' || r === 'EPERM' ? IoCode.Permission : IoCode.NotDirectory;
      throw new IoError(code, `io: cannot create ${opts.what} ${path} (${r})`, {
        path: full,
        shown: path,
        what: opts.what,
        reason: r,
      });
    }
    return outputDirectory(path, { ...opts, create: false }); // made by someone else meanwhile
  }
  // mkdir's mode is masked by the umask; a private directory must be private whatever it is
  chmodDir(full, mode);
  return full;
}

/** Creates and removes an exclusive temporary in `dir`; see OutputDirOptions.writable. */
function checkWritable(dir: string, shown: string, what: string): void {
  const probe = join(dir, `.kboot-probe.${randomBytes(16).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(probe, CREATE_FLAGS, 0o600);
  } catch (e) {
    const r = errnoOf(e);
    const code = r === 'EACCES' || r === 'EPERM' ? IoCode.Permission : IoCode.NotDirectory;
    throw new IoError(code, `io: kboot cannot create files in ${what} ${shown} (${r})`, {
      path: dir,
      shown,
      what,
      reason: r,
    });
  }
  closeSync(fd);
  try {
    unlinkSync(probe);
  } catch {
    // removed by someone else: nothing of ours is left
  }
}

function chmodDir(path: string, mode: number): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    fchmodSync(fd, mode);
  } catch (e) {
    throw new IoError(IoCode.Write, `io: cannot set the mode of ${path} (${errnoOf(e)})`, {
      path,
      reason: errnoOf(e),
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A warning when `dir` can be written by users other than its owner without the sticky bit
 * protecting their files, or when it is world-writable at all (any local user could plant
 * names in it); undefined when it is private enough.
 */
export function othersCanWrite(dir: string): string | undefined {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch {
    return undefined;
  }
  const mode = st.mode & 0o7777;
  if ((mode & 0o002) !== 0) {
    return `${dir} is writable by every user (mode ${mode.toString(8).padStart(4, '0')}); kboot creates its files there safely, but others can fill it or remove names`;
  }
  if ((mode & 0o020) !== 0 && typeof process.getuid === 'function' && st.uid === process.getuid()) {
    return `${dir} is writable by its group (mode ${mode.toString(8).padStart(4, '0')})`;
  }
  return undefined;
}
