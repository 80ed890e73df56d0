/**
 * `kboot machine import --dtb` on mutated real board DTBs (every .dtb under test/fixtures)
 * and kboot's own machine tree: parseFdt, the importer (memory nodes, reserved memory,
 * console, GIC, CPUs, ranges translation; a tree without usable /memory is filled as
 * --memory would), the profile builder and the rules.
 */
import { HandoffError } from '../../../loader/handoff/errors.js';
import { FdtHeader, parseFdt, writeFdt } from '../../../loader/handoff/fdt/index.js';
import { importDtb, ImportCode, ImportError } from '../../../loader/import/index.js';
import { machineFdt } from '../../unit/loader/handoff/fdt-fixtures.js';
import { bytesTarget } from '../lib/build.js';
import { fdtFields, fixtureFiles } from './handoff.js';
import { profileAndRules } from './import-common.js';

/** As a user does: import, and when the firmware leaves /memory to be filled, give --memory. */
function importWithFill(b: Uint8Array): ReturnType<typeof importDtb> {
  try {
    return importDtb(b);
  } catch (e) {
    if (!(e instanceof ImportError && e.code === ImportCode.NoMemory)) throw e;
    return importDtb(b, { memory: [{ start: 0x4000_0000n, size: 0x4000_0000n }] });
  }
}

export const importDtbTarget = bytesTarget({
  name: 'import-dtb',
  group: 'import',
  entry: 'importDtb + buildImportedProfile + rescueRules',
  errors: [HandoffError, ImportError],
  floor: 0.03,
  tapRuns: 300,
  bigEndian: true,
  keepHead: FdtHeader.size,
  // QEMU's blobs carry 1 MiB of free space: seeded compacted, so mutations hit the tree
  seeds: () => [
    writeFdt(machineFdt()),
    ...fixtureFiles('.dtb').map((b) => (b.length < 1 << 20 ? b : writeFdt(parseFdt(b)))),
  ],
  decode: (b) => profileAndRules(importWithFill(b)),
  fields: fdtFields,
});
