/**
 * Run limits and stop reasons: every run is bounded by an instruction budget and a wall-clock
 * limit (ANCHORS.md house rule 7), and always ends in one `StopReason` of a closed set.
 *
 * Contract: `checkRunLimits` refuses (CPU_RUN) what a run cannot honour; `stopFromNative`
 * names the addon's stop record (native/cpu_engine.h StopRecord) as a `StopReason`;
 * `translationFault` gives the fault the guest takes at a VA its tables do not map (amd64 #PF
 * with CR2; arm64 data / prefetch abort: QEMU target/arm/cpu.h EXCP_DATA_ABORT 4,
 * EXCP_PREFETCH_ABORT 3; shared/spec/unicorn-system.md Q3, Q9).
 */
import { phys, type PhysAddr } from '../../loader/addr.js';
import type { Arch } from '../../loader/arch/index.js';
import type { NativeRunResult } from '../../native/binding.js';
import { MachineCode, MachineError } from '../errors.js';
import { checkU64, EXCEPTION_NAMES } from './regs.js';

/** The largest instruction budget a run accepts (a JS safe integer). */
export const MAX_INSTRUCTIONS = Number.MAX_SAFE_INTEGER;
/** The longest a single run may last. */
export const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/** Bounds of one run; both limits are required (ANCHORS.md house rule 7). */
export interface RunLimits {
  /** Where to start; default: the current PC. */
  readonly start?: bigint;
  /** Stop (kind `reached`) when the PC gets here, before executing it. */
  readonly until?: bigint;
  readonly maxInstructions: number;
  readonly timeoutMs: number;
  /** Stop (kind `breakpoint`) before executing any of these; one at `start` is stepped over. */
  readonly breakpoints?: readonly bigint[];
}

export interface StopCommon {
  /** Instructions executed in this run (accelerated loops count as the loop would). */
  readonly executed: number;
  readonly elapsedMs: number;
  /** Copies the accelerator performed in this run. */
  readonly accelerated: { readonly copies: number; readonly bytes: number };
}

/** Why a run stopped. `pc` is the PC the CPU holds afterwards unless noted. */
export type StopReason = StopCommon &
  (
    | { readonly kind: 'reached'; readonly pc: bigint }
    | { readonly kind: 'halted'; readonly pc: bigint }
    | { readonly kind: 'breakpoint'; readonly pc: bigint }
    | {
        readonly kind: 'exception';
        readonly pc: bigint;
        readonly vector: number;
        readonly name: string;
        readonly cr2?: bigint;
      }
    | { readonly kind: 'limit'; readonly pc: bigint }
    | { readonly kind: 'timeout'; readonly pc: bigint }
    | {
        readonly kind: 'unmapped';
        /** The instruction that made the access (for a fetch: the address fetched). */
        readonly pc: bigint;
        readonly access: 'read' | 'write' | 'fetch';
        readonly address: bigint;
        /** Where the guest's tables send `address`, when they map it (to something not RAM). */
        readonly pa?: PhysAddr;
      }
    | {
        readonly kind: 'write-protect';
        /** The storing instruction. */
        readonly pc: bigint;
        /** The VA written. */
        readonly address: bigint;
        readonly pa: PhysAddr;
        readonly size: number;
        readonly value: bigint;
      }
    | { readonly kind: 'invalid-instruction'; readonly pc: bigint }
  );

/** CPU_RUN unless the limits are a bounded run with u64 addresses. */
export function checkRunLimits(limits: RunLimits): void {
  const { maxInstructions, timeoutMs } = limits;
  if (!Number.isSafeInteger(maxInstructions) || maxInstructions < 0 || maxInstructions > MAX_INSTRUCTIONS) {
    throw new MachineError(MachineCode.CpuRun, `machine: maxInstructions ${String(maxInstructions)} is not 0..2^53-1`, {
      maxInstructions,
    });
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new MachineError(MachineCode.CpuRun, `machine: timeoutMs ${String(timeoutMs)} is not 0..${MAX_TIMEOUT_MS}`, {
      timeoutMs,
    });
  }
  for (const [what, v] of [
    ['start', limits.start],
    ['until', limits.until],
    ...(limits.breakpoints ?? []).map((b) => ['breakpoint', b] as const),
  ] as const) {
    if (v !== undefined) checkU64(what, v, MachineCode.CpuRun);
  }
}

/** The vectors kboot reports for a VA the guest's tables do not map. */
const TRANSLATION_FAULT_VECTOR: { readonly [A in Arch]: { readonly data: number; readonly fetch: number } } = {
  amd64: { data: 14, fetch: 14 },
  arm64: { data: 4, fetch: 3 },
};

/** True for the arch's translation faults (amd64 #PF; arm64 instruction/data aborts). */
export function isTranslationFault(arch: Arch, vector: number | undefined): boolean {
  const v = vector ?? -1;
  const faults = TRANSLATION_FAULT_VECTOR[arch];
  return v === faults.fetch || v === faults.data;
}

/** The exception the guest takes for an access its tables do not map (`cr2` on amd64). */
export function translationFault(
  arch: Arch,
  access: 'read' | 'write' | 'fetch' | undefined,
  pc: bigint,
  address: bigint,
  common: StopCommon,
): StopReason {
  const vector = TRANSLATION_FAULT_VECTOR[arch][access === 'fetch' ? 'fetch' : 'data'];
  const name = exceptionName(arch, vector);
  return arch === 'amd64'
    ? { ...common, kind: 'exception', pc, vector, name, cr2: address }
    : { ...common, kind: 'exception', pc, vector, name };
}

function exceptionName(arch: Arch, vector: number): string {
  return EXCEPTION_NAMES[arch][vector] ?? `vector ${vector}`;
}

/** The addon's final stop record as a StopReason (CPU_RUN when it lacks a fact its kind needs). */
export function stopFromNative(arch: Arch, r: NativeRunResult, common: StopCommon): StopReason {
  const missing = (field: string): MachineError =>
    new MachineError(MachineCode.CpuRun, `machine: addon stop '${r.kind}' lacks ${field}`, { kind: r.kind });
  switch (r.kind) {
    case 'reached':
    case 'halted':
    case 'breakpoint':
    case 'limit':
    case 'timeout':
    case 'invalid-instruction':
      return { ...common, kind: r.kind, pc: r.pc };
    case 'exception': {
      const vector = r.vector ?? -1;
      const name = exceptionName(arch, vector);
      return r.cr2 === undefined
        ? { ...common, kind: 'exception', pc: r.pc, vector, name }
        : { ...common, kind: 'exception', pc: r.pc, vector, name, cr2: r.cr2 };
    }
    case 'unmapped':
      if (r.address === undefined || r.access === undefined) throw missing('address/access');
      return { ...common, kind: 'unmapped', pc: r.pc, access: r.access, address: r.address };
    case 'write-protect':
      if (r.address === undefined || r.pa === undefined) throw missing('address/pa');
      return {
        ...common,
        kind: 'write-protect',
        pc: r.pc,
        address: r.address,
        pa: phys(r.pa),
        size: r.size ?? 0,
        value: r.value ?? 0n,
      };
    case 'translation-changed':
    case 'translation-needed':
      throw missing('a final reason');
    default:
      return assertNever(r.kind);
  }
}

function assertNever(x: never): never {
  throw new MachineError(MachineCode.CpuRun, `machine: unexpected stop kind ${String(x)}`, { kind: x });
}
