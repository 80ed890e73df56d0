// The lazy shadow's planning (machine/cpu/lazy.ts) is pure: tables hand-built over ArrayRam by
// test/unit/machine/tables.ts (from the manuals, not from kboot's walkers) in, windows out.
// The reference is the eager shadow (planAmd64Shadow over a whole walk): every window the lazy
// shadow places must agree with it, address by address.
import t from 'tap';
import fc from 'fast-check';
import { phys, size } from '../../../loader/addr.js';
import { ArrayRam, type RamRegion } from '../../../loader/memory/guest-ram.js';
import { planAmd64Shadow, type TranslationRun } from '../../../machine/cpu/index.js';
import {
  amd64Tables,
  arm64Tables,
  LazyShadow,
  MAX_LAZY_WINDOWS,
  SHADOW_GRANULE,
  type ShadowContext,
} from '../../../machine/cpu/lazy.js';
import { MachineCode } from '../../../machine/errors.js';
import { walkArm64 } from '../../../machine/arm64-walker.js';
import { findRun } from '../../../machine/walk.js';
import { walkX86 } from '../../../machine/x86-walker.js';
import { throwsCode } from '../../helpers/errors.js';
import { Arm64Tables, TEST_TCR, X86Tables } from './tables.js';

const K4 = 0x1000n;
const M2 = 0x20_0000n;
const REGIONS: RamRegion[] = [
  { base: phys(0), size: size(0x400_0000) },
  { base: phys(0x800_0000), size: size(0x400_0000) },
];
const POOL = [0x300_0000n, 0x380_0000n] as const;

function x86Context(ram: ArrayRam, cr3: bigint): ShadowContext {
  return { arch: 'amd64', regions: REGIONS, device: undefined, walk: amd64Tables(ram, cr3, true) };
}

/** Checks every window against the eager translation (see the file comment). */
function agrees(lazy: LazyShadow, eager: readonly TranslationRun[], protectedPa: bigint[]): string | undefined {
  const ws = lazy.windows;
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i];
    if (w === undefined) continue;
    const next = ws[i + 1];
    if (next !== undefined && w.va + w.size > next.va) return `windows overlap at ${next.va.toString(16)}`;
    if (!REGIONS.some((r) => w.pa >= r.base && w.pa + w.size <= r.base + r.size)) return 'window not in one region';
    if (w.size > SHADOW_GRANULE) return 'window larger than the granule';
    const prot = protectedPa.filter((p) => p >= w.pa && p < w.pa + w.size).length;
    if (prot !== 0 && prot !== Number(w.size / K4)) return 'window straddles a protection edge';
    for (let va = w.va as bigint; va < w.va + w.size; va += K4) {
      const x = findRun(eager, va);
      const pa = w.pa + (va - w.va);
      const table = (w.va as bigint) === (w.pa as bigint) && x === undefined;
      if (!table && (x === undefined || x.pa + (va - x.va) !== pa)) return `VA ${va.toString(16)} disagrees`;
    }
  }
  return undefined;
}

/** Small mappings and 2 MiB pages live in separate VA ranges (a 4 KiB map under a 2 MiB leaf is no table). */
function vaOf(m: { readonly vaPage: number; readonly big: boolean }): bigint {
  return m.big ? 0x20_0000_0000n + BigInt(m.vaPage) * M2 : 0x10_0000_0000n + BigInt(m.vaPage) * K4;
}

t.test('amd64: each fault maps what the eager shadow maps there, and only that', (t) => {
  const page = fc.integer({ min: 0, max: 0x3ff });
  const mapping = fc.record({
    vaPage: fc.integer({ min: 0, max: 0xffff }),
    paPage: fc.oneof(page, fc.integer({ min: 0x800, max: 0xbff }), fc.constant(0x5000)),
    pages: fc.integer({ min: 1, max: 40 }),
    big: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(mapping, { minLength: 1, maxLength: 8 }), fc.array(page, { maxLength: 6 }), (maps, prot) => {
      const ram = new ArrayRam(REGIONS);
      const tb = new X86Tables(ram, POOL[0], POOL[1]);
      for (const m of maps) {
        const va = vaOf(m);
        if (m.big) tb.map(va, (BigInt(m.paPage) * K4) & ~(M2 - 1n), M2, { pageSize: M2 });
        else tb.map(va, BigInt(m.paPage) * K4, BigInt(m.pages) * K4);
      }
      const eager = planAmd64Shadow(REGIONS, walkX86(ram, { cr3: tb.cr3 })).translation;
      const lazy = new LazyShadow(REGIONS);
      lazy.reset('shadow');
      // distinct pages: a page protected twice is one protected page (agrees counts pages)
      const protectedPa = [...new Set(prot)].map((p) => BigInt(p) * K4);
      for (const p of protectedPa) lazy.protect(p, K4, true);
      const ctx = x86Context(ram, tb.cr3);
      for (const m of maps) {
        const va = vaOf(m) + 0x18n;
        const res = lazy.resolve(ctx, va);
        const x = findRun(eager, va);
        const pa = x === undefined ? undefined : x.pa + (va - x.va);
        const ram = pa !== undefined && REGIONS.some((r) => pa >= r.base && pa < r.base + r.size);
        const want = x === undefined ? 'untranslated' : ram ? 'mapped|present' : 'not-ram';
        if (!want.split('|').includes(res.kind)) return false;
        if (ram && findRun(lazy.windows, va) === undefined) return false;
        if (agrees(lazy, eager, protectedPa) !== undefined) return false;
      }
      return lazy.windows.length <= MAX_LAZY_WINDOWS;
    }),
    { numRuns: 60 },
  );
  t.end();
});

t.test('amd64: a table page whose VA the tables send elsewhere is CPU_SHADOW when a fault reaches it', (t) => {
  const ram = new ArrayRam(REGIONS);
  const tb = new X86Tables(ram, POOL[0], POOL[1]);
  tb.map(0x4000_0000n, 0x10_0000n, K4);
  const lazy = new LazyShadow(REGIONS);
  lazy.reset('shadow');
  t.equal(lazy.resolve(x86Context(ram, tb.cr3), 0x4000_0010n).kind, 'mapped', 'good tables');
  tb.map(tb.cr3, 0x10_0000n, K4); // the PML4's own PA, as a VA, now points elsewhere
  lazy.reset('shadow');
  throwsCode(t, () => lazy.resolve(x86Context(ram, tb.cr3), 0x4000_0010n), MachineCode.CpuShadow, 'conflict');
  t.end();
});

t.test('range walks: the runs of a range are the full walk clipped to it', (t) => {
  const ram = new ArrayRam(REGIONS);
  const tb = new X86Tables(ram, POOL[0], POOL[1]);
  tb.map(0n, 0n, 4n * M2, { pageSize: M2 });
  tb.map(0xffff_ffff_8000_0000n, 0x20_0000n, 0x30n * K4);
  tb.map(0x7f_ffff_f000n, 0x10_0000n, 3n * K4); // crosses a PML4 entry's end
  const full = walkX86(ram, { cr3: tb.cr3 }).runs;
  const bound = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const near = fc.constantFrom(0n, 0x30_0000n, 0x7f_ffff_f800n, 0xffff_ffff_8001_0000n, 1n << 64n);
  fc.assert(
    fc.property(fc.oneof(bound, near), fc.oneof(bound, near), (a, b) => {
      const [start, end] = a < b ? [a, b] : [b, a];
      if (start === end) return true;
      const clipped = full.flatMap((r) => {
        const lo = r.va > start ? (r.va as bigint) : start;
        const hi = r.va + r.size < end ? r.va + r.size : end;
        return lo < hi ? [[lo, r.pa + (lo - r.va), hi - lo]] : [];
      });
      const got = walkX86(ram, { cr3: tb.cr3, range: { start, end } }).runs.map((r) => [r.va, r.pa, r.size]);
      return (
        JSON.stringify(got, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v)) ===
        JSON.stringify(clipped, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))
      );
    }),
    { numRuns: 300 },
  );
  const a64 = new Arm64Tables(ram, POOL[0] + 0x4_0000n, POOL[1]);
  a64.map(0xffff_0000_0010_0000n, 0x20_0000n, 5n * K4);
  a64.map(0x20_0000n, 0x20_0000n, M2, { block: M2 });
  const regs = { tcr: TEST_TCR, ttbr0: a64.ttbr0, ttbr1: a64.ttbr1 };
  const one = walkArm64(ram, { ...regs, range: { start: 0xffff_0000_0010_2000n, end: 0xffff_0000_0010_3000n } });
  t.same(
    one.runs.map((r) => [r.va, r.pa, r.size]),
    [[0xffff_0000_0010_2000n, 0x20_2000n, K4]],
    'arm64: one page of a run',
  );
  t.equal(one.tables.length > 0, true, 'arm64: the tables read are reported');
  t.end();
});

t.test('arm64: an identity block reached through the MMU brings the RAM its VAs translate to', (t) => {
  const regions: RamRegion[] = [{ base: phys(0x4000_0000), size: size(0x800_0000) }];
  const ram = new ArrayRam(regions);
  const RAM = 0x4000_0000n;
  const tb = new Arm64Tables(ram, RAM + 0x10_0000n, RAM + 0x20_0000n);
  tb.map(RAM, RAM, 0x400_0000n, { block: M2 });
  // one page inside the identity block at RAM + 2 MiB points far away, into RAM + 100 MiB
  tb.setEntry(RAM + 0x20_0000n, 2, 0n);
  tb.map(RAM + 0x20_0000n, RAM + 0x20_0000n, M2 - K4);
  tb.map(RAM + 0x3f_f000n, RAM + 0x640_0000n, K4);
  const lazy = new LazyShadow(regions);
  lazy.reset('shadow');
  const ctx: ShadowContext = {
    arch: 'arm64',
    regions,
    device: undefined,
    walk: arm64Tables(ram, { tcr: TEST_TCR, ttbr0: tb.ttbr0, ttbr1: tb.ttbr1 }),
  };
  t.equal(lazy.resolve(ctx, RAM + 0x20_0010n).kind, 'mapped');
  t.ok(findRun(lazy.windows, RAM + 0x20_0010n) !== undefined, 'the VA has a region');
  t.ok(findRun(lazy.windows, RAM + 0x640_0000n) !== undefined, 'the far page it reaches is mapped at its PA');
  t.ok(findRun(lazy.windows, tb.ttbr0) !== undefined, 'and the tables of the walk');
  t.equal(findRun(lazy.windows, RAM + 0x700_0000n), undefined, 'nothing else');
  t.end();
});
