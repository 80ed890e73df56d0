// machine/host/model.ts: the FreeBSD-shaped host in guest RAM, checked through independent
// readers: the page-table walkers (machine/x86-walker.ts, machine/arm64-walker.ts), the
// declared struct msgbuf layout, dump_avail decoded from RAM, the bitmap walked bit by bit
// with the dump_avail numbering of sys/vm/vm_dumpset.h, and seeded pages recomputed.
import t from 'tap';
import { bitToPa } from '../../../../loader/kernel-abi/dump-avail.js';
import { createHash } from 'node:crypto';
import { rangeEnd, type PhysAddr, type PhysRange, type Size } from '../../../../loader/addr.js';
import { archInfo } from '../../../../loader/arch/index.js';
import { HOST_TCR_EL1 } from '../../../../loader/arch/arm64/layout.js';
import { parseElf } from '../../../../loader/elf/index.js';
import { builtinProfileNames, loadProfile, type MachineProfile } from '../../../../loader/plan/profile.js';
import { normalize, subtract } from '../../../../loader/plan/ranges.js';
import { Machine } from '../../../../machine/machine.js';
import { nativeAvailable } from '../../../../native/binding.js';
import { walkArm64 } from '../../../../machine/arm64-walker.js';
import { findRun, walkX86 } from '../../../../machine/x86-walker.js';
import { HostCode } from '../../../../machine/host/errors.js';
import { dumpAvailFrom, hostFromHandoff } from '../../../../machine/host/handoff.js';
import { DumpAvailPair, HOST, Msgbuf } from '../../../../loader/kernel-abi/structs.js';
import { buildHostModel, dumpParams, installHost, isDumped, type HostModel } from '../../../../machine/host/model.js';
import { pageBytes } from '../../../../loader/bytes/prng.js';
import { throwsCode } from '../../../helpers/errors.js';
import { makeRescueKernel } from '../../../helpers/kernels.js';

const PAGE = 0x1000n;
const skip = nativeAvailable() ? {} : { skip: 'the native addon is not built' };

/** A 128 MiB M_NODUMP "reservation" 32 MiB past the host kernel, in the same RAM range. */
function reservation(p: MachineProfile): PhysRange {
  const start = ((rangeEnd(p.hostKernel.range) + 0x200_0000n + 0x1f_ffffn) & ~0x1f_ffffn) as PhysAddr;
  return { start, size: 0x800_0000n as Size };
}

/** RAM the firmware says is usable, independent of the model: profile RAM minus every reserved range, page-inward. */
function expectedDumpAvail(p: MachineProfile): [bigint, bigint][] {
  return normalize(
    subtract(
      p.ram,
      p.reserved.map((r) => r.range),
    ),
  ).map((r) => [r.start, r.start + r.size]);
}

function translate(runs: readonly { va: bigint; pa: bigint; size: bigint }[], va: bigint): bigint | undefined {
  const r = findRun(runs, va);
  return r === undefined ? undefined : r.pa + (va - r.va);
}

function digest(m: HostModel): string {
  const h = createHash('sha256');
  for (const p of m.placements) h.update(`${p.phys}:`).update(p.data);
  for (const pa of m.allocated) h.update(pageBytes(m.seed, pa));
  return h.digest('hex');
}

for (const name of builtinProfileNames()) {
  t.test(`host model on ${name}`, skip, (t) => {
    const profile = loadProfile(name);
    const info = archInfo(profile.arch);
    const resv = reservation(profile);
    const model = buildHostModel(profile, { seed: 42, noDump: [resv] });
    const machine = Machine.create(profile);
    t.teardown(() => machine.close());
    installHost(machine, model);
    const ram = machine.ram;
    const dp = dumpParams(model);

    // Page tables, walked independently.
    const runs =
      profile.arch === 'amd64'
        ? walkX86(ram, { cr3: dp.rootPa }).runs
        : walkArm64(ram, { tcr: HOST_TCR_EL1, ttbr0: model.tables.lowRoot ?? 0n, ttbr1: dp.rootPa }).runs;
    t.equal(translate(runs, info.kernstart), model.load, 'KERNSTART (file offset 0) maps the load address');
    t.equal(translate(runs, info.kernstart + 0x12_3456n), model.load + 0x12_3456n, 'inside the kernel');
    if (profile.arch === 'amd64') t.equal(translate(runs, info.kernbase), undefined, 'the 2 MiB hole at KERNBASE');
    const dmapBase = dp.dpDmapbasepa ?? 0n;
    for (const pa of [dp.dpMsgbufpa, dp.dpVmdumppa, model.allocated[0] ?? 0n, model.load]) {
      t.equal(translate(runs, dp.dpDmapmin + (pa - dmapBase)), pa, `DMAP maps ${pa.toString(16)}`);
    }
    const hasGiB = runs.some((r) => r.va >= dp.dpDmapmin && r.pageSize === 0x4000_0000n);
    t.ok(hasGiB, 'the DMAP uses 1 GiB pages where aligned');
    model.stack.pages.forEach((pa, i) =>
      t.equal(translate(runs, model.stack.va + BigInt(i) * PAGE), pa, `kernel_map stack page ${i}`),
    );
    t.equal(translate(runs, model.bitmap.va), dp.dpVmdumppa, 'kernel_map maps vm_page_dump');
    t.ok(model.tables.kernelMap.va >= info.vmMinKernelAddress, 'kernel_map lies at or above VM_MIN_KERNEL_ADDRESS');

    // struct msgbuf, through its declared layout.
    const mb = Msgbuf.decode(ram.read(model.msgbuf.structPa, Msgbuf.size));
    t.equal(mb.msgMagic, HOST.MSG_MAGIC, 'MSG_MAGIC');
    t.equal(BigInt(mb.msgSize), dp.dpMsgbufsz, 'msg_size = dp_msgbufsz');
    t.equal(mb.msgPtr, dp.dpDmapmin + (dp.dpMsgbufpa - dmapBase), 'msg_ptr is the DMAP VA of dp_msgbufpa');
    t.equal(mb.msgSeqmod, mb.msgSize * 16, 'msg_seqmod = SEQMOD(size)');
    t.ok(mb.msgRseq <= mb.msgWseq && mb.msgWseq < mb.msgSize, 'rseq <= wseq < size');
    const text = new TextDecoder().decode(ram.read(dp.dpMsgbufpa as PhysAddr, mb.msgWseq));
    t.equal(text, model.msgbuf.text, 'buffer holds the boot messages');
    t.match(text, /^---<<BOOT>>---/);
    const sum = ram.read(dp.dpMsgbufpa as PhysAddr, mb.msgWseq).reduce((a, b) => (a + b) >>> 0, 0);
    t.equal(mb.msgCksum, sum, 'msg_cksum = sum of the bytes');

    // dump_avail, read back from dp_dumpavailpa.
    const raw = ram.read(dp.dpDumpavailpa as PhysAddr, HOST.DUMP_AVAIL_COUNT * 8);
    const pairs: [bigint, bigint][] = [];
    for (let i = 0; i < HOST.DUMP_AVAIL_COUNT / 2; i++) {
      const p = DumpAvailPair.decode(raw, i * 16);
      if (p.end === 0n) break;
      pairs.push([p.start, p.end]);
    }
    t.same(pairs, expectedDumpAvail(profile), 'dump_avail = RAM minus firmware-reserved ranges');

    // The bitmap, bit by bit.
    const bm = ram.read(dp.dpVmdumppa as PhysAddr, Number(dp.dpVmdumpsz));
    const inRange = (pa: bigint, r: PhysRange): boolean => pa >= r.start && pa < rangeEnd(r);
    let set = 0;
    let bad = 0;
    for (let bit = 0; bit < model.bitmap.pages; bit++) {
      if (((bm[bit >> 3] ?? 0) >> (bit & 7)) % 2 === 0) continue;
      set++;
      const pa = bitToPa(pairs, BigInt(bit));
      if (pa === undefined || inRange(pa, resv) || model.deviceTables.some((d) => inRange(pa, d.range))) bad++;
    }
    t.equal(bad, 0, 'no set bit outside dump_avail, in the reservation or in a device table');
    t.ok(set > model.allocated.length && set < 40_000, `a few thousand pages dumped (${set})`);
    t.ok(
      model.allocated.every((pa) => isDumped(model, pa)),
      'every allocated page is dumped',
    );
    t.ok(isDumped(model, model.load) && isDumped(model, model.tables.root), 'kernel and page tables are dumped');
    t.ok(isDumped(model, dp.dpMsgbufpa) && isDumped(model, dp.dpVmdumppa), 'msgbuf and bitmap are dumped');
    t.ok(
      model.allocated.every((pa) => !inRange(pa, resv)),
      'no allocated page in the reservation',
    );
    for (const d of model.deviceTables) t.notOk(isDumped(model, d.range.start), `${d.kind} not dumped`);
    t.equal(
      model.bitmap.pages,
      pairs.reduce((n, [s, e]) => n + Number((e - s) / PAGE), 0),
      'one bit per page',
    );

    // Seeded contents, recomputed from (seed, PA).
    for (const pa of model.allocated.filter((_, i) => i % 97 === 0)) {
      t.ok(ram.equals(pa, pageBytes(42, pa)), `page ${pa.toString(16)} recomputes from the seed`);
    }

    // Honesty rule: the host's view decodes from RAM alone.
    const view = hostFromHandoff(machine, {
      arch: profile.arch,
      modulepPa: model.handoff.modulepPa,
      kernbasePa: model.kernbasePa,
    });
    t.same(view, model.view, 'hostFromHandoff(RAM) = the view the model was built from');
    t.same(view.kenv, profile.hostKernel.kenv, 'kenv round trip');

    // Determinism.
    t.equal(digest(buildHostModel(profile, { seed: 42, noDump: [resv] })), digest(model), 'same seed, same bytes');
    t.not(digest(buildHostModel(profile, { seed: 43, noDump: [resv] })), digest(model), 'other seed, other bytes');

    // Trampoline state is consistent with the model.
    t.equal(model.state.tables.root, model.tables.root);
    t.equal(model.state.stack.pages.length, HOST.KSTACK_PAGES);
    t.equal(model.state.text.pa % 64n, 0n, 'rescue_tramp 64-byte aligned');
    t.equal(translate(runs, model.state.text.va), model.state.text.pa, 'rescue_tramp VA maps its PA');
    t.end();
  });

  t.test(`hostFromHandoff with planKexecBoot metadata on ${name}`, skip, async (t) => {
    const { planKexecBoot } = await import('../../../../loader/plan/kexec-plan.js');
    const profile = loadProfile(name);
    const kernel = parseElf(makeRescueKernel(profile.arch));
    // the host's own boot: no GICv3 ITS descriptors (a kexec with them excludes the LPI tables too)
    const plan = planKexecBoot({ kernel, kernelName: '/boot/kernel/kernel', profile, itsHandoff: 'none' });
    const machine = Machine.create(profile);
    t.teardown(() => machine.close());
    machine.place(plan.segments.map((s) => ({ label: s.label, phys: s.phys, data: s.data })));
    const view = hostFromHandoff(machine, {
      arch: profile.arch,
      modulepPa: plan.modulepPa,
      kernbasePa: plan.relocation.toPhys(archInfo(profile.arch).kernbase),
    });
    t.same(view.kenv, plan.kenv, 'kenv');
    t.equal(view.boothowto, profile.hostKernel.boothowto, 'boothowto');
    const md = plan.segments.find((x) => x.kind === 'params');
    t.equal(view.kernendPa, md === undefined ? -1n : md.phys + md.memSize, 'KERNEND = end of the modinfo page');
    t.same(
      dumpAvailFrom(view),
      expectedDumpAvail(profile),
      'dump_avail from the decoded hand-off = RAM minus firmware-reserved',
    );
    t.end();
  });
}

t.test('error codes', skip, (t) => {
  const profile = loadProfile('amd64-efi');
  const small: MachineProfile = {
    ...profile,
    hostKernel: { ...profile.hostKernel, range: { start: profile.hostKernel.range.start, size: 0x40_0000n as Size } },
  };
  throwsCode(t, () => buildHostModel(small, { seed: 1 }), HostCode.RangeTooSmall);
  const armKernel = parseElf(makeRescueKernel('arm64'));
  throwsCode(t, () => buildHostModel(profile, { seed: 1, kernel: armKernel }), HostCode.BadKernel);
  const hugeMsgbuf: MachineProfile = {
    ...profile,
    hostKernel: { ...profile.hostKernel, kenv: [...profile.hostKernel.kenv, ['kern.msgbufsize', '99999999999']] },
  };
  throwsCode(t, () => buildHostModel(hugeMsgbuf, { seed: 1 }), HostCode.NoMemory);
  const model = buildHostModel(profile, { seed: 1 });
  const machine = Machine.create(profile);
  t.teardown(() => machine.close());
  installHost(machine, model);
  throwsCode(
    t,
    () =>
      hostFromHandoff(machine, { arch: 'amd64', modulepPa: 0xc000_0000n as PhysAddr, kernbasePa: model.kernbasePa }),
    HostCode.BadPointer,
  );
  // one field mutated: the kernel module's type string ("elf kernel" -> "elf kernex")
  const mp = model.handoff.modulepPa;
  const blob = machine.ram.read(mp, 256);
  const at = Buffer.from(blob).indexOf('elf kernel');
  machine.ram.write((mp + BigInt(at + 9)) as PhysAddr, new Uint8Array([0x78]));
  throwsCode(
    t,
    () => hostFromHandoff(machine, { arch: 'amd64', modulepPa: mp, kernbasePa: model.kernbasePa }),
    HostCode.NoKernelModule,
  );
  machine.ram.write((mp + BigInt(at + 9)) as PhysAddr, new Uint8Array([0x6c]));
  // one field mutated: the EFI_MAP record type (0x1004 | MODINFO_METADATA) -> an unknown MD type
  const blob2 = Buffer.from(machine.ram.read(mp, 512));
  const efiType = blob2.indexOf(Buffer.from([0x04, 0x90, 0x00, 0x00]));
  t.ok(efiType > 0, 'found the EFI_MAP record');
  machine.ram.write((mp + BigInt(efiType)) as PhysAddr, new Uint8Array([0x7f]));
  throwsCode(
    t,
    () => hostFromHandoff(machine, { arch: 'amd64', modulepPa: mp, kernbasePa: model.kernbasePa }),
    HostCode.NoMemoryMap,
  );
  t.end();
});
