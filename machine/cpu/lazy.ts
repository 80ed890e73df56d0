/**
 * The lazy shadow (pure planning; the CPU applies it): Unicorn windows over guest RAM built on
 * demand, where the guest touches memory, from the live tables.
 *
 * Why windows at all: Unicorn 2.0.1 checks every VA against its memory map, and on x86-64 it
 * accesses PA == VA after its page walk (shared/spec/unicorn-system.md findings 1-2); on arm64
 * the MMU translates, but a physical address with no region reads as zero and drops writes
 * (measured: a load through a mapped VA whose PA had no region returned 0, no fault).
 *
 * Contract (`LazyShadow.resolve(ctx, va)`, called when an access faults):
 *  - paging / MMU off (`identity`): the RAM around `va` is mapped at its PA, in the
 *    WINDOW_CHUNK-aligned piece of its RAM region (as the eager map chunked it);
 *  - amd64, paging on: the tables are walked over the SHADOW_GRANULE (2 MiB) block holding
 *    `va` (never more: unmapping costs Unicorn a TLB flush per 4 KiB page, so a 1 GiB leaf is
 *    mapped 2 MiB at a time); the leaf run holding `va` becomes a window backed by its PA,
 *    and the table pages on the path are mapped at their PAs (2.0.1's walker reads PTEs through
 *    the same map; one whose PA is a VA the tables send elsewhere is CPU_SHADOW);
 *  - arm64, MMU on: the VA gets a region (its RAM at that number when the VA lies in RAM, else
 *    an alias of the leaf's RAM; the PL011 page wherever the tables put it), and every window
 *    holds its own closure: the RAM its VAs translate to and the table pages of their walks are
 *    mapped at their PAs too (2 MiB blocks), so nothing the MMU reaches reads as zero;
 *  - windows are split where write protection starts and ends (each window wholly read-only or
 *    not: the addon maps it so at once), never overlap, never reach past SHADOW_VA_LIMIT, and
 *    a window the tables now send elsewhere (an edit without a register switch) is replaced;
 *  - what was walked is remembered as the known translation (the addon proves copies
 *    identity-mapped with it); `learn` walks a range for a copy without mapping it;
 *  - the answer says what the guest sees: `mapped` (retry the access), `present` (already
 *    mapped: the fault was not the shadow's), `not-ram` (with the PA when the tables map it),
 *    `untranslated` (the tables do not map it: the guest's #PF or abort);
 *  - more than MAX_LAZY_WINDOWS windows: everything is dropped and the fault resolved again.
 * `reset` drops everything (at a run start and when a watched translation register changes).
 * Known limit (arm64): a descriptor written in place, with no TTBR/TCR/SCTLR write after it,
 * is seen at the next fault or run; until then a VA inside an existing window keeps the
 * closure of the old tables.
 */
import { hex, kva, phys, size, SZ_2M, SZ_4K, type PhysAddr, type Size } from '../../loader/addr.js';
import type { Arch } from '../../loader/arch/index.js';
import type { GuestRam, RamRegion } from '../../loader/memory/guest-ram.js';
import { MachineCode, MachineError } from '../errors.js';
import { walkArm64, type Arm64WalkOptions } from '../arm64-walker.js';
import { findRun, type VaRange } from '../walk.js';
import { walkX86 } from '../x86-walker.js';
import { SHADOW_VA_LIMIT, WINDOW_CHUNK, type CpuWindow, type ShadowPlan, type TranslationRun } from './shadow.js';

/** VA block a paging-on fault maps at most (one 2 MiB page; 512 TLB flushes to unmap). */
export const SHADOW_GRANULE: Size = SZ_2M;
/** Windows the lazy shadow keeps before it drops them all (each Unicorn region costs O(regions) to add). */
export const MAX_LAZY_WINDOWS = 384;

/** What the live tables say about a VA range: its runs (sorted, clipped to it) and the table pages read. */
export interface TablesView {
  readonly runs: readonly TranslationRun[];
  readonly tables: readonly { readonly start: PhysAddr; readonly size: Size }[];
}

/** The live amd64 tables rooted at `cr3` as the shadow sees them (CPL 0 fetches from user pages too, no SMEP; only XD forbids it). */
export function amd64Tables(ram: GuestRam, cr3: bigint, nxe: boolean): (range: VaRange) => TablesView {
  return (range) => {
    const w = walkX86(ram, { cr3, nxe, range });
    return { runs: w.runs.map((r) => ({ va: r.va, pa: r.pa, size: r.size, exec: !r.nx })), tables: w.tables };
  };
}

/** The live arm64 tables as the shadow sees them (EL1 may not fetch from PXN pages, pages without AF, or pages EL0 may write: ARM ARM D8.4.2). */
export function arm64Tables(
  ram: GuestRam,
  regs: Pick<Arm64WalkOptions, 'tcr' | 'ttbr0' | 'ttbr1'>,
): (range: VaRange) => TablesView {
  return (range) => {
    const w = walkArm64(ram, { ...regs, range });
    const runs = w.runs.map((r) => ({
      va: r.va,
      pa: r.pa,
      size: r.size,
      exec: r.af && !r.pxn && !(r.user && r.write),
    }));
    return { runs, tables: w.tables };
  };
}

/** The machine facts a resolution needs. */
export interface ShadowContext {
  readonly arch: Arch;
  readonly regions: readonly RamRegion[];
  readonly device: { readonly base: bigint; readonly size: bigint } | undefined;
  /** Walks the live tables over a range; undefined while paging / the MMU is off. */
  readonly walk: ((range: VaRange) => TablesView) | undefined;
}

/** What a fault turned out to be (see the module contract). */
export type Resolution =
  | { readonly kind: 'mapped'; readonly added: number }
  | { readonly kind: 'present' }
  | { readonly kind: 'not-ram'; readonly pa?: PhysAddr }
  | { readonly kind: 'untranslated' };

/** A window kboot placed; `table`: an amd64 page-table page at its PA. */
interface Win extends CpuWindow {
  readonly table: boolean;
}

/** A window to place: VA range, PA, and the VA whose gap it must cover. */
interface Piece {
  readonly va: bigint;
  readonly pa: bigint;
  readonly size: bigint;
  readonly table: boolean;
}

const U64 = 1n << 64n;

function floorTo(v: bigint, unit: bigint): bigint {
  return v - (v % unit);
}

function isDevice(ctx: ShadowContext, w: CpuWindow): boolean {
  return ctx.device !== undefined && (w.pa as bigint) === ctx.device.base;
}

/** `r` minus `cut` (zero, one or two ranges). */
function cutRange(r: VaRange, cut: VaRange): VaRange[] {
  if (r.end <= cut.start || r.start >= cut.end) return [r];
  const out: VaRange[] = [];
  if (r.start < cut.start) out.push({ start: r.start, end: cut.start });
  if (r.end > cut.end) out.push({ start: cut.end, end: r.end });
  return out;
}

function regionOf(regions: readonly RamRegion[], pa: bigint): RamRegion | undefined {
  return regions.find((r) => pa >= r.base && pa - r.base < r.size);
}

/** The block of `unit` bytes holding `va`, clipped to `region` when given (VA = PA there). */
function blockOf(va: bigint, unit: bigint, region?: RamRegion): VaRange {
  let start = floorTo(va, unit);
  let end = start + unit > U64 ? U64 : start + unit;
  if (region !== undefined) {
    if (start < region.base) start = region.base;
    if (end > region.base + region.size) end = region.base + region.size;
  }
  return { start, end };
}

/** Ranges sorted by start, merged where they touch. */
function mergeRanges(ranges: readonly VaRange[]): VaRange[] {
  const out: VaRange[] = [];
  for (const r of [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.end) {
      if (r.end > last.end) out[out.length - 1] = { start: last.start, end: r.end };
    } else out.push(r);
  }
  return out;
}

/** `runs` with the VAs of `range` cut out (runs sorted and disjoint). */
function cutRuns(runs: readonly TranslationRun[], range: VaRange): TranslationRun[] {
  const out: TranslationRun[] = [];
  for (const r of runs) {
    const end = r.va + r.size;
    if (end <= range.start || r.va >= range.end) {
      out.push(r);
      continue;
    }
    if (r.va < range.start) out.push({ ...r, size: size(range.start - r.va) });
    if (end > range.end) {
      out.push({ va: kva(range.end), pa: phys(r.pa + (range.end - r.va)), size: size(end - range.end), exec: r.exec });
    }
  }
  return out;
}

/** The lazy shadow's state and planning (see the module contract). */
export class LazyShadow {
  private mapMode: ShadowPlan['mode'] = 'identity';
  private wins: Win[] = [];
  private xlat: TranslationRun[] = [];
  private knownRanges: VaRange[] = [];
  private prot: VaRange[] = [];
  /** Times the window cap dropped everything. */
  evictions = 0;

  get mode(): ShadowPlan['mode'] {
    return this.mapMode;
  }
  get windows(): readonly CpuWindow[] {
    return this.wins;
  }
  get translation(): readonly TranslationRun[] {
    return this.xlat;
  }
  get known(): readonly VaRange[] {
    return this.knownRanges;
  }

  /** `regions`: the guest's RAM. */
  constructor(private readonly regions: readonly RamRegion[]) {}

  /**
   * Drops every window and all known translation; `mode` is what the next faults map. With
   * paging off the translation is RAM at its PA, known at once.
   */
  reset(mode: ShadowPlan['mode']): void {
    this.mapMode = mode;
    this.wins = [];
    this.identityTranslation();
  }

  private identityTranslation(): void {
    if (this.mapMode === 'identity') {
      this.xlat = this.regions.map((r) => ({ va: kva(r.base), pa: r.base, size: r.size, exec: true }));
      this.knownRanges = mergeRanges(this.regions.map((r) => ({ start: r.base, end: r.base + r.size })));
    } else {
      this.xlat = [];
      this.knownRanges = [];
    }
  }

  /**
   * The translation changed (a watched register, or a run starts and the host may have
   * edited the tables): drops what may now be stale. amd64: everything (a window there is
   * the translation itself). arm64: the aliases and what was known in `scope` (the TTBR0
   * half, the TTBR1 half, or all); RAM at its PA stays (it is physical memory), and while the
   * MMU is on its closure is established again under the new tables.
   */
  retranslate(ctx: ShadowContext, mode: ShadowPlan['mode'], scope: 'low' | 'high' | 'all'): void {
    if (ctx.arch === 'amd64') return this.reset(mode);
    this.mapMode = mode;
    const half: VaRange =
      scope === 'low'
        ? { start: 0n, end: 1n << 63n }
        : scope === 'high'
          ? { start: 1n << 63n, end: U64 }
          : { start: 0n, end: U64 };
    const inScope = (va: bigint): boolean => va >= half.start && va < half.end;
    this.wins = this.wins.filter((w) => ((w.va as bigint) === (w.pa as bigint) && !isDevice(ctx, w)) || !inScope(w.va));
    if (mode === 'identity') return this.identityTranslation();
    this.xlat = cutRuns(this.xlat, half);
    this.knownRanges = this.knownRanges.flatMap((k) => cutRange(k, half));
    if (ctx.walk === undefined || scope === 'high') return;
    const kept: VaRange[] = this.wins
      .filter((w) => (w.va as bigint) === (w.pa as bigint))
      .map((w) => ({ start: w.va, end: w.va + w.size }));
    this.closeOver(ctx, ctx.walk, kept);
    if (this.wins.length > MAX_LAZY_WINDOWS) {
      this.evictions++;
      this.reset(mode);
    }
  }

  /** The plan as `Cpu.shadowPlan` shows it. */
  plan(): ShadowPlan {
    return { mode: this.mapMode, windows: this.wins, translation: this.xlat, collisions: [] };
  }

  /**
   * Records protection of [pa, pa + size) (`ro`) or its release, and drops the windows backed
   * by it (they are placed again, split at the new boundaries, when touched). True when a
   * window was dropped.
   */
  protect(pa: bigint, sz: bigint, ro: boolean): boolean {
    const cut: VaRange = { start: pa, end: pa + sz };
    const kept: VaRange[] = [];
    for (const p of this.prot) {
      if (p.end <= cut.start || p.start >= cut.end) kept.push(p);
      else {
        if (p.start < cut.start) kept.push({ start: p.start, end: cut.start });
        if (p.end > cut.end) kept.push({ start: cut.end, end: p.end });
      }
    }
    if (ro) kept.push(cut);
    this.prot = mergeRanges(kept);
    const before = this.wins.length;
    this.wins = this.wins.filter((w) => w.pa + w.size <= pa || w.pa >= pa + sz);
    return this.wins.length !== before;
  }

  /** Walks `range` for a copy (translation only, no window): the addon may then decide on it. */
  learn(ctx: ShadowContext, range: VaRange): void {
    if (ctx.walk === undefined) {
      const runs: TranslationRun[] = [];
      for (const r of ctx.regions) {
        const lo = r.base > range.start ? r.base : range.start;
        const hi = r.base + r.size < range.end ? r.base + r.size : range.end;
        if (lo < hi) runs.push({ va: kva(lo), pa: phys(lo), size: size(hi - lo), exec: true });
      }
      this.remember(range, runs);
    } else {
      this.remember(range, ctx.walk(range).runs);
    }
  }

  /** Resolves a fault at `va` (see the module contract). */
  resolve(ctx: ShadowContext, va: bigint): Resolution {
    const first = this.resolveOnce(ctx, va);
    if (this.wins.length <= MAX_LAZY_WINDOWS) return first;
    this.evictions++;
    this.reset(this.mapMode);
    const again = this.resolveOnce(ctx, va);
    if (this.wins.length > MAX_LAZY_WINDOWS) {
      throw new MachineError(
        MachineCode.CpuLimit,
        `machine: one access at ${hex(va)} needs ${this.wins.length} Unicorn windows (more than ${MAX_LAZY_WINDOWS})`,
        { va, windows: this.wins.length, max: MAX_LAZY_WINDOWS },
      );
    }
    return again;
  }

  private resolveOnce(ctx: ShadowContext, va: bigint): Resolution {
    if (this.mapMode === 'identity' || ctx.walk === undefined) return this.resolveIdentity(ctx, va);
    return ctx.arch === 'amd64' ? this.resolveAmd64(ctx, ctx.walk, va) : this.resolveArm64(ctx, ctx.walk, va);
  }

  /** Paging off: the WINDOW_CHUNK piece of RAM around `va`, at its PA. */
  private resolveIdentity(ctx: ShadowContext, va: bigint): Resolution {
    const region = regionOf(ctx.regions, va);
    if (region === undefined) return { kind: 'not-ram' };
    if (this.windowAt(va) !== undefined) return { kind: 'present' };
    const chunk = blockOf(va, WINDOW_CHUNK, region);
    this.remember(chunk, [
      { va: kva(chunk.start), pa: phys(chunk.start), size: size(chunk.end - chunk.start), exec: true },
    ]);
    return this.placed(
      this.place({ va: chunk.start, pa: chunk.start, size: chunk.end - chunk.start, table: false }, va),
    );
  }

  /** The walk of `va`'s 2 MiB block (remembered), the run translating `va` and its PA; undefined when none does. */
  private leafAt(
    walk: (r: VaRange) => TablesView,
    va: bigint,
  ): { block: VaRange; view: TablesView; run: TranslationRun; pa: bigint } | undefined {
    const block = blockOf(va, SHADOW_GRANULE);
    const view = walk(block);
    this.remember(block, view.runs);
    const run = findRun(view.runs, va);
    return run === undefined ? undefined : { block, view, run, pa: run.pa + (va - run.va) };
  }

  /** amd64, paging on: the leaf's window in the 2 MiB block, and the table pages of the walk. */
  private resolveAmd64(ctx: ShadowContext, walk: (r: VaRange) => TablesView, va: bigint): Resolution {
    const leaf = this.leafAt(walk, va);
    if (leaf === undefined) return { kind: 'untranslated' };
    const { block, view, run, pa } = leaf;
    const region = regionOf(ctx.regions, pa);
    if (region === undefined) return { kind: 'not-ram', pa: phys(pa) };
    let added = 0;
    for (const t of view.tables) {
      for (let p = t.start as bigint; p < t.start + t.size; p += SZ_4K) added += this.placeTablePage(walk, p);
    }
    const piece = leafPiece(run, region, block);
    added += this.place(piece, va);
    return this.placed(added);
  }

  /** amd64: a page-table page at its PA, unless the tables send that VA elsewhere (CPU_SHADOW). */
  private placeTablePage(walk: (r: VaRange) => TablesView, p: bigint): number {
    const w = this.windowAt(p);
    if (w !== undefined && w.pa - w.va === 0n) return 0;
    const mapped = findRun(walk({ start: p, end: p + SZ_4K }).runs, p);
    if (mapped !== undefined && (mapped.pa as bigint) !== p) {
      throw new MachineError(
        MachineCode.CpuShadow,
        `machine: page-table pages collide with the shadow (table page ${hex(p)} is VA ${hex(p)} -> PA ${hex(mapped.pa)})`,
        { conflicts: [`table page ${hex(p)} is VA ${hex(p)} -> PA ${hex(mapped.pa)}`] },
      );
    }
    return this.place({ va: p, pa: p, size: SZ_4K, table: true }, p);
  }

  /** arm64, MMU on: a region at the VA, and the closure of every identity block placed. */
  private resolveArm64(ctx: ShadowContext, walk: (r: VaRange) => TablesView, va: bigint): Resolution {
    const leaf = this.leafAt(walk, va);
    if (leaf === undefined) return { kind: 'untranslated' };
    const { block, view, run, pa } = leaf;
    const dev = ctx.device;
    if (dev !== undefined && pa >= dev.base && pa - dev.base < dev.size) return this.placeDevice(ctx, va, pa, dev);
    const region = regionOf(ctx.regions, pa);
    if (region === undefined) return { kind: 'not-ram', pa: phys(pa) };
    const fresh: VaRange[] = [];
    const vaRegion = regionOf(ctx.regions, va);
    let added = 0;
    if (vaRegion !== undefined) {
      added += this.placeIdentity(blockOf(va, SHADOW_GRANULE, vaRegion), va, fresh);
    } else {
      const piece = aliasPiece(leafPiece(run, region, block), va, ctx);
      added += this.place(piece, va);
      added += this.placeBacking(ctx, piece.pa, piece.size, fresh);
    }
    added += this.placeTables(ctx, view, fresh);
    added += this.closeOver(ctx, walk, fresh);
    return this.placed(added);
  }

  /** arm64: the PL011 page at the VA the tables give it (the permanent one at its base stays). */
  private placeDevice(
    ctx: ShadowContext,
    va: bigint,
    pa: bigint,
    dev: { readonly base: bigint; readonly size: bigint },
  ): Resolution {
    const dva = va - (pa - dev.base);
    if (dva === dev.base) return { kind: 'present' };
    if (dva % SZ_4K !== 0n || ctx.regions.some((r) => dva < r.base + r.size && r.base < dva + dev.size)) {
      return { kind: 'not-ram', pa: phys(pa) };
    }
    if (this.windowAt(dva) !== undefined) return { kind: 'present' };
    this.insert({ va: kva(dva), pa: phys(dev.base), size: size(dev.size), table: false });
    return { kind: 'mapped', added: 1 };
  }

  /** arm64: RAM at its PA for [pa, pa + size), block by block. */
  private placeBacking(ctx: ShadowContext, pa: bigint, sz: bigint, fresh: VaRange[]): number {
    let added = 0;
    for (let b = floorTo(pa, SHADOW_GRANULE); b < pa + sz; b += SHADOW_GRANULE) {
      const at = b > pa ? b : pa;
      const region = regionOf(ctx.regions, at);
      if (region !== undefined) added += this.placeIdentity(blockOf(at, SHADOW_GRANULE, region), at, fresh);
    }
    return added;
  }

  /** arm64: the table pages a walk read, at their PAs. */
  private placeTables(ctx: ShadowContext, view: TablesView, fresh: VaRange[]): number {
    let added = 0;
    for (const t of view.tables) added += this.placeBacking(ctx, t.start, t.size, fresh);
    return added;
  }

  /** arm64: an identity block (VA = PA), remembered in `fresh` for the closure when new. */
  private placeIdentity(range: VaRange, around: bigint, fresh: VaRange[]): number {
    if (this.windowAt(around) !== undefined) return 0;
    const n = this.place({ va: range.start, pa: range.start, size: range.end - range.start, table: false }, around);
    if (n > 0) fresh.push(range);
    return n;
  }

  /**
   * arm64: every identity block placed is also a region for the VAs it spans; what those VAs
   * translate to, and the tables of their walks, must be mapped too (else they read zero).
   */
  private closeOver(ctx: ShadowContext, walk: (r: VaRange) => TablesView, fresh: VaRange[]): number {
    let added = 0;
    for (let i = 0; i < fresh.length && this.wins.length <= MAX_LAZY_WINDOWS; i++) {
      const range = fresh[i];
      if (range === undefined) break;
      const view = walk(range);
      this.remember(range, view.runs);
      for (const r of view.runs) {
        if ((r.va as bigint) !== (r.pa as bigint)) added += this.placeBacking(ctx, r.pa, r.size, fresh);
      }
      added += this.placeTables(ctx, view, fresh);
    }
    return added;
  }

  private placed(added: number): Resolution {
    return added > 0 ? { kind: 'mapped', added } : { kind: 'present' };
  }

  /** The window holding `va`, if any. */
  private windowAt(va: bigint): Win | undefined {
    return findRun(this.wins, va);
  }

  /**
   * Places `piece` (the part of it around `around` that no consistent window holds yet),
   * split at protection boundaries; windows it contradicts are replaced, unless they are
   * table pages (CPU_SHADOW). Returns the windows added.
   */
  private place(piece: Piece, around: bigint): number {
    let lo = piece.va;
    let hi = piece.va + piece.size > SHADOW_VA_LIMIT ? SHADOW_VA_LIMIT : piece.va + piece.size;
    if (around < lo || around >= hi) return 0;
    for (const w of [...this.wins]) {
      const wEnd = w.va + w.size;
      if (wEnd <= lo || w.va >= hi) continue;
      if (w.pa - w.va !== piece.pa - piece.va) {
        if (w.table || piece.table) throw tableConflict(w, piece);
        this.wins = this.wins.filter((x) => x !== w); // stale: the tables changed under it
        continue;
      }
      if (around >= w.va && around < wEnd) return 0;
      if (wEnd <= around) lo = wEnd > lo ? wEnd : lo;
      else hi = w.va < hi ? w.va : hi;
    }
    let added = 0;
    for (const part of this.splitByProtection(lo, hi, piece.pa - piece.va)) {
      this.insert({
        va: kva(part.start),
        pa: phys(part.start + piece.pa - piece.va),
        size: size(part.end - part.start),
        table: piece.table,
      });
      added++;
    }
    return added;
  }

  /** [lo, hi) in VA cut where the protection of its PA (VA + `off`) starts or ends. */
  private splitByProtection(lo: bigint, hi: bigint, off: bigint): VaRange[] {
    const cuts = [lo, hi];
    for (const p of this.prot) {
      for (const edge of [p.start - off, p.end - off]) if (edge > lo && edge < hi) cuts.push(edge);
    }
    cuts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: VaRange[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const a = cuts[i];
      const b = cuts[i + 1];
      if (a !== undefined && b !== undefined && a < b) out.push({ start: a, end: b });
    }
    return out;
  }

  private insert(w: Win): void {
    const i = this.wins.findIndex((x) => x.va > w.va);
    if (i < 0) this.wins.push(w);
    else this.wins.splice(i, 0, w);
  }

  /** Replaces the known translation of `range` by `runs` (clipped to it). */
  private remember(range: VaRange, runs: readonly TranslationRun[]): void {
    const inside = runs.filter((r) => r.va < range.end && r.va + r.size > range.start);
    this.xlat = [...cutRuns(this.xlat, range), ...inside].sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
    this.knownRanges = mergeRanges([...this.knownRanges, range]);
  }
}

/** The part of `run` inside `block` whose PA lies in `region`. */
function leafPiece(run: TranslationRun, region: RamRegion, block: VaRange): Piece {
  const off = run.pa - run.va;
  let lo = run.va > block.start ? (run.va as bigint) : block.start;
  let hi = run.va + run.size < block.end ? run.va + run.size : block.end;
  if (lo + off < region.base) lo = region.base - off;
  if (hi + off > region.base + region.size) hi = region.base + region.size - off;
  return { va: lo, pa: lo + off, size: hi > lo ? hi - lo : 0n, table: false };
}

/** arm64: an alias piece clipped to the VAs around `va` that are neither RAM nor the PL011 by number. */
function aliasPiece(piece: Piece, va: bigint, ctx: ShadowContext): Piece {
  let lo = piece.va;
  let hi = piece.va + piece.size;
  const taken = ctx.regions.map((r) => ({ start: r.base as bigint, end: r.base + r.size }));
  if (ctx.device !== undefined) taken.push({ start: ctx.device.base, end: ctx.device.base + ctx.device.size });
  for (const t of taken) {
    if (t.end <= lo || t.start >= hi) continue;
    if (t.end <= va) lo = t.end;
    else hi = t.start;
  }
  return { ...piece, va: lo, pa: piece.pa + (lo - piece.va), size: hi > lo ? hi - lo : 0n };
}

function tableConflict(w: Win, piece: Piece): MachineError {
  const [table, other] = w.table ? [w, piece] : [piece, w];
  const at = other.va > table.va ? other.va : table.va;
  const fact = `table page ${hex(table.pa)} is VA ${hex(at)} -> PA ${hex(other.pa + (at - other.va))}`;
  return new MachineError(MachineCode.CpuShadow, `machine: page-table pages collide with the shadow (${fact})`, {
    conflicts: [fact],
  });
}
