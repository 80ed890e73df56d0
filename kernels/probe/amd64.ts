/**
 * amd64 probe-kernel code (btext stand-in; entry conventions: shared/spec/freebsd-handoff.md
 * §2.1 for a loader/kexec entry, §8.4 and §10.2 for the rescue entry, following FreeBSD
 * sys/amd64/amd64/locore.S btext and machdep.c rescue_preload_init).
 *
 * Contract: entered in long mode at its link address (`_start` = KERNSTART + 0x1000) with
 * paging on and KERNBASE mapped, the code
 *  1. stores every GPR as it arrived (rsp included) with RIP-relative stores, so nothing is
 *     clobbered before it is recorded, then `_start` as it sees it, CR0, CR3, CR4, EFER and
 *     the page-table root (CR3 & ~0xfff), and the report header;
 *  2. stores the 32-bit words at 4(%rsp) (modulep) and 8(%rsp) (kernend);
 *  3. copies 64 bytes of its hand-off with `rep movsq`: mode 'rescue' reads
 *     `struct rescue_kernel_params` at VA KERNBASE (§10.2: the host maps KERNBASE + k to
 *     rescue_pa + k); mode 'kexec' reads the modinfo at VA KERNBASE + modulep (§2.1);
 *  3b. zeroes the params/kenv/firmware areas (`rep stosq`); in mode 'rescue' it then copies
 *     the whole struct rescue_kernel_params from VA KERNBASE (`rep movsq`) and, following its
 *     physical pointers directly (the rescue tables identity-map the reservation, §8.4, §10.2),
 *     the kenv at kp_kenvstart and the firmware map (kp_efimapstart if non-zero, else
 *     kp_smapstart), each `rep movsb` of min(*len, PROBE_FOLLOW_BYTES) bytes (0 for a zero
 *     pointer), recording the addresses, the lengths and the firmware kind;
 *  4. hashes [_start, _edata) with FNV-1a 64 (`fnv1a64` in checksum.ts is the same);
 *  5. writes `kboot probe: ok arch=amd64 mode=<mode> checksum=0x<16 hex digits>\n` with
 *     `out` to the 16550 data port (no LSR polling);
 *  6. halts: `cli; hlt` in a loop.
 * After each step it stores the cumulative PROBE_FLAG bits. It never uses the stack except
 * to read the two words in step 2, and needs no memory but its own image, the hand-off (with,
 * in rescue mode, what the params point to) and (for step 2) the incoming stack.
 * Every params offset comes from rescueParamsLayout('amd64') (loader/handoff/params.ts).
 */
import { EM_X86_64, KERNBASE } from '../../loader/arch/amd64/layout.js';
import { X86Asm, X86_REG64, type Mem } from '../../loader/codegen/index.js';
import { rescueParamsLayout } from '../../loader/handoff/params.js';
import {
  AMD64_CR3_FLAGS_MASK,
  AMD64_MSR_EFER,
  FNV1A64,
  PROBE_FIRMWARE_KIND,
  PROBE_FIRMWARE_SOURCES,
  PROBE_FLAG,
  PROBE_FOLLOW_BYTES,
  PROBE_FOLLOW_START,
  PROBE_HANDOFF_BYTES,
  PROBE_MAGIC,
  PROBE_MODE_VALUE,
  PROBE_VERSION,
  ProbeReportLayout as R,
  type ProbeMode,
} from './layout.js';
import { emitProbeData, PROBE_LABELS, placeImageLabels, type ProbeCodeOptions } from './common.js';

/** The report field at `off` (+ `extra`), RIP-relative. */
const field = (off: number, extra = 0): Mem => ({ label: PROBE_LABELS.report, disp: off + extra });

/** Emits the amd64 probe, from `_start` (file offset PROBE_TEXT_OFFSET) to `_edata`; the caller finishes it. */
export function amd64ProbeCode(opts: ProbeCodeOptions): X86Asm {
  const a = new X86Asm();
  placeImageLabels(a);
  const flags = (bits: number): void => {
    a.movStoreImm32(field(R.offsets.flags), bits);
  };
  a.label(PROBE_LABELS.start);

  // 1. registers, exactly as they arrived
  X86_REG64.forEach((r, i) => a.movStore64(field(R.offsets.gpr, 8 * i), r));
  a.lea('rax', { label: PROBE_LABELS.start });
  a.movStore64(field(R.offsets.entryPc), 'rax');
  a.movFromCr('rax', 'cr0');
  a.movStore64(field(R.offsets.sys, 0), 'rax');
  a.movFromCr('rax', 'cr3');
  a.movStore64(field(R.offsets.sys, 8), 'rax');
  a.and('rax', ~AMD64_CR3_FLAGS_MASK);
  a.movStore64(field(R.offsets.ptRoot), 'rax');
  a.movFromCr('rax', 'cr4');
  a.movStore64(field(R.offsets.sys, 16), 'rax');
  a.movImm32('ecx', AMD64_MSR_EFER);
  a.rdmsr(); // edx:eax = EFER
  a.shl('rdx', 32);
  a.or('rax', 'rdx');
  a.movStore64(field(R.offsets.sys, 24), 'rax');
  a.movImm64('rax', PROBE_MAGIC);
  a.movStore64(field(R.offsets.magic), 'rax');
  a.movStoreImm32(field(R.offsets.version), PROBE_VERSION);
  a.movStoreImm32(field(R.offsets.machine), EM_X86_64);
  a.movStoreImm32(field(R.offsets.mode), PROBE_MODE_VALUE[opts.mode]);
  a.movImm64('rax', opts.uartBase);
  a.movStore64(field(R.offsets.uartBase), 'rax');
  let done = PROBE_FLAG.REGS;
  flags(done);

  // 2. the boot arguments on the stack (32-bit words, zero-extended by the 32-bit loads)
  a.movLoad32('eax', { base: 'rsp', disp: 4 });
  a.movStore64(field(R.offsets.bootArgs, 0), 'rax');
  a.movLoad32('eax', { base: 'rsp', disp: 8 });
  a.movStore64(field(R.offsets.bootArgs, 8), 'rax');
  flags((done |= PROBE_FLAG.BOOT_ARGS));

  // 3. the hand-off, through the probe's own KERNBASE mapping
  handoffSource(a, opts.mode);
  a.movStore64(field(R.offsets.handoffAddr), 'rsi');
  a.lea('rdi', field(R.offsets.handoff));
  a.movImm32('ecx', PROBE_HANDOFF_BYTES / 8);
  a.cld();
  a.repMovsq();
  flags((done |= PROBE_FLAG.HANDOFF));

  // 3b. the params, and the kenv and firmware map they point to (rescue mode)
  followParams(a, opts.mode);
  flags((done |= PROBE_FLAG.PARAMS));

  // 4. FNV-1a 64 over [_start, _edata)
  a.lea('rsi', { label: PROBE_LABELS.start });
  a.lea('rcx', { label: PROBE_LABELS.edata });
  a.movStore64(field(R.offsets.checksumStart), 'rsi');
  a.movStore64(field(R.offsets.checksumEnd), 'rcx');
  a.movImm64('rax', FNV1A64.offsetBasis);
  a.movImm64('r8', FNV1A64.prime);
  a.label('sum');
  a.cmp('rsi', 'rcx');
  a.jcc('ae', 'sum_done');
  a.movzxLoad8('edx', { base: 'rsi' });
  a.xor('rax', 'rdx');
  a.imul('rax', 'r8');
  a.inc('rsi');
  a.jmp('sum');
  a.label('sum_done');
  a.movStore64(field(R.offsets.checksum), 'rax');
  flags((done |= PROBE_FLAG.CHECKSUM));

  // 5. the console line: message, 16 hex digits of the checksum, newline
  a.mov('rbx', 'rax');
  a.movImm32('edx', Number(opts.uartBase));
  a.lea('rsi', { label: PROBE_LABELS.message });
  a.label('puts');
  a.movzxLoad8('eax', { base: 'rsi' });
  a.test('rax', 'rax');
  a.jcc('z', 'puts_done');
  a.outDx();
  a.inc('rsi');
  a.jmp('puts');
  a.label('puts_done');
  a.lea('rdi', { label: PROBE_LABELS.hexDigits });
  a.movImm32('ecx', 16);
  a.label('hex');
  a.mov('rax', 'rbx');
  a.shr('rax', 60);
  a.add('rax', 'rdi');
  a.movzxLoad8('eax', { base: 'rax' });
  a.outDx();
  a.shl('rbx', 4);
  a.dec('rcx');
  a.jcc('nz', 'hex');
  a.movImm8('al', 0x0a);
  a.outDx();
  flags((done |= PROBE_FLAG.UART));

  // 6. halt for good
  a.label('halt');
  a.cli();
  a.hlt();
  a.jmp('halt');

  emitProbeData(a, 'amd64', opts.mode);
  return a;
}

/** rsi = where the hand-off starts, as a VA the probe's own page tables map. */
function handoffSource(a: X86Asm, mode: ProbeMode): void {
  if (mode === 'rescue') {
    a.movImm64('rsi', KERNBASE); // struct rescue_kernel_params at VA KERNBASE (§10.2)
  } else {
    a.movLoad32('esi', { base: 'rsp', disp: 4 }); // modulep: an offset from KERNBASE (§2.2)
    a.movImm64('rax', KERNBASE);
    a.add('rsi', 'rax');
  }
}

/** Params base register during step 3b. */
const PARAMS = 'rbx';

/**
 * Step 3b: zeroes [PROBE_FOLLOW_START, end of report); in rescue mode copies the params, the
 * kenv and the firmware map (see the module contract). Clobbers rax, rbx, rcx, rdx, rsi, rdi.
 */
function followParams(a: X86Asm, mode: ProbeMode): void {
  const zeroBytes = R.size - PROBE_FOLLOW_START;
  a.lea('rdi', field(PROBE_FOLLOW_START));
  a.xor('rax', 'rax');
  a.movImm32('ecx', zeroBytes / 8);
  a.repStosq();
  if (mode !== 'rescue') return;
  const P = rescueParamsLayout('amd64');
  const at = (off: number): Mem => ({ base: PARAMS, disp: off });
  a.movImm64(PARAMS, KERNBASE); // struct rescue_kernel_params at VA KERNBASE (§10.2)
  a.mov('rsi', PARAMS);
  a.lea('rdi', field(R.offsets.params));
  a.movImm32('ecx', P.size / 8);
  a.repMovsq();
  a.movStoreImm32(field(R.offsets.paramsLen), P.size);

  // the kenv: PA kp_kenvstart, identity-mapped
  a.movLoad64('rsi', at(P.offsets.kpKenvstart));
  a.movLoad64('rcx', at(P.offsets.kpKenvlen));
  a.movStore64(field(R.offsets.kenvAddr), 'rsi');
  a.lea('rdi', field(R.offsets.kenv));
  copyCapped(a, 'kenv', R.offsets.kenvLen);

  // the firmware map: the first source with a non-zero start
  for (const src of PROBE_FIRMWARE_SOURCES.amd64) {
    a.movLoad64('rsi', at(P.offsets[src.start]));
    a.movLoad64('rcx', at(P.offsets[src.len]));
    a.movImm32('edx', PROBE_FIRMWARE_KIND[src.kind]);
    a.test('rsi', 'rsi');
    a.jcc('nz', 'fw_found');
  }
  a.movImm32('edx', PROBE_FIRMWARE_KIND.none);
  a.label('fw_found');
  a.movStore32(field(R.offsets.firmwareKind), 'edx');
  a.movStore64(field(R.offsets.firmwareAddr), 'rsi');
  a.lea('rdi', field(R.offsets.firmware));
  copyCapped(a, 'fw', R.offsets.firmwareLen);
}

/**
 * Copies rcx bytes from rsi to rdi with `rep movsb`, after setting rcx to 0 when rsi is 0 and
 * capping it at PROBE_FOLLOW_BYTES; stores the count (u32) at report offset `lenOff`.
 */
function copyCapped(a: X86Asm, name: string, lenOff: number): void {
  a.test('rsi', 'rsi');
  a.jcc('nz', `${name}_nonnull`);
  a.xor('rcx', 'rcx');
  a.label(`${name}_nonnull`);
  a.cmp('rcx', PROBE_FOLLOW_BYTES);
  a.jcc('be', `${name}_capped`);
  a.movImm32('ecx', PROBE_FOLLOW_BYTES);
  a.label(`${name}_capped`);
  a.movStore32(field(lenOff), 'ecx');
  a.repMovsb();
}
