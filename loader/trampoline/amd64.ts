/**
 * amd64 trampolines, emitted with kboot's x86-64 encoder (pure: bytes and values out).
 *
 * rescue-exec — D47358's rescue_kernel_exec (markjdb/freebsd @bd74b35 sys/amd64/amd64/
 * rescue_machdep.c, locore.S rescue_tramp): `rescue_tramp: jmp *%rdx` → `rescue_itramp:
 * mov %rdi,%cr3; jmp *%rsi` (+ int3), 64-byte aligned in host text. Entered at the host's
 * KERNBASE VA of rescue_tramp with CR3 = the temporary root (host upper half + the tramp page
 * identity-mapped), RDI = the rescue root, RSI = e_entry (btext, a KERNBASE VA), RDX = the
 * identity address of rescue_itramp, RSP on the panicking thread's kernel stack (mapped NX in
 * the rescue root). Leaves: btext running under the rescue root with the old stack; the
 * rescue kernel reads its parameters at VA KERNBASE (freebsd-handoff.md §8.4, §10.2).
 *
 * kexec-reboot — stand/kboot/kboot/arch/amd64/amd64_tramp.S with the segment copy of
 * sys/amd64/amd64/kexec_tramp.S kexec_do_reboot: entered in long mode at the code's PA with CR3
 * = an identity map of the code page and every copy; copies each table entry with
 * `rep movsq`, then the optional memmap (also `rep movsq`: its length must be a multiple of 8
 * where tramp.S uses movsb), loads CR3 = loader.kboot's tables (elf64_freebsd.c, 9 pages at
 * code + 4 KiB), points %rsp at trampoline_data.entry and `ret`s into btext, leaving
 * 4(%rsp) = modulep and 8(%rsp) = kernend (§2.1–2.3).
 *
 * Contract for both sides: loader/trampoline/contract.md §amd64.
 */
import assert from 'node:assert/strict';
import { add, hex, isAligned, phys, size, SZ_4K, type PhysAddr } from '../addr.js';
import { archInfo } from '../arch/index.js';
import {
  KERNBASE,
  KERNSTART,
  LONG_MODE_CR0,
  LONG_MODE_CR4,
  LONG_MODE_EFER,
  NBPDP,
  NBPDR,
} from '../arch/amd64/layout.js';
import { kernelTables, loaderTables, rescueExecTables, type KernelTables } from '../arch/amd64/paging.js';
import { PagePool, PAGE_BYTES } from '../arch/page-pool.js';
import { TrampolineCode } from '../arch/errors.js';
import { X86Asm } from '../codegen/index.js';
import {
  checkCodePlacement,
  checkCopies,
  checkStack,
  copyDestinations,
  copyFootprint,
  fail,
  joinPages,
  physRange,
  CODE_ALIGN,
} from './common.js';
import { Amd64KexecBlock, Amd64TrampData, TrampCopy, TRAMP_COPY_SLOTS } from './layout.js';
import type { CopyLoop, KexecRebootInput, RescueExecInput, Trampoline } from './types.js';

/** Bytes each kexec copy must be a multiple of: `rep movsq` moves qwords. */
export const AMD64_COPY_UNIT = 8;
/** Upper bound on the entry identity map's pages (PML4 + PDPs + PDs). */
export const AMD64_ENTRY_MAP_PAGES = 32;
/** elf64_freebsd.c builds 9 pages (PT4, PT3_l, PT3_u, PT2_l0..3, PT2_u0..1). */
const LOADER_TABLE_PAGES = 9;
/** The bytes of those 9 pages. */
const LOADER_TABLE_BYTES = size(LOADER_TABLE_PAGES * PAGE_BYTES);
/**
 * The amd64 kexec trampoline area from `at`: one page of code and data, loader.kboot's 9
 * table pages, and room for the entry identity map — no copy may touch it.
 */
export const AMD64_KEXEC_AREA_BYTES = (1 + LOADER_TABLE_PAGES + AMD64_ENTRY_MAP_PAGES) * PAGE_BYTES;
/** First VA of the kernel half; rescue_kernel_exec's temporary root copies PML4 256..511. */
const KERNEL_HALF = 0xffff_8000_0000_0000n;
/** The identity map the kexec trampoline is entered with covers the canonical lower half. */
const LOWER_HALF_END = 0x0000_8000_0000_0000n;
/** loader.kboot's tables map the low 4 GiB identity (elf64_freebsd.c PT2_l0..l3). */
const LOADER_IDENTITY_END = 4n * NBPDP;
/** ... and KERNBASE .. KERNBASE + 2 GiB (PT2_u0, PT2_u1). */
const LOADER_KERNBASE_END = KERNBASE + 2n * NBPDP;
/** rescue_tramp / rescue_itramp, as in D47358's locore.S. */
function emitRescueTramp(): X86Asm {
  const a = new X86Asm();
  a.label('rescue_tramp').jmpReg('rdx'); // to rescue_itramp in the identity map
  a.label('rescue_itramp').movToCr('cr3', 'rdi').jmpReg('rsi').int3();
  return a;
}

/** Builds D47358's amd64 rescue_kernel_exec jump (see the module header). */
export function amd64RescueExec(input: RescueExecInput): Trampoline {
  const { plan, host } = input;
  if (plan.arch !== 'amd64') {
    fail(TrampolineCode.BadInput, `an ${plan.arch} plan was given to the amd64 rescue trampoline`, { arch: plan.arch });
  }
  const text = host.text;
  if (text.va < KERNEL_HALF) {
    fail(
      TrampolineCode.BadInput,
      `host text VA ${hex(text.va)} is not in the kernel half the temporary root copies (PML4 256..511)`,
      { va: text.va },
    );
  }
  const upperHalf = host.tables.upperHalf;
  if (upperHalf === undefined) {
    fail(TrampolineCode.BadInput, 'the amd64 host state needs the PML4 upper half (host.tables.upperHalf)', {});
  }
  const stackSize = checkStack(host.stack);
  const code = emitRescueTramp().finish(text.va);
  checkCodePlacement(text.pa, text.va, code.bytes.length, 'rescue_tramp');
  const ptSeg = plan.segments.find((s) => s.kind === 'page-tables');
  if (ptSeg === undefined) {
    fail(TrampolineCode.BadInput, 'the rescue plan has no page-table pool segment', { region: plan.region });
  }
  const pool = new PagePool(ptSeg.phys, archInfo('amd64').rescuePageTablePages);
  const tables = rescueExecTables({
    rescuePa: plan.region.start,
    memsize: plan.region.size,
    pool,
    trampPa: text.pa,
    itrampOffset: Number(code.address('rescue_itramp') - text.va),
    hostUpperPml4: upperHalf,
    kstack: { va: host.stack.va, pages: host.stack.pages },
    ...(host.pgNx === undefined ? {} : { pgNx: host.pgNx }),
  });
  const pages = pool.pages();
  return {
    arch: 'amd64',
    kind: 'rescue-exec',
    segments: [
      { label: 'rescue_tramp (host kernel text)', role: 'code', phys: text.pa, data: code.bytes },
      { label: 'rescue bootstrap page tables', role: 'page-tables', phys: pool.base, data: joinPages(pages) },
    ],
    code: { phys: text.pa, va: text.va, size: code.bytes.length, labels: Object.fromEntries(code.labels) },
    entry: {
      pc: text.va,
      regs: { rdi: tables.cr3, rsi: plan.kernelEntryVa, rdx: tables.itramp, rsp: host.stack.sp },
      mmu: 'on',
      cr0: LONG_MODE_CR0,
      cr3: tables.tempCr3,
      cr4: LONG_MODE_CR4,
      efer: LONG_MODE_EFER,
      stack: { va: host.stack.va, size: stackSize, sp: host.stack.sp },
    },
    copyLoops: [],
    stopAt: plan.kernelEntryVa,
    writable: [],
    tables: [physRange(pool.base, pages.length * PAGE_BYTES)],
  };
}

/** The kexec code (see the module header); displacements come from the layouts. */
function emitKexecTramp(): X86Asm {
  const a = new X86Asm();
  const block = Amd64KexecBlock.offsets;
  const tramp = (field: keyof typeof Amd64TrampData.offsets): { label: string; disp: number } => ({
    label: 'data',
    disp: block.tramp + Amd64TrampData.offsets[field],
  });
  a.label('kexec_tramp').cli().cld();
  a.lea('rbx', { label: 'data', disp: block.copies });
  a.movLoad64('r8', { label: 'data', disp: block.ncopies });
  a.label('next_copy').test('r8', 'r8').jcc('z', 'copies_done');
  a.movLoad64('rsi', { base: 'rbx', disp: TrampCopy.offsets.src });
  a.movLoad64('rdi', { base: 'rbx', disp: TrampCopy.offsets.dst });
  a.movLoad64('rcx', { base: 'rbx', disp: TrampCopy.offsets.len });
  a.shr('rcx', 3);
  a.label('copy_loop').repMovsq().label('copy_loop_exit');
  a.add('rbx', TrampCopy.size).dec('r8').jmp('next_copy');
  a.label('copies_done').movLoad64('rsi', tramp('memmapSrc')).test('rsi', 'rsi').jcc('z', 'memmap_done');
  a.movLoad64('rdi', tramp('memmapDst')).movLoad64('rcx', tramp('memmapLen')).shr('rcx', 3);
  a.label('memmap_loop').repMovsq();
  a.label('memmap_done').movLoad64('rax', tramp('pt4'));
  a.lea('rsp', tramp('entry')); // ret pops entry; btext then sees fill1/modulep/kernend at 0/4/8
  a.movToCr('cr3', 'rax').label('to_btext').ret();
  a.align(CODE_ALIGN, 0xcc).label('data');
  return a;
}

const repMovsq = (label: string, at: bigint, exit: bigint): CopyLoop => ({
  label,
  kind: 'x86-rep-movsq',
  at,
  exit,
  regs: { src: 'rsi', dst: 'rdi', count: 'rcx', scratch: [] },
  countUnit: 8,
  chunk: 8,
  insnsPerIteration: 1,
  exitInsns: 1,
});

/** The amd64 kexec input checks; returns the staging PA and kernend the amd64 side requires. */
function checkAmd64KexecInput(input: KexecRebootInput): { staging: PhysAddr; kernend: bigint } {
  const { kernel, at } = input;
  if (!isAligned(at, SZ_4K)) {
    fail(TrampolineCode.CodeMisaligned, `the kexec trampoline area ${hex(at)} is not page aligned`, { at });
  }
  if (at < 0n || at + BigInt(AMD64_KEXEC_AREA_BYTES) > LOADER_IDENTITY_END) {
    fail(
      TrampolineCode.BadRange,
      `the kexec trampoline area ${hex(at)} + ${hex(AMD64_KEXEC_AREA_BYTES)} must lie below 4 GiB (the loader tables' identity map)`,
      { at, size: AMD64_KEXEC_AREA_BYTES },
    );
  }
  const { staging, kernend } = kernel;
  if (staging === undefined || kernend === undefined) {
    fail(TrampolineCode.BadInput, 'the amd64 kexec trampoline needs kernel.staging and kernel.kernend', {});
  }
  if (staging < 0n || staging % NBPDR !== 0n || staging + 2n * NBPDP > 1n << 52n) {
    fail(TrampolineCode.BadRange, `staging ${hex(staging)} is not a 2 MiB-aligned PA below 2^52 - 2 GiB`, { staging });
  }
  for (const [name, v] of [
    ['modulep', kernel.modulep],
    ['kernend', kernend],
  ] as const) {
    if (v < 0n || v > 0xffff_ffffn) {
      fail(TrampolineCode.BadRange, `${name} ${hex(v)} does not fit the 32-bit stack word btext reads`, { [name]: v });
    }
  }
  if (kernel.entry < KERNSTART || kernel.entry >= LOADER_KERNBASE_END) {
    fail(
      TrampolineCode.BadRange,
      `the kernel entry ${hex(kernel.entry)} is outside KERNSTART..KERNBASE + 2 GiB, which the loader tables map`,
      { entry: kernel.entry },
    );
  }
  return { staging, kernend };
}

/** The page tables of the kexec area: loader.kboot's (at + 4 KiB) and the entry identity map after them. */
function amd64KexecTables(
  input: KexecRebootInput,
  staging: PhysAddr,
): { loaderBase: PhysAddr; loader: ReturnType<typeof loaderTables>; entryPool: PagePool; entryMap: KernelTables } {
  const { at } = input;
  const loaderBase = add(at, SZ_4K);
  const loader = loaderTables(loaderBase, staging);
  const entryPool = new PagePool(add(loaderBase, LOADER_TABLE_BYTES), AMD64_ENTRY_MAP_PAGES);
  const footprint = copyFootprint(input);
  // Validate before building the identity map, keeping the largest area the map may take clear.
  checkCopies(input, AMD64_COPY_UNIT, LOWER_HALF_END, [
    { label: 'the kexec trampoline code and data', range: physRange(at, SZ_4K) },
    { label: "loader.kboot's page tables", range: physRange(loaderBase, LOADER_TABLE_BYTES) },
    { label: 'the entry identity map', range: physRange(entryPool.base, AMD64_ENTRY_MAP_PAGES * PAGE_BYTES) },
  ]);
  const entryMap = kernelTables(entryPool, { kernbaseTo: phys(0n), size: size(0n), identity: footprint });
  return { loaderBase, loader, entryPool, entryMap };
}

/** The data block after the code: the copy table and trampoline_data (memmap, PT4, entry, modulep, kernend). */
function amd64KexecData(input: KexecRebootInput, pt4: PhysAddr, kernend: bigint): Uint8Array {
  const { kernel } = input;
  const copiesBytes = new Uint8Array(TRAMP_COPY_SLOTS * TrampCopy.size);
  input.copies.forEach((c, i) =>
    TrampCopy.encodeInto(copiesBytes, i * TrampCopy.size, { src: c.src, dst: c.dst, len: c.len }),
  );
  const memmap = kernel.memmap;
  return Amd64KexecBlock.encode({
    ncopies: BigInt(input.copies.length),
    copies: copiesBytes,
    tramp: Amd64TrampData.encode({
      memmapSrc: memmap?.src ?? 0n,
      memmapDst: memmap?.dst ?? 0n,
      memmapLen: memmap?.len ?? 0n,
      pt4,
      entry: kernel.entry,
      fill1: 0,
      modulep: Number(kernel.modulep),
      kernend: Number(kernend),
      fill2: 0,
    }),
  });
}

/** Builds the loader.kboot-style amd64 kexec trampoline (see the module header). */
export function amd64KexecReboot(input: KexecRebootInput): Trampoline {
  const { staging, kernend } = checkAmd64KexecInput(input);
  const { kernel, at } = input;
  const code = emitKexecTramp().finish(at);
  const codeSize = Number(code.address('data') - at);
  const dataPa = add(at, size(codeSize));
  checkCodePlacement(at, at, codeSize, 'the kexec trampoline');
  assert(codeSize + Amd64KexecBlock.size <= PAGE_BYTES, 'code and data block share the first page');
  const { loaderBase, loader, entryPool, entryMap } = amd64KexecTables(input, staging);
  const data = amd64KexecData(input, loader.cr3, kernend);
  const entryPages = entryPool.pages();
  return {
    arch: 'amd64',
    kind: 'kexec-reboot',
    segments: [
      { label: 'kexec trampoline', role: 'code', phys: at, data: code.bytes.subarray(0, codeSize) },
      { label: 'kexec copy table + trampoline_data', role: 'data', phys: dataPa, data },
      {
        label: "loader.kboot's page tables (PT4..PT2_u1)",
        role: 'page-tables',
        phys: loaderBase,
        data: joinPages(loader.pool.pages()),
      },
      { label: 'entry identity map', role: 'page-tables', phys: entryPool.base, data: joinPages(entryPages) },
    ],
    code: { phys: at, va: at, size: codeSize, labels: Object.fromEntries(code.labels) },
    entry: {
      pc: at,
      regs: {},
      mmu: 'on',
      cr0: LONG_MODE_CR0,
      cr3: entryMap.root,
      cr4: LONG_MODE_CR4,
      efer: LONG_MODE_EFER,
    },
    copyLoops: [
      repMovsq('segment copy', code.address('copy_loop'), code.address('copy_loop_exit')),
      repMovsq('memmap copy', code.address('memmap_loop'), code.address('memmap_done')),
    ],
    stopAt: kernel.entry,
    writable: copyDestinations(input),
    tables: [physRange(loaderBase, LOADER_TABLE_BYTES), physRange(entryPool.base, entryPages.length * PAGE_BYTES)],
  };
}
