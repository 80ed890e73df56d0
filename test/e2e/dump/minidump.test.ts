// dump/minidump.ts + dump/reader.ts: a rescue minidump of a host built by
// machine/host/model.ts (buildHostModel + installHost on a Machine, read through machine.ram),
// written to a temp file and read back; 1,000 random KVAs of dumped pages (DMAP addresses of
// set bitmap bits, kernel image addresses, kernel_map 4 KiB pages) must return the bytes in
// guest RAM. The file size is checked against libkvm's recipe (freebsd-handoff.md §4.4) and
// the header fields against the struct offsets of sys/{amd64,arm64}/include/minidump.h.
import t from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archInfo } from '../../../loader/arch/index.js';
import type { PhysAddr } from '../../../loader/addr.js';
import { loadProfile } from '../../../loader/plan/profile.js';
import { Machine } from '../../../machine/machine.js';
import { nativeAvailable } from '../../../native/binding.js';
import { buildHostModel, dumpParams, installHost } from '../../../machine/host/model.js';
import { planMinidump } from '../../../dump/minidump.js';
import { openMinidump } from '../../../dump/reader.js';
import { openDumpFile, writeDumpFile } from '../../../dump/file.js';
import { DumpCode } from '../../../dump/errors.js';
import { guestMemoryReader } from '../../../dump/source.js';
import { throwsCode } from '../../helpers/errors.js';

const skip = nativeAvailable() ? {} : { skip: 'the native addon is not built' };

for (const name of ['amd64-efi', 'arm64-fdt']) {
  t.test(`minidump round trip on ${name}`, skip, (t) => {
    const profile = loadProfile(name);
    const model = buildHostModel(profile, { seed: 7, allocatedPages: 256 });
    const m = Machine.create(profile);
    const dir = mkdtempSync(join(tmpdir(), 'kboot-dump-'));
    t.teardown(() => {
      m.close();
      rmSync(dir, { recursive: true, force: true });
    });
    installHost(m, model);
    const params = dumpParams(model);
    const plan = planMinidump({
      arch: model.arch,
      params,
      readPhys: guestMemoryReader(m.ram),
    });
    const path = join(dir, 'vmcore.0');
    const written = writeDumpFile(path, plan.chunks());
    t.equal(written, plan.size, 'size computed up front equals bytes written');
    t.equal(BigInt(statSync(path).size), plan.size);
    t.equal(statSync(path).mode & 0o777, 0o600, 'dump is 0600');
    throwsCode(t, () => writeDumpFile(path, plan.chunks()), DumpCode.Io, 'never overwrites');

    const f = openDumpFile(path);
    t.teardown(() => f.close());
    const d = openMinidump(f);
    const h = d.header;
    t.equal(h.version, 3);
    t.equal(h.kernbase, params.dpKernstart);
    t.equal(h.dmapbase, params.dpDmapmin);
    t.equal(h.dmapend, params.dpDmapmax);
    t.equal(h.bitmapsize % 4096, 0);
    t.equal(h.msgbufsize % 4096, 0, 'rescue dumper rounds msgbufsize');
    if (model.arch === 'arm64') {
      t.equal(h.dmapphys, model.tables.dmap.basePa);
      t.equal(h.flags, 0, 'PS_4K');
    }
    const rp = (x: number): number => Math.ceil(x / 4096) * 4096;
    t.equal(
      f.size,
      4096 + rp(h.msgbufsize) + rp(h.dumpavailsize) + rp(h.bitmapsize) + rp(h.pmapsize) + d.pages * 4096,
      'libkvm size recipe',
    );
    t.same(d.dumpAvail, model.dumpAvail.pairs, 'dump_avail section');
    // raw header bytes at the struct offsets
    const hb = f.read(0, 80);
    const dv = new DataView(hb.buffer, hb.byteOffset, hb.byteLength);
    t.equal(Buffer.from(hb.subarray(0, 22)).toString('latin1'), `minidump FreeBSD/${model.arch}`);
    t.equal(dv.getUint32(24, true), 3);
    t.equal(dv.getUint32(36, true), h.pmapsize);
    t.equal(dv.getBigUint64(40, true), params.dpKernstart);
    t.equal(dv.getUint32(model.arch === 'amd64' ? 64 : 72, true), 4096);

    const dumped = [...d.dumpedPages()];
    t.ok(dumped.length > 100, `${dumped.length} pages dumped`);
    const info = archInfo(model.arch);
    const dmapBase = model.tables.dmap.basePa as bigint;
    const km = model.tables.kernbaseMap;
    let rnd = 12345;
    const next = (n: number): number => {
      rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0;
      return rnd % n;
    };
    let bad = 0;
    for (let i = 0; i < 1000; i++) {
      let va: bigint;
      let pa: bigint;
      const kind = i % 3;
      if (kind === 0) {
        pa = (dumped[next(dumped.length)] ?? 0n) + BigInt(next(4096 - 64));
        va = (info.dmapMin as bigint) + pa - dmapBase;
      } else if (kind === 1) {
        const off = BigInt(next(Number(model.kernel.image.size) - 64));
        va = (km.va as bigint) + off;
        pa = (km.pa as bigint) + off;
      } else {
        const k = next(model.stack.pages.length);
        const off = BigInt(next(4096 - 64));
        va = (model.stack.va as bigint) + BigInt(k) * 4096n + off;
        pa = (model.stack.pages[k] as bigint) + off;
      }
      const len = 1 + next(64);
      if (d.kvaToPa(va) !== pa) bad++;
      const got = d.readKva(va, len);
      const want = m.ram.read(pa as PhysAddr, len);
      if (Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0) bad++;
    }
    t.equal(bad, 0, '1,000 random KVAs read the bytes in guest RAM');
    // cross-page read through the kernel image
    const span = d.readKva(km.va + 4000n, 8192);
    t.same(Buffer.from(span), Buffer.from(m.ram.read((km.pa + 4000n) as PhysAddr, 8192)), 'read across pages');
    throwsCode(t, () => d.kvaToPa(0x1000n), DumpCode.NotMapped);
    throwsCode(t, () => d.readPa(0xffff_ffff_f000n, 8), DumpCode.NotDumped);
    t.end();
  });
}

t.test('writer params are checked', (t) => {
  const base = {
    dpMsgbufpa: 0n,
    dpMsgbufsz: 0n,
    dpVmdumppa: 0n,
    dpVmdumpsz: 0n,
    dpDumpavailpa: 0n,
    rootPa: 0n,
    dpKernstart: 0x2000n,
    dpKernend: 0x1000n,
    dpDmapbasepa: undefined,
    dpDmapmin: 0n,
    dpDmapmax: 0n,
  };
  const readPhys = (_pa: bigint, len: number): Uint8Array => new Uint8Array(len);
  throwsCode(t, () => planMinidump({ arch: 'amd64', params: base, readPhys }), DumpCode.BadParams);
  throwsCode(
    t,
    () => planMinidump({ arch: 'amd64', params: { ...base, dpKernend: 0x3000n, dpMsgbufsz: 1n << 40n }, readPhys }),
    DumpCode.TooLarge,
  );
  t.end();
});
