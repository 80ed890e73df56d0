/**
 * The emulated machine's CPU: Unicorn 2.0.1 (native/cpu.cc, the binding of native/cpu_engine.cc) over native guest RAM.
 *
 * Contract:
 *  - `new Cpu(arch, ram, opts)` takes a `NativeRam` (Unicorn maps its host memory zero-copy)
 *    and a UART (amd64: 16550 at I/O 0x3f8 unless told otherwise; arm64: the PL011 the
 *    profile names). Registers are read and written by name (`reg` / `setReg`);
 *    `setupLongMode` (amd64: GDT written into guest RAM at `gdtBase`, then CR3, CR4, EFER,
 *    CR0) and `setupEl1` (arm64: SCR_EL3/HCR_EL2 fix, MAIR, TCR, TTBR0/1, SCTLR) prepare
 *    paging from the host.
 *  - `run(limits)` is the only way to execute and always returns a `StopReason`: every run is
 *    bounded by `maxInstructions` (exact count: a code hook counts every instruction; a `rep`
 *    string instruction counts once per iteration plus once for its final RCX = 0 check) and
 *    `timeoutMs` (measured by kboot, since Unicorn reports a timeout as success). `executed` is
 *    exact for every stop; an instruction that faults is not counted. amd64 runs without
 *    EFER.NXE: Unicorn 2.0.1 will not set it, so an XD bit in a PTE is a reserved-bit #PF.
 *  - Shadow mappings (`shadow: true`, the default). Unicorn 2.0.1 checks every VA against its
 *    memory map and, on x86-64, accesses PA == VA after its page walk
 *    (shared/spec/unicorn-system.md findings 1-2). So at every run start and whenever a watched
 *    translation register changes (x86: CR0/CR3/CR4; arm64: TTBR0/TTBR1/TCR/SCTLR - the native run
 *    loop stops before the first instruction of the next block, so nothing runs with stale
 *    mappings) the CPU walks the live tables with kboot's own walkers and rebuilds the map:
 *      amd64, paging on: exactly one window per VA → PA run of RAM (identity runs included),
 *        plus the page-table pages at their PAs, because 2.0.1's walker reads PTEs through the
 *        same map (a table page whose PA is a VA the tables send elsewhere is CPU_SHADOW);
 *      arm64, MMU on: RAM at its PA (the MMU really translates) plus an alias at every VA run
 *        that does not collide with RAM, so the region exists and protection follows the PA;
 *      paging / MMU off: RAM at its PA.
 *    An access to a VA with no window is a shadow fault: the tables are walked again (they may
 *    have changed without a CR3 load) and the instruction restarts if the VA is now mapped;
 *    otherwise it is reported as the guest would see it: #PF (vector 14, CR2 set) on amd64,
 *    an abort (vector 4 data / 3 prefetch) on arm64, or `unmapped` with the PA when the tables
 *    map the VA to something that is not RAM.
 *    `mapAlias` / `unmapAlias` edit the map by hand and need `shadow: false`.
 *  - `protect(pa, size, 'ro')` write-protects a physical range through every window that maps
 *    it (identity, alias, shadow), now and after later rebuilds; a stray write stops the run
 *    with `write-protect` naming the VA and the PA.
 *  - Accelerated copy: `setCopyAccelerators(loops)` describes copy loops as data (`CopyLoop`,
 *    presets in `COPY_LOOPS`); when the PC reaches a loop head the remaining copy is done
 *    natively and registers, flags and `executed` are left exactly as the loop leaves them.
 *    `exact: true` (the CLI's --exact) turns it off.
 *  - The UART's output accumulates in `console` (machine/devices/uart.ts) through `takeConsole()`.
 * Errors: MachineError (CPU_* codes, GUEST_CLOSED) and NativeError, as native/binding.ts maps them.
 */
import { hex, kva, phys, size, SZ_4K, U64_LIMIT, type KernelVa, type PhysAddr, type Size } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { walkArm64, type Arm64Walk } from './arm64-walker.js';
import { ConsoleLog, NS16550_COM1, type UartConfig } from './devices/uart.js';
import { NativeRam } from './native-ram.js';
import {
  callNative,
  loadNative,
  type NativeCopyLoop,
  type NativeCpuHandle,
  type NativeGuestRamHandle,
  type NativeMapping,
  type NativeRunResult,
  type NativeTranslation,
} from '../native/binding.js';
import type { GuestRam, RamRegion } from '../loader/memory/guest-ram.js';
import { findRun, walkX86, type X86Walk } from './x86-walker.js';
import { MachineCode, MachineError, machineErrorFor } from './errors.js';

/** An addon call of the CPU: its CPU_* codes become MachineErrors (native/binding.ts callNative). */
function cpuCall<T>(fn: () => T, details: Readonly<Record<string, unknown>> = {}): T {
  return callNative(fn, details, machineErrorFor);
}

// ---------------------------------------------------------------------------------------------
// Registers

/** amd64 register names (`efer` goes through the MSR interface). */
export const AMD64_REGS = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'rip', 'rflags', 'cr0', 'cr2', 'cr3', 'cr4', 'efer',
  'cs', 'ds', 'es', 'fs', 'gs', 'ss', 'fs_base', 'gs_base',
  'gdtr_base', 'gdtr_limit', 'idtr_base', 'idtr_limit',
] as const; // prettier-ignore
/** arm64 register names (system registers without a Unicorn id use the CP-register interface). */
export const ARM64_REGS = [
  'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10', 'x11', 'x12', 'x13', 'x14', 'x15',
  'x16', 'x17', 'x18', 'x19', 'x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29', 'x30',
  'sp', 'pc', 'pstate', 'nzcv', 'sctlr_el1', 'tcr_el1', 'mair_el1', 'ttbr0_el1', 'ttbr1_el1', 'vbar_el1',
  'elr_el1', 'esr_el1', 'far_el1', 'sp_el0', 'sp_el1', 'tpidr_el1', 'cpacr_el1', 'scr_el3', 'hcr_el2',
  'currentel',
] as const; // prettier-ignore

export type Amd64Reg = (typeof AMD64_REGS)[number];
export type Arm64Reg = (typeof ARM64_REGS)[number];
/** A register name of either arch. */
export type RegName = Amd64Reg | Arm64Reg;

const REGS: { readonly [A in Arch]: ReadonlySet<string> } = {
  amd64: new Set<string>(AMD64_REGS),
  arm64: new Set<string>(ARM64_REGS),
};

/** Control-register bits kboot sets or tests (Intel SDM vol. 3A §2.5, §2.2.1; ARM ARM D13.2.118). */
export const CPU_BITS = {
  amd64: {
    CR0_PE: 1n << 0n,
    CR0_ET: 1n << 4n,
    CR0_NE: 1n << 5n,
    CR0_WP: 1n << 16n,
    CR0_PG: 1n << 31n,
    CR4_PAE: 1n << 5n,
    CR4_LA57: 1n << 12n,
    EFER_LME: 1n << 8n,
    EFER_LMA: 1n << 10n,
    EFER_NXE: 1n << 11n,
    RFLAGS_DF: 1n << 10n,
  },
  arm64: {
    SCTLR_M: 1n << 0n,
  },
} as const;

const B = CPU_BITS.amd64;

/**
 * The flat 64-bit GDT `setupLongMode` writes (Intel SDM vol. 3A §3.4.5, §5.2.1; the same
 * kernel code/data pair as FreeBSD's gdt_segs GCODE_SEL/GDATA_SEL): null, code (L=1, P, DPL 0,
 * execute/read), data (P, read/write, 4 GiB, G, D/B).
 */
export const AMD64_LONG_MODE = {
  gdt: [0n, 0x00af_9a00_0000_ffffn, 0x00cf_9200_0000_ffffn],
  cs: 0x08,
  ds: 0x10,
  cr0: B.CR0_PG | B.CR0_WP | B.CR0_NE | B.CR0_ET | B.CR0_PE,
  cr4: B.CR4_PAE,
  /** NXE is left out: Unicorn 2.0.1 ignores it (host and guest writes alike, every CPU model). */
  efer: B.EFER_LME | B.EFER_LMA,
} as const;

/**
 * Exception vectors as Unicorn reports them. amd64: the architectural vectors (Intel SDM
 * vol. 3A table 6-1). arm64: QEMU's EXCP_* numbers (target/arm/cpu.h), as measured in
 * shared/spec/unicorn-system.md Q9 (brk 7, svc 2, udf/hvc 1, data abort 4, smc 13).
 */
export const EXCEPTION_NAMES: { readonly [A in Arch]: Readonly<Record<number, string>> } = {
  amd64: {
    0: '#DE',
    1: '#DB',
    2: 'NMI',
    3: '#BP',
    4: '#OF',
    5: '#BR',
    6: '#UD',
    7: '#NM',
    8: '#DF',
    10: '#TS',
    11: '#NP',
    12: '#SS',
    13: '#GP',
    14: '#PF',
    16: '#MF',
    17: '#AC',
    18: '#MC',
    19: '#XM',
  },
  arm64: {
    1: 'undefined-instruction',
    2: 'svc',
    3: 'prefetch-abort',
    4: 'data-abort',
    5: 'irq',
    6: 'fiq',
    7: 'brk',
    11: 'hvc',
    13: 'smc',
  },
} as const;

/** The vectors kboot reports for a shadow fault the guest's tables do not map. */
const SHADOW_FAULT_VECTOR: { readonly [A in Arch]: { readonly data: number; readonly fetch: number } } = {
  amd64: { data: 14, fetch: 14 },
  arm64: { data: 4, fetch: 3 },
};

// ---------------------------------------------------------------------------------------------
// Run limits and stop reasons

/** The largest instruction budget a run accepts (a JS safe integer). */
export const MAX_INSTRUCTIONS = Number.MAX_SAFE_INTEGER;
/** The longest a single run may last. */
export const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/** Bounds of one run; both limits are required (ANCHORS.md house rule 7). */
export interface RunLimits {
  /** Where to start; default: the current PC. */
  readonly start?: bigint;
  /** Stop (kind `reached`) when the PC gets here, before executing it. */
  readonly until?: bigint;
  readonly maxInstructions: number;
  readonly timeoutMs: number;
  /** Stop (kind `breakpoint`) before executing any of these; one at `start` is stepped over. */
  readonly breakpoints?: readonly bigint[];
}

interface StopCommon {
  /** Instructions executed in this run (accelerated loops count as the loop would). */
  readonly executed: number;
  readonly elapsedMs: number;
  /** Copies the accelerator performed in this run. */
  readonly accelerated: { readonly copies: number; readonly bytes: number };
}

/** Why a run stopped. `pc` is the PC the CPU holds afterwards unless noted. */
export type StopReason = StopCommon &
  (
    | { readonly kind: 'reached'; readonly pc: bigint }
    | { readonly kind: 'halted'; readonly pc: bigint }
    | { readonly kind: 'breakpoint'; readonly pc: bigint }
    | {
        readonly kind: 'exception';
        readonly pc: bigint;
        readonly vector: number;
        readonly name: string;
        readonly cr2?: bigint;
      }
    | { readonly kind: 'limit'; readonly pc: bigint }
    | { readonly kind: 'timeout'; readonly pc: bigint }
    | {
        readonly kind: 'unmapped';
        /** The instruction that made the access (for a fetch: the address fetched). */
        readonly pc: bigint;
        readonly access: 'read' | 'write' | 'fetch';
        readonly address: bigint;
        /** Where the guest's tables send `address`, when they map it (to something not RAM). */
        readonly pa?: PhysAddr;
      }
    | {
        readonly kind: 'write-protect';
        /** The storing instruction. */
        readonly pc: bigint;
        /** The VA written. */
        readonly address: bigint;
        readonly pa: PhysAddr;
        readonly size: number;
        readonly value: bigint;
      }
    | { readonly kind: 'invalid-instruction'; readonly pc: bigint }
  );

// ---------------------------------------------------------------------------------------------
// Copy accelerator

/**
 * A copy loop, described by its registers (native/cpu_accel.cc has the exact
 * semantics). At `at` the loop holds the next source in `src`, the next destination in `dst`
 * and the remaining count (in `countUnit` bytes) in `count`; an iteration moves `chunk`
 * bytes forwards and runs `insnsPerIteration` instructions; the loop leaves to `exit` when
 * count reaches 0, after `exitInsns` more counted instructions. After it, each `loads` register holds the u64 at `offset` of the last
 * chunk, and the `flags` register has `set` bits set and `clear` bits cleared. `requires`
 * are register tests (`reg & mask === value`) that must hold to accelerate.
 */
export interface CopyLoop {
  readonly name?: string;
  readonly at: bigint;
  readonly exit: bigint;
  readonly src: RegName;
  readonly dst: RegName;
  readonly count: RegName;
  readonly countUnit: number;
  readonly chunk: number;
  readonly insnsPerIteration: number;
  /** Instructions the loop counts after its last iteration (a `rep` prefix re-checks RCX once: 1). Default 0. */
  readonly exitInsns?: number;
  readonly loads?: readonly { readonly reg: RegName; readonly offset: number }[];
  readonly flags?: { readonly reg: RegName; readonly set: bigint; readonly clear: bigint };
  readonly requires?: readonly { readonly reg: RegName; readonly mask: bigint; readonly value: bigint }[];
}

/** Largest chunk a copy loop may move per iteration. */
export const MAX_COPY_CHUNK = 4096;

/** NZCV bits (ARM ARM C5.2.9). */
const NZCV = { N: 1n << 31n, Z: 1n << 30n, C: 1n << 29n, V: 1n << 28n } as const;

/** Ready-made loop shapes (the loop shape is data: write your own `CopyLoop` for others). */
export const COPY_LOOPS = {
  /** amd64 `rep movsq` (F3 48 A5): RSI → RDI, RCX quadwords, needs DF = 0; flags untouched. */
  repMovsq(at: bigint, exit: bigint = at + 3n): CopyLoop {
    return {
      name: 'rep movsq',
      at,
      exit,
      src: 'rsi',
      dst: 'rdi',
      count: 'rcx',
      countUnit: 8,
      chunk: 8,
      insnsPerIteration: 1,
      // Unicorn runs the rep instruction once more with RCX = 0 (measured: RCX = N counts N + 1).
      exitInsns: 1,
      requires: [{ reg: 'rflags', mask: B.RFLAGS_DF, value: 0n }],
    };
  },
  /** amd64 `rep movsb` (F3 A4): RSI → RDI, RCX bytes, needs DF = 0. */
  repMovsb(at: bigint, exit: bigint = at + 2n): CopyLoop {
    return { ...COPY_LOOPS.repMovsq(at, exit), name: 'rep movsb', countUnit: 1, chunk: 1 };
  },
  /**
   * arm64 `ldp t1, t2, [src], #16; stp t1, t2, [dst], #16; subs rem, rem, #16; b.ne head`:
   * `remaining` counts bytes; on exit t1/t2 hold the last pair and NZCV says Z, C.
   */
  arm64LdpStp(o: {
    readonly at: bigint;
    readonly src: Arm64Reg;
    readonly dst: Arm64Reg;
    readonly remaining: Arm64Reg;
    readonly t1: Arm64Reg;
    readonly t2: Arm64Reg;
    readonly exit?: bigint;
  }): CopyLoop {
    return {
      name: 'ldp/stp 16',
      at: o.at,
      exit: o.exit ?? o.at + 16n,
      src: o.src,
      dst: o.dst,
      count: o.remaining,
      countUnit: 1,
      chunk: 16,
      insnsPerIteration: 4,
      loads: [
        { reg: o.t1, offset: 0 },
        { reg: o.t2, offset: 8 },
      ],
      flags: { reg: 'nzcv', set: NZCV.Z | NZCV.C, clear: NZCV.N | NZCV.V },
    };
  },
} as const;

// ---------------------------------------------------------------------------------------------
// Shadow planning (pure)

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

function identityWindows(regions: readonly RamRegion[]): TranslationRun[] {
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

// ---------------------------------------------------------------------------------------------
// The CPU

/** CPU options. */
export interface CpuOptions {
  /** Default: amd64 a 16550 at 0x3f8; arm64 none (give the profile's PL011). */
  readonly uart?: UartConfig;
  /** Disable the copy accelerator (CLI --exact). */
  readonly exact?: boolean;
  /** Keep the Unicorn map equal to the shadow of the live tables (default true). */
  readonly shadow?: boolean;
}

/** The CPU memory map as the addon holds it. */
export interface CpuMappings {
  readonly windows: readonly (CpuWindow & { readonly device: boolean })[];
  readonly translation: readonly TranslationRun[];
  readonly protected: readonly { readonly start: PhysAddr; readonly size: Size }[];
}

/** Per-arch parts of the CPU (ANCHORS.md house rule 8: arch differences live in one table). */
interface CpuArchOps {
  readonly pcReg: RegName;
  /** Register the CPU sets to the faulting address when it takes a page fault (amd64 CR2). */
  readonly faultAddressReg?: RegName;
  readonly pagingOn: (cpu: Cpu) => boolean;
  readonly plan: (
    cpu: Cpu,
    regions: readonly RamRegion[],
    ram: GuestRam,
    device?: { base: bigint; size: bigint },
  ) => ShadowPlan;
}

const PL011_SIZE = 0x1000n;

const ARCH_OPS: { readonly [A in Arch]: CpuArchOps } = {
  amd64: {
    pcReg: 'rip',
    faultAddressReg: 'cr2',
    pagingOn: (cpu) => (cpu.reg('cr0') & B.CR0_PG) !== 0n,
    plan: (cpu, regions, ram) => {
      if ((cpu.reg('cr4') & B.CR4_LA57) !== 0n) {
        throw new MachineError(MachineCode.CpuShadow, 'machine: 5-level paging (CR4.LA57) is not supported', {
          cr4: cpu.reg('cr4'),
        });
      }
      const walk = walkX86(ram, { cr3: cpu.reg('cr3'), nxe: (cpu.reg('efer') & B.EFER_NXE) !== 0n });
      return planAmd64Shadow(regions, walk);
    },
  },
  arm64: {
    pcReg: 'pc',
    pagingOn: (cpu) => (cpu.reg('sctlr_el1') & CPU_BITS.arm64.SCTLR_M) !== 0n,
    plan: (cpu, regions, ram, device) => {
      const walk = walkArm64(ram, {
        tcr: cpu.reg('tcr_el1'),
        ttbr0: cpu.reg('ttbr0_el1'),
        ttbr1: cpu.reg('ttbr1_el1'),
      });
      return planArm64Shadow(regions, walk, device);
    },
  },
};

function toNative(w: readonly CpuWindow[]): NativeMapping[] {
  return w.map((x) => ({ va: x.va, pa: x.pa, size: x.size }));
}
function toNativeTranslation(w: readonly TranslationRun[]): NativeTranslation[] {
  return w.map((x) => ({ va: x.va, pa: x.pa, size: x.size, exec: x.exec }));
}

function checkU64(what: string, v: bigint, code: MachineError['code']): void {
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) {
    throw new MachineError(code, `machine: ${what} ${String(v)} is not a u64`, { what, value: v });
  }
}

/**
 * CPU_SETUP unless `uart` fits `arch` (a 16550 on amd64, a PL011 on arm64), a 16550's eight
 * registers fit the 16-bit I/O space, and a PL011's page is 4 KiB aligned and outside RAM.
 * The addon (native/cpu.cc) relies on these checks.
 */
function checkUart(arch: Arch, uart: UartConfig, regions: readonly RamRegion[]): void {
  const fail = (what: string): never => {
    throw new MachineError(MachineCode.CpuSetup, `machine: ${what}`, { arch, uart: uart.kind });
  };
  if ((uart.kind === 'ns16550') !== (arch === 'amd64')) fail(`a ${uart.kind} UART does not fit arch ${arch}`);
  if (uart.kind === 'ns16550') {
    if (!Number.isInteger(uart.port) || uart.port < 0 || uart.port > 0xfff8) {
      fail(`16550 port ${String(uart.port)} is outside the I/O space`);
    }
    return;
  }
  if (uart.base < 0n || uart.base % PL011_SIZE !== 0n || uart.base + PL011_SIZE > U64_LIMIT) {
    fail(`PL011 base ${hex(uart.base)} is not a 4 KiB aligned page`);
  }
  if (regions.some((r) => uart.base < r.base + r.size && r.base < uart.base + PL011_SIZE)) {
    fail(`PL011 base ${hex(uart.base)} lies in RAM`);
  }
}

/** The emulated CPU over Unicorn 2.0.1. */
export class Cpu {
  readonly arch: Arch;
  /** Everything the UART has transmitted, as lines (fed by `takeConsole`). */
  readonly console = new ConsoleLog();
  private readonly ram: NativeRam;
  private readonly handle: NativeCpuHandle;
  private readonly ops: CpuArchOps;
  private readonly exact: boolean;
  private readonly shadow: boolean;
  private readonly device: { base: bigint; size: bigint } | undefined;
  private loops: readonly CopyLoop[] = [];
  private lastPlan: ShadowPlan | undefined;
  private closed = false;

  constructor(arch: Arch, ram: GuestRam, opts: CpuOptions = {}) {
    if (!(ram instanceof NativeRam)) {
      throw new MachineError(MachineCode.CpuSetup, 'machine: the CPU needs NativeRam (Unicorn maps its host memory)', {
        arch,
      });
    }
    if (arch !== 'amd64' && arch !== 'arm64') {
      throw new MachineError(MachineCode.CpuSetup, `machine: unknown CPU arch '${String(arch)}'`, { arch });
    }
    this.arch = arch;
    this.ram = ram;
    this.ops = ARCH_OPS[arch];
    this.exact = opts.exact ?? false;
    this.shadow = opts.shadow ?? true;
    const uart: UartConfig | undefined =
      opts.uart ?? (arch === 'amd64' ? { kind: 'ns16550', port: NS16550_COM1 } : undefined);
    if (uart !== undefined) checkUart(arch, uart, ram.regions);
    this.device = uart?.kind === 'pl011' ? { base: uart.base, size: PL011_SIZE } : undefined;
    const addon = loadNative();
    // NativeRam keeps its addon handle private; the CPU is the one other native user of it.
    const ramHandle: NativeGuestRamHandle = ram['handle'];
    this.handle = cpuCall(() => new addon.Cpu(arch, ramHandle, uart === undefined ? {} : { uart }), { arch });
  }

  private check(op: string): void {
    if (this.closed) throw new MachineError(MachineCode.CpuClosed, `machine: ${op} on a closed CPU`, { op });
  }

  private checkReg(name: string, code: MachineError['code']): void {
    if (!REGS[this.arch].has(name)) {
      throw new MachineError(code, `machine: unknown ${this.arch} register '${name}'`, { arch: this.arch, name });
    }
  }

  /** Reads a register. */
  reg(name: RegName): bigint {
    this.check('reg');
    this.checkReg(name, MachineCode.CpuRegister);
    return cpuCall(() => this.handle.getReg(name), { name });
  }

  /** Writes a register (CPU_REGISTER for unknown or read-only ones). */
  setReg(name: RegName, value: bigint): void {
    this.check('setReg');
    this.checkReg(name, MachineCode.CpuRegister);
    checkU64(`value of ${name}`, value, MachineCode.CpuRegister);
    cpuCall(() => this.handle.setReg(name, value), { name, value });
  }

  /**
   * amd64: writes the flat GDT (`AMD64_LONG_MODE.gdt`, 24 bytes) into guest RAM at `gdtBase`
   * and enters 64-bit mode with 4-level paging rooted at `cr3`.
   */
  setupLongMode(opts: {
    readonly cr3: PhysAddr;
    readonly gdtBase: PhysAddr;
    readonly cr0?: bigint;
    readonly cr4?: bigint;
    readonly efer?: bigint;
  }): void {
    this.check('setupLongMode');
    if (this.arch !== 'amd64') {
      throw new MachineError(MachineCode.CpuSetup, 'machine: setupLongMode is for amd64', { arch: this.arch });
    }
    const L = AMD64_LONG_MODE;
    const gdt = new Uint8Array(L.gdt.length * 8);
    const dv = new DataView(gdt.buffer);
    L.gdt.forEach((d, i) => dv.setBigUint64(i * 8, d, true));
    if (!this.ram.isRam(opts.gdtBase, size(gdt.length))) {
      throw new MachineError(MachineCode.CpuSetup, `machine: GDT at ${hex(opts.gdtBase)} is not RAM`, {
        gdtBase: opts.gdtBase,
      });
    }
    this.ram.write(opts.gdtBase, gdt);
    cpuCall(
      () =>
        this.handle.setupLongMode({
          gdtBase: opts.gdtBase,
          gdtLimit: gdt.length - 1,
          cr3: opts.cr3,
          cr0: opts.cr0 ?? L.cr0,
          cr4: opts.cr4 ?? L.cr4,
          efer: opts.efer ?? L.efer,
          cs: L.cs,
          ds: L.ds,
        }),
      { cr3: opts.cr3 },
    );
  }

  /** arm64: EL1 with the MMU as given (SCR_EL3/HCR_EL2 are fixed first; spec Q7). */
  setupEl1(opts: {
    readonly sctlr: bigint;
    readonly tcr: bigint;
    readonly mair: bigint;
    readonly ttbr0: bigint;
    readonly ttbr1: bigint;
    readonly vbar?: bigint;
  }): void {
    this.check('setupEl1');
    if (this.arch !== 'arm64') {
      throw new MachineError(MachineCode.CpuSetup, 'machine: setupEl1 is for arm64', { arch: this.arch });
    }
    cpuCall(() => this.handle.setupEl1(opts), { sctlr: opts.sctlr, tcr: opts.tcr });
  }

  /** True when paging (amd64 CR0.PG) or the MMU (arm64 SCTLR_EL1.M) is on. */
  pagingOn(): boolean {
    this.check('pagingOn');
    return this.ops.pagingOn(this);
  }

  /**
   * Rebuilds the Unicorn memory map from the live tables (see the module contract) and
   * returns what it built. Called at every run start and after every watched register change.
   */
  syncShadow(): ShadowPlan {
    this.check('syncShadow');
    const regions = this.ram.regions;
    const plan: ShadowPlan = this.ops.pagingOn(this)
      ? this.ops.plan(this, regions, this.ram, this.device)
      : { mode: 'identity', windows: identityWindows(regions), translation: identityWindows(regions), collisions: [] };
    cpuCall(
      () => this.handle.setMappings(toNative(chunkWindows(plan.windows)), toNativeTranslation(plan.translation)),
      {
        windows: plan.windows.length,
      },
    );
    this.lastPlan = plan;
    return plan;
  }

  /** The Unicorn memory map: windows, the translation it was built from, protected PA ranges. */
  mappings(): CpuMappings {
    this.check('mappings');
    const m = cpuCall(() => this.handle.mappings());
    return {
      windows: m.windows.map((w) => ({ va: kva(w.va), pa: phys(w.pa), size: size(w.size), device: w.device })),
      translation: m.translation.map((w) => ({ va: kva(w.va), pa: phys(w.pa), size: size(w.size), exec: w.exec })),
      protected: m.protected.map((p) => ({ start: phys(p.pa), size: size(p.size) })),
    };
  }

  /** Windows whose VA differs from their PA (aliases and shadow runs). */
  aliases(): readonly CpuWindow[] {
    return this.mappings().windows.filter((w) => (w.va as bigint) !== (w.pa as bigint) && !w.device);
  }

  private manualOnly(op: string): void {
    if (this.shadow) {
      throw new MachineError(
        MachineCode.CpuMap,
        `machine: ${op} needs a CPU created with shadow: false (the shadow owns the memory map)`,
        { op },
      );
    }
  }

  /** Maps `size` bytes at VA `va` over the RAM at `pa` (one region; 4 KiB granular). Only with `shadow: false`. */
  mapAlias(va: KernelVa, pa: PhysAddr, sz: Size): void {
    this.check('mapAlias');
    this.manualOnly('mapAlias');
    cpuCall(() => this.handle.mapAlias(va, pa, sz), { va, pa, size: sz });
  }

  /** Unmaps `[va, va + size)` from the memory map. Only with `shadow: false`. */
  unmapAlias(va: KernelVa, sz: Size): void {
    this.check('unmapAlias');
    this.manualOnly('unmapAlias');
    cpuCall(() => this.handle.unmapAlias(va, sz), { va, size: sz });
  }

  /** Write-protects (`ro`) or releases (`rw`) a RAM range through every window that maps it. */
  protect(pa: PhysAddr, sz: Size, mode: 'ro' | 'rw'): void {
    this.check('protect');
    cpuCall(() => this.handle.protect(pa, sz, mode), { pa, size: sz, mode });
  }

  /** Describes the copy loops to accelerate (replacing earlier ones); ignored with `exact`. */
  setCopyAccelerators(loops: readonly CopyLoop[]): void {
    this.check('setCopyAccelerators');
    const bad = (what: string, l: CopyLoop): MachineError =>
      new MachineError(MachineCode.CpuAccel, `machine: copy loop at ${hex(l.at)}: ${what}`, { at: l.at, name: l.name });
    const native: NativeCopyLoop[] = [];
    for (const l of loops) {
      for (const [what, v] of [
        ['at', l.at],
        ['exit', l.exit],
      ] as const) {
        if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw bad(`${what} is not a u64`, l);
      }
      const regs = [
        l.src,
        l.dst,
        l.count,
        ...(l.loads ?? []).map((x) => x.reg),
        ...(l.requires ?? []).map((x) => x.reg),
      ];
      if (l.flags !== undefined) regs.push(l.flags.reg);
      for (const r of regs)
        if (!REGS[this.arch].has(r)) throw bad(`register '${r}' is not an ${this.arch} register`, l);
      if (new Set([l.src, l.dst, l.count]).size !== 3) throw bad('src, dst and count must be distinct registers', l);
      const positive = (n: number): boolean => Number.isSafeInteger(n) && n > 0;
      if (!positive(l.countUnit) || !positive(l.chunk) || !positive(l.insnsPerIteration)) {
        throw bad('countUnit, chunk and insnsPerIteration must be positive integers', l);
      }
      const exitInsns = l.exitInsns ?? 0;
      if (!Number.isSafeInteger(exitInsns) || exitInsns < 0 || exitInsns > 16) throw bad('exitInsns must be 0..16', l);
      if (l.chunk > MAX_COPY_CHUNK) throw bad(`chunk ${l.chunk} exceeds ${MAX_COPY_CHUNK}`, l);
      for (const ld of l.loads ?? []) {
        if (!Number.isSafeInteger(ld.offset) || ld.offset < 0 || ld.offset + 8 > l.chunk) {
          throw bad(`load offset ${String(ld.offset)} is outside the ${l.chunk}-byte chunk`, l);
        }
      }
      native.push({
        at: l.at,
        exit: l.exit,
        src: l.src,
        dst: l.dst,
        count: l.count,
        countUnit: l.countUnit,
        chunk: l.chunk,
        insnsPerIteration: l.insnsPerIteration,
        exitInsns,
        ...(l.loads === undefined ? {} : { loads: l.loads }),
        ...(l.flags === undefined ? {} : { flags: l.flags }),
        ...(l.requires === undefined ? {} : { requires: l.requires }),
      });
    }
    this.loops = loops;
    cpuCall(() => this.handle.setAccelerators(this.exact ? [] : native), { loops: loops.length });
  }

  /** The copy loops set (even in exact mode, where they are not used). */
  get copyAccelerators(): readonly CopyLoop[] {
    return this.loops;
  }

  /** New UART bytes since the last call (also appended to `console`). */
  takeConsole(): Uint8Array {
    this.check('takeConsole');
    const { bytes, dropped } = cpuCall(() => this.handle.takeConsole());
    this.console.append(bytes, dropped);
    return bytes;
  }

  /** Runs until something stops it; see `StopReason`. */
  run(limits: RunLimits): StopReason {
    this.check('run');
    const { maxInstructions, timeoutMs } = limits;
    if (!Number.isSafeInteger(maxInstructions) || maxInstructions < 0 || maxInstructions > MAX_INSTRUCTIONS) {
      throw new MachineError(
        MachineCode.CpuRun,
        `machine: maxInstructions ${String(maxInstructions)} is not 0..2^53-1`,
        {
          maxInstructions,
        },
      );
    }
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_TIMEOUT_MS) {
      throw new MachineError(
        MachineCode.CpuRun,
        `machine: timeoutMs ${String(timeoutMs)} is not 0..${MAX_TIMEOUT_MS}`,
        {
          timeoutMs,
        },
      );
    }
    for (const [what, v] of [
      ['start', limits.start],
      ['until', limits.until],
      ...(limits.breakpoints ?? []).map((b) => ['breakpoint', b] as const),
    ] as const) {
      if (v !== undefined) checkU64(what, v, MachineCode.CpuRun);
    }
    const t0 = performance.now();
    let executed = 0;
    let copies = 0;
    let bytes = 0;
    let first = true;
    let lastFault: { pc: bigint; address: bigint } | undefined;
    if (this.shadow) this.syncShadow();
    for (;;) {
      const elapsed = performance.now() - t0;
      const r: NativeRunResult = cpuCall(() =>
        this.handle.run({
          ...(first && limits.start !== undefined ? { start: limits.start } : {}),
          ...(limits.until !== undefined ? { until: limits.until } : {}),
          maxInstructions: maxInstructions - executed,
          timeoutMs: Math.max(0, Math.ceil(timeoutMs - elapsed)),
          ...(limits.breakpoints !== undefined ? { breakpoints: limits.breakpoints } : {}),
          skipBreakpointAtStart: executed === 0,
          flushCode: first,
        }),
      );
      first = false;
      executed += r.executed;
      copies += r.acceleratedCopies;
      bytes += r.acceleratedBytes;
      const common: StopCommon = {
        executed,
        elapsedMs: performance.now() - t0,
        accelerated: { copies, bytes },
      };
      if (r.kind === 'translation-changed') {
        if (this.shadow) this.syncShadow();
        continue;
      }
      if (r.kind === 'unmapped' && this.shadow && this.ops.pagingOn(this) && r.address !== undefined) {
        const address = r.address;
        const plan = this.syncShadow();
        const xl = findRun(plan.translation, address);
        const nowMapped = findRun(plan.windows, address) !== undefined;
        const again = lastFault !== undefined && lastFault.pc === r.pc && lastFault.address === address;
        if (xl !== undefined && nowMapped && !again) {
          // The tables changed without a watched register: the shadow caught up; retry.
          lastFault = { pc: r.pc, address };
          this.setReg(this.ops.pcReg, r.pc);
          continue;
        }
        if (xl === undefined) return this.shadowFault(r, address, common);
        return {
          ...common,
          kind: 'unmapped',
          pc: r.pc,
          access: r.access ?? 'read',
          address,
          pa: phys(xl.pa + (address - xl.va)),
        };
      }
      if (r.kind === 'exception' && this.shadow && this.ops.pagingOn(this) && this.isTranslationFault(r)) {
        // A fault taken while the shadow still showed the old tables (e.g. the first fetch
        // after a CR3 load whose new tables Unicorn could not read yet): if the live tables
        // map the address, the shadow was stale, not the guest — re-sync and retry once.
        const address = r.cr2 ?? r.pc;
        const plan = this.syncShadow();
        const again = lastFault !== undefined && lastFault.pc === r.pc && lastFault.address === address;
        if (
          !again &&
          findRun(plan.translation, address) !== undefined &&
          findRun(plan.windows, address) !== undefined
        ) {
          lastFault = { pc: r.pc, address };
          this.setReg(this.ops.pcReg, r.pc);
          continue;
        }
      }
      return this.toStop(r, common);
    }
  }

  /** True for the arch's translation faults (amd64 #PF; arm64 instruction/data aborts). */
  private isTranslationFault(r: NativeRunResult): boolean {
    const v = r.vector ?? -1;
    const faults = SHADOW_FAULT_VECTOR[this.arch];
    return v === faults.fetch || v === faults.data;
  }

  /** A VA the guest's tables do not map: the fault the guest would take. */
  private shadowFault(r: NativeRunResult, address: bigint, common: StopCommon): StopReason {
    const fetch = r.access === 'fetch';
    const vector = SHADOW_FAULT_VECTOR[this.arch][fetch ? 'fetch' : 'data'];
    const name = EXCEPTION_NAMES[this.arch][vector] ?? `vector ${vector}`;
    const reg = this.ops.faultAddressReg;
    if (reg === undefined) return { ...common, kind: 'exception', pc: r.pc, vector, name };
    this.setReg(reg, address);
    return { ...common, kind: 'exception', pc: r.pc, vector, name, cr2: address };
  }

  private toStop(r: NativeRunResult, common: StopCommon): StopReason {
    const missing = (field: string): MachineError =>
      new MachineError(MachineCode.CpuRun, `machine: addon stop '${r.kind}' lacks ${field}`, { kind: r.kind });
    switch (r.kind) {
      case 'reached':
      case 'halted':
      case 'breakpoint':
      case 'limit':
      case 'timeout':
      case 'invalid-instruction':
        return { ...common, kind: r.kind, pc: r.pc };
      case 'exception': {
        const vector = r.vector ?? -1;
        const name = EXCEPTION_NAMES[this.arch][vector] ?? `vector ${vector}`;
        return r.cr2 === undefined
          ? { ...common, kind: 'exception', pc: r.pc, vector, name }
          : { ...common, kind: 'exception', pc: r.pc, vector, name, cr2: r.cr2 };
      }
      case 'unmapped':
        if (r.address === undefined || r.access === undefined) throw missing('address/access');
        return { ...common, kind: 'unmapped', pc: r.pc, access: r.access, address: r.address };
      case 'write-protect':
        if (r.address === undefined || r.pa === undefined) throw missing('address/pa');
        return {
          ...common,
          kind: 'write-protect',
          pc: r.pc,
          address: r.address,
          pa: phys(r.pa),
          size: r.size ?? 0,
          value: r.value ?? 0n,
        };
      case 'translation-changed':
        throw missing('a final reason');
      default:
        return assertNever(r.kind);
    }
  }

  /** The shadow built at the last sync, if any. */
  get shadowPlan(): ShadowPlan | undefined {
    return this.lastPlan;
  }

  /** Releases Unicorn and the pin on guest RAM; later calls throw CPU_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    cpuCall(() => this.handle.close());
  }
}

function assertNever(x: never): never {
  throw new MachineError(MachineCode.CpuRun, `machine: unexpected stop kind ${String(x)}`, { kind: x });
}
