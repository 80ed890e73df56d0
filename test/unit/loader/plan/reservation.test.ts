// The reservation planner over random memory maps: every placement obeys the rules, and
// PLAN_NO_HOLE is raised only when brute force finds no place either.
import t from 'tap';
import fc from 'fast-check';
import { SZ_1G, SZ_2M, type PhysAddr, type PhysRange, type Size } from '../../../../loader/addr.js';
import type { Arch } from '../../../../loader/arch/index.js';
import { KbootError, PlanCode } from '../../../../loader/errors.js';
import { buildMemoryMap } from '../../../../loader/plan/memory-map.js';
import type { MachineProfile } from '../../../../loader/plan/profile.js';
import { loadProfile } from '../../../../loader/plan/profile.js';
import { memsizeFromKenv, placeReservation, reservationSize } from '../../../../loader/plan/reservation.js';
import { throwsCode } from '../../../helpers/errors.js';

const MiB = 1n << 20n;
const R = (start: bigint, size: bigint): PhysRange => ({ start: start as PhysAddr, size: size as Size });

/** A synthetic profile: RAM and reserved ranges in 4 KiB units over the first 12 GiB. */
function profileOf(arch: Arch, ram: PhysRange[], reserved: PhysRange[]): MachineProfile {
  return {
    name: 'random',
    description: '',
    source: 'test',
    arch,
    firmware: arch === 'amd64' ? 'efi' : 'fdt',
    cpus: 1,
    ram,
    reserved: reserved.map((range, i) => ({ name: `r${i}`, kind: 'reserved' as const, range })),
    mmio: [],
    uart: { kind: arch === 'amd64' ? 'ns16550' : 'pl011', base: 0x3f8n, size: 8n as Size },
    gic: undefined,
    framebuffer: undefined,
    hostKernel: { range: R(0n, 0n), boothowto: 0, kenv: [] },
    dtb: undefined,
    provenance: undefined,
    assumptions: [],
    board: undefined,
  };
}

const pageRange = fc
  .record({ start: fc.integer({ min: 0, max: 3 * 1024 * 1024 }), pages: fc.integer({ min: 1, max: 1024 * 1024 }) })
  .map((r) => R(BigInt(r.start) * 4096n, BigInt(r.pages) * 4096n));

function disjoint(rs: PhysRange[]): PhysRange[] {
  const out: PhysRange[] = [];
  for (const r of [...rs].sort((a, b) => (a.start < b.start ? -1 : 1))) {
    const last = out[out.length - 1];
    if (last === undefined || r.start >= last.start + last.size) out.push(r);
  }
  return out;
}

t.test('placements obey every rule; PLAN_NO_HOLE only when brute force agrees', (t) => {
  fc.assert(
    fc.property(
      fc.array(pageRange, { minLength: 1, maxLength: 6 }),
      fc.array(pageRange, { maxLength: 6 }),
      fc.constantFrom('amd64' as const, 'arm64' as const),
      fc.integer({ min: 1, max: 600 }),
      fc.constantFrom('highest' as const, 'lowest' as const),
      (ramRaw, resRaw, arch, mib, prefer) => {
        const ram = disjoint(ramRaw);
        const profile = profileOf(arch, ram, disjoint(resRaw));
        const map = buildMemoryMap(profile);
        const size = BigInt(mib) * MiB + BigInt(mib % 7) * 4096n; // not always a 2 MiB multiple, as in FreeBSD
        // Is every byte of [s, s + size) in some free range? Walk from s through whichever free
        // range holds the cursor (no assumption that map.free is sorted or merged).
        const fits = (s: bigint): boolean => {
          if (s / SZ_1G !== (s + size - 1n) / SZ_1G) return false;
          for (let cur = s; cur < s + size;) {
            const f = map.free.find((r) => cur >= r.start && cur < r.start + r.size);
            if (f === undefined) return false;
            cur = f.start + f.size;
          }
          return true;
        };
        const limit = arch === 'amd64' ? 1n << 32n : 1n << 48n;
        let exists = false;
        for (let s = 0n; s + size <= (limit < 17n << 30n ? limit : 17n << 30n) && !exists; s += SZ_2M) exists = fits(s);
        try {
          const p = placeReservation(map, { arch, size: size as Size, prefer });
          const s = p.region.start;
          return exists && s % SZ_2M === 0n && p.region.size === size && s + size <= limit && fits(s);
        } catch (e) {
          return e instanceof KbootError && e.code === PlanCode.NoHole && !exists;
        }
      },
    ),
    { numRuns: 150 },
  );
  t.pass('random maps agree with brute force');
  t.end();
});

t.test('sizes and tunables', (t) => {
  t.equal(
    reservationSize((128n * MiB) as Size, 5_000_001n as Size),
    128n * MiB + 5_001_216n + 2n * MiB,
    'memsize + round_page(file) + 2 MiB',
  );
  t.equal(memsizeFromKenv([['debug.rescue_memsize', '256M']]), 256n * MiB);
  t.equal(memsizeFromKenv([['a', 'b']]), undefined);
  throwsCode(t, () => memsizeFromKenv([['debug.rescue_memsize', 'big']]), PlanCode.BadMemsize);
  t.end();
});

t.test('amd64 stays below 4 GiB; arm64 falls back above it', (t) => {
  const highOnly = [R(0n, 16n * MiB), R(4n << 30n, 4n << 30n)];
  throwsCode(
    t,
    () =>
      placeReservation(buildMemoryMap(profileOf('amd64', highOnly, [])), { arch: 'amd64', size: (132n * MiB) as Size }),
    PlanCode.NoHole,
  );
  const p = placeReservation(buildMemoryMap(profileOf('arm64', highOnly, [])), {
    arch: 'arm64',
    size: (132n * MiB) as Size,
  });
  t.ok(p.region.start >= 4n << 30n);
  t.match(p.why, /above it/);
  t.end();
});

t.test('an exact placement is checked against every rule', (t) => {
  const map = buildMemoryMap(loadProfile('amd64-efi'));
  const size = (132n * MiB) as Size;
  const ok = placeReservation(map, { arch: 'amd64', size, at: 0x1000_0000n as PhysAddr });
  t.equal(ok.region.start, 0x1000_0000n);
  const e = throwsCode(
    t,
    () => placeReservation(map, { arch: 'amd64', size, at: 0x3c10_0000n as PhysAddr }),
    PlanCode.BadPlacement,
  );
  const problems = e?.details['problems'] as string[];
  t.ok(problems.some((p) => /not 2 MiB aligned/.test(p)));
  t.ok(problems.some((p) => /crosses a 1 GiB boundary/.test(p)));
  throwsCode(
    t,
    () => placeReservation(map, { arch: 'amd64', size, at: 0n as PhysAddr }),
    PlanCode.BadPlacement,
    'over the host kernel and low memory',
  );
  throwsCode(
    t,
    () => placeReservation(map, { arch: 'amd64', size, at: 0x1_0000_0000n as PhysAddr }),
    PlanCode.BadPlacement,
    'above 4 GiB',
  );
  t.end();
});

t.test('built-in profiles place their default reservation', (t) => {
  for (const n of ['amd64-efi', 'amd64-bios', 'arm64-fdt', 'arm64-acpi']) {
    const prof = loadProfile(n);
    const p = placeReservation(buildMemoryMap(prof), { arch: prof.arch, size: (132n * MiB) as Size });
    t.ok(p.region.start + p.region.size <= 1n << 32n, `${n}: ${p.region.start.toString(16)}`);
  }
  t.end();
});
