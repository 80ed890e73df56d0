/**
 * `kboot machine import --efi-map`: a FreeBSD host's UEFI memory map, as `sysctl -b
 * machdep.efi_map` writes it (binary) or as `sysctl machdep.efi_map` prints it (text).
 *
 * Contract:
 *  - Binary: the MODINFOMD_EFI_MAP record body the kernel got from the loader
 *    (efi_map_sysctl_handler, sys/amd64/amd64/machdep.c: SYSCTL_OUT of the record's own
 *    size): `struct efi_map_header`, zero pad to 16, then memory_size bytes of descriptors
 *    `descriptor_size` apart (loader/handoff/efimap.ts decodeEfiMap: HandoffError for a header
 *    that lies). As sbin/sysctl/sysctl.c S_efi_map insists, the length must be exactly
 *    32 + memory_size (else IMPORT_BAD_MAP).
 *  - Text: S_efi_map's table — an optional `machdep.efi_map:` line, the header
 *    `Type Physical Virtual #Pages Attr`, then per descriptor
 *    `"%23s %012jx %12p %08jx "` (type name, md_phys, md_virt, md_pages) and the attribute
 *    names UC WC WT WB UCE WP RP XP, then RUNTIME. Type names are S_efi_map's table
 *    (sys/sys/efi.h order; `<INVALID>` for an unknown type). A line that does not read so is
 *    IMPORT_SYNTAX with its number.
 *  - Types map onto the profile the way FreeBSD treats them: efi_physmem_type()'s types
 *    (LoaderCode, LoaderData, BootServicesCode, BootServicesData, ConventionalMemory) are
 *    RAM; RuntimeServicesCode/Data → runtime-code/-data; ACPIReclaimMemory → acpi-reclaim;
 *    ACPIMemoryNVS → acpi-nvs; PersistentMemory → persistent; MemoryMappedIO and
 *    MemoryMappedIOPortSpace → device windows; everything else → reserved.
 * `machdep.efi_map` is an amd64 sysctl (verified in sys/amd64/amd64/machdep.c); whether arm64
 * FreeBSD has it is UNVERIFIED, so arm64 maps are imported with `--arch arm64` on trust.
 */
import type { Arch } from '../arch/index.js';
import {
  decodeEfiMap,
  EFI_MAP_DESCRIPTORS_OFFSET,
  EFI_MD_ATTR,
  EFI_MD_TYPE,
  EFI_PAGE_SIZE,
  efiPhysmemType,
  EfiMapHeader,
  type EfiMemoryDescriptor,
} from '../handoff/efimap.js';
import { truncated } from '../handoff/common.js';
import { ImportCode, ImportError } from './errors.js';
import { checkCount, factRange, parseHex, type MachineFacts } from './facts.js';
import { factsFromMap, type EntryKind, type MapEntry } from './map.js';

/** S_efi_map's type names, indexed by EFI_MD_TYPE (sbin/sysctl/sysctl.c). */
export const EFI_TYPE_NAMES: readonly string[] = [
  'Reserved',
  'LoaderCode',
  'LoaderData',
  'BootServicesCode',
  'BootServicesData',
  'RuntimeServicesCode',
  'RuntimeServicesData',
  'ConventionalMemory',
  'UnusableMemory',
  'ACPIReclaimMemory',
  'ACPIMemoryNVS',
  'MemoryMappedIO',
  'MemoryMappedIOPortSpace',
  'PalCode',
  'PersistentMemory',
];

/** S_efi_map's attribute names, in the order it prints them. */
export const EFI_ATTR_NAMES: readonly (readonly [string, bigint])[] = [
  ['UC', EFI_MD_ATTR.UC],
  ['WC', EFI_MD_ATTR.WC],
  ['WT', EFI_MD_ATTR.WT],
  ['WB', EFI_MD_ATTR.WB],
  ['UCE', EFI_MD_ATTR.UCE],
  ['WP', EFI_MD_ATTR.WP],
  ['RP', EFI_MD_ATTR.RP],
  ['XP', EFI_MD_ATTR.XP],
  ['RUNTIME', EFI_MD_ATTR.RT],
];

/** Most descriptors read from the text form (the binary form has decodeEfiMap's limit). */
export const EFI_TEXT_MAX_DESCRIPTORS = 4096;

/** A type that S_efi_map prints as `<INVALID>` (outside its table). */
const INVALID_TYPE = 0xffff_ffff;

/** Where a descriptor of this type goes in a profile (see the module contract). */
export function efiEntryKind(type: number): EntryKind {
  if (efiPhysmemType(type)) return 'ram';
  switch (type) {
    case EFI_MD_TYPE.RT_CODE:
      return 'runtime-code';
    case EFI_MD_TYPE.RT_DATA:
      return 'runtime-data';
    case EFI_MD_TYPE.RECLAIM:
      return 'acpi-reclaim';
    case EFI_MD_TYPE.FIRMWARE:
      return 'acpi-nvs';
    case EFI_MD_TYPE.PERSISTENT:
      return 'persistent';
    case EFI_MD_TYPE.IOMEM:
    case EFI_MD_TYPE.IOPORT:
      return 'mmio';
    default:
      return 'reserved';
  }
}

/** The binary form's descriptors, after S_efi_map's length check. */
export function decodeEfiMapBinary(bytes: Uint8Array): EfiMemoryDescriptor[] {
  const header = EfiMapHeader.decode(bytes, 0, truncated);
  const want = BigInt(EFI_MAP_DESCRIPTORS_OFFSET) + header.memorySize;
  if (BigInt(bytes.length) !== want) {
    throw new ImportError(
      ImportCode.BadMap,
      `import: efi_map length mismatch: ${bytes.length} bytes, but the header says ${EFI_MAP_DESCRIPTORS_OFFSET} + memory_size ${header.memorySize} (S_efi_map would refuse it)`,
      { length: bytes.length, expected: want },
    );
  }
  return [...decodeEfiMap(bytes).descriptors];
}

/** Parses one descriptor line of the text form, or throws IMPORT_SYNTAX. */
function parseLine(line: string, n: number): EfiMemoryDescriptor {
  const bad = (why: string): never => {
    throw new ImportError(
      ImportCode.Syntax,
      `import: sysctl machdep.efi_map line ${n}: ${why} ("${line.slice(0, 120)}")`,
      { line: n, why },
    );
  };
  const m = /^\s*(\S+)\s+([0-9a-fA-F]+)\s+(\S+)\s+([0-9a-fA-F]+)((?:\s+\S+)*)\s*$/.exec(line);
  if (m === null) return bad('not "type physical virtual #pages attributes"');
  const [, typeName = '', physText = '', virtText = '', pagesText = '', attrText = ''] = m;
  const type = typeName === '<INVALID>' ? INVALID_TYPE : EFI_TYPE_NAMES.indexOf(typeName);
  if (type < 0) bad(`unknown type "${typeName}"`);
  const phys = parseHex(physText);
  const virt = virtText === '(nil)' ? 0n : parseHex(virtText);
  const pages = parseHex(pagesText);
  if (phys === undefined || virt === undefined || pages === undefined) return bad('a number is not 1..16 hex digits');
  let attr = 0n;
  for (const tok of attrText
    .trim()
    .split(/\s+/)
    .filter((x) => x !== '')) {
    const bit = EFI_ATTR_NAMES.find(([name]) => name === tok)?.[1];
    if (bit === undefined) bad(`unknown attribute "${tok}"`);
    attr |= bit ?? 0n;
  }
  return { mdType: type, mdPhys: phys, mdVirt: virt, mdPages: pages, mdAttr: attr };
}

/** The text form's descriptors (see the module contract). */
export function parseEfiMapText(text: string): EfiMemoryDescriptor[] {
  const out: EfiMemoryDescriptor[] = [];
  let header = false;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const body = line.replace(/^\s*machdep\.efi_map:\s?/, '');
    if (body.trim() === '') return;
    if (!header && /^\s*Type\s+Physical\s+Virtual\s+#Pages\s+Attr\s*$/.test(body)) {
      header = true;
      return;
    }
    checkCount(out.length + 1, EFI_TEXT_MAX_DESCRIPTORS, 'EFI map descriptors');
    out.push(parseLine(body, i + 1));
  });
  if (!header) {
    throw new ImportError(
      ImportCode.Syntax,
      'import: no "Type Physical Virtual #Pages Attr" header: not sysctl machdep.efi_map output',
      {
        line: 0,
      },
    );
  }
  return out;
}

/** True when the bytes read as text (printable ASCII and white space only). */
export function looksLikeText(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes.every((b) => b === 9 || b === 10 || b === 13 || (b >= 0x20 && b < 0x7f));
}

/** Facts from EFI descriptors (see the module contract). */
export function efiMapFacts(descriptors: readonly EfiMemoryDescriptor[], arch: Arch): MachineFacts {
  const entries: MapEntry[] = descriptors.map((d, i) => {
    const r = factRange(d.mdPhys, d.mdPages * EFI_PAGE_SIZE, `EFI descriptor ${i}`);
    return { ...r, kind: efiEntryKind(d.mdType), type: EFI_TYPE_NAMES[d.mdType] ?? `type ${d.mdType}` };
  });
  return factsFromMap('efi-map', arch, 'efi', entries);
}

/** `--efi-map FILE`: the binary or text form (detected), for `arch` (default amd64). */
export function importEfiMap(bytes: Uint8Array, opts: { readonly arch?: Arch } = {}): MachineFacts {
  const descriptors = looksLikeText(bytes)
    ? parseEfiMapText(Buffer.from(bytes).toString('latin1'))
    : decodeEfiMapBinary(bytes);
  return efiMapFacts(descriptors, opts.arch ?? 'amd64');
}
