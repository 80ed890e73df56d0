// Every FdtCode, each raised by changing ONE field of a good fixture: a hand-assembled blob
// (offsets recorded while assembling, so the reader is tested independently of writeFdt)
// or the tree parsed from it.
import t, { type Test } from 'tap';
import {
  FdtHeader,
  addressCells,
  findNode,
  getProp,
  makeProp,
  parseFdt,
  propU32,
  readMemoryRanges,
  rewriteMemoryReg,
  setChild,
  setProp,
  stringValue,
  u32Value,
  u64Value,
  writeFdt,
  type Fdt,
} from '../../../../loader/handoff/fdt/index.js';
import { FdtCode, HandoffError } from '../../../../loader/handoff/errors.js';
import { throwsCode } from '../../../helpers/errors.js';
import { asm, getU32, plain, rawBlob, withBytes, withU32 } from './fdt-fixtures.js';

// strings block: offsets 0, 11, 26, 38, 50; size 54
const STRINGS = 'compatible\0#address-cells\0#size-cells\0device_type\0reg\0';
const NAMEOFF = { compatible: 0, addressCells: 11, sizeCells: 26, deviceType: 38, reg: 50 } as const;

const pieces: [string, number[]][] = [
  ['root', asm.begin('')],
  ['compatible', asm.prop(NAMEOFF.compatible, [...Buffer.from('kboot\0')])],
  ['addressCells', asm.prop(NAMEOFF.addressCells, [0, 0, 0, 2])],
  ['sizeCells', asm.prop(NAMEOFF.sizeCells, [0, 0, 0, 2])],
  ['chosen', asm.begin('chosen')],
  ['chosenEnd', asm.endNode()],
  ['memory', asm.begin('memory@40000000')],
  ['deviceType', asm.prop(NAMEOFF.deviceType, [...Buffer.from('memory\0')])],
  ['reg', asm.prop(NAMEOFF.reg, [...u64Value(0x4000_0000n, 0x4000_0000n)])],
  ['memoryEnd', asm.endNode()],
  ['rootEnd', asm.endNode()],
  ['end', asm.end()],
];
const RSV: [bigint, bigint][] = [[0x4800_0000n, 0x1000n]];
const OFF_RSV = 40;
const OFF_STRUCT = OFF_RSV + 16 * (RSV.length + 1);
const AT: Record<string, number> = {};
let cursor = OFF_STRUCT;
for (const [label, bytes] of pieces) {
  AT[label] = cursor;
  cursor += bytes.length;
}
const OFF_STRINGS = cursor;
const GOOD = rawBlob({ struct: pieces.flatMap(([, b]) => b), strings: STRINGS, rsv: RSV });
const H = FdtHeader.offsets;
/** Offset of a labelled piece (throws in the test file itself if the label is wrong). */
const at = (label: string): number => {
  const v = AT[label];
  if (v === undefined) throw new Error(`no piece ${label}`);
  return v;
};
/** Offset of a property's nameoff / len word. */
const nameoffAt = (label: string): number => at(label) + 8;
const lenAt = (label: string): number => at(label) + 4;

t.test('the fixture is good', (t) => {
  const fdt = parseFdt(GOOD);
  t.same(plain(fdt), {
    bootCpuidPhys: 0,
    memReserve: [['48000000', '1000']],
    root: {
      name: '',
      props: [
        ['compatible', Buffer.from('kboot\0').toString('hex')],
        ['#address-cells', '00000002'],
        ['#size-cells', '00000002'],
      ],
      children: [
        { name: 'chosen', props: [], children: [] },
        {
          name: 'memory@40000000',
          props: [
            ['device_type', Buffer.from('memory\0').toString('hex')],
            ['reg', '00000000400000000000000040000000'],
          ],
          children: [],
        },
      ],
    },
  });
  t.equal(getU32(GOOD, H.offDtStrings), OFF_STRINGS);
  t.same(readMemoryRanges(fdt), [{ start: 0x4000_0000n, size: 0x4000_0000n }]);
  t.end();
});

/** Codes actually raised in this file; the last test checks that every FdtCode was. */
const SEEN = new Set<string>();
function throws(t: Test, fn: () => unknown, code: string, msg?: string): ReturnType<typeof throwsCode> {
  const e = throwsCode(t, fn, code, msg);
  if (e !== undefined && e.code === code) SEEN.add(code);
  return e;
}

/** Asserts the code and that the error is a HandoffError. */
function rejects(t: Test, bytes: Uint8Array, code: string, msg: string, limits = {}): void {
  const e = throws(t, () => parseFdt(bytes, limits), code, msg);
  t.ok(e instanceof HandoffError, `${msg}: a HandoffError`);
}

t.test('FDT_BAD_MAGIC', (t) => {
  rejects(t, withU32(GOOD, H.magic, 0xd00dfeee), FdtCode.BadMagic, 'magic');
  t.end();
});

t.test('FDT_BAD_VERSION', (t) => {
  rejects(t, withU32(GOOD, H.version, 15), FdtCode.BadVersion, 'version 15');
  rejects(t, withU32(GOOD, H.lastCompVersion, 18), FdtCode.BadVersion, 'last_comp_version 18');
  t.end();
});

t.test('FDT_BAD_HEADER', (t) => {
  rejects(t, withU32(GOOD, H.offDtStruct, OFF_STRUCT + 2), FdtCode.BadHeader, 'struct offset misaligned');
  rejects(t, withU32(GOOD, H.offMemRsvmap, OFF_RSV + 4), FdtCode.BadHeader, 'reservation block misaligned');
  rejects(t, withU32(GOOD, H.offMemRsvmap, 8), FdtCode.BadHeader, 'reservation block inside the header');
  rejects(t, withU32(GOOD, H.sizeDtStrings, GOOD.length), FdtCode.BadHeader, 'strings block past totalsize');
  rejects(t, withU32(GOOD, H.sizeDtStruct, GOOD.length), FdtCode.BadHeader, 'structure block past totalsize');
  rejects(t, withU32(GOOD, H.totalsize, 36), FdtCode.BadHeader, 'totalsize smaller than the header');
  rejects(t, withU32(GOOD, H.offDtStrings, OFF_STRUCT + 8), FdtCode.BadHeader, 'strings overlap structure');
  rejects(t, withU32(GOOD, H.offMemRsvmap, OFF_STRUCT + 8), FdtCode.BadHeader, 'reservation inside structure');
  t.end();
});

t.test('FDT_TRUNCATED', (t) => {
  rejects(t, GOOD.subarray(0, 39), FdtCode.Truncated, 'shorter than a header');
  rejects(t, withU32(GOOD, H.totalsize, GOOD.length + 4), FdtCode.Truncated, 'totalsize past the bytes');
  rejects(t, withU32(GOOD, H.sizeDtStruct, at('end') - OFF_STRUCT), FdtCode.Truncated, 'no FDT_END in the block');
  rejects(t, withU32(GOOD, lenAt('reg'), 0x1000), FdtCode.Truncated, 'value runs past the block');
  rejects(t, withU32(GOOD, H.sizeDtStruct, at('reg') + 6 - OFF_STRUCT), FdtCode.Truncated, 'prop header cut');
  t.end();
});

t.test('FDT_BAD_TOKEN', (t) => {
  rejects(t, withU32(GOOD, at('chosenEnd'), 5), FdtCode.BadToken, 'token 5');
  rejects(t, withU32(GOOD, at('end'), 0xffffffff), FdtCode.BadToken, 'token 0xffffffff');
  t.end();
});

t.test('FDT_BAD_STRUCTURE', (t) => {
  rejects(t, withU32(GOOD, at('rootEnd'), 4), FdtCode.BadStructure, 'FDT_END inside the open root');
  rejects(t, withU32(GOOD, at('root'), 2), FdtCode.BadStructure, 'END_NODE with nothing open');
  rejects(t, withU32(GOOD, at('root'), 9), FdtCode.BadStructure, 'FDT_END before any node');
  rejects(t, withU32(GOOD, at('end'), 1), FdtCode.BadStructure, 'a second root');
  rejects(t, withU32(GOOD, at('end'), 3), FdtCode.BadStructure, 'a property after the root closed');
  // (assembled) a property after a child node
  const afterChild = rawBlob({
    struct: [...asm.begin(''), ...asm.begin('a'), ...asm.endNode(), ...asm.prop(0, []), ...asm.endNode(), ...asm.end()],
    strings: 'p\0',
  });
  rejects(t, afterChild, FdtCode.BadStructure, 'property after a child node');
  t.end();
});

t.test('FDT_BAD_STRING', (t) => {
  rejects(t, withU32(GOOD, nameoffAt('reg'), STRINGS.length), FdtCode.BadString, 'nameoff outside the block');
  rejects(t, withU32(GOOD, H.sizeDtStrings, STRINGS.length - 1), FdtCode.BadString, 'last name unterminated');
  rejects(t, withU32(GOOD, H.sizeDtStruct, at('memory') + 12 - OFF_STRUCT), FdtCode.BadString, 'node name cut');
  t.end();
});

t.test('FDT_TOO_DEEP', (t) => {
  rejects(t, GOOD, FdtCode.TooDeep, 'maxDepth 1', { maxDepth: 1 });
  t.end();
});

t.test('FDT_TOO_LARGE', (t) => {
  rejects(t, withU32(GOOD, lenAt('reg'), 0x7fff_ffff), FdtCode.TooLarge, 'property length');
  rejects(t, withU32(GOOD, H.totalsize, 0x7fff_ffff), FdtCode.TooLarge, 'totalsize over the limit');
  rejects(t, GOOD, FdtCode.TooLarge, 'node count', { maxNodes: 2 });
  t.end();
});

t.test('FDT_BAD_NAME', (t) => {
  rejects(t, withBytes(GOOD, at('chosen') + 4, [0x20]), FdtCode.BadName, 'space in a node name');
  rejects(t, withBytes(GOOD, at('chosen') + 4, [0x2f]), FdtCode.BadName, '"/" in a node name');
  rejects(t, withBytes(GOOD, at('root') + 4, [0x78]), FdtCode.BadName, 'root name not empty');
  rejects(t, withBytes(GOOD, OFF_STRINGS, [0x20]), FdtCode.BadName, 'space in a property name');
  rejects(t, withBytes(GOOD, at('chosen') + 4, [0xc3]), FdtCode.BadName, 'non-ASCII node name');
  rejects(t, withBytes(GOOD, at('chosen') + 4, [0]), FdtCode.BadName, 'empty node name');
  t.end();
});

t.test('FDT_DUPLICATE_NAME', (t) => {
  rejects(t, withU32(GOOD, nameoffAt('sizeCells'), NAMEOFF.addressCells), FdtCode.DuplicateName, 'property twice');
  const twice = rawBlob({
    struct: [
      ...asm.begin(''),
      ...asm.begin('a'),
      ...asm.endNode(),
      ...asm.begin('a'),
      ...asm.endNode(),
      ...asm.endNode(),
      ...asm.end(),
    ],
    strings: '',
  });
  rejects(t, twice, FdtCode.DuplicateName, 'node twice (assembled)');
  t.end();
});

t.test('FDT_BAD_MEMRESERVE', (t) => {
  rejects(t, withU32(GOOD, OFF_RSV + 16 + 12, 1), FdtCode.BadMemReserve, 'terminator size 1: no terminator');
  const fdt = parseFdt(GOOD);
  throws(t, () => writeFdt({ ...fdt, memReserve: [{ address: 0n, size: 0n }] }), FdtCode.BadMemReserve);
  t.end();
});

/** The parsed fixture with its memory node renamed so that only device_type marks it. */
function byDeviceType(): Fdt {
  const fdt = parseFdt(GOOD);
  const mem = findNode(fdt, '/memory@40000000');
  if (mem === undefined) throw new Error('fixture has no memory node');
  const renamed = { ...mem, name: 'dram@40000000' };
  return { ...fdt, root: { ...fdt.root, children: fdt.root.children.map((c) => (c === mem ? renamed : c)) } };
}

t.test('FDT_NO_MEMORY_NODE', (t) => {
  const good = byDeviceType();
  t.same(readMemoryRanges(good), [{ start: 0x4000_0000n, size: 0x4000_0000n }], 'found by device_type');
  const dram = findNode(good, '/dram') ?? good.root;
  const bad = { ...good, root: setChild(good.root, setProp(dram, makeProp('device_type', stringValue('cpu')))) };
  throws(t, () => rewriteMemoryReg(bad, [{ start: 0x5000_0000n, size: 0x1000n }]), FdtCode.NoMemoryNode);
  throws(t, () => readMemoryRanges(bad), FdtCode.NoMemoryNode);
  t.end();
});

t.test('FDT_BAD_CELLS', (t) => {
  const bad = parseFdt(withU32(GOOD, at('addressCells') + 12, 3));
  throws(t, () => rewriteMemoryReg(bad, [{ start: 0x5000_0000n, size: 0x1000n }]), FdtCode.BadCells);
  throws(t, () => readMemoryRanges(bad), FdtCode.BadCells);
  const fdt = parseFdt(GOOD);
  const long = setProp(fdt.root, makeProp('#size-cells', u64Value(2n)));
  throws(t, () => readMemoryRanges({ ...fdt, root: long }), FdtCode.BadCells, '#size-cells of 8 bytes');
  t.end();
});

t.test('FDT_BAD_PROP', (t) => {
  const fdt = parseFdt(GOOD);
  const p = getProp(fdt.root, '#address-cells') ?? makeProp('', new Uint8Array());
  t.equal(propU32(p), 2);
  throws(t, () => propU32({ ...p, value: u64Value(2n) }), FdtCode.BadProp);
  const mem = findNode(fdt, '/memory') ?? fdt.root;
  const reg = getProp(mem, 'reg') ?? p;
  const shortReg = setChild(fdt.root, setProp(mem, { ...reg, value: reg.value.subarray(0, 12) }));
  throws(t, () => readMemoryRanges({ ...fdt, root: shortReg }), FdtCode.BadProp, 'reg of 12 bytes with 2/2');
  t.end();
});

t.test('FDT_VALUE_RANGE', (t) => {
  const oneCell = parseFdt(withU32(GOOD, at('addressCells') + 12, 1));
  t.equal(addressCells(oneCell.root), 1);
  throws(
    t,
    () => rewriteMemoryReg(oneCell, [{ start: 0x1_0000_0000n, size: 0x1000n }]),
    FdtCode.ValueRange,
    'start does not fit in 1 cell',
  );
  throws(t, () => writeFdt({ ...oneCell, bootCpuidPhys: 2 ** 32 }), FdtCode.ValueRange);
  throws(t, () => u32Value(2 ** 32), FdtCode.ValueRange);
  t.end();
});

t.test('FDT_BAD_RANGE', (t) => {
  const fdt = parseFdt(GOOD);
  t.doesNotThrow(() => rewriteMemoryReg(fdt, [{ start: 0x5000_0000n, size: 0x1000n }]));
  throws(t, () => rewriteMemoryReg(fdt, [{ start: 0x5000_0000n, size: 0n }]), FdtCode.BadRange, 'size 0');
  throws(
    t,
    () => rewriteMemoryReg(fdt, [{ start: (1n << 64n) - 0x1000n, size: 0x2000n }]),
    FdtCode.BadRange,
    'passes 2^64',
  );
  t.end();
});

t.test('every FdtCode is raised above', (t) => {
  t.same(
    Object.values(FdtCode).filter((c) => !SEEN.has(c)),
    [],
    'codes without a mutation test',
  );
  t.end();
});
