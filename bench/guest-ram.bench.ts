/**
 * GuestRam bulk operations against Node's own: NativeRam.copy vs Buffer.copy (64 MiB and
 * 1 GiB, every page touched first so neither side pays first-touch faults) and
 * NativeRam.sha256 vs node:crypto over a Buffer holding the same bytes.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { phys, size, SZ_1G } from '../loader/addr.js';
import { NativeRam } from '../machine/native-ram.js';
import { compare, medianPairMs, mibPerSec, type Benchmark, type BenchResult } from './harness.js';

function copyBench(bytes: number, reps: number): BenchResult[] {
  const label = bytes >= 1 << 30 ? `${bytes / (1 << 30)} GiB` : `${bytes / (1 << 20)} MiB`;
  const ram = new NativeRam([{ base: phys(0), size: size(2 * bytes) }]);
  const src = phys(0);
  const dst = phys(bytes);
  ram.fill(src, size(bytes), 0x5a);
  ram.fill(dst, size(bytes), 0xa5);
  const a = Buffer.alloc(bytes, 0x5a);
  const b = Buffer.alloc(bytes, 0xa5);
  const [guest, node] = medianPairMs(
    () => ram.copy(dst, src, size(bytes)),
    () => a.copy(b),
    reps,
  );
  const results = [
    compare(
      `copy-${label}`,
      `GuestRam.copy ${label}`,
      mibPerSec(bytes, guest),
      `Buffer.copy ${label}`,
      mibPerSec(bytes, node),
      'MiB/s',
      0.9,
    ),
  ];
  if (bytes <= 256 << 20) {
    randomFillSync(a);
    ram.write(src, a);
    const [h1, h2] = medianPairMs(
      () => ram.sha256(src, size(bytes)),
      () => createHash('sha256').update(a).digest('hex'),
      5,
    );
    results.push(
      compare(
        `sha256-${label}`,
        `GuestRam.sha256 ${label}`,
        mibPerSec(bytes, h1),
        `node:crypto sha256 ${label}`,
        mibPerSec(bytes, h2),
        'MiB/s',
      ),
    );
  }
  ram.close();
  return results;
}

export const benchmarks: Benchmark[] = [
  {
    name: 'guest-ram',
    run: async () => [...copyBench(64 << 20, 41), ...copyBench(Number(SZ_1G), 7)],
  },
];
