/**
 * `kboot/machine`: the emulated machine a user drives — a FreeBSD host's life on a fresh
 * machine (boot through its phases with a strategy that arms the rescue kernel, kexec_load
 * from its userspace, panic and the hand-off on the CPU), and one kernel loaded and entered
 * through the kexec-reboot or rescue_kernel_exec trampoline. Needs the native addon
 * (`npm ci` builds it).
 *
 * Contract: an explicit list (no `export *`), each name with a doc comment at its declaration;
 * api/kboot-machine.api.md is the checked-in report of this surface (test/api). Guest memory
 * is read through the `GuestRam` trait (the pure half's, loader/memory).
 *
 *   import { HostSession } from 'kboot/machine';
 *   const s = HostSession.boot({ profile, strategy: 'kexec', rescue });
 */
export { HostSession, type Armed, type PanicOptions, type PanicOutcome, type SessionOptions } from './session.js';
export { STRATEGY_IDS, type StrategyId } from '../loader/strategy.js';
export type { EntryObserver, ObserveLimits } from './observer.js';
export { HOST_PHASES, type HostPhase } from './host/timeline.js';
export { execKernel, type ExecOptions, type ExecOutcome, type ExecPath } from './exec.js';
export type { JumpResult } from './jump.js';
export type { StopReason } from './cpu/index.js';
export { MachineCode, MachineError } from './errors.js';
export { MemoryCode, MemoryError } from '../loader/memory/errors.js';
export type { GuestRam } from '../loader/memory/guest-ram.js';
