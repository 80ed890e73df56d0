/**
 * Errors of the host layer (host/): a real kexec_load(2) on the system kboot runs on, refused
 * by kboot before the call or by the running kernel (Linux kernel/kexec.c, kernel/kexec_core.c;
 * FreeBSD sys/kern/kern_kexec.c).
 *
 * Contract: an errno the kernel returned has the code `HOST_<ERRNO>` (HOST_ERRNO for one not
 * listed) and `details` carry `errno` (the name), `errnoNumber`, `syscall` (the number called)
 * and what kboot knew when it called (crash reservation, the size the plan needs). kboot's own
 * refusals (no root, no ffi package, FreeBSD crash images, another OS) have their own codes and
 * are raised before any system call.
 */
import { KbootError, type CodeOf } from '../loader/errors.js';

/** Stable codes of every host refusal. */
export const HostCode = {
  /** @2060.io/ffi-napi (or @2060.io/ref-napi) cannot be loaded. */
  FfiMissing: 'HOST_FFI_MISSING',
  /** A real call needs root; refused before any call. */
  NotRoot: 'HOST_NOT_ROOT',
  /** Not Linux or FreeBSD on amd64/arm64, or the ABI of another OS. */
  Unsupported: 'HOST_UNSUPPORTED',
  /** FreeBSD's kexec(2) has no crash images. */
  FreeBsdCrash: 'HOST_FREEBSD_NO_CRASH',
  EPERM: 'HOST_EPERM',
  ENOSYS: 'HOST_ENOSYS',
  EBUSY: 'HOST_EBUSY',
  EINVAL: 'HOST_EINVAL',
  EADDRNOTAVAIL: 'HOST_EADDRNOTAVAIL',
  ENOMEM: 'HOST_ENOMEM',
  EFAULT: 'HOST_EFAULT',
  /** Any other errno. */
  Errno: 'HOST_ERRNO',
  /** `kboot exec --segments-from-last-host-load` found no load in the host events. */
  NoHostLoad: 'HOST_NO_LOAD',
  /** The segments planned again on the profile differ from the journaled ones. */
  SegmentsDiffer: 'HOST_SEGMENTS_DIFFER',
} as const;

/** One of the host error codes. */
export type HostErrorCode = CodeOf<typeof HostCode>;

/** A host call kboot refused, or the running kernel refused. */
export class HostError extends KbootError<HostErrorCode> {
  readonly domain = 'host';
  override readonly name = 'HostError';
}
