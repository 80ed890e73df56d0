/**
 * The action of `kboot probe-kernel --arch amd64|arm64 -o FILE [--mode rescue|kexec] [--uart-base ADDR]
 *  [--gic [GICR-ADDR]] [--force] [--json]`: writes a probe kernel (kernels/probe/build.ts) to FILE.
 *
 * Contract: builds the ELF in memory and writes it through loader/io/output.ts writeNewFile:
 * an exclusively created temporary with an unpredictable name in FILE's folder, mode 0644,
 * moved into place with `--force` by rename (replacing FILE), otherwise by link + unlink,
 * which refuses an existing FILE atomically (IO_EXISTS, details.reason 'EEXIST'); a missing
 * folder is IO_NOT_FOUND. The temporary file never outlives the command. It prints the file, arch, size,
 * entry point and where the report lies; `--json` prints
 * `{ file, arch, size, entry, reportOffset }` (entry and reportOffset as "0x…" strings).
 * A bad `--arch` or `--mode` is commander's usage error (its `.choices()`), a bad
 * `--uart-base` or `--gic` CLI_USAGE (`--gic` off arm64 rescue mode is PROBE_BAD_OPTION); a console address out of range for the arch is the builder's
 * PROBE_BAD_OPTION. The descriptor is cli/commands/probe-kernel.ts.
 */
import { resolve } from 'node:path';
import { hex, parseSizeText } from '../../loader/addr.js';
import type { Arch } from '../../loader/arch/index.js';
import { writeNewFile } from '../../loader/io/output.js';
import {
  buildProbeKernel,
  probeEntryVa,
  probeReportVa,
  PROBE_GICR_DEFAULT,
  PROBE_REPORT_OFFSET,
  type ProbeMode,
} from '../../kernels/probe/index.js';
import type { ActionContext } from '../context.js';
import { CliCode, CliError } from '../errors.js';

/** What `--json` prints. */
export interface ProbeKernelReport {
  readonly file: string;
  readonly arch: Arch;
  readonly size: number;
  readonly entry: string;
  readonly reportOffset: string;
}

/** The options of `kboot probe-kernel` (cli/commands/probe-kernel.ts). */
export interface ProbeKernelOptions {
  arch: Arch;
  output: string;
  mode?: ProbeMode;
  uartBase?: string;
  /** `--gic` alone: the QEMU virt redistributor; `--gic ADDR`: CPU 0's GICR RD_base. */
  gic?: string | true;
  force?: boolean;
}

/** `--gic [ADDR]` as the builder's `gicr` (undefined without the option). */
function gicOption(gic: string | true | undefined): bigint | undefined {
  if (gic === undefined) return undefined;
  if (gic === true) return PROBE_GICR_DEFAULT;
  const v = parseSizeText(gic);
  if (v === undefined) {
    throw new CliError(CliCode.Usage, `cli: --gic "${gic}" is not a number (e.g. 0x80a0000)`, { value: gic });
  }
  return v;
}

/** `kboot probe-kernel`: builds the probe kernel, writes it and says where its report lies. */
export function runProbeKernel(ctx: ActionContext, opts: ProbeKernelOptions): void {
  const { io } = ctx;
  const { arch } = opts;
  const mode = opts.mode ?? 'rescue';
  const uartBase = opts.uartBase === undefined ? undefined : parseSizeText(opts.uartBase);
  if (opts.uartBase !== undefined && uartBase === undefined) {
    throw new CliError(CliCode.Usage, `cli: --uart-base "${opts.uartBase}" is not a number (e.g. 0x9000000)`, {
      value: opts.uartBase,
    });
  }
  const gicr = gicOption(opts.gic);
  const bytes = buildProbeKernel(arch, {
    mode,
    ...(uartBase === undefined ? {} : { uartBase }),
    ...(gicr === undefined ? {} : { gicr }),
  });
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
  if (ctx.json) {
    io.out(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    io.out(
      `wrote ${report.file}: ${arch} probe kernel (mode ${mode}${gicr === undefined ? '' : `, GIC check at GICR ${hex(gicr)}`}), ${report.size} bytes, entry ${report.entry}, ` +
        `report at file offset ${report.reportOffset} (VA ${hex(probeReportVa(arch))}, PA load address + ${report.reportOffset})\n`,
    );
  }
}
