// dump/decompressed.ts and dump/file.ts openDumpFile: compressed dumps decoded on demand and
// bounded. Expansion bombs are zstd frames of RLE blocks built by hand from RFC 8878
// (test/helpers/dump-fixtures.ts; the system `zstd -d` decodes the same bytes in the last
// test): a 12 GiB stream of zeros stops after the first piece (DUMP_BAD_MAGIC); a real
// minidump followed by gigabytes of zeros is never decoded past the size its header and
// bitmap give; a minidump header claiming 8 GiB of pages decodes only the pages read; no room
// in the temporary directory is IO_NO_SPACE before a byte is written; no scratch file is ever
// visible; a compressed dump-device image (kboot panic --dump-device --compress) reads back
// the same bytes as the raw dump.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compressChunks } from '../../../dump/compress.js';
import { openDecoded } from '../../../dump/decompressed.js';
import { DumpCode } from '../../../dump/errors.js';
import { openDumpFile, openDumpFileAsync } from '../../../dump/file.js';
import { openDump } from '../../../dump/open.js';
import { bytesFile, minidumpLayout } from '../../../dump/reader.js';
import { writeDeviceImage } from '../../../dump/savecore.js';
import { IoCode } from '../../../loader/errors.js';
import { nativeAvailable } from '../../../native/binding.js';
import { SMALL_DUMPED, smallMinidump, zstdRleFrame } from '../../helpers/dump-fixtures.js';
import { throwsCode } from '../../helpers/errors.js';

const NATIVE = nativeAvailable() ? {} : { skip: 'the native addon is not built' };
const GiB = 1n << 30n;
const root = mkdtempSync(join(tmpdir(), 'kboot-decoded-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const fresh = (name: string): string => mkdtempSync(join(root, `${name}-`));
const zstd = (b: Uint8Array): Buffer => Buffer.concat([...compressChunks('zstd', [b])]);

t.test('a 12 GiB stream of zeros: refused after its first piece, quickly, nothing left', NATIVE, (t) => {
  const scratch = fresh('scratch');
  const bomb = zstdRleFrame(12n * GiB);
  t.ok(bomb.length < 400_000, `${bomb.length} bytes of zstd`);
  const started = performance.now();
  const e = throwsCode(
    t,
    () => openDecoded(bytesFile(bomb), 'zstd', { tmpDir: scratch, what: 'bomb.zst' }),
    DumpCode.BadMagic,
  );
  t.match(e?.message, /bomb\.zst decompresses to something that is not a crash dump/);
  t.ok(performance.now() - started < 2000, 'well under a second or two');
  t.same(readdirSync(scratch), [], 'no scratch file');
  t.end();
});

t.test('a minidump followed by 4 GiB of zeros: decoded only as far as its headers say', NATIVE, async (t) => {
  const scratch = fresh('scratch');
  const { mem, bytes } = smallMinidump();
  const layout = minidumpLayout(bytes);
  const packed = Buffer.concat([zstd(bytes), zstdRleFrame(4n * GiB)]); // concatenated frames: one stream
  const d = openDecoded(bytesFile(packed), 'zstd', { tmpDir: scratch });
  t.teardown(() => d.close());
  t.equal(d.size, bytes.length, 'the size is the header sections plus one page per set bit');
  t.equal(d.metadataEnd, layout.sparse, 'metadata: up to the first data page');
  t.ok(d.decoded < bytes.length + (8 << 20), `decoded ${d.decoded} at open`);
  t.same(readdirSync(scratch), [], 'the scratch file has no name');
  const md = openDump(d);
  const pa = BigInt(SMALL_DUMPED[3] ?? 0) * 0x1000n + 0x10n;
  t.same(
    Buffer.from(md.readPa(pa, 32)),
    Buffer.from(mem.subarray(Number(pa), Number(pa) + 32)),
    'the bytes of a dumped page',
  );
  await d.prefetch(Number.MAX_SAFE_INTEGER);
  t.equal(d.decoded, bytes.length, 'never past the dump: the 4 GiB after it are not decoded');
  t.same(Buffer.from(d.read(0, bytes.length)), bytes, 'the whole dump, byte for byte');
  t.same(d.read(bytes.length, 10).length, 0, 'nothing past its size');
});

t.test('a header claiming 8 GiB of pages: only what is read is decoded', NATIVE, (t) => {
  const scratch = fresh('scratch');
  const { bytes } = smallMinidump();
  const l = minidumpLayout(bytes);
  const head = Buffer.from(bytes.subarray(0, l.sparse));
  head.fill(0xff, l.bitmap, l.bitmap + l.header.bitmapsize); // every page "dumped"
  const packed = Buffer.concat([zstd(head), zstdRleFrame(10n * GiB, 0x41)]);
  const started = performance.now();
  const d = openDecoded(bytesFile(packed), 'zstd', { tmpDir: scratch });
  t.teardown(() => d.close());
  t.equal(d.size, l.sparse + l.header.bitmapsize * 8 * 0x1000, 'the size the bitmap gives');
  const md = openDump(d);
  t.same(Buffer.from(md.readPa(0x5000n, 4)), Buffer.from('AAAA'), 'page 5');
  t.ok(d.decoded < l.sparse + (16 << 20), `only ${d.decoded} bytes decoded`);
  t.ok(performance.now() - started < 2000, 'fast');
  t.end();
});

t.test('limits: maxBytes, free space of the temporary directory', NATIVE, (t) => {
  const scratch = fresh('scratch');
  const { bytes } = smallMinidump();
  const packed = zstd(bytes);
  throwsCode(
    t,
    () => openDecoded(bytesFile(packed), 'zstd', { tmpDir: scratch, maxBytes: 100_000n }),
    DumpCode.TooLarge,
  );
  let asked = 0;
  const e = throwsCode(
    t,
    () =>
      openDecoded(bytesFile(packed), 'zstd', {
        tmpDir: scratch,
        freeBytes: () => {
          asked++;
          return (64n << 20n) + 1000n; // 1000 bytes above what is kept free
        },
      }).read(0, bytes.length),
    IoCode.NoSpace,
  );
  t.ok(asked > 0, 'statfs asked');
  t.ok(typeof e?.details['needed'] === 'bigint' && typeof e.details['available'] === 'bigint', 'needed and available');
  t.same(readdirSync(scratch), [], 'nothing left');
  t.end();
});

t.test('a truncated stream reads as a shorter dump: DUMP_PAGE_MISSING where it ends', NATIVE, (t) => {
  const { bytes } = smallMinidump();
  const packed = zstd(bytes);
  const d = openDecoded(bytesFile(packed.subarray(0, packed.length - 2000)), 'zstd', { tmpDir: fresh('scratch') });
  t.teardown(() => d.close());
  const md = openDump(d);
  const last = BigInt(SMALL_DUMPED[SMALL_DUMPED.length - 1] ?? 0) * 0x1000n;
  throwsCode(t, () => md.readPa(last, 16), DumpCode.PageMissing, 'a data page past where the stream ended');
  t.end();
});

t.test('openDumpFile: raw, zstd, gzip, and a compressed dump-device image', NATIVE, async (t) => {
  const dir = fresh('files');
  const { mem, bytes } = smallMinidump();
  writeFileSync(join(dir, 'vmcore.0'), bytes);
  writeFileSync(join(dir, 'vmcore.0.zst'), zstd(bytes));
  writeFileSync(join(dir, 'vmcore.0.gz'), Buffer.concat([...compressChunks('gzip', [bytes])]));
  const facts = { arch: 'amd64', hostname: 'h', versionstring: 'FreeBSD\n', panicstring: 'p', dumptime: 1n } as const;
  writeDeviceImage(join(dir, 'dev.img'), facts, [bytes], 'zstd');
  const pa = BigInt(SMALL_DUMPED[7] ?? 0) * 0x1000n + 0x123n;
  const want = Buffer.from(mem.subarray(Number(pa), Number(pa) + 48));
  for (const name of ['vmcore.0', 'vmcore.0.zst', 'vmcore.0.gz', 'dev.img']) {
    const f = name === 'dev.img' ? openDumpFile(join(dir, name)) : await openDumpFileAsync(join(dir, name));
    const d = openDump(f);
    t.same(Buffer.from(d.readPa(pa, 48)), want, `${name}: the bytes of the dump`);
    if (name === 'dev.img') {
      t.equal(d.container, 'device');
      t.equal(d.compressedPayload, 'zstd');
      t.equal(d.paToFileOffset(pa), d.paToDumpOffset(pa), 'offsets in the decompressed dump');
    }
    f.close();
  }
  t.equal(openDumpFile(join(dir, 'vmcore.0.zst')).compression, 'zstd');
  throwsCode(
    t,
    () => openDump(new Uint8Array(deviceImageBytes(dir))),
    DumpCode.Compressed,
    'bytes without a decompressor',
  );
});

/** The compressed device image's bytes, for openDump without openDumpFile. */
function deviceImageBytes(dir: string): Buffer {
  const f = openDumpFile(join(dir, 'dev.img'));
  try {
    return Buffer.from(f.read(0, f.size));
  } finally {
    f.close();
  }
}

t.test('the RLE bomb is a valid zstd stream to the system zstd', (t) => {
  const r = spawnSync('zstd', ['-dc'], { input: zstdRleFrame(3n << 20n, 9), maxBuffer: 8 << 20 });
  if (r.error !== undefined) {
    t.comment('no zstd tool: skipped');
    t.end();
    return;
  }
  t.equal(r.status, 0);
  t.equal(r.stdout.length, 3 << 20);
  t.ok(
    r.stdout.every((b: number) => b === 9),
    'every byte 9',
  );
  t.end();
});
