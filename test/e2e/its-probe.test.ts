// Issue 15 item 3 on the CPU: the arm64 probe kernel built with `--gic` (kernels/probe/arm64-gic.ts)
// reads GICR_CTLR / PROPBASER / PENDBASER through the GICv3's MMIO, follows the hand-off
// (kp_fwhandle → EFI system table → LINUX_EFI_MEMRESERVE chain, or the DTB's /reserved-memory)
// and writes its own verdict. Compared here with kboot's TypeScript check (rescue/its-check.ts
// checkItsReuse, the reference) on arm64-fdt and arm64-acpi, `--its-handoff none` (the panic
// naming PROPBASER's address) and the default (reuse OK); then `kboot exec` prints the probe's
// verdict and exits 1 on the would-be panic.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../cli/io.js';
import { runCli } from '../../cli/run.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import { validateJson } from '../../loader/schema.js';
import { loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { STRATEGY_IDS } from '../../loader/strategy.js';
import { HostSession } from '../../machine/session.js';
import { nativeAvailable } from '../../native/binding.js';
import { probeObserver } from '../../rescue/probe-observer.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const gicr = (p: MachineProfile): bigint => p.gic?.redistributors[0]?.start ?? 0n;
const probeFor = (p: MachineProfile): Uint8Array =>
  buildProbeKernel('arm64', { mode: 'rescue', uartBase: p.uart.base, gicr: gicr(p) });
const PROPBASER: Record<string, string> = { 'arm64-fdt': '0x23ff00000', 'arm64-acpi': '0x97ff00000' };

for (const name of ['arm64-fdt', 'arm64-acpi']) {
  t.test(`${name}: the probe's own GIC verdict matches checkItsReuse`, { skip }, (t) => {
    const profile = loadProfile(name);
    const rescue = probeFor(profile);
    for (const strategy of STRATEGY_IDS) {
      for (const mode of ['none', undefined] as (ItsHandoffMode | undefined)[]) {
        const s = HostSession.boot({ profile, strategy, rescue, ...(mode === undefined ? {} : { itsHandoff: mode }) });
        try {
          s.advanceTo('running');
          if (strategy === 'kexec') t.ok(s.loadCrash(rescue).ok);
          const out = s.panic({ observer: probeObserver });
          const label = `${strategy} ${mode ?? 'default'}`;
          const run = out.observed;
          t.ok(out.rescued && run?.report?.complete === true, `${label}: probe ran`);
          t.equal(run?.itsBy, 'probe', `${label}: the verdict is the probe's own`);
          const gic = run?.report?.gic;
          t.equal(gic?.gicrBase, gicr(profile), `${label}: GICR base`);
          t.equal(gic?.ctlr, 1, `${label}: GICR_CTLR.EnableLPIs read set through MMIO`);
          const own = run?.its;
          const ref = run?.itsKboot;
          t.equal(own?.outcome, ref?.outcome, `${label}: same outcome as checkItsReuse (${ref?.detail ?? ''})`);
          t.equal(own?.panic, ref?.panic, `${label}: same panic`);
          t.equal(own?.address, ref?.address, `${label}: same address`);
          if (mode === 'none') {
            t.equal(gic?.outcome, 'propbaser-not-reserved', label);
            t.equal(own?.panic, `gicv3 PROPBASER needs to reuse ${PROPBASER[name] ?? ''}, but not reserved`, label);
            t.equal(gic?.checked, 0, `${label}: failed at the first table`);
          } else {
            t.equal(gic?.outcome, 'reuse-ok', `${label}: ${own?.detail ?? ''}`);
            t.equal(gic?.checked, profile.cpus + 1, `${label}: PROPBASER and every CPU's PENDBASER`);
            t.same(gic?.excludedBy, [name === 'arm64-fdt' ? 'fdt-reserved-memory' : 'memreserve'], label);
            if (name === 'arm64-acpi') t.equal(gic?.fwHandle, ref?.fwHandle, `${label}: kp_fwhandle`);
          }
        } finally {
          s.close();
        }
      }
    }
    t.end();
  });
}

t.test("CLI: probe-kernel --gic; exec prints the probe's own verdict and exits 1 on the panic", { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-its-probe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const run = async (...argv: string[]): Promise<{ code: number; out: string }> => {
    const io = memoryIo(dir);
    const code = await runCli(argv, io);
    return { code, out: io.stdout() };
  };
  const built = await run('probe-kernel', '--arch', 'arm64', '--gic', '-o', 'fdt.elf');
  t.equal(built.code, 0, 'probe-kernel --gic (the QEMU virt redistributor, as arm64-fdt)');
  const none = await run('exec', '--crash', '-m', 'arm64-fdt', '--its-handoff', 'none', 'fdt.elf');
  t.equal(none.code, 1, 'the would-be panic fails the hand-off');
  t.match(
    none.out,
    /GICv3 ITS \(the probe kernel's own check\): the rescue kernel would panic: "gicv3 PROPBASER needs to reuse 0x23ff00000, but not reserved"/,
  );
  const dflt = await run('exec', '--crash', '-m', 'arm64-fdt', 'fdt.elf');
  t.equal(dflt.code, 0);
  t.match(
    dflt.out,
    /GICv3 ITS \(the probe kernel's own check\): reuse OK: 5 LPI table\(s\) excluded by fdt-reserved-memory/,
  );
  const json = await run('exec', '--crash', '-m', 'arm64-fdt', '--json', 'fdt.elf');
  const parsed = JSON.parse(json.out) as { probe?: { itsBy?: string; report?: { gic?: { outcome?: string } } } };
  t.same(validateJson('exec', parsed), [], 'exec --json: schema-valid with the probe GIC fields');
  t.equal(parsed.probe?.itsBy, 'probe');
  t.equal(parsed.probe?.report?.gic?.outcome, 'reuse-ok');
  t.equal(
    (await run('boot', '-m', 'arm64-fdt', '--strategy', 'kld', '--rescue', 'fdt.elf', '--its-handoff', 'none')).code,
    0,
  );
  const p1 = await run('panic');
  t.equal(p1.code, 1, 'panic: the probe says the rescue kernel would panic');
  t.match(p1.out, /GICv3 ITS \(the probe kernel's own check\): the rescue kernel would panic/);
  const p2 = await run('panic', '--its-handoff', 'fdt', '--json');
  t.equal(p2.code, 0, 'panic --its-handoff fdt: the probe finds its tables reserved');
  t.same(validateJson('panic', JSON.parse(p2.out)), [], 'panic --json: schema-valid');
  t.match(JSON.parse(p2.out), { probe: { itsBy: 'probe', its: { outcome: 'reuse-ok' } } });
  const sp = loadProfile('arm64-server');
  const uart = `0x${sp.uart.base.toString(16)}`;
  const gicrServer = `0x${gicr(sp).toString(16)}`;
  t.equal(
    (await run('probe-kernel', '--arch', 'arm64', '--uart-base', uart, '--gic', gicrServer, '-o', 'server.elf')).code,
    0,
  );
  const server = await run('exec', '--crash', '-m', 'arm64-server', 'server.elf');
  t.equal(server.code, 0, 'arm64-server: 64 CPUs, memreserve by default');
  t.match(server.out, /probe kernel's own check\): reuse OK: 65 LPI table\(s\) excluded by memreserve/);
  const serverNone = await run('exec', '--crash', '-m', 'arm64-server', '--its-handoff', 'none', 'server.elf');
  t.equal(serverNone.code, 1);
  t.match(serverNone.out, /own check\): the rescue kernel would panic: "gicv3 PROPBASER needs to reuse 0xffe000000/);
  const bad = await run('probe-kernel', '--arch', 'amd64', '--gic', '-o', 'x.elf');
  t.equal(bad.code, 1, '--gic is arm64 only');
  t.end();
});

t.test('arm64-acpi: a moved PENDBASER (cpu 2) and LPIs off, probe = checkItsReuse', { skip }, (t) => {
  const profile = loadProfile('arm64-acpi');
  const rescue = probeFor(profile);
  const cases = [
    { name: 'PENDBASER of cpu 2 outside the memreserve ranges', cpu: 2, ctlr: 1n, outcome: 'pendbaser-not-reserved' },
    { name: 'EnableLPIs clear on cpu 0', cpu: 0, ctlr: 0n, outcome: 'lpis-off' },
  ] as const;
  for (const c of cases) {
    const s = HostSession.boot({ profile, strategy: 'kld', rescue });
    try {
      s.advanceTo('running');
      const gic = s.machine.gic;
      if (gic === undefined) throw new Error('arm64-acpi has a GICv3');
      const st = gic.snapshot();
      const moved = 0x97fe1_0000n;
      gic.restore({
        ...st,
        redist: st.redist.map((r, i) =>
          i !== c.cpu
            ? r
            : { ...r, ctlr: c.ctlr, pendbaser: c.ctlr === 0n ? r.pendbaser : (r.pendbaser & 0xffffn) | moved },
        ),
      });
      const run = s.panic({ observer: probeObserver }).observed;
      t.equal(run?.report?.gic?.outcome, c.outcome, c.name);
      t.equal(run?.its?.outcome, run?.itsKboot?.outcome, `${c.name}: same outcome as checkItsReuse`);
      t.equal(run?.its?.panic, run?.itsKboot?.panic, `${c.name}: same panic`);
      t.equal(run?.its?.address, run?.itsKboot?.address, `${c.name}: same address`);
      if (c.outcome === 'pendbaser-not-reserved') {
        t.equal(run?.its?.panic, `gicv3 PENDBASER on cpu 2 needs to reuse 0x0x97fe10000, but not reserved`);
        t.equal(run?.report?.gic?.checked, 3, 'PROPBASER, cpu 0 and cpu 1 passed first');
      }
    } finally {
      s.close();
    }
  }
  t.end();
});
