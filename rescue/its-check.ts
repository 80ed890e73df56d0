/**
 * The rescue kernel's GICv3 LPI check, as FreeBSD's arm64 boot does it, evaluated by kboot on
 * the rescue side after the probe kernel ran: the reference for the probe's own in-guest check
 * (kernels/probe/arm64-gic.ts, `kboot probe-kernel --gic`). Sources: sys/arm64/arm64/gicv3_its.c gicv3_its_conftable_init and
 * its_init_cpu_lpi (read GICR_CTLR; with EnableLPIs set, reuse GICR_PROPBASER/PENDBASER &
 * PA mask; panic "gicv3 PROPBASER needs to reuse %#lx, but not reserved", "Cannot map prior
 * LPI mapping into KVA" (pmap_klookup of the DMAP address), "gicv3 PENDBASER on cpu %d needs
 * to reuse 0x%#lx, but not reserved"), sys/kern/subr_physmem.c physmem_excluded (the whole
 * range inside one exclusion region, regions page-rounded), sys/kern/subr_efi_map.c (EFI types
 * that give the direct map RAM; RT_CODE/RT_DATA/RECLAIM also excluded NOALLOC), the arm64
 * machdep exclude_efi_memreserve (loader/handoff/memreserve.ts walkMemreserve) and
 * fdt_foreach_reserved_mem (every /reserved-memory child with a reg is excluded: whether FreeBSD
 * requires `no-map` is UNVERIFIED).
 *
 * Contract: `checkItsReuse(machine, params PA)` reads the GIC registers through the machine's
 * GICv3 model (the MMIO the kernel would read), the hand-off the probe found at `paramsPa`
 * (struct rescue_kernel_params, kboot's kp_fwhandle extension when its magic is there, the EFI
 * map or DTB they point to) and answers what FreeBSD would do: `lpis-off` (fresh tables),
 * `reuse-ok`, or `panic` with the exact message and address. Bounded reads; never throws for
 * bad guest bytes (a hand-off it cannot decode is `undecodable`). `probeItsVerdict` turns the
 * verdict a probe built with `--gic` reached itself, in its own code, into the same form.
 */
import { hex, phys, size, U64_LIMIT } from '../loader/addr.js';
import type { ProbeGicCheck } from '../kernels/probe/index.js';
import type { Arch } from '../loader/arch/index.js';
import { LPI_CONFTAB_SIZE, LPI_PENDTAB_SIZE } from '../loader/arch/arm64/layout.js';
import { KbootError } from '../loader/errors.js';
import { decodeEfiMap, EFI_MD_ATTR, EFI_MD_TYPE, type EfiMemoryDescriptor } from '../loader/handoff/efimap.js';
import {
  findNode,
  getProp,
  parseFdt,
  propReg,
  readMemoryRanges,
  asCellCount,
  addressCells,
  sizeCells,
} from '../loader/handoff/fdt/index.js';
import { RESCUE_FW_HANDLE_MAGIC, RescueFwHandleExt, walkMemreserve } from '../loader/handoff/memreserve.js';
import { decodeRescueParams, rescueParamsLayout } from '../loader/handoff/params.js';
import { GIC_BITS, GIC_REG, redistributorBase } from '../machine/devices/gicv3.js';
import type { Machine } from '../machine/machine.js';

/** What the rescue kernel's gicv3_its would do. */
export interface ItsReuse {
  readonly outcome: 'lpis-off' | 'reuse-ok' | 'panic' | 'undecodable' | 'no-gicv3';
  /** The panic message, as FreeBSD would print it. */
  readonly panic?: string;
  /** The table address the panic names. */
  readonly address?: bigint;
  /** GICR_PROPBASER's table and each CPU's GICR_PENDBASER table (LPIs enabled). */
  readonly tables: readonly { readonly register: string; readonly cpu: number; readonly pa: bigint }[];
  /** What excluded the tables: 'memreserve' (FW_HANDLE), 'fdt-reserved-memory', 'efi-runtime'. */
  readonly excludedBy: readonly string[];
  readonly fwHandle?: bigint;
  readonly detail: string;
}

interface Span {
  start: bigint;
  end: bigint;
}

const MAX_HANDOFF = 1 << 20;

/** physmem_exclude_region's page rounding, then adjacent regions merged (insert_region). */
function normalizeSpans(spans: Span[]): Span[] {
  const out: Span[] = [];
  const r = spans
    .map((s) => ({ start: s.start - (s.start % 0x1000n), end: ((s.end + 0xfffn) / 0x1000n) * 0x1000n }))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (const s of r) {
    const last = out[out.length - 1];
    if (last !== undefined && s.start <= last.end) last.end = s.end > last.end ? s.end : last.end;
    else out.push({ ...s });
  }
  return out;
}

const inside = (spans: readonly Span[], pa: bigint, len: bigint): boolean =>
  spans.some((s) => pa >= s.start && pa + len <= s.end);

interface Physmem {
  dmap: Span[];
  excluded: Span[];
  excludedBy: string[];
  fwHandle?: bigint;
}

function efiPhysmem(
  map: readonly EfiMemoryDescriptor[],
  read: (pa: bigint, n: number) => Uint8Array | undefined,
  fw: bigint | undefined,
): Physmem {
  const ram: readonly number[] = [
    EFI_MD_TYPE.CODE,
    EFI_MD_TYPE.DATA,
    EFI_MD_TYPE.BS_CODE,
    EFI_MD_TYPE.BS_DATA,
    EFI_MD_TYPE.FREE,
  ];
  const rt: readonly number[] = [EFI_MD_TYPE.RT_CODE, EFI_MD_TYPE.RT_DATA, EFI_MD_TYPE.RECLAIM];
  const span = (d: EfiMemoryDescriptor): Span => ({ start: d.mdPhys, end: d.mdPhys + d.mdPages * 0x1000n });
  const dmap = map.filter((d) => ram.includes(d.mdType) || rt.includes(d.mdType)).map(span);
  const excluded = map.filter((d) => rt.includes(d.mdType)).map(span);
  const excludedBy = excluded.length > 0 ? ['efi-runtime'] : [];
  if (fw === undefined) return { dmap, excluded, excludedBy };
  const dm = normalizeSpans(dmap);
  const out = walkMemreserve(
    {
      read: (pa, n) => (inside(dm, pa, BigInt(n)) ? read(pa, n) : undefined),
      runtimeVaToPa: (va) => {
        const d = map.find(
          (x) => (x.mdAttr & EFI_MD_ATTR.RT) !== 0n && va >= x.mdVirt && va < x.mdVirt + x.mdPages * 0x1000n,
        );
        return d === undefined ? undefined : d.mdPhys + (va - d.mdVirt);
      },
    },
    fw,
  );
  if (out.kind === 'panic') throw new RescuePanic(out.message, fw);
  if (out.kind === 'excluded') {
    excluded.push(...out.ranges.map((r) => ({ start: r.start, end: r.start + r.size })));
    excludedBy.push('memreserve');
  }
  return { dmap, excluded, excludedBy, fwHandle: fw };
}

function fdtPhysmem(dtb: Uint8Array): Physmem {
  const fdt = parseFdt(dtb);
  const dmap = readMemoryRanges(fdt).map((m) => ({ start: m.start, end: m.start + m.size }));
  const rm = findNode(fdt.root, 'reserved-memory');
  const excluded: Span[] = [];
  if (rm !== undefined) {
    const ac = asCellCount(addressCells(rm), '#address-cells');
    const sc = asCellCount(sizeCells(rm), '#size-cells');
    for (const c of rm.children) {
      const reg = getProp(c, 'reg');
      if (reg !== undefined)
        excluded.push(...propReg(reg, ac, sc).map((e) => ({ start: e.start, end: e.start + e.size })));
    }
  }
  return { dmap, excluded, excludedBy: excluded.length > 0 ? ['fdt-reserved-memory'] : [] };
}

/** A panic the rescue kernel takes while reading its hand-off (exclude_efi_memreserve). */
class RescuePanic extends Error {
  constructor(
    message: string,
    readonly address: bigint,
  ) {
    super(message);
  }
}

/** The rescue kernel's physmem from the hand-off at `paramsPa`. */
function rescuePhysmem(machine: Machine, arch: Arch, paramsPa: bigint): Physmem {
  const read = (pa: bigint, n: number): Uint8Array | undefined =>
    n > 0 && n <= MAX_HANDOFF && pa + BigInt(n) <= U64_LIMIT && machine.ram.isRam(phys(pa), size(BigInt(n)))
      ? machine.ram.read(phys(pa), n)
      : undefined;
  const psize = rescueParamsLayout(arch).size;
  const p = decodeRescueParams('arm64', read(paramsPa, psize) ?? new Uint8Array(psize));
  const extRaw = read(paramsPa + BigInt(psize), RescueFwHandleExt.size);
  const ext = extRaw === undefined ? undefined : RescueFwHandleExt.decode(extRaw);
  const fw = ext?.magic === RESCUE_FW_HANDLE_MAGIC ? ext.fwHandle : undefined;
  if (p.kpDtbstart !== 0n) return fdtPhysmem(read(p.kpDtbstart, Number(p.kpDtblen)) ?? new Uint8Array());
  const map = decodeEfiMap(read(p.kpEfimapstart, Number(p.kpEfimaplen)) ?? new Uint8Array());
  return efiPhysmem(map.descriptors, read, fw);
}

/** The LPI tables the registers name (GICR_CTLR, PROPBASER, each PENDBASER: MMIO reads). */
function lpiTables(machine: Machine): ItsReuse['tables'] | undefined {
  const gic = machine.gic;
  const rd0 = gic === undefined ? undefined : redistributorBase(gic.layout, 0);
  if (gic === undefined || rd0 === undefined) return undefined;
  if ((gic.read(rd0 + GIC_REG.GICR_CTLR, 4) & GIC_BITS.GICR_CTLR_LPI_ENABLE) === 0n) return [];
  const tables = [
    { register: 'GICR_PROPBASER', cpu: 0, pa: gic.read(rd0 + GIC_REG.GICR_PROPBASER, 8) & GIC_BITS.PROPBASER_PA_MASK },
  ];
  for (let cpu = 0; cpu < gic.layout.cpus; cpu++) {
    const rd = redistributorBase(gic.layout, cpu);
    if (rd === undefined) break;
    tables.push({
      register: 'GICR_PENDBASER',
      cpu,
      pa: gic.read(rd + GIC_REG.GICR_PENDBASER, 8) & GIC_BITS.PENDBASER_PA_MASK,
    });
  }
  return tables;
}

/** gicv3_its_conftable_init's panic, as FreeBSD prints it ("%#lx"). */
const propbaserPanic = (pa: bigint): string => `gicv3 PROPBASER needs to reuse ${hex(pa)}, but not reserved`;
/** its_init_cpu_lpi's panic, as FreeBSD prints it ("0x%#lx": the doubled prefix is FreeBSD's). */
const pendbaserPanic = (cpu: number, pa: bigint): string =>
  `gicv3 PENDBASER on cpu ${cpu} needs to reuse 0x${hex(pa)}, but not reserved`;

/** What the rescue kernel's gicv3_its does with the live GIC and its hand-off (see the module contract). */
export function checkItsReuse(machine: Machine, paramsPa: bigint): ItsReuse {
  const tables = lpiTables(machine);
  if (tables === undefined) return { outcome: 'no-gicv3', tables: [], excludedBy: [], detail: 'no GICv3' };
  if (tables.length === 0) {
    return { outcome: 'lpis-off', tables, excludedBy: [], detail: 'GICR_CTLR.EnableLPIs is clear: new LPI tables' };
  }
  let pm: Physmem;
  try {
    pm = rescuePhysmem(machine, machine.profile.arch, paramsPa);
  } catch (e) {
    if (e instanceof RescuePanic)
      return {
        outcome: 'panic',
        panic: e.message,
        address: e.address,
        tables,
        excludedBy: [],
        detail: 'exclude_efi_memreserve',
      };
    if (e instanceof KbootError)
      return { outcome: 'undecodable', tables, excludedBy: [], detail: `${e.code}: ${e.message}` };
    throw e;
  }
  const excluded = normalizeSpans(pm.excluded);
  const dmap = normalizeSpans(pm.dmap);
  const base = { tables, excludedBy: pm.excludedBy, ...(pm.fwHandle === undefined ? {} : { fwHandle: pm.fwHandle }) };
  for (const t of tables) {
    const len = t.register === 'GICR_PROPBASER' ? LPI_CONFTAB_SIZE : LPI_PENDTAB_SIZE;
    if (!inside(excluded, t.pa, len)) {
      const panic = t.register === 'GICR_PROPBASER' ? propbaserPanic(t.pa) : pendbaserPanic(t.cpu, t.pa);
      return { ...base, outcome: 'panic', panic, address: t.pa, detail: `${t.register} table not physmem-excluded` };
    }
    if (t.register === 'GICR_PROPBASER' && !inside(dmap, t.pa, len)) {
      return {
        ...base,
        outcome: 'panic',
        panic: 'Cannot map prior LPI mapping into KVA',
        address: t.pa,
        detail: 'not in the direct map',
      };
    }
  }
  return {
    ...base,
    outcome: 'reuse-ok',
    detail: `${tables.length} LPI table(s) excluded by ${pm.excludedBy.join(' and ')} and reachable`,
  };
}

/**
 * The probe kernel's own verdict (`kboot probe-kernel --gic`: kernels/probe/arm64-gic.ts, run
 * on the emulated CPU) in the form `checkItsReuse` answers, with FreeBSD's panic messages.
 * The tables listed are those the report keeps: PROPBASER's and CPU 0's PENDBASER's.
 */
export function probeItsVerdict(gic: ProbeGicCheck): ItsReuse {
  const tables: ItsReuse['tables'] =
    gic.outcome === 'lpis-off' || gic.outcome === 'not-checked'
      ? []
      : [
          { register: 'GICR_PROPBASER', cpu: 0, pa: gic.propbaser & GIC_BITS.PROPBASER_PA_MASK },
          { register: 'GICR_PENDBASER', cpu: 0, pa: gic.pendbaser0 & GIC_BITS.PENDBASER_PA_MASK },
        ];
  const base = {
    tables,
    excludedBy: gic.excludedBy,
    ...(gic.fwHandle === 0n ? {} : { fwHandle: gic.fwHandle }),
  };
  const status = `probe kernel, GICR_CTLR ${hex(gic.ctlr)}`;
  const fail = (panic: string, detail: string): ItsReuse => ({
    ...base,
    outcome: 'panic',
    panic,
    address: gic.failAddr,
    detail: `${detail} (${status})`,
  });
  switch (gic.outcome) {
    case 'not-checked':
      return { ...base, outcome: 'undecodable', detail: `the probe's GIC check did not finish (${status})` };
    case 'lpis-off':
      return { ...base, outcome: 'lpis-off', detail: `GICR_CTLR.EnableLPIs is clear: new LPI tables (${status})` };
    case 'reuse-ok':
      return {
        ...base,
        outcome: 'reuse-ok',
        detail: `${gic.checked} LPI table(s) excluded by ${gic.excludedBy.join(' and ')} and reachable (${status})`,
      };
    case 'propbaser-not-reserved':
      return fail(propbaserPanic(gic.failAddr), 'GICR_PROPBASER table not physmem-excluded');
    case 'pendbaser-not-reserved':
      return fail(pendbaserPanic(gic.failCpu, gic.failAddr), 'GICR_PENDBASER table not physmem-excluded');
    case 'propbaser-not-mapped':
      return fail('Cannot map prior LPI mapping into KVA', 'not in the direct map');
  }
}
