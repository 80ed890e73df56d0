/**
 * The terminal form of a comparison report (compare/report.ts): per machine profile, one
 * column per strategy and one row per measurement — where it is armed from, the panic
 * outcome at every boot phase (✓ rescued, ✗ not), memory, bytes copied, the panic → rescue
 * jump, the dump, replacing the rescue kernel, whether the rescue kernel can reuse the live
 * GICv3 LPI tables (kboot's hand-off, and D47358's `none` beside it), and the fault set — then
 * notes that say what
 * the extra memory is and what each fault did.
 *
 * Contract: pure; draws only from the report; lines end with "\n"; no colour codes.
 */
import { formatBytes } from '../dump/progress.js';
import {
  FAULT_LABEL,
  STRATEGY_LABEL,
  type CompareReport,
  type FaultOutcome,
  type ProfileComparison,
  type StrategyComparison,
} from './report.js';

const LABEL = 40;
const COLUMN = 26;

const secs = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const pct = (x: number): string => `${Math.round(x * 100)}%`;
const MARK: { readonly [O in FaultOutcome]: string } = {
  survived: '✓ survived',
  detected: '✓ detected',
  undetected: '✗ undetected',
  failed: '✗ failed',
  'n/a': 'n/a',
};

function row(label: string, cells: readonly string[]): string {
  return `${label.padEnd(LABEL)}${cells.map((c) => c.padEnd(COLUMN)).join('')}`.trimEnd();
}

function armedText(c: StrategyComparison): string {
  if (c.armedFrom === null) return 'never';
  return c.userspaceOnly ? `${c.armedFrom} (userspace)` : c.armedFrom;
}

function replaceText(c: StrategyComparison): string {
  if (c.replace.done) return `${c.replace.withoutReboot ? '✓' : '✗'} unload+load, ${secs(c.replace.ms)}`;
  return `✗ ${c.replace.needs} (${secs(c.replace.ms)})`;
}

function probeText(c: StrategyComparison): string {
  const p = c.jump.probe;
  if (p === null) return c.jump.rescued ? 'entered (not a probe)' : '-';
  return p.complete ? `ran, checksum ${p.checksumOk ? 'ok' : 'WRONG'}` : `stopped: ${p.stop}`;
}

type Cells = (f: (c: StrategyComparison) => string) => string[];

/** The heading line and the column names. */
function heading(report: CompareReport, p: ProfileComparison, all: Cells): string[] {
  const kind = report.kernel.probe ? 'probe kernel' : 'kernel';
  return [
    `kboot compare: ${report.kernel.file} (${report.kernel.arch} ${kind}, ${formatBytes(report.kernel.size)}) on ${p.machine}: ${p.sessions} sessions in ${secs(p.elapsedMs)}`,
    '',
    row(
      '',
      all((c) => STRATEGY_LABEL[c.strategy]),
    ),
  ];
}

/** Where it is armed from and the panic at every phase. */
function armingRows(report: CompareReport, all: Cells): string[] {
  const lines = [
    row('armed from', all(armedText)),
    row(
      'panics rescued (share of boot)',
      all((c) => `${c.phases.filter((x) => x.rescued).length}/${c.phases.length} (${pct(c.rescuedShare)})`),
    ),
  ];
  for (const phase of report.phases) {
    const label = `  panic at ${phase}${phase === report.userspaceFrom ? ' (userspace)' : ''}`;
    lines.push(
      row(
        label,
        all((c) => {
          const r = c.phases.find((x) => x.phase === phase);
          return r === undefined ? '?' : r.rescued ? '✓ rescued' : '✗';
        }),
      ),
    );
  }
  return lines;
}

/** Memory and the bytes copied at boot, at load and at the panic. */
function memoryRows(all: Cells): string[] {
  return [
    row(
      'reserved (rescue_kernel_init)',
      all((c) => formatBytes(c.memory.reservedBytes)),
    ),
    row(
      'extra memory for the copy [1]',
      all((c) => formatBytes(c.memory.transientBytes)),
    ),
    row(
      'host kernel growth',
      all((c) =>
        c.memory.kernelImageGrowth === null
          ? '-'
          : `+${formatBytes(c.memory.kernelImageGrowth)} (file +${formatBytes(c.memory.kernelFileGrowth ?? 0)})`,
      ),
    ),
    row(
      'copied at boot [2]',
      all((c) => formatBytes(c.copies.bootBytes)),
    ),
    row(
      'copied at load (kexec_load)',
      all((c) => formatBytes(c.copies.loadBytes)),
    ),
    row(
      'copied at panic',
      all((c) => `${formatBytes(c.copies.panicBytes)} (+${formatBytes(c.copies.panicTableBytes)} tables)`),
    ),
  ];
}

/** The panic → rescue jump, the rescue kernel's run, the dump and the replacement. */
function runRows(p: ProfileComparison, all: Cells): string[] {
  return [
    row(
      'panic -> rescue entry',
      all((c) => (c.jump.rescued ? `${c.jump.instructions} insns, ${secs(c.jump.ms)}` : `✗ ${c.jump.stop}`)),
    ),
    row(
      '  panic() wall time',
      all((c) => secs(c.jump.panicMs)),
    ),
    row('  rescue kernel', all(probeText)),
    row(
      `dump (${p.dump.format})`,
      all((c) =>
        c.dump.status === 'none'
          ? '✗ none'
          : `${formatBytes(c.dump.size)}, ${secs(c.dump.ms)}${c.dump.status === 'good' ? '' : ` ${c.dump.status}`}`,
      ),
    ),
    row('replace rescue kernel, no reboot', all(replaceText)),
    row('GICv3 ITS live at the panic', all(itsText)),
  ];
}

function itsText(c: StrategyComparison): string {
  const its = c.its;
  if (its.outcome === 'n/a' || its.kboot === null) return 'n/a';
  const base =
    its.baseline === null || its.baseline === its.kboot
      ? ''
      : ` (none: ${its.baseline.outcome === 'panic' ? '✗' : its.baseline.outcome})`;
  return `${its.outcome === 'passed' ? '✓' : '✗'} ${its.kboot.mode}${base}`;
}

/** One row per fault, then the count handled. */
function faultRows(report: CompareReport, all: Cells): string[] {
  const lines = report.faultSet.map((f) =>
    row(
      `fault: ${FAULT_LABEL[f]}`,
      all((c) => {
        const r = c.faults.find((x) => x.fault === f);
        return r === undefined ? '?' : MARK[r.outcome];
      }),
    ),
  );
  lines.push(
    row(
      'faults handled',
      all((c) => `${c.faultsHandled}/${c.faultsApplicable}`),
    ),
  );
  return lines;
}

/** The notes under the table: the reservation and dump, what the memory, copies and replacements are. */
function notes(p: ProfileComparison): string[] {
  const cols = p.strategies;
  const lines = [
    `reservation ${p.reservation.start} + ${formatBytes(p.reservation.size)}; minidump ${formatBytes(p.dump.size)} (${p.dump.pages} pages), median ${secs(p.dump.ms)}`,
    '[1] extra memory:',
    ...cols.map((c) => `    ${STRATEGY_LABEL[c.strategy]}: ${c.memory.transient}`),
    '[2] copied at boot:',
    ...cols.map((c) => `    ${STRATEGY_LABEL[c.strategy]}: ${c.copies.boot}`),
    'replacing the rescue kernel:',
    ...cols.map((c) => `    ${STRATEGY_LABEL[c.strategy]}: ${c.replace.how}`),
    ...(cols.some((c) => c.its.outcome !== 'n/a')
      ? [
          "GICv3 ITS live at the panic (the rescue kernel's gicv3_its on the live LPI tables):",
          ...cols.map((c) => `    ${STRATEGY_LABEL[c.strategy]}: ${c.its.detail}`),
        ]
      : []),
  ];
  const stopped = cols.filter((c) => c.jump.probe !== null && !c.jump.probe.complete);
  if (stopped.length > 0) {
    lines.push(
      `rescue kernel: the hand-off reached its entry, then the probe kernel stopped (${[...new Set(stopped.map((c) => c.jump.probe?.stop ?? ''))].join(', ')}); ` +
        "a probe writes to the console it was built for: build it for this machine's UART (kboot probe-kernel --uart-base)",
    );
  }
  return lines;
}

/** What each fault did, once when every strategy saw the same, else per strategy. */
function faultNotes(report: CompareReport, p: ProfileComparison): string[] {
  const lines = ['faults:'];
  for (const f of report.faultSet) {
    const details = p.strategies.map((c) => ({
      label: STRATEGY_LABEL[c.strategy],
      r: c.faults.find((x) => x.fault === f),
    }));
    const texts = new Set(details.map((d) => d.r?.detail ?? ''));
    if (texts.size === 1) lines.push(`    ${FAULT_LABEL[f]} (all): ${[...texts][0] ?? ''}`);
    else for (const d of details) lines.push(`    ${FAULT_LABEL[f]} (${d.label}): ${d.r?.detail ?? ''}`);
  }
  return lines;
}

/** One profile's table. */
export function formatProfileTable(report: CompareReport, p: ProfileComparison): string {
  const all: Cells = (f) => p.strategies.map(f);
  const lines = [
    ...heading(report, p, all),
    ...armingRows(report, all),
    ...memoryRows(all),
    ...runRows(p, all),
    ...faultRows(report, all),
    '',
    ...notes(p),
    ...faultNotes(report, p),
  ];
  return `${lines.join('\n')}\n`;
}

/** The whole report: one table per profile. */
export function formatCompareTable(report: CompareReport): string {
  return report.profiles.map((p) => formatProfileTable(report, p)).join('\n');
}
