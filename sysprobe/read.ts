/**
 * Read-only probes of real machines and of the firmware-map files a user names, for
 * `kboot machine import`: every file is read through loader/io/input.ts (regular files only,
 * bounded; /proc and /sys files report a size of 0 or 4096, which the opener handles), every
 * command runs as a child process with a time and output bound, and each input is recorded
 * with its SHA-256 for the profile's provenance. Nothing is ever written to the system.
 *
 * Contract:
 *  - `readMemmapDir(dir)`: the entries of a /sys/firmware/memmap-shaped directory (numeric
 *    subdirectories holding `start`, `end`, `type`), in numeric order; a missing directory is
 *    IO_NOT_FOUND, one without entries IMPORT_NO_MEMORY;
 *  - `readHostSnapshot(opts)`: on Linux /sys/firmware/memmap, /proc/iomem,
 *    /sys/firmware/fdt when present, whether /sys/firmware/efi exists, the online CPU count;
 *    on FreeBSD `sysctl -b machdep.efi_map` and `sysctl -b machdep.smap` (and `sysctl -n
 *    hw.ncpu`) through `opts.run` (default: execFileSync of /sbin/sysctl). Another OS, or an
 *    arch other than x64/arm64, is IMPORT_UNSUPPORTED; a command that fails stands for a
 *    source the host does not have (loader/import/host.ts then says IMPORT_HOST).
 * Sources: Linux Documentation/ABI/testing/sysfs-firmware-memmap, drivers/of/fdt.c
 * (/sys/firmware/fdt), kernel/resource.c (/proc/iomem); FreeBSD sbin/sysctl/sysctl.c (-b
 * writes the raw value), sys/amd64/amd64/machdep.c (efi_map / smap handlers).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cpus as osCpus } from 'node:os';
import { join, resolve } from 'node:path';
import type { Arch } from '../loader/arch/index.js';
import { IoCode, IoError } from '../loader/errors.js';
import { ImportCode, ImportError } from '../loader/import/errors.js';
import type { HostSnapshot } from '../loader/import/host.js';
import type { MemmapEntryText } from '../loader/import/memmap.js';
import { readInputFile, type InputKind } from '../loader/io/input.js';

/** One input of an import, as the profile's provenance lists it. */
export interface InputRecord {
  readonly kind: 'dtb' | 'efi-map' | 'smap' | 'memmap' | 'iomem' | 'fdt' | 'sysctl';
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

/** Runs a command and returns its standard output (throws on failure). */
export type CommandRunner = (file: string, args: readonly string[]) => Uint8Array;

/** Bounds on what a probe command may print and how long it may take. */
export const PROBE_COMMAND_LIMITS = { maxBytes: 4 * 1024 * 1024, timeoutMs: 10_000 } as const;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Reads one input file and records it. */
export function readRecorded(
  path: string,
  kind: InputRecord['kind'],
  inputKind: InputKind,
  what: string,
  records: InputRecord[],
  cwd?: string,
): Buffer {
  const bytes = readInputFile(path, inputKind, { what, ...(cwd === undefined ? {} : { cwd }) });
  records.push({ kind, path, sha256: sha256(bytes), bytes: bytes.length });
  return bytes;
}

/** The entries of a memmap-shaped directory (see the module contract). */
export function readMemmapDir(dir: string, records: InputRecord[], cwd?: string): MemmapEntryText[] {
  const full = resolve(cwd ?? process.cwd(), dir);
  let names: string[];
  try {
    if (!statSync(full).isDirectory()) {
      throw new IoError(IoCode.NotDirectory, `io: memmap ${dir} is not a directory`, { path: full, shown: dir });
    }
    names = readdirSync(full).filter((n) => /^[0-9]{1,6}$/.test(n));
  } catch (e) {
    if (e instanceof IoError) throw e;
    throw new IoError(
      IoCode.NotFound,
      `io: memmap directory ${dir} cannot be listed`,
      { path: full, shown: dir },
      { cause: e },
    );
  }
  names.sort((a, b) => Number(a) - Number(b));
  if (names.length === 0) {
    throw new ImportError(ImportCode.NoMemory, `import: ${dir} holds no memmap entries (numbered directories)`, {
      dir,
      hint: '--memory',
    });
  }
  if (names.length > 4096) {
    throw new ImportError(
      ImportCode.TooLarge,
      `import: ${dir} holds ${names.length} entries, more than kboot reads (4096)`,
      { dir },
    );
  }
  const text = (n: string, f: string): string =>
    readRecorded(join(dir, n, f), 'memmap', 'memoryMap', `memmap ${f}`, records, cwd).toString('utf8');
  return names.map((n) => ({ name: n, start: text(n, 'start'), end: text(n, 'end'), type: text(n, 'type') }));
}

/** The default command runner: execFileSync with the probe bounds, no shell. */
export function runCommand(file: string, args: readonly string[]): Uint8Array {
  return execFileSync(file, args, {
    maxBuffer: PROBE_COMMAND_LIMITS.maxBytes,
    timeout: PROBE_COMMAND_LIMITS.timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function archOf(nodeArch: string): Arch {
  if (nodeArch === 'x64') return 'amd64';
  if (nodeArch === 'arm64') return 'arm64';
  throw new ImportError(ImportCode.Unsupported, `import: kboot models amd64 and arm64 machines, not ${nodeArch}`, {
    arch: nodeArch,
  });
}

function linuxSnapshot(arch: Arch, root: string, records: InputRecord[]): HostSnapshot {
  const at = (p: string): string => join(root, p);
  const memmapDir = at('sys/firmware/memmap');
  const memmap = existsSync(memmapDir) ? readMemmapDir(memmapDir, records) : undefined;
  const iomem = existsSync(at('proc/iomem'))
    ? readRecorded(at('proc/iomem'), 'iomem', 'memoryMap', '/proc/iomem', records).toString('utf8')
    : undefined;
  const fdt = existsSync(at('sys/firmware/fdt'))
    ? readRecorded(at('sys/firmware/fdt'), 'fdt', 'dtb', '/sys/firmware/fdt', records)
    : undefined;
  return {
    os: 'linux',
    arch,
    cpus: Math.max(1, osCpus().length),
    efi: existsSync(at('sys/firmware/efi')),
    ...(memmap === undefined ? {} : { memmap }),
    ...(iomem === undefined ? {} : { iomem }),
    ...(fdt === undefined ? {} : { fdt }),
  };
}

function freebsdSnapshot(arch: Arch, run: CommandRunner, records: InputRecord[]): HostSnapshot {
  // An oid the kernel does not have (no EFI map on a BIOS boot) fails: that source is absent.
  const sysctl = (args: string[]): Uint8Array | undefined => {
    try {
      const out = run('/sbin/sysctl', args);
      records.push({ kind: 'sysctl', path: `sysctl ${args.join(' ')}`, sha256: sha256(out), bytes: out.length });
      return out;
    } catch {
      return undefined;
    }
  };
  const efiMap = sysctl(['-b', 'machdep.efi_map']);
  const smap = efiMap !== undefined && efiMap.length > 0 ? undefined : sysctl(['-b', 'machdep.smap']);
  const ncpu = Number(
    Buffer.from(sysctl(['-n', 'hw.ncpu']) ?? new Uint8Array())
      .toString('utf8')
      .trim(),
  );
  return {
    os: 'freebsd',
    arch,
    cpus: Number.isInteger(ncpu) && ncpu > 0 ? ncpu : 1,
    efi: efiMap !== undefined && efiMap.length > 0,
    ...(efiMap === undefined ? {} : { efiMap }),
    ...(smap === undefined ? {} : { smap }),
  };
}

/** How to probe (tests point these elsewhere). */
export interface HostProbeOptions {
  readonly platform?: string;
  readonly arch?: string;
  /** Linux: the directory standing for `/`. */
  readonly root?: string;
  readonly run?: CommandRunner;
}

/** Reads the running machine (see the module contract). */
export function readHostSnapshot(opts: HostProbeOptions = {}): { snapshot: HostSnapshot; inputs: InputRecord[] } {
  const platform = opts.platform ?? process.platform;
  const arch = archOf(opts.arch ?? process.arch);
  const inputs: InputRecord[] = [];
  if (platform === 'linux') return { snapshot: linuxSnapshot(arch, opts.root ?? '/', inputs), inputs };
  if (platform === 'freebsd') return { snapshot: freebsdSnapshot(arch, opts.run ?? runCommand, inputs), inputs };
  throw new ImportError(ImportCode.Unsupported, `import: --host reads Linux or FreeBSD, not ${platform}`, { platform });
}
