/**
 * planRescue(): rescue kernel image + machine profile + options → a validated LoadPlan for a
 * rescue (crash) kernel hand-off, the D47358 way: one reservation holding the hand-off
 * metadata and, at +2 MiB, the raw rescue kernel file.
 *
 * Contract: pure (bytes and values in, an immutable plan out). Every input problem is
 * reported as a KbootError with all its facts: PLAN_ARCH_MISMATCH, PLAN_NOT_RESCUE_KERNEL
 * (every failed lint rule), PLAN_NO_HOLE / PLAN_BAD_PLACEMENT, PLAN_METADATA_TOO_LARGE,
 * PLAN_FIRMWARE_MAP, PLAN_INVALID (validatePlan). Things that do not stop the hand-off but
 * will bite at panic time (the arm64 LPI/ITS tables, a host without debug.rescue_minidump)
 * are returned as warnings; the live LPI tables are handed off as `itsHandoff` says
 * (./its-handoff.ts: the ITS_TABLES_LIVE warning stays only for `none`). Sources:
 * shared/spec/freebsd-handoff.md §7, §8, §10.
 */
import { add, alignUp, formatRange, hex, size, sub, SZ_4K, type PhysAddr, type Size } from '../addr.js';
import { archInfo } from '../arch/index.js';
import type { ElfImage } from '../elf/image.js';
import { lintRescueKernel, type RescueLint } from '../elf/rescue-lint.js';
import { PlanCode, PlanError } from '../errors.js';
import { RESCUE_DEFAULT_MEMSIZE, RESCUE_KERNEL_OFFSET } from '../kernel-abi/rescue.js';
import { hostFirmware, type HostFirmware } from './firmware.js';
import {
  makeRelocation,
  requireSameArch,
  validatePlan,
  type LoadPlan,
  type PlanWarning,
  type Segment,
} from './load-plan.js';
import { buildMemoryMap } from './memory-map.js';
import type { DeviceTable, MachineProfile } from './profile.js';
import { normalize, subtract } from './ranges.js';
import { buildRescueArea, type RescueArea } from './rescue-area.js';
import { resolveItsHandoff, type ItsHandoff, type ItsHandoffMode } from './its-handoff.js';
import { memsizeFromKenv, placeReservation, reservationSize } from './reservation.js';

/** What planRescue needs: the rescue kernel, the machine and optionally the memsize and placement. */
export interface RescuePlanRequest {
  readonly kernel: ElfImage;
  /** Shown in labels ("kernel rescue.elf"). */
  readonly kernelName: string;
  readonly profile: MachineProfile;
  /** rescue_memsize; default: the profile's debug.rescue_memsize, else 128 MiB. */
  readonly memsize?: Size;
  /** Exact reservation address. */
  readonly at?: PhysAddr;
  readonly prefer?: 'highest' | 'lowest';
  /** How the live GICv3 LPI tables are handed off (default: the mode that works for the firmware). */
  readonly itsHandoff?: ItsHandoffMode;
}

/** How the reservation size was made up. */
export interface ReservationSizing {
  readonly memsize: Size;
  readonly memsizeSource: 'option' | 'kenv' | 'default';
  readonly kernelFile: Size;
  readonly metadata: Size;
  readonly total: Size;
}

/** A rescue LoadPlan plus what it was made from. */
export interface RescuePlan extends LoadPlan {
  readonly kernelName: string;
  readonly lint: RescueLint;
  readonly sizing: ReservationSizing;
  readonly firmware: HostFirmware;
  readonly area: RescueArea;
  /** The GICv3 ITS hand-off the area carries. */
  readonly itsHandoff: ItsHandoff;
}

/** The bytes a rescue reservation needs for this kernel and profile (like `kexec --print-ckr-size`). */
export function rescueReservationSizing(kernel: ElfImage, profile: MachineProfile, memsize?: Size): ReservationSizing {
  const fromKenv = memsizeFromKenv(profile.hostKernel.kenv);
  const ms = memsize ?? fromKenv ?? RESCUE_DEFAULT_MEMSIZE;
  const source = memsize !== undefined ? 'option' : fromKenv !== undefined ? 'kenv' : 'default';
  const kernelFile = size(kernel.fileSize);
  const total = reservationSize(ms, kernelFile);
  return { memsize: ms, memsizeSource: source, kernelFile, metadata: RESCUE_KERNEL_OFFSET, total };
}

/** Plans a rescue hand-off (see the module contract). */
export function planRescue(req: RescuePlanRequest): RescuePlan {
  const { kernel, profile } = req;
  const arch = profile.arch;
  requireSameArch(kernel, req.kernelName, profile);
  const lint = lintRescueKernel(kernel);
  if (!lint.ok) {
    throw new PlanError(
      PlanCode.NotRescueKernel,
      `plan: ${req.kernelName} cannot be used as a rescue kernel:\n${lint.problems.map((p) => `  [${p.rule}] ${p.message}`).join('\n')}`,
      { problems: lint.problems },
    );
  }
  const sizing = rescueReservationSizing(kernel, profile, req.memsize);
  const map = buildMemoryMap(profile);
  const placement = placeReservation(map, {
    arch,
    size: sizing.total,
    ...(req.at === undefined ? {} : { at: req.at }),
    ...(req.prefer === undefined ? {} : { prefer: req.prefer }),
  });
  const region = placement.region;
  const firmware = hostFirmware(profile, map);
  const itsHandoff = resolveItsHandoff(profile, req.itsHandoff);
  const area = buildRescueArea({
    its: itsHandoff,
    arch,
    region,
    firmware,
    hostKenv: profile.hostKernel.kenv,
    boothowto: profile.hostKernel.boothowto,
  });

  const info = archInfo(arch);
  const kernelPhys = add(region.start, RESCUE_KERNEL_OFFSET);
  const relocation = makeRelocation(region, kernelPhys, info.kernstart);
  const footprint = alignUp(lint.footprint, SZ_4K);
  const room = sub(region.size, RESCUE_KERNEL_OFFSET);
  if (footprint > room) {
    throw new PlanError(
      PlanCode.BadMemsize,
      `plan: the rescue kernel's memory image (${hex(footprint)} bytes with BSS) does not fit in the ${hex(room)} bytes after +2 MiB; raise debug.rescue_memsize`,
      { footprint, room },
    );
  }
  const kernelSeg: Segment = {
    kind: 'kernel',
    label: `kernel ${req.kernelName}`,
    phys: kernelPhys,
    data: kernel.bytes,
    memSize: footprint,
    align: RESCUE_KERNEL_OFFSET,
  };
  const entryVa = kernel.entry;
  if (entryVa === undefined) {
    // the lint's 'entry-in-text' rule already refused this
    throw new PlanError(PlanCode.NotRescueKernel, `plan: ${req.kernelName} has no entry point`, {});
  }
  const tables = map.deviceTables;
  const runtime = profile.reserved.filter((r) => r.kind !== 'reserved').map((r) => r.range);
  const usedMemory = {
    rescueWritable: [region],
    rescueReadOnly: subtract(map.ram, [region, ...tables.map((t) => t.range), ...runtime]),
    untouchable: normalize([...tables.map((t) => t.range), ...runtime]),
  };
  const warnings = planWarnings(profile, tables, itsHandoff);
  const plan: RescuePlan = {
    arch,
    profileName: profile.name,
    memoryMap: map,
    region,
    placementWhy: placement.why,
    rescueMemsize: sizing.memsize,
    relocation,
    segments: [...area.segments, kernelSeg].sort((a, b) => (a.phys < b.phys ? -1 : 1)),
    entry: relocation.toPhys(entryVa),
    kernelEntryVa: entryVa,
    deviceReservations: tables.map((t) => ({ reason: t.kind, range: t.range })),
    usedMemory,
    warnings,
    kernelName: req.kernelName,
    lint,
    sizing,
    firmware,
    area,
    itsHandoff,
  };
  validatePlan(plan);
  return plan;
}

/** What the user must know about a plan that stands: rescue not enabled in the kenv, live ITS tables. */
function planWarnings(profile: MachineProfile, tables: readonly DeviceTable[], its: ItsHandoff): PlanWarning[] {
  const warnings: PlanWarning[] = [];
  if (!profile.hostKernel.kenv.some(([k, v]) => k === 'debug.rescue_minidump' && v !== '0' && v !== '')) {
    warnings.push({
      code: 'RESCUE_NOT_ENABLED',
      message:
        'the host kenv does not set debug.rescue_minidump=1: rescue_kernel_init will not reserve anything at boot (embed and KLD strategies)',
    });
  }
  if (tables.length > 0 && its.mode === 'none') {
    warnings.push({
      code: 'ITS_TABLES_LIVE',
      message: `${tables.length} GICv3 LPI/ITS tables stay live after the panic (${tables
        .map((t) => `${t.kind} ${formatRange(t.range)}`)
        .join(
          ', ',
        )}); the reservation avoids them, but the D47358 rescue kernel is not told about them (no FW_HANDLE, no reserved-memory for them) and panics in gicv3_its if LPIs are still enabled`,
    });
  }
  return warnings;
}
