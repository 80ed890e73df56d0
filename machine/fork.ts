/**
 * A fork of a machine: a fresh machine for the same profile whose guest RAM is a copy of the
 * source's (NativeRam.copyFrom: native/snapshot.cc copies only the pages the source touched)
 * and whose CPU holds the source's general-purpose registers and flags, so a booted host can
 * be panicked many times, each time in a machine of its own.
 *
 * Contract: when `forkMachine` returns, the fork's RAM equals the source's byte for byte and
 * its general-purpose registers and flags (what a jump inherits unless its entry state sets
 * them: a probe kernel's report shows them) equal the source's, and so does its GICv3 register
 * state (an LPI enable is for ever, so a fork keeps it). System registers, the memory
 * map, protections, copy accelerators and the console are the fresh machine's: every jump
 * sets the whole entry state it needs (machine/jump.ts). Not copied either: the emulator's own
 * caches (Unicorn's TLB), so what the emulator itself writes into guest page tables as it
 * walks them (x86 accessed bits) may differ from the source's next run. The source is only
 * read; the two are independent afterwards and each must be closed.
 */
import type { Arch } from '../loader/arch/index.js';
import type { RegName } from './cpu/index.js';
import { Machine, type MachineOptions } from './machine.js';

/** The registers a fork takes from its source: general-purpose registers and flags. */
const INHERITED: { readonly [A in Arch]: readonly RegName[] } = {
  amd64: [
    'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp',
    'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rflags',
  ],
  arm64: [
    'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10', 'x11', 'x12', 'x13', 'x14', 'x15',
    'x16', 'x17', 'x18', 'x19', 'x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29', 'x30',
    'sp', 'nzcv',
  ],
}; // prettier-ignore

/** A fresh machine holding a copy of `source`'s RAM and registers (see the module contract). */
export function forkMachine(source: Machine, opts: MachineOptions = {}): Machine {
  const fork = Machine.create(source.profile, opts);
  try {
    fork.ram.copyFrom(source.ram);
    for (const r of INHERITED[source.profile.arch]) fork.cpu.setReg(r, source.cpu.reg(r));
    if (source.gic !== undefined) fork.gic?.restore(source.gic.snapshot());
    return fork;
  } catch (e) {
    fork.close();
    throw e;
  }
}
