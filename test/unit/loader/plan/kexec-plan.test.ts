// loader.kboot-style kexec staging: the metadata the kernel reads back points at what was staged.
import t from 'tap';
import { parseElf } from '../../../../loader/elf/reader.js';
import { PlanCode } from '../../../../loader/errors.js';
import { decodeEfiMap } from '../../../../loader/handoff/efimap.js';
import { parseFdt } from '../../../../loader/handoff/fdt/index.js';
import { decodeKenv } from '../../../../loader/handoff/kenv.js';
import {
  decodeModinfo,
  findKernelModule,
  findMetadata,
  groupModules,
  MODINFOMD,
  readMdInt,
  readMdU64,
} from '../../../../loader/handoff/modinfo.js';
import { decodeSmap } from '../../../../loader/handoff/smap.js';
import { planKexecBoot } from '../../../../loader/plan/kexec-plan.js';
import { loadProfile } from '../../../../loader/plan/profile.js';
import { archInfo } from '../../../../loader/arch/index.js';
import { makeRescueKernel } from '../../../helpers/kernels.js';
import { throwsCode } from '../../../helpers/errors.js';

for (const name of ['amd64-efi', 'amd64-bios', 'arm64-fdt', 'arm64-acpi']) {
  t.test(`kexec staging on ${name}`, (t) => {
    const profile = loadProfile(name);
    const info = archInfo(profile.arch);
    const kernel = parseElf(makeRescueKernel(profile.arch));
    const plan = planKexecBoot({ kernel, kernelName: '/boot/kernel/kernel', profile });
    const s = plan.staging.start;
    t.equal(s % 0x20_0000n, 0n, 'staging 2 MiB aligned');
    t.ok(s + plan.staging.size <= 1n << 32n, 'below 4 GiB');
    t.ok(plan.segments.length <= 16);
    for (const seg of plan.segments) t.equal(seg.phys % 4096n, 0n, `${seg.label} page aligned`);
    // the kernel's first page: amd64 at staging + 2 MiB (+4 KiB here: text starts one page in), arm64 at staging + offset
    t.equal(plan.entryPa, s + ((kernel.entry ?? 0n) - info.kernbase));
    const at = (pa: bigint): Uint8Array => {
      const seg = plan.segments.find((x) => pa >= x.phys && pa < x.phys + x.memSize);
      if (seg === undefined) throw new Error(`nothing staged at ${pa.toString(16)}`);
      return seg.data.subarray(Number(pa - seg.phys));
    };
    // the kernel resolves metadata addresses: amd64 KERNBASE + offset -> staging + offset; arm64 VA -> staging + (VA - KERNBASE)
    const toPa = (v: bigint): bigint => (profile.arch === 'amd64' ? s + v : s + (v - info.kernbase));
    t.equal(toPa(plan.modulep), plan.modulepPa);
    const mods = groupModules(decodeModinfo(at(plan.modulepPa)));
    const k = findKernelModule(mods);
    t.equal(k?.name, '/boot/kernel/kernel');
    t.equal(k?.type, 'elf kernel');
    t.equal(
      toPa(k?.addr ?? 0n),
      plan.entryPa - ((kernel.entry ?? 0n) - (kernel.loadSegments[0]?.vaddr ?? 0n)),
      'MODINFO_ADDR is the image start',
    );
    if (k === undefined) return;
    const envp = readMdU64(findMetadata(k, MODINFOMD.ENVP) ?? new Uint8Array(8));
    t.same(decodeKenv(at(toPa(envp))), profile.hostKernel.kenv, 'ENVP points at the kenv');
    t.equal(readMdInt(findMetadata(k, MODINFOMD.HOWTO) ?? new Uint8Array(4)), profile.hostKernel.boothowto);
    const kernend = readMdU64(findMetadata(k, MODINFOMD.KERNEND) ?? new Uint8Array(8));
    t.equal(kernend, plan.kernend);
    const modinfoSeg = plan.segments.find((x) => x.phys === plan.modulepPa);
    t.equal(
      toPa(kernend),
      (plan.modulepPa + BigInt(modinfoSeg?.data.length ?? 0) + 0xfffn) & ~0xfffn,
      'KERNEND = roundup(modulep + size, PAGE)',
    );
    if (profile.firmware === 'efi') {
      const map = decodeEfiMap(findMetadata(k, info.modinfomd.EFI_MAP) ?? new Uint8Array(0));
      t.ok(map.descriptors.length > 3, 'EFI map in the metadata');
    } else if (profile.firmware === 'bios') {
      t.ok(
        decodeSmap(findMetadata(k, info.modinfomd.SMAP ?? 0) ?? new Uint8Array(0)).length > 3,
        'SMAP in the metadata',
      );
    } else {
      const dtbp = readMdU64(findMetadata(k, info.modinfomd.DTBP) ?? new Uint8Array(8));
      t.ok(parseFdt(at(toPa(dtbp))).root.children.length > 3, 'DTBP points at the device tree');
    }
    t.end();
  });
}

t.test('errors', (t) => {
  throwsCode(
    t,
    () =>
      planKexecBoot({
        kernel: parseElf(makeRescueKernel('amd64')),
        kernelName: 'k',
        profile: loadProfile('arm64-fdt'),
      }),
    PlanCode.ArchMismatch,
  );
  t.end();
});
