/**
 * `kboot machine import --efi-map` on mutated `sysctl -b machdep.efi_map` binaries (the
 * hand-written example map at strides 40, 48 and 56, and kboot's built-in machines' maps):
 * S_efi_map's length check, decodeEfiMap, the type rule, the profile builder and the rules.
 */
import { HandoffError } from '../../../loader/handoff/errors.js';
import { EfiMapHeader } from '../../../loader/handoff/efimap.js';
import { importEfiMap, ImportError } from '../../../loader/import/index.js';
import { hostFirmware } from '../../../loader/plan/firmware.js';
import { buildMemoryMap } from '../../../loader/plan/memory-map.js';
import { loadProfile } from '../../../loader/plan/profile.js';
import { efiMapBinary } from '../../helpers/freebsd-maps.js';
import { bytesTarget } from '../lib/build.js';
import { layoutFields } from '../lib/fields.js';
import { profileAndRules } from './import-common.js';

export const importEfiMapTarget = bytesTarget({
  name: 'import-efi-map',
  group: 'import',
  entry: 'importEfiMap (binary) + buildImportedProfile + rescueRules',
  errors: [HandoffError, ImportError],
  floor: 0.07,
  tapRuns: 1500,
  seeds: () => [
    efiMapBinary(40),
    efiMapBinary(48),
    efiMapBinary(56),
    ...['amd64-efi', 'arm64-acpi'].flatMap((n) => {
      const p = loadProfile(n);
      const fw = hostFirmware(p, buildMemoryMap(p));
      return fw.kind === 'efi' ? [fw.bytes] : [];
    }),
  ],
  decode: (b) => profileAndRules(importEfiMap(b, { arch: b.length % 2 === 0 ? 'amd64' : 'arm64' })),
  fields: (b) => layoutFields(EfiMapHeader, 0, b.length),
});
