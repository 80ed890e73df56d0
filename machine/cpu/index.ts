/**
 * The emulated CPU (Unicorn 2.0.1 over native guest RAM), in its parts: registers and their
 * bits (regs.ts), run limits and stop reasons (stop.ts), copy accelerators (accel.ts), shadow
 * planning (shadow.ts) and the `Cpu` itself (cpu.ts). Import from here.
 */
export {
  AMD64_LONG_MODE,
  AMD64_REGS,
  ARM64_REGS,
  CPU_BITS,
  EXCEPTION_NAMES,
  type Amd64Reg,
  type Arm64Reg,
  type RegName,
} from './regs.js';
export { MAX_INSTRUCTIONS, MAX_TIMEOUT_MS, type RunLimits, type StopReason } from './stop.js';
export { COPY_LOOPS, MAX_COPY_CHUNK, type CopyLoop } from './accel.js';
export {
  chunkWindows,
  MAX_SHADOW_WINDOWS,
  planAmd64Shadow,
  planArm64Shadow,
  SHADOW_VA_LIMIT,
  WINDOW_CHUNK,
  type CpuWindow,
  type ShadowPlan,
  type TranslationRun,
} from './shadow.js';
export { Cpu, type CpuMappings, type CpuOptions } from './cpu.js';
