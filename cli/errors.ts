/**
 * The command line's own errors: a command line that cannot be carried out as written
 * (CLI_USAGE: a bad value, options that exclude each other). Only cli/ raises them; the
 * library below raises its domain errors (loader/errors.ts and each layer's errors module).
 */
import { KbootError, type CodeOf } from '../loader/errors.js';

export const CliCode = {
  Usage: 'CLI_USAGE',
} as const;
/** A command line that cannot be carried out as written. */
export class CliError extends KbootError<CodeOf<typeof CliCode>> {
  readonly domain = 'cli';
  override readonly name = 'CliError';
}
