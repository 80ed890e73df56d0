/**
 * The jump on the emulated CPU:
 *  - a 64 MiB kernel copied by the kexec-reboot trampoline (staging -> destination), with the
 *    native accelerator, against GuestRam.copy of the same bytes on the same machine (the
 *    requirement: >= 0.3x); exact emulation's figure beside it;
 *  - panic-to-entry for the rescue path (D47358 rescue_kernel_exec on a panicking host):
 *    instructions executed and wall time, both arches, against the same machine's setup time.
 */
import { performance } from 'node:perf_hooks';
import { phys, size, type KernelVa, type Size } from '../loader/addr.js';
import { archInfo, type Arch } from '../loader/arch/index.js';
import { PF } from '../loader/elf/layout.js';
import { parseElf } from '../loader/elf/reader.js';
import { writeElf } from '../loader/elf/writer.js';
import { loadProfile } from '../loader/plan/profile.js';
import { buildProbeKernel } from '../kernels/probe/index.js';
import { prepareHandOff } from '../machine/exec.js';
import { runJump } from '../machine/jump.js';
import { Machine } from '../machine/machine.js';
import { compare, mibPerSec, type Benchmark, type BenchResult } from './harness.js';

const MiB = 1 << 20;

/** A FreeBSD-layout kernel whose text is `bytes` long (pseudo-random, so nothing is elided). */
function bigKernel(arch: Arch, bytes: number): Uint8Array {
  const ks = archInfo(arch).kernstart;
  const text = new Uint8Array(bytes);
  let x = 0x9e3779b9;
  for (let i = 0; i < bytes; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    text[i] = x & 0xff;
  }
  const va = (ks + 0x1000n) as KernelVa;
  return writeElf({
    arch,
    type: 'exec',
    entry: va,
    layout: { linearBase: ks },
    segments: [{ type: 'load', flags: PF.R | PF.X, vaddr: va, data: text, memsz: BigInt(bytes) as Size }],
  });
}

function kexecCopy(
  profileName: string,
  exact: boolean,
  kernel: Uint8Array,
): { ms: number; bytes: number; executed: number } {
  const m = Machine.create(loadProfile(profileName), { exact });
  try {
    const prep = prepareHandOff(m, parseElf(kernel), 'big.elf', { path: 'kexec' });
    // touch the destination pages first, as the baseline's are: both sides then copy at
    // memory speed instead of paying the host's first-touch page faults
    for (const w of prep.tramp.writable) m.ram.fill(w.start, w.size, 0);
    const r = runJump(m, prep.tramp, {
      protect: false,
      ...(prep.gdt === undefined ? {} : { gdt: prep.gdt }),
      timeoutMs: 600_000,
      maxInstructions: 2 ** 40,
    });
    // the CPU run from the trampoline's first instruction to the kernel entry (placing and
    // building the hand-off happened before it)
    const ms = r.stop.elapsedMs;
    if (!r.reached) throw new Error(`kexec jump stopped: ${r.stop.kind}`);
    const bytes = prep.tramp.writable.reduce((n, w) => n + Number(w.size), 0);
    return { ms, bytes, executed: r.stop.executed };
  } finally {
    m.close();
  }
}

function guestCopyMs(bytes: number): number {
  const m = Machine.create(loadProfile('amd64-efi'));
  try {
    const src = phys(0x1_0000_0000n);
    const dst = phys(0x1_0000_0000n + BigInt(bytes));
    m.ram.fill(src, size(bytes), 0x5a);
    m.ram.fill(dst, size(bytes), 0xa5);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      m.ram.copy(dst, src, size(bytes));
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[2] ?? Number.NaN;
  } finally {
    m.close();
  }
}

function rescueJump(profileName: string): { ms: number; executed: number; setupMs: number } {
  const profile = loadProfile(profileName);
  const t0 = performance.now();
  const m = Machine.create(profile);
  try {
    const prep = prepareHandOff(m, parseElf(buildProbeKernel(profile.arch, { mode: 'rescue' })), 'probe.elf', {
      path: 'rescue',
    });
    const t1 = performance.now();
    const r = runJump(m, prep.tramp, prep.gdt === undefined ? {} : { gdt: prep.gdt });
    const ms = r.stop.elapsedMs;
    if (!r.reached) throw new Error(`rescue jump stopped: ${r.stop.kind}`);
    return { ms, executed: r.stop.executed, setupMs: t1 - t0 };
  } finally {
    m.close();
  }
}

export const benchmarks: Benchmark[] = [
  {
    name: 'jump',
    run: async () => {
      const results: BenchResult[] = [];
      const bytes = 64 * MiB;
      const baseMs = guestCopyMs(bytes);
      for (const [arch, profile] of [
        ['amd64', 'amd64-efi'],
        ['arm64', 'arm64-fdt'],
      ] as const) {
        const kernel = bigKernel(arch, bytes);
        // the first run in a process also pays Unicorn's one-time set-up: warm up, then take the median of 3
        kexecCopy(profile, false, kernel);
        const runs = [0, 1, 2].map(() => kexecCopy(profile, false, kernel)).sort((a, b) => a.ms - b.ms);
        const fast = runs[1] ?? runs[0];
        if (fast === undefined) throw new Error('no run');
        const exact = kexecCopy(profile, true, kernel);
        results.push(
          compare(
            `kexec-copy-${arch}`,
            `kexec tramp copy 64 MiB ${arch} (accel)`,
            mibPerSec(fast.bytes, fast.ms),
            'GuestRam.copy 64 MiB',
            mibPerSec(bytes, baseMs),
            'MiB/s',
            0.3,
          ),
          compare(
            `kexec-copy-exact-${arch}`,
            `kexec tramp copy 64 MiB ${arch} (exact)`,
            mibPerSec(exact.bytes, exact.ms),
            'GuestRam.copy 64 MiB',
            mibPerSec(bytes, baseMs),
            'MiB/s',
          ),
        );
        const jump = rescueJump(profile);
        results.push({
          ...compare(
            `rescue-panic-to-entry-${arch}`,
            `panic-to-entry ${arch} (${jump.executed} insns)`,
            1000 / jump.ms,
            'machine setup (create + arm)',
            1000 / jump.setupMs,
            'runs/s',
          ),
          note: `${jump.executed} instructions, ${jump.ms.toFixed(1)} ms from the panicking host to the rescue kernel entry`,
        });
      }
      return results;
    },
  },
];
