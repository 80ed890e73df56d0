/**
 * The action of `kboot plan --crash <elf> [--machine NAME|FILE] [--memsize SIZE] [--at ADDR]
 *  [--place highest|lowest] [--print-reservation-size] [--json]`
 *
 * Contract: plans a rescue-kernel hand-off for the kernel on the machine (default: the
 * built-in profile of the kernel's arch, amd64-efi or arm64-fdt) and prints the reservation
 * (address, size, why there, how the size is made up), the layout inside it, the hand-off
 * descriptors (params, kenv, firmware map, device tables to leave alone, used memory) and
 * warnings. `--print-reservation-size` prints only the bytes needed, in decimal, like
 * `kexec --print-ckr-size`; with `--host`, for the running host (cli/actions/host-kexec.ts: the
 * crashkernel= to boot with, and whether the current reservation holds it). `--json` prints an object valid against
 * schemas/plan.schema.json. Nothing is written anywhere: planning is pure. The descriptor is
 * cli/commands/plan.ts; this module is loaded when the command runs.
 */
import { basename } from 'node:path';
import { formatRange, hex, phys, rangeEnd, type PhysRange } from '../../loader/addr.js';
import { jsonSafe } from '../../loader/errors.js';
import { parseElf } from '../../loader/elf/reader.js';
import { readInputFile } from '../../loader/io/input.js';
import { defaultProfileName, loadProfile } from '../../loader/plan/profile.js';
import { planRescue, rescueReservationSizing, type RescuePlan } from '../../loader/plan/rescue-plan.js';
import type { ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import type { PLACE_CHOICES } from '../choices.js';
import type { ActionContext } from '../context.js';
import { CliCode, CliError, sizeOption } from '../errors.js';

const jr = (r: PhysRange): { start: string; end: string; size: string } => ({
  start: hex(r.start),
  end: hex(rangeEnd(r)),
  size: hex(r.size),
});

/** The JSON form of a plan (schemas/plan.schema.json). */
export function planReport(plan: RescuePlan): Record<string, unknown> {
  const region = plan.region;
  return {
    kernel: {
      file: plan.kernelName,
      arch: plan.arch,
      fileSize: hex(plan.sizing.kernelFile),
      footprint: hex(plan.lint.footprint),
      entryVa: hex(plan.kernelEntryVa),
    },
    machine: { name: plan.profileName, firmware: plan.firmware.kind },
    reservation: {
      ...jr(region),
      why: plan.placementWhy,
      sizing: {
        memsize: hex(plan.sizing.memsize),
        memsizeSource: plan.sizing.memsizeSource,
        kernelFile: hex(plan.sizing.kernelFile),
        metadata: hex(plan.sizing.metadata),
        total: hex(plan.sizing.total),
      },
    },
    entry: { va: hex(plan.kernelEntryVa), pa: hex(plan.entry) },
    layout: plan.segments.map((s) => ({
      kind: s.kind,
      label: s.label,
      offset: hex(s.phys - region.start),
      phys: hex(s.phys),
      length: hex(s.data.length),
      memSize: hex(s.memSize),
    })),
    params: jsonSafe(plan.area.params),
    firmwareMap: {
      kind: plan.area.layout.firmware.kind,
      offset: hex(plan.area.layout.firmware.offset),
      length: hex(plan.area.layout.firmware.length),
      declaredLength: hex(plan.area.layout.firmware.declaredLength),
    },
    kenv: plan.area.layout.kenv.entries.map(([k, v]) => `${k}=${v}`),
    metadataEnd: hex(plan.area.layout.metadataEnd),
    deviceReservations: plan.deviceReservations.map((d) => ({ reason: d.reason, ...jr(d.range) })),
    usedMemory: {
      rescueWritable: plan.usedMemory.rescueWritable.map(jr),
      rescueReadOnly: plan.usedMemory.rescueReadOnly.map(jr),
      untouchable: plan.usedMemory.untouchable.map(jr),
    },
    itsHandoff: itsReport(plan),
    warnings: plan.warnings.map((w) => ({ code: w.code, message: w.message })),
  };
}

function itsReport(plan: RescuePlan): Record<string, unknown> {
  const its = plan.area.layout.its;
  return {
    mode: plan.itsHandoff.mode,
    defaulted: plan.itsHandoff.defaulted,
    tables: plan.itsHandoff.ranges.map(jr),
    ...(its === undefined
      ? {}
      : {
          fwHandle: hex(its.fwHandle),
          fwHandleOffset: hex(its.fwHandleOffset),
          descriptorOffset: hex(its.pageOffset),
        }),
  };
}

/** One line: the GICv3 ITS descriptor the plan builds (or that it builds none). */
function itsText(plan: RescuePlan): string | undefined {
  const h = plan.itsHandoff;
  const n = h.ranges.length;
  if (n === 0) return undefined;
  const how = h.defaulted ? ' (the default for this firmware)' : '';
  const its = plan.area.layout.its;
  switch (h.mode) {
    case 'memreserve':
      return `  GICv3 ITS hand-off  memreserve${how}: FW_HANDLE ${hex(its?.fwHandle ?? 0n)} (kp_fwhandle at +${hex(its?.fwHandleOffset ?? 0).slice(2)}), EFI system table + LINUX_EFI_MEMRESERVE at +${hex(its?.pageOffset ?? 0).slice(2)} listing ${n} LPI tables, each also in the rescue EFI map`;
    case 'fdt':
      return `  GICv3 ITS hand-off  fdt${how}: ${n} LPI tables as /reserved-memory no-map nodes and /memory ranges in the rescue DTB`;
    case 'none':
      return `  GICv3 ITS hand-off  none: the rescue kernel is not told about ${n} live LPI tables (ITS_TABLES_LIVE)`;
  }
}

const mib = (n: bigint): string => {
  const v = Number(n) / (1 << 20);
  return `${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(2)} MiB`;
};

/** The text form of a plan. */
export function formatPlan(plan: RescuePlan): string {
  const r = plan.region;
  const s = plan.sizing;
  const out: string[] = [];
  out.push(
    `rescue kernel ${plan.kernelName} (${plan.arch}, ${hex(s.kernelFile)} bytes) on machine ${plan.profileName} (${plan.firmware.kind})`,
  );
  out.push('');
  out.push(`reservation   ${formatRange(r)}  ${mib(r.size)} (${hex(r.size)})`);
  out.push(`  why there   ${plan.placementWhy}`);
  out.push(
    `  size        rescue_memsize ${mib(s.memsize)} (${s.memsizeSource === 'kenv' ? 'debug.rescue_memsize' : s.memsizeSource}) + kernel file ${hex(
      s.kernelFile,
    )} page-rounded + 2 MiB metadata`,
  );
  out.push(`  entry       ${hex(plan.kernelEntryVa)} -> ${hex(plan.entry)}`);
  out.push('');
  out.push('layout (offsets from the reservation)');
  for (const seg of plan.segments) {
    const off = seg.phys - r.start;
    const len = seg.data.length > 0 ? `${hex(seg.data.length)} bytes` : `${hex(seg.memSize)} bytes reserved`;
    const mem = seg.kind === 'kernel' ? ` (${hex(seg.memSize)} in memory with BSS)` : '';
    out.push(`  +${hex(off, { width: 7 }).slice(2)}  ${seg.label.padEnd(36)} ${len}${mem}`);
  }
  const kernel = plan.segments.find((x) => x.kind === 'kernel');
  if (kernel !== undefined) {
    const freeStart = kernel.phys + kernel.memSize - r.start;
    out.push(
      `  +${hex(freeStart, { width: 7 }).slice(2)}  ${'free for the rescue kernel'.padEnd(36)} ${mib(r.size - freeStart)}`,
    );
  }
  out.push('');
  out.push('hand-off');
  const p = plan.area.params;
  out.push(
    `  rescue_kernel_params: ${Object.entries(p)
      .map(([k, v]) => `${k}=${typeof v === 'bigint' ? hex(v) : String(v)}`)
      .join(' ')}`,
  );
  out.push(`  kenv (${plan.area.layout.kenv.entries.length} variables, ${hex(plan.area.layout.kenv.length)} bytes):`);
  for (const [k, v] of plan.area.layout.kenv.entries) out.push(`    ${k}=${v}`);
  const its = itsText(plan);
  if (its !== undefined) out.push(its);
  if (plan.deviceReservations.length > 0) {
    out.push('  device tables both kernels must leave in place:');
    for (const d of plan.deviceReservations) out.push(`    ${d.reason.padEnd(16)} ${formatRange(d.range)}`);
  }
  out.push('  used memory after the jump:');
  out.push(`    rescue may write   ${plan.usedMemory.rescueWritable.map(formatRange).join(', ')}`);
  out.push(`    read only (host)   ${plan.usedMemory.rescueReadOnly.map(formatRange).join(', ')}`);
  if (plan.usedMemory.untouchable.length > 0) {
    out.push(`    untouchable        ${plan.usedMemory.untouchable.map(formatRange).join(', ')}`);
  }
  if (plan.warnings.length > 0) {
    out.push('');
    out.push('warnings');
    for (const w of plan.warnings) out.push(`  ${w.code}: ${w.message}`);
  }
  return `${out.join('\n')}\n`;
}

/** The options of `kboot plan` (cli/commands/plan.ts). */
export interface PlanOptions {
  crash?: boolean;
  machine?: string;
  memsize?: string;
  at?: string;
  place?: (typeof PLACE_CHOICES)[number];
  itsHandoff?: ItsHandoffMode;
  printReservationSize?: boolean;
  host?: boolean;
  state?: string;
}

/** `kboot plan --crash FILE`: plans the hand-off and prints it (or only the reservation size). */
export async function runPlan(ctx: ActionContext, file: string, opts: PlanOptions): Promise<void> {
  const { io } = ctx;
  if (opts.host === true) {
    if (opts.printReservationSize !== true || opts.machine !== undefined || opts.at !== undefined)
      throw new CliError(
        CliCode.Usage,
        'cli: --host goes with --print-reservation-size (for a whole plan: kboot machine import --host, then kboot plan --machine FILE)',
        {},
      );
    const { runHostReservationSize } = await import('./host-kexec.js');
    return runHostReservationSize(ctx, file, opts);
  }
  const image = parseElf(readInputFile(file, 'kernel', { what: 'kernel', cwd: io.cwd }));
  const profile = loadProfile(opts.machine ?? defaultProfileName(image.arch), { cwd: io.cwd });
  const memsize = opts.memsize === undefined ? undefined : sizeOption(opts.memsize, '--memsize');
  if (opts.printReservationSize === true) {
    const sizing = rescueReservationSizing(image, profile, memsize);
    if (ctx.json) io.out(`${JSON.stringify({ bytes: hex(sizing.total), ...(jsonSafe(sizing) as object) }, null, 2)}\n`);
    else io.out(`${sizing.total}\n`);
    return;
  }
  const plan = planRescue({
    kernel: image,
    kernelName: basename(file),
    profile,
    ...(memsize === undefined ? {} : { memsize }),
    ...(opts.at === undefined ? {} : { at: phys(sizeOption(opts.at, '--at')) }),
    ...(opts.place === undefined ? {} : { prefer: opts.place }),
    ...(opts.itsHandoff === undefined ? {} : { itsHandoff: opts.itsHandoff }),
  });
  io.out(ctx.json ? `${JSON.stringify(planReport(plan), null, 2)}\n` : formatPlan(plan));
}
