/**
 * loadLoaderConf(path): parseLoaderConf (loader-conf.ts) over the real file system.
 *
 * Contract: reads the top file — CONFIG_NOT_FOUND when it does not exist, CONFIG_UNREADABLE
 * when it is not a regular file or cannot be read, CONFIG_TOO_LARGE when `stat` says it is
 * larger than `maxFileBytes` (checked before reading) — and hands the parser a resolver that
 * reads includes the same way, treats a missing include as missing (FreeBSD skips it), lists
 * regular files for loader_conf_dirs, and reports every file's real path so that an include
 * which is a symlink out of the configuration directory is CONFIG_INCLUDE_ESCAPE. It only
 * reads; the result is the parser's. Source of the semantics: stand/lua/config.lua.
 */
import { readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { hex } from '../addr.js';
import { ConfigCode, ConfigError } from '../errors.js';
import {
  DEFAULT_LOADER_CONF_LIMITS,
  parseLoaderConf,
  type ConfFileText,
  type ConfResolver,
  type LoaderConf,
  type LoaderConfOptions,
} from './loader-conf.js';

/** Options of loadLoaderConf: the parser's, without the resolver and real root it builds itself. */
export type LoadLoaderConfOptions = Omit<LoaderConfOptions, 'resolver' | 'realRoot'>;

const errnoOf = (e: unknown): string | undefined =>
  e !== null && typeof e === 'object' && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
const missing = (e: unknown): boolean => errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR';

function unreadable(path: string, why: string, cause?: unknown): ConfigError {
  return new ConfigError(
    ConfigCode.Unreadable,
    `config: cannot read ${path} (${why})`,
    { path, file: path },
    cause === undefined ? undefined : { cause },
  );
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    if (missing(e)) return undefined;
    throw unreadable(path, errnoOf(e) ?? 'stat failed', e);
  }
}

function readText(path: string, st: Stats, maxBytes: number): string {
  if (!st.isFile()) throw unreadable(path, 'not a regular file');
  if (st.size > maxBytes) {
    throw new ConfigError(
      ConfigCode.TooLarge,
      `config: ${path} is too large (${hex(st.size)} bytes, limit ${hex(maxBytes)})`,
      { path, file: path, length: st.size, limit: maxBytes },
    );
  }
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw unreadable(path, errnoOf(e) ?? 'read failed', e);
  }
}

function realpathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch (e) {
    throw unreadable(path, errnoOf(e) ?? 'realpath failed', e);
  }
}

/** A resolver over the file system (exported for tests and for callers that parse text they already hold). */
export function fsConfResolver(maxFileBytes: number = DEFAULT_LOADER_CONF_LIMITS.maxFileBytes): ConfResolver {
  return {
    read(path: string): ConfFileText | undefined {
      const st = statOrUndefined(path);
      if (st === undefined || st.isDirectory()) return undefined;
      return { text: readText(path, st, maxFileBytes), realPath: realpathOf(path) };
    },
    listFiles(dir: string): readonly string[] | undefined {
      const st = statOrUndefined(dir);
      if (st === undefined || !st.isDirectory()) return undefined;
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch (e) {
        throw unreadable(dir, errnoOf(e) ?? 'readdir failed', e);
      }
      return names.filter((n) => statOrUndefined(posix.join(dir, n))?.isFile() === true);
    },
  };
}

/**
 * Reads and parses the loader.conf at `path` and everything it includes (see the module
 * contract). Includes are confined to `opts.root`, by default the file's own directory.
 */
export function loadLoaderConf(path: string, opts: LoadLoaderConfOptions = {}): LoaderConf {
  const maxBytes = opts.limits?.maxFileBytes ?? DEFAULT_LOADER_CONF_LIMITS.maxFileBytes;
  const st = statOrUndefined(path);
  if (st === undefined) {
    throw new ConfigError(ConfigCode.NotFound, `config: no such loader.conf (${path})`, { path, file: path });
  }
  const text = readText(path, st, maxBytes);
  const root = opts.root ?? posix.dirname(path);
  return parseLoaderConf(text, path, { ...opts, root, realRoot: realpathOf(root), resolver: fsConfResolver(maxBytes) });
}
