/**
 * What a refused kexec_load(2) means and what to do about it: errno → HostError with a stable
 * code and a message that says what to change. Pure.
 *
 * Sources: Linux kernel/kexec.c (kexec_load_check: EPERM for no CAP_SYS_BOOT,
 * kernel.kexec_load_disabled, lockdown; do_kexec_load: EBUSY from kexec_trylock),
 * kernel/kexec_core.c (sanity_check_segment_list: EADDRNOTAVAIL outside crashk_res, EINVAL),
 * kernel/ksysfs.c; ENOSYS is what a kernel built without CONFIG_KEXEC returns (sys_ni_syscall);
 * FreeBSD sys/kern/kern_kexec.c (priv_check PRIV_REBOOT, EINVAL, EBUSY), sys/sys/errno.h.
 * Spec: shared/spec/linux-kexec.md §2.2, §3; freebsd-handoff.md §6.1.
 */
import { hex } from '../loader/addr.js';
import { ERRNO, type KexecAbi } from '../loader/kexec/abi.js';
import { HostCode, HostError, type HostErrorCode } from './errors.js';

/** ENOSYS per ABI (Linux asm-generic/errno.h 38; FreeBSD sys/sys/errno.h 78). */
export const ENOSYS: { readonly [B in KexecAbi]: number } = { linux: 38, freebsd: 78 };

/** What kboot knew when it made the call. */
export interface CallFacts {
  readonly abi: KexecAbi;
  readonly syscall: number;
  readonly crash: boolean;
  readonly unload: boolean;
  readonly segments: number;
  readonly flags: bigint;
  /** Linux: /proc/iomem "Crash kernel" (undefined: none). */
  readonly crashKernel?: { readonly start: bigint; readonly size: bigint } | undefined;
  /** The bytes the rescue plan needs reserved. */
  readonly needed?: bigint | undefined;
  /** Linux: /proc/sys/kernel/kexec_load_disabled as read. */
  readonly loadDisabled?: string | undefined;
}

/** `crashkernel=` text for `bytes`, rounded up to whole MiB. */
export function crashkernelArg(bytes: bigint): string {
  const mib = 1024n * 1024n;
  return `crashkernel=${(bytes + mib - 1n) / mib}M`;
}

/** The code of each errno name kboot explains. */
const CODES: Readonly<Record<string, HostErrorCode>> = {
  EPERM: HostCode.EPERM,
  ENOSYS: HostCode.ENOSYS,
  EBUSY: HostCode.EBUSY,
  EINVAL: HostCode.EINVAL,
  EADDRNOTAVAIL: HostCode.EADDRNOTAVAIL,
  ENOMEM: HostCode.ENOMEM,
  EFAULT: HostCode.EFAULT,
};

function errnoName(abi: KexecAbi, n: number): string | undefined {
  if (n === ENOSYS[abi]) return 'ENOSYS';
  const hit = Object.entries(ERRNO[abi]).find(([, v]) => v === n);
  return hit?.[0];
}

function reservationAdvice(f: CallFacts): string {
  const arg = f.needed === undefined ? 'crashkernel=SIZE' : crashkernelArg(f.needed);
  const need = f.needed === undefined ? '' : ` (this rescue kernel needs ${f.needed} bytes)`;
  if (f.crashKernel === undefined)
    return `the crash segments must lie inside the crashkernel= reservation, and this host has none: boot with ${arg}${need}`;
  return `the segments do not lie inside the crash reservation ${hex(f.crashKernel.start)}+${hex(f.crashKernel.size)}: boot with ${arg}${need} and load again`;
}

function advice(name: string, f: CallFacts): string {
  const linux = f.abi === 'linux';
  switch (name) {
    case 'EPERM':
      return linux
        ? `needs CAP_SYS_BOOT (root); kernel.kexec_load_disabled is ${f.loadDisabled ?? 'unknown'} (once 1 it stays 1 until reboot); under kernel lockdown unsigned images cannot be loaded with kexec_load`
        : 'needs PRIV_REBOOT (root, outside a jail)';
    case 'ENOSYS':
      return linux
        ? 'the running kernel was built without kexec (CONFIG_KEXEC): boot one that has it; kboot exec shows the hand-off in the emulator meanwhile'
        : 'the running kernel has no kexec(2) (FreeBSD 15 or later with options KEXEC)';
    case 'EBUSY':
      return 'another kexec load, unload or kexec is in progress (the kernel does not wait): try again';
    case 'EINVAL':
      return `the kernel refused the segment list or the flags (${f.segments} segments, flags ${hex(f.flags)}): overlapping destinations, bufsz > memsz, too many segments, or flags this kernel does not know`;
    case 'EADDRNOTAVAIL':
      return f.crash
        ? reservationAdvice(f)
        : 'a destination is not page aligned, wraps, or lies above the kernel destination limit';
    case 'ENOMEM':
      return f.crash
        ? `the kernel found no room for its control page in the crash reservation${f.needed === undefined ? '' : `: make it larger (${crashkernelArg(f.needed + 0x100000n)})`}`
        : 'the kernel could not allocate pages for the image: free memory and try again';
    case 'EFAULT':
      return 'the kernel could not read the segment array or a buffer (a kboot bug: report it)';
    default:
      return 'see kexec_load(2)';
  }
}

/** The HostError for a kexec_load that returned -1 with `errno` (see the module contract). */
export function kexecErrnoError(errno: number, f: CallFacts): HostError {
  const name = errnoName(f.abi, errno);
  const code = (name === undefined ? undefined : CODES[name]) ?? HostCode.Errno;
  const what = f.unload ? 'unloading' : f.crash ? 'loading the crash kernel' : 'loading the kernel';
  return new HostError(
    code,
    `host: kexec_load (syscall ${f.syscall}) failed ${what} with ${name ?? `errno ${errno}`}: ${advice(name ?? '', f)}`,
    {
      errno: name ?? null,
      errnoNumber: errno,
      syscall: f.syscall,
      abi: f.abi,
      crash: f.crash,
      unload: f.unload,
      segments: f.segments,
      flags: f.flags,
      crashKernel: f.crashKernel ?? null,
      needed: f.needed ?? null,
      ...(f.needed === undefined ? {} : { crashkernel: crashkernelArg(f.needed) }),
    },
  );
}
