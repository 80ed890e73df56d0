/**
 * Flattened device tree (FDT v17): the public surface of kboot's DTB support.
 *
 * Contract: plain-data trees (`Fdt`, `FdtNode`, `FdtProp`) that no helper mutates;
 * `parseFdt` (only HandoffError/FdtCode escapes; bounded by `FdtLimits`) and `writeFdt`
 * (dtc's block order, output accepted by `dtc -I dtb -O dts` without warnings); typed
 * property readers and value constructors; the rescue kernel's `/memory` rewrite and
 * reserved-memory edits. The emulated arm64 machine's own tree is loader/plan/host-fdt.ts.
 *
 * Facts: Devicetree Specification v0.4 (chapter 5 for the blob); freebsd-handoff.md §8.3
 * item 4 (the rescue DTB) and §7 (GICv3 ITS); FreeBSD's consumers are libfdt
 * (`sys/contrib/libfdt/`) and `sys/dev/fdt/fdt_common.c`.
 */
export {
  DEFAULT_FDT_LIMITS,
  FDT,
  FdtHeader,
  FdtPropHeader,
  FdtReserveEntry,
  isValidNodeName,
  isValidPropName,
  type Fdt,
  type FdtLimits,
  type FdtMemReserve,
  type FdtNode,
  type FdtProp,
} from './model.js';
export { parseFdt, writeFdt } from './codec.js';
export {
  DEFAULT_ADDRESS_CELLS,
  DEFAULT_SIZE_CELLS,
  addressCells,
  asCellCount,
  cellsValue,
  emptyValue,
  findNode,
  getProp,
  makeNode,
  makeProp,
  propCells,
  propReg,
  propString,
  propStrings,
  propU32,
  propU64,
  regValue,
  removeChild,
  removeProp,
  setChild,
  setProp,
  sizeCells,
  stringValue,
  u32Value,
  u64Value,
  unitName,
  type CellCount,
  type RegEntry,
} from './props.js';
export {
  MEMORY_NODE,
  RESERVED_MEMORY_NODE,
  addMemReserve,
  addReservedMemory,
  checkRanges,
  isMemoryNode,
  readMemoryRanges,
  rewriteMemoryReg,
  type MemoryRange,
  type ReservedMemory,
} from './memory.js';
