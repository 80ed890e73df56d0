/**
 * The panicking host kernel, as much of it as rescue_kernel_exec needs: its translation
 * tables (KERNBASE mapping of the kernel, the kernel_map run holding the thread's stack),
 * the text page holding rescue_tramp, scratch pages (arm64's static pt_l0/l1/l2, amd64's
 * GDT) and the kernel stack — all laid out inside the profile's host-kernel range.
 *
 * Contract: `panicHost(profile)` is pure and deterministic; it returns the
 * `HostKernelState` the trampoline builders take, the page images of the host's tables and
 * the GDT address, and everything lies inside `profile.hostKernel.range`.
 * Layout (offsets from the host kernel's load address; FreeBSD: sys/amd64/amd64/locore.S
 * `.p2align 6` for rescue_tramp, kernel stacks in kernel_map; sys/arm64 KERNBASE map):
 *   +0x10_01c0  rescue_tramp (text)          +0x180_0000  host page tables (16 pages)
 *   +0x1a0_0000 scratch (GDT / pt_l0..l2)    +0x200_0000  2 MiB kernel_map run with the stack
 * The full host model (msgbuf, dump_avail, page contents...) builds on this.
 */
import { hex, type KernelVa, type PhysAddr, type Size } from '../../loader/addr.js';
import { kernelTables } from '../../loader/arch/amd64/paging.js';
import { kernelBlockTables } from '../../loader/arch/arm64/paging.js';
import { archInfo, type Arch } from '../../loader/arch/index.js';
import { PagePool } from '../../loader/arch/page-pool.js';
import type { MachineProfile } from '../../loader/plan/profile.js';
import type { HostKernelState } from '../../loader/trampoline/index.js';
import type { Placement } from '../machine.js';
import { MachineCode, MachineError } from '../errors.js';

const MiB = 1n << 20n;
const PAGE = 0x1000n;
/** Offsets inside the host kernel range (see the module header). */
export const PANIC_HOST_LAYOUT = {
  tramp: 0x10_01c0n,
  tables: 0x180_0000n,
  tablePages: 16,
  scratch: 0x1a0_0000n,
  stackRun: 0x200_0000n,
  stackPages: 4,
  /** Bytes of the host range the layout needs. */
  needs: 0x240_0000n,
} as const;

export interface PanicHost {
  readonly state: HostKernelState;
  /** The host's page-table pages to place in RAM. */
  readonly placements: readonly Placement[];
  /** Where the machine may put the amd64 GDT (a scratch page). */
  readonly gdt: PhysAddr;
}

interface HostOps {
  /** Kernel-map VA of the stack run (2 MiB aligned). */
  readonly stackRunVa: bigint;
  readonly build: (
    pool: PagePool,
    load: PhysAddr,
    range: Size,
    stackRunVa: KernelVa,
    stackRunPa: PhysAddr,
  ) => HostKernelState['tables'];
  /** VA at which the host runs its text at `load + off`. */
  readonly textVa: (off: bigint) => KernelVa;
  /** amd64 pg_nx: 0, because Unicorn 2.0.1 cannot enable EFER.NXE (the emulated CPU has no NX). */
  readonly pgNx?: bigint;
}

const OPS: { readonly [A in Arch]: HostOps } = {
  amd64: {
    // kernel_map (VM_MIN_KERNEL_ADDRESS upwards, PML4 slot 508), where kernel stacks live
    stackRunVa: 0xffff_fe00_1220_0000n,
    // KERNSTART maps the kernel at its load address, so KERNBASE maps load - 2 MiB (loader.kboot, locore)
    build: (pool, load, range, stackRunVa, stackRunPa) => {
      const t = kernelTables(pool, {
        kernbaseTo: (load - 2n * MiB) as PhysAddr,
        size: (range + 2n * MiB) as Size,
        extra: [{ va: stackRunVa, pa: stackRunPa, size: (2n * MiB) as Size }],
      });
      return { root: t.root, upperHalf: t.upperHalf };
    },
    textVa: (off) => (archInfo('amd64').kernstart + off) as KernelVa,
    pgNx: 0n,
  },
  arm64: {
    stackRunVa: archInfo('arm64').kernbase + 0x200_0000n + 0x4000_0000n,
    build: (pool, load, range, stackRunVa, stackRunPa) => {
      const t = kernelBlockTables(pool, {
        vaBase: archInfo('arm64').kernbase,
        pa: load,
        size: range,
        extra: [{ va: stackRunVa, pa: stackRunPa, size: (2n * MiB) as Size }],
      });
      return { root: t.ttbr1, lowRoot: t.ttbr0 };
    },
    textVa: (off) => (archInfo('arm64').kernbase + off) as KernelVa,
  },
};

/** The panicking host of `profile` (see the module contract). */
export function panicHost(profile: MachineProfile): PanicHost {
  const L = PANIC_HOST_LAYOUT;
  const range = profile.hostKernel.range;
  if (range.size < L.needs) {
    throw new MachineError(
      MachineCode.HostModel,
      `machine: the host kernel range ${hex(range.size)} is smaller than the ${hex(L.needs)} bytes the panic host needs`,
      {
        size: range.size,
        needs: L.needs,
      },
    );
  }
  const ops = OPS[profile.arch];
  const load = range.start;
  const pool = new PagePool((load + L.tables) as PhysAddr, L.tablePages);
  const stackRunPa = (load + L.stackRun) as PhysAddr;
  const stackRunVa = ops.stackRunVa as KernelVa;
  const tables = ops.build(pool, load, range.size, stackRunVa, stackRunPa);
  const stackVa = (stackRunVa + 0x14_0000n) as KernelVa;
  const pages = Array.from(
    { length: L.stackPages },
    (_, i) => (stackRunPa + 0x14_0000n + BigInt(i) * PAGE) as PhysAddr,
  );
  const state: HostKernelState = {
    text: { pa: (load + L.tramp) as PhysAddr, va: ops.textVa(L.tramp) },
    tables,
    scratch: (load + L.scratch + PAGE) as PhysAddr,
    stack: { va: stackVa, pages, sp: (stackVa + BigInt(L.stackPages) * PAGE - 0x60n) as KernelVa },
    ...(ops.pgNx === undefined ? {} : { pgNx: ops.pgNx }),
  };
  return {
    state,
    placements: pool.pages().map((p, i) => ({ label: `host page table #${i}`, phys: p.pa, data: p.bytes })),
    gdt: (load + L.scratch) as PhysAddr,
  };
}
