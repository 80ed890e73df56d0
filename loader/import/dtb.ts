/**
 * `kboot machine import --dtb`: the facts of an arm64 board from its device tree blob.
 *
 * Contract: `importDtb(bytes, { memory })` parses the blob (`parseFdt`: a blob that is not a
 * DTB, is truncated or lies about its sizes is a HandoffError with an FDT_* code) and reads:
 *  - RAM from every `/memory` node (a root child with device_type "memory" or named
 *    memory / memory@…) and every `reg` range, in the root's #address-cells / #size-cells
 *    (1 or 2; a `reg` that cannot be read is IMPORT_UNSUPPORTED). A tree without a memory
 *    node, or whose memory is all size 0 (the firmware fills it at boot: Raspberry Pi's
 *    `reg = <0 0 0>`), is IMPORT_NO_MEMORY naming `--memory`; with `--memory` ranges the
 *    firmware's fill is modelled as FreeBSD's fdt_fixup_memory does it
 *    (stand/fdt/fdt_loader_cmd.c: the first memory node — created as `memory` with
 *    device_type when there is none — gets one `reg` listing every range), which is the
 *    tree recorded as the board's DTB (re-encoded by kboot's writer: the same tree without
 *    the free space a blob may carry, e.g. QEMU's 1 MiB; the input's SHA-256 is in the
 *    provenance);
 *  - `/memreserve/` entries (reserved, excluded by the kernel), `/reserved-memory` children:
 *    a static `reg` with `no-map` is reserved; without `no-map` FreeBSD uses it as RAM
 *    (sys/dev/fdt/fdt_common.c fdt_get_reserved_mem takes only no-map children); a dynamic
 *    one (`size`, `alloc-ranges`) cannot be placed and is reported; disabled ones are skipped;
 *  - the console from `/chosen` `stdout-path` (or `linux,stdout-path`; an alias or a path,
 *    options after `:` ignored), with `reg` translated through every bus's `ranges`: arm,pl011
 *    and arm,sbsa-uart are modelled (kboot's CPU has a PL011); ns16550a and
 *    snps,dw-apb-uart are 16550s with `reg-shift` / `reg-io-width`, reported as not modelled;
 *  - the interrupt controller (`interrupt-parent` of the root, else the first GIC): GICv3
 *    (arm,gic-v3: GICD, #redistributor-regions GICR regions, every enabled arm,gic-v3-its
 *    child) or GICv2 (arm,gic-400, arm,cortex-a15-gic, arm,cortex-a9-gic, arm,cortex-a7-gic,
 *    arm,gic-v2: GICD, GICC, every arm,gic-v2m-frame);
 *  - the CPU count from `/cpus` (children with device_type "cpu" that are not disabled).
 * Facts: Devicetree Specification v0.4 §3.4–3.7; bindings arm,gic-v3.yaml, arm,gic.yaml,
 * arm,gic-v2m (Linux Documentation/devicetree/bindings/interrupt-controller/), 8250.yaml,
 * pl011.yaml; FreeBSD sys/dev/fdt/fdt_common.c (fdt_get_mem_regions reads the first
 * "/memory" only; fdt_get_reserved_mem).
 */
import { hex, U64_LIMIT } from '../addr.js';
import {
  getProp,
  isMemoryNode,
  makeNode,
  makeProp,
  parseFdt,
  regValue,
  stringValue,
  writeFdt,
} from '../handoff/fdt/index.js';
import type { Fdt, FdtNode } from '../handoff/fdt/index.js';
import { ImportCode, ImportError } from './errors.js';
import {
  checkCount,
  emptyFacts,
  factRange,
  type Assumption,
  type FactRange,
  type GicFact,
  type MachineFacts,
  type MemoryNodeFact,
  type MsiFrameFact,
  type ReservedFact,
  type ReservedMemoryFact,
  type UartFact,
} from './facts.js';
import {
  childCells,
  decodePairs,
  indexTree,
  isEnabled,
  nodeReg,
  resolvePath,
  stringOf,
  stringsOf,
  u32Of,
  type IndexedNode,
  type TreeIndex,
} from './fdt-walk.js';

/** What `--memory` and friends add to a DTB import. */
export interface DtbImportOptions {
  /** RAM the firmware would fill in (`--memory BASE:SIZE`, repeatable). */
  readonly memory?: readonly FactRange[];
}

/** Most memory nodes / reg ranges / reserved-memory children kboot reads. */
export const DTB_IMPORT_LIMITS = { memoryRanges: 256, reserved: 1024 } as const;

const PL011 = ['arm,pl011', 'arm,sbsa-uart'];
const NS16550 = ['ns16550a', 'ns16550', 'ns8250', 'snps,dw-apb-uart', 'nvidia,tegra20-uart', 'ti,da830-uart'];
const GIC_V3 = ['arm,gic-v3'];
const GIC_V2 = [
  'arm,gic-400',
  'arm,cortex-a15-gic',
  'arm,cortex-a9-gic',
  'arm,cortex-a7-gic',
  'arm,gic-v2',
  'arm,arm11mp-gic',
];

function memoryNodes(index: TreeIndex): MemoryNodeFact[] {
  const out: MemoryNodeFact[] = [];
  for (const child of index.root.node.children) {
    if (!isMemoryNode(child)) continue;
    const node = index.byPath.get(`/${child.name}`);
    if (node === undefined) continue;
    const reg = getProp(child, 'reg');
    const ranges = reg === undefined ? [] : nodeReg(node);
    if (ranges === undefined) {
      const { ac, sc } = childCells(index.root.node);
      throw new ImportError(
        ImportCode.Unsupported,
        `import: ${node.path} reg (${reg?.value.length ?? 0} bytes) cannot be read with #address-cells ${ac} / #size-cells ${sc}`,
        { path: node.path, addressCells: ac, sizeCells: sc },
      );
    }
    checkCount(out.length + ranges.length, DTB_IMPORT_LIMITS.memoryRanges, 'memory ranges');
    out.push({
      path: node.path,
      ranges: ranges.map((r) => factRange(r.start, r.size, `${node.path} reg`)),
      regBytes: reg?.value.length ?? 0,
    });
  }
  return out;
}

/** The tree with the first memory node's reg set to `ranges`, as fdt_fixup_memory sets it. */
export function fillMemory(fdt: Fdt, ranges: readonly FactRange[]): Fdt {
  const { ac, sc } = childCells(fdt.root);
  if ((ac !== 1 && ac !== 2) || (sc !== 1 && sc !== 2)) {
    throw new ImportError(
      ImportCode.Unsupported,
      `import: root #address-cells ${ac} / #size-cells ${sc} cannot hold --memory`,
      {
        addressCells: ac,
        sizeCells: sc,
      },
    );
  }
  for (const r of ranges) {
    if (r.start >= 1n << BigInt(32 * ac) || r.size >= 1n << BigInt(32 * sc)) {
      throw new ImportError(
        ImportCode.BadRange,
        `import: --memory ${hex(r.start)}:${hex(r.size)} does not fit the root's ${ac}-cell addresses / ${sc}-cell sizes (give it as several ranges)`,
        { start: r.start, size: r.size, addressCells: ac, sizeCells: sc, hint: '--memory' },
      );
    }
  }
  const reg = makeProp('reg', regValue(ranges, ac, sc));
  const i = fdt.root.children.findIndex((c) => c.name === 'memory' || c.name.startsWith('memory@'));
  const old = fdt.root.children[i];
  const children =
    old === undefined
      ? [makeNode('memory', [makeProp('device_type', stringValue('memory')), reg]), ...fdt.root.children]
      : fdt.root.children.map((c, j) =>
          j === i ? { ...c, props: [...c.props.filter((p) => p.name !== 'reg'), reg] } : c,
        );
  return { ...fdt, root: { ...fdt.root, children } };
}

interface RamDecision {
  readonly ram: readonly FactRange[];
  readonly fdt: Fdt;
  readonly nodes: readonly MemoryNodeFact[];
  readonly assumptions: readonly Assumption[];
}

function decideRam(fdt: Fdt, nodes: readonly MemoryNodeFact[], memory: readonly FactRange[] | undefined): RamDecision {
  const given = nodes.flatMap((n) => n.ranges).filter((r) => r.size > 0n);
  if (memory !== undefined && memory.length > 0) {
    const filled = fillMemory(fdt, memory);
    const why =
      nodes.length === 0
        ? 'the tree has no /memory node'
        : given.length === 0
          ? `${nodes.map((n) => n.path).join(', ')} has size 0`
          : `--memory replaces the tree's ${given.length} RAM range(s)`;
    const assumption = {
      code: 'MEMORY_FROM_OPTION',
      message: `RAM is the --memory ranges (${why}): the firmware's fill is modelled as FreeBSD's fdt_fixup_memory makes it (one reg in the first memory node)`,
    };
    return { ram: memory, fdt: filled, nodes: memoryNodes(indexTree(filled)), assumptions: [assumption] };
  }
  if (nodes.length === 0) {
    throw new ImportError(
      ImportCode.NoMemory,
      'import: the device tree has no /memory node (the firmware, e.g. U-Boot, adds it at boot): give the RAM with --memory BASE:SIZE',
      { hint: '--memory' },
    );
  }
  if (given.length === 0) {
    throw new ImportError(
      ImportCode.NoMemory,
      `import: ${nodes.map((n) => n.path).join(', ')} has size 0 (the firmware fills it in at boot): give the RAM with --memory BASE:SIZE`,
      { nodes: nodes.map((n) => n.path), hint: '--memory' },
    );
  }
  return { ram: given, fdt, nodes, assumptions: [] };
}

/** A dynamic reservation's `size` (in the parent's #size-cells), if it has a readable one. */
function dynamicSizeOf(node: FdtNode, sc: number): bigint | undefined {
  const p = getProp(node, 'size');
  if (p === undefined || (sc !== 1 && sc !== 2) || p.value.length !== 4 * sc) return undefined;
  return decodePairs({ name: 'size', value: new Uint8Array([...new Uint8Array(4), ...p.value]) }, 1, sc)?.[0]?.size;
}

function reservedMemoryFacts(index: TreeIndex): ReservedMemoryFact[] {
  const rm = index.byPath.get('/reserved-memory');
  if (rm === undefined) return [];
  checkCount(rm.node.children.length, DTB_IMPORT_LIMITS.reserved, '/reserved-memory children');
  const out: ReservedMemoryFact[] = [];
  for (const child of rm.node.children) {
    const node = index.byPath.get(`${rm.path}/${child.name}`);
    if (node === undefined) continue;
    const noMap = getProp(child, 'no-map') !== undefined;
    const reusable = getProp(child, 'reusable') !== undefined;
    const reg = getProp(child, 'reg') === undefined ? undefined : nodeReg(node);
    const dynamicSize = reg === undefined ? dynamicSizeOf(child, childCells(rm.node).sc) : undefined;
    const ranges = (reg ?? []).filter((r) => r.size > 0n).map((r) => factRange(r.start, r.size, node.path));
    const freebsd = !isEnabled(child) ? 'disabled' : ranges.length === 0 ? 'not-placeable' : noMap ? 'excluded' : 'ram';
    out.push({ path: node.path, ranges, dynamicSize, noMap, reusable, freebsd });
  }
  return out;
}

function reservedFacts(fdt: Fdt, rm: readonly ReservedMemoryFact[]): ReservedFact[] {
  const out: ReservedFact[] = fdt.memReserve.map((m, i) => ({
    name: `memreserve-${i}`,
    kind: 'reserved' as const,
    ...factRange(m.address, m.size, `/memreserve/ entry ${i}`),
  }));
  for (const r of rm) {
    if (r.freebsd !== 'excluded') continue;
    r.ranges.forEach((x, i) => {
      const base = r.path.slice('/reserved-memory/'.length);
      out.push({ name: r.ranges.length > 1 ? `${base}.${i}` : base, kind: 'reserved', ...x });
    });
  }
  return out;
}

function hasCompatible(node: FdtNode, list: readonly string[]): string | undefined {
  return stringsOf(node, 'compatible')?.find((c) => list.includes(c));
}

/** The /chosen properties FreeBSD's uart_cpu_fdt_probe tries, in order (sys/dev/uart/uart_bus_fdt.c). */
const CONSOLE_PROPS = ['stdout-path', 'linux,stdout-path', 'stdout', 'stdin-path', 'stdin'];

/** The console node as uart_cpu_fdt_probe finds it: a /chosen path or phandle, else the "serial0" alias. */
function consoleNode(index: TreeIndex): { spec: string; node: IndexedNode | undefined } | undefined {
  const chosen = index.byPath.get('/chosen');
  for (const name of chosen === undefined ? [] : CONSOLE_PROPS) {
    const c = chosen?.node;
    if (c === undefined || getProp(c, name) === undefined) continue;
    const text = stringOf(c, name);
    if (text !== undefined) return { spec: `${name} "${text}"`, node: resolvePath(index, text.split(':')[0] ?? '') };
    const ph = u32Of(c, name);
    if (ph !== undefined) return { spec: `${name} <${hex(ph)}>`, node: index.byPhandle.get(ph) };
  }
  const serial0 = resolvePath(index, 'serial0');
  return serial0 === undefined ? undefined : { spec: 'alias serial0', node: serial0 };
}

function uartFact(index: TreeIndex): UartFact | undefined {
  const found = consoleNode(index);
  if (found === undefined) return undefined;
  const node = found.node;
  if (node === undefined) {
    const why = `/chosen ${found.spec} names no node`;
    return {
      path: found.spec,
      compatible: [],
      kind: 'other',
      base: undefined,
      size: undefined,
      regShift: 0,
      regIoWidth: 1,
      modelled: false,
      why,
    };
  }
  const compatible = stringsOf(node.node, 'compatible') ?? [];
  const reg = nodeReg(node)?.[0];
  const regShift = u32Of(node.node, 'reg-shift') ?? 0;
  const regIoWidth = u32Of(node.node, 'reg-io-width') ?? 1;
  const kind =
    hasCompatible(node.node, PL011) !== undefined
      ? 'pl011'
      : hasCompatible(node.node, NS16550) !== undefined
        ? 'ns16550'
        : 'other';
  const base = { path: node.path, compatible, kind, base: reg?.start, size: reg?.size, regShift, regIoWidth } as const;
  if (reg === undefined)
    return { ...base, modelled: false, why: `${node.path} has no reg kboot can translate to a physical address` };
  if (kind === 'pl011') return { ...base, modelled: true };
  const what =
    kind === 'ns16550'
      ? `a 16550 (reg-shift ${regShift}, reg-io-width ${regIoWidth})`
      : `"${compatible[0] ?? 'unknown'}"`;
  return { ...base, modelled: false, why: `kboot's arm64 CPU models only a PL011; the board's console is ${what}` };
}

function frames(index: TreeIndex, gic: IndexedNode, compatible: string): MsiFrameFact[] {
  const out: MsiFrameFact[] = [];
  for (const c of index.all) {
    if (c.parent !== gic || !isEnabled(c.node) || hasCompatible(c.node, [compatible]) === undefined) continue;
    const r = nodeReg(c)?.[0];
    if (r !== undefined && r.size > 0n) out.push({ path: c.path, ...factRange(r.start, r.size, c.path) });
  }
  return out;
}

function findGic(index: TreeIndex): IndexedNode | undefined {
  const parent = u32Of(index.root.node, 'interrupt-parent');
  const viaParent = parent === undefined ? undefined : index.byPhandle.get(parent);
  const isGic = (n: IndexedNode): boolean =>
    hasCompatible(n.node, [...GIC_V3, ...GIC_V2]) !== undefined && isEnabled(n.node);
  if (viaParent !== undefined && isGic(viaParent)) return viaParent;
  return index.all.find(isGic);
}

function gicFact(index: TreeIndex): GicFact | undefined {
  const gic = findGic(index);
  if (gic === undefined) return undefined;
  const regs = (nodeReg(gic) ?? []).map((r) => factRange(r.start, r.size, `${gic.path} reg`));
  const dist = regs[0];
  if (dist === undefined) return undefined;
  const v3 = hasCompatible(gic.node, GIC_V3);
  if (v3 !== undefined) {
    const n = Math.max(1, Math.min(u32Of(gic.node, '#redistributor-regions') ?? 1, regs.length - 1));
    return {
      version: 'v3',
      path: gic.path,
      compatible: v3,
      distributor: dist,
      cpuInterface: undefined,
      redistributors: regs.slice(1, 1 + n),
      its: frames(index, gic, 'arm,gic-v3-its'),
      v2m: [],
    };
  }
  return {
    version: 'v2',
    path: gic.path,
    compatible: hasCompatible(gic.node, GIC_V2) ?? '',
    distributor: dist,
    cpuInterface: regs[1],
    redistributors: [],
    its: [],
    v2m: frames(index, gic, 'arm,gic-v2m-frame'),
  };
}

function cpuCount(index: TreeIndex): number | undefined {
  const cpus = index.byPath.get('/cpus');
  if (cpus === undefined) return undefined;
  const n = cpus.node.children.filter(
    (c) =>
      stringOf(c, 'device_type') === 'cpu' && stringOf(c, 'status') !== 'disabled' && stringOf(c, 'status') !== 'fail',
  ).length;
  return n === 0 ? undefined : n;
}

/** Reads the facts of a board's DTB (see the module contract). */
export function importDtb(bytes: Uint8Array, opts: DtbImportOptions = {}): MachineFacts {
  const parsed = parseFdt(bytes);
  const nodes = memoryNodes(indexTree(parsed));
  const decided = decideRam(parsed, nodes, opts.memory);
  const index = indexTree(decided.fdt);
  const reservedMemory = reservedMemoryFacts(index);
  const gic = gicFact(index);
  const uart = uartFact(index);
  const mmio = [
    ...(gic === undefined
      ? []
      : [
          { name: 'gic-dist', ...gic.distributor },
          ...(gic.cpuInterface === undefined ? [] : [{ name: 'gic-cpu', ...gic.cpuInterface }]),
          ...gic.redistributors.map((r, i) => ({
            name: gic.redistributors.length > 1 ? `gic-redist.${i}` : 'gic-redist',
            ...r,
          })),
          ...gic.its.map((f, i) => ({
            name: gic.its.length > 1 ? `gic-its.${i}` : 'gic-its',
            start: f.start,
            size: f.size,
          })),
          ...gic.v2m.map((f, i) => ({ name: `gic-v2m.${i}`, start: f.start, size: f.size })),
        ]),
    ...(uart?.base === undefined || uart.size === undefined
      ? []
      : [{ name: 'console-uart', start: uart.base, size: uart.size }]),
  ].filter((m) => m.size > 0n && m.start + m.size <= U64_LIMIT);
  return {
    ...emptyFacts('dtb', 'arm64', 'fdt'),
    model: stringOf(index.root.node, 'model'),
    compatible: stringsOf(index.root.node, 'compatible') ?? [],
    ram: decided.ram,
    reserved: reservedFacts(decided.fdt, reservedMemory),
    mmio,
    cpus: cpuCount(index),
    uart,
    gic,
    memoryNodes: decided.nodes,
    memReserve: decided.fdt.memReserve.map((m) => ({ start: m.address, size: m.size })),
    reservedMemory,
    dtb: writeFdt(decided.fdt),
    assumptions: decided.assumptions,
  };
}
