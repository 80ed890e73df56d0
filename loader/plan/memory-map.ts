/**
 * The memory map of a machine profile: what every physical range is, what the host
 * kernel's firmware map says about it, and which RAM is free for a reservation.
 *
 * Contract: `buildMemoryMap(profile)` is pure. `entries` tile every RAM byte exactly once
 * (free RAM, the host kernel, firmware-reserved carve-outs, device-owned tables) and add
 * the reserved and MMIO ranges outside RAM; they are sorted and never overlap. `free` is
 * RAM that nothing owns: the only place a rescue reservation may go. `firmware` is the
 * neutral form of the map the firmware hands the host (EFI map, SMAP or FDT /memory).
 */
import { formatRange, type PhysRange } from '../addr.js';
import type { DeviceTable, MachineProfile, ReservedKind } from './profile.js';
import { intersectAll, normalize, subtract } from './ranges.js';

/** Who owns a range. */
export type MemoryUse =
  | 'free'
  | 'host-kernel'
  | 'firmware'
  | 'device-table'
  | 'mmio'
  /** Filled in by a plan. */
  | 'rescue-reservation';

/** One range of the machine's memory map and what it is used for. */
export interface MemoryMapEntry {
  readonly range: PhysRange;
  readonly use: MemoryUse;
  /** Human label: "host kernel", reserved/MMIO names, "lpi-conf", ... */
  readonly label: string;
  readonly ram: boolean;
}

/** A firmware map entry in neutral form (converted to EFI / SMAP / FDT by the hand-off encoders). */
export interface FirmwareMapEntry {
  readonly range: PhysRange;
  /** `ram` = usable RAM; `loader-data` = RAM holding what the loader placed (the kernel); else a reserved kind. */
  readonly type: 'ram' | 'loader-data' | ReservedKind;
}

/** The machine's physical memory as a profile describes it: RAM, reserved ranges, device tables and what firmware reports. */
export interface MemoryMap {
  readonly ram: readonly PhysRange[];
  readonly entries: readonly MemoryMapEntry[];
  readonly free: readonly PhysRange[];
  /** Ranges devices keep writing after a panic (GICv3 LPI/ITS tables): both kernels must leave them in place. */
  readonly deviceTables: readonly DeviceTable[];
  readonly firmware: readonly FirmwareMapEntry[];
}

const byStart = <T extends { range: PhysRange }>(a: T, b: T): number =>
  a.range.start < b.range.start ? -1 : a.range.start > b.range.start ? 1 : 0;

/** Builds the memory map of a profile. */
export function buildMemoryMap(profile: MachineProfile): MemoryMap {
  const ram = normalize(profile.ram);
  const reservedInRam = profile.reserved.flatMap((r) =>
    intersectAll([r.range], ram).map((range) => ({ range, use: 'firmware' as const, label: r.name, ram: true })),
  );
  const reservedOutside = profile.reserved.flatMap((r) =>
    subtract([r.range], ram).map((range) => ({ range, use: 'firmware' as const, label: r.name, ram: false })),
  );
  const host: MemoryMapEntry = { range: profile.hostKernel.range, use: 'host-kernel', label: 'host kernel', ram: true };
  const tables = profile.gic?.tables ?? [];
  const tableEntries: MemoryMapEntry[] = tables.map((t) => ({
    range: t.range,
    use: 'device-table',
    label: t.kind,
    ram: true,
  }));
  const owned = [...reservedInRam.map((e) => e.range), host.range, ...tables.map((t) => t.range)];
  const free = subtract(ram, owned);
  const entries: MemoryMapEntry[] = [
    ...free.map((range) => ({ range, use: 'free' as const, label: 'free RAM', ram: true })),
    host,
    ...reservedInRam,
    ...tableEntries,
    ...reservedOutside,
    ...profile.mmio.map((m) => ({ range: m.range, use: 'mmio' as const, label: m.name, ram: false })),
  ].sort(byStart);

  // The firmware's view: RAM (the kernel's pages as loader data), reserved kinds as they are.
  const firmware: FirmwareMapEntry[] = [
    ...subtract(ram, [...reservedInRam.map((e) => e.range), host.range]).map((range) => ({
      range,
      type: 'ram' as const,
    })),
    { range: host.range, type: 'loader-data' as const },
    ...profile.reserved.map((r) => ({ range: r.range, type: r.kind })),
  ].sort(byStart);

  return { ram, entries, free, deviceTables: tables, firmware };
}

/** One line per entry, /proc/iomem style (inclusive ends). */
export function formatMemoryMap(map: MemoryMap): string[] {
  return map.entries.map((e) => `${formatRange(e.range).padEnd(41)} ${e.use.padEnd(12)} ${e.label}`);
}
