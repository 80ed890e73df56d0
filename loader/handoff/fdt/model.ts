/**
 * Flattened device tree (FDT): the plain-data model, the format constants, the header
 * layout and the parser limits shared by the reader, the writer and the tree helpers.
 *
 * Contract: an `Fdt` is plain data (no classes, no parent pointers) that kboot's helpers
 * never mutate; every helper returns new values. Node and property names follow the
 * character sets of the Devicetree Specification v0.4 §2.2.1 / §2.2.4 (the sets `dtc`
 * accepts without warning), checked by `checkNodeName` / `checkPropName`. Errors are
 * `HandoffError` with an `FdtCode`.
 *
 * Facts: Devicetree Specification v0.4 chapter 5 (header, memory reservation block,
 * structure block tokens, strings block); FreeBSD consumes the blob through libfdt
 * (`sys/contrib/libfdt/fdt.h`, `sys/dev/fdt/fdt_common.c`).
 */
import { defineLayout, u32, u64 } from '../../bytes/index.js';
import { hex } from '../../addr.js';
import { FdtCode, HandoffError } from '../errors.js';
import type { CodeOf } from '../../errors.js';

/** One property: its name and its raw (big-endian) value bytes. */
export interface FdtProp {
  name: string;
  value: Uint8Array;
}

/** One node: its name (`""` for the root, else `name` or `name@unit`), properties and children, in order. */
export interface FdtNode {
  name: string;
  props: FdtProp[];
  children: FdtNode[];
}

/** One entry of the memory reservation block (`/memreserve/` in DTS). */
export interface FdtMemReserve {
  address: bigint;
  size: bigint;
}

/** A whole device tree blob. */
export interface Fdt {
  bootCpuidPhys: number;
  memReserve: FdtMemReserve[];
  root: FdtNode;
}

/** Format constants (Devicetree Specification v0.4 §5.1, §5.2, §5.4). */
export const FDT = {
  /** `fdt_header.magic`. */
  MAGIC: 0xd00dfeed,
  /** Version kboot writes (§5.2: "version 17"). */
  VERSION: 17,
  /** `last_comp_version` kboot writes (§5.2: "16"). */
  LAST_COMP_VERSION: 16,
  /** Oldest version kboot reads (16 lacks only `size_dt_struct`). */
  MIN_READ_VERSION: 16,
  /** Header size of version 16 blobs (no `size_dt_struct`; libfdt `fdt_header_size_`). */
  HEADER_SIZE_V16: 36,
  /** Structure block tokens (§5.4.1). */
  BEGIN_NODE: 0x1,
  END_NODE: 0x2,
  PROP: 0x3,
  NOP: 0x4,
  END: 0x9,
  /** Tokens, names and values are padded to 4 bytes (§5.4.2). */
  STRUCT_ALIGN: 4,
  /** The memory reservation block is 8-byte aligned (§5.3.1). */
  RSVMAP_ALIGN: 8,
} as const;

/** `struct fdt_header` (§5.2), big-endian, 40 bytes in version 17. */
export const FdtHeader = defineLayout(
  'fdt_header',
  [
    u32('magic', { at: 0 }),
    u32('totalsize', { at: 4 }),
    u32('offDtStruct', { at: 8 }),
    u32('offDtStrings', { at: 12 }),
    u32('offMemRsvmap', { at: 16 }),
    u32('version', { at: 20 }),
    u32('lastCompVersion', { at: 24 }),
    u32('bootCpuidPhys', { at: 28 }),
    u32('sizeDtStrings', { at: 32 }),
    u32('sizeDtStruct', { at: 36 }),
  ],
  { size: 40, endian: 'be' },
);

/** `struct fdt_reserve_entry` (§5.3.2). */
export const FdtReserveEntry = defineLayout('fdt_reserve_entry', [u64('address', { at: 0 }), u64('size', { at: 8 })], {
  size: 16,
  endian: 'be',
});

/** The two words after an FDT_PROP token (§5.4.1: `struct { uint32_t len; uint32_t nameoff; }`). */
export const FdtPropHeader = defineLayout('fdt_property', [u32('len', { at: 0 }), u32('nameoff', { at: 4 })], {
  size: 8,
  endian: 'be',
});

/** Bounds applied by `parseFdt` (and to trees given to `writeFdt`). */
export interface FdtLimits {
  /** Largest blob (`totalsize`) accepted. */
  readonly maxTotalSize: number;
  /** Deepest node nesting (the root is depth 1). */
  readonly maxDepth: number;
  /** Most nodes in a tree. */
  readonly maxNodes: number;
  /** Most properties in a tree. */
  readonly maxProps: number;
  /** Largest single property value, in bytes. */
  readonly maxPropSize: number;
  /** Most memory reservation entries. */
  readonly maxMemReserve: number;
  /** Longest node or property name, in bytes. */
  readonly maxNameLength: number;
}

/** kboot's defaults: far above any real machine's DTB (a few hundred KiB), far below memory limits. */
export const DEFAULT_FDT_LIMITS: FdtLimits = {
  maxTotalSize: 64 * 1024 * 1024,
  maxDepth: 64,
  maxNodes: 1 << 17,
  maxProps: 1 << 20,
  maxPropSize: 16 * 1024 * 1024,
  maxMemReserve: 4096,
  maxNameLength: 256,
};

/** A name component of a node: the spec's node-name characters (§2.2.1, Table 2.1). */
const NODE_CHARS = /^[A-Za-z0-9,._+-]+$/;
/** Property-name characters: the spec's Table 2.2 plus `*`, which dtc also accepts (checks.c PROPCHARS). */
const PROP_CHARS = /^[A-Za-z0-9,._+?#*-]+$/;

/** Renders one detail value for a message: numbers and bigints in hex, strings quoted. */
function fact(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number') return hex(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(fact).join(' ')}]`;
  return String(v);
}

/** Builds an FDT error: `handoff: fdt <what> (<k> <v>, ...)`, with the values in `details`. */
export function fdtError(
  code: CodeOf<typeof FdtCode>,
  what: string,
  details: Readonly<Record<string, unknown>> = {},
  cause?: unknown,
): HandoffError {
  const facts = Object.entries(details)
    .map(([k, v]) => `${k} ${fact(v)}`)
    .join(', ');
  const message = `handoff: fdt ${what}${facts === '' ? '' : ` (${facts})`}`;
  return new HandoffError(code, message, details, cause === undefined ? undefined : { cause });
}

/** True for a valid non-root node name: `name` or `name@unit` (one `@`, both parts non-empty). */
export function isValidNodeName(name: string): boolean {
  const at = name.indexOf('@');
  if (at < 0) return NODE_CHARS.test(name);
  return NODE_CHARS.test(name.slice(0, at)) && NODE_CHARS.test(name.slice(at + 1));
}

/** True for a valid property name. */
export function isValidPropName(name: string): boolean {
  return PROP_CHARS.test(name);
}

/** Throws FDT_BAD_NAME unless `name` is a valid node name (the root's name must be `""`). */
export function checkNodeName(name: string, where: string, isRoot: boolean, maxLength: number): void {
  if (isRoot) {
    if (name !== '') throw fdtError(FdtCode.BadName, 'root node name is not empty', { where, name });
    return;
  }
  if (name.length > maxLength) {
    throw fdtError(FdtCode.TooLarge, 'node name is too long', { where, length: name.length, max: maxLength });
  }
  if (!isValidNodeName(name)) throw fdtError(FdtCode.BadName, 'bad node name', { where, name });
}

/** Throws FDT_BAD_NAME unless `name` is a valid property name. */
export function checkPropName(name: string, where: string, maxLength: number): void {
  if (name.length > maxLength) {
    throw fdtError(FdtCode.TooLarge, 'property name is too long', { where, length: name.length, max: maxLength });
  }
  if (!isValidPropName(name)) throw fdtError(FdtCode.BadName, 'bad property name', { where, name });
}

/** Merges caller limits over the defaults; each must be a positive safe integer. */
export function resolveLimits(limits: Partial<FdtLimits> | undefined): FdtLimits {
  const out: FdtLimits = { ...DEFAULT_FDT_LIMITS, ...limits };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || (v as number) < 1) {
      throw fdtError(FdtCode.ValueRange, 'limit is not a positive integer', { limit: k, value: String(v) });
    }
  }
  return out;
}
