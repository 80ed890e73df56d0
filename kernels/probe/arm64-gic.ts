/**
 * The arm64 probe's GICv3 LPI check (`kboot probe-kernel --arch arm64 --gic`): on the emulated
 * CPU, in its own machine code, what FreeBSD's gicv3_its does at attach with LPI tables a
 * previous kernel left live (sys/arm64/arm64/gicv3_its.c gicv3_its_conftable_init,
 * its_init_cpu_lpi; register offsets and bits: sys/arm64/arm64/gic_v3_reg.h).
 *
 * Contract (rescue mode, run after the PARAMS stage with the MMU off, so every access is a
 * physical Device access and the GIC's MMIO is reached at its PA):
 *  1. reads GICR_CTLR of CPU 0's redistributor (the build's `gicr` address); EnableLPIs clear
 *     is `lpis-off`;
 *  2. reads GICR_PROPBASER, then each CPU's GICR_PENDBASER, stepping 128 KiB redistributor
 *     frames until GICR_TYPER.Last (at most PROBE_GICR_MAX);
 *  3. for each table (PA & the register's PA mask, LPI_CONFTAB_SIZE / LPI_PENDTAB_SIZE bytes)
 *     asks whether the rescue kernel's physmem excludes it, as rescue/its-check.ts does: with
 *     a DTB (kp_dtbstart ≠ 0) the reg of every child of /reserved-memory; otherwise the
 *     LINUX_EFI_MEMRESERVE chain reached from kboot's kp_fwhandle (magic KBFWHNDL after
 *     struct rescue_kernel_params) → EFI system table (signature checked) → configuration
 *     table (st_cfgtbl, a firmware VA translated through the EFI map's EFI_MD_ATTR_RT
 *     descriptors, as efi_early_map) → memreserve records (exclude_efi_memreserve); and, for
 *     PROPBASER, whether the direct map covers it (the DTB's /memory reg, else an EFI map
 *     descriptor of a type the direct map takes);
 *  4. records the status word, the registers, the count checked, the first failing address
 *     and CPU, what excluded the tables and the outcome (PROBE_ITS_OUTCOME) in the report.
 * Simplifications (stated): each table must lie inside ONE page-rounded range (FreeBSD
 * merges adjacent exclusions); EFI runtime regions are not counted as exclusions; DTB cells
 * are taken as #address-cells = #size-cells = 2 (what kboot writes); a config table entry the
 * EFI map cannot translate (FreeBSD's "Can't map the config table entry" panic) counts as not
 * excluded. Every walk is bounded (PROBE_WALK_LIMITS; the DTB by its totalsize too). Uses
 * x1..x28 and x30; x0 stays the report.
 */
import { LPI_CONFTAB_SIZE, LPI_PENDTAB_SIZE } from '../../loader/arch/arm64/layout.js';
import type { A64Asm, XReg } from '../../loader/codegen/index.js';
import {
  EFI_MAP_DESCRIPTORS_OFFSET,
  EFI_MD_ATTR,
  EFI_MD_TYPE,
  EfiMapHeader,
  EfiMd,
} from '../../loader/handoff/efimap.js';
import {
  EFI_SYSTBL_SIG,
  EfiConfigTable,
  EfiSystemTable,
  guidBytes,
  LINUX_EFI_MEMRESERVE_GUID,
  LinuxEfiMemreserve,
  LinuxEfiMemreserveEntry,
  RESCUE_FW_HANDLE_MAGIC,
} from '../../loader/handoff/memreserve.js';
import { rescueParamsLayout } from '../../loader/handoff/params.js';
import { RESCUE_KERNEL_OFFSET } from '../../loader/kernel-abi/rescue.js';
import { PROBE_LABELS } from './common.js';
import {
  PROBE_GICR_MAX,
  PROBE_ITS_EXCLUDED,
  PROBE_ITS_OUTCOME,
  PROBE_WALK_LIMITS,
  ProbeReportLayout as ReportLayout,
} from './layout.js';

/** gic_v3_reg.h: redistributor register offsets, the RD_base + SGI_base stride, GICR_TYPER.Last. */
const GICR = { CTLR: 0x0, TYPER: 0x8, PROPBASER: 0x70, PENDBASER: 0x78, STRIDE: 0x2_0000, TYPER_LAST: 1 << 4 };
/** PROPBASER Physical_Address [51:12], PENDBASER [51:16] (Arm IHI 0069). */
const PROPBASER_PA_MASK = ((1n << 52n) - 1n) & ~0xfffn;
const PENDBASER_PA_MASK = ((1n << 52n) - 1n) & ~0xffffn;
/** The flattened-devicetree magic and tokens (devicetree specification §5.4). */
const FDT = {
  MAGIC: 0xd00d_feed,
  BEGIN_NODE: 1,
  END_NODE: 2,
  PROP: 3,
  NOP: 4,
  TOTALSIZE: 4,
  OFF_STRUCT: 8,
  OFF_STRINGS: 12,
};
/** EFI memory types whose ranges the direct map takes (rescue/its-check.ts efiPhysmem, subr_efi_map.c). */
const DMAP_TYPES = [
  EFI_MD_TYPE.CODE,
  EFI_MD_TYPE.DATA,
  EFI_MD_TYPE.BS_CODE,
  EFI_MD_TYPE.BS_DATA,
  EFI_MD_TYPE.FREE,
  EFI_MD_TYPE.RT_CODE,
  EFI_MD_TYPE.RT_DATA,
  EFI_MD_TYPE.RECLAIM,
];

const R = ReportLayout.offsets;
const rep = (off: number): { base: XReg; offset: number } => ({ base: 'x0', offset: off });
/** Names of the node literals the DTB walks match. */
const LIT = { reserved: 'gic_lit_reserved', memory: 'gic_lit_memory' } as const;

/*
 * Registers: x19 RD_base of CPU 0, x20 table PA, x21 its length, x22 PA + length, x23 the
 * current redistributor, x24 the params PA, x25 kp_fwhandle (0: none), x26 kp_dtbstart,
 * x27 kp_efimapstart, x28 the CPU, x17 tables checked, x16 PROBE_ITS_EXCLUDED bits, x9 the
 * leaf routines' answer (1: yes). Leaf routines use x1..x15.
 */

/** Emits the GIC stage (see the module contract); `gicr` is CPU 0's redistributor RD_base. */
export function gicCheck(a: A64Asm, gicr: bigint): void {
  a.movImm64('x19', gicr);
  a.str('x19', rep(R.gicrBase));
  a.ldr('w1', { base: 'x19', offset: GICR.CTLR });
  a.str('w1', rep(R.gicCtlr));
  handoffPointers(a);
  a.movz('x17', 0);
  a.movz('x16', 0);
  a.movz('w2', 1);
  a.tst('w1', 'w2');
  a.bcond('eq', 'gic_lpis_off');
  a.ldr('x1', { base: 'x19', offset: GICR.PROPBASER });
  a.str('x1', rep(R.propbaser));
  tableFrom(a, PROPBASER_PA_MASK, LPI_CONFTAB_SIZE);
  a.bl('gic_excluded');
  a.cbz('x9', 'gic_prop_unreserved');
  a.bl('gic_mapped');
  a.cbz('x9', 'gic_prop_unmapped');
  a.addImm('x17', 'x17', 1);
  a.mov('x23', 'x19');
  a.movz('x28', 0);
  a.label('gic_pend');
  a.ldr('x1', { base: 'x23', offset: GICR.PENDBASER });
  a.cbnz('x28', 'gic_pend_cpu');
  a.str('x1', rep(R.pendbaser0));
  a.label('gic_pend_cpu');
  tableFrom(a, PENDBASER_PA_MASK, LPI_PENDTAB_SIZE);
  a.bl('gic_excluded');
  a.cbz('x9', 'gic_pend_unreserved');
  a.addImm('x17', 'x17', 1);
  a.ldr('x1', { base: 'x23', offset: GICR.TYPER });
  a.movz('x2', GICR.TYPER_LAST);
  a.tst('x1', 'x2');
  a.bcond('ne', 'gic_reuse_ok');
  a.addImm('x28', 'x28', 1);
  a.cmpImm('x28', PROBE_GICR_MAX);
  a.bcond('hs', 'gic_reuse_ok');
  a.movImm64('x2', BigInt(GICR.STRIDE));
  a.add('x23', 'x23', 'x2');
  a.b('gic_pend');
  outcomes(a);
  excludedRoutine(a);
  mappedRoutine(a);
  a.label(LIT.reserved);
  a.asciz('reserved-memory');
  a.label(LIT.memory);
  a.asciz('memory');
  a.align(4);
  a.label('gic_end');
}

/** x20 = x1 & mask, x21 = len, x22 = x20 + x21. */
function tableFrom(a: A64Asm, mask: bigint, len: bigint): void {
  a.movImm64('x2', mask);
  a.and('x20', 'x1', 'x2');
  a.movImm64('x21', len);
  a.add('x22', 'x20', 'x21');
}

/** x24..x27 from the params at load PA − 2 MiB (§10.3), kp_fwhandle when its magic is there. */
function handoffPointers(a: A64Asm): void {
  const P = rescueParamsLayout('arm64');
  a.adr('x2', PROBE_LABELS.fileStart);
  a.subImm('x24', 'x2', Number(RESCUE_KERNEL_OFFSET));
  a.ldr('x26', { base: 'x24', offset: P.offsets.kpDtbstart });
  a.ldr('x27', { base: 'x24', offset: P.offsets.kpEfimapstart });
  a.movz('x25', 0);
  a.ldr('x3', { base: 'x24', offset: P.size });
  a.movImm64('x4', RESCUE_FW_HANDLE_MAGIC);
  a.cmp('x3', 'x4');
  a.bcond('ne', 'gic_no_fwhandle');
  a.ldr('x25', { base: 'x24', offset: P.size + 8 });
  a.label('gic_no_fwhandle');
  a.str('x25', rep(R.fwHandle));
}

/** The verdict paths, each storing the outcome (and the failing table), then the common tail. */
function outcomes(a: A64Asm): void {
  const verdict = (label: string, outcome: keyof typeof PROBE_ITS_OUTCOME, fail: boolean): void => {
    a.label(label);
    a.movz('w1', PROBE_ITS_OUTCOME[outcome]);
    if (fail) {
      a.str('x20', rep(R.itsFailAddr));
      a.str('w28', rep(R.itsFailCpu));
    }
    a.b('gic_store');
  };
  verdict('gic_lpis_off', 'lpis-off', false);
  verdict('gic_reuse_ok', 'reuse-ok', false);
  a.label('gic_prop_unreserved');
  a.movz('x28', 0);
  verdict('gic_prop_unreserved_', 'propbaser-not-reserved', true);
  a.label('gic_prop_unmapped');
  a.movz('x28', 0);
  verdict('gic_prop_unmapped_', 'propbaser-not-mapped', true);
  verdict('gic_pend_unreserved', 'pendbaser-not-reserved', true);
  a.label('gic_store');
  a.str('w17', rep(R.itsChecked));
  a.str('w16', rep(R.itsExcludedBy));
  a.str('w1', rep(R.itsOutcome));
  a.b('gic_end');
}

/**
 * Branches to `found` when [x20, x22) lies inside [x1, x1 + x2) rounded out to pages
 * (physmem_exclude_region's rounding). Clobbers x6..x8.
 */
function containedIn(a: A64Asm, found: string, skip: string): void {
  a.movImm64('x8', ~0xfffn & 0xffff_ffff_ffff_ffffn);
  a.and('x6', 'x1', 'x8');
  a.add('x7', 'x1', 'x2');
  a.addImm('x7', 'x7', 0xfff);
  a.and('x7', 'x7', 'x8');
  a.cmp('x20', 'x6');
  a.bcond('lo', skip);
  a.cmp('x22', 'x7');
  a.bcond('hi', skip);
  a.b(found);
  a.label(skip);
}

/**
 * A leaf's opening: `label`, x9 = 0, then with a DTB (x26 != 0) the DTB walk `fdtWalk` and
 * return; without one it branches to `efi`.
 */
function fdtFirstLeaf(a: A64Asm, label: string, efi: string, fdtWalk: () => void): void {
  a.label(label);
  a.movz('x9', 0);
  a.cbz('x26', efi);
  fdtWalk();
  a.ret();
}

/** Leaf `gic_excluded`: x9 = 1 when the rescue kernel's physmem excludes [x20, x22). */
function excludedRoutine(a: A64Asm): void {
  fdtFirstLeaf(a, 'gic_excluded', 'gic_excl_efi', () => fdtRegWalk(a, 'rsv', LIT.reserved, 3, 'gic_excl_fdt_found'));
  a.label('gic_excl_fdt_found');
  a.movz('x9', 1);
  a.orr('x16', 'x16', 'x9', 1); // PROBE_ITS_EXCLUDED['fdt-reserved-memory'] = 2
  a.ret();
  a.label('gic_excl_efi');
  a.cbz('x25', 'gic_excl_ret');
  memreserveWalk(a);
  a.label('gic_excl_ret');
  a.ret();
  a.label('gic_excl_mr_found');
  a.movz('x9', PROBE_ITS_EXCLUDED.memreserve);
  a.orr('x16', 'x16', 'x9');
  a.ret();
}

/** Leaf `gic_mapped`: x9 = 1 when the rescue kernel's direct map covers [x20, x22). */
function mappedRoutine(a: A64Asm): void {
  fdtFirstLeaf(a, 'gic_mapped', 'gic_map_efi', () => fdtRegWalk(a, 'mem', LIT.memory, 2, 'gic_map_found'));
  a.label('gic_map_efi');
  efiMapLoop(a, 'dm', 'gic_map_none', () => {
    a.ldr('w6', { base: 'x3', offset: EfiMd.offsets.mdType });
    for (const t of DMAP_TYPES) {
      a.cmpImm('w6', t);
      a.bcond('eq', 'gic_map_take');
    }
    a.b('gic_dm_next');
    a.label('gic_map_take');
    a.ldr('x1', { base: 'x3', offset: EfiMd.offsets.mdPhys });
    a.ldr('x2', { base: 'x3', offset: EfiMd.offsets.mdPages });
    a.lsl('x2', 'x2', 12);
    containedIn(a, 'gic_map_found', 'gic_map_skip');
  });
  a.label('gic_map_none');
  a.ret();
  a.label('gic_map_found');
  a.movz('x9', 1);
  a.ret();
}

/**
 * Loops x3 over the EFI map's descriptors at x27 (header: memory_size, descriptor_size;
 * descriptors from EFI_MAP_DESCRIPTORS_OFFSET), bounded by PROBE_WALK_LIMITS.efiMapBytes;
 * `body` ends by falling through or branching to `gic_<name>_next`; `done` when exhausted.
 * Uses x3..x5 (x6..x8 are the body's).
 */
function efiMapLoop(a: A64Asm, name: string, done: string, body: () => void): void {
  a.cbz('x27', done);
  a.ldr('x4', { base: 'x27', offset: EfiMapHeader.offsets.memorySize });
  a.ldr('x5', { base: 'x27', offset: EfiMapHeader.offsets.descriptorSize });
  a.movImm64('x6', BigInt(PROBE_WALK_LIMITS.efiMapBytes));
  a.cmp('x4', 'x6');
  a.bcond('hi', done);
  a.cmpImm('x5', EfiMd.size);
  a.bcond('lo', done);
  a.addImm('x3', 'x27', EFI_MAP_DESCRIPTORS_OFFSET);
  a.add('x4', 'x3', 'x4');
  a.label(`gic_${name}_loop`);
  a.add('x6', 'x3', 'x5');
  a.cmp('x6', 'x4');
  a.bcond('hi', done);
  body();
  a.label(`gic_${name}_next`);
  a.add('x3', 'x3', 'x5');
  a.b(`gic_${name}_loop`);
}

/** x1 (a firmware VA) → x1 (its PA) through an EFI_MD_ATTR_RT descriptor, else to `unmapped`. */
function runtimeVaToPa(a: A64Asm, unmapped: string): void {
  efiMapLoop(a, 'rt', unmapped, () => {
    a.ldr('x6', { base: 'x3', offset: EfiMd.offsets.mdAttr });
    a.movImm64('x7', EFI_MD_ATTR.RT);
    a.tst('x6', 'x7');
    a.bcond('eq', 'gic_rt_next');
    a.ldr('x6', { base: 'x3', offset: EfiMd.offsets.mdVirt });
    a.cmp('x1', 'x6');
    a.bcond('lo', 'gic_rt_next');
    a.ldr('x7', { base: 'x3', offset: EfiMd.offsets.mdPages });
    a.lsl('x7', 'x7', 12);
    a.add('x7', 'x6', 'x7');
    a.cmp('x1', 'x7');
    a.bcond('hs', 'gic_rt_next');
    a.ldr('x8', { base: 'x3', offset: EfiMd.offsets.mdPhys });
    a.sub('x1', 'x1', 'x6');
    a.add('x1', 'x1', 'x8');
    a.b('gic_rt_done');
  });
  a.label('gic_rt_done');
}

/**
 * exclude_efi_memreserve from x25 (the system table PA): signature, st_entries (bounded),
 * each configuration entry (VA → PA), the MEMRESERVE GUID, its record chain; a table inside
 * an entry branches to `gic_excl_mr_found`; anything else ends at `gic_excl_ret`.
 */
function memreserveWalk(a: A64Asm): void {
  const guid = guidBytes(LINUX_EFI_MEMRESERVE_GUID);
  const dv = new DataView(guid.buffer, guid.byteOffset, guid.byteLength);
  const L = PROBE_WALK_LIMITS;
  a.ldr('x1', { base: 'x25', offset: EfiSystemTable.offsets.thSig });
  a.movImm64('x2', EFI_SYSTBL_SIG);
  a.cmp('x1', 'x2');
  a.bcond('ne', 'gic_excl_ret');
  a.ldr('x10', { base: 'x25', offset: EfiSystemTable.offsets.stEntries });
  a.ldr('x11', { base: 'x25', offset: EfiSystemTable.offsets.stCfgtbl });
  a.cbz('x11', 'gic_excl_ret');
  a.cmpImm('x10', L.configEntries);
  a.bcond('hi', 'gic_excl_ret');
  a.label('gic_mr_cfg');
  a.cbz('x10', 'gic_excl_ret');
  a.mov('x1', 'x11');
  runtimeVaToPa(a, 'gic_excl_ret');
  a.ldr('x2', { base: 'x1', offset: EfiConfigTable.offsets.ctGuid });
  a.ldr('x3', { base: 'x1', offset: EfiConfigTable.offsets.ctGuid + 8 });
  a.movImm64('x4', dv.getBigUint64(0, true));
  a.movImm64('x5', dv.getBigUint64(8, true));
  a.cmp('x2', 'x4');
  a.bcond('ne', 'gic_mr_cfg_next');
  a.cmp('x3', 'x5');
  a.bcond('ne', 'gic_mr_cfg_next');
  a.ldr('x12', { base: 'x1', offset: EfiConfigTable.offsets.ctData });
  a.movz('x13', 0);
  a.label('gic_mr_rec');
  a.ldr('w14', { base: 'x12', offset: LinuxEfiMemreserve.offsets.mrCount });
  a.cmpImm('x14', L.entriesPerRecord);
  a.bcond('hi', 'gic_excl_ret');
  a.addImm('x15', 'x12', LinuxEfiMemreserve.size);
  a.label('gic_mr_ent');
  a.cbz('x14', 'gic_mr_next');
  a.ldr('x1', { base: 'x15', offset: LinuxEfiMemreserveEntry.offsets.mreBase });
  a.ldr('x2', { base: 'x15', offset: LinuxEfiMemreserveEntry.offsets.mreSize });
  containedIn(a, 'gic_excl_mr_found', 'gic_mr_skip');
  a.addImm('x15', 'x15', LinuxEfiMemreserveEntry.size);
  a.subImm('x14', 'x14', 1);
  a.b('gic_mr_ent');
  a.label('gic_mr_next');
  a.ldr('x12', { base: 'x12', offset: LinuxEfiMemreserve.offsets.mrNext });
  a.cbz('x12', 'gic_mr_cfg_next');
  a.addImm('x13', 'x13', 1);
  a.cmpImm('x13', L.chain);
  a.bcond('hs', 'gic_excl_ret');
  a.b('gic_mr_rec');
  a.label('gic_mr_cfg_next');
  a.addImm('x11', 'x11', EfiConfigTable.size);
  a.subImm('x10', 'x10', 1);
  a.b('gic_mr_cfg');
}

/** x`dst` = the big-endian u64 at [base + off] (two aligned 32-bit loads). Clobbers x7. */
function be64(a: A64Asm, dst: 'x1' | 'x2', base: XReg, off: number): void {
  const w = dst === 'x1' ? 'w1' : 'w2';
  a.ldr(w, { base, offset: off });
  a.rev(w, w);
  a.ldr('w7', { base, offset: off + 4 });
  a.rev('w7', 'w7');
  a.lsl(dst, dst, 32);
  a.orr(dst, dst, 'x7');
}

/**
 * Walks the DTB at x26 (structure block tokens, bounded) and, inside a depth-2 node named
 * `literal` (exactly, or followed by '@'), for each `reg` property at depth `regDepth`,
 * branches to `found` when one (address, size) pair (2 + 2 cells) holds [x20, x22).
 * Uses x1..x8, x10..x15, x18: x3 token pointer, x4 strings, x5 depth, x10 inside the node,
 * x11 token budget, x18 the blob's end (totalsize): no token, name or value read past it.
 */
function fdtRegWalk(a: A64Asm, p: string, literal: string, regDepth: number, found: string): void {
  const l = (s: string): string => `gic_${p}_${s}`;
  a.ldr('w1', { base: 'x26' });
  a.rev('w1', 'w1');
  a.movImm('w2', FDT.MAGIC);
  a.cmp('w1', 'w2');
  a.bcond('ne', l('done'));
  a.ldr('w1', { base: 'x26', offset: FDT.TOTALSIZE });
  a.rev('w1', 'w1');
  a.add('x18', 'x26', 'x1'); // the end of the blob: no read goes past it
  a.ldr('w1', { base: 'x26', offset: FDT.OFF_STRUCT });
  a.rev('w1', 'w1');
  a.add('x3', 'x26', 'x1');
  a.ldr('w1', { base: 'x26', offset: FDT.OFF_STRINGS });
  a.rev('w1', 'w1');
  a.add('x4', 'x26', 'x1');
  a.movz('x5', 0);
  a.movz('x10', 0);
  a.movImm('x11', PROBE_WALK_LIMITS.fdtTokens);
  a.label(l('tok'));
  a.subsImm('x11', 'x11', 1);
  a.bcond('eq', l('done'));
  a.cmp('x3', 'x18');
  a.bcond('hs', l('done'));
  a.ldr('w1', { base: 'x3', offset: 4, mode: 'post' });
  a.rev('w1', 'w1');
  a.cmpImm('w1', FDT.NOP);
  a.bcond('eq', l('tok'));
  a.cmpImm('w1', FDT.BEGIN_NODE);
  a.bcond('eq', l('begin'));
  a.cmpImm('w1', FDT.PROP);
  a.bcond('eq', l('prop'));
  a.cmpImm('w1', FDT.END_NODE);
  a.bcond('ne', l('done')); // FDT_END or a bad token
  a.cbz('x5', l('done'));
  a.subImm('x5', 'x5', 1);
  a.cmpImm('x5', 1);
  a.bcond('ne', l('tok'));
  a.movz('x10', 0);
  a.b(l('tok'));
  fdtBeginNode(a, l, literal);
  fdtRegProp(a, l, regDepth, found);
  a.label(l('done'));
}

/** FDT_BEGIN_NODE: depth + 1; at depth 2 x10 = the name matches; skips the padded name. */
function fdtBeginNode(a: A64Asm, l: (s: string) => string, literal: string): void {
  a.label(l('begin'));
  a.addImm('x5', 'x5', 1);
  a.cmpImm('x5', 2);
  a.bcond('ne', l('skipname'));
  a.adr('x12', literal);
  a.mov('x13', 'x3');
  a.label(l('cmp'));
  a.ldrb('w14', { base: 'x12', offset: 1, mode: 'post' });
  a.cbz('w14', l('litend'));
  a.ldrb('w15', { base: 'x13', offset: 1, mode: 'post' });
  a.cmp('w14', 'w15');
  a.bcond('eq', l('cmp'));
  a.b(l('skipname'));
  a.label(l('litend'));
  a.ldrb('w15', { base: 'x13' });
  a.cbz('w15', l('match'));
  a.cmpImm('w15', 0x40); // '@'
  a.bcond('ne', l('skipname'));
  a.label(l('match'));
  a.movz('x10', 1);
  a.label(l('skipname'));
  a.cmp('x3', 'x18');
  a.bcond('hs', l('done'));
  a.ldrb('w14', { base: 'x3', offset: 1, mode: 'post' });
  a.cbnz('w14', l('skipname'));
  a.addImm('x3', 'x3', 3);
  a.movImm64('x12', ~3n & 0xffff_ffff_ffff_ffffn);
  a.and('x3', 'x3', 'x12');
  a.b(l('tok'));
}

/** FDT_PROP: len, nameoff, value; a "reg" at `regDepth` inside the node is checked pair by pair. */
function fdtRegProp(a: A64Asm, l: (s: string) => string, regDepth: number, found: string): void {
  a.label(l('prop'));
  a.ldr('w1', { base: 'x3' });
  a.rev('w1', 'w1');
  a.ldr('w2', { base: 'x3', offset: 4 });
  a.rev('w2', 'w2');
  a.addImm('x3', 'x3', 8);
  a.add('x14', 'x3', 'x1'); // end of the value
  a.cmp('x14', 'x18');
  a.bcond('hi', l('done'));
  a.addImm('x15', 'x14', 3);
  a.movImm64('x12', ~3n & 0xffff_ffff_ffff_ffffn);
  a.and('x15', 'x15', 'x12'); // the next token
  a.cbz('x10', l('pnext'));
  a.cmpImm('x5', regDepth);
  a.bcond('ne', l('pnext'));
  a.add('x12', 'x4', 'x2');
  [0x72, 0x65, 0x67, 0].forEach((ch, i) => {
    a.ldrb('w13', { base: 'x12', offset: i });
    a.cmpImm('w13', ch); // "reg\0"
    a.bcond('ne', l('pnext'));
  });
  a.mov('x12', 'x3');
  a.label(l('pair'));
  a.addImm('x13', 'x12', 16);
  a.cmp('x13', 'x14');
  a.bcond('hi', l('pnext'));
  be64(a, 'x1', 'x12', 0);
  be64(a, 'x2', 'x12', 8);
  containedIn(a, found, l('pskip'));
  a.mov('x12', 'x13');
  a.b(l('pair'));
  a.label(l('pnext'));
  a.mov('x3', 'x15');
  a.b(l('tok'));
}
