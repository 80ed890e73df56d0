/**
 * The one place the C++ addon (native/, built by `npm ci` through node-gyp) is loaded.
 *
 * Contract: `loadNative()` returns the addon's typed surface or throws
 * `NativeError(NATIVE_LOAD_FAILED)` saying how to build it; `nativeAvailable()` asks without
 * throwing. Errors raised inside the addon carry a `kbootCode` property; `callNative` turns
 * them into the matching `KbootError` subclass, so no raw addon error escapes.
 * Model: better-sqlite3's split between a thin JS surface and its native binding.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../loader/paths.js';
import { KbootError, MachineCode, MachineError, NativeCode, NativeError } from '../loader/errors.js';

/** A guest RAM region as the addon takes it. */
export interface NativeRegion {
  readonly base: bigint;
  readonly size: bigint;
}

/** The addon's guest RAM object (native/guest_ram.cc). */
export interface NativeGuestRamHandle {
  read(addr: bigint, len: bigint): Buffer;
  write(addr: bigint, bytes: Uint8Array): void;
  view(addr: bigint, len: bigint): Buffer;
  copy(dst: bigint, src: bigint, len: bigint): void;
  fill(addr: bigint, len: bigint, byte: number): void;
  equals(addr: bigint, bytes: Uint8Array): boolean;
  nonZeroPages(addr: bigint, len: bigint): Buffer;
  residentBytes(): bigint;
  close(): void;
}

/** Everything the addon exports. */
export interface NativeAddon {
  readonly abiVersion: number;
  readonly GuestRam: new (regions: readonly NativeRegion[]) => NativeGuestRamHandle;
}

const EXPECTED_ABI = 1;

export { packageRoot } from '../loader/paths.js';

let cached: NativeAddon | undefined;

/** Loads (once) and returns the addon. */
export function loadNative(): NativeAddon {
  if (cached !== undefined) return cached;
  const path = join(packageRoot(), 'build', 'Release', 'kboot.node');
  try {
    const req = createRequire(import.meta.url);
    const addon = req(path) as NativeAddon;
    if (addon.abiVersion !== EXPECTED_ABI) {
      throw new Error(`addon ABI ${addon.abiVersion}, expected ${EXPECTED_ABI}`);
    }
    cached = addon;
    return addon;
  } catch (e) {
    throw new NativeError(
      NativeCode.LoadFailed,
      `native: cannot load the kboot addon at ${path} (run \`make\` or \`npm ci\` to build it)`,
      { path },
      { cause: e },
    );
  }
}

/** True when the addon loads. */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

const machineCodes = new Set<string>(Object.values(MachineCode));
const nativeCodes = new Set<string>(Object.values(NativeCode));

/** Runs an addon call, mapping its coded errors to KbootErrors. */
export function callNative<T>(fn: () => T, details: Readonly<Record<string, unknown>> = {}): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KbootError) throw e;
    if (e instanceof Error) {
      const code = (e as Error & { kbootCode?: unknown }).kbootCode;
      if (typeof code === 'string' && machineCodes.has(code)) {
        throw new MachineError(code as MachineError['code'], e.message, details);
      }
      if (typeof code === 'string' && nativeCodes.has(code)) {
        throw new NativeError(code as NativeError['code'], e.message, details);
      }
    }
    throw new NativeError(NativeCode.Internal, `native: unexpected addon failure: ${String(e)}`, details, { cause: e });
  }
}
