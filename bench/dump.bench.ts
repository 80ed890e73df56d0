/**
 * Minidump writing (dump/minidump.ts + dump/file.ts) against a plain sequential write of the
 * same number of bytes (fs.writeSync in 1 MiB pieces + fsync) in the same run. The host is
 * machine/host/model.ts's amd64-efi (8 GiB of RAM) with 256 MiB of allocated pages marked
 * for dumping, installed on a native Machine; the dump is read from guest RAM.
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile } from '../loader/plan/profile.js';
import { Machine } from '../machine/machine.js';
import { buildHostModel, dumpParams, installHost } from '../machine/host/model.js';
import { planMinidump } from '../dump/minidump.js';
import { writeDumpFile } from '../dump/file.js';
import { guestMemoryReader } from '../dump/source.js';
import { compare, medianPairMs, mibPerSec, type Benchmark } from './harness.js';

export const benchmarks: Benchmark[] = [
  {
    name: 'dump',
    run() {
      const profile = loadProfile('amd64-efi');
      const model = buildHostModel(profile, { seed: 3, allocatedPages: 65536 });
      const m = Machine.create(profile);
      const dir = mkdtempSync(join(tmpdir(), 'kboot-bench-dump-'));
      try {
        installHost(m, model);
        const plan = planMinidump({
          arch: 'amd64',
          params: dumpParams(model),
          readPhys: guestMemoryReader(m.ram),
        });
        const bytes = Number(plan.size);
        const block = Buffer.alloc(1 << 20, 0x5a);
        let n = 0;
        const [dump, plain] = medianPairMs(
          () => {
            const p = join(dir, `vmcore.${n++}`);
            writeDumpFile(p, plan.chunks());
            rmSync(p);
          },
          () => {
            const p = join(dir, 'plain');
            const fd = openSync(p, 'w', 0o600);
            for (let off = 0; off < bytes; off += block.length)
              writeSync(fd, block, 0, Math.min(block.length, bytes - off));
            fsyncSync(fd);
            closeSync(fd);
            rmSync(p);
          },
          5,
        );
        const label = `${(bytes / (1 << 20)).toFixed(0)} MiB`;
        return Promise.resolve([
          compare(
            'minidump-write',
            `minidump amd64 ${label}`,
            mibPerSec(bytes, dump),
            `writeSync+fsync ${label}`,
            mibPerSec(bytes, plain),
            'MiB/s',
          ),
        ]);
      } finally {
        m.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
