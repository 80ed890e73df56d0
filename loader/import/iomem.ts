/**
 * `kboot machine import --iomem FILE`: Linux's /proc/iomem — the kernel's resource tree of
 * physical memory, one `start-end : name` line per resource (hex, end inclusive), children
 * indented two spaces per level (kernel/resource.c r_show).
 *
 * Contract: `parseIomem(text)` reads every line (IMPORT_SYNTAX with the line number for one
 * that does not read so, IMPORT_TOO_LARGE past the limits). Top-level resources become the
 * map: "System RAM" is RAM; "ACPI Tables" → acpi-reclaim; "ACPI Non-volatile Storage" →
 * acpi-nvs; "Persistent Memory*" → persistent; "Reserved", "reserved", "Soft Reserved" and
 * "Unusable memory" → reserved; anything else (PCI windows, "IOAPIC 0", device names) is a
 * device window. A nested "Crash kernel" (Linux's crashkernel= reservation inside System
 * RAM) is reported as `crashKernel`. A file whose ranges are all zero — /proc/iomem read
 * without CAP_SYS_ADMIN — is IMPORT_NO_MEMORY saying so.
 */
import type { Arch } from '../arch/index.js';
import type { FirmwareKind } from '../plan/profile.js';
import { ImportCode, ImportError } from './errors.js';
import { checkCount, inclusiveRange, parseHex, type FactRange, type MachineFacts } from './facts.js';
import { e820EntryKind } from './memmap.js';
import { factsFromMap, type EntryKind, type MapEntry } from './map.js';

/** One resource line. */
export interface IomemResource {
  readonly depth: number;
  readonly start: bigint;
  readonly size: bigint;
  readonly name: string;
  readonly line: number;
}

/** Bounds: lines, nesting. */
export const IOMEM_LIMITS = { lines: 65536, depth: 32 } as const;

/** Parses /proc/iomem (see the module contract). */
export function parseIomem(text: string): IomemResource[] {
  const lines = text.split('\n');
  checkCount(lines.length, IOMEM_LIMITS.lines, '/proc/iomem lines');
  const out: IomemResource[] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const m = /^( *)([0-9a-fA-F]{1,16})-([0-9a-fA-F]{1,16}) : (.*)$/.exec(line);
    if (m === null) {
      throw new ImportError(
        ImportCode.Syntax,
        `import: /proc/iomem line ${i + 1} is not "start-end : name" ("${line.slice(0, 120)}")`,
        {
          line: i + 1,
        },
      );
    }
    const indent = (m[1] ?? '').length;
    if (indent % 2 !== 0 || indent / 2 > IOMEM_LIMITS.depth) {
      throw new ImportError(ImportCode.Syntax, `import: /proc/iomem line ${i + 1} is indented ${indent} spaces`, {
        line: i + 1,
      });
    }
    const r = inclusiveRange(parseHex(m[2] ?? '') ?? 0n, parseHex(m[3] ?? '') ?? 0n, `/proc/iomem line ${i + 1}`);
    out.push({ depth: indent / 2, ...r, name: m[4] ?? '', line: i + 1 });
  });
  return out;
}

/** Where a top-level resource goes in a profile. */
export function iomemEntryKind(name: string): EntryKind {
  if (name === 'reserved' || name === 'Soft Reserved' || name === 'Unusable memory') return 'reserved';
  if (name.startsWith('Persistent Memory')) return 'persistent';
  const k = e820EntryKind(name);
  return k === 'reserved' && name !== 'Reserved' ? 'mmio' : k;
}

/** Facts from /proc/iomem text. */
export function importIomem(
  text: string,
  opts: { readonly arch?: Arch; readonly firmware?: FirmwareKind } = {},
): MachineFacts {
  const resources = parseIomem(text);
  if (resources.length > 0 && resources.every((r) => r.start === 0n && r.size === 1n)) {
    throw new ImportError(
      ImportCode.NoMemory,
      'import: every /proc/iomem range reads 0 (the file was read without CAP_SYS_ADMIN): read it as root',
      { lines: resources.length, hint: 'root' },
    );
  }
  const top: MapEntry[] = resources
    .filter((r) => r.depth === 0)
    .map((r) => ({ start: r.start, size: r.size, kind: iomemEntryKind(r.name), type: r.name.slice(0, 256) }));
  const crash = resources.find((r) => r.depth > 0 && r.name === 'Crash kernel');
  const crashKernel: FactRange | undefined = crash === undefined ? undefined : { start: crash.start, size: crash.size };
  const arch = opts.arch ?? 'amd64';
  const facts = factsFromMap('iomem', arch, opts.firmware ?? (arch === 'amd64' ? 'bios' : 'efi'), top);
  return { ...facts, crashKernel };
}
