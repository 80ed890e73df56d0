/**
 * Machine importers: a board's device tree, a FreeBSD efi_map / smap (binary or sysctl
 * text), a Linux /sys/firmware/memmap or /proc/iomem, or the running host (from what
 * sysprobe/ read) → machine facts → a machine profile with its provenance and assumptions,
 * and every D47358 rule answered for it. Pure: the files are read by the caller.
 */
export { ImportCode, ImportError } from './errors.js';
export type { Assumption, FactRange, ImportSource, MachineFacts } from './facts.js';
export { importDtb, fillMemory, type DtbImportOptions } from './dtb.js';
export {
  importEfiMap,
  parseEfiMapText,
  decodeEfiMapBinary,
  efiMapFacts,
  efiEntryKind,
  looksLikeText,
} from './efi-map.js';
export { importSmap, parseSmapText, decodeSmapBinary, smapFacts, smapEntryKind, type SmapXattrEntry } from './smap.js';
export { importMemmap, parseMemmapEntries, e820EntryKind, type MemmapEntryText } from './memmap.js';
export { importIomem, parseIomem, iomemEntryKind, type IomemResource } from './iomem.js';
export { importHost, type HostSnapshot } from './host.js';
export { buildImportedProfile, profileName, type ImportMeta, type ImportedProfile } from './build.js';
export { rescueRules, NOMINAL_RESCUE_KERNEL, type RuleResult, type RuleStatus, type RulesReport } from './rules.js';
