/**
 * How `kboot panic` shows what happened: the panic and hand-off (text), the probe's report,
 * the dump saved and what the dump directory's recovery found, as text or as the parts of
 * its `--json` object (schemas/panic.schema.json).
 */
import { hex } from '../../loader/addr.js';
import { summaryLine } from '../../dump/progress.js';
import { recoveryLines, recoveryWarnings, type DumpDirRecovery } from '../../dump/recover.js';
import type { PanicOutcome } from '../../machine/session.js';
import type { CrashDumpResult } from '../../rescue/crash-dump.js';
import type { ProbeRun } from '../../rescue/probe-observer.js';
import type { ItsReuse } from '../../rescue/its-check.js';
import type { CliIo } from '../io.js';
import { shownPath } from './host-state.js';

/** The panic, the hand-off and the probe's report, after the session's log lines. */
export function printPanic(io: CliIo, out: PanicOutcome<ProbeRun>, log: readonly string[]): void {
  for (const l of log) io.out(`  ${l}\n`);
  if (!out.rescued) {
    io.out(
      `panic at ${out.phase}: not rescued: ${out.reason ?? (out.jump === undefined ? 'nothing armed' : out.jump.stop.kind)}\n`,
    );
    return;
  }
  io.out(
    `panic at ${out.phase}: the rescue kernel (armed at ${out.armedAt ?? '?'}) was entered at ${hex(out.jump?.stopAt ?? 0n)} after ${out.jump?.stop.executed ?? 0} instructions\n`,
  );
  const r = out.observed?.report;
  if (r !== undefined)
    io.out(
      `probe report: ${r.complete ? 'complete' : 'INCOMPLETE'}, checksum ${hex(r.checksum)}, hand-off read at ${hex(r.handoffAddr)}\n`,
    );
  const its = out.observed?.its;
  if (its !== undefined) io.out(`${itsLine(its, out.observed?.itsBy)}\n`);
  for (const l of out.console) io.out(`console: ${l}\n`);
}

/**
 * One line: what the rescue kernel's gicv3_its would do with the live LPI tables; `by`
 * 'probe' says the verdict is the probe kernel's own (built with --gic).
 */
export function itsLine(its: ItsReuse, by?: 'probe' | 'kboot'): string {
  const head = by === 'probe' ? "GICv3 ITS (the probe kernel's own check)" : 'GICv3 ITS';
  switch (its.outcome) {
    case 'panic':
      return `${head}: the rescue kernel would panic: "${its.panic ?? ''}" (${hex(its.address ?? 0n)})`;
    case 'reuse-ok':
      return `${head}: reuse OK: ${its.detail}${its.fwHandle === undefined ? '' : `; FW_HANDLE ${hex(its.fwHandle)}`}`;
    default:
      return `${head}: ${its.outcome}: ${its.detail}`;
  }
}

/** The `its` part of the probe JSON. */
export function itsJson(its: ItsReuse): Record<string, unknown> {
  return {
    outcome: its.outcome,
    ...(its.panic === undefined ? {} : { panic: its.panic }),
    ...(its.address === undefined ? {} : { address: hex(its.address) }),
    ...(its.fwHandle === undefined ? {} : { fwHandle: hex(its.fwHandle) }),
    excludedBy: its.excludedBy,
    tables: its.tables.map((t) => ({ register: t.register, cpu: t.cpu, pa: hex(t.pa) })),
    detail: its.detail,
  };
}

/** The probe part of `kboot panic --json`: how it stopped and what its report says. */
export function probeJson(p: ProbeRun): Record<string, unknown> {
  const r = p.report;
  return {
    stop: p.stop,
    ...(r === undefined ? {} : { complete: r.complete, checksum: hex(r.checksum), handoffAddr: hex(r.handoffAddr) }),
    ...(p.its === undefined ? {} : { its: itsJson(p.its), itsBy: p.itsBy ?? 'kboot' }),
  };
}

/** Prints what a recovery did (stdout; with --json only in the final object) and its warnings (stderr). */
export function reportRecovery(io: CliIo, json: boolean, r: DumpDirRecovery): DumpDirRecovery {
  const shown = (p: string): string => shownPath(io, p);
  if (!json) for (const l of recoveryLines(r, shown)) io.out(`${l}\n`);
  for (const w of recoveryWarnings(r, shown)) io.err(`kboot: warning: ${w}\n`);
  return r;
}

/** The recovery part of `kboot panic --json`. */
function recoveryJson(recovery: DumpDirRecovery): Record<string, unknown> {
  return {
    recovered: recovery.recovered.map((r) => ({
      n: r.n,
      info: r.info,
      ...(r.vmcore === undefined ? {} : { vmcore: r.vmcore }),
      ...(r.keptAs === undefined ? {} : { keptAs: r.keptAs }),
      bytes: r.bytes,
      reason: r.reason,
    })),
    removed: recovery.removed,
    kept: recovery.kept,
    ignored: recovery.ignored,
  };
}

/** The saved-dump part of `kboot panic --json`. */
function saveJson(
  save: NonNullable<CrashDumpResult['save']>,
  recovery: DumpDirRecovery | undefined,
): Record<string, unknown> {
  return {
    n: save.n,
    vmcore: save.vmcore,
    info: save.info,
    status: save.status,
    ...(save.reason === undefined ? {} : { reason: save.reason, code: save.error?.code }),
    compression: save.compression,
    bytesIn: save.bytesIn,
    bytesOut: save.bytesOut,
    ms: Math.round(save.ms),
    warnings: save.warnings,
    ...(recovery === undefined ? {} : { recovery: recoveryJson(recovery) }),
  };
}

/** The dump part of `kboot panic --json`. */
export function dumpJson(d: CrashDumpResult, recovery: DumpDirRecovery | undefined): Record<string, unknown> {
  return {
    format: d.format,
    size: d.size,
    pages: d.pages,
    ...(d.save === undefined ? {} : saveJson(d.save, recovery)),
    ...(d.device === undefined ? {} : { device: d.device }),
    changedPages: d.watch.changed.map((c) => ({ pa: hex(c.pa), when: c.when })),
    devices: d.watch.devices.map((x) => ({ name: x.name, pages: x.pages.map((p) => hex(p)) })),
  };
}

/** The dump saved, as text: the summary line, the info file, the device image, the watch. */
export function printDump(io: CliIo, d: CrashDumpResult): void {
  const shown = (p: string): string => shownPath(io, p);
  if (d.save !== undefined) {
    io.out(
      `${summaryLine({ file: shown(d.save.vmcore), bytesIn: d.save.bytesIn, bytesOut: d.save.bytesOut, pages: d.pages, ms: d.save.ms, status: d.save.status })}\n`,
    );
    io.out(`info: ${shown(d.save.info)}\n`);
    if (d.save.reason !== undefined) io.out(`incomplete: ${d.save.reason}\n`);
  }
  if (d.device !== undefined) io.out(`dump device image: ${shown(d.device.path)} (${d.device.size} bytes)\n`);
  for (const dev of d.watch.devices) io.out(`still writing during the dump: ${dev.name}: ${dev.pages.length} pages\n`);
  if (d.watch.changed.length > 0) {
    const changed = d.watch.changed.slice(0, 8).map((c) => `${hex(c.pa)} (${c.when})`);
    io.out(
      `pages changed while dumping: ${d.watch.changed.length}: ${changed.join(', ')}${d.watch.changed.length > 8 ? ', ...' : ''}\n`,
    );
  } else if (d.watch.watchedPages > 0) {
    io.out(`pages changed while dumping: none of ${d.watch.watchedPages}\n`);
  }
}
