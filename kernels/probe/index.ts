/**
 * Probe kernels: tiny FreeBSD-layout kernels that record how they were entered, write a
 * report page inside their own image and halt (build.ts, amd64.ts, arm64.ts), the report's
 * layout and decoder (layout.ts, report.ts) and the image checksum (checksum.ts).
 */
export { buildProbeKernel, probeCodeOptions, probeEntryVa, probeReportVa, type ProbeKernelOptions } from './build.js';
export { fnv1a64, probeChecksum } from './checksum.js';
export { PROBE_LABELS, probeMessage, type ProbeCodeOptions } from './common.js';
export { ProbeCode, ProbeError, type ProbeErrorCode } from './errors.js';
export { probeImageMode } from './image-mode.js';
export {
  FNV1A64,
  PROBE_FLAG,
  PROBE_FIRMWARE_KIND,
  PROBE_FIRMWARE_SOURCES,
  PROBE_FLAGS_ALL,
  PROBE_FOLLOW_BYTES,
  PROBE_FOLLOW_START,
  PROBE_GPR_NAMES,
  PROBE_GICR_DEFAULT,
  PROBE_HANDOFF_BYTES,
  PROBE_ITS_EXCLUDED,
  PROBE_ITS_FIELDS_ZERO,
  PROBE_ITS_OUTCOME,
  PROBE_MAGIC,
  PROBE_MODE_VALUE,
  PROBE_PARAMS_BYTES,
  PROBE_REPORT_AREA,
  PROBE_REPORT_OFFSET,
  PROBE_SYS_NAMES,
  PROBE_TEXT_OFFSET,
  PROBE_UART_DEFAULT,
  PROBE_UART_MAX,
  PROBE_VERSION,
  ProbeReportLayout,
  type ProbeFirmwareKind,
  type ProbeFirmwareSource,
  type ProbeItsOutcome,
  type ProbeMode,
} from './layout.js';
export {
  decodeProbeReport,
  encodeProbeReport,
  type ProbeGicCheck,
  type ProbeReport,
  type ProbeReportValues,
  type ProbeStages,
} from './report.js';
