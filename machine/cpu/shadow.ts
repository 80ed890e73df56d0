/**
 * Shadow planning (pure): which Unicorn windows represent the guest's live translation.
 * Unicorn 2.0.1 checks every VA against its memory map and, on x86-64, accesses PA == VA after
 * its page walk (shared/spec/unicorn-system.md findings 1-2), so kboot maps VA windows over
 * guest RAM following the tables its own walkers read.
 *
 * Contract: `planAmd64Shadow` / `planArm64Shadow` turn a whole walk into the windows of the
 * eager shadow (amd64: one window per VA -> PA run of RAM plus the page-table pages at their
 * PAs; arm64: RAM at its PA plus an alias at every VA run that does not collide with RAM),
 * throwing CPU_SHADOW for what 2.0.1 cannot represent; `chunkWindows` cuts windows at
 * WINDOW_CHUNK multiples. Nothing here touches the addon.
 */
import { hex, kva, phys, size, SZ_4K, type KernelVa, type PhysAddr, type Size } from '../../loader/addr.js';
import type { RamRegion } from '../../loader/memory/guest-ram.js';
import type { Arm64Walk } from '../arm64-walker.js';
import { MachineCode, MachineError } from '../errors.js';
import { findRun, type X86Walk } from '../x86-walker.js';

/** A window of the Unicorn memory map: VA range backed by a PA range. */
export interface CpuWindow {
  readonly va: KernelVa;
  readonly pa: PhysAddr;
  readonly size: Size;
}

/** A run of the live VA → PA translation; `exec` when the CPU (at EL1 / CPL 0) may fetch there. */
export interface TranslationRun extends CpuWindow {
  readonly exec: boolean;
}

/** What `syncShadow` built. */
export interface ShadowPlan {
  /** 'identity': paging / MMU off; 'shadow': windows follow the live tables. */
  readonly mode: 'identity' | 'shadow';
  readonly windows: readonly CpuWindow[];
  /** The live VA → PA translation (merged runs, RAM or not). */
  readonly translation: readonly TranslationRun[];
  /** arm64: VA runs that collide with RAM at that number (Unicorn checks the RAM region's protection there). */
  readonly collisions: readonly CpuWindow[];
}

/** Most windows a shadow may have: each Unicorn region costs O(regions) to add (measured: 1000 take ~1.3 s). */
export const MAX_SHADOW_WINDOWS = 1024;

function cmpVa(a: { readonly va: bigint }, b: { readonly va: bigint }): number {
  return a.va < b.va ? -1 : a.va > b.va ? 1 : 0;
}

/** Merges runs that continue each other in VA and PA with equal `exec` (other permissions ignored). */
function mergeRuns(
  runs: readonly { readonly va: bigint; readonly pa: bigint; readonly size: bigint; readonly exec: boolean }[],
): TranslationRun[] {
  const out: TranslationRun[] = [];
  for (const r of [...runs].sort(cmpVa)) {
    const last = out[out.length - 1];
    if (last !== undefined && last.va + last.size === r.va && last.pa + last.size === r.pa && last.exec === r.exec) {
      out[out.length - 1] = { ...last, size: size(last.size + r.size) };
    } else {
      out.push({ va: kva(r.va), pa: phys(r.pa), size: size(r.size), exec: r.exec });
    }
  }
  return out;
}

/** Splits a VA → PA run into pieces inside one RAM region each (`ram`) and the rest (`other`). */
function splitByRam(regions: readonly RamRegion[], run: CpuWindow): { ram: CpuWindow[]; other: CpuWindow[] } {
  const ram: CpuWindow[] = [];
  const other: CpuWindow[] = [];
  let pa = run.pa as bigint;
  const end = run.pa + run.size;
  const piece = (from: bigint, to: bigint): CpuWindow => ({
    va: kva(run.va + (from - run.pa)),
    pa: phys(from),
    size: size(to - from),
  });
  for (const r of regions) {
    if (pa >= end) break;
    const rEnd = r.base + r.size;
    if (rEnd <= pa) continue;
    if (r.base >= end) break;
    if (r.base > pa) other.push(piece(pa, r.base));
    const from = pa > r.base ? pa : r.base;
    const to = end < rEnd ? end : rEnd;
    ram.push(piece(from, to));
    pa = to;
  }
  if (pa < end) other.push(piece(pa, end));
  return { ram, other };
}

export function identityWindows(regions: readonly RamRegion[]): TranslationRun[] {
  return regions.map((r) => ({ va: kva(r.base), pa: r.base, size: r.size, exec: true }));
}

/** Merges windows continuing each other in VA and PA inside one RAM region. */
function mergeWindows(regions: readonly RamRegion[], windows: readonly CpuWindow[]): CpuWindow[] {
  const regionOf = (pa: bigint): number => regions.findIndex((r) => pa >= r.base && pa < r.base + r.size);
  const out: CpuWindow[] = [];
  for (const w of [...windows].sort(cmpVa)) {
    const last = out[out.length - 1];
    if (
      last !== undefined &&
      last.va + last.size === w.va &&
      last.pa + last.size === w.pa &&
      regionOf(last.pa) === regionOf(w.pa)
    ) {
      out[out.length - 1] = { ...last, size: size(last.size + w.size) };
    } else {
      out.push(w);
    }
  }
  return out;
}

function tooMany(count: number): MachineError {
  return new MachineError(
    MachineCode.CpuShadow,
    `machine: the shadow needs ${count} Unicorn regions (more than ${MAX_SHADOW_WINDOWS})`,
    { windows: count, max: MAX_SHADOW_WINDOWS },
  );
}

/**
 * amd64 shadow for a walk: one window per RAM piece of every run, plus the table pages at
 * their PAs (2.0.1 reads PTEs through the same map). Throws CPU_SHADOW when a table page's PA
 * is a VA the tables map elsewhere, or when too many windows are needed.
 */
export function planAmd64Shadow(regions: readonly RamRegion[], walk: X86Walk): ShadowPlan {
  // CPL 0 fetches from user pages too (no SMEP); only XD forbids it.
  const translation = mergeRuns(walk.runs.map((r) => ({ ...r, exec: !r.nx })));
  const windows: CpuWindow[] = [];
  for (const run of translation) windows.push(...splitByRam(regions, run).ram);
  windows.sort(cmpVa);
  const conflicts: string[] = [];
  const extra: CpuWindow[] = [];
  for (const t of walk.tables) {
    for (let p = t.start as bigint; p < t.start + t.size; p += SZ_4K) {
      const x = findRun(translation, p);
      if (x === undefined) extra.push({ va: kva(p), pa: phys(p), size: SZ_4K });
      else if (x.pa + (p - x.va) !== p)
        conflicts.push(`table page ${hex(p)} is VA ${hex(p)} -> PA ${hex(x.pa + (p - x.va))}`);
    }
  }
  if (conflicts.length > 0) {
    throw new MachineError(
      MachineCode.CpuShadow,
      `machine: page-table pages collide with the shadow (${conflicts.join('; ')})`,
      { conflicts },
    );
  }
  const merged = mergeWindows(regions, [...windows, ...extra]).flatMap(clipTopPage);
  if (merged.length > MAX_SHADOW_WINDOWS) throw tooMany(merged.length);
  return { mode: 'shadow', windows: merged, translation, collisions: [] };
}

/**
 * Largest Unicorn region kboot maps: the first uc_mem_protect inside a region costs time in
 * proportion to the region's size (measured on arm64: ~1.3 s for an 8 GiB region, ~40 ms for
 * 256 MiB), so windows are mapped in pieces of at most this size.
 */
export const WINDOW_CHUNK = 0x1000_0000n;

/** Splits windows into pieces of at most WINDOW_CHUNK bytes, at VA multiples of WINDOW_CHUNK. */
export function chunkWindows(windows: readonly CpuWindow[]): CpuWindow[] {
  const out: CpuWindow[] = [];
  for (const w of windows) {
    let va = w.va as bigint;
    const end = w.va + w.size;
    while (va < end) {
      const next = (va / WINDOW_CHUNK + 1n) * WINDOW_CHUNK;
      const stop = next < end ? next : end;
      out.push({ va: kva(va), pa: phys(w.pa + (va - w.va)), size: size(stop - va) });
      va = stop;
    }
  }
  return out;
}

/** Highest VA a window may reach: Unicorn 2.0.1's uc_mem_protect overflows on a region ending at 2^64. */
export const SHADOW_VA_LIMIT = (1n << 64n) - 0x1000n;

/**
 * A window ending at 2^64 (e.g. a full 2 GiB KERNBASE map) loses its last page: Unicorn
 * maps it, but uc_mem_protect computes its end as 0 and fails (UC_ERR_NOMEM). The top 4 KiB
 * of the address space is then not reachable through the shadow.
 */
function clipTopPage(w: CpuWindow): CpuWindow[] {
  const end = w.va + w.size;
  if (end <= SHADOW_VA_LIMIT) return [w];
  const size = SHADOW_VA_LIMIT - w.va;
  return size > 0n ? [{ ...w, size: size as Size }] : [];
}

/**
 * arm64 shadow for a walk: RAM at its PA, plus an alias per VA run that does not collide
 * with RAM (or with the PL011 page), and the PL011 page at any VA the tables map it to.
 */
export function planArm64Shadow(
  regions: readonly RamRegion[],
  walk: Arm64Walk,
  device?: { readonly base: bigint; readonly size: bigint },
): ShadowPlan {
  // EL1 may not fetch from PXN pages, pages without AF, or pages EL0 may write (ARM ARM D8.4.2).
  const translation = mergeRuns(walk.runs.map((r) => ({ ...r, exec: r.af && !r.pxn && !(r.user && r.write) })));
  const identity = identityWindows(regions);
  const taken: { va: bigint; size: bigint }[] = identity.map((w) => ({ va: w.va, size: w.size }));
  if (device !== undefined) taken.push({ va: device.base, size: device.size });
  const collides = (w: CpuWindow): boolean => taken.some((t) => w.va < t.va + t.size && t.va < w.va + w.size);
  const aliases: CpuWindow[] = [];
  const collisions: CpuWindow[] = [];
  for (const run of translation) {
    const { ram, other } = splitByRam(regions, run);
    for (const piece of ram) {
      if ((piece.va as bigint) === (piece.pa as bigint)) continue;
      if (collides(piece)) collisions.push(piece);
      else aliases.push(piece);
    }
    if (device === undefined) continue;
    for (const piece of other) {
      // The whole device page, wherever the tables put it.
      if (piece.pa > device.base || piece.pa + piece.size < device.base + device.size) continue;
      const va = kva(piece.va + (device.base - piece.pa));
      const w: CpuWindow = { va, pa: phys(device.base), size: size(device.size) };
      if (va !== device.base && !collides(w)) aliases.push(w);
    }
  }
  const merged = mergeWindows(regions, aliases).filter((w) => !(device !== undefined && w.pa === device.base));
  const devices = aliases.filter((w) => device !== undefined && w.pa === device.base);
  const windows = [...identity, ...merged, ...devices].sort(cmpVa);
  if (windows.length > MAX_SHADOW_WINDOWS) throw tooMany(windows.length);
  return { mode: 'shadow', windows, translation, collisions };
}
