/**
 * The embed strategy's pure facts (loader/strategy.ts): RESCUE_EMBED links the rescue ELF into
 * the host kernel image between rescue_start and rescue_end (embed.ts; markjdb/freebsd
 * @bd74b35 sys/conf/kern.post.mk), so the loader carries it inside the kernel and a new
 * rescue kernel means a new host kernel.
 */
import type { StrategyFacts } from '../strategy.js';
import { embedRescue } from './embed.js';

export const EMBED_STRATEGY: StrategyFacts = Object.freeze({
  id: 'embed',
  label: 'embed',
  armedBy: 'boot',
  loaderCopy: 'inside the kernel image',
  transient:
    'the embedded copy inside the host kernel image, from the loader on (debug.rescue_free_kernel may free it after staging)',
  replacement: Object.freeze({
    needs: 'rebuild',
    describe: () =>
      'RESCUE_EMBED links it into the host kernel: rebuild the kernel, install it and reboot (time: re-embed + boot to running)',
  }),
  stage: (hostKernel: Uint8Array, rescue: Uint8Array) => ({ kernel: embedRescue(hostKernel, rescue), modules: [] }),
});
