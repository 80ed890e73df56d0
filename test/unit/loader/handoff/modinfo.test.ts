// modinfo (preload metadata): hand-computed blob, measure-then-write KERNEND patch, round
// trips, one mutation per error code, type names per arch.
import assert from 'node:assert/strict';
import t from 'tap';
import fc from 'fast-check';
import { archInfo } from '../../../../loader/arch/index.js';
import { HandoffCode, HandoffError } from '../../../../loader/handoff/errors.js';
import {
  decodeModinfo,
  encodeModinfo,
  findKernelModule,
  findMetadata,
  groupModules,
  measureModinfo,
  mdInt,
  mdU64,
  MODINFO,
  MODINFOMD,
  modinfoTypeName,
  readMdInt,
  readMdU64,
  type PreloadedModule,
} from '../../../../loader/handoff/modinfo.js';
import { throwsCode } from '../../../helpers/errors.js';
import { fromHex, toHex } from './hex.js';

const kernel: PreloadedModule = {
  name: 'kernel',
  type: 'elf kernel',
  addr: 0x20_0000n,
  size: 0x1234n,
  metadata: [
    { type: MODINFOMD.HOWTO, data: mdInt(0x800) },
    { type: MODINFOMD.ENVP, data: mdU64(0x1000n) },
    { type: MODINFOMD.DEPLIST, data: Uint8Array.from([1, 2, 3]) }, // NOCOPY: never written
    { type: MODINFOMD.KERNEND, data: mdU64(0x5000n) },
  ],
};

// Computed by hand from the record format (spec §1.1): u32 type, u32 size, data, zero pad to 8;
// md_copymodules order NAME, TYPE, ADDR, SIZE, metadata (0x8000|type), END.
const KERNEL_BLOB = `
  01 00 00 00 07 00 00 00 | 6b 65 72 6e 65 6c 00 00
  02 00 00 00 0b 00 00 00 | 65 6c 66 20 6b 65 72 6e 65 6c 00 00 00 00 00 00
  03 00 00 00 08 00 00 00 | 00 00 20 00 00 00 00 00
  04 00 00 00 08 00 00 00 | 34 12 00 00 00 00 00 00
  07 80 00 00 04 00 00 00 | 00 08 00 00 00 00 00 00
  06 80 00 00 08 00 00 00 | 00 10 00 00 00 00 00 00
  08 80 00 00 08 00 00 00 | 00 50 00 00 00 00 00 00
  00 00 00 00 00 00 00 00`;

t.test('hand-computed blob for a small kernel module', (t) => {
  const blob = encodeModinfo([kernel]);
  t.equal(toHex(blob), toHex(fromHex(KERNEL_BLOB)));
  t.equal(measureModinfo([kernel]), blob.length, 'measuring gives the written size');
  const mods = groupModules(decodeModinfo(blob));
  t.equal(mods.length, 1);
  const k = mods[0];
  t.ok(k);
  if (k === undefined) {
    t.end();
    return;
  }
  t.equal(k.name, 'kernel');
  t.equal(k.type, 'elf kernel');
  t.equal(k.addr, 0x20_0000n);
  t.equal(k.size, 0x1234n);
  t.same(
    k.metadata.map((m) => m.type),
    [MODINFOMD.HOWTO, MODINFOMD.ENVP, MODINFOMD.KERNEND],
  );
  t.equal(readMdInt(findMetadata(k, MODINFOMD.HOWTO) ?? new Uint8Array()), 0x800);
  t.equal(readMdU64(findMetadata(k, MODINFOMD.KERNEND) ?? new Uint8Array()), 0x5000n);
  t.end();
});

t.test('measure, then patch KERNEND (bi_load)', (t) => {
  let seen = -1;
  const blob = encodeModinfo([kernel], {
    kernend: (n) => {
      seen = n;
      return ((0x20_0000n + BigInt(n) + 0xfffn) / 0x1000n) * 0x1000n; // roundup(addr + size, PAGE)
    },
  });
  t.equal(seen, 128, 'kernend is asked with the exact blob size');
  t.equal(blob.length, 128);
  const expected = fromHex(KERNEL_BLOB);
  expected.set(fromHex('00 10 20 00 00 00 00 00'), 112);
  t.equal(toHex(blob), toHex(expected), 'only the KERNEND value changed');
  t.equal(readMdU64(kernel.metadata[3]?.data ?? new Uint8Array()), 0x5000n, 'the input was not modified');

  const other: PreloadedModule = {
    name: 'zfs.ko',
    type: 'elf obj module',
    addr: 0x40_0000n,
    size: 0x10n,
    metadata: [],
  };
  const two = encodeModinfo([other, { ...kernel, type: 'elf64 kernel' }], { kernend: () => 0x7777n });
  const k = findKernelModule(groupModules(decodeModinfo(two)));
  t.equal(k?.name, 'kernel', 'the "elf64 kernel" fallback is found even when not first');
  t.equal(
    readMdU64(k === undefined ? new Uint8Array() : (findMetadata(k, MODINFOMD.KERNEND) ?? new Uint8Array())),
    0x7777n,
  );
  t.end();
});

const nameArb = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\0'));
const mdArb = fc.record({
  type: fc.integer({ min: 1, max: 0xffff }),
  data: fc.uint8Array({ maxLength: 40 }),
});
const moduleArb: fc.Arbitrary<PreloadedModule> = fc
  .record({
    name: nameArb,
    type: nameArb,
    args: fc.option(
      fc.string({ maxLength: 30 }).filter((s) => !s.includes('\0')),
      { nil: undefined },
    ),
    addr: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    size: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    metadata: fc.array(mdArb, { maxLength: 6 }),
  })
  .map(({ args, ...m }) => (args === undefined ? m : { ...m, args }));

t.test('round trip: encode → decode → group (property)', (t) => {
  fc.assert(
    fc.property(fc.array(moduleArb, { maxLength: 5 }), (mods) => {
      const blob = encodeModinfo(mods);
      assert.equal(blob.length % 8, 0);
      assert.equal(blob.length, measureModinfo(mods));
      const back = groupModules(decodeModinfo(blob));
      const expected = mods.map((m) => ({
        ...m,
        metadata: m.metadata.filter((md) => (md.type & MODINFOMD.NOCOPY) === 0).map((md) => ({ ...md })),
      }));
      assert.deepStrictEqual(back, expected);
    }),
    { numRuns: 200 },
  );
  t.pass('200 random module lists survive the round trip');
  t.end();
});

t.test('decoder ignores bytes after END and keeps EMPTY records out of modules', (t) => {
  const blob = encodeModinfo([kernel]);
  const longer = new Uint8Array(blob.length + 16).fill(0xee);
  longer.set(blob);
  t.same(decodeModinfo(longer), decodeModinfo(blob));
  const withEmpty = Uint8Array.from([...blob.subarray(0, 16), 5, 0, 0, 0, 0, 0, 0, 0, ...blob.subarray(16)]);
  t.same(groupModules(decodeModinfo(withEmpty)), groupModules(decodeModinfo(blob)));
  t.end();
});

t.test('one mutation per error code', (t) => {
  const good = encodeModinfo([kernel]);
  const mutate = (f: (b: Uint8Array, dv: DataView) => void): Uint8Array => {
    const b = good.slice();
    f(b, new DataView(b.buffer));
    return b;
  };
  throwsCode(t, () => decodeModinfo(good.subarray(0, good.length - 8)), HandoffCode.ModinfoNoEnd, 'END dropped');
  throwsCode(
    t,
    () => decodeModinfo(mutate((_, dv) => dv.setUint32(4, 0x100, true))),
    HandoffCode.Truncated,
    'NAME size runs past the end',
  );
  throwsCode(
    t,
    () => decodeModinfo(mutate((_, dv) => dv.setUint32(4, 0x7fff_ffff, true))),
    HandoffCode.ModinfoTooLarge,
    'NAME size over the record limit',
  );
  throwsCode(t, () => decodeModinfo(good, { maxRecords: 3 }), HandoffCode.ModinfoTooLarge, 'more records than allowed');
  throwsCode(
    t,
    () => decodeModinfo(mutate((_, dv) => dv.setUint32(16, 0, true))),
    HandoffCode.ModinfoBadRecord,
    'type 0 with a non-zero size',
  );
  throwsCode(
    t,
    () => groupModules(decodeModinfo(mutate((_, dv) => dv.setUint32(0, MODINFO.TYPE, true)))),
    HandoffCode.ModinfoNameNotFirst,
    'first record is not NAME',
  );
  throwsCode(
    t,
    () => groupModules(decodeModinfo(mutate((_, dv) => dv.setUint32(44, 4, true)))),
    HandoffCode.ModinfoBadRecord,
    'ADDR of 4 bytes',
  );
  throwsCode(
    t,
    () => groupModules(decodeModinfo(mutate((b) => (b[14] = 0x41)))),
    HandoffCode.ModinfoBadRecord,
    'NAME without its NUL',
  );
  throwsCode(
    t,
    () => groupModules(decodeModinfo(mutate((_, dv) => dv.setUint32(56, MODINFO.ADDR, true)))),
    HandoffCode.ModinfoBadRecord,
    'second ADDR instead of SIZE',
  );
  throwsCode(
    t,
    () => groupModules(decodeModinfo(mutate((_, dv) => dv.setUint32(56, 0x77, true)))),
    HandoffCode.ModinfoBadRecord,
    'unknown record type',
  );
  throwsCode(
    t,
    () =>
      encodeModinfo([{ ...kernel, metadata: kernel.metadata.filter((m) => m.type !== MODINFOMD.KERNEND) }], {
        kernend: () => 1n,
      }),
    HandoffCode.ModinfoNoKernend,
    'no KERNEND placeholder',
  );
  throwsCode(
    t,
    () => encodeModinfo([{ ...kernel, type: 'elf obj module' }], { kernend: () => 1n }),
    HandoffCode.ModinfoNoKernend,
    'no kernel module',
  );
  throwsCode(t, () => encodeModinfo([{ ...kernel, name: 'ker\0nel' }]), HandoffCode.BadString, 'NUL in NAME');
  throwsCode(t, () => encodeModinfo([{ ...kernel, addr: 1n << 64n }]), HandoffCode.ValueRange, 'ADDR past u64');
  throwsCode(t, () => encodeModinfo([kernel], { kernend: () => -1n }), HandoffCode.ValueRange, 'negative kernend');
  throwsCode(
    t,
    () => encodeModinfo([{ ...kernel, metadata: [{ type: 0x1_0000, data: new Uint8Array() }] }]),
    HandoffCode.ValueRange,
  );
  throwsCode(t, () => mdU64(-1n), HandoffCode.ValueRange);
  throwsCode(t, () => mdInt(0x8000_0000), HandoffCode.ValueRange);
  throwsCode(t, () => readMdU64(new Uint8Array(4)), HandoffCode.ModinfoBadRecord);
  throwsCode(t, () => readMdInt(new Uint8Array(3)), HandoffCode.ModinfoBadRecord);
  t.end();
});

t.test('metadata helpers', (t) => {
  t.same([...mdInt(-2)], [0xfe, 0xff, 0xff, 0xff]);
  t.equal(readMdInt(mdU64(0x800n)), 0x800, 'an 8-byte HOWTO (rescue kernel) reads as int');
  t.equal(readMdInt(mdInt(-2)), -2);
  t.end();
});

t.test('type names differ per arch', (t) => {
  const efiMap = (a: 'amd64' | 'arm64'): number => MODINFO.METADATA | archInfo(a).modinfomd.EFI_MAP;
  t.equal(modinfoTypeName(efiMap('amd64'), 'amd64'), 'MODINFOMD_EFI_MAP');
  t.equal(modinfoTypeName(efiMap('arm64'), 'arm64'), 'MODINFOMD_EFI_MAP');
  t.equal(efiMap('amd64'), 0x9004);
  t.equal(efiMap('arm64'), 0x9001);
  t.equal(modinfoTypeName(0x9001, 'amd64'), 'MODINFOMD_SMAP', 'the same number is SMAP on amd64');
  t.equal(modinfoTypeName(0x9003, 'arm64'), 'MODINFOMD_EFI_FB');
  t.equal(modinfoTypeName(0x9008, 'amd64'), 'MODINFOMD_EFI_ARCH');
  t.equal(modinfoTypeName(0x9008, 'arm64'), 'MODINFOMD_0x1008');
  t.equal(modinfoTypeName(0x8006, 'arm64'), 'MODINFOMD_ENVP');
  t.equal(modinfoTypeName(0x8008, 'amd64'), 'MODINFOMD_KERNEND');
  t.equal(modinfoTypeName(0xc001, 'amd64'), 'MODINFOMD_DEPLIST');
  t.equal(modinfoTypeName(MODINFO.NAME, 'amd64'), 'MODINFO_NAME');
  t.equal(modinfoTypeName(0, 'amd64'), 'MODINFO_END');
  t.equal(modinfoTypeName(0x42, 'amd64'), 'MODINFO_0x42');
  t.end();
});

t.test('decoder errors are HandoffErrors', (t) => {
  try {
    decodeModinfo(new Uint8Array(3));
    t.fail('did not throw');
  } catch (e) {
    t.ok(e instanceof HandoffError);
  }
  t.end();
});
