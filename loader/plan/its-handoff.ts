/**
 * The GICv3 ITS hand-off: how the rescue kernel is told which LPI tables the GIC still owns
 * (shared/spec/freebsd-handoff.md §7). A FreeBSD kernel that finds GICR_CTLR.EnableLPIs set
 * reuses GICR_PROPBASER's configuration table and each GICR_PENDBASER's pending table, and
 * panics unless each lies in a physmem-excluded range its direct map covers
 * (sys/arm64/arm64/gicv3_its.c gicv3_its_conftable_init, its_init_cpu_lpi).
 *
 * Modes:
 *  - `none`: D47358's bytes, nothing about the tables (the rescue kernel would panic);
 *  - `memreserve` (EFI firmware): a descriptor page in the reservation's metadata area (EFI
 *    system table, a LINUX_EFI_MEMRESERVE configuration entry, one linux_efi_memreserve
 *    record: loader/handoff/memreserve.ts), its address as FW_HANDLE, the page itself as an
 *    EFI_MD_TYPE_RT_DATA descriptor with EFI_MD_ATTR_RT and md_virt == md_phys (so
 *    exclude_efi_memreserve's efi_early_map finds st_cfgtbl), and every LPI table as a
 *    conventional-memory descriptor (so the direct map covers it; the MEMRESERVE entries
 *    exclude it). D47358's rescue kernel synthesizes its own metadata and has no FW_HANDLE:
 *    kboot appends `kp_fwhandle` (a magic, then the u64) after struct rescue_kernel_params, a proposed D47358
 *    extension (rescue_preload_init would add it as MODINFOMD_FW_HANDLE).
 *  - `fdt` (FDT firmware): the rescue DTB gets a `/reserved-memory/its-lpi@<pa>` child with
 *    `no-map` per table (fdt_foreach_reserved_mem excludes them) and the tables added to the
 *    `/memory` reg (so the direct map covers them).
 *
 * Contract: pure. `defaultItsHandoff(profile)` is the mode that works for the profile's
 * firmware (`none` without LPI tables); `resolveItsHandoff` refuses a mode the firmware cannot
 * carry (PLAN_ITS_HANDOFF, with the firmware and mode in details).
 */
import { alignDown, alignUp, endAddr, SZ_4K, type PhysRange } from '../addr.js';
import { PlanCode, PlanError } from '../errors.js';
import type { MachineProfile } from './profile.js';

export const ITS_HANDOFF_MODES = ['none', 'memreserve', 'fdt'] as const;
export type ItsHandoffMode = (typeof ITS_HANDOFF_MODES)[number];

/** What the plan hands the rescue kernel about the live LPI tables. */
export interface ItsHandoff {
  readonly mode: ItsHandoffMode;
  /** Whether the mode was the default for the profile. */
  readonly defaulted: boolean;
  /** The LPI configuration and pending tables (GICR_PROPBASER / GICR_PENDBASER targets). */
  readonly ranges: readonly PhysRange[];
}

/** The LPI tables a profile's GICv3 keeps live (configuration table first, then each CPU's pending table). */
export function lpiTableRanges(profile: MachineProfile): PhysRange[] {
  const tables = profile.gic?.version === 'v3' ? profile.gic.tables : [];
  return [
    ...tables.filter((t) => t.kind === 'lpi-conf').map((t) => t.range),
    ...tables.filter((t) => t.kind === 'lpi-pend').map((t) => t.range),
  ];
}

/** The mode that works for the profile's firmware. */
export function defaultItsHandoff(profile: MachineProfile): ItsHandoffMode {
  if (lpiTableRanges(profile).length === 0) return 'none';
  return profile.firmware === 'fdt' ? 'fdt' : 'memreserve';
}

/** The hand-off for `profile` with `mode` (default: defaultItsHandoff). */
export function resolveItsHandoff(profile: MachineProfile, mode?: ItsHandoffMode): ItsHandoff {
  const ranges = lpiTableRanges(profile);
  const chosen = mode ?? defaultItsHandoff(profile);
  const carried =
    chosen === 'none' || (chosen === 'memreserve' ? profile.firmware === 'efi' : profile.firmware === 'fdt');
  if (!carried) {
    throw new PlanError(
      PlanCode.ItsHandoff,
      `plan: --its-handoff ${chosen} needs ${chosen === 'memreserve' ? 'EFI' : 'FDT'} firmware, and ${profile.name} boots with ${profile.firmware}`,
      { mode: chosen, firmware: profile.firmware, machine: profile.name },
    );
  }
  return { mode: ranges.length === 0 ? 'none' : chosen, defaulted: mode === undefined, ranges };
}

/** The page-rounded span of a table (an EFI descriptor counts whole pages). */
export function pageSpan(r: PhysRange): { start: bigint; pages: bigint } {
  const start = alignDown(r.start, SZ_4K);
  return { start, pages: (alignUp(endAddr(r), SZ_4K) - start) / SZ_4K };
}
