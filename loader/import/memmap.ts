/**
 * `kboot machine import --memmap DIR`: Linux's /sys/firmware/memmap — the memory map the
 * firmware handed the kernel before the kernel changed it (drivers/firmware/memmap.c), the
 * map kexec-tools reads. Each entry is a directory N holding `start` and `end` (0x-prefixed
 * hex, end inclusive) and `type` (the e820 name).
 *
 * Contract: `parseMemmapEntries(entries)` takes the three files' text per entry (the caller
 * reads them: sysprobe/ for the running host or a copied directory); a value that is not
 * 0x hex, an end before its start, or too many entries is an ImportError (IMPORT_SYNTAX with
 * the entry name, IMPORT_BAD_RANGE, IMPORT_TOO_LARGE). Types (arch/x86/kernel/e820.c
 * e820_type_to_string): "System RAM" is RAM; "ACPI Tables" → acpi-reclaim; "ACPI
 * Non-volatile Storage" → acpi-nvs; "Persistent Memory" and "Persistent Memory (legacy)" →
 * persistent; "Reserved", "Unusable memory", "Soft Reserved" and anything else → reserved.
 */
import type { Arch } from '../arch/index.js';
import type { FirmwareKind } from '../plan/profile.js';
import { ImportCode, ImportError } from './errors.js';
import { checkCount, inclusiveRange, type MachineFacts } from './facts.js';
import { factsFromMap, type EntryKind, type MapEntry } from './map.js';

/** One /sys/firmware/memmap/N directory's files, as text. */
export interface MemmapEntryText {
  /** The directory name (N). */
  readonly name: string;
  readonly start: string;
  readonly end: string;
  readonly type: string;
}

/** Most entries read (e820 tables hold at most E820_MAX_ENTRIES = 3200 on Linux). */
export const MEMMAP_MAX_ENTRIES = 4096;

/** Where an entry of this e820 type goes in a profile. */
export function e820EntryKind(type: string): EntryKind {
  switch (type) {
    case 'System RAM':
      return 'ram';
    case 'ACPI Tables':
      return 'acpi-reclaim';
    case 'ACPI Non-volatile Storage':
      return 'acpi-nvs';
    case 'Persistent Memory':
    case 'Persistent Memory (legacy)':
      return 'persistent';
    default:
      return 'reserved';
  }
}

function hexValue(text: string, entry: string, file: string): bigint {
  const m = /^\s*0x([0-9a-fA-F]{1,16})\s*$/.exec(text);
  if (m?.[1] === undefined) {
    throw new ImportError(
      ImportCode.Syntax,
      `import: memmap entry ${entry}: ${file} is not 0x hex ("${text.trim().slice(0, 40)}")`,
      {
        entry,
        file,
      },
    );
  }
  return BigInt(`0x${m[1]}`);
}

/** The typed entries of a memmap directory, sorted by start. */
export function parseMemmapEntries(entries: readonly MemmapEntryText[]): MapEntry[] {
  checkCount(entries.length, MEMMAP_MAX_ENTRIES, 'memmap entries');
  return entries
    .map((e) => {
      const type = e.type.replace(/\r?\n$/, '');
      if (type === '' || type.length > 256 || /[\0\n]/.test(type)) {
        throw new ImportError(ImportCode.Syntax, `import: memmap entry ${e.name}: type is not one line of text`, {
          entry: e.name,
        });
      }
      const r = inclusiveRange(
        hexValue(e.start, e.name, 'start'),
        hexValue(e.end, e.name, 'end'),
        `memmap entry ${e.name}`,
      );
      return { ...r, kind: e820EntryKind(type), type };
    })
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/** Facts from a memmap directory's entries (amd64 by default: /sys/firmware/memmap is x86's). */
export function importMemmap(
  entries: readonly MemmapEntryText[],
  opts: { readonly arch?: Arch; readonly firmware?: FirmwareKind } = {},
): MachineFacts {
  const arch = opts.arch ?? 'amd64';
  return factsFromMap(
    'memmap',
    arch,
    opts.firmware ?? (arch === 'amd64' ? 'bios' : 'efi'),
    parseMemmapEntries(entries),
  );
}
