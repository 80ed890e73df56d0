// The host layer (issue 16) without a real system call: a recording HostSyscall stands for
// @2060.io/ffi-napi and a temporary Linux root (this machine's /sys/firmware/memmap and
// /proc/iomem copied, a "Crash kernel" and /sys/kernel/kexec_* added) for the running system.
//  - the order that keeps a real system safe: no root -> HOST_NOT_ROOT with the syscall loader
//    never asked for; --dry-run never asks for it either;
//  - the segment array handed to syscall(2) decodes (loader/kexec/abi.ts decodeKexecSegments,
//    the layout the kernel's copy-in reads) to the buffers' addresses and the plan's sizes and
//    destinations, with the syscall number of the ABI and arch, the entry and the flags;
//  - a crash image is planned exactly inside /proc/iomem's "Crash kernel";
//  - every errno becomes its stable HOST_* code; EADDRNOTAVAIL carries the crashkernel= size;
//  - the host events: appended, bounded, validated, the last load found; a replay whose
//    recorded segments differ is HOST_SEGMENTS_DIFFER, a changed kernel CONFIG_STALE;
//  - sysprobe/kexec-state.ts reads the /sys/kernel/kexec_* files and the reservation.
import t from 'tap';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeKexecSegments, ERRNO, LINUX_KEXEC } from '../../../loader/kexec/abi.js';
import { packagePath } from '../../../loader/paths.js';
import { buildProbeKernel } from '../../../kernels/probe/index.js';
import { crashkernelArg, ENOSYS, kexecErrnoError } from '../../../host/errno.js';
import { HostCode } from '../../../host/errors.js';
import type { HostSyscall } from '../../../host/ffi.js';
import {
  appendHostEvent,
  HOST_EVENTS_MAX,
  HOST_JOURNAL_FILE,
  lastHostLoad,
  loadHostJournal,
  type HostEvent,
} from '../../../host/journal.js';
import { hostUnload, kexecFlagNames, unloadFlags } from '../../../host/kexec.js';
import { hostLoad } from '../../../host/load.js';
import { crashReservation, readHostMachine } from '../../../host/plan.js';
import { replayLastHostLoad } from '../../../host/replay.js';
import { readKexecSysState } from '../../../sysprobe/kexec-state.js';
import { rejectsCode, throwsCode } from '../../helpers/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'kboot-host-unit-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const iomem = readFileSync(packagePath('test', 'fixtures', 'iomem', 'this-machine.txt'), 'utf8');
const CRASH = { start: 0x2000_0000n, size: 0x1000_0000n };

function linuxRoot(name: string, crash: boolean): string {
  const root = join(tmp, name);
  cpSync(packagePath('test', 'fixtures', 'memmap', 'this-machine'), join(root, 'sys/firmware/memmap'), {
    recursive: true,
  });
  const files: Record<string, string> = {
    'proc/iomem': crash
      ? iomem.replace(
          '  01000000-0225b13f : Kernel code',
          '  01000000-0225b13f : Kernel code\n  20000000-2fffffff : Crash kernel',
        )
      : iomem,
    'sys/kernel/kexec_loaded': '0\n',
    'sys/kernel/kexec_crash_loaded': crash ? '1\n' : '0\n',
    'sys/kernel/kexec_crash_size': crash ? `${CRASH.size}\n` : '0\n',
    'proc/sys/kernel/kexec_load_disabled': '0\n',
  };
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), v);
  }
  return root;
}

const withCrash = linuxRoot('crash', true);
const noCrash = linuxRoot('plain', false);
const probe = join(tmp, 'probe.elf');
writeFileSync(probe, buildProbeKernel('amd64', { mode: 'rescue' }));
const machine = (root: string) => ({ platform: 'linux', arch: 'x64', root });

interface Recorded {
  nr: number;
  entry: bigint;
  nseg: number;
  segments: Buffer | null;
  flags: bigint;
}

function recordingSyscall(errno: number): { sys: () => Promise<HostSyscall>; calls: Recorded[]; loads: number[] } {
  const calls: Recorded[] = [];
  const loads: number[] = [];
  let next = 0x7f00_0000_0000n;
  const sys: HostSyscall = {
    kexecLoad(nr, entry, nseg, segments, flags) {
      calls.push({ nr, entry, nseg, segments: segments === null ? null : Buffer.from(segments), flags });
      return { ret: errno === 0 ? 0 : -1, errno };
    },
    address(buf) {
      next += 0x10_0000n;
      return next + BigInt(buf.length % 16);
    },
  };
  return {
    sys: async () => {
      loads.push(1);
      return sys;
    },
    calls,
    loads,
  };
}

t.test('no root: refused before the machine is read and before the ffi package is loaded', async (t) => {
  const rec = recordingSyscall(0);
  const dir = join(tmp, 'state-noroot');
  const o = await hostLoad({
    file: probe,
    cwd: tmp,
    crash: true,
    dryRun: false,
    stateDir: dir,
    machine: machine(withCrash),
    seams: { euid: () => 1000, syscall: rec.sys },
  });
  t.equal(o.error?.code, HostCode.NotRoot);
  t.equal(o.plan, undefined, 'nothing planned');
  t.same(rec.loads, [], 'the syscall loader was never asked for');
  t.equal(o.called, false);
  t.equal(lastHostLoad(loadHostJournal(dir)), undefined, 'the refusal is journaled, with no load');
  t.equal(loadHostJournal(dir).events[0]?.result.code, HostCode.NotRoot);
});

t.test('--dry-run plans inside the crash reservation and loads nothing', async (t) => {
  const rec = recordingSyscall(0);
  const o = await hostLoad({
    file: probe,
    cwd: tmp,
    crash: true,
    dryRun: true,
    stateDir: join(tmp, 'state-dry'),
    machine: machine(withCrash),
    seams: { euid: () => 1000, syscall: rec.sys },
  });
  t.equal(o.error, undefined);
  t.same(rec.loads, [], 'no package loaded');
  t.equal(o.plan?.region.start, CRASH.start, 'placed at the "Crash kernel" start');
  for (const s of o.plan?.request.segments ?? [])
    t.ok(s.mem >= CRASH.start && s.mem + s.memsz <= CRASH.start + CRASH.size, 'inside the reservation');
  t.same(o.plan?.notes, [], 'no note: the reservation holds it');
});

t.test('a real call: the array syscall(2) gets is the plan, in the ABI layout', async (t) => {
  const rec = recordingSyscall(0);
  const o = await hostLoad({
    file: probe,
    cwd: tmp,
    crash: true,
    dryRun: false,
    stateDir: join(tmp, 'state-real'),
    machine: machine(withCrash),
    seams: { euid: () => 0, syscall: rec.sys },
  });
  t.equal(o.error, undefined);
  t.equal(rec.calls.length, 1);
  const call = rec.calls[0];
  const plan = o.plan;
  if (call === undefined || plan === undefined || call.segments === null) {
    t.fail('no call');
    return;
  }
  t.equal(call.nr, 246, 'x86_64 kexec_load');
  t.equal(call.entry, plan.request.entry);
  t.equal(call.flags, LINUX_KEXEC.ON_CRASH | LINUX_KEXEC.ARCH_X86_64);
  t.equal(call.nseg, plan.request.segments.length);
  const decoded = decodeKexecSegments('linux', call.segments, call.nseg);
  t.same(
    decoded,
    plan.request.segments.map((s, i) => ({ buf: o.bufs?.[i], bufsz: s.bufsz, mem: s.mem, memsz: s.memsz })),
  );
  const ev = lastHostLoad(loadHostJournal(join(tmp, 'state-real')));
  t.same(
    ev?.load?.segments.map((s) => s.buf),
    o.bufs?.map((b) => `0x${b.toString(16)}`),
    'the buffers passed are journaled',
  );
  t.equal(ev?.syscall, 246);
});

t.test('every errno has its code; EADDRNOTAVAIL says how large crashkernel= must be', async (t) => {
  const facts = { abi: 'linux' as const, syscall: 246, crash: true, unload: false, segments: 2, flags: 0x3e0001n };
  for (const [name, n] of Object.entries(ERRNO.linux)) t.equal(kexecErrnoError(n, facts).code, `HOST_${name}`, name);
  for (const [name, n] of Object.entries(ERRNO.freebsd))
    t.equal(kexecErrnoError(n, { ...facts, abi: 'freebsd' }).code, `HOST_${name}`, `FreeBSD ${name}`);
  t.equal(kexecErrnoError(ENOSYS.linux, facts).code, HostCode.ENOSYS);
  t.equal(kexecErrnoError(ENOSYS.freebsd, { ...facts, abi: 'freebsd' }).code, HostCode.ENOSYS);
  t.equal(kexecErrnoError(95, facts).code, HostCode.Errno, 'EOPNOTSUPP: the generic code');
  const e = kexecErrnoError(99, { ...facts, needed: 0x8204000n });
  t.equal(e.details['crashkernel'], 'crashkernel=131M');
  t.equal(crashkernelArg(0x800_0000n), 'crashkernel=128M', 'whole MiB stay');
  t.equal(crashkernelArg(0x800_0001n), 'crashkernel=129M', 'rounded up');
  t.same(kexecFlagNames('linux', 0x3e0001n), ['KEXEC_ARCH_X86_64', 'KEXEC_ON_CRASH']);
  t.same(kexecFlagNames('linux', 0xb70000n), ['KEXEC_ARCH_AARCH64']);
  t.equal(unloadFlags('linux', true), LINUX_KEXEC.ON_CRASH);
  t.equal(unloadFlags('freebsd', false), 0n);
});

t.test('the kernel refuses: the errno comes back as its code and is journaled', async (t) => {
  const rec = recordingSyscall(99);
  const dir = join(tmp, 'state-eaddr');
  const o = await hostLoad({
    file: probe,
    cwd: tmp,
    crash: true,
    dryRun: false,
    stateDir: dir,
    machine: machine(noCrash),
    seams: { euid: () => 0, syscall: rec.sys },
  });
  t.equal(o.error?.code, HostCode.EADDRNOTAVAIL);
  t.equal(o.plan?.notes.length, 1, 'a note: no crashkernel= reservation');
  t.equal(loadHostJournal(dir).events[0]?.result.errno, 99);
});

t.test('FreeBSD has no crash images; a real call follows the running OS ABI', async (t) => {
  const rec = recordingSyscall(0);
  const base = { file: probe, cwd: tmp, stateDir: join(tmp, 'state-fb'), machine: machine(noCrash) };
  const seams = { euid: () => 0, syscall: rec.sys };
  const crash = await hostLoad({ ...base, crash: true, dryRun: true, abi: 'freebsd', seams });
  t.equal(crash.error?.code, HostCode.FreeBsdCrash);
  const other = await hostLoad({ ...base, crash: false, dryRun: false, abi: 'freebsd', seams });
  t.equal(other.error?.code, HostCode.Unsupported, 'the freebsd ABI on Linux: only as a dry run');
  t.same(rec.calls, []);
  const dry = await hostLoad({ ...base, crash: false, dryRun: true, abi: 'freebsd', seams });
  t.equal(dry.error, undefined);
  t.equal(dry.plan?.request.flags, 0n, 'FreeBSD flags are reserved: 0');
  t.equal(dry.plan?.syscall, 599);
});

t.test('host events: bounded, validated, the last load; replays check every digest', async (t) => {
  const dir = join(tmp, 'state-events');
  const ev: HostEvent = { time: 'now', command: 'status', os: 'linux', arch: 'amd64', result: { ok: true } };
  for (let i = 0; i < HOST_EVENTS_MAX + 3; i++) await appendHostEvent(dir, ev);
  t.equal(loadHostJournal(dir).events.length, HOST_EVENTS_MAX, 'the oldest go');
  throwsCode(t, () => replayLastHostLoad(dir, readHostMachine(machine(noCrash)).profile), HostCode.NoHostLoad);
  await hostLoad({ file: probe, cwd: tmp, crash: true, dryRun: true, stateDir: dir, machine: machine(noCrash) });
  const profile = readHostMachine(machine(noCrash)).profile;
  const r = replayLastHostLoad(dir, profile);
  t.equal(r.crash, true);
  t.equal(r.planned.request.segments.length, lastHostLoad(loadHostJournal(dir))?.load?.segments.length);
  const file = join(dir, HOST_JOURNAL_FILE);
  const j = JSON.parse(readFileSync(file, 'utf8')) as { events: { load?: { segments: { sha256: string }[] } }[] };
  const seg = j.events[j.events.length - 1]?.load?.segments[0];
  if (seg !== undefined) seg.sha256 = '0'.repeat(64);
  writeFileSync(file, JSON.stringify(j));
  throwsCode(t, () => replayLastHostLoad(dir, profile), HostCode.SegmentsDiffer, 'a segment that differs');
  writeFileSync(file, JSON.stringify({ version: 1, events: [{ time: 1 }] }));
  throwsCode(t, () => loadHostJournal(dir), 'CONFIG_SCHEMA');
  await rejectsCode(t, () => appendHostEvent(dir, ev), 'CONFIG_SCHEMA', 'an invalid file is not overwritten');
});

t.test('a changed kernel makes the replay stale', async (t) => {
  const dir = join(tmp, 'state-stale');
  const k = join(tmp, 'probe2.elf');
  writeFileSync(k, buildProbeKernel('amd64', { mode: 'rescue' }));
  await hostLoad({ file: k, cwd: tmp, crash: true, dryRun: true, stateDir: dir, machine: machine(noCrash) });
  writeFileSync(k, buildProbeKernel('amd64', { mode: 'kexec' }));
  throwsCode(t, () => replayLastHostLoad(dir, readHostMachine(machine(noCrash)).profile), 'CONFIG_STALE');
});

t.test(
  'unload --host: root first, then kexec_load(0, 0, NULL, KEXEC_ON_CRASH)',
  { skip: process.platform !== 'linux' },
  async (t) => {
    const rec = recordingSyscall(0);
    const dir = join(tmp, 'state-unload');
    const refused = await hostUnload({ crash: true, stateDir: dir, seams: { euid: () => 65534, syscall: rec.sys } });
    t.equal(refused.error?.code, HostCode.NotRoot);
    t.same(rec.loads, [], 'the syscall loader was never asked for');
    const ok = await hostUnload({ crash: true, stateDir: dir, seams: { euid: () => 0, syscall: rec.sys } });
    t.equal(ok.error, undefined);
    t.same(
      rec.calls.map((c) => ({ entry: c.entry, nseg: c.nseg, segments: c.segments, flags: c.flags })),
      [{ entry: 0n, nseg: 0, segments: null, flags: LINUX_KEXEC.ON_CRASH }],
    );
    t.same(
      loadHostJournal(dir).events.map((e) => e.result.ok),
      [false, true],
      'both journaled',
    );
  },
);

t.test('sysprobe: /sys/kernel/kexec_* and the reservation', async (t) => {
  const s = readKexecSysState(withCrash);
  t.equal(s.crashLoaded, true);
  t.equal(s.loaded, false);
  t.equal(s.crashSize, CRASH.size);
  t.same(s.crashKernel, CRASH);
  t.equal(s.loadDisabled, '0');
  t.same(crashReservation({ ...s, crashSize: 0x800_0000n }), { start: CRASH.start, size: 0x800_0000n }, 'shrunk');
  t.same(crashReservation({ ...s, crashSize: 0n }), CRASH, 'a size of 0 does not shrink it');
  const none = readKexecSysState(join(tmp, 'empty-root'));
  t.same(none.present, [], 'a kernel without kexec: nothing, no error');
  t.equal(none.crashLoaded, undefined);
});
