/**
 * What a fuzz target is: one parser (or a parser and what runs on its result), its seed
 * corpus, the inputs made from it, the errors it may raise and the share of inputs that must
 * decode (its floor).
 *
 * Contract (msgpack's, ARCHITECTURE.md "Parsers have a fuzz contract"): whatever the input,
 * the parser returns or throws an instance of one of the target's `errors` (KbootError
 * subclasses of its own domain); anything else that escapes — TypeError, RangeError, an
 * assertion, another domain's KbootError, an invariant the target checks — is an escape. The
 * parser is reusable afterwards: a seed decodes to the same result after any rejection.
 * The floor keeps the fuzzer honest: a target whose mutations are all rejected (or a parser
 * that rejects everything) fails it.
 */
import type fc from 'fast-check';
import { KbootError } from '../../../loader/errors.js';

/** A KbootError subclass a target may raise. */
export type ErrorClass = abstract new (...args: never[]) => KbootError;

/** The tap file that runs a target (test/fuzz/<group>.test.ts). */
export type FuzzGroup = 'elf' | 'config' | 'handoff' | 'dump' | 'compress' | 'import';
export const FUZZ_GROUPS: readonly FuzzGroup[] = ['elf', 'config', 'handoff', 'dump', 'compress', 'import'];

/** One input, ready to run. */
export interface FuzzCase {
  /**
   * The input as a file: the raw bytes for a target over one byte string (so a saved
   * counterexample is the file a user would give kboot), else the target's own container.
   */
  readonly bytes: Uint8Array;
  /** Runs the parser; returns a small summary of what it decoded, throws what it throws. */
  run(): unknown;
}

/** A target with its seeds made (built once per run: some seeds cost a little to make). */
export interface PreparedTarget {
  /** Valid inputs made by kboot's own writers or real fixtures; each must decode. */
  readonly seeds: readonly FuzzCase[];
  /** Mutated seeds and arbitrary inputs. */
  readonly arbitrary: fc.Arbitrary<FuzzCase>;
  /** A case from a saved counterexample (`case.bytes`). */
  fromBytes(bytes: Uint8Array): FuzzCase;
}

export interface FuzzTarget {
  /** Unique, kebab-case: `npm run fuzz -- --target NAME`. */
  readonly name: string;
  readonly group: FuzzGroup;
  /** What runs, for the report: "parseElf + lintRescueKernel + inspectReport". */
  readonly entry: string;
  /** The only errors that may escape. */
  readonly errors: readonly ErrorClass[];
  /** Share of inputs (0..1) that must decode; chosen from measurement (see registry.ts). */
  readonly floor: number;
  /** Runs in the tap suite (the whole fuzz part stays under about a minute on 2 cores). */
  readonly tapRuns: number;
  /** Needs the native addon (compression): skipped with a note when it is not built. */
  readonly native?: boolean;
  prepare(): PreparedTarget;
}

/** Thrown by a target's own check on a decoded result (a round trip that differs, ...): an escape. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

/** Throws InvariantError unless `ok`. */
export function invariant(ok: boolean, what: string): asserts ok {
  if (!ok) throw new InvariantError(what);
}

/**
 * For a parser that answers "not this" by returning undefined (parseSizeText): the target
 * throws this so the input counts as rejected (code FUZZ_NOT_DECODED), not decoded.
 */
export class NotDecoded extends KbootError<'FUZZ_NOT_DECODED'> {
  readonly domain = 'config';
  override readonly name = 'NotDecoded';
  constructor(what: string) {
    super('FUZZ_NOT_DECODED', `fuzz: ${what}`);
  }
}
