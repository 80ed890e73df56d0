/**
 * Bounds-checked byte access and declared binary layouts (see reader.ts, writer.ts, layout.ts).
 */
export { ByteReader, outOfBounds, type Endian, type OutOfBoundsInfo, type ReaderOptions } from './reader.js';
export { ByteWriter } from './writer.js';
export {
  defineLayout,
  u8,
  u16,
  u32,
  u64,
  bytes,
  cstring,
  u32array,
  u64array,
  pad,
  type Field,
  type Layout,
  type LayoutValues,
  type LayoutFieldName,
} from './layout.js';
