// EFI memory map: hand-computed bodies (descriptor size 40 and 48), round trips, the rescue
// filter (rescue_kernel_init_efimap) per arch, the rescue copy's 8-byte-too-large
// memory_size, one mutation per error code.
import assert from 'node:assert/strict';
import t from 'tap';
import fc from 'fast-check';
import { HandoffCode } from '../../../../loader/handoff/errors.js';
import {
  decodeEfiMap,
  EFI_MAP_DESCRIPTORS_OFFSET,
  EFI_MD_ATTR,
  EFI_MD_SIZE,
  EFI_MD_TYPE,
  EfiMapHeader,
  EfiMd,
  efiPhysmemType,
  encodeEfiMap,
  encodeRescueEfiMap,
  filterEfiMapForRescue,
  rescueEfiMapAction,
  type EfiMemoryDescriptor,
} from '../../../../loader/handoff/efimap.js';
import { throwsCode } from '../../../helpers/errors.js';
import { fromHex, toHex } from './hex.js';

const md = (mdType: number, mdPhys: bigint, mdPages: bigint, mdAttr: bigint = EFI_MD_ATTR.WB): EfiMemoryDescriptor => ({
  mdType,
  mdPhys,
  mdVirt: 0n,
  mdPages,
  mdAttr,
});

const MMIO = md(EFI_MD_TYPE.IOMEM, 0xfe00_0000n, 0x10n, EFI_MD_ATTR.RT | EFI_MD_ATTR.UC);
const TWO: EfiMemoryDescriptor[] = [md(EFI_MD_TYPE.FREE, 0x10_0000n, 0x100n, 0xfn), MMIO];

// Computed by hand from struct efi_map_header (24: memory_size, descriptor_size,
// descriptor_version + 4 pad), zero pad to 32, then struct efi_md (type, pad, phys, virt,
// pages, attr) per descriptor_size (sys/sys/efi.h; spec §3.1).
const TWO_40 = `
  50 00 00 00 00 00 00 00 | 28 00 00 00 00 00 00 00
  01 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00
  07 00 00 00 00 00 00 00 | 00 00 10 00 00 00 00 00
  00 00 00 00 00 00 00 00 | 00 01 00 00 00 00 00 00
  0f 00 00 00 00 00 00 00
  0b 00 00 00 00 00 00 00 | 00 00 00 fe 00 00 00 00
  00 00 00 00 00 00 00 00 | 10 00 00 00 00 00 00 00
  01 00 00 00 00 00 00 80`;
const TWO_48 = `
  60 00 00 00 00 00 00 00 | 30 00 00 00 00 00 00 00
  01 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00
  07 00 00 00 00 00 00 00 | 00 00 10 00 00 00 00 00
  00 00 00 00 00 00 00 00 | 00 01 00 00 00 00 00 00
  0f 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00
  0b 00 00 00 00 00 00 00 | 00 00 00 fe 00 00 00 00
  00 00 00 00 00 00 00 00 | 10 00 00 00 00 00 00 00
  01 00 00 00 00 00 00 80 | 00 00 00 00 00 00 00 00`;

t.test('hand-computed bodies, descriptor size 40 and 48', (t) => {
  t.equal(EFI_MAP_DESCRIPTORS_OFFSET, 32);
  t.equal(toHex(encodeEfiMap({ descriptors: TWO })), toHex(fromHex(TWO_40)));
  t.equal(toHex(encodeEfiMap({ descriptors: TWO, descriptorSize: 48 })), toHex(fromHex(TWO_48)));
  for (const [text, ds] of [
    [TWO_40, 40],
    [TWO_48, 48],
  ] as const) {
    const m = decodeEfiMap(fromHex(text));
    t.equal(m.descriptorSize, ds);
    t.equal(m.descriptorVersion, 1);
    t.equal(m.memorySize, BigInt(2 * ds));
    t.same(m.descriptors, TWO);
  }
  t.equal(
    toHex(encodeEfiMap({ descriptors: [] })),
    toHex(fromHex('00'.repeat(8) + '28' + '00'.repeat(7) + '01' + '00'.repeat(15))),
  );
  t.end();
});

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const mdArb: fc.Arbitrary<EfiMemoryDescriptor> = fc.record({
  mdType: fc.integer({ min: 0, max: 0xffff_ffff }),
  mdPhys: u64,
  mdVirt: u64,
  mdPages: u64,
  mdAttr: u64,
});

t.test('round trip (property), any descriptor size', (t) => {
  fc.assert(
    fc.property(
      fc.array(mdArb, { maxLength: 12 }),
      fc.integer({ min: 5, max: 16 }).map((k) => k * 8),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      (descriptors, descriptorSize, descriptorVersion) => {
        const bytes = encodeEfiMap({ descriptors, descriptorSize, descriptorVersion });
        assert.equal(bytes.length, 32 + descriptors.length * descriptorSize);
        const m = decodeEfiMap(bytes);
        assert.equal(m.descriptorSize, descriptorSize);
        assert.equal(m.descriptorVersion, descriptorVersion);
        assert.deepStrictEqual(
          m.descriptors,
          descriptors.map((d) => ({ ...d })),
        );
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random maps survive the round trip');
  t.end();
});

t.test('efi_physmem_type', (t) => {
  t.same(Object.values(EFI_MD_TYPE).filter(efiPhysmemType), [
    EFI_MD_TYPE.CODE,
    EFI_MD_TYPE.DATA,
    EFI_MD_TYPE.BS_CODE,
    EFI_MD_TYPE.BS_DATA,
    EFI_MD_TYPE.FREE,
  ]);
  t.end();
});

const RESCUE_PA = 0x4000_0000n;
const MEMSIZE = 0x860_0000n; // 128 MiB + kernel + 2 MiB, i.e. the whole reservation

t.test('filterEfiMapForRescue: the rescue_kernel_init_efimap rule', (t) => {
  const lowRam = md(EFI_MD_TYPE.BS_CODE, 0n, 0xa0n);
  const rtData = md(EFI_MD_TYPE.RT_DATA, 0xa_0000n, 0x60n, EFI_MD_ATTR.RT | EFI_MD_ATTR.WB);
  const below = md(EFI_MD_TYPE.FREE, 0x10_0000n, 0x3_fe00n); // ends at 0x3ff0_0000 < rescue_pa
  const holding = { ...md(EFI_MD_TYPE.FREE, 0x3ff0_0000n, 0x4_0100n), mdVirt: 0x1234n }; // contains rescue_pa
  const above = md(EFI_MD_TYPE.DATA, 0x8000_0000n, 0x100n);
  const mmio = md(EFI_MD_TYPE.IOMEM, 0xfe00_0000n, 0x10n, EFI_MD_ATTR.UC);
  const nvs = md(EFI_MD_TYPE.FIRMWARE, 0x7fff_0000n, 0x10n);
  const host = [lowRam, rtData, below, holding, above, mmio, nvs];
  const rewritten = { ...holding, mdPhys: RESCUE_PA, mdPages: MEMSIZE / 4096n };

  t.same(
    filterEfiMapForRescue(host, RESCUE_PA, MEMSIZE, 'amd64'),
    [lowRam, rtData, rewritten, mmio, nvs],
    'amd64 keeps RAM at PA 0',
  );
  t.same(filterEfiMapForRescue(host, RESCUE_PA, MEMSIZE, 'arm64'), [rtData, rewritten, mmio, nvs], 'arm64 drops it');
  t.equal(rewritten.mdPages, 0x8600n, 'md_pages = atop(memsize)');

  // inclusive end: a RAM descriptor ending exactly at rescue_pa is rewritten too (C: md_phys + ptoa(pages) >= rescue_pa)
  const endsAt = md(EFI_MD_TYPE.FREE, 0x3000_0000n, 0x1_0000n);
  const startsAt = md(EFI_MD_TYPE.FREE, RESCUE_PA, 0x1000n);
  t.same(
    filterEfiMapForRescue([endsAt, startsAt], RESCUE_PA, MEMSIZE, 'arm64').map((d) => [d.mdPhys, d.mdPages]),
    [
      [RESCUE_PA, 0x8600n],
      [RESCUE_PA, 0x8600n],
    ],
    'two matches give two copies of the reservation',
  );

  // amd64 tests md_phys == 0 first: a RAM descriptor at 0 that holds rescue_pa is copied unchanged
  const bigLow = md(EFI_MD_TYPE.FREE, 0n, 0x8_0000n);
  t.equal(rescueEfiMapAction(bigLow, RESCUE_PA, 'amd64'), 'copy');
  t.equal(rescueEfiMapAction(bigLow, RESCUE_PA, 'arm64'), 'rewrite');

  // md_phys + ptoa(md_pages) wraps at 2^64 as in C
  const wrapping = md(EFI_MD_TYPE.FREE, 0xffff_ffff_ffff_0000n, 0x20n);
  t.equal(rescueEfiMapAction(wrapping, 0xffff_ffff_ffff_8000n, 'arm64'), 'drop');
  t.equal(rescueEfiMapAction(md(EFI_MD_TYPE.RT_CODE, 0n, 1n), 0n, 'arm64'), 'copy', 'non-RAM always copied');
  t.end();
});

// Computed by hand: rescue_kernel_init_efimap over TWO_40 with one RAM descriptor holding
// rescue_pa: header copied, memory_size = end - start - sizeof(hdr) = (32 + 80) - 24 = 0x58
// (8 more than the 0x50 of descriptors), pad zero, then the rewritten RAM descriptor and
// the MMIO one unchanged.
const RESCUE_40 = `
  58 00 00 00 00 00 00 00 | 28 00 00 00 00 00 00 00
  01 00 00 00 00 00 00 00 | 00 00 00 00 00 00 00 00
  07 00 00 00 00 00 00 00 | 00 00 00 40 00 00 00 00
  00 00 00 00 00 00 00 00 | 00 86 00 00 00 00 00 00
  08 00 00 00 00 00 00 00
  0b 00 00 00 00 00 00 00 | 00 00 00 fe 00 00 00 00
  00 00 00 00 00 00 00 00 | 10 00 00 00 00 00 00 00
  01 00 00 00 00 00 00 80`;

t.test('encodeRescueEfiMap: the bytes rescue_kernel_init writes', (t) => {
  const source = encodeEfiMap({ descriptors: [md(EFI_MD_TYPE.FREE, 0x10_0000n, 0x8_0000n), MMIO] });
  const out = encodeRescueEfiMap(source, { rescuePa: RESCUE_PA, memsize: MEMSIZE, arch: 'amd64' });
  t.equal(toHex(out), toHex(fromHex(RESCUE_40)));
  const back = decodeEfiMap(out);
  t.equal(back.memorySize, 0x58n, 'memory_size is 8 bytes too large');
  t.equal(back.descriptors.length, 2, 'memory_size / descriptor_size still counts 2');

  // descriptor_size 48 with non-zero bytes past struct efi_md: copied raw, as memcpy does
  const ds = 48;
  const host = [md(EFI_MD_TYPE.BS_DATA, 0n, 0x9fn), md(EFI_MD_TYPE.FREE, 0x10_0000n, 0x8_0000n), MMIO];
  const src = encodeEfiMap({ descriptors: host, descriptorSize: ds, descriptorVersion: 1 });
  host.forEach((_, i) => src.fill(0xa0 + i, 32 + i * ds + EFI_MD_SIZE, 32 + (i + 1) * ds));
  src.fill(0x5a, 20, 24); // efi_map_header tail padding: memcpy(&hdr, srchdr, sizeof(hdr)) copies it
  for (const arch of ['amd64', 'arm64'] as const) {
    const r = encodeRescueEfiMap(src, { rescuePa: RESCUE_PA, memsize: MEMSIZE, arch });
    const kept = filterEfiMapForRescue(decodeEfiMap(src).descriptors, RESCUE_PA, MEMSIZE, arch);
    t.equal(r.length, 32 + kept.length * ds, `${arch}: kp_efimaplen`);
    const h = EfiMapHeader.decode(r);
    t.equal(h.memorySize, BigInt(kept.length * ds + 8), `${arch}: memory_size = descriptors + 8`);
    t.equal(h.descriptorSize, 48n);
    t.same([...r.subarray(20, 24)], [0x5a, 0x5a, 0x5a, 0x5a], `${arch}: header padding copied`);
    t.same([...r.subarray(24, 32)], [0, 0, 0, 0, 0, 0, 0, 0], `${arch}: pad to 16 never written (M_ZERO)`);
    t.same(decodeEfiMap(r).descriptors, kept, `${arch}: same descriptors as filterEfiMapForRescue`);
    const tails = kept.map((_, i) => r[32 + i * ds + EFI_MD_SIZE]);
    t.same(tails, arch === 'amd64' ? [0xa0, 0xa1, 0xa2] : [0xa1, 0xa2], `${arch}: bytes past 40 copied raw`);
  }
  t.end();
});

t.test('rescue copy agrees with filter + encode except for memory_size (property)', (t) => {
  const ramTypes = [1, 2, 3, 4, 7, 5, 6, 9, 11];
  const arb = fc.record({
    mdType: fc.constantFrom(...ramTypes),
    mdPhys: fc.bigInt({ min: 0n, max: 0x2_0000_0000n }).map((p) => p & ~0xfffn),
    mdVirt: fc.constant(0n),
    mdPages: fc.bigInt({ min: 0n, max: 0x10_0000n }),
    mdAttr: fc.constant(EFI_MD_ATTR.WB),
  });
  fc.assert(
    fc.property(
      fc.array(arb, { maxLength: 10 }),
      fc.bigInt({ min: 0n, max: 0x1_0000n }).map((k) => k << 21n),
      fc.constantFrom('amd64' as const, 'arm64' as const),
      (descriptors, rescuePa, arch) => {
        const src = encodeEfiMap({ descriptors });
        const r = encodeRescueEfiMap(src, { rescuePa, memsize: MEMSIZE, arch });
        const kept = filterEfiMapForRescue(descriptors, rescuePa, MEMSIZE, arch);
        const plain = encodeEfiMap({ descriptors: kept });
        assert.equal(r.length, plain.length);
        new DataView(plain.buffer).setBigUint64(0, BigInt(plain.length - 24), true);
        assert.deepStrictEqual(r, plain);
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 random host maps');
  t.end();
});

t.test('one mutation per error code', (t) => {
  const good = fromHex(TWO_40);
  const mutate = (f: (dv: DataView) => void): Uint8Array => {
    const b = good.slice();
    f(new DataView(b.buffer));
    return b;
  };
  throwsCode(t, () => decodeEfiMap(good.subarray(0, good.length - 1)), HandoffCode.Truncated, 'last descriptor cut');
  throwsCode(t, () => decodeEfiMap(good.subarray(0, 20)), HandoffCode.Truncated, 'header cut');
  throwsCode(
    t,
    () => decodeEfiMap(mutate((dv) => dv.setBigUint64(8, 32n, true))),
    HandoffCode.EfiMapBadDescriptorSize,
    'descriptor_size below 40',
  );
  throwsCode(
    t,
    () => decodeEfiMap(mutate((dv) => dv.setBigUint64(8, 0n, true))),
    HandoffCode.EfiMapBadDescriptorSize,
    'descriptor_size 0 (the kernel would divide by zero)',
  );
  throwsCode(
    t,
    () => decodeEfiMap(mutate((dv) => dv.setBigUint64(8, 1n << 40n, true))),
    HandoffCode.EfiMapBadDescriptorSize,
    'descriptor_size over the limit',
  );
  throwsCode(
    t,
    () => decodeEfiMap(mutate((dv) => dv.setBigUint64(0, (1n << 64n) - 1n, true))),
    HandoffCode.EfiMapTooLarge,
    'memory_size far past the limit',
  );
  t.equal(
    decodeEfiMap(mutate((dv) => dv.setBigUint64(0, 0x50n + 39n, true))).descriptors.length,
    2,
    'a remainder is ignored',
  );
  throwsCode(t, () => encodeEfiMap({ descriptors: TWO, descriptorSize: 44 }), HandoffCode.EfiMapBadDescriptorSize);
  throwsCode(t, () => encodeEfiMap({ descriptors: TWO, descriptorSize: 32 }), HandoffCode.EfiMapBadDescriptorSize);
  throwsCode(t, () => encodeEfiMap({ descriptors: [{ ...md(0, 0n, 0n), mdType: 2 ** 32 }] }), HandoffCode.ValueRange);
  throwsCode(t, () => encodeEfiMap({ descriptors: [md(0, 1n << 64n, 0n)] }), HandoffCode.ValueRange);
  throwsCode(t, () => encodeEfiMap({ descriptors: [], descriptorVersion: -1 }), HandoffCode.ValueRange);
  throwsCode(
    t,
    () => encodeRescueEfiMap(good, { rescuePa: -1n, memsize: MEMSIZE, arch: 'amd64' }),
    HandoffCode.ValueRange,
  );
  throwsCode(t, () => filterEfiMapForRescue(TWO, 0n, 1n << 64n, 'arm64'), HandoffCode.ValueRange);
  throwsCode(
    t,
    () => encodeRescueEfiMap(good.subarray(0, 40), { rescuePa: RESCUE_PA, memsize: MEMSIZE, arch: 'amd64' }),
    HandoffCode.Truncated,
  );
  t.equal(EfiMd.size, 40);
  t.end();
});
