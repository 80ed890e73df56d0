/**
 * The rescue kernel's DTB edits: `/memory` rewriting, `/reserved-memory` children and
 * memory reservation block entries.
 *
 * Contract: `rewriteMemoryReg` replaces the RAM description of a tree with `ranges`, in the
 * root's `#address-cells`/`#size-cells` (each must be 1 or 2, else FDT_BAD_CELLS; a value
 * that does not fit its cells is FDT_VALUE_RANGE). The memory nodes are the root's children
 * with `device_type = "memory"` or named `memory`/`memory@…`; the first one is kept (renamed
 * `memory@<first start>`, `device_type` set) and the others are removed, so the rescue
 * kernel finds exactly one `/memory` node. None → FDT_NO_MEMORY_NODE. Ranges must be
 * non-empty, inside u64 and disjoint (FDT_BAD_RANGE). All functions return a new `Fdt`.
 *
 * Facts: freebsd-handoff.md §8.3 item 4 (D47358 rewrites `/memory` `reg` in place to
 * `<rescue_pa memsize>`, honouring cells of 1 or 2); FreeBSD finds RAM with
 * OF_finddevice("/memory") (`sys/dev/fdt/fdt_common.c` fdt_get_mem_regions), which is why
 * one node named `memory@…` is kept. Devicetree Specification v0.4 §3.4 (memory node),
 * §3.5 (`/reserved-memory`: cells as the root's, `ranges`, children `name@unit` with `reg`
 * and optional `no-map`), §5.3 (memory reservation block).
 */
import { U64_LIMIT } from '../../addr.js';
import { FdtCode } from '../errors.js';
import { checkMemReserve } from './codec.js';
import { checkNodeName, DEFAULT_FDT_LIMITS, fdtError, type Fdt, type FdtNode } from './model.js';
import {
  addressCells,
  asCellCount,
  emptyValue,
  findNode,
  getProp,
  makeNode,
  makeProp,
  propReg,
  regValue,
  setChild,
  setProp,
  sizeCells,
  stringValue,
  u32Value,
  unitName,
  type CellCount,
  type RegEntry,
} from './props.js';

/** A range of RAM (half-open `[start, start + size)`). */
export interface MemoryRange {
  start: bigint;
  size: bigint;
}

/** A `/reserved-memory` child to add. */
export interface ReservedMemory {
  /** Node name without the unit address (e.g. `rescue`). */
  name: string;
  start: bigint;
  size: bigint;
  /** Adds `no-map` (the OS must not map the range at all). */
  noMap: boolean;
}

/** The memory node's name and device_type (Devicetree Specification v0.4 §3.4). */
export const MEMORY_NODE = 'memory';
export const RESERVED_MEMORY_NODE = 'reserved-memory';

/** True for a root child that describes RAM. */
export function isMemoryNode(node: FdtNode): boolean {
  if (node.name === MEMORY_NODE || node.name.startsWith(`${MEMORY_NODE}@`)) return true;
  const dt = getProp(node, 'device_type');
  if (dt === undefined) return false;
  // Compared byte-wise: a malformed device_type is simply not "memory".
  const want = stringValue(MEMORY_NODE);
  return dt.value.length === want.length && dt.value.every((b, i) => b === want[i]);
}

function rootCells(fdt: Fdt): { ac: CellCount; sc: CellCount } {
  return {
    ac: asCellCount(addressCells(fdt.root), 'root #address-cells'),
    sc: asCellCount(sizeCells(fdt.root), 'root #size-cells'),
  };
}

/** Checks ranges are non-empty, inside u64 and pairwise disjoint (FDT_BAD_RANGE). */
export function checkRanges(ranges: readonly MemoryRange[], what: string): void {
  if (ranges.length === 0) throw fdtError(FdtCode.BadRange, `${what}: no ranges`);
  ranges.forEach((r, index) => {
    if (r.start < 0n || r.size <= 0n || r.start + r.size > U64_LIMIT) {
      throw fdtError(FdtCode.BadRange, `${what}: range is empty or leaves u64`, {
        index,
        start: r.start,
        size: r.size,
      });
    }
  });
  const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (prev !== undefined && cur !== undefined && prev.start + prev.size > cur.start) {
      throw fdtError(FdtCode.BadRange, `${what}: ranges overlap`, {
        first: prev.start,
        firstSize: prev.size,
        second: cur.start,
        secondSize: cur.size,
      });
    }
  }
}

/** All RAM ranges of the tree's memory nodes, in the root's cell counts. */
export function readMemoryRanges(fdt: Fdt): MemoryRange[] {
  const nodes = fdt.root.children.filter(isMemoryNode);
  if (nodes.length === 0) throw fdtError(FdtCode.NoMemoryNode, 'tree has no memory node');
  const { ac, sc } = rootCells(fdt);
  const out: MemoryRange[] = [];
  for (const n of nodes) {
    const reg = getProp(n, 'reg');
    if (reg !== undefined) out.push(...propReg(reg, ac, sc).map((e: RegEntry) => ({ start: e.start, size: e.size })));
  }
  return out;
}

/** The tree with its RAM described by `ranges` alone (see the module contract). */
export function rewriteMemoryReg(fdt: Fdt, ranges: readonly MemoryRange[]): Fdt {
  const { ac, sc } = rootCells(fdt);
  checkRanges(ranges, 'memory ranges');
  const first = ranges[0];
  const keepIndex = fdt.root.children.findIndex(isMemoryNode);
  const kept = fdt.root.children[keepIndex];
  if (first === undefined || kept === undefined) throw fdtError(FdtCode.NoMemoryNode, 'tree has no memory node');
  const reg = regValue(ranges, ac, sc);
  let node = setProp(kept, makeProp('reg', reg));
  node = setProp(node, makeProp('device_type', stringValue(MEMORY_NODE)));
  node = { ...node, name: unitName(MEMORY_NODE, first.start) };
  const children: FdtNode[] = [];
  fdt.root.children.forEach((c, i) => {
    if (i === keepIndex) children.push(node);
    else if (!isMemoryNode(c)) children.push(c);
  });
  return { ...fdt, root: { ...fdt.root, children } };
}

/** A `/reserved-memory` child's base name: node-name characters, no unit address (FDT_BAD_NAME). */
export function checkReservedName(name: string): void {
  checkNodeName(name, `/${RESERVED_MEMORY_NODE}`, false, DEFAULT_FDT_LIMITS.maxNameLength);
  if (name.includes('@')) {
    throw fdtError(FdtCode.BadName, 'reserved-memory name must not carry a unit address', { name });
  }
}

/**
 * The tree with a `/reserved-memory/<name>@<start>` child (`reg`, and `no-map` when asked).
 * `/reserved-memory` is created when missing, with the root's cell counts and an empty
 * `ranges` (an identity mapping); an existing one keeps its own cell counts.
 */
export function addReservedMemory(fdt: Fdt, r: ReservedMemory): Fdt {
  checkReservedName(r.name);
  checkRanges([{ start: r.start, size: r.size }], 'reserved memory');
  let parent = findNode(fdt.root, RESERVED_MEMORY_NODE);
  if (parent === undefined || parent.name !== RESERVED_MEMORY_NODE) {
    const { ac, sc } = rootCells(fdt);
    parent = makeNode(RESERVED_MEMORY_NODE, [
      makeProp('#address-cells', u32Value(ac)),
      makeProp('#size-cells', u32Value(sc)),
      makeProp('ranges', emptyValue()),
    ]);
  }
  const ac = asCellCount(addressCells(parent), '/reserved-memory #address-cells');
  const sc = asCellCount(sizeCells(parent), '/reserved-memory #size-cells');
  const childName = unitName(r.name, r.start);
  if (parent.children.some((c) => c.name === childName)) {
    throw fdtError(FdtCode.DuplicateName, 'reserved-memory child already exists', { name: childName });
  }
  const props = [makeProp('reg', regValue([{ start: r.start, size: r.size }], ac, sc))];
  if (r.noMap) props.push(makeProp('no-map', emptyValue()));
  const updated: FdtNode = { ...parent, children: [...parent.children, makeNode(childName, props)] };
  return { ...fdt, root: setChild(fdt.root, updated) };
}

/** The tree with one more memory reservation block entry (non-empty, inside u64). */
export function addMemReserve(fdt: Fdt, address: bigint, size: bigint): Fdt {
  const entry = { address, size };
  checkMemReserve(entry, fdt.memReserve.length);
  checkRanges([{ start: address, size }], 'memory reservation');
  return { ...fdt, memReserve: [...fdt.memReserve, entry] };
}
