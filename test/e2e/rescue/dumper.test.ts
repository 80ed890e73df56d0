// The rescue side's /dev/dumper (rescue/dumper.ts) on a host model in a native machine: it
// takes its params from the reservation in guest RAM (and only from there), refuses empty
// params, streams exactly planMinidump's bytes, ends a second panic once, and names the pages
// a bus master changed while it streamed.
import t from 'tap';
import { createHash } from 'node:crypto';
import { phys, type PhysAddr } from '../../../loader/addr.js';
import { encodeRescueParams, rescueDumpFields } from '../../../loader/handoff/params.js';
import { loadProfile } from '../../../loader/plan/profile.js';
import { planMinidump } from '../../../dump/minidump.js';
import { guestMemoryReader } from '../../../dump/source.js';
import { DumpCode } from '../../../dump/errors.js';
import { busMaster } from '../../../machine/devices/dma.js';
import { buildHostModel, dumpParams, installHost } from '../../../machine/host/model.js';
import { Machine } from '../../../machine/machine.js';
import { nativeAvailable } from '../../../native/binding.js';
import { openRescueDumper } from '../../../rescue/dumper.js';
import { throwsCode } from '../../helpers/errors.js';

const skip = nativeAvailable() ? {} : { skip: 'the native addon is not built' };
const sha = (chunks: Iterable<Uint8Array>): string => {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};

t.test('amd64: params from the reservation; the stream is the minidump; faults', skip, (t) => {
  const profile = loadProfile('amd64-efi');
  const model = buildHostModel(profile, { seed: 5, allocatedPages: 300 });
  const m = Machine.create(profile);
  t.teardown(() => m.close());
  installHost(m, model);
  const resv: PhysAddr = phys(0x1_4000_0000n); // some free RAM standing in for the reservation
  throwsCode(t, () => openRescueDumper(m.ram, 'amd64', resv), DumpCode.BadParams, 'empty params: no dumper');
  m.ram.write(resv, encodeRescueParams('amd64', rescueDumpFields('amd64', dumpParams(model))));
  const d = openRescueDumper(m.ram, 'amd64', resv);
  const direct = planMinidump({ arch: 'amd64', params: dumpParams(model), readPhys: guestMemoryReader(m.ram) });
  t.equal(d.size, direct.size);
  t.equal(sha(d.chunks()), sha(direct.chunks()), 'byte for byte the minidump of the params');
  t.equal(d.report().watchedPages, d.pages);
  throwsCode(t, () => [...d.chunks()], DumpCode.BadValue, 'the stream is read once per panic');

  // Other params in the reservation: another dump (here, a msgbuf size of one page).
  m.ram.write(
    resv,
    encodeRescueParams('amd64', rescueDumpFields('amd64', { ...dumpParams(model), dpMsgbufsz: 0x1000n })),
  );
  t.equal(openRescueDumper(m.ram, 'amd64', resv).minidump?.msgbufsize, 0x1000, 'the dumper follows the params in RAM');
  m.ram.write(resv, encodeRescueParams('amd64', rescueDumpFields('amd64', dumpParams(model))));

  // A second panic: the stream ends once with DUMP_RESCUE_PANIC naming the offset.
  const half = openRescueDumper(m.ram, 'amd64', resv, { panicAfterBytes: 0x10000n });
  let got = 0;
  throwsCode(
    t,
    () => {
      for (const c of half.chunks()) got += c.length;
    },
    DumpCode.RescuePanic,
  );
  t.ok(got >= 0x10000 && got < 0x10000 + (1 << 20), `stopped right after 64 KiB (${got})`);

  // A bus master writing dumped pages while the dump runs: those pages are named, no others.
  const targets = model.allocated.slice(10, 14).map((p) => p as bigint);
  const dma = busMaster(m.ram, { name: 'nic', targets, period: 1 });
  const w = openRescueDumper(m.ram, 'amd64', resv, { devices: [dma] });
  for (const c of w.chunks()) void c;
  const r = w.report();
  t.same(
    r.changed.map((c) => c.pa),
    [...targets].sort((a, b) => (a < b ? -1 : 1)),
    'exactly the pages the device wrote',
  );
  t.ok(r.changed.every((c) => c.when === 'before-read' || c.when === 'after-read'));
  t.same(r.devices[0]?.pages.length, 4);

  // A params record pointing outside RAM: the rescue path panics, it is not a kboot bug.
  m.ram.write(
    resv,
    encodeRescueParams('amd64', rescueDumpFields('amd64', { ...dumpParams(model), rootPa: 0xfff_f000_0000n })),
  );
  const bad = openRescueDumper(m.ram, 'amd64', resv);
  throwsCode(t, () => [...bad.chunks()], DumpCode.RescuePanic, 'a page-table root outside RAM');
  t.end();
});

t.test('ELF format: ranges of dump_avail, zero runs as known zeros', skip, (t) => {
  const profile = loadProfile('arm64-fdt');
  const model = buildHostModel(profile, { seed: 5, allocatedPages: 64 });
  const m = Machine.create(profile);
  t.teardown(() => m.close());
  installHost(m, model);
  const resv = phys(0x1_4000_0000n);
  m.ram.write(resv, encodeRescueParams('arm64', rescueDumpFields('arm64', dumpParams(model))));
  const d = openRescueDumper(m.ram, 'arm64', resv, { format: 'elf', watch: false });
  t.same(d.ranges, model.dumpAvail.pairs);
  let bytes = 0n;
  let firstData: Uint8Array | undefined;
  for (const c of d.chunks()) {
    if (bytes === 0x1000n && firstData === undefined) firstData = c;
    bytes += BigInt(c.length);
  }
  t.equal(bytes, d.size);
  t.end();
});

t.test(
  'ELF: a page a device writes after its 1 MiB step began, before its piece went out, is before-read',
  skip,
  (t) => {
    const profile = loadProfile('arm64-fdt');
    const model = buildHostModel(profile, { seed: 5, allocatedPages: 64 });
    const m = Machine.create(profile);
    t.teardown(() => m.close());
    installHost(m, model);
    const resv = phys(0x1_4000_0000n);
    m.ram.write(resv, encodeRescueParams('arm64', rescueDumpFields('arm64', dumpParams(model))));
    // A dry run gives the chunk boundaries; pick an allocated page that is not the first piece of its step.
    const dry = openRescueDumper(m.ram, 'arm64', resv, { format: 'elf', watch: false });
    const bounds: bigint[] = [];
    let off = 0n;
    for (const c of dry.chunks()) {
      bounds.push(off);
      off += BigInt(c.length);
    }
    const dataOff = bounds[1] ?? 0n;
    const fileOff = (pa: bigint): bigint => {
      let o = dataOff;
      for (const [s, e] of dry.ranges ?? []) {
        if (pa >= s && pa < e) return o + (pa - s);
        o += e - s;
      }
      return -1n;
    };
    let chosen: { pa: bigint; fo: bigint; first: number } | undefined;
    for (const pa of model.allocated) {
      const fo = fileOff(pa);
      const first = bounds.indexOf(fo - ((fo - dataOff) % (1n << 20n)));
      const own = bounds.findIndex((b, i) => b <= fo && (i + 1 === bounds.length || (bounds[i + 1] ?? 0n) > fo));
      if (first >= 0 && own > first) {
        chosen = { pa, fo, first };
        break;
      }
    }
    if (chosen === undefined) throw new Error('no page to choose');
    const c = chosen;
    let ticks = 0;
    const written: bigint[] = [];
    const device = {
      name: 'late writer',
      written,
      tick(): bigint[] {
        if (++ticks !== c.first + 1) return [];
        m.ram.write(phys(c.pa), new Uint8Array(64).fill(0xab));
        written.push(c.pa);
        return [c.pa];
      },
    };
    const d = openRescueDumper(m.ram, 'arm64', resv, { format: 'elf', devices: [device] });
    let pos = 0n;
    let dumped: number | undefined;
    for (const chunk of d.chunks()) {
      if (c.fo >= pos && c.fo < pos + BigInt(chunk.length)) dumped = chunk[Number(c.fo - pos)];
      pos += BigInt(chunk.length);
    }
    t.equal(dumped, 0xab, 'the dump holds the new value');
    t.same(d.report().changed, [{ pa: c.pa, when: 'before-read' }], 'and the report says so');
    t.end();
  },
);
