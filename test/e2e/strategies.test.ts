// The three ways to arm the rescue kernel, end to end on the emulated machine: boot the host,
// arm (embed / KLD preload at SI_SUB_VM_CONF, kexec_load from userspace), panic, and the
// probe rescue kernel reports what it found. The reservation is byte-identical across the
// strategies; a panic at each phase is rescued exactly when the strategy has armed; the GICv3
// LPI/ITS tables survive the hand-off unchanged.
import t from 'tap';
import { phys } from '../../loader/addr.js';
import { archInfo } from '../../loader/arch/index.js';
import { decodeRescueParams } from '../../loader/handoff/params.js';
import { loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { dumpParams } from '../../machine/host/model.js';
import { HOST_PHASES, type HostPhase } from '../../machine/host/timeline.js';
import { nativeAvailable } from '../../native/binding.js';
import { HostSession } from '../../machine/session.js';
import { STRATEGY_IDS, type StrategyId } from '../../loader/strategy.js';
import { probeObserver } from '../../rescue/probe-observer.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const rescueFor = (p: MachineProfile): Uint8Array =>
  buildProbeKernel(p.arch, { mode: 'rescue', ...(p.uart.kind === 'pl011' ? { uartBase: p.uart.base } : {}) });

/** Boots, arms the way the strategy does, and returns the session (the caller closes it). */
function armed(profile: MachineProfile, strategy: StrategyId, rescue: Uint8Array): HostSession {
  const s = HostSession.boot({ profile, strategy, rescue });
  s.advanceTo('running');
  if (strategy === 'kexec') {
    const out = s.loadCrash(rescue);
    if (!out.ok) throw out.error;
  }
  return s;
}

for (const name of ['amd64-efi', 'arm64-fdt']) {
  t.test(`${name}: each strategy arms the same reservation and the probe rescue kernel runs`, { skip }, (t) => {
    const profile = loadProfile(name);
    const rescue = rescueFor(profile);
    const shas: string[] = [];
    for (const strategy of STRATEGY_IDS) {
      const s = armed(profile, strategy, rescue);
      try {
        t.equal(
          s.armed?.phase,
          strategy === 'kexec' ? 'running' : 'SI_SUB_VM_CONF',
          `${strategy}: armed when the strategy arms`,
        );
        shas.push(s.reservationSha256());
        const its = s.deviceTablesSha256();
        const out = s.panic({ observer: probeObserver });
        t.ok(out.rescued, `${strategy}: the jump reached the rescue kernel`);
        const r = out.observed?.report;
        t.ok(r?.complete, `${strategy}: the probe report is complete`);
        t.match(out.console.join('\n'), /kboot probe: ok arch=\w+ mode=rescue/);
        // the params the probe read are the ones the host filled at panic (rescue_dump_params_init)
        const d = dumpParams(s.model);
        const params = decodeRescueParams(
          profile.arch,
          Buffer.concat([r?.handoff ?? new Uint8Array(0), Buffer.alloc(256)]),
        );
        t.equal(params['dpMsgbufpa'], d.dpMsgbufpa, `${strategy}: dp_msgbufpa`);
        t.equal(params['dpVmdumppa'], d.dpVmdumppa, `${strategy}: dp_vmdumppa`);
        t.equal(params['dpDumpavailpa'], d.dpDumpavailpa, `${strategy}: dp_dumpavailpa`);
        t.equal(params['dpKernstart'], archInfo(profile.arch).vmMinKernelAddress, `${strategy}: dp_kernstart`);
        // the params, kenv and firmware map the rescue kernel read are the reservation's bytes
        if (r !== undefined) {
          const region = s.expected.region;
          t.ok(s.machine.ram.equals(region.start, r.params), `${strategy}: the whole params as the probe read them`);
          t.ok(s.machine.ram.equals(phys(r.kenvAddr), r.kenv), `${strategy}: the kenv as the probe read it`);
          t.match(
            Buffer.from(r.kenv).toString('latin1'),
            /^kern\.smp\.disabled=1\0/,
            `${strategy}: the rescue kenv order`,
          );
          t.ok(
            r.firmware.addr >= region.start && r.firmware.addr < region.start + 0x20_0000n,
            `${strategy}: the firmware map copy lies in the first 2 MiB`,
          );
          t.ok(
            s.machine.ram.equals(phys(r.firmware.addr), r.firmware.bytes),
            `${strategy}: the ${r.firmware.kind} map as the probe read it`,
          );
        }
        t.equal(s.deviceTablesSha256(), its, `${strategy}: device tables unchanged by the hand-off`);
      } finally {
        s.close();
      }
    }
    t.equal(new Set(shas).size, 1, 'the reservation is byte-identical across embed, KLD and kexec');
    t.end();
  });
}

t.test('a panic at each phase is rescued exactly when the strategy has armed', { skip }, (t) => {
  const profile = loadProfile('amd64-efi');
  const rescue = rescueFor(profile);
  const armedFrom: Record<StrategyId, HostPhase> = { embed: 'SI_SUB_VM_CONF', kld: 'SI_SUB_VM_CONF', kexec: 'init' };
  for (const strategy of STRATEGY_IDS) {
    for (const phase of HOST_PHASES) {
      const s = HostSession.boot({ profile, strategy, rescue });
      try {
        s.advanceTo(phase);
        // a kexec user loads the crash kernel as soon as it can: the call fails before userspace
        if (strategy === 'kexec') s.loadCrash(rescue);
        const out = s.panic({ protect: false });
        const expected = HOST_PHASES.indexOf(phase) >= HOST_PHASES.indexOf(armedFrom[strategy]);
        t.equal(
          out.rescued,
          expected,
          `${strategy} panic at ${phase}: ${expected ? 'rescued' : 'not armed'}${out.reason === undefined ? '' : ` (${out.reason})`}`,
        );
      } finally {
        s.close();
      }
    }
  }
  t.end();
});

t.test('kexec: a crash load before userspace fails, and a failed reload leaves no crash kernel', { skip }, (t) => {
  const profile = loadProfile('amd64-efi');
  const rescue = rescueFor(profile);
  const s = HostSession.boot({ profile, strategy: 'kexec', rescue });
  try {
    s.advanceTo('drivers');
    const early = s.loadCrash(rescue);
    t.notOk(early.ok, 'no kexec_load before userspace');
    if (!early.ok) t.equal(early.error.code, 'KEXEC_NO_USERSPACE');
    s.advanceTo('running');
    t.ok(s.loadCrash(rescue).ok, 'loaded from userspace');
    t.ok(s.armed !== undefined);
    // a reload with a kernel too large for the boot-time reservation is refused, and leaves none
    const big = buildProbeKernel(profile.arch, { mode: 'rescue' });
    const bigger = Buffer.concat([big, Buffer.alloc(8 << 20)]);
    const reload = s.loadCrash(bigger);
    t.notOk(reload.ok, 'the oversized reload is refused');
    t.equal(s.armed, undefined, 'no crash kernel loaded after a failed reload');
    t.equal(s.panic({ protect: false }).rescued, false);
    t.ok(s.loadCrash(rescue).ok, 'loads again');
    t.ok(s.unloadCrash().ok, 'unload with zero segments');
    t.equal(s.armed, undefined);
  } finally {
    s.close();
  }
  t.end();
});
