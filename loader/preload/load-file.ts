/**
 * loadLoaderConf(path): parseLoaderConf (loader-conf.ts) over the real file system.
 *
 * Contract: reads the top file and every include through loader/io/input.ts (regular files
 * only, opened non-blocking, at most `maxFileBytes` bytes each: a FIFO, a device or
 * /dev/zero named as a loader.conf or include never blocks or fills memory) —
 * CONFIG_NOT_FOUND when the top file does not exist, CONFIG_UNREADABLE when it (or an
 * include) is not a regular file or cannot be read (details.kind names what it is),
 * CONFIG_TOO_LARGE when it holds more than `maxFileBytes` — and hands the parser a resolver
 * that treats a missing include (or a directory) as missing (FreeBSD skips it), lists regular
 * files for loader_conf_dirs, and reports every file's real path so that an include which is
 * a symlink out of the configuration directory is CONFIG_INCLUDE_ESCAPE. Every file read is
 * returned with the SHA-256 of the bytes parsed (`digests`, in the order read), so that a
 * journal can record exactly what the configuration was made of. It only reads; the result
 * is the parser's. Source of the semantics: stand/lua/config.lua.
 */
import { createHash } from 'node:crypto';
import { readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { hex } from '../addr.js';
import { ConfigCode, ConfigError, IoCode, IoError } from '../errors.js';
import { errnoOf, readInputFile } from '../io/input.js';
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

/** A file the configuration was read from, with the SHA-256 of its bytes. */
export interface ConfFileDigest {
  readonly path: string;
  readonly sha256: string;
}

/** A configuration read from the file system, with the digest of every file read. */
export type LoadedLoaderConf = LoaderConf & { readonly digests: readonly ConfFileDigest[] };

const missing = (e: unknown): boolean => errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR';

function unreadable(path: string, why: string, cause?: unknown, extra: Record<string, unknown> = {}): ConfigError {
  return new ConfigError(
    ConfigCode.Unreadable,
    `config: cannot read ${path} (${why})`,
    { path, file: path, ...extra },
    cause === undefined ? undefined : { cause },
  );
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    if (missing(e)) return undefined;
    throw unreadable(path, errnoOf(e), e);
  }
}

/**
 * Reads one configuration file through the bounded opener; undefined when it does not exist
 * or is a directory (`missingOk`). IoErrors become the ConfigErrors of the module contract.
 */
function readConfBytes(path: string, maxBytes: number, missingOk: boolean): Buffer | undefined {
  try {
    return readInputFile(path, 'loaderConf', { what: 'loader.conf', maxBytes });
  } catch (e) {
    if (!(e instanceof IoError)) throw e;
    const kind = e.details['kind'];
    if (e.code === IoCode.NotFound) {
      if (missingOk) return undefined;
      throw new ConfigError(ConfigCode.NotFound, `config: no such loader.conf (${path})`, { path, file: path });
    }
    if (missingOk && kind === 'directory') return undefined;
    if (e.code === IoCode.TooLarge) {
      const length = e.details['size'];
      throw new ConfigError(
        ConfigCode.TooLarge,
        `config: ${path} is too large (${typeof length === 'number' ? hex(length) : '?'} bytes or more, limit ${hex(maxBytes)})`,
        { path, file: path, length, limit: maxBytes },
        { cause: e },
      );
    }
    const why = typeof kind === 'string' ? `a ${kind}, not a regular file` : String(e.details['reason'] ?? e.code);
    throw unreadable(path, why, e, typeof kind === 'string' ? { kind } : {});
  }
}

function realpathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch (e) {
    throw unreadable(path, errnoOf(e), e);
  }
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * A resolver over the file system (exported for tests and for callers that parse text they
 * already hold). `onRead` sees the bytes of every file it reads.
 */
export function fsConfResolver(
  maxFileBytes: number = DEFAULT_LOADER_CONF_LIMITS.maxFileBytes,
  onRead?: (path: string, bytes: Uint8Array) => void,
): ConfResolver {
  return {
    read(path: string): ConfFileText | undefined {
      const bytes = readConfBytes(path, maxFileBytes, true);
      if (bytes === undefined) return undefined;
      onRead?.(path, bytes);
      return { text: bytes.toString('utf8'), realPath: realpathOf(path) };
    },
    listFiles(dir: string): readonly string[] | undefined {
      const st = statOrUndefined(dir);
      if (st === undefined || !st.isDirectory()) return undefined;
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch (e) {
        throw unreadable(dir, errnoOf(e), e);
      }
      return names.filter((n) => statOrUndefined(posix.join(dir, n))?.isFile() === true);
    },
  };
}

/**
 * Reads and parses the loader.conf at `path` and everything it includes (see the module
 * contract). Includes are confined to `opts.root`, by default the file's own directory.
 */
export function loadLoaderConf(path: string, opts: LoadLoaderConfOptions = {}): LoadedLoaderConf {
  const maxBytes = opts.limits?.maxFileBytes ?? DEFAULT_LOADER_CONF_LIMITS.maxFileBytes;
  const bytes = readConfBytes(path, maxBytes, false);
  if (bytes === undefined) throw unreadable(path, 'not found');
  const digests: ConfFileDigest[] = [{ path, sha256: sha256(bytes) }];
  const root = opts.root ?? posix.dirname(path);
  const resolver = fsConfResolver(maxBytes, (p, b) => digests.push({ path: p, sha256: sha256(b) }));
  const conf = parseLoaderConf(bytes.toString('utf8'), path, {
    ...opts,
    root,
    realRoot: realpathOf(root),
    resolver,
  });
  return Object.freeze({ ...conf, digests: Object.freeze(digests) });
}
