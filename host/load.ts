/**
 * `kboot load --host [--crash] <elf> [--dry-run] [--abi linux|freebsd]`: reads the running
 * machine, plans the segments (host/plan.ts), and unless --dry-run hands them to the running
 * kernel's kexec_load(2) (host/kexec.ts). The order is the contract: the root check comes
 * first (before the machine is read and before the ffi package is loaded), then the plan, then
 * the package, then the one call. Every outcome, refusals included, is a host event.
 */
import { basename, resolve } from 'node:path';
import type { Size } from '../loader/addr.js';
import { KbootError } from '../loader/errors.js';
import { readInputFile } from '../loader/io/input.js';
import type { KexecAbi } from '../loader/kexec/abi.js';
import { loadSyscall } from './ffi.js';
import { eventHead, journalEvent, type HostEvent } from './journal.js';
import { callKexecLoad, hostPlatform, kernelRef, loadRecord, requireRoot, resultOf, type HostSeams } from './kexec.js';
import { hostAbi, planHostLoad, readHostMachine, type HostLoadPlan, type HostMachineOptions } from './plan.js';

/** What `kboot load --host` is asked. */
export interface HostLoadOptions {
  readonly file: string;
  readonly cwd: string;
  readonly crash: boolean;
  readonly abi?: KexecAbi;
  readonly dryRun: boolean;
  readonly memsize?: Size;
  readonly stateDir: string;
  readonly waitMs?: number;
  readonly machine?: HostMachineOptions;
  readonly seams?: HostSeams;
}

/** What it did: the plan (when it got that far), the buffers passed (a real call), the error. */
export interface HostLoadOutcome {
  readonly plan: HostLoadPlan | undefined;
  readonly bufs: readonly bigint[] | undefined;
  readonly called: boolean;
  readonly error: KbootError | undefined;
  readonly event: HostEvent;
  /** Why the event could not be journaled, when the command failed anyway (e.g. an unprivileged run). */
  readonly journalError: KbootError | undefined;
}

/** Runs `kboot load --host` (see the module contract). Errors come back in the outcome, journaled. */
export async function hostLoad(opts: HostLoadOptions): Promise<HostLoadOutcome> {
  const { os, arch } = hostPlatform();
  const file = resolve(opts.cwd, opts.file);
  let plan: HostLoadPlan | undefined;
  let bufs: readonly bigint[] | undefined;
  let syscall: number | undefined;
  let error: KbootError | undefined;
  let kernel: HostEvent['kernel'];
  let abi: KexecAbi = opts.abi ?? os;
  try {
    if (!opts.dryRun) requireRoot('kboot load --host', opts.seams);
    const bytes = readInputFile(file, 'kernel', { what: opts.crash ? 'crash kernel' : 'kernel' });
    kernel = kernelRef(file, bytes);
    const machine = readHostMachine(opts.machine);
    abi = hostAbi(machine, opts.abi, opts.dryRun);
    plan = planHostLoad(machine, {
      kernel: bytes,
      kernelName: basename(file),
      crash: opts.crash,
      abi,
      ...(opts.memsize === undefined ? {} : { memsize: opts.memsize }),
    });
    if (!opts.dryRun) {
      const sys = await (opts.seams?.syscall ?? loadSyscall)();
      syscall = plan.syscall;
      const call = callKexecLoad(sys, plan);
      bufs = call.bufs;
      error = call.error;
    }
  } catch (e) {
    if (!(e instanceof KbootError)) throw e;
    error = e;
  }
  const event: HostEvent = {
    ...eventHead('load', os, arch),
    abi,
    crash: opts.crash,
    dryRun: opts.dryRun,
    ...(syscall === undefined ? {} : { syscall }),
    ...(kernel === undefined ? {} : { kernel }),
    ...(plan === undefined ? {} : { load: loadRecord(plan, bufs) }),
    result: resultOf(error),
  };
  const journalError = await journalEvent(opts.stateDir, event, opts.waitMs, error);
  return { plan, bufs, called: syscall !== undefined, error, event, journalError };
}
