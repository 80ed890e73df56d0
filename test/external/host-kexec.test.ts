// Issue 16 acceptance: `kboot load --host` makes a real kexec_load(2) on the machine the tests
// run on, and strace (Debian strace, which we did not write) decodes it. strace's decoded
// segment array (buf, bufsz, mem, memsz), the segment count, the entry and the flags must be
// exactly the table kboot printed; the call's result is journaled as HOST_<ERRNO> (here:
// ENOSYS, the test machine's kernel has no kexec) with exit 1. An unprivileged child (dropped
// to nobody by setpriv) is refused before the call: no kexec_load in strace's output at all;
// --dry-run makes none either and prints the same segments. `status --host` and
// `plan --crash --host --print-reservation-size` answer from this machine's /sys and
// /proc/iomem; the emulator runs the segments of the last host load on this machine's imported
// profile and the probe reports back complete. Needs root (the real call) and strace; skips
// without root, and where the running kernel has kexec unless KBOOT_TEST_REAL_KEXEC=1
// (test/helpers/host-kexec.ts: a test load would replace the system's crash kernel).
import t from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { validateJson } from '../../loader/schema.js';
import { KBOOT_BIN } from '../helpers/spawn-kboot.js';
import { realKexecRefusal } from '../helpers/host-kexec.js';
import { requireTool } from '../helpers/tools.js';

const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
const refusal = realKexecRefusal();
const opts = refusal !== undefined ? { skip: refusal } : requireTool('strace');
const dir = mkdtempSync(join(tmpdir(), 'kboot-host-kexec-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const probe = join(dir, 'probe.elf');
writeFileSync(probe, buildProbeKernel(arch, { mode: 'rescue' }));
const state = join(dir, 'state');

function run(cmd: string, args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', timeout: 120_000 });
}

/** Runs kboot under strace; returns kboot's result and strace's kexec_load lines. */
function straced(prefix: readonly string[], args: readonly string[]): { r: SpawnSyncReturns<string>; calls: string[] } {
  const trace = join(dir, `strace-${Math.random().toString(16).slice(2)}.txt`);
  const strace = ['-f', '-o', trace, '-e', 'trace=kexec_load', '-e', 'verbose=kexec_load', '-e', 'abbrev=none'];
  const r = run('strace', [...strace, ...prefix, process.execPath, KBOOT_BIN, ...args]);
  const calls = readFileSync(trace, 'utf8')
    .split('\n')
    .filter((l) => /kexec_load\(/.test(l));
  return { r, calls };
}

interface Seg {
  buf: bigint | undefined;
  bufsz: bigint;
  mem: bigint;
  memsz: bigint;
}

/** kboot's printed table: entry, flags and the segment rows. */
function printed(out: string): { entry: bigint; flags: bigint; segs: Seg[] } {
  const entry = BigInt(/^entry\s+= (0x[0-9a-f]+)$/m.exec(out)?.[1] ?? '-1');
  const flags = BigInt(/^flags\s+= (0x[0-9a-f]+)/m.exec(out)?.[1] ?? '-1');
  const segs = [...out.matchAll(/^ {2}\d+\s+(0x[0-9a-f]+|-)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s/gm)].map(
    (m) => ({
      buf: m[1] === '-' ? undefined : BigInt(m[1] ?? ''),
      bufsz: BigInt(m[2] ?? ''),
      mem: BigInt(m[3] ?? ''),
      memsz: BigInt(m[4] ?? ''),
    }),
  );
  return { entry, flags, segs };
}

const FLAG_NAMES: Record<string, bigint> = {
  KEXEC_ARCH_DEFAULT: 0n,
  KEXEC_ON_CRASH: 0x1n,
  KEXEC_PRESERVE_CONTEXT: 0x2n,
  KEXEC_UPDATE_ELFCOREHDR: 0x4n,
  KEXEC_ARCH_X86_64: 62n << 16n,
  KEXEC_ARCH_AARCH64: 183n << 16n,
};

/** strace's decoding of one kexec_load line. */
function decoded(line: string): { entry: bigint; nseg: number; segs: Seg[]; flags: bigint; result: string } {
  const m = /kexec_load\((0x[0-9a-f]+|0|NULL), (\d+), (\[.*\]|NULL), ([A-Z0-9_|]+|0x[0-9a-f]+|0)\) = (.*)$/.exec(line);
  if (m === null) throw new Error(`strace line not understood: ${line}`);
  const segs = [...(m[3] ?? '').matchAll(/\{buf=(0x[0-9a-f]+), bufsz=(\d+), mem=(0x[0-9a-f]+), memsz=(\d+)\}/g)].map(
    (s) => ({ buf: BigInt(s[1] ?? ''), bufsz: BigInt(s[2] ?? ''), mem: BigInt(s[3] ?? ''), memsz: BigInt(s[4] ?? '') }),
  );
  const flags = (m[4] ?? '')
    .split('|')
    .reduce((v, n) => v | (FLAG_NAMES[n] ?? (n.startsWith('0x') || n === '0' ? BigInt(n) : -1n)), 0n);
  return { entry: m[1] === 'NULL' ? 0n : BigInt(m[1] ?? ''), nseg: Number(m[2]), segs, flags, result: m[5] ?? '' };
}

function lastEvent(): Record<string, unknown> & { result: { ok: boolean; code?: string; errno?: number } } {
  const j = JSON.parse(readFileSync(join(state, 'host.json'), 'utf8')) as { events: unknown[] };
  return j.events[j.events.length - 1] as Record<string, unknown> & {
    result: { ok: boolean; code?: string; errno?: number };
  };
}

t.test('load --host --crash: strace decodes exactly the printed plan; the errno is journaled', opts, async (t) => {
  const { r, calls } = straced([], ['load', '--host', '--crash', probe, '--state', state]);
  t.equal(calls.length, 1, 'one kexec_load call');
  const call = decoded(calls[0] ?? '');
  const plan = printed(r.stdout);
  t.ok(plan.segs.length >= 1, `kboot printed ${plan.segs.length} segments`);
  t.equal(call.nseg, plan.segs.length, 'nr_segments = the printed count');
  t.same(call.segs, plan.segs, 'buf, bufsz, mem, memsz of every segment = the printed table');
  t.equal(call.entry, plan.entry, 'entry');
  t.equal(call.flags, plan.flags, 'flags (KEXEC_ON_CRASH | KEXEC_ARCH_*)');
  const ev = lastEvent();
  const errno = /^-1 ([A-Z]+) /.exec(call.result)?.[1];
  if (errno === undefined) {
    t.equal(r.status, 0, 'the kernel took it: exit 0');
    t.equal(ev.result.ok, true);
  } else {
    t.equal(r.status, 1, `the kernel said ${errno}: exit 1`);
    t.equal(ev.result.code, `HOST_${errno}`, `journaled as HOST_${errno}`);
    t.equal(ev['syscall'], arch === 'amd64' ? 246 : 104, 'the syscall number journaled');
  }
  t.comment(`strace: ${calls[0] ?? ''}`);
});

t.test('unload --host --crash: kexec_load with no segments, KEXEC_ON_CRASH', opts, async (t) => {
  const { r, calls } = straced([], ['unload', '--host', '--crash', '--state', state]);
  t.equal(calls.length, 1, 'one kexec_load call');
  const call = decoded(calls[0] ?? '');
  t.equal(call.nseg, 0, 'no segments');
  t.equal(call.entry, 0n);
  t.equal(call.flags, 0x1n, 'KEXEC_ON_CRASH (arch default)');
  const errno = /^-1 ([A-Z]+) /.exec(call.result)?.[1];
  t.equal(r.status, errno === undefined ? 0 : 1);
  t.equal(lastEvent().result.code, errno === undefined ? undefined : `HOST_${errno}`, 'journaled');
});

t.test('an unprivileged run is refused before any call', opts, async (t) => {
  const drop = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
  const { r, calls } = straced(drop, ['--json', 'load', '--host', '--crash', probe, '--state', join(dir, 'nobody')]);
  t.same(calls, [], 'no kexec_load in strace');
  t.equal(r.status, 1, 'exit 1');
  const out = JSON.parse(r.stdout) as { called: boolean; error: { code: string }; journalError?: { code: string } };
  t.equal(out.error.code, 'HOST_NOT_ROOT');
  t.equal(out.called, false);
  t.same(validateJson('host-load', out), [], 'valid against host-load.schema.json');
  t.ok(out.journalError !== undefined, 'nobody cannot write the state directory: said, not thrown');
});

t.test('--dry-run: the same segments, no kexec_load', opts, async (t) => {
  const real = printed(straced([], ['load', '--host', '--crash', probe, '--state', state]).r.stdout);
  const { r, calls } = straced([], ['load', '--host', '--crash', probe, '--dry-run', '--state', state]);
  t.same(calls, [], 'no kexec_load in strace');
  t.equal(r.status, 0, 'exit 0');
  const dry = printed(r.stdout);
  t.same(
    dry.segs.map((s) => ({ ...s, buf: undefined })),
    real.segs.map((s) => ({ ...s, buf: undefined })),
    'the same segment table (no buffers)',
  );
  t.equal(dry.flags, real.flags);
  t.equal(dry.entry, real.entry);
  t.equal(lastEvent()['dryRun'], true, 'journaled as a dry run');
});

const crashInIomem = /^\s*[0-9a-f]+-[0-9a-f]+ : Crash kernel$/m.test(readFileSync('/proc/iomem', 'utf8'));

t.test('status --host and plan --host --print-reservation-size on this machine', opts, async (t) => {
  const s = run(process.execPath, [KBOOT_BIN, '--json', 'status', '--host', '--state', state]);
  const status = JSON.parse(s.stdout) as { armed: boolean; crashKernel: unknown; kexec: boolean };
  t.equal(s.status, status.armed ? 0 : 1, 'exit 0 when armed, 1 when not');
  t.equal(status.crashKernel !== null, crashInIomem, '/proc/iomem "Crash kernel" as grep sees it');
  const text = run(process.execPath, [KBOOT_BIN, 'plan', '--crash', '--host', '--print-reservation-size', probe]);
  t.equal(text.status, 0);
  const p = run(process.execPath, [
    KBOOT_BIN,
    '--json',
    'plan',
    '--crash',
    '--host',
    '--print-reservation-size',
    probe,
    '--state',
    state,
  ]);
  const res = JSON.parse(p.stdout) as { bytes: string; current: unknown; crashkernel: string };
  t.equal(BigInt(text.stdout.trim()), BigInt(res.bytes), 'the decimal size = the JSON bytes');
  t.equal(res.current === null, !crashInIomem, 'no reservation: said so (current null)');
  const mib = (BigInt(res.bytes) + (1n << 20n) - 1n) >> 20n;
  t.equal(res.crashkernel, `crashkernel=${mib}M`, 'crashkernel= in whole MiB, rounded up');
  t.comment(`needs ${res.bytes} bytes: ${res.crashkernel}; status exit ${s.status}`);
});

t.test('the last host load runs in the emulator on this machine imported', opts, async (t) => {
  const profile = join(dir, 'this-host.json');
  t.equal(run(process.execPath, [KBOOT_BIN, 'machine', 'import', '--host', '-o', profile]).status, 0, 'imported');
  const load = run(process.execPath, [KBOOT_BIN, 'load', '--host', '--crash', probe, '--state', state]);
  t.not(load.status, 2, 'a real load (the kernel may refuse it: exit 1)');
  const ex = run(process.execPath, [
    KBOOT_BIN,
    '--json',
    'exec',
    '--machine',
    profile,
    '--segments-from-last-host-load',
    '--state',
    state,
  ]);
  t.equal(ex.status, 0, `exit 0 ${ex.stderr}`);
  const o = JSON.parse(ex.stdout) as {
    ok: boolean;
    path: string;
    hostLoad: { segments: number; dryRun: boolean };
    probe: { report: { complete: boolean; checksum: string }; expectedChecksum: string };
  };
  t.equal(o.ok, true, 'ok');
  t.equal(o.path, 'rescue', 'entered through rescue_kernel_exec');
  t.equal(o.probe.report.complete, true, 'the probe report is complete');
  t.equal(o.probe.report.checksum, o.probe.expectedChecksum, 'the probe saw the file it was built as');
  t.equal(o.hostLoad.dryRun, false, 'the real load');
  t.equal(o.hostLoad.segments, (lastEvent()['load'] as { segments: unknown[] }).segments.length);
});
