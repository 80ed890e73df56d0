/**
 * Decoding (and, for tests and tools, encoding) the report a probe kernel leaves at
 * PROBE_REPORT_OFFSET from its load address; the struct is `ProbeReportLayout` (layout.ts).
 *
 * Contract: `decodeProbeReport(bytes, offset)` reads one report and throws only ProbeError:
 * PROBE_TRUNCATED when fewer than ProbeReportLayout.size bytes follow `offset`,
 * PROBE_BAD_MAGIC, PROBE_BAD_VERSION, and PROBE_BAD_FIELD for a value the probe never
 * writes: an unknown machine, mode or flag bit, a firmware kind the arch does not have (or
 * 'none' with bytes), a copied length past its area (params: the arch's
 * sizeof(struct rescue_kernel_params); kenv, firmware: PROBE_FOLLOW_BYTES), or copies in
 * kexec mode. `params`, `kenv` and `firmware.bytes` are the copied bytes only (their
 * recorded lengths). It names the registers per arch (PROBE_GPR_NAMES,
 * PROBE_SYS_NAMES) and keeps the raw values in `raw`, so `encodeProbeReport(r.raw)` gives
 * the same bytes back. A probe built with `--gic` (gicrBase ≠ 0) also gives `gic`, its own
 * GICv3 LPI verdict; an unknown outcome or excluded-by bit is PROBE_BAD_FIELD.
 */
import { hex } from '../../loader/addr.js';
import { archForElfMachine, type Arch } from '../../loader/arch/index.js';
import type { LayoutValues } from '../../loader/bytes/index.js';
import { rescueParamsLayout } from '../../loader/handoff/params.js';
import { ProbeCode, ProbeError } from './errors.js';
import {
  PROBE_FIRMWARE_KIND,
  PROBE_FIRMWARE_SOURCES,
  PROBE_FLAG,
  PROBE_FOLLOW_BYTES,
  PROBE_FLAGS_ALL,
  PROBE_GPR_NAMES,
  PROBE_ITS_EXCLUDED,
  PROBE_ITS_OUTCOME,
  PROBE_MAGIC,
  PROBE_MODE_VALUE,
  PROBE_SYS_NAMES,
  PROBE_VERSION,
  ProbeReportLayout,
  type ProbeFirmwareKind,
  type ProbeItsOutcome,
  type ProbeMode,
} from './layout.js';

/** The raw field values of a report. */
export type ProbeReportValues = LayoutValues<(typeof ProbeReportLayout)['fields']>;

/** Which stages of the probe finished (PROBE_FLAG). */
export type ProbeStages = { readonly [K in keyof typeof PROBE_FLAG as Lowercase<K>]: boolean };

/** A decoded probe report. */
export interface ProbeReport {
  readonly arch: Arch;
  readonly version: number;
  readonly mode: ProbeMode;
  readonly flags: number;
  readonly stages: ProbeStages;
  /** Every stage finished: the probe reached its halt loop. */
  readonly complete: boolean;
  /** `_start` as the probe computed it: the address it ran at (VA on amd64, PA on arm64). */
  readonly entryPc: bigint;
  /** Incoming general registers by name (amd64 rax..r15; arm64 x0..x30, sp). */
  readonly regs: Readonly<Record<string, bigint>>;
  /** Incoming system registers by name (amd64 cr0, cr3, cr4, efer; arm64 currentel, sctlr_el1, ...). */
  readonly sys: Readonly<Record<string, bigint>>;
  readonly ptRoot: bigint;
  /** amd64: [modulep, kernend] from 4(%rsp), 8(%rsp); arm64: [x0, 0]. */
  readonly bootArgs: readonly [bigint, bigint];
  readonly handoffAddr: bigint;
  readonly handoff: Uint8Array;
  /** struct rescue_kernel_params as the probe read it (rescue mode; empty in kexec mode). */
  readonly params: Uint8Array;
  /** The PA the kenv was read from (kp_kenvstart; 0 in kexec mode). */
  readonly kenvAddr: bigint;
  /** The kenv's first bytes, min(kp_kenvlen, PROBE_FOLLOW_BYTES) of them. */
  readonly kenv: Uint8Array;
  /** The firmware map the probe followed and its first bytes, min(*len, PROBE_FOLLOW_BYTES). */
  readonly firmware: {
    readonly kind: ProbeFirmwareKind;
    readonly addr: bigint;
    readonly bytes: Uint8Array;
  };
  readonly checksum: bigint;
  readonly checksumRange: { readonly start: bigint; readonly end: bigint };
  readonly uartBase: bigint;
  /** The GIC check of a probe built with `--gic` (arm64-gic.ts); absent when built without. */
  readonly gic?: ProbeGicCheck;
  readonly raw: ProbeReportValues;
}

/** What the probe's own GIC check recorded (report fields gicrBase..itsExcludedBy). */
export interface ProbeGicCheck {
  readonly gicrBase: bigint;
  /** GICR_CTLR as read: the gic status word. */
  readonly ctlr: number;
  readonly outcome: ProbeItsOutcome;
  readonly propbaser: bigint;
  readonly pendbaser0: bigint;
  readonly checked: number;
  readonly failCpu: number;
  readonly failAddr: bigint;
  readonly fwHandle: bigint;
  readonly excludedBy: readonly (keyof typeof PROBE_ITS_EXCLUDED)[];
}

/** The GIC-check part of a report, or undefined when the probe was built without `--gic`. */
function decodeGic(raw: ProbeReportValues): ProbeGicCheck | undefined {
  if (raw.gicrBase === 0n) return undefined;
  const outcome = (Object.keys(PROBE_ITS_OUTCOME) as ProbeItsOutcome[]).find(
    (k) => PROBE_ITS_OUTCOME[k] === raw.itsOutcome,
  );
  const bits = Object.values(PROBE_ITS_EXCLUDED).reduce((x, b) => x | b, 0);
  if (outcome === undefined || (raw.itsExcludedBy & ~bits) !== 0) {
    throw bad(
      ProbeCode.BadField,
      `has an unknown GIC outcome (${hex(raw.itsOutcome)}, excluded-by ${hex(raw.itsExcludedBy)})`,
      {
        field: 'itsOutcome',
        value: raw.itsOutcome,
      },
    );
  }
  return {
    gicrBase: raw.gicrBase,
    ctlr: raw.gicCtlr,
    outcome,
    propbaser: raw.propbaser,
    pendbaser0: raw.pendbaser0,
    checked: raw.itsChecked,
    failCpu: raw.itsFailCpu,
    failAddr: raw.itsFailAddr,
    fwHandle: raw.fwHandle,
    excludedBy: (Object.keys(PROBE_ITS_EXCLUDED) as (keyof typeof PROBE_ITS_EXCLUDED)[]).filter(
      (k) => (raw.itsExcludedBy & PROBE_ITS_EXCLUDED[k]) !== 0,
    ),
  };
}

function bad(
  code: (typeof ProbeCode)[keyof typeof ProbeCode],
  what: string,
  details: Record<string, unknown>,
): ProbeError {
  return new ProbeError(code, `rescue: probe report ${what}`, details);
}

/** Encodes a report (tests, tools); throws BytesError for a value too wide for its field. */
export function encodeProbeReport(values: ProbeReportValues): Uint8Array {
  return ProbeReportLayout.encode(values);
}

/** Decodes the report at `offset` of `bytes`; see the module contract. */
export function decodeProbeReport(bytes: Uint8Array, offset = 0): ProbeReport {
  const raw = ProbeReportLayout.decode(bytes, offset, (info) =>
    bad(
      ProbeCode.Truncated,
      `is cut short (need ${hex(info.width)} bytes at ${hex(info.offset)}, have ${hex(info.length)})`,
      {
        ...info,
      },
    ),
  );
  if (raw.magic !== PROBE_MAGIC) {
    throw bad(
      ProbeCode.BadMagic,
      `does not start with KBPROBE1 (magic ${hex(raw.magic)}, expected ${hex(PROBE_MAGIC)})`,
      {
        magic: raw.magic,
        expected: PROBE_MAGIC,
      },
    );
  }
  if (raw.version !== PROBE_VERSION) {
    throw bad(ProbeCode.BadVersion, `has an unknown version (${hex(raw.version)}, known ${hex(PROBE_VERSION)})`, {
      version: raw.version,
      known: PROBE_VERSION,
    });
  }
  const arch = archForElfMachine(raw.machine);
  if (arch === undefined) {
    throw bad(ProbeCode.BadField, `names an unknown machine (e_machine ${hex(raw.machine)})`, {
      field: 'machine',
      value: raw.machine,
    });
  }
  const mode = (Object.keys(PROBE_MODE_VALUE) as ProbeMode[]).find((m) => PROBE_MODE_VALUE[m] === raw.mode);
  if (mode === undefined) {
    throw bad(ProbeCode.BadField, `has an unknown mode (${hex(raw.mode)})`, { field: 'mode', value: raw.mode });
  }
  if ((raw.flags & ~PROBE_FLAGS_ALL) !== 0) {
    throw bad(ProbeCode.BadField, `has unknown flag bits (flags ${hex(raw.flags)}, known ${hex(PROBE_FLAGS_ALL)})`, {
      field: 'flags',
      value: raw.flags,
    });
  }
  const kind = (Object.keys(PROBE_FIRMWARE_KIND) as ProbeFirmwareKind[]).find(
    (k) => PROBE_FIRMWARE_KIND[k] === raw.firmwareKind,
  );
  if (kind === undefined || (kind !== 'none' && !PROBE_FIRMWARE_SOURCES[arch].some((s) => s.kind === kind))) {
    throw bad(ProbeCode.BadField, `has a firmware kind ${arch} does not have (${hex(raw.firmwareKind)})`, {
      field: 'firmwareKind',
      value: raw.firmwareKind,
    });
  }
  const rescue = mode === 'rescue';
  const lengths = [
    ['paramsLen', raw.paramsLen, rescue ? rescueParamsLayout(arch).size : 0],
    ['kenvLen', raw.kenvLen, rescue ? PROBE_FOLLOW_BYTES : 0],
    ['firmwareLen', raw.firmwareLen, rescue && kind !== 'none' ? PROBE_FOLLOW_BYTES : 0],
  ] as const;
  for (const [field, value, max] of lengths) {
    if (value > max) {
      throw bad(ProbeCode.BadField, `has ${field} past its area (${hex(value)}, max ${hex(max)} in ${mode} mode)`, {
        field,
        value,
        max,
      });
    }
  }
  const named = (names: readonly string[], values: readonly bigint[]): Record<string, bigint> =>
    Object.fromEntries(names.map((n, i) => [n, values[i] ?? 0n]));
  const stages = Object.fromEntries(
    Object.entries(PROBE_FLAG).map(([k, bit]) => [k.toLowerCase(), (raw.flags & bit) !== 0]),
  ) as ProbeStages;
  const gic = decodeGic(raw);
  return {
    arch,
    version: raw.version,
    mode,
    flags: raw.flags,
    stages,
    complete: raw.flags === PROBE_FLAGS_ALL,
    entryPc: raw.entryPc,
    regs: named(PROBE_GPR_NAMES[arch], raw.gpr),
    sys: named(PROBE_SYS_NAMES[arch], raw.sys),
    ptRoot: raw.ptRoot,
    bootArgs: [raw.bootArgs[0] ?? 0n, raw.bootArgs[1] ?? 0n],
    handoffAddr: raw.handoffAddr,
    handoff: raw.handoff,
    params: raw.params.subarray(0, raw.paramsLen),
    kenvAddr: raw.kenvAddr,
    kenv: raw.kenv.subarray(0, raw.kenvLen),
    firmware: { kind, addr: raw.firmwareAddr, bytes: raw.firmware.subarray(0, raw.firmwareLen) },
    checksum: raw.checksum,
    checksumRange: { start: raw.checksumStart, end: raw.checksumEnd },
    uartBase: raw.uartBase,
    ...(gic === undefined ? {} : { gic }),
    raw,
  };
}
