// Fuzz contract of the binary hand-off decoders: random bytes and mutated good encodings fed
// to decodeModinfo (+ groupModules), decodeKenv, decodeEfiMap, decodeSmap, decodeEfiFb and
// decodeRescueParams either decode or throw a HandoffError — never a TypeError, RangeError,
// BytesError or anything else (ARCHITECTURE.md "Parsers have a fuzz contract").
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { HandoffError } from '../../loader/handoff/errors.js';
import { decodeEfiFb, encodeEfiFb } from '../../loader/handoff/efifb.js';
import { decodeEfiMap, EFI_MD_TYPE, encodeEfiMap, encodeRescueEfiMap } from '../../loader/handoff/efimap.js';
import { decodeKenv, encodeKenv } from '../../loader/handoff/kenv.js';
import { decodeModinfo, encodeModinfo, groupModules, mdInt, mdU64, MODINFOMD } from '../../loader/handoff/modinfo.js';
import { decodeRescueParams, encodeRescueParams } from '../../loader/handoff/params.js';
import { decodeSmap, encodeSmap } from '../../loader/handoff/smap.js';

const RUNS = 1000;

const efiMap48 = encodeEfiMap({
  descriptorSize: 48,
  descriptors: [
    { mdType: EFI_MD_TYPE.BS_CODE, mdPhys: 0n, mdVirt: 0n, mdPages: 0x9fn, mdAttr: 0xfn },
    { mdType: EFI_MD_TYPE.FREE, mdPhys: 0x10_0000n, mdVirt: 0n, mdPages: 0x8_0000n, mdAttr: 0xfn },
    { mdType: EFI_MD_TYPE.IOMEM, mdPhys: 0xfe00_0000n, mdVirt: 0n, mdPages: 0x10n, mdAttr: 1n },
  ],
});

const GOOD = {
  modinfo: encodeModinfo([
    {
      name: '/boot/kernel/kernel',
      type: 'elf kernel',
      addr: 0x20_0000n,
      size: 0x1_2345n,
      metadata: [
        { type: MODINFOMD.HOWTO, data: mdInt(0x800) },
        { type: MODINFOMD.ENVP, data: mdU64(0x1000n) },
        { type: 0x1004, data: efiMap48 },
        { type: MODINFOMD.KERNEND, data: mdU64(0x40_0000n) },
      ],
    },
    { name: 'zfs.ko', type: 'elf obj module', args: 'a=b', addr: 0x40_0000n, size: 0x100n, metadata: [] },
  ]),
  kenv: encodeKenv([
    ['kern.smp.disabled', '1'],
    ['vfs.root.mountfrom', 'ufs:/dev/md0'],
    ['boot_verbose', ''],
  ]),
  efimap: efiMap48,
  smap: encodeSmap([
    { base: 0n, length: 0x9_fc00n, type: 1 },
    { base: 0x10_0000n, length: 0x7ff0_0000n, type: 1 },
  ]),
  efifb: encodeEfiFb({
    fbAddr: 0x8000_0000n,
    fbSize: 0x30_0000n,
    fbHeight: 768,
    fbWidth: 1024,
    fbStride: 1024,
    fbMaskRed: 0xff_0000,
    fbMaskGreen: 0xff00,
    fbMaskBlue: 0xff,
    fbMaskReserved: 0xff00_0000,
  }),
  params: encodeRescueParams('amd64', { kpEfimapstart: 0x4000_00a0n, kpEfimaplen: 0x90n, kpBoothowto: 0x800 }),
};

/** Mutations of a good encoding: byte edits, interesting u32/u64 values, truncation, extension. */
function mutated(good: Uint8Array): fc.Arbitrary<Uint8Array> {
  const interesting = fc.constantFrom(
    0n,
    1n,
    7n,
    8n,
    24n,
    40n,
    0x7fff_ffffn,
    0xffff_ffffn,
    1n << 63n,
    (1n << 64n) - 1n,
  );
  const edits = fc
    .array(fc.tuple(fc.nat({ max: Math.max(0, good.length - 1) }), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 8,
    })
    .map((es) => {
      const b = good.slice();
      for (const [i, v] of es) b[i] = v;
      return b;
    });
  const smash = fc
    .tuple(fc.nat({ max: Math.max(0, Math.floor(good.length / 4) - 1) }), interesting, fc.boolean())
    .map(([slot, v, wide]) => {
      const b = good.slice();
      const dv = new DataView(b.buffer);
      const off = slot * 4;
      if (wide && off + 8 <= b.length) dv.setBigUint64(off, v, true);
      else if (off + 4 <= b.length) dv.setUint32(off, Number(v & 0xffff_ffffn), true);
      return b;
    });
  const cut = fc.nat({ max: good.length }).map((n) => good.slice(0, n));
  const extend = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((x) => Uint8Array.from([...good, ...x]));
  return fc.oneof(edits, smash, cut, extend);
}

const bytesOrMutated = (good: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated(good));

function onlyHandoffErrors(
  t: Test,
  name: string,
  arb: fc.Arbitrary<Uint8Array>,
  decode: (b: Uint8Array) => unknown,
): void {
  let decoded = 0;
  let rejected = 0;
  fc.assert(
    fc.property(arb, (b) => {
      try {
        decode(b);
        decoded++;
      } catch (e) {
        if (!(e instanceof HandoffError)) throw e;
        rejected++;
      }
    }),
    { numRuns: RUNS },
  );
  t.pass(`${name}: ${RUNS} inputs, ${decoded} decoded, ${rejected} rejected with HandoffError, nothing else escaped`);
}

t.test('decodeModinfo + groupModules', (t) => {
  onlyHandoffErrors(t, 'modinfo', bytesOrMutated(GOOD.modinfo), (b) => groupModules(decodeModinfo(b)));
  t.end();
});

t.test('decodeKenv', (t) => {
  onlyHandoffErrors(t, 'kenv', bytesOrMutated(GOOD.kenv), (b) => decodeKenv(b));
  t.end();
});

t.test('decodeEfiMap and the rescue copy of a hostile source map', (t) => {
  onlyHandoffErrors(t, 'efimap', bytesOrMutated(GOOD.efimap), (b) => decodeEfiMap(b));
  onlyHandoffErrors(t, 'rescue efimap', bytesOrMutated(GOOD.efimap), (b) =>
    encodeRescueEfiMap(b, { rescuePa: 0x4000_0000n, memsize: 0x860_0000n, arch: 'amd64' }),
  );
  t.end();
});

t.test('decodeSmap', (t) => {
  onlyHandoffErrors(t, 'smap', bytesOrMutated(GOOD.smap), (b) => decodeSmap(b));
  t.end();
});

t.test('decodeEfiFb and decodeRescueParams', (t) => {
  onlyHandoffErrors(t, 'efifb', bytesOrMutated(GOOD.efifb), (b) => decodeEfiFb(b));
  onlyHandoffErrors(t, 'params', bytesOrMutated(GOOD.params), (b) => [
    decodeRescueParams('amd64', b),
    decodeRescueParams('arm64', b),
  ]);
  t.end();
});
