/**
 * Errors of the kexec model (loader/kexec/): a kexec_load call the modelled kernel refuses
 * (FreeBSD sys/kern/kern_kexec.c, Linux kernel/kexec.c and kernel/kexec_core.c).
 *
 * Contract: each refusal the kernel reports with an errno has the code `KEXEC_<ERRNO>`, and
 * `details` carry `abi`, `errno` (the name), `errnoNumber` (that ABI's number, see
 * abi.ts ERRNO), `rule` (which check fired, in the names rules.ts documents) and the
 * offending values. KEXEC_NO_USERSPACE is kboot's own refusal (no errno): nothing can make
 * a system call before the host has reached userspace.
 */
import { KbootError, type CodeOf } from '../errors.js';

/** Stable codes of every kexec refusal. */
export const KexecCode = {
  EPERM: 'KEXEC_EPERM',
  EINVAL: 'KEXEC_EINVAL',
  EBUSY: 'KEXEC_EBUSY',
  ENOMEM: 'KEXEC_ENOMEM',
  EADDRNOTAVAIL: 'KEXEC_EADDRNOTAVAIL',
  EFAULT: 'KEXEC_EFAULT',
  /** The host has not reached userspace, so no process can call kexec_load. */
  NoUserspace: 'KEXEC_NO_USERSPACE',
} as const;

/** One of the kexec error codes. */
export type KexecErrorCode = CodeOf<typeof KexecCode>;

/** A kexec_load the modelled kernel refuses. */
export class KexecError extends KbootError<KexecErrorCode> {
  readonly domain = 'kexec';
  override readonly name = 'KexecError';

  /** The errno name (`EINVAL`, ...), or undefined for KEXEC_NO_USERSPACE. */
  get errno(): string | undefined {
    const v = this.details['errno'];
    return typeof v === 'string' ? v : undefined;
  }

  /** The errno number in the call's ABI, or undefined for KEXEC_NO_USERSPACE. */
  get errnoNumber(): number | undefined {
    const v = this.details['errnoNumber'];
    return typeof v === 'number' ? v : undefined;
  }

  /** The rule that fired. */
  get rule(): string | undefined {
    const v = this.details['rule'];
    return typeof v === 'string' ? v : undefined;
  }
}
