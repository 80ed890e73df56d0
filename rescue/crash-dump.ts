/**
 * After a rescued panic: what the rescue kernel's userland does with /dev/dumper — stream
 * the host's memory into a crash directory as savecore(8) would (dump/savecore.ts), or onto a
 * dump-device image — with the faults a real dump meets: bus masters still writing host
 * memory (a NIC's DMA; on arm64 the GICv3 ITS updating its LPI pending tables), the rescue
 * kernel panicking again, the target filling up.
 *
 * Contract: `crashDump(session, opts)` requires a session whose last panic was rescued
 * (DUMP_BAD_PARAMS otherwise), opens the dumper on the armed reservation, and returns what
 * was saved (`save`, incomplete on a write error or a second panic), what the dumper saw
 * change (`watch`) and the stream's facts. The host's memory is only read; with no device
 * fault it is unchanged by the dump (test/e2e/crash-dump.test.ts proves it).
 * `crashDumpAsync` is the same with the event loop turning between chunks (dump/steps.ts), so
 * a progress line is drawn and SIGINT/SIGTERM name and describe the part written before the
 * process ends (dump/savecore.ts).
 */
import type { DumpCompression } from '../dump/compress.js';
import { DumpCode, DumpError } from '../dump/errors.js';
import {
  NODE_FS,
  saveDumpSteps,
  writeDeviceImageSteps,
  type DumpFacts,
  type SaveDumpResult,
  type SavecoreFs,
} from '../dump/savecore.js';
import { runSteps, runStepsAsync, type Steps } from '../dump/steps.js';
import { busMaster, type DeviceWriter } from '../machine/devices/dma.js';
import type { HostSession } from '../machine/session.js';
import { modelVersionString } from '../machine/host/model.js';
import { openRescueDumper, type DumpFormat, type DumpWatchReport, type RescueDumpStream } from './dumper.js';
import { MachineCode, MachineError } from '../machine/errors.js';

/** Faults a dump can be put through (also the compare fault set's dump half). */
export type DumpFault = 'dma' | 'its' | 'second-panic' | 'full-target';
/** Every dump fault, in the order reports list them. */
export const DUMP_FAULTS: readonly DumpFault[] = ['dma', 'its', 'second-panic', 'full-target'];

/** Where and how crashDump saves the dump: a crash directory or a dump-device image, the format, the compression, the faults. */
export interface CrashDumpOptions {
  /** A savecore crash directory (vmcore.N, info.N, bounds). */
  readonly dir?: string;
  /** Or a dump-device image (kerneldumpheader, dump, kerneldumpheader). */
  readonly deviceImage?: string;
  readonly format?: DumpFormat;
  readonly compression?: DumpCompression;
  readonly faults?: readonly DumpFault[];
  /** Watch for pages that change while dumping (default true; rescue/dumper.ts). */
  readonly watch?: boolean;
  readonly onProgress?: (bytesIn: bigint, total: bigint) => void;
  readonly panicstring?: string;
  readonly dumptime?: bigint;
  /** Recover killed writers' dumps in `dir` first (default true; dump/recover.ts). */
  readonly recover?: boolean;
  /** Told the described partial dump when a signal interrupts an async dump (dump/savecore.ts). */
  readonly onInterrupted?: (r: SaveDumpResult) => void;
  readonly fs?: SavecoreFs;
}

/** What crashDump wrote: the format, size and pages, the saved files and what changed while dumping. */
export interface CrashDumpResult {
  readonly format: DumpFormat;
  readonly size: bigint;
  readonly pages: number;
  readonly stream: RescueDumpStream;
  readonly save?: SaveDumpResult;
  readonly device?: { readonly path: string; readonly size: bigint; readonly dumplength: bigint };
  readonly watch: DumpWatchReport;
}

/** The bus masters a fault list starts (deterministic for the session's seed). */
export function faultDevices(s: HostSession, faults: readonly DumpFault[]): DeviceWriter[] {
  const devices: DeviceWriter[] = [];
  if (faults.includes('dma')) {
    // A NIC receive ring: 16 of the host's allocated (dumped) pages, spread over RAM.
    const pool = s.model.allocated;
    const step = Math.max(1, Math.floor(pool.length / 16));
    const targets = pool.filter((_, i) => i % step === 0).slice(0, 16);
    devices.push(busMaster(s.machine.ram, { name: 'dma (NIC rx ring)', targets, period: 4, seed: 7 }));
  }
  if (faults.includes('its')) {
    if (s.profile.arch !== 'arm64' || s.model.deviceTables.length === 0) {
      throw new MachineError(
        MachineCode.DeviceConfig,
        `machine: the its fault needs an arm64 machine with a GICv3 ITS (${s.profile.name} has none)`,
        {
          machine: s.profile.name,
        },
      );
    }
    // What the GIC's registers say it owns now: each live PENDBASER and the ITS tables.
    const gic = s.machine.gic;
    const live =
      gic === undefined ? [] : [...gic.liveLpiTables().filter((l) => l.kind === 'lpi-pend'), ...gic.liveItsTables()];
    const targets = [...new Set(live.map((l) => l.pa - (l.pa % 0x1000n)))];
    devices.push(
      busMaster(s.machine.ram, { name: 'gicv3-its (LPI pending tables)', targets, period: 16, burst: 8, seed: 11 }),
    );
  }
  return devices;
}

/** A file system whose dump writes fail with ENOSPC past file offset `limit` (small files still fit). */
export function fillingFs(limit: bigint, base: SavecoreFs = NODE_FS): SavecoreFs {
  return {
    ...base,
    writeSync(fd, b, off, len, pos) {
      if (pos !== undefined && pos !== null && BigInt(pos + len) > limit && len > 4096) {
        const e = new Error('ENOSPC: no space left on device, write') as Error & { code: string };
        e.code = 'ENOSPC';
        throw e;
      }
      return base.writeSync(fd, b, off, len, pos);
    },
  };
}

/** Dump facts of the session's host (the kerneldumpheader strings FreeBSD would record). */
export function hostDumpFacts(s: HostSession, panicstring: string, dumptime: bigint): DumpFacts {
  return {
    arch: s.profile.arch,
    hostname: `kboot-${s.profile.name}`,
    versionstring: modelVersionString(s.profile.arch),
    panicstring,
    dumptime,
  };
}

/** Streams the rescued host's dump (see the module contract). */
export function crashDump(s: HostSession, opts: CrashDumpOptions): CrashDumpResult {
  return runSteps(crashDumpSteps(s, opts));
}

/** crashDump with the event loop turning between chunks (progress, signals). */
export function crashDumpAsync(s: HostSession, opts: CrashDumpOptions): Promise<CrashDumpResult> {
  return runStepsAsync(crashDumpSteps(s, opts));
}

/** crashDump as steps (dump/steps.ts). */
export function* crashDumpSteps(s: HostSession, opts: CrashDumpOptions): Steps<CrashDumpResult> {
  const armed = s.armed;
  if (armed === undefined || s.lastPanic?.rescued !== true) {
    throw new DumpError(DumpCode.BadParams, 'dump: no rescue kernel was entered: there is no /dev/dumper to read', {
      phase: s.phase,
    });
  }
  if ((opts.dir === undefined) === (opts.deviceImage === undefined)) {
    throw new DumpError(DumpCode.BadValue, 'dump: give a dump directory or a dump-device image (one of them)', {});
  }
  const faults = opts.faults ?? [];
  const devices = faultDevices(s, faults);
  const stream = openRescueDumper(s.machine.ram, s.profile.arch, armed.plan.region.start, {
    format: opts.format ?? 'minidump',
    devices,
    watch: opts.watch ?? true,
    ...(faults.includes('second-panic') ? { panicAfterBytes: (size: bigint) => size / 2n } : {}),
  });
  const facts = hostDumpFacts(
    s,
    opts.panicstring ?? `kboot: panic at ${s.phase}`,
    opts.dumptime ?? BigInt(Math.floor(Date.now() / 1000)),
  );
  const fs = faults.includes('full-target') ? fillingFs(stream.size / 2n, opts.fs) : (opts.fs ?? NODE_FS);
  const progress = function* (): Generator<Uint8Array, void, undefined> {
    let done = 0n;
    for (const c of stream.chunks()) {
      yield c;
      done += BigInt(c.length);
      opts.onProgress?.(done, stream.size);
    }
  };
  const base = { format: stream.format, size: stream.size, pages: stream.pages, stream };
  if (opts.deviceImage !== undefined) {
    const d = yield* writeDeviceImageSteps(opts.deviceImage, facts, progress(), opts.compression ?? 'none', fs);
    return { ...base, device: { path: opts.deviceImage, ...d }, watch: stream.report() };
  }
  const save = yield* saveDumpSteps({
    dir: opts.dir as string,
    facts,
    size: stream.size,
    chunks: progress(),
    compression: opts.compression ?? 'none',
    ...(opts.recover === undefined ? {} : { recover: opts.recover }),
    ...(opts.onInterrupted === undefined ? {} : { onInterrupted: opts.onInterrupted }),
    fs,
  });
  return { ...base, save, watch: stream.report() };
}
