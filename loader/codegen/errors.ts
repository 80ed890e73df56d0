/**
 * Errors of kboot's machine-code encoders (loader/codegen/): the 'trampoline' domain, because
 * everything kboot assembles (trampolines, probe kernels) runs on the far side of a jump.
 *
 * Contract: an encoder throws only `AsmError`, with one stable code per way an instruction
 * can be unencodable; `details` carry the instruction, the operand and the limit that was
 * broken. Messages read `trampoline: <what failed> (<facts in hex>)`.
 * Encodings: Intel SDM Vol. 2 (x86-64), Arm ARM DDI 0487 part C (A64).
 */
import { KbootError, type CodeOf } from '../errors.js';

/** Stable codes of every encoder failure. */
export const AsmCode = {
  /** An operand that the instruction cannot take (unknown register, sp where only xzr fits, mixed widths, ...). */
  BadOperand: 'ASM_BAD_OPERAND',
  /** An immediate, displacement or branch distance outside the field that encodes it. */
  Range: 'ASM_RANGE',
  /** An offset or branch target that is not a multiple of what the field scales by. */
  Misaligned: 'ASM_MISALIGNED',
  /** `finish()` found a reference to a label that was never defined. */
  UndefinedLabel: 'ASM_UNDEFINED_LABEL',
  /** A label defined twice. */
  DuplicateLabel: 'ASM_DUPLICATE_LABEL',
} as const;

/** One of the encoder error codes. */
export type AsmErrorCode = CodeOf<typeof AsmCode>;

/** An instruction or program the encoders cannot emit. */
export class AsmError extends KbootError<AsmErrorCode> {
  readonly domain = 'trampoline';
  override readonly name = 'AsmError';
}
