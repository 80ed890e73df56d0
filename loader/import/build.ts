/**
 * Machine facts → a machine profile (schemas/machine.schema.json) that `kboot plan`, `boot`,
 * `panic`, `exec` and `compare` take like a built-in one.
 *
 * Contract: `buildImportedProfile(facts, meta)` is pure and deterministic. It returns the
 * profile's JSON object and the parsed MachineProfile; the object always passes
 * `parseProfile` (a combination of facts that does not is IMPORT_UNUSABLE with the
 * problems). What the facts leave open is decided here and recorded as an assumption with a
 * stable code:
 *  - RAM is rounded inward to 4 KiB pages (FreeBSD's getmemsize / physmem do the same with
 *    round_page/trunc_page) — RAM_PAGE_ROUNDED; reserved ranges outward — RESERVED_PAGE_ROUNDED;
 *  - the CPU count when the source has none: 1 — CPUS_ASSUMED; more than the profile's 256
 *    are counted as 256 — CPUS_CLAMPED;
 *  - the console: arm64 boards get kboot's PL011 at the board UART's address when kboot
 *    cannot model that UART (UART_NOT_MODELLED), or at QEMU virt's 0x09000000 (else the lowest
 *    free window) when the source names none (UART_ASSUMED); amd64 gets COM1 at I/O port
 *    0x3f8 (UART_COM1);
 *  - arm64 without an interrupt controller in the source: a GICv3 without ITS at QEMU virt's
 *    addresses, or the lowest free window when RAM or a device is there (GIC_ASSUMED);
 *  - the host kernel: 64 MiB (less when RAM is short) at the lowest 2 MiB-aligned free RAM
 *    (amd64: below 4 GiB, preferring KERNLOAD 2 MiB) — HOST_KERNEL_PLACED;
 *  - GICv3 ITS tables: FreeBSD allocates them at boot (sys/arm64/arm64/gicv3_its.c), so the
 *    real addresses are unknown; kboot puts the LPI configuration table, one pending table per
 *    CPU and a device, collection and command-queue table (64 KiB each) per ITS right after
 *    the host kernel, 64 KiB aligned — LPI_TABLES_PLACED;
 *  - the host kenv: kernel, kernelname and debug.rescue_minidump=1 (what D47358 needs to
 *    reserve at all) — KENV_DEFAULT.
 */
import { hex, phys, rangeEnd, rangeFromEnd, SZ_2M, SZ_4G, SZ_4K, wholePages, type PhysRange } from '../addr.js';
import { LPI_CONFTAB_SIZE, LPI_TABLE_ALIGN } from '../arch/arm64/layout.js';
import { ConfigError } from '../errors.js';
import { MACHINE_DEFAULTS } from '../plan/host-fdt.js';
import { parseProfile, type MachineProfile, type ProfileProvenance } from '../plan/profile.js';
import { normalize, subtract } from '../plan/ranges.js';
import { ImportCode, ImportError } from './errors.js';
import { mergeRanges, type Assumption, type FactRange, type MachineFacts } from './facts.js';

/** What the profile records about how it was made: its name and description, and its provenance. */
export interface ImportMeta extends ProfileProvenance {
  readonly name: string;
  readonly description?: string;
}

/** The result: the file's JSON object and the profile it parses to. */
export interface ImportedProfile {
  readonly json: Record<string, unknown>;
  readonly profile: MachineProfile;
  readonly assumptions: readonly Assumption[];
}

/** The profile schema's bounds. */
const MAX = { cpus: 256, ram: 64, reserved: 256, mmio: 64 } as const;
/** Host kernel sizes tried, largest first. */
const HOST_KERNEL_SIZES = [64n << 20n, 32n << 20n, 16n << 20n];
/** FreeBSD/amd64's KERNLOAD: the loader puts the kernel at 2 MiB (sys/amd64/include/vmparam.h). */
const AMD64_KERNLOAD = 0x20_0000n;
/** COM1 (sys/dev/uart/uart_cpu_x86.c). */
const COM1 = 0x3f8n;
/** An ITS table's size as kboot models it (gicv3_its.c allocates at least one 64 KiB page each). */
const ITS_TABLE_SIZE = 0x1_0000n;
/** The PL011 register window (ARM DDI 0183: 4 KiB). */
const PL011_WINDOW = 0x1000n;

/** A profile name from any text: lower case, [a-z0-9._-], at most 64 characters. */
export function profileName(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/\.(dtb|json|txt|bin)$/, '')
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64);
  return s === '' ? 'imported' : s;
}

const hx = (v: bigint): string => hex(v);
/** Plain-bigint rounding to a power of two (the facts are not branded yet). */
const roundUp = (v: bigint, a: bigint): bigint => (v + a - 1n) & ~(a - 1n);
const roundDown = (v: bigint, a: bigint): bigint => v & ~(a - 1n);
const jr = (r: { readonly start: bigint; readonly size: bigint }): { base: string; size: string } => ({
  base: hx(r.start),
  size: hx(r.size),
});

/** RAM rounded inward to pages, merged, at most MAX.ram ranges. */
function pageRam(facts: MachineFacts, notes: Assumption[]): PhysRange[] {
  const merged = mergeRanges(facts.ram);
  const out: PhysRange[] = [];
  const trimmed: string[] = [];
  for (const r of merged) {
    const pages = wholePages(r.start, r.size);
    if (pages === undefined || pages.start !== r.start || pages.size !== r.size) {
      trimmed.push(`${hx(r.start)}-${hx(r.start + r.size - 1n)}`);
    }
    if (pages !== undefined) out.push(pages);
  }
  if (trimmed.length > 0) {
    notes.push({
      code: 'RAM_PAGE_ROUNDED',
      message: `RAM not on 4 KiB pages is rounded inward, as FreeBSD rounds physmem (${trimmed.join(', ')})`,
    });
  }
  if (out.length === 0) {
    throw new ImportError(
      ImportCode.NoMemory,
      'import: no whole 4 KiB page of RAM in the source: give the RAM with --memory BASE:SIZE',
      {
        hint: '--memory',
      },
    );
  }
  if (out.length > MAX.ram) {
    throw new ImportError(
      ImportCode.TooLarge,
      `import: ${out.length} RAM ranges, more than a profile holds (${MAX.ram})`,
      {
        count: out.length,
        limit: MAX.ram,
      },
    );
  }
  return out;
}

/** Reserved ranges rounded outward to pages; a range already taken by an earlier one is left out. */
function pageReserved(facts: MachineFacts, notes: Assumption[]): Record<string, string>[] {
  const taken: PhysRange[] = [];
  const out: Record<string, string>[] = [];
  let rounded = false;
  for (const r of facts.reserved) {
    if (r.size === 0n) continue;
    const start = roundDown(r.start, SZ_4K);
    const end = r.start + r.size > (1n << 64n) - SZ_4K ? 1n << 64n : roundUp(r.start + r.size, SZ_4K);
    if (start !== r.start || end !== r.start + r.size) rounded = true;
    for (const free of subtract([rangeFromEnd(phys(start), end)], taken)) {
      taken.push(free);
      out.push({ name: r.name.slice(0, 64) || 'reserved', kind: r.kind, ...jr(free) });
    }
  }
  if (rounded) {
    notes.push({
      code: 'RESERVED_PAGE_ROUNDED',
      message: 'firmware-reserved ranges not on 4 KiB pages are rounded outward',
    });
  }
  if (out.length > MAX.reserved) {
    throw new ImportError(
      ImportCode.TooLarge,
      `import: ${out.length} reserved ranges, more than a profile holds (${MAX.reserved})`,
      {
        count: out.length,
        limit: MAX.reserved,
      },
    );
  }
  return out;
}

function cpuCount(facts: MachineFacts, notes: Assumption[]): number {
  if (facts.cpus === undefined) {
    notes.push({ code: 'CPUS_ASSUMED', message: `the ${facts.source} gives no CPU count; assumed 1` });
    return 1;
  }
  if (facts.cpus > MAX.cpus) {
    notes.push({ code: 'CPUS_CLAMPED', message: `${facts.cpus} CPUs counted as ${MAX.cpus} (the profile's bound)` });
    return MAX.cpus;
  }
  return facts.cpus;
}

function consoleUart(
  facts: MachineFacts,
  taken: FactRange[],
  notes: Assumption[],
): { kind: string; base: string; size?: string } {
  if (facts.arch === 'amd64') {
    notes.push({
      code: 'UART_COM1',
      message: 'the console is taken to be COM1, a 16550 at I/O port 0x3f8 (the map does not say)',
    });
    return { kind: 'ns16550', base: hx(COM1) };
  }
  const u = facts.uart;
  if (u?.base !== undefined && u.modelled) return { kind: 'pl011', base: hx(u.base), size: hx(PL011_WINDOW) };
  if (u?.base !== undefined) {
    notes.push({
      code: 'UART_NOT_MODELLED',
      message: `${u.why ?? 'kboot cannot model the console'}: the emulated machine's console is a PL011 at the same address ${hx(u.base)} (${u.path})`,
    });
    return { kind: 'pl011', base: hx(u.base), size: hx(PL011_WINDOW) };
  }
  const why = u === undefined ? 'names no console' : (u.why ?? 'has a console kboot cannot place');
  const at = freeWindow(taken, PL011_WINDOW, PL011_DEFAULT);
  notes.push({
    code: 'UART_ASSUMED',
    message: `the ${facts.source} ${why}: the emulated console is a PL011 at ${hx(at)}${at === PL011_DEFAULT ? " (QEMU virt's)" : " (a free window: QEMU virt's 0x9000000 is taken)"}`,
  });
  return { kind: 'pl011', base: hx(at), size: hx(PL011_WINDOW) };
}

/** QEMU virt's PL011 (hw/arm/virt.c base_memmap VIRT_UART). */
const PL011_DEFAULT = 0x0900_0000n;
/** Where an assumed GIC's redistributors start after its distributor (QEMU virt: 0x80a0000 - 0x8000000). */
const GIC_ASSUMED_REDIST_OFFSET = 0xa_0000n;
/** Device windows kboot invents stay below 2^48 (arm64's 48-bit physical addresses). */
const WINDOW_LIMIT = 1n << 48n;

/**
 * A `size`-byte device window for something the source does not place: `preferred` when it
 * is free, else the lowest 64 KiB-aligned gap above 128 MiB after anything already taken.
 * The window is added to `taken`.
 */
function freeWindow(taken: FactRange[], size: bigint, preferred: bigint): bigint {
  const clear = (at: bigint): boolean =>
    at + size <= WINDOW_LIMIT && !taken.some((r) => r.size > 0n && at < r.start + r.size && r.start < at + size);
  const candidates = [preferred, 0x0800_0000n, ...taken.map((r) => roundUp(r.start + r.size, 0x1_0000n))]
    .filter((a) => a >= 0x0800_0000n)
    .sort((a, b) => (a === preferred ? -1 : b === preferred ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const at = candidates.find(clear);
  if (at === undefined) {
    throw new ImportError(
      ImportCode.Unusable,
      `import: no free ${hx(size)}-byte window below 2^48 for an emulated device`,
      { size },
    );
  }
  taken.push({ start: at, size });
  return at;
}

/** The host kernel: the lowest 2 MiB-aligned free run (amd64: below 4 GiB, KERNLOAD first). */
function placeHostKernel(facts: MachineFacts, free: readonly PhysRange[], notes: Assumption[]): PhysRange {
  const limit = facts.arch === 'amd64' ? SZ_4G : 1n << 64n;
  for (const want of HOST_KERNEL_SIZES) {
    const candidates =
      facts.arch === 'amd64'
        ? [AMD64_KERNLOAD, ...free.map((f) => roundUp(f.start, SZ_2M))]
        : free.map((f) => roundUp(f.start, SZ_2M));
    for (const at of candidates) {
      const end = at + want;
      if (end > limit) continue;
      if (free.some((f) => at >= f.start && end <= rangeEnd(f))) {
        notes.push({
          code: 'HOST_KERNEL_PLACED',
          message: `the host kernel is taken to occupy ${hx(want)} bytes at ${hx(at)} (the lowest 2 MiB-aligned free RAM${facts.arch === 'amd64' ? ' below 4 GiB' : ''}); the map does not say where the loader put it`,
        });
        return rangeFromEnd(phys(at), end);
      }
    }
  }
  throw new ImportError(
    ImportCode.NoMemory,
    'import: no 2 MiB-aligned run of free RAM holds even a 16 MiB host kernel',
    {
      free: free.map((f) => `${hx(f.start)}+${hx(f.size)}`),
      hint: '--memory',
    },
  );
}

/** A bump allocator over free RAM (lowest first), for the ITS tables. */
function allocator(free: readonly PhysRange[]): (sz: bigint) => bigint | undefined {
  const pool = free.map((f) => ({ next: f.start as bigint, end: rangeEnd(f) }));
  return (sz) => {
    for (const p of pool) {
      const at = roundUp(p.next, LPI_TABLE_ALIGN);
      if (at + sz <= p.end) {
        p.next = at + sz;
        return at;
      }
    }
    return undefined;
  };
}

function gicJson(
  facts: MachineFacts,
  cpus: number,
  free: readonly PhysRange[],
  taken: FactRange[],
  notes: Assumption[],
): Record<string, unknown> | undefined {
  if (facts.arch !== 'arm64') return undefined;
  const g = facts.gic;
  if (g === undefined) {
    const redistSize = 0x2_0000n * BigInt(cpus);
    const block = GIC_ASSUMED_REDIST_OFFSET + redistSize;
    const dist = freeWindow(taken, block, MACHINE_DEFAULTS.GIC_DISTRIBUTOR);
    notes.push({
      code: 'GIC_ASSUMED',
      message: `the ${facts.source} names no interrupt controller: assumed a GICv3 without ITS (distributor ${hx(dist)}, redistributors ${hx(dist + GIC_ASSUMED_REDIST_OFFSET)}); whether the board's GIC has an ITS is unknown`,
    });
    return {
      distributor: hx(dist),
      redistributor: hx(dist + GIC_ASSUMED_REDIST_OFFSET),
      redistributorSize: hx(redistSize),
    };
  }
  if (g.version === 'v2') return { version: 'v2', distributor: hx(g.distributor.start) };
  const [first, ...more] = g.redistributors;
  const out: Record<string, unknown> = {
    distributor: hx(g.distributor.start),
    redistributor: hx(first?.start ?? 0n),
    redistributorSize: hx(first?.size ?? 0n),
    ...(more.length > 0 ? { redistributorRegions: more.map(jr) } : {}),
  };
  if (g.its.length === 0) return out;
  return {
    ...out,
    its: hx(g.its[0]?.start ?? 0n),
    ...(g.its.length > 1 ? { additionalIts: g.its.slice(1).map((i) => hx(i.start)) } : {}),
    ...itsTables(g.its.length, cpus, free, notes),
  };
}

function itsTables(
  itsCount: number,
  cpus: number,
  free: readonly PhysRange[],
  notes: Assumption[],
): Record<string, unknown> {
  const alloc = allocator(free);
  const take = (sz: bigint, what: string): string => {
    const at = alloc(sz);
    if (at === undefined) {
      throw new ImportError(ImportCode.NoMemory, `import: no free RAM left for the ${what}`, { what, size: sz });
    }
    return hx(at);
  };
  const conf = take(LPI_CONFTAB_SIZE, 'LPI configuration table');
  const pend = Array.from({ length: cpus }, (_, i) => take(LPI_TABLE_ALIGN, `LPI pending table of CPU ${i}`));
  const tables = Array.from({ length: itsCount }, (_, i) =>
    (['device', 'collection', 'cmdq'] as const).map((kind) => ({
      kind,
      base: take(ITS_TABLE_SIZE, `ITS ${i} ${kind} table`),
      size: hx(ITS_TABLE_SIZE),
    })),
  ).flat();
  notes.push({
    code: 'LPI_TABLES_PLACED',
    message: `FreeBSD allocates the LPI and ITS tables at boot, so their addresses are unknown: kboot puts the LPI configuration table, ${cpus} pending tables and 3 tables for each of ${itsCount} ITS after the host kernel (${conf} on)`,
  });
  return { lpiConfTable: conf, lpiPendTables: pend, itsTables: tables };
}

function mmioJson(facts: MachineFacts, ram: readonly PhysRange[], notes: Assumption[]): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const m of facts.mmio) {
    if (m.size === 0n || ram.some((r) => m.start < rangeEnd(r) && r.start < m.start + m.size)) continue;
    out.push({ name: m.name.slice(0, 64) || 'mmio', ...jr(m) });
  }
  if (out.length > MAX.mmio) {
    notes.push({
      code: 'MMIO_TRUNCATED',
      message: `${out.length} device windows; the profile keeps the first ${MAX.mmio}`,
    });
    return out.slice(0, MAX.mmio);
  }
  return out;
}

/** What the source said, for the profile's `board` (schemas/machine.schema.json). */
function boardJson(facts: MachineFacts): Record<string, unknown> {
  const u = facts.uart;
  const g = facts.gic;
  const frame = (f: { path: string; start: bigint; size: bigint }): Record<string, string> => ({
    path: f.path,
    base: hx(f.start),
    size: hx(f.size),
  });
  return {
    source: facts.source,
    ...(facts.model === undefined ? {} : { model: facts.model.slice(0, 512) }),
    ...(facts.compatible.length > 0 ? { compatible: facts.compatible.slice(0, 64).map((c) => c.slice(0, 256)) } : {}),
    ...(facts.cpus === undefined ? {} : { cpus: facts.cpus }),
    ...(facts.memoryNodes.length > 0
      ? {
          memoryNodes: facts.memoryNodes.map((n) => ({ path: n.path, ranges: n.ranges.map(jr), regBytes: n.regBytes })),
        }
      : {}),
    ...(facts.memReserve.length > 0 ? { memReserve: facts.memReserve.map(jr) } : {}),
    ...(facts.reservedMemory.length > 0
      ? {
          reservedMemory: facts.reservedMemory.map((r) => ({
            path: r.path,
            ranges: r.ranges.map(jr),
            ...(r.dynamicSize === undefined ? {} : { dynamicSize: hx(r.dynamicSize) }),
            noMap: r.noMap,
            reusable: r.reusable,
            freebsd: r.freebsd,
          })),
        }
      : {}),
    ...(u === undefined
      ? {}
      : {
          uart: {
            path: u.path,
            compatible: u.compatible.slice(0, 16),
            kind: u.kind,
            ...(u.base === undefined ? {} : { base: hx(u.base) }),
            ...(u.size === undefined ? {} : { size: hx(u.size) }),
            regShift: u.regShift,
            regIoWidth: u.regIoWidth,
            modelled: u.modelled,
            ...(u.why === undefined ? {} : { why: u.why }),
          },
        }),
    ...(g === undefined
      ? {}
      : {
          gic: {
            version: g.version,
            path: g.path,
            compatible: g.compatible,
            distributor: jr(g.distributor),
            ...(g.cpuInterface === undefined ? {} : { cpuInterface: jr(g.cpuInterface) }),
            redistributors: g.redistributors.map(jr),
            its: g.its.map(frame),
            v2m: g.v2m.map(frame),
          },
        }),
    ...(facts.firmwareMap.length > 0
      ? {
          firmwareMap: facts.firmwareMap.map((e) => ({
            start: hx(e.start),
            end: hx(e.end),
            type: e.type.slice(0, 256),
          })),
        }
      : {}),
    ...(facts.crashKernel === undefined ? {} : { crashKernel: jr(facts.crashKernel) }),
  };
}

const DEFAULT_KENV = ['kernel=kernel', 'kernelname=/boot/kernel/kernel', 'debug.rescue_minidump=1'];

/** Builds the profile (see the module contract). */
export function buildImportedProfile(facts: MachineFacts, meta: ImportMeta): ImportedProfile {
  const notes: Assumption[] = [...facts.assumptions];
  const ram = pageRam(facts, notes);
  const reserved = pageReserved(facts, notes);
  const cpus = cpuCount(facts, notes);
  const taken: FactRange[] = [...facts.ram, ...facts.reserved, ...facts.mmio];
  const carved = reserved.map((r) =>
    rangeFromEnd(phys(BigInt(r['base'] ?? '0')), BigInt(r['base'] ?? '0') + BigInt(r['size'] ?? '0')),
  );
  const free = subtract(ram, carved);
  const host = placeHostKernel(facts, free, notes);
  const gic = gicJson(facts, cpus, subtract(free, [host]), taken, notes);
  const uart = consoleUart(facts, taken, notes);
  notes.push({
    code: 'KENV_DEFAULT',
    message: `the host kenv is taken to be ${DEFAULT_KENV.join(' ')} (debug.rescue_minidump=1 so D47358 reserves at all)`,
  });
  const json: Record<string, unknown> = {
    name: meta.name,
    description: (
      meta.description ??
      `Imported by kboot machine import from ${meta.inputs.map((i) => i.path).join(', ') || facts.source}${facts.model === undefined ? '' : ` (${facts.model})`}`
    ).slice(0, 500),
    arch: facts.arch,
    firmware: facts.firmware,
    cpus,
    ram: normalize(ram).map(jr),
    ...(reserved.length > 0 ? { reserved } : {}),
    mmio: mmioJson(facts, ram, notes),
    uart,
    ...(gic === undefined ? {} : { gic }),
    hostKernel: { loadAddress: hx(host.start), size: hx(host.size), boothowto: 0, kenv: DEFAULT_KENV },
    ...(facts.dtb === undefined ? {} : { dtb: Buffer.from(facts.dtb).toString('base64') }),
    provenance: {
      command: meta.command.slice(0, 4096),
      ...(meta.kboot === undefined ? {} : { kboot: meta.kboot }),
      inputs: meta.inputs,
    },
    assumptions: notes.map((a) => ({ code: a.code, message: a.message.slice(0, 2000) })),
    board: boardJson(facts),
  };
  try {
    return { json, profile: parseProfile(JSON.stringify(json), `imported:${meta.name}`), assumptions: notes };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ImportError(
      ImportCode.Unusable,
      `import: the ${facts.source} does not make a usable machine profile:\n${e.message}`,
      {
        problems: e.details['problems'],
      },
      { cause: e },
    );
  }
}
