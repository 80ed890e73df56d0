// machine/kexec-reboot.ts: the one kexec-reboot staging of `kboot boot` (the host model's
// loader image) and `kboot exec` (a planKexecBoot plan). Pure: no machine runs. The layout is
// checked against the trampoline's own facts (loader/trampoline kexecAreaBytes, copyUnit), and
// the same loader image staged through either path gives the same bytes, GDT page included
// (before, boot put the GDT after the trampoline area and exec inside its last page).
import t, { type Test } from 'tap';
import { alignUp, overlaps, phys, rangeEnd, size, SZ_2M, SZ_4G, SZ_4K, type PhysRange } from '../../../loader/addr.js';
import { parseElf } from '../../../loader/elf/reader.js';
import { metadataToPhys, planKexecBoot } from '../../../loader/plan/kexec-plan.js';
import { buildMemoryMap } from '../../../loader/plan/memory-map.js';
import { loadProfile, type MachineProfile } from '../../../loader/plan/profile.js';
import { planRescue } from '../../../loader/plan/rescue-plan.js';
import { trampolineOps } from '../../../loader/trampoline/index.js';
import { buildHostModel } from '../../../machine/host/model.js';
import {
  kexecRebootFromHost,
  kexecRebootFromPlan,
  planKexecReboot,
  type HostLoaderImage,
  type KexecRebootStaging,
} from '../../../machine/kexec-reboot.js';
import { makeRescueKernel } from '../../helpers/kernels.js';

const within = (inner: PhysRange, outer: PhysRange): boolean =>
  inner.start >= outer.start && rangeEnd(inner) <= rangeEnd(outer);

function checkLayout(
  t: Test,
  profile: MachineProfile,
  name: string,
  st: KexecRebootStaging,
  avoid: readonly PhysRange[],
): void {
  const ops = trampolineOps(profile.arch);
  t.ok(rangeEnd(st.area) <= SZ_4G, `${name}: below 4 GiB`);
  t.equal(st.area.start % SZ_2M, 0n, `${name}: 2 MiB aligned`);
  t.equal(st.tramp.code.phys, st.area.start, `${name}: the trampoline area opens the run`);
  t.equal(
    st.gdt,
    st.area.start + alignUp(size(ops.kexecAreaBytes), SZ_4K),
    `${name}: the GDT page follows the trampoline area`,
  );
  let next = st.gdt + SZ_4K;
  for (const c of st.copies) {
    t.equal(c.src, next, `${name}: ${c.label} staged in order after the GDT page`);
    t.equal(c.len % SZ_4K, 0n);
    t.equal(c.len % BigInt(ops.copyUnit), 0n, `${name}: ${c.label} a multiple of the copy unit`);
    next += c.len;
    const dst = { start: c.dst, size: c.len };
    t.notOk(overlaps({ start: c.src, size: c.len }, dst), `${name}: ${c.label} source clear of its destination`);
    t.notOk(overlaps(st.area, dst), `${name}: the run is clear of ${c.label}'s destination`);
  }
  t.ok(next <= rangeEnd(st.area), `${name}: every buffer inside the run`);
  for (const a of avoid) t.notOk(overlaps(st.area, a), `${name}: clear of ${a.start.toString(16)}`);
  const free = buildMemoryMap(profile).free;
  t.ok(
    free.some((f) => within(st.area, f)),
    `${name}: in free RAM`,
  );
  t.same(
    st.buffers.map((b) => b.phys),
    st.copies.map((c) => c.src),
  );
}

for (const name of ['amd64-efi', 'arm64-fdt']) {
  const profile = loadProfile(name);
  const kernel = parseElf(makeRescueKernel(profile.arch));

  t.test(`${name}: kboot exec's staging`, (t) => {
    const plan = planKexecBoot({ kernel, kernelName: 'k.elf', profile });
    const st = planKexecReboot(kexecRebootFromPlan(profile, plan));
    checkLayout(t, profile, 'exec', st, [plan.staging]);
    t.same(
      st.copies.map((c) => [c.dst, c.len]),
      plan.segments.map((s) => [s.phys, s.memSize]),
      'one copy per segment, to its destination',
    );
    t.match(st.contract, { kind: 'kexec-reboot', entryVa: plan.kernelEntryVa, modulep: plan.modulep });
    t.end();
  });

  t.test(`${name}: kboot boot's staging of the host model`, (t) => {
    const expected = planRescue({ kernel, kernelName: 'r.elf', profile });
    const model = buildHostModel(profile, { seed: 1, noDump: [expected.region] });
    const st = planKexecReboot(kexecRebootFromHost(profile, model, [expected.region]));
    checkLayout(t, profile, 'boot', st, [expected.region]);
    t.equal(st.copies[0]?.label, 'host kernel image');
    t.same(
      st.copies.slice(1).map((c) => c.dst),
      model.handoff.placements.map((p) => p.phys),
      'then the hand-off, each to its place',
    );
    t.equal(st.contract.entryVa, model.entry);
    t.end();
  });

  t.test(`${name}: the same loader image stages identical bytes through both paths`, (t) => {
    const plan = planKexecBoot({ kernel, kernelName: 'k.elf', profile });
    // the plan's segments as the host model carries a loader image: the kernel, then the hand-off
    const placements = plan.segments.map((s) => ({ label: s.label, phys: s.phys, data: s.data }));
    const [image, ...handoff] = placements;
    const modinfo = handoff[handoff.length - 1];
    const kenv = handoff.find((p) => p.label === 'kenv');
    const fdt = plan.segments.find((s) => s.kind === 'firmware-map');
    if (image === undefined || modinfo === undefined || kenv === undefined) {
      t.fail('unexpected plan shape');
      t.end();
      return;
    }
    const asHost: HostLoaderImage = {
      loaderPlacements: [image, ...handoff],
      handoff: {
        placements: handoff,
        envPa: kenv.phys,
        dtbPa: fdt?.phys,
        modulepPa: plan.modulepPa,
        kernendPa: phys(metadataToPhys(profile.arch, plan.staging.start, plan.kernend)),
      },
      load: image.phys,
      kernbasePa: plan.staging.start,
      entry: plan.kernelEntryVa,
      relocation: plan.relocation,
    };
    const viaExec = planKexecReboot(kexecRebootFromPlan(profile, plan));
    const viaBoot = planKexecReboot(kexecRebootFromHost(profile, asHost, [plan.staging]));
    t.same(viaBoot.area, viaExec.area, 'the same run');
    t.equal(viaBoot.gdt, viaExec.gdt, 'the same GDT page');
    t.same(
      viaBoot.copies.map((c) => [c.src, c.dst, c.len]),
      viaExec.copies.map((c) => [c.src, c.dst, c.len]),
      'the same copies',
    );
    t.same(
      viaBoot.buffers.map((b) => [b.phys, Buffer.from(b.data)]),
      viaExec.buffers.map((b) => [b.phys, Buffer.from(b.data)]),
      'the same staging buffers, byte for byte',
    );
    t.same(
      viaBoot.tramp.segments.map((s) => [s.phys, Buffer.from(s.data)]),
      viaExec.tramp.segments.map((s) => [s.phys, Buffer.from(s.data)]),
      'the same trampoline bytes',
    );
    t.same(viaBoot.tramp.entry, viaExec.tramp.entry, 'the same entry state');
    t.same(viaBoot.contract, viaExec.contract, 'the same entry contract');
    t.end();
  });
}
