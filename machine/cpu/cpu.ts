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
 *  - Shadow mappings (`shadow: true`, the default), built lazily (./lazy.ts): Unicorn 2.0.1
 *    checks every VA against its memory map and, on x86-64, accesses PA == VA after its page
 *    walk (shared/spec/unicorn-system.md findings 1-2), so kboot maps VA windows over guest
 *    RAM following the live tables - but only where the guest touches memory. An access to a
 *    VA with no window stops the native run; the tables are walked for that address (the 2 MiB
 *    block around it), the covering window is mapped (with the table pages the walk read, and
 *    on arm64 the RAM its VAs reach) and the instruction restarts. A VA the tables do not map
 *    is reported as the guest would see it: #PF (vector 14, CR2 set) on amd64, an abort
 *    (vector 4 data / 3 prefetch) on arm64, or `unmapped` with the PA when the tables map the
 *    VA to something that is not RAM. A watched translation register change (x86: CR0/CR3/CR4;
 *    arm64: TTBR0/TTBR1/TCR/SCTLR; the native run loop stops before the first instruction of
 *    the next block) and every run start drop the shadow instead of rebuilding it (arm64 keeps
 *    RAM at its PA and re-checks its closure). With paging off, RAM is mapped at its PA, in
 *    256 MiB pieces, as it is touched. An accelerated copy whose ranges are not known yet
 *    stops the run once; the CPU walks them (translation only, no window) and the addon decides.
 *    Every addon call that maps is checked first against the engine's limits (./limits.ts,
 *    CPU_LIMIT), so Unicorn never aborts the process.
 *    `mapAlias` / `unmapAlias` edit the map by hand and need `shadow: false`, where all RAM is
 *    mapped at its PA at creation.
 *  - `protect(pa, size, 'ro')` write-protects a physical range through every window that maps
 *    it (identity, alias, shadow), now and in windows mapped later; a stray write stops the
 *    run with `write-protect` naming the VA and the PA.
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
  type NativeMmioModel,
  type NativeRunResult,
} from '../../native/binding.js';
import { ConsoleLog, NS16550_COM1, type UartConfig } from '../devices/uart.js';
import { MachineCode, MachineError, machineErrorFor } from '../errors.js';
import { NativeRam } from '../native-ram.js';
import type { VaRange } from '../walk.js';
import { nativeCopyLoops, type CopyLoop } from './accel.js';
import { amd64Tables, arm64Tables, LazyShadow, type ShadowContext, type TablesView } from './lazy.js';
import { checkWindow, checkWindowCount, identityChunks } from './limits.js';
import { AMD64_LONG_MODE, checkRegName, checkU64, CPU_BITS, type RegName } from './regs.js';
import type { CpuWindow, ShadowPlan, TranslationRun } from './shadow.js';
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
  /**
   * arm64: a device modelled in TypeScript (the GICv3, ../devices/gicv3.ts): its page-aligned
   * ranges are mapped at VA == PA and every guest access calls it; what it throws stops the run
   * and is rethrown by `run`.
   */
  readonly mmio?: MmioDevice;
}

/** A TypeScript MMIO device (see CpuOptions.mmio). */
export interface MmioDevice {
  ranges(): readonly { readonly base: bigint; readonly size: bigint }[];
  read(pa: bigint, size: number): bigint;
  write(pa: bigint, size: number, value: bigint): void;
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
  /** The watched translation registers (amd64 CR0, CR3, CR4; arm64 SCTLR, TCR, TTBR0, TTBR1). */
  readonly watched: (cpu: Cpu) => readonly bigint[];
  /** A walker of the live tables (their registers read now), answering per VA range. */
  readonly tables: (cpu: Cpu, ram: GuestRam) => (range: VaRange) => TablesView;
}

const PL011_SIZE = 0x1000n;

const ARCH_OPS: { readonly [A in Arch]: CpuArchOps } = {
  amd64: {
    pcReg: 'rip',
    faultAddressReg: 'cr2',
    pagingOn: (cpu) => (cpu.reg('cr0') & B.CR0_PG) !== 0n,
    watched: (cpu) => [cpu.reg('cr0'), cpu.reg('cr3'), cpu.reg('cr4')],
    tables: (cpu, ram) => {
      const cr4 = cpu.reg('cr4');
      if ((cr4 & B.CR4_LA57) !== 0n) {
        throw new MachineError(MachineCode.CpuShadow, 'machine: 5-level paging (CR4.LA57) is not supported', { cr4 });
      }
      return amd64Tables(ram, cpu.reg('cr3'), (cpu.reg('efer') & B.EFER_NXE) !== 0n);
    },
  },
  arm64: {
    pcReg: 'pc',
    pagingOn: (cpu) => (cpu.reg('sctlr_el1') & CPU_BITS.arm64.SCTLR_M) !== 0n,
    watched: (cpu) => [cpu.reg('sctlr_el1'), cpu.reg('tcr_el1'), cpu.reg('ttbr0_el1'), cpu.reg('ttbr1_el1')],
    tables: (cpu, ram) =>
      arm64Tables(ram, { tcr: cpu.reg('tcr_el1'), ttbr0: cpu.reg('ttbr0_el1'), ttbr1: cpu.reg('ttbr1_el1') }),
  },
};

const ALL_VAS = [{ va: 0n, size: (1n << 64n) - 1n }] as const;

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

/** Where a run stands between native runs: counters, the start, and faults already retried. */
interface RunProgress {
  readonly t0: number;
  executed: number;
  copies: number;
  bytes: number;
  first: boolean;
  /** `pc:address` of shadow faults retried once without anything new mapped. */
  readonly retried: Set<string>;
  /** amd64 CR2 before the run: a fault that was the shadow's, not the guest's, must not change it. */
  readonly cr2: bigint | undefined;
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
  private readonly lazy: LazyShadow;
  /** The watched translation registers when the shadow was last (re)translated. */
  private watched: readonly bigint[] | undefined;
  private loops: readonly CopyLoop[] = [];
  private closed = false;
  /** What the MMIO device threw during the current native run (rethrown by `run`). */
  private mmioError: unknown = undefined;

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
    this.lazy = new LazyShadow(ram.regions);
    const eager = this.shadow ? [] : identityChunks(ram.regions);
    checkWindowCount(eager.length + (this.device === undefined ? 0 : 1), 'mapping all RAM (shadow: false)');
    const addon = loadNative();
    // NativeRam keeps its addon handle private; the CPU is the one other native user of it.
    const ramHandle: NativeGuestRamHandle = ram['handle'];
    const mmio = opts.mmio === undefined ? undefined : this.bindMmio(arch, opts.mmio, ram.regions);
    const native = { ...(uart === undefined ? {} : { uart }), ...(mmio === undefined ? {} : { mmio }) };
    this.handle = cpuCall(() => new addon.Cpu(arch, ramHandle, native), { arch });
    if (!this.shadow) {
      const xlat = eager.map((w) => ({ ...w, exec: true }));
      cpuCall(() => this.handle.setMappings(eager, xlat, ALL_VAS), { windows: eager.length });
    }
  }

  /** The native side of an MMIO device: its ranges checked, its callbacks catching what they throw. */
  private bindMmio(arch: Arch, dev: MmioDevice, regions: readonly RamRegion[]): NativeMmioModel {
    const ranges = dev.ranges();
    for (const r of ranges) {
      const bad =
        arch !== 'arm64' ||
        r.size <= 0n ||
        r.base % 0x1000n !== 0n ||
        r.size % 0x1000n !== 0n ||
        r.base + r.size > U64_LIMIT ||
        regions.some((g) => r.base < g.base + g.size && g.base < r.base + r.size);
      if (bad) {
        throw new MachineError(
          MachineCode.CpuSetup,
          `machine: MMIO range ${hex(r.base)} + ${hex(r.size)} cannot be mapped`,
          {
            arch,
            base: r.base,
            size: r.size,
          },
        );
      }
    }
    const guard = <T>(f: () => T): T => {
      try {
        return f();
      } catch (e) {
        this.mmioError ??= e;
        throw e;
      }
    };
    return {
      ranges,
      read: (pa, sz) => guard(() => dev.read(pa, sz)),
      write: (pa, sz, v) => {
        guard(() => {
          dev.write(pa, sz, v);
        });
      },
    };
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
    const regs = { cr3: opts.cr3, cr0: opts.cr0 ?? L.cr0, cr4: opts.cr4 ?? L.cr4, efer: opts.efer ?? L.efer };
    const call = { ...regs, gdtBase: opts.gdtBase, gdtLimit: gdt.length - 1, cs: L.cs, ds: L.ds };
    cpuCall(() => this.handle.setupLongMode(call), { cr3: opts.cr3 });
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
   * Drops the shadow: every window kboot mapped is unmapped and what was known of the
   * translation forgotten; the guest's next accesses map what they touch from the live tables
   * (./lazy.ts). Done at every run start and whenever a watched register changes; returns the
   * (empty) plan, whose mode says whether paging / the MMU is on. No-op with `shadow: false`.
   */
  syncShadow(): ShadowPlan {
    this.check('syncShadow');
    if (!this.shadow) return this.lazy.plan();
    this.retranslate('all');
    return this.lazy.plan();
  }

  /** The translation changed over `scope` (./lazy.ts `retranslate`); the addon follows. */
  private retranslate(scope: 'low' | 'high' | 'all'): void {
    const mode = this.ops.pagingOn(this) ? 'shadow' : 'identity';
    this.lazy.retranslate(this.shadowContext(mode), mode, scope);
    this.watched = this.ops.watched(this);
    this.applyShadow();
  }

  /**
   * Which part of the address space the watched registers changed since the shadow was last
   * translated (arm64: one TTBR's half when only it changed), or undefined when none did.
   */
  private changedScope(): 'low' | 'high' | 'all' | undefined {
    const now = this.ops.watched(this);
    const was = this.watched;
    if (was !== undefined && now.every((v, i) => v === was[i])) return undefined;
    if (was === undefined || this.arch !== 'arm64') return 'all';
    const [sctlr, tcr, ttbr0, ttbr1] = now;
    if (sctlr !== was[0] || tcr !== was[1] || (ttbr0 !== was[2] && ttbr1 !== was[3])) return 'all';
    return ttbr0 !== was[2] ? 'low' : 'high';
  }

  /** Hands the lazy shadow's windows, translation and known ranges to the addon. */
  private applyShadow(): void {
    const windows = this.lazy.windows;
    checkWindowCount(windows.length + (this.device === undefined ? 0 : 1), 'the shadow');
    for (const w of windows) checkWindow(w.va, w.size);
    const known = this.lazy.known.map((k) => ({ va: k.start, size: k.end - k.start }));
    cpuCall(() => this.handle.setMappings(windows, this.lazy.translation, known), { windows: windows.length });
  }

  /** What the lazy shadow needs of the machine now (the live tables when paging is on). */
  private shadowContext(mode: ShadowPlan['mode'] = this.lazy.mode): ShadowContext {
    return {
      arch: this.arch,
      regions: this.ram.regions,
      device: this.device,
      walk: mode === 'shadow' ? this.ops.tables(this, this.ram) : undefined,
    };
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

  /**
   * Maps `size` bytes at VA `va` over the RAM at `pa` (one region; 4 KiB granular). Only with
   * `shadow: false`; CPU_LIMIT past the engine's limits (./limits.ts).
   */
  mapAlias(va: KernelVa, pa: PhysAddr, sz: Size): void {
    this.check('mapAlias');
    this.manualOnly('mapAlias');
    checkWindow(va, sz);
    checkWindowCount(cpuCall(() => this.handle.regionCount()) + 1, `an alias at ${hex(va)}`);
    cpuCall(() => this.handle.mapAlias(va, pa, sz), { va, pa, size: sz });
  }

  /** Unmaps `[va, va + size)` from the memory map. Only with `shadow: false`. */
  unmapAlias(va: KernelVa, sz: Size): void {
    this.check('unmapAlias');
    this.manualOnly('unmapAlias');
    cpuCall(() => this.handle.unmapAlias(va, sz), { va, size: sz });
  }

  /**
   * Write-protects (`ro`) or releases (`rw`) a RAM range through every window that maps it,
   * now and later (the shadow's windows over it are dropped and placed again when touched).
   */
  protect(pa: PhysAddr, sz: Size, mode: 'ro' | 'rw'): void {
    this.check('protect');
    if (this.shadow && this.lazy.protect(pa, sz, mode === 'ro')) this.applyShadow();
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
    if (this.shadow) this.syncShadow();
    const p: RunProgress = {
      t0: performance.now(),
      executed: 0,
      copies: 0,
      bytes: 0,
      first: true,
      retried: new Set(),
      cr2: this.ops.faultAddressReg === undefined ? undefined : this.reg(this.ops.faultAddressReg),
    };
    for (;;) {
      const r = this.runOnce(limits, p);
      const common: StopCommon = {
        executed: p.executed,
        elapsedMs: performance.now() - p.t0,
        accelerated: { copies: p.copies, bytes: p.bytes },
      };
      const stop = this.shadow ? this.shadowStop(r, common, p) : this.manualStop(r, common);
      if (stop !== undefined) return stop;
    }
  }

  /** One native run from where the CPU stands, within what is left of the limits. */
  private runOnce(limits: RunLimits, p: RunProgress): NativeRunResult {
    const elapsed = performance.now() - p.t0;
    this.mmioError = undefined;
    const r: NativeRunResult = this.mmioCall(() =>
      this.handle.run({
        ...(p.first && limits.start !== undefined ? { start: limits.start } : {}),
        ...(limits.until !== undefined ? { until: limits.until } : {}),
        maxInstructions: limits.maxInstructions - p.executed,
        timeoutMs: Math.max(0, Math.ceil(limits.timeoutMs - elapsed)),
        ...(limits.breakpoints !== undefined ? { breakpoints: limits.breakpoints } : {}),
        skipBreakpointAtStart: p.executed === 0,
        flushCode: p.first,
      }),
    );
    p.first = false;
    p.executed += r.executed;
    p.copies += r.acceleratedCopies;
    p.bytes += r.acceleratedBytes;
    return r;
  }

  /** A native run: what the MMIO device threw wins over the addon's CPU_RUN about it. */
  private mmioCall(f: () => NativeRunResult): NativeRunResult {
    try {
      return cpuCall(f);
    } catch (e) {
      if (this.mmioError !== undefined) throw this.mmioError;
      throw e;
    }
  }

  /** `shadow: false`: the map is the caller's; a register switch or a copy's question changes nothing. */
  private manualStop(r: NativeRunResult, common: StopCommon): StopReason | undefined {
    if (r.kind === 'translation-changed' || r.kind === 'translation-needed') return undefined;
    return stopFromNative(this.arch, r, common);
  }

  /**
   * The lazy shadow's part of a stop: undefined when the run goes on (a register switch
   * dropped the shadow, a copy's range or a faulting access got mapped), else the final stop.
   */
  private shadowStop(r: NativeRunResult, common: StopCommon, p: RunProgress): StopReason | undefined {
    // A watched register may have changed without the block-boundary stop: the first fetch
    // after a CR3 load can fault on the new tables before the next block starts.
    const scope = this.changedScope();
    if (scope !== undefined) this.retranslate(scope);
    switch (r.kind) {
      case 'translation-changed':
        return undefined;
      case 'translation-needed':
        this.learnCopyRange(r);
        return undefined;
      case 'unmapped':
        return this.onUnmapped(r, common, p);
      case 'exception':
        if (this.lazy.mode === 'shadow' && isTranslationFault(this.arch, r.vector)) return this.onFault(r, common, p);
        return stopFromNative(this.arch, r, common);
      default:
        return stopFromNative(this.arch, r, common);
    }
  }

  /** An accelerated copy asked for the translation of its range. */
  private learnCopyRange(r: NativeRunResult): void {
    if (r.address === undefined || r.size === undefined) {
      throw new MachineError(MachineCode.CpuRun, 'machine: addon stop translation-needed lacks its range', {});
    }
    this.lazy.learn(this.shadowContext(), { start: r.address, end: r.address + BigInt(r.size) });
    this.applyShadow();
  }

  /** An access to a VA with no window: map it and retry, or report what the guest sees. */
  private onUnmapped(r: NativeRunResult, common: StopCommon, p: RunProgress): StopReason | undefined {
    if (r.address === undefined) return stopFromNative(this.arch, r, common);
    const address = r.address;
    const res = this.lazy.resolve(this.shadowContext(), address);
    if (res.kind === 'mapped' || (res.kind === 'present' && this.firstRetry(p, r.pc, address))) {
      this.applyShadow();
      this.setReg(this.ops.pcReg, r.pc);
      return undefined;
    }
    if (res.kind === 'untranslated') return this.shadowFault(r, address, common);
    if (res.kind === 'not-ram' && res.pa !== undefined) {
      return { ...common, kind: 'unmapped', pc: r.pc, access: r.access ?? 'read', address, pa: res.pa };
    }
    return stopFromNative(this.arch, r, common);
  }

  /**
   * A translation fault (amd64 #PF, arm64 abort) with paging on: when the live tables map the
   * address (arm64: the PC, the only address the fault names), the shadow was short of a
   * table page or stale, not the guest — map and retry (once when nothing new was mapped).
   */
  private onFault(r: NativeRunResult, common: StopCommon, p: RunProgress): StopReason | undefined {
    const address = r.cr2 ?? r.pc;
    const res = this.lazy.resolve(this.shadowContext(), address);
    if (res.kind === 'mapped' || (res.kind === 'present' && this.firstRetry(p, r.pc, address))) {
      this.applyShadow();
      if (this.ops.faultAddressReg !== undefined && p.cr2 !== undefined) this.setReg(this.ops.faultAddressReg, p.cr2);
      this.setReg(this.ops.pcReg, r.pc);
      return undefined;
    }
    return stopFromNative(this.arch, r, common);
  }

  /** True the first time a run retries `pc` at `address` with nothing new mapped. */
  private firstRetry(p: RunProgress, pc: bigint, address: bigint): boolean {
    const key = `${pc}:${address}`;
    if (p.retried.has(key)) return false;
    p.retried.add(key);
    return true;
  }

  /** A VA the guest's tables do not map: the fault the guest would take (CR2 set on amd64). */
  private shadowFault(r: NativeRunResult, address: bigint, common: StopCommon): StopReason {
    const stop = translationFault(this.arch, r.access, r.pc, address, common);
    if (this.ops.faultAddressReg !== undefined) this.setReg(this.ops.faultAddressReg, address);
    return stop;
  }

  /** The shadow as it stands: its mode, windows and the translation known so far. */
  get shadowPlan(): ShadowPlan | undefined {
    return this.shadow ? this.lazy.plan() : undefined;
  }

  /** Times this CPU's shadow reached MAX_LAZY_WINDOWS and was dropped whole. */
  get shadowEvictions(): number {
    return this.lazy.evictions;
  }

  /** Releases Unicorn and the pin on guest RAM; later calls throw CPU_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    cpuCall(() => this.handle.close());
  }
}
