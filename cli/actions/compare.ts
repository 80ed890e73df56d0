/**
 * The action of `kboot compare <rescue.elf> [--machine NAME|FILE ...] [--seed N] [--svg FILE]
 * [--force] [--json]` (descriptor: cli/commands/compare.ts): embed, KLD preload and kexec_load
 * run through the same scenarios on the emulated machine (compare/run.ts) for each profile —
 * default: every built-in profile of the kernel's arch — and reported as a table per profile
 * (compare/table.ts), or with `--json` one object valid against schemas/compare.schema.json,
 * and optionally an SVG timeline chart (compare/svg.ts).
 *
 * Contract: the kernel file is read whole through loader/io/input.ts (IO_* when it cannot
 * be); a profile of another arch, a bad --seed, or an existing --svg FILE (or a symlink of
 * that name) without --force is CLI_USAGE / IO_EXISTS before anything runs. Progress lines
 * go to stderr (not with --json). The SVG is written through an exclusive temporary file
 * (loader/io/output.ts writeNewFile) that is linked, or with --force renamed, into place. The
 * measured results never change the exit status: compare reports, it does not gate.
 */
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import { resolve } from 'node:path';
import { IoCode, IoError } from '../../loader/errors.js';
import { parseElf } from '../../loader/elf/reader.js';
import { readInputFile } from '../../loader/io/input.js';
import { pathTaken, writeNewFile } from '../../loader/io/output.js';
import { builtinProfileNames, loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { compareSvg, formatCompareTable, runCompare } from '../../compare/index.js';
import type { ActionContext } from '../context.js';
import { CliCode, CliError } from '../errors.js';

/** The options of `kboot compare` (cli/commands/compare.ts). */
export interface CompareCliOptions {
  machine?: string[];
  seed?: string;
  itsHandoff?: ItsHandoffMode;
  svg?: string;
  force?: boolean;
}

/** Parses --seed (0..2^32-1; default 1). */
export function parseSeed(text: string | undefined): number {
  const seed = text === undefined ? 1 : Number(text);
  if (text?.trim() === '' || !Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new CliError(CliCode.Usage, `cli: --seed must be an integer 0..2^32-1, not "${text ?? ''}"`, { seed: text });
  }
  return seed;
}

/** The profiles named by --machine (built-in names or files relative to cwd), or the arch's built-ins. */
export function compareProfiles(names: readonly string[] | undefined, arch: string, cwd: string): MachineProfile[] {
  if (names === undefined || names.length === 0) {
    return builtinProfileNames()
      .map((n) => loadProfile(n))
      .filter((p) => p.arch === arch);
  }
  return names.map((n) => loadProfile(n, { cwd }));
}

/** The --svg path, refused up front when it exists and --force is not given. */
function svgTarget(ctx: ActionContext, opts: CompareCliOptions): string | undefined {
  const svgPath = opts.svg === undefined ? undefined : resolve(ctx.io.cwd, opts.svg);
  if (svgPath !== undefined && opts.force !== true && pathTaken(svgPath)) {
    throw new IoError(IoCode.Exists, `io: ${opts.svg ?? ''} already exists (use --force to replace it)`, {
      path: svgPath,
      reason: 'EEXIST',
    });
  }
  return svgPath;
}

/** `kboot compare FILE`: runs the comparison and prints it (and writes the chart). */
export async function runCompareCommand(ctx: ActionContext, file: string, opts: CompareCliOptions): Promise<void> {
  const { io } = ctx;
  const seed = parseSeed(opts.seed);
  const bytes = readInputFile(file, 'kernel', { what: 'rescue kernel', cwd: io.cwd });
  const svgPath = svgTarget(ctx, opts);
  const arch = parseElf(bytes).arch;
  const profiles = compareProfiles(opts.machine, arch, io.cwd);
  const wrong = profiles.filter((p) => p.arch !== arch);
  if (wrong.length > 0) {
    throw new CliError(
      CliCode.Usage,
      `cli: ${file} is an ${arch} kernel; ${wrong.map((p) => `${p.name} is ${p.arch}`).join(', ')}`,
      { arch, machines: wrong.map((p) => p.name) },
    );
  }
  const report = await runCompare({
    rescue: bytes,
    file,
    profiles,
    seed,
    ...(opts.itsHandoff === undefined ? {} : { itsHandoff: opts.itsHandoff }),
    ...(ctx.json ? {} : { onProgress: (line: string) => io.err(`compare: ${line}\n`) }),
  });
  if (svgPath !== undefined) {
    writeNewFile(svgPath, compareSvg(report), {
      shown: opts.svg ?? svgPath,
      replace: opts.force === true,
      what: 'timeline chart',
    });
  }
  if (ctx.json) {
    io.out(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  io.out(formatCompareTable(report));
  if (opts.svg !== undefined) io.out(`timeline chart: ${opts.svg}\n`);
}
