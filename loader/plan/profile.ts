/**
 * Machine profiles: the emulated machine a plan is made for (arch, firmware, RAM and holes,
 * reserved and MMIO ranges, GICv3 ITS tables, the host kernel and its kenv).
 *
 * Contract: `parseProfile(text, source)` accepts JSON that satisfies
 * schemas/machine.schema.json (checked with ajv, every problem with its JSON path) and then
 * the semantic rules below (every problem reported at once). Anything else throws
 * `ConfigError` — CONFIG_SYNTAX (with line and column), CONFIG_SCHEMA or CONFIG_INVALID —
 * with `details.problems`. The result is immutable and uses branded addresses.
 * Built-in profiles live in profiles/*.json; `loadProfile(nameOrPath)` finds either; a file is
 * read through loader/io/input.ts (regular files of at most INPUT_LIMITS.profile bytes).
 * Imported profiles (`kboot machine import`, loader/import/) also carry their `provenance`,
 * `assumptions`, what was read (`board`) and, for an arm64 board, its own device tree
 * (`dtb`, base64): it must parse, its RAM (every /memory range, page-rounded inward) must be
 * the profile's RAM, and a GICv2 fdt machine needs it (kboot builds only GICv3 trees).
 *
 * Sources for the rules: amd64 kernels must be loaded 2 MiB aligned below 4 GiB
 * (sys/amd64/amd64/machdep.c amd64_loadaddr()); LPI tables are 64 KiB aligned
 * (sys/arm64/arm64/gicv3_its.c); GICv3 ITS facts in shared/spec/freebsd-handoff.md §7.
 */
import { readdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import {
  contains,
  formatRange,
  hex,
  isAligned,
  overlaps,
  parseSizeText,
  phys,
  range,
  rangeEnd,
  size,
  SZ_2M,
  SZ_4G,
  SZ_4K,
  U64_LIMIT,
  wholePages,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../addr.js';
import type { Arch } from '../arch/index.js';
import { LPI_CONFTAB_SIZE, LPI_PENDTAB_SIZE, LPI_TABLE_ALIGN } from '../arch/arm64/layout.js';
import { GICV3_SIZE, loaderFdtFixup } from './host-fdt.js';
import { parseFdt, readMemoryRanges, writeFdt } from '../handoff/fdt/index.js';
import { HandoffError } from '../handoff/errors.js';
import { encodeKenv } from '../handoff/kenv.js';
import { AddrError, ConfigCode, ConfigError, IoCode, IoError } from '../errors.js';
import { readInputFile, readInputText } from '../io/input.js';
import { packagePath } from '../paths.js';
import { formatProblems, validateJson } from '../schema.js';
import { normalize } from './ranges.js';

/** How the host kernel learns the memory map. */
export type FirmwareKind = 'efi' | 'bios' | 'fdt';
/** Kinds of firmware-reserved ranges (mapped to EFI and SMAP types by the firmware map). */
export type ReservedKind = 'reserved' | 'runtime-code' | 'runtime-data' | 'acpi-reclaim' | 'acpi-nvs' | 'persistent';
/** Kinds of ITS-owned tables. */
export type ItsTableKind = 'device' | 'collection' | 'cmdq' | 'itt';

export interface NamedRange {
  readonly name: string;
  readonly range: PhysRange;
}
export interface ReservedRange extends NamedRange {
  readonly kind: ReservedKind;
}
/** A range a device keeps using after a panic; no kernel may reuse it. */
export interface DeviceTable {
  readonly kind: 'lpi-conf' | 'lpi-pend' | `its-${ItsTableKind}`;
  readonly range: PhysRange;
}
export interface GicProfile {
  readonly version: 'v2' | 'v3';
  readonly distributor: PhysAddr;
  /** GICv3 redistributor regions, the first one first (empty on GICv2). */
  readonly redistributors: readonly PhysRange[];
  /** Every GICv3 ITS, the first one first (empty on GICv2 and on a GICv3 without one). */
  readonly its: readonly PhysAddr[];
  /** Every LPI/ITS table, in the order the profile lists them. */
  readonly tables: readonly DeviceTable[];
}
/** Where an imported profile came from (`kboot machine import`). */
export interface ProfileProvenance {
  readonly command: string;
  readonly kboot?: string;
  readonly inputs: readonly {
    readonly kind: string;
    readonly path: string;
    readonly sha256: string;
    readonly bytes: number;
  }[];
}
/** An assumption an importer made, with its stable code. */
export interface ProfileAssumption {
  readonly code: string;
  readonly message: string;
}
export interface FramebufferProfile {
  readonly base: PhysAddr;
  readonly size: Size;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
}
export interface HostKernelProfile {
  /** Physical range the host kernel and its early allocations occupy. */
  readonly range: PhysRange;
  readonly boothowto: number;
  /** The host's kernel environment, in order. */
  readonly kenv: readonly (readonly [string, string])[];
}

/** A validated machine profile. */
export interface MachineProfile {
  readonly name: string;
  readonly description: string;
  /** `builtin:<name>` or the file it was read from. */
  readonly source: string;
  readonly arch: Arch;
  readonly firmware: FirmwareKind;
  readonly cpus: number;
  /** RAM ranges, sorted. */
  readonly ram: readonly PhysRange[];
  readonly reserved: readonly ReservedRange[];
  readonly mmio: readonly NamedRange[];
  readonly uart: { readonly kind: 'ns16550' | 'pl011'; readonly base: bigint; readonly size: Size };
  readonly gic: GicProfile | undefined;
  readonly framebuffer: FramebufferProfile | undefined;
  readonly hostKernel: HostKernelProfile;
  /** The board's own device tree (imported arm64 fdt machines): the host's DTB is made from it. */
  readonly dtb: Uint8Array | undefined;
  readonly provenance: ProfileProvenance | undefined;
  readonly assumptions: readonly ProfileAssumption[];
  /** What the importer read, as the profile records it (schemas/machine.schema.json `board`). */
  readonly board: Readonly<Record<string, unknown>> | undefined;
}

/** The GICv2 distributor (GICD) register frame (Arm IHI 0048B: 4 KiB). */
export const GICV2_DISTRIBUTOR_SIZE = 0x1000n;

/** Names of the built-in profiles. */
export function builtinProfileNames(): string[] {
  return readdirSync(packagePath('profiles'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => basename(f, '.json'))
    .sort();
}

/** The built-in profile used when none is named: the kernel arch's first-class machine. */
export function defaultProfileName(arch: Arch): string {
  return arch === 'amd64' ? 'amd64-efi' : 'arm64-fdt';
}

/** What a `--machine` argument names: a built-in profile, or a profile file (absolute path). */
export type ProfileSource =
  { readonly kind: 'builtin'; readonly name: string } | { readonly kind: 'file'; readonly path: string };

/** A built-in name wins over a file of the same name (built-in names hold no `/`). */
export function profileSource(nameOrPath: string, cwd: string = process.cwd()): ProfileSource {
  if (/^[a-z0-9][a-z0-9._-]*$/.test(nameOrPath) && builtinProfileNames().includes(nameOrPath)) {
    return { kind: 'builtin', name: nameOrPath };
  }
  return { kind: 'file', path: resolve(cwd, nameOrPath) };
}

/**
 * The bytes of a profile file, read through loader/io/input.ts (a regular file of at most
 * INPUT_LIMITS.profile bytes: `--machine /dev/zero` or a FIFO is IO_NOT_REGULAR at once). A
 * missing file is CONFIG_NOT_FOUND naming the built-in profiles.
 */
export function readProfileFile(path: string, shown: string = path): Buffer {
  try {
    return readInputFile(path, 'profile', { what: 'machine profile' });
  } catch (e) {
    if (e instanceof IoError && e.code === IoCode.NotFound) {
      throw new ConfigError(
        ConfigCode.NotFound,
        `config: no machine profile named "${shown}" (built-in: ${builtinProfileNames().join(', ')}) and no such file`,
        { file: path, shown, builtin: builtinProfileNames() },
      );
    }
    throw e;
  }
}

/** Loads a built-in profile by name, or a profile file by path (relative to `cwd`). */
export function loadProfile(nameOrPath: string, opts: { readonly cwd?: string } = {}): MachineProfile {
  const source = profileSource(nameOrPath, opts.cwd);
  if (source.kind === 'builtin') {
    const file = packagePath('profiles', `${source.name}.json`);
    return parseProfile(readInputText(file, 'package', { what: 'built-in profile' }), `builtin:${source.name}`);
  }
  return parseProfile(readProfileFile(source.path, nameOrPath).toString('utf8'), nameOrPath);
}

/** Line and column (1-based) of a character offset. */
function lineColumn(text: string, pos: number): { line: number; column: number } {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return { line, column: pos - before.lastIndexOf('\n') };
}

interface RawRange {
  base: string;
  size: string;
}
interface RawProfile {
  name: string;
  description?: string;
  arch: Arch;
  firmware: FirmwareKind;
  cpus: number;
  ram: RawRange[];
  reserved?: (RawRange & { name: string; kind: ReservedKind })[];
  mmio?: (RawRange & { name: string })[];
  uart: { kind: 'ns16550' | 'pl011'; base: string; size?: string };
  gic?: RawGic;
  framebuffer?: { base: string; size: string; width: number; height: number; stride: number };
  hostKernel: { loadAddress: string; size: string; boothowto?: number; kenv?: string[] };
  dtb?: string;
  provenance?: ProfileProvenance;
  assumptions?: ProfileAssumption[];
  board?: Record<string, unknown>;
}
interface RawGic {
  version?: 'v2' | 'v3';
  distributor: string;
  redistributor?: string;
  redistributorSize?: string;
  redistributorRegions?: RawRange[];
  its?: string;
  additionalIts?: string[];
  lpiConfTable?: string;
  lpiPendTables?: string[];
  itsTables?: (RawRange & { kind: ItsTableKind })[];
}

/**
 * The MMIO windows the arm64 machine maps — the GIC distributor (GICv3: 64 KiB; GICv2: the
 * 4 KiB GICD), every GICv3 redistributor region and ITS (GICV3_SIZE) and a PL011 — as
 * buildMachineFdt lays them out: each non-empty and below 2^64, the redistributors large
 * enough for the CPUs, disjoint from each other and from RAM.
 */
function deviceWindowProblems(
  cpus: number,
  ram: readonly PhysRange[],
  gic: GicProfile | undefined,
  uart: { readonly kind: 'ns16550' | 'pl011'; readonly base: bigint; readonly size: bigint },
): Problem[] {
  const out: Problem[] = [];
  const windows: { name: string; path: string; start: bigint; size: bigint }[] = [];
  if (gic !== undefined) {
    const need = GICV3_SIZE.REDISTRIBUTOR_PER_CPU * BigInt(cpus);
    const have = gic.redistributors.reduce((n, r) => n + r.size, 0n);
    if (gic.version === 'v3' && have < need) {
      out.push({
        path: '/gic/redistributorSize',
        message: `redistributor region ${hex(have)} is too small for ${cpus} CPUs (${hex(need)})`,
      });
    }
    const dist = gic.version === 'v3' ? GICV3_SIZE.DISTRIBUTOR : GICV2_DISTRIBUTOR_SIZE;
    windows.push(
      { name: 'GIC distributor', path: '/gic/distributor', start: gic.distributor, size: dist },
      ...gic.redistributors.map((r, i) => ({
        name: 'GIC redistributors',
        path: i === 0 ? '/gic/redistributor' : `/gic/redistributorRegions/${i - 1}`,
        start: r.start as bigint,
        size: r.size as bigint,
      })),
      ...gic.its.map((a, i) => ({
        name: 'GIC ITS',
        path: i === 0 ? '/gic/its' : `/gic/additionalIts/${i - 1}`,
        start: a as bigint,
        size: GICV3_SIZE.ITS,
      })),
    );
  }
  if (uart.kind === 'pl011') windows.push({ name: 'PL011 UART', path: '/uart', start: uart.base, size: uart.size });
  const placed: { name: string; range: PhysRange }[] = [];
  for (const w of windows) {
    if (w.size === 0n || w.start + w.size > 1n << 64n) {
      out.push({ path: w.path, message: `${w.name} ${hex(w.start)} + ${hex(w.size)} is empty or passes 2^64` });
      continue;
    }
    const r = range(phys(w.start), size(w.size));
    if (ram.some((x) => overlaps(x, r)))
      out.push({ path: w.path, message: `${w.name} ${formatRange(r)} overlaps RAM` });
    for (const o of placed) {
      if (overlaps(o.range, r))
        out.push({ path: w.path, message: `${o.name} and ${w.name} overlap at ${formatRange(r)}` });
    }
    placed.push({ name: w.name, range: r });
  }
  return out;
}

/** A profile problem: its JSON path and what is wrong. */
interface Problem {
  path: string;
  message: string;
}

/** Reads numbers and ranges from a raw profile, collecting every problem instead of stopping. */
class ProfileReader {
  readonly problems: Problem[] = [];

  /** A number or size text (`0x1000`, `128M`); 0 and a problem when it is not one. */
  num(text: string, path: string): Size {
    const v = parseSizeText(text);
    if (v === undefined) {
      this.problems.push({ path, message: `"${text}" is not a number` });
      return size(0n);
    }
    return v;
  }

  /** An address text; 0 and a problem when it is not a number. */
  addr(text: string, path: string): PhysAddr {
    return phys(this.num(text, path));
  }

  /** `[base, base + sz)`; an empty range at 0 and a problem when it passes 2^64. */
  checked(base: PhysAddr, sz: Size, path: string): PhysRange {
    if (base + sz > U64_LIMIT) {
      this.problems.push({ path, message: `range ${hex(base)} + ${hex(sz)} passes 2^64` });
      return range(phys(0n), size(0n));
    }
    return range(base, sz);
  }

  /** A `{ base, size }` object as a range. */
  rng(r: RawRange, path: string): PhysRange {
    return this.checked(this.addr(r.base, `${path}/base`), this.num(r.size, `${path}/size`), path);
  }
}

/** Parses and validates a profile; see the module contract. */
export function parseProfile(text: string, source: string): MachineProfile {
  const raw = parseProfileJson(text, source);
  const p = new ProfileReader();
  const ram = readRam(p, raw);
  const reserved = readReserved(p, raw);
  const mmio = readMmio(p, raw, ram);
  const hostKernel = readHostKernel(p, raw, ram, reserved);
  const gic = readGic(p, raw, ram, hostKernel.range);
  const framebuffer = readFramebuffer(p, raw);
  const imported = readImported(p, raw, ram, gic);
  const uart: MachineProfile['uart'] = {
    kind: raw.uart.kind,
    base: p.num(raw.uart.base, '/uart/base'),
    size: raw.uart.size === undefined ? size(8n) : p.num(raw.uart.size, '/uart/size'),
  };
  p.problems.push(...deviceWindowProblems(raw.cpus, ram, gic, uart));
  if (p.problems.length > 0) {
    throw new ConfigError(
      ConfigCode.Invalid,
      `config: ${source} is not a usable machine profile:\n${formatProblems(p.problems)}`,
      { file: source, problems: p.problems },
    );
  }
  return {
    name: raw.name,
    description: raw.description ?? '',
    source,
    arch: raw.arch,
    firmware: raw.firmware,
    cpus: raw.cpus,
    ram,
    reserved,
    mmio,
    uart,
    gic,
    framebuffer,
    hostKernel,
    ...imported,
  };
}

/** JSON.parse (CONFIG_SYNTAX with line and column) and the schema (CONFIG_SCHEMA). */
function parseProfileJson(text: string, source: string): RawProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec(e instanceof Error ? e.message : '');
    const where = m?.[1] !== undefined ? lineColumn(text, Number(m[1])) : { line: 0, column: 0 };
    throw new ConfigError(
      ConfigCode.Syntax,
      `config: ${source}:${where.line}:${where.column}: not valid JSON (${e instanceof Error ? e.message : String(e)})`,
      { file: source, ...where },
      { cause: e },
    );
  }
  const schemaProblems = validateJson('machine', json);
  if (schemaProblems.length > 0) {
    throw new ConfigError(
      ConfigCode.Schema,
      `config: ${source} is not a valid machine profile:\n${formatProblems(schemaProblems)}`,
      { file: source, problems: schemaProblems },
    );
  }
  return json as RawProfile;
}

/** `ram`: sorted, each non-empty, 4 KiB aligned, none overlapping the next. */
function readRam(p: ProfileReader, raw: RawProfile): PhysRange[] {
  const ram = raw.ram.map((r, i) => p.rng(r, `/ram/${i}`)).sort((a, b) => (a.start < b.start ? -1 : 1));
  ram.forEach((r, i) => {
    if (r.size === 0n) p.problems.push({ path: `/ram/${i}`, message: 'RAM range is empty' });
    if (!isAligned(r.start, SZ_4K) || !isAligned(r.size, SZ_4K)) {
      p.problems.push({ path: `/ram/${i}`, message: `RAM range ${formatRange(r)} is not 4 KiB aligned` });
    }
    const prev = ram[i - 1];
    if (prev !== undefined && overlaps(prev, r)) {
      p.problems.push({ path: `/ram/${i}`, message: `RAM ranges ${formatRange(prev)} and ${formatRange(r)} overlap` });
    }
  });
  return ram;
}

/** True when `r` lies inside one RAM range. */
function inRam(ram: readonly PhysRange[], r: PhysRange): boolean {
  return ram.some((x) => contains(x, r));
}

/** `reserved`: 4 KiB aligned, none overlapping another. */
function readReserved(p: ProfileReader, raw: RawProfile): ReservedRange[] {
  const reserved: ReservedRange[] = (raw.reserved ?? []).map((r, i) => ({
    name: r.name,
    kind: r.kind,
    range: p.rng(r, `/reserved/${i}`),
  }));
  reserved.forEach((r, i) => {
    if (!isAligned(r.range.start, SZ_4K) || !isAligned(r.range.size, SZ_4K)) {
      p.problems.push({
        path: `/reserved/${i}`,
        message: `reserved range "${r.name}" ${formatRange(r.range)} is not 4 KiB aligned`,
      });
    }
    reserved.slice(0, i).forEach((o) => {
      if (overlaps(o.range, r.range)) {
        p.problems.push({ path: `/reserved/${i}`, message: `reserved ranges "${o.name}" and "${r.name}" overlap` });
      }
    });
  });
  return reserved;
}

/** `mmio`: no window overlaps RAM. */
function readMmio(p: ProfileReader, raw: RawProfile, ram: readonly PhysRange[]): NamedRange[] {
  const mmio: NamedRange[] = (raw.mmio ?? []).map((r, i) => ({ name: r.name, range: p.rng(r, `/mmio/${i}`) }));
  mmio.forEach((m, i) => {
    ram.forEach((r) => {
      if (overlaps(m.range, r)) {
        p.problems.push({
          path: `/mmio/${i}`,
          message: `MMIO window "${m.name}" ${formatRange(m.range)} overlaps RAM ${formatRange(r)}`,
        });
      }
    });
  });
  return mmio;
}

/** `hostKernel`: 2 MiB aligned, inside one RAM range, below 4 GiB on amd64, clear of reserved ranges. */
function readHostKernel(
  p: ProfileReader,
  raw: RawProfile,
  ram: readonly PhysRange[],
  reserved: readonly ReservedRange[],
): HostKernelProfile {
  const hk = raw.hostKernel;
  const hostRange = p.rng({ base: hk.loadAddress, size: hk.size }, '/hostKernel');
  if (!isAligned(hostRange.start, SZ_2M)) {
    p.problems.push({
      path: '/hostKernel/loadAddress',
      message: `host kernel load address ${hex(hostRange.start)} is not 2 MiB aligned`,
    });
  }
  if (!inRam(ram, hostRange)) {
    p.problems.push({
      path: '/hostKernel',
      message: `host kernel ${formatRange(hostRange)} is not inside one RAM range`,
    });
  }
  if (raw.arch === 'amd64' && rangeEnd(hostRange) > SZ_4G) {
    p.problems.push({
      path: '/hostKernel',
      message: `amd64 kernels must be loaded below 4 GiB (${formatRange(hostRange)})`,
    });
  }
  reserved.forEach((r) => {
    if (overlaps(r.range, hostRange)) {
      p.problems.push({
        path: '/hostKernel',
        message: `host kernel ${formatRange(hostRange)} overlaps reserved "${r.name}"`,
      });
    }
  });
  const kenv: [string, string][] = (hk.kenv ?? []).map((e) => {
    const eq = e.indexOf('=');
    return [e.slice(0, eq), e.slice(eq + 1)];
  });
  kenv.forEach((entry, i) => {
    // the loader's own rule (loader/handoff/kenv.ts): what it cannot hand over is a profile problem
    try {
      encodeKenv([entry]);
    } catch (e) {
      if (!(e instanceof HandoffError)) throw e;
      p.problems.push({ path: `/hostKernel/kenv/${i}`, message: e.message.replace(/^handoff: /, '') });
    }
  });
  return { range: hostRange, boothowto: hk.boothowto ?? 0, kenv };
}

/** The LPI and ITS tables of a GICv3 with an ITS: 64 KiB aligned, in RAM, clear of the host kernel and of each other; one pending table per CPU. */
function readGicTables(
  p: ProfileReader,
  g: RawGic,
  cpus: number,
  ram: readonly PhysRange[],
  hostRange: PhysRange,
): DeviceTable[] {
  if (g.lpiConfTable === undefined) return [];
  const pend = g.lpiPendTables ?? [];
  const tables: DeviceTable[] = [
    {
      kind: 'lpi-conf',
      range: p.checked(p.addr(g.lpiConfTable, '/gic/lpiConfTable'), LPI_CONFTAB_SIZE, '/gic/lpiConfTable'),
    },
    ...pend.map((t, i): DeviceTable => ({
      kind: 'lpi-pend',
      range: p.checked(p.addr(t, `/gic/lpiPendTables/${i}`), LPI_PENDTAB_SIZE, `/gic/lpiPendTables/${i}`),
    })),
    ...(g.itsTables ?? []).map((t, i): DeviceTable => ({
      kind: `its-${t.kind}`,
      range: p.rng(t, `/gic/itsTables/${i}`),
    })),
  ];
  tables.forEach((t, i) => {
    if (!isAligned(t.range.start, LPI_TABLE_ALIGN)) {
      p.problems.push({ path: '/gic', message: `${t.kind} table at ${hex(t.range.start)} is not 64 KiB aligned` });
    }
    if (!inRam(ram, t.range))
      p.problems.push({ path: '/gic', message: `${t.kind} table ${formatRange(t.range)} is not in RAM` });
    if (overlaps(t.range, hostRange)) {
      p.problems.push({ path: '/gic', message: `${t.kind} table ${formatRange(t.range)} overlaps the host kernel` });
    }
    tables.slice(0, i).forEach((o) => {
      if (overlaps(o.range, t.range)) {
        p.problems.push({ path: '/gic', message: `${o.kind} and ${t.kind} tables overlap at ${formatRange(t.range)}` });
      }
    });
  });
  if (pend.length !== cpus) {
    p.problems.push({
      path: '/gic/lpiPendTables',
      message: `${pend.length} LPI pending tables for ${cpus} CPUs (one per CPU)`,
    });
  }
  return tables;
}

/** `gic`: the interrupt controller (GICv3 by default, or GICv2), its redistributor regions, every ITS and the tables. */
function readGic(
  p: ProfileReader,
  raw: RawProfile,
  ram: readonly PhysRange[],
  hostRange: PhysRange,
): GicProfile | undefined {
  const g = raw.gic;
  if (g === undefined) return undefined;
  const redistributors =
    g.redistributor === undefined
      ? []
      : [
          p.rng({ base: g.redistributor, size: g.redistributorSize ?? '0' }, '/gic/redistributor'),
          ...(g.redistributorRegions ?? []).map((r, i) => p.rng(r, `/gic/redistributorRegions/${i}`)),
        ];
  const its = g.its === undefined ? [] : [g.its, ...(g.additionalIts ?? [])];
  return {
    version: g.version ?? 'v3',
    distributor: p.addr(g.distributor, '/gic/distributor'),
    redistributors,
    its: its.map((a, i) => p.addr(a, i === 0 ? '/gic/its' : `/gic/additionalIts/${i - 1}`)),
    tables: readGicTables(p, g, raw.cpus, ram, hostRange),
  };
}

/** `framebuffer`: only with EFI firmware. */
function readFramebuffer(p: ProfileReader, raw: RawProfile): FramebufferProfile | undefined {
  const fb = raw.framebuffer;
  if (fb === undefined) return undefined;
  const framebuffer: FramebufferProfile = {
    base: p.addr(fb.base, '/framebuffer/base'),
    size: p.num(fb.size, '/framebuffer/size'),
    width: fb.width,
    height: fb.height,
    stride: fb.stride,
  };
  if (raw.firmware !== 'efi') {
    p.problems.push({ path: '/framebuffer', message: 'an EFI framebuffer needs EFI firmware' });
  }
  return framebuffer;
}

/** The RAM of a board's device tree: every /memory range, page-rounded inward, as "start-end" texts. */
function fdtRamText(tree: ReturnType<typeof parseFdt>): string[] {
  const inward = readMemoryRanges(tree).flatMap((r) => wholePages(r.start, r.size) ?? []);
  return ramText(inward);
}

/** Ranges as sorted, merged "start-end" texts. */
function ramText(rs: readonly PhysRange[]): string[] {
  return normalize(rs).map((r) => `${hex(r.start)}-${hex(rangeEnd(r))}`);
}

/**
 * An imported profile's own parts: the board DTB (it must parse and be writable as the host's
 * tree; its RAM, page-rounded inward, must be the profile's RAM), provenance, assumptions and
 * what was read. A GICv2 fdt machine must bring its DTB: kboot's own tree (buildMachineFdt) is
 * GICv3.
 */
function readImported(
  p: ProfileReader,
  raw: RawProfile,
  ram: readonly PhysRange[],
  gic: GicProfile | undefined,
): Pick<MachineProfile, 'dtb' | 'provenance' | 'assumptions' | 'board'> {
  let dtb: Uint8Array | undefined;
  if (raw.dtb !== undefined) {
    dtb = new Uint8Array(Buffer.from(raw.dtb, 'base64'));
    if (raw.arch !== 'arm64' || raw.firmware !== 'fdt') {
      p.problems.push({ path: '/dtb', message: 'a board device tree belongs to an arm64 fdt machine' });
    }
    try {
      const tree = parseFdt(dtb);
      writeFdt(loaderFdtFixup(tree)); // the host's tree must be writable, as hostFirmware writes it
      const fdtRam = fdtRamText(tree);
      const want = ramText(ram);
      if (fdtRam.join(',') !== want.join(',')) {
        p.problems.push({
          path: '/dtb',
          message: `the device tree's RAM (${fdtRam.join(', ')}) is not the profile's RAM (${want.join(', ')})`,
        });
      }
    } catch (e) {
      if (!(e instanceof HandoffError || e instanceof AddrError)) throw e;
      p.problems.push({ path: '/dtb', message: `the board device tree cannot be used: ${e.message}` });
    }
  } else if (gic?.version === 'v2' && raw.firmware === 'fdt') {
    p.problems.push({
      path: '/gic/version',
      message: "a GICv2 fdt machine needs its board's device tree (kboot machine import --dtb)",
    });
  }
  return { dtb, provenance: raw.provenance, assumptions: raw.assumptions ?? [], board: raw.board };
}
