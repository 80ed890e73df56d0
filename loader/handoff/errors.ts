/**
 * Errors of the hand-off encoders and decoders (modinfo, kenv, EFI map, SMAP, rescue
 * params, FDT). Decoders may throw only `HandoffError` (their fuzz contract).
 */
import { KbootError, type CodeOf } from '../errors.js';

/** Binary hand-off records: modinfo, kenv, EFI map, SMAP, rescue params. */
export const HandoffCode = {
  Truncated: 'HANDOFF_TRUNCATED',
  ModinfoNoEnd: 'HANDOFF_MODINFO_NO_END',
  ModinfoNameNotFirst: 'HANDOFF_MODINFO_NAME_NOT_FIRST',
  ModinfoBadRecord: 'HANDOFF_MODINFO_BAD_RECORD',
  ModinfoTooLarge: 'HANDOFF_MODINFO_TOO_LARGE',
  KenvBadEntry: 'HANDOFF_KENV_BAD_ENTRY',
  KenvNoTerminator: 'HANDOFF_KENV_NO_TERMINATOR',
  KenvTooLarge: 'HANDOFF_KENV_TOO_LARGE',
  EfiMapBadHeader: 'HANDOFF_EFIMAP_BAD_HEADER',
  EfiMapBadDescriptorSize: 'HANDOFF_EFIMAP_BAD_DESCRIPTOR_SIZE',
  SmapBadLength: 'HANDOFF_SMAP_BAD_LENGTH',
  ParamsBadValue: 'HANDOFF_PARAMS_BAD_VALUE',
} as const;

/** Flattened device tree (FDT v17) reader and writer. */
export const FdtCode = {
  BadMagic: 'FDT_BAD_MAGIC',
  BadVersion: 'FDT_BAD_VERSION',
  BadHeader: 'FDT_BAD_HEADER',
  Truncated: 'FDT_TRUNCATED',
  BadToken: 'FDT_BAD_TOKEN',
  BadStructure: 'FDT_BAD_STRUCTURE',
  BadString: 'FDT_BAD_STRING',
  TooDeep: 'FDT_TOO_DEEP',
  TooLarge: 'FDT_TOO_LARGE',
  NoMemoryNode: 'FDT_NO_MEMORY_NODE',
  BadCells: 'FDT_BAD_CELLS',
  BadName: 'FDT_BAD_NAME',
} as const;

export class HandoffError extends KbootError<CodeOf<typeof HandoffCode> | CodeOf<typeof FdtCode>> {
  readonly domain = 'handoff';
  override readonly name = 'HandoffError';
}
