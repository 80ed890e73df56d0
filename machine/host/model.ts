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
  alignDown,
  alignUp,
  hex,
  rangeEnd,
  SZ_1G,
  SZ_2M,
  SZ_4K,
  type KernelVa,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../../loader/addr.js';
import { archInfo, type Arch } from '../../loader/arch/index.js';
import { PagePool } from '../../loader/arch/page-pool.js';
import { PML4_UPPER_HALF } from '../../loader/arch/amd64/paging.js';
import type { ElfImage } from '../../loader/elf/image.js';
import { LPI_PENDTAB_SIZE } from '../../loader/arch/arm64/layout.js';
import { hostFirmware } from '../../loader/plan/firmware.js';
import { buildMemoryMap } from '../../loader/plan/memory-map.js';
import type { DeviceTable, MachineProfile } from '../../loader/plan/profile.js';
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

const PAGE = 0x1000n;
const pageUp = (n: bigint): bigint => alignUp(n as Size, SZ_4K);

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

interface KernelImage {
  readonly bytes: Placement[];
  readonly end: bigint;
  readonly symbols: Record<string, { va: KernelVa; pa: PhysAddr; size: Size }>;
  readonly trampOff: bigint | undefined;
}

/** The host model kernel's version string (FreeBSD's `version[]`, ending in a newline). */
export function modelVersionString(arch: Arch): string {
  return `FreeBSD 15.0-KBOOT-MODEL #0: kboot host model (${arch})\n`;
}

/** Generated text: a deterministic instruction-like stream (not executed; only its bytes matter). */
function modelKernel(arch: Arch, load: PhysAddr, seed: bigint, kstart: bigint): KernelImage {
  const K = MODEL_KERNEL;
  const text = new Uint8Array(Number(K.textSize));
  for (let off = 0n; off < K.textSize; off += PAGE) text.set(pageBytes(seed ^ 0x7e47n, load + off), Number(off));
  const data = new Uint8Array(Number(K.dataSize));
  // data: the kernel version string at its start is a recognisable marker
  const ident = new TextEncoder().encode(`${modelVersionString(arch)}\0`);
  data.set(ident, 0x800);
  const sym = (name: string, off: bigint, size: bigint): [string, { va: KernelVa; pa: PhysAddr; size: Size }] => [
    name,
    { va: (kstart + off) as KernelVa, pa: (load + off) as PhysAddr, size: size as Size },
  ];
  return {
    bytes: [
      { label: 'host kernel text', phys: (load + K.text) as PhysAddr, data: text },
      { label: 'host kernel data', phys: (load + K.data) as PhysAddr, data },
    ],
    end: K.bss + K.bssSize,
    symbols: Object.fromEntries([
      sym('btext', K.text, K.textSize),
      sym('rescue_tramp', K.rescueTramp, 0x40n),
      sym('dump_avail', K.dumpAvail, BigInt(HOST.DUMP_AVAIL_COUNT * 8)),
      sym('version', K.data + 0x800n, BigInt(ident.length)),
      sym('gdt', K.gdt, PAGE),
      sym('pt_l0', K.scratch, 3n * PAGE),
      sym('end', K.bss + K.bssSize, 0n),
    ]),
    trampOff: K.rescueTramp,
  };
}

function givenKernel(kernel: ElfImage, arch: Arch, load: PhysAddr, kstart: bigint): KernelImage {
  const loads = kernel.loadSegments;
  if (kernel.arch !== arch || loads.length === 0 || loads.some((p) => p.vaddr < kstart)) {
    throw new HostError(
      HostCode.BadKernel,
      `machine: the host kernel (${kernel.arch}, ${hex(loads.length)} PT_LOADs) does not fit a ${arch} host linked at ${hex(kstart)}`,
      { arch: kernel.arch, want: arch, loads: loads.length },
    );
  }
  const end = loads.reduce((m, p) => (p.vaddr + p.memsz - kstart > m ? p.vaddr + p.memsz - kstart : m), 0n);
  const symbols: Record<string, { va: KernelVa; pa: PhysAddr; size: Size }> = {};
  for (const s of kernel.symbols) {
    if (s.value >= kstart && s.value <= kstart + end && s.name !== '') {
      // `end`-style symbols sit just past the image
      symbols[s.name] = { va: s.value as KernelVa, pa: (load + s.value - kstart) as PhysAddr, size: s.size as Size };
    }
  }
  const tramp = symbols['rescue_tramp'];
  return {
    bytes: loads.map((p, i) => ({
      label: `host kernel PT_LOAD #${i}`,
      phys: (load + p.vaddr - kstart) as PhysAddr,
      data: kernel.bytes.subarray(Number(p.offset), Number(p.offset + p.filesz)),
    })),
    end,
    symbols,
    trampOff: tramp === undefined ? undefined : tramp.pa - load,
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

/** Builds the host model (see the module contract). */
export function buildHostModel(profile: MachineProfile, opts: HostModelOptions): HostModel {
  const arch = profile.arch;
  const info = archInfo(arch);
  const seed = BigInt(opts.seed);
  const hostRange = profile.hostKernel.range;
  const load = hostRange.start;
  const kernbasePa = (arch === 'amd64' ? load - SZ_2M : load) as PhysAddr;
  const kstart = info.kernstart as bigint;
  const img =
    opts.kernel === undefined ? modelKernel(arch, load, seed, kstart) : givenKernel(opts.kernel, arch, load, kstart);

  // 1. The loader's hand-off after the image, then everything else from its decoded form.
  const map = buildMemoryMap(profile);
  const handoff = encodeHostHandoff({
    arch,
    kernbasePa,
    at: pageUp(load + img.end) as PhysAddr,
    kernelName: '/boot/kernel/kernel',
    image: { start: load, size: img.end as Size },
    kenv: profile.hostKernel.kenv,
    boothowto: profile.hostKernel.boothowto,
    firmware: hostFirmware(profile, map),
    ...(opts.modules === undefined ? {} : { modules: opts.modules }),
  });
  const view = decodeHostHandoff(placementReader(handoff.placements), {
    arch,
    modulepPa: handoff.modulepPa,
    kernbasePa,
  });

  // 2. Early allocations from KERNEND (physfree): table pages, a guard page, the stack, and
  //    for a given kernel the globals the model kernel keeps in data/bss.
  let physfree = pageUp(view.kernendPa);
  const take = (pages: number): PhysAddr => {
    const pa = physfree as PhysAddr;
    physfree += BigInt(pages) * PAGE;
    return pa;
  };
  const poolPages = hostTablePages(view);
  const poolPa = take(poolPages);
  take(1); // guard
  const stackPa = take(HOST.KSTACK_PAGES);
  const sym = img.symbols;
  const dumpAvailPa = sym['dump_avail']?.pa ?? take(1);
  const gdt = sym['gdt']?.pa ?? take(1);
  const scratch = sym['pt_l0']?.pa ?? take(3);
  const trampPa = (img.trampOff === undefined ? take(1) + 0x1c0n : load + img.trampOff) as PhysAddr;
  if (physfree > rangeEnd(hostRange)) {
    throw new HostError(
      HostCode.RangeTooSmall,
      `machine: the host kernel range ${hex(hostRange.start)}+${hex(hostRange.size)} cannot hold the image, metadata and early allocations (need up to ${hex(physfree)})`,
      { start: hostRange.start, size: hostRange.size, needs: physfree - load },
    );
  }

  // 3. dump_avail and what the kernel keeps out of its free memory.
  const pairs = dumpAvailFrom(view);
  if (pairs.length + 1 > HOST.DUMP_AVAIL_COUNT / 2) {
    throw new HostError(
      HostCode.NoMemory,
      `machine: ${hex(pairs.length)} dump_avail ranges do not fit dump_avail[${HOST.DUMP_AVAIL_COUNT}]`,
      { ranges: pairs.length },
    );
  }
  const dumpable = pairs.map(([s, e]) => ({ start: s as PhysAddr, size: (e - s) as Size }));
  const noDump = normalize(opts.noDump ?? []);
  const deviceTables = profile.gic?.tables ?? [];
  const busy = [hostRange, ...noDump, ...deviceTables.map((t) => t.range)];
  let free = subtract(dumpable, busy);

  // msgbuf: top of the last free segment (getmemsize / pmap_bootstrap take it from phys_avail's end)
  const msgSizeTunable = view.kenv.find(([k]) => k === HOST.MSGBUFSIZE_TUNABLE)?.[1];
  const msgRegion = pageUp(
    BigInt(msgSizeTunable !== undefined && /^\d+$/.test(msgSizeTunable) ? msgSizeTunable : HOST.MSGBUF_SIZE),
  );
  const last = free[free.length - 1];
  if (last === undefined || last.size < msgRegion) {
    throw new HostError(HostCode.NoMemory, `machine: no free RAM for a ${hex(msgRegion)}-byte msgbuf`, {
      size: msgRegion,
    });
  }
  const msgRange = { start: (rangeEnd(last) - msgRegion) as PhysAddr, size: msgRegion as Size };
  free = subtract(free, [msgRange]);
  // bitmap: top of the biggest free segment (vm_page_startup)
  const vmPages = Number(dumpAvailPages(pairs));
  const bitmapBytes = Math.ceil(vmPages / 64) * 8;
  const bitmapRegion = pageUp(BigInt(bitmapBytes));
  const biggest = free.reduce<PhysRange | undefined>((b, r) => (b === undefined || r.size > b.size ? r : b), undefined);
  if (biggest === undefined || biggest.size < bitmapRegion) {
    throw new HostError(HostCode.NoMemory, `machine: no free RAM for the ${hex(bitmapRegion)}-byte vm_page_dump`, {
      size: bitmapRegion,
    });
  }
  const bitmapRange = { start: (rangeEnd(biggest) - bitmapRegion) as PhysAddr, size: bitmapRegion as Size };
  free = subtract(free, [bitmapRange]);

  // 4. Page tables.
  const fmt = TABLE_FORMATS[arch];
  const pool = new PagePool(poolPa, poolPages);
  const root = pool.alloc('the host root table');
  const lowRoot = arch === 'arm64' ? pool.alloc('the host TTBR0 L0 (empty)') : undefined;
  const kmapSize = alignUp(hostRange.size, SZ_2M);
  const kernbaseMap = { va: info.kernstart, pa: load, size: kmapSize };
  mapRun(pool, root, fmt, { va: kernbaseMap.va, pa: load, size: kmapSize, largest: 2 });
  const ramOut = normalize(
    view.physmem.map((r) => {
      const s = alignDown(r.start, SZ_2M);
      return { start: s, size: (alignUp((r.start + r.size) as Size, SZ_2M) - s) as Size };
    }),
  );
  const dmapBase = (arch === 'arm64' ? alignDown((ramOut[0]?.start ?? 0n) as PhysAddr, SZ_1G) : 0n) as PhysAddr;
  for (const r of ramOut) {
    mapRun(pool, root, fmt, { va: info.dmapMin + (r.start - dmapBase), pa: r.start, size: r.size });
  }
  const kmVa = (arch === 'amd64' ? info.vmMinKernelAddress : info.kernbase + kmapSize) as bigint;
  const stackVa = (kmVa + PAGE) as KernelVa;
  mapRun(pool, root, fmt, { va: stackVa, pa: stackPa, size: BigInt(HOST.KSTACK_PAGES) * PAGE, largest: 1 });
  const bitmapVa = (kmVa + 0x1_0000n) as KernelVa;
  mapRun(pool, root, fmt, { va: bitmapVa, pa: bitmapRange.start, size: bitmapRegion, largest: 1 });
  const kernelVmEnd = alignUp((bitmapVa + bitmapRegion) as Size, SZ_2M) as bigint as KernelVa;
  const tablePages = pool.pages();
  const tablesRange = { start: poolPa, size: (BigInt(tablePages.length) * PAGE) as Size };

  // 5. Allocated (UMA) pages, chosen from what is still free.
  const rnd = new SeededRandom(seed, 1n);
  const want = opts.allocatedPages ?? HOST.DEFAULT_ALLOCATED_PAGES;
  const freePages = free.map((r) => r.size / PAGE);
  const totalFree = freePages.reduce((a, b) => a + b, 0n);
  const chosen = new Set<bigint>();
  for (let tries = 0; chosen.size < want && tries < want * 4 && totalFree > 0n; tries++) {
    let k = rnd.below(totalFree);
    for (let i = 0; i < free.length; i++) {
      const n = freePages[i] ?? 0n;
      const r = free[i];
      if (r !== undefined && k < n) {
        chosen.add(r.start + k * PAGE);
        break;
      }
      k -= n;
    }
  }
  const allocated = [...chosen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) as PhysAddr[];

  // 6. The bitmap: every page a minidump takes.
  const bitmap = new Uint8Array(bitmapBytes);
  const setPa = (pa: bigint): void => {
    if (noDump.some((r) => pa >= r.start && pa < rangeEnd(r))) return;
    if (deviceTables.some((t) => pa >= t.range.start && pa < rangeEnd(t.range))) return;
    const b = paToBit(pairs, pa);
    if (b === undefined) return;
    const bit = Number(b);
    bitmap[bit >> 3] = (bitmap[bit >> 3] ?? 0) | (1 << (bit & 7));
  };
  const setRange = (r: PhysRange): void => {
    for (const x of intersectAll([r], dumpable))
      for (let pa = x.start as bigint; pa < rangeEnd(x); pa += PAGE) setPa(pa);
  };
  setRange({ start: load, size: kmapSize });
  setRange(tablesRange);
  setRange({ start: stackPa, size: (BigInt(HOST.KSTACK_PAGES) * PAGE) as Size });
  setRange(bitmapRange);
  setRange(msgRange);
  allocated.forEach(setPa);

  // 7. msgbuf contents.
  const msgStructPa = (rangeEnd(msgRange) - BigInt(Msgbuf.size)) as PhysAddr;
  const msgSize = Number(msgRegion) - Msgbuf.size;
  const text = bootMessages(profile, view, seed);
  const textBytes = new TextEncoder().encode(text).subarray(0, msgSize);
  const msgBuf = new Uint8Array(msgSize);
  msgBuf.set(textBytes);
  const cksum = textBytes.reduce((a, b) => (a + b) >>> 0, 0);
  const dmapVa = (pa: bigint): bigint => info.dmapMin + (pa - dmapBase);
  const msgStruct = Msgbuf.encode({
    msgPtr: dmapVa(msgRange.start),
    msgMagic: HOST.MSG_MAGIC,
    msgSize,
    msgWseq: textBytes.length,
    msgRseq: 0,
    msgCksum: cksum,
    msgSeqmod: msgSize * HOST.SEQMOD_FACTOR,
    msgLastpri: -1 >>> 0,
    msgFlags: 0,
    loName: 0n,
    loFlags: 0,
    loData: 0,
    loWitness: 0n,
    mtxLock: 4n, // MTX_UNOWNED (sys/sys/mutex.h)
  });

  // 8. dump_avail[] in the kernel's data.
  const da = new Uint8Array(HOST.DUMP_AVAIL_COUNT * 8);
  pairs.forEach(([s, e], i) => DumpAvailPair.encodeInto(da, i * DumpAvailPair.size, { start: s, end: e }));

  const loaderPlacements: Placement[] = [...img.bytes, ...handoff.placements];
  const placements: Placement[] = [
    ...loaderPlacements,
    ...tablePages.map((p, i) => ({ label: `host page table #${i}`, phys: p.pa, data: p.bytes })),
    { label: 'dump_avail', phys: dumpAvailPa, data: da },
    { label: 'msgbuf buffer', phys: msgRange.start, data: msgBuf },
    { label: 'struct msgbuf', phys: msgStructPa, data: msgStruct },
    { label: 'vm_page_dump', phys: bitmapRange.start, data: bitmap },
  ];
  const state: HostKernelState = {
    text: { pa: trampPa, va: (kstart + (trampPa - load)) as KernelVa },
    tables: {
      root,
      ...(lowRoot === undefined ? {} : { lowRoot }),
      ...(arch === 'amd64'
        ? { upperHalf: Array.from({ length: 512 - PML4_UPPER_HALF }, (_, i) => pool.get(root, PML4_UPPER_HALF + i)) }
        : {}),
    },
    scratch,
    stack: {
      va: stackVa,
      pages: Array.from({ length: HOST.KSTACK_PAGES }, (_, i) => (stackPa + BigInt(i) * PAGE) as PhysAddr),
      sp: (stackVa + BigInt(HOST.KSTACK_PAGES) * PAGE - 0x60n) as KernelVa,
    },
    ...(arch === 'amd64' ? { pgNx: 0n } : {}),
  };
  return {
    arch,
    profileName: profile.name,
    seed,
    load,
    kernbasePa,
    kernel: { image: { start: load, size: img.end as Size }, generated: opts.kernel === undefined, symbols: sym },
    handoff,
    view,
    tables: {
      root,
      lowRoot,
      pages: tablesRange,
      kernbaseMap,
      dmap: { basePa: dmapBase, ranges: ramOut },
      kernelMap: { va: kmVa as KernelVa, end: kernelVmEnd },
    },
    stack: { va: stackVa, pages: state.stack.pages },
    msgbuf: {
      region: msgRange,
      bufPa: msgRange.start,
      structPa: msgStructPa,
      size: msgSize,
      text: text.slice(0, textBytes.length),
    },
    dumpAvail: { pa: dumpAvailPa, pairs },
    bitmap: { pa: bitmapRange.start, va: bitmapVa, pages: vmPages, bytes: bitmapBytes, data: bitmap },
    allocated,
    deviceTables,
    noDump,
    placements,
    loaderPlacements,
    entry: (opts.kernel?.entry ?? kstart + MODEL_KERNEL.text) as KernelVa,
    state,
    gdt,
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
    dpVmdumpsz: model.arch === 'arm64' ? pageUp(BigInt(model.bitmap.bytes)) : BigInt(model.bitmap.bytes),
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
 * Writes the model into guest RAM: placements, seeded pages and device tables. With
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
}
