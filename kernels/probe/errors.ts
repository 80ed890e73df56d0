/**
 * Errors of the probe kernels (kernels/probe/): bad build options and reports that cannot be
 * decoded. The domain is 'rescue' because the probe stands in for the rescue kernel and its
 * report is what the rescue side leaves in guest memory.
 *
 * Contract: `buildProbeKernel` and `decodeProbeReport` throw only `ProbeError` (the decoder's
 * fuzz contract); `details` carry the offending values.
 */
import { KbootError, type CodeOf } from '../../loader/errors.js';

/** Stable codes of every probe failure. */
export const ProbeCode = {
  /** A build option the probe cannot be built with (mode, console address). */
  BadOption: 'PROBE_BAD_OPTION',
  /** Fewer bytes than a report. */
  Truncated: 'PROBE_TRUNCATED',
  /** The report does not start with "KBPROBE1". */
  BadMagic: 'PROBE_BAD_MAGIC',
  /** A report version this decoder does not know. */
  BadVersion: 'PROBE_BAD_VERSION',
  /** A report field with a value the probe never writes (machine, mode, flag bits). */
  BadField: 'PROBE_BAD_FIELD',
} as const;

/** One of the probe error codes. */
export type ProbeErrorCode = CodeOf<typeof ProbeCode>;

/** A probe kernel that cannot be built, or a report that cannot be decoded. */
export class ProbeError extends KbootError<ProbeErrorCode> {
  readonly domain = 'rescue';
  override readonly name = 'ProbeError';
}
