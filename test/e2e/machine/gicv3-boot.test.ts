// The host kernel model brings the GICv3 up at boot as FreeBSD's gicv3_its attach does
// (machine/host/gic-boot.ts): after boot the registers name the profile's LPI/ITS tables,
// EnableLPIs is set on every CPU, a fork of the machine keeps that state, and the ITS fault
// device writes the pages the registers name.
import t from 'tap';
import { loadProfile } from '../../../loader/plan/profile.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { nativeAvailable } from '../../../native/binding.js';
import { HostSession } from '../../../machine/session.js';
import { forkMachine } from '../../../machine/fork.js';
import { faultDevices } from '../../../rescue/crash-dump.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';

t.test('arm64-fdt boot: GICR_PROPBASER/PENDBASER and GITS_BASER/CBASER name the profile tables', { skip }, (t) => {
  const profile = loadProfile('arm64-fdt');
  const rescue = buildProbeKernel('arm64', { mode: 'rescue', uartBase: profile.uart.base });
  const s = HostSession.boot({ profile, strategy: 'embed', rescue });
  s.advanceTo('running');
  const gic = s.machine.gic;
  t.ok(gic !== undefined, 'the machine has a GICv3');
  if (gic === undefined) {
    t.end();
    return;
  }
  const tables = profile.gic?.tables ?? [];
  const want = (kind: string): bigint[] => tables.filter((x) => x.kind === kind).map((x) => x.range.start);
  const live = gic.liveLpiTables();
  t.same(
    live.filter((l) => l.kind === 'lpi-conf').map((l) => l.pa),
    want('lpi-conf'),
  );
  t.same(
    live.filter((l) => l.kind === 'lpi-pend').map((l) => l.pa),
    want('lpi-pend'),
    'one PENDBASER per CPU',
  );
  t.same(
    gic.liveItsTables().map((x) => [x.kind, x.pa]),
    [
      ['device', want('its-device')[0]],
      ['collection', want('its-collection')[0]],
      ['cmdq', want('its-cmdq')[0]],
    ],
  );
  t.equal(gic.events.length, 0, 'bring-up touched only implemented registers');
  const fork = forkMachine(s.machine);
  t.same(fork.gic?.liveLpiTables(), live, 'a fork keeps the live LPI state');
  fork.close();
  const its = faultDevices(s, ['its'])[0];
  for (let i = 0; i < 64; i++) its?.tick();
  const owned = new Set([
    ...live.filter((l) => l.kind === 'lpi-pend').map((l) => l.pa),
    ...gic.liveItsTables().map((x) => x.pa),
  ]);
  t.ok(
    (its?.written.length ?? 0) > 0 && (its?.written ?? []).every((p) => owned.has(p)),
    'the ITS writes only what its registers own',
  );
  s.close();
  t.end();
});
