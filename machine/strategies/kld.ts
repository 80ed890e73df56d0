/**
 * The kld strategy in the machine: rescue_kernel_init finds the preloaded rescue module with
 * preload_search_by_type("rescue_kernel") over the preload metadata (modinfo) in guest RAM,
 * its MODINFO_ADDR turned into a PA the way the kernel's metadata addressing says
 * (sys/kern/subr_module.c; freebsd-handoff.md §1.5). Pure facts: loader/preload/strategy.ts.
 */
import { phys, size } from '../../loader/addr.js';
import { decodeModinfo, groupModules } from '../../loader/handoff/modinfo.js';
import { RESCUE_KERNEL_MODULE_TYPE } from '../../loader/preload/index.js';
import { KLD_STRATEGY } from '../../loader/preload/strategy.js';
import { MachineCode, MachineError } from '../errors.js';
import { HANDOFF_READ_LIMIT, metadataToPhys, ramReader } from '../host/handoff.js';
import type { FoundRescue, RescueStrategy, VmConfHost } from './strategy.js';

/** preload_search_by_type over the metadata in guest RAM. */
function findPreloaded(host: VmConfHost): FoundRescue {
  const { model, ram } = host;
  const records = decodeModinfo(ramReader(ram)(model.handoff.modulepPa, HANDOFF_READ_LIMIT, 'modulep'));
  const mod = groupModules(records).find((m) => m.type === RESCUE_KERNEL_MODULE_TYPE);
  if (mod === undefined) {
    throw new MachineError(
      MachineCode.HostModel,
      `machine: no preloaded module of type ${RESCUE_KERNEL_MODULE_TYPE}`,
      {},
    );
  }
  return {
    pa: phys(metadataToPhys(model.arch, model.kernbasePa, mod.addr)),
    size: size(mod.size),
    how: `the preloaded module ${mod.name}`,
  };
}

export const KLD: RescueStrategy = Object.freeze({
  ...KLD_STRATEGY,
  findAtVmConf: findPreloaded,
  unarmedReason: () => 'rescue_kernel_init did not arm a rescue kernel',
});
