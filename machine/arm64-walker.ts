/**
 * AArch64 stage-1 translation-table walker (4 KiB granule) over guest RAM (pure).
 *
 * Contract: `walkArm64(ram, { tcr, ttbr0, ttbr1 })` walks the TTBR0 (low) and TTBR1 (high)
 * tables the way an EL1&0 stage-1 walk does with a 4 KiB granule and lists the leaf mappings
 * as `runs` sorted by VA: contiguous VA → PA ranges whose leaves share block/page size and
 * permissions (write unless AP[2] or APTable[1] anywhere above; user from AP[1]; PXN/UXN,
 * inherited from PXNTable/UXNTable; AF). The region sizes come from TCR_EL1.T0SZ/T1SZ (16..39,
 * so the walk starts at level 0 or 1 as the ARM ARM's lookup-level table says); EPD0/EPD1
 * disable a half. A half with another granule, a block at level 0, a reserved descriptor at
 * level 3, or a table outside RAM is reported in `problems` and walked no further.
 * Bounded like the x86 walker: `maxTables` / `maxEntries`, else `MachineError(CPU_WALK)`.
 * With `range`, only descriptors whose VA span meets `[range.start, range.end)` are visited and
 * runs are clipped to it (one address's or one window's path, as machine/cpu/ walks at a fault).
 *
 * Unicorn 2.0.1 translates AArch64 addresses itself (shared/spec/unicorn-system.md Q7); this
 * walker tells machine/cpu.ts which high VAs need a Unicorn region and to which PA.
 * Source: ARM ARM (DDI 0487) D8.3 (descriptor formats), D8.2 (TCR_EL1 fields, initial lookup
 * level); FreeBSD sys/arm64/include/pte.h (ATTR_* names: AF bit 10, AP bits 7:6, PXN 53, UXN 54).
 */
import { hex, kva, phys, size, SZ_1G, SZ_2M, SZ_4K, type KernelVa, type PhysAddr, type Size } from '../loader/addr.js';
import type { GuestRam } from '../loader/memory/guest-ram.js';
import { MachineCode, MachineError } from './errors.js';
import { mergePages, type VaRange } from './walk.js';

/** Walk parameters: the three registers that define stage-1 translation at EL1. */
export interface Arm64WalkOptions {
  readonly tcr: bigint;
  readonly ttbr0: bigint;
  readonly ttbr1: bigint;
  readonly maxTables?: number;
  readonly maxEntries?: number;
  /** Walk only the VAs in [start, end); `end` may be 2^64. Default: every VA. */
  readonly range?: VaRange;
}

/** One contiguous VA → PA mapping of leaves with equal size and permissions. */
export interface Arm64Run {
  readonly va: KernelVa;
  readonly pa: PhysAddr;
  readonly size: Size;
  readonly pageSize: Size;
  readonly write: boolean;
  readonly user: boolean;
  readonly pxn: boolean;
  readonly uxn: boolean;
  /** Access flag: false means the first access faults (no hardware AF update). */
  readonly af: boolean;
  /** Which TTBR maps it. */
  readonly half: 'ttbr0' | 'ttbr1';
}

/** Something the walk met that the MMU would fault on or that kboot cannot walk. */
export interface Arm64WalkProblem {
  readonly kind: 'unsupported-granule' | 'bad-txsz' | 'reserved-descriptor' | 'table-not-ram';
  readonly half: 'ttbr0' | 'ttbr1';
  readonly level: number;
  readonly va: KernelVa;
  readonly at: PhysAddr;
  readonly entry: bigint;
}

/** The result of a walk. */
export interface Arm64Walk {
  readonly runs: readonly Arm64Run[];
  readonly problems: readonly Arm64WalkProblem[];
  /** Physical pages of the tables the walk read, merged into ranges. */
  readonly tables: readonly { readonly start: PhysAddr; readonly size: Size }[];
}

/** Descriptor and TCR facts (ARM ARM D8.2, D8.3; FreeBSD sys/arm64/include/pte.h). */
const A64 = {
  entries: 512,
  shift: { 0: 39n, 1: 30n, 2: 21n, 3: 12n } as Record<number, bigint>,
  descValid: 1n,
  descTable: 2n,
  /** Output address bits 47:12 of table and page descriptors. */
  addrMask: 0x0000_ffff_ffff_f000n,
  block1G: 0x0000_ffff_c000_0000n,
  block2M: 0x0000_ffff_ffe0_0000n,
  /** TTBRn_EL1.BADDR bits 47:1 (ASID 63:48 and CnP bit 0 excluded). */
  ttbrAddr: 0x0000_ffff_ffff_fffen,
  apRo: 1n << 7n,
  apUser: 1n << 6n,
  af: 1n << 10n,
  pxn: 1n << 53n,
  uxn: 1n << 54n,
  tblPxn: 1n << 59n,
  tblUxn: 1n << 60n,
  tblApNoEl0: 1n << 61n,
  tblApRo: 1n << 62n,
  tcr: {
    t0szShift: 0n,
    epd0: 1n << 7n,
    tg0Shift: 14n,
    tg0_4k: 0n,
    t1szShift: 16n,
    epd1: 1n << 23n,
    tg1Shift: 30n,
    tg1_4k: 2n,
  },
  minTxsz: 16,
  maxTxsz: 39,
} as const;

const DEFAULTS = { maxTables: 16384, maxEntries: 4 * 1024 * 1024 } as const;
const ALL_VAS: VaRange = { start: 0n, end: 1n << 64n };

interface Perm {
  readonly ro: boolean;
  readonly noUser: boolean;
  readonly pxn: boolean;
  readonly uxn: boolean;
}

/** One half of the address space as TCR_EL1 and its TTBR define it. */
interface Half {
  readonly half: 'ttbr0' | 'ttbr1';
  readonly txsz: number;
  readonly disabled: boolean;
  readonly granuleOk: boolean;
  readonly root: bigint;
  readonly ttbr: bigint;
}

/** One walk in progress: bounds, counters and what it found. */
interface WalkState {
  readonly ram: GuestRam;
  readonly maxTables: number;
  readonly maxEntries: number;
  readonly range: VaRange;
  readonly runs: Arm64Run[];
  readonly problems: Arm64WalkProblem[];
  readonly tablePages: bigint[];
  tables: number;
  entries: number;
}

/** Walks TTBR0 and TTBR1 under `tcr` and lists what they map (within `range`). */
export function walkArm64(ram: GuestRam, opts: Arm64WalkOptions): Arm64Walk {
  const st: WalkState = {
    ram,
    maxTables: opts.maxTables ?? DEFAULTS.maxTables,
    maxEntries: opts.maxEntries ?? DEFAULTS.maxEntries,
    range: opts.range ?? ALL_VAS,
    runs: [],
    problems: [],
    tablePages: [],
    tables: 0,
    entries: 0,
  };
  for (const h of halvesOf(opts)) walkHalf(st, h, opts.tcr);
  st.runs.sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
  return { runs: st.runs, problems: st.problems, tables: mergePages(st.tablePages) };
}

/** TTBR0 (low) and TTBR1 (high) as TCR_EL1 configures them (ARM ARM D8.2). */
function halvesOf(opts: Arm64WalkOptions): Half[] {
  const t = A64.tcr;
  return [
    {
      half: 'ttbr0',
      txsz: Number((opts.tcr >> t.t0szShift) & 0x3fn),
      disabled: (opts.tcr & t.epd0) !== 0n,
      granuleOk: ((opts.tcr >> t.tg0Shift) & 3n) === t.tg0_4k,
      root: opts.ttbr0 & A64.ttbrAddr,
      ttbr: opts.ttbr0,
    },
    {
      half: 'ttbr1',
      txsz: Number((opts.tcr >> t.t1szShift) & 0x3fn),
      disabled: (opts.tcr & t.epd1) !== 0n,
      granuleOk: ((opts.tcr >> t.tg1Shift) & 3n) === t.tg1_4k,
      root: opts.ttbr1 & A64.ttbrAddr,
      ttbr: opts.ttbr1,
    },
  ];
}

function addProblem(
  st: WalkState,
  h: Half,
  kind: Arm64WalkProblem['kind'],
  level: number,
  va: bigint,
  at: bigint,
  entry: bigint,
): void {
  st.problems.push({ kind, half: h.half, level, va: kva(va), at: phys(at), entry });
}

/** Walks one half from its root, at the start level its TxSZ gives (ARM ARM D8.2, table D8-14). */
function walkHalf(st: WalkState, h: Half, tcr: bigint): void {
  if (h.disabled) return;
  const bits = 64 - h.txsz;
  const vaBase = h.half === 'ttbr0' ? 0n : (1n << 64n) - (1n << BigInt(bits));
  const vaEnd = h.half === 'ttbr0' ? 1n << BigInt(bits) : 1n << 64n;
  if (vaEnd <= st.range.start || vaBase >= st.range.end) return;
  if (!h.granuleOk) return addProblem(st, h, 'unsupported-granule', 0, vaBase, h.root, tcr);
  if (h.txsz < A64.minTxsz || h.txsz > A64.maxTxsz) return addProblem(st, h, 'bad-txsz', 0, vaBase, h.root, tcr);
  const levels = Math.ceil((bits - 12) / 9);
  const startEntries = 1 << (bits - 12 - 9 * (levels - 1));
  walkTable(st, h, h.root, 4 - levels, vaBase, startEntries, { ro: false, noUser: false, pxn: false, uxn: false });
}

/** Records a leaf (clipped to the walk's range), extending the previous run when it continues it. */
function addLeaf(st: WalkState, h: Half, va: bigint, pa: bigint, sz: bigint, e: bigint, p: Perm): void {
  const lo = va < st.range.start ? st.range.start : va;
  const hi = va + sz > st.range.end ? st.range.end : va + sz;
  const run: Arm64Run = {
    va: kva(lo),
    pa: phys(pa + (lo - va)),
    size: size(hi - lo),
    pageSize: size(sz),
    write: !p.ro && (e & A64.apRo) === 0n,
    user: !p.noUser && (e & A64.apUser) !== 0n,
    pxn: p.pxn || (e & A64.pxn) !== 0n,
    uxn: p.uxn || (e & A64.uxn) !== 0n,
    af: (e & A64.af) !== 0n,
    half: h.half,
  };
  const prev = st.runs[st.runs.length - 1];
  if (
    prev !== undefined &&
    prev.half === run.half &&
    prev.pageSize === run.pageSize &&
    prev.write === run.write &&
    prev.user === run.user &&
    prev.pxn === run.pxn &&
    prev.uxn === run.uxn &&
    prev.af === run.af &&
    prev.va + prev.size === run.va &&
    prev.pa + prev.size === run.pa
  ) {
    st.runs[st.runs.length - 1] = { ...prev, size: size(prev.size + run.size) };
  } else {
    st.runs.push(run);
  }
}

/** The `count` descriptors of the table at `tablePa` (counted against maxTables), or undefined when not RAM. */
function readTable(
  st: WalkState,
  h: Half,
  tablePa: bigint,
  level: number,
  va0: bigint,
  count: number,
): DataView | undefined {
  if (++st.tables > st.maxTables) {
    throw new MachineError(
      MachineCode.CpuWalk,
      `machine: arm64 table walk (${h.half} ${hex(h.ttbr)}) reads more than ${st.maxTables} tables`,
      { half: h.half, root: h.root, maxTables: st.maxTables },
    );
  }
  if (!st.ram.isRam(phys(tablePa), size(BigInt(count * 8)))) {
    addProblem(st, h, 'table-not-ram', level, va0, tablePa, 0n);
    return undefined;
  }
  st.tablePages.push(tablePa - (tablePa % SZ_4K));
  // A copy, not a view: a view pins all of guest RAM until the GC finds it (native/guest_ram.cc).
  const bytes = st.ram.read(phys(tablePa), count * 8);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The permissions a table descriptor passes down (APTable, PXNTable, UXNTable). */
function inherit(p: Perm, e: bigint): Perm {
  return {
    ro: p.ro || (e & A64.tblApRo) !== 0n,
    noUser: p.noUser || (e & A64.tblApNoEl0) !== 0n,
    pxn: p.pxn || (e & A64.tblPxn) !== 0n,
    uxn: p.uxn || (e & A64.tblUxn) !== 0n,
  };
}

/** Visits the valid descriptors of one table that meet the walk's range. */
function walkTable(st: WalkState, h: Half, tablePa: bigint, level: number, va0: bigint, count: number, p: Perm): void {
  const dv = readTable(st, h, tablePa, level, va0, count);
  if (dv === undefined) return;
  const shift = A64.shift[level] ?? 12n;
  const end = va0 + (BigInt(count) << shift);
  if (end <= st.range.start || va0 >= st.range.end) return;
  // Only the descriptors whose VA span meets the range.
  const lo = st.range.start > va0 ? Number((st.range.start - va0) >> shift) : 0;
  const hi = st.range.end < end ? Number((st.range.end - 1n - va0) >> shift) : count - 1;
  for (let i = lo; i <= hi; i++) {
    const va = va0 + (BigInt(i) << shift);
    const e = dv.getBigUint64(i * 8, true);
    if ((e & A64.descValid) === 0n) continue;
    if (++st.entries > st.maxEntries) {
      throw new MachineError(
        MachineCode.CpuWalk,
        `machine: arm64 table walk (${h.half}) visits more than ${st.maxEntries} entries`,
        { half: h.half, maxEntries: st.maxEntries },
      );
    }
    const at = tablePa + BigInt(i * 8);
    const isTable = (e & A64.descTable) !== 0n;
    if (level === 3) {
      if (!isTable) addProblem(st, h, 'reserved-descriptor', level, va, at, e);
      else addLeaf(st, h, va, e & A64.addrMask, SZ_4K, e, p);
    } else if (isTable) {
      walkTable(st, h, e & A64.addrMask, level + 1, va, A64.entries, inherit(p, e));
    } else if (level === 1) {
      addLeaf(st, h, va, e & A64.block1G, SZ_1G, e, p);
    } else if (level === 2) {
      addLeaf(st, h, va, e & A64.block2M, SZ_2M, e, p);
    } else {
      addProblem(st, h, 'reserved-descriptor', level, va, at, e);
    }
  }
}
