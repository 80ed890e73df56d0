/**
 * `kboot machine import --memmap` on mutated /sys/firmware/memmap directories: this
 * machine's (test/fixtures/memmap/this-machine) as a text container, one entry per line,
 * `name<TAB>start<TAB>end<TAB>type` (the container is only how the fuzzer carries the three
 * files of each entry; every field reaches parseMemmapEntries as the file's text would),
 * then the profile and rules.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importMemmap, ImportError, type MemmapEntryText } from '../../../loader/import/index.js';
import { packagePath } from '../../../loader/paths.js';
import { textTarget } from '../lib/build.js';
import { profileAndRules } from './import-common.js';

function fixture(): string {
  const dir = packagePath('test', 'fixtures', 'memmap', 'this-machine');
  const f = (n: string, x: string): string => readFileSync(join(dir, n, x), 'utf8').replace(/\n$/, '');
  return readdirSync(dir)
    .map((n) => [n, f(n, 'start'), f(n, 'end'), f(n, 'type')].join('\t'))
    .join('\n');
}

/** The container back into entries (missing fields read as empty files). */
export function memmapEntries(text: string): MemmapEntryText[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [name = '', start = '', end = '', type = ''] = l.split('\t');
      return { name, start: `${start}\n`, end: `${end}\n`, type: `${type}\n` };
    });
}

export const importMemmapTarget = textTarget({
  name: 'import-memmap',
  group: 'import',
  entry: 'importMemmap + buildImportedProfile + rescueRules',
  errors: [ImportError],
  floor: 0.05,
  tapRuns: 1500,
  seeds: () => [fixture(), '0\t0x0\t0x3fffffff\tSystem RAM\n1\t0x40000000\t0x40000fff\tACPI Tables'],
  decode: (text) => profileAndRules(importMemmap(memmapEntries(text))),
  tokens: [
    '\t',
    '\n',
    '0x',
    '0',
    'f',
    'fff',
    'System RAM',
    'Reserved',
    'ACPI Non-volatile Storage',
    'Persistent Memory',
  ],
});
