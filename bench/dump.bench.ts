/**
 * The dump path end to end, as `kboot panic --dump-dir` runs it: an emulated 8 GiB amd64-efi
 * host with 1 GiB of dumpable pages panics, the probe rescue kernel is entered on the CPU, and
 * its /dev/dumper stream (rescue/dumper.ts, with change watching) is saved savecore-style
 * (dump/savecore.ts: vmcore.N, fsync, link, info.N). Baseline in the same run: writing the
 * same number of bytes sequentially with fs.writeSync (1 MiB pieces) + fsync. Also printed:
 * the same dump without the change watch (what watching costs), zstd's rate and ratio on the
 * same dump, and the process's RSS growth during the dump
 * (peak minus before; the guest's populated 1 GiB is resident before the dump starts).
 * The baseline's fsync is the disk's and varies a lot from run to run on shared machines
 * (seen: 476–1,623 MiB/s); the dump's own rate is steadier. Five interleaved pairs, medians.
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile } from '../loader/plan/profile.js';
import { buildProbeKernel } from '../kernels/probe/index.js';
import { HostSession } from '../machine/session.js';
import { crashDump } from '../rescue/crash-dump.js';
import { popcount8 } from '../loader/kernel-abi/dump-avail.js';
import { compare, medianPairMs, mibPerSec, type Benchmark, type BenchResult } from './harness.js';
import { probeObserver } from '../rescue/probe-observer.js';

const GiB_PAGES = 262_144;

export const benchmarks: Benchmark[] = [
  {
    name: 'dump',
    run() {
      const profile = loadProfile('amd64-efi');
      const rescue = buildProbeKernel('amd64', { mode: 'rescue' });
      // The model's default dumped set is its kernel, tables, msgbuf ... plus 1536 UMA pages.
      const probe = HostSession.boot({ profile, strategy: 'kld', rescue });
      const fixed = probe.model.bitmap.data.reduce((n, b) => n + popcount8(b), 0) - probe.model.allocated.length;
      probe.close();
      const s = HostSession.boot({ profile, strategy: 'kld', rescue, allocatedPages: GiB_PAGES - fixed });
      const dir = mkdtempSync(join(tmpdir(), 'kboot-bench-dump-'));
      try {
        s.advanceTo('running');
        if (!s.panic({ observer: probeObserver }).rescued) throw new Error('bench: the panic was not rescued');
        let bytes = 0;
        let pages = 0;
        let rssBefore = 0;
        let rssPeak = 0;
        const dumpOnce = (compression: 'none' | 'zstd', watch = true): { ms: number; out: bigint } => {
          const sub = mkdtempSync(join(dir, 'd-'));
          rssBefore = process.memoryUsage.rss();
          rssPeak = rssBefore;
          let ticks = 0;
          const t0 = performance.now();
          const r = crashDump(s, {
            dir: sub,
            compression,
            watch,
            onProgress: () => {
              if (++ticks % 64 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
            },
          });
          const ms = performance.now() - t0;
          rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
          if (r.save?.status !== 'good') throw new Error(`bench: dump ${r.save?.status ?? 'missing'}`);
          bytes = Number(r.size);
          pages = r.pages;
          rmSync(sub, { recursive: true, force: true });
          return { ms, out: r.save.bytesOut };
        };
        dumpOnce('none'); // sizes the baseline
        const block = Buffer.alloc(1 << 20, 0x5a);
        const plainWrite = (): void => {
          const p = join(dir, 'plain');
          const fd = openSync(p, 'w', 0o600);
          for (let off = 0; off < bytes; off += block.length)
            writeSync(fd, block, 0, Math.min(block.length, bytes - off));
          fsyncSync(fd);
          closeSync(fd);
          rmSync(p);
        };
        let growth = 0;
        const [dump, plain] = medianPairMs(
          () => {
            dumpOnce('none');
            growth = Math.max(growth, rssPeak - rssBefore);
          },
          plainWrite,
          5,
          0,
        );
        const z = dumpOnce('zstd');
        // what the change watch costs: the same dump without it, against the same kind of baseline
        const [bare, plain2] = medianPairMs(() => void dumpOnce('none', false), plainWrite, 3, 0);
        const label = `${(bytes / (1 << 20)).toFixed(0)} MiB (${pages} pages)`;
        const results: BenchResult[] = [
          compare(
            'dump-savecore',
            `kboot panic --dump-dir, 8 GiB host, ${label}`,
            mibPerSec(bytes, dump),
            `writeSync+fsync ${label}`,
            mibPerSec(bytes, plain),
            'MiB/s',
          ),
          compare(
            'dump-no-watch',
            `the same dump without the change watch`,
            mibPerSec(bytes, bare),
            `writeSync+fsync ${label}`,
            mibPerSec(bytes, plain2),
            'MiB/s',
          ),
          compare(
            'dump-zstd',
            `--compress zstd, ratio ${(bytes / Number(z.out)).toFixed(2)}:1`,
            mibPerSec(bytes, z.ms),
            'uncompressed dump',
            mibPerSec(bytes, dump),
            'MiB/s',
          ),
          compare('dump-rss', 'RSS growth during the dump (MiB, limit 400)', growth / (1 << 20), 'limit', 400, 'MiB'),
        ];
        return Promise.resolve(results);
      } finally {
        s.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
