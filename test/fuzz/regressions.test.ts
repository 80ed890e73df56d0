// Escapes the fuzz targets found, kept as fixtures (test/fixtures/fuzz/, README.md there says
// where each came from): each input now gets its parser's own error, with the code asserted.
// Each test fails on the code before its fix (the escape it names).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { packagePath } from '../../loader/paths.js';
import { DumpCode } from '../../dump/errors.js';
import { openMinidump } from '../../dump/reader.js';
import { throwsCode } from '../helpers/errors.js';

const fixture = (name: string): Buffer => readFileSync(packagePath('test', 'fixtures', 'fuzz', name));

t.test('a minidump whose pmapsize is not a multiple of 8: KVA reads are DUMP_NOT_MAPPED, not a RangeError', (t) => {
  // was: RangeError "The number 512.125 cannot be converted to a BigInt" in readKva
  const d = openMinidump(fixture('minidump-pmapsize-not-multiple-of-8.bin'));
  t.equal(d.header.pmapsize % 8, 1, 'the fixture keeps the odd pmapsize');
  // 4097 bytes hold 512 whole PDEs: the first maps kernbase, the 513th would be the partial one
  const first = throwsCode(t, () => d.readKva(d.header.kernbase + 0x1000n, 16), DumpCode.NotMapped);
  t.equal(first?.details['why'], 'PDE invalid', 'a whole entry is read');
  const past = throwsCode(t, () => d.readKva(d.header.kernbase + 512n * 0x20_0000n, 16), DumpCode.NotMapped);
  t.equal(past?.details['why'], 'outside the page-table section', 'the partial entry is not');
  t.end();
});
