/**
 * arm64 probe-kernel code (_start stand-in; entry conventions: shared/spec/freebsd-handoff.md
 * §2.4 for a loader/kexec entry, §8.5 and §10.3 for the rescue entry, following FreeBSD
 * sys/arm64/arm64/locore.S _start and machdep.c rescue_preload_init).
 *
 * Contract: entered at EL1 (or EL2) at the PA of `_start` (load PA + 0x1000) with the MMU
 * off or on with an identity map, as locore accepts, the code
 *  1. parks x0 in TPIDR_EL1 (a scratch register nothing reads before the kernel sets it),
 *     takes the report address with `adr`, stores x0..x30 as they arrived and SP, then
 *     `_start` as it sees it, CurrentEL, SCTLR_EL1, TTBR0_EL1, TTBR1_EL1, TCR_EL1, MAIR_EL1,
 *     DAIF, VBAR_EL1, the page-table root (TTBR0_EL1 BADDR) and the report header;
 *     then turns the MMU off as locore does (SCTLR_EL1.M = 0; safe under an identity map);
 *  2. stores x0 (modulep) as the boot argument;
 *  3. copies 64 bytes of its hand-off, computing every address PC-relatively from its own
 *     load address L (`adr` of the file start): mode 'rescue' reads
 *     `struct rescue_kernel_params` at L − 2 MiB (§10.3: rescue_pa, identity-mapped by the
 *     host); mode 'kexec' reads the modinfo at L + (x0 − KERNBASE), the PA that the KERNBASE
 *     VA in x0 stands for in the kernel's own linear map (KERNBASE → L, §2.4) — with the MMU
 *     off or identity-mapped, x0 itself is not an address the probe can dereference;
 *  3b. zeroes the params/kenv/firmware areas; in mode 'rescue' it then copies the whole
 *     struct rescue_kernel_params from L − 2 MiB and, following its physical pointers with
 *     the MMU off (PA = address, §10.3), the kenv at kp_kenvstart and the firmware map
 *     (kp_dtbstart if non-zero, else kp_efimapstart), each byte by byte, min(*len,
 *     PROBE_FOLLOW_BYTES) bytes (0 for a zero pointer), recording the addresses, the lengths
 *     and the firmware kind;
 *  3c. built with `gicr` (`--gic`, rescue mode): the GICv3 LPI check of ./arm64-gic.ts,
 *     before the PARAMS flag (its report fields lie in the area step 3b zeroes);
 *  4. hashes [_start, _edata) with FNV-1a 64 (`fnv1a64` in checksum.ts is the same);
 *  5. writes `kboot probe: ok arch=arm64 mode=<mode> checksum=0x<16 hex digits>\n` with
 *     `strb` to the PL011 data register (no FIFO polling);
 *  6. cleans the report to the point of coherency (DC CIVAC, DSB SY) and halts (`wfi` loop).
 * After each step it stores the cumulative PROBE_FLAG bits. It never touches SP or memory
 * other than its own image, the hand-off (with, in rescue mode, what the params point to)
 * and the UART. Every params offset comes from rescueParamsLayout('arm64')
 * (loader/handoff/params.ts).
 */
import { EM_AARCH64, KERNBASE } from '../../loader/arch/arm64/layout.js';
import { A64Asm, type XReg } from '../../loader/codegen/index.js';
import { rescueParamsLayout } from '../../loader/handoff/params.js';
import { RESCUE_KERNEL_OFFSET } from '../../loader/kernel-abi/rescue.js';
import {
  ARM64_CLEAN_STEP,
  ARM64_TTBR_BADDR_MASK,
  FNV1A64,
  PROBE_FIRMWARE_KIND,
  PROBE_FIRMWARE_SOURCES,
  PROBE_FLAG,
  PROBE_FOLLOW_BYTES,
  PROBE_FOLLOW_START,
  PROBE_HANDOFF_BYTES,
  PROBE_MAGIC,
  PROBE_MODE_VALUE,
  PROBE_SYS_NAMES,
  PROBE_VERSION,
  ProbeReportLayout as ReportLayout,
  type ProbeMode,
} from './layout.js';
import { gicCheck } from './arm64-gic.js';
import { emitProbeData, PROBE_LABELS, placeImageLabels, type ProbeCodeOptions } from './common.js';

/** The report base register from step 1 on. */
const REPORT: XReg = 'x0';

/** A report field (plus `extra` bytes) as a memory operand off the report register. */
const rep = (off: number, extra = 0): { base: XReg; offset: number } => ({ base: REPORT, offset: off + extra });
/** The report slot of general register x`i` (31: SP). */
const gpr = (i: number): { base: XReg; offset: number } => rep(ReportLayout.offsets.gpr, 8 * i);

/** Stores the cumulative PROBE_FLAG bits. */
function storeFlags(a: A64Asm, bits: number): void {
  a.movz('w1', bits);
  a.str('w1', rep(ReportLayout.offsets.flags));
}

/** Emits the arm64 probe, from `_start` (file offset PROBE_TEXT_OFFSET) to `_edata`; the caller finishes it. */
export function arm64ProbeCode(opts: ProbeCodeOptions): A64Asm {
  const a = new A64Asm();
  placeImageLabels(a);
  a.label(PROBE_LABELS.start);
  saveEntryState(a, opts);
  let done = PROBE_FLAG.REGS;
  storeFlags(a, done);
  mmuOff(a);
  // 2. the boot argument
  a.ldr('x1', gpr(0));
  a.str('x1', rep(ReportLayout.offsets.bootArgs, 0));
  a.str('xzr', rep(ReportLayout.offsets.bootArgs, 8));
  storeFlags(a, (done |= PROBE_FLAG.BOOT_ARGS));
  copyHandoff(a, opts.mode);
  storeFlags(a, (done |= PROBE_FLAG.HANDOFF));
  followParams(a, opts.mode);
  if (opts.gicr !== undefined) gicCheck(a, opts.gicr);
  storeFlags(a, (done |= PROBE_FLAG.PARAMS));
  checksumImage(a);
  storeFlags(a, (done |= PROBE_FLAG.CHECKSUM));
  printConsoleLine(a, opts.uartBase);
  storeFlags(a, (done |= PROBE_FLAG.UART));
  cleanAndHalt(a);
  emitProbeData(a, 'arm64', opts.mode);
  return a;
}

/** Step 1: registers exactly as they arrived (x0 through TPIDR_EL1), system registers, the report header. */
function saveEntryState(a: A64Asm, opts: ProbeCodeOptions): void {
  a.msr('tpidr_el1', 'x0');
  a.adr(REPORT, PROBE_LABELS.report);
  a.str('x1', gpr(1));
  for (let i = 2; i < 30; i += 2) a.stp(`x${i}`, `x${i + 1}`, gpr(i));
  a.str('x30', gpr(30));
  a.mrs('x1', 'tpidr_el1');
  a.str('x1', gpr(0));
  a.mov('x1', 'sp');
  a.str('x1', gpr(31));
  a.adr('x1', PROBE_LABELS.start);
  a.str('x1', rep(ReportLayout.offsets.entryPc));
  PROBE_SYS_NAMES.arm64.forEach((name, i) => {
    a.mrs('x1', name);
    a.str('x1', rep(ReportLayout.offsets.sys, 8 * i));
  });
  a.mrs('x1', 'ttbr0_el1');
  a.movImm64('x2', ARM64_TTBR_BADDR_MASK);
  a.and('x1', 'x1', 'x2');
  a.str('x1', rep(ReportLayout.offsets.ptRoot));
  a.movImm64('x1', PROBE_MAGIC);
  a.str('x1', rep(ReportLayout.offsets.magic));
  a.movImm('w1', PROBE_VERSION);
  a.str('w1', rep(ReportLayout.offsets.version));
  a.movImm('w1', EM_AARCH64);
  a.str('w1', rep(ReportLayout.offsets.machine));
  a.movImm('w1', PROBE_MODE_VALUE[opts.mode]);
  a.str('w1', rep(ReportLayout.offsets.mode));
  a.movImm64('x1', opts.uartBase);
  a.str('x1', rep(ReportLayout.offsets.uartBase));
}

/**
 * As locore's _start does: turn the MMU off (it is off already, or on with an identity map
 * of where we run, so the next fetch lands at the same address); from here on every access
 * is physical, which also reaches the UART the rescue identity map does not cover.
 */
function mmuOff(a: A64Asm): void {
  a.dsb('sy');
  a.mrs('x1', 'sctlr_el1');
  a.movImm64('x2', ~1n & 0xffff_ffff_ffff_ffffn);
  a.and('x1', 'x1', 'x2');
  a.msr('sctlr_el1', 'x1');
  a.isb();
}

/** Step 3: the hand-off, addressed from the probe's own load address. */
function copyHandoff(a: A64Asm, mode: ProbeMode): void {
  a.adr('x2', PROBE_LABELS.fileStart);
  if (mode === 'rescue') {
    a.subImm('x1', 'x2', Number(RESCUE_KERNEL_OFFSET)); // rescue_pa = load PA - 2 MiB (§10.3)
  } else {
    a.ldr('x1', gpr(0));
    a.movImm64('x3', KERNBASE);
    a.sub('x1', 'x1', 'x3'); // modulep - KERNBASE
    a.add('x1', 'x1', 'x2'); // + load PA
  }
  a.str('x1', rep(ReportLayout.offsets.handoffAddr));
  a.addImm('x3', REPORT, ReportLayout.offsets.handoff);
  a.movz('x4', PROBE_HANDOFF_BYTES / 8);
  a.label('copy');
  a.ldr('x5', { base: 'x1', offset: 8, mode: 'post' });
  a.str('x5', { base: 'x3', offset: 8, mode: 'post' });
  a.subsImm('x4', 'x4', 1);
  a.bcond('ne', 'copy');
}

/** Step 4: FNV-1a 64 over [_start, _edata); leaves the hash in x3. */
function checksumImage(a: A64Asm): void {
  a.adr('x1', PROBE_LABELS.start);
  a.adr('x2', PROBE_LABELS.edata);
  a.str('x1', rep(ReportLayout.offsets.checksumStart));
  a.str('x2', rep(ReportLayout.offsets.checksumEnd));
  a.movImm64('x3', FNV1A64.offsetBasis);
  a.movImm64('x4', FNV1A64.prime);
  a.label('sum');
  a.cmp('x1', 'x2');
  a.bcond('hs', 'sum_done');
  a.ldrb('w5', { base: 'x1', offset: 1, mode: 'post' });
  a.eor('x3', 'x3', 'x5');
  a.mul('x3', 'x3', 'x4');
  a.b('sum');
  a.label('sum_done');
  a.str('x3', rep(ReportLayout.offsets.checksum));
}

/** Step 5: the console line: message, 16 hex digits of the checksum (x3), newline. */
function printConsoleLine(a: A64Asm, uartBase: bigint): void {
  a.movImm64('x1', uartBase);
  a.adr('x2', PROBE_LABELS.message);
  a.label('puts');
  a.ldrb('w5', { base: 'x2', offset: 1, mode: 'post' });
  a.cbz('w5', 'puts_done');
  a.strb('w5', { base: 'x1' });
  a.b('puts');
  a.label('puts_done');
  a.adr('x2', PROBE_LABELS.hexDigits);
  a.movz('x4', 16);
  a.label('hex');
  a.lsr('x5', 'x3', 60);
  a.add('x5', 'x2', 'x5');
  a.ldrb('w5', { base: 'x5' });
  a.strb('w5', { base: 'x1' });
  a.lsl('x3', 'x3', 4);
  a.subsImm('x4', 'x4', 1);
  a.bcond('ne', 'hex');
  a.movz('w5', 0x0a);
  a.strb('w5', { base: 'x1' });
}

/** Step 6: make the report visible to whoever reads RAM (DC CIVAC, DSB SY), then halt for good. */
function cleanAndHalt(a: A64Asm): void {
  a.mov('x1', REPORT);
  a.movz('x2', Math.ceil(ReportLayout.size / ARM64_CLEAN_STEP));
  a.label('clean');
  a.dc('civac', 'x1');
  a.addImm('x1', 'x1', ARM64_CLEAN_STEP);
  a.subsImm('x2', 'x2', 1);
  a.bcond('ne', 'clean');
  a.dsb('sy');
  a.label('halt');
  a.wfi();
  a.b('halt');
}

/** Params base register during step 3b (a PA: the MMU is off). */
const PARAMS: XReg = 'x6';

/**
 * Step 3b: zeroes [PROBE_FOLLOW_START, end of report); in rescue mode copies the params, the
 * kenv and the firmware map (see the module contract). Uses x1..x7; x0 stays the report.
 */
function followParams(a: A64Asm, mode: ProbeMode): void {
  a.addImm('x3', REPORT, PROBE_FOLLOW_START);
  a.movz('x4', (ReportLayout.size - PROBE_FOLLOW_START) / 8);
  a.label('zero');
  a.str('xzr', { base: 'x3', offset: 8, mode: 'post' });
  a.subsImm('x4', 'x4', 1);
  a.bcond('ne', 'zero');
  if (mode !== 'rescue') return;
  const P = rescueParamsLayout('arm64');
  const at = (off: number): { base: XReg; offset: number } => ({ base: PARAMS, offset: off });
  a.adr('x2', PROBE_LABELS.fileStart);
  a.subImm(PARAMS, 'x2', Number(RESCUE_KERNEL_OFFSET)); // rescue_pa = load PA - 2 MiB (§10.3)
  a.mov('x1', PARAMS);
  a.addImm('x3', REPORT, ReportLayout.offsets.params);
  a.movz('x4', P.size / 8);
  a.label('params_copy');
  a.ldr('x5', { base: 'x1', offset: 8, mode: 'post' });
  a.str('x5', { base: 'x3', offset: 8, mode: 'post' });
  a.subsImm('x4', 'x4', 1);
  a.bcond('ne', 'params_copy');
  a.movz('w1', P.size);
  a.str('w1', rep(ReportLayout.offsets.paramsLen));

  // the kenv: PA kp_kenvstart
  a.ldr('x1', at(P.offsets.kpKenvstart));
  a.ldr('x4', at(P.offsets.kpKenvlen));
  a.str('x1', rep(ReportLayout.offsets.kenvAddr));
  a.addImm('x3', REPORT, ReportLayout.offsets.kenv);
  copyCapped(a, 'kenv', ReportLayout.offsets.kenvLen);

  // the firmware map: the first source with a non-zero start
  for (const src of PROBE_FIRMWARE_SOURCES.arm64) {
    a.ldr('x1', at(P.offsets[src.start]));
    a.ldr('x4', at(P.offsets[src.len]));
    a.movz('w7', PROBE_FIRMWARE_KIND[src.kind]);
    a.cbnz('x1', 'fw_found');
  }
  a.movz('w7', PROBE_FIRMWARE_KIND.none);
  a.label('fw_found');
  a.str('w7', rep(ReportLayout.offsets.firmwareKind));
  a.str('x1', rep(ReportLayout.offsets.firmwareAddr));
  a.addImm('x3', REPORT, ReportLayout.offsets.firmware);
  copyCapped(a, 'fw', ReportLayout.offsets.firmwareLen);
}

/**
 * Copies x4 bytes from x1 to x3, byte by byte (every access aligned, as Device memory needs
 * with the MMU off), after setting x4 to 0 when x1 is 0 and capping it at
 * PROBE_FOLLOW_BYTES; stores the count (u32) at report offset `lenOff`. Clobbers w5.
 */
function copyCapped(a: A64Asm, name: string, lenOff: number): void {
  a.cbnz('x1', `${name}_nonnull`);
  a.movz('x4', 0);
  a.label(`${name}_nonnull`);
  a.cmpImm('x4', PROBE_FOLLOW_BYTES);
  a.bcond('ls', `${name}_capped`);
  a.movz('x4', PROBE_FOLLOW_BYTES);
  a.label(`${name}_capped`);
  a.str('w4', { base: REPORT, offset: lenOff });
  a.cbz('x4', `${name}_done`);
  a.label(`${name}_copy`);
  a.ldrb('w5', { base: 'x1', offset: 1, mode: 'post' });
  a.strb('w5', { base: 'x3', offset: 1, mode: 'post' });
  a.subsImm('x4', 'x4', 1);
  a.bcond('ne', `${name}_copy`);
  a.label(`${name}_done`);
}
