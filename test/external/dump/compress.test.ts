// dump/compress.ts (codecs in native/compress.cc). What checks what:
//  - round trips (ours -> ours) of random and page-structured data in many chunk splits and
//    output caps (fast-check drives the splits); equality is byte equality of the whole stream;
//  - our gzip output is decoded by GNU gzip (`gzip -dc`) and our zstd output by the zstd CLI
//    (`zstd -dc`), and the sha256 of what they print (node:crypto) equals that of the input;
//    `zstd -lv` confirms the content checksum (XXH64) FreeBSD's compressor asks for;
//  - streams written by the `gzip` and `zstd` CLIs (several levels, multi-member/multi-frame,
//    zstd without checksum) decode with ours to the sha256 of their input;
//  - truncation, corruption (checksum/CRC bytes, mid-stream flips), garbage after the stream,
//    output caps and zip bombs give DumpError with stable codes; zero padding after a complete
//    stream is accepted (as `gzip -dc` does);
//  - decompressFile: mode 0600, no overwrite, nothing left behind on failure.
// The pure helpers (suffix, KERNELDUMP_COMP_* values from sys/sys/kerneldump.h, magic
// detection per RFC 1952 / RFC 8878, 'none' pass-through) need neither the addon nor a tool.
import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compressChunks,
  compressionSuffix,
  decompressChunks,
  detectCompression,
  DUMP_COMPRESSIONS,
  kerneldumpComp,
  type CompressStats,
  type DecompressOptions,
  type DecompressStats,
  type DumpCompression,
} from '../../../dump/compress.js';
import { DumpCode, DumpError } from '../../../dump/errors.js';
import { decompressFile } from '../../../dump/file.js';
import { IoCode } from '../../../loader/errors.js';
import { nativeAvailable } from '../../../native/binding.js';
import { throwsCode } from '../../helpers/errors.js';
import { requireTool } from '../../helpers/tools.js';

const PAGE = 4096;
const NATIVE = nativeAvailable() ? {} : { skip: 'native addon not built' };
const needs = (...tools: Codec[]): { skip?: string } =>
  nativeAvailable() ? requireTool(...tools) : { skip: 'native addon not built' };

const CODECS = ['gzip', 'zstd'] as const;
type Codec = (typeof CODECS)[number];
const CLI: Record<Codec, string> = { gzip: 'gzip', zstd: 'zstd' };

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Splits `b` at the given offsets (clamped, sorted, duplicates give empty chunks). */
function splitAt(b: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const at = [...cuts.map((c) => Math.min(c, b.length)), 0, b.length].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  for (let i = 1; i < at.length; i++) out.push(b.subarray(at[i - 1], at[i]));
  return out;
}

/** Splits into pieces of `n` bytes. */
function every(b: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < b.length; off += n) out.push(b.subarray(off, off + n));
  return out;
}

const compress = (kind: Codec, chunks: Iterable<Uint8Array>, level?: number): Buffer =>
  Buffer.concat([...compressChunks(kind, chunks, level === undefined ? {} : { level })]);
const decompress = (kind: Codec, chunks: Iterable<Uint8Array>, opts: DecompressOptions = {}): Buffer =>
  Buffer.concat([...decompressChunks(kind, chunks, opts)]);

/** Page-structured memory: each page zero, random, or one repeated byte (`kinds` picks). */
function pages(kinds: readonly number[]): Buffer {
  return Buffer.concat(
    kinds.map((k) =>
      k % 3 === 0 ? Buffer.alloc(PAGE) : k % 3 === 1 ? randomBytes(PAGE) : Buffer.alloc(PAGE, k & 0xff),
    ),
  );
}

/** A dump-like image: mostly zero pages, a third random, a few patterned. */
function dumpImage(nPages: number): Buffer {
  return pages(Array.from({ length: nPages }, (_, i) => ((i * 2654435761) % 7 < 4 ? 0 : i % 5 === 0 ? 2 + 3 * i : 1)));
}

t.test('pure helpers: suffix, KERNELDUMP_COMP_*, magic, none passes through', (t) => {
  t.same(DUMP_COMPRESSIONS, ['none', 'gzip', 'zstd']);
  t.same(
    DUMP_COMPRESSIONS.map((k) => compressionSuffix(k)),
    ['', '.gz', '.zst'],
    'savecore names: vmcore.N, vmcore.N.gz, vmcore.N.zst',
  );
  t.same(
    DUMP_COMPRESSIONS.map((k) => kerneldumpComp(k)),
    [0, 1, 2],
    'KERNELDUMP_COMP_NONE/GZIP/ZSTD (sys/sys/kerneldump.h)',
  );
  throwsCode(t, () => compressionSuffix('lz4' as DumpCompression), DumpCode.BadValue);
  throwsCode(t, () => kerneldumpComp('xz' as DumpCompression), DumpCode.BadValue);
  t.equal(detectCompression(Uint8Array.of(0x1f, 0x8b, 8, 0)), 'gzip', 'RFC 1952 ID1 ID2');
  t.equal(detectCompression(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0)), 'zstd', 'RFC 8878 frame magic');
  t.equal(detectCompression(Uint8Array.of(0x5a, 0x2a, 0x4d, 0x18)), 'zstd', 'RFC 8878 skippable frame');
  t.equal(detectCompression(Uint8Array.of(0x28, 0xb5, 0x2f)), 'none', 'too short for zstd');
  t.equal(detectCompression(Uint8Array.of(0x1f)), 'none');
  t.equal(detectCompression(new Uint8Array(0)), 'none');
  t.equal(detectCompression(Buffer.from('FreeBSD Kernel Dump')), 'none');

  const a = Uint8Array.of(1, 2, 3);
  const b = new Uint8Array(0);
  const c = new Uint8Array(5000);
  const stats: CompressStats = { bytesIn: 0n, bytesOut: 0n };
  const out = [...compressChunks('none', [a, b, c], { stats })];
  t.equal(out.length, 3);
  t.ok(out[0] === a && out[1] === b && out[2] === c, "'none' yields the very same chunks (zero copy)");
  t.same(stats, { bytesIn: 5003n, bytesOut: 5003n });
  const back = [...decompressChunks('none', [a, c])];
  t.ok(back[0] === a && back[1] === c, "'none' decompression passes through too");
  throwsCode(t, () => [...decompressChunks('none', [a, c], { maxBytes: 100n })], DumpCode.TooLarge);
  throwsCode(t, () => [...compressChunks('lzma' as DumpCompression, [a])], DumpCode.BadValue);
  t.end();
});

t.test('round trip (ours -> ours): random data, random splits and output caps', NATIVE, (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...CODECS),
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 20_000, size: 'max' }), // incompressible
        fc // compressible: runs of one byte
          .array(fc.tuple(fc.nat({ max: 255 }), fc.nat({ max: 3000 })), { maxLength: 12, size: 'max' })
          .map((runs) => Buffer.concat(runs.map(([b, n]) => Buffer.alloc(n, b)))),
      ),
      fc.array(fc.nat({ max: 21_000 }), { maxLength: 8, size: 'max' }),
      fc.array(fc.nat({ max: 12_000 }), { maxLength: 8, size: 'max' }),
      fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 70_000 })),
      (kind, data, cutsIn, cutsOut, maxChunk) => {
        const stats: CompressStats = { bytesIn: 0n, bytesOut: 0n };
        const z = Buffer.concat([...compressChunks(kind, splitAt(data, cutsIn), { stats })]);
        if (stats.bytesIn !== BigInt(data.length) || stats.bytesOut !== BigInt(z.length)) return false;
        const got: Uint8Array[] = [...decompressChunks(kind, splitAt(z, cutsOut), { maxChunk })];
        return got.every((g) => g.length > 0 && g.length <= maxChunk) && Buffer.concat(got).equals(data);
      },
    ),
    { numRuns: 120 },
  );
  t.pass('every split and cap round-trips; no output piece is empty or above the cap');
  t.end();
});

t.test('round trip (ours -> ours): page-structured data in many splits', NATIVE, (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...CODECS),
      fc.array(fc.nat({ max: 255 }), { maxLength: 48, size: 'max' }),
      fc.constantFrom(3, 7, 512, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE, 1 << 20),
      fc.constantFrom(1000, PAGE, 1 << 20),
      (kind, kinds, piece, maxChunk) => {
        const data = pages(kinds);
        const z = compress(kind, every(data, piece));
        return decompress(kind, every(z, Math.max(1, piece >> 2)), { maxChunk }).equals(data);
      },
    ),
    { numRuns: 60 },
  );
  const data = dumpImage(2048); // 8 MiB
  // Small chunks are gathered before the codec, large ones go straight in: interleaved, in order.
  const sizes = [4096, 300_000, 4096, 17, ...Array.from({ length: 300 }, () => 4096), 0, 2 << 20, 5, 70_000, 1];
  const mixed: Uint8Array[] = [];
  for (let off = 0, i = 0; i < sizes.length; off += sizes[i] ?? 0, i++) {
    mixed.push(data.subarray(off, off + (sizes[i] ?? 0)));
  }
  for (const kind of CODECS) {
    const stats: CompressStats = { bytesIn: 0n, bytesOut: 0n };
    const z = Buffer.concat([...compressChunks(kind, mixed, { stats })]);
    t.ok(decompress(kind, [z]).equals(Buffer.concat(mixed)), `${kind}: mixed small and large chunks keep their order`);
    t.equal(stats.bytesIn, BigInt(sizes.reduce((a, b) => a + b, 0)));
  }
  for (const kind of CODECS) {
    const z = compress(kind, [data]);
    t.ok(z.length < data.length / 2, `${kind}: a mostly-zero image shrinks (${data.length} -> ${z.length})`);
    for (const piece of [1 << 10, PAGE, 1 << 16, 5 << 20]) {
      t.ok(compress(kind, every(data, piece)).length > 0);
      t.ok(decompress(kind, every(z, piece)).equals(data), `${kind}: decoded in ${piece}-byte pieces`);
    }
  }
  t.end();
});

t.test('our output decodes with the gzip and zstd CLIs (independent decoders)', needs('gzip', 'zstd'), (t) => {
  const data = dumpImage(2048);
  const want = sha(data);
  const dir = mkdtempSync(join(tmpdir(), 'kboot-compress-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const kind of CODECS) {
    for (const level of kind === 'gzip' ? [undefined, 1, 9] : [undefined, 1, 19, -5]) {
      const z = compress(kind, every(data, 12_345), level);
      const r = spawnSync(CLI[kind], ['-dc'], { input: z, maxBuffer: 1 << 26 });
      t.equal(r.status, 0, `${kind} -dc exits 0 (level ${level ?? 'default'})`);
      t.equal(sha(r.stdout), want, `${kind} -dc: same sha256 as the input (level ${level ?? 'default'})`);
    }
  }
  // Level defaults: FreeBSD's gzip header (RFC 1952: ID1 ID2 CM=8); zstd frame with XXH64 check.
  const gz = compress('gzip', [data]);
  t.same([...gz.subarray(0, 3)], [0x1f, 0x8b, 8], 'gzip member header');
  const zst = compress('zstd', [data]);
  writeFileSync(join(dir, 'ours.zst'), zst);
  const l = spawnSync('zstd', ['-lv', join(dir, 'ours.zst')], { encoding: 'utf8' });
  t.match(l.stdout, /Check: XXH64/, 'zstd -lv: the frame carries a content checksum (ZSTD_c_checksumFlag=1)');
  t.match(l.stdout, /Zstandard Frames: 1/, 'one frame');
  // Empty input still makes a valid (empty) stream for both tools.
  for (const kind of CODECS) {
    const r = spawnSync(CLI[kind], ['-dc'], { input: compress(kind, []), maxBuffer: 1 << 20 });
    t.equal(r.status, 0, `${kind}: an empty stream is valid`);
    t.equal(r.stdout.length, 0);
  }
  t.end();
});

t.test(
  'streams written by the gzip and zstd CLIs decode with ours (independent encoders)',
  needs('gzip', 'zstd'),
  (t) => {
    const data = dumpImage(1536);
    const want = sha(data);
    const dir = mkdtempSync(join(tmpdir(), 'kboot-compress-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const src = join(dir, 'vmcore.0');
    writeFileSync(src, data);
    const cases: [Codec, string[]][] = [
      ['gzip', ['-c', '-6']],
      ['gzip', ['-c', '-1']],
      ['gzip', ['-c', '-9', '-n']],
      ['zstd', ['-q', '-c', '-3']],
      ['zstd', ['-q', '-c', '-19']],
      ['zstd', ['-q', '-c', '--no-check', '-1']],
      ['zstd', ['-q', '-c', '--long=27', '-3']],
    ];
    for (const [kind, args] of cases) {
      const r = spawnSync(CLI[kind], [...args, src], { maxBuffer: 1 << 26 });
      t.equal(r.status, 0, `${kind} ${args.join(' ')}`);
      t.equal(detectCompression(r.stdout), kind, 'detected from its magic');
      t.equal(sha(decompress(kind, every(r.stdout, 4099))), want, `${kind} ${args.join(' ')}: same sha256`);
      t.equal(sha(decompress(kind, [r.stdout], { maxChunk: 3000 })), want, 'also with a small output cap');
    }
    // Multi-member gzip and multi-frame zstd (what `cat a.gz b.gz` makes; both CLIs accept it).
    for (const kind of CODECS) {
      const half = data.subarray(0, data.length >> 1);
      writeFileSync(join(dir, 'a'), half);
      writeFileSync(join(dir, 'b'), data.subarray(half.length));
      const a = spawnSync(CLI[kind], ['-c', join(dir, 'a')], { maxBuffer: 1 << 26 }).stdout;
      const b = spawnSync(CLI[kind], ['-c', join(dir, 'b')], { maxBuffer: 1 << 26 }).stdout;
      const stats: DecompressStats = { bytesIn: 0n, bytesOut: 0n, frames: 0, trailingZeros: 0n };
      t.equal(
        sha(decompress(kind, every(Buffer.concat([a, b]), 1000), { stats })),
        want,
        `${kind}: two members/frames`,
      );
      t.equal(stats.frames, 2);
      t.equal(stats.bytesIn, BigInt(a.length + b.length));
      t.equal(stats.bytesOut, BigInt(data.length));
    }
    t.end();
  },
);

t.test('truncated, corrupt and padded streams', NATIVE, (t) => {
  const data = dumpImage(256);
  for (const kind of CODECS) {
    const z = compress(kind, [data]);
    throwsCode(t, () => decompress(kind, []), DumpCode.Truncated, `${kind}: empty stream`);
    for (const cut of [1, 2, 5, 10, z.length >> 1, z.length - 4, z.length - 1]) {
      throwsCode(t, () => decompress(kind, [z.subarray(0, cut)]), DumpCode.Truncated, `${kind}: cut at ${cut}`);
      throwsCode(t, () => decompress(kind, every(z.subarray(0, cut), 3)), DumpCode.Truncated, 'in small pieces too');
    }
    // The last 4 bytes: gzip ISIZE (RFC 1952 §2.3.1), zstd XXH64 checksum (RFC 8878 §3.1.1).
    // gzip CRC32 is at -8..-5. A flip there is a mismatch, never a different reading.
    const flips = kind === 'gzip' ? [z.length - 1, z.length - 6] : [z.length - 1, z.length - 3];
    for (const at of flips) {
      const bad = Buffer.from(z);
      bad[at] = (bad[at] ?? 0) ^ 0x40;
      throwsCode(t, () => decompress(kind, [bad]), DumpCode.Compress, `${kind}: check bytes flipped at ${at}`);
    }
    const e = throwsCode(t, () => decompress(kind, [Buffer.from('this is not compressed at all')]), DumpCode.Compress);
    t.ok(e instanceof DumpError && e.message.startsWith(`dump: ${kind} stream is corrupt`), 'message names the format');
    // Zero padding after a complete stream (the kernel writes whole blocks) is accepted ...
    const stats: DecompressStats = { bytesIn: 0n, bytesOut: 0n, frames: 0, trailingZeros: 0n };
    t.ok(
      decompress(kind, every(Buffer.concat([z, Buffer.alloc(4000)]), 999), { stats }).equals(data),
      `${kind}: padded`,
    );
    t.equal(stats.trailingZeros, 4000n);
    // ... anything else after it is not.
    throwsCode(t, () => decompress(kind, [z, Buffer.alloc(10), Uint8Array.of(7)]), DumpCode.Compress, 'garbage');
    throwsCode(t, () => decompress(kind, [Buffer.alloc(100)]), DumpCode.Compress, 'zeros are not a stream');
  }
  // Every single-byte flip anywhere either fails with DumpError or (gzip header fields such as
  // MTIME/XFL/OS, zstd window size) still yields exactly the input: CRC32 / XXH64 guard the data.
  const small = dumpImage(8);
  for (const kind of CODECS) {
    const z = compress(kind, [small]);
    let failed = 0;
    for (let at = 0; at < z.length; at++) {
      const bad = Buffer.from(z);
      bad[at] = (bad[at] ?? 0) ^ (1 << (at % 8));
      try {
        if (!decompress(kind, [bad]).equals(small)) t.fail(`${kind}: flip at ${at} decoded to other bytes`);
      } catch (e) {
        if (!(e instanceof DumpError)) throw e;
        if (e.code !== DumpCode.Compress && e.code !== DumpCode.Truncated) t.fail(`${kind}: code ${e.code}`);
        failed++;
      }
    }
    t.ok(failed > z.length / 2, `${kind}: ${failed} of ${z.length} flips rejected, the rest harmless`);
  }
  t.end();
});

t.test('bounded output: per-step cap, total cap, zip bombs', NATIVE, (t) => {
  const zeros = new Uint8Array(4 << 20);
  for (const [kind, mib] of [
    ['zstd', 256],
    ['gzip', 64],
  ] as const) {
    const bomb = compress(
      kind,
      Array.from({ length: mib / 4 }, () => zeros),
    );
    t.ok(bomb.length < (mib << 20) / 500, `${kind}: ${mib} MiB of zeros is a ${bomb.length}-byte stream`);
    const stats: DecompressStats = { bytesIn: 0n, bytesOut: 0n, frames: 0, trailingZeros: 0n };
    let pieces = 0;
    let largest = 0;
    for (const out of decompressChunks(kind, [bomb], { maxChunk: 1 << 20, stats })) {
      pieces++;
      largest = Math.max(largest, out.length);
      if (!Buffer.from(out.buffer, out.byteOffset, out.length).equals(zeros.subarray(0, out.length))) {
        t.fail('non-zero output');
      }
    }
    t.equal(largest, 1 << 20, 'one step never holds more than maxChunk');
    t.equal(pieces, mib, 'so the output came in maxChunk pieces');
    t.equal(stats.bytesOut, BigInt(mib << 20));
    t.equal(stats.bytesIn, BigInt(bomb.length));
    throwsCode(t, () => decompress(kind, [bomb], { maxBytes: 5_000_000n }), DumpCode.TooLarge, `${kind}: maxBytes`);
    const it = decompressChunks(kind, [bomb], { maxBytes: BigInt(mib << 20), maxChunk: 1 << 24 });
    let n = 0;
    for (const out of it) n += out.length;
    t.equal(n, mib << 20, 'a limit equal to the size passes');
  }
  throwsCode(t, () => decompress('zstd', [], { maxChunk: 0 }), DumpCode.BadValue, 'maxChunk 0');
  throwsCode(t, () => decompress('zstd', [], { maxChunk: 1.5 }), DumpCode.BadValue, 'maxChunk not an integer');
  throwsCode(t, () => decompress('gzip', [], { maxBytes: -1n }), DumpCode.BadValue, 'negative maxBytes');
  throwsCode(t, () => compress('gzip', [zeros], 10), DumpCode.BadValue, 'gzip level 10');
  throwsCode(t, () => compress('zstd', [zeros], 1000), DumpCode.BadValue, 'zstd level 1000');
  t.end();
});

t.test('errors of the chunk source pass through; early exit releases the codec', NATIVE, (t) => {
  const boom = new Error('source failed');
  function* failing(): Generator<Uint8Array> {
    yield new Uint8Array(100);
    throw boom;
  }
  for (const kind of CODECS) {
    t.throws(() => compress(kind, failing()), boom, `${kind}: the source's own error`);
    const it = compressChunks(kind, [randomBytes(1 << 20), randomBytes(1 << 20)]);
    const first = it.next();
    t.notOk(first.done);
    it.return({ bytesIn: 0n, bytesOut: 0n }); // consumer stops early: the finally closes the codec
    t.ok(it.next().done);
  }
  t.end();
});

t.test('decompressFile: 0600, never overwrites, nothing left behind', NATIVE, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-decompress-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = dumpImage(1024);
  for (const kind of CODECS) {
    const src = join(dir, `vmcore.0${compressionSuffix(kind)}`);
    const z = compress(kind, every(data, PAGE));
    writeFileSync(src, Buffer.concat([z, Buffer.alloc(512)]));
    const dst = join(dir, `vmcore.0.${kind}.out`);
    const r = decompressFile(src, dst, { maxChunk: 100_000 });
    t.equal(r.kind, kind, 'format from the magic');
    t.equal(r.bytesOut, BigInt(data.length));
    t.equal(r.bytesIn, BigInt(z.length + 512));
    t.equal(r.trailingZeros, 512n);
    t.equal(r.frames, 1);
    t.equal(sha(readFileSync(dst)), sha(data), `${kind}: same sha256`);
    t.equal(statSync(dst).mode & 0o777, 0o600, 'mode 0600');
    throwsCode(t, () => decompressFile(src, dst), DumpCode.Io, 'an existing file is not overwritten');
    t.equal(sha(readFileSync(dst)), sha(data), 'and is unchanged');

    const cut = join(dir, `cut${compressionSuffix(kind)}`);
    writeFileSync(cut, z.subarray(0, z.length - 100));
    const e = throwsCode(t, () => decompressFile(cut, join(dir, 'cut.out')), DumpCode.Truncated, `${kind}: truncated`);
    t.ok(e?.message.includes(cut), 'the message names the file');
    const bad = Buffer.from(z);
    bad[bad.length - 2] = (bad[bad.length - 2] ?? 0) ^ 1;
    writeFileSync(join(dir, 'bad'), bad);
    throwsCode(t, () => decompressFile(join(dir, 'bad'), join(dir, 'bad.out')), DumpCode.Compress, `${kind}: corrupt`);
    throwsCode(t, () => decompressFile(src, join(dir, 'small.out'), { maxBytes: 1000n }), DumpCode.TooLarge);
  }
  writeFileSync(join(dir, 'plain'), data.subarray(0, 100));
  throwsCode(t, () => decompressFile(join(dir, 'plain'), join(dir, 'plain.out')), DumpCode.BadMagic, 'not compressed');
  writeFileSync(join(dir, 'empty'), '');
  throwsCode(t, () => decompressFile(join(dir, 'empty'), join(dir, 'empty.out')), DumpCode.Truncated, 'empty');
  throwsCode(t, () => decompressFile(join(dir, 'missing'), join(dir, 'missing.out')), IoCode.NotFound, 'missing');
  t.same(
    readdirSync(dir)
      .filter((f) => f.endsWith('.out'))
      .sort(),
    ['vmcore.0.gzip.out', 'vmcore.0.zstd.out'],
    'failed runs left no output',
  );
  t.same(
    readdirSync(dir).filter((f) => f.includes('.tmp')),
    [],
    'and no temporary file',
  );
  t.end();
});

t.test('decompressFile reads files written by the CLIs (independent encoders)', needs('gzip', 'zstd'), (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-decompress-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = dumpImage(700);
  const raw = join(dir, 'vmcore.1');
  writeFileSync(raw, data);
  t.equal(spawnSync('gzip', ['-k', raw]).status, 0, 'gzip -k vmcore.1');
  t.equal(spawnSync('zstd', ['-q', raw]).status, 0, 'zstd -q vmcore.1');
  for (const kind of CODECS) {
    const dst = join(dir, `out-${kind}`);
    const r = decompressFile(raw + compressionSuffix(kind), dst);
    t.equal(r.kind, kind);
    t.equal(sha(readFileSync(dst)), sha(data), `${kind} CLI file -> ours: same sha256`);
  }
  t.end();
});
