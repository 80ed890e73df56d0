/**
 * kboot's error model: one base class, one subclass per domain, stable string codes.
 *
 * Contract: everything kboot throws on bad input or a failed operation is a `KbootError`
 * whose `code` never changes once released (tests and tools match on codes, never on
 * message text), whose `details` carry the offending values as plain data, and whose
 * `cause` chains the underlying failure. Messages read `<domain>: <what failed> (<facts>)`.
 * Bugs (broken invariants) are not KbootErrors: they are `node:assert` failures.
 *
 * Model: rust-vmm/linux-loader's per-module error enums wrapped by an umbrella error, and
 * Firecracker's `#[from]` chaining (see shared/design/ANCHORS.md §10).
 */

/** The part of kboot an error comes from; the prefix of every message. */
export type ErrorDomain =
  | 'addr'
  | 'bytes'
  | 'elf'
  | 'plan'
  | 'handoff'
  | 'trampoline'
  | 'kexec'
  | 'config'
  | 'memory'
  | 'machine'
  | 'native'
  | 'rescue'
  | 'dump'
  | 'io'
  | 'compare'
  | 'import'
  | 'host'
  | 'cli';

/** Structured facts about a failure; values are plain data (bigint allowed). */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** Base of every error kboot reports to a user. */
export abstract class KbootError<C extends string = string> extends Error {
  abstract readonly domain: ErrorDomain;
  readonly code: C;
  readonly details: ErrorDetails;

  constructor(code: C, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** A JSON-safe form (bigints become hex strings) for `--json` output and logs. */
  toJSON(): { name: string; domain: ErrorDomain; code: C; message: string; details: unknown } {
    return {
      name: this.name,
      domain: this.domain,
      code: this.code,
      message: this.message,
      details: jsonSafe(this.details),
    };
  }
}

/** Converts bigints (to hex strings) and byte arrays (to lengths) so JSON.stringify works. */
export function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return `0x${value.toString(16)}`;
  if (value instanceof Uint8Array) return { bytes: value.length };
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value instanceof Error) {
    return value instanceof KbootError ? value.toJSON() : { name: value.name, message: value.message };
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonSafe(v);
    return out;
  }
  return value;
}

/** Declares a code table; `CodeOf<typeof T>` is the union of its values. */
export type CodeOf<T extends Readonly<Record<string, string>>> = T[keyof T];

/** Codes of AddrError: address arithmetic out of range or misaligned. */
export const AddrCode = {
  Negative: 'ADDR_NEGATIVE',
  TooLarge: 'ADDR_TOO_LARGE',
  NotInteger: 'ADDR_NOT_INTEGER',
  Overflow: 'ADDR_OVERFLOW',
  Underflow: 'ADDR_UNDERFLOW',
  BadAlignment: 'ADDR_BAD_ALIGNMENT',
  Misaligned: 'ADDR_MISALIGNED',
  BadSize: 'ADDR_BAD_SIZE',
} as const;
/** Address and size arithmetic left the u64 space or broke an alignment rule. */
export class AddrError extends KbootError<CodeOf<typeof AddrCode>> {
  readonly domain = 'addr';
  override readonly name = 'AddrError';
}

/** Codes of BytesError: a read or write past the end of a buffer, a bad field value. */
export const BytesCode = {
  OutOfBounds: 'BYTES_OUT_OF_BOUNDS',
  ValueRange: 'BYTES_VALUE_RANGE',
  BadString: 'BYTES_BAD_STRING',
} as const;
/** A read or write past the end of a byte buffer, or a value that does not fit its field. */
export class BytesError extends KbootError<CodeOf<typeof BytesCode>> {
  readonly domain = 'bytes';
  override readonly name = 'BytesError';
}

/** Codes of ConfigError: machine profiles, loader.conf and the state journal. */
export const ConfigCode = {
  NotFound: 'CONFIG_NOT_FOUND',
  Unreadable: 'CONFIG_UNREADABLE',
  Syntax: 'CONFIG_SYNTAX',
  Schema: 'CONFIG_SCHEMA',
  Invalid: 'CONFIG_INVALID',
  /** A loader.conf value the loader cannot use (stray quote, trailing escape, bad `$` expression). */
  BadValue: 'CONFIG_BAD_VALUE',
  /** A loader.conf include that resolves outside the configuration's directory (`..`, absolute path, symlink). */
  IncludeEscape: 'CONFIG_INCLUDE_ESCAPE',
  /** A loader.conf include that names a file already being read (only when loops are refused). */
  IncludeLoop: 'CONFIG_INCLUDE_LOOP',
  /** loader.conf includes nested deeper than the limit. */
  IncludeDepth: 'CONFIG_INCLUDE_DEPTH',
  /** A configuration larger than its limits (file bytes, line length, number of files). */
  TooLarge: 'CONFIG_TOO_LARGE',
  /**
   * A loader.conf value whose `$` expansion is too large (details.kind 'value': longer than
   * maxValueLength; 'depth': variables chained deeper than maxExpansionDepth; 'environment':
   * all variables together over maxEnvBytes), with details.file, line, name and limit.
   */
  ExpansionTooLarge: 'CONFIG_EXPANSION_TOO_LARGE',
  /** A file recorded in the state journal changed since (its SHA-256 differs). */
  Stale: 'CONFIG_STALE',
} as const;
/**
 * A configuration input (machine profile, loader.conf) that cannot be used. `details` carry
 * `file` and, where known, `line`/`column` and `problems` (every problem found, with its path).
 */
export class ConfigError extends KbootError<CodeOf<typeof ConfigCode>> {
  readonly domain = 'config';
  override readonly name = 'ConfigError';
}

/** Codes of PlanError: a hand-off that cannot be planned on the machine. */
export const PlanCode = {
  NoHole: 'PLAN_NO_HOLE',
  MetadataTooLarge: 'PLAN_METADATA_TOO_LARGE',
  BadPlacement: 'PLAN_BAD_PLACEMENT',
  BadMemsize: 'PLAN_BAD_MEMSIZE',
  ArchMismatch: 'PLAN_ARCH_MISMATCH',
  NotRescueKernel: 'PLAN_NOT_RESCUE_KERNEL',
  FirmwareMap: 'PLAN_FIRMWARE_MAP',
  /** --its-handoff names a mode the profile's firmware cannot carry (memreserve needs EFI, fdt needs a DTB). */
  ItsHandoff: 'PLAN_ITS_HANDOFF',
  Invalid: 'PLAN_INVALID',
} as const;
/** A load plan that cannot be made or does not hold together; `details.problems` lists every problem. */
export class PlanError extends KbootError<CodeOf<typeof PlanCode>> {
  readonly domain = 'plan';
  override readonly name = 'PlanError';
}

/** Codes of IoError: files that cannot be opened, read or created as kboot requires. */
export const IoCode = {
  /** The path does not exist (or a directory on the way does not). */
  NotFound: 'IO_NOT_FOUND',
  /** Permission denied by the system (EACCES / EPERM). */
  Permission: 'IO_PERMISSION',
  /** An input that is not a regular file: a directory, device, FIFO, socket (details.kind). */
  NotRegular: 'IO_NOT_REGULAR',
  /** A symbolic link where kboot neither reads nor writes through one (inside a dump directory). */
  Symlink: 'IO_SYMLINK',
  /** An input larger than its kind's bound (details.limit). */
  TooLarge: 'IO_TOO_LARGE',
  /** A read that failed (details.reason: the errno name). */
  Read: 'IO_READ',
  /** A file kboot was to create already exists. */
  Exists: 'IO_EXISTS',
  /** A write, link, rename or sync that failed (details.reason: the errno name). */
  Write: 'IO_WRITE',
  /** An output directory that is not a directory, or cannot be created. */
  NotDirectory: 'IO_NOT_DIRECTORY',
  /** Another kboot command holds the lock on a state directory (details.waitedMs). */
  Locked: 'IO_LOCKED',
  /** Not enough room in a file system for what would be written (details.needed, details.available). */
  NoSpace: 'IO_NO_SPACE',
} as const;
/**
 * A file-system operation kboot could not carry out safely: an input that is not a regular
 * file or is too large, an output that exists or cannot be created, a lock held by another
 * command. `details.path` names the file; `details.reason` the system's errno name.
 */
export class IoError extends KbootError<CodeOf<typeof IoCode>> {
  readonly domain = 'io';
  override readonly name = 'IoError';
}

/** True for any error kboot raised on purpose (as opposed to a bug). */
export function isKbootError(e: unknown): e is KbootError {
  return e instanceof KbootError;
}
