/**
 * MemoryError: a guest-physical access that guest RAM refuses (loader/memory/guest-ram.ts and
 * every GuestRam implementation, native or not): a range outside RAM or across a hole, bad
 * regions, a view over the 1 GiB limit, a misaligned page operation, RAM already closed.
 * Codes are kept from when these were MachineErrors (GUEST_*).
 */
import { KbootError, type CodeOf } from '../errors.js';

/** Codes of MemoryError: guest RAM accessed outside its regions or with bad arguments (GUEST_*). */
export const MemoryCode = {
  /** A range that starts or ends outside RAM, or crosses a hole between regions. */
  GuestRange: 'GUEST_RANGE',
  /** Regions that overlap, are unaligned, empty or not sorted. */
  GuestRegions: 'GUEST_REGIONS',
  /** A zero-copy view longer than the 1 GiB a Buffer may cover here. */
  GuestViewTooLarge: 'GUEST_VIEW_TOO_LARGE',
  /** A page operation on an address or length that is not page-aligned. */
  GuestAlign: 'GUEST_ALIGN',
  /** An access after close(). */
  GuestClosed: 'GUEST_CLOSED',
} as const;
/** Guest RAM refused an access. */
export class MemoryError extends KbootError<CodeOf<typeof MemoryCode>> {
  readonly domain = 'memory';
  override readonly name = 'MemoryError';
}
