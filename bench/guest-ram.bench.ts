/**
 * GuestRam bulk operations against Node's own: NativeRam.copy vs Buffer.copy (64 MiB and
 * 1 GiB, every page touched first so neither side pays first-touch faults) and
 * NativeRam.sha256 vs node:crypto over a Buffer holding the same bytes; the rescue dumper's
 * change watch (NativeRam.pageDigests over contiguous random pages, and pageDigestsAt over
 * 64 Ki scattered pages — a cache and TLB miss each, two threads) vs node:crypto sha256 of
 * the same number of bytes (the obvious way to tell whether memory changed).
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

function digestBench(): BenchResult[] {
  const bytes = 256 << 20;
  const ram = new NativeRam([{ base: phys(0), size: size(4n << 30n) }]);
  const a = Buffer.alloc(bytes);
  randomFillSync(a);
  ram.write(phys(0), a);
  // 65,536 pages spread over 4 GiB in ascending order, as a dump's bitmap visits them
  const pas = new BigUint64Array(bytes / 4096);
  for (let i = 0; i < pas.length; i++) {
    pas[i] = BigInt(i) * 16n * 4096n;
    ram.write(phys(pas[i] as bigint), a.subarray(i * 4096, (i + 1) * 4096)); // populated: not the zero page
  }
  const sha = (): string => createHash('sha256').update(a).digest('hex');
  const [d, h] = medianPairMs(() => ram.pageDigests(phys(0), size(bytes)), sha, 7);
  const [dAt, h2] = medianPairMs(() => ram.pageDigestsAt(pas), sha, 7);
  ram.close();
  return [
    compare(
      'page-digests',
      'GuestRam.pageDigests 256 MiB',
      mibPerSec(bytes, d),
      'sha256 256 MiB',
      mibPerSec(bytes, h),
      'MiB/s',
    ),
    compare(
      'page-digests-scattered',
      'GuestRam.pageDigestsAt 64 Ki scattered pages',
      mibPerSec(bytes, dAt),
      'sha256 256 MiB',
      mibPerSec(bytes, h2),
      'MiB/s',
    ),
  ];
}

export const benchmarks: Benchmark[] = [
  {
    name: 'guest-ram',
    run: async () => [...copyBench(64 << 20, 41), ...copyBench(Number(SZ_1G), 7), ...digestBench()],
  },
];
