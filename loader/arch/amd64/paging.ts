/**
 * amd64 page tables for the two ways into a new kernel, built as page images (pure).
 *
 * 1. `rescueExecTables`: what D47358's rescue_kernel_exec()/rescue_kernel_exec_cr3() build
 *    from the 16-page pool inside the reservation (markjdb/freebsd @bd74b35
 *    sys/amd64/amd64/rescue_machdep.c), in the same order and with the same bits:
 *      new root:  the reservation identity-mapped with 2 MiB pages; the 2 MiB holding
 *                 rescue_tramp identity-mapped (A|V, read-only); PA 0..4 KiB (for the BIOS);
 *                 KERNBASE + k → rescue_pa + k with 2 MiB pages for k < memsize; the current
 *                 thread's kernel stack (4 KiB pages, NX);
 *      temporary: a copy of the host's upper-half PML4 entries plus an identity map of the
 *                 trampoline page, loaded before jumping to the identity copy of rescue_tramp.
 *    Each EDOOFUS/ENXIO path of the C code is a TrampolineError with its own code.
 * 2. `loaderTables`: the 9 pages loader.kboot builds for a kexec'd FreeBSD kernel
 *    (stand/kboot/kboot/arch/amd64/elf64_freebsd.c): the low 4 GiB identity-mapped with
 *    2 MiB pages, and KERNBASE + i·2 MiB → staging + i·2 MiB (i ≥ 1; i = 0 maps PA 0).
 * 3. `kernelTables`: a generic host-kernel map (KERNBASE + k → PA + k, identity ranges, extra
 *    runs; 2 MiB pages) for the machine's model of the panicking host and for the kexec
 *    trampoline's entry identity map.
 * Entry bits: sys/amd64/include/pmap.h (X86_PG_V, RW, A, M, PS, NX).
 */
import { add, hex, phys, size, type KernelVa, type PhysAddr, type PhysRange, type Size } from '../../addr.js';
import { PagePool } from '../page-pool.js';
import { TrampolineCode, TrampolineError } from '../errors.js';
import { KERNBASE, NBPDP, NBPDR, PAGE_SIZE, PG_FRAME, PG_NX, PG_PS, PG_RW, PG_V } from './layout.js';

/** Accessed and dirty bits (sys/amd64/include/pmap.h X86_PG_A, X86_PG_M). */
export const PG_A = 0x020n;
export const PG_M = 0x040n;
/** First PML4 slot of the kernel half (PML4PML4I in sys/amd64/include/pmap.h). */
export const PML4_UPPER_HALF = 256;

export const pml4Index = (va: bigint): number => Number((va >> 39n) & 511n);
export const pdpIndex = (va: bigint): number => Number((va >> 30n) & 511n);
export const pdIndex = (va: bigint): number => Number((va >> 21n) & 511n);
export const ptIndex = (va: bigint): number => Number((va >> 12n) & 511n);
const trunc2m = (pa: bigint): bigint => pa & ~(NBPDR - 1n);
const truncPage = (pa: bigint): bigint => pa & ~(PAGE_SIZE - 1n);

export interface RescueExecInput {
  readonly rescuePa: PhysAddr;
  /** The whole reservation size (rescue_memsize in rescue_machdep.c). */
  readonly memsize: Size;
  /** The pool inside the reservation (16 pages). */
  readonly pool: PagePool;
  /** Physical address of rescue_tramp in the host kernel (it must not cross a page). */
  readonly trampPa: PhysAddr;
  /** Offset of rescue_itramp from rescue_tramp. */
  readonly itrampOffset: number;
  /** The host's current PML4 entries 256..511 (copied into the temporary root). */
  readonly hostUpperPml4: readonly bigint[];
  /** The panicking thread's kernel stack: its VA and the PA of each page. */
  readonly kstack: { readonly va: KernelVa; readonly pages: readonly PhysAddr[] };
  /**
   * The host's `pg_nx`: PG_NX when the CPU has NX enabled (EFER.NXE), 0 otherwise
   * (sys/amd64/amd64/pmap.c sets pg_nx only when the CPU has AMDID_NX). Default PG_NX.
   */
  readonly pgNx?: bigint;
}

export interface RescueExecTables {
  /** Root for the rescue kernel (loaded by the trampoline). */
  readonly cr3: PhysAddr;
  /** Temporary root loaded before jumping to the identity copy of the trampoline. */
  readonly tempCr3: PhysAddr;
  /** Identity (physical) address of rescue_itramp. */
  readonly itramp: PhysAddr;
  readonly pagesUsed: number;
}

function fail(
  code: (typeof TrampolineCode)[keyof typeof TrampolineCode],
  message: string,
  details: Record<string, unknown>,
): never {
  throw new TrampolineError(code, `trampoline: ${message}`, details);
}

/** Builds rescue_kernel_exec's tables into `input.pool` (see the module contract). */
export function rescueExecTables(input: RescueExecInput): RescueExecTables {
  const { pool } = input;
  if (input.hostUpperPml4.length !== 512 - PML4_UPPER_HALF) {
    fail(TrampolineCode.BadRange, `the host PML4 upper half has ${input.hostUpperPml4.length} entries, not 256`, {});
  }
  const pml4 = pool.alloc('the rescue PML4');
  const reservation = mapReservation(input, pml4);
  mapTrampoline2M(input, pml4, reservation);
  mapLowPage(input, pml4);
  mapKernbase(input, pml4);
  mapKernelStack(input, pml4);
  return {
    cr3: pml4,
    tempCr3: temporaryRoot(input),
    itramp: add(input.trampPa, size(input.itrampOffset)),
    pagesUsed: pool.used,
  };
}

/** The entry's frame: the next-level table it points to. */
const frameOf = (e: bigint): PhysAddr => phys(e & PG_FRAME);

/** The reservation, identity-mapped with 2 MiB pages; returns the PDP and PD it allocated. */
function mapReservation(input: RescueExecInput, pml4: PhysAddr): { pdp: PhysAddr; pd: PhysAddr } {
  const { pool, rescuePa, memsize } = input;
  const pdp = pool.alloc('the reservation PDP');
  pool.set(pml4, pml4Index(rescuePa), PG_RW | PG_V | pdp);
  const pd = pool.alloc('the reservation PD');
  pool.set(pdp, pdpIndex(rescuePa), PG_RW | PG_V | pd);
  for (let pa: bigint = rescuePa; pa < rescuePa + memsize; pa += NBPDR)
    pool.set(pd, pdIndex(pa), PG_PS | PG_RW | PG_V | pa);
  return { pdp, pd };
}

/** The 2 MiB holding rescue_tramp, identity-mapped (A|V, read-only) under the reservation's PML4 entry. */
function mapTrampoline2M(input: RescueExecInput, pml4: PhysAddr, reservation: { pdp: PhysAddr; pd: PhysAddr }): void {
  const { pool } = input;
  const { pdp } = reservation;
  let { pd } = reservation;
  const tramppa = trunc2m(input.trampPa);
  if (pool.get(pml4, pml4Index(tramppa)) === 0n) {
    fail(
      TrampolineCode.TrampNotMapped,
      `rescue_tramp() at ${hex(input.trampPa)} is not mapped by the PML4 page of the reservation`,
      {
        trampPa: input.trampPa,
        rescuePa: input.rescuePa,
      },
    );
  }
  if (pool.get(pdp, pdpIndex(tramppa)) === 0n) {
    pd = pool.alloc('the trampoline PD');
    pool.set(pdp, pdpIndex(tramppa), PG_A | PG_V | pd);
  }
  if (pool.get(pd, pdIndex(tramppa)) === 0n) pool.set(pd, pdIndex(tramppa), PG_PS | PG_A | PG_V | tramppa);
}

/** PA 0..4 KiB for the BIOS; the low 2 MiB must not be part of the reservation's map. */
function mapLowPage(input: RescueExecInput, pml4: PhysAddr): void {
  const { pool } = input;
  let pdp: PhysAddr;
  if (pool.get(pml4, pml4Index(0n)) === 0n) {
    pdp = pool.alloc('the low-memory PDP');
    pool.set(pml4, pml4Index(0n), PG_RW | PG_V | pdp);
  } else {
    pdp = frameOf(pool.get(pml4, pml4Index(0n)));
  }
  let pd: PhysAddr;
  if (pool.get(pdp, pdpIndex(0n)) === 0n) {
    pd = pool.alloc('the low-memory PD');
    pool.set(pdp, pdpIndex(0n), PG_RW | PG_V | pd);
  } else {
    pd = frameOf(pool.get(pdp, pdpIndex(0n)));
  }
  if (pool.get(pd, pdIndex(0n)) !== 0n) {
    fail(
      TrampolineCode.LowMemoryOccupied,
      'the low 2 MiB is already occupied by the reservation ("rescue: low 2MB already occupied")',
      {
        rescuePa: input.rescuePa,
      },
    );
  }
  const pt = pool.alloc('the low-memory PT');
  pool.set(pd, pdIndex(0n), PG_RW | PG_V | pt);
  pool.set(pt, ptIndex(0n), PG_RW | PG_V);
}

/** KERNBASE + k -> rescue_pa + k with 2 MiB pages for k < memsize. */
function mapKernbase(input: RescueExecInput, pml4: PhysAddr): void {
  const { pool, rescuePa, memsize } = input;
  if (pool.get(pml4, pml4Index(KERNBASE)) !== 0n) {
    fail(
      TrampolineCode.KernbaseConflict,
      'KERNBASE is already mapped by the identity map ("rescue: kernel already mapped by identity map")',
      {
        rescuePa,
      },
    );
  }
  const pdp = pool.alloc('the KERNBASE PDP');
  pool.set(pml4, pml4Index(KERNBASE), PG_RW | PG_V | pdp);
  const pd = pool.alloc('the KERNBASE PD');
  pool.set(pdp, pdpIndex(KERNBASE), PG_RW | PG_V | pd);
  for (let va: bigint = KERNBASE; va < KERNBASE + memsize; va += NBPDR) {
    pool.set(pd, pdIndex(va), PG_PS | PG_RW | PG_V | (rescuePa + (va - KERNBASE)));
  }
}

/** The current thread's kernel stack, 4 KiB pages, NX (pg_nx); it must sit under one PD page. */
function mapKernelStack(input: RescueExecInput, pml4: PhysAddr): void {
  const { pool } = input;
  const kva: bigint = input.kstack.va;
  const kend = kva + BigInt(input.kstack.pages.length) * PAGE_SIZE - 1n;
  if (pool.get(pml4, pml4Index(kva)) !== 0n) {
    fail(TrampolineCode.StackConflict, `the kernel stack at ${hex(kva)} is already mapped by the identity map`, {
      kstack: kva,
    });
  }
  if (kva / NBPDP !== kend / NBPDP || kva / NBPDR !== kend / NBPDR) {
    fail(
      TrampolineCode.StackConflict,
      `the kernel stack ${hex(kva)}-${hex(kend)} spans more than one page-directory page`,
      { kstack: kva },
    );
  }
  const nx = input.pgNx ?? PG_NX;
  const pdp = pool.alloc('the kernel-stack PDP');
  pool.set(pml4, pml4Index(kva), PG_RW | PG_V | pdp | nx);
  const pd = pool.alloc('the kernel-stack PD');
  pool.set(pdp, pdpIndex(kva), PG_RW | PG_V | pd | nx);
  const kpt = pool.alloc('the kernel-stack PT');
  pool.set(pd, pdIndex(kva), PG_RW | PG_V | kpt | nx);
  input.kstack.pages.forEach((pa, i) => {
    pool.set(kpt, ptIndex(kva + BigInt(i) * PAGE_SIZE), PG_RW | PG_V | nx | PG_A | PG_M | pa);
  });
}

/** The temporary root: the host's upper half plus the trampoline page, identity-mapped. */
function temporaryRoot(input: RescueExecInput): PhysAddr {
  const { pool } = input;
  const tramp = truncPage(input.trampPa);
  const temp = pool.alloc('the temporary PML4');
  input.hostUpperPml4.forEach((e, i) => pool.set(temp, PML4_UPPER_HALF + i, e));
  const tpdp = pool.alloc('the temporary PDP');
  pool.set(temp, pml4Index(tramp), PG_A | PG_V | tpdp);
  const tpd = pool.alloc('the temporary PD');
  pool.set(tpdp, pdpIndex(tramp), PG_A | PG_V | tpd);
  const tpt = pool.alloc('the temporary PT');
  pool.set(tpd, pdIndex(tramp), PG_A | PG_V | tpt);
  pool.set(tpt, ptIndex(tramp), PG_A | PG_V | tramp);
  return temp;
}

/**
 * loader.kboot's 9 pages (PT4, PT3_l, PT3_u, PT2_l0..3, PT2_u0, PT2_u1) at `base`, for a kernel
 * staged at `staging` (2 MiB aligned; the kernel itself at staging + 2 MiB).
 */
export function loaderTables(base: PhysAddr, staging: PhysAddr): { readonly cr3: PhysAddr; readonly pool: PagePool } {
  const pool = new PagePool(base, 9);
  const pt4 = pool.alloc('PT4');
  const pt3l = pool.alloc('PT3_l');
  const pt3u = pool.alloc('PT3_u');
  const pt2l = [pool.alloc('PT2_l0'), pool.alloc('PT2_l1'), pool.alloc('PT2_l2'), pool.alloc('PT2_l3')];
  const pt2u = [pool.alloc('PT2_u0'), pool.alloc('PT2_u1')];
  pool.set(pt4, 0, pt3l | PG_V | PG_RW);
  pt2l.forEach((pd, i) => pool.set(pt3l, i, pd | PG_V | PG_RW));
  for (let i = 0; i < 2048; i++) {
    const pd = pt2l[i >> 9];
    if (pd !== undefined) pool.set(pd, i & 511, (BigInt(i) << 21n) | PG_V | PG_RW | PG_PS);
  }
  pool.set(pt4, 511, pt3u | PG_V | PG_RW);
  pool.set(pt3u, 510, (pt2u[0] ?? 0n) | PG_V | PG_RW);
  pool.set(pt3u, 511, (pt2u[1] ?? 0n) | PG_V | PG_RW);
  for (let i = 0; i < 1024; i++) {
    const pd = pt2u[i >> 9];
    const pa = i === 0 ? 0n : staging + BigInt(i) * NBPDR;
    if (pd !== undefined) pool.set(pd, i & 511, pa | PG_V | PG_RW | PG_PS);
  }
  return { cr3: pt4, pool };
}

/** One more VA → PA run for `kernelTables` (both 2 MiB aligned; size a multiple of 2 MiB). */
export interface KernelMapRun {
  readonly va: KernelVa;
  readonly pa: PhysAddr;
  readonly size: Size;
}

export interface KernelTablesOptions {
  /** KERNBASE + k → kernbaseTo + k (2 MiB aligned). A FreeBSD kernel loaded at KERNLOAD has 0 here. */
  readonly kernbaseTo: PhysAddr;
  /** Bytes mapped from KERNBASE: a multiple of 2 MiB, at most 2 GiB (KERNBASE is the top 2 GiB); 0 maps nothing. */
  readonly size: Size;
  /** Physical ranges to identity-map, rounded out to 2 MiB (canonical lower half: below 2^47). */
  readonly identity?: readonly PhysRange[];
  /** Further runs, e.g. the kernel-stack area of kernel_map or a direct-map window. */
  readonly extra?: readonly KernelMapRun[];
}

export interface KernelTables {
  /** The PML4 page: the value for CR3. */
  readonly root: PhysAddr;
  /** PML4 entries 256..511 (PML4PML4I..NPML4EPG-1): what rescue_kernel_exec copies into its temporary root. */
  readonly upperHalf: readonly bigint[];
}

/** First VA of the canonical upper half (bits 63..47 all ones). */
const UPPER_HALF_START = 0xffff_8000_0000_0000n;
/** End of the canonical lower half. */
const LOWER_HALF_END = 0x0000_8000_0000_0000n;

/**
 * A host kernel's mapping as 4-level tables with 2 MiB pages, built into `pool` (which the
 * caller places in guest RAM): KERNBASE + k → kernbaseTo + k for k < size, each identity range,
 * and each extra run. Tables are V|RW; leaves V|RW|PS|A|M, as pmap enters kernel superpages
 * (sys/amd64/amd64/pmap.c). Two runs that send one 2 MiB page to different frames, a run that
 * is not 2 MiB aligned or leaves the canonical halves, or a KERNBASE map past 2 GiB is
 * TRAMPOLINE_BAD_RANGE; a pool too small is TRAMPOLINE_POOL_EXHAUSTED.
 */
export function kernelTables(pool: PagePool, opts: KernelTablesOptions): KernelTables {
  if (opts.size > NBPDP * 2n) {
    fail(TrampolineCode.BadRange, `the KERNBASE map of ${hex(opts.size)} bytes passes the top of the address space`, {
      size: opts.size,
    });
  }
  const runs: { va: bigint; pa: bigint; size: bigint; what: string }[] = [];
  if (opts.size > 0n) runs.push({ va: KERNBASE, pa: opts.kernbaseTo, size: opts.size, what: 'the KERNBASE map' });
  for (const r of opts.identity ?? []) {
    const start = trunc2m(r.start);
    const end = (r.start + r.size + NBPDR - 1n) & ~(NBPDR - 1n);
    if (r.size > 0n) runs.push({ va: start, pa: start, size: end - start, what: `identity ${hex(r.start)}` });
  }
  for (const r of opts.extra ?? []) runs.push({ va: r.va, pa: r.pa, size: r.size, what: `run ${hex(r.va)}` });
  const root = pool.alloc('the host PML4');
  for (const run of runs) {
    const end = run.va + run.size;
    const canonical = end <= LOWER_HALF_END || (run.va >= UPPER_HALF_START && end <= 1n << 64n);
    const inPhys = run.pa + run.size <= PG_FRAME + PAGE_SIZE;
    if (run.va % NBPDR !== 0n || run.pa % NBPDR !== 0n || run.size % NBPDR !== 0n || !canonical || !inPhys) {
      fail(
        TrampolineCode.BadRange,
        `${run.what} (${hex(run.va)} -> ${hex(run.pa)}, ${hex(run.size)} bytes) is not 2 MiB aligned, not canonical or past 2^52`,
        { va: run.va, pa: run.pa, size: run.size },
      );
    }
    for (let off = 0n; off < run.size; off += NBPDR) {
      const va = run.va + off;
      const leaf = (run.pa + off) | PG_PS | PG_A | PG_M | PG_RW | PG_V;
      const pdp = tableAt(pool, root, pml4Index(va), 'a host PDP');
      const pd = tableAt(pool, pdp, pdpIndex(va), 'a host PD');
      const old = pool.get(pd, pdIndex(va));
      if (old !== 0n && old !== leaf) {
        fail(
          TrampolineCode.BadRange,
          `${run.what} maps ${hex(va)} to ${hex(run.pa + off)}, already mapped to ${hex(old & PG_FRAME)}`,
          {
            va,
            pa: run.pa + off,
            existing: old & PG_FRAME,
          },
        );
      }
      pool.set(pd, pdIndex(va), leaf);
    }
  }
  return {
    root,
    upperHalf: Array.from({ length: 512 - PML4_UPPER_HALF }, (_, i) => pool.get(root, PML4_UPPER_HALF + i)),
  };
}

/** The next-level table under `table[index]`, allocated (V|RW) when the entry is empty. */
function tableAt(pool: PagePool, table: PhysAddr, index: number, what: string): PhysAddr {
  const e = pool.get(table, index);
  if (e !== 0n) return frameOf(e);
  const next = pool.alloc(what);
  pool.set(table, index, next | PG_RW | PG_V);
  return next;
}
