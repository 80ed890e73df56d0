// `kboot load --host --dry-run` and `kboot exec --segments-from-last-host-load` on the machine
// the tests run on, without root and without any system call: the printed kexec -d style
// table and the --json event list the same segments; a crash dry run replays through
// rescue_kernel_exec and a normal one through a kexec reboot, both reaching a complete probe
// report; the FreeBSD ABI's dry run uses syscall 599 with flags 0; a replay on a profile that
// is not this host's is refused (HOST_SEGMENTS_DIFFER, or PLAN_BAD_PLACEMENT when it cannot
// hold the reservation at the recorded place at all; amd64 only: the probe and the built-in profile
// must match the host's arch).
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../../cli/io.js';
import { runCli } from '../../../cli/run.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { nativeAvailable } from '../../../native/binding.js';

const skip =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? 'a Linux amd64 host'
    : nativeAvailable()
      ? false
      : 'the native addon is not built';
const dir = mkdtempSync(join(tmpdir(), 'kboot-host-dry-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'rescue.elf'), buildProbeKernel('amd64', { mode: 'rescue' }));
writeFileSync(join(dir, 'next.elf'), buildProbeKernel('amd64', { mode: 'kexec' }));

async function kboot(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo(dir);
  const code = await runCli(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

interface Ev {
  event: { syscall?: number; load: { flags: string; segments: { mem: string; memsz: string; bufsz: string }[] } };
  called: boolean;
}

t.test('the table and the event agree; the crash replay enters the probe', { skip }, async (t) => {
  const text = await kboot('load', '--host', '--crash', 'rescue.elf', '--dry-run', '--state', 's1');
  t.equal(text.code, 0);
  const rows = [...text.out.matchAll(/^ {2}\d+\s+-\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s/gm)].map((m) => ({
    bufsz: m[1],
    mem: m[2],
    memsz: m[3],
  }));
  const json = JSON.parse(
    (await kboot('--json', 'load', '--host', '--crash', 'rescue.elf', '--dry-run', '--state', 's1')).out,
  ) as Ev;
  t.equal(json.called, false, 'no call');
  t.equal(json.event.syscall, undefined, 'no syscall journaled');
  t.same(
    rows,
    json.event.load.segments.map((s) => ({ bufsz: s.bufsz, mem: s.mem, memsz: s.memsz })),
    'the same segments',
  );
  const ex = JSON.parse((await kboot('--json', 'exec', '--segments-from-last-host-load', '--state', 's1')).out) as {
    ok: boolean;
    path: string;
    probe: { report: { complete: boolean } };
  };
  t.match(ex, { ok: true, path: 'rescue', probe: { report: { complete: true } } });
});

t.test('a normal dry run replays as a kexec reboot', { skip }, async (t) => {
  t.equal((await kboot('load', '--host', 'next.elf', '--dry-run', '--state', 's2')).code, 0);
  const ex = JSON.parse((await kboot('--json', 'exec', '--segments-from-last-host-load', '--state', 's2')).out) as {
    ok: boolean;
    path: string;
  };
  t.match(ex, { ok: true, path: 'kexec' });
});

t.test('the FreeBSD ABI: syscall 599, flags 0; --crash refused', { skip }, async (t) => {
  const fb = JSON.parse(
    (await kboot('--json', 'load', '--host', 'next.elf', '--dry-run', '--abi', 'freebsd', '--state', 's3')).out,
  ) as Ev;
  t.equal(fb.event.load.flags, '0x0');
  const crash = JSON.parse(
    (await kboot('--json', 'load', '--host', '--crash', 'rescue.elf', '--dry-run', '--abi', 'freebsd', '--state', 's3'))
      .out,
  ) as { error: { code: string } };
  t.equal(crash.error.code, 'HOST_FREEBSD_NO_CRASH');
});

t.test('a replay on another machine profile is refused', { skip }, async (t) => {
  t.equal((await kboot('load', '--host', '--crash', 'rescue.elf', '--dry-run', '--state', 's4')).code, 0);
  const r = await kboot('--json', 'exec', '--machine', 'amd64-efi', '--segments-from-last-host-load', '--state', 's4');
  t.equal(r.code, 1);
  // segments that differ, or a reservation the profile cannot even hold at the recorded place
  const code = (JSON.parse(r.out) as { error: { code: string } }).error.code;
  t.ok(['HOST_SEGMENTS_DIFFER', 'PLAN_BAD_PLACEMENT'].includes(code), `refused: ${code}`);
  const none = await kboot('--json', 'exec', '--segments-from-last-host-load', '--state', 'empty');
  t.equal((JSON.parse(none.out) as { error: { code: string } }).error.code, 'HOST_NO_LOAD');
});
