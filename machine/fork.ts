/**
 * A fork of a machine: a fresh machine for the same profile whose guest RAM is a copy of the
 * source's (NativeRam.copyFrom: native/snapshot.cc copies only the pages the source touched),
 * so a booted host can be panicked many times, each time in a machine of its own.
 *
 * Contract: the fork's RAM equals the source's byte for byte when `forkMachine` returns; its
 * CPU is at reset with an empty console and no protections or accelerators (every jump sets
 * the whole entry state it needs: machine/jump.ts); the source is only read. The two are
 * independent afterwards and each must be closed.
 */
import { Machine, type MachineOptions } from './machine.js';

/** A fresh machine holding a copy of `source`'s RAM (see the module contract). */
export function forkMachine(source: Machine, opts: MachineOptions = {}): Machine {
  const fork = Machine.create(source.profile, opts);
  try {
    fork.ram.copyFrom(source.ram);
    return fork;
  } catch (e) {
    fork.close();
    throw e;
  }
}
