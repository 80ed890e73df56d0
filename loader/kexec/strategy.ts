/**
 * The kexec strategy's pure facts (loader/strategy.ts): rescue_kernel_init only reserves the
 * area at SI_SUB_VM_CONF (as Linux's `crashkernel=` does); once userspace runs,
 * kexec_load(..., KEXEC_ON_CRASH) copies the segments in under the kernel's rules (rules.ts),
 * and kexec_load with no segments unloads them, so the rescue kernel is replaced on the
 * running host.
 */
import type { LiveReplacement, StrategyFacts } from '../strategy.js';

export const KEXEC_STRATEGY: StrategyFacts = Object.freeze({
  id: 'kexec',
  label: 'kexec',
  armedBy: 'userspace',
  loaderCopy: undefined,
  transient: "kexec_load's userspace buffer (the segments), during the load",
  replacement: Object.freeze({
    needs: 'nothing',
    describe: (live?: LiveReplacement) =>
      `kexec_load unload (no segments${live?.disarmedByUnload === true ? ', nothing armed after it' : ''}) then load again on the running host${live?.sameReservation === true ? '; the reservation is byte-identical' : ''}`,
  }),
  stage: (hostKernel: Uint8Array) => ({ kernel: hostKernel, modules: [] }),
});
