/**
 * Errors of the host-kernel model (machine/host): one code table, one class in the
 * 'machine' domain. Contract: every failure of buildHostModel / hostFromHandoff / the timeline
 * is a `HostError` with one of these stable codes and its facts in `details`; decoder errors
 * of the hand-off (HandoffError) are passed through unchanged as their `cause`.
 */
import { KbootError, type CodeOf } from '../../loader/errors.js';

export const HostCode = {
  /** The profile's host-kernel range cannot hold the model (image, metadata, tables, stack). */
  RangeTooSmall: 'HOST_RANGE_TOO_SMALL',
  /** A given kernel ELF does not fit the host layout (arch, no PT_LOAD, below KERNSTART). */
  BadKernel: 'HOST_BAD_KERNEL',
  /** No free RAM for the msgbuf, the vm_page_dump bitmap or the allocated pages. */
  NoMemory: 'HOST_NO_MEMORY',
  /** The preload metadata has no kernel module ("elf kernel"). */
  NoKernelModule: 'HOST_NO_KERNEL_MODULE',
  /** Neither EFI_MAP, SMAP nor a DTB with /memory (FreeBSD panics "No BIOS smap or EFI map info from loader!"). */
  NoMemoryMap: 'HOST_NO_MEMORY_MAP',
  /** A metadata pointer (ENVP, DTBP, modulep) that is not guest RAM. */
  BadPointer: 'HOST_BAD_POINTER',
  /** A boot-timeline step backwards or to an unknown phase. */
  BadPhase: 'HOST_BAD_PHASE',
} as const;

/** The host-kernel model cannot be built or cannot read its hand-off. */
export class HostError extends KbootError<CodeOf<typeof HostCode>> {
  readonly domain = 'machine';
  override readonly name = 'HostError';
}
