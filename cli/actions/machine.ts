/**
 * The actions of `kboot machine import (--dtb FILE | --efi-map FILE | --smap FILE | --memmap DIR | --iomem FILE | --host)
 *    [-o FILE] [--memory BASE:SIZE ...] [--name NAME] [--arch ARCH] [--firmware efi|bios] [--force]`,
 * `kboot machine list [--dir DIR]`, `kboot machine show NAME|FILE`,
 * `kboot machine rescue-dtb NAME|FILE <elf> -o FILE [--memsize SIZE] [--force]`.
 *
 * (loaded when the command runs; the descriptor is cli/commands/machine.ts).
 *
 * Contract: `import` reads one source (files through loader/io/input.ts, the running host
 * through sysprobe/, read-only), turns it into facts (loader/import), builds a profile with
 * its provenance (every input's path and SHA-256, the command) and every assumption, and
 * writes it to `-o FILE` (default `<name>.json` in the current directory; `-o -` prints it) —
 * never over an existing file without --force (IO_EXISTS). It prints what it found, the
 * assumptions and every D47358 rule for the machine (loader/import/rules.ts); `--json` prints
 * one object valid against schemas/machine-import.schema.json. `list` prints the built-in
 * profiles and every imported profile (a profile file with provenance) in `--dir` (default
 * the current directory), one line each (schemas/machine-list.schema.json). `show` prints a
 * machine's memory map as `kboot plan` sees it, its devices, provenance, assumptions and
 * rules (schemas/machine-show.schema.json). `rescue-dtb` plans a rescue hand-off for a
 * kernel on an FDT machine and writes the DTB D47358 would put in the reservation
 * (schemas/machine-rescue-dtb.schema.json). A bad --memory, --arch or --firmware, or not
 * exactly one source, is CLI_USAGE.
 */
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import { readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { formatRange, hex, parseSizeText, rangeEnd, type PhysRange } from '../../loader/addr.js';
import type { Arch } from '../../loader/arch/index.js';
import { parseElf } from '../../loader/elf/reader.js';
import { KbootError } from '../../loader/errors.js';
import { parseFdt, readMemoryRanges } from '../../loader/handoff/fdt/index.js';
import { buildImportedProfile, profileName } from '../../loader/import/build.js';
import {
  importDtb,
  importEfiMap,
  importHost,
  importIomem,
  importMemmap,
  importSmap,
  type FactRange,
  type MachineFacts,
  type RulesReport,
} from '../../loader/import/index.js';
import { rescueRules } from '../../loader/import/rules.js';
import { readInputFile, readInputText } from '../../loader/io/input.js';
import { writeNewFile } from '../../loader/io/output.js';
import { packagePath } from '../../loader/paths.js';
import { buildMemoryMap, formatMemoryMap, type MemoryMap } from '../../loader/plan/memory-map.js';
import { builtinProfileNames, loadProfile, type MachineProfile } from '../../loader/plan/profile.js';
import { planRescue } from '../../loader/plan/rescue-plan.js';
import { readHostSnapshot, readMemmapDir, readRecorded, type InputRecord } from '../../sysprobe/read.js';
import type { CliIo } from '../io.js';
import type { ActionContext } from '../context.js';
import { CliCode, CliError, sizeOption } from '../errors.js';

/** The options of `kboot machine import`. */
export interface ImportOpts {
  dtb?: string;
  efiMap?: string;
  smap?: string;
  memmap?: string;
  iomem?: string;
  host?: boolean;
  output?: string;
  memory?: string[];
  name?: string;
  arch?: string;
  firmware?: string;
  force?: boolean;
}

const usage = (message: string, details: Record<string, unknown> = {}): CliError =>
  new CliError(CliCode.Usage, `cli: ${message}`, details);

/** `--memory BASE:SIZE` values (hex, decimal or with K/M/G/T). */
export function parseMemoryOption(values: readonly string[]): FactRange[] {
  return values.map((v) => {
    const [b, s, extra] = v.split(':');
    const start = b === undefined ? undefined : parseSizeText(b);
    const size = s === undefined ? undefined : parseSizeText(s);
    if (start === undefined || size === undefined || extra !== undefined || size === 0n || start + size > 1n << 64n) {
      throw usage(`--memory "${v}" is not BASE:SIZE (e.g. 0x40000000:2G)`, { value: v });
    }
    return { start, size };
  });
}

const json = (r: PhysRange): { start: string; end: string; size: string } => ({
  start: hex(r.start),
  end: hex(rangeEnd(r)),
  size: hex(r.size),
});

/** The description of a machine both `show` and `import` print (schemas/machine-show.schema.json). */
export function machineReport(profile: MachineProfile, rules: RulesReport, map: MemoryMap): Record<string, unknown> {
  const gic = profile.gic;
  return {
    name: profile.name,
    source: profile.source,
    description: profile.description,
    arch: profile.arch,
    firmware: profile.firmware,
    cpus: profile.cpus,
    ram: profile.ram.map(json),
    memoryMap: map.entries.map((e) => ({ ...json(e.range), use: e.use, label: e.label })),
    devices: {
      uart: { kind: profile.uart.kind, base: hex(profile.uart.base), size: hex(profile.uart.size) },
      ...(gic === undefined
        ? {}
        : {
            gic: {
              version: gic.version,
              distributor: hex(gic.distributor),
              redistributors: gic.redistributors.map(json),
              its: gic.its.map((a) => hex(a)),
              tables: gic.tables.map((t) => ({ kind: t.kind, ...json(t.range) })),
            },
          }),
      mmio: profile.mmio.map((m) => ({ name: m.name, ...json(m.range) })),
    },
    hostKernel: json(profile.hostKernel.range),
    ...(profile.board === undefined ? {} : { board: profile.board }),
    ...(profile.provenance === undefined ? {} : { provenance: profile.provenance }),
    assumptions: profile.assumptions,
    rescueRules: {
      reservationSize: hex(rules.reservationSize),
      memsize: hex(rules.memsize),
      kernelFileSize: hex(rules.kernelFileSize),
      region: rules.region === undefined ? null : json(rules.region),
      rules: rules.rules,
    },
  };
}

const STATUS_TEXT: Readonly<Record<string, string>> = {
  ok: 'ok',
  fails: 'FAILS',
  warning: 'warning',
  unknown: 'unknown',
  'not-applicable': 'n/a',
};

/** The text form of a machine (show, and import after its first line). */
export function formatMachine(profile: MachineProfile, rules: RulesReport, mapLines: readonly string[]): string {
  const out: string[] = [];
  out.push(
    `machine ${profile.name} (${profile.arch}, ${profile.firmware}, ${profile.cpus} CPU${profile.cpus === 1 ? '' : 's'}) from ${profile.source}`,
  );
  if (profile.description !== '') out.push(`  ${profile.description}`);
  out.push('', 'memory map', ...mapLines.map((l) => `  ${l}`), '', 'devices');
  const b = profile.board?.['uart'] as
    { kind?: string; path?: string; compatible?: string[]; modelled?: boolean } | undefined;
  out.push(
    `  console  ${profile.uart.kind} at ${hex(profile.uart.base)}${b === undefined ? '' : ` (board: ${b.compatible?.[0] ?? b.kind ?? '?'} ${b.path ?? ''}${b.modelled === true ? '' : ', not modelled'})`}`,
  );
  const gic = profile.gic;
  if (gic !== undefined) {
    const parts = [`distributor ${hex(gic.distributor)}`];
    if (gic.redistributors.length > 0) parts.push(`redistributors ${gic.redistributors.map(formatRange).join(', ')}`);
    if (gic.its.length > 0)
      parts.push(
        `${gic.its.length} ITS (${gic.its.map((a) => hex(a)).join(', ')}), ${gic.tables.length} LPI/ITS tables`,
      );
    out.push(`  gic      GIC${gic.version}: ${parts.join('; ')}`);
  }
  for (const m of profile.mmio) out.push(`  mmio     ${formatRange(m.range).padEnd(41)} ${m.name}`);
  if (profile.provenance !== undefined) {
    out.push('', 'provenance', `  command  ${profile.provenance.command}`);
    for (const i of profile.provenance.inputs)
      out.push(`  ${i.kind.padEnd(8)} ${i.path} (${i.bytes} bytes, sha256 ${i.sha256})`);
  }
  if (profile.assumptions.length > 0) {
    out.push('', 'assumptions');
    for (const a of profile.assumptions) out.push(`  ${a.code}: ${a.message}`);
  }
  out.push(
    '',
    `D47358 rules (a ${hex(rules.reservationSize)}-byte reservation: rescue_memsize ${hex(rules.memsize)} + a ${hex(rules.kernelFileSize)}-byte kernel + 2 MiB${rules.region === undefined ? '' : `, at ${formatRange(rules.region)}`})`,
  );
  for (const r of rules.rules)
    out.push(`  ${(STATUS_TEXT[r.status] ?? r.status).padEnd(8)} ${r.rule.padEnd(22)} ${r.message}`);
  return `${out.join('\n')}\n`;
}

/** Loads what `show` and `import` print about a profile. */
function describe(profile: MachineProfile): { report: Record<string, unknown>; text: string } {
  const map = buildMemoryMap(profile);
  const rules = rescueRules(profile);
  return {
    report: machineReport(profile, rules, map),
    text: formatMachine(profile, rules, formatMemoryMap(map)),
  };
}

function kbootVersion(): string {
  const pkg = JSON.parse(readInputText(packagePath('package.json'), 'package', { what: 'package.json' })) as {
    version?: string;
  };
  return pkg.version ?? '0.0.0';
}

const SOURCES = ['dtb', 'efiMap', 'smap', 'memmap', 'iomem', 'host'] as const;

/** The command line an import was made with, for the provenance. */
function commandLine(opts: ImportOpts): string {
  const q = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  const parts = ['kboot', 'machine', 'import'];
  const add = (flag: string, v: string | undefined): void => {
    if (v !== undefined) parts.push(flag, q(v));
  };
  add('--dtb', opts.dtb);
  add('--efi-map', opts.efiMap);
  add('--smap', opts.smap);
  add('--memmap', opts.memmap);
  add('--iomem', opts.iomem);
  if (opts.host === true) parts.push('--host');
  for (const m of opts.memory ?? []) add('--memory', m);
  add('--arch', opts.arch);
  add('--firmware', opts.firmware);
  add('--name', opts.name);
  add('-o', opts.output);
  return parts.join(' ');
}

/** Reads the one source the options name and returns its facts and inputs. */
function readSource(opts: ImportOpts, io: CliIo): { facts: MachineFacts; inputs: InputRecord[]; label: string } {
  const given = SOURCES.filter((s) => opts[s] !== undefined && opts[s] !== false);
  if (given.length !== 1)
    throw usage('machine import needs exactly one of --dtb, --efi-map, --smap, --memmap, --iomem, --host', { given });
  const arch = opts.arch === undefined ? undefined : (opts.arch as Arch);
  if (arch !== undefined && arch !== 'amd64' && arch !== 'arm64')
    throw usage(`--arch must be amd64 or arm64, not "${opts.arch}"`);
  const fw = opts.firmware;
  if (fw !== undefined && fw !== 'efi' && fw !== 'bios') throw usage(`--firmware must be efi or bios, not "${fw}"`);
  if (opts.memory !== undefined && opts.dtb === undefined)
    throw usage('--memory goes with --dtb (the firmware fills /memory)');
  const inputs: InputRecord[] = [];
  const read = (path: string, kind: InputRecord['kind'], ik: 'dtb' | 'memoryMap', what: string): Buffer =>
    readRecorded(path, kind, ik, what, inputs, io.cwd);
  const mapOpts = {
    ...(arch === undefined ? {} : { arch }),
    ...(fw === undefined ? {} : { firmware: fw as 'efi' | 'bios' }),
  };
  if (opts.dtb !== undefined) {
    const memory = opts.memory === undefined ? undefined : parseMemoryOption(opts.memory);
    const facts = importDtb(read(opts.dtb, 'dtb', 'dtb', 'device tree'), memory === undefined ? {} : { memory });
    return { facts, inputs, label: opts.dtb };
  }
  if (opts.efiMap !== undefined)
    return {
      facts: importEfiMap(read(opts.efiMap, 'efi-map', 'memoryMap', 'EFI map'), mapOpts),
      inputs,
      label: opts.efiMap,
    };
  if (opts.smap !== undefined)
    return { facts: importSmap(read(opts.smap, 'smap', 'memoryMap', 'SMAP')), inputs, label: opts.smap };
  if (opts.iomem !== undefined) {
    return {
      facts: importIomem(read(opts.iomem, 'iomem', 'memoryMap', 'iomem').toString('utf8'), mapOpts),
      inputs,
      label: opts.iomem,
    };
  }
  if (opts.memmap !== undefined)
    return {
      facts: importMemmap(readMemmapDir(opts.memmap, inputs, io.cwd), mapOpts),
      inputs,
      label: opts.memmap,
    };
  const { snapshot, inputs: hostInputs } = readHostSnapshot();
  return { facts: importHost(snapshot), inputs: hostInputs, label: 'host' };
}

/** `kboot machine import`: one source to a profile file, its description and rules. */
export function runMachineImport(ctx: ActionContext, opts: ImportOpts): void {
  const { io } = ctx;
  const { facts, inputs, label } = readSource(opts, io);
  const name = opts.name ?? profileName(label === 'host' ? 'host' : basename(label));
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name))
    throw usage(`--name "${name}" is not a profile name ([a-z0-9][a-z0-9._-]{0,63})`);
  const where = label === 'host' ? `the running host (${process.platform}/${process.arch})` : label;
  const description = `Imported by kboot machine import from ${where}${facts.model === undefined ? '' : ` (${facts.model})`}`;
  const built = buildImportedProfile(facts, {
    name,
    description,
    command: commandLine(opts),
    kboot: kbootVersion(),
    inputs,
  });
  const text = `${JSON.stringify(built.json, null, 2)}\n`;
  const out = opts.output ?? `${name}.json`;
  let written: string | null = null;
  if (out !== '-') {
    written = resolve(io.cwd, out);
    writeNewFile(written, text, { shown: out, what: 'machine profile', replace: opts.force === true });
  }
  const { report, text: shown } = describe({ ...built.profile, source: written ?? 'stdout' });
  if (ctx.json)
    io.out(
      `${JSON.stringify({ written, machine: report, ...(written === null ? { profile: built.json } : {}) }, null, 2)}\n`,
    );
  else if (written === null) {
    io.out(text);
    io.err(shown);
  } else io.out(`imported ${facts.source} ${label} as ${written}\n\n${shown}`);
}

/** `kboot machine list`: the built-in profiles and the imported ones in a directory. */
export function runMachineList(ctx: ActionContext, opts: { dir?: string }): void {
  const { io } = ctx;
  const dir = resolve(io.cwd, opts.dir ?? '.');
  const row = (p: MachineProfile, kind: 'builtin' | 'imported', file?: string): Record<string, unknown> => ({
    name: p.name,
    kind,
    ...(file === undefined ? {} : { file }),
    arch: p.arch,
    firmware: p.firmware,
    cpus: p.cpus,
    ram: hex(p.ram.reduce((n, r) => n + r.size, 0n)),
    description: p.description,
  });
  const rows = builtinProfileNames().map((n) => row(loadProfile(n), 'builtin'));
  let names: string[] = [];
  try {
    names = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch {
    throw usage(`--dir ${opts.dir ?? '.'} cannot be listed`, { dir });
  }
  for (const f of names) {
    try {
      const p = loadProfile(join(dir, f));
      if (p.provenance !== undefined) rows.push(row(p, 'imported', join(dir, f)));
    } catch (e) {
      if (!(e instanceof KbootError)) throw e; // not a profile: not listed
    }
  }
  if (ctx.json) {
    io.out(`${JSON.stringify({ dir, machines: rows }, null, 2)}\n`);
    return;
  }
  for (const r of rows) {
    const mib = Number(BigInt(String(r['ram'])) >> 20n);
    io.out(
      `${String(r['name']).padEnd(28)} ${String(r['kind']).padEnd(9)} ${String(r['arch']).padEnd(6)} ${String(r['firmware']).padEnd(5)} ${String(r['cpus']).padStart(3)} CPUs ${String(mib).padStart(8)} MiB  ${String(r['file'] ?? r['description'])}\n`,
    );
  }
}

/** `kboot machine show`: a machine's map, devices, provenance, assumptions and rules. */
export function runMachineShow(ctx: ActionContext, machine: string): void {
  const { io } = ctx;
  const { report, text } = describe(loadProfile(machine, { cwd: io.cwd }));
  io.out(ctx.json ? `${JSON.stringify(report, null, 2)}\n` : text);
}

/** The options of `kboot machine rescue-dtb`. */
export interface RescueDtbOpts {
  output: string;
  memsize?: string;
  force?: boolean;
  itsHandoff?: ItsHandoffMode;
}

/** `kboot machine rescue-dtb`: the device tree D47358 puts in the reservation. */
export function runMachineRescueDtb(ctx: ActionContext, machine: string, file: string, opts: RescueDtbOpts): void {
  const { io } = ctx;
  const memsize = opts.memsize === undefined ? undefined : sizeOption(opts.memsize, '--memsize');
  const profile = loadProfile(machine, { cwd: io.cwd });
  if (profile.firmware !== 'fdt')
    throw usage(
      `machine ${profile.name} hands its kernel ${profile.firmware === 'bios' ? 'a SMAP' : 'an EFI map'}, not a device tree`,
    );
  const image = parseElf(readInputFile(file, 'kernel', { what: 'kernel', cwd: io.cwd }));
  const plan = planRescue({
    kernel: image,
    kernelName: basename(file),
    profile,
    ...(memsize === undefined ? {} : { memsize }),
    ...(opts.itsHandoff === undefined ? {} : { itsHandoff: opts.itsHandoff }),
  });
  const seg = plan.segments.find((s) => s.kind === 'firmware-map');
  if (seg === undefined) throw usage('the plan holds no device tree copy');
  const out = resolve(io.cwd, opts.output);
  writeNewFile(out, seg.data, { shown: opts.output, what: 'rescue DTB', replace: opts.force === true });
  const memory = readMemoryRanges(parseFdt(seg.data)).map((r) => ({
    start: hex(r.start),
    end: hex(r.start + r.size),
    size: hex(r.size),
  }));
  const result = { file: out, bytes: seg.data.length, machine: profile.name, reservation: json(plan.region), memory };
  if (ctx.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else
    io.out(
      `wrote the rescue DTB for ${profile.name} (${seg.data.length} bytes) to ${out}: /memory is ${memory.map((m) => `${m.start}+${m.size}`).join(', ')}, the reservation ${formatRange(plan.region)}\n`,
    );
}
