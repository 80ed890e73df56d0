/**
 * x86-64 4-level page-table walker over guest RAM (pure: it only reads a `GuestRam`).
 *
 * Contract: `walkX86(ram, { cr3, nxe })` visits the PML4 at CR3[51:12] and every present
 * entry below it, and returns the leaf mappings as `runs` sorted by VA: contiguous VA → PA
 * ranges whose leaves share page size and effective permissions (write = RW at every level,
 * user = U/S at every level, nx = XD at any level), with canonical (sign-extended) VAs; the
 * `tables` (physical pages it read, merged) and every `problems` entry it met instead of
 * throwing: a reserved bit set (the CPU would raise #PF with RSVD), a table that is not RAM
 * (its entries are treated as not present). Large pages: PS in a PDPTE maps 1 GiB, in a PDE
 * 2 MiB; PS in a PML4E is reserved. The walk is bounded: more than `maxTables` table pages or
 * `maxEntries` present entries throws `MachineError(CPU_WALK)`, the only error it raises.
 * With `range`, only entries whose VA span meets `[range.start, range.end)` are visited and
 * runs are clipped to it: the walk of one address or one window reads the tables on its path
 * only (the lazy shadow of machine/cpu/ walks this way at every fault).
 *
 * Source of the formats: Intel SDM vol. 3A §4.5 (4-level paging; tables 4-15..4-20: entry
 * formats, reserved bits, XD with IA32_EFER.NXE) and FreeBSD sys/amd64/include/pmap.h (PG_*
 * bit names, imported from loader/arch/amd64/layout.ts).
 */
import { hex, kva, phys, size, SZ_1G, SZ_2M, SZ_4K, type KernelVa, type PhysAddr, type Size } from '../loader/addr.js';
import { PG_NX, PG_PS, PG_RW, PG_U, PG_V } from '../loader/arch/amd64/layout.js';
import type { GuestRam } from '../loader/memory/guest-ram.js';
import { MachineCode, MachineError } from './errors.js';
import { mergePages, type VaRange } from './walk.js';

export { findRun, type VaRange } from './walk.js';

/** Walk parameters. */
export interface X86WalkOptions {
  /** CR3: the PML4's physical address is bits 51:12 (PCID and flag bits are ignored). */
  readonly cr3: bigint;
  /** IA32_EFER.NXE: without it bit 63 (XD) is reserved. Default true. */
  readonly nxe?: boolean;
  /** MAXPHYADDR: entry bits 51:M are reserved. Default 40 (QEMU TCG's phys-bits, which Unicorn 2.0.1 uses). */
  readonly maxPhysAddrBits?: number;
  /** Bound on table pages read (PML4 included). Default 16384. */
  readonly maxTables?: number;
  /** Bound on present entries visited. Default 4 Mi. */
  readonly maxEntries?: number;
  /** Walk only the (canonical) VAs in [start, end); `end` may be 2^64. Default: every VA. */
  readonly range?: VaRange;
}

/** One contiguous VA → PA mapping of leaves with equal page size and permissions. */
export interface X86Run {
  readonly va: KernelVa;
  readonly pa: PhysAddr;
  readonly size: Size;
  /** Leaf size: 4 KiB, 2 MiB or 1 GiB. */
  readonly pageSize: Size;
  readonly write: boolean;
  readonly user: boolean;
  readonly nx: boolean;
}

/** Something the walk met that a CPU would fault on or could not read. */
export interface X86WalkProblem {
  readonly kind: 'reserved-bits' | 'table-not-ram';
  /** 4 = PML4E, 3 = PDPTE, 2 = PDE, 1 = PTE. */
  readonly level: number;
  /** First VA the entry (or table) covers. */
  readonly va: KernelVa;
  /** Physical address of the entry (or of the unreadable table). */
  readonly at: PhysAddr;
  readonly entry: bigint;
}

/** The result of a walk. */
export interface X86Walk {
  readonly runs: readonly X86Run[];
  /** Physical pages of the tables the walk read, merged into ranges. */
  readonly tables: readonly { readonly start: PhysAddr; readonly size: Size }[];
  readonly problems: readonly X86WalkProblem[];
}

/** Entry layout facts (Intel SDM vol. 3A §4.5). */
const X86_PAGING = {
  levels: 4,
  entriesPerTable: 512,
  entryBytes: 8,
  /** VA bits each level's index starts at: PML4 39, PDPT 30, PD 21, PT 12. */
  shift: { 4: 39n, 3: 30n, 2: 21n, 1: 12n } as Record<number, bigint>,
  /** Bits 12..51 of an entry: the next table or the 4 KiB frame. */
  addrMask: 0x000f_ffff_ffff_f000n,
  /** Large-page frames: 2 MiB bits 51:21, 1 GiB bits 51:30 (bit 12 is PAT there). */
  frame2M: 0x000f_ffff_ffe0_0000n,
  frame1G: 0x000f_ffff_c000_0000n,
  /** Reserved in a large-page entry: 2 MiB bits 20:13, 1 GiB bits 29:13. */
  rsvd2M: 0x1f_e000n,
  rsvd1G: 0x3fff_e000n,
  /** Upper half of the canonical space: VA bits 63:48 copy bit 47. */
  canonicalHigh: 0xffff_0000_0000_0000n,
  signBit: 1n << 47n,
} as const;

const DEFAULTS = { nxe: true, maxPhysAddrBits: 40, maxTables: 16384, maxEntries: 4 * 1024 * 1024 } as const;
const ALL_VAS: VaRange = { start: 0n, end: 1n << 64n };

/** Inherited permissions down a walk. */
interface X86Perm {
  readonly write: boolean;
  readonly user: boolean;
  readonly nx: boolean;
}

/** One walk in progress: its bounds, counters and what it found. */
interface X86WalkState {
  readonly ram: GuestRam;
  readonly cr3: bigint;
  readonly nxe: boolean;
  /** Bits 51:M of any entry, plus bit 63 when NX is not enabled. */
  readonly highRsvd: bigint;
  readonly maxTables: number;
  readonly maxEntries: number;
  readonly range: VaRange;
  readonly runs: X86Run[];
  readonly tablePages: bigint[];
  readonly problems: X86WalkProblem[];
  tables: number;
  entries: number;
}

/** Walks the 4-level tables rooted at `cr3` and lists what they map (within `range`). */
export function walkX86(ram: GuestRam, opts: X86WalkOptions): X86Walk {
  const st = startWalk(ram, opts);
  walkTable(st, opts.cr3 & X86_PAGING.addrMask, X86_PAGING.levels, 0n, { write: true, user: true, nx: false });
  return { runs: st.runs, tables: mergePages(st.tablePages), problems: st.problems };
}

/** Checks the options (CPU_WALK) and sets up an empty walk. */
function startWalk(ram: GuestRam, opts: X86WalkOptions): X86WalkState {
  const nxe = opts.nxe ?? DEFAULTS.nxe;
  const m = opts.maxPhysAddrBits ?? DEFAULTS.maxPhysAddrBits;
  if (!Number.isInteger(m) || m < 32 || m > 52) {
    throw new MachineError(MachineCode.CpuWalk, `machine: MAXPHYADDR ${String(m)} is not 32..52`, {
      maxPhysAddrBits: m,
    });
  }
  if (opts.cr3 < 0n || opts.cr3 >= 1n << 64n) {
    throw new MachineError(MachineCode.CpuWalk, `machine: CR3 ${hex(opts.cr3)} is not a u64`, { cr3: opts.cr3 });
  }
  return {
    ram,
    cr3: opts.cr3,
    nxe,
    highRsvd: (((1n << 52n) - 1n) & ~((1n << BigInt(m)) - 1n)) | (nxe ? 0n : PG_NX),
    maxTables: opts.maxTables ?? DEFAULTS.maxTables,
    maxEntries: opts.maxEntries ?? DEFAULTS.maxEntries,
    range: opts.range ?? ALL_VAS,
    runs: [],
    tablePages: [],
    problems: [],
    tables: 0,
    entries: 0,
  };
}

/** The table page at `pa` (counted against maxTables), or undefined (a problem) when not RAM. */
function readTable(st: X86WalkState, pa: bigint, level: number, va: bigint): DataView | undefined {
  if (++st.tables > st.maxTables) {
    throw new MachineError(
      MachineCode.CpuWalk,
      `machine: page-table walk from CR3 ${hex(st.cr3)} reads more than ${st.maxTables} tables`,
      { cr3: st.cr3, maxTables: st.maxTables },
    );
  }
  const at = phys(pa);
  if (!st.ram.isRam(at, SZ_4K)) {
    st.problems.push({ kind: 'table-not-ram', level, va: kva(va), at, entry: 0n });
    return undefined;
  }
  st.tablePages.push(pa);
  // A copy, not a view: a view pins all of guest RAM until the GC finds it (native/guest_ram.cc).
  const bytes = st.ram.read(at, Number(SZ_4K));
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Records a leaf (clipped to the walk's range), extending the previous run when it continues it. */
function addLeaf(st: X86WalkState, va: bigint, pa: bigint, sz: bigint, p: X86Perm): void {
  const lo = va < st.range.start ? st.range.start : va;
  const hi = va + sz > st.range.end ? st.range.end : va + sz;
  const cva = lo;
  const cpa = pa + (lo - va);
  const csz = hi - lo;
  const prev = st.runs[st.runs.length - 1];
  if (
    prev !== undefined &&
    prev.pageSize === sz &&
    prev.write === p.write &&
    prev.user === p.user &&
    prev.nx === p.nx &&
    prev.va + prev.size === cva &&
    prev.pa + prev.size === cpa
  ) {
    st.runs[st.runs.length - 1] = { ...prev, size: size(prev.size + csz) };
    return;
  }
  st.runs.push({ va: kva(cva), pa: phys(cpa), size: size(csz), pageSize: size(sz), ...p });
}

/** The reserved bits set in entry `e` at `level` (none: 0). */
function reservedBits(st: X86WalkState, level: number, e: bigint): bigint {
  const ps = (e & PG_PS) !== 0n;
  let rsvd = e & st.highRsvd;
  if (level === 4 && ps) rsvd |= PG_PS;
  if (level === 3 && ps) rsvd |= e & X86_PAGING.rsvd1G;
  if (level === 2 && ps) rsvd |= e & X86_PAGING.rsvd2M;
  return rsvd;
}

/** The VA entry `i` of a table at `level` starts at (canonical for the PML4's upper half). */
function entryVa(level: number, vaBase: bigint, i: number): bigint {
  const va = vaBase | (BigInt(i) << (X86_PAGING.shift[level] ?? 12n));
  return level === X86_PAGING.levels && (va & X86_PAGING.signBit) !== 0n ? va | X86_PAGING.canonicalHigh : va;
}

/**
 * The indexes of a table's entries whose VA span meets `range`, in VA order: the entries of a
 * table cover consecutive spans from `vaBase`, except the PML4, whose upper half (256..511) is
 * the canonical top of the space.
 */
function entryIndexes(level: number, vaBase: bigint, range: VaRange): number[] {
  const shift = X86_PAGING.shift[level] ?? 12n;
  const half = X86_PAGING.entriesPerTable / 2;
  const spans: [number, bigint][] =
    level === X86_PAGING.levels
      ? [
          [0, 0n],
          [half, X86_PAGING.canonicalHigh | X86_PAGING.signBit],
        ]
      : [[0, vaBase]];
  const count = level === X86_PAGING.levels ? half : X86_PAGING.entriesPerTable;
  const out: number[] = [];
  for (const [first, base] of spans) {
    const end = base + (BigInt(count) << shift);
    if (end <= range.start || base >= range.end) continue;
    const lo = range.start > base ? Number((range.start - base) >> shift) : 0;
    const hi = range.end < end ? Number((range.end - 1n - base) >> shift) : count - 1;
    for (let i = lo; i <= hi; i++) out.push(first + i);
  }
  return out;
}

/** Visits the present entries of one table that meet the walk's range. */
function walkTable(st: X86WalkState, tablePa: bigint, level: number, vaBase: bigint, p: X86Perm): void {
  const view = readTable(st, tablePa, level, vaBase);
  if (view === undefined) return;
  for (const i of entryIndexes(level, vaBase, st.range)) {
    const va = entryVa(level, vaBase, i);
    const e = view.getBigUint64(i * X86_PAGING.entryBytes, true);
    if ((e & PG_V) === 0n) continue;
    if (++st.entries > st.maxEntries) {
      throw new MachineError(
        MachineCode.CpuWalk,
        `machine: page-table walk from CR3 ${hex(st.cr3)} visits more than ${st.maxEntries} entries`,
        { cr3: st.cr3, maxEntries: st.maxEntries },
      );
    }
    if (reservedBits(st, level, e) !== 0n) {
      st.problems.push({ kind: 'reserved-bits', level, va: kva(va), at: phys(tablePa + BigInt(i * 8)), entry: e });
      continue;
    }
    const q: X86Perm = {
      write: p.write && (e & PG_RW) !== 0n,
      user: p.user && (e & PG_U) !== 0n,
      nx: p.nx || (st.nxe && (e & PG_NX) !== 0n),
    };
    const ps = (e & PG_PS) !== 0n;
    if (level === 1) addLeaf(st, va, e & X86_PAGING.addrMask, SZ_4K, q);
    else if (level === 3 && ps) addLeaf(st, va, e & X86_PAGING.frame1G, SZ_1G, q);
    else if (level === 2 && ps) addLeaf(st, va, e & X86_PAGING.frame2M, SZ_2M, q);
    else walkTable(st, e & X86_PAGING.addrMask, level - 1, va, q);
  }
}
