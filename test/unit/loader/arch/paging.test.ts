// Page tables for the jump: every translation D47358 and loader.kboot set up, checked by
// walking the produced page images with a minimal walker written here (not the builder's code).
import t from 'tap';
import type { KernelVa, PhysAddr, Size } from '../../../../loader/addr.js';
import { loaderTables, rescueExecTables } from '../../../../loader/arch/amd64/paging.js';
import { rescueIdentityTables } from '../../../../loader/arch/arm64/paging.js';
import { PagePool } from '../../../../loader/arch/page-pool.js';
import { TrampolineCode } from '../../../../loader/arch/errors.js';
import { throwsCode } from '../../../helpers/errors.js';

type Pages = Map<bigint, BigUint64Array>;
const pagesOf = (pool: PagePool): Pages =>
  new Map(pool.pages().map((p) => [p.pa as bigint, new BigUint64Array(p.bytes.buffer)]));

/** x86-64 4-level walk over page images: PA and whether writable, or undefined when not present. */
function walkX86(pages: Pages, cr3: bigint, va: bigint): { pa: bigint; rw: boolean; nx: boolean } | undefined {
  let table = cr3;
  let rw = true;
  let nx = false;
  for (const [shift, last] of [
    [39n, false],
    [30n, false],
    [21n, false],
    [12n, true],
  ] as const) {
    const e = pages.get(table)?.[Number((va >> shift) & 511n)] ?? 0n;
    if ((e & 1n) === 0n) return undefined;
    rw &&= (e & 2n) !== 0n;
    nx ||= e >> 63n === 1n;
    const frame = e & 0x000f_ffff_ffff_f000n;
    if (last || (shift !== 39n && (e & 0x80n) !== 0n)) {
      const mask = (1n << shift) - 1n;
      return { pa: (frame & ~mask) | (va & mask), rw, nx };
    }
    table = frame;
  }
  return undefined;
}

t.test('amd64 rescue_kernel_exec tables', (t) => {
  const rescuePa = 0x7740_0000n as PhysAddr;
  const memsize = 0x820_5000n as Size;
  const pool = new PagePool((rescuePa + 0x1000n) as PhysAddr, 16);
  const hostUpper = Array.from({ length: 256 }, (_, i) => (i === 255 ? 0x0abc_d003n : i === 240 ? 0x0abc_e003n : 0n));
  const tables = rescueExecTables({
    rescuePa,
    memsize,
    pool,
    trampPa: 0x00a1_2340n as PhysAddr,
    itrampOffset: 2,
    hostUpperPml4: hostUpper,
    kstack: {
      va: 0xffff_fe00_1234_5000n as KernelVa,
      pages: [0x0300_0000n, 0x0300_1000n, 0x0500_0000n, 0x0500_1000n] as PhysAddr[],
    },
  });
  const pages = pagesOf(pool);
  t.ok(tables.pagesUsed <= 16, `${tables.pagesUsed} of 16 pool pages`);
  t.equal(tables.itramp, 0x00a1_2342n);
  // reservation identity map
  for (const off of [0n, 0x1234n, 0x20_0000n, memsize - 1n]) {
    t.same(walkX86(pages, tables.cr3, rescuePa + off)?.pa, rescuePa + off, `identity +${off.toString(16)}`);
  }
  // KERNBASE + k -> rescue_pa + k (so KERNSTART lands on the kernel copy at +2 MiB)
  t.equal(walkX86(pages, tables.cr3, 0xffff_ffff_8000_0000n)?.pa, rescuePa, 'KERNBASE -> params');
  t.equal(
    walkX86(pages, tables.cr3, 0xffff_ffff_8020_1000n)?.pa,
    rescuePa + 0x20_1000n,
    'KERNSTART + 4K -> kernel text',
  );
  // trampoline page (read-only), low 4 KiB
  const tr = walkX86(pages, tables.cr3, 0x00a1_2340n);
  t.equal(tr?.pa, 0x00a1_2340n);
  t.equal(tr?.rw, false, 'the trampoline mapping is not writable');
  t.equal(walkX86(pages, tables.cr3, 0x10n)?.pa, 0x10n, 'PA 0..4K identity');
  t.equal(walkX86(pages, tables.cr3, 0x1000n), undefined, 'only the first 4 KiB of low memory');
  // kernel stack, NX
  const ks = walkX86(pages, tables.cr3, 0xffff_fe00_1234_7008n);
  t.same(ks, { pa: 0x0500_0008n, rw: true, nx: true });
  // temporary root: host upper half copied, the trampoline page identity-mapped
  t.equal(pages.get(tables.tempCr3)?.[511], 0x0abc_d003n);
  t.equal(pages.get(tables.tempCr3)?.[496], 0x0abc_e003n);
  t.equal(walkX86(pages, tables.tempCr3, 0x00a1_2345n)?.pa, 0x00a1_2345n);
  t.equal(walkX86(pages, tables.tempCr3, 0x00a1_3000n), undefined, 'only the trampoline page');
  t.end();
});

t.test('amd64 rescue_kernel_exec failure paths', (t) => {
  const base = {
    memsize: 0x820_5000n as Size,
    trampPa: 0x00a1_2340n as PhysAddr,
    itrampOffset: 2,
    hostUpperPml4: new Array<bigint>(256).fill(0n),
    kstack: { va: 0xffff_fe00_1234_5000n as KernelVa, pages: [0x300_0000n as PhysAddr] },
  };
  const pool = (pa: bigint, n = 16): PagePool => new PagePool(pa as PhysAddr, n);
  throwsCode(
    t,
    () => rescueExecTables({ ...base, rescuePa: 0n as PhysAddr, pool: pool(0x1000n) }),
    TrampolineCode.LowMemoryOccupied,
    'a reservation in the low 2 MiB',
  );
  throwsCode(
    t,
    () => rescueExecTables({ ...base, rescuePa: 0x80_0000_0000n as PhysAddr, pool: pool(0x80_0000_1000n) }),
    TrampolineCode.TrampNotMapped,
    'trampoline in another 512 GiB',
  );
  throwsCode(
    t,
    () => rescueExecTables({ ...base, rescuePa: 0x7740_0000n as PhysAddr, pool: pool(0x7740_1000n, 8) }),
    TrampolineCode.PoolExhausted,
    'too small a pool',
  );
  throwsCode(
    t,
    () =>
      rescueExecTables({
        ...base,
        rescuePa: 0x7740_0000n as PhysAddr,
        pool: pool(0x7740_1000n),
        kstack: { va: 0xffff_fe00_001f_f000n as KernelVa, pages: [1n, 2n] as PhysAddr[] },
      }),
    TrampolineCode.StackConflict,
    'a stack across two page directories',
  );
  throwsCode(
    t,
    () =>
      rescueExecTables({ ...base, rescuePa: 0x7740_0000n as PhysAddr, pool: pool(0x7740_1000n), hostUpperPml4: [] }),
    TrampolineCode.BadRange,
  );
  t.end();
});

t.test('amd64 loader.kboot tables', (t) => {
  const staging = 0x4000_0000n as PhysAddr;
  const { cr3, pool } = loaderTables(0x4010_1000n as PhysAddr, staging);
  const pages = pagesOf(pool);
  t.equal(pool.used, 9);
  t.equal(walkX86(pages, cr3, 0xfff0_1234n)?.pa, 0xfff0_1234n, 'low 4 GiB identity');
  t.equal(walkX86(pages, cr3, 0x1_0000_0000n), undefined, 'nothing above 4 GiB');
  t.equal(walkX86(pages, cr3, 0xffff_ffff_8020_0000n)?.pa, staging + 0x20_0000n, 'KERNSTART -> staging + 2 MiB');
  t.equal(walkX86(pages, cr3, 0xffff_ffff_8000_0010n)?.pa, 0x10n, 'KERNBASE -> PA 0');
  t.equal(walkX86(pages, cr3, 0xffff_ffff_c000_0000n)?.pa, staging + 0x4000_0000n, 'PT2_u1 continues the map');
  t.end();
});

t.test('arm64 rescue identity map', (t) => {
  const rescuePa = 0xf7c0_0000n as PhysAddr;
  const memsize = 0x820_5000n as Size;
  const { ttbr0, pool } = rescueIdentityTables(rescuePa, memsize, 0x4200_0000n as PhysAddr);
  const pages = pagesOf(pool);
  const walk = (va: bigint): bigint | undefined => {
    const l0 = pages.get(ttbr0)?.[Number((va >> 39n) & 511n)] ?? 0n;
    if ((l0 & 3n) !== 3n) return undefined;
    const l1 = pages.get(l0 & 0xffff_ffff_f000n)?.[Number((va >> 30n) & 511n)] ?? 0n;
    if ((l1 & 3n) !== 3n) return undefined;
    const l2 = pages.get(l1 & 0xffff_ffff_f000n)?.[Number((va >> 21n) & 511n)] ?? 0n;
    if ((l2 & 3n) !== 1n) return undefined;
    t.equal(
      l2 & 0xfffn,
      (1n << 11n) | (1n << 10n) | (3n << 8n) | (1n << 2n) | 1n,
      'nG | AF | SH(IS) | AttrIndx 1 | block',
    );
    return (l2 & 0xffff_ffe0_0000n) | (va & 0x1f_ffffn);
  };
  t.equal(walk(rescuePa + 0x123n), rescuePa + 0x123n);
  t.equal(walk(rescuePa + memsize - 1n), rescuePa + memsize - 1n);
  t.equal(walk(rescuePa - 1n), undefined);
  throwsCode(
    t,
    () => rescueIdentityTables(0x3ff0_0000n as PhysAddr, memsize, 0n as PhysAddr),
    TrampolineCode.BadRange,
    'across 1 GiB',
  );
  t.end();
});
