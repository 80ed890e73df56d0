/**
 * The common last step of the memory-map importers (EFI map, SMAP, Linux memmap and iomem):
 * typed entries → machine facts.
 *
 * Contract: `factsFromMap(source, arch, firmware, entries)` puts each entry where its kind
 * says — RAM, a firmware-reserved kind, a device window, or nowhere ('ignore') — merging
 * adjacent entries of one kind and name, and records every entry in `firmwareMap` with the
 * source's own type name. Entries that overlap (other than ignored ones) are
 * IMPORT_BAD_RANGE (a firmware map describes each byte once); a map without RAM is
 * IMPORT_NO_MEMORY. Pure.
 */
import { hex } from '../addr.js';
import type { Arch } from '../arch/index.js';
import type { FirmwareKind, ReservedKind } from '../plan/profile.js';
import { ImportCode, ImportError } from './errors.js';
import {
  emptyFacts,
  firstOverlap,
  mergeRanges,
  type ImportSource,
  type MachineFacts,
  type MmioFact,
  type ReservedFact,
} from './facts.js';

/** Where a map entry goes. */
export type EntryKind = 'ram' | ReservedKind | 'mmio' | 'ignore';

/** One typed entry of a firmware map. */
export interface MapEntry {
  readonly start: bigint;
  readonly size: bigint;
  readonly kind: EntryKind;
  /** The source's name for the type ("ConventionalMemory", "System RAM", "type 2"). */
  readonly type: string;
}

/** Merges adjacent entries of the same kind and name. */
function mergeNamed<T extends { readonly start: bigint; readonly size: bigint; readonly name: string }>(
  items: readonly T[],
  same: (a: T, b: T) => boolean,
): T[] {
  const sorted = [...items].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: T[] = [];
  for (const x of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && same(last, x) && last.start + last.size === x.start) {
      out[out.length - 1] = { ...last, size: last.size + x.size };
    } else out.push(x);
  }
  return out;
}

/** Facts from typed map entries (see the module contract). */
export function factsFromMap(
  source: ImportSource,
  arch: Arch,
  firmware: FirmwareKind,
  entries: readonly MapEntry[],
): MachineFacts {
  const used = entries.filter((e) => e.kind !== 'ignore' && e.size > 0n);
  const clash = firstOverlap(used);
  if (clash !== undefined) {
    const [a, b] = clash;
    throw new ImportError(
      ImportCode.BadRange,
      `import: the ${source} describes ${hex(b.start)} twice (${hex(a.start)}+${hex(a.size)} and ${hex(b.start)}+${hex(b.size)})`,
      { first: a, second: b },
    );
  }
  const ram = mergeRanges(used.filter((e) => e.kind === 'ram'));
  if (ram.length === 0) {
    throw new ImportError(
      ImportCode.NoMemory,
      `import: the ${source} lists no RAM: give the RAM with --memory BASE:SIZE`,
      {
        entries: entries.length,
        hint: '--memory',
      },
    );
  }
  const reserved: ReservedFact[] = [];
  const mmio: MmioFact[] = [];
  for (const e of used) {
    if (e.kind === 'ram' || e.kind === 'ignore') continue;
    if (e.kind === 'mmio') mmio.push({ name: e.type, start: e.start, size: e.size });
    else reserved.push({ name: e.type, kind: e.kind, start: e.start, size: e.size });
  }
  return {
    ...emptyFacts(source, arch, firmware),
    ram,
    reserved: mergeNamed(reserved, (a, b) => a.kind === b.kind && a.name === b.name),
    mmio: mergeNamed(mmio, (a, b) => a.name === b.name),
    firmwareMap: entries
      .filter((e) => e.size > 0n)
      .map((e) => ({ start: e.start, end: e.start + e.size - 1n, type: e.type })),
  };
}
