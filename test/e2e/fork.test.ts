// HostSession.fork (machine/fork.ts, native/snapshot.cc copyGuestRam): a fork's RAM is the
// host's byte for byte, the two are independent afterwards, and a scenario run in a fork gives
// what the same scenario gives in a session booted for it (kboot compare relies on it). Also:
// the host's boot loader and `kboot exec` stage through the one kexec-reboot staging, and the
// machine hands an entered kernel to the caller's observer (machine/observer.ts).
import t from 'tap';
import { createHash } from 'node:crypto';
import { kva, phys, rangeEnd, size, SZ_4K, type PhysRange } from '../../loader/addr.js';
import { parseElf } from '../../loader/elf/reader.js';
import { planKexecBoot } from '../../loader/plan/kexec-plan.js';
import { loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { subtract } from '../../loader/plan/ranges.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { execKernel, prepareHandOff } from '../../machine/exec.js';
import { kexecRebootFromHost, kexecRebootFromPlan, planKexecReboot } from '../../machine/kexec-reboot.js';
import { Machine } from '../../machine/machine.js';
import { NativeRam } from '../../machine/native-ram.js';
import type { EntryObserver } from '../../machine/observer.js';
import { HostSession } from '../../machine/session.js';
import { nativeAvailable } from '../../native/binding.js';
import { probeObserver } from '../../rescue/probe-observer.js';
import { throwsCode } from '../helpers/errors.js';
import { makeRescueKernel } from '../helpers/kernels.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const rescueFor = (p: MachineProfile): Uint8Array =>
  buildProbeKernel(p.arch, { mode: 'rescue', ...(p.uart.kind === 'pl011' ? { uartBase: p.uart.base } : {}) });

/**
 * SHA-256 of the host's own memory: its kernel range (but its page tables, where the emulator
 * sets x86 accessed bits as its TLB walks them: machine/fork.ts), msgbuf, bitmap, allocated
 * pages, reservation.
 */
function hostDigest(s: HostSession): string {
  const ranges: PhysRange[] = [
    ...subtract([s.profile.hostKernel.range], [s.model.tables.pages]),
    s.model.msgbuf.region,
    { start: s.model.bitmap.pa, size: size(s.model.bitmap.bytes) },
    ...s.model.allocated.map((pa) => ({ start: pa, size: SZ_4K })),
    s.expected.region,
  ];
  const h = createHash('sha256');
  for (const r of ranges) h.update(s.machine.ram.sha256(r.start, r.size));
  return h.digest('hex');
}

for (const name of ['amd64-efi', 'arm64-fdt']) {
  t.test(`${name}: a fork is a copy of the host, independent afterwards`, { skip }, (t) => {
    const profile = loadProfile(name);
    const rescue = rescueFor(profile);
    const host = HostSession.boot({ profile, strategy: 'kld', rescue });
    try {
      host.advanceTo('drivers');
      const before = hostDigest(host);
      const fork = host.fork();
      try {
        t.equal(fork.phase, 'drivers');
        t.equal(fork.armed, host.armed, 'the armed kernel is the host’s');
        t.equal(hostDigest(fork), before, 'the same bytes');
        t.ok(fork.machine.ram.residentBytes() <= host.machine.ram.residentBytes(), 'only touched pages copied');
        const out = fork.panic({ observer: probeObserver });
        t.ok(out.rescued, 'the fork panics and is rescued');
        t.equal(out.observed?.report?.complete, true);
        t.not(hostDigest(fork), before, 'the panic wrote the fork’s memory (dump params)');
      } finally {
        fork.close();
      }
      t.equal(hostDigest(host), before, 'the host is untouched by its fork');
      t.equal(host.lastPanic, undefined);
      host.advanceTo('running');
      t.ok(host.panic().rescued, 'the host goes on and panics on its own');
    } finally {
      host.close();
    }
    t.end();
  });

  t.test(`${name}: a scenario in a fork gives what a session booted for it gives`, { skip }, (t) => {
    const profile = loadProfile(name);
    const rescue = rescueFor(profile);
    const trunk = HostSession.boot({ profile, strategy: 'kexec', rescue });
    try {
      const early = trunk.fork(); // before the loader ran: the fork enters the host itself
      try {
        early.advanceTo('init');
        t.ok(
          early.hostEntry !== undefined && trunk.hostEntry === undefined,
          'the fork entered the host, not the trunk',
        );
        t.equal(trunk.phase, 'loader');
      } finally {
        early.close();
      }
      trunk.advanceTo('init');
      const fresh = HostSession.boot({ profile, strategy: 'kexec', rescue });
      const fork = trunk.fork();
      try {
        fresh.advanceTo('init');
        const outcomes = [fresh, fork].map((s) => {
          t.ok(s.loadCrash(rescue).ok);
          const sha = s.reservationSha256();
          const out = s.panic({ observer: probeObserver });
          return {
            sha,
            digest: hostDigest(s),
            rescued: out.rescued,
            executed: out.jump?.stop.executed,
            report: out.observed?.report?.checksum,
            console: out.console,
            log: s.log,
          };
        });
        t.same(outcomes[1], outcomes[0], 'reservation, memory, jump, probe report, console and log agree');
      } finally {
        fork.close();
        fresh.close();
      }
    } finally {
      trunk.close();
    }
    t.end();
  });

  t.test(`${name}: boot and exec stage through the one kexec-reboot staging`, { skip }, (t) => {
    const profile = loadProfile(name);
    const rescue = rescueFor(profile);
    const s = HostSession.boot({ profile, strategy: 'embed', rescue });
    try {
      s.advanceTo('kernel-entry');
      const staged = s.hostEntry;
      t.same(staged, planKexecReboot(kexecRebootFromHost(profile, s.model, [s.expected.region])), 'boot');
      for (const b of staged?.buffers ?? []) {
        const inKernel = b.phys >= profile.hostKernel.range.start && b.phys < rangeEnd(profile.hostKernel.range);
        t.notOk(inKernel, `${b.label}: staged outside the kernel's range`);
      }
    } finally {
      s.close();
    }
    const kernel = parseElf(makeRescueKernel(profile.arch));
    const m = Machine.create(profile);
    try {
      const prep = prepareHandOff(m, kernel, 'k.elf', { path: 'kexec' });
      const plan = planKexecReboot(
        kexecRebootFromPlan(profile, planKexecBoot({ kernel, kernelName: 'k.elf', profile })),
      );
      t.same(prep.tramp, plan.tramp, 'exec: the same trampoline');
      t.equal(prep.gdt, plan.gdt, 'exec: the same GDT page');
      for (const b of plan.buffers) t.ok(m.ram.equals(b.phys, b.data), `exec: ${b.label} staged`);
    } finally {
      m.close();
    }
    t.end();
  });
}

t.test('the machine hands an entered kernel to the caller’s observer', { skip }, (t) => {
  const profile = loadProfile('amd64-efi');
  const bytes = buildProbeKernel('amd64', { mode: 'rescue' });
  const image = parseElf(bytes);
  const bare = execKernel(profile, image, 'probe.elf', { path: 'rescue' });
  t.equal(bare.observed, undefined, 'no observer: nothing read after the entry');
  t.same(bare.contract, [], 'the entry contract is checked instead');
  const seen: string[] = [];
  const counting: EntryObserver<{ readonly pa: bigint; readonly limit: number }> = {
    name: 'counting',
    recognises: (img) => {
      seen.push('recognises');
      return img.entry === image.entry;
    },
    observe: (entered) => {
      seen.push('observe');
      return { pa: entered.toPhys(image.entry ?? kva(0)), limit: entered.limits.maxInstructions };
    },
    describe: (r) => `entry at ${r.pa.toString(16)}`,
  };
  const o = execKernel(profile, image, 'probe.elf', { path: 'rescue', observer: counting, maxInstructions: 1234 });
  t.same(seen, ['recognises', 'observe']);
  t.equal(o.observed?.limit, 1234, 'the run limits reach the observer');
  t.equal(o.contract, undefined, 'the observer read it: no contract check');
  t.match(o.trace.at(-1), { step: 'counting', detail: /^entry at / });
  const foreign = execKernel(profile, parseElf(makeRescueKernel('amd64')), 'k.elf', {
    path: 'rescue',
    observer: probeObserver,
  });
  t.equal(foreign.observed, undefined, 'the probe observer does not read a foreign kernel');
  t.same(foreign.contract, []);
  t.end();
});

t.test('copyGuestRam refuses RAMs that do not match, closed RAM and itself', { skip }, (t) => {
  const regions = [{ base: phys(0), size: size(0x10_0000) }];
  const a = new NativeRam(regions);
  const b = new NativeRam(regions);
  const c = new NativeRam([{ base: phys(0), size: size(0x20_0000) }]);
  try {
    a.write(phys(0x3000), Uint8Array.of(1, 2, 3));
    t.equal(b.copyFrom(a), SZ_4K, 'one touched page');
    t.same([...b.read(phys(0x3000), 3)], [1, 2, 3]);
    throwsCode(t, () => c.copyFrom(a), 'GUEST_REGIONS');
    throwsCode(t, () => a.copyFrom(a), 'GUEST_RANGE');
    b.close();
    throwsCode(t, () => b.copyFrom(a), 'GUEST_CLOSED');
  } finally {
    a.close();
    c.close();
  }
  t.end();
});
