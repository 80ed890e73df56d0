/**
 * probeImageMode(image): the mode a probe kernel was built with (`kboot probe-kernel --mode`),
 * read back from the image itself.
 *
 * Contract: pure and bounded. A probe has the `probe_report` symbol (PROBE_LABELS.report) and
 * carries its console line `kboot probe: ok arch=A mode=M checksum=0x` (common.ts
 * probeMessage) in the file bytes of the PT_LOAD that holds `_start`; at most SCAN_BYTES of
 * that segment are searched. Returns 'rescue' or 'kexec', or undefined for a kernel that is
 * not a probe (no symbol, no such segment, no line naming a mode). Never throws.
 */
import { PT } from '../../loader/elf/constants.js';
import type { ElfImage } from '../../loader/elf/image.js';
import { PROBE_LABELS } from './common.js';
import type { ProbeMode } from './layout.js';

/** Most bytes of the text segment searched (a probe's text is under 4 KiB). */
const SCAN_BYTES = 64 * 1024;
const PREFIX = Buffer.from('kboot probe: ok arch=', 'latin1');

/** The mode a probe image was built with, or undefined (see the module contract). */
export function probeImageMode(image: ElfImage): ProbeMode | undefined {
  if (!image.symbols.some((s) => s.name === PROBE_LABELS.report)) return undefined;
  const start = image.symbols.find((s) => s.name === PROBE_LABELS.start)?.value ?? image.entry;
  if (start === undefined) return undefined;
  const seg = image.loadSegments.find((p) => p.type === PT.LOAD && start >= p.vaddr && start < p.vaddr + p.filesz);
  if (seg === undefined) return undefined;
  const from = Number(seg.offset);
  const to = Math.min(image.bytes.length, from + Math.min(Number(seg.filesz), SCAN_BYTES));
  if (from >= to) return undefined;
  const text = Buffer.from(image.bytes.buffer, image.bytes.byteOffset + from, to - from);
  const at = text.indexOf(PREFIX);
  if (at < 0) return undefined;
  const line = text.subarray(at, Math.min(text.length, at + 128)).toString('latin1');
  const m = /^kboot probe: ok arch=[a-z0-9]+ mode=(rescue|kexec) /.exec(line);
  return m?.[1] === 'rescue' || m?.[1] === 'kexec' ? m[1] : undefined;
}
