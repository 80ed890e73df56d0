/**
 * Every parser kboot has, as a fuzz target (lib/target.ts): what `npm run fuzz` runs
 * (test/fuzz/run.ts) and what the tap suite runs at a small count (test/fuzz/<group>.test.ts).
 * A new parser gets a target here — a file in targets/ and one line below — and is then
 * covered by both.
 *
 * Floors (the share of inputs that must decode) were chosen from a 100,000-run measurement
 * of each target, at about half of what it reached (so a small tap count does not miss by
 * chance), and never below 0.05: see each target's `floor`.
 */
import type { FuzzGroup, FuzzTarget } from './lib/target.js';
import { decompressFileTarget, gzipTarget, zstdTarget } from './targets/compress.js';
import { hostJournalTarget, journalTarget, loaderConfTarget, numbersTarget, profileTarget } from './targets/config.js';
import {
  boundsTarget,
  dumpFileTarget,
  dumpOpenTarget,
  elfDumpTarget,
  kdhTarget,
  minidumpTarget,
} from './targets/dump.js';
import { elfTarget, embeddedTarget, embedTarget } from './targets/elf.js';
import { symbolsTarget } from './targets/symbols.js';
import { dumpInfoTarget } from './targets/dump-info.js';
import { planTarget } from './targets/plan.js';
import {
  efiFbTarget,
  efiMapTarget,
  fdtTarget,
  hostHandoffTarget,
  kenvTarget,
  kexecTarget,
  modinfoTarget,
  paramsTarget,
  probeReportTarget,
  rescueEfiMapTarget,
  smapTarget,
} from './targets/handoff.js';
import { importDtbTarget } from './targets/import-dtb.js';
import { importEfiMapTarget } from './targets/import-efi-map.js';
import { importEfiMapTextTarget } from './targets/import-efi-map-text.js';
import { importIomemTarget } from './targets/import-iomem.js';
import { importMemmapTarget } from './targets/import-memmap.js';
import { importSmapTarget } from './targets/import-smap.js';
import { SELF_TEST_TARGETS } from './targets/self-test.js';
import { memreserveTarget } from './targets/memreserve.js';

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  elfTarget,
  embeddedTarget,
  embedTarget,
  symbolsTarget,
  planTarget,
  profileTarget,
  loaderConfTarget,
  journalTarget,
  hostJournalTarget,
  numbersTarget,
  fdtTarget,
  modinfoTarget,
  kenvTarget,
  efiMapTarget,
  rescueEfiMapTarget,
  smapTarget,
  efiFbTarget,
  memreserveTarget,
  paramsTarget,
  hostHandoffTarget,
  probeReportTarget,
  kexecTarget,
  kdhTarget,
  minidumpTarget,
  elfDumpTarget,
  dumpOpenTarget,
  dumpFileTarget,
  dumpInfoTarget,
  boundsTarget,
  gzipTarget,
  zstdTarget,
  decompressFileTarget,
  importDtbTarget,
  importEfiMapTarget,
  importEfiMapTextTarget,
  importSmapTarget,
  importMemmapTarget,
  importIomemTarget,
];

/** A target by name, the runner's self-tests (targets/self-test.ts) included. */
export function fuzzTarget(name: string): FuzzTarget | undefined {
  return [...FUZZ_TARGETS, ...SELF_TEST_TARGETS].find((t) => t.name === name);
}

export { SELF_TEST_TARGETS };

export function targetsOf(group: FuzzGroup): FuzzTarget[] {
  return FUZZ_TARGETS.filter((t) => t.group === group);
}
