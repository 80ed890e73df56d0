/**
 * The kexec strategy in the machine: rescue_kernel_init only reserves the area at
 * SI_SUB_VM_CONF (as `crashkernel=` does); HostSession.loadCrash fills it from userspace with
 * kexec_load's rules (loader/kexec). Pure facts: loader/kexec/strategy.ts.
 */
import { KEXEC_STRATEGY } from '../../loader/kexec/strategy.js';
import type { RescueStrategy } from './strategy.js';

export const KEXEC: RescueStrategy = Object.freeze({
  ...KEXEC_STRATEGY,
  findAtVmConf: () => undefined,
  unarmedReason: (userspace: boolean) =>
    userspace
      ? 'no crash kernel loaded (kboot load --crash)'
      : 'no crash kernel loaded: kexec_load runs only from userspace',
});
