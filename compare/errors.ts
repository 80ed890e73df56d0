/**
 * CompareError: what `runCompare` (compare/run.ts) refuses — no machine profile, a rescue
 * kernel of another architecture than a profile's, a strategy that did not arm the rescue
 * kernel on a machine (the comparison would have nothing to measure).
 */
import { KbootError, type CodeOf, type ErrorDetails, type ErrorDomain } from '../loader/errors.js';

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

/**
 * A KbootError raised on a worker thread (compare/pool.ts), raised again here with the same
 * name, domain, code, message and details (JSON-safe: bigints as hex strings).
 */
export class WorkerError extends KbootError {
  readonly domain: ErrorDomain;
  override readonly name: string;

  constructor(json: { name: string; domain: ErrorDomain; code: string; message: string; details: unknown }) {
    const details = json.details !== null && typeof json.details === 'object' ? (json.details as ErrorDetails) : {};
    super(json.code, json.message, details);
    this.domain = json.domain;
    this.name = json.name;
  }
}
