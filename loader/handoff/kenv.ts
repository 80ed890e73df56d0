/**
 * The boot environment ("kenv") block handed to the kernel through MODINFOMD_ENVP, and the
 * rescue kernel's copy of it in the reservation. Spec: shared/spec/freebsd-handoff.md §1.6,
 * §8.3, §10.4.
 *
 * Contract:
 * - Format (stand/common/modinfo.c md_copyenv): each entry is `name=value` followed by one
 *   NUL; one more NUL ends the block. An empty environment is that single NUL (md_copyenv
 *   writes the final NUL even when the loop copied nothing).
 * - encodeKenv refuses what the kernel would not read back as the same entry: an empty name,
 *   `=` or NUL in a name, NUL in a value (HANDOFF_KENV_BAD_ENTRY), and an entry longer than
 *   init_dynamic_kenv_from accepts, `strlen + 1 > KENV_MNAMELEN + 1 + KENV_MVALLEN + 1`
 *   (sys/kern/kern_environment.c; the kernel drops such entries with "WARNING: too long kenv
 *   string") as HANDOFF_KENV_TOO_LARGE.
 * - decodeKenv reads up to the terminating empty string (bytes after it are ignored, as the
 *   kernel's kernenv_next walk never looks past it), bounds the bytes scanned and the entry
 *   count, and throws only HandoffError (fuzz contract).
 * - rescueKenv reproduces rescue_kernel_init (markjdb/freebsd @bd74b35,
 *   sys/{amd64,arm64}/{amd64,arm64}/rescue_machdep.c): `kern.smp.disabled=1` first, then every
 *   host string starting with `debug.rescue.` with that prefix (dot included) removed, then
 *   every other host string, in host order. The source comment says the host's
 *   `debug.rescue_minidump=1` is omitted, but the code only filters the dotted prefix, so
 *   `debug.rescue_minidump` IS copied; this module does what the code does.
 */
import { hex } from '../addr.js';
import { HandoffCode, HandoffError } from './errors.js';

/** Maximum name length for kenv(2) (sys/sys/kenv.h). */
export const KENV_MNAMELEN = 128;
/** Maximum value length for kenv(2) (sys/sys/kenv.h); the kernel's default kenv_mvallen. */
export const KENV_MVALLEN = 128;
/** Maximum number of environment strings the kernel keeps (sys/kern/kern_environment.c KENV_SIZE). */
export const KENV_SIZE = 512;
/**
 * Longest boot-environment string the kernel keeps, counting its NUL: init_dynamic_kenv_from
 * ignores `strlen(cp) + 1 > KENV_MNAMELEN + 1 + KENV_MVALLEN + 1` (= 258).
 */
export const KENV_MAX_ENTRY_BYTES = KENV_MNAMELEN + 1 + KENV_MVALLEN + 1;

/** Prefix of host variables copied into the rescue kernel with the prefix removed (RESCUE_KENV_PREFIX). */
export const RESCUE_KENV_PREFIX = 'debug.rescue.';
/** The entry rescue_kernel_init always puts first ("SMP is disabled"). */
export const RESCUE_KENV_FIRST: KenvEntry = ['kern.smp.disabled', '1'];

/** One environment variable: `[name, value]`. */
export type KenvEntry = readonly [name: string, value: string];

/** Bounds for decodeKenv. */
export interface KenvLimits {
  /** Bytes scanned for the terminator; default 1 MiB. */
  readonly maxBytes?: number;
  /** Most entries accepted; default 4096 (the kernel itself keeps at most KENV_SIZE + 1). */
  readonly maxEntries?: number;
}

/** Default decoder limits. */
export const DEFAULT_KENV_LIMITS: Required<KenvLimits> = { maxBytes: 1 << 20, maxEntries: 4096 };

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

function badEntry(message: string, details: Record<string, unknown>): HandoffError {
  return new HandoffError(HandoffCode.KenvBadEntry, `handoff: ${message}`, details);
}

function checkEntry([name, value]: KenvEntry, index: number): Uint8Array {
  if (name.length === 0) throw badEntry(`kenv entry has an empty name (entry ${hex(index)})`, { index, value });
  if (name.includes('=') || name.includes('\0')) {
    throw badEntry(`kenv name contains '=' or NUL (entry ${hex(index)}, ${JSON.stringify(name)})`, { index, name });
  }
  if (value.includes('\0')) {
    throw badEntry(`kenv value contains NUL (entry ${hex(index)}, ${JSON.stringify(name)})`, { index, name });
  }
  const enc = utf8.encode(`${name}=${value}`);
  if (enc.length + 1 > KENV_MAX_ENTRY_BYTES) {
    throw new HandoffError(
      HandoffCode.KenvTooLarge,
      `handoff: kenv entry is longer than the kernel keeps (${JSON.stringify(name)}: ${hex(enc.length + 1)} bytes with its NUL, max ${hex(KENV_MAX_ENTRY_BYTES)})`,
      { index, name, length: enc.length + 1, max: KENV_MAX_ENTRY_BYTES },
    );
  }
  return enc;
}

/** Encodes `name=value\0 ... \0` (an empty list gives one NUL). Throws HANDOFF_KENV_BAD_ENTRY / _TOO_LARGE. */
export function encodeKenv(entries: readonly KenvEntry[]): Uint8Array {
  const parts = entries.map(checkEntry);
  const total = parts.reduce((n, p) => n + p.length + 1, 0) + 1;
  const out = new Uint8Array(total); // zero-filled: every separator and the final NUL
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length + 1;
  }
  return out;
}

/**
 * Decodes entries up to the terminating empty string. Throws HANDOFF_KENV_NO_TERMINATOR
 * (bytes end first), HANDOFF_KENV_BAD_ENTRY (a string without `=`, or with an empty name),
 * HANDOFF_KENV_TOO_LARGE (more than maxBytes scanned or maxEntries found).
 */
export function decodeKenv(bytes: Uint8Array, limits: KenvLimits = {}): KenvEntry[] {
  const maxBytes = limits.maxBytes ?? DEFAULT_KENV_LIMITS.maxBytes;
  const maxEntries = limits.maxEntries ?? DEFAULT_KENV_LIMITS.maxEntries;
  const end = Math.min(bytes.length, maxBytes);
  const out: KenvEntry[] = [];
  let off = 0;
  for (;;) {
    const nul = off < end ? bytes.subarray(off, end).indexOf(0) : -1;
    if (nul < 0) {
      const tooLarge = bytes.length > maxBytes;
      throw new HandoffError(
        tooLarge ? HandoffCode.KenvTooLarge : HandoffCode.KenvNoTerminator,
        tooLarge
          ? `handoff: kenv has no terminator within the limit (${hex(maxBytes)} of ${hex(bytes.length)} bytes scanned)`
          : `handoff: kenv ends without its terminating empty string (length ${hex(bytes.length)}, ${hex(out.length)} entries)`,
        { offset: off, length: bytes.length, maxBytes, entries: out.length },
      );
    }
    if (nul === 0) return out; // the empty string: end of the environment
    if (out.length >= maxEntries) {
      throw new HandoffError(
        HandoffCode.KenvTooLarge,
        `handoff: kenv has too many entries (more than ${hex(maxEntries)}, next at ${hex(off)})`,
        { offset: off, maxEntries },
      );
    }
    const s = bytes.subarray(off, off + nul);
    const eq = s.indexOf(0x3d); // '='
    if (eq <= 0) {
      throw badEntry(
        eq < 0
          ? `kenv entry has no '=' (entry ${hex(out.length)} at ${hex(off)}, ${hex(nul)} bytes)`
          : `kenv entry has an empty name (entry ${hex(out.length)} at ${hex(off)})`,
        { index: out.length, offset: off, length: nul },
      );
    }
    out.push([utf8Decoder.decode(s.subarray(0, eq)), utf8Decoder.decode(s.subarray(eq + 1))]);
    off += nul + 1;
  }
}

/**
 * The rescue kernel's environment built from the host's (in host kenvp order), as
 * rescue_kernel_init writes it: `kern.smp.disabled=1`, then the `debug.rescue.*` strings
 * with the prefix removed, then every other host string. Matching is on the whole
 * `name=value` string, as the C strncmp does; a host variable named exactly
 * `debug.rescue.` therefore yields an entry with an empty name, which encodeKenv refuses.
 */
export function rescueKenv(host: readonly KenvEntry[]): KenvEntry[] {
  const strings = host.map(([n, v]) => `${n}=${v}`);
  const split = (s: string): KenvEntry => {
    const eq = s.indexOf('=');
    return [s.slice(0, eq), s.slice(eq + 1)];
  };
  const prefixed = strings.filter((s) => s.startsWith(RESCUE_KENV_PREFIX));
  const others = strings.filter((s) => !s.startsWith(RESCUE_KENV_PREFIX));
  return [RESCUE_KENV_FIRST, ...prefixed.map((s) => split(s.slice(RESCUE_KENV_PREFIX.length))), ...others.map(split)];
}

/** encodeKenv(rescueKenv(host)): the bytes at kp_kenvstart, kp_kenvlen long (the final NUL counted). */
export function encodeRescueKenv(host: readonly KenvEntry[]): Uint8Array {
  return encodeKenv(rescueKenv(host));
}
