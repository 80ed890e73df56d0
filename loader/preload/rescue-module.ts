/**
 * Where the rescue kernel that a loader.conf preloads lies on this machine's file system,
 * for `kboot boot --config loader.conf` (the boot loader would read it from the boot
 * partition; kboot reads it beside the configuration).
 *
 * Contract: `rescueKernelPaths` is pure: the module of type `rescue_kernel` among the
 * loader's decisions (preload.ts preloadDecisions; `rescue_kernel_load="YES"`,
 * `rescue_kernel_type="rescue_kernel"`, D47358's stand/ changes) and the paths to try for it,
 * in order — an absolute name as written, then the name below the configuration's directory
 * (the boot partition's root); a relative name below the configuration's directory — or
 * undefined when the configuration loads no such module. `findRescueKernel` tries those
 * paths through loader/io/input.ts (regular files only, never blocking): the first that
 * exists is the answer; one that exists but cannot be read is its IoError; none is
 * IO_NOT_FOUND naming every path tried.
 */
import { posix } from 'node:path';
import { IoCode, IoError } from '../errors.js';
import { openInputFile } from '../io/input.js';
import type { LoaderConf } from './loader-conf.js';
import { preloadDecisions, type PreloadModule } from './preload.js';

/** The rescue kernel module of a configuration and where to look for it. */
export interface RescueKernelLookup {
  /** The module of type rescue_kernel the loader would preload. */
  readonly module: PreloadModule;
  /** Absolute paths to try, in order (no duplicates). */
  readonly paths: readonly string[];
}

/** The rescue kernel module of `conf` (read from `configPath`) and the paths to try (pure). */
export function rescueKernelPaths(configPath: string, conf: LoaderConf): RescueKernelLookup | undefined {
  const module = preloadDecisions(conf).rescueKernel;
  if (module === undefined) return undefined;
  const dir = posix.dirname(posix.resolve(configPath));
  const asWritten = posix.isAbsolute(module.name) ? module.name : posix.resolve(dir, module.name);
  const belowConfig = posix.resolve(dir, module.name.replace(/^\/+/, ''));
  return { module, paths: [...new Set([asWritten, belowConfig])] };
}

/** True when `path` exists as far as the bounded opener can tell (see the module contract). */
function present(path: string): boolean {
  try {
    openInputFile(path, { what: 'rescue kernel' }).close();
    return true;
  } catch (e) {
    if (e instanceof IoError && e.code === IoCode.NotFound) return false;
    throw e;
  }
}

/**
 * The file holding the rescue kernel `conf` preloads (see the module contract); undefined
 * when the configuration loads none.
 */
export function findRescueKernel(configPath: string, conf: LoaderConf): string | undefined {
  const lookup = rescueKernelPaths(configPath, conf);
  if (lookup === undefined) return undefined;
  const found = lookup.paths.find(present);
  if (found === undefined) {
    throw new IoError(
      IoCode.NotFound,
      `io: the rescue kernel ${lookup.module.name} named by ${configPath} is not at ${lookup.paths.join(' or ')}`,
      { tries: lookup.paths, path: lookup.paths[0], module: lookup.module.name },
    );
  }
  return found;
}
