/**
 * The compare fault set, each run for real on an armed host (compare/run.ts calls these):
 *
 *  - dma: a NIC keeps DMA-ing into host pages while the rescue kernel dumps
 *    (rescue/crash-dump.ts faultDevices). Survived when the dump completes and every page
 *    that changed under the dumper is named, and only pages a device wrote are;
 *  - its: (arm64) the GICv3 ITS keeps updating its LPI tables after the panic. Survived when
 *    the hand-off leaves the tables unchanged, none lies in the reservation and the dump
 *    completes while the ITS writes; n/a on a machine without an ITS (amd64);
 *  - corrupt-segment: one byte of the staged rescue kernel (the middle of its executable
 *    PT_LOAD, in the reservation) is flipped between arming and the panic. Detected when
 *    HostSession.panic() refuses the jump naming the changed segment (`changedSegments`:
 *    machine/purgatory.ts, kexec-tools' purgatory sha256 check); undetected when the jump
 *    enters the damaged kernel (a probe kernel's own checksum then shows the damage);
 *  - stray-write: rescue_kernel_exec's trampoline (loader/trampoline, built as the panic
 *    builds it) gets one extra store, to the panicking thread's kernel stack, before its
 *    first instruction; run with machine/jump.ts runJump and its write protection (every
 *    byte outside the trampoline's `writable` and `tables`). Detected when the CPU stops with
 *    `write-protect` naming that address and host memory is unchanged. The protection is
 *    the emulator's instrument: on hardware nothing would stop the store.
 *
 * Contract: each function takes a session armed the way its strategy arms (the caller
 * boots, advances and closes it) and returns a FaultResult; nothing but KbootErrors escape.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { add, hex, offsetFrom, size, SZ_4K, type PhysAddr } from '../loader/addr.js';
import { A64Asm, X86Asm } from '../loader/codegen/index.js';
import { parseElf, PF } from '../loader/elf/index.js';
import { probeChecksum } from '../kernels/probe/index.js';
import { trampolineOps, type Trampoline } from '../loader/trampoline/index.js';
import { runJump } from '../machine/jump.js';
import type { HostSession } from '../machine/session.js';
import { crashDump } from '../rescue/crash-dump.js';
import { probeObserver } from '../rescue/probe-observer.js';
import type { FaultResult } from './report.js';
import { MachineCode, MachineError } from '../machine/errors.js';

/** A directory for one dump, removed after `f` (dumps are as large as the host's dumped memory). */
export function withDumpDir<T>(parent: string, f: (dir: string) => T): T {
  const dir = mkdtempSync(join(parent, 'dump-'));
  try {
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** dma: the dump runs while a NIC writes host pages (see the module contract). */
export function dmaFault(s: HostSession, tmp: string): FaultResult {
  return withDumpDir(tmp, (dir) => {
    const r = crashDump(s, { dir, faults: ['dma'], dumptime: 1_800_000_000n });
    const dev = r.watch.devices.find((d) => d.name.startsWith('dma'));
    const wrote = dev?.pages.length ?? 0;
    const named = r.watch.changed.filter((c) => dev?.pages.includes(c.pa) === true).length;
    const unexplained = r.watch.changed.filter((c) => !r.watch.devices.some((d) => d.pages.includes(c.pa))).length;
    const status = r.save?.status ?? 'none';
    if (status === 'good' && wrote > 0 && unexplained === 0) {
      return {
        fault: 'dma',
        outcome: 'survived',
        detail: `dump good; the NIC wrote ${wrote} host pages while dumping and the dumper named the ${named} dumped page(s) that changed under it`,
      };
    }
    return {
      fault: 'dma',
      outcome: 'failed',
      detail: `dump ${status}; the NIC wrote ${wrote} pages; ${unexplained} changed page(s) no device explains${r.save?.reason === undefined ? '' : ` (${r.save.reason})`}`,
    };
  });
}

/**
 * its: the ITS tables across the hand-off (`before` is deviceTablesSha256() before the panic)
 * and a dump while the ITS writes (see the module contract).
 */
export function itsFault(s: HostSession, tmp: string, before: string): FaultResult {
  if (s.profile.arch !== 'arm64' || s.model.deviceTables.length === 0) {
    return { fault: 'its', outcome: 'n/a', detail: `${s.profile.name} has no GICv3 ITS` };
  }
  const kept = s.deviceTablesSha256() === before;
  const region = s.expected.region;
  const inside = s.model.deviceTables.filter(
    (t) => t.range.start < region.start + region.size && region.start < t.range.start + t.range.size,
  ).length;
  return withDumpDir(tmp, (dir) => {
    const r = crashDump(s, { dir, faults: ['its'], dumptime: 1_800_000_000n });
    const dev = r.watch.devices.find((d) => d.name.startsWith('gicv3-its'));
    const status = r.save?.status ?? 'none';
    const facts = `the ITS wrote ${dev?.pages.length ?? 0} LPI/ITS table pages while dumping; the hand-off ${kept ? 'left the tables unchanged' : 'CHANGED the tables'}; ${inside} table(s) in the reservation; dump ${status}`;
    return { fault: 'its', outcome: status === 'good' && kept && inside === 0 ? 'survived' : 'failed', detail: facts };
  });
}

/** Where the corrupt-segment fault flips a byte: the middle of the kernel's executable PT_LOAD, in the reservation. */
export function corruptionTarget(s: HostSession, rescue: Uint8Array): { pa: PhysAddr; fileOffset: bigint } {
  const armed = s.armed;
  const kseg = armed?.plan.segments.find((g) => g.kind === 'kernel');
  if (armed === undefined || kseg === undefined) {
    throw new MachineError(MachineCode.HostModel, 'machine: no staged rescue kernel to corrupt (nothing armed)', {
      strategy: s.strategy,
    });
  }
  const image = parseElf(rescue);
  const text = image.loadSegments.find((p) => (p.flags & PF.X) !== 0 && p.filesz > 0n) ?? image.loadSegments[0];
  const fileOffset = text === undefined ? BigInt(rescue.length) / 2n : text.offset + text.filesz / 2n;
  return { pa: add(kseg.phys, size(fileOffset)), fileOffset };
}

/** corrupt-segment: flip a staged byte between arming and the panic (see the module contract). */
export function corruptSegmentFault(s: HostSession, rescue: Uint8Array): FaultResult {
  const { pa, fileOffset } = corruptionTarget(s, rescue);
  const old = s.machine.ram.read(pa, 1)[0] ?? 0;
  s.machine.ram.write(pa, Uint8Array.of(old ^ 0xff));
  const where = `byte ${hex(fileOffset)} of the staged kernel (PA ${hex(pa)}) flipped after arming`;
  const out = s.panic({ observer: probeObserver });
  const changed = out.changedSegments ?? [];
  if (!out.rescued && changed.length > 0) {
    const named = changed
      .map(
        (c) =>
          `${c.label}${c.firstDifferingByte === undefined ? '' : ` (first changed byte ${hex(c.firstDifferingByte)})`}`,
      )
      .join('; ');
    return {
      fault: 'corrupt-segment',
      outcome: 'detected',
      detail: `${where}; purgatory refused the jump: changed since arming: ${named}`,
    };
  }
  if (!out.rescued) {
    return {
      fault: 'corrupt-segment',
      outcome: 'failed',
      detail: `${where}; not rescued without naming the damage (${out.reason ?? out.jump?.stop.kind ?? 'unknown'})`,
    };
  }
  const probe = out.observed;
  if (probe === undefined) {
    return {
      fault: 'corrupt-segment',
      outcome: 'undetected',
      detail: `${where}; the jump entered the damaged kernel: nothing checked the staged bytes`,
    };
  }
  const report = probe.report;
  if (report === undefined || !report.complete) {
    return {
      fault: 'corrupt-segment',
      outcome: 'undetected',
      detail: `${where}; the jump entered the damaged kernel, which stopped with ${probe.stop.kind} after ${probe.stop.executed} instructions`,
    };
  }
  const expected = probeChecksum(rescue);
  return {
    fault: 'corrupt-segment',
    outcome: 'undetected',
    detail:
      report.checksum === expected
        ? `${where}; the jump entered the damaged kernel and nothing noticed`
        : `${where}; the jump entered the damaged kernel; only the probe's own checksum shows it (${hex(report.checksum)}, file ${hex(expected)})`,
  };
}

/**
 * `tramp` with a stray store in front of its first instruction: `mov [rsp], rdi` (amd64) /
 * `str x1, [sp]` (arm64), then a branch to the real entry. The extra code goes in host
 * kernel text just after rescue_tramp (16-byte aligned), so it runs at the same privilege
 * and mappings.
 */
export function withStrayStore(tramp: Trampoline): Trampoline {
  const at = (tramp.code.size + 15) & ~15;
  const va = tramp.code.va + BigInt(at);
  const entry = Number(tramp.entry.pc - va); // the real entry, before the injected code
  const code =
    tramp.arch === 'amd64'
      ? new X86Asm().labelAt('entry', entry).movStore64({ base: 'rsp' }, 'rdi').jmp('entry').finish(va).bytes
      : new A64Asm().labelAt('entry', entry).str('x1', { base: 'sp' }).b('entry').finish(va).bytes;
  return {
    ...tramp,
    segments: [
      ...tramp.segments,
      { label: 'stray store (injected fault)', role: 'code', phys: add(tramp.code.phys, size(at)), data: code },
    ],
    entry: { ...tramp.entry, pc: va },
  };
}

/** The PA behind the panicking thread's SP (host model state). */
function stackPa(s: HostSession): PhysAddr {
  const st = s.model.state.stack;
  const off = offsetFrom(st.sp, st.va);
  const page = st.pages[Number(off / SZ_4K)];
  if (page === undefined) {
    throw new MachineError(MachineCode.HostModel, `machine: the host SP ${hex(st.sp)} is outside its stack`, {
      sp: st.sp,
    });
  }
  return add(page, size(off % SZ_4K));
}

/** stray-write: rescue_kernel_exec with one extra store (see the module contract). */
export function strayWriteFault(s: HostSession): FaultResult {
  const armed = s.armed;
  if (armed === undefined) {
    throw new MachineError(MachineCode.HostModel, 'machine: the stray-write fault needs an armed host', {
      strategy: s.strategy,
    });
  }
  const tramp = withStrayStore(
    trampolineOps(s.profile.arch).buildRescueExec({ plan: armed.plan, host: s.model.state }),
  );
  const target = stackPa(s);
  const before = s.machine.ram.read(target, 8);
  const j = runJump(s.machine, tramp, { gdt: s.model.gdt, protect: true });
  const unchanged = s.machine.ram.equals(target, before);
  const stop = j.stop;
  if (stop.kind === 'write-protect') {
    const named = stop.pa === target;
    return {
      fault: 'stray-write',
      outcome: named && unchanged ? 'detected' : 'failed',
      detail: `a store to ${hex(stop.pa)}${named ? " (the panicking thread's kernel stack)" : ''} was stopped by the machine's write protection after ${stop.executed} instruction(s); host memory ${unchanged ? 'unchanged' : 'CHANGED'} (on hardware nothing stops it: the dump would carry the damage)`,
    };
  }
  return {
    fault: 'stray-write',
    outcome: j.reached ? 'undetected' : 'failed',
    detail: `the stray store to ${hex(target)} ${unchanged ? 'did not land' : 'landed'}; the jump ${j.reached ? 'went on to the rescue kernel' : `stopped with ${stop.kind}`}`,
  };
}
