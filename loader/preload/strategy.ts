/**
 * The kld strategy's pure facts (loader/strategy.ts): the boot loader preloads the rescue ELF
 * as a raw module of type `rescue_kernel` (loader.conf `rescue_kernel_load="YES"`,
 * preload.ts; stand/common/module.c file_loadraw), and rescue_kernel_init finds it with
 * preload_search_by_type at SI_SUB_VM_CONF, once per boot.
 */
import type { StrategyFacts } from '../strategy.js';
import { RESCUE_KERNEL_MODULE_TYPE } from './preload.js';

/** The preloaded rescue module's MODINFO_NAME (loader.conf `rescue_kernel_name`). */
export const RESCUE_MODULE_NAME = '/boot/rescue/kernel';

export const KLD_STRATEGY: StrategyFacts = Object.freeze({
  id: 'kld',
  label: 'KLD',
  armedBy: 'boot',
  loaderCopy: 'the module',
  transient: "the preloaded module's copy in RAM, from the loader until rescue_kernel_init (SI_SUB_VM_CONF)",
  replacement: Object.freeze({
    needs: 'reboot',
    describe: () =>
      'the loader preloads it (rescue_kernel_load="YES") and rescue_kernel_init reads it once at SI_SUB_VM_CONF: reboot (time: boot to running)',
  }),
  stage: (hostKernel: Uint8Array, rescue: Uint8Array) => ({
    kernel: hostKernel,
    modules: [{ name: RESCUE_MODULE_NAME, type: RESCUE_KERNEL_MODULE_TYPE, bytes: rescue }],
  }),
});
