/**
 * Errors of the hand-off encoders and decoders (modinfo, kenv, EFI map, SMAP, rescue
 * params, FDT). Decoders may throw only `HandoffError` (their fuzz contract).
 */
import { KbootError, type CodeOf } from '../errors.js';

/**
 * Binary hand-off records: modinfo, kenv, EFI map, SMAP, efi_fb, rescue params
 * (loader/handoff/{modinfo,kenv,efimap,smap,efifb,params}.ts). Decoders raise only these
 * (plus FdtCode for the FDT); encoders raise them for values that cannot be encoded.
 */
export const HandoffCode = {
  /** A record, struct or descriptor runs past the end of the bytes. */
  Truncated: 'HANDOFF_TRUNCATED',
  /** An encoder was given a number that does not fit its field (u32/u64/int). */
  ValueRange: 'HANDOFF_VALUE_RANGE',
  /** A modinfo string (NAME/TYPE/ARGS) holds a NUL byte. */
  BadString: 'HANDOFF_BAD_STRING',
  /** The modinfo list has no END record (type 0, size 0) before the bytes end. */
  ModinfoNoEnd: 'HANDOFF_MODINFO_NO_END',
  /** The first modinfo record is not MODINFO_NAME. */
  ModinfoNameNotFirst: 'HANDOFF_MODINFO_NAME_NOT_FIRST',
  /** A modinfo record is malformed (unterminated string, wrong ADDR/SIZE width, duplicate or missing field). */
  ModinfoBadRecord: 'HANDOFF_MODINFO_BAD_RECORD',
  /** More modinfo records, or a larger record, than the decoder's limits allow. */
  ModinfoTooLarge: 'HANDOFF_MODINFO_TOO_LARGE',
  /** encodeModinfo({ kernend }) found no kernel module with an 8-byte KERNEND item to patch. */
  ModinfoNoKernend: 'HANDOFF_MODINFO_NO_KERNEND',
  /** A kenv entry is malformed (no '=', empty name, '=' or NUL in a name, NUL in a value). */
  KenvBadEntry: 'HANDOFF_KENV_BAD_ENTRY',
  /** The kenv bytes end before the terminating empty string (double NUL). */
  KenvNoTerminator: 'HANDOFF_KENV_NO_TERMINATOR',
  /** A kenv entry longer than the kernel accepts, or more bytes/entries than the limits. */
  KenvTooLarge: 'HANDOFF_KENV_TOO_LARGE',
  /** efi_map_header.descriptor_size is below sizeof(struct efi_md), above the limit, or (encoding) not a multiple of 8. */
  EfiMapBadDescriptorSize: 'HANDOFF_EFIMAP_BAD_DESCRIPTOR_SIZE',
  /** memory_size / descriptor_size exceeds the decoder's descriptor limit. */
  EfiMapTooLarge: 'HANDOFF_EFIMAP_TOO_LARGE',
  /** A SMAP body whose length is not a multiple of sizeof(struct bios_smap), or too long. */
  SmapBadLength: 'HANDOFF_SMAP_BAD_LENGTH',
  /** encodeRescueParams was given a field the arch's rescue_kernel_params does not have. */
  ParamsUnknownField: 'HANDOFF_PARAMS_UNKNOWN_FIELD',
  /** A LINUX_EFI_MEMRESERVE walk past its bounds (configuration entries, chain links, entries per record). */
  MemreserveTooLarge: 'HANDOFF_MEMRESERVE_TOO_LARGE',
} as const;

/**
 * Flattened device tree (FDT v17) reader, writer and tree edits
 * (loader/handoff/fdt*.ts). parseFdt raises only these.
 */
export const FdtCode = {
  /** fdt_header.magic is not 0xd00dfeed. */
  BadMagic: 'FDT_BAD_MAGIC',
  /** version < 16, last_comp_version > 17, or last_comp_version > version. */
  BadVersion: 'FDT_BAD_VERSION',
  /** A block offset is misaligned, overlaps the header or another block, or lies outside totalsize. */
  BadHeader: 'FDT_BAD_HEADER',
  /** The bytes end before the header, before totalsize, or a token/value runs past its block. */
  Truncated: 'FDT_TRUNCATED',
  /** A structure-block token that is not BEGIN_NODE, END_NODE, PROP, NOP or END. */
  BadToken: 'FDT_BAD_TOKEN',
  /** Tokens in an impossible order (property outside a node or after a child, unbalanced nodes, two roots). */
  BadStructure: 'FDT_BAD_STRUCTURE',
  /** A name not NUL-terminated inside its block, a nameoff outside the strings block, or a NUL inside a string value. */
  BadString: 'FDT_BAD_STRING',
  /** Nodes nest deeper than the limit. */
  TooDeep: 'FDT_TOO_DEEP',
  /** More bytes, nodes, properties, reservation entries or a longer name/value than the limits allow. */
  TooLarge: 'FDT_TOO_LARGE',
  /** The tree has no memory node (device_type "memory" or named memory / memory@...). */
  NoMemoryNode: 'FDT_NO_MEMORY_NODE',
  /** #address-cells / #size-cells is malformed or not a count kboot can encode (1 or 2). */
  BadCells: 'FDT_BAD_CELLS',
  /** A node or property name outside the spec's character set (or a non-empty root name). */
  BadName: 'FDT_BAD_NAME',
  /** Two sibling nodes, or two properties of one node, share a name. */
  DuplicateName: 'FDT_DUPLICATE_NAME',
  /** The memory reservation block has no 0,0 terminator, or a 0,0 entry was given to the writer. */
  BadMemReserve: 'FDT_BAD_MEMRESERVE',
  /** A property value has the wrong length for the type asked for. */
  BadProp: 'FDT_BAD_PROP',
  /** A value does not fit its cells / u32 / u64, or a limit or count is out of range. */
  ValueRange: 'FDT_VALUE_RANGE',
  /** A memory range list is empty, has an empty range, passes 2^64, or has overlapping ranges. */
  BadRange: 'FDT_BAD_RANGE',
} as const;

/** A hand-off record (modinfo, kenv, EFI map, SMAP, efi_fb, params, device tree) that cannot be encoded or decoded. */
export class HandoffError extends KbootError<CodeOf<typeof HandoffCode> | CodeOf<typeof FdtCode>> {
  readonly domain = 'handoff';
  override readonly name = 'HandoffError';
}
