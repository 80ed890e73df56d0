/**
 * A KbootError subclass used only by tests that check an error factory is honoured.
 */
import { KbootError } from '../../loader/errors.js';
export { BytesCode } from '../../loader/errors.js';

export class ElfLikeTestError extends KbootError {
  readonly domain = 'elf';
  override readonly name = 'ElfLikeTestError';
}
