// BIOS SMAP: hand-computed entries (packed 20 bytes; xattr 24), round trips, the rescue
// kernel's single entry with kp_smaplen 24 and the kernel's pointer walk, error codes.
import assert from 'node:assert/strict';
import t from 'tap';
import fc from 'fast-check';
import { HandoffCode } from '../../../../loader/handoff/errors.js';
import {
  BiosSmapXattr,
  BIOS_SMAP_SIZE,
  decodeSmap,
  encodeSmap,
  RESCUE_SMAP_LEN,
  rescueSmap,
  SMAP_TYPE,
  SMAP_XATTR,
  smapWalkOffsets,
  type BiosSmapEntry,
} from '../../../../loader/handoff/smap.js';
import { throwsCode } from '../../../helpers/errors.js';
import { fromHex, toHex } from './hex.js';

const PC: BiosSmapEntry[] = [
  { base: 0n, length: 0x9_fc00n, type: SMAP_TYPE.MEMORY },
  { base: 0x10_0000n, length: 0x7ff0_0000n, type: SMAP_TYPE.MEMORY },
  { base: 0xfffc_0000n, length: 0x4_0000n, type: SMAP_TYPE.RESERVED },
];
// Computed by hand from struct bios_smap __packed: base u64 @0, length u64 @8, type u32 @16.
const PC_BYTES = `
  00 00 00 00 00 00 00 00 | 00 fc 09 00 00 00 00 00 | 01 00 00 00
  00 00 10 00 00 00 00 00 | 00 00 f0 7f 00 00 00 00 | 01 00 00 00
  00 00 fc ff 00 00 00 00 | 00 00 04 00 00 00 00 00 | 02 00 00 00`;

t.test('hand-computed entries', (t) => {
  t.equal(BIOS_SMAP_SIZE, 20);
  t.equal(toHex(encodeSmap(PC)), toHex(fromHex(PC_BYTES)));
  t.same(decodeSmap(fromHex(PC_BYTES)), PC);
  t.same(decodeSmap(new Uint8Array()), [], 'an empty body has no entries');
  // struct bios_smap_xattr __packed: bios_smap + xattr u32 @20
  t.equal(
    toHex(
      BiosSmapXattr.encode({ base: 0x10_0000n, length: 0x1000n, type: SMAP_TYPE.MEMORY, xattr: SMAP_XATTR.ENABLED }),
    ),
    toHex(fromHex('00 00 10 00 00 00 00 00 | 00 10 00 00 00 00 00 00 | 01 00 00 00 | 01 00 00 00')),
  );
  t.end();
});

t.test('round trip (property)', (t) => {
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  fc.assert(
    fc.property(
      fc.array(fc.record({ base: u64, length: u64, type: fc.integer({ min: 0, max: 0xffff_ffff }) }), {
        maxLength: 40,
      }),
      (entries) => {
        const b = encodeSmap(entries);
        assert.equal(b.length, entries.length * 20);
        assert.deepStrictEqual(
          decodeSmap(b),
          entries.map((e) => ({ ...e })),
        );
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random maps');
  t.end();
});

t.test('rescue SMAP: one entry written, 24 declared, and what the kernel walks', (t) => {
  const r = rescueSmap(0x4000_0000n, 0x860_0000n);
  // by hand: base 0x4000_0000, length 0x0860_0000, type 1
  t.equal(toHex(r.bytes), toHex(fromHex('00 00 00 40 00 00 00 00 | 00 00 60 08 00 00 00 00 | 01 00 00 00')));
  t.equal(r.kpSmaplen, 24n);
  t.equal(RESCUE_SMAP_LEN, 24);
  // bios_add_smap_entries: for (smap = base; smap < base + size; smap++) → offsets 0 and 20
  t.same(smapWalkOffsets(Number(r.kpSmaplen)), [0, 20], 'the kernel reads a phantom second entry');
  t.same(smapWalkOffsets(60), [0, 20, 40]);
  t.same(smapWalkOffsets(0), []);
  t.end();
});

t.test('one mutation per error code', (t) => {
  const good = fromHex(PC_BYTES);
  throwsCode(t, () => decodeSmap(good.subarray(0, good.length - 1)), HandoffCode.SmapBadLength, 'one byte short');
  throwsCode(t, () => decodeSmap(Uint8Array.from([...good, 0, 0, 0, 0])), HandoffCode.SmapBadLength, 'the rescue 24');
  throwsCode(t, () => decodeSmap(good, { maxEntries: 2 }), HandoffCode.SmapBadLength, 'more entries than allowed');
  throwsCode(t, () => encodeSmap([{ base: 1n << 64n, length: 0n, type: 1 }]), HandoffCode.ValueRange);
  throwsCode(t, () => encodeSmap([{ base: 0n, length: 0n, type: -1 }]), HandoffCode.ValueRange);
  throwsCode(t, () => rescueSmap(-1n, 0n), HandoffCode.ValueRange);
  t.end();
});
