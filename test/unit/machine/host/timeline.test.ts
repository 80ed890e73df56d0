// machine/host/timeline.ts: phase order, userspace flag, SI_SUB_VM_CONF hooks, HOST_BAD_PHASE.
import t from 'tap';
import { HostCode } from '../../../../machine/host/errors.js';
import { HOST_PHASES, HostTimeline, type HostPhase } from '../../../../machine/host/timeline.js';
import { throwsCode } from '../../../helpers/errors.js';

t.test('phases in order, hooks at SI_SUB_VM_CONF', (t) => {
  const tl = new HostTimeline();
  t.equal(tl.phase, 'loader');
  t.notOk(tl.userspace);
  const ran: string[] = [];
  tl.on('SI_SUB_VM_CONF', 'rescue_kernel_init', () => ran.push(`init@${tl.phase}`));
  tl.on('rc', 'kexec_load', () => ran.push(`load@${tl.phase}`));
  const steps = tl.advanceTo('mountroot');
  t.same(
    steps.map((s) => s.phase),
    ['kernel-entry', 'SI_SUB_VM', 'SI_SUB_VM_CONF', 'drivers', 'mountroot'],
  );
  t.same(ran, ['init@SI_SUB_VM_CONF']);
  t.notOk(tl.userspace, 'no userspace before init');
  tl.advanceTo('init');
  t.ok(tl.userspace, 'userspace from init on');
  tl.advanceTo('running');
  t.same(ran, ['init@SI_SUB_VM_CONF', 'load@rc']);
  t.equal(tl.steps.length, HOST_PHASES.length);
  t.same(tl.advanceTo('running'), [], 'advancing to the current phase is a no-op');
  t.end();
});

t.test('HOST_BAD_PHASE', (t) => {
  const tl = new HostTimeline();
  tl.advanceTo('drivers');
  throwsCode(t, () => tl.advanceTo('SI_SUB_VM'), HostCode.BadPhase, 'backwards');
  throwsCode(t, () => tl.advanceTo('bogus' as HostPhase), HostCode.BadPhase, 'unknown phase');
  throwsCode(t, () => tl.on('SI_SUB_VM_CONF', 'late', () => undefined), HostCode.BadPhase, 'hook for a past phase');
  t.end();
});
