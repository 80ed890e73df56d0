/**
 * One server-scale run for bench/host-scale.bench.ts, in its own process (so its peak RSS is
 * its own): `node dist/bench/host-run.js <GiB> <dumped pages>` builds a profile copied from
 * amd64-efi with `<GiB>` of RAM in all (the RAM above 4 GiB grows), boots it with the probe
 * kernel armed by KLD preload, advances to `running`, panics (the D47358 hand-off on the CPU)
 * and saves the minidump savecore-style into a temporary directory, with the host's dumped
 * pages held at `<dumped pages>` whatever the RAM size (the model's own pages, the bitmap's
 * included, plus enough allocated UMA pages). Prints one JSON line: the phases' wall times,
 * the vmcore's size and pages, and the process's peak RSS (getrusage ru_maxrss).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { popcountBytes } from '../loader/kernel-abi/dump-avail.js';
import { packagePath } from '../loader/paths.js';
import { parseProfile, type MachineProfile } from '../loader/plan/profile.js';
import { buildProbeKernel } from '../kernels/probe/index.js';
import { buildHostModel } from '../machine/host/model.js';
import { HostSession } from '../machine/session.js';
import { crashDump } from '../rescue/crash-dump.js';

/**
 * amd64-efi with `gib` GiB of RAM: 2 GiB below the 32-bit PCI hole, the rest from 4 GiB, but
 * never past PA 4 TiB, where FreeBSD amd64's direct map ends (sys/amd64/include/vmparam.h
 * DMAP_MAX_ADDRESS: NDMPML4E slots of 512 GiB), so the "4 TiB" host has RAM up to 4 TiB.
 */
export function serverProfile(gib: number): MachineProfile {
  const base = JSON.parse(readFileSync(packagePath('profiles', 'amd64-efi.json'), 'utf8')) as {
    name: string;
    ram: { base: string; size: string }[];
  };
  base.name = `amd64-efi-${gib}g`;
  const high = base.ram[2];
  if (high === undefined) throw new Error('bench: amd64-efi lost its RAM above 4 GiB');
  high.size = `${Math.min(gib - 2, 4096 - 4)}G`;
  return parseProfile(JSON.stringify(base), `bench:${base.name}`);
}

/** UMA pages to allocate so that the host dumps `pages` pages in all. */
export function allocatedFor(profile: MachineProfile, pages: number): number {
  const probe = buildHostModel(profile, { seed: 1, allocatedPages: 0 });
  return Math.max(0, pages - popcountBytes(probe.bitmap.data));
}

function main(): void {
  const gib = Number(process.argv[2]);
  const pages = Number(process.argv[3]);
  if (!Number.isSafeInteger(gib) || gib < 4 || !Number.isSafeInteger(pages) || pages < 0) {
    throw new Error('usage: host-run.js <GiB >= 4> <dumped pages>');
  }
  const profile = serverProfile(gib);
  const rescue = buildProbeKernel('amd64', { mode: 'rescue' });
  const allocatedPages = allocatedFor(profile, pages);
  const dir = mkdtempSync(join(tmpdir(), 'kboot-bench-host-'));
  const t0 = performance.now();
  const s = HostSession.boot({ profile, strategy: 'kld', rescue, allocatedPages });
  try {
    s.advanceTo('running');
    const t1 = performance.now();
    const p = s.panic();
    if (!p.rescued) throw new Error(`bench: ${gib} GiB: the panic was not rescued`);
    const t2 = performance.now();
    const r = crashDump(s, { dir, compression: 'none' });
    const t3 = performance.now();
    if (r.save?.status !== 'good') throw new Error(`bench: ${gib} GiB: dump ${r.save?.status ?? 'missing'}`);
    const out = {
      gib,
      bootMs: t1 - t0,
      panicMs: t2 - t1,
      jumpMs: p.jump?.stop.elapsedMs ?? -1,
      dumpMs: t3 - t2,
      totalMs: t3 - t0,
      vmcoreBytes: Number(r.size),
      pages: r.pages,
      maxRssKiB: process.resourceUsage().maxRSS,
    };
    console.log(JSON.stringify(out));
  } finally {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
