/**
 * The one door to the running kernel: `syscall(2)` through @2060.io/ffi-napi (the maintained
 * continuation of ffi-napi, which no longer builds on Node 20) and buffer addresses through
 * @2060.io/ref-napi. Both are optional dependencies: this module imports them lazily, only
 * when a `--host` command is about to make a real call, so every other command, and every
 * install without them, works.
 *
 * Contract: `loadSyscall()` resolves to a `HostSyscall` or throws HostError(HOST_FFI_MISSING)
 * naming the package that cannot be loaded and how to install it. Nothing is loaded at import
 * time of this module. The packages are imported by a specifier held in a variable, so the
 * TypeScript build does not need them either; what they give is checked at run time.
 */
import { HostCode, HostError } from './errors.js';

/** The optional packages the host layer loads. */
export const FFI_PACKAGES = { ffi: '@2060.io/ffi-napi', ref: '@2060.io/ref-napi' } as const;

/** What one system call returned: the raw return value and errno when it is -1. */
export interface SyscallResult {
  readonly ret: number;
  readonly errno: number;
}

/** syscall(2) with the five arguments kexec_load takes, and the address of a buffer. */
export interface HostSyscall {
  /** `syscall(nr, entry, nseg, segments, flags)`; `segments` null passes NULL. */
  kexecLoad(nr: number, entry: bigint, nseg: number, segments: Buffer | null, flags: bigint): SyscallResult;
  /** The user-space address of a buffer's first byte (kept alive by the caller). */
  address(buf: Buffer): bigint;
}

type Fn = (...args: unknown[]) => unknown;

async function importPackage(name: string): Promise<Record<string, unknown>> {
  const spec: string = name;
  try {
    const mod = (await import(spec)) as { default?: unknown };
    const value = mod.default ?? mod;
    if (typeof value !== 'object' || value === null) throw new Error(`${name} exports no object`);
    return value as Record<string, unknown>;
  } catch (e) {
    throw new HostError(
      HostCode.FfiMissing,
      `host: --host commands need the optional package ${name}, which cannot be loaded (install it: npm install ${FFI_PACKAGES.ffi} ${FFI_PACKAGES.ref})`,
      { package: name, reason: e instanceof Error ? e.message : String(e) },
      { cause: e },
    );
  }
}

function fn(mod: Record<string, unknown>, key: string, pkg: string): Fn {
  const v = mod[key];
  if (typeof v !== 'function') {
    throw new HostError(HostCode.FfiMissing, `host: ${pkg} has no ${key}() (an incompatible version)`, {
      package: pkg,
      missing: key,
    });
  }
  return v as Fn;
}

/** A number ffi passes as a C unsigned long (exact below 2^53, which every address here is). */
function ulong(v: bigint): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new HostError(HostCode.Unsupported, `host: ${v} cannot be passed exactly as an unsigned long`, { value: v });
  }
  return Number(v);
}

/** Loads the packages and binds syscall(2) (see the module contract). */
export async function loadSyscall(): Promise<HostSyscall> {
  const ffi = await importPackage(FFI_PACKAGES.ffi);
  const ref = await importPackage(FFI_PACKAGES.ref);
  const library = fn(ffi, 'Library', FFI_PACKAGES.ffi);
  const errno = fn(ffi, 'errno', FFI_PACKAGES.ffi);
  const address = fn(ref, 'address', FFI_PACKAGES.ref);
  const libc = library(null, { syscall: ['long', ['long', 'ulong', 'ulong', 'pointer', 'ulong']] }) as Record<
    string,
    unknown
  >;
  const syscall = fn(libc, 'syscall', 'libc');
  return {
    kexecLoad(nr, entry, nseg, segments, flags) {
      const ret = Number(syscall(nr, ulong(entry), nseg, segments, ulong(flags)));
      return { ret, errno: ret === -1 ? Number(errno()) : 0 };
    },
    address(buf) {
      return BigInt(Number(address(buf)));
    },
  };
}
