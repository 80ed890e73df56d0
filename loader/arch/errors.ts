/**
 * Errors of the hand-off machinery that runs before the next kernel: page-table builders,
 * trampolines and the machine-code encoders they use.
 */
import { KbootError, type CodeOf } from '../errors.js';

export const TrampolineCode = {
  PoolExhausted: 'TRAMPOLINE_POOL_EXHAUSTED',
  TrampNotMapped: 'TRAMPOLINE_TRAMP_NOT_MAPPED',
  LowMemoryOccupied: 'TRAMPOLINE_LOW_2MB_OCCUPIED',
  KernbaseConflict: 'TRAMPOLINE_KERNBASE_CONFLICT',
  StackConflict: 'TRAMPOLINE_STACK_CONFLICT',
  BadRange: 'TRAMPOLINE_BAD_RANGE',
  /** A trampoline input that is missing, of the wrong arch, or inconsistent (e.g. SP outside its stack). */
  BadInput: 'TRAMPOLINE_BAD_INPUT',
  /**
   * Trampoline code placed where it could straddle a page: not 64-byte aligned (`.p2align 6`
   * in locore.S), or a kexec trampoline area that is not page aligned.
   */
  CodeMisaligned: 'TRAMPOLINE_CODE_MISALIGNED',
  /** A copy whose length is not a multiple of the copy loop's unit (amd64 8 bytes, arm64 16 bytes). */
  SegmentLength: 'TRAMPOLINE_SEGMENT_LENGTH',
  /** More copies than KEXEC_SEGMENT_MAX (16). */
  TooManySegments: 'TRAMPOLINE_TOO_MANY_SEGMENTS',
  /** Overlapping destinations, or a source, the trampoline or its tables under a destination. */
  SegmentOverlap: 'TRAMPOLINE_SEGMENT_OVERLAP',
} as const;

export class TrampolineError extends KbootError<CodeOf<typeof TrampolineCode>> {
  readonly domain = 'trampoline';
  override readonly name = 'TrampolineError';
}
