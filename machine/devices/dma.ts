/**
 * Bus masters that keep writing host memory after the host panicked: a DMA engine (a NIC
 * receive ring in host pages) and, on arm64, the GICv3 ITS updating its LPI pending tables.
 * A panicking FreeBSD kernel does not quiesce devices before rescue_kernel_exec (D47358
 * rescue_machdep.c jumps with interrupts off but bus masters running), so the rescue
 * kernel's dumper reads memory that may still change under it.
 *
 * Contract: a `DeviceWriter` is ticked by whoever models the passing of time (the rescue
 * dumper ticks once per chunk it streams); each tick writes guest RAM directly (as DMA does,
 * no CPU involved) and returns the page-aligned PAs it wrote. Writes are deterministic for a
 * seed. Only `targets` are written.
 */
import { hex, phys, SZ_4K } from '../../loader/addr.js';
import type { GuestRam } from '../../loader/memory/guest-ram.js';
import { MachineCode, MachineError } from '../errors.js';

export interface DeviceWriter {
  readonly name: string;
  /** One unit of time; returns the pages (page-aligned PAs) written. */
  tick(): readonly bigint[];
  /** Every page written so far, in order of first write. */
  readonly written: readonly bigint[];
}

export interface BusMasterOptions {
  readonly name: string;
  /** Page-aligned PAs the device owns (its ring buffers / tables). */
  readonly targets: readonly bigint[];
  /** The device writes on every `period`-th tick (default 8). */
  readonly period?: number;
  /** Bytes per write (default 64, a cache line / a descriptor). */
  readonly burst?: number;
  readonly seed?: number;
}

/** A device writing `burst` bytes into its next target page every `period` ticks. */
export function busMaster(ram: GuestRam, opts: BusMasterOptions): DeviceWriter {
  const period = opts.period ?? 8;
  const burst = opts.burst ?? 64;
  if (opts.targets.length === 0 || !Number.isInteger(period) || period < 1 || burst < 1 || burst > 0x1000) {
    throw new MachineError(
      MachineCode.DeviceConfig,
      `machine: device ${opts.name} needs targets, period >= 1, burst 1..4096`,
      {
        device: opts.name,
      },
    );
  }
  for (const t of opts.targets) {
    if (t % SZ_4K !== 0n || !ram.isRam(phys(t), SZ_4K)) {
      throw new MachineError(
        MachineCode.DeviceConfig,
        `machine: device ${opts.name} target ${hex(t)} is not a RAM page`,
        {
          device: opts.name,
          target: t,
        },
      );
    }
  }
  let ticks = 0;
  let next = 0;
  let counter = (opts.seed ?? 1) >>> 0;
  const written: bigint[] = [];
  const seen = new Set<bigint>();
  return {
    name: opts.name,
    written,
    tick() {
      ticks++;
      if (ticks % period !== 0) return [];
      const page = opts.targets[next % opts.targets.length] as bigint;
      const slot = BigInt((Math.floor(next / opts.targets.length) * burst) % 0x1000);
      next++;
      const data = new Uint8Array(burst);
      for (let i = 0; i < burst; i++) {
        counter = (Math.imul(counter, 1103515245) + 12345) >>> 0;
        data[i] = counter >>> 24;
      }
      data[0] = (data[0] ?? 0) | 1; // never a no-op write
      const at = page + (slot + BigInt(burst) > SZ_4K ? 0n : slot);
      ram.write(phys(at), data);
      if (!seen.has(page)) {
        seen.add(page);
        written.push(page);
      }
      return [page];
    },
  };
}
