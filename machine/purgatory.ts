/**
 * Purgatory-style corruption check of a staged rescue kernel: when it is armed, a SHA-256 of
 * every staged segment as it lies in guest RAM; before the jump, the same bytes hashed again
 * and the jump refused if any segment changed, naming it.
 *
 * Model: kexec-tools. At load, kexec/kexec.c update_purgatory() hashes every segment (buf,
 * then zeros up to memsz) and pokes the regions and the digest into the purgatory
 * (sha256_regions, sha256_digest); purgatory/purgatory.c purgatory() re-hashes those regions
 * in memory (verify_sha256_digest) before entering the loaded kernel and loops forever on a
 * mismatch, so the crash kernel is never entered. Linux's kexec_file_load does the same
 * (kernel/kexec_file.c kexec_calculate_store_digests, arch/x86/purgatory/purgatory.c), and
 * both leave out of the digest what is legitimately rewritten after load (the purgatory
 * segment itself; the elfcorehdr under CONFIG_CRASH_HOTPLUG): `exclude` does that here.
 * Differences: one digest per segment instead of one over all of them, so a mismatch names
 * the segment; the digest is taken from guest RAM right after staging (not from the loader's
 * buffers); the check runs in the host model before the trampoline, not as guest code.
 *
 * Contract: `recordSegments` and `verifySegments` only read guest RAM (a segment that is not
 * RAM is GuestRam's MachineError GUEST_RANGE). A hashed segment is its range minus the
 * excluded ranges, hashed piece by piece in address order. `verifySegments` never throws for
 * a mismatch: it returns every changed segment, in record order, with both digests and, when
 * the bytes the loader staged were given to `recordSegments` (and matched RAM then), the
 * physical address of the first changed byte. Staged bytes are referenced, not copied.
 * `digestArmedPlan` says what of an armed D47358 reservation is hashed (and what is not).
 */
import assert from 'node:assert/strict';
import { createHash, type Hash } from 'node:crypto';
import {
  add,
  formatRange,
  hex,
  overlaps,
  phys,
  range,
  rangeEnd,
  size,
  type PhysAddr,
  type PhysRange,
} from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { AMD64_RESCUE_DUMP_PARAMS_SIZE, ARM64_RESCUE_DUMP_PARAMS_SIZE } from '../loader/handoff/params.js';
import type { RescuePlan } from '../loader/plan/rescue-plan.js';
import { normalize, subtract } from '../loader/plan/ranges.js';
import { MAX_VIEW_BYTES, resolveRange, type GuestRam } from '../loader/memory/guest-ram.js';

/** A staged segment to protect. */
export interface SegmentSpec {
  /** Names the segment in a refusal ("kernel rescue.elf", "rescue kenv", "kexec segment 1 (...)"). */
  readonly label: string;
  readonly range: PhysRange;
  /**
   * What the loader placed at `range.start` (the plan segment's data, the kexec segment's buf);
   * bytes past its end up to `range.size` are zero (kexec zero-fills memsz - bufsz). Used
   * only to locate the first changed byte; kept only if it matched guest RAM when recorded.
   */
  readonly staged?: Uint8Array;
}

export interface RecordOptions {
  /** Ranges rewritten legitimately between arming and the jump; left out of every digest. */
  readonly exclude?: readonly PhysRange[];
}

/** One recorded segment. */
export interface SegmentDigest {
  readonly label: string;
  readonly range: PhysRange;
  /** The parts of `range` hashed (range minus the excluded ranges), in address order. */
  readonly hashed: readonly PhysRange[];
  /** SHA-256 of the hashed parts, concatenated, lower-case hex. */
  readonly sha256: string;
}

/** What `recordSegments` took at arming time (≈ kexec-tools' sha256_regions + sha256_digest). */
export interface SegmentDigests {
  readonly algorithm: 'sha256';
  readonly segments: readonly SegmentDigest[];
  readonly excluded: readonly PhysRange[];
}

/** A segment whose bytes in guest RAM no longer hash to the recorded digest. */
export interface ChangedSegment {
  readonly label: string;
  readonly range: PhysRange;
  readonly expected: string;
  readonly actual: string;
  /** Physical address of the first changed byte, when the staged bytes are known. */
  readonly firstDifferingByte?: PhysAddr;
}

export type SegmentCheck = { readonly ok: true } | { readonly ok: false; readonly changed: readonly ChangedSegment[] };

/** The staged bytes of a digest, when given and consistent with RAM at record time. */
const stagedBytes = new WeakMap<SegmentDigest, Uint8Array>();

const ZERO_CHUNK = new Uint8Array(64 * 1024);

function updateFromRam(h: Hash, ram: GuestRam, r: PhysRange): void {
  for (const p of resolveRange(ram.regions, 'sha256', r.start, r.size)) {
    for (let off = 0; off < p.len; off += MAX_VIEW_BYTES) {
      h.update(ram.view(add(p.at, size(off)), Math.min(MAX_VIEW_BYTES, p.len - off)));
    }
  }
}

/** Feeds `[from, from + len)` of `staged` (zero past its end) to `h`. */
function updateFromStaged(h: Hash, staged: Uint8Array, from: number, len: number): void {
  const end = from + len;
  if (from < staged.length) h.update(staged.subarray(from, Math.min(end, staged.length)));
  for (let at = Math.max(from, staged.length); at < end; at += ZERO_CHUNK.length) {
    h.update(ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.length, end - at)));
  }
}

function hashRam(ram: GuestRam, pieces: readonly PhysRange[]): string {
  const h = createHash('sha256');
  for (const r of pieces) updateFromRam(h, ram, r);
  return h.digest('hex');
}

function hashStaged(seg: PhysRange, staged: Uint8Array, pieces: readonly PhysRange[]): string {
  const h = createHash('sha256');
  for (const r of pieces) updateFromStaged(h, staged, Number(r.start - seg.start), Number(r.size));
  return h.digest('hex');
}

/** Records the SHA-256 of every segment as it lies in guest RAM now (see the module contract). */
export function recordSegments(
  ram: GuestRam,
  segments: readonly SegmentSpec[],
  opts: RecordOptions = {},
): SegmentDigests {
  const excluded = normalize(opts.exclude ?? []);
  const out = segments.map((s) => {
    const hashed = subtract([s.range], excluded);
    const digest: SegmentDigest = Object.freeze({
      label: s.label,
      range: s.range,
      hashed: Object.freeze(hashed),
      sha256: hashRam(ram, hashed),
    });
    if (s.staged !== undefined) {
      assert(BigInt(s.staged.length) <= s.range.size, `the staged bytes of "${s.label}" overrun its range`);
      if (hashStaged(s.range, s.staged, hashed) === digest.sha256) stagedBytes.set(digest, s.staged);
    }
    return digest;
  });
  return Object.freeze({ algorithm: 'sha256', segments: Object.freeze(out), excluded: Object.freeze(excluded) });
}

/** The first byte of `d`'s hashed parts that differs from its staged bytes, if they are known. */
function firstDifference(ram: GuestRam, d: SegmentDigest): PhysAddr | undefined {
  const staged = stagedBytes.get(d);
  if (staged === undefined) return undefined;
  for (const r of d.hashed) {
    for (const p of resolveRange(ram.regions, 'sha256', r.start, r.size)) {
      for (let off = 0; off < p.len; off += ZERO_CHUNK.length) {
        const n = Math.min(ZERO_CHUNK.length, p.len - off);
        const at = p.at + BigInt(off);
        const now = ram.view(phys(at), n);
        const from = Number(at - d.range.start);
        const want = new Uint8Array(n);
        if (from < staged.length) want.set(staged.subarray(from, Math.min(from + n, staged.length)));
        if (Buffer.compare(now, want) === 0) continue;
        for (let i = 0; i < n; i++) if (now[i] !== want[i]) return phys(at + BigInt(i));
      }
    }
  }
  return undefined;
}

/** Hashes every recorded segment again and reports the ones that changed (see the module contract). */
export function verifySegments(ram: GuestRam, digests: SegmentDigests): SegmentCheck {
  const changed: ChangedSegment[] = [];
  for (const d of digests.segments) {
    const actual = hashRam(ram, d.hashed);
    if (actual === d.sha256) continue;
    const first = firstDifference(ram, d);
    changed.push({
      label: d.label,
      range: d.range,
      expected: d.sha256,
      actual,
      ...(first === undefined ? {} : { firstDifferingByte: first }),
    });
  }
  return changed.length === 0 ? { ok: true } : { ok: false, changed };
}

/** `segment <label> [range] changed since load (sha256 expected … got …)`, for logs and refusals. */
export function describeChange(c: ChangedSegment): string {
  const at = c.firstDifferingByte === undefined ? '' : `, first changed byte at ${hex(c.firstDifferingByte)}`;
  return `segment ${c.label} [${formatRange(c.range)}] changed since load (sha256 expected ${c.expected.slice(0, 16)}… got ${c.actual.slice(0, 16)}…${at})`;
}

/** Why a jump is refused: the first changed segment described, the others named. */
export function refusalReason(changed: readonly ChangedSegment[]): string {
  const [first, ...more] = changed;
  if (first === undefined) return 'purgatory: no segment changed';
  const others = more.length === 0 ? '' : `; ${more.length} more changed: ${more.map((c) => c.label).join(', ')}`;
  return `purgatory: ${describeChange(first)}${others}`;
}

/** True when `pa` lies in a recorded segment's hashed parts (a write there will be caught). */
export function isProtected(digests: SegmentDigests, pa: PhysAddr): boolean {
  return digests.segments.some((d) => d.hashed.some((r) => pa >= r.start && pa < rangeEnd(r)));
}

/** A kexec_load segment as the purgatory hashes it (mem, memsz; buf zero-filled up to memsz). */
export interface LoadedSegment {
  readonly buf: Uint8Array;
  readonly mem: bigint;
  readonly memsz: bigint;
}

/**
 * The digests of an armed rescue plan, taken when it is armed: each plan segment's bytes as
 * placed and, for kexec_load, each loaded segment (mem, memsz: kexec zero-fills the tail).
 * Left out: the rescue_dump_params at the reservation's start and the amd64 bootstrap
 * page-table pool, which the host writes at the panic (rescue_dump_params_init,
 * rescue_kernel_exec), as kexec leaves the purgatory and a hotplug elfcorehdr out.
 */
export function digestArmedPlan(
  ram: GuestRam,
  arch: Arch,
  plan: RescuePlan,
  loaded: readonly LoadedSegment[] = [],
): SegmentDigests {
  const params = arch === 'amd64' ? AMD64_RESCUE_DUMP_PARAMS_SIZE : ARM64_RESCUE_DUMP_PARAMS_SIZE;
  const span = (s: RescuePlan['segments'][number]): PhysRange =>
    range(s.phys, s.memSize > size(s.data.length) ? s.memSize : size(s.data.length));
  const exclude = [
    range(plan.region.start, size(params)),
    ...plan.segments.filter((s) => s.kind === 'page-tables').map(span),
  ];
  const segments: SegmentSpec[] = [
    ...plan.segments
      .filter((s) => s.data.length > 0)
      .map((s) => ({ label: s.label, range: range(s.phys, size(s.data.length)), staged: s.data })),
    ...loaded.map((seg, i) => {
      const r = range(phys(seg.mem), size(seg.memsz));
      const inside = plan.segments.filter((s) => overlaps(r, span(s))).map((s) => s.label);
      return { label: `kexec segment ${i} (${inside.join(', ')})`, range: r, staged: seg.buf };
    }),
  ];
  return recordSegments(ram, segments, { exclude });
}
