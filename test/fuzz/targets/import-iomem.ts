/**
 * `kboot machine import --iomem` on mutated /proc/iomem text (this machine's,
 * test/fixtures/iomem/this-machine.txt, and a small arm64-shaped one with a Crash kernel),
 * then the profile and rules.
 */
import { readFileSync } from 'node:fs';
import { importIomem, ImportError } from '../../../loader/import/index.js';
import { packagePath } from '../../../loader/paths.js';
import { textTarget } from '../lib/build.js';
import { profileAndRules } from './import-common.js';

const ARM64 =
  '09000000-09000fff : pl011@9000000\n40000000-13fffffff : System RAM\n  40210000-41ffffff : Kernel code\n  60000000-6fffffff : Crash kernel\n';

export const importIomemTarget = textTarget({
  name: 'import-iomem',
  group: 'import',
  entry: 'importIomem + buildImportedProfile + rescueRules',
  errors: [ImportError],
  floor: 0.05,
  tapRuns: 1500,
  seeds: () => [readFileSync(packagePath('test', 'fixtures', 'iomem', 'this-machine.txt'), 'utf8'), ARM64],
  decode: (text) => profileAndRules(importIomem(text, { arch: text.length % 2 === 0 ? 'amd64' : 'arm64' })),
  tokens: [' : ', '-', '  ', '\n', '0', 'f', 'fff', 'System RAM', 'Reserved', 'Crash kernel', 'PCI Bus 0000:00'],
});
