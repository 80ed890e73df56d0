// FreeBSD full (ELF) dumps written by dump/elfdump.ts, checked with decoders we did not write:
//  - GNU `readelf -h -l -W` shows ET_CORE, OS/ABI 0xff (standalone), the machine, and one
//    PT_LOAD per physical range with VirtAddr = PhysAddr = the range and the data offsets
//    dumpsys_generic() uses (sys/kern/kern_dump.c);
//  - `gdb-multiarch` opens the dump with no executable (`core-file`) and `x/4gx PA` at
//    physical addresses in the host's kernel image and page tables prints the bytes guest
//    RAM holds there.
// The host is machine/host/model.ts's on amd64-efi and arm64-fdt (installed on a Machine);
// the dump covers dump_avail clipped to the kernel image's end, to keep the file small.
// Each part skips only when its tool (or the native addon) is missing.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PhysAddr } from '../../loader/addr.js';
import { loadProfile } from '../../loader/plan/profile.js';
import { Machine } from '../../machine/machine.js';
import { nativeAvailable } from '../../native/binding.js';
import { buildHostModel, installHost } from '../../machine/host/model.js';
import { planElfDump } from '../../dump/elfdump.js';
import { writeDumpFile } from '../../dump/file.js';
import { guestMemoryReader } from '../../dump/source.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { HostSession } from '../../machine/session.js';
import { crashDump } from '../../rescue/crash-dump.js';
import { requireTool } from '../helpers/tools.js';
import { probeObserver } from '../../rescue/probe-observer.js';

const native = nativeAvailable() ? {} : { skip: 'the native addon is not built' };
const hex = (v: bigint): string => `0x${v.toString(16)}`;

for (const name of ['amd64-efi', 'arm64-fdt']) {
  t.test(`ELF dump of the ${name} host in readelf and gdb-multiarch`, native, (t) => {
    const profile = loadProfile(name);
    const model = buildHostModel(profile, { seed: 11, allocatedPages: 64 });
    const m = Machine.create(profile);
    const dir = mkdtempSync(join(tmpdir(), 'kboot-elfdump-'));
    t.teardown(() => {
      m.close();
      rmSync(dir, { recursive: true, force: true });
    });
    installHost(m, model);
    const km = model.tables.kernbaseMap;
    const limit = ((km.pa as bigint) + (model.kernel.image.size as bigint) + 0xfffn) & ~0xfffn;
    // dump_avail clipped to the kernel image's end, plus the page-table root's page when it lies above
    const root = model.tables.root as bigint;
    const ranges: (readonly [bigint, bigint])[] = model.dumpAvail.pairs
      .map(([s, e]) => [s, e < limit ? e : limit] as const)
      .filter(([s, e]) => e > s);
    if (root >= limit) ranges.push([root & ~0xfffn, (root & ~0xfffn) + 0x1000n]);
    const plan = planElfDump({ arch: model.arch, ranges, readPhys: guestMemoryReader(m.ram) });
    const file = join(dir, 'vmcore.0');
    t.equal(writeDumpFile(file, plan.chunks()), plan.size);

    t.test('readelf', requireTool('readelf'), (t) => {
      const r = spawnSync('readelf', ['-h', '-l', '-W', file], { encoding: 'utf8' });
      t.equal(r.status, 0, r.stderr);
      t.match(r.stdout, /Type:\s+CORE \(Core file\)/);
      t.match(r.stdout, /OS\/ABI:\s+<unknown: ff>/, 'ELFOSABI_STANDALONE');
      t.match(r.stdout, model.arch === 'amd64' ? /Machine:\s+Advanced Micro Devices X86-64/ : /Machine:\s+AArch64/);
      t.equal(r.stderr, '', 'readelf has no warning');
      const loads = [
        ...r.stdout.matchAll(/^\s+LOAD\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)\s+R\s+0x1000$/gm),
      ];
      t.equal(loads.length, ranges.length, 'one PT_LOAD per range');
      loads.forEach((l, i) => {
        const seg = plan.segments[i];
        const [off, va, pa, fsz, msz] = l.slice(1, 6).map((x) => BigInt(x ?? 'x'));
        t.same([off, va, pa, fsz, msz], [seg?.offset, seg?.pa, seg?.pa, seg?.size, seg?.size], `PT_LOAD ${i}`);
      });
      t.end();
    });

    t.test('gdb-multiarch', requireTool('gdb-multiarch'), (t) => {
      const probes = [km.pa as bigint, (km.pa as bigint) + 0x1238n, root];
      const args = ['-nx', '-batch', '-ex', `core-file ${file}`];
      for (const pa of probes) args.push('-ex', `x/4gx ${hex(pa)}`);
      const r = spawnSync('gdb-multiarch', args, { encoding: 'utf8' });
      t.equal(r.status, 0, r.stderr);
      for (const pa of probes) {
        const b = m.ram.read(pa as PhysAddr, 32);
        const dv = new DataView(b.buffer, b.byteOffset, 32);
        const words = [0, 8, 16, 24].map((o) => `0x${dv.getBigUint64(o, true).toString(16).padStart(16, '0')}`);
        const line = new RegExp(`^${hex(pa)}:\\s+${words[0]}\\s+${words[1]}$`, 'm');
        t.match(r.stdout, line, `gdb x/4gx ${hex(pa)} shows guest RAM (first line)`);
        t.match(r.stdout, new RegExp(`^${hex(pa + 16n)}:\\s+${words[2]}\\s+${words[3]}$`, 'm'), 'second line');
      }
      t.end();
    });
    t.end();
  });
}

// The whole path: panic, hand-off, the rescue dumper's full ELF dump saved savecore-style
// (sparse: zero pages are holes), then gdb-multiarch on vmcore.0 with no executable.
t.test('kboot panic --format elf: vmcore.0 in readelf and gdb-multiarch', native, (t) => {
  const profile = loadProfile('arm64-fdt');
  const rescue = buildProbeKernel('arm64', {
    mode: 'rescue',
    uartBase: profile.uart.kind === 'pl011' ? profile.uart.base : 0n,
  });
  const s = HostSession.boot({ profile, strategy: 'kld', rescue });
  const dir = mkdtempSync(join(tmpdir(), 'kboot-elfpanic-'));
  t.teardown(() => {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  s.advanceTo('running');
  t.ok(s.panic({ observer: probeObserver }).rescued);
  const out = crashDump(s, { dir, format: 'elf' });
  t.equal(out.save?.status, 'good');
  const file = join(dir, 'vmcore.0');
  const st = statSync(file);
  t.ok(st.blocks * 512 < st.size / 8, `sparse: ${st.blocks * 512} bytes on disk for ${st.size}`);
  const probes = [
    ...s.model.allocated.slice(0, 3).map((p) => (p as bigint) + 0x40n),
    s.model.kernel.image.start as bigint,
  ];
  t.test('readelf', requireTool('readelf'), (t) => {
    const r = spawnSync('readelf', ['-l', '-W', file], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    const loads = [...r.stdout.matchAll(/^\s+LOAD\s+\S+\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)/gm)];
    t.same(
      loads.map((l) => [BigInt(l[2] ?? 'x'), BigInt(l[2] ?? 'x') + BigInt(l[3] ?? 'x')]),
      s.model.dumpAvail.pairs.map(([a, b]) => [a, b]),
      'one PT_LOAD per dump_avail range',
    );
    t.end();
  });
  t.test('gdb-multiarch', requireTool('gdb-multiarch'), (t) => {
    const args = ['-nx', '-batch', '-ex', `core-file ${file}`];
    for (const pa of probes) args.push('-ex', `x/4gx ${hex(pa)}`);
    const r = spawnSync('gdb-multiarch', args, { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    for (const pa of probes) {
      const b = s.machine.ram.read(pa as PhysAddr, 16);
      const dv = new DataView(b.buffer, b.byteOffset, 16);
      const words = [0, 8].map((o) => `0x${dv.getBigUint64(o, true).toString(16).padStart(16, '0')}`);
      t.match(r.stdout, new RegExp(`^${hex(pa)}:\\s+${words[0]}\\s+${words[1]}$`, 'm'), `x/4gx ${hex(pa)}`);
    }
    t.end();
  });
  t.end();
});
