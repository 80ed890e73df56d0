/**
 * The segments of the last `kboot load --host` (or its --dry-run), made again for the emulated
 * machine: `kboot exec --machine PROFILE --segments-from-last-host-load` runs them so a user
 * sees on the CPU what the real kernel was handed.
 *
 * Contract: the host event records the kernel file's SHA-256, the entry, the flags, the
 * reservation planned and each segment's destination, sizes and SHA-256 — not the bytes. The
 * kernel is read again (changed or removed: CONFIG_STALE), planned again on PROFILE at the
 * recorded place with the recorded rescue_memsize (host/plan.ts planOnProfile, the same code
 * the load used), and every segment, the entry and the flags must equal the record — so the
 * bytes run are exactly the bytes handed to kexec_load — else HOST_SEGMENTS_DIFFER names the
 * first difference (a profile that is not this host's, usually: import it with
 * `kboot machine import --host`). No host events: HOST_NO_LOAD.
 */
import { basename } from 'node:path';
import { hex, parseSizeText, phys, type PhysAddr, type Size } from '../loader/addr.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { HostCode, HostError } from './errors.js';
import { lastHostLoad, loadHostJournal, readRecordedFile, sha256Hex, type HostEvent } from './journal.js';
import { planOnProfile, type PlannedLoad } from './plan.js';

/** A recorded host load made ready to run. */
export interface ReplayedLoad {
  readonly event: HostEvent;
  readonly kernel: Uint8Array;
  readonly kernelName: string;
  readonly crash: boolean;
  readonly at: PhysAddr | undefined;
  readonly memsize: Size | undefined;
  readonly planned: PlannedLoad;
}

function differ(what: string, recorded: string, now: string, profile: string): HostError {
  return new HostError(
    HostCode.SegmentsDiffer,
    `host: planned on ${profile}, ${what} is ${now}, the host load had ${recorded} (run it on the profile kboot machine import --host writes for that host)`,
    { what, recorded, now, profile },
  );
}

function compare(event: HostEvent, planned: PlannedLoad, profile: string): void {
  const load = event.load;
  if (load === undefined) throw differ('the load', 'segments', 'none', profile);
  const now = planned.request;
  if (hex(now.entry) !== load.entry) throw differ('the entry', load.entry, hex(now.entry), profile);
  if (hex(now.flags) !== load.flags) throw differ('the flags', load.flags, hex(now.flags), profile);
  if (now.segments.length !== load.segments.length)
    throw differ('the segment count', String(load.segments.length), String(now.segments.length), profile);
  now.segments.forEach((s, i) => {
    const r = load.segments[i];
    const got = `${hex(s.mem)}+${hex(s.memsz)} (${hex(s.bufsz)} bytes, sha256 ${sha256Hex(s.buf)})`;
    const want = r === undefined ? 'none' : `${r.mem}+${r.memsz} (${r.bufsz} bytes, sha256 ${r.sha256})`;
    if (got !== want) throw differ(`segment ${i}`, want, got, profile);
  });
}

/** The last host load of the state directory, planned again on `profile` and checked (see the module contract). */
export function replayLastHostLoad(stateDir: string, profile: MachineProfile): ReplayedLoad {
  const event = lastHostLoad(loadHostJournal(stateDir));
  if (event === undefined || event.kernel === undefined || event.load === undefined) {
    throw new HostError(
      HostCode.NoHostLoad,
      `host: ${stateDir} records no kboot load --host (run kboot load --host [--dry-run] first)`,
      { stateDir },
    );
  }
  const kernel = readRecordedFile(event.kernel, event.crash === true ? 'crash kernel' : 'kernel');
  const crash = event.crash === true;
  const at = crash ? phys(BigInt(event.load.region.start)) : undefined;
  const memsize = event.load.memsize === undefined ? undefined : parseSizeText(event.load.memsize);
  const planned = planOnProfile(profile, {
    kernel,
    kernelName: basename(event.kernel.path),
    crash,
    abi: event.abi ?? 'linux',
    ...(memsize === undefined ? {} : { memsize }),
    ...(at === undefined ? {} : { at }),
  });
  compare(event, planned, profile.name);
  return { event, kernel, kernelName: basename(event.kernel.path), crash, at, memsize, planned };
}
