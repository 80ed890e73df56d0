// Issue 15 acceptance on the emulated machine: on arm64-fdt and arm64-acpi, for each strategy,
// the host's GICv3 is live at the panic (LPIs enabled by the host model's gicv3_its bring-up);
// with `--its-handoff none` (D47358's bytes) the rescue kernel's gicv3_its check
// (rescue/its-check.ts, run after the probe kernel) names the panic FreeBSD would take and
// PROPBASER's address; with the default (fdt / memreserve) it reports reuse OK; the LPI
// tables' SHA-256 is the same before and after the hand-off (no ITS writes without the fault).
// Then the CLI: `kboot exec --crash` and `kboot panic` print the outcome and exit 1 on a
// would-be panic (arm64-server too: 65 LPI tables), and `kboot plan` shows the descriptor
// instead of ITS_TABLES_LIVE.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../cli/io.js';
import { runCli } from '../../cli/run.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import { loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { STRATEGY_IDS } from '../../loader/strategy.js';
import { HostSession } from '../../machine/session.js';
import { nativeAvailable } from '../../native/binding.js';
import { probeObserver } from '../../rescue/probe-observer.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const probeFor = (p: MachineProfile): Uint8Array =>
  buildProbeKernel('arm64', { mode: 'rescue', uartBase: p.uart.base });
const PROPBASER: Record<string, string> = { 'arm64-fdt': '0x23ff00000', 'arm64-acpi': '0x97ff00000' };

for (const name of ['arm64-fdt', 'arm64-acpi']) {
  t.test(`${name}: every strategy, none panics at PROPBASER, the default reuses`, { skip }, (t) => {
    const profile = loadProfile(name);
    const rescue = probeFor(profile);
    for (const strategy of STRATEGY_IDS) {
      for (const mode of ['none', undefined] as (ItsHandoffMode | undefined)[]) {
        const s = HostSession.boot({ profile, strategy, rescue, ...(mode === undefined ? {} : { itsHandoff: mode }) });
        try {
          s.advanceTo('running');
          if (strategy === 'kexec') t.ok(s.loadCrash(rescue).ok);
          const before = s.deviceTablesSha256();
          const out = s.panic({ observer: probeObserver });
          const label = `${strategy} ${mode ?? 'default'}`;
          t.ok(out.rescued && out.observed?.report?.complete === true, `${label}: probe ran`);
          const its = out.observed?.its;
          if (mode === 'none') {
            t.equal(its?.outcome, 'panic', label);
            t.equal(its?.panic, `gicv3 PROPBASER needs to reuse ${PROPBASER[name] ?? ''}, but not reserved`, label);
          } else {
            t.equal(its?.outcome, 'reuse-ok', `${label}: ${its?.detail ?? ''}`);
            t.same(its?.excludedBy.includes(name === 'arm64-fdt' ? 'fdt-reserved-memory' : 'memreserve'), true);
          }
          t.equal(s.deviceTablesSha256(), before, `${label}: LPI/ITS tables unchanged across the hand-off`);
        } finally {
          s.close();
        }
      }
    }
    t.end();
  });
}

t.test(
  'CLI: exec and panic print the outcome and exit 1 on a would-be panic; plan shows the descriptor',
  { skip },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kboot-its-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'fdt.elf'), probeFor(loadProfile('arm64-fdt')));
    const run = async (...argv: string[]): Promise<{ code: number; out: string }> => {
      const io = memoryIo(dir);
      const code = await runCli(argv, io);
      return { code, out: io.stdout() };
    };
    const none = await run('exec', '--crash', '-m', 'arm64-fdt', '--its-handoff', 'none', 'fdt.elf');
    t.equal(none.code, 1);
    t.match(
      none.out,
      /GICv3 ITS: the rescue kernel would panic: "gicv3 PROPBASER needs to reuse 0x23ff00000, but not reserved"/,
    );
    const dflt = await run('exec', '--crash', '-m', 'arm64-fdt', 'fdt.elf');
    t.equal(dflt.code, 0);
    t.match(dflt.out, /GICv3 ITS: reuse OK: 5 LPI table\(s\) excluded by fdt-reserved-memory/);
    t.equal(
      (await run('boot', '-m', 'arm64-fdt', '--strategy', 'kld', '--rescue', 'fdt.elf', '--its-handoff', 'none')).code,
      0,
    );
    const p1 = await run('panic');
    t.equal(p1.code, 1, 'panic: the rescue kernel would panic');
    t.match(p1.out, /GICv3 ITS: the rescue kernel would panic/);
    const p2 = await run('panic', '--its-handoff', 'fdt');
    t.equal(p2.code, 0, 'panic --its-handoff fdt re-arms with the descriptors');
    writeFileSync(join(dir, 'server.elf'), probeFor(loadProfile('arm64-server')));
    const server = await run('exec', '--crash', '-m', 'arm64-server', 'server.elf');
    t.equal(server.code, 0, 'arm64-server: 64 CPUs, memreserve by default');
    t.match(server.out, /GICv3 ITS: reuse OK: 65 LPI table\(s\) excluded by efi-runtime and memreserve/);
    const serverNone = await run('exec', '--crash', '-m', 'arm64-server', '--its-handoff', 'none', 'server.elf');
    t.equal(serverNone.code, 1);
    t.match(serverNone.out, /"gicv3 PROPBASER needs to reuse 0xffe000000, but not reserved"/);
    const plan = await run('plan', '--crash', '-m', 'arm64-fdt', 'fdt.elf');
    t.notMatch(plan.out, /ITS_TABLES_LIVE/);
    t.match(plan.out, /GICv3 ITS hand-off\s+fdt/);
    t.match(
      (await run('plan', '--crash', '-m', 'arm64-fdt', '--its-handoff', 'none', 'fdt.elf')).out,
      /ITS_TABLES_LIVE/,
    );
    t.end();
  },
);
