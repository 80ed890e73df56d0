/**
 * `kboot machine import --smap` on mutated `sysctl -b machdep.smap` binaries (24-byte
 * bios_smap_xattr entries) and `sysctl machdep.smap` text, then the profile and rules.
 */
import { HandoffError } from '../../../loader/handoff/errors.js';
import { BiosSmapXattr } from '../../../loader/handoff/smap.js';
import { importSmap, ImportError } from '../../../loader/import/index.js';
import { SMAP_EXAMPLE_TEXT, smapBinary } from '../../helpers/freebsd-maps.js';
import { bytesTarget } from '../lib/build.js';
import { tableFields } from '../lib/fields.js';
import { profileAndRules } from './import-common.js';

export const importSmapTarget = bytesTarget({
  name: 'import-smap',
  group: 'import',
  entry: 'importSmap (binary and sysctl text) + buildImportedProfile + rescueRules',
  errors: [HandoffError, ImportError],
  floor: 0.05,
  tapRuns: 1500,
  seeds: () => [smapBinary(), new TextEncoder().encode(SMAP_EXAMPLE_TEXT)],
  decode: (b) => profileAndRules(importSmap(b)),
  fields: (b) => tableFields(BiosSmapXattr, 0, Math.floor(b.length / BiosSmapXattr.size), b.length),
});
