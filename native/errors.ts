/**
 * NativeError: the C++ addon could not be loaded, or a system call inside it failed, or it
 * failed in a way its callers did not map to their own domain (NATIVE_INTERNAL: a bug).
 */
import { KbootError, type CodeOf } from '../loader/errors.js';

export const NativeCode = {
  LoadFailed: 'NATIVE_LOAD_FAILED',
  SystemCall: 'NATIVE_SYSCALL',
  Internal: 'NATIVE_INTERNAL',
} as const;
/** The C++ addon could not be loaded or a system call inside it failed. */
export class NativeError extends KbootError<CodeOf<typeof NativeCode>> {
  readonly domain = 'native';
  override readonly name = 'NativeError';
}
