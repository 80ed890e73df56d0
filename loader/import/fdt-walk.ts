/**
 * Reading a board's device tree the way an OS does: nodes by path, `/aliases`, phandles,
 * `status`, and `reg` translated through every ancestor's `ranges` into CPU physical
 * addresses.
 *
 * Contract: `indexTree(fdt)` indexes every node once (bounded by parseFdt's node limit).
 * Property readers are tolerant: a malformed optional property (a `compatible` without its
 * NUL, a `status` that is not a string) reads as absent, so one odd node does not stop an
 * import; `nodeReg` returns undefined for a `reg` it cannot decode or translate (cells other
 * than 0..2 / 1..2, no `ranges` on a bus, an address outside every `ranges` window).
 *
 * Facts: Devicetree Specification v0.4 §2.3.5 (#address-cells / #size-cells, defaults 2 and
 * 1, taken from the parent), §2.3.6 (`reg`), §2.3.8 (`ranges`: child-bus-address,
 * parent-bus-address, length; empty = identity; absent = no translation), §2.3.4 (`status`:
 * "okay"/"ok" or absent is enabled), §3.3 (`/aliases`).
 */
import type { Fdt, FdtNode, FdtProp } from '../handoff/fdt/index.js';
import { getProp } from '../handoff/fdt/index.js';

/** A node with its full path and its parent's path. */
export interface IndexedNode {
  readonly path: string;
  readonly node: FdtNode;
  readonly parent: IndexedNode | undefined;
}

/** Every node of a tree by path, and the phandle table. */
export interface TreeIndex {
  readonly root: IndexedNode;
  readonly byPath: ReadonlyMap<string, IndexedNode>;
  readonly byPhandle: ReadonlyMap<number, IndexedNode>;
  readonly all: readonly IndexedNode[];
}

function u32At(v: Uint8Array, at: number): number {
  return (v[at] ?? 0) * 0x100_0000 + (v[at + 1] ?? 0) * 0x1_0000 + (v[at + 2] ?? 0) * 0x100 + (v[at + 3] ?? 0);
}

/** A property holding exactly one u32, else undefined. */
export function u32Of(node: FdtNode, name: string): number | undefined {
  const p = getProp(node, name);
  return p !== undefined && p.value.length === 4 ? u32At(p.value, 0) : undefined;
}

/** A NUL-terminated string list, else undefined. */
export function stringsOf(node: FdtNode, name: string): string[] | undefined {
  const p = getProp(node, name);
  if (p === undefined || p.value.length === 0 || p.value[p.value.length - 1] !== 0) return undefined;
  return Buffer.from(p.value.subarray(0, p.value.length - 1))
    .toString('latin1')
    .split('\0');
}

/** The first string of a string property, else undefined. */
export function stringOf(node: FdtNode, name: string): string | undefined {
  return stringsOf(node, name)?.[0];
}

/** True when the node is enabled (`status` absent, "okay" or "ok"). */
export function isEnabled(node: FdtNode): boolean {
  const p = getProp(node, 'status');
  if (p === undefined) return true;
  const s = stringOf(node, 'status');
  return s === 'okay' || s === 'ok';
}

/** Indexes a tree (paths `/`, `/soc`, `/soc/serial@1c28000`). */
export function indexTree(fdt: Fdt): TreeIndex {
  const byPath = new Map<string, IndexedNode>();
  const byPhandle = new Map<number, IndexedNode>();
  const all: IndexedNode[] = [];
  const root: IndexedNode = { path: '/', node: fdt.root, parent: undefined };
  const stack: IndexedNode[] = [root];
  while (stack.length > 0) {
    const n = stack.pop();
    if (n === undefined) break;
    all.push(n);
    if (!byPath.has(n.path)) byPath.set(n.path, n);
    const ph = u32Of(n.node, 'phandle') ?? u32Of(n.node, 'linux,phandle');
    if (ph !== undefined && ph !== 0 && ph !== 0xffff_ffff && !byPhandle.has(ph)) byPhandle.set(ph, n);
    for (let i = n.node.children.length - 1; i >= 0; i--) {
      const c = n.node.children[i];
      if (c !== undefined)
        stack.push({ path: n.path === '/' ? `/${c.name}` : `${n.path}/${c.name}`, node: c, parent: n });
    }
  }
  return { root, byPath, byPhandle, all };
}

/**
 * The node a path names, as OF_finddevice resolves it: an absolute path, a component
 * without `@unit` matching the first `name@…` child, or a leading alias (`serial0`,
 * `serial0/foo`).
 */
export function resolvePath(index: TreeIndex, path: string): IndexedNode | undefined {
  let p = path;
  if (!p.startsWith('/')) {
    const slash = p.indexOf('/');
    const alias = slash < 0 ? p : p.slice(0, slash);
    const aliases = index.byPath.get('/aliases');
    const target = aliases === undefined ? undefined : stringOf(aliases.node, alias);
    if (target === undefined || !target.startsWith('/')) return undefined;
    p = slash < 0 ? target : `${target}${p.slice(slash)}`;
  }
  let cur: IndexedNode | undefined = index.root;
  for (const comp of p.split('/')) {
    if (comp === '' || cur === undefined) continue;
    const parent: IndexedNode = cur;
    const exact = parent.node.children.find((c) => c.name === comp);
    const child =
      exact ?? (comp.includes('@') ? undefined : parent.node.children.find((c) => c.name.startsWith(`${comp}@`)));
    cur =
      child === undefined
        ? undefined
        : index.byPath.get(parent.path === '/' ? `/${child.name}` : `${parent.path}/${child.name}`);
  }
  return cur;
}

/** #address-cells / #size-cells a node gives its children (spec defaults 2 and 1). */
export function childCells(node: FdtNode): { readonly ac: number; readonly sc: number } {
  return { ac: u32Of(node, '#address-cells') ?? 2, sc: u32Of(node, '#size-cells') ?? 1 };
}

/** `n` big-endian cells at `at` as one number (n 0..4). */
function cellsAt(v: Uint8Array, at: number, n: number): bigint {
  let x = 0n;
  for (let i = 0; i < n; i++) x = (x << 32n) | BigInt(u32At(v, at + 4 * i));
  return x;
}

/** Decodes a `(address, size)` list with the given cells; undefined when the length does not divide. */
export function decodePairs(prop: FdtProp, ac: number, sc: number): { start: bigint; size: bigint }[] | undefined {
  if (ac < 1 || ac > 4 || sc < 0 || sc > 2) return undefined;
  const width = 4 * (ac + sc);
  if (prop.value.length % width !== 0) return undefined;
  const out: { start: bigint; size: bigint }[] = [];
  for (let o = 0; o < prop.value.length; o += width) {
    out.push({ start: cellsAt(prop.value, o, ac), size: cellsAt(prop.value, o + 4 * ac, sc) });
  }
  return out;
}

/** Translates a bus address of `bus`'s children one level up through `bus.ranges`. */
function throughRanges(bus: IndexedNode, addr: bigint): bigint | undefined {
  const parent = bus.parent;
  if (parent === undefined) return addr;
  const ranges = getProp(bus.node, 'ranges');
  if (ranges === undefined) return undefined;
  if (ranges.value.length === 0) return addr;
  const { ac: ca, sc: cs } = childCells(bus.node);
  const { ac: pa } = childCells(parent.node);
  if (ca < 1 || ca > 2 || pa < 1 || pa > 2 || cs < 1 || cs > 2) return undefined;
  const width = 4 * (ca + pa + cs);
  if (ranges.value.length % width !== 0) return undefined;
  for (let o = 0; o < ranges.value.length; o += width) {
    const child = cellsAt(ranges.value, o, ca);
    const up = cellsAt(ranges.value, o + 4 * ca, pa);
    const len = cellsAt(ranges.value, o + 4 * (ca + pa), cs);
    if (addr >= child && addr - child < len) return up + (addr - child);
  }
  return undefined;
}

/** A bus address of `node`'s parent's children as a CPU physical address, or undefined. */
export function translate(node: IndexedNode, addr: bigint): bigint | undefined {
  let a: bigint | undefined = addr;
  for (let bus = node.parent; bus !== undefined && a !== undefined; bus = bus.parent) a = throughRanges(bus, a);
  return a !== undefined && a < 1n << 64n ? a : undefined;
}

/** A node's `reg` entries in CPU physical addresses, or undefined when it has none or they cannot be read. */
export function nodeReg(node: IndexedNode): { start: bigint; size: bigint }[] | undefined {
  const reg = getProp(node.node, 'reg');
  if (reg === undefined || node.parent === undefined) return undefined;
  const { ac, sc } = childCells(node.parent.node);
  if (ac > 2) return undefined;
  const pairs = decodePairs(reg, ac, sc);
  if (pairs === undefined) return undefined;
  const out: { start: bigint; size: bigint }[] = [];
  for (const p of pairs) {
    const start = translate(node, p.start);
    if (start === undefined || start + p.size > 1n << 64n) return undefined;
    out.push({ start, size: p.size });
  }
  return out;
}
