// Panic, hand off, dump: for each arch and strategy the rescue side's /dev/dumper stream saved
// savecore-style reads back (dump/reader.ts, libkvm's algorithm) with, for 1,000 random kernel
// virtual addresses of dumped pages (DMAP and KERNBASE), exactly the bytes the host had at the
// panic; the host's memory outside the reservation is unchanged by the dump (page digests of all
// RAM, and SHA-256 by node:crypto of the sampled pages). Faults: DMA and ITS writers, a second
// panic, a full target.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { phys, size } from '../../loader/addr.js';
import { loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { openDumpFile } from '../../dump/file.js';
import { openDump } from '../../dump/open.js';
import { memoryIo } from '../../cli/io.js';
import { runCli } from '../../cli/run.js';
import { DumpCode } from '../../dump/errors.js';
import { nativeAvailable } from '../../native/binding.js';
import { HostSession } from '../../machine/session.js';
import { STRATEGY_IDS, type StrategyId } from '../../loader/strategy.js';
import { probeObserver } from '../../rescue/probe-observer.js';
import { crashDump } from '../../rescue/crash-dump.js';
import { SeededRandom } from '../../loader/bytes/prng.js';
import { dumpParams } from '../../machine/host/model.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const rescueFor = (p: MachineProfile): Uint8Array =>
  buildProbeKernel(p.arch, { mode: 'rescue', ...(p.uart.kind === 'pl011' ? { uartBase: p.uart.base } : {}) });

function panicked(profile: MachineProfile, strategy: StrategyId, rescue: Uint8Array): HostSession {
  const s = HostSession.boot({ profile, strategy, rescue });
  s.advanceTo('running');
  if (strategy === 'kexec') {
    const out = s.loadCrash(rescue);
    if (!out.ok) throw out.error;
  }
  const p = s.panic({ observer: probeObserver });
  if (!p.rescued) throw new Error(`${strategy}: not rescued`);
  return s;
}

/** Page digests of all RAM outside the rescue reservation (what the dump must not change). */
function hostDigest(s: HostSession): string {
  const h = createHash('sha256');
  const r = s.expected.region;
  for (const reg of s.machine.ram.regions) {
    const pieces: [bigint, bigint][] = [];
    const end = reg.base + reg.size;
    if (r.start >= end || r.start + r.size <= reg.base) pieces.push([reg.base, end]);
    else {
      if (r.start > reg.base) pieces.push([reg.base, r.start]);
      if (r.start + r.size < end) pieces.push([r.start + r.size, end]);
    }
    for (const [a, b] of pieces) h.update(s.machine.ram.pageDigests(phys(a), size(b - a)));
  }
  return h.digest('hex');
}

const tmp = mkdtempSync(join(tmpdir(), 'kboot-crash-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

for (const name of ['amd64-efi', 'arm64-fdt']) {
  const profile = loadProfile(name);
  const rescue = rescueFor(profile);
  for (const strategy of STRATEGY_IDS) {
    t.test(`${name} ${strategy}: panic, dump, read back 1,000 kernel VAs`, { skip }, async (t) => {
      const s = panicked(profile, strategy, rescue);
      t.teardown(() => s.close());
      const dir = mkdtempSync(join(tmp, `${name}-${strategy}-`));
      const before = hostDigest(s);
      // Sample 1,000 dumped pages' bytes at the panic, before the dump runs.
      const m = s.model;
      const dumped = m.allocated;
      const rnd = new SeededRandom(42n, BigInt(STRATEGY_IDS.indexOf(strategy)));
      const samples: { kva: bigint; pa: bigint; bytes: Uint8Array }[] = [];
      const d = dumpParams(m);
      const dmapVa = (pa: bigint): bigint => d.dpDmapmin + (pa - (d.dpDmapbasepa ?? 0n));
      for (let i = 0; i < 1000; i++) {
        const useKernbase = i % 5 === 0;
        const len = 1 + Number(rnd.below(256n));
        if (useKernbase) {
          const off = rnd.below(m.kernel.image.size - 0x1000n) & ~7n;
          const pa = m.kernel.image.start + off;
          samples.push({
            kva: m.tables.kernbaseMap.va + (pa - m.tables.kernbaseMap.pa),
            pa,
            bytes: s.machine.ram.read(phys(pa), len),
          });
        } else {
          const pa = (dumped[Number(rnd.below(BigInt(dumped.length)))] ?? 0n) + rnd.below(0x1000n - BigInt(len));
          samples.push({ kva: dmapVa(pa), pa, bytes: s.machine.ram.read(phys(pa), len) });
        }
      }
      const out = crashDump(s, { dir, dumptime: 1_800_000_000n });
      t.equal(out.save?.status, 'good');
      t.equal(out.save?.vmcore, join(dir, 'vmcore.0'));
      t.equal(hostDigest(s), before, 'the dump changed no host memory');
      t.same(out.watch.changed, [], 'no page changed while dumping');
      t.equal(statSync(join(dir, 'vmcore.0')).mode & 0o777, 0o600, 'vmcore.0 is 0600');
      t.equal(readFileSync(join(dir, 'bounds'), 'utf8'), '1\n');
      const f = openDumpFile(join(dir, 'vmcore.0'));
      t.teardown(() => f.close());
      const md = openDump(f); // what `kboot dump read` opens
      t.equal(md.kind === 'minidump' ? md.reader.pages : -1, out.pages);
      let good = 0;
      for (const x of samples) {
        const got = md.readKva(x.kva, x.bytes.length);
        if (Buffer.from(got).equals(Buffer.from(x.bytes)) && md.kvaToPa(x.kva) === x.pa) good++;
      }
      t.equal(good, 1000, 'every sampled KVA reads the bytes the host had at the panic');
      // and through the command itself, for a few of them
      let cli = 0;
      for (const x of samples.slice(0, 20)) {
        const io = memoryIo(dir);
        const code = await runCli(
          ['--json', 'dump', 'read', 'vmcore.0', '--kva', `0x${x.kva.toString(16)}`, '--len', String(x.bytes.length)],
          io,
        );
        const r = JSON.parse(io.stdout()) as { hex: string };
        if (code === 0 && r.hex === Buffer.from(x.bytes).toString('hex')) cli++;
      }
      t.equal(cli, 20, 'kboot dump read agrees');
    });
  }
}

t.test('info.N, never overwriting, faults', { skip }, (t) => {
  const profile = loadProfile('arm64-fdt');
  const s = panicked(profile, 'kld', rescueFor(profile));
  t.teardown(() => s.close());
  const dir = mkdtempSync(join(tmp, 'faults-'));
  writeFileSync(join(dir, 'vmcore.0'), 'an older dump');
  const first = crashDump(s, { dir, dumptime: 1_800_000_000n, faults: ['dma', 'its'] });
  t.equal(first.save?.n, 1, 'an existing vmcore.0 moves the dump to vmcore.1');
  t.equal(readFileSync(join(dir, 'vmcore.0'), 'utf8'), 'an older dump', 'vmcore.0 untouched');
  const info = readFileSync(join(dir, 'info.1'), 'utf8');
  t.match(info, /^Dump header from device: \/dev\/dumper\n {2}Architecture: aarch64\n {2}Architecture Version: 1\n/);
  t.match(info, /\n {2}Dumptime: Fri Jan 15 08:00:00 2027\n/);
  t.match(info, /\n {2}Bounds: 1\n {2}Dump Status: good\n$/);
  const dma = first.watch.devices.find((d) => d.name.startsWith('dma'));
  t.ok(dma !== undefined && dma.pages.length > 0, 'the DMA engine wrote pages');
  const dmaChanged = first.watch.changed.filter((c) => dma?.pages.includes(c.pa));
  t.ok(dmaChanged.length > 0, 'the report names pages the DMA engine changed while dumping');
  t.ok(
    first.watch.changed.every((c) => first.watch.devices.some((d) => d.pages.includes(c.pa))),
    'only pages a device wrote are reported changed',
  );
  const its = first.watch.devices.find((d) => d.name.startsWith('gicv3-its'));
  t.ok(its !== undefined && its.pages.length > 0, 'the ITS kept writing its tables (not in a minidump)');

  const second = crashDump(s, { dir, dumptime: 1_800_000_000n, faults: ['second-panic'] });
  t.equal(second.save?.status, 'incomplete');
  t.equal(second.save?.error?.code, DumpCode.RescuePanic);
  t.match(readFileSync(join(dir, 'info.2'), 'utf8'), /Dump Status: bad\n {2}Incomplete: .*panicked while dumping/);
  const full = crashDump(s, { dir, dumptime: 1_800_000_000n, faults: ['full-target'] });
  t.equal(full.save?.status, 'incomplete');
  t.equal(full.save?.error?.code, DumpCode.Io);
  t.match(readFileSync(join(dir, 'info.3'), 'utf8'), /Incomplete: .*ENOSPC/);
  t.same(
    readdirSync(dir).filter((n) => n.includes('tmp')),
    [],
    'no temporary files left',
  );
  t.end();
});
