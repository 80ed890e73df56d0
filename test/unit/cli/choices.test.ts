// cli/choices.ts holds the closed option values the descriptors offer without loading the
// modules that define them; each list must be the library's own, value for value and in the
// same order (the compile-time checks there catch a missing or extra value; this catches
// order, and the default lock wait, which has no type to check against).
import t from 'tap';
import {
  ARCH_CHOICES,
  DEFAULT_LOCK_WAIT_SECONDS,
  DUMP_COMPRESSION_CHOICES,
  DUMP_FAULT_CHOICES,
  DUMP_FORMAT_CHOICES,
  ITS_HANDOFF_CHOICES,
  KEXEC_ABI_CHOICES,
  STRATEGY_CHOICES,
} from '../../../cli/choices.js';
import { DUMP_COMPRESSIONS } from '../../../dump/compress.js';
import { ARCHES } from '../../../loader/arch/index.js';
import { KEXEC_ABIS } from '../../../loader/kexec/index.js';
import { STRATEGY_IDS } from '../../../loader/strategy.js';
import { ITS_HANDOFF_MODES } from '../../../loader/plan/its-handoff.js';
import { DEFAULT_LOCK_WAIT_MS } from '../../../native/dir-lock.js';
import { DUMP_FAULTS } from '../../../rescue/crash-dump.js';
import { DUMP_FORMATS } from '../../../rescue/dumper.js';

t.test("the CLI's lists are the libraries'", (t) => {
  t.same(STRATEGY_CHOICES, STRATEGY_IDS, 'strategies');
  t.same(DUMP_FORMAT_CHOICES, DUMP_FORMATS, 'dump formats');
  t.same(DUMP_COMPRESSION_CHOICES, DUMP_COMPRESSIONS, 'compressions');
  t.same(DUMP_FAULT_CHOICES, DUMP_FAULTS, 'dump faults');
  t.same(ARCH_CHOICES, ARCHES, 'arches');
  t.same(KEXEC_ABI_CHOICES, KEXEC_ABIS, 'kexec_load ABIs');
  t.same(ITS_HANDOFF_CHOICES, ITS_HANDOFF_MODES, 'GICv3 ITS hand-off modes');
  t.equal(DEFAULT_LOCK_WAIT_SECONDS * 1000, DEFAULT_LOCK_WAIT_MS, 'the default lock wait');
  t.end();
});
