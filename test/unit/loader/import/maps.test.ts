// The memory-map importers on hand-written FreeBSD maps (test/helpers/freebsd-maps.ts: the
// binaries built field by field from the struct layouts, the text typed in sysctl(8)'s printf
// formats) and on this machine's Linux maps (test/fixtures/memmap/this-machine,
// test/fixtures/iomem/this-machine.txt): the binary and text forms agree, every type lands
// where FreeBSD's rule puts it, and malformed input gives the importer's codes.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HandoffCode } from '../../../../loader/handoff/errors.js';
import {
  buildImportedProfile,
  decodeEfiMapBinary,
  importEfiMap,
  importIomem,
  importMemmap,
  importSmap,
  parseEfiMapText,
  parseSmapText,
  decodeSmapBinary,
  rescueRules,
  ImportCode,
  type MemmapEntryText,
} from '../../../../loader/import/index.js';
import { packagePath } from '../../../../loader/paths.js';
import {
  EFI_EXAMPLE,
  EFI_EXAMPLE_TEXT,
  efiMapBinary,
  SMAP_EXAMPLE,
  SMAP_EXAMPLE_TEXT,
  smapBinary,
} from '../../../helpers/freebsd-maps.js';
import { throwsCode } from '../../../helpers/errors.js';

const pages = (n: bigint): bigint => n * 4096n;

t.test('efi_map: binary (48-byte stride) and sysctl text give the same descriptors', async (t) => {
  const bin = decodeEfiMapBinary(efiMapBinary());
  t.same(bin, EFI_EXAMPLE, 'binary: every field, stepping by descriptor_size');
  t.same(
    parseEfiMapText(EFI_EXAMPLE_TEXT),
    EFI_EXAMPLE,
    'text: type names, addresses, %p virtual addresses, attributes',
  );
  t.same(decodeEfiMapBinary(efiMapBinary(40)), EFI_EXAMPLE, 'descriptor_size 40 too');
});

t.test('efi_map facts: the efi_physmem_type rule and the other kinds', async (t) => {
  for (const bytes of [efiMapBinary(), Buffer.from(EFI_EXAMPLE_TEXT)]) {
    const f = importEfiMap(bytes);
    t.equal(f.firmware, 'efi');
    t.same(
      f.ram.map((r) => [r.start, r.size]),
      [
        [0n, pages(0xa0n)],
        [0x10_0000n, 0x7d80_0000n - 0x10_0000n],
        [0x1_0000_0000n, pages(0x8_0000n)],
      ],
      'BootServicesCode, ConventionalMemory and LoaderData are RAM (merged when adjacent)',
    );
    t.same(
      f.reserved.map((r) => [r.kind, r.start]),
      [
        ['acpi-reclaim', 0x7d80_0000n],
        ['acpi-nvs', 0x7d81_0000n],
        ['runtime-data', 0x7d89_0000n],
        ['runtime-code', 0x7d99_0000n],
        ['reserved', 0x7da9_0000n],
        ['persistent', 0x1_8000_0000n],
      ],
    );
    t.same(
      f.mmio.map((m) => [m.name, m.start]),
      [['MemoryMappedIO', 0xffc0_0000n]],
    );
    t.equal(f.firmwareMap.length, EFI_EXAMPLE.length, 'every descriptor recorded with its sysctl type name');
  }
  const arm = importEfiMap(efiMapBinary(), { arch: 'arm64' });
  const p = buildImportedProfile(arm, { name: 'efi-arm64', command: 'test', inputs: [] });
  t.ok(
    p.assumptions.some((a) => a.code === 'GIC_ASSUMED'),
    'arm64 from a map: the GIC is assumed and says so',
  );
  t.equal(rescueRules(p.profile).rules.find((r) => r.rule === 'its-tables-live')?.status, 'unknown');
});

t.test('efi_map: malformed inputs', async (t) => {
  const b = efiMapBinary();
  throwsCode(
    t,
    () => importEfiMap(b.subarray(0, b.length - 8)),
    ImportCode.BadMap,
    'length mismatch (S_efi_map refuses it)',
  );
  throwsCode(t, () => importEfiMap(Buffer.concat([b, Buffer.alloc(48)])), ImportCode.BadMap, 'trailing bytes');
  const zero = Buffer.from(b);
  zero.writeBigUInt64LE(0n, 8);
  throwsCode(t, () => importEfiMap(zero), HandoffCode.EfiMapBadDescriptorSize, 'descriptor_size 0');
  throwsCode(
    t,
    () => importEfiMap(Buffer.from(EFI_EXAMPLE_TEXT.replace('LoaderData', 'LoaderDatum'))),
    ImportCode.Syntax,
  );
  const e = throwsCode(
    t,
    () => importEfiMap(Buffer.from(EFI_EXAMPLE_TEXT.replace('UC RUNTIME', 'UC SECRET'))),
    ImportCode.Syntax,
  );
  t.equal(e?.details['line'], 13, 'the line number');
  throwsCode(t, () => importEfiMap(Buffer.from('hello\n')), ImportCode.Syntax, 'not sysctl output');
  const overlap = EFI_EXAMPLE_TEXT.replace('00000700 UC', '00000800 UC');
  throwsCode(t, () => importEfiMap(Buffer.from(overlap)), ImportCode.BadRange, 'two descriptors on one page');
  const noRam = [
    EFI_EXAMPLE_TEXT.split('\n').slice(0, 2).join('\n'),
    '               Reserved 000000000000          0x0 00000010 UC ',
  ].join('\n');
  throwsCode(t, () => importEfiMap(Buffer.from(noRam)), ImportCode.NoMemory);
});

t.test('smap: binary bios_smap_xattr and sysctl text', async (t) => {
  t.same(decodeSmapBinary(smapBinary()), SMAP_EXAMPLE);
  t.same(parseSmapText(SMAP_EXAMPLE_TEXT), SMAP_EXAMPLE);
  const f = importSmap(smapBinary());
  t.equal(f.firmware, 'bios');
  t.same(
    f.ram.map((r) => [r.start, r.size]),
    [
      [0n, 0x9_fc00n],
      [0x10_0000n, 0xbff0_0000n],
      [0x1_0000_0000n, 0x5_4000_0000n],
    ],
  );
  t.same(
    f.reserved.map((r) => r.kind),
    ['reserved', 'reserved', 'acpi-nvs'],
  );
  const p = buildImportedProfile(f, { name: 'smap', command: 'test', inputs: [] }).profile;
  t.same(p.ram[0], { start: 0n, size: 0x9_f000n }, 'RAM rounded inward to pages, as getmemsize does');
  t.same(p.hostKernel.range.start, 0x20_0000n, 'the host kernel at KERNLOAD');
  throwsCode(t, () => importSmap(smapBinary().subarray(0, 40)), ImportCode.BadMap, 'not whole entries');
  throwsCode(t, () => importSmap(Buffer.from(SMAP_EXAMPLE_TEXT.replace('type=04', 'type=xx'))), ImportCode.Syntax);
  t.same(importSmap(Buffer.from(SMAP_EXAMPLE_TEXT)).ram, f.ram, 'text and binary agree');
});

function memmapFixture(): MemmapEntryText[] {
  const dir = packagePath('test', 'fixtures', 'memmap', 'this-machine');
  return readdirSync(dir).map((n) => ({
    name: n,
    start: readFileSync(join(dir, n, 'start'), 'utf8'),
    end: readFileSync(join(dir, n, 'end'), 'utf8'),
    type: readFileSync(join(dir, n, 'type'), 'utf8'),
  }));
}

t.test("/sys/firmware/memmap: this machine's firmware map", async (t) => {
  const entries = memmapFixture();
  const f = importMemmap(entries);
  const systemRam = entries
    .filter((e) => e.type.trim() === 'System RAM')
    .map((e) => [BigInt(e.start.trim()), BigInt(e.end.trim()) - BigInt(e.start.trim()) + 1n])
    .sort((a, b) => ((a[0] ?? 0n) < (b[0] ?? 0n) ? -1 : 1));
  t.same(
    f.ram.map((r) => [r.start, r.size]),
    systemRam,
    'RAM is exactly the System RAM entries',
  );
  t.same(
    f.reserved.map((r) => r.name),
    ['Reserved', 'Reserved'],
  );
  throwsCode(
    t,
    () => importMemmap([{ name: '0', start: '0x1000\n', end: '0x0fff\n', type: 'System RAM\n' }]),
    ImportCode.BadRange,
  );
  throwsCode(
    t,
    () => importMemmap([{ name: '7', start: '4096\n', end: '0x1fff\n', type: 'System RAM\n' }]),
    ImportCode.Syntax,
  );
});

t.test('/proc/iomem: top-level map, device windows, Crash kernel, unprivileged reads', async (t) => {
  const text = readFileSync(packagePath('test', 'fixtures', 'iomem', 'this-machine.txt'), 'utf8');
  const f = importIomem(text);
  t.same(
    f.ram.map((r) => r.start),
    [0x1000n, 0x10_0000n, 0x1_0000_0000n],
    'System RAM (the kernel took page 0)',
  );
  t.ok(f.mmio.some((m) => m.name === 'IOAPIC 0' && m.start === 0xfec0_0000n));
  t.equal(f.crashKernel, undefined, 'no crashkernel= on this machine');
  const crash = text.replace(
    '  01000000-0225b13f : Kernel code',
    '  01000000-0225b13f : Kernel code\n  20000000-2fffffff : Crash kernel',
  );
  t.same(importIomem(crash).crashKernel, { start: 0x2000_0000n, size: 0x1000_0000n });
  const zeros = text.replace(/[0-9a-f]+-[0-9a-f]+ :/g, '00000000-00000000 :');
  const e = throwsCode(t, () => importIomem(zeros), ImportCode.NoMemory, 'read without CAP_SYS_ADMIN');
  t.equal(e?.details['hint'], 'root');
  throwsCode(t, () => importIomem('00000000-00000fff Reserved\n'), ImportCode.Syntax);
  throwsCode(t, () => importIomem(' 00000000-00000fff : odd indent\n'), ImportCode.Syntax);
});
