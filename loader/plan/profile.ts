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
  formatRange,
  hex,
  overlaps,
  parseSizeText,
  phys,
  range,
  rangeEnd,
  rangeFromEnd,
  SZ_2M,
  SZ_4G,
  SZ_4K,
  type PhysAddr,
  type PhysRange,
  type Size,
} from '../addr.js';
import type { Arch } from '../arch/index.js';
import { LPI_CONFTAB_SIZE, LPI_PENDTAB_SIZE, LPI_TABLE_ALIGN } from '../arch/arm64/layout.js';
import { GICV3_SIZE, loaderFdtFixup } from './host-fdt.js';
import { parseFdt, readMemoryRanges, writeFdt } from '../handoff/fdt/index.js';
import { HandoffError } from '../handoff/errors.js';
import { ConfigCode, ConfigError, IoCode, IoError } from '../errors.js';
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

/** A problem found in a profile, with its JSON path. */
type Problem = { path: string; message: string };

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
    const r = range(w.start as PhysAddr, w.size as Size);
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

/** Parses and validates a profile; see the module contract. */
export function parseProfile(text: string, source: string): MachineProfile {
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
  const raw = json as RawProfile;
  const problems: { path: string; message: string }[] = [];
  const num = (text: string, path: string): bigint => {
    const v = parseSizeText(text);
    if (v === undefined) {
      problems.push({ path, message: `"${text}" is not a number` });
      return 0n;
    }
    return v;
  };
  const checked = (base: bigint, sz: bigint, path: string): PhysRange => {
    if (base + sz > 1n << 64n) {
      problems.push({ path, message: `range ${hex(base)} + ${hex(sz)} passes 2^64` });
      return { start: 0n as PhysAddr, size: 0n as Size };
    }
    return range(base as PhysAddr, sz as Size);
  };
  const rng = (r: RawRange, path: string): PhysRange =>
    checked(num(r.base, `${path}/base`), num(r.size, `${path}/size`), path);

  const ram = raw.ram.map((r, i) => rng(r, `/ram/${i}`)).sort((a, b) => (a.start < b.start ? -1 : 1));
  ram.forEach((r, i) => {
    if (r.size === 0n) problems.push({ path: `/ram/${i}`, message: 'RAM range is empty' });
    if (r.start % SZ_4K !== 0n || r.size % SZ_4K !== 0n) {
      problems.push({ path: `/ram/${i}`, message: `RAM range ${formatRange(r)} is not 4 KiB aligned` });
    }
    const prev = ram[i - 1];
    if (prev !== undefined && overlaps(prev, r)) {
      problems.push({ path: `/ram/${i}`, message: `RAM ranges ${formatRange(prev)} and ${formatRange(r)} overlap` });
    }
  });
  const inRam = (r: PhysRange): boolean => ram.some((x) => r.start >= x.start && rangeEnd(r) <= rangeEnd(x));

  const reserved: ReservedRange[] = (raw.reserved ?? []).map((r, i) => ({
    name: r.name,
    kind: r.kind,
    range: rng(r, `/reserved/${i}`),
  }));
  reserved.forEach((r, i) => {
    if (r.range.start % SZ_4K !== 0n || r.range.size % SZ_4K !== 0n) {
      problems.push({
        path: `/reserved/${i}`,
        message: `reserved range "${r.name}" ${formatRange(r.range)} is not 4 KiB aligned`,
      });
    }
    reserved.slice(0, i).forEach((o) => {
      if (overlaps(o.range, r.range)) {
        problems.push({ path: `/reserved/${i}`, message: `reserved ranges "${o.name}" and "${r.name}" overlap` });
      }
    });
  });
  const mmio: NamedRange[] = (raw.mmio ?? []).map((r, i) => ({ name: r.name, range: rng(r, `/mmio/${i}`) }));
  mmio.forEach((m, i) => {
    ram.forEach((r) => {
      if (overlaps(m.range, r)) {
        problems.push({
          path: `/mmio/${i}`,
          message: `MMIO window "${m.name}" ${formatRange(m.range)} overlaps RAM ${formatRange(r)}`,
        });
      }
    });
  });

  const hk = raw.hostKernel;
  const hostRange = rng({ base: hk.loadAddress, size: hk.size }, '/hostKernel');
  if (hostRange.start % SZ_2M !== 0n) {
    problems.push({
      path: '/hostKernel/loadAddress',
      message: `host kernel load address ${hex(hostRange.start)} is not 2 MiB aligned`,
    });
  }
  if (!inRam(hostRange)) {
    problems.push({
      path: '/hostKernel',
      message: `host kernel ${formatRange(hostRange)} is not inside one RAM range`,
    });
  }
  if (raw.arch === 'amd64' && rangeEnd(hostRange) > SZ_4G) {
    problems.push({
      path: '/hostKernel',
      message: `amd64 kernels must be loaded below 4 GiB (${formatRange(hostRange)})`,
    });
  }
  reserved.forEach((r) => {
    if (overlaps(r.range, hostRange)) {
      problems.push({
        path: '/hostKernel',
        message: `host kernel ${formatRange(hostRange)} overlaps reserved "${r.name}"`,
      });
    }
  });
  const kenv: [string, string][] = (hk.kenv ?? []).map((e) => {
    const eq = e.indexOf('=');
    return [e.slice(0, eq), e.slice(eq + 1)];
  });

  const gic =
    raw.gic === undefined ? undefined : parseGic(raw.gic, raw.cpus, { num, checked, rng, inRam, hostRange, problems });
  const imported = parseImported(raw, ram, gic, problems);
  const fb = raw.framebuffer;
  const framebuffer: FramebufferProfile | undefined =
    fb === undefined
      ? undefined
      : {
          base: num(fb.base, '/framebuffer/base') as PhysAddr,
          size: num(fb.size, '/framebuffer/size') as Size,
          width: fb.width,
          height: fb.height,
          stride: fb.stride,
        };
  if (framebuffer !== undefined && raw.firmware !== 'efi') {
    problems.push({ path: '/framebuffer', message: 'an EFI framebuffer needs EFI firmware' });
  }
  const uart = {
    kind: raw.uart.kind,
    base: num(raw.uart.base, '/uart/base'),
    size: (raw.uart.size === undefined ? 8n : num(raw.uart.size, '/uart/size')) as Size,
  };
  problems.push(...deviceWindowProblems(raw.cpus, ram, gic, uart));

  if (problems.length > 0) {
    throw new ConfigError(
      ConfigCode.Invalid,
      `config: ${source} is not a usable machine profile:\n${formatProblems(problems)}`,
      { file: source, problems },
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
    hostKernel: { range: hostRange, boothowto: hk.boothowto ?? 0, kenv },
    ...imported,
  };
}

/** What parseProfile's steps share: number and range readers that record problems, RAM membership, the host kernel. */
interface ParseContext {
  readonly num: (text: string, path: string) => bigint;
  readonly checked: (base: bigint, sz: bigint, path: string) => PhysRange;
  readonly rng: (r: RawRange, path: string) => PhysRange;
  readonly inRam: (r: PhysRange) => boolean;
  readonly hostRange: PhysRange;
  readonly problems: Problem[];
}

/** The LPI and ITS tables of a GICv3 with an ITS: 64 KiB aligned, in RAM, clear of the host kernel and of each other. */
function parseGicTables(g: RawGic, cpus: number, ctx: ParseContext): DeviceTable[] {
  const { num, checked, rng, inRam, hostRange, problems } = ctx;
  if (g.lpiConfTable === undefined) return [];
  const pend = g.lpiPendTables ?? [];
  const tables: DeviceTable[] = [
    {
      kind: 'lpi-conf',
      range: checked(num(g.lpiConfTable, '/gic/lpiConfTable'), LPI_CONFTAB_SIZE, '/gic/lpiConfTable'),
    },
    ...pend.map((p, i): DeviceTable => ({
      kind: 'lpi-pend',
      range: checked(num(p, `/gic/lpiPendTables/${i}`), LPI_PENDTAB_SIZE, `/gic/lpiPendTables/${i}`),
    })),
    ...(g.itsTables ?? []).map((t, i): DeviceTable => ({
      kind: `its-${t.kind}`,
      range: rng(t, `/gic/itsTables/${i}`),
    })),
  ];
  tables.forEach((t, i) => {
    if (t.range.start % LPI_TABLE_ALIGN !== 0n) {
      problems.push({ path: '/gic', message: `${t.kind} table at ${hex(t.range.start)} is not 64 KiB aligned` });
    }
    if (!inRam(t.range))
      problems.push({ path: '/gic', message: `${t.kind} table ${formatRange(t.range)} is not in RAM` });
    if (overlaps(t.range, hostRange)) {
      problems.push({ path: '/gic', message: `${t.kind} table ${formatRange(t.range)} overlaps the host kernel` });
    }
    tables.slice(0, i).forEach((o) => {
      if (overlaps(o.range, t.range)) {
        problems.push({ path: '/gic', message: `${o.kind} and ${t.kind} tables overlap at ${formatRange(t.range)}` });
      }
    });
  });
  if (pend.length !== cpus) {
    problems.push({
      path: '/gic/lpiPendTables',
      message: `${pend.length} LPI pending tables for ${cpus} CPUs (one per CPU)`,
    });
  }
  return tables;
}

/** The profile's interrupt controller (GICv3 by default, or GICv2). */
function parseGic(g: RawGic, cpus: number, ctx: ParseContext): GicProfile {
  const { num, rng } = ctx;
  const redistributors =
    g.redistributor === undefined
      ? []
      : [
          rng({ base: g.redistributor, size: g.redistributorSize ?? '0' }, '/gic/redistributor'),
          ...(g.redistributorRegions ?? []).map((r, i) => rng(r, `/gic/redistributorRegions/${i}`)),
        ];
  const its = g.its === undefined ? [] : [g.its, ...(g.additionalIts ?? [])];
  return {
    version: g.version ?? 'v3',
    distributor: num(g.distributor, '/gic/distributor') as PhysAddr,
    redistributors,
    its: its.map((a, i) => num(a, i === 0 ? '/gic/its' : `/gic/additionalIts/${i - 1}`) as PhysAddr),
    tables: parseGicTables(g, cpus, ctx),
  };
}

/**
 * An imported profile's own parts: the board DTB (it must parse; its RAM, page-rounded
 * inward, must be the profile's RAM), provenance, assumptions and what was read. A GICv2
 * fdt machine must bring its DTB: kboot's own tree (buildMachineFdt) is GICv3.
 */
function parseImported(
  raw: RawProfile,
  ram: readonly PhysRange[],
  gic: GicProfile | undefined,
  problems: Problem[],
): Pick<MachineProfile, 'dtb' | 'provenance' | 'assumptions' | 'board'> {
  let dtb: Uint8Array | undefined;
  if (raw.dtb !== undefined) {
    dtb = new Uint8Array(Buffer.from(raw.dtb, 'base64'));
    if (raw.arch !== 'arm64' || raw.firmware !== 'fdt') {
      problems.push({ path: '/dtb', message: 'a board device tree belongs to an arm64 fdt machine' });
    }
    try {
      const tree = parseFdt(dtb);
      writeFdt(loaderFdtFixup(tree)); // the host's tree must be writable, as hostFirmware writes it
      const inward = readMemoryRanges(tree).flatMap((r) => {
        const start = (r.start + SZ_4K - 1n) & ~(SZ_4K - 1n);
        const end = (r.start + r.size) & ~(SZ_4K - 1n);
        return end > start ? [rangeFromEnd(phys(start), end)] : [];
      });
      const text = (rs: readonly PhysRange[]): string[] =>
        normalize(rs).map((r) => `${hex(r.start)}-${hex(rangeEnd(r))}`);
      const fdtRam = text(inward);
      const want = text(ram);
      if (fdtRam.join(',') !== want.join(',')) {
        problems.push({
          path: '/dtb',
          message: `the device tree's RAM (${fdtRam.join(', ')}) is not the profile's RAM (${want.join(', ')})`,
        });
      }
    } catch (e) {
      if (!(e instanceof HandoffError)) throw e;
      problems.push({ path: '/dtb', message: `the board device tree cannot be used: ${e.message}` });
    }
  } else if (gic?.version === 'v2' && raw.firmware === 'fdt') {
    problems.push({
      path: '/gic/version',
      message: "a GICv2 fdt machine needs its board's device tree (kboot machine import --dtb)",
    });
  }
  return { dtb, provenance: raw.provenance, assumptions: raw.assumptions ?? [], board: raw.board };
}
