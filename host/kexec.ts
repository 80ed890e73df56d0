/**
 * The `--host` commands' library side: a real kexec_load(2) on the running Linux or FreeBSD
 * system (`kboot load --host`, `kboot unload --host`), its state (`kboot status --host`) and
 * the crashkernel= size it needs (`kboot plan --host --print-reservation-size`).
 *
 * Contract (issue 16, "no accidents"):
 *  - nothing here is reached without `--host`; a real call needs root and is refused
 *    (HOST_NOT_ROOT) before any system call and before the ffi package is even loaded;
 *    `--dry-run` plans and reports and calls nothing;
 *  - the call is `syscall(KEXEC_SYSCALL[abi][arch], entry, nseg, segments, flags)` with the
 *    segment array laid out by loader/kexec/abi.ts (encodeKexecSegments) over buffers kept
 *    alive across the call; an errno becomes a HostError saying what to do (host/errno.ts);
 *  - nothing ever calls reboot(2): a loaded normal image is started by the system's own
 *    `kexec -e` / `systemctl kexec`;
 *  - every command appends a host event (host/journal.ts) with what it planned, called and
 *    got, whether it succeeded or not.
 * Sources: Linux kernel/kexec.c SYSCALL_DEFINE4(kexec_load), FreeBSD sys/kern/kern_kexec.c
 * sys_kexec_load; spec linux-kexec.md §2, freebsd-handoff.md §6.1.
 */
import { hex } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { KbootError } from '../loader/errors.js';
import { encodeKexecSegments, KEXEC_SYSCALL, LINUX_KEXEC, type KexecAbi } from '../loader/kexec/abi.js';
import { kexecErrnoError } from './errno.js';
import { HostCode, HostError } from './errors.js';
import { loadSyscall, type HostSyscall } from './ffi.js';
import { eventHead, journalEvent, sha256Hex, type HostEvent, type HostFileRef } from './journal.js';
import { refuseFreeBsdCrash, type HostLoadPlan } from './plan.js';

/** What the host commands can be pointed at (tests: another root, another euid, a fake syscall). */
export interface HostSeams {
  readonly euid?: () => number;
  readonly syscall?: () => Promise<HostSyscall>;
}

/** Refuses a real call without root, before anything is called (HOST_NOT_ROOT). */
export function requireRoot(what: string, seams: HostSeams = {}, dryRun = true): void {
  const euid = (seams.euid ?? (() => process.geteuid?.() ?? 0))();
  if (euid !== 0) {
    throw new HostError(
      HostCode.NotRoot,
      `host: ${what} makes a real kexec_load(2) and needs root (CAP_SYS_BOOT / PRIV_REBOOT); euid is ${euid}: run it as root${dryRun ? ', or add --dry-run to see the plan' : ''}`,
      { euid },
    );
  }
}

/** The running OS and arch (HOST_UNSUPPORTED for others). */
export function hostPlatform(): { os: 'linux' | 'freebsd'; arch: Arch } {
  const os = process.platform;
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : undefined;
  if ((os !== 'linux' && os !== 'freebsd') || arch === undefined) {
    throw new HostError(
      HostCode.Unsupported,
      `host: --host runs on Linux or FreeBSD, amd64 or arm64, not ${os}/${process.arch}`,
      {
        platform: os,
        arch: process.arch,
      },
    );
  }
  return { os, arch };
}

/** The event's result part for an outcome. */
export function resultOf(error: unknown): HostEvent['result'] {
  if (error === undefined) return { ok: true };
  if (error instanceof KbootError) {
    const n = error.details['errnoNumber'];
    return { ok: false, code: error.code, message: error.message, ...(typeof n === 'number' ? { errno: n } : {}) };
  }
  return { ok: false, code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

/** The event's load part for a plan (and the buffer addresses passed, when a call was made). */
export function loadRecord(plan: HostLoadPlan, bufs: readonly bigint[] | undefined): NonNullable<HostEvent['load']> {
  return {
    entry: hex(plan.request.entry),
    flags: hex(plan.request.flags),
    region: { start: hex(plan.region.start), size: hex(plan.region.size) },
    ...(plan.memsize === undefined ? {} : { memsize: hex(plan.memsize) }),
    segments: plan.request.segments.map((s, i) => {
      const buf = bufs?.[i];
      return {
        ...(buf === undefined ? {} : { buf: hex(buf) }),
        bufsz: hex(s.bufsz),
        mem: hex(s.mem),
        memsz: hex(s.memsz),
        sha256: sha256Hex(s.buf),
        labels: [...(plan.labels[i] ?? [])],
      };
    }),
  };
}

/** What a real call made: the buffer addresses and the error, if the kernel refused. */
export interface HostCall {
  readonly bufs: readonly bigint[];
  /** The bytes of every buffer passed. */
  readonly passed: number;
  readonly error: HostError | undefined;
}

/** Calls kexec_load with the plan's segments (see the module contract). */
export function callKexecLoad(sys: HostSyscall, plan: HostLoadPlan): HostCall {
  const buffers = plan.request.segments.map((s) => Buffer.from(s.buf));
  const bufs = buffers.map((b) => sys.address(b));
  const raw = plan.request.segments.map((s, i) => ({ buf: bufs[i] ?? 0n, bufsz: s.bufsz, mem: s.mem, memsz: s.memsz }));
  const array = Buffer.from(encodeKexecSegments(plan.abi, raw));
  const r = sys.kexecLoad(plan.syscall, plan.request.entry, raw.length, array, plan.request.flags);
  // the buffers stay referenced across the call: their lengths are what was passed
  const passed = buffers.reduce((n, b) => n + b.length, 0);
  if (r.ret !== -1) return { bufs, passed, error: undefined };
  const error = kexecErrnoError(r.errno, {
    abi: plan.abi,
    syscall: plan.syscall,
    crash: plan.crash,
    unload: false,
    segments: raw.length,
    flags: plan.request.flags,
    crashKernel: plan.crashKernel,
    needed: plan.needed,
    loadDisabled: plan.loadDisabled,
  });
  return { bufs, passed, error };
}

/** What unload passes: Linux KEXEC_ON_CRASH for --crash (arch default), FreeBSD 0. */
export function unloadFlags(abi: KexecAbi, crash: boolean): bigint {
  return abi === 'linux' && crash ? LINUX_KEXEC.ON_CRASH : 0n;
}

/** `kboot unload --host [--crash]`: kexec_load with no segments (see the module contract). */
export async function hostUnload(opts: {
  readonly crash: boolean;
  readonly stateDir: string;
  readonly waitMs?: number;
  readonly seams?: HostSeams;
}): Promise<{ error: KbootError | undefined; event: HostEvent; journalError: KbootError | undefined }> {
  const { os, arch } = hostPlatform();
  const abi: KexecAbi = os;
  const base = { ...eventHead('unload', os, arch), abi, crash: opts.crash };
  let error: KbootError | undefined;
  let syscall: number | undefined;
  try {
    requireRoot('kboot unload --host', opts.seams, false);
    refuseFreeBsdCrash(abi, opts.crash, true);
    const sys = await (opts.seams?.syscall ?? loadSyscall)();
    syscall = KEXEC_SYSCALL[abi][arch];
    const flags = unloadFlags(abi, opts.crash);
    const r = sys.kexecLoad(syscall, 0n, 0, null, flags);
    if (r.ret === -1)
      error = kexecErrnoError(r.errno, { abi, syscall, crash: opts.crash, unload: true, segments: 0, flags });
  } catch (e) {
    if (!(e instanceof KbootError)) throw e;
    error = e;
  }
  const event: HostEvent = { ...base, ...(syscall === undefined ? {} : { syscall }), result: resultOf(error) };
  const journalError = await journalEvent(opts.stateDir, event, opts.waitMs, error);
  return { error, event, journalError };
}

/** A kernel file as a host event records it. */
export function kernelRef(path: string, bytes: Uint8Array): HostFileRef {
  return { path, sha256: sha256Hex(bytes) };
}

/** The names of kexec_load flags (Linux include/uapi/linux/kexec.h; FreeBSD: none, reserved). */
export function kexecFlagNames(abi: KexecAbi, flags: bigint): string[] {
  if (abi === 'freebsd') return flags === 0n ? [] : [hex(flags)];
  const names: string[] = [];
  const arch = flags & LINUX_KEXEC.ARCH_MASK;
  if (arch === LINUX_KEXEC.ARCH_X86_64) names.push('KEXEC_ARCH_X86_64');
  else if (arch === LINUX_KEXEC.ARCH_AARCH64) names.push('KEXEC_ARCH_AARCH64');
  else if (arch !== 0n) names.push(`KEXEC_ARCH_${hex(arch >> 16n)}`);
  const bits: readonly [bigint, string][] = [
    [LINUX_KEXEC.ON_CRASH, 'KEXEC_ON_CRASH'],
    [LINUX_KEXEC.PRESERVE_CONTEXT, 'KEXEC_PRESERVE_CONTEXT'],
    [LINUX_KEXEC.UPDATE_ELFCOREHDR, 'KEXEC_UPDATE_ELFCOREHDR'],
    [LINUX_KEXEC.CRASH_HOTPLUG_SUPPORT, 'KEXEC_CRASH_HOTPLUG_SUPPORT'],
  ];
  for (const [bit, name] of bits) if ((flags & bit) !== 0n) names.push(name);
  return names;
}
