/**
 * The embed strategy in the machine: rescue_kernel_init finds the rescue ELF inside the host
 * kernel image between the rescue_start and rescue_end symbols (D47358 kern_rescue.c takes
 * `&rescue_end - &rescue_start` as its length; freebsd-handoff.md §8.2). Pure facts:
 * loader/embed/strategy.ts.
 */
import { offsetFrom } from '../../loader/addr.js';
import { RESCUE_END_SYMBOL, RESCUE_START_SYMBOL } from '../../loader/embed/index.js';
import { EMBED_STRATEGY } from '../../loader/embed/strategy.js';
import { MachineCode, MachineError } from '../errors.js';
import type { FoundRescue, RescueStrategy, VmConfHost } from './strategy.js';

/** rescue_start .. rescue_end in the host's symbol table. */
function findEmbedded(host: VmConfHost): FoundRescue {
  const symbols = host.model.kernel.symbols;
  const start = symbols[RESCUE_START_SYMBOL];
  const end = symbols[RESCUE_END_SYMBOL];
  if (start === undefined || end === undefined) {
    throw new MachineError(
      MachineCode.HostModel,
      `machine: the host kernel has no ${RESCUE_START_SYMBOL}/${RESCUE_END_SYMBOL} (not built with RESCUE_EMBED)`,
      {},
    );
  }
  return { pa: start.pa, size: offsetFrom(end.va, start.va), how: 'the kernel image (rescue_start..rescue_end)' };
}

export const EMBED: RescueStrategy = Object.freeze({
  ...EMBED_STRATEGY,
  findAtVmConf: findEmbedded,
  unarmedReason: () => 'rescue_kernel_init did not arm a rescue kernel',
});
