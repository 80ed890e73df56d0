/**
 * The independent tools tests check kboot against (readelf, objdump, dtc, gdb-multiarch,
 * mandoc, Chromium, gcc, zstd, gzip, Universal Ctags, the aarch64 binutils, ...): whether one is
 * here, and what a test that needs it does when it is not.
 *
 * `requireTool(...names)` gives the tap options for such a test: `{}` when every tool is here;
 * otherwise `{ skip: '<tool> is not installed (Debian package <pkg>)' }` — except under
 * `CI=true` (.ci/run sets it), where a missing tool throws, so the test (or the file) fails:
 * a bare CI must not pass without the independent checks having run. scripts/ensure-deps.sh
 * installs every package named in TOOLS.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** How a tool is found: a command that answers a probe, or a file (a header, a fixed path). */
interface ToolProbe {
  /** The Debian package that provides it (scripts/ensure-deps.sh installs it). */
  readonly package: string;
  /** Arguments the command answers with exit status 0 (default `--version`). */
  readonly args?: readonly string[];
  /** Text the probe's stdout must contain (tells Universal Ctags from other ctags). */
  readonly match?: RegExp;
  /** A file that must exist instead of a command to run. */
  readonly file?: string;
  /** Any exit status will do: the command has no probe that exits 0 (mandoc). */
  readonly anyStatus?: boolean;
}

const BINUTILS = { package: 'binutils' } as const;
const A64_BINUTILS = { package: 'binutils-aarch64-linux-gnu' } as const;
const DTC = { package: 'device-tree-compiler' } as const;

/** Every tool a test names, with its package. */
export const TOOLS = {
  readelf: BINUTILS,
  objdump: BINUTILS,
  objcopy: BINUTILS,
  nm: BINUTILS,
  as: BINUTILS,
  ld: BINUTILS,
  'aarch64-linux-gnu-readelf': A64_BINUTILS,
  'aarch64-linux-gnu-objdump': A64_BINUTILS,
  'aarch64-linux-gnu-objcopy': A64_BINUTILS,
  'aarch64-linux-gnu-nm': A64_BINUTILS,
  'aarch64-linux-gnu-as': A64_BINUTILS,
  'aarch64-linux-gnu-ld': A64_BINUTILS,
  dtc: DTC,
  fdtget: { ...DTC, args: ['-h'] },
  fdtdump: { ...DTC, args: ['-h'] },
  'gdb-multiarch': { package: 'gdb-multiarch' },
  mandoc: { package: 'mandoc', args: ['-T', 'lint', '/dev/null'], anyStatus: true },
  chromium: { package: 'chromium', file: '/usr/bin/chromium' },
  gcc: { package: 'gcc' },
  cc: { package: 'gcc' },
  zstd: { package: 'zstd' },
  gzip: { package: 'gzip' },
  bzip2: { package: 'bzip2', args: ['--help'] },
  yaml2obj: { package: 'llvm' },
  ctags: { package: 'universal-ctags', match: /Universal Ctags/ },
  mkfifo: { package: 'coreutils' },
  strace: { package: 'strace', args: ['-V'] },
  'linux/kexec.h': { package: 'linux-libc-dev', file: '/usr/include/linux/kexec.h' },
  'unicorn.h': { package: 'libunicorn-dev', file: '/usr/include/unicorn/unicorn.h' },
} as const satisfies Record<string, ToolProbe>;

/** A tool `requireTool` knows. */
export type ToolName = keyof typeof TOOLS;

const found = new Map<ToolName, boolean>();

/** True when the tool is installed (probed once per process). */
export function haveTool(name: ToolName): boolean {
  const hit = found.get(name);
  if (hit !== undefined) return hit;
  const probe: ToolProbe = TOOLS[name];
  let ok: boolean;
  if (probe.file !== undefined) {
    ok = existsSync(probe.file);
  } else {
    const r = spawnSync(name, [...(probe.args ?? ['--version'])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    ok =
      r.error === undefined &&
      (r.status === 0 || probe.anyStatus === true) &&
      (probe.match === undefined || probe.match.test(r.stdout));
  }
  found.set(name, ok);
  return ok;
}

/** True under CI (`CI=true`), where a missing tool fails instead of skipping. */
export function underCi(): boolean {
  return process.env['CI'] === 'true';
}

/** Thrown for a missing tool under CI. */
export class MissingToolError extends Error {
  override readonly name = 'MissingToolError';
}

/**
 * Why a test needing `names` cannot run (`undefined` when it can). Under CI a missing tool
 * throws MissingToolError instead.
 */
export function missingTools(...names: readonly ToolName[]): string | undefined {
  const missing = names.filter((n) => !haveTool(n));
  if (missing.length === 0) return undefined;
  const what = missing.map((n) => `${n} (Debian package ${TOOLS[n].package})`).join(', ');
  const reason = `${what} ${missing.length === 1 ? 'is' : 'are'} not installed`;
  if (underCi()) {
    throw new MissingToolError(
      `${reason}, and CI=true: a missing independent tool fails the run (scripts/ensure-deps.sh installs it)`,
    );
  }
  return reason;
}

/** tap options for a test that needs `names`: `{}`, or `{ skip }` outside CI (see the module contract). */
export function requireTool(...names: readonly ToolName[]): { skip?: string } {
  const reason = missingTools(...names);
  return reason === undefined ? {} : { skip: reason };
}
