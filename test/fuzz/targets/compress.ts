/**
 * The gzip and zstd decompression streams of dump/compress.ts (native/compress.cc) in any
 * chunking, output cap and total limit. The input is the stream itself (a saved
 * counterexample is a .gz or .zst file); the chunking, the cap and the limit are derived
 * from its length, so a file replays the same way. When a stream decodes, the integrity
 * checks (gzip CRC32 + ISIZE; zstd XXH64 when the frame has its checksum flag) mean it decodes
 * to the original data — once per complete member/frame the mutations kept or duplicated.
 * Seeds: page-like data (zero runs, incompressible runs, text) compressed at several levels.
 * `decompress-file` runs the same streams through decompressFile (`kboot dump inspect` of a
 * .gz/.zst): whatever happens, no temporary file is left behind and no output on failure.
 */
import fc from 'fast-check';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compressChunks, decompressChunks } from '../../../dump/compress.js';
import { decompressFile } from '../../../dump/file.js';
import { DumpError } from '../../../dump/errors.js';
import { pattern } from '../../unit/loader/elf/fixtures.js';
import { bytesTarget } from '../lib/build.js';
import { scratchDir } from '../lib/scratch.js';
import { invariant, type FuzzTarget } from '../lib/target.js';

/** The data every seed holds. */
const PLAIN = Buffer.concat([
  Buffer.alloc(5000),
  Buffer.from(pattern(3000, 11)),
  Buffer.from('panic: page fault while in kernel mode\n'.repeat(40)),
  Buffer.alloc(4096, 0xa5),
]);

function pieces(b: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < b.length; off += n) out.push(b.subarray(off, off + n));
  return out;
}

/** Output is the original data k times (k >= 0). */
function isRepeatedPlain(out: Buffer): boolean {
  if (out.length % PLAIN.length !== 0) return false;
  for (let at = 0; at < out.length; at += PLAIN.length) {
    if (!out.subarray(at, at + PLAIN.length).equals(PLAIN)) return false;
  }
  return true;
}

/**
 * Streams that stay valid: zero padding after the end (savecore's block padding), members or
 * frames one after another, gzip header fields the CRC does not cover (MTIME, XFL, OS) and an
 * FNAME, a zstd skippable frame first. They reach the decoder's paths that damage never does.
 */
function validVariants(kind: 'gzip' | 'zstd', seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const seed = fc.nat().map((i) => seeds[i % seeds.length] ?? new Uint8Array(0));
  const cat = (...p: Uint8Array[]): Uint8Array => Buffer.concat(p);
  const common = [
    fc.tuple(seed, fc.integer({ min: 1, max: 1024 })).map(([s, n]) => cat(s, new Uint8Array(n))),
    fc.tuple(seed, seed).map(([a, b]) => cat(a, b)),
  ];
  if (kind === 'gzip') {
    return fc.oneof(
      ...common,
      fc.tuple(seed, fc.uint8Array({ minLength: 6, maxLength: 6 })).map(([s, h]) => {
        const b = Uint8Array.from(s);
        b.set(h, 4);
        return b;
      }),
      fc.tuple(seed, fc.string({ maxLength: 20, unit: 'grapheme-ascii' })).map(([s, name]) => {
        const head = Uint8Array.from(s.subarray(0, 10));
        head[3] = (head[3] ?? 0) | 0x08; // FNAME
        return cat(head, Buffer.from(`${name.replace(/\0/g, '')}\0`, 'latin1'), s.subarray(10));
      }),
    );
  }
  return fc.oneof(
    ...common,
    fc.tuple(seed, fc.nat(15), fc.uint8Array({ maxLength: 64 })).map(([s, m, data]) => {
      const head = new Uint8Array(8);
      const dv = new DataView(head.buffer);
      dv.setUint32(0, 0x184d_2a50 + m, true);
      dv.setUint32(4, data.length, true);
      return cat(head, data, s);
    }),
  );
}

function decompressTarget(kind: 'gzip' | 'zstd'): FuzzTarget {
  return bytesTarget({
    name: kind,
    group: 'compress',
    entry: `decompressChunks('${kind}') in any chunking, output cap and limit`,
    errors: [DumpError],
    floor: 0.1,
    tapRuns: 4000,
    native: true,
    seeds: () => [
      Buffer.concat([...compressChunks(kind, pieces(PLAIN, 1000))]),
      Buffer.concat([...compressChunks(kind, [PLAIN], { level: 1 })]),
      Buffer.concat([...compressChunks(kind, [PLAIN], { level: 9 })]),
    ],
    decode: (b) => {
      const n = b.length;
      const piece = 1 + ((n * 7919) % 9000);
      const maxChunk = 1 + ((n * 104_729) % 20_000);
      const maxBytes = n % 7 === 3 ? BigInt(PLAIN.length + (n % 2) * PLAIN.length) : undefined;
      const out = Buffer.concat([
        ...decompressChunks(kind, pieces(b, piece), { maxChunk, ...(maxBytes === undefined ? {} : { maxBytes }) }),
      ]);
      invariant(maxBytes === undefined || BigInt(out.length) <= maxBytes, 'output passes maxBytes');
      const checked = kind === 'gzip' || ((b[4] ?? 0) & 0x04) !== 0;
      invariant(!checked || isRepeatedPlain(out), 'a stream with an integrity check decodes to other data');
      return out.length;
    },
    keepHead: 16,
    randomLength: 2048,
    extra: (ctx) => [{ weight: 2, arbitrary: validVariants(kind, ctx.seeds) }],
  });
}

export const gzipTarget = decompressTarget('gzip');
export const zstdTarget = decompressTarget('zstd');

/** decompressFile on a file holding the input: the output exists exactly when it decoded, nothing else is left. */
function decodeFile(b: Uint8Array): unknown {
  const dir = scratchDir();
  const src = join(dir, 'vmcore.0.zst');
  const dst = join(dir, 'vmcore.0');
  writeFileSync(src, b);
  let ok = false;
  try {
    const r = decompressFile(src, dst, { maxBytes: BigInt(4 * PLAIN.length), maxChunk: 4096 });
    ok = true;
    return { kind: r.kind, bytesOut: r.bytesOut };
  } finally {
    const left = readdirSync(dir).filter((f) => f.startsWith('vmcore.0') && f !== 'vmcore.0.zst');
    invariant(left.length === (ok ? 1 : 0), `left behind: ${left.join(', ') || 'no output'}`);
    rmSync(dst, { force: true });
  }
}

export const decompressFileTarget: FuzzTarget = bytesTarget({
  name: 'decompress-file',
  group: 'compress',
  entry: 'decompressFile (a .gz or .zst dump file to a new file, bounded; nothing left behind on failure)',
  errors: [DumpError],
  floor: 0.065,
  tapRuns: 1000,
  native: true,
  seeds: () => (['gzip', 'zstd'] as const).map((k) => Buffer.concat([...compressChunks(k, [PLAIN])])),
  decode: decodeFile,
  keepHead: 16,
  extra: (ctx) => [
    { weight: 1, arbitrary: validVariants('gzip', ctx.seeds) },
    { weight: 1, arbitrary: validVariants('zstd', ctx.seeds) },
  ],
});
