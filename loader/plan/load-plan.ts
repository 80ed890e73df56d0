/**
 * LoadPlan: where every byte of a rescue hand-off goes, as an immutable value, and the
 * validator that checks a plan before anything is written.
 *
 * Contract: a plan names its reservation (`region`), the segments inside it (sorted by
 * physical address; `data` is written, the rest of `memSize` is zero), the relocation
 * between the kernel's link addresses and physical memory, and the hand-off descriptors.
 * `validatePlan` reports EVERY problem at once (overlaps naming both segments and their
 * ranges, misalignment, segments outside the region, a region over memory the plan may not
 * use) as one `PlanError(PLAN_INVALID)` with `details.problems`. Model: kexec-tools'
 * segment list + QEMU's ROM overlap report (shared/design/ANCHORS.md §4, §5).
 */
import {
  add,
  formatRange,
  hex,
  isAligned,
  offsetFrom,
  overlaps,
  rangeEnd,
  SZ_2M,
  SZ_4K,
  type KernelVa,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../addr.js';
import type { Arch } from '../arch/index.js';
import { PlanCode, PlanError } from '../errors.js';
import type { MemoryMap } from './memory-map.js';
import type { DeviceTable } from './profile.js';

/** What a segment holds. */
export type SegmentKind =
  | 'params'
  | 'firmware-map'
  | 'efi-fb'
  | 'kenv'
  | 'page-tables'
  | 'kernel'
  /** The GICv3 ITS descriptor page (EFI system table, LINUX_EFI_MEMRESERVE: loader/plan/its-handoff.ts). */
  | 'its-descriptors';

/** Bytes placed at a physical address (≈ kexec_segment). */
export interface Segment {
  readonly kind: SegmentKind;
  /** Used in diagnostics: "rescue_kernel_params", "EFI map copy", "kernel rescue.elf". */
  readonly label: string;
  readonly phys: PhysAddr;
  readonly data: Uint8Array;
  /** ≥ data.length; the tail is zero-filled. */
  readonly memSize: Size;
  /** Required alignment of `phys`. */
  readonly align: Size;
}

/** The only way between the rescue kernel's link addresses and physical memory. */
export interface Relocation {
  /** Physical address of kernel file offset 0 (reservation + 2 MiB). */
  readonly kernelPhys: PhysAddr;
  /** The VA that maps to `kernelPhys` (the arch's KERNSTART). */
  readonly kernelVa: KernelVa;
  readonly region: PhysRange;
  toPhys(va: KernelVa): PhysAddr;
  /** Offset of a physical address from the start of the reservation. */
  toOffset(pa: PhysAddr): Size;
}

/** Builds the relocation for a kernel whose file offset 0 is linked at `kernelVa`. */
export function makeRelocation(region: PhysRange, kernelPhys: PhysAddr, kernelVa: KernelVa): Relocation {
  return {
    kernelPhys,
    kernelVa,
    region,
    toPhys: (va) => add(kernelPhys, offsetFrom(va, kernelVa)),
    toOffset: (pa) => offsetFrom(pa, region.start),
  };
}

/** Throws PLAN_ARCH_MISMATCH unless the kernel is built for the machine's arch. */
export function requireSameArch(
  kernel: { readonly arch: Arch },
  kernelName: string,
  profile: { readonly arch: Arch; readonly name: string },
): void {
  if (kernel.arch !== profile.arch) {
    throw new PlanError(
      PlanCode.ArchMismatch,
      `plan: ${kernelName} is an ${kernel.arch} kernel but machine ${profile.name} is ${profile.arch}`,
      {
        kernelArch: kernel.arch,
        machineArch: profile.arch,
      },
    );
  }
}

/** A device-owned range both kernels must leave in place. */
export interface DeviceReservation {
  readonly reason: DeviceTable['kind'];
  readonly range: PhysRange;
}

/** What the rescue kernel may do with each part of memory after the jump. */
export interface UsedMemory {
  /** The reservation: the rescue kernel's own RAM. */
  readonly rescueWritable: readonly PhysRange[];
  /** Host RAM the rescue kernel reads (to dump it) and must never write. */
  readonly rescueReadOnly: readonly PhysRange[];
  /** Ranges nobody may touch: device tables still in use, firmware runtime memory. */
  readonly untouchable: readonly PhysRange[];
}

/** A problem that does not stop the plan but that the user must know. */
export interface PlanWarning {
  readonly code: string;
  readonly message: string;
}

/** A hand-off described, not applied: the region, the segments to stage there, the entry and what memory each side may use. */
export interface LoadPlan {
  readonly arch: Arch;
  readonly profileName: string;
  readonly memoryMap: MemoryMap;
  /** The reservation. */
  readonly region: PhysRange;
  readonly placementWhy: string;
  /** debug.rescue_memsize (the rescue kernel's free memory). */
  readonly rescueMemsize: Size;
  readonly relocation: Relocation;
  /** Sorted by phys. */
  readonly segments: readonly Segment[];
  /** Physical address the jump enters (reservation + 2 MiB + (e_entry − KERNSTART)). */
  readonly entry: PhysAddr;
  readonly kernelEntryVa: KernelVa;
  readonly deviceReservations: readonly DeviceReservation[];
  readonly usedMemory: UsedMemory;
  readonly warnings: readonly PlanWarning[];
}

/** One validation problem. */
export interface PlanProblem {
  readonly kind: 'overlap' | 'out-of-region' | 'misaligned' | 'forbidden-memory' | 'size';
  readonly message: string;
}

const segRange = (s: Segment): PhysRange => ({ start: s.phys, size: s.memSize });

/** Checks a plan; throws PLAN_INVALID listing every problem. Returns the plan for chaining. */
export function validatePlan(plan: LoadPlan): LoadPlan {
  const problems: PlanProblem[] = [];
  const { region } = plan;
  if (!isAligned(region.start, SZ_2M)) {
    problems.push({ kind: 'misaligned', message: `reservation ${formatRange(region)} is not 2 MiB aligned` });
  }
  const sorted = [...plan.segments].sort((a, b) => (a.phys < b.phys ? -1 : a.phys > b.phys ? 1 : 0));
  for (const s of sorted) {
    const r = segRange(s);
    if (BigInt(s.data.length) > s.memSize) {
      problems.push({
        kind: 'size',
        message: `"${s.label}" holds ${hex(s.data.length)} bytes but only ${hex(s.memSize)} are reserved for it`,
      });
    }
    if (!isAligned(s.phys, s.align)) {
      problems.push({
        kind: 'misaligned',
        message: `"${s.label}" at ${hex(s.phys)} is not aligned to ${hex(s.align)}`,
      });
    }
    if (r.start < region.start || rangeEnd(r) > rangeEnd(region)) {
      problems.push({
        kind: 'out-of-region',
        message: `"${s.label}" ${formatRange(r)} lies outside the reservation ${formatRange(region)}`,
      });
    }
  }
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      const a = sorted[i];
      const b = sorted[j];
      if (a === undefined || b === undefined) continue;
      if (overlaps(segRange(a), segRange(b))) {
        problems.push({
          kind: 'overlap',
          message: `"${a.label}" ${formatRange(segRange(a))}  ×  "${b.label}" ${formatRange(segRange(b))}`,
        });
      }
    }
  }
  for (const e of plan.memoryMap.entries) {
    if (e.use !== 'free' && overlaps(e.range, region)) {
      problems.push({
        kind: 'forbidden-memory',
        message: `reservation ${formatRange(region)} overlaps ${e.use} "${e.label}" ${formatRange(e.range)}`,
      });
    }
  }
  if (!plan.memoryMap.free.some((f) => region.start >= f.start && rangeEnd(region) <= rangeEnd(f))) {
    problems.push({
      kind: 'forbidden-memory',
      message: `reservation ${formatRange(region)} is not inside one run of free RAM`,
    });
  }
  const kernel = sorted.find((s) => s.kind === 'kernel');
  if (kernel !== undefined && !isAligned(kernel.phys, SZ_2M)) {
    problems.push({ kind: 'misaligned', message: `the kernel at ${hex(kernel.phys)} is not 2 MiB aligned` });
  }
  const pt = sorted.find((s) => s.kind === 'page-tables');
  if (pt !== undefined && !isAligned(pt.phys, SZ_4K)) {
    problems.push({ kind: 'misaligned', message: `the page-table pool at ${hex(pt.phys)} is not page aligned` });
  }
  if (problems.length > 0) {
    throw new PlanError(
      PlanCode.Invalid,
      `plan: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the plan for reservation ${formatRange(region)}:\n${problems
        .map((p) => `  ${p.message}`)
        .join('\n')}`,
      { problems },
    );
  }
  return plan;
}
