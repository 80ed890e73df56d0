/**
 * `kboot compare <rescue.elf> [--machine NAME|FILE ...] [--seed N] [--svg FILE] [--force] [--json]`:
 * embed, KLD preload and kexec_load run through the same scenarios on the emulated machine
 * (compare/run.ts) for each profile — default: every built-in profile of the kernel's arch —
 * and reported as a table per profile (compare/table.ts), or with `--json` one object valid
 * against schemas/compare.schema.json, and optionally an SVG timeline chart (compare/svg.ts).
 *
 * Contract: the kernel file is read whole through loader/io/input.ts (IO_* when it cannot
 * be); a profile of another arch, a bad --seed, or an existing --svg FILE (or a symlink of
 * that name) without --force is CLI_USAGE / IO_EXISTS before anything runs. Progress lines
 * go to stderr (not with --json). The SVG is written through an exclusive temporary file
 * (loader/io/output.ts writeNewFile) that is linked, or with --force renamed, into place. The measured results never change
 * the exit status: compare reports, it does not gate.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { IoCode, IoError } from '../../loader/errors.js';
import { readInputFile } from '../../loader/io/input.js';
import { pathTaken, writeNewFile } from '../../loader/io/output.js';
import type { MachineProfile } from '../../loader/plan/profile.js';
import type { CliIo } from '../io.js';
import { globalOptions } from '../context.js';
import { CliCode, CliError } from '../errors.js';

interface CompareCliOptions {
  machine?: string[];
  seed?: string;
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
export async function compareProfiles(
  names: readonly string[] | undefined,
  arch: string,
  cwd: string,
): Promise<MachineProfile[]> {
  const { builtinProfileNames, loadProfile } = await import('../../loader/plan/profile.js');
  if (names === undefined || names.length === 0) {
    return builtinProfileNames()
      .map((n) => loadProfile(n))
      .filter((p) => p.arch === arch);
  }
  return names.map((n) => loadProfile(n, { cwd }));
}

/** Registers `kboot compare`. */
export function registerCompare(program: Command, io: CliIo): void {
  program
    .command('compare')
    .description(
      'run embed, KLD and kexec through the same scenarios on the emulated machine and compare them (armed window, memory, copies, jump, dump, replacement, faults)',
    )
    .argument('<rescue.elf>', 'the rescue kernel (amd64 or arm64, FreeBSD layout)')
    .option('-m, --machine <name|file...>', "machine profiles (default: every built-in profile of the kernel's arch)")
    .option('--seed <n>', 'seed of the host model (default 1)')
    .option('--svg <file>', 'also write a timeline chart of the armed windows and panic outcomes')
    .option('--force', 'replace the --svg file if it exists')
    .action(async (file: string, opts: CompareCliOptions, cmd: Command) => {
      const g = globalOptions(cmd);
      const seed = parseSeed(opts.seed);
      const bytes = readInputFile(file, 'kernel', { what: 'rescue kernel', cwd: io.cwd });
      const svgPath = opts.svg === undefined ? undefined : resolve(io.cwd, opts.svg);
      if (svgPath !== undefined && opts.force !== true && pathTaken(svgPath)) {
        throw new IoError(IoCode.Exists, `io: ${opts.svg ?? ''} already exists (use --force to replace it)`, {
          path: svgPath,
          reason: 'EEXIST',
        });
      }
      const [{ parseElf }, compare] = await Promise.all([
        import('../../loader/elf/index.js'),
        import('../../compare/index.js'),
      ]);
      const arch = parseElf(bytes).arch;
      const profiles = await compareProfiles(opts.machine, arch, io.cwd);
      const wrong = profiles.filter((p) => p.arch !== arch);
      if (wrong.length > 0) {
        throw new CliError(
          CliCode.Usage,
          `cli: ${file} is an ${arch} kernel; ${wrong.map((p) => `${p.name} is ${p.arch}`).join(', ')}`,
          { arch, machines: wrong.map((p) => p.name) },
        );
      }
      const report = await compare.runCompare({
        rescue: bytes,
        file,
        profiles,
        seed,
        ...(g.json ? {} : { onProgress: (line: string) => io.err(`compare: ${line}\n`) }),
      });
      if (svgPath !== undefined) {
        writeNewFile(svgPath, compare.compareSvg(report), {
          shown: opts.svg ?? svgPath,
          replace: opts.force === true,
          what: 'timeline chart',
        });
      }
      if (g.json) {
        io.out(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      io.out(compare.formatCompareTable(report));
      if (opts.svg !== undefined) io.out(`timeline chart: ${opts.svg}\n`);
    });
}
