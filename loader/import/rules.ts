/**
 * Every D47358 rule kboot's planner checks, answered for one machine (an imported board or a
 * built-in profile), each with all its facts — so `kboot machine import` / `show` say which
 * rule a real board keeps or breaks before any rescue kernel exists.
 *
 * Contract: `rescueRules(profile, opts)` is pure. It sizes a nominal reservation
 * (rescue_memsize from the profile's kenv, else 128 MiB, plus a rescue kernel file of
 * `opts.kernelFileSize`, default 32 MiB, plus 2 MiB — reservationSize), then reports:
 *  - `1g-boundary`: a 2 MiB-aligned run of free RAM not crossing a 1 GiB boundary exists
 *    (kmem_alloc_contig(..., RESCUE_RESERV_ALIGN, RESCUE_RESERV_BOUNDARY));
 *  - `below-4g`: such a run below 4 GiB (amd64 must: "amd64 kernel assumes that it is
 *    loaded below 4GB"; arm64 falls back to anywhere below VM_MAX_USER_ADDRESS: warning);
 *  - `memory-reg-inplace` (FDT): rescue_kernel_init_fdt rewrites the first /memory's reg with
 *    fdt_setprop_inplace, which fails with -FDT_ERR_NOSPACE unless the old reg is exactly
 *    one (address, size) pair, and 1-cell fields must hold rescue_pa / memsize;
 *  - `single-memory-node` (FDT): only the first memory node is rewritten, so any other one
 *    hands host RAM to the rescue kernel (and a FreeBSD host booted from the DTB alone sees
 *    only the first: fdt_get_mem_regions reads OF_finddevice("/memory"));
 *  - `its-tables-live` (arm64): GICv3 LPI/ITS tables stay live after the panic and the rescue
 *    kernel is not told (no FW_HANDLE, so no MEMRESERVE table): warning; unknown when the
 *    GIC was assumed;
 *  - `firmware-map-filtering` (EFI): rescue_kernel_init_efimap drops RAM descriptors except
 *    the one holding rescue_pa (rewritten) and, on amd64, RAM at PA 0 — kept as RAM for the
 *    rescue kernel although it is host memory (warning); SMAP: one entry, the reservation;
 *  - `metadata-fits`: params, the firmware map copy and the kenv end before +2 MiB
 *    ("rescue: kernel metadata is too large").
 * Sources: shared/spec/freebsd-handoff.md §7, §8.2, §8.3; markjdb/freebsd @bd74b35
 * rescue_machdep.c; loader/plan/reservation.ts and rescue-area.ts (the planner's own checks).
 */
import { formatRange, hex, rangeEnd, SZ_4G, type PhysRange, type Size } from '../addr.js';
import { archInfo } from '../arch/index.js';
import { KbootError, PlanCode } from '../errors.js';
import { decodeEfiMap, filterEfiMapForRescue, efiPhysmemType, EFI_PAGE_SIZE } from '../handoff/efimap.js';
import { getProp, parseFdt, propU32, type FdtNode } from '../handoff/fdt/index.js';
import { RESCUE_DEFAULT_MEMSIZE, RESCUE_RESERV_ALIGN, RESCUE_RESERV_BOUNDARY } from '../kernel-abi/rescue.js';
import { hostFirmware, type HostFirmware } from '../plan/firmware.js';
import { buildMemoryMap } from '../plan/memory-map.js';
import type { MachineProfile } from '../plan/profile.js';
import { findHole } from '../plan/ranges.js';
import { buildRescueArea } from '../plan/rescue-area.js';
import { memsizeFromKenv, placeReservation, reservationSize } from '../plan/reservation.js';

/** How a machine fares under one rule. */
export type RuleStatus = 'ok' | 'fails' | 'warning' | 'unknown' | 'not-applicable';

/** One rule's answer. */
export interface RuleResult {
  readonly rule:
    | '1g-boundary'
    | 'below-4g'
    | 'memory-reg-inplace'
    | 'single-memory-node'
    | 'its-tables-live'
    | 'firmware-map-filtering'
    | 'metadata-fits';
  readonly status: RuleStatus;
  readonly message: string;
}

/** The nominal reservation the rules are checked for. */
export interface RulesReport {
  readonly reservationSize: Size;
  readonly kernelFileSize: Size;
  readonly memsize: Size;
  /** Where the planner would put it (highest, as `kboot plan` does), if anywhere. */
  readonly region: PhysRange | undefined;
  readonly rules: readonly RuleResult[];
}

/** A nominal rescue kernel file: about what a RESCUE config of GENERIC weighs. */
export const NOMINAL_RESCUE_KERNEL = (32n << 20n) as Size;

function holeRules(profile: MachineProfile, total: Size): RuleResult[] {
  const map = buildMemoryMap(profile);
  const info = archInfo(profile.arch);
  const req = { size: total, align: RESCUE_RESERV_ALIGN, boundary: RESCUE_RESERV_BOUNDARY, prefer: 'highest' as const };
  const anywhere = findHole(map.free, { ...req, below: info.rescueHardLimit });
  const low = findHole(map.free, { ...req, below: SZ_4G });
  const size = `${hex(total)}-byte reservation`;
  const boundary: RuleResult =
    anywhere === undefined
      ? {
          rule: '1g-boundary',
          status: 'fails',
          message: `no 2 MiB-aligned run of free RAM holds a ${size} without crossing a 1 GiB boundary`,
        }
      : {
          rule: '1g-boundary',
          status: 'ok',
          message: `a ${size} fits 2 MiB aligned inside one 1 GiB window (e.g. ${formatRange(anywhere)})`,
        };
  let below: RuleResult;
  if (low !== undefined)
    below = { rule: 'below-4g', status: 'ok', message: `a ${size} fits below 4 GiB (${formatRange(low)})` };
  else if (profile.arch === 'amd64') {
    below = {
      rule: 'below-4g',
      status: 'fails',
      message: `no room for a ${size} below 4 GiB, where amd64 must put it (kmem_alloc_contig high = 4 GiB)`,
    };
  } else if (anywhere !== undefined) {
    below = {
      rule: 'below-4g',
      status: 'warning',
      message: `no room below 4 GiB: arm64 falls back to ${formatRange(anywhere)} (below VM_MAX_USER_ADDRESS, so TTBR0 can map it)`,
    };
  } else below = { rule: 'below-4g', status: 'fails', message: `no room for a ${size} anywhere` };
  return [boundary, below];
}

function memoryNodes(root: FdtNode): FdtNode[] {
  return root.children.filter((c) => c.name === 'memory' || c.name.startsWith('memory@'));
}

function cells(root: FdtNode, name: string): number | undefined {
  const p = getProp(root, name);
  return p !== undefined && p.value.length === 4 ? propU32(p) : undefined;
}

function fdtRules(fw: HostFirmware, region: PhysRange | undefined): RuleResult[] {
  if (fw.kind !== 'fdt') {
    return [
      { rule: 'memory-reg-inplace', status: 'not-applicable', message: `the host has no device tree (${fw.kind})` },
      { rule: 'single-memory-node', status: 'not-applicable', message: `the host has no device tree (${fw.kind})` },
    ];
  }
  const root = parseFdt(fw.bytes).root;
  const mems = memoryNodes(root);
  const first = mems[0];
  const ac = cells(root, '#address-cells');
  const sc = cells(root, '#size-cells');
  let inplace: RuleResult;
  if (first === undefined || ac === undefined || sc === undefined) {
    inplace = {
      rule: 'memory-reg-inplace',
      status: 'fails',
      message: first === undefined ? 'no /memory node to rewrite' : 'the root has no #address-cells / #size-cells',
    };
  } else {
    const len = getProp(first, 'reg')?.value.length ?? 0;
    const need = 4 * (ac + sc);
    const tooBig =
      region !== undefined && ((ac === 1 && rangeEnd(region) > 1n << 32n) || (sc === 1 && region.size >= 1n << 32n));
    inplace =
      len !== need
        ? {
            rule: 'memory-reg-inplace',
            status: 'fails',
            message: `/${first.name} reg is ${len} bytes (${len / need} (address, size) pairs), but fdt_setprop_inplace can only replace it with one ${need}-byte pair: -FDT_ERR_NOSPACE, rescue_kernel_init fails`,
          }
        : tooBig
          ? {
              rule: 'memory-reg-inplace',
              status: 'fails',
              message: `the reservation does not fit ${ac}-cell addresses / ${sc}-cell sizes (cpu_to_fdt32 truncates it)`,
            }
          : {
              rule: 'memory-reg-inplace',
              status: 'ok',
              message: `/${first.name} reg is one ${need}-byte pair: rewritten in place to <rescue_pa memsize>`,
            };
  }
  const others = mems.slice(1).map((m) => `/${m.name}`);
  const single: RuleResult =
    others.length === 0
      ? { rule: 'single-memory-node', status: 'ok', message: 'one memory node' }
      : {
          rule: 'single-memory-node',
          status: 'fails',
          message: `${mems.length} memory nodes: only /${first?.name ?? 'memory'} is rewritten, so ${others.join(', ')} would give the rescue kernel host RAM (and a FreeBSD host booted from this DTB alone sees only the first: fdt_get_mem_regions reads OF_finddevice("/memory"))`,
        };
  return [inplace, single];
}

function itsRule(profile: MachineProfile): RuleResult {
  if (profile.arch !== 'arm64')
    return { rule: 'its-tables-live', status: 'not-applicable', message: 'amd64 has no GICv3 ITS' };
  if (profile.assumptions.some((a) => a.code === 'GIC_ASSUMED')) {
    return {
      rule: 'its-tables-live',
      status: 'unknown',
      message: 'the interrupt controller was assumed: whether an ITS keeps LPI tables live is unknown',
    };
  }
  const gic = profile.gic;
  if (gic === undefined || gic.its.length === 0) {
    return {
      rule: 'its-tables-live',
      status: 'ok',
      message: gic?.version === 'v2' ? 'GICv2: no ITS, no LPI tables' : 'GICv3 without an ITS: no LPI tables in use',
    };
  }
  return {
    rule: 'its-tables-live',
    status: 'warning',
    message: `${gic.its.length} ITS and ${gic.tables.length} LPI/ITS tables stay live after the panic; the rescue kernel is not told (no FW_HANDLE, no MEMRESERVE table) and panics in gicv3_its if LPIs are still enabled`,
  };
}

function filterRule(profile: MachineProfile, fw: HostFirmware, region: PhysRange | undefined): RuleResult {
  if (fw.kind === 'smap')
    return {
      rule: 'firmware-map-filtering',
      status: 'ok',
      message: 'BIOS: the rescue kernel gets one SMAP entry, the reservation',
    };
  if (fw.kind === 'fdt')
    return {
      rule: 'firmware-map-filtering',
      status: 'not-applicable',
      message: 'FDT: /memory is rewritten instead (memory-reg-inplace)',
    };
  if (region === undefined)
    return { rule: 'firmware-map-filtering', status: 'unknown', message: 'no reservation to filter the EFI map for' };
  const descriptors = decodeEfiMap(fw.bytes).descriptors;
  const kept = filterEfiMapForRescue(descriptors, region.start, region.size, profile.arch).filter((d) =>
    efiPhysmemType(d.mdType),
  );
  const host = kept.filter((d) => d.mdPhys !== region.start);
  if (host.length === 0) {
    return {
      rule: 'firmware-map-filtering',
      status: 'ok',
      message: `every RAM descriptor is dropped but the reservation's (${descriptors.length} descriptors in, ${kept.length} RAM out)`,
    };
  }
  return {
    rule: 'firmware-map-filtering',
    status: 'warning',
    message: `host RAM stays RAM in the rescue kernel's EFI map: ${host.map((d) => `${hex(d.mdPhys)}+${hex(d.mdPages * EFI_PAGE_SIZE)}`).join(', ')} (amd64 keeps a RAM descriptor starting at PA 0)`,
  };
}

function metadataRule(profile: MachineProfile, fw: HostFirmware, region: PhysRange | undefined): RuleResult {
  if (region === undefined) return { rule: 'metadata-fits', status: 'unknown', message: 'no reservation to lay out' };
  try {
    const area = buildRescueArea({
      arch: profile.arch,
      region,
      firmware: fw,
      hostKenv: profile.hostKernel.kenv,
      boothowto: 0,
    });
    return {
      rule: 'metadata-fits',
      status: 'ok',
      message: `params, ${area.layout.firmware.kind} copy and kenv end at +${hex(area.layout.metadataEnd)}, before the kernel at +2 MiB`,
    };
  } catch (e) {
    if (e instanceof KbootError && e.code === PlanCode.MetadataTooLarge)
      return { rule: 'metadata-fits', status: 'fails', message: e.message };
    if (e instanceof KbootError && e.code === PlanCode.FirmwareMap) {
      return {
        rule: 'metadata-fits',
        status: 'unknown',
        message: 'the firmware map copy cannot be made (see memory-reg-inplace)',
      };
    }
    throw e;
  }
}

/** Every D47358 rule for the machine (see the module contract). */
export function rescueRules(profile: MachineProfile, opts: { readonly kernelFileSize?: Size } = {}): RulesReport {
  const memsize = memsizeFromKenv(profile.hostKernel.kenv) ?? RESCUE_DEFAULT_MEMSIZE;
  const kernelFileSize = opts.kernelFileSize ?? NOMINAL_RESCUE_KERNEL;
  const total = reservationSize(memsize, kernelFileSize);
  const map = buildMemoryMap(profile);
  let region: PhysRange | undefined;
  try {
    region = placeReservation(map, { arch: profile.arch, size: total }).region;
  } catch (e) {
    if (!(e instanceof KbootError && e.code === PlanCode.NoHole)) throw e;
  }
  const fw = hostFirmware(profile, map);
  return {
    reservationSize: total,
    kernelFileSize,
    memsize,
    region,
    rules: [
      ...holeRules(profile, total),
      ...fdtRules(fw, region),
      itsRule(profile),
      filterRule(profile, fw, region),
      metadataRule(profile, fw, region),
    ],
  };
}
