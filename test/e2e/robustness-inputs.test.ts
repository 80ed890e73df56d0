// Issue 11's reproductions as real kboot processes (dist/cli/main.js): files that are not
// regular files (devices, FIFOs, symlinks to devices) named on the command line, recorded in
// the state journal or standing in for the journal itself; directories that are not
// directories; a loader.conf expansion bomb. Each must end within 5 s, under 200 MiB of RSS
// (the child's own getrusage peak), with exit 1 or 2 and a one-line `kboot:` message — and
// with --json, one object valid against schemas/error.schema.json — never exit 70, a signal
// or a hang. Also: SIGTERM removes kboot's temporaries; planted symlinks at the journal's old
// predictable temporary names are never written through.
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../../loader/paths.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { validateJson } from '../../loader/schema.js';
import { nativeAvailable } from '../../native/binding.js';
import { runBounded, type BoundedRun } from '../helpers/spawn-kboot.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const dir = mkdtempSync(join(tmpdir(), 'kboot-robust-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const TIME_MS = 5000;
const RSS_KIB = 200 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// the files
const probe = join(dir, 'probe.elf');
const probeBytes = buildProbeKernel('amd64', { mode: 'rescue' });
writeFileSync(probe, probeBytes);
const kexecProbe = join(dir, 'k.elf');
writeFileSync(kexecProbe, buildProbeKernel('amd64', { mode: 'kexec' }));
const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);
writeFileSync(join(dir, 'afile'), 'not a directory\n');
symlinkSync('/dev/zero', join(dir, 'zero-link'));

/** The issue's bomb: a 16-character value doubled 24 times (about 600 bytes). */
const bomb = ['v0="xxxxxxxxxxxxxxxx"'];
for (let i = 1; i <= 24; i++) bomb.push(`v${i}="\${v${i - 1}}\${v${i - 1}}"`);
writeFileSync(join(dir, 'bomb.conf'), `${bomb.join('\n')}\n`);
// a loader.conf whose include is a FIFO
mkdirSync(join(dir, 'conf'));
writeFileSync(join(dir, 'conf', 'loader.conf'), 'loader_conf_files="fifo.conf"\n');
execFileSync('mkfifo', [join(dir, 'conf', 'fifo.conf')]);

/** A state directory holding `journal` (an object) or made by `make`. */
function stateWith(name: string, journal: unknown): string {
  const d = join(dir, name);
  mkdirSync(d);
  writeFileSync(join(d, 'state.json'), JSON.stringify(journal));
  return name;
}
const boot = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  action: 'boot',
  strategy: 'kexec',
  phase: 'running',
  rescue: { path: probe, sha256: sha(probeBytes) },
  ...extra,
});
const ZERO_SHA = '0'.repeat(64);
stateWith('j-zero', {
  version: 2,
  machine: '/dev/zero',
  machineFile: { path: '/dev/zero', sha256: ZERO_SHA },
  seed: 1,
  actions: [boot()],
});
stateWith('j-fifo', {
  version: 2,
  machine: fifo,
  machineFile: { path: fifo, sha256: ZERO_SHA },
  seed: 1,
  actions: [boot()],
});
stateWith('j-v1-zero', { version: 1, machine: '/dev/zero', seed: 1, actions: [boot()] });
stateWith('j-kernel-fifo', {
  version: 2,
  machine: 'amd64-efi',
  seed: 1,
  actions: [boot({ rescue: { path: fifo, sha256: ZERO_SHA } })],
});
mkdirSync(join(dir, 'st-fifo'));
execFileSync('mkfifo', [join(dir, 'st-fifo', 'state.json')]);
mkdirSync(join(dir, 'st-link'));
symlinkSync('/dev/zero', join(dir, 'st-link', 'state.json'));

/** [what, argv, expected code, expected exit status]. */
const CASES: readonly (readonly [string, readonly string[], string, number])[] = [
  // 1. files that are not files, named on the command line
  ['plan --machine /dev/zero', ['plan', '--crash', 'probe.elf', '--machine', '/dev/zero'], 'IO_NOT_REGULAR', 1],
  ['plan --machine /dev/urandom', ['plan', '--crash', 'probe.elf', '--machine', '/dev/urandom'], 'IO_NOT_REGULAR', 1],
  ['plan --machine FIFO', ['plan', '--crash', 'probe.elf', '--machine', 'fifo'], 'IO_NOT_REGULAR', 1],
  ['plan --machine symlink to /dev/zero', ['plan', 'probe.elf', '--machine', 'zero-link'], 'IO_NOT_REGULAR', 1],
  [
    'boot --machine /dev/zero',
    ['boot', '--rescue', 'probe.elf', '--machine', '/dev/zero', '--state', 's-boot'],
    'IO_NOT_REGULAR',
    1,
  ],
  ['exec --machine FIFO', ['exec', 'probe.elf', '--machine', 'fifo'], 'IO_NOT_REGULAR', 1],
  ['compare --machine /dev/urandom', ['compare', 'probe.elf', '--machine', '/dev/urandom'], 'IO_NOT_REGULAR', 1],
  ['plan /dev/zero (the kernel)', ['plan', '--crash', '/dev/zero'], 'IO_NOT_REGULAR', 1],
  ['inspect FIFO', ['inspect', 'fifo'], 'IO_NOT_REGULAR', 1],
  ['embed --rescue FIFO', ['embed', '--host', 'k.elf', '--rescue', 'fifo', '-o', 'out.elf'], 'IO_NOT_REGULAR', 1],
  ['boot --config FIFO', ['boot', '--config', 'fifo', '--state', 's-conf'], 'CONFIG_UNREADABLE', 1],
  [
    'boot --config with a FIFO include',
    ['boot', '--config', 'conf/loader.conf', '--state', 's-inc'],
    'CONFIG_UNREADABLE',
    1,
  ],
  ['load --crash /dev/zero', ['load', '--crash', '/dev/zero', '--state', 'j-zero'], 'IO_NOT_REGULAR', 1],
  // 1. the journal: recorded files and the journal itself
  ['status, journal machine /dev/zero', ['status', '--state', 'j-zero'], 'IO_NOT_REGULAR', 1],
  ['load --crash, journal machine FIFO', ['load', '--crash', 'k.elf', '--state', 'j-fifo'], 'IO_NOT_REGULAR', 1],
  ['status, v1 journal machine /dev/zero', ['status', '--state', 'j-v1-zero'], 'CONFIG_STALE', 1],
  ['status, journal rescue kernel FIFO', ['status', '--state', 'j-kernel-fifo'], 'IO_NOT_REGULAR', 1],
  ['unload --crash, state.json a FIFO', ['unload', '--crash', '--state', 'st-fifo'], 'IO_NOT_REGULAR', 1],
  ['panic, state.json a symlink to /dev/zero', ['panic', '--state', 'st-link'], 'IO_SYMLINK', 1],
  // 2. directories that are not directories
  ['boot --state /dev/null', ['boot', '--rescue', 'probe.elf', '--state', '/dev/null'], 'IO_NOT_DIRECTORY', 1],
  ['boot --state EXISTING_FILE', ['boot', '--rescue', 'probe.elf', '--state', 'afile'], 'IO_NOT_DIRECTORY', 1],
  ['boot --state /proc/self', ['boot', '--rescue', 'probe.elf', '--state', '/proc/self'], 'IO_NOT_DIRECTORY', 1],
  ['status --state /dev/null', ['status', '--state', '/dev/null'], 'IO_NOT_DIRECTORY', 1],
  ['demo --out /dev/null', ['demo', '--out', '/dev/null'], 'IO_NOT_DIRECTORY', 1],
  ['demo --out EXISTING_FILE', ['demo', '--out', 'afile'], 'IO_NOT_DIRECTORY', 1],
  // 3. the expansion bomb
  ['boot --config bomb', ['boot', '--config', 'bomb.conf', '--state', 's-bomb'], 'CONFIG_EXPANSION_TOO_LARGE', 1],
  // 10's usage error, for the exit-2 form
  ['exec --crash on a kexec-mode probe', ['exec', '--crash', 'k.elf'], 'CLI_USAGE', 2],
];

function bounded(t: Test, r: BoundedRun, what: string): void {
  t.equal(r.killed, undefined, `${what}: not killed by the harness`);
  t.equal(r.signal, null, `${what}: no signal`);
  t.ok(r.ms < TIME_MS, `${what}: ${r.ms.toFixed(0)} ms < ${TIME_MS} ms`);
  t.ok(
    r.maxRssKiB !== undefined && r.maxRssKiB < RSS_KIB,
    `${what}: peak RSS ${r.maxRssKiB ?? '?'} KiB < ${RSS_KIB} KiB`,
  );
}

t.test('every reproduction: exit 1 or 2, one kboot: line, bounded time and memory', { skip }, async (t) => {
  let worstMs = 0;
  let worstKiB = 0;
  for (const [what, argv, code, exit] of CASES) {
    const text = await runBounded(argv, { cwd: dir, timeoutMs: 3 * TIME_MS });
    bounded(t, text, what);
    t.equal(text.code, exit, `${what}: exit ${exit}${text.code === exit ? '' : ` (${text.stderr})`}`);
    t.match(text.stderr, /^kboot: [^\n]+\n$/, `${what}: one line on stderr`);
    t.equal(text.stdout, '', `${what}: nothing on stdout`);
    const json = await runBounded(['--json', ...argv], { cwd: dir, timeoutMs: 3 * TIME_MS });
    bounded(t, json, `${what} --json`);
    t.equal(json.code, exit);
    let parsed: unknown;
    try {
      parsed = JSON.parse(json.stdout);
    } catch {
      t.fail(`${what} --json: stdout is not JSON: ${json.stdout.slice(0, 200)}`);
      continue;
    }
    t.same(validateJson('error', parsed), [], `${what} --json: valid against error.schema.json`);
    t.match(parsed, { error: { code } }, `${what}: ${code}`);
    worstMs = Math.max(worstMs, text.ms, json.ms);
    worstKiB = Math.max(worstKiB, text.maxRssKiB ?? 0, json.maxRssKiB ?? 0);
  }
  t.comment(
    `${CASES.length * 2} runs: slowest ${worstMs.toFixed(0)} ms, largest peak RSS ${(worstKiB / 1024).toFixed(1)} MiB`,
  );
  t.notOk(existsSync(join(dir, 's-boot')), 'a boot that failed on its profile made no state directory');
});

t.test('SIGTERM removes the temporaries kboot registered, and exits 143', { skip }, async (t) => {
  const output = packagePath('dist', 'loader', 'io', 'output.js');
  const script =
    `const { createTemp } = await import(${JSON.stringify(output)});\n` +
    `const tmp = createTemp(${JSON.stringify(join(dir, 'dump.bin'))}, 0o600);\n` +
    'process.stdout.write(tmp.path + "\\n");\nsetInterval(() => {}, 1000);\n';
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const path = await new Promise<string>((ok) => child.stdout.once('data', (b: Buffer) => ok(b.toString().trim())));
  t.ok(existsSync(path), `the temporary ${path} exists while the writer runs`);
  child.kill('SIGTERM');
  const status = await new Promise<number | null>((ok) => child.on('close', (c) => ok(c)));
  t.equal(status, 143, '128 + SIGTERM');
  t.notOk(existsSync(path), 'and it is gone');
});

t.test('symlinks planted at the old predictable journal temporaries are never written through', { skip }, async (t) => {
  const state = join(dir, 'planted');
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'root-owned content\n');
  const first = await runBounded(['boot', '--strategy', 'kexec', '--rescue', 'k.elf', '--state', 'planted'], {
    cwd: dir,
    timeoutMs: 30_000,
  });
  t.equal(first.code, 0, first.stderr);
  const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  for (let pid = last; pid < last + 400; pid++) symlinkSync(victim, join(state, `.state.json.${pid}.tmp`));
  const load = await runBounded(['load', '--crash', 'k.elf', '--state', 'planted'], { cwd: dir, timeoutMs: 30_000 });
  t.equal(load.code, 0, load.stderr);
  t.equal(readFileSync(victim, 'utf8'), 'root-owned content\n', 'the victim is untouched');
  t.ok(lstatSync(join(state, 'state.json')).isFile(), 'state.json is a regular file');
  const journal = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')) as { actions: { action: string }[] };
  t.same(
    journal.actions.map((a) => a.action),
    ['boot', 'load'],
  );
  t.equal(
    readdirSync(state).filter((n) => n.endsWith('.tmp') && !lstatSync(join(state, n)).isSymbolicLink()).length,
    0,
    'no temporary of its own left',
  );
});
