// Issue 11, the dump half, as a hostile or careless user meets it: every reproduction runs
// the real CLI in a child process, timed (performance.now around it) and measured (the
// child's own getrusage maxRSS, written at exit by a preloaded module), and must end in a
// clear one-line `kboot:` message (JSON with --json) within 5 s and 200 MiB:
//  - a 12 GiB zstd bomb (RLE blocks built by hand from RFC 8878) given to `dump read`;
//  - dumps that are not files (a FIFO, /dev/zero), dump directories that are not
//    directories, and `bounds` files that are a symlink to /dev/zero, a FIFO or a directory;
//  - symlinks planted under the old predictable temporary names in a mode-1777 directory;
//  - `panic --dump-dir` killed with SIGKILL 20 times at different sizes of its dump: each
//    next run reports and names the partial dump, and vmcore.N / info.N pairs match;
//  - SIGINT during `panic --dump-dir` and during `dump read` of a compressed dump;
//  - a compressed dump-device image read back.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../../loader/paths.js';
import { validateJson } from '../../loader/schema.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { nativeAvailable } from '../../native/binding.js';
import { compressChunks } from '../../dump/compress.js';
import { minidumpLayout } from '../../dump/reader.js';
import { zstdRleFrame } from '../helpers/dump-fixtures.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const bin = packagePath('dist', 'cli', 'main.js');
const LIMIT = { ms: 5000, rssKiB: 200 * 1024 } as const;

const work = mkdtempSync(join(tmpdir(), 'kboot-robust-dumps-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const preload = join(work, 'maxrss.mjs');
writeFileSync(
  preload,
  "import { writeFileSync } from 'node:fs';\n" +
    "process.on('exit', () => { const f = process.env.KBOOT_TEST_RSS; if (f) writeFileSync(f, String(process.resourceUsage().maxRSS)); });\n",
);

interface Ran {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  readonly rssKiB: number;
}

let runs = 0;
/** Runs kboot in a child process, timed and measured. */
function kboot(cwd: string, args: readonly string[], env: Record<string, string> = {}): Ran {
  const rss = join(work, `rss-${++runs}`);
  const started = performance.now();
  const r = spawnSync(process.execPath, [`--import=${preload}`, bin, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env, KBOOT_TEST_RSS: rss },
  });
  const ms = performance.now() - started;
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    ms,
    rssKiB: existsSync(rss) ? Number(readFileSync(rss, 'utf8')) : -1,
  };
}

/** The acceptance of a reproduction: exit 1 (or 2), one `kboot:` line, within the bounds. */
function refusedClearly(t: Test, r: Ran, what: string): void {
  t.equal(r.status, 1, `${what}: exit 1`);
  t.match(r.stderr, /^kboot: [a-z]+: [^\n]+\n$/, `${what}: one kboot: line`);
  t.ok(r.ms <= LIMIT.ms, `${what}: ${r.ms.toFixed(0)} ms`);
  t.ok(r.rssKiB > 0 && r.rssKiB <= LIMIT.rssKiB, `${what}: ${r.rssKiB} KiB RSS`);
}

function jsonCode(r: Ran): string {
  return (JSON.parse(r.stdout) as { error: { code: string } }).error.code;
}

const shell = (cmd: string, args: string[]): void => {
  const r = spawnSync(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
};

/** A booted host in `dir` (kld, the probe as the rescue kernel). */
function booted(name: string): string {
  const dir = mkdtempSync(join(work, `${name}-`));
  writeFileSync(join(dir, 'rescue.elf'), buildProbeKernel('amd64', { mode: 'rescue' }));
  const r = kboot(dir, ['boot', '--rescue', 'rescue.elf']);
  if (r.status !== 0) throw new Error(`boot: ${r.stderr}`);
  return dir;
}

t.test('a 12 GiB zstd bomb: dump read fails fast and small', { skip }, (t) => {
  const dir = mkdtempSync(join(work, 'bomb-'));
  const scratch = mkdtempSync(join(work, 'tmpdir-'));
  writeFileSync(join(dir, 'bomb.zst'), zstdRleFrame(12n << 30n));
  const r = kboot(dir, ['dump', 'read', 'bomb.zst', '--pa', '0', '--len', '16'], { TMPDIR: scratch });
  refusedClearly(t, r, 'bomb.zst');
  t.match(r.stderr, /^kboot: dump: bomb\.zst decompresses to something that is not a crash dump/);
  const j = kboot(dir, ['--json', 'dump', 'read', 'bomb.zst', '--pa', '0', '--len', '16'], { TMPDIR: scratch });
  t.equal(j.status, 1);
  t.equal(jsonCode(j), 'DUMP_BAD_MAGIC');
  t.same(readdirSync(scratch), [], 'nothing in the temporary directory');
  t.comment(`measured: ${r.ms.toFixed(0)} ms, ${(r.rssKiB / 1024).toFixed(0)} MiB RSS`);
  t.end();
});

t.test('dumps and dump directories that are not what they should be', { skip }, (t) => {
  const dir = booted('notfiles');
  shell('mkfifo', [join(dir, 'fifo')]);
  symlinkSync('/dev/zero', join(dir, 'zero'));
  writeFileSync(join(dir, 'file'), 'x');
  for (const [args, code] of [
    [['dump', 'inspect', 'fifo'], 'IO_NOT_REGULAR'],
    [['dump', 'read', 'zero', '--pa', '0', '--len', '16'], 'IO_NOT_REGULAR'],
    [['dump', 'inspect', '/dev/urandom'], 'IO_NOT_REGULAR'],
    [['dump', 'inspect', 'missing'], 'IO_NOT_FOUND'],
    [['panic', '--dump-dir', 'missing'], 'IO_NOT_FOUND'],
    [['panic', '--dump-dir', 'file'], 'IO_NOT_DIRECTORY'],
    [['panic', '--dump-dir', '/dev/null'], 'IO_NOT_DIRECTORY'],
  ] as const) {
    refusedClearly(t, kboot(dir, args), args.join(' '));
    t.equal(jsonCode(kboot(dir, ['--json', ...args])), code, `${args.join(' ')}: ${code}`);
  }
  t.end();
});

t.test('a bounds that is a symlink to /dev/zero, a FIFO or a directory', { skip }, (t) => {
  const dir = booted('bounds');
  for (const kind of ['zero', 'fifo', 'dir'] as const) {
    const crash = join(dir, `crash-${kind}`);
    mkdirSync(crash);
    const bounds = join(crash, 'bounds');
    if (kind === 'zero') symlinkSync('/dev/zero', bounds);
    else if (kind === 'fifo') shell('mkfifo', [bounds]);
    else mkdirSync(bounds);
    const r = kboot(dir, ['panic', '--dump-dir', `crash-${kind}`, '--no-progress']);
    t.equal(r.status, 0, `${kind}: the dump is saved`);
    t.match(
      r.stderr,
      /^kboot: warning: io: bounds file .* (is a symbolic link|is a FIFO|is a directory)/,
      `${kind}: warned`,
    );
    t.ok(r.ms <= LIMIT.ms && r.rssKiB <= LIMIT.rssKiB, `${kind}: ${r.ms.toFixed(0)} ms, ${r.rssKiB} KiB`);
    t.match(readFileSync(join(crash, 'info.0'), 'utf8'), /Dump Status: good\n$/, `${kind}: no stale info.0`);
  }
  t.end();
});

t.test('symlinks planted for the next PIDs in a mode-1777 directory', { skip }, (t) => {
  const dir = booted('planted');
  const crash = join(dir, 'scratch');
  mkdirSync(crash);
  chmodSync(crash, 0o1777);
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'a root-owned file');
  const next = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  for (let pid = next; pid < next + 400; pid++) {
    for (const n of [`bounds.tmp-${pid}`, `info.0.tmp-${pid}`, `.vmcore.0.tmp-${pid}`])
      symlinkSync(victim, join(crash, n));
  }
  const r = kboot(dir, ['panic', '--dump-dir', 'scratch', '--no-progress']);
  t.equal(r.status, 0, r.stderr);
  t.equal(readFileSync(victim, 'utf8'), 'a root-owned file', 'the victim is untouched');
  t.ok(lstatSync(join(crash, 'bounds')).isFile(), 'bounds is a regular file');
  t.match(r.stderr, /kboot: warning: 1200 entries in scratch named like kboot temporaries are not kboot's/);
  t.match(r.stderr, /kboot: warning: .*scratch is writable by every user/);
  t.end();
});

/** Starts `panic --dump-dir crash --format elf` and signals it once its dump N's file holds `bytes`. */
async function killAt(
  dir: string,
  n: number,
  bytes: number,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<{ stdout: string; stderr: string; size: number; status: number | null; sig: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [bin, 'panic', '--dump-dir', 'crash', '--format', 'elf'], { cwd: dir });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const exited = new Promise<{ status: number | null; sig: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (status, sig) => resolve({ status, sig })),
  );
  let size = -1;
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    const tmp = readdirSync(join(dir, 'crash')).find((x) =>
      new RegExp(`^\\.vmcore\\.${n}\\.[0-9a-f]{32}\\.tmp$`).test(x),
    );
    if (tmp !== undefined) {
      try {
        size = statSync(join(dir, 'crash', tmp)).size;
      } catch {
        size = -1;
      }
      if (size >= bytes) {
        child.kill(signal);
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  const end = await exited;
  return { stdout, stderr, size, ...end };
}

t.test(
  'SIGKILL 20 times at different sizes: each next run names the partial dump; pairs match',
  { skip },
  async (t) => {
    const dir = booted('killed');
    mkdirSync(join(dir, 'crash'));
    const MiB = 1 << 20;
    let previous: { n: number; size: number } | undefined;
    const sizes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await killAt(dir, i, i * 37 * MiB);
      t.equal(r.sig, 'SIGKILL', `run ${i}: killed at ${r.size} bytes`);
      sizes.push(r.size);
      if (previous !== undefined) {
        t.match(
          r.stdout,
          new RegExp(
            `^recovered a killed dump: crash/info\\.${previous.n} marked incomplete \\(the writer was killed\\); crash/vmcore\\.${previous.n} holds \\d+ bytes`,
            'm',
          ),
          `run ${i} reported the dump run ${i - 1} left`,
        );
      }
      previous = { n: i, size: r.size };
    }
    const last = kboot(dir, ['--json', 'panic', '--dump-dir', 'crash', '--no-progress']);
    t.equal(last.status, 0, last.stderr);
    const out = JSON.parse(last.stdout) as {
      dump: { n: number; recovery: { recovered: { n: number; vmcore: string }[] } };
    };
    t.same(validateJson('panic', out), [], 'the --json output (with its recovery) is schema-valid');
    t.same(
      out.dump.recovery.recovered.map((x) => x.n),
      [19],
      'the final run names the last partial dump',
    );
    t.equal(out.dump.n, 20);
    const names = readdirSync(join(dir, 'crash'));
    t.same(
      names.filter((n) => n.startsWith('.')),
      [],
      'no temporary left anywhere',
    );
    let pairs = 0;
    for (let n = 0; n < 20; n++) {
      const info = readFileSync(join(dir, 'crash', `info.${n}`), 'utf8');
      const size = statSync(join(dir, 'crash', `vmcore.${n}`)).size;
      const length = /Dump Length: (\d+)\n/.exec(info)?.[1];
      if (/Dump Status: bad\n {2}Incomplete: the writer was killed/.test(info) && length === String(size)) pairs++;
      else t.fail(`vmcore.${n} (${size} bytes) and info.${n} disagree:\n${info}`);
    }
    t.equal(pairs, 20, 'every vmcore.N has its info.N, saying killed, with its length');
    // thresholds 37 MiB apart; the file grows in jumps (zero runs are holes), so a few kills may meet the same size
    t.ok(new Set(sizes).size >= 15, `killed at ${new Set(sizes).size} different sizes: ${sizes.join(', ')}`);
  },
);

t.test('SIGINT during panic --dump-dir: the part written is named and described', { skip }, async (t) => {
  const dir = booted('sigint');
  mkdirSync(join(dir, 'crash'));
  const started = performance.now();
  const r = await killAt(dir, 0, 200 << 20, 'SIGINT');
  t.ok(performance.now() - started < 15_000, 'ended soon after the signal');
  t.equal(r.status, 130, 'exit 128 + SIGINT');
  t.match(
    r.stderr,
    /kboot: interrupted: the part written \(\d+ bytes\) is kept as crash\/vmcore\.0, described in crash\/info\.0/,
  );
  const info = readFileSync(join(dir, 'crash', 'info.0'), 'utf8');
  t.match(info, /Dump Status: bad\n {2}Incomplete: dump: kboot was interrupted by a signal/);
  t.equal(/Dump Length: (\d+)/.exec(info)?.[1], String(statSync(join(dir, 'crash', 'vmcore.0')).size));
  t.same(
    readdirSync(join(dir, 'crash')).filter((n) => n.startsWith('.')),
    [],
    'no temporary left',
  );
});

t.test('SIGINT while a compressed dump is decoded: nothing left in TMPDIR', { skip }, async (t) => {
  const dir = booted('decode');
  const scratch = mkdtempSync(join(work, 'tmpdir-'));
  const r = kboot(dir, ['panic', '--dump-dir', '.', '--no-progress']);
  t.equal(r.status, 0, r.stderr);
  // the real dump's header with every bitmap bit set (8 GiB of pages), then zeros
  const vmcore = readFileSync(join(dir, 'vmcore.0'));
  const l = minidumpLayout(vmcore);
  const head = Buffer.from(vmcore.subarray(0, l.sparse));
  head.fill(0xff, l.bitmap, l.bitmap + l.header.bitmapsize);
  const packed = Buffer.concat([Buffer.concat([...compressChunks('zstd', [head])]), zstdRleFrame(12n << 30n, 0x41)]);
  writeFileSync(join(dir, 'big.zst'), packed);
  const near = kboot(dir, ['dump', 'read', 'big.zst', '--pa', '0x1000', '--len', '16'], { TMPDIR: scratch });
  t.equal(near.status, 0, 'a page near the start: decoded that far only');
  t.ok(near.ms <= LIMIT.ms && near.rssKiB <= LIMIT.rssKiB, `${near.ms.toFixed(0)} ms, ${near.rssKiB} KiB`);
  const child = spawn(process.execPath, [bin, 'dump', 'read', 'big.zst', '--pa', '0x1f0000000', '--len', '16'], {
    cwd: dir,
    env: { ...process.env, TMPDIR: scratch },
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const exited = new Promise<{ status: number | null; sig: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (status, sig) => resolve({ status, sig })),
  );
  // Ctrl-C once the progress line shows the decoding under way (it appears after a second)
  for (let waited = 0; waited < 20_000 && !/decompressing: \d+%/.test(stderr); waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const sent = performance.now();
  child.kill('SIGINT');
  const end = await exited;
  t.ok(performance.now() - sent < 2000, 'Ctrl-C is honoured at once');
  t.ok(end.status === 130 || end.sig === 'SIGINT', `ended by the signal (${end.status ?? end.sig ?? '?'})`);
  t.match(stderr, /big\.zst: decompressing: \d+%/, 'a progress line after a second');
  t.same(readdirSync(scratch), [], 'nothing left in the temporary directory');
});

t.test('panic --dump-device --compress zstd|gzip: dump inspect and read take the image', { skip }, (t) => {
  const dir = booted('device');
  for (const c of ['zstd', 'gzip']) {
    const img = `dev.${c}.img`;
    const w = kboot(dir, ['panic', '--dump-device', img, '--compress', c, '--no-progress']);
    t.equal(w.status, 0, w.stderr);
    const i = kboot(dir, ['--json', 'dump', 'inspect', img]);
    t.equal(i.status, 0, i.stderr);
    const rep = JSON.parse(i.stdout) as { container: string; compression: string; format: string };
    t.same([rep.container, rep.compression, rep.format], ['device', c, 'minidump']);
    const rd = kboot(dir, ['--json', 'dump', 'read', img, '--kva', '0xffffffff80201000', '--len', '32']);
    t.equal(rd.status, 0, rd.stderr);
    t.equal((JSON.parse(rd.stdout) as { hex: string }).hex.length, 64);
  }
  t.end();
});
