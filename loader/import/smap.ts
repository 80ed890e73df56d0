/**
 * `kboot machine import --smap`: a FreeBSD/amd64 host's BIOS memory map, as `sysctl -b
 * machdep.smap` writes it (binary) or as `sysctl machdep.smap` prints it (text).
 *
 * Contract:
 *  - Binary: smap_sysctl_handler (sys/amd64/amd64/machdep.c) writes one `struct
 *    bios_smap_xattr` (24 bytes, __packed: base u64, length u64, type u32, xattr u32;
 *    machine/pc/bios.h) per MODINFOMD_SMAP entry, xattr 0 when the loader passed no
 *    MODINFOMD_SMAP_XATTR. A length that is not a whole number of entries is IMPORT_BAD_MAP
 *    (S_bios_smap_xattr refuses it too).
 *  - Text: S_bios_smap_xattr (sbin/sysctl/sysctl.c) prints
 *    `SMAP type=%02x, xattr=%02x, base=%016jx, len=%016jx` per entry after an optional
 *    `machdep.smap:`; anything else is IMPORT_SYNTAX with its line number.
 *  - Types: SMAP_TYPE_MEMORY (1) is RAM (bios_add_smap_entries takes only it); ACPI reclaim
 *    (3) → acpi-reclaim; ACPI NVS (4) → acpi-nvs; PMEM (7) and PRAM (12) → persistent;
 *    every other type → reserved. Entries may start and end anywhere (the BIOS's 0x9fc00):
 *    the profile builder rounds RAM inward as the kernel does.
 */
import { hex } from '../addr.js';
import { BIOS_SMAP_XATTR_SIZE, BiosSmapXattr, SMAP_TYPE } from '../handoff/smap.js';
import { truncated } from '../handoff/common.js';
import { ImportCode, ImportError } from './errors.js';
import { checkCount, factRange, parseHex, type MachineFacts } from './facts.js';
import { looksLikeText } from './efi-map.js';
import { factsFromMap, type EntryKind, type MapEntry } from './map.js';

/** One entry as the sysctl gives it. */
export interface SmapXattrEntry {
  readonly base: bigint;
  readonly length: bigint;
  readonly type: number;
  readonly xattr: number;
}

/** Most entries read. */
export const SMAP_MAX_ENTRIES = 1024;

/** Where an entry of this type goes in a profile. */
export function smapEntryKind(type: number): EntryKind {
  switch (type) {
    case SMAP_TYPE.MEMORY:
      return 'ram';
    case SMAP_TYPE.ACPI_RECLAIM:
      return 'acpi-reclaim';
    case SMAP_TYPE.ACPI_NVS:
      return 'acpi-nvs';
    case SMAP_TYPE.PMEM:
    case SMAP_TYPE.PRAM:
      return 'persistent';
    default:
      return 'reserved';
  }
}

const TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'SMAP memory',
  2: 'SMAP reserved',
  3: 'SMAP ACPI reclaim',
  4: 'SMAP ACPI NVS',
  5: 'SMAP ACPI error',
  6: 'SMAP disabled',
  7: 'SMAP persistent memory',
  12: 'SMAP protected RAM',
};

/** The binary form's entries. */
export function decodeSmapBinary(bytes: Uint8Array): SmapXattrEntry[] {
  if (bytes.length % BIOS_SMAP_XATTR_SIZE !== 0) {
    throw new ImportError(
      ImportCode.BadMap,
      `import: machdep.smap is ${bytes.length} bytes, not a whole number of ${BIOS_SMAP_XATTR_SIZE}-byte bios_smap_xattr entries`,
      { length: bytes.length, entrySize: BIOS_SMAP_XATTR_SIZE },
    );
  }
  const n = bytes.length / BIOS_SMAP_XATTR_SIZE;
  checkCount(n, SMAP_MAX_ENTRIES, 'SMAP entries');
  return Array.from({ length: n }, (_, i) => BiosSmapXattr.decode(bytes, i * BIOS_SMAP_XATTR_SIZE, truncated));
}

/** The text form's entries. */
export function parseSmapText(text: string): SmapXattrEntry[] {
  const out: SmapXattrEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const body = raw.replace(/\r$/, '').replace(/^\s*machdep\.smap:\s?/, '');
    if (body.trim() === '') return;
    const m =
      /^\s*SMAP type=([0-9a-fA-F]{1,8}), xattr=([0-9a-fA-F]{1,8}), base=([0-9a-fA-F]{1,16}), len=([0-9a-fA-F]{1,16})\s*$/.exec(
        body,
      );
    if (m === null) {
      throw new ImportError(
        ImportCode.Syntax,
        `import: sysctl machdep.smap line ${i + 1} is not "SMAP type=.., xattr=.., base=.., len=.." ("${body.slice(0, 120)}")`,
        {
          line: i + 1,
        },
      );
    }
    checkCount(out.length + 1, SMAP_MAX_ENTRIES, 'SMAP entries');
    out.push({
      type: Number.parseInt(m[1] ?? '0', 16),
      xattr: Number.parseInt(m[2] ?? '0', 16),
      base: parseHex(m[3] ?? '0') ?? 0n,
      length: parseHex(m[4] ?? '0') ?? 0n,
    });
  });
  return out;
}

/** Facts from SMAP entries. */
export function smapFacts(entries: readonly SmapXattrEntry[]): MachineFacts {
  const mapped: MapEntry[] = entries.map((e, i) => ({
    ...factRange(e.base, e.length, `SMAP entry ${i}`),
    kind: smapEntryKind(e.type),
    type: TYPE_NAMES[e.type] ?? `SMAP type ${hex(e.type)}`,
  }));
  return factsFromMap('smap', 'amd64', 'bios', mapped);
}

/** `--smap FILE`: the binary or text form (detected). */
export function importSmap(bytes: Uint8Array): MachineFacts {
  return smapFacts(
    looksLikeText(bytes) ? parseSmapText(Buffer.from(bytes).toString('latin1')) : decodeSmapBinary(bytes),
  );
}
