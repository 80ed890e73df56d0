/**
 * File input and output for commands.
 *  - readInputFile: reads a whole input file, or fails with `CliError(CLI_IO)` naming the
 *    path and the system's reason (never a raw ENOENT stack).
 *  - writeNewFile: writes through a temporary file in the same directory, mode 0644, then
 *    moves it into place: with `force` by rename (replacing FILE), otherwise by link +
 *    unlink, which refuses an existing FILE atomically (CLI_IO, details.reason 'EEXIST'); on a
 *    file system without hard links it falls back to an existence check and a rename. The
 *    temporary file never outlives the call, so no partial output is ever left behind.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CliCode, CliError } from '../loader/errors.js';

/** Largest input file read into memory (4 GiB − 1: a Buffer cannot be larger). */
export const MAX_INPUT_FILE = 0xffff_ffff;

/** Reads `path` (relative to `cwd`) fully. */
export function readInputFile(path: string, cwd: string, what = 'file'): Uint8Array {
  const full = resolve(cwd, path);
  try {
    const st = statSync(full);
    if (!st.isFile()) throw new CliError(CliCode.Io, `cli: ${what} ${path} is not a regular file`, { path: full });
    if (st.size > MAX_INPUT_FILE) {
      throw new CliError(CliCode.Io, `cli: ${what} ${path} is larger than 4 GiB`, { path: full, size: st.size });
    }
    return readFileSync(full);
  } catch (e) {
    if (e instanceof CliError) throw e;
    const reason = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new CliError(
      CliCode.Io,
      `cli: cannot read ${what} ${path} (${reason})`,
      { path: full, reason },
      { cause: e },
    );
  }
}

/** Errors from link(2) that mean "no hard links here", not "FILE exists". */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

function errnoOf(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : String(e);
}

function ioError(file: string, path: string, reason: string, cause?: unknown): CliError {
  const what =
    reason === 'EEXIST' ? `${file} already exists (use --force to replace it)` : `cannot write ${file} (${reason})`;
  return new CliError(CliCode.Io, `cli: ${what}`, { path, reason }, cause === undefined ? undefined : { cause });
}

/** Writes `bytes` to `path` through a temporary file; see the module contract. */
export function writeNewFile(path: string, shown: string, bytes: Uint8Array, force: boolean): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, bytes, { mode: 0o644, flag: 'wx' });
    chmodSync(tmp, 0o644); // whatever the umask
    if (force) {
      renameSync(tmp, path);
      return;
    }
    try {
      linkSync(tmp, path);
    } catch (e) {
      if (!NO_LINKS.has(errnoOf(e))) throw e;
      if (existsSync(path)) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
      renameSync(tmp, path);
      return;
    }
    unlinkSync(tmp);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed, or never created
    }
    throw ioError(shown, path, errnoOf(e), e);
  }
}
