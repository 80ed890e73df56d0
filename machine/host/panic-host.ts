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
import { add, hex, kva, size, sub, SZ_2M, SZ_4K, type KernelVa, type PhysAddr, type Size } from '../../loader/addr.js';
import { kernelTables } from '../../loader/arch/amd64/paging.js';
import { kernelBlockTables } from '../../loader/arch/arm64/paging.js';
import { archInfo, type Arch } from '../../loader/arch/index.js';
import { PagePool } from '../../loader/arch/page-pool.js';
import type { MachineProfile } from '../../loader/plan/profile.js';
import type { HostKernelState } from '../../loader/trampoline/index.js';
import type { Placement } from '../machine.js';
import { MachineCode, MachineError } from '../errors.js';

/** Offsets inside the host kernel range (see the module header). */
export const PANIC_HOST_LAYOUT = {
  tramp: size(0x10_01c0),
  tables: size(0x180_0000),
  tablePages: 16,
  scratch: size(0x1a0_0000),
  stackRun: size(0x200_0000),
  /** The stack's offset in its 2 MiB kernel_map run. */
  stackInRun: size(0x14_0000),
  stackPages: 4,
  /** Bytes of the host range the layout needs. */
  needs: size(0x240_0000),
} as const;
/** Bytes above the panicking thread's SP to the top of its stack (as in the host model, UNVERIFIED). */
const PANIC_FRAMES_BYTES = size(0x60);

export interface PanicHost {
  readonly state: HostKernelState;
  /** The host's page-table pages to place in RAM. */
  readonly placements: readonly Placement[];
  /** Where the machine may put the amd64 GDT (a scratch page). */
  readonly gdt: PhysAddr;
}

interface HostOps {
  /** Kernel-map VA of the stack run (2 MiB aligned). */
  readonly stackRunVa: KernelVa;
  readonly build: (
    pool: PagePool,
    load: PhysAddr,
    range: Size,
    stackRunVa: KernelVa,
    stackRunPa: PhysAddr,
  ) => HostKernelState['tables'];
  /** VA at which the host runs its text at `load + off`. */
  readonly textVa: (off: Size) => KernelVa;
  /** amd64 pg_nx: 0, because Unicorn 2.0.1 cannot enable EFER.NXE (the emulated CPU has no NX). */
  readonly pgNx?: bigint;
}

const OPS: { readonly [A in Arch]: HostOps } = {
  amd64: {
    // kernel_map (VM_MIN_KERNEL_ADDRESS upwards, PML4 slot 508), where kernel stacks live
    stackRunVa: kva(0xffff_fe00_1220_0000n),
    // KERNSTART maps the kernel at its load address, so KERNBASE maps load - 2 MiB (loader.kboot, locore)
    build: (pool, load, range, stackRunVa, stackRunPa) => {
      const t = kernelTables(pool, {
        kernbaseTo: sub(load, SZ_2M),
        size: add(range, SZ_2M),
        extra: [{ va: stackRunVa, pa: stackRunPa, size: SZ_2M }],
      });
      return { root: t.root, upperHalf: t.upperHalf };
    },
    textVa: (off) => add(archInfo('amd64').kernstart, off),
    pgNx: 0n,
  },
  arm64: {
    // a kernel_map VA 1 GiB + 32 MiB above KERNBASE, clear of the KERNBASE map (a model choice)
    stackRunVa: add(archInfo('arm64').kernbase, size(0x200_0000n + 0x4000_0000n)),
    build: (pool, load, range, stackRunVa, stackRunPa) => {
      const t = kernelBlockTables(pool, {
        vaBase: archInfo('arm64').kernbase,
        pa: load,
        size: range,
        extra: [{ va: stackRunVa, pa: stackRunPa, size: SZ_2M }],
      });
      return { root: t.ttbr1, lowRoot: t.ttbr0 };
    },
    textVa: (off) => add(archInfo('arm64').kernbase, off),
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
  const pool = new PagePool(add(load, L.tables), L.tablePages);
  const stackRunPa = add(load, L.stackRun);
  const stackRunVa = ops.stackRunVa;
  const tables = ops.build(pool, load, range.size, stackRunVa, stackRunPa);
  const stackVa = add(stackRunVa, L.stackInRun);
  const stackPa = add(stackRunPa, L.stackInRun);
  const pages = Array.from({ length: L.stackPages }, (_, i) => add(stackPa, size(BigInt(i) * SZ_4K)));
  const stackTop = add(stackVa, size(BigInt(L.stackPages) * SZ_4K));
  const state: HostKernelState = {
    text: { pa: add(load, L.tramp), va: ops.textVa(L.tramp) },
    tables,
    scratch: add(load, add(L.scratch, SZ_4K)),
    stack: { va: stackVa, pages, sp: sub(stackTop, PANIC_FRAMES_BYTES) },
    ...(ops.pgNx === undefined ? {} : { pgNx: ops.pgNx }),
  };
  return {
    state,
    placements: pool.pages().map((p, i) => ({ label: `host page table #${i}`, phys: p.pa, data: p.bytes })),
    gdt: add(load, L.scratch),
  };
}
