// Good trampoline inputs for tests: real rescue plans (planRescue on the built-in profiles with
// a makeRescueKernel test kernel), a modelled panicking host for each arch (its tables built
// with kernelTables / kernelBlockTables), kexec copy lists, and small page-table walkers
// written here, independent of the builders.
import type { KernelVa, PhysAddr, PhysRange, Size } from '../../../../loader/addr.js';
import { kernelTables } from '../../../../loader/arch/amd64/paging.js';
import { kernelBlockTables } from '../../../../loader/arch/arm64/paging.js';
import { archInfo, type Arch } from '../../../../loader/arch/index.js';
import { PagePool } from '../../../../loader/arch/page-pool.js';
import { parseElf } from '../../../../loader/elf/reader.js';
import { loadProfile } from '../../../../loader/plan/profile.js';
import { planRescue, type RescuePlan } from '../../../../loader/plan/rescue-plan.js';
import type { HostKernelState, KexecRebootInput, Trampoline } from '../../../../loader/trampoline/index.js';
import { makeRescueKernel } from '../../../helpers/kernels.js';

export const MiB = 1n << 20n;
export const PAGE = 0x1000n;

/** Page images by PA (8-byte entries). */
export type Pages = Map<bigint, BigUint64Array>;

/** Page images of a pool and of trampoline page-table segments, merged. */
export function pagesOf(...sources: (PagePool | Trampoline)[]): Pages {
  const out: Pages = new Map();
  for (const s of sources) {
    if (s instanceof PagePool) {
      for (const p of s.pages()) out.set(p.pa, new BigUint64Array(p.bytes.slice().buffer));
    } else {
      for (const seg of s.segments.filter((x) => x.role === 'page-tables')) {
        for (let off = 0; off < seg.data.length; off += 4096) {
          out.set(seg.phys + BigInt(off), new BigUint64Array(seg.data.slice(off, off + 4096).buffer));
        }
      }
    }
  }
  return out;
}

export interface X86Leaf {
  readonly pa: bigint;
  readonly rw: boolean;
  readonly nx: boolean;
  readonly size: bigint;
}

/** x86-64 4-level walk (Intel SDM Vol. 3 §4.5): the leaf, or undefined when not present. */
export function walkX86(pages: Pages, cr3: bigint, va: bigint): X86Leaf | undefined {
  let table = cr3 & 0x000f_ffff_ffff_f000n;
  let rw = true;
  let nx = false;
  for (const shift of [39n, 30n, 21n, 12n]) {
    const e = pages.get(table)?.[Number((va >> shift) & 511n)];
    if (e === undefined || (e & 1n) === 0n) return undefined;
    rw &&= (e & 2n) !== 0n;
    nx ||= e >> 63n === 1n;
    const frame = e & 0x000f_ffff_ffff_f000n;
    if (shift === 12n || (shift !== 39n && (e & 0x80n) !== 0n)) {
      const mask = (1n << shift) - 1n;
      return { pa: (frame & ~mask) | (va & mask), rw, nx, size: 1n << shift };
    }
    table = frame;
  }
  return undefined;
}

export interface A64Leaf {
  readonly pa: bigint;
  /** Lower attributes of the leaf descriptor (bits 11..2). */
  readonly attrs: bigint;
  readonly level: number;
}

/** AArch64 4 KiB-granule, 48-bit walk from an L0 table (Arm ARM D8.2): the leaf, or undefined. */
export function walkA64(pages: Pages, l0: bigint, va: bigint): A64Leaf | undefined {
  let table = l0 & 0x0000_ffff_ffff_f000n;
  for (const [level, shift] of [
    [0, 39n],
    [1, 30n],
    [2, 21n],
    [3, 12n],
  ] as const) {
    const e = pages.get(table)?.[Number((va >> shift) & 511n)];
    if (e === undefined || (e & 1n) === 0n) return undefined;
    const out = e & 0x0000_ffff_ffff_f000n;
    const isTable = (e & 2n) !== 0n && level < 3;
    if (!isTable) {
      if (level === 0) return undefined; // no L0 blocks with 4 KiB granules
      const mask = (1n << shift) - 1n;
      return { pa: (out & ~mask) | (va & mask), attrs: e & 0xffcn, level };
    }
    table = out;
  }
  return undefined;
}

/** A rescue plan on a built-in profile with the standard test kernel. */
export function rescuePlan(profile: string): RescuePlan {
  const p = loadProfile(profile);
  return planRescue({ kernel: parseElf(makeRescueKernel(p.arch)), kernelName: 'rescue.elf', profile: p });
}

/** A modelled panicking host: its state for the builders and the pool holding its tables. */
export interface HostModel {
  readonly state: HostKernelState;
  readonly pool: PagePool;
}

/**
 * The panicking host for `plan`: a kernel loaded at the profile's host-kernel address, mapped at
 * KERNBASE with 2 MiB pages, rescue_tramp 0x1c0 bytes into a text page, and a 4-page kernel
 * stack in kernel_map (amd64: 0xfffffe00_1234_0000, PML4 slot 508; arm64: KERNBASE + 50 MiB).
 */
export function hostFor(plan: RescuePlan, profile: string): HostModel {
  const range = loadProfile(profile).hostKernel.range;
  const info = archInfo(plan.arch);
  if (plan.arch === 'amd64') {
    // KERNSTART (KERNBASE + 2 MiB) maps the kernel at its load address: KERNBASE -> load - 2 MiB.
    const kernbaseTo = (range.start - 2n * MiB) as PhysAddr;
    const stackRunVa = 0xffff_fe00_1220_0000n as KernelVa;
    const stackRunPa = 0x0280_0000n as PhysAddr;
    const pool = new PagePool(0x0300_0000n as PhysAddr, 16);
    const tables = kernelTables(pool, {
      kernbaseTo,
      size: (range.size + 2n * MiB) as Size,
      extra: [{ va: stackRunVa, pa: stackRunPa, size: (2n * MiB) as Size }],
    });
    const stackVa = 0xffff_fe00_1234_0000n as KernelVa;
    const textOff = 0x40_11c0n;
    return {
      pool,
      state: {
        text: { pa: (kernbaseTo + textOff) as PhysAddr, va: (info.kernbase + textOff) as KernelVa },
        tables: { root: tables.root, upperHalf: tables.upperHalf },
        scratch: 0x0310_0000n as PhysAddr,
        stack: {
          va: stackVa,
          pages: [0n, 1n, 2n, 3n].map((i) => (stackRunPa + (stackVa - stackRunVa) + i * PAGE) as PhysAddr),
          sp: (stackVa + 4n * PAGE - 0x58n) as KernelVa,
        },
      },
    };
  }
  const pool = new PagePool((range.start + 0x300_0000n) as PhysAddr, 16);
  const tables = kernelBlockTables(pool, {
    vaBase: info.kernbase,
    pa: range.start,
    size: range.size,
    identity: [{ start: (range.start + 0x380_0000n) as PhysAddr, size: 0x1000n as Size }],
  });
  const textOff = 0x1_11c0n;
  const stackVa = (info.kernbase + 0x320_0000n) as KernelVa;
  return {
    pool,
    state: {
      text: { pa: (range.start + textOff) as PhysAddr, va: (info.kernbase + textOff) as KernelVa },
      tables: { root: tables.ttbr1, lowRoot: tables.ttbr0 },
      scratch: (range.start + 0x310_0000n) as PhysAddr,
      stack: {
        va: stackVa,
        pages: [0n, 1n, 2n, 3n].map((i) => (range.start + 0x320_0000n + i * PAGE) as PhysAddr),
        sp: (stackVa + 4n * PAGE - 0x60n) as KernelVa,
      },
    },
  };
}

/**
 * A kexec reboot the way loader.kboot stages one: the kernel image copied from a staging
 * buffer to staging + 2 MiB (amd64) or staging (arm64), the metadata page after it, and the
 * EFI memmap copied into the metadata last. Trampoline page at `at`.
 */
export function kexecInput(arch: Arch): KexecRebootInput {
  if (arch === 'amd64') {
    const staging = 0x0400_0000n as PhysAddr;
    return {
      at: 0x0010_0000n as PhysAddr,
      copies: [
        { label: 'kernel', src: 0x0800_0000n as PhysAddr, dst: (staging + 2n * MiB) as PhysAddr, len: 0x7000n as Size },
        { label: 'modinfo', src: 0x0810_0000n as PhysAddr, dst: 0x0430_0000n as PhysAddr, len: 0x1000n as Size },
        { label: 'far', src: 0x1_2000_0000n as PhysAddr, dst: 0x0440_0000n as PhysAddr, len: 0x10_0000n as Size },
      ],
      kernel: {
        entry: 0xffff_ffff_8020_1000n,
        modulep: 0x30_0000n,
        kernend: 0x30_1000n,
        staging,
        memmap: { src: 0x0820_0000n as PhysAddr, dst: 0x0430_0100n as PhysAddr, len: 0x60n as Size },
      },
    };
  }
  const staging = 0x4800_0000n;
  return {
    at: 0x4010_0000n as PhysAddr,
    copies: [
      { label: 'kernel', src: 0x5000_0000n as PhysAddr, dst: staging as PhysAddr, len: 0x7000n as Size },
      {
        label: 'modinfo',
        src: 0x5010_0000n as PhysAddr,
        dst: (staging + 0x10_0000n) as PhysAddr,
        len: 0x1000n as Size,
      },
    ],
    kernel: {
      entry: staging + 0x1000n,
      modulep: 0xffff_0000_0010_0000n,
      memmap: { src: 0x5020_0000n as PhysAddr, dst: (staging + 0x10_0100n) as PhysAddr, len: 0x60n as Size },
    },
    fdt: 0x4f00_0000n as PhysAddr,
  };
}

/** True when every byte of `r` lies in one of `within`. */
export function covered(r: PhysRange, within: readonly PhysRange[]): boolean {
  return within.some((w) => r.start >= w.start && r.start + r.size <= w.start + w.size);
}
