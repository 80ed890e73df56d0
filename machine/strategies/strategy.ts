/**
 * `RescueStrategy`: one way of arming a FreeBSD rescue kernel (review D47358) — embed, kld or
 * kexec — as one object that machine/session.ts and compare/ call instead of switching on
 * its id. The pure half (ids, what the loader stages, how it is replaced, the facts reports
 * carry) is loader/strategy.ts; this adds the delivery into the machine.
 *
 * Contract: `findAtVmConf` is D47358's rescue_kernel_init at SI_SUB_VM_CONF reading guest
 * memory only (the host's symbols and its preload metadata, as the kernel would): where the
 * rescue ELF the loader staged lies, or undefined when rescue_kernel_init only reserves the
 * area (the kernel comes later, from userspace: `armedBy === 'userspace'`). It throws a
 * MachineError (MACHINE_HOST_MODEL) when the host lacks what the strategy needs.
 */
import type { PhysAddr, Size } from '../../loader/addr.js';
import type { GuestRam } from '../../loader/memory/guest-ram.js';
import type { StrategyFacts } from '../../loader/strategy.js';
import type { HostModel } from '../host/model.js';

/** What rescue_kernel_init sees of the booted host. */
export interface VmConfHost {
  readonly ram: GuestRam;
  readonly model: HostModel;
}

/** The rescue ELF as rescue_kernel_init finds it in guest memory. */
export interface FoundRescue {
  readonly pa: PhysAddr;
  readonly size: Size;
  /** Where it was found, for logs and reports. */
  readonly how: string;
}

/** One strategy: its pure facts and its delivery into the machine (see the module contract). */
export interface RescueStrategy extends StrategyFacts {
  /** rescue_kernel_init at SI_SUB_VM_CONF: the staged rescue ELF, or undefined (reserve only). */
  findAtVmConf(host: VmConfHost): FoundRescue | undefined;
  /** Why a panic after SI_SUB_VM_CONF found nothing armed. */
  unarmedReason(userspace: boolean): string;
}
