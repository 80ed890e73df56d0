// `kboot demo` in-process, into temporary directories: on amd64 it names every step as it
// happens, leaves a verified vmcore.0 (0600, info.0, bounds) that dump/open.ts reads back,
// prints the compare table and the three commands for one's own kernel; on arm64 with
// --json, into a directory that already holds a vmcore.0, it writes vmcore.1 instead, says so,
// leaves the old file alone, and prints JSON valid against schemas/demo.schema.json (its
// compare part against compare.schema.json).
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DemoReport } from '../../scenario/demo.js';
import { memoryIo } from '../../cli/io.js';
import { Exit, runCli } from '../../cli/run.js';
import { openDumpFile } from '../../dump/file.js';
import { openDump } from '../../dump/open.js';
import { validateJson } from '../../loader/schema.js';
import { nativeAvailable } from '../../native/binding.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const tmp = mkdtempSync(join(tmpdir(), 'kboot-demo-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

t.test('amd64: every step named, a verified vmcore.0, the compare table, the next commands', { skip }, async (t) => {
  const io = memoryIo(tmp);
  const code = await runCli(['demo', '--out', 'out'], io);
  const out = io.stdout();
  t.equal(code, Exit.Ok, code === Exit.Ok ? 'exit 0' : io.stderr());
  t.match(out, /^kboot demo: amd64 on machine amd64-efi, output in out\n/);
  const steps = [...out.matchAll(/^\[(\d)\/7\] (.*)$/gm)].map((m) => `${m[1] ?? ''} ${m[2] ?? ''}`);
  t.equal(steps.length, 7, 'seven steps');
  t.match(steps[0], /^1 build a probe rescue kernel/);
  t.match(steps[1], /^2 boot machine amd64-efi, strategy kexec/);
  t.match(steps[2], /^3 arm the rescue kernel from userspace \(kboot load --crash/);
  t.match(steps[3], /^4 panic the host/);
  t.match(steps[4], /^5 write the dump/);
  t.match(steps[5], /^6 read out\/vmcore\.0 back and compare 100 random dumped pages/);
  t.match(steps[6], /^7 compare embed, KLD and kexec on amd64-efi/);
  // what happened, in order
  const order = [
    /rescue-probe\.elf: \d+ bytes/,
    /SI_SUB_VM_CONF: rescue_kernel_init/,
    /kexec_load: crash kernel loaded/,
    /armed at running: kexec_load/,
    /rescue kernel entered at 0x[0-9a-f]+ after \d+ instructions/,
    /probe report: complete, image checksum matches the file/,
    /console: kboot probe: ok arch=amd64 mode=rescue/,
    /dump saved: out\/vmcore\.0: [\d.]+ MiB \(\d+ pages\)/,
    /100\/100 sampled pages identical to guest RAM at the panic/,
    /out\/vmcore\.0 verified/,
    /armed from\s+SI_SUB_VM_CONF\s+SI_SUB_VM_CONF\s+init \(userspace\)/,
    /kboot demo: done in [\d.]+ s; out\/vmcore\.0 verified\./,
    /kboot boot --machine amd64-efi --strategy kexec --rescue your-rescue\.elf\n {2}kboot load --crash your-rescue\.elf\n {2}kboot panic --dump-dir DIR\n\(in a clone of kboot, `npm link` puts kboot on your PATH; or run node dist\/cli\/main\.js\)\n$/,
  ];
  let at = 0;
  for (const re of order) {
    const m = re.exec(out.slice(at));
    t.ok(m !== null, `then: ${re.source}`);
    if (m !== null) at += m.index + m[0].length;
  }
  t.match(io.stderr(), /\/dev\/dumper: 100% \(/, 'dump progress on stderr');
  const vmcore = join(tmp, 'out', 'vmcore.0');
  t.equal(statSync(vmcore).mode & 0o777, 0o600, 'vmcore.0 is 0600');
  t.ok(existsSync(join(tmp, 'out', 'info.0')));
  t.equal(readFileSync(join(tmp, 'out', 'bounds'), 'utf8'), '1\n');
  const f = openDumpFile(vmcore);
  try {
    const d = openDump(f);
    t.equal(d.kind, 'minidump');
    t.equal(d.arch, 'amd64');
  } finally {
    f.close();
  }
});

t.test('arm64 --json: an existing vmcore.0 is kept and this dump is vmcore.1', { skip }, async (t) => {
  const out = join(tmp, 'again');
  t.equal(await runCli(['demo', '--out', out, '--arch', 'nope'], memoryIo(tmp)), Exit.Usage, 'a bad --arch');
  t.notOk(existsSync(out), 'nothing created for a usage error');
  const io2 = memoryIo(tmp);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'vmcore.0'), 'an older dump');
  const code = await runCli(['--json', 'demo', '--arch', 'arm64', '--out', out], io2);
  t.equal(code, Exit.Ok, code === Exit.Ok ? 'exit 0' : io2.stderr());
  const r = JSON.parse(io2.stdout()) as DemoReport;
  t.same(validateJson('demo', r), [], 'valid against demo.schema.json');
  t.same(validateJson('compare', r.compare), [], 'its compare part valid against compare.schema.json');
  t.equal(r.arch, 'arm64');
  t.equal(r.machine, 'arm64-fdt');
  t.equal(r.dump.n, 1);
  t.equal(r.dump.vmcore, join(out, 'vmcore.1'), 'the report names the file it wrote');
  t.equal(r.dump.status, 'good');
  t.same([r.verify.sampled, r.verify.identical, r.verify.mismatches], [100, 100, []]);
  t.equal(r.handoff.rescued, true);
  t.equal(r.handoff.probeComplete, true);
  t.equal(r.armed.phase, 'running');
  t.equal(r.compare.profiles[0]?.machine, 'arm64-fdt');
  t.equal(r.next.length, 3);
  t.equal(readFileSync(join(out, 'vmcore.0'), 'utf8'), 'an older dump', 'vmcore.0 untouched');
  t.match(io2.stderr(), /already holds vmcore\.0: savecore never overwrites, so this dump is vmcore\.1/);
  t.match(io2.stderr(), /\[7\/7\] compare embed, KLD and kexec on arm64-fdt/, 'the steps go to stderr with --json');
});
