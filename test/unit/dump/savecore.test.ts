// savecore-style output (dump/savecore.ts): bounds, never overwriting, the room check, info.N
// in savecore's printheader form, the incomplete path, and dump-device images whose
// kerneldumpheaders (leading and trailing) decode with parity 0 — the parity is recomputed
// here as the XOR of the 128 big-endian words (sbin/savecore kerneldump_parity) rather than
// with kboot's own decoder. Files are written to a real temporary directory. A `bounds` that
// is a symlink to /dev/zero, a FIFO or a directory costs a warning, never a hang or a stale
// info; symlinks planted under the old predictable temporary names are never written through;
// an interruption (the clean-up SIGINT runs) names and describes the part written.
import t from 'tap';
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { DumpCode, DumpError } from '../../../dump/errors.js';
import { backgroundWriter } from '../../../dump/file.js';
import {
  ctimeText,
  infoText,
  NODE_FS,
  readBounds,
  saveDump,
  saveDumpSteps,
  worstCaseBytes,
  writeDeviceImage,
  type DumpFacts,
  type SaveDumpResult,
  type SavecoreFs,
} from '../../../dump/savecore.js';
import { runInterruptCleanupForTest } from '../../../loader/io/cleanup.js';
import { zeroChunk } from '../../../dump/zero.js';
import { decodeKernelDumpHeader } from '../../../dump/kerneldumpheader.js';
import { throwsCode } from '../../helpers/errors.js';

const facts: DumpFacts = {
  arch: 'amd64',
  hostname: 'testhost',
  versionstring: 'FreeBSD 15.0-CURRENT #0 main-n123456: Mon Jan  1 00:00:00 UTC 2024\n',
  panicstring: 'page fault',
  dumptime: 1_800_000_000n,
};
const root = mkdtempSync(join(tmpdir(), 'kboot-savecore-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const fresh = (name: string): string => mkdtempSync(join(root, `${name}-`));
const pages = (n: number, fill = 0x5a): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => new Uint8Array(4096).fill((fill + i) & 0xff));

t.test('ctime and info.N match savecore printheader', (t) => {
  t.equal(ctimeText(1_800_000_000n), 'Fri Jan 15 08:00:00 2027');
  t.equal(ctimeText(0n), 'Thu Jan  1 00:00:00 1970', 'day of month padded with a space as ctime(3)');
  const text = infoText({
    device: '/dev/dumper',
    facts,
    dumplength: 8192n,
    compression: 'none',
    parity: 123,
    bounds: 4,
    status: 'good',
  });
  t.equal(
    text,
    [
      'Dump header from device: /dev/dumper',
      '  Architecture: amd64',
      '  Architecture Version: 2',
      '  Dump Length: 8192',
      '  Blocksize: 512',
      '  Compression: none',
      '  Dumptime: Fri Jan 15 08:00:00 2027',
      '  Hostname: testhost',
      '  Magic: FreeBSD Kernel Dump',
      '  Version String: FreeBSD 15.0-CURRENT #0 main-n123456: Mon Jan  1 00:00:00 UTC 2024',
      '  Panic String: page fault',
      '  Dump Parity: 123',
      '  Bounds: 4',
      '  Dump Status: good',
      '',
    ].join('\n'),
  );
  t.end();
});

t.test('bounds: absent, garbage and numbers (savecore getbounds)', (t) => {
  const dir = fresh('bounds');
  t.equal(readBounds(dir), 0);
  writeFileSync(join(dir, 'bounds'), 'xyz\n');
  t.equal(readBounds(dir), 0);
  writeFileSync(join(dir, 'bounds'), '7\n');
  t.equal(readBounds(dir), 7);
  t.end();
});

t.test('a dump is saved as vmcore.N with info.N, bounds and .last links; nothing is overwritten', (t) => {
  const dir = fresh('save');
  writeFileSync(join(dir, 'bounds'), '3\n');
  writeFileSync(join(dir, 'vmcore.3'), 'older');
  writeFileSync(join(dir, 'info.4'), 'older info');
  const data = pages(5);
  const r = saveDump({ dir, facts, size: 5n * 4096n, chunks: data });
  t.equal(r.status, 'good');
  t.equal(r.n, 5, 'slots 3 (vmcore.3) and 4 (info.4) are in use');
  t.equal(readFileSync(join(dir, 'vmcore.3'), 'utf8'), 'older');
  t.equal(readFileSync(join(dir, 'info.4'), 'utf8'), 'older info');
  t.same(readFileSync(join(dir, 'vmcore.5')), Buffer.concat(data));
  t.equal(statSync(join(dir, 'vmcore.5')).mode & 0o777, 0o600);
  t.equal(statSync(join(dir, 'info.5')).mode & 0o777, 0o600);
  t.equal(readFileSync(join(dir, 'bounds'), 'utf8'), '6\n');
  t.match(readFileSync(join(dir, 'info.5'), 'utf8'), /Dump Length: 20480\n[\s\S]*Bounds: 5\n {2}Dump Status: good\n$/);
  t.same(readdirSync(dir).sort(), ['bounds', 'info.4', 'info.5', 'info.last', 'vmcore.3', 'vmcore.5', 'vmcore.last']);
  const again = saveDump({ dir, facts, size: 4096n, chunks: pages(1) });
  t.equal(again.n, 6);
  t.end();
});

t.test('known-zero chunks become holes; the file still reads back as zeros', (t) => {
  const dir = fresh('sparse');
  const zeros = Array.from({ length: 64 }, () => zeroChunk(1 << 20));
  const r = saveDump({ dir, facts, size: 64n << 20n, chunks: [pages(1)[0] as Uint8Array, ...zeros] });
  const st = statSync(r.vmcore);
  t.equal(st.size, 4096 + (64 << 20));
  t.ok(st.blocks * 512 < 8 << 20, `only ${st.blocks * 512} bytes allocated for a 64 MiB hole`);
  const b = readFileSync(r.vmcore);
  t.equal(
    b.subarray(4096).every((x) => x === 0),
    true,
  );
  t.end();
});

t.test('gzip and zstd dumps are named .gz / .zst and decompress with the system tools', (t) => {
  const dir = fresh('comp');
  const data = pages(64);
  for (const [c, tool] of [
    ['gzip', 'gzip'],
    ['zstd', 'zstd'],
  ] as const) {
    const r = saveDump({ dir, facts, size: 64n * 4096n, chunks: data, compression: c });
    t.match(r.vmcore, c === 'gzip' ? /vmcore\.\d+\.gz$/ : /vmcore\.\d+\.zst$/);
    t.ok(r.bytesOut < r.bytesIn, `${c} compresses`);
    t.same(execFileSync(tool, ['-dc', r.vmcore]), Buffer.concat(data), `${tool} -dc reads it back`);
    t.match(readFileSync(r.info, 'utf8'), new RegExp(`Compression: ${c}\\n`));
  }
  t.end();
});

t.test('no room: DUMP_NO_SPACE and nothing written', (t) => {
  const dir = fresh('room');
  const tiny: SavecoreFs = { ...NODE_FS, statfsSync: () => ({ bavail: 10, bsize: 4096 }) };
  throwsCode(t, () => saveDump({ dir, facts, size: 1n << 20n, chunks: pages(256), fs: tiny }), DumpCode.NoSpace);
  t.same(readdirSync(dir), [], 'no bounds, info or vmcore');
  t.ok(worstCaseBytes(1000n, 'zstd') > worstCaseBytes(1000n, 'none'), 'compression needs more room in the worst case');
  t.end();
});

t.test('a failing write leaves vmcore.N and an info.N saying why', (t) => {
  const dir = fresh('enospc');
  let writes = 0;
  const failing: SavecoreFs = {
    ...NODE_FS,
    writeSync(fd, b, off, len, pos) {
      if (len > 4096 && ++writes > 1) {
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      }
      return NODE_FS.writeSync(fd, b, off, len, pos);
    },
  };
  const big = Array.from({ length: 4 }, () => new Uint8Array(1 << 20).fill(1));
  const r = saveDump({ dir, facts, size: 4n << 20n, chunks: big, fs: failing });
  t.equal(r.status, 'incomplete');
  t.equal(r.error?.code, DumpCode.Io);
  t.equal(statSync(r.vmcore).size, 1 << 20, 'the part written is kept');
  const info = readFileSync(r.info, 'utf8');
  t.match(info, /Dump Length: 1048576\n/);
  t.match(
    info,
    /Dump Status: bad\n {2}Incomplete: dump: writing .*ENOSPC.*\(2097152 of 4194304 bytes streamed, 1048576 written\)\n$/,
  );
  t.same(
    readdirSync(dir).filter((n) => n.includes('tmp')),
    [],
  );
  t.notOk(readdirSync(dir).includes('vmcore.last'), 'vmcore.last only points at good dumps');
  t.end();
});

t.test('a stream that throws (the rescue kernel panics) gives an incomplete dump once', (t) => {
  const dir = fresh('panic');
  let pulled = 0;
  function* stream(): Generator<Uint8Array> {
    yield new Uint8Array(4096).fill(2);
    pulled++;
    throw new DumpError(DumpCode.RescuePanic, 'dump: boom', {});
  }
  const r = saveDump({ dir, facts, size: 8192n, chunks: stream() });
  t.equal(r.status, 'incomplete');
  t.equal(pulled, 1, 'the stream is not restarted');
  t.match(readFileSync(r.info, 'utf8'), /Incomplete: dump: boom \(4096 of 8192 bytes streamed, 4096 written\)/);
  t.end();
});

function xorWordsBE(b: Uint8Array): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let x = 0;
  for (let i = 0; i < 512; i += 4) x ^= dv.getUint32(i, false);
  return x >>> 0;
}

t.test('dump-device image: kerneldumpheader, dump padded to 512, the same header again', (t) => {
  const dir = fresh('device');
  const path = join(dir, 'dumpdev.img');
  const data = [new Uint8Array(1000).fill(7)];
  const r = writeDeviceImage(path, { ...facts, arch: 'arm64' }, data);
  const img = readFileSync(path);
  t.equal(r.dumplength, 1024n);
  t.equal(img.length, 512 + 1024 + 512);
  const lead = img.subarray(0, 512);
  const trail = img.subarray(img.length - 512);
  t.same(lead, trail, 'leading and trailing headers are identical');
  t.equal(xorWordsBE(lead), 0, 'parity: the 128 words XOR to zero');
  t.equal(lead.subarray(0, 19).toString('latin1'), 'FreeBSD Kernel Dump');
  const h = decodeKernelDumpHeader(lead);
  t.equal(h.dumplength, 1024n);
  t.equal(h.arch, 'arm64');
  t.equal(h.blocksize, 512);
  t.same(img.subarray(512, 1512), Buffer.alloc(1000, 7));
  t.same(img.subarray(1512, 1536), Buffer.alloc(24), 'zero padding to the block size');
  throwsCode(t, () => writeDeviceImage(path, facts, data), DumpCode.Io, 'never replaces an image');
  t.end();
});

t.test('a second panic after 40 MiB: everything read is on disk and counted (background writer)', (t) => {
  const dir = fresh('panic-late');
  function* stream(): Generator<Uint8Array> {
    for (let i = 0; i < 40; i++) yield new Uint8Array(1 << 20).fill(i + 1);
    for (let i = 0; i < 3; i++) yield new Uint8Array(4096).fill(0x77); // gathered, not yet written
    throw new DumpError(DumpCode.RescuePanic, 'dump: second panic', {});
  }
  const r = saveDump({ dir, facts, size: 64n << 20n, chunks: stream() });
  t.equal(r.status, 'incomplete');
  t.equal(r.error?.code, DumpCode.RescuePanic);
  const want = (40 << 20) + 3 * 4096;
  t.equal(statSync(r.vmcore).size, want, 'the writer queue and the gather buffer reached the file');
  t.equal(r.bytesOut, BigInt(want));
  const b = readFileSync(r.vmcore);
  t.equal(b[(39 << 20) + 5], 40);
  t.equal(b[want - 1], 0x77);
  t.match(
    readFileSync(r.info, 'utf8'),
    new RegExp(`Dump Length: ${want}\\n[\\s\\S]*\\(${want} of ${64 << 20} bytes streamed, ${want} written\\)`),
  );
  t.end();
});

t.test('a stream that ends short is incomplete (DUMP_TRUNCATED)', (t) => {
  const dir = fresh('short');
  const r = saveDump({ dir, facts, size: 3n * 4096n, chunks: pages(2) });
  t.equal(r.status, 'incomplete');
  t.equal(r.error?.code, DumpCode.Truncated);
  t.match(readFileSync(r.info, 'utf8'), /Incomplete: dump: the stream ended after 8192 of 12288 bytes/);
  t.end();
});

t.test('a kboot bug in the stream: the partial dump is kept and described, the bug goes on up', (t) => {
  const dir = fresh('bug');
  function* stream(): Generator<Uint8Array> {
    yield new Uint8Array(4096).fill(1);
    throw new TypeError('a bug');
  }
  t.throws(() => saveDump({ dir, facts, size: 8192n, chunks: stream() }), TypeError);
  t.equal(statSync(join(dir, 'vmcore.0')).size, 4096);
  t.match(
    readFileSync(join(dir, 'info.0'), 'utf8'),
    /Dump Status: bad\n {2}Incomplete: .*TypeError: a bug \(4096 of 8192 bytes streamed, 4096 written\)/,
  );
  t.end();
});

t.test('info.N claims the slot exclusively; a dangling info.last is replaced', (t) => {
  const dir = fresh('claim');
  const racing: SavecoreFs = {
    ...NODE_FS,
    // another saver creates info.0 between our directory listing and our claim
    readdirSync(p) {
      const names = NODE_FS.readdirSync(p);
      if (!existsSync(join(p, 'info.0'))) writeFileSync(join(p, 'info.0'), 'the other saver');
      return names;
    },
  };
  const r = saveDump({ dir, facts, size: 4096n, chunks: pages(1), fs: racing });
  t.equal(r.n, 1, 'moved on to slot 1');
  t.equal(readFileSync(join(dir, 'info.0'), 'utf8'), 'the other saver', "the other saver's info.0 untouched");
  symlinkSync('info.99', join(dir, 'dangling'));
  rmSync(join(dir, 'info.last'));
  symlinkSync('info.99', join(dir, 'info.last')); // points nowhere
  const again = saveDump({ dir, facts, size: 4096n, chunks: pages(1) });
  t.equal(readlinkSync(join(dir, 'info.last')), `info.${again.n}`);
  t.end();
});

t.test('the background writer: no write after finish or abort, no hang after an abort mid-write', (t) => {
  const path = join(root, 'bw.bin');
  const fd = openSync(path, 'w');
  t.teardown(() => closeSync(fd));
  const w = backgroundWriter(fd, path);
  w.write(new Uint8Array(64 << 20).fill(3), 0); // the thread is busy with this
  w.abort();
  throwsCode(t, () => w.write(new Uint8Array(1), 0), DumpCode.BadValue, 'a write after abort is refused');
  const fd2 = openSync(path + '2', 'w');
  const w2 = backgroundWriter(fd2, path + '2');
  w2.write(new Uint8Array(4096).fill(1), 0);
  w2.finish();
  throwsCode(t, () => w2.write(new Uint8Array(1), 4096), DumpCode.BadValue, 'a write after finish is refused');
  closeSync(fd2);
  t.equal(statSync(path + '2').size, 4096);
  t.end();
});

t.test('a bounds that is not a regular file: a warning, never a hang or a stale info', (t) => {
  for (const kind of ['symlink to /dev/zero', 'FIFO', 'directory', 'garbage'] as const) {
    const dir = fresh('bounds-kind');
    const bounds = join(dir, 'bounds');
    if (kind === 'symlink to /dev/zero') symlinkSync('/dev/zero', bounds);
    else if (kind === 'FIFO') execFileSync('mkfifo', [bounds]);
    else if (kind === 'directory') mkdirSync(bounds);
    else writeFileSync(bounds, 'not a number\n');
    const started = performance.now();
    const r = saveDump({ dir, facts, size: 4096n, chunks: pages(1) });
    t.ok(performance.now() - started < 2000, `${kind}: at once`);
    t.equal(r.status, 'good', `${kind}: the dump is saved`);
    t.equal(r.n, 0, `${kind}: slot 0, as savecore's getbounds`);
    t.ok(r.warnings.length > 0, `${kind}: warned`);
    t.match(readFileSync(r.info, 'utf8'), /Dump Status: good\n$/, `${kind}: info.0 describes a saved dump`);
    if (kind === 'directory')
      t.ok(statSync(bounds).isDirectory(), 'a directory cannot be replaced (a warning says so)');
    else
      t.ok(
        lstatSync(bounds).isFile() && readFileSync(bounds, 'utf8') === '1\n',
        `${kind}: replaced by a regular bounds`,
      );
  }
  t.end();
});

t.test('symlinks planted under old temporary names in a mode-1777 directory: the victim is untouched', (t) => {
  const dir = fresh('planted');
  chmodSync(dir, 0o1777);
  const victim = join(root, 'victim-savecore');
  writeFileSync(victim, 'root-owned content');
  const next = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  for (let pid = next; pid < next + 300; pid++) {
    for (const n of [`bounds.tmp-${pid}`, `info.0.tmp-${pid}`, `info.1.tmp-${pid}`, `.vmcore.0.tmp-${pid}`]) {
      symlinkSync(victim, join(dir, n));
    }
  }
  symlinkSync(victim, join(dir, 'vmcore.last')); // a .last link is kboot's to replace: the link, not its target
  const r = saveDump({ dir, facts, size: 8192n, chunks: pages(2) });
  t.equal(r.status, 'good');
  t.equal(readFileSync(victim, 'utf8'), 'root-owned content', 'the victim file is untouched');
  t.ok(lstatSync(join(dir, 'bounds')).isFile(), 'bounds is a regular file');
  t.equal(readFileSync(join(dir, 'bounds'), 'utf8'), `${r.n + 1}\n`);
  t.equal(readlinkSync(join(dir, 'vmcore.last')), `vmcore.${r.n}`);
  t.ok(
    r.warnings.some((w) => /writable by every user/.test(w)),
    'a directory others can write is warned about',
  );
  t.equal(r.recovery?.ignored.length, 1200, 'the planted links are reported, not followed');
  const left = readdirSync(dir).filter((x) => x.includes('.tmp'));
  t.equal(left.length, 1200, 'the planted links are still there');
  t.ok(
    left.every((n) => lstatSync(join(dir, n)).isSymbolicLink()),
    'and nothing else with a temporary name: no temporary of this run remains',
  );
  t.end();
});

t.test('an interruption between two steps names and describes the part written', (t) => {
  const dir = fresh('interrupted');
  const chunks = Array.from({ length: 16 }, (_, i) => new Uint8Array(1 << 20).fill(i + 1));
  let told: SaveDumpResult | undefined;
  const steps = saveDumpSteps({ dir, facts, size: 16n << 20n, chunks, onInterrupted: (r) => (told = r) });
  for (let i = 0; i < 5; i++) steps.next();
  runInterruptCleanupForTest(); // what SIGINT / SIGTERM run before the process exits
  t.equal(told?.status, 'incomplete');
  t.match(told?.reason, /^dump: kboot was interrupted by a signal \(\d+ of 16777216 bytes streamed, \d+ written\)$/);
  const size = statSync(join(dir, 'vmcore.0')).size;
  t.ok(size >= 4 << 20 && size < 16 << 20, `vmcore.0 holds the part written (${size} bytes)`);
  t.equal(BigInt(size), told?.bytesOut);
  t.match(
    readFileSync(join(dir, 'info.0'), 'utf8'),
    new RegExp(`Dump Length: ${size}\\n[\\s\\S]*Dump Status: bad\\n {2}Incomplete: dump: kboot was interrupted`),
  );
  t.same(
    readdirSync(dir).filter((n) => n.startsWith('.')),
    [],
    'no temporary left',
  );
  t.end();
});
