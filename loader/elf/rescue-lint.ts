/**
 * Rescue-kernel compatibility lint: can this ELF be handed to a D47358 rescue hand-off?
 *
 * Contract: `lintRescueKernel(image)` never throws; it checks every rule below and reports
 * every failure at once (each with the facts in hex in `message` and as values in
 * `details`), and `ok` is true when there are none. It is pure and reads only the image.
 *
 * Why these rules (shared/spec/freebsd-handoff.md): the host stores the raw ELF *file* at
 * reservation + 2 MiB (RESCUE_RESERV_KERNEL_OFFSET, §8.3), maps KERNBASE + k to
 * reservation + k (amd64, §8.4) or jumps to `rescue_pa + 2MB + (e_entry - KERNBASE)`
 * (arm64, §8.5), and zeroes BSS as `[p_offset + p_filesz, p_offset + p_memsz)` counted from
 * the file start (§8.3). So the file-offset layout must equal the memory layout with file
 * offset 0 at KERNSTART (§10.4), and:
 *  - 'elf-type': the file is ET_EXEC (the host jumps to e_entry as a link address, §8.4/§8.5);
 *  - 'file-layout': every PT_LOAD has p_vaddr - p_offset = archInfo(arch).kernstart;
 *  - 'link-address': every PT_LOAD lies in [kernstart, vmMaxKernelAddress) (§2.1, §2.4);
 *  - 'entry-in-text': e_entry lies in the file-backed part of an executable PT_LOAD;
 *  - 'bss-overlap': no PT_LOAD's BSS, zeroed by file offset, covers another PT_LOAD's file bytes;
 *  - 'load-alignment': no PT_LOAD asks for more than 2 MiB alignment, because the kernel lands
 *    on a 2 MiB-aligned PA (RESCUE_RESERV_ALIGN, §8.2; "loaded at a 2MiB aligned address", §2.4);
 *  - 'reservation-size': 2 MiB + the kernel's footprint (the larger of the file and its
 *    in-memory end, page-rounded) fits in 1 GiB, since the reservation may not cross a 1 GiB
 *    boundary (RESCUE_RESERV_BOUNDARY, §8.2).
 */
import type { KernelVa, Size } from '../addr.js';
import { hex, size } from '../addr.js';
import { archInfo, type Arch } from '../arch/index.js';
import { RESCUE_KERNEL_OFFSET, RESCUE_RESERV_ALIGN, RESCUE_RESERV_BOUNDARY } from '../kernel-abi/rescue.js';
import type { ElfImage, ProgramHeader } from './image.js';
import { ET, PF, phdrFlagsText } from './constants.js';

/** The rules `lintRescueKernel` checks (see the module contract). */
export const RESCUE_RULES = [
  'elf-type',
  'file-layout',
  'link-address',
  'entry-in-text',
  'bss-overlap',
  'load-alignment',
  'reservation-size',
] as const;
/** One rule's name. */
export type RescueRule = (typeof RESCUE_RULES)[number];

/** One failed rule for one segment (or for the file). */
export interface RescueProblem {
  readonly rule: RescueRule;
  /** `elf: <what failed> (<facts in hex>)`. */
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** The verdict and the facts a planner needs about the kernel's footprint. */
export interface RescueLint {
  readonly ok: boolean;
  readonly arch: Arch;
  readonly problems: readonly RescueProblem[];
  /** Lowest PT_LOAD vaddr to the highest PT_LOAD end (exclusive; may be 2^64). */
  readonly kernelVaSpan: { readonly start: KernelVa; readonly end: bigint };
  /** Bytes of the ELF file (all of it is copied into the reservation). */
  readonly fileSize: Size;
  /** max(p_offset + p_memsz) over PT_LOAD: the in-memory end of the raw-file kernel, from its start. */
  readonly memEnd: Size;
  /** Bytes the kernel needs after reservation + 2 MiB: the larger of fileSize and memEnd, page-rounded. */
  readonly footprint: Size;
}

const seg = (p: ProgramHeader): Record<string, unknown> => ({
  index: p.index,
  offset: p.offset,
  vaddr: p.vaddr,
  filesz: p.filesz,
  memsz: p.memsz,
  flags: phdrFlagsText(p.flags),
});

const ETYPE_NAME = { exec: 'ET_EXEC', dyn: 'ET_DYN', core: 'ET_CORE' } as const;
const ET_VALUE = { exec: ET.EXEC, dyn: ET.DYN, core: ET.CORE } as const;

/** Records one failed rule. */
type Report = (rule: RescueRule, what: string, details: Record<string, unknown>) => void;

/** Checks an ELF image against the rescue hand-off's rules; never throws. */
export function lintRescueKernel(image: ElfImage): RescueLint {
  const info = archInfo(image.arch);
  const problems: RescueProblem[] = [];
  const report: Report = (rule, what, details) => {
    problems.push({ rule, message: `elf: ${what}`, details });
  };
  checkElfType(image, report);
  for (const p of image.loadSegments) checkLoadSegment(image.arch, p, report);
  checkEntryInText(image, report);
  checkBssOverlap(image.loadSegments, report);
  const size = checkReservationSize(image, info.pageSize, report);
  return Object.freeze({
    ok: problems.length === 0,
    arch: image.arch,
    problems: Object.freeze(problems),
    kernelVaSpan: kernelVaSpan(image.loadSegments, info.kernstart),
    ...size,
  });
}

/** 'elf-type': the host jumps to e_entry as a link address, so the file is ET_EXEC. */
function checkElfType(image: ElfImage, report: Report): void {
  if (image.type !== 'exec') {
    report(
      'elf-type',
      `a rescue kernel must be ET_EXEC (this file is ${ETYPE_NAME[image.type]}, e_type ${hex(ET_VALUE[image.type])})`,
      {
        type: image.type,
      },
    );
  }
}

/** 'file-layout', 'link-address' and 'load-alignment' for one PT_LOAD. */
function checkLoadSegment(arch: Arch, p: ProgramHeader, report: Report): void {
  const { kernstart, vmMaxKernelAddress: vmMax } = archInfo(arch);
  if (p.vaddr - p.offset !== kernstart) {
    const want = p.vaddr - kernstart;
    report(
      'file-layout',
      `PT_LOAD #${p.index} file offset does not equal its address minus KERNSTART (p_vaddr ${hex(p.vaddr)}, p_offset ${hex(p.offset)}, KERNSTART ${hex(kernstart)}${want >= 0n ? `, needed p_offset ${hex(want)}` : ''})`,
      { ...seg(p), kernstart, delta: p.vaddr - p.offset },
    );
  }
  const end = p.vaddr + p.memsz;
  if (p.vaddr < kernstart || end > vmMax) {
    report(
      'link-address',
      `PT_LOAD #${p.index} lies outside the ${arch} kernel address range (segment [${hex(p.vaddr)}, ${hex(end)}), range [${hex(kernstart)}, ${hex(vmMax)}))`,
      { ...seg(p), kernstart, vmMaxKernelAddress: vmMax },
    );
  }
  if (p.align > RESCUE_RESERV_ALIGN) {
    report(
      'load-alignment',
      `PT_LOAD #${p.index} asks for more alignment than the kernel's 2 MiB-aligned load address gives (p_align ${hex(p.align)}, guaranteed ${hex(RESCUE_RESERV_ALIGN)})`,
      { ...seg(p), align: p.align, guaranteed: RESCUE_RESERV_ALIGN },
    );
  }
}

/** 'entry-in-text': e_entry lies in the file-backed part of an executable PT_LOAD. */
function checkEntryInText(image: ElfImage, report: Report): void {
  const entry = image.entry;
  if (entry === undefined) {
    report('entry-in-text', 'the file has no entry point (e_entry 0x0)', { entry: 0n });
    return;
  }
  const text = image.loadSegments.filter((p) => (p.flags & PF.X) !== 0);
  if (!text.some((p) => entry >= p.vaddr && entry - p.vaddr < p.filesz)) {
    report(
      'entry-in-text',
      `entry point lies outside the file bytes of every executable PT_LOAD (e_entry ${hex(entry)}; ${text.length === 0 ? 'no executable PT_LOAD' : text.map((p) => `#${p.index} [${hex(p.vaddr)}, ${hex(p.vaddr + p.filesz)})`).join(', ')})`,
      { entry, text: text.map(seg) },
    );
  }
}

/** 'bss-overlap': no PT_LOAD's BSS, zeroed by file offset, covers another PT_LOAD's file bytes. */
function checkBssOverlap(loads: readonly ProgramHeader[], report: Report): void {
  for (const a of loads) {
    if (a.memsz <= a.filesz) continue;
    const bssStart = a.offset + a.filesz;
    const bssEnd = a.offset + a.memsz;
    for (const b of loads) {
      if (b === a || b.filesz === 0n) continue;
      const bEnd = b.offset + b.filesz;
      if (bssStart < bEnd && b.offset < bssEnd) {
        report(
          'bss-overlap',
          `PT_LOAD #${a.index} BSS, zeroed by file offset, covers file bytes of PT_LOAD #${b.index} (BSS [${hex(bssStart)}, ${hex(bssEnd)}), #${b.index} file bytes [${hex(b.offset)}, ${hex(bEnd)}))`,
          { bss: { index: a.index, start: bssStart, end: bssEnd }, victim: seg(b) },
        );
      }
    }
  }
}

/** 'reservation-size': 2 MiB + the page-rounded footprint fits below the 1 GiB boundary. */
function checkReservationSize(
  image: ElfImage,
  page: Size,
  report: Report,
): Pick<RescueLint, 'fileSize' | 'memEnd' | 'footprint'> {
  let memEnd = 0n;
  for (const p of image.loadSegments) if (p.offset + p.memsz > memEnd) memEnd = p.offset + p.memsz;
  const fileSize = BigInt(image.fileSize);
  const biggest = memEnd > fileSize ? memEnd : fileSize;
  const footprint = ((biggest + page - 1n) / page) * page;
  if (RESCUE_KERNEL_OFFSET + footprint > RESCUE_RESERV_BOUNDARY) {
    report(
      'reservation-size',
      `the kernel does not fit in a reservation, which cannot cross a 1 GiB boundary (2 MiB + footprint ${hex(footprint)} > ${hex(RESCUE_RESERV_BOUNDARY)}; file ${hex(fileSize)}, memory end ${hex(memEnd)})`,
      { footprint, fileSize, memEnd, boundary: RESCUE_RESERV_BOUNDARY },
    );
  }
  // memEnd and footprint stay unchecked casts: a hostile p_memsz may carry them past 2^64, and the lint never throws
  return { fileSize: size(image.fileSize), memEnd: memEnd as Size, footprint: footprint as Size };
}

/** Lowest PT_LOAD vaddr to the highest PT_LOAD end; empty at KERNSTART without PT_LOADs. */
function kernelVaSpan(loads: readonly ProgramHeader[], kernstart: KernelVa): RescueLint['kernelVaSpan'] {
  let start: KernelVa | undefined;
  let end = 0n;
  for (const p of loads) {
    if (start === undefined || p.vaddr < start) start = p.vaddr;
    if (p.vaddr + p.memsz > end) end = p.vaddr + p.memsz;
  }
  const spanStart = start ?? kernstart;
  return Object.freeze({ start: spanStart, end: start === undefined ? spanStart : end });
}
