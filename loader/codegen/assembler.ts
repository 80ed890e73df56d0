/**
 * The part every kboot assembler shares: a byte buffer, labels, and fixups resolved when
 * the program is finished at a base address.
 *
 * Contract: instructions are appended in order; `label(name)` names the current offset and
 * `labelAt(name, offset)` names any offset from the start (also outside the emitted bytes,
 * e.g. a .bss page after the code or the file start before it). A reference to a label is
 * recorded as a fixup and patched by `finish(base)`, so forward references work; `finish`
 * throws ASM_UNDEFINED_LABEL for a label never defined and ASM_RANGE / ASM_MISALIGNED when
 * a resolved distance does not fit its field. `finish` does not change the assembler, so it
 * may be called again (e.g. at another base). Data directives (`u8`..`u64`, `asciz`,
 * `align`, `u64Label`) emit little-endian bytes. Only `AsmError` is thrown.
 */
import { hex, U64_LIMIT } from '../addr.js';
import { AsmCode, AsmError } from './errors.js';

/** The finished program. */
export interface AsmResult {
  /** The machine code and data. */
  readonly bytes: Uint8Array;
  /** The base address the program was finished at (the address of byte 0). */
  readonly base: bigint;
  /** Every label's address (base + offset). */
  readonly labels: ReadonlyMap<string, bigint>;
  /** The address of `name`; throws ASM_UNDEFINED_LABEL for an unknown label. */
  address(name: string): bigint;
}

/** Patches `out` once the label's offset and the base are known. */
type Patch = (out: Uint8Array, target: number, base: bigint) => void;

interface Fixup {
  readonly label: string;
  /** Offset of the referencing instruction (for error details). */
  readonly at: number;
  readonly patch: Patch;
}

/** `value` in hex when it is an integer, else as JS prints it. */
function show(value: unknown): string {
  return typeof value === 'bigint' || Number.isSafeInteger(value) ? hex(value as bigint | number) : String(value);
}

/** Throws ASM_RANGE unless `value` is an integer in [min, max]. */
export function checkRange(value: number | bigint, min: number | bigint, max: number | bigint, what: string): void {
  const ok =
    typeof value === 'bigint'
      ? value >= BigInt(min) && value <= BigInt(max)
      : Number.isSafeInteger(value) && value >= min && value <= max;
  if (!ok) {
    throw new AsmError(
      AsmCode.Range,
      `trampoline: ${what} is out of range (${show(value)}, range ${hex(min)}..${hex(max)})`,
      {
        what,
        value,
        min,
        max,
      },
    );
  }
}

/** Throws ASM_MISALIGNED unless `value` is a multiple of `align`. */
export function checkMultiple(value: number, align: number, what: string): void {
  if (value % align !== 0) {
    throw new AsmError(AsmCode.Misaligned, `trampoline: ${what} is not a multiple of ${align} (${show(value)})`, {
      what,
      value,
      align,
    });
  }
}

/** Byte buffer + labels + fixups; the arch assemblers extend it with instructions. */
export abstract class Assembler {
  /** Name of the instruction set, for messages. */
  protected abstract readonly isa: string;
  private readonly code: number[] = [];
  private readonly labelOffsets = new Map<string, number>();
  private readonly fixups: Fixup[] = [];

  /** Bytes emitted so far: the offset of the next instruction. */
  here(): number {
    return this.code.length;
  }

  /** Names the current offset. */
  label(name: string): this {
    return this.labelAt(name, this.code.length);
  }

  /** Names `offset` (from the start; may lie before or after the emitted bytes). */
  labelAt(name: string, offset: number): this {
    if (this.labelOffsets.has(name)) {
      throw new AsmError(
        AsmCode.DuplicateLabel,
        `trampoline: ${this.isa} label ${JSON.stringify(name)} is defined twice`,
        {
          label: name,
          first: this.labelOffsets.get(name),
          second: offset,
        },
      );
    }
    checkRange(offset, -0x8000_0000, 0x7fff_ffff, `${this.isa} label ${JSON.stringify(name)} offset`);
    this.labelOffsets.set(name, offset);
    return this;
  }

  /** Emits raw bytes. */
  bytes(data: Uint8Array | readonly number[]): this {
    for (const b of data) {
      checkRange(b, 0, 0xff, 'byte');
      this.emit8(b);
    }
    return this;
  }

  /** A little-endian u8 / u16 / u32 data item. */
  u8(v: number): this {
    checkRange(v, 0, 0xff, 'u8 data');
    return this.emit8(v);
  }
  u16(v: number): this {
    checkRange(v, 0, 0xffff, 'u16 data');
    return this.emitLe(BigInt(v), 2);
  }
  u32(v: number): this {
    checkRange(v, 0, 0xffff_ffff, 'u32 data');
    return this.emitLe(BigInt(v), 4);
  }
  /** A little-endian u64 data item. */
  u64(v: bigint): this {
    checkRange(v, 0n, U64_LIMIT - 1n, 'u64 data');
    return this.emitLe(v, 8);
  }

  /** The absolute address of `label` (+ `addend`) as a u64, filled in by `finish`. */
  u64Label(label: string, addend = 0): this {
    const at = this.code.length;
    this.emitLe(0n, 8);
    this.fixup(label, at, (out, target, base) => {
      const v = base + BigInt(target + addend);
      checkRange(v, 0n, U64_LIMIT - 1n, `address of ${label}`);
      writeLe(out, at, v, 8);
    });
    return this;
  }

  /** A UTF-8 string and its terminating NUL. */
  asciz(s: string): this {
    const b = new TextEncoder().encode(s);
    if (b.includes(0)) {
      throw new AsmError(AsmCode.BadOperand, `trampoline: string contains a NUL byte (${JSON.stringify(s)})`, {
        value: s,
      });
    }
    return this.bytes(b).emit8(0);
  }

  /** Pads with `fill` up to a multiple of `n` (a power of two). */
  align(n: number, fill = 0): this {
    if (!Number.isSafeInteger(n) || n <= 0 || (n & (n - 1)) !== 0) {
      throw new AsmError(AsmCode.BadOperand, `trampoline: alignment is not a power of two (${hex(n)})`, { align: n });
    }
    checkRange(fill, 0, 0xff, 'alignment fill byte');
    while (this.code.length % n !== 0) this.emit8(fill);
    return this;
  }

  /** Resolves every fixup at `base` (the address of byte 0) and returns the program. */
  finish(base = 0n): AsmResult {
    checkRange(base, 0n, U64_LIMIT - 1n, `${this.isa} base address`);
    this.checkBase(base);
    const out = Uint8Array.from(this.code);
    for (const f of this.fixups) {
      const target = this.labelOffsets.get(f.label);
      if (target === undefined) {
        throw new AsmError(
          AsmCode.UndefinedLabel,
          `trampoline: ${this.isa} label ${JSON.stringify(f.label)} is used but never defined (at offset ${hex(f.at)})`,
          { label: f.label, at: f.at },
        );
      }
      f.patch(out, target, base);
    }
    const labels = new Map<string, bigint>();
    for (const [name, off] of this.labelOffsets) labels.set(name, base + BigInt(off));
    const isa = this.isa;
    return {
      bytes: out,
      base,
      labels,
      address(name: string): bigint {
        const a = labels.get(name);
        if (a === undefined) {
          throw new AsmError(
            AsmCode.UndefinedLabel,
            `trampoline: ${isa} label ${JSON.stringify(name)} is not defined`,
            {
              label: name,
            },
          );
        }
        return a;
      },
    };
  }

  /** Arch hook: reject a base the arch cannot run at (A64: not 4-byte aligned). */
  protected checkBase(_base: bigint): void {}

  protected emit8(b: number): this {
    this.code.push(b & 0xff);
    return this;
  }

  protected emitLe(v: bigint, width: number): this {
    let x = BigInt.asUintN(width * 8, v);
    for (let i = 0; i < width; i++) {
      this.code.push(Number(x & 0xffn));
      x >>= 8n;
    }
    return this;
  }

  /** Records a reference to `label` from the instruction at `at`. */
  protected fixup(label: string, at: number, patch: Patch): void {
    this.fixups.push({ label, at, patch });
  }
}

/** Writes `v` little-endian into `out` at `at`. */
export function writeLe(out: Uint8Array, at: number, v: bigint, width: number): void {
  let x = BigInt.asUintN(width * 8, v);
  for (let i = 0; i < width; i++) {
    out[at + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

/** Reads a little-endian value of `width` bytes (a u32 in A64 fixups). */
export function readLe32(out: Uint8Array, at: number): number {
  return ((out[at] ?? 0) | ((out[at + 1] ?? 0) << 8) | ((out[at + 2] ?? 0) << 16) | ((out[at + 3] ?? 0) << 24)) >>> 0;
}
