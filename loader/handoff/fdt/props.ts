/**
 * FDT tree helpers: path lookup, typed property readers, value constructors and
 * non-mutating node builders.
 *
 * Contract: readers check the value's length and throw FDT_BAD_PROP (or FDT_BAD_CELLS for
 * a malformed `#address-cells`/`#size-cells`) rather than guess; constructors range-check
 * every value and throw FDT_VALUE_RANGE (FDT_BAD_STRING for a string holding a NUL).
 * Builders never mutate their inputs: they return new nodes sharing unchanged parts.
 *
 * Facts: Devicetree Specification v0.4 §2.2.3 (path names; a component without a unit
 * address matches `name@unit`, as libfdt's fdt_subnode_offset does), §2.2.4 (property
 * value encodings: big-endian u32/u64, NUL-terminated string lists, empty values),
 * §2.3.5 (`#address-cells` defaults to 2, `#size-cells` to 1); FreeBSD reads them through
 * OF_getencprop / fdt_data_get (`sys/dev/fdt/fdt_common.c`).
 */
import { U64_LIMIT } from '../../addr.js';
import { FdtCode } from '../errors.js';
import { fdtError, type Fdt, type FdtNode, type FdtProp } from './model.js';

/** A `reg`-style (address, size) pair. */
export interface RegEntry {
  start: bigint;
  size: bigint;
}

/** Cell counts a 64-bit value can be encoded in. */
export type CellCount = 1 | 2;

/** Spec defaults when a node lacks the property (§2.3.5). */
export const DEFAULT_ADDRESS_CELLS = 2;
export const DEFAULT_SIZE_CELLS = 1;

const U32_LIMIT = 1n << 32n;

function isFdt(x: Fdt | FdtNode): x is Fdt {
  return 'root' in x;
}

function childByName(node: FdtNode, component: string): FdtNode | undefined {
  const exact = node.children.find((c) => c.name === component);
  if (exact !== undefined || component.includes('@')) return exact;
  return node.children.find((c) => c.name.startsWith(`${component}@`));
}

/**
 * The node at `path` ('/', '/memory@40000000', '/reserved-memory', or relative to a node:
 * 'its@8080000'). A component without `@unit` matches the first `component@…` child when
 * no child has exactly that name. Returns undefined when a component is missing.
 */
export function findNode(from: Fdt | FdtNode, path: string): FdtNode | undefined {
  let node: FdtNode | undefined = isFdt(from) ? from.root : from;
  for (const component of path.split('/')) {
    if (component === '') continue;
    node = childByName(node, component);
    if (node === undefined) return undefined;
  }
  return node;
}

/** The property `name` of `node`, if present. */
export function getProp(node: FdtNode, name: string): FdtProp | undefined {
  return node.props.find((p) => p.name === name);
}

function badProp(prop: FdtProp, what: string, extra: Readonly<Record<string, unknown>> = {}): never {
  throw fdtError(FdtCode.BadProp, `property ${what}`, { name: prop.name, length: prop.value.length, ...extra });
}

function view(v: Uint8Array): DataView {
  return new DataView(v.buffer, v.byteOffset, v.byteLength);
}

/** A single big-endian u32 (the value must be exactly 4 bytes). */
export function propU32(prop: FdtProp): number {
  if (prop.value.length !== 4) badProp(prop, 'is not one u32', { expected: 4 });
  return view(prop.value).getUint32(0, false);
}

/** A single big-endian u64 (the value must be exactly 8 bytes). */
export function propU64(prop: FdtProp): bigint {
  if (prop.value.length !== 8) badProp(prop, 'is not one u64', { expected: 8 });
  return view(prop.value).getBigUint64(0, false);
}

/** The value as numbers of `cellsEach` cells each (its length must be a multiple of 4·cellsEach). */
export function propCells(prop: FdtProp, cellsEach: CellCount): bigint[] {
  checkCellCount(cellsEach, 'cells per value');
  const width = 4 * cellsEach;
  if (prop.value.length % width !== 0) badProp(prop, 'is not a whole number of cell groups', { width });
  const dv = view(prop.value);
  const out: bigint[] = [];
  for (let o = 0; o < prop.value.length; o += width) {
    out.push(cellsEach === 1 ? BigInt(dv.getUint32(o, false)) : dv.getBigUint64(o, false));
  }
  return out;
}

/** A `reg`-style value as (start, size) pairs with the given cell counts. */
export function propReg(prop: FdtProp, addressCells: CellCount, sizeCells: CellCount): RegEntry[] {
  checkCellCount(addressCells, '#address-cells');
  checkCellCount(sizeCells, '#size-cells');
  const width = 4 * (addressCells + sizeCells);
  if (prop.value.length % width !== 0) badProp(prop, 'is not a whole number of (address, size) pairs', { width });
  const dv = view(prop.value);
  const read = (o: number, cells: CellCount): bigint =>
    cells === 1 ? BigInt(dv.getUint32(o, false)) : dv.getBigUint64(o, false);
  const out: RegEntry[] = [];
  for (let o = 0; o < prop.value.length; o += width) {
    out.push({ start: read(o, addressCells), size: read(o + 4 * addressCells, sizeCells) });
  }
  return out;
}

/** A string list (each NUL-terminated; an empty value is an empty list). */
export function propStrings(prop: FdtProp): string[] {
  const v = prop.value;
  if (v.length === 0) return [];
  if (v[v.length - 1] !== 0) badProp(prop, 'is not NUL-terminated');
  const out: string[] = [];
  const dec = new TextDecoder('utf-8');
  let start = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === 0) {
      out.push(dec.decode(v.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/** Exactly one string. */
export function propString(prop: FdtProp): string {
  const list = propStrings(prop);
  const first = list[0];
  if (list.length !== 1 || first === undefined) badProp(prop, 'is not a single string', { count: list.length });
  return first;
}

function checkCellCount(n: number, what: string): void {
  if (n !== 1 && n !== 2) throw fdtError(FdtCode.BadCells, `${what} is not 1 or 2`, { cells: n });
}

function cellsProp(node: FdtNode, name: string, dflt: number): number {
  const p = getProp(node, name);
  if (p === undefined) return dflt;
  if (p.value.length !== 4) {
    throw fdtError(FdtCode.BadCells, `${name} is not one u32`, { node: node.name, length: p.value.length });
  }
  return view(p.value).getUint32(0, false);
}

/** `#address-cells` of `node` (it applies to its children's `reg`); 2 when absent. */
export function addressCells(node: FdtNode): number {
  return cellsProp(node, '#address-cells', DEFAULT_ADDRESS_CELLS);
}

/** `#size-cells` of `node`; 1 when absent. */
export function sizeCells(node: FdtNode): number {
  return cellsProp(node, '#size-cells', DEFAULT_SIZE_CELLS);
}

/** Narrows a cell count read from a tree to 1 or 2, else FDT_BAD_CELLS. */
export function asCellCount(n: number, what: string): CellCount {
  checkCellCount(n, what);
  return n === 1 ? 1 : 2;
}

// ---- value constructors ----

/** Big-endian u32 cells. */
export function u32Value(...values: number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const dv = view(out);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32) {
      throw fdtError(FdtCode.ValueRange, 'value does not fit in a u32', { index: i, value: v });
    }
    dv.setUint32(4 * i, v, false);
  });
  return out;
}

/** Big-endian u64 values. */
export function u64Value(...values: bigint[]): Uint8Array {
  return cellsValue(values, 2);
}

/** A NUL-terminated string list ("a\0b\0"). */
export function stringValue(...strings: string[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = strings.map((s, index) => {
    const b = enc.encode(s);
    if (b.includes(0)) throw fdtError(FdtCode.BadString, 'string holds a NUL byte', { index, value: s });
    return b;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length + 1;
  }
  return out;
}

/** Each value in `cellsEach` big-endian cells; a value that does not fit throws FDT_VALUE_RANGE. */
export function cellsValue(values: readonly bigint[], cellsEach: CellCount): Uint8Array {
  checkCellCount(cellsEach, 'cells per value');
  const out = new Uint8Array(4 * cellsEach * values.length);
  const dv = view(out);
  values.forEach((v, i) => {
    writeCells(dv, 4 * cellsEach * i, v, cellsEach, i);
  });
  return out;
}

function writeCells(dv: DataView, at: number, v: bigint, cells: CellCount, index: number): void {
  const limit = cells === 1 ? U32_LIMIT : U64_LIMIT;
  if (v < 0n || v >= limit) {
    throw fdtError(FdtCode.ValueRange, `value does not fit in ${cells} cell${cells === 1 ? '' : 's'}`, {
      index,
      value: v,
      cells,
    });
  }
  if (cells === 1) dv.setUint32(at, Number(v), false);
  else dv.setBigUint64(at, v, false);
}

/** A `reg` value: (start, size) pairs in the given cell counts. */
export function regValue(entries: readonly RegEntry[], addrCells: CellCount, szCells: CellCount): Uint8Array {
  checkCellCount(addrCells, '#address-cells');
  checkCellCount(szCells, '#size-cells');
  const width = 4 * (addrCells + szCells);
  const out = new Uint8Array(width * entries.length);
  const dv = view(out);
  entries.forEach((e, i) => {
    writeCells(dv, width * i, e.start, addrCells, i);
    writeCells(dv, width * i + 4 * addrCells, e.size, szCells, i);
  });
  return out;
}

/** An empty value (a boolean property such as `interrupt-controller`). */
export function emptyValue(): Uint8Array {
  return new Uint8Array(0);
}

// ---- builders (never mutate their inputs) ----

/** A property. */
export function makeProp(name: string, value: Uint8Array): FdtProp {
  return { name, value };
}

/** A node. */
export function makeNode(name: string, props: FdtProp[] = [], children: FdtNode[] = []): FdtNode {
  return { name, props, children };
}

/** A node name with a unit address: `name@<lower-case hex, no 0x, no leading zeros>`. */
export function unitName(name: string, address: bigint): string {
  if (address < 0n || address >= U64_LIMIT) {
    throw fdtError(FdtCode.ValueRange, 'unit address does not fit in 64 bits', { name, address });
  }
  return `${name}@${address.toString(16)}`;
}

/** `node` with `prop` replacing the property of the same name, or appended. */
export function setProp(node: FdtNode, prop: FdtProp): FdtNode {
  const i = node.props.findIndex((p) => p.name === prop.name);
  const props = i < 0 ? [...node.props, prop] : node.props.map((p, j) => (j === i ? prop : p));
  return { ...node, props };
}

/** `node` without the property `name` (unchanged when absent). */
export function removeProp(node: FdtNode, name: string): FdtNode {
  return { ...node, props: node.props.filter((p) => p.name !== name) };
}

/** `node` with `child` replacing the child of the same name, or appended. */
export function setChild(node: FdtNode, child: FdtNode): FdtNode {
  const i = node.children.findIndex((c) => c.name === child.name);
  const children = i < 0 ? [...node.children, child] : node.children.map((c, j) => (j === i ? child : c));
  return { ...node, children };
}

/** `node` without the child named exactly `name`. */
export function removeChild(node: FdtNode, name: string): FdtNode {
  return { ...node, children: node.children.filter((c) => c.name !== name) };
}
