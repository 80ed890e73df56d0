// What an imported profile adds to loader/plan/profile.ts: the board DTB (it must parse, its
// RAM must be the profile's), provenance and assumptions carried through, GICv2 and several
// ITS / redistributor regions — and the host's firmware is then the board's own tree with the
// loader's /chosen fixup, from which the rescue DTB is rewritten.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { ConfigCode } from '../../../../loader/errors.js';
import { getProp, parseFdt, propStrings, readMemoryRanges, findNode } from '../../../../loader/handoff/fdt/index.js';
import { buildImportedProfile, importDtb } from '../../../../loader/import/index.js';
import { packagePath } from '../../../../loader/paths.js';
import { hostFirmware } from '../../../../loader/plan/firmware.js';
import { buildMemoryMap } from '../../../../loader/plan/memory-map.js';
import { parseProfile } from '../../../../loader/plan/profile.js';
import { rescueFdt } from '../../../../loader/plan/rescue-area.js';
import { throwsCode } from '../../../helpers/errors.js';

const board = (name: string): Record<string, unknown> =>
  buildImportedProfile(importDtb(readFileSync(packagePath('test', 'fixtures', 'dtb', `${name}.dtb`))), {
    name,
    command: 'kboot machine import --dtb x.dtb',
    inputs: [{ kind: 'dtb', path: 'x.dtb', sha256: 'a'.repeat(64), bytes: 1 }],
  }).json;
const parse = (j: unknown): ReturnType<typeof parseProfile> => parseProfile(JSON.stringify(j), 'p.json');

t.test('the board DTB is the host firmware, with /chosen fixup-applied', async (t) => {
  const p = parse(board('cavium_thunder-88xx'));
  t.equal(p.provenance?.inputs[0]?.sha256, 'a'.repeat(64));
  t.ok(p.assumptions.length > 0);
  t.equal(p.board?.['source'], 'dtb');
  const fw = hostFirmware(p, buildMemoryMap(p));
  if (fw.kind !== 'fdt') throw new Error('not fdt');
  const chosen = findNode(fw.fdt, '/chosen');
  t.ok(chosen !== undefined && getProp(chosen, 'fixup-applied') !== undefined, 'fixup-applied');
  const serial = findNode(fw.fdt, '/soc/serial@87e0,24000000');
  const compatible = serial === undefined ? undefined : getProp(serial, 'compatible');
  t.same(
    compatible === undefined ? [] : propStrings(compatible),
    ['arm,pl011', 'arm,primecell'],
    "the board's own nodes (its PL011)",
  );
  const rescue = parseFdt(rescueFdt(fw.bytes, 0x7000_0000n, 0x820_4000n));
  t.same(
    readMemoryRanges(rescue),
    [{ start: 0x7000_0000n, size: 0x820_4000n }],
    'the rescue DTB: the reservation only',
  );
});

t.test('a DTB that does not match, does not parse, or sits on the wrong machine', async (t) => {
  const j = board('qemu-virt-gicv3-its');
  const e = throwsCode(t, () => parse({ ...j, ram: [{ base: '0x40000000', size: '1G' }] }), ConfigCode.Invalid);
  t.match(e?.details['problems'], [{ path: '/dtb' }], "the tree's RAM is not the profile's");
  throwsCode(t, () => parse({ ...j, dtb: Buffer.from('not a tree').toString('base64') }), ConfigCode.Invalid);
  throwsCode(t, () => parse({ ...j, dtb: '!!' }), ConfigCode.Schema, 'not base64');
  throwsCode(t, () => parse({ ...j, firmware: 'efi' }), ConfigCode.Invalid, 'a DTB on an EFI machine');
});

t.test('GICv2: a distributor only, and only with the board DTB', async (t) => {
  const v2 = board('qemu-virt-gicv2');
  const p = parse(v2);
  t.equal(p.gic?.version, 'v2');
  t.same([p.gic?.redistributors, p.gic?.its, p.gic?.tables], [[], [], []]);
  const { dtb: _dtb, ...noDtb } = v2;
  const e = throwsCode(t, () => parse(noDtb), ConfigCode.Invalid);
  t.match(e?.details['problems'], [{ path: '/gic/version' }]);
  const gic = v2['gic'] as Record<string, unknown>;
  throwsCode(t, () => parse({ ...v2, gic: { ...gic, its: '0x8080000' } }), ConfigCode.Schema, 'a GICv2 has no ITS');
  throwsCode(
    t,
    () => parse({ ...v2, gic: { distributor: '0x8000000' } }),
    ConfigCode.Schema,
    'a GICv3 needs its redistributor',
  );
});

t.test('several ITS and redistributor regions', async (t) => {
  const d05 = board('hisilicon_hip07-d05');
  const p = parse(d05);
  t.equal(p.gic?.its.length, 8);
  t.equal(p.gic?.redistributors.length, 4);
  const gic = d05['gic'] as Record<string, unknown>;
  const e = throwsCode(
    t,
    () => parse({ ...d05, gic: { ...gic, redistributorRegions: [], redistributorSize: '0x20000' } }),
    ConfigCode.Invalid,
  );
  t.match(e?.details['problems'], [{ path: '/gic/redistributorSize' }], '64 CPUs need 8 MiB of redistributors');
  const { lpiConfTable: _c, ...noTables } = gic;
  throwsCode(t, () => parse({ ...d05, gic: noTables }), ConfigCode.Schema, 'an ITS needs its tables');
});
