/**
 * The emulated machine of a profile: native guest RAM laid out as the profile's RAM ranges,
 * one CPU (Unicorn) with the profile's UART and, on a GICv3 arm64 profile, the GICv3's registers
 * as MMIO (devices/gicv3.ts), and the console log.
 *
 * Contract: `Machine.create(profile, opts)` maps every RAM range (MAP_NORESERVE: an 8 GiB
 * machine costs the pages it touches); `place()` writes segments, checking each lies in RAM;
 * `close()` releases CPU and RAM. Effects live here (ANCHORS.md rule 4); the plan and the
 * trampoline it runs are values built by loader/.
 */
import { hex, type PhysAddr, type PhysRange, type Size } from '../loader/addr.js';
import type { MachineProfile } from '../loader/plan/profile.js';
import { Cpu } from './cpu/index.js';
import { Gicv3, gicv3Layout } from './devices/gicv3.js';
import type { UartConfig } from './devices/uart.js';
import { NativeRam } from './native-ram.js';
import { MemoryError, MemoryCode } from '../loader/memory/errors.js';

export interface MachineOptions {
  /** Disable the native copy accelerator (--exact). */
  readonly exact?: boolean;
}

/** Bytes to place at a physical address. */
export interface Placement {
  readonly label: string;
  readonly phys: PhysAddr;
  readonly data: Uint8Array;
}

/** The UART of a profile, as the CPU takes it. */
export function uartOf(profile: MachineProfile): UartConfig {
  return profile.uart.kind === 'ns16550'
    ? { kind: 'ns16550', port: Number(profile.uart.base) }
    : { kind: 'pl011', base: profile.uart.base };
}

export class Machine {
  readonly profile: MachineProfile;
  readonly ram: NativeRam;
  readonly cpu: Cpu;
  /** The GICv3 (profiles with one): its registers are MMIO of the CPU. */
  readonly gic: Gicv3 | undefined;

  private constructor(profile: MachineProfile, ram: NativeRam, cpu: Cpu, gic: Gicv3 | undefined) {
    this.profile = profile;
    this.ram = ram;
    this.cpu = cpu;
    this.gic = gic;
  }

  /** A fresh machine for `profile`: zeroed RAM, CPU at reset. */
  static create(profile: MachineProfile, opts: MachineOptions = {}): Machine {
    const ram = new NativeRam(profile.ram.map((r) => ({ base: r.start, size: r.size })));
    try {
      const layout = profile.arch === 'arm64' ? gicv3Layout(profile) : undefined;
      const gic = layout === undefined ? undefined : new Gicv3(layout);
      const cpu = new Cpu(profile.arch, ram, {
        uart: uartOf(profile),
        exact: opts.exact ?? false,
        ...(gic === undefined ? {} : { mmio: gic }),
      });
      return new Machine(profile, ram, cpu, gic);
    } catch (e) {
      ram.close();
      throw e;
    }
  }

  /** Writes each placement into guest RAM (all checked first: nothing is written if one is not RAM). */
  place(items: readonly Placement[]): void {
    for (const p of items) {
      if (!this.ram.isRam(p.phys, BigInt(p.data.length) as Size)) {
        throw new MemoryError(
          MemoryCode.GuestRange,
          `machine: "${p.label}" at ${hex(p.phys)} (+${hex(p.data.length)}) is not guest RAM`,
          {
            label: p.label,
            addr: p.phys,
            len: p.data.length,
          },
        );
      }
    }
    for (const p of items) this.ram.write(p.phys, p.data);
  }

  private protectedRanges: PhysRange[] = [];

  /** Write-protects physical ranges through every mapping of them (a stray write stops the CPU). */
  protect(ranges: readonly PhysRange[]): void {
    for (const r of ranges) {
      this.cpu.protect(r.start, r.size, 'ro');
      this.protectedRanges.push(r);
    }
  }

  /** Lifts every protection `protect` set. */
  unprotect(): void {
    for (const r of this.protectedRanges) this.cpu.protect(r.start, r.size, 'rw');
    this.protectedRanges = [];
  }

  /** The console output so far, as text. */
  consoleText(): string {
    this.cpu.takeConsole();
    return this.cpu.console.text();
  }

  close(): void {
    this.cpu.close();
    this.ram.close();
  }
}
