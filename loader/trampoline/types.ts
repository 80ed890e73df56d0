/**
 * The value every trampoline builder returns, and what the builders take. A `Trampoline` is
 * self-describing: the machine places its segments, sets the entry state, runs until `stopAt`
 * (accelerating each `copyLoops` entry), write-protects everything outside `writable`, and
 * needs no knowledge of the arch beyond what is written here. Documented in index.ts;
 * the contract of each side of the jump is in contract.md.
 */
import type { KernelVa, PhysAddr, PhysRange, Size } from '../addr.js';
import type { Arch } from '../arch/index.js';
import type { LoadPlan } from '../plan/load-plan.js';

/** Which jump: D47358's panic-time rescue_kernel_exec, or a loader.kboot-style kexec reboot. */
export type TrampolineKind = 'rescue-exec' | 'kexec-reboot';

/** Bytes to place in guest RAM before the run. */
export interface TrampolineSegment {
  readonly label: string;
  readonly role: 'code' | 'data' | 'page-tables';
  readonly phys: PhysAddr;
  readonly data: Uint8Array;
}

/** The CPU state the run starts from. Absent system registers are not part of the contract. */
export interface EntryState {
  /** The address the CPU starts at: a VA when the MMU is on (amd64 always), a PA when it is off. */
  readonly pc: bigint;
  /** General registers to set, by their lower-case architectural names (rdi, rsp, x0, sp, ...). */
  readonly regs: Readonly<Record<string, bigint>>;
  /** Whether address translation is on at the first instruction. */
  readonly mmu: 'on' | 'off';
  /** amd64 control registers and EFER (set through MSR 0xc0000080). */
  readonly cr0?: bigint;
  readonly cr3?: bigint;
  readonly cr4?: bigint;
  readonly efer?: bigint;
  /** arm64 EL1 system registers. */
  readonly sctlr?: bigint;
  readonly tcr?: bigint;
  readonly mair?: bigint;
  readonly ttbr0?: bigint;
  readonly ttbr1?: bigint;
  /** The stack the entry registers point into, when the code or the next kernel uses it. */
  readonly stack?: { readonly va: bigint; readonly size: Size; readonly sp: bigint };
}

/**
 * A copy loop the machine may run natively. At `at` (the loop head, in the address space of the
 * moment), with `count` registers' worth of work left, the loop copies `count × countUnit`
 * bytes forward from [src] to [dst] (through the current translation), then leaves
 * src += bytes, dst += bytes, count = 0, and — when at least one chunk was moved — each
 * `scratch` register holding the matching 8-byte word of the last chunk read; flags are not
 * changed; execution continues at `exit`. `insnsPerIteration`/`exitInsns` let the machine
 * count instructions exactly as the loop would.
 */
export interface CopyLoop {
  readonly label: string;
  readonly kind: 'x86-rep-movsq' | 'a64-ldp-stp';
  readonly at: bigint;
  readonly exit: bigint;
  readonly regs: {
    readonly src: string;
    readonly dst: string;
    readonly count: string;
    readonly scratch: readonly string[];
  };
  /** Bytes per unit of the count register (rcx counts qwords: 8; x3 counts bytes: 1). */
  readonly countUnit: number;
  /** Bytes moved per iteration. */
  readonly chunk: number;
  /**
   * Instructions one iteration executes, and instructions executed once more when the loop
   * finds nothing left (its exit test), as an instruction-counting emulator sees them: a
   * `rep movsq` counts once per element plus the final check with RCX = 0; the arm64 loop
   * `cbz; ldp; stp; sub; b` counts 5 per 16 bytes plus the final `cbz`.
   */
  readonly insnsPerIteration: number;
  readonly exitInsns: number;
}

/** Everything to place, set and expect for one jump (see the module header and index.ts). */
export interface Trampoline {
  readonly arch: Arch;
  readonly kind: TrampolineKind;
  /** Code, data block and page tables: everything the builder adds to RAM. */
  readonly segments: readonly TrampolineSegment[];
  /** The code: where it lies, the address it runs at and its labels (as run-time addresses). */
  readonly code: {
    readonly phys: PhysAddr;
    readonly va: bigint;
    readonly size: number;
    readonly labels: Readonly<Record<string, bigint>>;
  };
  readonly entry: EntryState;
  readonly copyLoops: readonly CopyLoop[];
  /** Where the run ends: the next kernel's first instruction (a VA when the MMU is on there). */
  readonly stopAt: bigint;
  /** Physical memory the trampoline's own stores may touch before `stopAt`; protect the rest. */
  readonly writable: readonly PhysRange[];
  /** Translation tables the CPU walks during the run (the hardware may set accessed/dirty bits in them). */
  readonly tables: readonly PhysRange[];
}

/** The panicking host kernel, as the machine's host model laid it out. */
export interface HostKernelState {
  /**
   * Where the trampoline code goes in host kernel text: its PA and the KERNBASE VA the host
   * runs it at (same offset in the page, 64-byte aligned: `.p2align 6` in locore.S).
   */
  readonly text: { readonly pa: PhysAddr; readonly va: KernelVa };
  /**
   * The host's translation tables. amd64: `root` = CR3 and `upperHalf` = PML4 entries
   * 256..511 (rescue_kernel_exec copies them into its temporary root). arm64: `root` =
   * TTBR1_EL1 and `lowRoot` = TTBR0_EL1 at the panic.
   */
  readonly tables: { readonly root: PhysAddr; readonly lowRoot?: PhysAddr; readonly upperHalf?: readonly bigint[] };
  /**
   * Page-aligned host memory for tables D47358 keeps in the host kernel (arm64: the static
   * pt_l0/pt_l1/pt_l2, 3 pages). amd64 puts its tables in the reservation and ignores this.
   */
  readonly scratch: PhysAddr;
  /** The panicking thread's kernel stack: VA, the PA of each 4 KiB page, and SP at the jump. */
  readonly stack: { readonly va: KernelVa; readonly pages: readonly PhysAddr[]; readonly sp: KernelVa };
  /**
   * amd64: the host's `pg_nx` (PG_NX, or 0 on a CPU without NX enabled). Unicorn 2.0.1 cannot
   * enable EFER.NXE, so the emulated host has none and its tables carry no NX bits.
   */
  readonly pgNx?: bigint;
}

/** Input of `buildRescueExec`: the rescue plan and the host at panic time. */
export interface RescueExecInput {
  readonly plan: LoadPlan;
  readonly host: HostKernelState;
}

/** One staging → destination copy the kexec trampoline performs. */
export interface KexecCopy {
  readonly label: string;
  readonly src: PhysAddr;
  readonly dst: PhysAddr;
  readonly len: Size;
}

/** Input of `buildKexecReboot`. */
export interface KexecRebootInput {
  /**
   * Page-aligned PA of the trampoline area: code and data block in the first page; amd64 adds
   * loader.kboot's 9 table pages (at + 4 KiB, as kboot puts PT4 at trampolinebase + 4K) and
   * the entry identity map after them. amd64 keeps the area below 4 GiB (the loader tables map
   * only the low 4 GiB, and %rsp stays in it across the CR3 switch).
   */
  readonly at: PhysAddr;
  /** Copies done in order before the jump; at most 16 (KEXEC_SEGMENT_MAX). */
  readonly copies: readonly KexecCopy[];
  readonly kernel: {
    /** amd64: btext's KERNBASE VA (mapped by the loader tables); arm64: _start's PA (MMU off). */
    readonly entry: bigint;
    /** amd64: u32 offset from KERNBASE for 4(%rsp); arm64: the VA for x0. */
    readonly modulep: bigint;
    /** amd64: u32 offset from KERNBASE for 8(%rsp). arm64: unused. */
    readonly kernend?: bigint;
    /** amd64: the loader tables map KERNBASE + i·2 MiB → staging + i·2 MiB (kernel at +2 MiB). arm64: unused. */
    readonly staging?: PhysAddr;
    /** tramp.S's optional EFI memory-map copy, done after the segment copies. */
    readonly memmap?: { readonly src: PhysAddr; readonly dst: PhysAddr; readonly len: Size };
  };
  /** arm64: x0 at the trampoline's entry (Linux passes the FDT; ignored). amd64: unused. */
  readonly fdt?: PhysAddr;
}
