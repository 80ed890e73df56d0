/**
 * `kboot status --host` and `kboot plan --crash --host --print-reservation-size`: what the
 * running Linux kernel says about kexec (sysprobe/kexec-state.ts), and the crashkernel= size a
 * rescue kernel needs on this host (loader/plan/rescue-plan.ts rescueReservationSizing on the
 * host's imported profile; kexec-tools' --print-ckr-size equivalent). Read-only on the system;
 * each appends a host event.
 *
 * Contract: status is "armed" when a crash image is loaded (/sys/kernel/kexec_crash_loaded is
 * 1), as `kexec -S` answers; a kernel without kexec has none of the /sys/kernel/kexec_* files
 * and is reported as such (not armed). FreeBSD has no such files: HOST_UNSUPPORTED.
 */
import { hex, type Size } from '../loader/addr.js';
import { parseElf } from '../loader/elf/reader.js';
import { KbootError } from '../loader/errors.js';
import { readInputFile } from '../loader/io/input.js';
import { rescueReservationSizing } from '../loader/plan/rescue-plan.js';
import { readKexecSysState, type KexecSysState } from '../sysprobe/kexec-state.js';
import { crashkernelArg } from './errno.js';
import { HostCode, HostError } from './errors.js';
import { eventHead, journalEvent, type HostEvent } from './journal.js';
import { hostPlatform, resultOf } from './kexec.js';
import { readHostMachine, type HostMachineOptions } from './plan.js';

/** What `kboot status --host` reports. */
export interface HostStatus {
  readonly os: 'linux' | 'freebsd';
  /** The running kernel has the kexec files at all. */
  readonly kexec: boolean;
  readonly loaded: boolean | undefined;
  readonly crashLoaded: boolean | undefined;
  readonly crashSize: bigint | undefined;
  readonly crashKernel: { readonly start: bigint; readonly size: bigint } | undefined;
  readonly loadDisabled: string | undefined;
  /** A crash kernel is loaded (exit 0). */
  readonly armed: boolean;
}

function statusOf(os: 'linux' | 'freebsd', s: KexecSysState): HostStatus {
  return {
    os,
    kexec: s.present.some((p) => p.startsWith('/sys/kernel/kexec_')),
    loaded: s.loaded,
    crashLoaded: s.crashLoaded,
    crashSize: s.crashSize,
    crashKernel: s.crashKernel,
    loadDisabled: s.loadDisabled,
    armed: s.crashLoaded === true,
  };
}

const factOf = (v: bigint | boolean | string | undefined): string | boolean | null =>
  v === undefined ? null : typeof v === 'bigint' ? hex(v) : v;

/** `kboot status --host` (see the module contract). */
export async function hostStatus(opts: {
  readonly stateDir: string;
  readonly waitMs?: number;
  readonly root?: string;
}): Promise<HostStatus> {
  const { os, arch } = hostPlatform();
  if (os !== 'linux')
    throw new HostError(HostCode.Unsupported, 'host: status --host reads Linux /sys/kernel/kexec_*; FreeBSD has none', {
      os,
    });
  const st = statusOf(os, readKexecSysState(opts.root ?? '/'));
  const event: HostEvent = {
    ...eventHead('status', os, arch),
    result: { ok: true },
    facts: {
      kexec: st.kexec,
      loaded: factOf(st.loaded),
      crashLoaded: factOf(st.crashLoaded),
      crashSize: factOf(st.crashSize),
      crashKernelStart: factOf(st.crashKernel?.start),
      crashKernelSize: factOf(st.crashKernel?.size),
      armed: st.armed,
    },
  };
  await journalEvent(opts.stateDir, event, opts.waitMs, undefined);
  return st;
}

/** What `kboot plan --crash --host --print-reservation-size` reports. */
export interface HostReservationSize {
  /** Bytes the reservation needs. */
  readonly bytes: Size;
  /** The kernel command-line argument that gives it (whole MiB). */
  readonly crashkernel: string;
  /** The host's crash reservation, when it has one. */
  readonly current: { readonly start: bigint; readonly size: bigint } | undefined;
  /** The current reservation is large enough. */
  readonly fits: boolean;
  readonly memsize: Size;
  readonly kernelFile: Size;
}

/** The crashkernel= size the running host needs for this rescue kernel (see the module contract). */
export async function hostReservationSize(opts: {
  readonly file: string;
  readonly memsize?: Size;
  readonly stateDir: string;
  readonly waitMs?: number;
  readonly machine?: HostMachineOptions;
}): Promise<HostReservationSize> {
  const { os, arch } = hostPlatform();
  let out: HostReservationSize | undefined;
  let error: KbootError | undefined;
  try {
    const image = parseElf(readInputFile(opts.file, 'kernel', { what: 'rescue kernel' }));
    const machine = readHostMachine(opts.machine);
    const sizing = rescueReservationSizing(image, machine.profile, opts.memsize);
    const current = machine.sys?.crashKernel;
    out = {
      bytes: sizing.total,
      crashkernel: crashkernelArg(sizing.total),
      current,
      fits: current !== undefined && current.size >= sizing.total,
      memsize: sizing.memsize,
      kernelFile: sizing.kernelFile,
    };
  } catch (e) {
    if (!(e instanceof KbootError)) throw e;
    error = e;
  }
  const event: HostEvent = {
    ...eventHead('plan', os, arch),
    crash: true,
    result: resultOf(error),
    ...(out === undefined
      ? {}
      : {
          facts: {
            bytes: hex(out.bytes),
            crashkernel: out.crashkernel,
            fits: out.fits,
            current: factOf(out.current?.size),
          },
        }),
  };
  await journalEvent(opts.stateDir, event, opts.waitMs, error);
  if (error !== undefined) throw error;
  if (out === undefined) throw new HostError(HostCode.Unsupported, 'host: no reservation size was computed', {});
  return out;
}
