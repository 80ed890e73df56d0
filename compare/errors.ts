/**
 * CompareError: what `runCompare` (compare/run.ts) refuses — no machine profile, a rescue
 * kernel of another architecture than a profile's, a strategy that did not arm the rescue
 * kernel on a machine (the comparison would have nothing to measure).
 */
import { KbootError, type CodeOf } from '../loader/errors.js';

export const CompareCode = {
  /** No machine profile to compare on. */
  NoProfile: 'COMPARE_NO_PROFILE',
  /** The rescue kernel's architecture is not the profile's. */
  ArchMismatch: 'COMPARE_ARCH_MISMATCH',
  /** A strategy's boot left no rescue kernel armed. */
  NotArmed: 'COMPARE_NOT_ARMED',
} as const;
/** The comparison cannot be run as asked. */
export class CompareError extends KbootError<CodeOf<typeof CompareCode>> {
  readonly domain = 'compare';
  override readonly name = 'CompareError';
}
