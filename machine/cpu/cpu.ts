/**
 * The emulated machine's CPU: Unicorn 2.0.1 (native/cpu.cc, the binding of native/cpu_engine.cc)
 * over native guest RAM.
 *
 * Contract:
 *  - `new Cpu(arch, ram, opts)` takes a `NativeRam` (Unicorn maps its host memory zero-copy)
 *    and a UART (amd64: 16550 at I/O 0x3f8 unless told otherwise; arm64: the PL011 the
 *    profile names). Registers are read and written by name (`reg` / `setReg`, names in
 *    ./regs.ts); `setupLongMode` (amd64: GDT written into guest RAM at `gdtBase`, then CR3,
 *    CR4, EFER, CR0) and `setupEl1` (arm64: SCR_EL3/HCR_EL2 fix, MAIR, TCR, TTBR0/1, SCTLR)
 *    prepare paging from the host.
 *  - `run(limits)` is the only way to execute and always returns a `StopReason` (./stop.ts):
 *    every run is bounded by `maxInstructions` (exact count: a code hook counts every
 *    instruction; a `rep` string instruction counts once per iteration plus once for its final
 *    RCX = 0 check) and `timeoutMs` (measured by kboot, since Unicorn reports a timeout as
 *    success). `executed` is exact for every stop; an instruction that faults is not counted.
 *  - Shadow mappings (`shadow: true`, the default; planning in ./shadow.ts). At every run start
 *    and whenever a watched translation register changes (x86: CR0/CR3/CR4; arm64:
 *    TTBR0/TTBR1/TCR/SCTLR - the native run loop stops before the first instruction of the next
 *    block, so nothing runs with stale mappings) the CPU walks the live tables with kboot's own
 *    walkers and rebuilds the map. An access to a VA with no window is a shadow fault: the
 *    tables are walked again (they may have changed without a CR3 load) and the instruction
 *    restarts if the VA is now mapped; otherwise it is reported as the guest would see it: #PF
 *    (vector 14, CR2 set) on amd64, an abort (vector 4 data / 3 prefetch) on arm64, or
 *    `unmapped` with the PA when the tables map the VA to something that is not RAM.
 *    `mapAlias` / `unmapAlias` edit the map by hand and need `shadow: false`.
 *  - `protect(pa, size, 'ro')` write-protects a physical range through every window that maps
 *    it (identity, alias, shadow), now and after later rebuilds; a stray write stops the run
 *    with `write-protect` naming the VA and the PA.
 *  - Accelerated copy (./accel.ts): `setCopyAccelerators(loops)`; `exact: true` (the CLI's
 *    --exact) turns it off.
 *  - The UART's output accumulates in `console` (machine/devices/uart.ts) through `takeConsole()`.
 * Errors: MachineError (CPU_* codes, GUEST_CLOSED) and NativeError, as native/binding.ts maps them.
 */
import { hex, kva, phys, size, U64_LIMIT, type KernelVa, type PhysAddr, type Size } from '../../loader/addr.js';
import type { Arch } from '../../loader/arch/index.js';
import type { GuestRam, RamRegion } from '../../loader/memory/guest-ram.js';
import {
  callNative,
  loadNative,
  type NativeCpuHandle,
  type NativeGuestRamHandle,
  type NativeMapping,
  type NativeRunResult,
  type NativeTranslation,
} from '../../native/binding.js';
import { walkArm64 } from '../arm64-walker.js';
import { ConsoleLog, NS16550_COM1, type UartConfig } from '../devices/uart.js';
import { MachineCode, MachineError, machineErrorFor } from '../errors.js';
import { NativeRam } from '../native-ram.js';
import { findRun, walkX86 } from '../x86-walker.js';
import { nativeCopyLoops, type CopyLoop } from './accel.js';
import { AMD64_LONG_MODE, checkRegName, checkU64, CPU_BITS, type RegName } from './regs.js';
import {
  chunkWindows,
  identityWindows,
  planAmd64Shadow,
  planArm64Shadow,
  type CpuWindow,
  type ShadowPlan,
  type TranslationRun,
} from './shadow.js';
import {
  checkRunLimits,
  isTranslationFault,
  stopFromNative,
  translationFault,
  type RunLimits,
  type StopCommon,
  type StopReason,
} from './stop.js';

/** An addon call of the CPU: its CPU_* codes become MachineErrors (native/binding.ts callNative). */
function cpuCall<T>(fn: () => T, details: Readonly<Record<string, unknown>> = {}): T {
  return callNative(fn, details, machineErrorFor);
}

const B = CPU_BITS.amd64;

/** CPU options. */
export interface CpuOptions {
  /** Default: amd64 a 16550 at 0x3f8; arm64 none (give the profile's PL011). */
  readonly uart?: UartConfig;
  /** Disable the copy accelerator (CLI --exact). */
  readonly exact?: boolean;
  /** Keep the Unicorn map equal to the shadow of the live tables (default true). */
  readonly shadow?: boolean;
}

/** The CPU memory map as the addon holds it. */
export interface CpuMappings {
  readonly windows: readonly (CpuWindow & { readonly device: boolean })[];
  readonly translation: readonly TranslationRun[];
  readonly protected: readonly { readonly start: PhysAddr; readonly size: Size }[];
}

/** Per-arch parts of the CPU (ANCHORS.md house rule 8: arch differences live in one table). */
interface CpuArchOps {
  readonly pcReg: RegName;
  /** Register the CPU sets to the faulting address when it takes a page fault (amd64 CR2). */
  readonly faultAddressReg?: RegName;
  readonly pagingOn: (cpu: Cpu) => boolean;
  readonly plan: (
    cpu: Cpu,
    regions: readonly RamRegion[],
    ram: GuestRam,
    device?: { base: bigint; size: bigint },
  ) => ShadowPlan;
}

const PL011_SIZE = 0x1000n;

const ARCH_OPS: { readonly [A in Arch]: CpuArchOps } = {
  amd64: {
    pcReg: 'rip',
    faultAddressReg: 'cr2',
    pagingOn: (cpu) => (cpu.reg('cr0') & B.CR0_PG) !== 0n,
    plan: (cpu, regions, ram) => {
      if ((cpu.reg('cr4') & B.CR4_LA57) !== 0n) {
        throw new MachineError(MachineCode.CpuShadow, 'machine: 5-level paging (CR4.LA57) is not supported', {
          cr4: cpu.reg('cr4'),
        });
      }
      const walk = walkX86(ram, { cr3: cpu.reg('cr3'), nxe: (cpu.reg('efer') & B.EFER_NXE) !== 0n });
      return planAmd64Shadow(regions, walk);
    },
  },
  arm64: {
    pcReg: 'pc',
    pagingOn: (cpu) => (cpu.reg('sctlr_el1') & CPU_BITS.arm64.SCTLR_M) !== 0n,
    plan: (cpu, regions, ram, device) => {
      const walk = walkArm64(ram, {
        tcr: cpu.reg('tcr_el1'),
        ttbr0: cpu.reg('ttbr0_el1'),
        ttbr1: cpu.reg('ttbr1_el1'),
      });
      return planArm64Shadow(regions, walk, device);
    },
  },
};

function toNative(w: readonly CpuWindow[]): NativeMapping[] {
  return w.map((x) => ({ va: x.va, pa: x.pa, size: x.size }));
}
function toNativeTranslation(w: readonly TranslationRun[]): NativeTranslation[] {
  return w.map((x) => ({ va: x.va, pa: x.pa, size: x.size, exec: x.exec }));
}

/**
 * CPU_SETUP unless `uart` fits `arch` (a 16550 on amd64, a PL011 on arm64), a 16550's eight
 * registers fit the 16-bit I/O space, and a PL011's page is 4 KiB aligned and outside RAM.
 * The addon (native/cpu.cc) relies on these checks.
 */
function checkUart(arch: Arch, uart: UartConfig, regions: readonly RamRegion[]): void {
  const fail = (what: string): never => {
    throw new MachineError(MachineCode.CpuSetup, `machine: ${what}`, { arch, uart: uart.kind });
  };
  if ((uart.kind === 'ns16550') !== (arch === 'amd64')) fail(`a ${uart.kind} UART does not fit arch ${arch}`);
  if (uart.kind === 'ns16550') {
    if (!Number.isInteger(uart.port) || uart.port < 0 || uart.port > 0xfff8) {
      fail(`16550 port ${String(uart.port)} is outside the I/O space`);
    }
    return;
  }
  if (uart.base < 0n || uart.base % PL011_SIZE !== 0n || uart.base + PL011_SIZE > U64_LIMIT) {
    fail(`PL011 base ${hex(uart.base)} is not a 4 KiB aligned page`);
  }
  if (regions.some((r) => uart.base < r.base + r.size && r.base < uart.base + PL011_SIZE)) {
    fail(`PL011 base ${hex(uart.base)} lies in RAM`);
  }
}

/** The emulated CPU over Unicorn 2.0.1. */
export class Cpu {
  readonly arch: Arch;
  /** Everything the UART has transmitted, as lines (fed by `takeConsole`). */
  readonly console = new ConsoleLog();
  private readonly ram: NativeRam;
  private readonly handle: NativeCpuHandle;
  private readonly ops: CpuArchOps;
  private readonly exact: boolean;
  private readonly shadow: boolean;
  private readonly device: { base: bigint; size: bigint } | undefined;
  private loops: readonly CopyLoop[] = [];
  private lastPlan: ShadowPlan | undefined;
  private closed = false;

  constructor(arch: Arch, ram: GuestRam, opts: CpuOptions = {}) {
    if (!(ram instanceof NativeRam)) {
      throw new MachineError(MachineCode.CpuSetup, 'machine: the CPU needs NativeRam (Unicorn maps its host memory)', {
        arch,
      });
    }
    if (arch !== 'amd64' && arch !== 'arm64') {
      throw new MachineError(MachineCode.CpuSetup, `machine: unknown CPU arch '${String(arch)}'`, { arch });
    }
    this.arch = arch;
    this.ram = ram;
    this.ops = ARCH_OPS[arch];
    this.exact = opts.exact ?? false;
    this.shadow = opts.shadow ?? true;
    const uart: UartConfig | undefined =
      opts.uart ?? (arch === 'amd64' ? { kind: 'ns16550', port: NS16550_COM1 } : undefined);
    if (uart !== undefined) checkUart(arch, uart, ram.regions);
    this.device = uart?.kind === 'pl011' ? { base: uart.base, size: PL011_SIZE } : undefined;
    const addon = loadNative();
    // NativeRam keeps its addon handle private; the CPU is the one other native user of it.
    const ramHandle: NativeGuestRamHandle = ram['handle'];
    this.handle = cpuCall(() => new addon.Cpu(arch, ramHandle, uart === undefined ? {} : { uart }), { arch });
  }

  private check(op: string): void {
    if (this.closed) throw new MachineError(MachineCode.CpuClosed, `machine: ${op} on a closed CPU`, { op });
  }

  private checkReg(name: string, code: MachineError['code']): void {
    checkRegName(this.arch, name, code);
  }

  /** Reads a register. */
  reg(name: RegName): bigint {
    this.check('reg');
    this.checkReg(name, MachineCode.CpuRegister);
    return cpuCall(() => this.handle.getReg(name), { name });
  }

  /** Writes a register (CPU_REGISTER for unknown or read-only ones). */
  setReg(name: RegName, value: bigint): void {
    this.check('setReg');
    this.checkReg(name, MachineCode.CpuRegister);
    checkU64(`value of ${name}`, value, MachineCode.CpuRegister);
    cpuCall(() => this.handle.setReg(name, value), { name, value });
  }

  /**
   * amd64: writes the flat GDT (`AMD64_LONG_MODE.gdt`, 24 bytes) into guest RAM at `gdtBase`
   * and enters 64-bit mode with 4-level paging rooted at `cr3`.
   */
  setupLongMode(opts: {
    readonly cr3: PhysAddr;
    readonly gdtBase: PhysAddr;
    readonly cr0?: bigint;
    readonly cr4?: bigint;
    readonly efer?: bigint;
  }): void {
    this.check('setupLongMode');
    if (this.arch !== 'amd64') {
      throw new MachineError(MachineCode.CpuSetup, 'machine: setupLongMode is for amd64', { arch: this.arch });
    }
    const L = AMD64_LONG_MODE;
    const gdt = new Uint8Array(L.gdt.length * 8);
    const dv = new DataView(gdt.buffer);
    L.gdt.forEach((d, i) => dv.setBigUint64(i * 8, d, true));
    if (!this.ram.isRam(opts.gdtBase, size(gdt.length))) {
      throw new MachineError(MachineCode.CpuSetup, `machine: GDT at ${hex(opts.gdtBase)} is not RAM`, {
        gdtBase: opts.gdtBase,
      });
    }
    this.ram.write(opts.gdtBase, gdt);
    cpuCall(
      () =>
        this.handle.setupLongMode({
          gdtBase: opts.gdtBase,
          gdtLimit: gdt.length - 1,
          cr3: opts.cr3,
          cr0: opts.cr0 ?? L.cr0,
          cr4: opts.cr4 ?? L.cr4,
          efer: opts.efer ?? L.efer,
          cs: L.cs,
          ds: L.ds,
        }),
      { cr3: opts.cr3 },
    );
  }

  /** arm64: EL1 with the MMU as given (SCR_EL3/HCR_EL2 are fixed first; spec Q7). */
  setupEl1(opts: {
    readonly sctlr: bigint;
    readonly tcr: bigint;
    readonly mair: bigint;
    readonly ttbr0: bigint;
    readonly ttbr1: bigint;
    readonly vbar?: bigint;
  }): void {
    this.check('setupEl1');
    if (this.arch !== 'arm64') {
      throw new MachineError(MachineCode.CpuSetup, 'machine: setupEl1 is for arm64', { arch: this.arch });
    }
    cpuCall(() => this.handle.setupEl1(opts), { sctlr: opts.sctlr, tcr: opts.tcr });
  }

  /** True when paging (amd64 CR0.PG) or the MMU (arm64 SCTLR_EL1.M) is on. */
  pagingOn(): boolean {
    this.check('pagingOn');
    return this.ops.pagingOn(this);
  }

  /**
   * Rebuilds the Unicorn memory map from the live tables (see the module contract) and
   * returns what it built. Called at every run start and after every watched register change.
   */
  syncShadow(): ShadowPlan {
    this.check('syncShadow');
    const regions = this.ram.regions;
    const plan: ShadowPlan = this.ops.pagingOn(this)
      ? this.ops.plan(this, regions, this.ram, this.device)
      : { mode: 'identity', windows: identityWindows(regions), translation: identityWindows(regions), collisions: [] };
    cpuCall(
      () => this.handle.setMappings(toNative(chunkWindows(plan.windows)), toNativeTranslation(plan.translation)),
      {
        windows: plan.windows.length,
      },
    );
    this.lastPlan = plan;
    return plan;
  }

  /** The Unicorn memory map: windows, the translation it was built from, protected PA ranges. */
  mappings(): CpuMappings {
    this.check('mappings');
    const m = cpuCall(() => this.handle.mappings());
    return {
      windows: m.windows.map((w) => ({ va: kva(w.va), pa: phys(w.pa), size: size(w.size), device: w.device })),
      translation: m.translation.map((w) => ({ va: kva(w.va), pa: phys(w.pa), size: size(w.size), exec: w.exec })),
      protected: m.protected.map((p) => ({ start: phys(p.pa), size: size(p.size) })),
    };
  }

  /** Windows whose VA differs from their PA (aliases and shadow runs). */
  aliases(): readonly CpuWindow[] {
    return this.mappings().windows.filter((w) => (w.va as bigint) !== (w.pa as bigint) && !w.device);
  }

  private manualOnly(op: string): void {
    if (this.shadow) {
      throw new MachineError(
        MachineCode.CpuMap,
        `machine: ${op} needs a CPU created with shadow: false (the shadow owns the memory map)`,
        { op },
      );
    }
  }

  /** Maps `size` bytes at VA `va` over the RAM at `pa` (one region; 4 KiB granular). Only with `shadow: false`. */
  mapAlias(va: KernelVa, pa: PhysAddr, sz: Size): void {
    this.check('mapAlias');
    this.manualOnly('mapAlias');
    cpuCall(() => this.handle.mapAlias(va, pa, sz), { va, pa, size: sz });
  }

  /** Unmaps `[va, va + size)` from the memory map. Only with `shadow: false`. */
  unmapAlias(va: KernelVa, sz: Size): void {
    this.check('unmapAlias');
    this.manualOnly('unmapAlias');
    cpuCall(() => this.handle.unmapAlias(va, sz), { va, size: sz });
  }

  /** Write-protects (`ro`) or releases (`rw`) a RAM range through every window that maps it. */
  protect(pa: PhysAddr, sz: Size, mode: 'ro' | 'rw'): void {
    this.check('protect');
    cpuCall(() => this.handle.protect(pa, sz, mode), { pa, size: sz, mode });
  }

  /** Describes the copy loops to accelerate (replacing earlier ones); ignored with `exact`. */
  setCopyAccelerators(loops: readonly CopyLoop[]): void {
    this.check('setCopyAccelerators');
    const native = nativeCopyLoops(this.arch, loops);
    this.loops = loops;
    cpuCall(() => this.handle.setAccelerators(this.exact ? [] : native), { loops: loops.length });
  }

  /** The copy loops set (even in exact mode, where they are not used). */
  get copyAccelerators(): readonly CopyLoop[] {
    return this.loops;
  }

  /** New UART bytes since the last call (also appended to `console`). */
  takeConsole(): Uint8Array {
    this.check('takeConsole');
    const { bytes, dropped } = cpuCall(() => this.handle.takeConsole());
    this.console.append(bytes, dropped);
    return bytes;
  }

  /** Runs until something stops it; see `StopReason`. */
  run(limits: RunLimits): StopReason {
    this.check('run');
    checkRunLimits(limits);
    const { maxInstructions, timeoutMs } = limits;
    const t0 = performance.now();
    let executed = 0;
    let copies = 0;
    let bytes = 0;
    let first = true;
    let lastFault: { pc: bigint; address: bigint } | undefined;
    if (this.shadow) this.syncShadow();
    for (;;) {
      const elapsed = performance.now() - t0;
      const r: NativeRunResult = cpuCall(() =>
        this.handle.run({
          ...(first && limits.start !== undefined ? { start: limits.start } : {}),
          ...(limits.until !== undefined ? { until: limits.until } : {}),
          maxInstructions: maxInstructions - executed,
          timeoutMs: Math.max(0, Math.ceil(timeoutMs - elapsed)),
          ...(limits.breakpoints !== undefined ? { breakpoints: limits.breakpoints } : {}),
          skipBreakpointAtStart: executed === 0,
          flushCode: first,
        }),
      );
      first = false;
      executed += r.executed;
      copies += r.acceleratedCopies;
      bytes += r.acceleratedBytes;
      const common: StopCommon = {
        executed,
        elapsedMs: performance.now() - t0,
        accelerated: { copies, bytes },
      };
      if (r.kind === 'translation-changed') {
        if (this.shadow) this.syncShadow();
        continue;
      }
      if (r.kind === 'unmapped' && this.shadow && this.ops.pagingOn(this) && r.address !== undefined) {
        const address = r.address;
        const plan = this.syncShadow();
        const xl = findRun(plan.translation, address);
        const nowMapped = findRun(plan.windows, address) !== undefined;
        const again = lastFault !== undefined && lastFault.pc === r.pc && lastFault.address === address;
        if (xl !== undefined && nowMapped && !again) {
          // The tables changed without a watched register: the shadow caught up; retry.
          lastFault = { pc: r.pc, address };
          this.setReg(this.ops.pcReg, r.pc);
          continue;
        }
        if (xl === undefined) return this.shadowFault(r, address, common);
        return {
          ...common,
          kind: 'unmapped',
          pc: r.pc,
          access: r.access ?? 'read',
          address,
          pa: phys(xl.pa + (address - xl.va)),
        };
      }
      if (r.kind === 'exception' && this.shadow && this.ops.pagingOn(this) && isTranslationFault(this.arch, r.vector)) {
        // A fault taken while the shadow still showed the old tables (e.g. the first fetch
        // after a CR3 load whose new tables Unicorn could not read yet): if the live tables
        // map the address, the shadow was stale, not the guest — re-sync and retry once.
        const address = r.cr2 ?? r.pc;
        const plan = this.syncShadow();
        const again = lastFault !== undefined && lastFault.pc === r.pc && lastFault.address === address;
        if (
          !again &&
          findRun(plan.translation, address) !== undefined &&
          findRun(plan.windows, address) !== undefined
        ) {
          lastFault = { pc: r.pc, address };
          this.setReg(this.ops.pcReg, r.pc);
          continue;
        }
      }
      return stopFromNative(this.arch, r, common);
    }
  }

  /** A VA the guest's tables do not map: the fault the guest would take (CR2 set on amd64). */
  private shadowFault(r: NativeRunResult, address: bigint, common: StopCommon): StopReason {
    const stop = translationFault(this.arch, r.access, r.pc, address, common);
    if (this.ops.faultAddressReg !== undefined) this.setReg(this.ops.faultAddressReg, address);
    return stop;
  }

  /** The shadow built at the last sync, if any. */
  get shadowPlan(): ShadowPlan | undefined {
    return this.lastPlan;
  }

  /** Releases Unicorn and the pin on guest RAM; later calls throw CPU_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    cpuCall(() => this.handle.close());
  }
}
