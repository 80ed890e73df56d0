/**
 * Executes a trampoline on the machine's CPU: places its segments, sets the entry state,
 * write-protects every RAM byte the trampoline may not write, arms the native copy
 * accelerator for its copy loops (unless --exact), and runs until the next kernel's first
 * instruction (`stopAt`) or something stops it — never longer than the limits.
 *
 * Contract: the trampoline is machine code executed by Unicorn; nothing here simulates it.
 * Returns the stop reason, the instructions executed and the wall time. A stray write is a
 * `write-protect` stop naming the address; a wrong entry, an unmapped CR3 or an endless loop
 * ends in the matching stop reason inside the limits.
 */
import { phys, SZ_4K, type PhysAddr, type PhysRange } from '../loader/addr.js';
import type { CopyLoop as TrampCopyLoop, EntryState, Trampoline } from '../loader/trampoline/index.js';
import { normalize, subtract } from '../loader/plan/ranges.js';
import { COPY_LOOPS, type CopyLoop, type RegName, type StopReason } from './cpu/index.js';
import type { Machine } from './machine.js';

export interface JumpOptions {
  readonly maxInstructions?: number;
  readonly timeoutMs?: number;
  /** Protect RAM outside `writable` (default true). */
  readonly protect?: boolean;
  /** Extra physical ranges the code may write (e.g. the stack it uses). */
  readonly alsoWritable?: readonly PhysRange[];
  /** Where an amd64 GDT may be written (a scratch page). */
  readonly gdt?: PhysAddr;
}

/** How a trampoline run ended: the stop reason and whether the CPU reached the entry. */
export interface JumpResult {
  readonly stop: StopReason;
  /** True when the CPU stopped at `stopAt`. */
  readonly reached: boolean;
  readonly stopAt: bigint;
}

/** Where the amd64 GDT goes when the caller names no scratch page: the second page of RAM. */
const DEFAULT_GDT_PAGE = phys(SZ_4K);

export const DEFAULT_JUMP_LIMITS = { maxInstructions: 50_000_000, timeoutMs: 60_000 } as const;

/**
 * Maps a trampoline's copy loop (loader/trampoline, the loop shape as data) to the CPU
 * accelerator's description: registers, units and instruction counts come from the loop;
 * the scratch registers end holding the last chunk's words; flags are left alone.
 */
export function acceleratorFor(loop: TrampCopyLoop): CopyLoop {
  const dfClear = loop.kind === 'x86-rep-movsq' ? COPY_LOOPS.repMovsq(loop.at).requires : undefined;
  return {
    name: loop.label,
    at: loop.at,
    exit: loop.exit,
    src: loop.regs.src as RegName,
    dst: loop.regs.dst as RegName,
    count: loop.regs.count as RegName,
    countUnit: loop.countUnit,
    chunk: loop.chunk,
    insnsPerIteration: loop.insnsPerIteration,
    exitInsns: loop.exitInsns,
    loads: loop.regs.scratch.map((reg, i) => ({ reg: reg as RegName, offset: 8 * i })),
    ...(dfClear === undefined ? {} : { requires: dfClear }),
  };
}

/** Sets the CPU to a trampoline's entry state. */
export function setEntryState(machine: Machine, entry: EntryState, gdt: PhysAddr | undefined): void {
  const cpu = machine.cpu;
  if (entry.cr3 !== undefined) {
    cpu.setupLongMode({
      cr3: phys(entry.cr3),
      gdtBase: gdt ?? DEFAULT_GDT_PAGE,
      ...(entry.cr0 === undefined ? {} : { cr0: entry.cr0 }),
      ...(entry.cr4 === undefined ? {} : { cr4: entry.cr4 }),
      ...(entry.efer === undefined ? {} : { efer: entry.efer }),
    });
  } else if (entry.sctlr !== undefined) {
    cpu.setupEl1({
      sctlr: entry.sctlr,
      tcr: entry.tcr ?? 0n,
      mair: entry.mair ?? 0n,
      ttbr0: entry.ttbr0 ?? 0n,
      ttbr1: entry.ttbr1 ?? 0n,
    });
  }
  for (const [name, value] of Object.entries(entry.regs)) cpu.setReg(name as RegName, value);
}

/** Runs `tramp` on `machine` (see the module contract). */
export function runJump(machine: Machine, tramp: Trampoline, opts: JumpOptions = {}): JumpResult {
  machine.place(tramp.segments.map((s) => ({ label: s.label, phys: s.phys, data: s.data })));
  setEntryState(machine, tramp.entry, opts.gdt);
  machine.cpu.setCopyAccelerators(tramp.copyLoops.map(acceleratorFor));
  machine.cpu.syncShadow(); // the entry state's memory map, so protections land on it
  if (opts.protect ?? true) {
    const allowed = normalize([...tramp.writable, ...tramp.tables, ...(opts.alsoWritable ?? [])]);
    machine.protect(
      subtract(
        machine.ram.regions.map((x) => ({ start: x.base, size: x.size })),
        allowed,
      ),
    );
  }
  const stop = machine.cpu.run({
    start: tramp.entry.pc,
    until: tramp.stopAt,
    maxInstructions: opts.maxInstructions ?? DEFAULT_JUMP_LIMITS.maxInstructions,
    timeoutMs: opts.timeoutMs ?? DEFAULT_JUMP_LIMITS.timeoutMs,
  });
  machine.cpu.takeConsole();
  return { stop, reached: stop.kind === 'reached' && stop.pc === tramp.stopAt, stopAt: tramp.stopAt };
}

/** Removes the jump's write protection (after the jump: the next kernel owns its memory). */
export function unprotectAll(machine: Machine): void {
  machine.unprotect();
}
