/**
 * `kboot machine import --efi-map` on mutated `sysctl machdep.efi_map` text (the table
 * S_efi_map prints), token edits of its own words and numbers, and random well-formed tables
 * (descriptors of every type, in S_efi_map's printf layout), then the profile and rules.
 */
import fc from 'fast-check';
import { HandoffError } from '../../../loader/handoff/errors.js';
import { EFI_ATTR_NAMES, EFI_TYPE_NAMES } from '../../../loader/import/efi-map.js';
import { importEfiMap, ImportError } from '../../../loader/import/index.js';
import { EFI_EXAMPLE_TEXT } from '../../helpers/freebsd-maps.js';
import { textTarget } from '../lib/build.js';
import { profileAndRules } from './import-common.js';

/** One S_efi_map line ("%23s %012jx %12p %08jx " and the attribute names). */
function line(type: number, phys: bigint, pages: bigint, attrs: number): string {
  const names = EFI_ATTR_NAMES.filter((_, i) => (attrs >> i) & 1).map(([n]) => (n === 'RUNTIME' ? n : `${n} `));
  const name = EFI_TYPE_NAMES[type] ?? '<INVALID>';
  return `${name.padStart(23)} ${phys.toString(16).padStart(12, '0')} ${'0x0'.padStart(12)} ${pages.toString(16).padStart(8, '0')} ${names.join('')}`;
}

/** Random tables: descriptors laid out one after another with gaps. */
const tables = fc
  .array(
    fc.record({
      type: fc.integer({ min: 0, max: 15 }),
      gap: fc.bigInt({ min: 0n, max: 0x1_0000n }),
      pages: fc.bigInt({ min: 1n, max: 0x10_0000n }),
      attrs: fc.integer({ min: 0, max: 511 }),
    }),
    { minLength: 1, maxLength: 24 },
  )
  .map((ds) => {
    let at = 0n;
    const lines = ds.map((d) => {
      at += d.gap * 4096n;
      const l = line(d.type, at, d.pages, d.attrs);
      at += d.pages * 4096n;
      return l;
    });
    return ['machdep.efi_map: ', EFI_EXAMPLE_TEXT.split('\n')[1] ?? '', ...lines, ''].join('\n');
  });

export const importEfiMapTextTarget = textTarget({
  name: 'import-efi-map-text',
  group: 'import',
  entry: 'importEfiMap (sysctl text) + buildImportedProfile + rescueRules',
  errors: [HandoffError, ImportError],
  floor: 0.08,
  tapRuns: 1500,
  seeds: () => [EFI_EXAMPLE_TEXT, EFI_EXAMPLE_TEXT.split('\n').slice(1, 6).join('\n')],
  decode: (text) => profileAndRules(importEfiMap(new TextEncoder().encode(text))),
  tokens: [
    ' ',
    '\n',
    '0x0',
    '0',
    'f',
    'UC ',
    'WB ',
    'RUNTIME',
    'ConventionalMemory',
    'Reserved',
    '<INVALID>',
    'machdep.efi_map: ',
    'Type Physical Virtual #Pages Attr',
  ],
  extra: () => [{ weight: 3, arbitrary: tables }],
});
