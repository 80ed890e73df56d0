/**
 * The firmware memory map the host kernel is handed, built from a machine profile: the
 * MODINFOMD_EFI_MAP body (EFI machines), the MODINFOMD_SMAP array (BIOS), or the DTB
 * (arm64 FDT machines). The rescue hand-off is derived from exactly these bytes, as
 * rescue_kernel_init derives it from the host's preload metadata.
 *
 * Contract: pure and deterministic for a profile. Type mapping (sys/sys/efi.h,
 * sys/amd64/include/pc/bios.h): RAM → EFI_MD_TYPE_FREE / SMAP_TYPE_MEMORY; the loaded
 * kernel → EFI_MD_TYPE_DATA (loader data) / SMAP_TYPE_MEMORY; runtime code/data →
 * RT_CODE/RT_DATA with EFI_MD_ATTR_RT / SMAP reserved; ACPI reclaim and NVS → RECLAIM /
 * FIRMWARE and SMAP 3 / 4; persistent → PERSISTENT / SMAP_TYPE_PMEM; other reserved →
 * EFI reserved (0) / SMAP reserved. EFI descriptors are 48 bytes apart, as most firmware
 * lays them out (kboot honours descriptor_size everywhere). An FDT machine's tree is the
 * profile's board DTB (imported) with the loader's /chosen edits, else kboot's own.
 */
import type { PhysRange } from '../addr.js';
import { EFI_MD_ATTR, EFI_MD_TYPE, encodeEfiMap, type EfiMemoryDescriptor } from '../handoff/efimap.js';
import { encodeEfiFb } from '../handoff/efifb.js';
import { parseFdt, writeFdt, type Fdt } from '../handoff/fdt/index.js';
import { encodeSmap, SMAP_TYPE, type BiosSmapEntry } from '../handoff/smap.js';
import type { FirmwareMapEntry, MemoryMap } from './memory-map.js';
import type { MachineProfile } from './profile.js';
import { intersectAll } from './ranges.js';
import { buildMachineFdt, loaderFdtFixup } from './host-fdt.js';

/** Descriptor stride of the firmware kboot models. */
export const FIRMWARE_EFI_DESCRIPTOR_SIZE = 48;

export type HostFirmware =
  | {
      readonly kind: 'efi';
      readonly descriptors: readonly EfiMemoryDescriptor[];
      /** MODINFOMD_EFI_MAP body: header, pad to 16, descriptors. */
      readonly bytes: Uint8Array;
      /** MODINFOMD_EFI_FB body (struct efi_fb), when the machine has a framebuffer. */
      readonly efiFb: Uint8Array | undefined;
    }
  | { readonly kind: 'smap'; readonly entries: readonly BiosSmapEntry[]; readonly bytes: Uint8Array }
  | { readonly kind: 'fdt'; readonly fdt: Fdt; readonly bytes: Uint8Array };

const MEM_ATTRS = EFI_MD_ATTR.UC | EFI_MD_ATTR.WC | EFI_MD_ATTR.WT | EFI_MD_ATTR.WB;

function efiDescriptor(e: FirmwareMapEntry): EfiMemoryDescriptor {
  const pages = e.range.size / 4096n;
  const base = { mdPhys: e.range.start as bigint, mdVirt: 0n, mdPages: pages };
  switch (e.type) {
    case 'ram':
      return { ...base, mdType: EFI_MD_TYPE.FREE, mdAttr: MEM_ATTRS };
    case 'loader-data':
      return { ...base, mdType: EFI_MD_TYPE.DATA, mdAttr: MEM_ATTRS };
    case 'runtime-code':
      return { ...base, mdType: EFI_MD_TYPE.RT_CODE, mdAttr: MEM_ATTRS | EFI_MD_ATTR.RT };
    case 'runtime-data':
      return { ...base, mdType: EFI_MD_TYPE.RT_DATA, mdAttr: MEM_ATTRS | EFI_MD_ATTR.RT };
    case 'acpi-reclaim':
      return { ...base, mdType: EFI_MD_TYPE.RECLAIM, mdAttr: MEM_ATTRS };
    case 'acpi-nvs':
      return { ...base, mdType: EFI_MD_TYPE.FIRMWARE, mdAttr: MEM_ATTRS };
    case 'persistent':
      return { ...base, mdType: EFI_MD_TYPE.PERSISTENT, mdAttr: MEM_ATTRS | EFI_MD_ATTR.NV };
    case 'reserved':
      return { ...base, mdType: EFI_MD_TYPE.NULL, mdAttr: EFI_MD_ATTR.UC };
  }
}

function smapType(e: FirmwareMapEntry): number {
  switch (e.type) {
    case 'ram':
    case 'loader-data':
      return SMAP_TYPE.MEMORY;
    case 'acpi-reclaim':
      return SMAP_TYPE.ACPI_RECLAIM;
    case 'acpi-nvs':
      return SMAP_TYPE.ACPI_NVS;
    case 'persistent':
      return SMAP_TYPE.PMEM;
    case 'runtime-code':
    case 'runtime-data':
    case 'reserved':
      return SMAP_TYPE.RESERVED;
  }
}

/**
 * A profile label ("ACPI tables", "fw/secure") as a device-tree node name: characters a node
 * name cannot hold (Devicetree Specification v0.4 §2.2.1: letters, digits and `,._+-`)
 * become `-`.
 */
export function fdtNodeName(label: string): string {
  return label.replace(/[^A-Za-z0-9,._+-]/g, '-');
}

/** The device tree an FDT machine's firmware hands the host. */
export function machineFdt(profile: MachineProfile, map: MemoryMap): Fdt {
  const ram: readonly PhysRange[] = map.ram;
  const reservedInRam = profile.reserved.flatMap((r) =>
    intersectAll([r.range], ram).map((x) => ({
      name: fdtNodeName(r.name),
      start: x.start as bigint,
      size: x.size as bigint,
      noMap: true,
    })),
  );
  const gic = profile.gic;
  const redist = gic?.redistributors[0];
  return buildMachineFdt({
    model: `kboot ${profile.name}`,
    compatible: `kboot,${profile.name}`,
    cpus: profile.cpus,
    memory: ram.map((r) => ({ start: r.start, size: r.size })),
    reserved: reservedInRam,
    ...(profile.uart.kind === 'pl011' ? { uart: { base: profile.uart.base, size: profile.uart.size } } : {}),
    ...(gic === undefined || redist === undefined
      ? {}
      : {
          gic: {
            distributor: gic.distributor,
            redistributor: redist.start,
            redistributorSize: redist.size,
            ...(gic.its[0] === undefined ? {} : { its: gic.its[0] }),
          },
        }),
    bootargs: '',
  });
}

/** The firmware map the host kernel receives (see the module contract). */
export function hostFirmware(profile: MachineProfile, map: MemoryMap): HostFirmware {
  switch (profile.firmware) {
    case 'efi': {
      const descriptors = map.firmware.map(efiDescriptor);
      const fb = profile.framebuffer;
      return {
        kind: 'efi',
        descriptors,
        bytes: encodeEfiMap({ descriptorSize: FIRMWARE_EFI_DESCRIPTOR_SIZE, descriptors }),
        efiFb:
          fb === undefined
            ? undefined
            : encodeEfiFb({
                fbAddr: fb.base,
                fbSize: fb.size,
                fbHeight: fb.height,
                fbWidth: fb.width,
                fbStride: fb.stride,
                fbMaskRed: 0x00ff_0000,
                fbMaskGreen: 0x0000_ff00,
                fbMaskBlue: 0x0000_00ff,
                fbMaskReserved: 0xff00_0000,
              }),
      };
    }
    case 'bios': {
      const entries = map.firmware.map((e) => ({
        base: e.range.start as bigint,
        length: e.range.size as bigint,
        type: smapType(e),
      }));
      return { kind: 'smap', entries, bytes: encodeSmap(entries) };
    }
    case 'fdt': {
      // An imported board brings its own tree; the loader edits its /chosen as FreeBSD's does.
      const fdt = profile.dtb === undefined ? machineFdt(profile, map) : loaderFdtFixup(parseFdt(profile.dtb));
      return { kind: 'fdt', fdt, bytes: writeFdt(fdt) };
    }
  }
}
