/**
 * crashSegmentsFromPlan(plan): the reservation content of a rescue LoadPlan as kexec
 * segments, the way `kboot load --crash` passes it to kexec_load(KEXEC_ON_CRASH).
 *
 * Contract: pure. Each plan segment covers the pages `[alignDown(phys), alignUp(phys +
 * memSize))`; plan segments whose page ranges touch or overlap (metadata records sharing a
 * page, adjacent tables) become one kexec segment, so destinations never overlap (Linux
 * rule 'overlap'). If that still leaves more than KEXEC_SEGMENT_MAX (16), the pairs with the
 * smallest gaps are merged until 16 remain (the gap is written as zeros, inside the
 * reservation). Every result is page aligned with a page-multiple memsz (Linux rule
 * 'alignment'), lies inside the plan's region (rule 'crash-bounds'), and carries its bytes
 * with `bufsz` = bytes up to the end of its last data, the rest zero-filled by the kernel
 * (bufsz <= memsz). Plans are validated (validatePlan) before they get here; overlapping
 * plan segments are a bug (assertion). Spec: linux-kexec.md §1.3, §2.2; freebsd-handoff.md §8.3.
 */
import assert from 'node:assert/strict';
import { add, alignDown, alignUp, offsetFrom, rangeEnd, size, type PhysAddr, type Size } from '../addr.js';
import { archInfo } from '../arch/index.js';
import type { KexecBootPlan } from '../plan/kexec-plan.js';
import type { LoadPlan } from '../plan/load-plan.js';
import { FREEBSD_KEXEC, LINUX_KEXEC, LINUX_KEXEC_ARCH, type KexecAbi } from './abi.js';
import type { KexecRequest } from './rules.js';

/** One kexec segment built from a plan. */
export interface CrashSegment {
  /** Destination (page aligned). */
  readonly mem: PhysAddr;
  /** Bytes reserved at the destination (page multiple). */
  readonly memsz: Size;
  /** The bytes written (bufsz = length); the rest up to memsz is zero. */
  readonly buf: Uint8Array;
  /** Labels of the plan segments inside, in address order. */
  readonly labels: readonly string[];
}

interface Group {
  start: PhysAddr;
  end: PhysAddr;
  members: LoadPlan['segments'][number][];
}

/** Builds at most `maxSegments` (default 16) page-aligned kexec segments from a plan (see the module contract). */
export function crashSegmentsFromPlan(plan: LoadPlan, opts: { readonly maxSegments?: number } = {}): CrashSegment[] {
  const max = opts.maxSegments ?? LINUX_KEXEC.SEGMENT_MAX;
  assert(Number.isInteger(max) && max >= 1, 'maxSegments must be a positive integer');
  const page = archInfo(plan.arch).pageSize;
  const sorted = [...plan.segments]
    .filter((s) => s.memSize > 0n || s.data.length > 0)
    .sort((a, b) => (a.phys < b.phys ? -1 : a.phys > b.phys ? 1 : 0));
  const groups: Group[] = [];
  let prevEnd = -1n;
  for (const s of sorted) {
    const dataLength = size(s.data.length);
    const memEnd = add(s.phys, s.memSize > dataLength ? s.memSize : dataLength);
    assert(s.phys >= prevEnd, `plan segments overlap at ${s.phys} ("${s.label}")`);
    prevEnd = memEnd;
    const start = alignDown(s.phys, page);
    const end = alignUp(memEnd, page);
    const last = groups[groups.length - 1];
    if (last !== undefined && start <= last.end) {
      if (end > last.end) last.end = end;
      last.members.push(s);
    } else {
      groups.push({ start, end, members: [s] });
    }
  }
  while (groups.length > max) {
    let best = 1;
    let bestGap: bigint | undefined;
    for (let i = 1; i < groups.length; i++) {
      const a = groups[i - 1];
      const b = groups[i];
      if (a === undefined || b === undefined) continue;
      const gap = b.start - a.end;
      if (bestGap === undefined || gap < bestGap) {
        bestGap = gap;
        best = i;
      }
    }
    const a = groups[best - 1];
    const b = groups[best];
    assert(a !== undefined && b !== undefined);
    a.end = b.end;
    a.members.push(...b.members);
    groups.splice(best, 1);
  }
  return groups.map((g) => {
    const dataEnd = g.members.reduce((e: bigint, s) => {
      const end = s.phys + BigInt(s.data.length);
      return end > e ? end : e;
    }, g.start);
    const buf = new Uint8Array(Number(dataEnd - g.start));
    for (const s of g.members) buf.set(s.data, Number(s.phys - g.start));
    assert(
      g.start >= plan.region.start && g.end <= rangeEnd(plan.region),
      'a plan segment lies outside the plan region',
    );
    return Object.freeze({
      mem: g.start,
      memsz: offsetFrom(g.end, g.start),
      buf,
      labels: Object.freeze(g.members.map((s) => s.label)),
    });
  });
}

/**
 * The kexec_load request that loads a rescue plan as a crash image: its segments, entry at
 * the plan's entry point (or `opts.entry`, e.g. a trampoline), and flags — Linux:
 * KEXEC_ON_CRASH | KEXEC_ARCH for the plan's arch; FreeBSD: 0 (its kexec has no crash
 * images and `flags` is reserved).
 */
export function crashRequestFromPlan(
  plan: LoadPlan,
  abi: KexecAbi,
  opts: { readonly entry?: PhysAddr } = {},
): KexecRequest {
  const segs = crashSegmentsFromPlan(plan, {
    maxSegments: abi === 'linux' ? LINUX_KEXEC.SEGMENT_MAX : FREEBSD_KEXEC.SEGMENT_MAX,
  });
  return {
    entry: opts.entry ?? plan.entry,
    flags: abi === 'linux' ? LINUX_KEXEC.ON_CRASH | LINUX_KEXEC_ARCH[plan.arch] : 0n,
    segments: segs.map((s) => ({ buf: s.buf, bufsz: BigInt(s.buf.length), mem: s.mem, memsz: s.memsz })),
  };
}

/**
 * The kexec_load request of a normal (loader.kboot-style) image: the plan's segments as they
 * are (already page aligned and sorted), entered at the kernel's entry; flags Linux:
 * KEXEC_ARCH for the arch (what loader.kboot passes), FreeBSD: 0.
 */
export function bootRequestFromPlan(plan: KexecBootPlan, abi: KexecAbi): KexecRequest {
  return {
    entry: plan.entryPa,
    flags: abi === 'linux' ? LINUX_KEXEC_ARCH[plan.arch] : 0n,
    segments: plan.segments.map((seg) => ({
      buf: seg.data,
      bufsz: BigInt(seg.data.length),
      mem: seg.phys,
      memsz: seg.memSize,
    })),
  };
}
