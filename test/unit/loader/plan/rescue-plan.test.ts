// planRescue on every built-in machine: the reservation obeys D47358's rules, and the
// hand-off bytes decode (with kboot's decoders and, for the DTB, dtc) to what the rules say.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SZ_1G, SZ_2M, type KernelVa, type PhysAddr, type Size } from '../../../../loader/addr.js';
import { PF } from '../../../../loader/elf/layout.js';
import { writeElf } from '../../../../loader/elf/writer.js';
import { parseElf } from '../../../../loader/elf/reader.js';
import { PlanCode } from '../../../../loader/errors.js';
import { decodeEfiMap, efiPhysmemType } from '../../../../loader/handoff/efimap.js';
import { findNode, getProp, parseFdt, propReg } from '../../../../loader/handoff/fdt/index.js';
import { decodeKenv, rescueKenv } from '../../../../loader/handoff/kenv.js';
import { decodeRescueParams } from '../../../../loader/handoff/params.js';
import { decodeSmap } from '../../../../loader/handoff/smap.js';
import { validatePlan, type LoadPlan } from '../../../../loader/plan/load-plan.js';
import { loadProfile, parseProfile, type MachineProfile } from '../../../../loader/plan/profile.js';
import { planRescue } from '../../../../loader/plan/rescue-plan.js';
import { buildRescueArea } from '../../../../loader/plan/rescue-area.js';
import { readFileSync } from 'node:fs';
import { packagePath } from '../../../../loader/paths.js';
import { makeRescueKernel } from '../../../helpers/kernels.js';
import { throwsCode } from '../../../helpers/errors.js';
import { requireTool } from '../../../helpers/tools.js';

const MiB = 1n << 20n;

/** Bytes of the reservation as the plan fills it (data, zero tail). */
function reservationBytes(plan: LoadPlan, upTo: number): Uint8Array {
  const out = new Uint8Array(upTo);
  for (const s of plan.segments) {
    const off = Number(s.phys - plan.region.start);
    if (off < upTo) out.set(s.data.subarray(0, Math.max(0, Math.min(s.data.length, upTo - off))), off);
  }
  return out;
}

for (const name of ['amd64-efi', 'amd64-bios', 'arm64-fdt', 'arm64-acpi']) {
  t.test(`rescue plan on ${name}`, (t) => {
    const profile = loadProfile(name);
    const kernel = parseElf(makeRescueKernel(profile.arch));
    const plan = planRescue({ kernel, kernelName: 'rescue.elf', profile, itsHandoff: 'none' });
    const r = plan.region;
    t.equal(r.start % SZ_2M, 0n, '2 MiB aligned');
    t.equal(r.start / SZ_1G, (r.start + r.size - 1n) / SZ_1G, 'inside one 1 GiB window');
    t.ok(r.start + r.size <= 1n << 32n, 'below 4 GiB');
    const memsize = name === 'arm64-acpi' ? 192n * MiB : 128n * MiB; // arm64-acpi sets debug.rescue_memsize=192M
    t.equal(
      r.size,
      memsize + ((BigInt(kernel.fileSize) + 0xfffn) & ~0xfffn) + 2n * MiB,
      'memsize + round_page(kernel) + 2 MiB',
    );
    for (const e of plan.memoryMap.entries) {
      if (e.use !== 'free')
        t.notOk(e.range.start < r.start + r.size && r.start < e.range.start + e.range.size, `avoids ${e.label}`);
    }
    const kseg = plan.segments.find((s) => s.kind === 'kernel');
    t.equal(kseg?.phys, r.start + 2n * MiB, 'kernel at +2 MiB');
    t.equal(
      plan.entry,
      r.start +
        2n * MiB +
        (kernel.entry ?? 0n) -
        (profile.arch === 'amd64' ? 0xffff_ffff_8020_0000n : 0xffff_0000_0000_0000n),
    );

    const area = reservationBytes(plan, 2 << 20);
    const params = decodeRescueParams(profile.arch, area) as Record<string, bigint | number>;
    t.equal(params['kpKernstart'], r.start + 2n * MiB, 'kp_kernstart');
    t.equal(params['kpBoothowto'], profile.hostKernel.boothowto, 'kp_boothowto');
    t.equal(params['dpMsgbufpa'], 0n, 'dump params are filled at panic, not now');
    const at = (pa: bigint, len: bigint): Uint8Array => area.subarray(Number(pa - r.start), Number(pa - r.start + len));
    const kenv = decodeKenv(at(params['kpKenvstart'] as bigint, params['kpKenvlen'] as bigint));
    t.same(kenv, rescueKenv(profile.hostKernel.kenv), 'kenv in rescue order');
    t.same(kenv[0], ['kern.smp.disabled', '1']);
    t.ok(
      kenv.some(([k]) => k === 'vfs.root.mountfrom'),
      'debug.rescue.vfs.root.mountfrom arrives without its prefix',
    );

    if (profile.firmware === 'efi') {
      const map = decodeEfiMap(at(params['kpEfimapstart'] as bigint, params['kpEfimaplen'] as bigint));
      const ram = map.descriptors.filter((d) => efiPhysmemType(d.mdType));
      const nonRamHost = profile.reserved.length;
      t.equal(map.descriptors.length - ram.length, nonRamHost, 'every non-RAM descriptor is kept');
      const rewritten = ram.filter((d) => d.mdPhys === r.start);
      t.equal(rewritten.length, 1, 'one RAM descriptor: the reservation');
      t.equal(rewritten[0]?.mdPages, r.size / 4096n);
      if (profile.arch === 'amd64')
        t.ok(
          ram.some((d) => d.mdPhys === 0n),
          'amd64 keeps RAM at PA 0',
        );
      else t.notOk(ram.some((d) => d.mdPhys === 0n));
      t.equal(
        map.memorySize,
        BigInt(params['kpEfimaplen'] as bigint) - 24n,
        'memory_size is end - start - 24, as D47358 writes it',
      );
      t.equal(map.descriptorSize, 48);
      if (profile.framebuffer !== undefined)
        t.equal(params['kpEfifbaddr'], (params['kpEfimapstart'] as bigint) + (params['kpEfimaplen'] as bigint));
    } else if (profile.firmware === 'bios') {
      t.equal(params['kpSmaplen'], 24n, 'kp_smaplen is 24 though 20 bytes are written');
      t.same(decodeSmap(at(params['kpSmapstart'] as bigint, 20n)), [{ base: r.start, length: r.size, type: 1 }]);
    } else {
      const dtbBytes = at(params['kpDtbstart'] as bigint, params['kpDtblen'] as bigint);
      const fdt = parseFdt(dtbBytes);
      const mem = fdt.root.children.find((c) => c.name.startsWith('memory'));
      const reg = mem === undefined ? undefined : getProp(mem, 'reg');
      t.same(
        reg === undefined ? [] : propReg(reg, 2, 2),
        [{ start: r.start, size: r.size }],
        '/memory reg = <rescue_pa memsize>',
      );
      t.ok(findNode(fdt, '/reserved-memory') !== undefined, 'the host DTB is copied whole');
      // dtc (device-tree-compiler) is the independent decoder for the copy.
      t.test('dtc reads the rewritten copy', requireTool('dtc'), (t) => {
        const dir = mkdtempSync(join(tmpdir(), 'kboot-plan-'));
        t.teardown(() => rmSync(dir, { recursive: true, force: true }));
        writeFileSync(join(dir, 'rescue.dtb'), dtbBytes);
        const dts = execFileSync('dtc', ['-I', 'dtb', '-O', 'dts', join(dir, 'rescue.dtb')], { encoding: 'utf8' });
        const cell = (v: bigint): string => `0x${v.toString(16).padStart(2, '0')}`;
        t.match(
          dts,
          `reg = <${cell(r.start >> 32n)} ${cell(r.start & 0xffff_ffffn)} ${cell(r.size >> 32n)} ${cell(r.size & 0xffff_ffffn)}>`,
          'dtc shows the rewritten reg',
        );
        t.end();
      });
    }
    if (profile.arch === 'amd64') {
      const pt = plan.segments.find((s) => s.kind === 'page-tables');
      t.equal(pt?.memSize, 16n * 4096n, '16 bootstrap page-table pages');
      t.equal((pt?.phys ?? 1n) % 4096n, 0n);
    } else {
      t.equal(
        plan.segments.find((s) => s.kind === 'page-tables'),
        undefined,
        'arm64 has no page-table pool',
      );
      t.ok(plan.warnings.some((w) => w.code === 'ITS_TABLES_LIVE'));
      t.equal(plan.deviceReservations.length, profile.gic?.tables.length);
    }
    t.same(plan.usedMemory.rescueWritable, [r]);
    t.notOk(
      plan.usedMemory.rescueReadOnly.some((x) => x.start < r.start + r.size && r.start < x.start + x.size),
      'read-only host RAM excludes the reservation',
    );
    t.end();
  });
}

const fdtJson = (): Record<string, unknown> =>
  JSON.parse(readFileSync(packagePath('profiles', 'arm64-fdt.json'), 'utf8')) as Record<string, unknown>;
const withProfile = (json: Record<string, unknown>): MachineProfile => parseProfile(JSON.stringify(json), 'test.json');

t.test('errors', (t) => {
  const k64 = parseElf(makeRescueKernel('amd64'));
  throwsCode(
    t,
    () => planRescue({ kernel: k64, kernelName: 'k', profile: loadProfile('arm64-fdt') }),
    PlanCode.ArchMismatch,
  );

  // Too much metadata for the first 2 MiB: a host kenv of ~2.2 MB (more than a profile may hold).
  const region = { start: 0x4000_0000n as PhysAddr, size: (130n * MiB) as Size };
  const hugeKenv = Array.from({ length: 17000 }, (_, i): [string, string] => [`big.var${i}`, 'x'.repeat(120)]);
  const firmware = { kind: 'smap' as const, entries: [], bytes: new Uint8Array(0) };
  const e = throwsCode(
    t,
    () => buildRescueArea({ arch: 'amd64', region, firmware, hostKenv: hugeKenv, boothowto: 0 }),
    PlanCode.MetadataTooLarge,
  );
  t.ok(Number(e?.details['metadataEnd']) > 2 << 20);
  t.doesNotThrow(() =>
    buildRescueArea({ arch: 'amd64', region, firmware, hostKenv: hugeKenv.slice(0, 100), boothowto: 0 }),
  );

  const two = fdtJson();
  two['ram'] = [
    { base: '0x40000000', size: '2G' },
    { base: '0x100000000', size: '6G' },
  ];
  const f = throwsCode(
    t,
    () => planRescue({ kernel: parseElf(makeRescueKernel('arm64')), kernelName: 'k', profile: withProfile(two) }),
    PlanCode.FirmwareMap,
  );
  t.match(f?.message ?? '', /FDT_ERR_NOSPACE/, 'explains the in-place rewrite failure');

  throwsCode(
    t,
    () =>
      planRescue({ kernel: k64, kernelName: 'k', profile: loadProfile('amd64-efi'), memsize: (64n << 30n) as Size }),
    PlanCode.NoHole,
  );
  throwsCode(
    t,
    () => planRescue({ kernel: k64, kernelName: 'k', profile: loadProfile('amd64-efi'), at: 0x1234_5000n as PhysAddr }),
    PlanCode.BadPlacement,
  );

  // A kernel linked the ordinary way (file offset != VA - KERNSTART) is refused with every lint problem.
  const ordinary = writeElf({
    arch: 'amd64',
    type: 'exec',
    entry: 0x40_1000n as KernelVa,
    segments: [{ type: 'load', flags: PF.R | PF.X, vaddr: 0x40_1000n as KernelVa, data: new Uint8Array(64) }],
  });
  const lint = throwsCode(
    t,
    () => planRescue({ kernel: parseElf(ordinary), kernelName: 'k', profile: loadProfile('amd64-efi') }),
    PlanCode.NotRescueKernel,
  );
  const rules = (lint?.details['problems'] as { rule: string }[]).map((p) => p.rule);
  t.ok(
    rules.includes('file-layout') && rules.includes('link-address'),
    `every failed rule is reported (${rules.join(', ')})`,
  );

  // BSS larger than what rescue_memsize leaves after the kernel.
  const fat = parseElf(makeRescueKernel('amd64', { bss: 200 << 20 }));
  throwsCode(
    t,
    () => planRescue({ kernel: fat, kernelName: 'k', profile: loadProfile('amd64-efi'), memsize: (64n * MiB) as Size }),
    PlanCode.BadMemsize,
  );
  t.end();
});

t.test('validatePlan reports every problem at once, naming both segments', (t) => {
  const plan = planRescue({
    kernel: parseElf(makeRescueKernel('amd64')),
    kernelName: 'k',
    profile: loadProfile('amd64-efi'),
  });
  const [params, fw] = plan.segments;
  if (params === undefined || fw === undefined) {
    t.fail('segments');
    return;
  }
  const broken: LoadPlan = {
    ...plan,
    segments: [
      { ...params, phys: (fw.phys + 4n) as PhysAddr }, // overlaps the firmware map and loses its alignment
      fw,
      { ...fw, label: 'stray', phys: (plan.region.start + plan.region.size - 8n) as PhysAddr }, // runs past the end
      ...plan.segments.slice(2),
    ],
  };
  const e = throwsCode(t, () => validatePlan(broken), PlanCode.Invalid);
  const kinds = (e?.details['problems'] as { kind: string; message: string }[]).map((p) => p.kind);
  t.ok(kinds.includes('overlap'));
  t.ok(kinds.includes('out-of-region'));
  t.ok(kinds.includes('misaligned'));
  t.match(
    e?.message ?? '',
    /"EFI memory map copy" 0x[0-9a-f]+-0x[0-9a-f]+ {2}× {2}"struct rescue_kernel_params \(amd64\)"/,
    'both segments and their ranges',
  );
  const moved: LoadPlan = { ...plan, region: { start: 0x200000n as PhysAddr, size: plan.region.size } };
  const m = throwsCode(t, () => validatePlan(moved), PlanCode.Invalid);
  t.ok(
    (m?.details['problems'] as { kind: string }[]).some((p) => p.kind === 'forbidden-memory'),
    'a region over the host kernel',
  );
  t.end();
});
