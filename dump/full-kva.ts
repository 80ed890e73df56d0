/**
 * Kernel virtual addresses of an ELF full dump, translated as libkvm translates them for full
 * dumps (lib/libkvm/kvm_amd64.c _amd64_initvtop / _amd64_vatop): the dump carries no page
 * tables of its own, so the kernel's are found through its symbols.
 *
 * Contract: `fullDumpKva(arch, readPa, kernel)` returns `kvaToPa(va)` and how it translates:
 *  - amd64 with the kernel's symbols `kernbase` and `KPML4phys`: the 8 bytes of the variable
 *    KPML4phys are read at PA `KPML4phys - kernbase` (libkvm reads them before any table is
 *    known, taking KERNBASE to map PA 0), the top-level page (PML4) at the PA they hold, then
 *    every VA walks PML4E → PDPE (PG_PS: a 1 GiB page) → PDE (PG_PS: a 2 MiB page) → PTE,
 *    each entry needing PG_V; an invalid entry is DUMP_NOT_MAPPED naming the level;
 *  - amd64 without those symbols: direct-map addresses only, [DMAP_MIN_ADDRESS,
 *    DMAP_MAX_ADDRESS) → va − DMAP_MIN_ADDRESS (sys/amd64/include/vmparam.h); any other VA
 *    is DUMP_NO_KVA saying which symbols are needed;
 *  - arm64: DUMP_NO_KVA for every VA — libkvm translates arm64 kernel addresses of minidumps
 *    only (lib/libkvm/kvm_aarch64.c _aarch64_minidump_*; it has no full-dump vatop).
 * Reading a table entry uses `readPa`, so a table page absent from the dump is its own
 * DUMP_NOT_DUMPED / DUMP_PAGE_MISSING. The PML4 page is read once, on the first translation.
 */
import { hex } from '../loader/addr.js';
import type { Arch } from '../loader/arch/index.js';
import { DMAP_MAX_ADDRESS, DMAP_MIN_ADDRESS } from '../loader/arch/amd64/layout.js';
import type { ElfSymbolFile } from '../loader/elf/symbols.js';
import { DumpCode, DumpError } from './errors.js';
import { AMD64_PTE } from './layout.js';

/** How an ELF full dump's kernel addresses are translated. */
export type FullKvaMethod = 'page-tables' | 'direct-map' | 'none';

export interface FullDumpKva {
  readonly method: FullKvaMethod;
  kvaToPa(va: bigint): bigint;
}

const PAGE = 0x1000n;
/** AMD64_PG_1GB_FRAME: the frame of a 1 GiB leaf (bits 30..51). */
const PG_1GB_FRAME = AMD64_PTE.PG_FRAME & ~(AMD64_PTE.NBPDP - 1n);

const u64 = (b: Uint8Array, at = 0): bigint =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at, true);

function noKva(va: bigint, why: string, details: Record<string, unknown> = {}): DumpError {
  return new DumpError(
    DumpCode.NoKva,
    `dump: KVA ${hex(va)} of an ELF full dump cannot be translated: ${why} (read by physical address)`,
    { va, why, ...details },
  );
}

function notMapped(va: bigint, level: string): DumpError {
  return new DumpError(DumpCode.NotMapped, `dump: KVA ${hex(va)} is not mapped (${level} not valid)`, {
    va,
    why: `${level} not valid`,
  });
}

/** The amd64 4-level walk from a PML4 page (libkvm _amd64_vatop). */
function amd64Walk(readPa: (pa: bigint, len: number) => Uint8Array, pml4: () => Uint8Array): (va: bigint) => bigint {
  const T = AMD64_PTE;
  const entry = (table: bigint, index: bigint): bigint => u64(readPa((table & T.PG_FRAME) + index * 8n, 8));
  return (va) => {
    const pml4e = u64(pml4(), Number((va >> T.PML4_SHIFT) & 511n) * 8);
    if ((pml4e & T.PG_V) === 0n) throw notMapped(va, 'PML4E');
    const pdpe = entry(pml4e, (va >> T.PDP_SHIFT) & 511n);
    if ((pdpe & T.PG_V) === 0n) throw notMapped(va, 'PDPE');
    if ((pdpe & T.PG_PS) !== 0n) return (pdpe & PG_1GB_FRAME) + (va & (T.NBPDP - 1n));
    const pde = entry(pdpe, (va >> T.PDR_SHIFT) & 511n);
    if ((pde & T.PG_V) === 0n) throw notMapped(va, 'PDE');
    if ((pde & T.PG_PS) !== 0n) return (pde & T.PG_PS_FRAME) + (va & (T.NBPDR - 1n));
    const pte = entry(pde, (va >> 12n) & 511n);
    if ((pte & T.PG_V) === 0n) throw notMapped(va, 'PTE');
    return (pte & T.PG_FRAME) + (va & (PAGE - 1n));
  };
}

/** Translation of an ELF full dump's kernel addresses (see the module contract). */
export function fullDumpKva(
  arch: Arch,
  readPa: (pa: bigint, len: number) => Uint8Array,
  kernel?: Pick<ElfSymbolFile, 'lookup'>,
): FullDumpKva {
  if (arch === 'arm64') {
    return {
      method: 'none',
      kvaToPa: (va) => {
        throw noKva(va, 'libkvm translates arm64 kernel addresses of minidumps only (lib/libkvm/kvm_aarch64.c)', {
          arch,
        });
      },
    };
  }
  const kernbase = kernel?.lookup('kernbase');
  const kpml4phys = kernel?.lookup('KPML4phys');
  if (kernbase === undefined || kpml4phys === undefined) {
    const needed = kernel === undefined ? 'the kernel (--kernel)' : "the kernel's symbols kernbase and KPML4phys";
    return {
      method: 'direct-map',
      kvaToPa: (va) => {
        if (va >= DMAP_MIN_ADDRESS && va < DMAP_MAX_ADDRESS) return va - DMAP_MIN_ADDRESS;
        throw noKva(va, `outside the direct map it needs ${needed}`, { needs: ['kernbase', 'KPML4phys'] });
      },
    };
  }
  if (kpml4phys.value < kernbase.value) {
    return {
      method: 'none',
      kvaToPa: (va) => {
        throw noKva(
          va,
          `the kernel's KPML4phys ${hex(kpml4phys.value)} lies below its kernbase ${hex(kernbase.value)}`,
        );
      },
    };
  }
  let pml4: Uint8Array | undefined;
  const rootPage = (): Uint8Array => {
    if (pml4 === undefined) {
      // KPML4phys holds the PA of the kernel's PML4 page; libkvm reads it at (sym - kernbase)
      const root = u64(readPa(kpml4phys.value - kernbase.value, 8)) & AMD64_PTE.PG_FRAME;
      pml4 = readPa(root, Number(PAGE));
    }
    return pml4;
  };
  return { method: 'page-tables', kvaToPa: amd64Walk(readPa, rootPage) };
}
