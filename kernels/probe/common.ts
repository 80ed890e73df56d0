/**
 * What the per-arch probe generators share: their options, the labels the builder places,
 * and the console line. See layout.ts for where the labels land.
 */
import type { Arch } from '../../loader/arch/index.js';
import type { Assembler } from '../../loader/codegen/index.js';
import { PROBE_REPORT_OFFSET, PROBE_TEXT_OFFSET, type ProbeMode } from './layout.js';

/** Options every generator receives (already validated by buildProbeKernel). */
export interface ProbeCodeOptions {
  readonly mode: ProbeMode;
  /** amd64: 16550 I/O port; arm64: PL011 MMIO address. */
  readonly uartBase: bigint;
  /** arm64 rescue mode: CPU 0's GICv3 redistributor RD_base; present, the probe runs the GIC check. */
  readonly gicr?: bigint;
}

/** Labels the generators define or use (`report` and `fileStart` through `placeImageLabels`). */
export const PROBE_LABELS = {
  /** The entry point, first byte of the text segment; the checksum starts here. */
  start: '_start',
  /** End of the text segment's file bytes; the checksum ends here. */
  edata: '_edata',
  /** The report page (PROBE_REPORT_OFFSET). */
  report: 'probe_report',
  /** File offset 0 (KERNSTART): the kernel's load address. */
  fileStart: 'kernel_file_start',
  message: 'probe_message',
  hexDigits: 'probe_hex_digits',
} as const;

/** The console line up to the checksum digits ("...checksum=0x"); 16 hex digits and "\n" follow. */
export function probeMessage(arch: Arch, mode: ProbeMode): string {
  return `kboot probe: ok arch=${arch} mode=${mode} checksum=0x`;
}

/**
 * Names the report page and the file start relative to the text, which the generators
 * assemble from `_start` = file offset PROBE_TEXT_OFFSET.
 */
export function placeImageLabels(a: Assembler): void {
  a.labelAt(PROBE_LABELS.report, PROBE_REPORT_OFFSET - PROBE_TEXT_OFFSET);
  a.labelAt(PROBE_LABELS.fileStart, -PROBE_TEXT_OFFSET);
}

/** The probe's read-only data after its code: the console line, the hex digits, and `edata`. */
export function emitProbeData(a: Assembler, arch: Arch, mode: ProbeMode): void {
  a.label(PROBE_LABELS.message);
  a.asciz(probeMessage(arch, mode));
  a.label(PROBE_LABELS.hexDigits);
  a.bytes(new TextEncoder().encode('0123456789abcdef'));
  a.label(PROBE_LABELS.edata);
}
