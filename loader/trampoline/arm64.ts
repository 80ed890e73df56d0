/**
 * arm64 trampolines, emitted with kboot's A64 encoder (pure: bytes and values out).
 *
 * rescue-exec — the tail of D47358's rescue_kernel_exec (markjdb/freebsd @bd74b35
 * sys/arm64/arm64/rescue_machdep.c) as code in host text, reached through TTBR1 with the MMU
 * on: `dsb ishst` (the tables are written), set_ttbr0 (`msr ttbr0_el1, x1; isb`,
 * sys/arm64/include/cpufunc.h), cpu_tlb_flushID (`dsb ishst; tlbi vmalle1is; dsb ish; isb`,
 * sys/arm64/arm64/cpufunc_asm.S arm64_tlb_flushID, SMP), then `br x2`. Entered with
 * x0 = KERNBASE + rescue_memsize (the whole reservation: D47358's dummy modulep), x1 = the L0
 * of the identity map of the reservation (pt_l0/pt_l1/pt_l2 in host memory), x2 =
 * rescue_pa + 2 MiB + (e_entry − KERNBASE). Leaves: _start running at x2 with the MMU on, x0
 * unchanged (freebsd-handoff.md §2.4, §8.5, §10.3).
 *
 * kexec-reboot — stand/kboot/kboot/arch/aarch64/tramp.S with a segment copy in front:
 * entered with the MMU and D-cache off (x0 = FDT, x1 = EL2 vectors, both ignored), copies each
 * table entry 16 bytes at a time (`ldp`/`stp` post-index), copies the optional memmap 8 bytes
 * at a time as tramp.S does, invalidates the I-cache as FreeBSD's invalidate_icache()
 * (`ic ialluis; dsb ish; isb`; kexec_reboot_bottom does the same after its copy), then
 * `ldp x9, x0, [trampoline_data]` and `br x9` (§2.5, §6.1).
 *
 * Contract for both sides: loader/trampoline/contract.md §arm64.
 */
import assert from 'node:assert/strict';
import { add, hex, isAligned, overlaps, size, SZ_4K } from '../addr.js';
import {
  HOST_MAIR_EL1,
  HOST_SCTLR_EL1,
  HOST_TCR_EL1,
  KERNBASE,
  SCTLR_RES1,
  TTBR1_VA_MIN,
} from '../arch/arm64/layout.js';
import { rescueIdentityTables } from '../arch/arm64/paging.js';
import { PAGE_BYTES } from '../arch/page-pool.js';
import { TrampolineCode } from '../arch/errors.js';
import { A64Asm } from '../codegen/index.js';
import {
  checkCodePlacement,
  checkCopies,
  checkStack,
  copyDestinations,
  CODE_ALIGN,
  fail,
  joinPages,
  physRange,
} from './common.js';
import { Arm64KexecBlock, Arm64TrampData, TrampCopy, TRAMP_COPY_SLOTS } from './layout.js';
import type { KexecRebootInput, RescueExecInput, Trampoline } from './types.js';

/** Bytes each kexec copy must be a multiple of: the loop moves 16 bytes per ldp/stp pair. */
export const ARM64_COPY_UNIT = 16;
/** The arm64 kexec trampoline area from `at`: one page of code and data. */
export const ARM64_KEXEC_AREA_BYTES = PAGE_BYTES;
/** D47358 keeps pt_l0, pt_l1 and pt_l2 in the host kernel: three pages. */
const RESCUE_TABLE_PAGES = 3;
/** Physical addresses reach 48 bits (4 KiB granule, TCR IPS ≤ 48). */
const PA_LIMIT = 1n << 48n;

/** The rescue jump's code (see the module header). */
function emitRescueTramp(): A64Asm {
  const a = new A64Asm();
  a.label('rescue_tramp').dsb('ishst');
  a.label('set_ttbr0').msr('ttbr0_el1', 'x1').isb();
  a.label('tlb_flush').dsb('ishst').tlbi('vmalle1is').dsb('ish').isb();
  a.label('jump').br('x2');
  return a;
}

/** Builds D47358's arm64 rescue_kernel_exec jump (see the module header). */
export function arm64RescueExec(input: RescueExecInput): Trampoline {
  const { plan, host } = input;
  if (plan.arch !== 'arm64') {
    fail(TrampolineCode.BadInput, `an ${plan.arch} plan was given to the arm64 rescue trampoline`, { arch: plan.arch });
  }
  const text = host.text;
  if (text.va < TTBR1_VA_MIN) {
    fail(TrampolineCode.BadInput, `host text VA ${hex(text.va)} is not a TTBR1 (kernel) address`, { va: text.va });
  }
  const lowRoot = host.tables.lowRoot;
  if (lowRoot === undefined) {
    fail(TrampolineCode.BadInput, 'the arm64 host state needs TTBR0_EL1 at the panic (host.tables.lowRoot)', {});
  }
  if (!isAligned(host.scratch, SZ_4K)) {
    fail(TrampolineCode.BadInput, `the host scratch pages at ${hex(host.scratch)} are not page aligned`, {
      scratch: host.scratch,
    });
  }
  const scratch = physRange(host.scratch, RESCUE_TABLE_PAGES * PAGE_BYTES);
  const code = emitRescueTramp().finish(text.va);
  checkCodePlacement(text.pa, text.va, code.bytes.length, 'rescue_tramp');
  for (const [what, r] of [
    ['the host scratch pages', scratch],
    ['rescue_tramp', physRange(text.pa, BigInt(code.bytes.length))],
  ] as const) {
    if (overlaps(r, plan.region)) {
      fail(TrampolineCode.BadInput, `${what} at ${hex(r.start)} lie inside the reservation`, {
        start: r.start,
        region: plan.region,
      });
    }
  }
  const stackSize = checkStack(host.stack);
  const ident = rescueIdentityTables(plan.region.start, plan.region.size, host.scratch);
  const target = plan.relocation.toPhys(plan.kernelEntryVa);
  return {
    arch: 'arm64',
    kind: 'rescue-exec',
    segments: [
      { label: 'rescue_kernel_exec tail (host kernel text)', role: 'code', phys: text.pa, data: code.bytes },
      {
        label: 'pt_l0/pt_l1/pt_l2 (host kernel static)',
        role: 'page-tables',
        phys: host.scratch,
        data: joinPages(ident.pool.pages()),
      },
    ],
    code: { phys: text.pa, va: text.va, size: code.bytes.length, labels: Object.fromEntries(code.labels) },
    entry: {
      pc: text.va,
      regs: { x0: add(KERNBASE, plan.region.size), x1: ident.ttbr0, x2: target, sp: host.stack.sp },
      mmu: 'on',
      sctlr: HOST_SCTLR_EL1,
      tcr: HOST_TCR_EL1,
      mair: HOST_MAIR_EL1,
      ttbr0: lowRoot,
      ttbr1: host.tables.root,
      stack: { va: host.stack.va, size: stackSize, sp: host.stack.sp },
    },
    copyLoops: [],
    stopAt: target,
    writable: [],
    tables: [scratch],
  };
}

/** The kexec code (see the module header); offsets come from the layouts. */
function emitKexecTramp(): A64Asm {
  const a = new A64Asm();
  const block = Arm64KexecBlock.offsets;
  const td = Arm64TrampData.offsets;
  a.label('kexec_tramp').adr('x8', 'data');
  a.ldr('x6', { base: 'x8', offset: block.ncopies });
  a.addImm('x7', 'x8', block.copies);
  a.label('next_copy').cbz('x6', 'copies_done');
  a.ldr('x1', { base: 'x7', offset: TrampCopy.offsets.src });
  a.ldr('x2', { base: 'x7', offset: TrampCopy.offsets.dst });
  a.ldr('x3', { base: 'x7', offset: TrampCopy.offsets.len });
  a.label('copy_loop').cbz('x3', 'copy_loop_exit');
  a.ldp('x4', 'x5', { base: 'x1', offset: ARM64_COPY_UNIT, mode: 'post' });
  a.stp('x4', 'x5', { base: 'x2', offset: ARM64_COPY_UNIT, mode: 'post' });
  a.subImm('x3', 'x3', ARM64_COPY_UNIT).b('copy_loop');
  a.label('copy_loop_exit').addImm('x7', 'x7', TrampCopy.size).subImm('x6', 'x6', 1).b('next_copy');
  a.label('copies_done').addImm('x8', 'x8', block.tramp); // x8 = &trampoline_data, as tramp.S's adr
  a.ldr('x10', { base: 'x8', offset: td.memmapSrc }).cbz('x10', 'memmap_done');
  a.ldr('x11', { base: 'x8', offset: td.memmapDst });
  a.ldr('x12', { base: 'x8', offset: td.memmapLen });
  a.label('memmap_loop').cbz('x12', 'memmap_done');
  a.ldr('x13', { base: 'x10', offset: 8, mode: 'post' });
  a.str('x13', { base: 'x11', offset: 8, mode: 'post' });
  a.subImm('x12', 'x12', 8).b('memmap_loop');
  a.label('memmap_done').ic('ialluis').dsb('ish').isb();
  a.ldp('x9', 'x0', { base: 'x8', offset: td.entry }); // entry, modulep (adjacent: asserted in layout.ts)
  a.br('x9');
  a.align(CODE_ALIGN).label('data');
  return a;
}

/** Builds the tramp.S-style arm64 kexec trampoline (see the module header). */
export function arm64KexecReboot(input: KexecRebootInput): Trampoline {
  const { kernel } = input;
  const at = input.at;
  if (!isAligned(at, SZ_4K)) {
    fail(TrampolineCode.CodeMisaligned, `the kexec trampoline area ${hex(at)} is not page aligned`, { at });
  }
  if (at + SZ_4K > PA_LIMIT || kernel.entry < 0n || kernel.entry >= PA_LIMIT || kernel.entry % 4n !== 0n) {
    fail(TrampolineCode.BadRange, `the trampoline at ${hex(at)} or the entry ${hex(kernel.entry)} is not a usable PA`, {
      at,
      entry: kernel.entry,
    });
  }
  if (kernel.modulep < 0n || kernel.modulep >= 1n << 64n) {
    fail(TrampolineCode.BadRange, `modulep ${hex(kernel.modulep)} is not a 64-bit value`, { modulep: kernel.modulep });
  }
  checkCopies(input, ARM64_COPY_UNIT, PA_LIMIT, [
    { label: 'the kexec trampoline code and data', range: physRange(at, SZ_4K) },
  ]);
  const code = emitKexecTramp().finish(at);
  const codeSize = Number(code.address('data') - at);
  assert(codeSize + Arm64KexecBlock.size <= PAGE_BYTES, 'code and data block share the page');
  const dataPa = add(at, size(codeSize));
  const copiesBytes = new Uint8Array(TRAMP_COPY_SLOTS * TrampCopy.size);
  input.copies.forEach((c, i) =>
    TrampCopy.encodeInto(copiesBytes, i * TrampCopy.size, { src: c.src, dst: c.dst, len: c.len }),
  );
  const memmap = kernel.memmap;
  const data = Arm64KexecBlock.encode({
    ncopies: BigInt(input.copies.length),
    copies: copiesBytes,
    tramp: Arm64TrampData.encode({
      entry: kernel.entry,
      modulep: kernel.modulep,
      memmapSrc: memmap?.src ?? 0n,
      memmapDst: memmap?.dst ?? 0n,
      memmapLen: memmap?.len ?? 0n,
    }),
  });
  return {
    arch: 'arm64',
    kind: 'kexec-reboot',
    segments: [
      { label: 'kexec trampoline', role: 'code', phys: at, data: code.bytes },
      { label: 'kexec copy table + trampoline_data', role: 'data', phys: dataPa, data },
    ],
    code: { phys: at, va: at, size: codeSize, labels: Object.fromEntries(code.labels) },
    entry: {
      pc: at,
      regs: { x0: input.fdt ?? 0n, x1: 0n },
      mmu: 'off',
      sctlr: SCTLR_RES1,
    },
    copyLoops: [
      {
        label: 'segment copy',
        kind: 'a64-ldp-stp',
        at: code.address('copy_loop'),
        exit: code.address('copy_loop_exit'),
        regs: { src: 'x1', dst: 'x2', count: 'x3', scratch: ['x4', 'x5'] },
        countUnit: 1,
        chunk: ARM64_COPY_UNIT,
        insnsPerIteration: 5, // cbz, ldp, stp, sub, b
        exitInsns: 1, // the last cbz
      },
    ],
    stopAt: kernel.entry,
    writable: copyDestinations(input),
    tables: [],
  };
}
