/**
 * File input for commands: read a whole input file, or fail with `CliError(CLI_IO)` naming
 * the path and the system's reason (never a raw ENOENT stack).
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
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
