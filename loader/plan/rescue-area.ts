/**
 * The first 2 MiB of a rescue reservation, byte for byte as D47358's rescue_kernel_init
 * writes it (markjdb/freebsd @bd74b35 sys/{amd64,arm64}/{amd64,arm64}/rescue_machdep.c):
 *
 *   +0                  struct rescue_kernel_params (amd64 160 / arm64 168 bytes)
 *   +roundup(params, 8) firmware map copy:
 *                         EFI: header + kept descriptors (RAM dropped but the one holding
 *                              rescue_pa, rewritten; amd64 keeps RAM at PA 0), then efi_fb;
 *                         BIOS (amd64): one bios_smap {rescue_pa, memsize, MEMORY}, 20 bytes
 *                              written, kp_smaplen 24;
 *                         FDT (arm64): the host DTB with /memory reg set in place to
 *                              <rescue_pa memsize>
 *   next                kenv: kern.smp.disabled=1, debug.rescue.* (prefix removed), the rest, \0
 *   round_page (amd64)  16 bootstrap page-table pages (filled at panic time)
 *   +2 MiB              the raw rescue kernel ELF file
 * Everything before the kernel must end by +2 MiB ("rescue: kernel metadata is too large").
 *
 * Contract: pure; returns the segments and the parameter values, or throws PlanError
 * (PLAN_METADATA_TOO_LARGE, PLAN_FIRMWARE_MAP) naming the sizes involved. Failure modes of
 * the FreeBSD code (an in-place /memory rewrite that cannot fit, a second memory node that
 * would hand host RAM to the rescue kernel) are reported, not papered over.
 */
import { alignUp, hex, SZ_2M, SZ_4K, type PhysAddr, type PhysRange, type Size } from '../addr.js';
import { archInfo, type Arch } from '../arch/index.js';
import { PlanCode, PlanError } from '../errors.js';
import { encodeRescueEfiMap } from '../handoff/efimap.js';
import { EFI_FB_SIZE } from '../handoff/efifb.js';
import { getProp, parseFdt, propU32, writeFdt, type Fdt, type FdtNode } from '../handoff/fdt/index.js';
import { encodeRescueKenv, rescueKenv, type KenvEntry } from '../handoff/kenv.js';
import { encodeRescueParams, rescueParamsLayout, type RescueKernelParams } from '../handoff/params.js';
import { rescueSmap } from '../handoff/smap.js';
import { RESCUE_KERNEL_OFFSET } from '../kernel-abi/rescue.js';
import type { HostFirmware } from './firmware.js';
import type { Segment } from './load-plan.js';

export interface RescueAreaInput {
  readonly arch: Arch;
  readonly region: PhysRange;
  readonly firmware: HostFirmware;
  readonly hostKenv: readonly KenvEntry[];
  readonly boothowto: number;
}

/** Where each part of the metadata went (offsets from the reservation start). */
export interface RescueAreaLayout {
  readonly paramsSize: number;
  readonly firmware: {
    readonly kind: 'efi' | 'smap' | 'fdt';
    readonly offset: number;
    readonly length: number;
    readonly declaredLength: number;
  };
  readonly efiFb: { readonly offset: number; readonly length: number } | undefined;
  readonly kenv: { readonly offset: number; readonly length: number; readonly entries: readonly KenvEntry[] };
  readonly pageTables: { readonly offset: number; readonly pages: number } | undefined;
  /** End of the metadata (must be ≤ 2 MiB). */
  readonly metadataEnd: number;
}

/** The rescue_kernel_params fields set at arm time (the dump fields are filled at panic). */
export type RescueParamsValues = Readonly<Record<string, bigint | number>>;

export interface RescueArea {
  readonly layout: RescueAreaLayout;
  readonly params: RescueParamsValues;
  /** params, firmware map, efi_fb, kenv, page-table pool; sorted by address. */
  readonly segments: readonly Segment[];
}

function firstMemoryNode(root: FdtNode): FdtNode | undefined {
  // libfdt's fdt_path_offset("/memory") matches a child named "memory" or "memory@<unit>".
  return root.children.find((c) => c.name === 'memory' || c.name.startsWith('memory@'));
}

/**
 * rescue_kernel_init_fdt: the host DTB with the first /memory node's reg overwritten in place
 * by <rescue_pa memsize> in the root's cell sizes. fdt_setprop_inplace fails with
 * -FDT_ERR_NOSPACE unless the old reg is exactly one (address, size) pair long.
 */
export function rescueFdt(hostDtb: Uint8Array, rescuePa: bigint, memsize: bigint): Uint8Array {
  const fail = (why: string, details: Record<string, unknown> = {}): never => {
    throw new PlanError(PlanCode.FirmwareMap, `plan: rescue_kernel_init_fdt would fail: ${why}`, details);
  };
  const fdt: Fdt = parseFdt(hostDtb);
  const ac = getProp(fdt.root, '#address-cells');
  const sc = getProp(fdt.root, '#size-cells');
  if (ac === undefined || sc === undefined)
    return fail('the root node has no #address-cells or #size-cells ("failed to look up address-cells property")');
  const addrCells = propU32(ac);
  const sizeCells = propU32(sc);
  const mem = firstMemoryNode(fdt.root);
  if (mem === undefined) return fail('the DTB has no /memory node ("failed to look up FDT memory offset")');
  const reg = getProp(mem, 'reg');
  const len = (addrCells + sizeCells) * 4;
  if (reg === undefined || reg.value.length !== len) {
    return fail(
      `/${mem.name} reg is ${reg?.value.length ?? 0} bytes, but fdt_setprop_inplace can only replace it with one ${len}-byte (address, size) pair (-FDT_ERR_NOSPACE); the host DTB must describe RAM as a single range in its first memory node`,
      { node: mem.name, regLength: reg?.value.length ?? 0, needed: len },
    );
  }
  if ((addrCells === 1 && rescuePa >= 1n << 32n) || (sizeCells === 1 && memsize >= 1n << 32n)) {
    return fail(
      `the reservation ${hex(rescuePa)}+${hex(memsize)} does not fit in ${addrCells}/${sizeCells} cells (cpu_to_fdt32 would truncate it)`,
      {
        rescuePa,
        memsize,
      },
    );
  }
  const others = fdt.root.children.filter((c) => c !== mem && (c.name === 'memory' || c.name.startsWith('memory@')));
  if (others.length > 0) {
    return fail(
      `the DTB has more memory nodes (${others.map((o) => o.name).join(', ')}); only the first is rewritten, so the rescue kernel would also be given host RAM it must only read`,
      { nodes: others.map((o) => o.name) },
    );
  }
  const value = new Uint8Array(len);
  const dv = new DataView(value.buffer);
  if (addrCells === 2) dv.setBigUint64(0, rescuePa);
  else dv.setUint32(0, Number(rescuePa));
  if (sizeCells === 2) dv.setBigUint64(addrCells * 4, memsize);
  else dv.setUint32(addrCells * 4, Number(memsize));
  const newMem: FdtNode = { ...mem, props: mem.props.map((p) => (p.name === 'reg' ? { name: 'reg', value } : p)) };
  return writeFdt({ ...fdt, root: { ...fdt.root, children: fdt.root.children.map((c) => (c === mem ? newMem : c)) } });
}

/** Builds the metadata part of the reservation (see the module contract). */
export function buildRescueArea(input: RescueAreaInput): RescueArea {
  const { arch, region, firmware } = input;
  const pa = region.start as bigint;
  const memsize = region.size as bigint;
  const paramsLayout = rescueParamsLayout(arch);
  let off = Number(alignUp(BigInt(paramsLayout.size) as Size, 8n as Size));
  const fields: Partial<Record<string, bigint>> = {};
  const segments: Segment[] = [];
  const seg = (
    kind: Segment['kind'],
    label: string,
    at: number,
    data: Uint8Array,
    memSize = data.length,
    align = 1n,
  ): void => {
    segments.push({
      kind,
      label,
      phys: (pa + BigInt(at)) as PhysAddr,
      data,
      memSize: BigInt(memSize) as Size,
      align: align as Size,
    });
  };

  let fwLayout: RescueAreaLayout['firmware'];
  let efiFb: RescueAreaLayout['efiFb'];
  switch (firmware.kind) {
    case 'efi': {
      const map = encodeRescueEfiMap(firmware.bytes, { rescuePa: pa, memsize, arch });
      fields['kpEfimapstart'] = pa + BigInt(off);
      fields['kpEfimaplen'] = BigInt(map.length);
      seg('firmware-map', 'EFI memory map copy', off, map);
      fwLayout = { kind: 'efi', offset: off, length: map.length, declaredLength: map.length };
      off += map.length;
      if (firmware.efiFb !== undefined) {
        fields['kpEfifbaddr'] = pa + BigInt(off);
        seg('efi-fb', 'struct efi_fb copy', off, firmware.efiFb);
        efiFb = { offset: off, length: EFI_FB_SIZE };
        off += EFI_FB_SIZE;
      }
      break;
    }
    case 'smap': {
      const smap = rescueSmap(pa, memsize);
      fields['kpSmapstart'] = pa + BigInt(off);
      fields['kpSmaplen'] = smap.kpSmaplen;
      seg('firmware-map', 'BIOS SMAP entry', off, smap.bytes);
      fwLayout = { kind: 'smap', offset: off, length: smap.bytes.length, declaredLength: Number(smap.kpSmaplen) };
      off += smap.bytes.length;
      break;
    }
    case 'fdt': {
      const dtb = rescueFdt(firmware.bytes, pa, memsize);
      fields['kpDtbstart'] = pa + BigInt(off);
      fields['kpDtblen'] = BigInt(dtb.length);
      seg('firmware-map', 'device tree copy', off, dtb);
      fwLayout = { kind: 'fdt', offset: off, length: dtb.length, declaredLength: dtb.length };
      off += dtb.length;
      break;
    }
  }

  const kenvBytes = encodeRescueKenv(input.hostKenv);
  fields['kpKenvstart'] = pa + BigInt(off);
  fields['kpKenvlen'] = BigInt(kenvBytes.length);
  seg('kenv', 'rescue kenv', off, kenvBytes);
  const kenv = { offset: off, length: kenvBytes.length, entries: rescueKenv(input.hostKenv) };
  off += kenvBytes.length;

  const ptPages = archInfo(arch).rescuePageTablePages;
  let pageTables: RescueAreaLayout['pageTables'];
  if (ptPages > 0) {
    off = Number(alignUp(BigInt(off) as Size, SZ_4K));
    seg('page-tables', 'bootstrap page-table pool', off, new Uint8Array(0), ptPages * 4096, SZ_4K);
    pageTables = { offset: off, pages: ptPages };
    off += ptPages * 4096;
  }
  const metadataEnd = off;
  if (alignUp(BigInt(off) as Size, SZ_2M) !== RESCUE_KERNEL_OFFSET) {
    throw new PlanError(
      PlanCode.MetadataTooLarge,
      `plan: rescue kernel metadata is too large: it ends at +${hex(off)}, past the kernel at +${hex(RESCUE_KERNEL_OFFSET)} (firmware map ${hex(
        fwLayout.length,
      )} bytes, kenv ${hex(kenvBytes.length)} bytes${pageTables === undefined ? '' : `, page tables ${hex(ptPages * 4096)} bytes`})`,
      { metadataEnd: off, firmwareMap: fwLayout.length, kenv: kenvBytes.length, limit: RESCUE_KERNEL_OFFSET },
    );
  }
  fields['kpKernstart'] = pa + RESCUE_KERNEL_OFFSET;
  const params: RescueParamsValues = { ...fields, kpBoothowto: input.boothowto };
  segments.unshift({
    kind: 'params',
    label: `struct rescue_kernel_params (${arch})`,
    phys: pa as PhysAddr,
    data: encodeRescueParams<Arch>(arch, params as Partial<RescueKernelParams<Arch>>),
    memSize: BigInt(paramsLayout.size) as Size,
    align: 8n as Size,
  });
  return {
    layout: { paramsSize: paramsLayout.size, firmware: fwLayout, efiFb, kenv, pageTables, metadataEnd },
    params,
    segments,
  };
}
