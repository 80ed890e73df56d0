// dump/recover.ts and dump/info.ts: what a killed writer leaves in a crash directory (an
// info.N saying "dump in progress", the partial dump under its temporary name, stale bounds
// temporaries) is named, described and tidied; a live writer's files (held by its flock: a
// saveDump suspended between two steps in this very process, or a lock taken here on another
// descriptor) and an older kboot's temporaries whose PID still runs are left alone; names
// planted by someone else (symbolic links with temporary names) are never followed nor
// removed. Nothing holding dump bytes is deleted. The directory state of a killed writer is
// made by hand, as a SIGKILL leaves it; test/e2e/robustness-dumps.test.ts kills real ones.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyName, lockFile } from '../../../dump/crashdir.js';
import {
  describeIncomplete,
  IN_PROGRESS,
  infoText,
  parityOf,
  parseInfoText,
  type DumpFacts,
} from '../../../dump/info.js';
import { recoverDumpDirectory, recoveryLines, recoveryWarnings } from '../../../dump/recover.js';
import { saveDumpSteps } from '../../../dump/savecore.js';
import { nativeAvailable } from '../../../native/binding.js';

const NATIVE = nativeAvailable() ? {} : { skip: 'the native addon (flock) is not built' };
const facts: DumpFacts = {
  arch: 'amd64',
  hostname: 'crashed',
  versionstring:
    'FreeBSD 15.0-CURRENT #0: Mon Jan  1 00:00:00 UTC 2024\n    root@build:/usr/obj/usr/src/amd64.amd64/sys/GENERIC\n',
  panicstring: 'page fault',
  dumptime: 1_800_000_000n,
};
const root = mkdtempSync(join(tmpdir(), 'kboot-recover-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const fresh = (name: string): string => mkdtempSync(join(root, `${name}-`));
const hex32 = (c: string): string => c.repeat(32);
const inProgress = (n: number, c: 'none' | 'gzip' | 'zstd' = 'none'): string =>
  infoText({
    device: '/dev/dumper',
    facts,
    dumplength: 1n << 30n,
    compression: c,
    parity: parityOf(facts, 1n << 30n, c),
    bounds: n,
    status: 'bad',
    reason: IN_PROGRESS,
  });
/** A PID that ran and is gone. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

t.test('info.N round-trips; describeIncomplete keeps the facts and recomputes the parity', (t) => {
  const text = inProgress(3, 'zstd');
  const p = parseInfoText(text);
  t.same(p?.facts, facts, 'a two-line version string too');
  t.equal(p?.compression, 'zstd');
  t.equal(p?.reason, IN_PROGRESS);
  const after = describeIncomplete(text, 'the writer was killed', 12345n);
  const q = parseInfoText(after);
  t.equal(q?.dumplength, 12345n);
  t.equal(q?.parity, parityOf(facts, 12345n, 'zstd'));
  t.equal(q?.status, 'bad');
  t.equal(q?.reason, 'the writer was killed');
  t.equal(parseInfoText('hand-written notes\n'), undefined);
  t.match(
    describeIncomplete('Dump Status: good\nnotes\n', 'why', 1n),
    /notes\n {2}Dump Status: bad\n {2}Incomplete: why\n$/,
  );
  t.end();
});

t.test("temporary names: this version's and older ones", (t) => {
  t.match(classifyName(`.vmcore.3.zst.${hex32('a')}.tmp`), {
    kind: 'vmcore',
    n: 3,
    style: 'random',
    final: 'vmcore.3.zst',
  });
  t.match(classifyName(`.bounds.${hex32('b')}.tmp`), { kind: 'bounds', style: 'random' });
  t.match(classifyName(`.info.12.${hex32('c')}.tmp`), { kind: 'info', n: 12 });
  t.match(classifyName(`.vmcore.last.gz.${hex32('d')}.tmp`), { kind: 'last' });
  t.match(classifyName('.vmcore.0.tmp-4242'), { kind: 'vmcore', n: 0, style: 'pid', pid: 4242 });
  t.match(classifyName('bounds.tmp-77'), { kind: 'bounds', pid: 77 });
  t.match(classifyName('info.5.tmp-77'), { kind: 'info', n: 5 });
  for (const other of [
    'vmcore.0',
    '.vmcore.0.tmp',
    'bounds.tmp-x',
    'vmcore.0.tmp-5',
    '.info.5.tmp-7',
    `.notes.${hex32('e')}.tmp`,
  ]) {
    t.equal(classifyName(other), undefined, other);
  }
  t.end();
});

t.test('a killed writer: the partial dump is named vmcore.N and info.N says so', NATIVE, (t) => {
  const dir = fresh('killed');
  writeFileSync(join(dir, 'info.0'), inProgress(0, 'zstd'), { mode: 0o600 });
  const part = Buffer.alloc(70_000, 0x5a);
  writeFileSync(join(dir, `.vmcore.0.zst.${hex32('1')}.tmp`), part, { mode: 0o600 });
  writeFileSync(join(dir, `.bounds.${hex32('2')}.tmp`), '1\n');
  writeFileSync(join(dir, 'info.1'), inProgress(1)); // killed before its dump file existed
  writeFileSync(join(dir, 'bounds'), '2\n');
  const r = recoverDumpDirectory(dir);
  t.same(
    r.recovered.map((x) => [x.n, x.vmcore, x.bytes]),
    [
      [0, join(dir, 'vmcore.0.zst'), 70_000n],
      [1, undefined, 0n],
    ],
  );
  t.same(readFileSync(join(dir, 'vmcore.0.zst')), part, 'the bytes written, under the name info.0 describes');
  t.equal(statSync(join(dir, 'vmcore.0.zst')).mode & 0o777, 0o600);
  const info0 = parseInfoText(readFileSync(join(dir, 'info.0'), 'utf8'));
  t.equal(info0?.status, 'bad');
  t.match(info0?.reason, /^the writer was killed after writing 70000 bytes/);
  t.equal(info0?.dumplength, 70_000n, 'Dump Length: what vmcore.0.zst holds');
  t.match(parseInfoText(readFileSync(join(dir, 'info.1'), 'utf8'))?.reason, /killed before it wrote any of the dump/);
  t.same(r.removed, [join(dir, `.bounds.${hex32('2')}.tmp`)], 'the stale bounds temporary');
  t.same(readdirSync(dir).sort(), ['bounds', 'info.0', 'info.1', 'vmcore.0.zst']);
  const lines = recoveryLines(r, (p) => p.slice(dir.length + 1));
  t.match(
    lines[0],
    /^recovered a killed dump: info\.0 marked incomplete \(the writer was killed\); vmcore\.0\.zst holds 70000 bytes/,
  );
  t.equal(recoverDumpDirectory(dir).recovered.length, 0, 'a second run finds nothing more');
  t.end();
});

t.test('live writers are left alone: a suspended saveDump, a held lock, a running PID', NATIVE, (t) => {
  const dir = fresh('live');
  const chunks = Array.from({ length: 8 }, () => new Uint8Array(1 << 20).fill(7));
  const steps = saveDumpSteps({ dir, facts, size: 8n << 20n, chunks, recover: false });
  steps.next();
  steps.next(); // the dump is being written: info.0 and its temporary exist, locked
  const tmp = readdirSync(dir).find((n) => n.startsWith('.vmcore.0.'));
  t.match(tmp, /^\.vmcore\.0\.[0-9a-f]{32}\.tmp$/, 'an unpredictable temporary name');
  const r = recoverDumpDirectory(dir);
  t.same([r.recovered, r.removed, r.kept], [[], [], []], 'nothing done to a running dump');
  let last = steps.next();
  while (last.done !== true) last = steps.next();
  t.equal(last.value.status, 'good');
  t.match(readFileSync(join(dir, 'info.0'), 'utf8'), /Dump Status: good\n$/);

  writeFileSync(join(dir, 'info.5'), inProgress(5));
  writeFileSync(join(dir, `.vmcore.5.${hex32('f')}.tmp`), 'part');
  const fd = openSync(join(dir, 'info.5'), 'r');
  t.equal(lockFile(fd), 'locked', 'another descriptor holds info.5');
  t.same(recoverDumpDirectory(dir).recovered, [], 'a locked info.N is a live writer');
  closeSync(fd);
  writeFileSync(join(dir, 'info.6'), inProgress(6));
  writeFileSync(join(dir, `.vmcore.6.tmp-${process.pid}`), 'older kboot, still running');
  writeFileSync(join(dir, `bounds.tmp-${process.pid}`), '7\n');
  const r2 = recoverDumpDirectory(dir);
  t.same(
    r2.recovered.map((x) => x.n),
    [5],
    'info.5 once released; info.6 belongs to a running PID',
  );
  t.ok(existsSync(join(dir, `.vmcore.6.tmp-${process.pid}`)) && existsSync(join(dir, `bounds.tmp-${process.pid}`)));
  const dead = deadPid();
  writeFileSync(join(dir, 'info.7'), inProgress(7));
  writeFileSync(join(dir, `.vmcore.7.tmp-${dead}`), 'older kboot, killed');
  writeFileSync(join(dir, `bounds.tmp-${dead}`), '8\n');
  const r3 = recoverDumpDirectory(dir);
  t.same(
    r3.recovered.map((x) => [x.n, x.bytes]),
    [[7, 19n]],
  );
  t.equal(readFileSync(join(dir, 'vmcore.7'), 'utf8'), 'older kboot, killed');
  t.same(r3.removed, [join(dir, `bounds.tmp-${dead}`)]);
  t.end();
});

t.test('planted names are never followed, removed or adopted; orphans without a slot are kept', NATIVE, (t) => {
  const dir = fresh('planted');
  const victim = join(root, 'victim');
  writeFileSync(victim, 'precious');
  const dead = deadPid();
  for (const n of [`bounds.tmp-${dead}`, `info.0.tmp-${dead}`, `.vmcore.0.tmp-${dead}`, `.bounds.${hex32('9')}.tmp`]) {
    symlinkSync(victim, join(dir, n));
  }
  writeFileSync(join(dir, 'info.0'), inProgress(0));
  writeFileSync(join(dir, `.vmcore.3.${hex32('4')}.tmp`), 'a dump whose info.3 is gone');
  writeFileSync(join(dir, 'vmcore.4'), 'already here');
  writeFileSync(join(dir, 'info.4'), inProgress(4));
  writeFileSync(join(dir, `.vmcore.4.${hex32('5')}.tmp`), 'the part written');
  const r = recoverDumpDirectory(dir);
  t.equal(readFileSync(victim, 'utf8'), 'precious', 'the victim is untouched');
  t.equal(r.ignored.length, 4, 'four planted links reported');
  t.ok(
    r.ignored.every((p) => lstatSync(p).isSymbolicLink()),
    'and left in place',
  );
  t.ok(
    recoveryWarnings(r).some((w) => /^4 entries .* named like kboot temporaries are not kboot's/.test(w)),
    'one warning line names them',
  );
  t.same(
    r.kept.map((k) => k.path),
    [join(dir, `.vmcore.3.${hex32('4')}.tmp`)],
    'an orphan with no info.N: kept, named',
  );
  const four = r.recovered.find((x) => x.n === 4);
  t.equal(
    four?.keptAs,
    join(dir, `.vmcore.4.${hex32('5')}.tmp`),
    'vmcore.4 exists: the part stays under its temporary name',
  );
  t.equal(readFileSync(join(dir, 'vmcore.4'), 'utf8'), 'already here');
  t.match(readFileSync(join(dir, 'info.0'), 'utf8'), /killed before it wrote any of the dump/);
  t.end();
});
