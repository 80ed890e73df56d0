// A 4 TiB host (issue 13): a profile copied from amd64-efi with RAM up to 4 TiB, booted by
// `kboot boot --strategy kld` and panicked by `kboot panic --dump-dir` (real processes, bounded
// in time and memory), writes a vmcore that the dump reader (`kboot dump read`'s code, and the
// command itself for 20 of them) answers for 1,000 random dumped kernel VAs (DMAP and KERNBASE)
// with the bytes the host had, as test/e2e/crash-dump.test.ts does at 8 GiB. The host's bytes
// come from the same host replayed in this process (the model is deterministic for its seed).
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { phys } from '../../loader/addr.js';
import { packagePath } from '../../loader/paths.js';
import { parseProfile } from '../../loader/plan/profile.js';
import { SeededRandom } from '../../loader/bytes/prng.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { openDumpFile } from '../../dump/file.js';
import { openDump } from '../../dump/open.js';
import { memoryIo } from '../../cli/io.js';
import { runCli } from '../../cli/run.js';
import { dumpParams } from '../../machine/host/model.js';
import { HostSession } from '../../machine/session.js';
import { nativeAvailable } from '../../native/binding.js';
import { runBounded } from '../helpers/spawn-kboot.js';

const skip = nativeAvailable() ? false : 'the native addon is not built';
const TiB4 = 4n << 40n;

t.test('4 TiB host: boot --strategy kld, panic --dump-dir, 1,000 dumped KVAs read back', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-4tib-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const base = JSON.parse(readFileSync(packagePath('profiles', 'amd64-efi.json'), 'utf8')) as {
    name: string;
    description: string;
    ram: { base: string; size: string }[];
  };
  base.name = 'amd64-4tib';
  // RAM up to PA 4 TiB: the end of FreeBSD amd64's direct map (vmparam.h DMAP_MAX_ADDRESS,
  // NDMPML4E 512 GiB slots), through which the dump is read.
  base.description = 'amd64-efi with RAM up to 4 TiB (2 GiB below the PCI hole, the rest from 4 GiB)';
  const high = base.ram[2];
  if (high === undefined) throw new Error('amd64-efi lost its RAM above 4 GiB');
  high.size = `0x${(TiB4 - (4n << 30n)).toString(16)}`;
  writeFileSync(join(dir, 'server.json'), JSON.stringify(base));
  const rescue = buildProbeKernel('amd64', { mode: 'rescue' });
  writeFileSync(join(dir, 'probe.elf'), rescue);
  mkdirSync(join(dir, 'crash'));

  const bounds = { cwd: dir, timeoutMs: 240_000, killAboveKiB: 1536 * 1024 };
  const boot = await runBounded(
    ['boot', '--machine', 'server.json', '--strategy', 'kld', '--rescue', 'probe.elf', '--state', 'st'],
    bounds,
  );
  t.same([boot.code, boot.signal, boot.killed], [0, null, undefined], `kboot boot: ${boot.stderr}`);
  const panic = await runBounded(['--json', 'panic', '--dump-dir', 'crash', '--no-progress', '--state', 'st'], bounds);
  t.same([panic.code, panic.signal, panic.killed], [0, null, undefined], `kboot panic: ${panic.stderr}`);
  const out = JSON.parse(panic.stdout) as { rescued: boolean; dump?: { status: string } };
  t.equal(out.rescued, true, 'rescued');
  t.equal(out.dump?.status, 'good', 'a good vmcore');
  t.ok((boot.maxRssKiB ?? 0) < 1536 * 1024 && (panic.maxRssKiB ?? 0) < 1536 * 1024, 'each process stayed small');

  // The same host, replayed here: what it had at the panic.
  const profile = parseProfile(JSON.stringify(base), 'server.json');
  const top = profile.ram.reduce((e, r) => (r.start + r.size > e ? r.start + r.size : e), 0n);
  t.equal(top, TiB4, 'RAM up to 4 TiB');
  const s = HostSession.boot({ profile, strategy: 'kld', rescue, rescueName: 'probe.elf' });
  t.teardown(() => s.close());
  s.advanceTo('running');
  const m = s.model;
  const d = dumpParams(m);
  const rnd = new SeededRandom(4n, 4n);
  const samples: { kva: bigint; pa: bigint; bytes: Uint8Array }[] = [];
  for (let i = 0; i < 1000; i++) {
    const len = 1 + Number(rnd.below(256n));
    if (i % 5 === 0) {
      const pa = m.kernel.image.start + (rnd.below(m.kernel.image.size - 0x1000n) & ~7n);
      samples.push({
        kva: m.tables.kernbaseMap.va + (pa - m.tables.kernbaseMap.pa),
        pa,
        bytes: s.machine.ram.read(phys(pa), len),
      });
    } else {
      const pa = (m.allocated[Number(rnd.below(BigInt(m.allocated.length)))] ?? 0n) + rnd.below(0x1000n - BigInt(len));
      samples.push({ kva: d.dpDmapmin + pa, pa, bytes: s.machine.ram.read(phys(pa), len) });
    }
  }
  t.ok(
    samples.some((x) => x.pa > 1n << 40n),
    'some samples lie above 1 TiB',
  );
  const f = openDumpFile(join(dir, 'crash', 'vmcore.0'));
  t.teardown(() => f.close());
  const md = openDump(f);
  let good = 0;
  for (const x of samples) {
    if (Buffer.from(md.readKva(x.kva, x.bytes.length)).equals(Buffer.from(x.bytes)) && md.kvaToPa(x.kva) === x.pa)
      good++;
  }
  t.equal(good, 1000, 'every sampled KVA reads the bytes the host had at the panic');
  let cli = 0;
  for (const x of samples.slice(0, 20)) {
    const io = memoryIo(join(dir, 'crash'));
    const code = await runCli(
      ['--json', 'dump', 'read', 'vmcore.0', '--kva', `0x${x.kva.toString(16)}`, '--len', String(x.bytes.length)],
      io,
    );
    const r = JSON.parse(io.stdout()) as { hex: string };
    if (code === 0 && r.hex === Buffer.from(x.bytes).toString('hex')) cli++;
  }
  t.equal(cli, 20, 'kboot dump read agrees');
});
