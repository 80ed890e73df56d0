/**
 * What the other side reads after a jump: the machine hands a kernel it entered to an
 * observer supplied from outside machine/ (rescue/probe-observer.ts reads kboot's probe
 * kernels), so machine/ knows nothing of any kernel beyond its entry contract
 * (machine/contract.ts).
 *
 * Contract: `observeEntry` is called only with the CPU stopped at the kernel's entry
 * (JumpResult.reached) and only for a kernel the observer `recognises`; it lifts the jump's
 * write protection first (the entered kernel owns its memory) and collects the console after.
 * The observer runs the CPU only inside `entered.limits`.
 */
import type { KernelVa, PhysAddr } from '../loader/addr.js';
import type { ElfImage } from '../loader/elf/image.js';
import { unprotectAll } from './jump.js';
import type { Machine } from './machine.js';

/** Bounds of an observer's own run. */
export interface ObserveLimits {
  readonly maxInstructions: number;
  readonly timeoutMs: number;
}

/** The default bounds of an observer's run after the entry. */
export const DEFAULT_OBSERVE_LIMITS: ObserveLimits = { maxInstructions: 10_000_000, timeoutMs: 30_000 };

/** A kernel the machine entered, as an observer sees it. */
export interface EnteredKernel {
  readonly machine: Machine;
  /** The kernel's ELF as it was loaded. */
  readonly image: ElfImage;
  /** The PA of a VA of the loaded kernel image. */
  toPhys(va: KernelVa): PhysAddr;
  readonly limits: ObserveLimits;
}

/** Reads what a kernel it knows did after the entry (see the module contract). */
export interface EntryObserver<R> {
  /** Names the observer's step in traces. */
  readonly name: string;
  /** True for a kernel this observer knows how to read. */
  recognises(image: ElfImage): boolean;
  /** Runs on from the entry (inside `entered.limits`) and reads the result. */
  observe(entered: EnteredKernel): R;
  /** One line for a trace: what happened. */
  describe(result: R, entered: EnteredKernel): string;
}

/** Hands an entered kernel to `observer` (see the module contract). */
export function observeEntry<R>(observer: EntryObserver<R>, entered: EnteredKernel): R {
  unprotectAll(entered.machine);
  const result = observer.observe(entered);
  entered.machine.cpu.takeConsole();
  return result;
}
