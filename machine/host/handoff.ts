/**
 * What the loader hands the host kernel, and how the host reads it back from guest memory
 * (the honesty rule: the model's memory picture comes only from these bytes).
 *
 * Contract:
 *  - `encodeHostHandoff` lays out, at a page after the kernel image, the kenv (md_copyenv
 *    format), the DTB on FDT machines, then the modinfo with HOWTO, ENVP, [DTBP], KERNEND,
 *    [EFI_MAP, EFI_FB | SMAP] — bi_load's order (stand/efi/loader/bootinfo.c;
 *    freebsd-handoff.md §1.4). Metadata addresses are amd64 offsets from the PA KERNBASE maps
 *    to, arm64 kernel VAs (§1.5).
 *  - `decodeHostHandoff(read, at)` and `hostFromHandoff(machine, at)` decode the modinfo at
 *    `modulepPa` with loader/handoff's decoders and derive the RAM the host believes it has:
 *    EFI descriptors of efi_physmem_type() types (sys/sys/efi.h), SMAP_TYPE_MEMORY entries
 *    (sys/amd64/amd64/machdep.c), or the DTB's /memory minus /memreserve and no-map
 *    /reserved-memory children (arm64 machdep: physmem_exclude_regions(EXFLAG_NODUMP |
 *    EXFLAG_NOALLOC)). Decoder errors pass through as HandoffError; a missing kernel module,
 *    a missing memory map or a pointer outside RAM is a HostError.
 *  - `dumpAvailFrom(view)`: dump_avail as page-aligned, merged `[start, end)` pairs.
 */
import {
  add,
  alignDown,
  alignUp,
  hex,
  phys,
  rangeFromEnd,
  size,
  SZ_4K,
  wholePages,
  type AddrLike,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../../loader/addr.js';
import { archInfo, type Arch } from '../../loader/arch/index.js';
import { decodeEfiMap, efiPhysmemType } from '../../loader/handoff/efimap.js';
import { findNode, getProp, parseFdt, readMemoryRanges, type Fdt } from '../../loader/handoff/fdt/index.js';
import { decodeKenv, encodeKenv, type KenvEntry } from '../../loader/handoff/kenv.js';
import {
  decodeModinfo,
  encodeModinfo,
  findKernelModule,
  findMetadata,
  groupModules,
  MODINFOMD,
  readMdInt,
  readMdU64,
  type PreloadedModule,
} from '../../loader/handoff/modinfo.js';
import { decodeSmap, SMAP_TYPE } from '../../loader/handoff/smap.js';
import { propReg, asCellCount, addressCells, sizeCells } from '../../loader/handoff/fdt/props.js';
import type { HostFirmware } from '../../loader/plan/firmware.js';
import { loaderMetadata, metadataAddress, metadataToPhys } from '../../loader/plan/kexec-plan.js';
import { normalize, subtract } from '../../loader/plan/ranges.js';
import type { GuestRam } from '../../loader/memory/guest-ram.js';
import type { Machine, Placement } from '../machine.js';
import { HostCode, HostError } from './errors.js';

/** Bytes a reader returns at most for one variable-length item (modinfo, kenv, DTB). */
export const HANDOFF_READ_LIMIT = 0x10_0000;

/** Reads up to `max` bytes at `pa` (fewer at the end of RAM); throws HOST_BAD_POINTER when `pa` is not RAM. */
export type PhysReader = (pa: bigint, max: number, what: string) => Uint8Array;

/** Where the host's metadata is and how to turn metadata addresses into PAs. */
export interface HandoffLocation {
  readonly arch: Arch;
  readonly modulepPa: PhysAddr;
  /** The PA that KERNBASE maps to (amd64: load − 2 MiB; arm64: the load address). */
  readonly kernbasePa: PhysAddr;
}

export interface HostHandoffInput {
  readonly arch: Arch;
  readonly kernbasePa: PhysAddr;
  /** First free page after the kernel image. */
  readonly at: PhysAddr;
  readonly kernelName: string;
  /** The kernel image: first PA and size (MODINFO_ADDR / MODINFO_SIZE). */
  readonly image: PhysRange;
  readonly kenv: readonly KenvEntry[];
  readonly boothowto: number;
  readonly firmware: HostFirmware;
  /**
   * Modules the loader preloads (KLD preload, loader.conf `*_load="YES"`): each is placed at
   * the next page after the kernel image (or the previous module), as the loader loads
   * modules after the kernel, and gets a modinfo record after the kernel's.
   */
  readonly modules?: readonly PreloadInput[];
}

/** A preloaded module: its MODINFO_NAME, MODINFO_TYPE and file bytes. */
export interface PreloadInput {
  readonly name: string;
  readonly type: string;
  readonly bytes: Uint8Array;
}

export interface HostHandoff {
  readonly placements: readonly Placement[];
  readonly envPa: PhysAddr;
  readonly dtbPa: PhysAddr | undefined;
  readonly modulepPa: PhysAddr;
  readonly kernendPa: PhysAddr;
}

export { metadataAddress, metadataToPhys } from '../../loader/plan/kexec-plan.js';

const pageUp = <A extends AddrLike>(a: A): A => alignUp(a, SZ_4K);
const pageBytes = (n: number): Size => pageUp(size(n));

/** The loader's hand-off for the host (see the module contract). */
export function encodeHostHandoff(input: HostHandoffInput): HostHandoff {
  const { arch, kernbasePa, firmware } = input;
  const md = (pa: bigint): bigint => metadataAddress(arch, kernbasePa, pa);
  const kenvBytes = encodeKenv(input.kenv);
  let next = pageUp(input.at);
  const placements: Placement[] = [];
  const moduleRecords: PreloadedModule[] = [];
  for (const m of input.modules ?? []) {
    placements.push({ label: `preloaded module ${m.name}`, phys: next, data: m.bytes });
    moduleRecords.push({ name: m.name, type: m.type, addr: md(next), size: BigInt(m.bytes.length), metadata: [] });
    next = add(next, pageBytes(m.bytes.length));
  }
  const envPa = next;
  next = add(next, pageBytes(kenvBytes.length));
  placements.push({ label: 'host kenv', phys: envPa, data: kenvBytes });
  let dtbPa: PhysAddr | undefined;
  if (firmware.kind === 'fdt') {
    dtbPa = next;
    placements.push({ label: 'host DTB', phys: dtbPa, data: firmware.bytes });
    next = add(next, pageBytes(firmware.bytes.length));
  }
  const modulepPa = next;
  const metadata = loaderMetadata(arch, {
    boothowto: input.boothowto,
    envp: md(envPa),
    ...(dtbPa === undefined ? {} : { dtbp: md(dtbPa) }),
    firmware,
  });
  const kernel: PreloadedModule = {
    name: input.kernelName,
    type: 'elf kernel',
    addr: md(input.image.start),
    size: input.image.size,
    metadata,
  };
  let kernendPa = modulepPa;
  const modinfo = encodeModinfo([kernel, ...moduleRecords], {
    kernend: (bytes) => {
      kernendPa = pageUp(add(modulepPa, size(bytes)));
      return md(kernendPa);
    },
  });
  placements.push({ label: 'host modinfo', phys: modulepPa, data: modinfo });
  return { placements, envPa, dtbPa, modulepPa, kernendPa };
}

/** The host's picture of the machine, decoded from its hand-off. */
export interface HostView {
  readonly arch: Arch;
  readonly kernelName: string;
  readonly boothowto: number;
  readonly kenv: readonly KenvEntry[];
  readonly firmware: 'efi' | 'smap' | 'fdt';
  /** Physical memory the kernel adds (physmem hardware regions), page-aligned inward, merged. */
  readonly physmem: readonly PhysRange[];
  /** Ranges excluded with EXFLAG_NODUMP (FDT no-map / memreserve). */
  readonly excluded: readonly PhysRange[];
  readonly kernendPa: PhysAddr;
  readonly imagePa: PhysAddr;
  readonly envPa: PhysAddr | undefined;
  readonly dtbPa: PhysAddr | undefined;
}

/** A decoded memory range shrunk to whole pages (physmem_hardware_region rounds inward). */

function fdtExcluded(fdt: Fdt): PhysRange[] {
  const out: { start: bigint; size: bigint }[] = fdt.memReserve.map((m) => ({ start: m.address, size: m.size }));
  const rm = findNode(fdt, '/reserved-memory');
  if (rm !== undefined) {
    const ac = asCellCount(addressCells(rm), 'reserved-memory #address-cells');
    const sc = asCellCount(sizeCells(rm), 'reserved-memory #size-cells');
    for (const c of rm.children) {
      const reg = getProp(c, 'reg');
      if (reg !== undefined && getProp(c, 'no-map') !== undefined) out.push(...propReg(reg, ac, sc));
    }
  }
  return normalize(out.map((r) => rangeFromEnd(alignDown(phys(r.start), SZ_4K), pageUp(phys(r.start + r.size)))));
}

/** Decodes the hand-off through `read` (see the module contract). */
export function decodeHostHandoff(read: PhysReader, at: HandoffLocation): HostView {
  const { arch, kernbasePa } = at;
  const info = archInfo(arch);
  const modules = groupModules(decodeModinfo(read(at.modulepPa, HANDOFF_READ_LIMIT, 'modulep')));
  const kernel = findKernelModule(modules);
  if (kernel === undefined) {
    throw new HostError(
      HostCode.NoKernelModule,
      `machine: the preload metadata at ${hex(at.modulepPa)} has no "elf kernel" module (${hex(modules.length)} modules)`,
      { modulepPa: at.modulepPa, modules: modules.length },
    );
  }
  const toPa = (v: bigint, what: string): PhysAddr => {
    const pa = metadataToPhys(arch, kernbasePa, v);
    if (pa < 0n || pa >= 1n << 64n) {
      throw new HostError(HostCode.BadPointer, `machine: ${what} ${hex(v)} does not name a physical address`, {
        what,
        value: v,
      });
    }
    return phys(pa);
  };
  const howto = findMetadata(kernel, MODINFOMD.HOWTO);
  const envp = findMetadata(kernel, MODINFOMD.ENVP);
  const kernend = findMetadata(kernel, MODINFOMD.KERNEND);
  const envPa = envp === undefined ? undefined : toPa(readMdU64(envp), 'ENVP');
  const kenv = envPa === undefined ? [] : decodeKenv(read(envPa, HANDOFF_READ_LIMIT, 'ENVP'));
  const efi = findMetadata(kernel, info.modinfomd.EFI_MAP);
  const smap = info.modinfomd.SMAP === undefined ? undefined : findMetadata(kernel, info.modinfomd.SMAP);
  const dtbp = findMetadata(kernel, info.modinfomd.DTBP);
  const dtbPa = dtbp === undefined ? undefined : toPa(readMdU64(dtbp), 'DTBP');
  let firmware: HostView['firmware'];
  let raw: { start: bigint; size: bigint }[];
  let excluded: PhysRange[] = [];
  if (efi !== undefined) {
    firmware = 'efi';
    raw = decodeEfiMap(efi)
      .descriptors.filter((d) => efiPhysmemType(d.mdType))
      .map((d) => ({ start: d.mdPhys, size: d.mdPages * 4096n }));
  } else if (smap !== undefined) {
    firmware = 'smap';
    raw = decodeSmap(smap)
      .filter((e) => e.type === SMAP_TYPE.MEMORY)
      .map((e) => ({ start: e.base, size: e.length }));
  } else if (dtbPa !== undefined) {
    firmware = 'fdt';
    const fdt = parseFdt(read(dtbPa, HANDOFF_READ_LIMIT, 'DTBP'));
    raw = readMemoryRanges(fdt);
    excluded = fdtExcluded(fdt);
  } else {
    throw new HostError(
      HostCode.NoMemoryMap,
      `machine: the preload metadata at ${hex(at.modulepPa)} has no EFI_MAP, SMAP or DTB ("No BIOS smap or EFI map info from loader!")`,
      { modulepPa: at.modulepPa },
    );
  }
  const physmem = normalize(raw.flatMap((r) => wholePages(r.start, r.size) ?? []));
  return {
    arch,
    kernelName: kernel.name,
    boothowto: howto === undefined ? 0 : readMdInt(howto),
    kenv,
    firmware,
    physmem,
    excluded,
    kernendPa: kernend === undefined ? phys(0) : toPa(readMdU64(kernend), 'KERNEND'),
    imagePa: toPa(kernel.addr, 'MODINFO_ADDR'),
    envPa,
    dtbPa,
  };
}

/** dump_avail of a view: physmem minus the NODUMP exclusions, as `[start, end)` pairs (no terminator). */
export function dumpAvailFrom(view: HostView): (readonly [bigint, bigint])[] {
  return subtract(view.physmem, view.excluded).map((r) => [r.start as bigint, (r.start + r.size) as bigint] as const);
}

/** A PhysReader over guest RAM: bounded by `max` and by the end of the RAM region holding `pa`. */
export function ramReader(ram: GuestRam): PhysReader {
  return (pa, max, what) => {
    const region = ram.regions.find((r) => pa >= r.base && pa < r.base + r.size);
    if (region === undefined) {
      throw new HostError(HostCode.BadPointer, `machine: ${what} ${hex(pa)} is not guest RAM`, { what, pa });
    }
    const len = Math.min(max, Number(region.base + region.size - pa));
    return ram.read(phys(pa), len);
  };
}

/** A PhysReader over placements (the pure path of buildHostModel). */
export function placementReader(items: readonly Placement[]): PhysReader {
  return (pa, max, what) => {
    const p = items.find((x) => pa >= x.phys && pa < x.phys + BigInt(x.data.length));
    if (p === undefined) {
      throw new HostError(HostCode.BadPointer, `machine: ${what} ${hex(pa)} is not in the staged hand-off`, {
        what,
        pa,
      });
    }
    const off = Number(pa - p.phys);
    return p.data.subarray(off, Math.min(p.data.length, off + max));
  };
}

/** Decodes the host's hand-off from guest RAM (the honesty rule: RAM only). */
export function hostFromHandoff(machine: Machine, at: HandoffLocation): HostView {
  return decodeHostHandoff(ramReader(machine.ram), at);
}
