/**
 * The FreeBSD-shaped host kernel in guest RAM (ARCHITECTURE.md "Host-kernel model").
 *
 * Contract: `buildHostModel(profile, { seed, kernel?, noDump?, allocatedPages? })` is pure and
 * deterministic for (profile, options). It stages the loader's hand-off (hand-off.ts) after the
 * kernel image, then derives every memory decision from the DECODED hand-off only
 * (decodeHostHandoff), as the real kernel does. `installHost(machine, model)` writes it all.
 * Layout (offsets from the load address L = profile.hostKernel.range.start):
 *   L + 0            kernel image (file offset 0 at KERNSTART on amd64, at KERNBASE on arm64):
 *                    the model kernel's text / data (dump_avail[], GDT) / bss (pt_l0..l2)
 *   after the image  kenv, [DTB], modinfo (loader), up to KERNEND
 *   KERNEND          page-table pages (create_pagetables / pmap_bootstrap), then the panicking
 *                    thread's kernel stack (KSTACK_PAGES)
 *   top of RAM       msgbuf (buffer, then struct msgbuf at its end: msgbufinit) in the last
 *                    free segment; the vm_page_dump bitmap at the top of the biggest one
 *                    (vm_page_startup, sys/vm/vm_page.c)
 * Tables: amd64 — KERNSTART + k → L + k with 2 MiB pages (a 2 MiB hole at KERNBASE,
 * amd64_loadaddr()), the DMAP at DMAP_MIN_ADDRESS over the RAM rounded out to 2 MiB
 * (1 GiB pages where aligned), kernel_map at VM_MIN_KERNEL_ADDRESS with 4 KiB pages for the
 * stack and the bitmap (sys/amd64/amd64/pmap.c create_pagetables). arm64 — TTBR1: KERNBASE +
 * k → L + k with L2 blocks, the DMAP at DMAP_MIN_ADDRESS from dmap_phys_base (lowest RAM
 * rounded down to 1 GiB) with L1 blocks where aligned, kernel_map right after the kernel map;
 * TTBR0 empty (sys/arm64/arm64/pmap.c pmap_bootstrap_dmap).
 * The vm_page_dump bitmap (sys/vm/vm_dumpset.h) has one bit per dump_avail page, set for every
 * page a minidump takes: the KERNBASE-mapped pages, page tables, kernel_map pages, the msgbuf
 * and the seeded "allocated" (UMA) pages — never a `noDump` range (M_NODUMP, e.g. the rescue
 * reservation) nor a device table. Allocated pages hold `pageBytes(seed, pa)`.
 */
import {
  add,
  alignDown,
  alignUp,
  hex,
  kva,
  offsetFrom,
  phys,
  range,
  rangeEnd,
  size,
  sub,
  SZ_1G,
  SZ_2M,
  SZ_4K,
  type AddrLike,
  type KernelVa,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../../loader/addr.js';
import { archInfo, type Arch, type ArchInfo } from '../../loader/arch/index.js';
import { PagePool } from '../../loader/arch/page-pool.js';
import { PML4_UPPER_HALF } from '../../loader/arch/amd64/paging.js';
import type { ElfImage } from '../../loader/elf/image.js';
import { LPI_PENDTAB_SIZE } from '../../loader/arch/arm64/layout.js';
import { programGicv3 } from './gic-boot.js';
import { hostFirmware } from '../../loader/plan/firmware.js';
import { buildMemoryMap } from '../../loader/plan/memory-map.js';
import type { DeviceTable, MachineProfile } from '../../loader/plan/profile.js';
import { makeRelocation, type Relocation } from '../../loader/plan/load-plan.js';
import { intersectAll, normalize, subtract } from '../../loader/plan/ranges.js';
import type { HostKernelState } from '../../loader/trampoline/types.js';
import type { Machine, Placement } from '../machine.js';
import type { RescueDumpParams } from '../../loader/handoff/params.js';
import { dumpAvailPages, paToBit } from '../../loader/kernel-abi/dump-avail.js';
import { HostCode, HostError } from './errors.js';
import {
  decodeHostHandoff,
  dumpAvailFrom,
  encodeHostHandoff,
  placementReader,
  type HostHandoff,
  type HostView,
  type PreloadInput,
} from './handoff.js';
import { DumpAvailPair, HOST, Msgbuf, MODEL_KERNEL } from '../../loader/kernel-abi/structs.js';
import { pageBytes, SeededRandom } from '../../loader/bytes/prng.js';
import { mapRun, TABLE_FORMATS } from './tables.js';

const pageUp = <A extends AddrLike>(a: A): A => alignUp(a, SZ_4K);

export interface HostModelOptions {
  readonly seed: bigint | number;
  /** A real kernel to place instead of the generated model kernel. */
  readonly kernel?: ElfImage;
  /** M_NODUMP ranges (the rescue reservation): never dumped, never chosen as allocated pages. */
  readonly noDump?: readonly PhysRange[];
  /** How many UMA pages to mark allocated (default HOST.DEFAULT_ALLOCATED_PAGES). */
  readonly allocatedPages?: number;
  /** Modules the loader preloads after the kernel (KLD preload). */
  readonly modules?: readonly PreloadInput[];
}

export interface HostModel {
  readonly arch: Arch;
  readonly profileName: string;
  readonly seed: bigint;
  readonly load: PhysAddr;
  readonly kernbasePa: PhysAddr;
  /** The host kernel's link addresses → physical memory (KERNBASE → kernbasePa). */
  readonly relocation: Relocation;
  /** The kernel image in RAM and its named objects (VA and PA). */
  readonly kernel: {
    readonly image: PhysRange;
    readonly generated: boolean;
    readonly symbols: Readonly<Record<string, { readonly va: KernelVa; readonly pa: PhysAddr; readonly size: Size }>>;
  };
  readonly handoff: HostHandoff;
  /** What the host decoded from its hand-off. */
  readonly view: HostView;
  readonly tables: {
    readonly root: PhysAddr;
    readonly lowRoot: PhysAddr | undefined;
    readonly pages: PhysRange;
    readonly kernbaseMap: { readonly va: KernelVa; readonly pa: PhysAddr; readonly size: Size };
    readonly dmap: { readonly basePa: PhysAddr; readonly ranges: readonly PhysRange[] };
    readonly kernelMap: { readonly va: KernelVa; readonly end: KernelVa };
  };
  readonly stack: { readonly va: KernelVa; readonly pages: readonly PhysAddr[] };
  readonly msgbuf: {
    readonly region: PhysRange;
    readonly bufPa: PhysAddr;
    readonly structPa: PhysAddr;
    readonly size: number;
    readonly text: string;
  };
  readonly dumpAvail: { readonly pa: PhysAddr; readonly pairs: readonly (readonly [bigint, bigint])[] };
  readonly bitmap: {
    readonly pa: PhysAddr;
    readonly va: KernelVa;
    /** vm_page_dump_pages: pages covered by dump_avail. */
    readonly pages: number;
    /** BITSET_SIZE(vm_page_dump_pages) = howmany(pages, 64) · 8. */
    readonly bytes: number;
    readonly data: Uint8Array;
  };
  /** Seeded UMA pages (sorted). */
  readonly allocated: readonly PhysAddr[];
  readonly deviceTables: readonly DeviceTable[];
  readonly noDump: readonly PhysRange[];
  /** Everything to write except the seeded pages and device tables (installHost adds those). */
  readonly placements: readonly Placement[];
  /** The part of `placements` the boot loader puts in RAM (kernel image, modules, kenv, DTB, modinfo). */
  readonly loaderPlacements: readonly Placement[];
  /** The kernel's entry VA (btext / _start). */
  readonly entry: KernelVa;
  readonly state: HostKernelState;
  readonly gdt: PhysAddr;
}

type KernelSymbol = { va: KernelVa; pa: PhysAddr; size: Size };

interface KernelImage {
  readonly bytes: Placement[];
  /** Bytes from the load address to the image's end. */
  readonly end: Size;
  readonly symbols: Record<string, KernelSymbol>;
  /** rescue_tramp's offset from the load address, when the kernel has one. */
  readonly trampOff: Size | undefined;
}

/** The host model kernel's version string (FreeBSD's `version[]`, ending in a newline). */
export function modelVersionString(arch: Arch): string {
  return `FreeBSD 15.0-KBOOT-MODEL #0: kboot host model (${arch})\n`;
}

/** The model kernel's version string sits this far into its data (a recognisable marker). */
const VERSION_OFFSET = size(0x800);

/** Generated text: a deterministic instruction-like stream (not executed; only its bytes matter). */
function modelKernel(arch: Arch, load: PhysAddr, seed: bigint, kstart: KernelVa): KernelImage {
  const K = MODEL_KERNEL;
  const text = new Uint8Array(Number(K.textSize));
  for (let off = 0n; off < K.textSize; off += SZ_4K) text.set(pageBytes(seed ^ 0x7e47n, load + off), Number(off));
  const data = new Uint8Array(Number(K.dataSize));
  const ident = new TextEncoder().encode(`${modelVersionString(arch)}\0`);
  data.set(ident, Number(VERSION_OFFSET));
  const sym = (name: string, off: bigint, bytes: bigint): [string, KernelSymbol] => [
    name,
    { va: add(kstart, size(off)), pa: add(load, size(off)), size: size(bytes) },
  ];
  return {
    bytes: [
      { label: 'host kernel text', phys: add(load, size(K.text)), data: text },
      { label: 'host kernel data', phys: add(load, size(K.data)), data },
    ],
    end: size(K.bss + K.bssSize),
    symbols: Object.fromEntries([
      sym('btext', K.text, K.textSize),
      sym('rescue_tramp', K.rescueTramp, 0x40n),
      sym('dump_avail', K.dumpAvail, BigInt(HOST.DUMP_AVAIL_COUNT * VM_PADDR_BYTES)),
      sym('version', K.data + VERSION_OFFSET, BigInt(ident.length)),
      sym('gdt', K.gdt, SZ_4K),
      sym('pt_l0', K.scratch, 3n * SZ_4K),
      sym('end', K.bss + K.bssSize, 0n),
    ]),
    trampOff: size(K.rescueTramp),
  };
}

function givenKernel(kernel: ElfImage, arch: Arch, load: PhysAddr, kstart: KernelVa): KernelImage {
  const loads = kernel.loadSegments;
  if (kernel.arch !== arch || loads.length === 0 || loads.some((p) => p.vaddr < kstart)) {
    throw new HostError(
      HostCode.BadKernel,
      `machine: the host kernel (${kernel.arch}, ${hex(loads.length)} PT_LOADs) does not fit a ${arch} host linked at ${hex(kstart)}`,
      { arch: kernel.arch, want: arch, loads: loads.length },
    );
  }
  const end = loads.reduce((m, p) => (p.vaddr + p.memsz - kstart > m ? p.vaddr + p.memsz - kstart : m), 0n);
  const toPa = (va: bigint): PhysAddr => add(load, offsetFrom(kva(va), kstart));
  const symbols: Record<string, KernelSymbol> = {};
  for (const s of kernel.symbols) {
    if (s.value >= kstart && s.value <= kstart + end && s.name !== '') {
      // `end`-style symbols sit just past the image
      symbols[s.name] = { va: kva(s.value), pa: toPa(s.value), size: size(s.size) };
    }
  }
  const tramp = symbols['rescue_tramp'];
  return {
    end: size(end),
    bytes: loads.map((p, i) => ({
      label: `host kernel PT_LOAD #${i}`,
      phys: toPa(p.vaddr),
      data: kernel.bytes.subarray(Number(p.offset), Number(p.offset + p.filesz)),
    })),
    symbols,
    trampOff: tramp === undefined ? undefined : offsetFrom(tramp.pa, load),
  };
}

/**
 * Table pages the model kernel reserves: MODEL_KERNEL.tablePages, or more for a host whose
 * vm_page_dump bitmap (mapped with 4 KiB pages: one PT page per 2 MiB of it) and direct map
 * (one PDP page per 512 GiB) need more (servers of several TiB).
 */
function hostTablePages(view: HostView): number {
  const pages = dumpAvailPages(dumpAvailFrom(view));
  const top = view.physmem.reduce((m, r) => (rangeEnd(r) > m ? rangeEnd(r) : m), 0n);
  const need = 32 + Math.ceil(Number(pages) / 8 / Number(SZ_2M)) + Number(top >> 39n);
  return Math.max(MODEL_KERNEL.tablePages, need);
}

/** What every stage of buildHostModel starts from. */
interface HostBase {
  readonly profile: MachineProfile;
  readonly arch: Arch;
  readonly info: ArchInfo;
  readonly seed: bigint;
  /** The host-kernel range; the kernel loads at its start. */
  readonly hostRange: PhysRange;
  readonly load: PhysAddr;
  readonly kernbasePa: PhysAddr;
  readonly img: KernelImage;
}

/** The parts of the host's memory the eight stages of buildHostModel decide, in stage order. */
interface HostLayout {
  readonly loader: LoaderPart;
  readonly early: EarlyPart;
  readonly memory: MemoryPart;
  readonly tables: TablesPart;
  readonly allocated: readonly PhysAddr[];
  readonly bitmap: Uint8Array;
  readonly msgbuf: MsgbufPart;
  readonly dumpAvail: Uint8Array;
}

/** 1. The loader's hand-off and what the host decodes from it. */
interface LoaderPart {
  readonly handoff: HostHandoff;
  readonly view: HostView;
}

/** 2. Early allocations from KERNEND (physfree). */
interface EarlyPart {
  readonly poolPa: PhysAddr;
  /** Table pages in the pool (hostTablePages). */
  readonly poolPages: number;
  readonly stackPa: PhysAddr;
  readonly dumpAvailPa: PhysAddr;
  readonly gdt: PhysAddr;
  readonly scratch: PhysAddr;
  readonly trampPa: PhysAddr;
}

/** 3. dump_avail, the M_NODUMP ranges, and where the msgbuf and the vm_page_dump bitmap go. */
interface MemoryPart {
  readonly pairs: readonly (readonly [bigint, bigint])[];
  readonly dumpable: readonly PhysRange[];
  readonly noDump: readonly PhysRange[];
  readonly deviceTables: readonly DeviceTable[];
  /** Free RAM left after the msgbuf and the bitmap. */
  readonly free: readonly PhysRange[];
  readonly msgRange: PhysRange;
  readonly bitmapRange: PhysRange;
  readonly vmPages: number;
  readonly bitmapBytes: number;
}

/** 4. The host's translation tables. */
interface TablesPart {
  readonly pool: PagePool;
  readonly root: PhysAddr;
  readonly lowRoot: PhysAddr | undefined;
  readonly kernbaseMap: { readonly va: KernelVa; readonly pa: PhysAddr; readonly size: Size };
  readonly dmapBase: PhysAddr;
  readonly ramOut: readonly PhysRange[];
  readonly kmVa: KernelVa;
  readonly stackVa: KernelVa;
  readonly bitmapVa: KernelVa;
  readonly kernelVmEnd: KernelVa;
  readonly pages: readonly { readonly pa: PhysAddr; readonly bytes: Uint8Array }[];
  readonly range: PhysRange;
}

/** 7. The message buffer's bytes. */
interface MsgbufPart {
  readonly structPa: PhysAddr;
  readonly size: number;
  readonly buffer: Uint8Array;
  readonly struct: Uint8Array;
  readonly text: string;
}

/** rescue_tramp's offset in its text page (64-byte aligned, `.p2align 6`), as in the model kernel. */
const RESCUE_TRAMP_PAGE_OFFSET = size(MODEL_KERNEL.rescueTramp % SZ_4K);
/**
 * Bytes above the panicking thread's SP up to the top of its kernel stack: the frames of
 * panic() → vpanic() → rescue_kernel_exec(). A model choice (UNVERIFIED against a real stack).
 */
const PANIC_FRAMES_BYTES = size(0x60);
/** Where kernel_map's stack run and bitmap run start: one guard page, then 64 KiB in. */
const KERNEL_MAP_STACK_OFFSET = SZ_4K;
const KERNEL_MAP_BITMAP_OFFSET = size(0x1_0000);
/** dump_avail[] holds DUMP_AVAIL_COUNT vm_paddr_t entries (8 bytes on amd64 and arm64). */
const VM_PADDR_BYTES = 8;
/** The KSTACK_PAGES pages as a size. */
const KSTACK_BYTES = size(BigInt(HOST.KSTACK_PAGES) * SZ_4K);

/** 1. The loader's hand-off after the image, then everything else from its decoded form. */
function stageLoader(b: HostBase, modules: readonly PreloadInput[] | undefined): LoaderPart {
  const { profile, arch, kernbasePa, load, img } = b;
  const handoff = encodeHostHandoff({
    arch,
    kernbasePa,
    at: pageUp(add(load, img.end)),
    kernelName: '/boot/kernel/kernel',
    image: { start: load, size: img.end },
    kenv: profile.hostKernel.kenv,
    boothowto: profile.hostKernel.boothowto,
    firmware: hostFirmware(profile, buildMemoryMap(profile)),
    ...(modules === undefined ? {} : { modules }),
  });
  const view = decodeHostHandoff(placementReader(handoff.placements), {
    arch,
    modulepPa: handoff.modulepPa,
    kernbasePa,
  });
  return { handoff, view };
}

/**
 * 2. Early allocations from KERNEND (physfree): table pages, a guard page, the stack, and for a
 * given kernel the globals the model kernel keeps in data/bss.
 */
function earlyAllocations(b: HostBase, view: HostView): EarlyPart {
  let physfree = pageUp(view.kernendPa);
  const take = (pages: number): PhysAddr => {
    const pa = physfree;
    physfree = add(physfree, size(BigInt(pages) * SZ_4K));
    return pa;
  };
  const poolPages = hostTablePages(view);
  const poolPa = take(poolPages);
  take(1); // guard
  const stackPa = take(HOST.KSTACK_PAGES);
  const sym = b.img.symbols;
  const early = {
    poolPa,
    poolPages,
    stackPa,
    dumpAvailPa: sym['dump_avail']?.pa ?? take(1),
    gdt: sym['gdt']?.pa ?? take(1),
    scratch: sym['pt_l0']?.pa ?? take(3),
    trampPa: b.img.trampOff === undefined ? add(take(1), RESCUE_TRAMP_PAGE_OFFSET) : add(b.load, b.img.trampOff),
  };
  if (physfree > rangeEnd(b.hostRange)) {
    throw new HostError(
      HostCode.RangeTooSmall,
      `machine: the host kernel range ${hex(b.hostRange.start)}+${hex(b.hostRange.size)} cannot hold the image, metadata and early allocations (need up to ${hex(physfree)})`,
      { start: b.hostRange.start, size: b.hostRange.size, needs: physfree - b.load },
    );
  }
  return early;
}

/** The top `bytes` of `r`. */
const topOf = (r: PhysRange, bytes: Size): PhysRange => range(add(r.start, sub(r.size, bytes)), bytes);

/**
 * 3. dump_avail and what the kernel keeps out of its free memory; the msgbuf at the top of the
 * last free segment (getmemsize / pmap_bootstrap take it from phys_avail's end), the bitmap at
 * the top of the biggest (vm_page_startup).
 */
function memoryPlacement(b: HostBase, view: HostView, noDumpIn: readonly PhysRange[] | undefined): MemoryPart {
  const pairs = dumpAvailFrom(view);
  if (pairs.length + 1 > HOST.DUMP_AVAIL_COUNT / 2) {
    throw new HostError(
      HostCode.NoMemory,
      `machine: ${hex(pairs.length)} dump_avail ranges do not fit dump_avail[${HOST.DUMP_AVAIL_COUNT}]`,
      { ranges: pairs.length },
    );
  }
  const dumpable = pairs.map(([s, e]) => range(phys(s), size(e - s)));
  const noDump = normalize(noDumpIn ?? []);
  const deviceTables = b.profile.gic?.tables ?? [];
  let free = subtract(dumpable, [b.hostRange, ...noDump, ...deviceTables.map((t) => t.range)]);
  const msgSizeTunable = view.kenv.find(([k]) => k === HOST.MSGBUFSIZE_TUNABLE)?.[1];
  const msgRegion = pageUp(
    size(msgSizeTunable !== undefined && /^\d+$/.test(msgSizeTunable) ? BigInt(msgSizeTunable) : HOST.MSGBUF_SIZE),
  );
  const last = free[free.length - 1];
  if (last === undefined || last.size < msgRegion) {
    throw new HostError(HostCode.NoMemory, `machine: no free RAM for a ${hex(msgRegion)}-byte msgbuf`, {
      size: msgRegion,
    });
  }
  const msgRange = topOf(last, msgRegion);
  free = subtract(free, [msgRange]);
  const vmPages = Number(dumpAvailPages(pairs));
  const bitmapBytes = Math.ceil(vmPages / HOST.BITSET_WORD_BITS) * 8;
  const bitmapRegion = pageUp(size(bitmapBytes));
  const biggest = free.reduce<PhysRange | undefined>((m, r) => (m === undefined || r.size > m.size ? r : m), undefined);
  if (biggest === undefined || biggest.size < bitmapRegion) {
    throw new HostError(HostCode.NoMemory, `machine: no free RAM for the ${hex(bitmapRegion)}-byte vm_page_dump`, {
      size: bitmapRegion,
    });
  }
  const bitmapRange = topOf(biggest, bitmapRegion);
  free = subtract(free, [bitmapRange]);
  return { pairs, dumpable, noDump, deviceTables, free, msgRange, bitmapRange, vmPages, bitmapBytes };
}

/** 4. Page tables: the KERNBASE map, the DMAP, kernel_map's stack and bitmap runs. */
function pageTables(b: HostBase, view: HostView, early: EarlyPart, bitmapRange: PhysRange): TablesPart {
  const { arch, info, load, hostRange } = b;
  const fmt = TABLE_FORMATS[arch];
  const pool = new PagePool(early.poolPa, early.poolPages);
  const root = pool.alloc('the host root table');
  const lowRoot = arch === 'arm64' ? pool.alloc('the host TTBR0 L0 (empty)') : undefined;
  const kmapSize = alignUp(hostRange.size, SZ_2M);
  const kernbaseMap = { va: info.kernstart, pa: load, size: kmapSize };
  mapRun(pool, root, fmt, { va: kernbaseMap.va, pa: load, size: kmapSize, largest: 2 });
  const ramOut = normalize(
    view.physmem.map((r) => {
      const s = alignDown(r.start, SZ_2M);
      return range(s, offsetFrom(alignUp(phys(rangeEnd(r)), SZ_2M), s));
    }),
  );
  const dmapBase = arch === 'arm64' ? alignDown(ramOut[0]?.start ?? phys(0), SZ_1G) : phys(0);
  for (const r of ramOut) {
    mapRun(pool, root, fmt, { va: info.dmapMin + (r.start - dmapBase), pa: r.start, size: r.size });
  }
  const kmVa = arch === 'amd64' ? info.vmMinKernelAddress : add(info.kernbase, kmapSize);
  const stackVa = add(kmVa, KERNEL_MAP_STACK_OFFSET);
  mapRun(pool, root, fmt, { va: stackVa, pa: early.stackPa, size: KSTACK_BYTES, largest: 1 });
  const bitmapVa = add(kmVa, KERNEL_MAP_BITMAP_OFFSET);
  mapRun(pool, root, fmt, { va: bitmapVa, pa: bitmapRange.start, size: bitmapRange.size, largest: 1 });
  const pages = pool.pages();
  return {
    pool,
    root,
    lowRoot,
    kernbaseMap,
    dmapBase,
    ramOut,
    kmVa,
    stackVa,
    bitmapVa,
    kernelVmEnd: alignUp(add(bitmapVa, bitmapRange.size), SZ_2M),
    pages,
    range: range(early.poolPa, size(BigInt(pages.length) * SZ_4K)),
  };
}

/** 5. Allocated (UMA) pages, chosen from what is still free. */
function allocatedPages(seed: bigint, free: readonly PhysRange[], want: number): PhysAddr[] {
  const rnd = new SeededRandom(seed, 1n);
  const freePages = free.map((r) => r.size / SZ_4K);
  const totalFree = freePages.reduce((a, n) => a + n, 0n);
  const chosen = new Set<bigint>();
  for (let tries = 0; chosen.size < want && tries < want * 4 && totalFree > 0n; tries++) {
    let k = rnd.below(totalFree);
    for (let i = 0; i < free.length; i++) {
      const n = freePages[i] ?? 0n;
      const r = free[i];
      if (r !== undefined && k < n) {
        chosen.add(r.start + k * SZ_4K);
        break;
      }
      k -= n;
    }
  }
  return [...chosen].sort((a, c) => (a < c ? -1 : a > c ? 1 : 0)).map(phys);
}

/** 6. The vm_page_dump bitmap: every page a minidump takes. */
function dumpBitmap(
  b: HostBase,
  early: EarlyPart,
  mem: MemoryPart,
  tables: TablesPart,
  allocated: readonly PhysAddr[],
): Uint8Array {
  const bitmap = new Uint8Array(mem.bitmapBytes);
  const inAny = (pa: bigint, ranges: readonly PhysRange[]): boolean =>
    ranges.some((r) => pa >= r.start && pa < rangeEnd(r));
  const tableRanges = mem.deviceTables.map((t) => t.range);
  const setPa = (pa: bigint): void => {
    if (inAny(pa, mem.noDump) || inAny(pa, tableRanges)) return;
    const bit = paToBit(mem.pairs, pa);
    if (bit === undefined) return;
    const i = Number(bit);
    bitmap[i >> 3] = (bitmap[i >> 3] ?? 0) | (1 << (i & 7));
  };
  const setRange = (r: PhysRange): void => {
    for (const x of intersectAll([r], mem.dumpable))
      for (let pa = x.start as bigint; pa < rangeEnd(x); pa += SZ_4K) setPa(pa);
  };
  setRange(range(b.load, tables.kernbaseMap.size));
  setRange(tables.range);
  setRange(range(early.stackPa, KSTACK_BYTES));
  setRange(mem.bitmapRange);
  setRange(mem.msgRange);
  allocated.forEach(setPa);
  return bitmap;
}

/** 7. msgbuf contents: the boot messages, then struct msgbuf at the end of its region (msgbufinit). */
function msgbufContents(b: HostBase, view: HostView, msgRange: PhysRange, dmapBase: PhysAddr): MsgbufPart {
  const structPa = sub(phys(rangeEnd(msgRange)), size(Msgbuf.size));
  const msgSize = Number(msgRange.size) - Msgbuf.size;
  const text = bootMessages(b.profile, view, b.seed);
  const textBytes = new TextEncoder().encode(text).subarray(0, msgSize);
  const buffer = new Uint8Array(msgSize);
  buffer.set(textBytes);
  const struct = Msgbuf.encode({
    msgPtr: b.info.dmapMin + (msgRange.start - dmapBase),
    msgMagic: HOST.MSG_MAGIC,
    msgSize,
    msgWseq: textBytes.length,
    msgRseq: 0,
    msgCksum: textBytes.reduce((a, c) => (a + c) >>> 0, 0),
    msgSeqmod: msgSize * HOST.SEQMOD_FACTOR,
    msgLastpri: -1 >>> 0,
    msgFlags: 0,
    loName: 0n,
    loFlags: 0,
    loData: 0,
    loWitness: 0n,
    mtxLock: 4n, // MTX_UNOWNED (sys/sys/mutex.h)
  });
  return { structPa, size: msgSize, buffer, struct, text: text.slice(0, textBytes.length) };
}

/** 8. dump_avail[] in the kernel's data. */
function dumpAvailArray(pairs: readonly (readonly [bigint, bigint])[]): Uint8Array {
  const da = new Uint8Array(HOST.DUMP_AVAIL_COUNT * VM_PADDR_BYTES);
  pairs.forEach(([s, e], i) => DumpAvailPair.encodeInto(da, i * DumpAvailPair.size, { start: s, end: e }));
  return da;
}

/** The eight stages in order (see the module contract). */
function layOutHost(b: HostBase, opts: HostModelOptions): HostLayout {
  const loader = stageLoader(b, opts.modules);
  const early = earlyAllocations(b, loader.view);
  const memory = memoryPlacement(b, loader.view, opts.noDump);
  const tables = pageTables(b, loader.view, early, memory.bitmapRange);
  const allocated = allocatedPages(b.seed, memory.free, opts.allocatedPages ?? HOST.DEFAULT_ALLOCATED_PAGES);
  const bitmap = dumpBitmap(b, early, memory, tables, allocated);
  const msgbuf = msgbufContents(b, loader.view, memory.msgRange, tables.dmapBase);
  return { loader, early, memory, tables, allocated, bitmap, msgbuf, dumpAvail: dumpAvailArray(memory.pairs) };
}

/** What rescue_kernel_exec needs of the host: its text, tables, scratch and the panicking thread's stack. */
function kernelState(b: HostBase, l: HostLayout): HostKernelState {
  const { tables, early } = l;
  return {
    text: { pa: early.trampPa, va: add(b.info.kernstart, offsetFrom(early.trampPa, b.load)) },
    tables: {
      root: tables.root,
      ...(tables.lowRoot === undefined ? {} : { lowRoot: tables.lowRoot }),
      ...(b.arch === 'amd64'
        ? {
            upperHalf: Array.from({ length: 512 - PML4_UPPER_HALF }, (_, i) =>
              tables.pool.get(tables.root, PML4_UPPER_HALF + i),
            ),
          }
        : {}),
    },
    scratch: early.scratch,
    stack: {
      va: tables.stackVa,
      pages: Array.from({ length: HOST.KSTACK_PAGES }, (_, i) => add(early.stackPa, size(BigInt(i) * SZ_4K))),
      sp: sub(add(tables.stackVa, KSTACK_BYTES), PANIC_FRAMES_BYTES),
    },
    ...(b.arch === 'amd64' ? { pgNx: 0n } : {}),
  };
}

/** Everything to write, in order; the loader's part first. */
function placementsOf(b: HostBase, l: HostLayout): { loader: Placement[]; all: Placement[] } {
  const loader: Placement[] = [...b.img.bytes, ...l.loader.handoff.placements];
  const all: Placement[] = [
    ...loader,
    ...l.tables.pages.map((p, i) => ({ label: `host page table #${i}`, phys: p.pa, data: p.bytes })),
    { label: 'dump_avail', phys: l.early.dumpAvailPa, data: l.dumpAvail },
    { label: 'msgbuf buffer', phys: l.memory.msgRange.start, data: l.msgbuf.buffer },
    { label: 'struct msgbuf', phys: l.msgbuf.structPa, data: l.msgbuf.struct },
    { label: 'vm_page_dump', phys: l.memory.bitmapRange.start, data: l.bitmap },
  ];
  return { loader, all };
}

/** Builds the host model (see the module contract). */
export function buildHostModel(profile: MachineProfile, opts: HostModelOptions): HostModel {
  const arch = profile.arch;
  const info = archInfo(arch);
  const seed = BigInt(opts.seed);
  const hostRange = profile.hostKernel.range;
  const load = hostRange.start;
  // amd64: KERNBASE maps 2 MiB below the load address (the kernel's first page is KERNSTART)
  const kernbasePa = arch === 'amd64' ? sub(load, offsetFrom(info.kernstart, info.kernbase)) : load;
  const img =
    opts.kernel === undefined
      ? modelKernel(arch, load, seed, info.kernstart)
      : givenKernel(opts.kernel, arch, load, info.kernstart);
  const b: HostBase = { profile, arch, info, seed, hostRange, load, kernbasePa, img };
  const l = layOutHost(b, opts);
  const state = kernelState(b, l);
  const placements = placementsOf(b, l);
  const { tables, memory } = l;
  return {
    arch,
    profileName: profile.name,
    seed,
    load,
    kernbasePa,
    relocation: makeRelocation(hostRange, kernbasePa, info.kernbase),
    kernel: { image: range(load, img.end), generated: opts.kernel === undefined, symbols: img.symbols },
    handoff: l.loader.handoff,
    view: l.loader.view,
    tables: {
      root: tables.root,
      lowRoot: tables.lowRoot,
      pages: tables.range,
      kernbaseMap: tables.kernbaseMap,
      dmap: { basePa: tables.dmapBase, ranges: tables.ramOut },
      kernelMap: { va: tables.kmVa, end: tables.kernelVmEnd },
    },
    stack: { va: tables.stackVa, pages: state.stack.pages },
    msgbuf: {
      region: memory.msgRange,
      bufPa: memory.msgRange.start,
      structPa: l.msgbuf.structPa,
      size: l.msgbuf.size,
      text: l.msgbuf.text,
    },
    dumpAvail: { pa: l.early.dumpAvailPa, pairs: memory.pairs },
    bitmap: {
      pa: memory.bitmapRange.start,
      va: tables.bitmapVa,
      pages: memory.vmPages,
      bytes: memory.bitmapBytes,
      data: l.bitmap,
    },
    allocated: l.allocated,
    deviceTables: memory.deviceTables,
    noDump: memory.noDump,
    placements: placements.all,
    loaderPlacements: placements.loader,
    entry: opts.kernel?.entry === undefined ? add(info.kernstart, size(MODEL_KERNEL.text)) : kva(opts.kernel.entry),
    state,
    gdt: l.early.gdt,
  };
}

/** Deterministic boot messages in FreeBSD's console style. */
function bootMessages(profile: MachineProfile, view: HostView, seed: bigint): string {
  const total = view.physmem.reduce((a, r) => a + r.size, 0n);
  const lines = [
    '---<<BOOT>>---',
    'Copyright (c) 1992-2025 The FreeBSD Project.',
    `FreeBSD 15.0-KBOOT-MODEL #0: kboot host model (${profile.arch}, seed ${hex(seed)})`,
    `real memory  = ${total} (${total >> 20n} MB)`,
    ...view.physmem.map((r) => `  ${hex(r.start, { width: 16 })} - ${hex(r.start + r.size - 1n, { width: 16 })}`),
    `boothowto ${hex(view.boothowto)}, firmware map: ${view.firmware}`,
    `FreeBSD/SMP: Multiprocessor System Detected: ${profile.cpus} CPUs`,
    'rescue: initialized',
    `Trying to mount root from ${view.kenv.find(([k]) => k === 'vfs.root.mountfrom')?.[1] ?? 'ufs:/dev/ada0p2'}...`,
    'Starting init.',
  ];
  return lines.join('\n') + '\n';
}

/** rescue_dump_params as the host fills them at panic (rescue_dump_params_init). */
export function dumpParams(model: HostModel): RescueDumpParams {
  const info = archInfo(model.arch);
  const nkptEnd = info.kernstart + model.tables.kernbaseMap.size; // KERNBASE + nkpt·NBPDR
  const kernelVmEnd = model.tables.kernelMap.end as bigint;
  return {
    dpMsgbufpa: model.msgbuf.bufPa,
    dpMsgbufsz: BigInt(model.msgbuf.size),
    dpVmdumppa: model.bitmap.pa,
    dpVmdumpsz: model.arch === 'arm64' ? pageUp(size(model.bitmap.bytes)) : BigInt(model.bitmap.bytes),
    dpDumpavailpa: model.dumpAvail.pa,
    rootPa: model.tables.root,
    dpKernstart: info.vmMinKernelAddress,
    dpKernend: model.arch === 'amd64' ? (nkptEnd > kernelVmEnd ? nkptEnd : kernelVmEnd) : kernelVmEnd,
    dpKernmax: info.vmMaxKernelAddress,
    dpDmapbasepa: model.arch === 'arm64' ? model.tables.dmap.basePa : undefined,
    dpDmapmin: info.dmapMin,
    dpDmapmax: info.dmapMax,
  };
}

/** True when the bitmap marks `pa` for the dump. */
export function isDumped(model: HostModel, pa: bigint): boolean {
  const b = paToBit(model.dumpAvail.pairs, pa);
  if (b === undefined) return false;
  const bit = Number(b);
  return ((model.bitmap.data[bit >> 3] ?? 0) >> (bit & 7)) % 2 === 1;
}

/** Plausible GICv3 LPI/ITS table contents (arm64): see installHost. */
function deviceTableBytes(t: DeviceTable, seed: bigint): Uint8Array {
  switch (t.kind) {
    case 'lpi-conf': {
      // 1 byte per LPI: priority 0xa0 | group-1 bit (bit 1); the first 64 LPIs enabled (bit 0). UNVERIFIED defaults.
      const b = new Uint8Array(Number(t.range.size)).fill(0xa2);
      for (let i = 0; i < 64; i++) b[i] = 0xa3;
      return b;
    }
    case 'lpi-pend': {
      const b = new Uint8Array(Number(LPI_PENDTAB_SIZE));
      const rnd = new SeededRandom(seed, t.range.start);
      b[1024 + Number(rnd.below(8n))] = 1; // one pending LPI above GIC_FIRST_LPI (8192 / 8 = byte 1024)
      return b;
    }
    default:
      return pageBytes(seed, t.range.start);
  }
}

/** Allocated pages written per Machine.place call (16 MiB of page images). */
const ALLOCATED_BATCH = 4096;

/**
 * Writes the model into guest RAM: placements, seeded pages and device tables, and programs the
 * GICv3 (if the machine has one) to use those tables, LPIs enabled (./gic-boot.ts). With
 * `{ loader: false }` the boot loader's part (`loaderPlacements`) is left out: it has been
 * delivered by running the loader's kexec trampoline.
 */
export function installHost(machine: Machine, model: HostModel, opts: { readonly loader?: boolean } = {}): void {
  const loaderPart = new Set(model.loaderPlacements);
  machine.place(opts.loader === false ? model.placements.filter((p) => !loaderPart.has(p)) : model.placements);
  // In batches: a server-sized model allocates a GiB of pages, which must not all be in JS memory at once.
  for (let i = 0; i < model.allocated.length; i += ALLOCATED_BATCH) {
    const batch = model.allocated.slice(i, i + ALLOCATED_BATCH);
    machine.place(batch.map((pa) => ({ label: 'allocated page', phys: pa, data: pageBytes(model.seed, pa) })));
  }
  machine.place(
    model.deviceTables.map((t) => ({ label: t.kind, phys: t.range.start, data: deviceTableBytes(t, model.seed) })),
  );
  // The kernel's gicv3_its attach: from here on the tables are live because the registers say so.
  if (machine.gic !== undefined) programGicv3(machine.gic, model.deviceTables);
}
