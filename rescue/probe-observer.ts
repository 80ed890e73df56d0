/**
 * The probe kernels' observer (machine/observer.ts): after a jump reached a kernel built by
 * `kboot probe-kernel` (kernels/probe), run it to its halt and decode the report page it
 * wrote inside its own image (kernels/probe/report.ts), with the checksum its file should
 * give (kernels/probe/checksum.ts).
 *
 * On an arm64 machine with a GICv3, a rescue-mode report is followed by the GICv3 LPI check
 * the rescue kernel's gicv3_its would make (./its-check.ts, in TypeScript); a probe built with
 * `--gic` made that check itself, on the CPU, and its own verdict is the one reported (`its`,
 * `itsBy: 'probe'`), kboot's kept beside it (`itsKboot`).
 *
 * Contract: `recognises` is true only for images carrying the probe's report symbol;
 * `observe` runs the CPU inside the given limits and never throws for a bad report: a report
 * that does not decode is `report: undefined` with `reportError` saying why.
 */
import { hex } from '../loader/addr.js';
import type { ElfImage } from '../loader/elf/image.js';
import {
  decodeProbeReport,
  PROBE_LABELS,
  probeChecksum,
  probeReportVa,
  ProbeReportLayout,
  type ProbeReport,
} from '../kernels/probe/index.js';
import type { StopReason } from '../machine/cpu/index.js';
import type { EnteredKernel, EntryObserver } from '../machine/observer.js';
import { checkItsReuse, probeItsVerdict, type ItsReuse } from './its-check.js';

/** What a probe kernel did after the entry. */
export interface ProbeRun {
  readonly stop: StopReason;
  readonly report: ProbeReport | undefined;
  /** The checksum the probe should compute: that of the ELF image entered (for `kboot exec`, its file). */
  readonly expectedChecksum: bigint;
  /** Why the report did not decode. */
  readonly reportError?: string;
  /**
   * arm64 with a GICv3, rescue mode: what the rescue kernel's gicv3_its would do — the probe's
   * own verdict when it was built with `--gic`, else kboot's (./its-check.ts).
   */
  readonly its?: ItsReuse;
  /** Who reached `its`: the probe kernel on the CPU, or kboot after the halt. */
  readonly itsBy?: 'probe' | 'kboot';
  /** kboot's checkItsReuse, also computed when the probe gave its own verdict (to compare). */
  readonly itsKboot?: ItsReuse;
}

/** True for kernels built by `kboot probe-kernel`. */
export function isProbeKernel(image: ElfImage): boolean {
  return image.symbols.some((s) => s.name === PROBE_LABELS.report);
}

const reportPa = (entered: EnteredKernel): bigint => entered.toPhys(probeReportVa(entered.machine.profile.arch));

/** Runs a probe kernel to its halt and reads its report (see the module contract). */
export const probeObserver: EntryObserver<ProbeRun> = Object.freeze({
  name: 'probe',
  recognises: isProbeKernel,
  observe(entered: EnteredKernel): ProbeRun {
    const { machine } = entered;
    const stop = machine.cpu.run(entered.limits);
    let report: ProbeReport | undefined;
    let reportError: string | undefined;
    try {
      const pa = entered.toPhys(probeReportVa(machine.profile.arch));
      report = decodeProbeReport(machine.ram.read(pa, ProbeReportLayout.size));
    } catch (e) {
      reportError = e instanceof Error ? e.message : String(e);
    }
    const kboot =
      report?.mode === 'rescue' && machine.gic !== undefined ? checkItsReuse(machine, report.handoffAddr) : undefined;
    const own = report?.gic === undefined ? undefined : probeItsVerdict(report.gic);
    const its = own ?? kboot;
    return {
      stop,
      report,
      expectedChecksum: probeChecksum(entered.image.bytes),
      ...(reportError === undefined ? {} : { reportError }),
      ...(its === undefined ? {} : { its, itsBy: own === undefined ? 'kboot' : 'probe' }),
      ...(kboot === undefined ? {} : { itsKboot: kboot }),
    };
  },
  describe: (r: ProbeRun, entered: EnteredKernel): string =>
    `${r.stop.kind} at ${hex(r.stop.pc)} after ${r.stop.executed} instructions; report at ${hex(reportPa(entered))}`,
});
