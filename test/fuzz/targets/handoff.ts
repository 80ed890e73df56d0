/**
 * Hand-off targets: the FDT codec and what runs on a parsed tree (write-back round trip,
 * /memory ranges, the rescue kernel's /memory rewrite), the binary decoders of
 * loader/handoff (modinfo, kenv, EFI map, the rescue EFI map copy, SMAP, EFI framebuffer,
 * rescue params), the host's decoding of its whole hand-off from guest memory, the probe
 * report, and kexec_load's segment array and rules. Seeds: kboot's own encoders, the
 * built-in machines' hand-offs, and any real DTB under test/fixtures/.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PhysAddr, Size } from '../../../loader/addr.js';
import { archInfo, type Arch } from '../../../loader/arch/index.js';
import { jsonSafe } from '../../../loader/errors.js';
import { decodeEfiFb, EfiFb, encodeEfiFb } from '../../../loader/handoff/efifb.js';
import {
  decodeEfiMap,
  EFI_MAP_DESCRIPTORS_OFFSET,
  EFI_MD_TYPE,
  EfiMapHeader,
  EfiMd,
  encodeEfiMap,
  encodeRescueEfiMap,
} from '../../../loader/handoff/efimap.js';
import { FdtCode, HandoffError } from '../../../loader/handoff/errors.js';
import {
  FdtHeader,
  parseFdt,
  readMemoryRanges,
  rewriteMemoryReg,
  writeFdt,
  type Fdt,
} from '../../../loader/handoff/fdt/index.js';
import { decodeKenv, encodeKenv } from '../../../loader/handoff/kenv.js';
import {
  decodeModinfo,
  encodeModinfo,
  groupModules,
  mdInt,
  mdU64,
  MODINFOMD,
} from '../../../loader/handoff/modinfo.js';
import { decodeRescueParams, encodeRescueParams, rescueParamsLayout } from '../../../loader/handoff/params.js';
import { BiosSmap, decodeSmap, encodeSmap } from '../../../loader/handoff/smap.js';
import {
  decodeKexecSegments,
  encodeKexecSegments,
  KexecError,
  kexecLoad,
  LINUX_KEXEC,
  type KexecAbi,
  type KexecState,
} from '../../../loader/kexec/index.js';
import { hostFirmware } from '../../../loader/plan/firmware.js';
import { buildMemoryMap } from '../../../loader/plan/memory-map.js';
import { builtinProfileNames, loadProfile } from '../../../loader/plan/profile.js';
import { packagePath } from '../../../loader/paths.js';
import {
  decodeProbeReport,
  encodeProbeReport,
  PROBE_FIRMWARE_KIND,
  PROBE_FLAGS_ALL,
  PROBE_FOLLOW_BYTES,
  PROBE_MAGIC,
  PROBE_MODE_VALUE,
  PROBE_PARAMS_BYTES,
  PROBE_VERSION,
  PROBE_ITS_FIELDS_ZERO,
  probeEntryVa,
  ProbeError,
  ProbeReportLayout,
} from '../../../kernels/probe/index.js';
import { decodeHostHandoff, encodeHostHandoff, placementReader } from '../../../machine/host/handoff.js';
import { HostError } from '../../../machine/host/errors.js';
import { goodFdt, machineFdt, plain, arbFdt } from '../../unit/loader/handoff/fdt-fixtures.js';
import { bytesTarget } from '../lib/build.js';
import { layoutFields, tableFields } from '../lib/fields.js';
import type { Field } from '../lib/mutate.js';
import { invariant, type FuzzTarget } from '../lib/target.js';

/** Every file under test/fixtures/ (recursively) whose name ends with `ext`: real inputs added by later work. */
export function fixtureFiles(ext: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 4 || !existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p, depth + 1);
      else if (st.isFile() && name.endsWith(ext) && st.size <= 1 << 20) out.push(readFileSync(p));
    }
  };
  walk(packagePath('test', 'fixtures'), 0);
  return out;
}

const be32 = (b: Uint8Array, at: number): number =>
  at + 4 <= b.length ? new DataView(b.buffer, b.byteOffset).getUint32(at, false) : 0;

/** The FDT header, the reservation entries and every FDT_PROP's len and nameoff. */
export function fdtFields(b: Uint8Array): Field[] {
  const out = layoutFields(FdtHeader, 0, b.length);
  const rsv = be32(b, FdtHeader.offsets.offMemRsvmap);
  for (let at = rsv, i = 0; i < 8 && at + 16 <= b.length; at += 16, i++) {
    out.push({ at, width: 8, be: true }, { at: at + 8, width: 8, be: true });
    if (be32(b, at) === 0 && be32(b, at + 4) === 0 && be32(b, at + 8) === 0 && be32(b, at + 12) === 0) break;
  }
  let at = be32(b, FdtHeader.offsets.offDtStruct);
  for (let steps = 0; steps < 512 && at + 4 <= b.length; steps++) {
    const tok = be32(b, at);
    if (tok === 1) {
      const nul = b.indexOf(0, at + 4);
      if (nul < 0) break;
      at = (nul + 1 + 3) & ~3;
    } else if (tok === 3) {
      out.push({ at: at + 4, width: 4, be: true }, { at: at + 8, width: 4, be: true });
      at = (at + 12 + be32(b, at + 4) + 3) & ~3;
    } else if (tok === 2 || tok === 4) at += 4;
    else break;
  }
  return out;
}

/** parseFdt, the write-back round trip, /memory, and the rescue kernel's /memory rewrite. */
function decodeFdt(b: Uint8Array): unknown {
  const fdt = parseFdt(b);
  let again: Fdt;
  try {
    again = parseFdt(writeFdt(fdt));
  } catch (e) {
    if (e instanceof HandoffError) return { roundTrip: e.code }; // the writer refuses what dtc would
    throw e;
  }
  invariant(JSON.stringify(plain(again)) === JSON.stringify(plain(fdt)), 'write-back changes the tree');
  let ranges;
  try {
    ranges = readMemoryRanges(fdt);
  } catch (e) {
    // a real board's tree may leave /memory to the firmware (test/fixtures/dtb): decoded, with no RAM
    if (e instanceof HandoffError && e.code === FdtCode.NoMemoryNode) return { memory: e.code };
    throw e;
  }
  const rescue = rewriteMemoryReg(fdt, [{ start: 0x4000_0000n, size: 0x1000_0000n }]);
  return { ranges: ranges.length, size: writeFdt(rescue).length };
}

export const fdtTarget: FuzzTarget = bytesTarget({
  name: 'fdt',
  group: 'handoff',
  entry: 'parseFdt + writeFdt round trip + readMemoryRanges + rewriteMemoryReg',
  errors: [HandoffError],
  floor: 0.025,
  tapRuns: 8000,
  bigEndian: true,
  keepHead: FdtHeader.size,
  seeds: () => {
    const arm = loadProfile('arm64-fdt');
    const fw = hostFirmware(arm, buildMemoryMap(arm));
    return [
      writeFdt(goodFdt()),
      writeFdt(machineFdt()),
      ...(fw.kind === 'fdt' ? [fw.bytes] : []),
      ...fixtureFiles('.dtb'),
    ];
  },
  decode: decodeFdt,
  fields: fdtFields,
  extra: () => [{ weight: 1, arbitrary: arbFdt({ dtcClean: false }).map((f) => writeFdt(f)) }],
});

const efiMap48 = encodeEfiMap({
  descriptorSize: 48,
  descriptors: [
    { mdType: EFI_MD_TYPE.BS_CODE, mdPhys: 0n, mdVirt: 0n, mdPages: 0x9fn, mdAttr: 0xfn },
    { mdType: EFI_MD_TYPE.FREE, mdPhys: 0x10_0000n, mdVirt: 0n, mdPages: 0x8_0000n, mdAttr: 0xfn },
    { mdType: EFI_MD_TYPE.IOMEM, mdPhys: 0xfe00_0000n, mdVirt: 0n, mdPages: 0x10n, mdAttr: 1n },
  ],
});

function efiMaps(): Uint8Array[] {
  const out = [efiMap48];
  for (const name of builtinProfileNames()) {
    const p = loadProfile(name);
    const fw = hostFirmware(p, buildMemoryMap(p));
    if (fw.kind === 'efi') out.push(fw.bytes);
  }
  return out;
}

function efiMapFields(b: Uint8Array): Field[] {
  const ds = b.length >= 24 ? Number(new DataView(b.buffer, b.byteOffset).getBigUint64(8, true)) : 0;
  const step = ds >= EfiMd.size && ds <= 4096 ? ds : EfiMd.size;
  const out = layoutFields(EfiMapHeader, 0, b.length);
  for (let at = EFI_MAP_DESCRIPTORS_OFFSET, i = 0; i < 32 && at + EfiMd.size <= b.length; at += step, i++) {
    out.push(...layoutFields(EfiMd, at, b.length));
  }
  return out;
}

/** Modinfo records: type and size of each, walked as the kernel walks them. */
function modinfoFields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let at = 0, i = 0; i < 64 && at + 8 <= b.length; i++) {
    out.push({ at, width: 4 }, { at: at + 4, width: 4 });
    at += 8 + ((dv.getUint32(at + 4, true) + 7) & ~7);
  }
  return out;
}

const modinfoSeed = encodeModinfo([
  {
    name: '/boot/kernel/kernel',
    type: 'elf kernel',
    addr: 0x20_0000n,
    size: 0x1_2345n,
    metadata: [
      { type: MODINFOMD.HOWTO, data: mdInt(0x800) },
      { type: MODINFOMD.ENVP, data: mdU64(0x1000n) },
      { type: 0x1004, data: efiMap48 },
      { type: MODINFOMD.KERNEND, data: mdU64(0x40_0000n) },
    ],
  },
  { name: 'zfs.ko', type: 'elf obj module', args: 'a=b', addr: 0x40_0000n, size: 0x100n, metadata: [] },
]);

const small = { group: 'handoff' as const, errors: [HandoffError] };

export const modinfoTarget: FuzzTarget = bytesTarget({
  ...small,
  name: 'modinfo',
  entry: 'decodeModinfo + groupModules',
  floor: 0.07,
  tapRuns: 6000,
  seeds: () => [modinfoSeed],
  decode: (b) => groupModules(decodeModinfo(b)).map((m) => m.metadata.length),
  fields: modinfoFields,
});

export const kenvTarget: FuzzTarget = bytesTarget({
  ...small,
  name: 'kenv',
  entry: 'decodeKenv (md_copyenv strings)',
  floor: 0.18,
  tapRuns: 4000,
  seeds: () => [
    encodeKenv([
      ['kern.smp.disabled', '1'],
      ['vfs.root.mountfrom', 'ufs:/dev/md0'],
      ['boot_verbose', ''],
    ]),
    encodeKenv(loadProfile('amd64-efi').hostKernel.kenv),
  ],
  decode: (b) => decodeKenv(b).length,
});

export const efiMapTarget: FuzzTarget = bytesTarget({
  ...small,
  name: 'efimap',
  entry: 'decodeEfiMap (struct efi_map_header + descriptors)',
  floor: 0.2,
  tapRuns: 4000,
  seeds: efiMaps,
  decode: (b) => decodeEfiMap(b).descriptors.length,
  fields: efiMapFields,
});

export const rescueEfiMapTarget: FuzzTarget = bytesTarget({
  ...small,
  name: 'rescue-efimap',
  entry: "encodeRescueEfiMap (the rescue kernel's copy of a hostile source map) + decodeEfiMap of the copy",
  floor: 0.2,
  tapRuns: 4000,
  seeds: efiMaps,
  decode: (b) =>
    decodeEfiMap(encodeRescueEfiMap(b, { rescuePa: 0x4000_0000n, memsize: 0x860_0000n, arch: 'amd64' })).descriptors
      .length,
  fields: efiMapFields,
});

export const smapTarget: FuzzTarget = bytesTarget({
  ...small,
  name: 'smap',
  entry: 'decodeSmap (struct bios_smap array)',
  floor: 0.17,
  tapRuns: 4000,
  seeds: () => {
    const bios = loadProfile('amd64-bios');
    const fw = hostFirmware(bios, buildMemoryMap(bios));
    return [
      encodeSmap([
        { base: 0n, length: 0x9_fc00n, type: 1 },
        { base: 0x10_0000n, length: 0x7ff0_0000n, type: 1 },
      ]),
      ...(fw.kind === 'smap' ? [fw.bytes] : []),
    ];
  },
  decode: (b) => decodeSmap(b).length,
  fields: (b) => tableFields(BiosSmap, 0, Math.floor(b.length / BiosSmap.size), b.length),
});

export const efiFbTarget: FuzzTarget = bytesTarget({
  ...small,
  name: 'efifb',
  entry: 'decodeEfiFb (struct efi_fb)',
  floor: 0.25,
  tapRuns: 2000,
  seeds: () => [
    encodeEfiFb({
      fbAddr: 0x8000_0000n,
      fbSize: 0x30_0000n,
      fbHeight: 768,
      fbWidth: 1024,
      fbStride: 1024,
      fbMaskRed: 0xff_0000,
      fbMaskGreen: 0xff00,
      fbMaskBlue: 0xff,
      fbMaskReserved: 0xff00_0000,
    }),
  ],
  decode: (b) => decodeEfiFb(b).fbWidth,
  fields: (b) => layoutFields(EfiFb, 0, b.length),
});

export const paramsTarget: FuzzTarget = bytesTarget({
  ...small,
  name: 'params',
  entry: 'decodeRescueParams (struct rescue_kernel_params, amd64 and arm64)',
  floor: 0.24,
  tapRuns: 2000,
  seeds: () => [
    encodeRescueParams('amd64', { kpEfimapstart: 0x4000_00a0n, kpEfimaplen: 0x90n, kpBoothowto: 0x800 }),
    encodeRescueParams('arm64', { kpDtbstart: 0x4000_1000n, kpDtblen: 0x2000n }),
  ],
  decode: (b) => {
    // the bytes are one arch's struct: decoded when either arch's decoder takes them
    let last: unknown;
    const ok = (['amd64', 'arm64'] as const).filter((arch) => {
      try {
        decodeRescueParams(arch, b);
        return true;
      } catch (e) {
        last = e;
        return false;
      }
    });
    if (ok.length === 0) throw last;
    return ok;
  },
  fields: (b) =>
    layoutFields(rescueParamsLayout(b.length === rescueParamsLayout('arm64').size ? 'arm64' : 'amd64'), 0, b.length),
});

/**
 * The host's whole hand-off as guest memory: a 32-byte header (arch, KERNBASE's PA, modulep's
 * PA, the PA of the first byte after the header) and the bytes encodeHostHandoff placed from
 * that PA on (modules, kenv, DTB, modinfo). decodeHostHandoff follows every pointer in them.
 */
function hostHandoffSeeds(): Uint8Array[] {
  return builtinProfileNames().map((name) => {
    const p = loadProfile(name);
    const arch = p.arch;
    const load = p.hostKernel.range.start;
    const kernbasePa = (arch === 'amd64' ? load - 0x20_0000n : load) as PhysAddr;
    const h = encodeHostHandoff({
      arch,
      kernbasePa,
      at: (load + 0x10_0000n) as PhysAddr,
      kernelName: '/boot/kernel/kernel',
      image: { start: load, size: 0x10_0000n as Size },
      kenv: p.hostKernel.kenv,
      boothowto: p.hostKernel.boothowto,
      firmware: hostFirmware(p, buildMemoryMap(p)),
      modules: [{ name: '/boot/kernel/zfs.ko', type: 'elf obj module', bytes: Uint8Array.of(1, 2, 3) }],
    });
    const base = h.placements.reduce((m, x) => (x.phys < m ? x.phys : m), h.modulepPa as bigint);
    const end = h.placements.reduce(
      (m, x) => (x.phys + BigInt(x.data.length) > m ? x.phys + BigInt(x.data.length) : m),
      0n,
    );
    const out = new Uint8Array(32 + Number(end - base));
    const dv = new DataView(out.buffer);
    dv.setBigUint64(0, arch === 'amd64' ? 0n : 1n, true);
    dv.setBigUint64(8, kernbasePa, true);
    dv.setBigUint64(16, h.modulepPa, true);
    dv.setBigUint64(24, base, true);
    for (const x of h.placements) out.set(x.data, 32 + Number(x.phys - base));
    return out;
  });
}

function decodeHost(b: Uint8Array): unknown {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const word = (at: number): bigint => (at + 8 <= b.length ? dv.getBigUint64(at, true) : 0n);
  const arch: Arch = (word(0) & 1n) === 0n ? 'amd64' : 'arm64';
  const read = placementReader([{ label: 'hand-off', phys: word(24) as PhysAddr, data: b.subarray(32) }]);
  const view = decodeHostHandoff(read, {
    arch,
    kernbasePa: word(8) as PhysAddr,
    modulepPa: word(16) as PhysAddr,
  });
  return { firmware: view.firmware, physmem: view.physmem.length, kenv: view.kenv.length };
}

export const hostHandoffTarget: FuzzTarget = bytesTarget({
  name: 'host-handoff',
  group: 'handoff',
  entry: "decodeHostHandoff (the host kernel's modinfo, kenv, EFI map / SMAP / DTB from guest memory)",
  errors: [HandoffError, HostError],
  floor: 0.09,
  tapRuns: 6000,
  seeds: hostHandoffSeeds,
  decode: decodeHost,
  keepHead: 32,
  fields: (b) => {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const at = 32 + Number(dv.getBigUint64(16, true) - dv.getBigUint64(24, true));
    return [
      { at: 16, width: 8 },
      { at: 24, width: 8 },
      ...modinfoFields(b.subarray(at)).map((f) => ({ ...f, at: f.at + at })),
    ];
  },
});

function probeSeed(arch: Arch, rescue: boolean): Uint8Array {
  const paramsLen = rescue ? rescueParamsLayout(arch).size : 0;
  const kenv = new TextEncoder().encode('kern.smp.disabled=1\0a=b\0\0');
  return encodeProbeReport({
    ...PROBE_ITS_FIELDS_ZERO,
    magic: PROBE_MAGIC,
    version: PROBE_VERSION,
    machine: archInfo(arch).elfMachine,
    flags: PROBE_FLAGS_ALL,
    mode: rescue ? PROBE_MODE_VALUE.rescue : PROBE_MODE_VALUE.kexec,
    entryPc: probeEntryVa(arch),
    gpr: Array.from({ length: 32 }, (_, i) => BigInt(i) * 0x1111n),
    sys: Array.from({ length: 8 }, (_, i) => 0x8000_0000n + BigInt(i)),
    ptRoot: 0x10_0000n,
    bootArgs: [0x30_0000n, 0x40_0000n],
    handoffAddr: 0xffff_ffff_8030_0000n,
    handoff: Uint8Array.from({ length: 64 }, (_, i) => i),
    checksum: 0x0123_4567_89ab_cdefn,
    checksumStart: probeEntryVa(arch),
    checksumEnd: probeEntryVa(arch) + 0x200n,
    uartBase: arch === 'amd64' ? 0x3f8n : 0x0900_0000n,
    firmwareKind: rescue ? PROBE_FIRMWARE_KIND[arch === 'amd64' ? 'smap' : 'fdt'] : PROBE_FIRMWARE_KIND.none,
    paramsLen,
    kenvLen: rescue ? kenv.length : 0,
    firmwareLen: rescue ? 24 : 0,
    kenvAddr: rescue ? 0x4020_0200n : 0n,
    firmwareAddr: rescue ? 0x4020_00a8n : 0n,
    params: Uint8Array.from({ length: PROBE_PARAMS_BYTES }, (_, i) => (i < paramsLen ? i + 1 : 0)),
    kenv: Uint8Array.from({ length: PROBE_FOLLOW_BYTES }, (_, i) => (rescue ? (kenv[i] ?? 0) : 0)),
    firmware: Uint8Array.from({ length: PROBE_FOLLOW_BYTES }, (_, i) => (rescue && i < 24 ? 0xd0 + i : 0)),
  });
}

export const probeReportTarget: FuzzTarget = bytesTarget({
  name: 'probe-report',
  group: 'handoff',
  entry: 'decodeProbeReport + its JSON form (kboot exec --json)',
  errors: [ProbeError],
  floor: 0.15,
  tapRuns: 4000,
  seeds: () => [
    probeSeed('amd64', true),
    probeSeed('arm64', true),
    probeSeed('amd64', false),
    probeSeed('arm64', false),
  ],
  decode: (b) => {
    const r = decodeProbeReport(b);
    JSON.stringify(jsonSafe({ ...r, raw: undefined }));
    return { arch: r.arch, mode: r.mode, complete: r.complete, params: r.params.length };
  },
  fields: (b) => layoutFields(ProbeReportLayout, 0, b.length).filter((f) => f.at < 32 || f.at >= 448),
  keepHead: 24,
});

const GiB = 0x4000_0000n;
const MiB = 0x10_0000n;

/** A host state with a crash reservation at 1 GiB (Linux) and RAM to 2 GiB. */
function kexecState(abi: KexecAbi, arch: Arch): KexecState {
  return {
    abi,
    arch,
    userspaceReached: true,
    physSegs: [
      { start: 0x1000n as PhysAddr, size: 0x9_e000n as Size },
      { start: MiB as PhysAddr, size: (2n * GiB - MiB) as Size },
    ],
    loaded: {},
    ...(abi === 'linux' ? { crashReservation: { start: GiB as PhysAddr, size: (256n * MiB) as Size } } : {}),
  };
}

/**
 * kexec_load's arguments as bytes: a 32-byte header (flags: bit 0 FreeBSD ABI, bit 1 arm64;
 * nseg; entry; kexec flags), the segment array, then the user's buffers (a segment's `buf`
 * is an offset into them).
 */
function kexecSeed(abi: KexecAbi, arch: Arch, crash: boolean): Uint8Array {
  const segs = [
    { buf: 0n, bufsz: 0x1800n, mem: GiB, memsz: 0x2000n },
    { buf: 0x1800n, bufsz: 0x800n, mem: GiB + 2n * MiB, memsz: MiB },
  ];
  const array = encodeKexecSegments(abi, segs);
  const head = new Uint8Array(32);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, (abi === 'freebsd' ? 1 : 0) | (arch === 'arm64' ? 2 : 0), true);
  dv.setUint32(4, segs.length, true);
  dv.setBigUint64(8, GiB + 2n * MiB + 0x1000n, true);
  const archBits = arch === 'amd64' ? LINUX_KEXEC.ARCH_X86_64 : LINUX_KEXEC.ARCH_AARCH64;
  dv.setBigUint64(16, abi === 'linux' ? (crash ? LINUX_KEXEC.ON_CRASH : 0n) | archBits : 0n, true);
  const bufs = Uint8Array.from({ length: 0x2000 }, (_, i) => (i * 7) & 0xff);
  const out = new Uint8Array(32 + array.length + bufs.length);
  out.set(head);
  out.set(array, 32);
  out.set(bufs, 32 + array.length);
  return out;
}

const SEGMENT_SIZE = encodeKexecSegments('linux', [{ buf: 0n, bufsz: 0n, mem: 0n, memsz: 0n }]).length;

function decodeKexec(b: Uint8Array): unknown {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u32 = (at: number): number => (at + 4 <= b.length ? dv.getUint32(at, true) : 0);
  const u64 = (at: number): bigint => (at + 8 <= b.length ? dv.getBigUint64(at, true) : 0n);
  const abi: KexecAbi = (u32(0) & 1) === 0 ? 'linux' : 'freebsd';
  const arch: Arch = (u32(0) & 2) === 0 ? 'amd64' : 'arm64';
  const nseg = u32(4);
  // Both kernels refuse more than KEXEC_SEGMENT_MAX before copying: the array is read only up to that.
  const body = b.subarray(Math.min(32, b.length));
  const segs = decodeKexecSegments(abi, body, Math.min(nseg, 16));
  const arrayEnd = Math.min(body.length, Math.min(nseg, 16) * SEGMENT_SIZE);
  const bufs = body.subarray(arrayEnd);
  const out = kexecLoad(kexecState(abi, arch), {
    entry: u64(8),
    flags: u64(16),
    nseg: BigInt(nseg),
    segments: segs.map((s) => ({
      buf: bufs.subarray(Number(s.buf % BigInt(bufs.length + 1))),
      bufsz: s.bufsz,
      mem: s.mem,
      memsz: s.memsz,
    })),
  });
  if (!out.ok) throw out.error;
  return { action: out.action, slot: out.slot, segments: out.image?.segments.length ?? 0 };
}

export const kexecTarget: FuzzTarget = bytesTarget({
  name: 'kexec',
  group: 'handoff',
  entry: 'decodeKexecSegments + kexecLoad (Linux and FreeBSD rules on a host with a crash reservation)',
  errors: [KexecError],
  floor: 0.23,
  tapRuns: 4000,
  seeds: () => [
    kexecSeed('linux', 'amd64', true),
    kexecSeed('linux', 'arm64', false),
    kexecSeed('freebsd', 'amd64', false),
  ],
  decode: decodeKexec,
  keepHead: 96,
  fields: () => [
    { at: 4, width: 4 },
    { at: 8, width: 8 },
    { at: 16, width: 8 },
    ...Array.from({ length: 8 }, (_, i) => ({ at: 32 + i * 8, width: 8 as const })), // two segments
  ],
});
