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
 * With an ITS hand-off (./its-handoff.ts) in `memreserve` mode, kp_fwhandle (magic + u64) follows the
 * params and the descriptor page sits at the next page boundary, before the firmware map, whose
 * EFI form then also describes the page (RT_DATA, runtime) and the LPI tables (itsEfiMap); in
 * `fdt` mode the DTB copy carries the tables (itsFdt).
 *
 * Contract: pure; returns the segments and the parameter values, or throws PlanError
 * (PLAN_METADATA_TOO_LARGE, PLAN_FIRMWARE_MAP) naming the sizes involved. Failure modes of
 * the FreeBSD code (an in-place /memory rewrite that cannot fit, a second memory node that
 * would hand host RAM to the rescue kernel) are reported, not papered over.
 */
import { add, alignUp, hex, size, SZ_2M, SZ_4K, toNumber, type PhysAddr, type PhysRange, type Size } from '../addr.js';
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
import { pageSpan, type ItsHandoff } from './its-handoff.js';
import {
  encodeItsDescriptors,
  ITS_DESCRIPTOR_PAGE,
  RESCUE_FW_HANDLE_MAGIC,
  RescueFwHandleExt,
} from '../handoff/memreserve.js';
import { decodeEfiMap, EFI_MD_ATTR, EFI_MD_TYPE, encodeEfiMap, type EfiMemoryDescriptor } from '../handoff/efimap.js';
import { addReservedMemory, readMemoryRanges, rewriteMemoryReg } from '../handoff/fdt/memory.js';
import type { Segment } from './load-plan.js';

export interface RescueAreaInput {
  readonly arch: Arch;
  readonly region: PhysRange;
  readonly firmware: HostFirmware;
  readonly hostKenv: readonly KenvEntry[];
  readonly boothowto: number;
  /** The GICv3 ITS hand-off (./its-handoff.ts); absent or `none`: D47358's bytes. */
  readonly its?: ItsHandoff;
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
  /** memreserve mode: the kp_fwhandle extension and the descriptor page (offsets from the reservation start). */
  readonly its?: { readonly fwHandleOffset: number; readonly pageOffset: number; readonly fwHandle: bigint };
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

/** The metadata area being written: a cursor from the reservation start, the segments and the params fields. */
class AreaWriter {
  readonly segments: Segment[] = [];
  readonly fields: Partial<Record<string, bigint>> = {};
  constructor(
    readonly pa: PhysAddr,
    public off: number,
  ) {}

  /** The physical address of the cursor. */
  here(): PhysAddr {
    return add(this.pa, size(this.off));
  }

  /** A segment of `data` at the cursor (`memSize` bytes, default its length); the cursor moves past it. */
  put(kind: Segment['kind'], label: string, data: Uint8Array, memSize = data.length, align: Size = size(1n)): number {
    const at = this.off;
    this.segments.push({ kind, label, phys: this.here(), data, memSize: size(memSize), align });
    this.off += memSize;
    return at;
  }
}

/** Builds the metadata part of the reservation (see the module contract). */
export function buildRescueArea(input: RescueAreaInput): RescueArea {
  const { arch } = input;
  const paramsLayout = rescueParamsLayout(arch);
  const w = new AreaWriter(input.region.start, toNumber(alignUp(size(paramsLayout.size), size(8n))));
  const its = input.its?.mode === 'memreserve' ? placeItsDescriptors(w, input.its) : undefined;
  const { fwLayout, efiFb } = placeFirmwareMap(w, input, its?.pagePa);
  const kenvBytes = encodeRescueKenv(input.hostKenv);
  w.fields['kpKenvstart'] = w.here();
  w.fields['kpKenvlen'] = BigInt(kenvBytes.length);
  const kenv = {
    offset: w.put('kenv', 'rescue kenv', kenvBytes),
    length: kenvBytes.length,
    entries: rescueKenv(input.hostKenv),
  };
  const pageTables = placePageTablePool(w, archInfo(arch).rescuePageTablePages);
  const metadataEnd = w.off;
  if (alignUp(size(metadataEnd), SZ_2M) !== RESCUE_KERNEL_OFFSET) {
    const tables = pageTables === undefined ? '' : `, page tables ${hex(BigInt(pageTables.pages) * SZ_4K)} bytes`;
    throw new PlanError(
      PlanCode.MetadataTooLarge,
      `plan: rescue kernel metadata is too large: it ends at +${hex(metadataEnd)}, past the kernel at +${hex(RESCUE_KERNEL_OFFSET)} (firmware map ${hex(
        fwLayout.length,
      )} bytes, kenv ${hex(kenvBytes.length)} bytes${tables})`,
      { metadataEnd, firmwareMap: fwLayout.length, kenv: kenvBytes.length, limit: RESCUE_KERNEL_OFFSET },
    );
  }
  w.fields['kpKernstart'] = add(w.pa, RESCUE_KERNEL_OFFSET);
  const params: RescueParamsValues = { ...w.fields, kpBoothowto: input.boothowto };
  w.segments.unshift({
    kind: 'params',
    label: `struct rescue_kernel_params (${arch})`,
    phys: w.pa,
    data: encodeRescueParams<Arch>(arch, params as Partial<RescueKernelParams<Arch>>),
    memSize: size(paramsLayout.size),
    align: size(8n),
  });
  const itsLayout =
    its === undefined
      ? {}
      : { its: { fwHandleOffset: its.fwHandleOffset, pageOffset: its.pageOffset, fwHandle: its.pagePa } };
  return {
    layout: { paramsSize: paramsLayout.size, firmware: fwLayout, efiFb, kenv, pageTables, metadataEnd, ...itsLayout },
    params,
    segments: w.segments,
  };
}

/** The firmware map copy after the params: the rewritten EFI map (and efi_fb), one SMAP entry, or the DTB. */
function placeFirmwareMap(
  w: AreaWriter,
  input: RescueAreaInput,
  itsPage: bigint | undefined,
): { fwLayout: RescueAreaLayout['firmware']; efiFb: RescueAreaLayout['efiFb'] } {
  const { arch, region, firmware } = input;
  const pa = region.start;
  const memsize = region.size;
  switch (firmware.kind) {
    case 'efi': {
      const d47358 = encodeRescueEfiMap(firmware.bytes, { rescuePa: pa, memsize, arch });
      const map = itsPage === undefined ? d47358 : itsEfiMap(d47358, itsPage, input.its?.ranges ?? []);
      w.fields['kpEfimapstart'] = w.here();
      w.fields['kpEfimaplen'] = BigInt(map.length);
      const offset = w.put('firmware-map', 'EFI memory map copy', map);
      const fwLayout = { kind: 'efi', offset, length: map.length, declaredLength: map.length } as const;
      if (firmware.efiFb === undefined) return { fwLayout, efiFb: undefined };
      w.fields['kpEfifbaddr'] = w.here();
      const fbOffset = w.put('efi-fb', 'struct efi_fb copy', firmware.efiFb);
      w.off = fbOffset + EFI_FB_SIZE;
      return { fwLayout, efiFb: { offset: fbOffset, length: EFI_FB_SIZE } };
    }
    case 'smap': {
      const smap = rescueSmap(pa, memsize);
      w.fields['kpSmapstart'] = w.here();
      w.fields['kpSmaplen'] = smap.kpSmaplen;
      const offset = w.put('firmware-map', 'BIOS SMAP entry', smap.bytes);
      const declaredLength = Number(smap.kpSmaplen);
      return { fwLayout: { kind: 'smap', offset, length: smap.bytes.length, declaredLength }, efiFb: undefined };
    }
    case 'fdt': {
      const plain = rescueFdt(firmware.bytes, pa, memsize);
      const dtb = input.its?.mode === 'fdt' ? itsFdt(plain, input.its.ranges) : plain;
      w.fields['kpDtbstart'] = w.here();
      w.fields['kpDtblen'] = BigInt(dtb.length);
      const offset = w.put('firmware-map', 'device tree copy', dtb);
      return { fwLayout: { kind: 'fdt', offset, length: dtb.length, declaredLength: dtb.length }, efiFb: undefined };
    }
  }
}

/** amd64: the bootstrap page-table pool, page aligned (filled at panic time); none on arm64. */
function placePageTablePool(w: AreaWriter, pages: number): RescueAreaLayout['pageTables'] {
  if (pages <= 0) return undefined;
  w.off = toNumber(alignUp(size(w.off), SZ_4K));
  const bytes = toNumber(size(BigInt(pages) * SZ_4K));
  const offset = w.put('page-tables', 'bootstrap page-table pool', new Uint8Array(0), bytes, SZ_4K);
  return { offset, pages };
}

/**
 * memreserve: `kp_fwhandle` right after the params (a proposed D47358 extension), then the
 * descriptor page at the next page boundary; the firmware map follows it.
 */
function placeItsDescriptors(
  w: AreaWriter,
  its: ItsHandoff,
): { fwHandleOffset: number; pageOffset: number; pagePa: PhysAddr } {
  const fwHandleOffset = w.off;
  w.off = toNumber(alignUp(size(w.off + RescueFwHandleExt.size), SZ_4K));
  const pagePa = w.here();
  const page = encodeItsDescriptors(pagePa, its.ranges);
  w.segments.push({
    kind: 'params',
    label: 'kp_fwhandle (kboot extension: the EFI system table for MODINFOMD_FW_HANDLE)',
    phys: add(w.pa, size(BigInt(fwHandleOffset))),
    data: RescueFwHandleExt.encode({ magic: RESCUE_FW_HANDLE_MAGIC, fwHandle: page.fwHandle }),
    memSize: size(BigInt(RescueFwHandleExt.size)),
    align: size(8n),
  });
  const pageOffset = w.put(
    'its-descriptors',
    `GICv3 ITS descriptors: EFI system table, LINUX_EFI_MEMRESERVE, ${its.ranges.length} LPI table(s)`,
    page.bytes,
    ITS_DESCRIPTOR_PAGE.size,
    SZ_4K,
  );
  return { fwHandleOffset, pageOffset, pagePa };
}

const WB_ATTRS = EFI_MD_ATTR.UC | EFI_MD_ATTR.WC | EFI_MD_ATTR.WT | EFI_MD_ATTR.WB;

/**
 * The D47358 rescue EFI map plus the memreserve descriptors: the descriptor page carved out of
 * the descriptor holding it as RT_DATA with EFI_MD_ATTR_RT and md_virt == md_phys, and each LPI
 * table as conventional memory; sorted by md_phys, the source's descriptor size kept.
 */
export function itsEfiMap(d47358: Uint8Array, pagePa: bigint, ranges: readonly PhysRange[]): Uint8Array {
  const map = decodeEfiMap(d47358);
  const out: EfiMemoryDescriptor[] = [];
  for (const d of map.descriptors) {
    const end = d.mdPhys + d.mdPages * 0x1000n;
    if (pagePa < d.mdPhys || pagePa >= end) {
      out.push(d);
      continue;
    }
    if (pagePa > d.mdPhys) out.push({ ...d, mdPages: (pagePa - d.mdPhys) / 0x1000n });
    out.push({
      ...d,
      mdType: EFI_MD_TYPE.RT_DATA,
      mdPhys: pagePa,
      mdVirt: pagePa,
      mdPages: 1n,
      mdAttr: d.mdAttr | EFI_MD_ATTR.RT,
    });
    if (pagePa + 0x1000n < end)
      out.push({ ...d, mdPhys: pagePa + 0x1000n, mdPages: (end - pagePa - 0x1000n) / 0x1000n });
  }
  for (const r of ranges) {
    const { start, pages } = pageSpan(r);
    out.push({ mdType: EFI_MD_TYPE.FREE, mdPhys: start, mdVirt: 0n, mdPages: pages, mdAttr: WB_ATTRS });
  }
  out.sort((a, b) => (a.mdPhys < b.mdPhys ? -1 : a.mdPhys > b.mdPhys ? 1 : 0));
  return encodeEfiMap({
    descriptorSize: map.descriptorSize,
    descriptorVersion: map.descriptorVersion,
    descriptors: out,
  });
}

/**
 * fdt: the DTB with a no-map /reserved-memory child per LPI table and (`memory`, default true:
 * the rescue DTB, whose /memory is only the reservation) the tables in /memory.
 */
export function itsFdt(
  dtb: Uint8Array,
  ranges: readonly PhysRange[],
  opts: { readonly memory?: boolean } = {},
): Uint8Array {
  let fdt = parseFdt(dtb);
  if (opts.memory !== false) {
    const mem = [
      ...readMemoryRanges(fdt),
      ...ranges.map((r) => ({ start: r.start as bigint, size: r.size as bigint })),
    ];
    mem.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    fdt = rewriteMemoryReg(fdt, mem);
  }
  for (const r of ranges) fdt = addReservedMemory(fdt, { name: 'its-lpi', start: r.start, size: r.size, noMap: true });
  return writeFdt(fdt);
}
