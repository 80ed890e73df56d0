/**
 * The comparison report: what `kboot compare` measured for each machine profile and each way
 * of arming the rescue kernel (embed, KLD preload, kexec_load), as plain JSON-ready data
 * (numbers and strings only; addresses as "0x…" strings). schemas/compare.schema.json
 * describes the same shape; the table (compare/table.ts) and the SVG timeline
 * (compare/svg.ts) are drawn from it alone.
 *
 * Contract: values are measurements of runs on the emulated machine (compare/run.ts), never
 * figures copied from the design; where a number is a fact of the strategy rather than a run
 * (a KLD preload needs a reboot to change), the field says so in `how`.
 */
import type { ItsComparison } from './its-row.js';
import type { Arch } from '../loader/arch/index.js';
import type { HostPhase } from '../machine/host/timeline.js';
import type { StrategyId } from '../loader/strategy.js';
import { RESCUE_STRATEGIES } from '../machine/strategies/index.js';

/** The fixed fault set every strategy is put through. */
export const COMPARE_FAULTS = ['dma', 'its', 'corrupt-segment', 'stray-write'] as const;
export type CompareFault = (typeof COMPARE_FAULTS)[number];

/** How the strategy came through a fault. */
export type FaultOutcome =
  /** The fault happened and the result is still good (the dump completed; changes were named). */
  | 'survived'
  /** The fault was stopped before it could do harm, with a reason naming it. */
  | 'detected'
  /** The fault went unnoticed: the hand-off went on with damaged input. */
  | 'undetected'
  /** The run broke (no dump, or no rescue) without naming the fault. */
  | 'failed'
  /** The fault cannot happen on this machine (the ITS on amd64). */
  | 'n/a';

export interface FaultResult {
  readonly fault: CompareFault;
  readonly outcome: FaultOutcome;
  readonly detail: string;
}

/** A panic at one boot phase, in a session of its own. */
export interface PhaseResult {
  readonly phase: HostPhase;
  readonly rescued: boolean;
  /** Why nothing was rescued; or how the jump stopped. */
  readonly reason: string | null;
  /** Instructions of the panic-time jump, when one ran. */
  readonly instructions: number | null;
}

export interface StrategyComparison {
  readonly strategy: StrategyId;
  /** The first phase from which a panic is rescued (null: never). */
  readonly armedFrom: HostPhase | null;
  /** How the armed kernel got there (HostSession.armed.how). */
  readonly armedHow: string | null;
  /** True when it arms only once userspace runs (kexec_load). */
  readonly userspaceOnly: boolean;
  /** Phases whose panic was rescued, over all phases. */
  readonly rescuedShare: number;
  readonly phases: readonly PhaseResult[];
  readonly memory: {
    /** The rescue reservation (rescue_kernel_init, M_NODUMP). */
    readonly reservedBytes: number;
    /** Extra RAM the strategy holds besides the reservation, and for how long. */
    readonly transientBytes: number;
    readonly transient: string;
    /** How much the host kernel's loaded image grows (embed only; null otherwise). */
    readonly kernelImageGrowth: number | null;
    /** How much the host kernel file grows (embed only; null otherwise). */
    readonly kernelFileGrowth: number | null;
  };
  readonly copies: {
    /** Bytes of the rescue kernel the boot moves: loader copy + rescue_kernel_init's staging. */
    readonly bootBytes: number;
    readonly boot: string;
    /** Bytes kexec_load copies in from userspace. */
    readonly loadBytes: number;
    /** Bytes the panic-time jump copies (its copy loops, as the CPU ran them). */
    readonly panicBytes: number;
    /** Page-table bytes rescue_kernel_exec writes at the panic. */
    readonly panicTableBytes: number;
  };
  readonly jump: {
    readonly rescued: boolean;
    readonly stop: string;
    /** Instructions from the panic (rescue_kernel_exec) to the rescue kernel's entry. */
    readonly instructions: number;
    /** CPU time of that run (JumpResult). */
    readonly ms: number;
    /** Wall time of HostSession.panic() (the jump plus setting it up). */
    readonly panicMs: number;
    /** The probe kernel's own run after the entry (null for a foreign kernel). */
    readonly probe: {
      readonly stop: string;
      readonly instructions: number;
      readonly complete: boolean;
      /** The checksum the probe computed over its loaded text equals the file's. */
      readonly checksumOk: boolean;
    } | null;
  };
  readonly dump: {
    readonly status: string;
    readonly format: string;
    readonly size: number;
    readonly pages: number;
    readonly bytesOut: number;
    readonly ms: number;
  };
  readonly replace: {
    /** The rescue kernel can be replaced on the running host. */
    readonly withoutReboot: boolean;
    readonly needs: 'nothing' | 'reboot' | 'rebuild';
    /** Whether kboot carried the replacement out here. */
    readonly done: boolean;
    /** A panic after the replacement was rescued (null when not done). */
    readonly rescuedAfter: boolean | null;
    readonly how: string;
    /** Measured: the replacement (kexec), or what it needs: boot to running (reboot), re-embed + boot (rebuild). */
    readonly ms: number;
  };
  readonly faults: readonly FaultResult[];
  /** Faults survived or detected, of those that apply. */
  readonly faultsHandled: number;
  readonly faultsApplicable: number;
  /** "GICv3 ITS live at the panic": D47358's bytes against kboot's descriptors (compare/its-row.ts). */
  readonly its: ItsComparison;
}

export interface ProfileComparison {
  readonly machine: string;
  readonly source: string;
  readonly arch: Arch;
  readonly reservation: { readonly start: string; readonly size: number };
  /** Scenario sessions run for this profile (each forked from its strategy's host, booted once). */
  readonly sessions: number;
  readonly elapsedMs: number;
  /** The minidump of this host (the same for every strategy: the reservation is M_NODUMP). */
  readonly dump: { readonly format: string; readonly size: number; readonly pages: number; readonly ms: number };
  readonly strategies: readonly StrategyComparison[];
}

export interface CompareReport {
  readonly kernel: {
    readonly file: string;
    readonly arch: Arch;
    readonly size: number;
    readonly sha256: string;
    readonly probe: boolean;
  };
  readonly seed: number;
  readonly phases: readonly HostPhase[];
  readonly userspaceFrom: HostPhase;
  readonly strategies: readonly StrategyId[];
  readonly faultSet: readonly CompareFault[];
  readonly profiles: readonly ProfileComparison[];
  readonly elapsedMs: number;
}

/** How each strategy is named in tables and charts (its `label`, machine/strategies). */
export const STRATEGY_LABEL: { readonly [S in StrategyId]: string } = Object.freeze(
  Object.fromEntries(RESCUE_STRATEGIES.map((s) => [s.id, s.label])) as { [S in StrategyId]: string },
);

/** How each fault is named in tables and charts. */
export const FAULT_LABEL: { readonly [F in CompareFault]: string } = {
  dma: 'DMA into host pages',
  its: 'GICv3 ITS still writing',
  'corrupt-segment': 'corrupted staged segment',
  'stray-write': 'stray write by the trampoline',
};
