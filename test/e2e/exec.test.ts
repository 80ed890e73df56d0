// End to end on the emulated machine (Unicorn 2.0.1): probe kernels entered through D47358's
// rescue exec and through a kexec reboot on both arches; the entry contract of a foreign
// kernel; broken and stray trampolines stopped with the matching reason inside the limits.
import t from 'tap';
import { createHash } from 'node:crypto';
import { hex, type PhysAddr } from '../../loader/addr.js';
import { archInfo } from '../../loader/arch/index.js';
import { parseElf } from '../../loader/elf/reader.js';
import { loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { planRescue } from '../../loader/plan/rescue-plan.js';
import { buildProbeKernel, probeChecksum } from '../../kernels/probe/index.js';
import type { Trampoline } from '../../loader/trampoline/index.js';
import { checkEntryContract } from '../../machine/contract.js';
import type { RegName } from '../../machine/cpu/index.js';
import { execKernel, prepareHandOff, type ExecPath } from '../../machine/exec.js';
import { runJump } from '../../machine/jump.js';
import { Machine } from '../../machine/machine.js';
import { nativeAvailable } from '../../native/binding.js';
import { makeRescueKernel } from '../helpers/kernels.js';
import { probeObserver } from '../../rescue/probe-observer.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const probeFor = (p: MachineProfile, path: ExecPath): Uint8Array =>
  buildProbeKernel(p.arch, { mode: path, ...(p.uart.kind === 'pl011' ? { uartBase: p.uart.base } : {}) });

for (const name of ['amd64-efi', 'amd64-bios', 'arm64-fdt', 'arm64-acpi']) {
  for (const path of ['kexec', 'rescue'] as const) {
    t.test(`${name}: probe kernel through ${path}`, { skip }, (t) => {
      const profile = loadProfile(name);
      const bytes = probeFor(profile, path);
      const o = execKernel(profile, parseElf(bytes), 'probe.elf', { path, observer: probeObserver });
      t.equal(o.jump.stop.kind, 'reached', `the trampoline reaches the entry (${o.jump.stop.kind})`);
      t.ok(o.jump.reached);
      const r = o.observed?.report;
      t.equal(o.observed?.stop.kind, 'halted', 'the probe halts');
      if (r === undefined) {
        t.fail(`no report: ${o.observed?.reportError ?? ''}`);
        return;
      }
      t.ok(r.complete, 'every probe stage finished');
      t.equal(r.mode, path);
      t.equal(r.checksum, probeChecksum(bytes), 'the loaded image checksums to the file');
      t.match(
        o.console.join('\n'),
        new RegExp(
          `kboot probe: ok arch=${profile.arch} mode=${path} checksum=0x${r.checksum.toString(16).padStart(16, '0')}`,
        ),
        'the UART line',
      );
      const info = archInfo(profile.arch);
      if (profile.arch === 'amd64') {
        t.equal(r.entryPc, o.jump.stopAt, 'entered at the ELF entry VA');
        t.equal(r.sys['cr3'], o.entryRegs['cr3'], 'the page-table root is the one the trampoline loaded');
        t.equal((r.sys['cr0'] ?? 0n) & (1n << 31n), 1n << 31n, 'paging on');
      } else {
        t.equal(r.entryPc, o.jump.stopAt, 'entered at the kernel PA');
      }
      if (path === 'kexec') {
        // the modinfo starts with MODINFO_NAME (type 1) and the kernel's name
        t.equal(
          new DataView(r.handoff.buffer, r.handoff.byteOffset).getUint32(0, true),
          1,
          'hand-off starts with MODINFO_NAME',
        );
        t.match(Buffer.from(r.handoff.subarray(8, 17)).toString('latin1'), /^probe\.elf/);
        if (profile.arch === 'amd64')
          t.equal(r.bootArgs[1] > r.bootArgs[0], true, 'kernend above modulep on the stack');
        else t.ok(r.bootArgs[0] >= info.kernbase, 'x0 = modulep VA');
      } else {
        // the first 64 bytes of the reservation: struct rescue_kernel_params as the plan armed it
        const plan = planRescue({ kernel: parseElf(bytes), kernelName: 'probe.elf', profile });
        const params = plan.segments.find((s) => s.kind === 'params');
        t.same(
          [...r.handoff],
          [...(params?.data.subarray(0, r.handoff.length) ?? [])],
          'the hand-off words are the rescue params',
        );
        t.equal(
          r.handoffAddr,
          profile.arch === 'amd64' ? info.kernbase : plan.region.start,
          'read at VA KERNBASE (amd64) / rescue_pa (arm64)',
        );
        if (profile.arch === 'arm64') {
          t.equal(r.bootArgs[0], info.kernbase + plan.region.size, 'x0 = KERNBASE + rescue_memsize');
          t.equal((r.sys['sctlr_el1'] ?? 0n) & 1n, 1n, 'entered with the MMU on (identity map), as D47358 jumps');
        }
      }
      t.end();
    });
  }
}

t.test('a foreign kernel: the CPU stops at its entry and the contract holds', { skip }, (t) => {
  for (const name of ['amd64-efi', 'arm64-fdt']) {
    for (const path of ['kexec', 'rescue'] as const) {
      const profile = loadProfile(name);
      const o = execKernel(profile, parseElf(makeRescueKernel(profile.arch)), 'foreign.elf', {
        path,
        observer: probeObserver,
      });
      t.ok(o.jump.reached, `${name} ${path}: reached the entry`);
      t.equal(o.observed, undefined);
      t.same(o.contract, [], `${name} ${path}: no contract violation`);
    }
  }
  t.end();
});

/** A prepared hand-off on a fresh machine; the caller runs and closes it. */
function prepared(
  name: string,
  path: ExecPath,
  kernel?: Uint8Array,
): { m: Machine; tramp: Trampoline; gdt: PhysAddr | undefined; prep: ReturnType<typeof prepareHandOff> } {
  const profile = loadProfile(name);
  const m = Machine.create(profile);
  const prep = prepareHandOff(m, parseElf(kernel ?? makeRescueKernel(profile.arch)), 'k.elf', { path });
  return { m, tramp: prep.tramp, gdt: prep.gdt, prep };
}

t.test('the contract check reports what is wrong', { skip }, (t) => {
  for (const name of ['amd64-efi', 'arm64-fdt']) {
    const { m, tramp, gdt, prep } = prepared(name, 'kexec');
    try {
      t.ok(runJump(m, tramp, gdt === undefined ? {} : { gdt }).reached);
      if (name === 'amd64-efi') m.cpu.setReg('rsp', m.cpu.reg('rsp') + 8n);
      else m.cpu.setReg('x0', 0x1234n);
      const v = checkEntryContract(m, prep.contractInput);
      t.ok(
        v.some((x) => x.item === 'X4'),
        `${name}: the boot argument is reported (${v.map((x) => x.message).join('; ')})`,
      );
    } finally {
      m.close();
    }
  }
  t.end();
});

t.test('a trampoline that writes outside its allowed regions is stopped, naming the address', { skip }, (t) => {
  for (const name of ['amd64-efi', 'arm64-fdt']) {
    const { m, tramp, gdt } = prepared(name, 'kexec');
    try {
      const [first, ...rest] = tramp.writable;
      if (first === undefined) {
        t.fail('no writable range');
        return;
      }
      const r = runJump(m, { ...tramp, writable: rest }, gdt === undefined ? {} : { gdt });
      t.equal(r.stop.kind, 'write-protect', `${name}: ${r.stop.kind}`);
      if (r.stop.kind === 'write-protect') {
        t.ok(
          r.stop.pa >= first.start && r.stop.pa < first.start + first.size,
          `${name}: the store at ${hex(r.stop.pa)} lies in the withheld range`,
        );
      }
    } finally {
      m.close();
    }
  }
  t.end();
});

t.test('broken trampolines end with the matching stop reason inside the limits', { skip }, (t) => {
  const limits = { maxInstructions: 200_000, timeoutMs: 5_000 };
  for (const name of ['amd64-efi', 'arm64-fdt']) {
    // wrong entry: a PC nothing maps
    {
      const { m, tramp, gdt } = prepared(name, 'rescue');
      try {
        const bad = { ...tramp, entry: { ...tramp.entry, pc: 0x7_0000_0000n } };
        const r = runJump(m, bad, { ...limits, ...(gdt === undefined ? {} : { gdt }) });
        t.ok(r.stop.kind === 'unmapped' || r.stop.kind === 'exception', `${name} wrong entry: ${r.stop.kind}`);
        t.notOk(r.reached);
      } finally {
        m.close();
      }
    }
    // endless loop: the code replaced by a branch to itself
    {
      const { m, tramp, gdt } = prepared(name, 'rescue');
      try {
        const loop = name.startsWith('amd64') ? Uint8Array.of(0xeb, 0xfe) : Uint8Array.of(0x00, 0x00, 0x00, 0x14);
        const segs = tramp.segments.map((s) =>
          s.role === 'code' ? { ...s, data: Uint8Array.from([...loop, ...s.data.subarray(loop.length)]) } : s,
        );
        const r = runJump(m, { ...tramp, segments: segs }, { ...limits, ...(gdt === undefined ? {} : { gdt }) });
        t.ok(
          r.stop.kind === 'limit' || r.stop.kind === 'timeout',
          `${name} endless loop: ${r.stop.kind} after ${r.stop.executed}`,
        );
        t.ok(r.stop.executed <= limits.maxInstructions);
      } finally {
        m.close();
      }
    }
  }
  // amd64: an unmapped CR3 (a root page full of zeros) faults on the first fetch after the load
  {
    const { m, tramp, gdt } = prepared('amd64-efi', 'rescue');
    try {
      const bad = { ...tramp, entry: { ...tramp.entry, regs: { ...tramp.entry.regs, rdi: 0x6000_0000n } } };
      const r = runJump(m, bad, { ...limits, ...(gdt === undefined ? {} : { gdt }) });
      t.equal(r.stop.kind, 'exception', 'unmapped CR3');
      if (r.stop.kind === 'exception') {
        t.equal(r.stop.name, '#PF');
        t.equal(r.stop.cr2, r.stop.pc, `CR2 names the faulting fetch (${hex(r.stop.pc)})`);
      }
    } finally {
      m.close();
    }
  }
  // arm64: a TTBR0 whose L0 is empty: the first fetch after the switch aborts
  {
    const { m, tramp } = prepared('arm64-fdt', 'rescue');
    try {
      const bad = { ...tramp, entry: { ...tramp.entry, regs: { ...tramp.entry.regs, x1: 0x6000_0000n } } };
      const r = runJump(m, bad, limits);
      t.notOk(r.reached, `empty TTBR0: ${r.stop.kind}`);
      t.ok(['exception', 'unmapped'].includes(r.stop.kind));
    } finally {
      m.close();
    }
  }
  t.end();
});

t.test('accelerated and exact copies agree on RAM and registers for random segment sets', { skip }, (t) => {
  const cases = Number(process.env['KBOOT_ACCEL_CASES'] ?? 100);
  let seed = 0x5eed;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (const name of ['amd64-efi', 'arm64-fdt']) {
    const profile = loadProfile(name);
    for (let c = 0; c < cases; c++) {
      // a kernel with random text/data/bss sizes gives a random segment set (sizes and count)
      const kernel = makeRescueKernel(profile.arch, {
        text: 0x100 + rnd(0x8000),
        data: 0x10 + rnd(0x4000),
        bss: rnd(0x10000),
      });
      const runs = [true, false].map((exact) => {
        const m = Machine.create(profile, { exact });
        try {
          const prep = prepareHandOff(m, parseElf(kernel), 'k.elf', { path: 'kexec' });
          // protection is tested on its own above; here it would only cost time
          const r = runJump(m, prep.tramp, { protect: false, ...(prep.gdt === undefined ? {} : { gdt: prep.gdt }) });
          const h = createHash('sha256');
          for (const w of prep.tramp.writable) h.update(m.ram.read(w.start, Number(w.size)));
          const regs: readonly RegName[] =
            profile.arch === 'amd64'
              ? ['rsi', 'rdi', 'rcx', 'rsp', 'rip', 'cr3']
              : ['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'pc', 'nzcv'];
          return {
            reached: r.reached,
            hash: h.digest('hex'),
            regs: regs.map((n) => m.cpu.reg(n)),
            executed: r.stop.executed,
          };
        } finally {
          m.close();
        }
      });
      const [exact, fast] = runs;
      if (
        exact === undefined ||
        fast === undefined ||
        !exact.reached ||
        !fast.reached ||
        exact.hash !== fast.hash ||
        exact.regs.join() !== fast.regs.join()
      ) {
        t.fail(
          `${name} case ${c}: exact ${JSON.stringify(exact, (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v))} vs accelerated ${JSON.stringify(fast, (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v))}`,
        );
        break;
      }
    }
    t.pass(`${name}: ${cases} random segment sets agree`);
  }
  t.end();
});
