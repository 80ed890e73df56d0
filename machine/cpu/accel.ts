/**
 * Copy accelerators: copy loops described as data (`CopyLoop`, presets in `COPY_LOOPS`). When
 * the PC reaches a loop head the addon performs the remaining copy natively and leaves RAM,
 * registers, flags and the instruction count exactly as the loop would (native/cpu_accel.cc
 * has the exact semantics and its preconditions); any doubt falls back to exact emulation.
 *
 * Contract: `nativeCopyLoops` checks every description (CPU_ACCEL: registers of another arch,
 * src/dst/count not distinct, zero sizes, a chunk over MAX_COPY_CHUNK, a load outside the
 * chunk, more than 16 exit instructions) and returns the addon's form.
 * Sources: Intel SDM vol. 2B MOVS/REP (RFLAGS.DF, RCX), ARM ARM C5.2.9 (NZCV), C6.2 LDP/STP.
 */
import { hex } from '../../loader/addr.js';
import type { Arch } from '../../loader/arch/index.js';
import type { NativeCopyLoop } from '../../native/binding.js';
import { MachineCode, MachineError } from '../errors.js';
import { CPU_BITS, REGS, type Arm64Reg, type RegName } from './regs.js';

const B = CPU_BITS.amd64;

/**
 * A copy loop, described by its registers (native/cpu_accel.cc has the exact
 * semantics). At `at` the loop holds the next source in `src`, the next destination in `dst`
 * and the remaining count (in `countUnit` bytes) in `count`; an iteration moves `chunk`
 * bytes forwards and runs `insnsPerIteration` instructions; the loop leaves to `exit` when
 * count reaches 0, after `exitInsns` more counted instructions. After it, each `loads` register holds the u64 at `offset` of the last
 * chunk, and the `flags` register has `set` bits set and `clear` bits cleared. `requires`
 * are register tests (`reg & mask === value`) that must hold to accelerate.
 */
export interface CopyLoop {
  readonly name?: string;
  readonly at: bigint;
  readonly exit: bigint;
  readonly src: RegName;
  readonly dst: RegName;
  readonly count: RegName;
  readonly countUnit: number;
  readonly chunk: number;
  readonly insnsPerIteration: number;
  /** Instructions the loop counts after its last iteration (a `rep` prefix re-checks RCX once: 1). Default 0. */
  readonly exitInsns?: number;
  readonly loads?: readonly { readonly reg: RegName; readonly offset: number }[];
  readonly flags?: { readonly reg: RegName; readonly set: bigint; readonly clear: bigint };
  readonly requires?: readonly { readonly reg: RegName; readonly mask: bigint; readonly value: bigint }[];
}

/** Largest chunk a copy loop may move per iteration. */
export const MAX_COPY_CHUNK = 4096;

/** NZCV bits (ARM ARM C5.2.9). */
const NZCV = { N: 1n << 31n, Z: 1n << 30n, C: 1n << 29n, V: 1n << 28n } as const;

/** Ready-made loop shapes (the loop shape is data: write your own `CopyLoop` for others). */
export const COPY_LOOPS = {
  /** amd64 `rep movsq` (F3 48 A5): RSI → RDI, RCX quadwords, needs DF = 0; flags untouched. */
  repMovsq(at: bigint, exit: bigint = at + 3n): CopyLoop {
    return {
      name: 'rep movsq',
      at,
      exit,
      src: 'rsi',
      dst: 'rdi',
      count: 'rcx',
      countUnit: 8,
      chunk: 8,
      insnsPerIteration: 1,
      // Unicorn runs the rep instruction once more with RCX = 0 (measured: RCX = N counts N + 1).
      exitInsns: 1,
      requires: [{ reg: 'rflags', mask: B.RFLAGS_DF, value: 0n }],
    };
  },
  /** amd64 `rep movsb` (F3 A4): RSI → RDI, RCX bytes, needs DF = 0. */
  repMovsb(at: bigint, exit: bigint = at + 2n): CopyLoop {
    return { ...COPY_LOOPS.repMovsq(at, exit), name: 'rep movsb', countUnit: 1, chunk: 1 };
  },
  /**
   * arm64 `ldp t1, t2, [src], #16; stp t1, t2, [dst], #16; subs rem, rem, #16; b.ne head`:
   * `remaining` counts bytes; on exit t1/t2 hold the last pair and NZCV says Z, C.
   */
  arm64LdpStp(o: {
    readonly at: bigint;
    readonly src: Arm64Reg;
    readonly dst: Arm64Reg;
    readonly remaining: Arm64Reg;
    readonly t1: Arm64Reg;
    readonly t2: Arm64Reg;
    readonly exit?: bigint;
  }): CopyLoop {
    return {
      name: 'ldp/stp 16',
      at: o.at,
      exit: o.exit ?? o.at + 16n,
      src: o.src,
      dst: o.dst,
      count: o.remaining,
      countUnit: 1,
      chunk: 16,
      insnsPerIteration: 4,
      loads: [
        { reg: o.t1, offset: 0 },
        { reg: o.t2, offset: 8 },
      ],
      flags: { reg: 'nzcv', set: NZCV.Z | NZCV.C, clear: NZCV.N | NZCV.V },
    };
  },
} as const;

function loopError(what: string, l: CopyLoop): MachineError {
  return new MachineError(MachineCode.CpuAccel, `machine: copy loop at ${hex(l.at)}: ${what}`, {
    at: l.at,
    name: l.name,
  });
}

/** CPU_ACCEL unless `l` names registers of `arch` and sizes the addon can honour. */
function checkCopyLoop(arch: Arch, l: CopyLoop): void {
  for (const [what, v] of [
    ['at', l.at],
    ['exit', l.exit],
  ] as const) {
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw loopError(`${what} is not a u64`, l);
  }
  const regs = [l.src, l.dst, l.count, ...(l.loads ?? []).map((x) => x.reg), ...(l.requires ?? []).map((x) => x.reg)];
  if (l.flags !== undefined) regs.push(l.flags.reg);
  for (const r of regs) if (!REGS[arch].has(r)) throw loopError(`register '${r}' is not an ${arch} register`, l);
  if (new Set([l.src, l.dst, l.count]).size !== 3) throw loopError('src, dst and count must be distinct registers', l);
  const positive = (n: number): boolean => Number.isSafeInteger(n) && n > 0;
  if (!positive(l.countUnit) || !positive(l.chunk) || !positive(l.insnsPerIteration)) {
    throw loopError('countUnit, chunk and insnsPerIteration must be positive integers', l);
  }
  const exitInsns = l.exitInsns ?? 0;
  if (!Number.isSafeInteger(exitInsns) || exitInsns < 0 || exitInsns > 16)
    throw loopError('exitInsns must be 0..16', l);
  if (l.chunk > MAX_COPY_CHUNK) throw loopError(`chunk ${l.chunk} exceeds ${MAX_COPY_CHUNK}`, l);
  for (const ld of l.loads ?? []) {
    if (!Number.isSafeInteger(ld.offset) || ld.offset < 0 || ld.offset + 8 > l.chunk) {
      throw loopError(`load offset ${String(ld.offset)} is outside the ${l.chunk}-byte chunk`, l);
    }
  }
}

/** The loops as the addon takes them, each checked first (CPU_ACCEL). */
export function nativeCopyLoops(arch: Arch, loops: readonly CopyLoop[]): NativeCopyLoop[] {
  return loops.map((l) => {
    checkCopyLoop(arch, l);
    return {
      at: l.at,
      exit: l.exit,
      src: l.src,
      dst: l.dst,
      count: l.count,
      countUnit: l.countUnit,
      chunk: l.chunk,
      insnsPerIteration: l.insnsPerIteration,
      exitInsns: l.exitInsns ?? 0,
      ...(l.loads === undefined ? {} : { loads: l.loads }),
      ...(l.flags === undefined ? {} : { flags: l.flags }),
      ...(l.requires === undefined ? {} : { requires: l.requires }),
    };
  });
}
