/**
 * The action of `kboot inspect <elf> [--json]` (loaded when the command runs; its descriptor
 * is cli/commands/inspect.ts): what an ELF kernel is and whether it can be a rescue kernel.
 *
 * Contract: reads the file (loader/io/input.ts: a missing file, a device, a FIFO or one over
 * INPUT_LIMITS.kernel is an `IoError`, IO_*), parses it
 * with `parseElf` (a malformed file surfaces as its `ElfError`), runs `lintRescueKernel`, and
 * prints arch, type, entry, the PT_LOAD segments (virtual, physical, file offset, file size,
 * memory size, RWX), the symbol count, the total load size and the rescue verdict with every
 * problem. With `--json` it prints one object valid against schemas/inspect.schema.json
 * (addresses and sizes as "0x…" strings). The verdict does not change the exit status:
 * inspect reports, it does not gate. A file without PT_LOAD (sections and `.symtab` only: a
 * debug or symbol file) is read with loader/elf/symbols.ts and reported as symbol-only
 * (`symbolOnly: true`, no segments, rescue verdict "elf-type": it cannot be booted).
 * Rules behind the verdict: shared/spec/freebsd-handoff.md §2.1, §2.4, §8.2–8.3, §10.4.
 */
import { hex } from '../../loader/addr.js';
import { jsonSafe } from '../../loader/errors.js';
import { phdrFlagsText, SHT } from '../../loader/elf/constants.js';
import { ElfCode, ElfError } from '../../loader/elf/errors.js';
import { readElfSymbols, type ElfSymbolFile } from '../../loader/elf/symbols.js';
import type { ElfImage } from '../../loader/elf/image.js';
import { parseElf } from '../../loader/elf/reader.js';
import { lintRescueKernel, type RescueLint } from '../../loader/elf/rescue-lint.js';
import { readInputFile } from '../../loader/io/input.js';
import type { ActionContext } from '../context.js';

/** One PT_LOAD as `--json` prints it. */
export interface InspectSegment {
  readonly index: number;
  readonly vaddr: string;
  readonly paddr: string;
  readonly offset: string;
  readonly filesz: string;
  readonly memsz: string;
  readonly align: string;
  /** `R`, `W`, `X` or `-` in that order, e.g. `R-X`. */
  readonly flags: string;
}

/** The `--json` output of `kboot inspect` (schemas/inspect.schema.json). */
export interface InspectReport {
  readonly file: string;
  readonly fileSize: number;
  readonly arch: string;
  readonly machine: number;
  readonly type: string;
  readonly osabi: number;
  readonly entry: string | null;
  readonly loadSegments: readonly InspectSegment[];
  readonly symbols: { readonly count: number; readonly source: string };
  readonly sectionCount: number;
  readonly noteCount: number;
  readonly load: {
    /** Sum of p_memsz over PT_LOAD. */
    readonly memSize: string;
    /** Sum of p_filesz over PT_LOAD. */
    readonly fileSize: string;
    readonly span: { readonly start: string; readonly end: string };
  };
  /** Present and true for a file with no PT_LOAD (symbols only: it cannot be booted). */
  readonly symbolOnly?: boolean;
  readonly rescue: {
    readonly ok: boolean;
    readonly kernelVaSpan: { readonly start: string; readonly end: string };
    readonly fileSize: string;
    readonly memEnd: string;
    readonly footprint: string;
    readonly problems: readonly { readonly rule: string; readonly message: string; readonly details: unknown }[];
  };
}

const TYPE_NAME: Readonly<Record<string, string>> = { exec: 'ET_EXEC', dyn: 'ET_DYN', core: 'ET_CORE' };
const OSABI_NAME: Readonly<Record<number, string>> = { 0: 'SYSV', 3: 'Linux', 9: 'FreeBSD' };

/** Builds the JSON-ready report from a parsed image and its lint. */
export function inspectReport(file: string, image: ElfImage, lint: RescueLint): InspectReport {
  let memSize = 0n;
  let fileBytes = 0n;
  for (const p of image.loadSegments) {
    memSize += p.memsz;
    fileBytes += p.filesz;
  }
  return {
    file,
    fileSize: image.fileSize,
    arch: image.arch,
    machine: image.machine,
    type: image.type,
    osabi: image.osabi,
    entry: image.entry === undefined ? null : hex(image.entry),
    loadSegments: image.loadSegments.map((p) => ({
      index: p.index,
      vaddr: hex(p.vaddr),
      paddr: hex(p.paddr),
      offset: hex(p.offset),
      filesz: hex(p.filesz),
      memsz: hex(p.memsz),
      align: hex(p.align),
      flags: phdrFlagsText(p.flags),
    })),
    symbols: { count: image.symbolCount, source: image.symbolSource },
    sectionCount: image.sections.length,
    noteCount: image.notes.length,
    load: {
      memSize: hex(memSize),
      fileSize: hex(fileBytes),
      span: { start: hex(lint.kernelVaSpan.start), end: hex(lint.kernelVaSpan.end) },
    },
    rescue: {
      ok: lint.ok,
      kernelVaSpan: { start: hex(lint.kernelVaSpan.start), end: hex(lint.kernelVaSpan.end) },
      fileSize: hex(lint.fileSize),
      memEnd: hex(lint.memEnd),
      footprint: hex(lint.footprint),
      problems: lint.problems.map((p) => ({ rule: p.rule, message: p.message, details: jsonSafe(p.details) })),
    },
  };
}

const addr = (h: string): string => `0x${h.slice(2).padStart(16, '0')}`;
const num = (h: string): string => `0x${h.slice(2).padStart(8, '0')}`;

/** The human-readable form of a report. */
export function formatInspect(r: InspectReport): string {
  const lines: string[] = [];
  lines.push(`${r.file}`);
  lines.push(`  file     ${r.fileSize} bytes (${hex(r.fileSize)})`);
  lines.push(`  arch     ${r.arch} (e_machine ${hex(r.machine)})`);
  lines.push(
    `  type     ${r.type} (${TYPE_NAME[r.type] ?? '?'}), OS/ABI ${OSABI_NAME[r.osabi] ?? 'other'} (${hex(r.osabi)})`,
  );
  lines.push(`  entry    ${r.entry === null ? 'none' : addr(r.entry)}`);
  if (r.symbolOnly === true) lines.push('  SYMBOL-ONLY: no loadable segments, so not a kernel that can be booted');
  lines.push(`  load segments (${r.loadSegments.length}):`);
  lines.push(
    `    ${'#'.padStart(3)}  ${'virtual'.padEnd(18)}  ${'physical'.padEnd(18)}  ${'offset'.padEnd(10)}  ${'filesz'.padEnd(10)}  ${'memsz'.padEnd(10)}  flags  align`,
  );
  for (const s of r.loadSegments) {
    lines.push(
      `    ${String(s.index).padStart(3)}  ${addr(s.vaddr)}  ${addr(s.paddr)}  ${num(s.offset)}  ${num(s.filesz)}  ${num(s.memsz)}  ${s.flags.padEnd(5)}  ${s.align}`,
    );
  }
  lines.push(`  symbols  ${r.symbols.count}${r.symbols.source === 'none' ? '' : ` (.${r.symbols.source})`}`);
  lines.push(
    `  load     ${r.load.memSize} bytes in memory, ${r.load.fileSize} from the file; span ${addr(r.load.span.start)}-${addr(r.load.span.end)}`,
  );
  if (r.rescue.ok) {
    lines.push(`  rescue   compatible (footprint ${r.rescue.footprint} bytes after reservation + 2 MiB)`);
  } else {
    const n = r.rescue.problems.length;
    lines.push(`  rescue   NOT compatible (${n} problem${n === 1 ? '' : 's'}):`);
    for (const p of r.rescue.problems) lines.push(`    - [${p.rule}] ${p.message}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The report of a file with no PT_LOAD (loader/elf/symbols.ts read it): nothing to load, so not a rescue kernel. */
export function symbolOnlyReport(file: string, f: ElfSymbolFile): InspectReport {
  const zero = hex(0);
  const message = `elf: a symbol-only file: no loadable segments (${f.phnum} program headers, ${f.symbols.length} symbols), so not a kernel that can be booted`;
  return {
    file,
    fileSize: f.fileSize,
    arch: f.arch,
    machine: f.machine,
    type: f.type,
    osabi: f.osabi,
    entry: f.entry === 0n ? null : hex(f.entry),
    loadSegments: [],
    symbols: { count: f.symbols.length, source: f.source },
    sectionCount: f.sections.length,
    noteCount: f.sections.filter((s) => s.type === SHT.NOTE).length,
    load: { memSize: zero, fileSize: zero, span: { start: zero, end: zero } },
    rescue: {
      ok: false,
      kernelVaSpan: { start: zero, end: zero },
      fileSize: hex(f.fileSize),
      memEnd: zero,
      footprint: zero,
      problems: [{ rule: 'elf-type', message, details: { loadSegments: 0, phnum: f.phnum } }],
    },
    symbolOnly: true,
  };
}

/** The report of `bytes`: a kernel's, or a symbol-only file's (described, not refused). */
function reportFor(file: string, bytes: Uint8Array): InspectReport {
  try {
    const image = parseElf(bytes);
    return inspectReport(file, image, lintRescueKernel(image));
  } catch (e) {
    if (!(e instanceof ElfError && e.code === ElfCode.NoLoad)) throw e;
    return symbolOnlyReport(file, readElfSymbols(bytes));
  }
}

/** `kboot inspect FILE`: reads and parses the kernel, lints it and prints the report. */
export function runInspect(ctx: ActionContext, file: string): void {
  const bytes = readInputFile(file, 'kernel', { what: 'kernel', cwd: ctx.io.cwd });
  const report = reportFor(file, bytes);
  ctx.io.out(ctx.json ? `${JSON.stringify(report, null, 2)}\n` : formatInspect(report));
}
