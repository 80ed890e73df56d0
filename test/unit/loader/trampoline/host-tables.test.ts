// The host-kernel map builders the trampolines and the machine's host model use
// (loader/arch/amd64/paging.ts kernelTables, loader/arch/arm64/paging.ts kernelBlockTables),
// checked by walking their page images with the walkers in fixtures.ts, and their failure codes.
import t from 'tap';
import type { KernelVa, PhysAddr, Size } from '../../../../loader/addr.js';
import { kernelTables } from '../../../../loader/arch/amd64/paging.js';
import { kernelBlockTables, KERNEL_BLOCK_ATTRS } from '../../../../loader/arch/arm64/paging.js';
import { PagePool } from '../../../../loader/arch/page-pool.js';
import { TrampolineCode } from '../../../../loader/arch/errors.js';
import { throwsCode } from '../../../helpers/errors.js';
import { MiB, pagesOf, walkA64, walkX86 } from './fixtures.js';

const KERNBASE_X86 = 0xffff_ffff_8000_0000n;
const KERNBASE_A64 = 0xffff_0000_0000_0000n;

t.test('amd64 kernelTables', (t) => {
  const pool = new PagePool(0x0300_0000n as PhysAddr, 16);
  const kt = kernelTables(pool, {
    kernbaseTo: 0n as PhysAddr,
    size: (66n * MiB) as Size,
    identity: [{ start: 0x7740_1234n as PhysAddr, size: 0x10n as Size }],
    extra: [{ va: 0xffff_fe00_1220_0000n as KernelVa, pa: 0x0280_0000n as PhysAddr, size: (2n * MiB) as Size }],
  });
  const pages = pagesOf(pool);
  t.equal(walkX86(pages, kt.root, KERNBASE_X86 + 0x20_1234n)?.pa, 0x20_1234n, 'KERNSTART -> KERNLOAD');
  t.equal(walkX86(pages, kt.root, KERNBASE_X86 + 66n * MiB - 1n)?.pa, 66n * MiB - 1n, 'last byte of the map');
  t.equal(walkX86(pages, kt.root, KERNBASE_X86 + 66n * MiB), undefined, 'nothing past size');
  const leaf = walkX86(pages, kt.root, 0x7740_0000n);
  t.same(leaf, { pa: 0x7740_0000n, rw: true, nx: false, size: 2n * MiB }, 'identity, rounded out to 2 MiB');
  t.equal(walkX86(pages, kt.root, 0xffff_fe00_1234_5678n)?.pa, 0x0294_5678n, 'the extra run');
  t.equal(kt.upperHalf.length, 256);
  t.equal(kt.upperHalf[255], pages.get(kt.root)?.[511], 'upperHalf[255] is PML4[511]');
  t.equal(kt.upperHalf[0], 0n, 'PML4[256] (the direct map slot) is empty here');
  t.end();
});

t.test('amd64 kernelTables failures', (t) => {
  const pool = (): PagePool => new PagePool(0x0300_0000n as PhysAddr, 16);
  const good = { kernbaseTo: 0n as PhysAddr, size: (4n * MiB) as Size };
  throwsCode(
    t,
    () => kernelTables(pool(), { ...good, kernbaseTo: 0x1000n as PhysAddr }),
    TrampolineCode.BadRange,
    'misaligned',
  );
  throwsCode(
    t,
    () => kernelTables(pool(), { ...good, size: (2049n * MiB) as Size }),
    TrampolineCode.BadRange,
    'past 2^64',
  );
  throwsCode(
    t,
    () =>
      kernelTables(pool(), {
        ...good,
        extra: [{ va: (KERNBASE_X86 + 2n * MiB) as KernelVa, pa: 0x4000_0000n as PhysAddr, size: (2n * MiB) as Size }],
      }),
    TrampolineCode.BadRange,
    'a second frame for a mapped page',
  );
  throwsCode(
    t,
    () =>
      kernelTables(pool(), {
        ...good,
        extra: [{ va: 0x0000_8000_0000_0000n as KernelVa, pa: 0n as PhysAddr, size: (2n * MiB) as Size }],
      }),
    TrampolineCode.BadRange,
    'a non-canonical run',
  );
  throwsCode(
    t,
    () =>
      kernelTables(new PagePool(0x1000n as PhysAddr, 3), {
        ...good,
        identity: [{ start: 0n as PhysAddr, size: 0x1000n as Size }],
      }),
    TrampolineCode.PoolExhausted,
    'too small a pool',
  );
  t.end();
});

t.test('arm64 kernelBlockTables', (t) => {
  const pool = new PagePool(0x4320_0000n as PhysAddr, 16);
  const kt = kernelBlockTables(pool, {
    vaBase: KERNBASE_A64 as KernelVa,
    pa: 0x4020_0000n as PhysAddr,
    size: (64n * MiB) as Size,
    identity: [{ start: 0x4380_0000n as PhysAddr, size: 0x1000n as Size }],
  });
  const pages = pagesOf(pool);
  const k = walkA64(pages, kt.ttbr1, KERNBASE_A64 + 0x1234n);
  t.same(k, { pa: 0x4020_1234n, attrs: KERNEL_BLOCK_ATTRS, level: 2 }, 'TTBR1: KERNBASE -> load PA, write-back block');
  t.equal(KERNEL_BLOCK_ATTRS, (1n << 10n) | (3n << 8n) | (2n << 2n), 'AF | SH(IS) | AttrIndx(WRITE_BACK)');
  t.equal(walkA64(pages, kt.ttbr1, KERNBASE_A64 + 64n * MiB), undefined, 'nothing past size');
  t.equal(walkA64(pages, kt.ttbr0, 0x4380_0010n)?.pa, 0x4380_0010n, 'TTBR0: identity');
  t.equal(walkA64(pages, kt.ttbr0, 0x4020_0000n), undefined, 'TTBR0 holds only the identity ranges');
  throwsCode(
    t,
    () =>
      kernelBlockTables(new PagePool(0n as PhysAddr, 16), {
        vaBase: KERNBASE_A64 as KernelVa,
        pa: 0x1000n as PhysAddr,
        size: (2n * MiB) as Size,
      }),
    TrampolineCode.BadRange,
    'misaligned PA',
  );
  throwsCode(
    t,
    () =>
      kernelBlockTables(new PagePool(0n as PhysAddr, 16), {
        vaBase: 0x0001_0000_0000_0000n as KernelVa,
        pa: 0n as PhysAddr,
        size: (2n * MiB) as Size,
      }),
    TrampolineCode.BadRange,
    'between TTBR0 and TTBR1',
  );
  throwsCode(
    t,
    () =>
      kernelBlockTables(new PagePool(0n as PhysAddr, 16), {
        vaBase: KERNBASE_A64 as KernelVa,
        pa: 0n as PhysAddr,
        size: (2n * MiB) as Size,
        extra: [{ va: KERNBASE_A64, pa: (2n * MiB) as PhysAddr, size: (2n * MiB) as Size }],
      }),
    TrampolineCode.BadRange,
    'a second frame for a mapped block',
  );
  t.end();
});
