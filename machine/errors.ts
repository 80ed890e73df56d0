/**
 * MachineError: the emulated machine refused an operation (CPU set-up, registers, the CPU's
 * memory map, a run, a page-table walk, the host-kernel model, a jump, a device). Guest RAM
 * access errors are MemoryErrors (loader/memory/errors.ts); addon failures NativeErrors.
 */
import { KbootError, type CodeOf } from '../loader/errors.js';

/** Codes of MachineError: the emulated machine, its CPU, the host model and the hand-off runs. */
export const MachineCode = {
  /** The CPU could not be created or set up (arch, UART, long mode / EL1 registers). */
  CpuSetup: 'CPU_SETUP',
  /** An unknown register name, a read-only register, or a value the register refuses. */
  CpuRegister: 'CPU_REGISTER',
  /** A window, alias or protection the CPU memory map refuses. */
  CpuMap: 'CPU_MAP',
  /** Bad run limits, or Unicorn stopped in a way kboot cannot name. */
  CpuRun: 'CPU_RUN',
  /** A copy-loop accelerator description that cannot be used. */
  CpuAccel: 'CPU_ACCEL',
  /** An operation on a CPU after close(). */
  CpuClosed: 'CPU_CLOSED',
  /** A page-table walk that leaves its bounds (bad root, too many entries). */
  CpuWalk: 'CPU_WALK',
  /** Shadow mappings that cannot represent the guest's tables in Unicorn 2.0.1. */
  CpuShadow: 'CPU_SHADOW',
  /** A limit of the CPU engine (Unicorn 2.0.1): its region count, a window's size, the top of the address space. */
  CpuLimit: 'CPU_LIMIT',
  /** The host-kernel model cannot be laid out in the profile (host range too small, ...). */
  HostModel: 'HOST_MODEL',
  /** A jump (trampoline run) that did not reach the next kernel's entry. */
  JumpFailed: 'JUMP_FAILED',
  /** A device model (DMA engine, ITS writer) configured with targets or rates it cannot have. */
  DeviceConfig: 'DEVICE_CONFIG',
  /** A guest access to a device register the model does not implement (a GICv3 read). */
  DeviceRegister: 'DEVICE_REGISTER',
} as const;
/** The emulated machine refused an operation (guest RAM access, CPU run, device). */
export class MachineError extends KbootError<CodeOf<typeof MachineCode>> {
  readonly domain = 'machine';
  override readonly name = 'MachineError';
}

const machineCodes = new Set<string>(Object.values(MachineCode));

/** The NativeErrorMapper of machine/: the addon's CPU_* (and other machine) codes as MachineErrors. */
export function machineErrorFor(
  code: string,
  message: string,
  details: Readonly<Record<string, unknown>>,
): MachineError | undefined {
  return machineCodes.has(code) ? new MachineError(code as MachineError['code'], message, details) : undefined;
}
