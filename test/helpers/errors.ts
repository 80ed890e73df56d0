/**
 * Test helpers for kboot's error contract: assert on codes, never on message text.
 */
import type { Test } from 'tap';
import { KbootError } from '../../loader/errors.js';

/** Asserts that `fn` throws a KbootError with `code`; returns it for further checks. */
export function throwsCode(t: Test, fn: () => unknown, code: string, msg?: string): KbootError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof KbootError) {
      t.equal(e.code, code, msg ?? `throws ${code}`);
      return e;
    }
    t.fail(`${msg ?? code}: threw a non-KbootError: ${String(e)}`);
    return undefined;
  }
  t.fail(`${msg ?? code}: did not throw`);
  return undefined;
}

/** Async variant of throwsCode. */
export async function rejectsCode(
  t: Test,
  fn: () => Promise<unknown>,
  code: string,
  msg?: string,
): Promise<KbootError | undefined> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof KbootError) {
      t.equal(e.code, code, msg ?? `rejects with ${code}`);
      return e;
    }
    t.fail(`${msg ?? code}: rejected with a non-KbootError: ${String(e)}`);
    return undefined;
  }
  t.fail(`${msg ?? code}: did not reject`);
  return undefined;
}
