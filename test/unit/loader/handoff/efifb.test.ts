// struct efi_fb: hand-computed 48 bytes (44 data + 4 tail padding), round trip, truncation.
import assert from 'node:assert/strict';
import t from 'tap';
import fc from 'fast-check';
import { HandoffCode } from '../../../../loader/handoff/errors.js';
import { decodeEfiFb, EFI_FB_SIZE, encodeEfiFb, type EfiFbValues } from '../../../../loader/handoff/efifb.js';
import { throwsCode } from '../../../helpers/errors.js';
import { fromHex, toHex } from './hex.js';

const FB: EfiFbValues = {
  fbAddr: 0x8000_0000n,
  fbSize: 0x30_0000n,
  fbHeight: 768,
  fbWidth: 1024,
  fbStride: 1024,
  fbMaskRed: 0x00ff_0000,
  fbMaskGreen: 0x0000_ff00,
  fbMaskBlue: 0x0000_00ff,
  fbMaskReserved: 0xff00_0000,
};
// Computed by hand from struct efi_fb (machine/metadata.h): fb_addr u64 @0, fb_size u64 @8,
// height/width/stride/mask_red/mask_green/mask_blue/mask_reserved u32 @16..@40, pad to 48.
const FB_BYTES = `
  00 00 00 80 00 00 00 00 | 00 00 30 00 00 00 00 00
  00 03 00 00 | 00 04 00 00 | 00 04 00 00 | 00 00 ff 00
  00 ff 00 00 | ff 00 00 00 | 00 00 00 ff | 00 00 00 00`;

t.test('hand-computed efi_fb', (t) => {
  t.equal(EFI_FB_SIZE, 48);
  t.equal(toHex(encodeEfiFb(FB)), toHex(fromHex(FB_BYTES)));
  t.same(decodeEfiFb(fromHex(FB_BYTES)), FB);
  const padded = new Uint8Array(60).fill(0xee);
  padded.set(fromHex(FB_BYTES), 12);
  t.same(decodeEfiFb(padded, 12), FB, 'at an offset');
  t.end();
});

t.test('round trip (property)', (t) => {
  const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  fc.assert(
    fc.property(
      fc.record({
        fbAddr: u64,
        fbSize: u64,
        fbHeight: u32,
        fbWidth: u32,
        fbStride: u32,
        fbMaskRed: u32,
        fbMaskGreen: u32,
        fbMaskBlue: u32,
        fbMaskReserved: u32,
      }),
      (v) => {
        const b = encodeEfiFb(v);
        assert.equal(b.length, 48);
        assert.deepStrictEqual([...b.subarray(44)], [0, 0, 0, 0]);
        assert.deepStrictEqual(decodeEfiFb(b), { ...v });
      },
    ),
    { numRuns: 200 },
  );
  t.pass('200 random framebuffers');
  t.end();
});

t.test('error codes', (t) => {
  throwsCode(t, () => decodeEfiFb(fromHex(FB_BYTES).subarray(0, 47)), HandoffCode.Truncated, 'one byte short');
  throwsCode(t, () => decodeEfiFb(fromHex(FB_BYTES), 1), HandoffCode.Truncated, 'offset leaves 47 bytes');
  throwsCode(t, () => encodeEfiFb({ ...FB, fbWidth: 2 ** 32 }), HandoffCode.ValueRange);
  throwsCode(t, () => encodeEfiFb({ ...FB, fbAddr: -1n }), HandoffCode.ValueRange);
  t.end();
});
