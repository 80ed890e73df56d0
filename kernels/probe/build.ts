/**
 * `buildProbeKernel(arch, opts)`: a tiny real kernel in FreeBSD rescue layout that records
 * how it was entered and halts (ARCHITECTURE.md "Kernels in tests and demos").
 *
 * Contract: returns the bytes of an ET_EXEC ELF64 (EI_OSABI FreeBSD) for `arch`, linked at
 * KERNSTART with file offset = VA − KERNSTART (amd64 KERNSTART = KERNBASE + 2 MiB, arm64
 * KERNSTART = KERNBASE), with two PT_LOADs — text R-X at PROBE_TEXT_OFFSET holding the
 * entry `_start`, and one page of RW- BSS at PROBE_REPORT_OFFSET for the report — plus
 * .text/.bss sections and the symbols `_start`, `_edata`, `probe_report`, `_end`. It passes
 * `lintRescueKernel`. What the code does, per arch: amd64.ts and arm64.ts; the report:
 * layout.ts. Options: `mode` ('rescue', the default, or 'kexec') chooses where the probe
 * looks for its hand-off; `uartBase` is the console (amd64: a 16550 I/O port, default
 * 0x3f8; arm64: the PL011 MMIO address, default 0x0900_0000). Bad options throw
 * ProbeError(PROBE_BAD_OPTION). The output is deterministic: the same options give the
 * same bytes. `gicr` (arm64, rescue mode) adds the GICv3 LPI check (arm64-gic.ts).
 */
import assert from 'node:assert/strict';
import { add, hex, size, type KernelVa } from '../../loader/addr.js';
import { ARCHES, archInfo, type Arch } from '../../loader/arch/index.js';
import type { Assembler } from '../../loader/codegen/index.js';
import { ElfOsAbi, PF, SHF, STT, writeElf } from '../../loader/elf/index.js';
import { amd64ProbeCode } from './amd64.js';
import { arm64ProbeCode } from './arm64.js';
import { PROBE_LABELS, type ProbeCodeOptions } from './common.js';
import { ProbeCode, ProbeError } from './errors.js';
import {
  PROBE_MODE_VALUE,
  PROBE_REPORT_AREA,
  PROBE_REPORT_OFFSET,
  PROBE_TEXT_MAX,
  PROBE_TEXT_OFFSET,
  PROBE_UART_DEFAULT,
  PROBE_UART_MAX,
  ProbeReportLayout,
  type ProbeMode,
} from './layout.js';

/** Build options. */
export interface ProbeKernelOptions {
  /** Where to look for the hand-off: 'rescue' (default) or 'kexec'. */
  readonly mode?: ProbeMode;
  /** Console address: amd64 I/O port (default 0x3f8), arm64 PL011 MMIO address (default 0x0900_0000). */
  readonly uartBase?: bigint;
  /**
   * arm64, rescue mode: CPU 0's GICv3 redistributor RD_base (64 KiB aligned, below 2^48); the
   * probe then runs the GIC LPI check (arm64-gic.ts) and records it in its report.
   */
  readonly gicr?: bigint;
}

const GENERATORS: { readonly [A in Arch]: (o: ProbeCodeOptions) => Assembler } = {
  amd64: amd64ProbeCode,
  arm64: arm64ProbeCode,
};

/** VA of the probe's entry point `_start`. */
export function probeEntryVa(arch: Arch): KernelVa {
  return add(archInfo(arch).kernstart, size(PROBE_TEXT_OFFSET));
}

/** VA of the probe's report (its PA is the load PA + PROBE_REPORT_OFFSET). */
export function probeReportVa(arch: Arch): KernelVa {
  return add(archInfo(arch).kernstart, size(PROBE_REPORT_OFFSET));
}

function badOption(what: string, details: Record<string, unknown>): ProbeError {
  return new ProbeError(ProbeCode.BadOption, `rescue: probe kernel ${what}`, details);
}

/** Checks the options and fills in the defaults. */
export function probeCodeOptions(arch: Arch, opts: ProbeKernelOptions = {}): ProbeCodeOptions {
  if (!ARCHES.includes(arch)) throw badOption(`cannot be built for ${JSON.stringify(arch)}`, { arch });
  const mode = opts.mode ?? 'rescue';
  if (!Object.hasOwn(PROBE_MODE_VALUE, mode)) {
    throw badOption(`mode must be rescue or kexec (${JSON.stringify(mode)})`, { mode });
  }
  const uartBase = opts.uartBase ?? PROBE_UART_DEFAULT[arch];
  const max = PROBE_UART_MAX[arch];
  if (typeof uartBase !== 'bigint' || uartBase < 0n || uartBase > max) {
    throw badOption(
      `console address is out of range for ${arch} (${typeof uartBase === 'bigint' ? hex(uartBase) : String(uartBase)}, max ${hex(max)})`,
      {
        uartBase,
        max,
      },
    );
  }
  const { gicr } = opts;
  if (gicr === undefined) return { mode, uartBase };
  if (arch !== 'arm64' || mode !== 'rescue') {
    throw badOption(`GIC check needs arm64 in rescue mode (${arch}, ${mode})`, { arch, mode });
  }
  if (typeof gicr !== 'bigint' || gicr <= 0n || gicr > PROBE_UART_MAX.arm64 || gicr % 0x1_0000n !== 0n) {
    throw badOption(`GIC redistributor address must be a 64 KiB-aligned PA below 2^48 (${String(gicr)})`, { gicr });
  }
  return { mode, uartBase, gicr };
}

/** Builds a probe kernel; see the module contract. */
export function buildProbeKernel(arch: Arch, opts: ProbeKernelOptions = {}): Uint8Array {
  const code = GENERATORS[arch](probeCodeOptions(arch, opts)).finish(probeEntryVa(arch));
  assert(ProbeReportLayout.size <= Number(PROBE_REPORT_AREA), 'the report fits its page');
  assert(code.bytes.length <= PROBE_TEXT_MAX, `probe text (${code.bytes.length} bytes) overruns the report page`);
  assert.equal(code.address(PROBE_LABELS.edata), code.base + BigInt(code.bytes.length), '_edata ends the text');
  const info = archInfo(arch);
  const textVa = probeEntryVa(arch);
  const reportVa = probeReportVa(arch);
  const textSize = size(code.bytes.length);
  return writeElf({
    arch,
    type: 'exec',
    osabi: ElfOsAbi.FREEBSD,
    entry: textVa,
    layout: { linearBase: info.kernstart },
    segments: [
      { type: 'load', flags: PF.R | PF.X, vaddr: textVa, data: code.bytes, align: info.pageSize },
      {
        type: 'load',
        flags: PF.R | PF.W,
        vaddr: reportVa,
        data: new Uint8Array(0),
        memsz: PROBE_REPORT_AREA,
        align: info.pageSize,
      },
    ],
    sections: [
      {
        name: '.text',
        type: 'progbits',
        flags: SHF.ALLOC | SHF.EXECINSTR,
        addr: textVa,
        inSegment: 0,
        size: textSize,
        addralign: size(16n),
      },
      {
        name: '.bss',
        type: 'nobits',
        flags: SHF.ALLOC | SHF.WRITE,
        addr: reportVa,
        inSegment: 1,
        size: PROBE_REPORT_AREA,
        addralign: info.pageSize,
      },
    ],
    symbols: [
      { name: PROBE_LABELS.start, value: textVa, size: textSize, type: STT.FUNC, shndx: 1 },
      { name: PROBE_LABELS.edata, value: add(textVa, textSize), shndx: 1 },
      {
        name: PROBE_LABELS.report,
        value: reportVa,
        size: size(ProbeReportLayout.size),
        type: STT.OBJECT,
        shndx: 2,
      },
      { name: '_end', value: add(reportVa, PROBE_REPORT_AREA), shndx: 2 },
    ],
  });
}
