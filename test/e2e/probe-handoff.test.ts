// A rescue hand-off verified from the rescue side, on the emulated machine (Unicorn 2.0.1 via
// the native addon): for each built-in profile, a rescue-mode probe kernel is handed over by
// execKernel (planRescue lays out the reservation, the panicking host runs D47358's
// rescue_kernel_exec trampoline), and the probe's report must hold exactly what the plan
// armed: the whole struct rescue_kernel_params, the rescue kenv (decoded with decodeKenv,
// starting kern.smp.disabled=1) and the firmware map copy (EFI map, SMAP entry or DTB),
// each read by the probe through the params' own physical pointers.
// Skips only when the native addon is not built.
import t from 'tap';
import { archInfo } from '../../loader/arch/index.js';
import { parseElf } from '../../loader/elf/reader.js';
import { decodeRescueParams } from '../../loader/handoff/params.js';
import { decodeKenv, RESCUE_KENV_FIRST } from '../../loader/handoff/kenv.js';
import { loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { planRescue } from '../../loader/plan/rescue-plan.js';
import { buildProbeKernel, PROBE_FOLLOW_BYTES, type ProbeFirmwareKind } from '../../kernels/probe/index.js';
import { execKernel } from '../../machine/exec.js';
import { nativeAvailable } from '../../native/binding.js';
import { probeObserver } from '../../rescue/probe-observer.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';

/** The firmware map each built-in profile hands over. */
const FIRMWARE: Record<string, ProbeFirmwareKind> = {
  'amd64-efi': 'efi',
  'amd64-bios': 'smap',
  'arm64-fdt': 'fdt',
  'arm64-acpi': 'efi',
};
/** FDT header magic (Devicetree Specification v0.4 §5.2), big-endian. */
const FDT_MAGIC = 0xd00d_feedn;

const probeFor = (p: MachineProfile): Uint8Array =>
  buildProbeKernel(p.arch, { mode: 'rescue', ...(p.uart.kind === 'pl011' ? { uartBase: p.uart.base } : {}) });

for (const [name, kind] of Object.entries(FIRMWARE)) {
  t.test(`${name}: the probe reads params, kenv and firmware map as the rescue kernel would`, { skip }, (t) => {
    const profile = loadProfile(name);
    const bytes = probeFor(profile);
    const o = execKernel(profile, parseElf(bytes), 'probe.elf', { path: 'rescue', observer: probeObserver });
    t.ok(o.jump.reached, `the trampoline reaches the entry (${o.jump.stop.kind})`);
    t.equal(o.observed?.stop.kind, 'halted', 'the probe halts');
    const r = o.observed?.report;
    if (r === undefined) {
      t.fail(`no report: ${o.observed?.reportError ?? ''}`);
      t.end();
      return;
    }
    t.ok(r.complete, 'every probe stage finished');
    t.ok(r.stages.params, 'the params stage finished');

    // the same plan execKernel armed (planRescue is pure and deterministic)
    const plan = planRescue({ kernel: parseElf(bytes), kernelName: 'probe.elf', profile });
    const seg = (k: string): Uint8Array => plan.segments.find((s) => s.kind === k)?.data ?? new Uint8Array(0);
    const paramsSeg = seg('params');
    t.same([...r.params], [...paramsSeg], 'report.params = the plan params segment, byte for byte');
    const params = decodeRescueParams(profile.arch, r.params);
    t.equal(params.kpKernstart, plan.region.start + 0x20_0000n, 'kp_kernstart = rescue_pa + 2 MiB');

    // kenv: read at kp_kenvstart, capped at kp_kenvlen
    const kenvSeg = seg('kenv');
    t.equal(r.kenvAddr, params.kpKenvstart, 'kenv read at kp_kenvstart');
    t.equal(r.kenv.length, Math.min(kenvSeg.length, PROBE_FOLLOW_BYTES), 'kenv length = min(kp_kenvlen, 256)');
    t.same([...r.kenv], [...kenvSeg.subarray(0, r.kenv.length)], 'kenv bytes = the plan kenv segment prefix');
    const nulnul = r.kenv.findIndex((b, i) => b === 0 && (i === 0 || r.kenv[i - 1] === 0));
    const decodable = nulnul >= 0 ? r.kenv.subarray(0, nulnul + 1) : r.kenv.subarray(0, r.kenv.lastIndexOf(0) + 1);
    const tail = nulnul >= 0 ? decodable : Uint8Array.of(...decodable, 0);
    const entries = decodeKenv(tail);
    t.same(entries[0], RESCUE_KENV_FIRST, 'the rescue kenv starts kern.smp.disabled=1');
    t.match(Buffer.from(r.kenv).toString('latin1'), /^kern\.smp\.disabled=1\0/);

    // firmware map: the one rescue_preload_init picks, read at its PA, capped at its length
    const fwSeg = seg('firmware-map');
    t.equal(r.firmware.kind, kind, `firmware kind ${kind}`);
    const expected = {
      efi: [params.kpEfimapstart, params.kpEfimaplen],
      smap: 'kpSmapstart' in params ? [params.kpSmapstart, params.kpSmaplen] : [0n, 0n],
      fdt: 'kpDtbstart' in params ? [params.kpDtbstart, params.kpDtblen] : [0n, 0n],
      none: [0n, 0n],
    }[kind];
    const [fwAddr = 0n, fwLen = 0n] = expected;
    t.equal(r.firmware.addr, fwAddr, 'firmware map read at its params pointer');
    t.ok(fwAddr > plan.region.start && fwAddr < plan.region.start + 0x20_0000n, 'inside the first 2 MiB');
    t.equal(r.firmware.bytes.length, Math.min(Number(fwLen), PROBE_FOLLOW_BYTES), 'length = min(*len, 256)');
    const n = Math.min(r.firmware.bytes.length, fwSeg.length);
    t.ok(n > 0, 'some firmware bytes');
    t.same([...r.firmware.bytes.subarray(0, n)], [...fwSeg.subarray(0, n)], 'firmware bytes = the plan segment');
    const view = new DataView(r.firmware.bytes.buffer, r.firmware.bytes.byteOffset, r.firmware.bytes.length);
    if (kind === 'fdt') t.equal(BigInt(view.getUint32(0, false)), FDT_MAGIC, 'the DTB starts with 0xd00dfeed');
    if (kind === 'smap') {
      // one bios_smap {base = rescue_pa, length = memsize, type = 1}; kp_smaplen = 24 (§8.3)
      t.equal(fwLen, 24n, 'kp_smaplen = 24');
      t.equal(view.getBigUint64(0, true), plan.region.start, 'SMAP base = rescue_pa');
      t.equal(view.getUint32(16, true), 1, 'SMAP type 1 (RAM)');
    }
    if (kind === 'efi') {
      // struct efi_map_header: memory_size, descriptor_size, descriptor_version (§8.3)
      t.ok(view.getBigUint64(8, true) >= 40n, 'EFI descriptor_size >= 40');
      t.equal(view.getUint32(16, true), 1, 'EFI descriptor_version 1');
    }
    t.equal(r.handoffAddr, profile.arch === 'amd64' ? archInfo('amd64').kernbase : plan.region.start);
    t.end();
  });
}
