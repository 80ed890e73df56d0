/**
 * Field lists for length-field corruption, read from the layouts (loader/bytes defineLayout):
 * every integer field of a struct at a base offset, in the layout's byte order.
 */
import type { Field } from './mutate.js';

interface LayoutLike {
  readonly size: number;
  readonly endian: 'le' | 'be';
  readonly fields: readonly {
    readonly kind: string;
    readonly size: number;
    readonly count: number;
    readonly endian: 'le' | 'be' | undefined;
  }[];
}

const WIDTH: Readonly<Record<string, 1 | 2 | 4 | 8>> = { u8: 1, u16: 2, u32: 4, u64: 8, u32array: 4, u64array: 8 };

/** The integer fields of `layout` placed at `base` (those that fit in `length` bytes). */
export function layoutFields(layout: LayoutLike, base: number, length = Infinity): Field[] {
  const out: Field[] = [];
  let at = base;
  for (const f of layout.fields) {
    const width = WIDTH[f.kind];
    if (width !== undefined) {
      const be = (f.endian ?? layout.endian) === 'be';
      const n = f.kind.endsWith('array') ? f.count : 1;
      for (let i = 0; i < n; i++) if (at + (i + 1) * width <= length) out.push({ at: at + i * width, width, be });
    }
    at += f.size;
  }
  return out;
}

/** Fields of `count` structs of `layout` one after another from `base`. */
export function tableFields(layout: LayoutLike, base: number, count: number, length = Infinity): Field[] {
  const out: Field[] = [];
  for (let i = 0; i < count; i++) out.push(...layoutFields(layout, base + i * layout.size, length));
  return out;
}

/** Aligned u32 words from `base` to `end` (for formats with no declared layout). */
export function words(base: number, end: number, be = false): Field[] {
  const out: Field[] = [];
  for (let at = base; at + 4 <= end; at += 4) out.push({ at, width: 4, be });
  return out;
}
