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
} as const;

export class TrampolineError extends KbootError<CodeOf<typeof TrampolineCode>> {
  readonly domain = 'trampoline';
  override readonly name = 'TrampolineError';
}
