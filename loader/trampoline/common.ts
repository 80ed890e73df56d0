/**
 * Checks and helpers both arches' trampoline builders share. Contract: every rejected input
 * is a `TrampolineError` with its own code (never a TypeError, AddrError or BytesError), and a
 * check that can find several problems (copy lengths, overlaps) reports all of them at once in
 * `details.problems`. Rules: KEXEC_SEGMENT_MAX and the overlap rules of kern_kexec.c /
 * Linux sanity_check_segment_list (shared/spec/freebsd-handoff.md §6), `.p2align 6` for code
 * that must not straddle a page (D47358 sys/amd64/amd64/locore.S rescue_tramp).
 */
import assert from 'node:assert/strict';
import {
  formatRange,
  hex,
  overlaps,
  size as sizeOf,
  SZ_4K,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../addr.js';
import { TrampolineCode, TrampolineError } from '../arch/errors.js';
import type { KexecCopy, KexecRebootInput } from './types.js';
import { TRAMP_COPY_SLOTS } from './layout.js';

/** Code alignment: `.p2align 6` keeps code of up to 64 bytes inside one page. */
export const CODE_ALIGN = 64;

type Code = (typeof TrampolineCode)[keyof typeof TrampolineCode];

/** Throws a TrampolineError whose message reads `trampoline: <message>`. */
export function fail(code: Code, message: string, details: Record<string, unknown> = {}): never {
  throw new TrampolineError(code, `trampoline: ${message}`, details);
}

/**
 * Code at `pa` (run at `va`) of `size` bytes: both 64-byte aligned, so that code of up to 64
 * bytes cannot straddle a page (else TRAMPOLINE_CODE_MISALIGNED), and at the same offset in
 * their pages (else TRAMPOLINE_BAD_INPUT). Longer code is placed page aligned by its builder.
 */
export function checkCodePlacement(pa: bigint, va: bigint, size: number, what: string): void {
  if (pa % BigInt(CODE_ALIGN) !== 0n || va % BigInt(CODE_ALIGN) !== 0n) {
    fail(
      TrampolineCode.CodeMisaligned,
      `${what} at ${hex(pa)} (VA ${hex(va)}) is not ${CODE_ALIGN}-byte aligned, so it could straddle a page`,
      { pa, va, align: CODE_ALIGN },
    );
  }
  if (pa % SZ_4K !== va % SZ_4K) {
    fail(TrampolineCode.BadInput, `${what}: PA ${hex(pa)} and VA ${hex(va)} lie at different offsets in their pages`, {
      pa,
      va,
    });
  }
  assert(pa / SZ_4K === (pa + BigInt(Math.max(size, 1)) - 1n) / SZ_4K, `${what} fits in one page`);
}

/** Throws TRAMPOLINE_BAD_INPUT unless `sp` lies in (va, va + pages·4 KiB]. */
export function checkStack(stack: {
  readonly va: bigint;
  readonly pages: readonly unknown[];
  readonly sp: bigint;
}): Size {
  const size = sizeOf(BigInt(stack.pages.length) * SZ_4K);
  if (stack.pages.length === 0 || stack.sp <= stack.va || stack.sp > stack.va + size) {
    fail(
      TrampolineCode.BadInput,
      `the stack pointer ${hex(stack.sp)} is not inside the kernel stack ${hex(stack.va)} + ${hex(size)}`,
      { sp: stack.sp, va: stack.va, size },
    );
  }
  return size;
}

/** A labelled physical range the copies must leave alone. */
export interface Keepout {
  readonly label: string;
  readonly range: PhysRange;
}

const rangeOf = (start: PhysAddr, len: Size): PhysRange => ({ start, size: len });

/**
 * Validates the kexec copies (and the optional memmap copy) for a loop that moves `unit` bytes
 * at a time, with every address below `limit`:
 *  - more than 16 copies: TRAMPOLINE_TOO_MANY_SEGMENTS;
 *  - lengths that are not multiples of `unit`: TRAMPOLINE_SEGMENT_LENGTH (all of them);
 *  - ranges past `limit` (or negative): TRAMPOLINE_BAD_RANGE;
 *  - two destinations that overlap, a source under any destination (it would be overwritten
 *    before or while it is read), or a keepout (the trampoline, its data and tables) under a
 *    source or destination: TRAMPOLINE_SEGMENT_OVERLAP, every pair listed. The memmap copy runs
 *    last and may write inside a destination (kboot points it into the copied metadata).
 */
export function checkCopies(input: KexecRebootInput, unit: number, limit: bigint, keepouts: readonly Keepout[]): void {
  const { copies } = input;
  const memmap = input.kernel.memmap;
  if (copies.length > TRAMP_COPY_SLOTS) {
    fail(TrampolineCode.TooManySegments, `${copies.length} copies, at most ${TRAMP_COPY_SLOTS} (KEXEC_SEGMENT_MAX)`, {
      count: copies.length,
      max: TRAMP_COPY_SLOTS,
    });
  }
  const all: { label: string; len: Size; starts: bigint[] }[] = copies.map((c) => ({
    label: c.label,
    len: c.len,
    starts: [c.src, c.dst],
  }));
  if (memmap !== undefined) all.push({ label: 'memmap', len: memmap.len, starts: [memmap.src, memmap.dst] });
  const short = all.filter((c) => c.len % BigInt(unit) !== 0n);
  if (short.length > 0) {
    fail(
      TrampolineCode.SegmentLength,
      `${short.length} cop${short.length === 1 ? 'y is' : 'ies are'} not a multiple of ${unit} bytes: ${short
        .map((c) => `"${c.label}" ${hex(c.len)}`)
        .join(', ')}`,
      { unit, problems: short.map((c) => ({ label: c.label, len: c.len })) },
    );
  }
  const far = all.filter((c) => c.len < 0n || c.starts.some((s) => s < 0n || s + c.len > limit));
  if (far.length > 0) {
    fail(
      TrampolineCode.BadRange,
      `${far.map((c) => `"${c.label}"`).join(', ')} reach${far.length === 1 ? 'es' : ''} past ${hex(limit)}`,
      { limit, labels: far.map((c) => c.label) },
    );
  }
  const problems: string[] = [];
  const note = (a: string, ra: PhysRange, b: string, rb: PhysRange): void => {
    if (overlaps(ra, rb)) problems.push(`${a} ${formatRange(ra)}  ×  ${b} ${formatRange(rb)}`);
  };
  const dst = (c: KexecCopy): PhysRange => rangeOf(c.dst, c.len);
  const src = (c: KexecCopy): PhysRange => rangeOf(c.src, c.len);
  copies.forEach((a, i) => {
    copies.forEach((b, j) => {
      if (j > i) note(`destination of "${a.label}"`, dst(a), `destination of "${b.label}"`, dst(b));
      note(`source of "${a.label}"`, src(a), `destination of "${b.label}"`, dst(b));
    });
    for (const k of keepouts) {
      note(k.label, k.range, `destination of "${a.label}"`, dst(a));
      note(k.label, k.range, `source of "${a.label}"`, src(a));
    }
  });
  if (memmap !== undefined) {
    const ms = rangeOf(memmap.src, memmap.len);
    const md = rangeOf(memmap.dst, memmap.len);
    copies.forEach((b) => note('memmap source', ms, `destination of "${b.label}"`, dst(b)));
    for (const k of keepouts) {
      note(k.label, k.range, 'memmap source', ms);
      note(k.label, k.range, 'memmap destination', md);
    }
  }
  if (problems.length > 0) {
    fail(
      TrampolineCode.SegmentOverlap,
      `${problems.length} overlap${problems.length === 1 ? '' : 's'} between copies and the trampoline:\n${problems
        .map((p) => `  ${p}`)
        .join('\n')}`,
      { problems },
    );
  }
}

/** The destinations a kexec trampoline writes: each copy's, then the memmap's. */
export function copyDestinations(input: KexecRebootInput): PhysRange[] {
  const out = input.copies.filter((c) => c.len > 0n).map((c) => rangeOf(c.dst, c.len));
  const mm = input.kernel.memmap;
  if (mm !== undefined && mm.len > 0n) out.push(rangeOf(mm.dst, mm.len));
  return out;
}

/** The physical ranges an identity map for a kexec run must cover: the first page and every copy. */
export function copyFootprint(input: KexecRebootInput): PhysRange[] {
  const out: PhysRange[] = [rangeOf(input.at, SZ_4K)];
  for (const c of input.copies) out.push(rangeOf(c.src, c.len), rangeOf(c.dst, c.len));
  const mm = input.kernel.memmap;
  if (mm !== undefined) out.push(rangeOf(mm.src, mm.len), rangeOf(mm.dst, mm.len));
  return out.filter((r) => r.size > 0n);
}

/** Concatenates page images that follow each other from the first one's address. */
export function joinPages(pages: readonly { readonly pa: PhysAddr; readonly bytes: Uint8Array }[]): Uint8Array {
  const out = new Uint8Array(pages.reduce((n, p) => n + p.bytes.length, 0));
  let off = 0;
  for (const p of pages) {
    out.set(p.bytes, off);
    off += p.bytes.length;
  }
  return out;
}

/** `[start, start + n)` as a PhysRange (for the ranges the builders report; `n` a byte count). */
export function physRange(start: PhysAddr, n: bigint | number): PhysRange {
  return { start, size: sizeOf(n) };
}
