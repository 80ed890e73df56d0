/**
 * Known-zero chunks: dump writers yield runs of zero bytes as views of one shared, never
 * written buffer, so a file writer can leave a hole instead of writing them (savecore's
 * DoRegularFile seeks over zero blocks the same way: sbin/savecore/savecore.c) and readers of
 * the stream see ordinary zero bytes.
 *
 * Contract: `zeroChunk(len)` (len ≤ 1 MiB) returns `len` zero bytes; `isZeroChunk(b)` is
 * true exactly for such views. Nobody may write into them (they are only ever read).
 */
export const MAX_ZERO_CHUNK = 1 << 20;
const ZERO = new Uint8Array(MAX_ZERO_CHUNK);

export function zeroChunk(len: number): Uint8Array {
  return ZERO.subarray(0, Math.max(0, Math.min(len, MAX_ZERO_CHUNK)));
}

export function isZeroChunk(b: Uint8Array): boolean {
  return b.buffer === ZERO.buffer;
}
