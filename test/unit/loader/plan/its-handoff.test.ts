// The GICv3 ITS hand-off modes in rescue plans (loader/plan/its-handoff.ts, rescue-area.ts):
// defaults per firmware, modes a firmware cannot carry, the ITS_TABLES_LIVE warning only for
// `none`, and, for `memreserve`, the plan's own bytes walked the way FreeBSD's
// exclude_efi_memreserve walks them (kp_fwhandle -> system table -> the configuration entry
// through the EFI map's runtime descriptor -> the memreserve record) naming every LPI table;
// for `fdt`, the DTB copy's /reserved-memory no-map children and /memory ranges (parsed here;
// test/external/its-handoff-dtc.test.ts has dtc read them).
import t from 'tap';
import { parseElf } from '../../../../loader/elf/reader.js';
import { decodeEfiMap, EFI_MD_ATTR, EFI_MD_TYPE } from '../../../../loader/handoff/efimap.js';
import { findNode, getProp, parseFdt, readMemoryRanges } from '../../../../loader/handoff/fdt/index.js';
import { RESCUE_FW_HANDLE_MAGIC, RescueFwHandleExt, walkMemreserve } from '../../../../loader/handoff/memreserve.js';
import { rescueParamsLayout } from '../../../../loader/handoff/params.js';
import { defaultItsHandoff, lpiTableRanges, type ItsHandoffMode } from '../../../../loader/plan/its-handoff.js';
import { loadProfile } from '../../../../loader/plan/profile.js';
import { planRescue, type RescuePlan } from '../../../../loader/plan/rescue-plan.js';
import { planKexecBoot } from '../../../../loader/plan/kexec-plan.js';
import { findMetadata, MODINFOMD, readMdU64 } from '../../../../loader/handoff/modinfo.js';
import { makeRescueKernel } from '../../../helpers/kernels.js';
import { throwsCode } from '../../../helpers/errors.js';

const kernel = parseElf(makeRescueKernel('arm64'));
const plan = (name: string, itsHandoff?: ItsHandoffMode): RescuePlan =>
  planRescue({
    kernel,
    kernelName: 'k',
    profile: loadProfile(name),
    ...(itsHandoff === undefined ? {} : { itsHandoff }),
  });

/** Reads the plan's segments as physical memory (what the rescue kernel finds at the reservation). */
function planMemory(p: RescuePlan): (pa: bigint, len: number) => Uint8Array | undefined {
  return (pa, len) => {
    const s = p.segments.find((g) => pa >= g.phys && pa + BigInt(len) <= g.phys + BigInt(g.data.length));
    return s === undefined ? undefined : s.data.slice(Number(pa - s.phys), Number(pa - s.phys) + len);
  };
}

t.test('defaults: the mode that works for the firmware; none without LPI tables', (t) => {
  t.equal(defaultItsHandoff(loadProfile('arm64-fdt')), 'fdt');
  t.equal(defaultItsHandoff(loadProfile('arm64-acpi')), 'memreserve');
  t.equal(defaultItsHandoff(loadProfile('arm64-server')), 'memreserve');
  t.equal(defaultItsHandoff(loadProfile('amd64-efi')), 'none');
  t.equal(plan('arm64-fdt').itsHandoff.mode, 'fdt');
  t.ok(plan('arm64-fdt').itsHandoff.defaulted);
  throwsCode(t, () => plan('arm64-fdt', 'memreserve'), 'PLAN_ITS_HANDOFF');
  throwsCode(t, () => plan('arm64-acpi', 'fdt'), 'PLAN_ITS_HANDOFF');
  t.end();
});

t.test('ITS_TABLES_LIVE stays only for --its-handoff none', (t) => {
  for (const name of ['arm64-fdt', 'arm64-acpi']) {
    t.ok(
      plan(name, 'none').warnings.some((w) => w.code === 'ITS_TABLES_LIVE'),
      `${name} none`,
    );
    t.notOk(
      plan(name).warnings.some((w) => w.code === 'ITS_TABLES_LIVE'),
      `${name} default`,
    );
  }
  t.end();
});

t.test('memreserve (arm64-acpi): the plan bytes lead exclude_efi_memreserve to every LPI table', (t) => {
  const p = plan('arm64-acpi', 'memreserve');
  const its = p.area.layout.its;
  t.ok(its !== undefined);
  if (its === undefined) {
    t.end();
    return;
  }
  t.equal(its.fwHandleOffset, rescueParamsLayout('arm64').size, 'kp_fwhandle right after the params');
  t.equal(its.pageOffset % 0x1000, 0);
  const read = planMemory(p);
  const handle = read(p.region.start + BigInt(its.fwHandleOffset), 16);
  const ext = RescueFwHandleExt.decode(handle ?? new Uint8Array(16));
  t.equal(ext.magic, RESCUE_FW_HANDLE_MAGIC);
  const fw = ext.fwHandle;
  t.equal(fw, p.region.start + BigInt(its.pageOffset), 'kp_fwhandle names the system table');
  const mapSeg = p.segments.find((s) => s.label === 'EFI memory map copy');
  const map = decodeEfiMap(mapSeg?.data ?? new Uint8Array());
  const rt = map.descriptors.filter((d) => (d.mdAttr & EFI_MD_ATTR.RT) !== 0n && d.mdPhys === fw);
  t.equal(rt.length, 1, 'the descriptor page is a runtime descriptor');
  t.equal(rt[0]?.mdType, EFI_MD_TYPE.RT_DATA);
  t.equal(rt[0]?.mdVirt, fw, 'md_virt == md_phys');
  const ranges = lpiTableRanges(loadProfile('arm64-acpi'));
  for (const r of ranges) {
    t.ok(
      map.descriptors.some(
        (d) => d.mdType === EFI_MD_TYPE.FREE && d.mdPhys <= r.start && r.start + r.size <= d.mdPhys + d.mdPages * 4096n,
      ),
      `LPI table ${r.start.toString(16)} is in the map (direct map covers it)`,
    );
  }
  const runtimeVaToPa = (va: bigint): bigint | undefined => {
    const d = map.descriptors.find(
      (x) => (x.mdAttr & EFI_MD_ATTR.RT) !== 0n && va >= x.mdVirt && va < x.mdVirt + x.mdPages * 4096n,
    );
    return d === undefined ? undefined : d.mdPhys + (va - d.mdVirt);
  };
  const out = walkMemreserve({ read, runtimeVaToPa }, fw);
  t.same(
    out.kind === 'excluded' ? out.ranges.map((r) => [r.start, r.size]) : out,
    ranges.map((r) => [r.start, r.size]),
  );
  t.end();
});

t.test('fdt (arm64-fdt): /reserved-memory no-map children and /memory covering the tables', (t) => {
  const p = plan('arm64-fdt');
  const dtb = p.segments.find((s) => s.label === 'device tree copy');
  const fdt = parseFdt(dtb?.data ?? new Uint8Array());
  const rm = findNode(fdt.root, 'reserved-memory');
  const ranges = lpiTableRanges(loadProfile('arm64-fdt'));
  const lpi = rm?.children.filter((c) => c.name.startsWith('its-lpi@')) ?? [];
  t.same(
    lpi.map((c) => c.name),
    ranges.map((r) => `its-lpi@${r.start.toString(16)}`),
  );
  t.ok(
    lpi.every((c) => getProp(c, 'no-map') !== undefined),
    'each no-map',
  );
  const mem = readMemoryRanges(fdt);
  t.ok(
    mem.some((m) => m.start === p.region.start && m.size === p.region.size),
    'the reservation',
  );
  for (const r of ranges)
    t.ok(
      mem.some((m) => m.start === r.start && m.size === r.size),
      `/memory has ${r.start.toString(16)}`,
    );
  t.same(plan('arm64-fdt', 'none').area.layout.its, undefined);
  t.end();
});

t.test('kexec reboot (loader.kboot): the next kernel gets FW_HANDLE and the descriptors, or no-map nodes', (t) => {
  const acpi = loadProfile('arm64-acpi');
  const k = parseElf(makeRescueKernel('arm64'));
  const p = planKexecBoot({ kernel: k, kernelName: 'kernel', profile: acpi });
  t.equal(p.itsHandoff.mode, 'memreserve');
  const mod = p.modules[0];
  const fwRecord = mod === undefined ? undefined : findMetadata(mod, MODINFOMD.FW_HANDLE);
  t.ok(fwRecord !== undefined, 'MODINFOMD_FW_HANDLE in the kernel module metadata');
  const fw = fwRecord === undefined ? 0n : readMdU64(fwRecord);
  t.equal(fw, p.fwHandle);
  const map = p.firmware.kind === 'efi' ? decodeEfiMap(p.firmware.bytes) : undefined;
  const read = (pa: bigint, len: number): Uint8Array | undefined => {
    const s = p.segments.find((g) => pa >= g.phys && pa + BigInt(len) <= g.phys + BigInt(g.data.length));
    return s === undefined ? undefined : s.data.slice(Number(pa - s.phys), Number(pa - s.phys) + len);
  };
  const runtimeVaToPa = (va: bigint): bigint | undefined => {
    const d = map?.descriptors.find(
      (x) => (x.mdAttr & EFI_MD_ATTR.RT) !== 0n && va >= x.mdVirt && va < x.mdVirt + x.mdPages * 4096n,
    );
    return d === undefined ? undefined : d.mdPhys + (va - d.mdVirt);
  };
  const out = walkMemreserve({ read, runtimeVaToPa }, fw);
  t.same(
    out.kind === 'excluded' ? out.ranges.map((r) => r.start) : out,
    lpiTableRanges(acpi).map((r) => r.start),
  );
  const none = planKexecBoot({ kernel: k, kernelName: 'kernel', profile: acpi, itsHandoff: 'none' });
  t.equal(none.fwHandle, undefined);
  const fdtPlan = planKexecBoot({ kernel: k, kernelName: 'kernel', profile: loadProfile('arm64-fdt') });
  const dtb = fdtPlan.segments.find((s) => s.label === 'device tree');
  const rm = findNode(parseFdt(dtb?.data ?? new Uint8Array()).root, 'reserved-memory');
  t.equal(rm?.children.filter((c) => c.name.startsWith('its-lpi@') && getProp(c, 'no-map') !== undefined).length, 5);
  t.end();
});
