/**
 * kexec strategy, pure half: both kexec_load ABIs (abi.ts), the kernel's rules and errno in
 * order over a host state value (rules.ts), and a rescue plan as crash segments (segments.ts).
 */
export { KexecCode, KexecError, type KexecErrorCode } from './errors.js';
export {
  decodeKexecSegments,
  encodeKexecSegments,
  ERRNO,
  FREEBSD_KEXEC,
  FreeBsdKexecSegment,
  KEXEC_ABIS,
  KEXEC_SEGMENT_LAYOUT,
  KEXEC_SYSCALL,
  LINUX_KEXEC,
  LINUX_KEXEC_ARCH,
  LINUX_KEXEC_CONTROL_PAGE_SIZE,
  LINUX_KEXEC_DESTINATION_LIMIT,
  LinuxKexecSegment,
  type KexecAbi,
  type KexecErrno,
  type RawKexecSegment,
} from './abi.js';
export {
  applyKexecLoad,
  kexecLoad,
  kexecUnload,
  type KexecImage,
  type KexecOutcome,
  type KexecRequest,
  type KexecSegmentRequest,
  type KexecState,
  type KexecWarning,
  type LoadedSegment,
} from './rules.js';
export { bootRequestFromPlan, crashRequestFromPlan, crashSegmentsFromPlan, type CrashSegment } from './segments.js';
