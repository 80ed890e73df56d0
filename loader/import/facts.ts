/**
 * What an importer learned about a machine, before it becomes a profile: RAM as the firmware
 * reports it, firmware-reserved ranges with the profile kind each maps to, device windows,
 * the console UART, the interrupt controller, the CPU count, and every assumption made on
 * the way. `buildImportedProfile` (build.ts) turns these facts into a profile.
 *
 * Contract: plain data; addresses are plain bigints here (the parsers check each range
 * against 2^64 with `factRange`, which raises IMPORT_BAD_RANGE, so no AddrError escapes a
 * parser) and become branded ranges only in the profile. Assumptions carry a stable `code`
 * (tests match codes, never text) and a sentence saying what was assumed and why.
 */
import { U64_LIMIT, hex } from '../addr.js';
import type { Arch } from '../arch/index.js';
import type { FirmwareKind, ReservedKind } from '../plan/profile.js';
import { ImportCode, ImportError } from './errors.js';

/** Where facts came from (the `kboot machine import` option). */
export type ImportSource = 'dtb' | 'efi-map' | 'smap' | 'memmap' | 'iomem' | 'host';

/** A half-open range `[start, start + size)`. */
export interface FactRange {
  readonly start: bigint;
  readonly size: bigint;
}

/** Something the importer had to assume, with a stable code. */
export interface Assumption {
  readonly code: string;
  readonly message: string;
}

/** A firmware-reserved range and the profile kind it maps to. */
export interface ReservedFact extends FactRange {
  readonly name: string;
  readonly kind: ReservedKind;
}

/** A device window (never RAM). */
export interface MmioFact extends FactRange {
  readonly name: string;
}

/** The console UART as the board describes it. */
export interface UartFact {
  /** Device-tree path, or where the fact came from. */
  readonly path: string;
  readonly compatible: readonly string[];
  /** pl011: a PL011 (arm,pl011 / arm,sbsa-uart); ns16550: a 16550 (ns16550a, snps,dw-apb-uart, ...); other: anything else. */
  readonly kind: 'pl011' | 'ns16550' | 'other';
  readonly base: bigint | undefined;
  readonly size: bigint | undefined;
  readonly regShift: number;
  readonly regIoWidth: number;
  /** kboot's CPU models this UART as it is (a PL011 at its address on arm64, COM1 on amd64). */
  readonly modelled: boolean;
  /** Why not, when not. */
  readonly why?: string;
}

/** One GICv3 ITS or GICv2m MSI frame. */
export interface MsiFrameFact extends FactRange {
  readonly path: string;
}

/** The interrupt controller. */
export interface GicFact {
  readonly version: 'v2' | 'v3';
  readonly path: string;
  readonly compatible: string;
  readonly distributor: FactRange;
  /** GICv2 CPU interface (GICC). */
  readonly cpuInterface: FactRange | undefined;
  /** GICv3 redistributor regions (#redistributor-regions of them). */
  readonly redistributors: readonly FactRange[];
  /** Every enabled GICv3 ITS. */
  readonly its: readonly MsiFrameFact[];
  /** Every enabled GICv2m frame. */
  readonly v2m: readonly MsiFrameFact[];
}

/** A /memory node as the tree has it. */
export interface MemoryNodeFact {
  readonly path: string;
  readonly ranges: readonly FactRange[];
  /** reg bytes: one (address, size) pair is what fdt_setprop_inplace can replace. */
  readonly regBytes: number;
}

/** A /reserved-memory child. */
export interface ReservedMemoryFact {
  readonly path: string;
  /** Static `reg` ranges (empty for a dynamic one). */
  readonly ranges: readonly FactRange[];
  /** Dynamic: `size` (and `alloc-ranges`) instead of `reg`, placed by the OS at boot. */
  readonly dynamicSize: bigint | undefined;
  readonly noMap: boolean;
  readonly reusable: boolean;
  /** What FreeBSD does with it (fdt_get_reserved_mem takes only no-map children with reg). */
  readonly freebsd: 'excluded' | 'ram' | 'not-placeable' | 'disabled';
}

/** One entry of a firmware map as it was read (inclusive end, the source's own type name). */
export interface MapEntryFact {
  readonly start: bigint;
  readonly end: bigint;
  readonly type: string;
}

/** Everything one importer learned. */
export interface MachineFacts {
  readonly source: ImportSource;
  readonly arch: Arch;
  readonly firmware: FirmwareKind;
  readonly model: string | undefined;
  readonly compatible: readonly string[];
  /** RAM as the firmware reports it (not yet page-rounded or carved). */
  readonly ram: readonly FactRange[];
  readonly reserved: readonly ReservedFact[];
  readonly mmio: readonly MmioFact[];
  readonly cpus: number | undefined;
  readonly uart: UartFact | undefined;
  readonly gic: GicFact | undefined;
  readonly memoryNodes: readonly MemoryNodeFact[];
  readonly memReserve: readonly FactRange[];
  readonly reservedMemory: readonly ReservedMemoryFact[];
  /** The map entries as read, for `kboot machine show` and the provenance. */
  readonly firmwareMap: readonly MapEntryFact[];
  /** Linux's crashkernel= reservation (/proc/iomem "Crash kernel"). */
  readonly crashKernel: FactRange | undefined;
  /** The device tree the firmware hands the loader (the board's, with /memory filled when --memory was given). */
  readonly dtb: Uint8Array | undefined;
  readonly assumptions: readonly Assumption[];
}

/** Facts with nothing known yet (importers spread their findings over it). */
export function emptyFacts(source: ImportSource, arch: Arch, firmware: FirmwareKind): MachineFacts {
  return {
    source,
    arch,
    firmware,
    model: undefined,
    compatible: [],
    ram: [],
    reserved: [],
    mmio: [],
    cpus: undefined,
    uart: undefined,
    gic: undefined,
    memoryNodes: [],
    memReserve: [],
    reservedMemory: [],
    firmwareMap: [],
    crashKernel: undefined,
    dtb: undefined,
    assumptions: [],
  };
}

/** A checked range: non-negative, below 2^64 at its end (IMPORT_BAD_RANGE otherwise; empty allowed). */
export function factRange(start: bigint, size: bigint, what: string): FactRange {
  if (start < 0n || size < 0n || start + size > U64_LIMIT) {
    throw new ImportError(ImportCode.BadRange, `import: ${what} ${hex(start)} + ${hex(size)} passes 2^64`, {
      what,
      start,
      size,
    });
  }
  return { start, size };
}

/** A range from an inclusive end (memmap, iomem), checked: end < start is IMPORT_BAD_RANGE. */
export function inclusiveRange(start: bigint, endInclusive: bigint, what: string): FactRange {
  if (endInclusive < start) {
    throw new ImportError(
      ImportCode.BadRange,
      `import: ${what} ends at ${hex(endInclusive)}, before its start ${hex(start)}`,
      {
        what,
        start,
        end: endInclusive,
      },
    );
  }
  return factRange(start, endInclusive - start + 1n, what);
}

/** Sorted, merged, non-empty ranges. */
export function mergeRanges(ranges: readonly FactRange[]): FactRange[] {
  const sorted = ranges.filter((r) => r.size > 0n).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: FactRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.start + last.size) {
      const end = r.start + r.size > last.start + last.size ? r.start + r.size : last.start + last.size;
      out[out.length - 1] = { start: last.start, size: end - last.start };
    } else out.push(r);
  }
  return out;
}

/** The first pair of ranges that overlap (sharing at least one byte), if any. */
export function firstOverlap(ranges: readonly FactRange[]): [FactRange, FactRange] | undefined {
  const sorted = ranges.filter((r) => r.size > 0n).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (a !== undefined && b !== undefined && b.start < a.start + a.size) return [a, b];
  }
  return undefined;
}

/** Throws IMPORT_TOO_LARGE when `count` exceeds `limit`. */
export function checkCount(count: number, limit: number, what: string): void {
  if (count > limit) {
    throw new ImportError(ImportCode.TooLarge, `import: ${what}: ${count} is more than kboot reads (${limit})`, {
      what,
      count,
      limit,
    });
  }
}

/** Parses a hexadecimal number (with or without 0x) up to 16 digits, else undefined. */
export function parseHex(text: string): bigint | undefined {
  const m = /^(?:0[xX])?([0-9a-fA-F]{1,16})$/.exec(text.trim());
  return m?.[1] === undefined ? undefined : BigInt(`0x${m[1]}`);
}
