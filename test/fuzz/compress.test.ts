// Fuzz contract of dump/compress.ts decompression (native/compress.cc): random bytes, random
// bytes behind a real magic, and mutated/truncated/extended real streams raise only DumpError
// (DUMP_COMPRESS or DUMP_TRUNCATED; DUMP_TOO_LARGE under a limit), in any chunking and output
// cap. When a mutated stream does decode, the integrity checks (gzip CRC32 + ISIZE, zstd XXH64)
// mean it decodes to exactly the original: checked against the input the seed was made from.
import t from 'tap';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { compressChunks, decompressChunks } from '../../dump/compress.js';
import { DumpCode, DumpError } from '../../dump/errors.js';
import { nativeAvailable } from '../../machine/native.js';

const CODECS = ['gzip', 'zstd'] as const;
const MAGIC = { gzip: Uint8Array.of(0x1f, 0x8b, 8), zstd: Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd) } as const;
const CODES = new Set<string>([DumpCode.Compress, DumpCode.Truncated, DumpCode.TooLarge]);

function pieces(b: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < b.length; off += n) out.push(b.subarray(off, off + n));
  return out;
}

/** Decodes; returns the output, or undefined after a DumpError with an expected code. Anything else throws. */
function decode(
  kind: (typeof CODECS)[number],
  b: Uint8Array,
  piece: number,
  maxChunk: number,
  maxBytes?: bigint,
): Buffer | undefined {
  try {
    return Buffer.concat([
      ...decompressChunks(kind, pieces(b, piece), { maxChunk, ...(maxBytes === undefined ? {} : { maxBytes }) }),
    ]);
  } catch (e) {
    if (e instanceof DumpError && CODES.has(e.code)) return undefined;
    throw e;
  }
}

for (const kind of CODECS) {
  t.test(`${kind} decompressor: only DumpError`, nativeAvailable() ? {} : { skip: 'native addon not built' }, (t) => {
    // Seed: page-like data (zero runs, random runs, text) so every block type appears.
    const plain = Buffer.concat([
      Buffer.alloc(5000),
      randomBytes(3000),
      Buffer.from('panic: page fault while in kernel mode\n'.repeat(40)),
      Buffer.alloc(4096, 0xa5),
    ]);
    const seed = Buffer.concat([...compressChunks(kind, pieces(plain, 1000))]);
    const opts = { numRuns: 300 };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048, size: 'max' }), fc.integer({ min: 1, max: 4096 }), (b, cap) => {
        decode(kind, b, 97, cap);
        return true;
      }),
      opts,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.integer({ min: 1, max: 4096 }), (tail, cap) => {
        decode(kind, Buffer.concat([MAGIC[kind], tail]), 13, cap);
        return true;
      }),
      opts,
    );
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(seed.length - 1), v: fc.nat(255) }), { minLength: 1, maxLength: 4 }),
        fc.nat(seed.length),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 9000 }),
        fc.integer({ min: 1, max: 20_000 }),
        (muts, cut, extra, piece, cap) => {
          const b = Buffer.concat([seed.subarray(0, cut), extra]);
          for (const { at, v } of muts) if (at < b.length) b[at] = v;
          const out = decode(kind, b, piece, cap);
          // Decoding a damaged stream successfully is allowed only when the damage did not
          // touch the data (a header field, or zero padding after the end).
          return out === undefined || out.equals(plain);
        },
      ),
      opts,
    );
    fc.assert(
      fc.property(fc.nat(seed.length), fc.bigInt({ min: 0n, max: BigInt(plain.length) }), (at, limit) => {
        const b = Buffer.from(seed);
        b[at] = (b[at] ?? 0) ^ 0x10;
        decode(kind, b, 512, 1000, limit);
        return true;
      }),
      { numRuns: 100 },
    );
    t.pass('random, prefixed, mutated, truncated and extended streams raised only DumpError');
    t.end();
  });
}
