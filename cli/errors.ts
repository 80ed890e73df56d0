/**
 * The command line's own errors: a command line that cannot be carried out as written
 * (CLI_USAGE: a bad value, options that exclude each other). Only cli/ raises them; the
 * library below raises its domain errors (loader/errors.ts and each layer's errors module).
 */
import { parseSizeText, type Size } from '../loader/addr.js';
import { KbootError, type CodeOf } from '../loader/errors.js';

export const CliCode = {
  Usage: 'CLI_USAGE',
} as const;
/** A command line that cannot be carried out as written. */
export class CliError extends KbootError<CodeOf<typeof CliCode>> {
  readonly domain = 'cli';
  override readonly name = 'CliError';
}

/** A size option's value (`--memsize 128M`, `--at 0x8000000`); CLI_USAGE when it is not one. */
export function sizeOption(text: string, what: string): Size {
  const v = parseSizeText(text);
  if (v === undefined)
    throw new CliError(CliCode.Usage, `cli: ${what} "${text}" is not a size (e.g. 128M, 0x8000000)`, { value: text });
  return v;
}
