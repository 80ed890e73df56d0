#!/usr/bin/env node
// The address-brand cast budget (issue 12 item 7): counts `as PhysAddr`, `as KernelVa`,
// `as Size`, `as MetadataAddr` and `as RangeEnd<...>` in the library and CLI TypeScript (the
// layer folders of docs/ARCHITECTURE.md; not test/ or bench/), outside loader/addr.ts — where
// the brands are made, with checks — and outside the decoders listed below, which turn a
// file's bytes into typed values and so must brand what they read. Everywhere else an address
// comes from a checked helper (`phys`, `kva`, `size`, `add`, `sub`, `alignUp`, `offsetFrom`,
// `rangeFromEnd`, `endAddr`, ...), so the count may only go down: it fails above CEILING.
//
// Every occurrence counts (a line with two casts counts two), comments included.
//
// Usage: node scripts/count-casts.mjs [--list] [--quiet]
//   --list   one line per file with casts, most first
//   --quiet  print nothing unless the count is over the ceiling
// Prints `address-brand casts: N (ceiling M)`. Exit status 1 above the ceiling, else 0.
// `make lint` runs it (--quiet); `.ci/run` prints the count.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The count after issue 12's address pass; lower it when the count drops, never raise it. */
const CEILING = 17;

/** Folders of library and CLI code (docs/ARCHITECTURE.md's layers). */
const FOLDERS = [
  'loader',
  'native',
  'kernels',
  'sysprobe',
  'host',
  'machine',
  'dump',
  'rescue',
  'compare',
  'scenario',
  'cli',
];

/** Where the brands are made. */
const ADDR_MODULE = 'loader/addr.ts';

/**
 * The decoders: each reads an outside format and brands the addresses in it as it decodes.
 * An explicit list, so a new file never joins it by accident.
 */
const DECODERS = [
  'loader/elf/reader.ts', // ELF headers, sections, symbols (p_vaddr, p_paddr, st_value, ...)
  'loader/plan/profile.ts', // machine-profile JSON
  'kernels/probe/report.ts', // the probe kernel's report page
  'dump/reader.ts', // crash-dump files
];

const CAST = /\bas\s+(?:PhysAddr|KernelVa|Size|MetadataAddr|RangeEnd\b)(?![\w$])/g;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir) {
  let entries;
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch (e) {
    if (e.code === 'ENOENT') return [];
    throw e;
  }
  return entries.flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return tsFiles(rel);
    return e.isFile() && rel.endsWith('.ts') && !rel.endsWith('.d.ts') && !rel.endsWith('.test.ts') ? [rel] : [];
  });
}

const args = process.argv.slice(2);
for (const a of args) {
  if (a !== '--list' && a !== '--quiet') {
    console.error(`count-casts: unknown option ${a}`);
    console.error('usage: node scripts/count-casts.mjs [--list] [--quiet]');
    process.exit(2);
  }
}
const exempt = new Set([ADDR_MODULE, ...DECODERS]);
const perFile = [];
for (const file of FOLDERS.flatMap(tsFiles)) {
  if (exempt.has(file)) continue;
  const n = (readFileSync(join(root, file), 'utf8').match(CAST) ?? []).length;
  if (n > 0) perFile.push([relative(root, join(root, file)), n]);
}
const total = perFile.reduce((s, [, n]) => s + n, 0);
const over = total > CEILING;
if (!args.includes('--quiet') || over) {
  console.log(`address-brand casts: ${total} (ceiling ${CEILING})`);
}
if (args.includes('--list')) {
  for (const [file, n] of perFile.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])))
    console.log(`  ${n}\t${file}`);
}
if (over) {
  console.error(
    `count-casts: ${total - CEILING} more address-brand cast(s) than the ceiling; use the helpers of ${ADDR_MODULE} (node scripts/count-casts.mjs --list)`,
  );
  process.exit(1);
}
if (total < CEILING && !args.includes('--quiet')) {
  console.log(`count-casts: below the ceiling; lower CEILING in scripts/count-casts.mjs to ${total}`);
}
