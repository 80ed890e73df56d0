/**
 * Trampolines: the machine code and data that carry the CPU from a panicking host (D47358
 * rescue_kernel_exec) or a kexec reboot (loader.kboot) into the next kernel. Pure: a plan or a
 * copy list in, a `Trampoline` value out; nothing runs here (the machine executes it on
 * Unicorn, never simulating it in TS).
 *
 *   const tramp = buildRescueExec(plan.arch, { plan, host });     // or buildKexecReboot(arch, input)
 *   for (const s of tramp.segments) ram.write(s.phys, s.data);     // code, data block, page tables
 *   cpu.setEntry(tramp.entry);                                      // pc, regs, MMU registers
 *   cpu.run({ until: tramp.stopAt, accelerate: tramp.copyLoops, writable: tramp.writable, ... });
 *
 * A `Trampoline` (types.ts) carries everything the machine needs and nothing arch-specific
 * beyond itself:
 *  - `segments`: every byte the builder adds to RAM (code, data block, page tables), each with
 *    its PA. Plan segments (params, kenv, kernel...) are not repeated: the strategy delivers
 *    them. The rescue params' dump fields stay as the plan left them (the host model fills
 *    them at panic time).
 *  - `entry`: pc (a VA when `mmu` is 'on', else a PA), general registers by name (rdi, rsp,
 *    x0, sp...), and the MMU state (amd64 cr0/cr3/cr4/efer; arm64 sctlr/tcr/mair/ttbr0/ttbr1),
 *    plus the stack when one is in use.
 *  - `copyLoops`: the copy loops as data (head `at`, `exit`, register roles, units), so the
 *    machine can perform a loop natively and leave registers as the loop would (types.ts
 *    CopyLoop states the exact end state).
 *  - `stopAt`: the next kernel's first instruction (amd64 btext VA; arm64 _start PA).
 *  - `writable`: the physical ranges the trampoline's own stores touch (the copy destinations;
 *    nothing for a rescue exec); everything else may be write-protected. `tables`: the
 *    translation tables the CPU walks (hardware may set A/D bits there).
 *  - `code`: PA, run address and labels of the code, for tracing and disassembly.
 * Arch differences live behind `trampolineOps(arch)` (ANCHORS.md house rule 8). Every rejected
 * input is a TrampolineError (loader/trampoline/errors.ts) with its own code. Each side
 * of each jump is specified, item by item and checkably, in contract.md.
 */
import type { Arch } from '../arch/index.js';
import { AMD64_COPY_UNIT, AMD64_KEXEC_AREA_BYTES, amd64KexecReboot, amd64RescueExec } from './amd64.js';
import { ARM64_COPY_UNIT, ARM64_KEXEC_AREA_BYTES, arm64KexecReboot, arm64RescueExec } from './arm64.js';
import type { KexecRebootInput, RescueExecInput, Trampoline } from './types.js';

export type {
  CopyLoop,
  EntryState,
  HostKernelState,
  KexecCopy,
  KexecRebootInput,
  RescueExecInput,
  Trampoline,
  TrampolineKind,
  TrampolineSegment,
} from './types.js';
export { TrampolineCode, TrampolineError } from '../arch/errors.js';
export {
  Amd64KexecBlock,
  Amd64TrampData,
  Arm64KexecBlock,
  Arm64TrampData,
  TrampCopy,
  TRAMP_COPY_SLOTS,
} from './layout.js';

/** One arch's trampoline builders and the facts a caller needs to prepare their inputs. */
export interface TrampolineOps {
  readonly arch: Arch;
  /** Every kexec copy length must be a multiple of this (amd64 8: rep movsq; arm64 16: ldp/stp). */
  readonly copyUnit: number;
  /** Bytes from `KexecRebootInput.at` the kexec trampoline occupies (no copy may touch them). */
  readonly kexecAreaBytes: number;
  /** D47358's rescue_kernel_exec jump for this arch. */
  buildRescueExec(input: RescueExecInput): Trampoline;
  /** A loader.kboot-style kexec reboot trampoline for this arch. */
  buildKexecReboot(input: KexecRebootInput): Trampoline;
}

const OPS: { readonly [A in Arch]: TrampolineOps } = {
  amd64: {
    arch: 'amd64',
    copyUnit: AMD64_COPY_UNIT,
    kexecAreaBytes: AMD64_KEXEC_AREA_BYTES,
    buildRescueExec: amd64RescueExec,
    buildKexecReboot: amd64KexecReboot,
  },
  arm64: {
    arch: 'arm64',
    copyUnit: ARM64_COPY_UNIT,
    kexecAreaBytes: ARM64_KEXEC_AREA_BYTES,
    buildRescueExec: arm64RescueExec,
    buildKexecReboot: arm64KexecReboot,
  },
};

/** The trampoline operations of `arch`. */
export function trampolineOps(arch: Arch): TrampolineOps {
  return OPS[arch];
}

/** Builds the panic-time rescue jump (D47358 rescue_kernel_exec) for `arch`. */
export function buildRescueExec(arch: Arch, input: RescueExecInput): Trampoline {
  return trampolineOps(arch).buildRescueExec(input);
}

/** Builds the kexec-reboot trampoline (loader.kboot amd64_tramp.S / tramp.S) for `arch`. */
export function buildKexecReboot(arch: Arch, input: KexecRebootInput): Trampoline {
  return trampolineOps(arch).buildKexecReboot(input);
}
