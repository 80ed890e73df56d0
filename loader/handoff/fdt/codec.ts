/**
 * FDT reader and writer: `parseFdt` (versions 16 and 17) and `writeFdt` (version 17).
 *
 * Contract: `parseFdt` validates the header (magic, version, block offsets, sizes and
 * alignment inside `totalsize` and inside the bytes), reads the memory reservation block
 * up to its 0,0 terminator, and walks the structure block with bounded depth, node count,
 * property count and property size, skipping FDT_NOP; names and strings must be
 * NUL-terminated inside their blocks. Only `HandoffError` with an `FdtCode` escapes (fuzz
 * contract). The returned tree owns copies of the values (it never aliases `bytes`).
 * `writeFdt` lays the blocks out as dtc does (header, memory reservation block, structure
 * block, strings block), with deduplicated strings and every alignment the format requires,
 * so that `dtc -I dtb -O dts` reads the result without complaint.
 *
 * Facts: Devicetree Specification v0.4 chapter 5; FreeBSD reads DTBs with libfdt
 * (`sys/contrib/libfdt/fdt.c` fdt_check_header, `fdt.h`).
 */
import { U64_LIMIT } from '../../addr.js';
import { ByteReader, ByteWriter, type OutOfBoundsInfo } from '../../bytes/index.js';
import { FdtCode } from '../errors.js';
import {
  checkNodeName,
  checkPropName,
  FDT,
  fdtError,
  FdtHeader,
  FdtPropHeader,
  FdtReserveEntry,
  resolveLimits,
  type Fdt,
  type FdtLimits,
  type FdtMemReserve,
  type FdtNode,
} from './model.js';

const U32_LIMIT = 2 ** 32;

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** The out-of-bounds factory for the whole blob and for the structure block. */
function truncated(block: string, base: number): (info: OutOfBoundsInfo) => ReturnType<typeof fdtError> {
  return (info) =>
    fdtError(FdtCode.Truncated, `${block} ends inside ${info.what}`, {
      offset: base + info.offset,
      width: info.width,
      end: base + info.length,
    });
}

/**
 * Reads a NUL-terminated name of at most `maxLength` bytes at `pos` of `block`.
 * Returns the name and the offset of its NUL.
 */
function readName(
  block: Uint8Array,
  pos: number,
  maxLength: number,
  what: string,
  blockName: string,
  base: number,
): { name: string; nul: number } {
  const window = block.subarray(pos, Math.min(block.length, pos + maxLength + 1));
  const rel = window.indexOf(0);
  if (rel < 0) {
    if (pos + window.length >= block.length) {
      throw fdtError(FdtCode.BadString, `${what} is not NUL-terminated inside the ${blockName}`, {
        offset: base + pos,
        blockEnd: base + block.length,
      });
    }
    throw fdtError(FdtCode.TooLarge, `${what} is too long`, { offset: base + pos, max: maxLength });
  }
  // Valid names are ASCII (checked by the callers), so one char per byte is exact.
  let name = '';
  for (let i = 0; i < rel; i++) name += String.fromCharCode(window[i] ?? 0);
  return { name, nul: pos + rel };
}

interface Open {
  readonly node: FdtNode;
  readonly path: string;
  readonly childNames: Set<string>;
  readonly propNames: Set<string>;
}

/** Parses a flattened device tree blob (version 16 or 17; see the module contract). */
export function parseFdt(bytes: Uint8Array, limits?: Partial<FdtLimits>): Fdt {
  const lim = resolveLimits(limits);
  if (bytes.length < FdtHeader.size) {
    throw fdtError(FdtCode.Truncated, 'blob is shorter than its header', {
      length: bytes.length,
      header: FdtHeader.size,
    });
  }
  const h = FdtHeader.decode(bytes, 0, truncated('blob', 0));
  if (h.magic !== FDT.MAGIC) throw fdtError(FdtCode.BadMagic, 'bad magic', { magic: h.magic, expected: FDT.MAGIC });
  if (h.version < FDT.MIN_READ_VERSION || h.lastCompVersion > FDT.VERSION || h.lastCompVersion > h.version) {
    throw fdtError(FdtCode.BadVersion, 'unsupported version', {
      version: h.version,
      lastCompVersion: h.lastCompVersion,
      readable: FDT.VERSION,
    });
  }
  const headerSize = h.version >= FDT.VERSION ? FdtHeader.size : FDT.HEADER_SIZE_V16;
  if (h.totalsize > lim.maxTotalSize) {
    throw fdtError(FdtCode.TooLarge, 'blob is larger than the limit', {
      totalsize: h.totalsize,
      max: lim.maxTotalSize,
    });
  }
  if (h.totalsize < headerSize) {
    throw fdtError(FdtCode.BadHeader, 'totalsize is smaller than the header', { totalsize: h.totalsize, headerSize });
  }
  if (h.totalsize > bytes.length) {
    throw fdtError(FdtCode.Truncated, 'blob is shorter than its totalsize', {
      totalsize: h.totalsize,
      length: bytes.length,
    });
  }
  const total = h.totalsize;

  const badHeader = (what: string, details: Record<string, number>): never => {
    throw fdtError(FdtCode.BadHeader, what, { ...details, totalsize: total });
  };
  const checkBlock = (name: string, off: number, size: number, alignTo: number): void => {
    if (off % alignTo !== 0) badHeader(`${name} offset is not ${alignTo}-byte aligned`, { offset: off });
    if (off < headerSize) badHeader(`${name} block overlaps the header`, { offset: off, headerSize });
    if (off + size > total) badHeader(`${name} block lies outside totalsize`, { offset: off, size });
  };
  checkBlock('structure', h.offDtStruct, 0, FDT.STRUCT_ALIGN);
  // Version 16 has no size_dt_struct: the block runs to the end of the blob at most.
  const structSize = h.version >= FDT.VERSION ? h.sizeDtStruct : total - h.offDtStruct;
  checkBlock('structure', h.offDtStruct, structSize, FDT.STRUCT_ALIGN);
  checkBlock('strings', h.offDtStrings, h.sizeDtStrings, 1);
  checkBlock('memory reservation', h.offMemRsvmap, 0, FDT.RSVMAP_ALIGN);
  if (
    h.version >= FDT.VERSION &&
    structSize > 0 &&
    h.sizeDtStrings > 0 &&
    h.offDtStruct < h.offDtStrings + h.sizeDtStrings &&
    h.offDtStrings < h.offDtStruct + structSize
  ) {
    badHeader('structure and strings blocks overlap', {
      offDtStruct: h.offDtStruct,
      sizeDtStruct: structSize,
      offDtStrings: h.offDtStrings,
      sizeDtStrings: h.sizeDtStrings,
    });
  }
  const inside = (o: number, off: number, size: number): boolean => o >= off && o < off + size;
  if (
    (h.version >= FDT.VERSION && inside(h.offMemRsvmap, h.offDtStruct, structSize)) ||
    inside(h.offMemRsvmap, h.offDtStrings, h.sizeDtStrings)
  ) {
    badHeader('memory reservation block lies inside another block', { offMemRsvmap: h.offMemRsvmap });
  }

  const memReserve = readMemReserve(bytes, h, total, lim);
  const strings = bytes.subarray(h.offDtStrings, h.offDtStrings + h.sizeDtStrings);
  const structBlock = bytes.subarray(h.offDtStruct, h.offDtStruct + structSize);
  const root = walkStructure(structBlock, h.offDtStruct, strings, h.offDtStrings, lim);
  return { bootCpuidPhys: h.bootCpuidPhys, memReserve, root };
}

/** Reads reservation entries until the 0,0 pair, staying before the next block (or totalsize). */
function readMemReserve(
  bytes: Uint8Array,
  h: { offMemRsvmap: number; offDtStruct: number; offDtStrings: number },
  total: number,
  lim: FdtLimits,
): FdtMemReserve[] {
  const start = h.offMemRsvmap;
  const end = Math.min(total, ...[h.offDtStruct, h.offDtStrings].filter((o) => o >= start));
  const out: FdtMemReserve[] = [];
  for (let off = start; ; off += FdtReserveEntry.size) {
    if (off + FdtReserveEntry.size > end) {
      throw fdtError(FdtCode.BadMemReserve, 'memory reservation block has no 0,0 terminator', {
        offMemRsvmap: start,
        blockEnd: end,
      });
    }
    const e = FdtReserveEntry.decode(bytes, off, truncated('memory reservation block', 0));
    if (e.address === 0n && e.size === 0n) return out;
    if (out.length >= lim.maxMemReserve) {
      throw fdtError(FdtCode.TooLarge, 'too many memory reservation entries', { max: lim.maxMemReserve });
    }
    out.push({ address: e.address, size: e.size });
  }
}

function walkStructure(
  block: Uint8Array,
  base: number,
  strings: Uint8Array,
  stringsBase: number,
  lim: FdtLimits,
): FdtNode {
  const r = new ByteReader(block, { endian: 'be', onOutOfBounds: truncated('structure block', base) });
  const nameCache = new Map<number, string>();
  const stack: Open[] = [];
  let root: FdtNode | undefined;
  let nodes = 0;
  let props = 0;
  let pos = 0;
  const bad = (what: string, offset: number): never => {
    throw fdtError(FdtCode.BadStructure, what, { offset: base + offset });
  };

  for (;;) {
    const tokenAt = pos;
    const token = r.u32At(pos, 'a token');
    pos += 4;
    switch (token) {
      case FDT.BEGIN_NODE: {
        if (root !== undefined && stack.length === 0) bad('a second root node follows the first', tokenAt);
        if (stack.length >= lim.maxDepth) {
          throw fdtError(FdtCode.TooDeep, 'nodes nest too deep', { offset: base + tokenAt, max: lim.maxDepth });
        }
        if (++nodes > lim.maxNodes) {
          throw fdtError(FdtCode.TooLarge, 'too many nodes', { offset: base + tokenAt, max: lim.maxNodes });
        }
        const { name, nul } = readName(block, pos, lim.maxNameLength, 'node name', 'structure block', base);
        pos = align(nul + 1, FDT.STRUCT_ALIGN);
        const parent = stack[stack.length - 1];
        const path = parent === undefined ? '/' : `${parent.path === '/' ? '' : parent.path}/${name}`;
        checkNodeName(name, path, parent === undefined, lim.maxNameLength);
        const node: FdtNode = { name, props: [], children: [] };
        if (parent === undefined) {
          root = node;
        } else {
          if (parent.childNames.has(name)) {
            throw fdtError(FdtCode.DuplicateName, 'duplicate node name', { path, offset: base + tokenAt });
          }
          parent.childNames.add(name);
          parent.node.children.push(node);
        }
        stack.push({ node, path, childNames: new Set(), propNames: new Set() });
        break;
      }
      case FDT.END_NODE:
        if (stack.pop() === undefined) bad('FDT_END_NODE closes no node', tokenAt);
        break;
      case FDT.PROP: {
        const cur = stack[stack.length - 1];
        if (cur === undefined) return bad('property outside any node', tokenAt);
        if (cur.node.children.length > 0) bad('property follows a child node', tokenAt);
        const { len, nameoff } = FdtPropHeader.decode(block, pos, truncated('structure block', base));
        pos += FdtPropHeader.size;
        if (len > lim.maxPropSize) {
          throw fdtError(FdtCode.TooLarge, 'property value is larger than the limit', {
            path: cur.path,
            len,
            max: lim.maxPropSize,
          });
        }
        if (++props > lim.maxProps) {
          throw fdtError(FdtCode.TooLarge, 'too many properties', { offset: base + tokenAt, max: lim.maxProps });
        }
        const name = propName(strings, stringsBase, nameoff, lim, nameCache);
        checkPropName(name, cur.path, lim.maxNameLength);
        if (cur.propNames.has(name)) {
          throw fdtError(FdtCode.DuplicateName, 'duplicate property name', { path: cur.path, name });
        }
        cur.propNames.add(name);
        const value = r.bytesAt(pos, len, 'a property value').slice();
        pos = align(pos + len, FDT.STRUCT_ALIGN);
        cur.node.props.push({ name, value });
        break;
      }
      case FDT.NOP:
        break;
      case FDT.END:
        if (root === undefined) return bad('FDT_END before any node', tokenAt);
        if (stack.length > 0) bad('FDT_END inside an open node', tokenAt);
        return root;
      default:
        throw fdtError(FdtCode.BadToken, 'unknown structure token', { token, offset: base + tokenAt });
    }
  }
}

function propName(
  strings: Uint8Array,
  stringsBase: number,
  nameoff: number,
  lim: FdtLimits,
  cache: Map<number, string>,
): string {
  const hit = cache.get(nameoff);
  if (hit !== undefined) return hit;
  if (nameoff >= strings.length) {
    throw fdtError(FdtCode.BadString, 'property name offset lies outside the strings block', {
      nameoff,
      sizeDtStrings: strings.length,
    });
  }
  const { name } = readName(strings, nameoff, lim.maxNameLength, 'property name', 'strings block', stringsBase);
  cache.set(nameoff, name);
  return name;
}

/**
 * Writes a version 17 blob (see the module contract). Throws HandoffError on a tree it cannot
 * encode or that breaks `limits` (the same bounds `parseFdt` applies, so what is written can be read).
 */
export function writeFdt(fdt: Fdt, limits?: Partial<FdtLimits>): Uint8Array {
  const lim = resolveLimits(limits);
  if (!Number.isInteger(fdt.bootCpuidPhys) || fdt.bootCpuidPhys < 0 || fdt.bootCpuidPhys >= U32_LIMIT) {
    throw fdtError(FdtCode.ValueRange, 'boot_cpuid_phys does not fit in 32 bits', { value: fdt.bootCpuidPhys });
  }
  if (fdt.memReserve.length > lim.maxMemReserve) {
    throw fdtError(FdtCode.TooLarge, 'too many memory reservation entries', {
      count: fdt.memReserve.length,
      max: lim.maxMemReserve,
    });
  }
  fdt.memReserve.forEach((e, index) => checkMemReserve(e, index));

  const struct = new ByteWriter({ endian: 'be', initialCapacity: 4096 });
  const strings = new ByteWriter({ endian: 'be', initialCapacity: 1024 });
  const nameoffs = new Map<string, number>();
  const counts = { nodes: 0, props: 0 };

  const emit = (node: FdtNode, path: string, depth: number): void => {
    if (depth > lim.maxDepth) throw fdtError(FdtCode.TooDeep, 'nodes nest too deep', { path, max: lim.maxDepth });
    if (++counts.nodes > lim.maxNodes) throw fdtError(FdtCode.TooLarge, 'too many nodes', { max: lim.maxNodes });
    checkNodeName(node.name, path, depth === 1, lim.maxNameLength);
    struct.u32(FDT.BEGIN_NODE).cstring(node.name).align(FDT.STRUCT_ALIGN);
    const seen = new Set<string>();
    for (const p of node.props) {
      checkPropName(p.name, path, lim.maxNameLength);
      if (seen.has(p.name)) throw fdtError(FdtCode.DuplicateName, 'duplicate property name', { path, name: p.name });
      seen.add(p.name);
      if (p.value.length > lim.maxPropSize) {
        throw fdtError(FdtCode.TooLarge, 'property value is larger than the limit', {
          path,
          name: p.name,
          len: p.value.length,
          max: lim.maxPropSize,
        });
      }
      if (++counts.props > lim.maxProps) throw fdtError(FdtCode.TooLarge, 'too many properties', { max: lim.maxProps });
      let off = nameoffs.get(p.name);
      if (off === undefined) {
        off = strings.length;
        nameoffs.set(p.name, off);
        strings.cstring(p.name);
      }
      struct.u32(FDT.PROP).u32(p.value.length).u32(off).bytes(p.value).align(FDT.STRUCT_ALIGN);
    }
    const names = new Set<string>();
    for (const c of node.children) {
      const childPath = `${path === '/' ? '' : path}/${c.name}`;
      if (names.has(c.name)) throw fdtError(FdtCode.DuplicateName, 'duplicate node name', { path: childPath });
      names.add(c.name);
      emit(c, childPath, depth + 1);
    }
    struct.u32(FDT.END_NODE);
  };
  emit(fdt.root, '/', 1);
  struct.u32(FDT.END);

  const offMemRsvmap = align(FdtHeader.size, FDT.RSVMAP_ALIGN);
  const rsvSize = (fdt.memReserve.length + 1) * FdtReserveEntry.size;
  const offDtStruct = align(offMemRsvmap + rsvSize, FDT.STRUCT_ALIGN);
  const offDtStrings = offDtStruct + struct.length;
  const totalsize = offDtStrings + strings.length;
  if (totalsize > lim.maxTotalSize) {
    throw fdtError(FdtCode.TooLarge, 'blob would be larger than the limit', { totalsize, max: lim.maxTotalSize });
  }

  const out = new Uint8Array(totalsize);
  FdtHeader.encodeInto(out, 0, {
    magic: FDT.MAGIC,
    totalsize,
    offDtStruct,
    offDtStrings,
    offMemRsvmap,
    version: FDT.VERSION,
    lastCompVersion: FDT.LAST_COMP_VERSION,
    bootCpuidPhys: fdt.bootCpuidPhys,
    sizeDtStrings: strings.length,
    sizeDtStruct: struct.length,
  });
  fdt.memReserve.forEach((e, i) => FdtReserveEntry.encodeInto(out, offMemRsvmap + i * FdtReserveEntry.size, e));
  // The 0,0 terminator is already zero.
  out.set(struct.finish(), offDtStruct);
  out.set(strings.finish(), offDtStrings);
  return out;
}

/**
 * What the writer cannot encode: a value outside u64, or a 0,0 pair (it would end the block
 * early). Empty or wrapping entries are legal in a blob; `addMemReserve` refuses them.
 */
export function checkMemReserve(e: FdtMemReserve, index: number): void {
  if (e.address < 0n || e.address >= U64_LIMIT || e.size < 0n || e.size >= U64_LIMIT) {
    throw fdtError(FdtCode.ValueRange, 'memory reservation entry does not fit in 64 bits', {
      index,
      address: e.address,
      size: e.size,
    });
  }
  if (e.address === 0n && e.size === 0n) {
    throw fdtError(FdtCode.BadMemReserve, 'memory reservation entry is the 0,0 terminator', { index });
  }
}
