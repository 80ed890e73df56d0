/**
 * The host kernel's boot timeline as data: the phases a FreeBSD host passes from the loader
 * to a running system, and the hooks a strategy registers at a phase (D47358's
 * rescue_kernel_init runs as a SYSINIT at SI_SUB_VM_CONF, SI_ORDER_ANY: sys/kern/kern_rescue.c
 * / rescue_machdep.c; SI_SUB_* order in sys/sys/kernel.h; userland starts with init(8)).
 *
 * Contract: `HostTimeline` starts at 'loader' and only moves forward; `advanceTo(phase)`
 * enters every phase up to and including `phase` in order and runs each phase's hooks in
 * registration order, returning what ran. Going backwards or naming an unknown phase is
 * HOST_BAD_PHASE. `resumedFrom` copies where another timeline stands (not its hooks). No
 * strategy code lives here.
 */
import { HostCode, HostError } from './errors.js';

/** Boot phases in order. */
export const HOST_PHASES = [
  'loader',
  'kernel-entry',
  'SI_SUB_VM',
  'SI_SUB_VM_CONF',
  'drivers',
  'mountroot',
  'init',
  'rc',
  'running',
] as const;
/** One boot phase of the host (HOST_PHASES). */
export type HostPhase = (typeof HOST_PHASES)[number];

/** The first phase with userspace running (init(8) is process 1). */
export const FIRST_USERSPACE_PHASE: HostPhase = 'init';

/** What each phase stands for in FreeBSD (for logs and reports). */
export const HOST_PHASE_INFO: { readonly [P in HostPhase]: string } = {
  loader: 'loader: kernel, kenv, firmware map and modinfo staged in RAM',
  'kernel-entry': 'btext / _start: hammer_time() or initarm() reads the preload metadata',
  SI_SUB_VM: 'vm_mem_init: page tables, DMAP, dump_avail, msgbuf, vm_page_dump',
  SI_SUB_VM_CONF: 'SI_SUB_VM_CONF: rescue_kernel_init() reserves the rescue area',
  drivers: 'SI_SUB_DRIVERS .. SI_SUB_CONFIGURE: devices attach (GICv3 ITS LPI tables live)',
  mountroot: 'vfs_mountroot: the root file system',
  init: 'init(8) started: userspace reached',
  rc: '/etc/rc: services start (kexec_load-style strategies may load here)',
  running: 'multi-user system running',
};

/** A hook a strategy runs when the host enters a phase. */
export interface PhaseHook {
  readonly phase: HostPhase;
  readonly name: string;
  readonly run: () => void;
}

/** One executed step: the phase entered and the hooks that ran in it. */
export interface PhaseStep {
  readonly phase: HostPhase;
  readonly hooks: readonly string[];
}

function phaseIndex(p: string): number {
  return (HOST_PHASES as readonly string[]).indexOf(p);
}

/** The boot-timeline state machine (see the module contract). */
export class HostTimeline {
  private index = 0;
  private readonly hooks: PhaseHook[] = [];
  private readonly log: PhaseStep[] = [{ phase: 'loader', hooks: [] }];

  /**
   * A timeline standing where `from` stands, with its steps but none of its hooks (a forked
   * host registers its own hooks for the phases still ahead).
   */
  static resumedFrom(from: HostTimeline): HostTimeline {
    const t = new HostTimeline();
    t.index = from.index;
    t.log.splice(0, t.log.length, ...from.log);
    return t;
  }

  /** The current phase. */
  get phase(): HostPhase {
    return HOST_PHASES[this.index] ?? 'loader';
  }

  /** True from 'init' on. */
  get userspace(): boolean {
    return this.index >= phaseIndex(FIRST_USERSPACE_PHASE);
  }

  /** Every phase entered so far, with the hooks run in it. */
  get steps(): readonly PhaseStep[] {
    return this.log;
  }

  /** True once `phase` has been entered. */
  reached(phase: HostPhase): boolean {
    return this.index >= phaseIndex(phase);
  }

  /** Registers a hook for a phase not yet entered (a hook for a past phase would never run: HOST_BAD_PHASE). */
  on(phase: HostPhase, name: string, run: () => void): void {
    const i = this.check(phase);
    if (i <= this.index) {
      throw new HostError(HostCode.BadPhase, `machine: hook "${name}" is for phase ${phase}, already entered`, {
        phase,
        current: this.phase,
      });
    }
    this.hooks.push({ phase, name, run });
  }

  /** Enters each phase after the current one up to `phase`, running hooks; returns the steps taken. */
  advanceTo(phase: HostPhase): PhaseStep[] {
    const target = this.check(phase);
    if (target < this.index) {
      throw new HostError(HostCode.BadPhase, `machine: the host cannot go back from ${this.phase} to ${phase}`, {
        phase,
        current: this.phase,
      });
    }
    const steps: PhaseStep[] = [];
    while (this.index < target) {
      this.index += 1;
      const p = this.phase;
      const ran: string[] = [];
      for (const h of this.hooks.filter((x) => x.phase === p)) {
        h.run();
        ran.push(h.name);
      }
      const step = { phase: p, hooks: ran };
      steps.push(step);
      this.log.push(step);
    }
    return steps;
  }

  private check(phase: string): number {
    const i = phaseIndex(phase);
    if (i < 0) {
      throw new HostError(HostCode.BadPhase, `machine: unknown boot phase "${phase}"`, { phase });
    }
    return i;
  }
}
