/**
 * The `--host` actions (descriptors: cli/commands/host.ts, plan.ts): `kboot load --host`,
 * `kboot unload --host`, `kboot status --host` and `kboot plan --crash --host
 * --print-reservation-size`, on the system kboot runs on (host/). Loaded only when a command
 * is given `--host`; the ffi package is loaded later still, only for a real call.
 *
 * Contract: the segment table is printed the way `kexec -d` lists segments (index, buf,
 * bufsz, mem, memsz, with the entry and the flags), for --dry-run and real calls alike, then
 * the outcome: a refusal is thrown as its HostError (exit 1; with --json the report carries
 * it as `error` instead); a normal image loaded is started by `kexec -e` or `systemctl kexec`,
 * never by kboot. `--json` objects follow schemas/host-load.schema.json,
 * host-unload.schema.json, host-status.schema.json and host-reservation.schema.json.
 */
import { hex, type Size } from '../../loader/addr.js';
import { jsonSafe } from '../../loader/errors.js';
import type { HostLoadOutcome } from '../../host/load.js';
import type { HostLoadPlan } from '../../host/plan.js';
import { Exit, type ActionContext } from '../context.js';
import { sizeOption } from '../errors.js';
import type { CliIo } from '../io.js';
import { lockWait, stateDir, type StateOptions, type WritingStateOptions } from './host-state.js';
import type { KexecAbi } from '../../loader/kexec/abi.js';

/** What `kboot load --host` takes (cli/actions/load.ts LoadOptions). */
interface LoadOptions extends WritingStateOptions {
  crash?: boolean;
  abi?: KexecAbi;
  dryRun?: boolean;
  memsize?: string;
}

/** What `kboot unload --host` takes. */
interface UnloadOptions extends WritingStateOptions {
  crash?: boolean;
}

const memsizeOption = (text: string | undefined): Size | undefined =>
  text === undefined ? undefined : sizeOption(text, '--memsize');

/** The kexec -d style table of a plan (bufs: the addresses passed, when a call was made). */
export async function segmentTable(plan: HostLoadPlan, bufs: readonly bigint[] | undefined): Promise<string> {
  const { kexecFlagNames } = await import('../../host/kexec.js');
  const names = kexecFlagNames(plan.abi, plan.request.flags);
  const out = [
    `kexec_load(2) ${plan.crash ? 'crash kernel' : 'kernel'} ${plan.kernelName}: ${plan.os}/${plan.arch}, ${plan.abi} ABI, syscall ${plan.syscall}`,
    `entry       = ${hex(plan.request.entry)}`,
    `flags       = ${hex(plan.request.flags)}${names.length === 0 ? '' : ` (${names.join('|')})`}`,
    `nr_segments = ${plan.request.segments.length}`,
    `${plan.crash ? 'reservation' : 'staging'} = ${hex(plan.region.start)}+${hex(plan.region.size)}`,
    '  #  buf               bufsz       mem               memsz       holds',
  ];
  plan.request.segments.forEach((s, i) => {
    const buf = bufs?.[i];
    const col = (t: string, w: number): string => t.padEnd(w);
    out.push(
      `  ${col(String(i), 2)} ${col(buf === undefined ? '-' : hex(buf), 17)} ${col(hex(s.bufsz), 11)} ${col(hex(s.mem), 17)} ${col(hex(s.memsz), 11)} ${(plan.labels[i] ?? []).join(', ')}`,
    );
  });
  return `${out.join('\n')}\n`;
}

function loadJson(o: HostLoadOutcome): unknown {
  return jsonSafe({
    host: true,
    event: o.event,
    called: o.called,
    ...(o.plan === undefined ? {} : { needed: o.plan.needed ?? null, notes: o.plan.notes }),
    ...(o.error === undefined ? {} : { error: o.error.toJSON() }),
    ...(o.journalError === undefined ? {} : { journalError: o.journalError.toJSON() }),
  });
}

function afterLoad(io: CliIo, o: HostLoadOutcome, dryRun: boolean, crash: boolean): void {
  if (dryRun) io.out('dry run: no kexec_load was made\n');
  else if (crash) io.out('crash kernel loaded: it runs when this host panics (kboot status --host shows it)\n');
  else
    io.out(
      'kernel loaded: start it with `kexec -e` or `systemctl kexec` when you choose (kboot never reboots the host)\n',
    );
}

/** `kboot load --host FILE`. */
export async function runHostLoad(ctx: ActionContext, file: string, opts: LoadOptions): Promise<number> {
  const { io } = ctx;
  const { hostLoad } = await import('../../host/load.js');
  const memsize = memsizeOption(opts.memsize);
  const o = await hostLoad({
    file,
    cwd: io.cwd,
    crash: opts.crash === true,
    dryRun: opts.dryRun === true,
    stateDir: stateDir(opts, io),
    waitMs: lockWait(opts),
    ...(opts.abi === undefined ? {} : { abi: opts.abi }),
    ...(memsize === undefined ? {} : { memsize }),
  });
  if (ctx.json) {
    io.out(`${JSON.stringify(loadJson(o), null, 2)}\n`);
    return o.error === undefined ? Exit.Ok : Exit.Failure;
  }
  if (o.plan !== undefined) {
    io.out(await segmentTable(o.plan, o.bufs));
    for (const n of o.plan.notes) io.err(`kboot: note: ${n}\n`);
  }
  if (o.journalError !== undefined)
    io.err(`kboot: warning: the host event was not journaled (${o.journalError.message})\n`);
  if (o.error !== undefined) throw o.error;
  afterLoad(io, o, opts.dryRun === true, opts.crash === true);
  return Exit.Ok;
}

/** `kboot unload --host [--crash]`: kexec_load with no segments. */
export async function runHostUnload(ctx: ActionContext, opts: UnloadOptions): Promise<number> {
  const { io } = ctx;
  const { hostUnload } = await import('../../host/kexec.js');
  const crash = opts.crash === true;
  const o = await hostUnload({ crash, stateDir: stateDir(opts, io), waitMs: lockWait(opts) });
  if (ctx.json) {
    io.out(
      `${JSON.stringify(jsonSafe({ host: true, unloaded: o.error === undefined, event: o.event, ...(o.error === undefined ? {} : { error: o.error.toJSON() }) }), null, 2)}\n`,
    );
    return o.error === undefined ? Exit.Ok : Exit.Failure;
  }
  if (o.journalError !== undefined)
    io.err(`kboot: warning: the host event was not journaled (${o.journalError.message})\n`);
  if (o.error !== undefined) throw o.error;
  io.out(
    `${crash ? 'crash kernel' : 'kexec image'} unloaded (kexec_load with no segments, syscall ${o.event.syscall ?? '?'})\n`,
  );
  return Exit.Ok;
}

/** `kboot status --host`: exit 0 when a crash kernel is loaded, 1 when not (as `kexec -S`). */
export async function runHostStatus(ctx: ActionContext, opts: StateOptions & WritingStateOptions): Promise<number> {
  const { io } = ctx;
  const { hostStatus } = await import('../../host/status.js');
  const s = await hostStatus({ stateDir: stateDir(opts, io), waitMs: lockWait(opts) });
  if (ctx.json) {
    const or = <T>(v: T | undefined): T | null => v ?? null;
    const json = {
      host: true,
      os: s.os,
      kexec: s.kexec,
      loaded: or(s.loaded),
      crashLoaded: or(s.crashLoaded),
      crashSize: or(s.crashSize),
      crashKernel: or(s.crashKernel),
      loadDisabled: or(s.loadDisabled),
      armed: s.armed,
    };
    io.out(`${JSON.stringify(jsonSafe(json), null, 2)}\n`);
  } else {
    const yn = (v: boolean | undefined): string => (v === undefined ? 'unknown' : v ? 'yes' : 'no');
    io.out(
      s.kexec
        ? `kexec: loaded ${yn(s.loaded)}, crash kernel loaded ${yn(s.crashLoaded)}\n`
        : 'kexec: the running kernel has no /sys/kernel/kexec_* (built without kexec)\n',
    );
    io.out(
      s.crashKernel === undefined
        ? `crash reservation: none (no crashkernel= on this kernel's command line${s.crashSize === undefined ? '' : `; kexec_crash_size ${s.crashSize}`})\n`
        : `crash reservation: ${hex(s.crashKernel.start)}+${hex(s.crashKernel.size)} (kexec_crash_size ${s.crashSize ?? 'unknown'})\n`,
    );
    io.out(s.armed ? 'rescue kernel armed\n' : 'no crash kernel loaded\n');
  }
  return s.armed ? Exit.Ok : Exit.Failure;
}

/** `kboot plan --crash --host --print-reservation-size FILE`: the crashkernel= size this host needs. */
export async function runHostReservationSize(
  ctx: ActionContext,
  file: string,
  opts: { memsize?: string } & WritingStateOptions,
): Promise<void> {
  const { io } = ctx;
  const { resolve } = await import('node:path');
  const { hostReservationSize } = await import('../../host/status.js');
  const memsize = memsizeOption(opts.memsize);
  const r = await hostReservationSize({
    file: resolve(io.cwd, file),
    stateDir: stateDir(opts, io),
    waitMs: lockWait(opts),
    ...(memsize === undefined ? {} : { memsize }),
  });
  if (ctx.json) {
    io.out(`${JSON.stringify(jsonSafe({ host: true, ...r, current: r.current ?? null }), null, 2)}\n`);
    return;
  }
  io.out(`${r.bytes}\n`);
  io.err(
    r.current === undefined
      ? `kboot: this host has no crash reservation: boot with ${r.crashkernel}\n`
      : r.fits
        ? `kboot: the crash reservation ${hex(r.current.start)}+${hex(r.current.size)} holds it (${r.crashkernel} is enough)\n`
        : `kboot: the crash reservation ${hex(r.current.start)}+${hex(r.current.size)} is too small: boot with ${r.crashkernel}\n`,
  );
}
