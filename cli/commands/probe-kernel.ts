/**
 * `kboot probe-kernel --arch amd64|arm64 -o FILE [--mode rescue|kexec] [--uart-base ADDR]
 *  [--force] [--json]`: writes a probe kernel (kernels/probe/build.ts) to FILE.
 *
 * Contract: builds the ELF in memory and writes it through loader/io/output.ts writeNewFile:
 * an exclusively created temporary with an unpredictable name in FILE's folder, mode 0644,
 * moved into place with `--force` by rename (replacing FILE), otherwise by link + unlink,
 * which refuses an existing FILE atomically (IO_EXISTS, details.reason 'EEXIST'); a missing
 * folder is IO_NOT_FOUND. The temporary file never outlives the command. It prints the file, arch, size,
 * entry point and where the report lies; `--json` prints
 * `{ file, arch, size, entry, reportOffset }` (entry and reportOffset as "0x…" strings).
 * A bad `--arch`, `--mode` or `--uart-base` is CLI_USAGE; a console address out of range
 * for the arch is the builder's PROBE_BAD_OPTION.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { hex, parseSizeText } from '../../loader/addr.js';
import { ARCHES, type Arch } from '../../loader/arch/index.js';
import { writeNewFile } from '../../loader/io/output.js';
import type { CliIo } from '../io.js';
import { globalOptions } from '../context.js';
import { CliCode, CliError } from '../errors.js';

interface ProbeKernelCliOptions {
  arch: string;
  output: string;
  mode?: string;
  uartBase?: string;
  force?: boolean;
}

/** What `--json` prints. */
export interface ProbeKernelReport {
  readonly file: string;
  readonly arch: Arch;
  readonly size: number;
  readonly entry: string;
  readonly reportOffset: string;
}

const MODES = ['rescue', 'kexec'] as const;
/** Registers `kboot probe-kernel`. */
export function registerProbeKernel(program: Command, io: CliIo): void {
  program
    .command('probe-kernel')
    .description('write a probe kernel: a tiny FreeBSD-layout kernel that records how it was entered and halts')
    .requiredOption('--arch <arch>', `architecture: ${ARCHES.join(' or ')}`)
    .requiredOption('-o, --output <file>', 'the ELF file to write')
    .option(
      '--mode <mode>',
      'where the probe finds its hand-off: rescue (params at load PA - 2 MiB) or kexec (modinfo)',
    )
    .option(
      '--uart-base <addr>',
      'console: amd64 16550 I/O port (default 0x3f8); arm64 PL011 address (default 0x9000000)',
    )
    .option('--force', 'replace FILE if it exists')
    .action(async (opts: ProbeKernelCliOptions, cmd: Command) => {
      const g = globalOptions(cmd);
      const arch = ARCHES.find((a) => a === opts.arch);
      if (arch === undefined) {
        throw new CliError(CliCode.Usage, `cli: --arch must be ${ARCHES.join(' or ')}, not "${opts.arch}"`, {
          arch: opts.arch,
        });
      }
      const mode = opts.mode === undefined ? 'rescue' : MODES.find((m) => m === opts.mode);
      if (mode === undefined) {
        throw new CliError(CliCode.Usage, `cli: --mode must be rescue or kexec, not "${String(opts.mode)}"`, {
          mode: opts.mode,
        });
      }
      const uartBase = opts.uartBase === undefined ? undefined : parseSizeText(opts.uartBase);
      if (opts.uartBase !== undefined && uartBase === undefined) {
        throw new CliError(CliCode.Usage, `cli: --uart-base "${opts.uartBase}" is not a number (e.g. 0x9000000)`, {
          value: opts.uartBase,
        });
      }
      const { buildProbeKernel, probeEntryVa, probeReportVa, PROBE_REPORT_OFFSET } =
        await import('../../kernels/probe/index.js');
      const bytes = buildProbeKernel(arch, { mode, ...(uartBase === undefined ? {} : { uartBase }) });
      writeNewFile(resolve(io.cwd, opts.output), bytes, {
        shown: opts.output,
        replace: opts.force === true,
        what: 'probe kernel',
      });
      const report: ProbeKernelReport = {
        file: opts.output,
        arch,
        size: bytes.length,
        entry: hex(probeEntryVa(arch)),
        reportOffset: hex(PROBE_REPORT_OFFSET),
      };
      if (g.json) {
        io.out(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        io.out(
          `wrote ${report.file}: ${arch} probe kernel (mode ${mode}), ${report.size} bytes, entry ${report.entry}, ` +
            `report at file offset ${report.reportOffset} (VA ${hex(probeReportVa(arch))}, PA load address + ${report.reportOffset})\n`,
        );
      }
    });
}
