// FDT reader/writer: layout of written blobs, round trips (fixed and random trees), NOPs,
// version 16, accessors, value constructors, builders, /memory rewriting, reserved memory
// and the machine tree. Hand-assembled blobs (fdt-fixtures.ts rawBlob) keep the reader's
// tests independent of the writer; dtc itself is used in test/external/dtc.test.ts.
import t from 'tap';
import fc from 'fast-check';
import {
  FDT,
  FdtHeader,
  addMemReserve,
  addReservedMemory,
  addressCells,
  cellsValue,
  emptyValue,
  findNode,
  getProp,
  makeNode,
  makeProp,
  parseFdt,
  propCells,
  propReg,
  propString,
  propStrings,
  propU32,
  propU64,
  readMemoryRanges,
  regValue,
  removeChild,
  removeProp,
  rewriteMemoryReg,
  setChild,
  setProp,
  sizeCells,
  stringValue,
  u32Value,
  u64Value,
  unitName,
  writeFdt,
  type Fdt,
} from '../../../../loader/handoff/fdt/index.js';
import { FdtCode } from '../../../../loader/handoff/errors.js';
import { throwsCode } from '../../../helpers/errors.js';
import { MACHINE, arbFdt, asm, getU32, goodFdt, machineFdt, plain, rawBlob } from './fdt-fixtures.js';
import { buildMachineFdt, cpuMpidr, PHANDLE } from '../../../../loader/plan/host-fdt.js';

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('written blob: header, block order, alignment, deduplicated strings', (t) => {
  const fdt = goodFdt();
  const b = writeFdt(fdt);
  const h = FdtHeader.decode(b);
  t.equal(h.magic, 0xd00dfeed);
  t.equal(h.totalsize, b.length);
  t.equal(h.version, 17);
  t.equal(h.lastCompVersion, 16);
  t.equal(h.offMemRsvmap, 40, 'reservation block right after the 40-byte header');
  t.equal(h.offMemRsvmap % 8, 0);
  t.equal(h.offDtStruct, 40 + 16 * 2, 'one entry + the 0,0 terminator, then the structure block');
  t.equal(h.offDtStruct % 4, 0);
  t.equal(h.offDtStrings, h.offDtStruct + h.sizeDtStruct, 'strings block follows the structure block');
  t.equal(h.offDtStrings + h.sizeDtStrings, h.totalsize);
  t.equal(h.sizeDtStruct % 4, 0);
  t.equal(getU32(b, h.offDtStruct), FDT.BEGIN_NODE);
  t.equal(getU32(b, h.offDtStruct + h.sizeDtStruct - 4), FDT.END);
  const strings = Buffer.from(b.subarray(h.offDtStrings)).toString('latin1');
  t.equal(strings.split('\0').filter((s) => s === 'reg').length, 1, '"reg" stored once');
  t.same(
    strings.split('\0').slice(0, 4),
    ['compatible', '#address-cells', '#size-cells', 'bootargs'],
    'first-use order',
  );
  t.end();
});

t.test('round trips: fixtures', (t) => {
  for (const [name, fdt] of [
    ['good', goodFdt()],
    ['machine', machineFdt()],
  ] as const) {
    const b = writeFdt(fdt);
    const back = parseFdt(b);
    t.same(plain(back), plain(fdt), `${name}: parse(write(x)) = x`);
    t.equal(hexOf(writeFdt(back)), hexOf(b), `${name}: write(parse(b)) = b`);
  }
  const empty: Fdt = { bootCpuidPhys: 3, memReserve: [], root: makeNode('') };
  t.same(plain(parseFdt(writeFdt(empty))), plain(empty), 'a tree with only a root');
  t.end();
});

t.test('round trips: random trees (property)', (t) => {
  fc.assert(
    fc.property(arbFdt({ dtcClean: false }), (fdt) => {
      const b = writeFdt(fdt);
      const back = parseFdt(b);
      return JSON.stringify(plain(back)) === JSON.stringify(plain(fdt)) && hexOf(writeFdt(back)) === hexOf(b);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random trees round-trip');
  t.end();
});

t.test('parsed values do not alias the input bytes', (t) => {
  const b = writeFdt(goodFdt());
  const fdt = parseFdt(b);
  b.fill(0);
  t.equal(propString(getProp(findNode(fdt, '/chosen') ?? fdt.root, 'bootargs') ?? makeProp('x', emptyValue())), '-v');
  t.end();
});

t.test('reader: NOPs are skipped anywhere a token may stand', (t) => {
  const strings = 'a\0b\0';
  const b = rawBlob({
    struct: [
      ...asm.nop(),
      ...asm.begin(''),
      ...asm.nop(),
      ...asm.prop(0, [0, 0, 0, 1]),
      ...asm.nop(),
      ...asm.begin('child@10'),
      ...asm.prop(2, [0x61, 0]),
      ...asm.nop(),
      ...asm.endNode(),
      ...asm.nop(),
      ...asm.endNode(),
      ...asm.nop(),
      ...asm.end(),
    ],
    strings,
    rsv: [[0x1000n, 0x2000n]],
    header: { bootCpuidPhys: 5 },
  });
  const fdt = parseFdt(b);
  t.equal(fdt.bootCpuidPhys, 5);
  t.same(fdt.memReserve, [{ address: 0x1000n, size: 0x2000n }]);
  t.equal(propU32(getProp(fdt.root, 'a') ?? makeProp('', emptyValue())), 1);
  const child = findNode(fdt, '/child');
  t.equal(child?.name, 'child@10', 'unit-address-less lookup');
  t.same(propStrings(getProp(child ?? fdt.root, 'b') ?? makeProp('', emptyValue())), ['a']);
  t.end();
});

t.test('reader: version 16 blobs (no size_dt_struct) are read', (t) => {
  const b = writeFdt(goodFdt());
  const dv = new DataView(b.buffer);
  dv.setUint32(FdtHeader.offsets.version, 16, false);
  dv.setUint32(FdtHeader.offsets.sizeDtStruct, 0xdeadbeef, false);
  t.same(plain(parseFdt(b)), plain(goodFdt()));
  t.end();
});

t.test('reader: bytes after totalsize are ignored; strings shared by suffix are read', (t) => {
  const b = writeFdt(goodFdt());
  const longer = new Uint8Array(b.length + 64).fill(0xff);
  longer.set(b);
  t.same(plain(parseFdt(longer)), plain(goodFdt()));
  // "cells" at offset 2 of "#cells\0" style sharing: nameoff pointing inside another string.
  const shared = rawBlob({
    struct: [...asm.begin(''), ...asm.prop(0, []), ...asm.prop(4, []), ...asm.endNode(), ...asm.end()],
    strings: 'foo-bar\0',
  });
  t.same(
    parseFdt(shared).root.props.map((p) => p.name),
    ['foo-bar', 'bar'],
  );
  t.end();
});

t.test('limits are applied', (t) => {
  const b = writeFdt(goodFdt());
  throwsCode(t, () => parseFdt(b, { maxDepth: 2 }), FdtCode.TooDeep);
  t.doesNotThrow(() => parseFdt(b, { maxDepth: 3 }));
  throwsCode(t, () => parseFdt(b, { maxNodes: 4 }), FdtCode.TooLarge, 'nodes');
  t.doesNotThrow(() => parseFdt(b, { maxNodes: 5 }));
  throwsCode(t, () => parseFdt(b, { maxProps: 7 }), FdtCode.TooLarge, 'properties');
  t.doesNotThrow(() => parseFdt(b, { maxProps: 8 }));
  throwsCode(t, () => parseFdt(b, { maxPropSize: 15 }), FdtCode.TooLarge, 'property size');
  t.doesNotThrow(() => parseFdt(b, { maxPropSize: 16 }));
  throwsCode(t, () => parseFdt(b, { maxTotalSize: b.length - 1 }), FdtCode.TooLarge, 'totalsize');
  throwsCode(t, () => parseFdt(b, { maxNameLength: 5 }), FdtCode.TooLarge, 'names');
  const many = rawBlob({
    struct: [...asm.begin(''), ...asm.endNode(), ...asm.end()],
    strings: '',
    rsv: [
      [1n, 1n],
      [2n, 1n],
    ],
  });
  throwsCode(t, () => parseFdt(many, { maxMemReserve: 1 }), FdtCode.TooLarge, 'reservation entries');
  throwsCode(t, () => parseFdt(b, { maxDepth: 0 }), FdtCode.ValueRange, 'limits must be positive');
  t.end();
});

t.test('writer refuses what it cannot encode', (t) => {
  const good = goodFdt();
  throwsCode(t, () => writeFdt({ ...good, bootCpuidPhys: 2 ** 32 }), FdtCode.ValueRange);
  throwsCode(t, () => writeFdt({ ...good, memReserve: [{ address: 1n << 64n, size: 1n }] }), FdtCode.ValueRange);
  throwsCode(t, () => writeFdt({ ...good, memReserve: [{ address: 0n, size: 0n }] }), FdtCode.BadMemReserve);
  throwsCode(t, () => writeFdt({ ...good, root: { ...good.root, name: 'x' } }), FdtCode.BadName, 'root name');
  throwsCode(t, () => writeFdt({ ...good, root: setChild(good.root, makeNode('a b')) }), FdtCode.BadName);
  throwsCode(t, () => writeFdt({ ...good, root: setChild(good.root, makeNode('a@')) }), FdtCode.BadName);
  throwsCode(t, () => writeFdt({ ...good, root: setChild(good.root, makeNode('a@1@2')) }), FdtCode.BadName);
  throwsCode(t, () => writeFdt({ ...good, root: setProp(good.root, makeProp('', emptyValue())) }), FdtCode.BadName);
  throwsCode(
    t,
    () => writeFdt({ ...good, root: { ...good.root, children: [makeNode('x'), makeNode('x')] } }),
    FdtCode.DuplicateName,
  );
  throwsCode(
    t,
    () =>
      writeFdt({ ...good, root: { ...good.root, props: [makeProp('p', emptyValue()), makeProp('p', emptyValue())] } }),
    FdtCode.DuplicateName,
  );
  const b = writeFdt(good);
  t.equal(writeFdt(good, { maxTotalSize: b.length }).length, b.length, 'limits: exactly at the bound');
  throwsCode(t, () => writeFdt(good, { maxTotalSize: b.length - 1 }), FdtCode.TooLarge, 'totalsize');
  throwsCode(t, () => writeFdt(good, { maxNodes: 4 }), FdtCode.TooLarge, 'nodes');
  throwsCode(t, () => writeFdt(good, { maxProps: 7 }), FdtCode.TooLarge, 'properties');
  throwsCode(t, () => writeFdt(good, { maxPropSize: 15 }), FdtCode.TooLarge, 'property size');
  throwsCode(t, () => writeFdt(good, { maxMemReserve: 0 }), FdtCode.ValueRange, 'limits must be positive');
  throwsCode(
    t,
    () => writeFdt({ ...good, memReserve: [...good.memReserve, ...good.memReserve] }, { maxMemReserve: 1 }),
    FdtCode.TooLarge,
    'reservation entries',
  );
  throwsCode(t, () => writeFdt(good, { maxNameLength: 9 }), FdtCode.TooLarge, 'property name length');
  throwsCode(
    t,
    () => writeFdt({ ...good, root: setChild(good.root, makeNode('n'.repeat(300))) }),
    FdtCode.TooLarge,
    'node name length',
  );
  let deep = makeNode('d');
  for (let i = 0; i < 70; i++) deep = makeNode('d', [], [deep]);
  throwsCode(t, () => writeFdt({ ...good, root: makeNode('', [], [deep]) }), FdtCode.TooDeep);
  t.end();
});

t.test('findNode, getProp and typed readers', (t) => {
  const fdt = goodFdt();
  t.equal(findNode(fdt, '/'), fdt.root);
  t.equal(findNode(fdt, '')?.name, '');
  t.equal(findNode(fdt, '/memory@40000000')?.name, 'memory@40000000');
  t.equal(findNode(fdt, '/memory')?.name, 'memory@40000000', 'unit address optional');
  t.equal(findNode(fdt, '/memory@50000000'), undefined, 'a given unit address must match');
  t.equal(findNode(fdt, '/soc/leaf')?.name, 'leaf');
  t.equal(findNode(fdt, '/soc/leaf/'), findNode(fdt, '/soc/leaf'));
  t.equal(findNode(fdt, '/nope'), undefined);
  const soc = findNode(fdt, '/soc');
  t.equal(soc === undefined ? undefined : findNode(soc, 'leaf')?.name, 'leaf', 'relative to a node');
  const mem = findNode(fdt, '/memory') ?? fdt.root;
  const reg = getProp(mem, 'reg') ?? makeProp('', emptyValue());
  t.same(propCells(reg, 2), [0x4000_0000n, 0x4000_0000n]);
  t.same(propCells(reg, 1), [0n, 0x4000_0000n, 0n, 0x4000_0000n]);
  t.same(propReg(reg, 2, 2), [{ start: 0x4000_0000n, size: 0x4000_0000n }]);
  t.same(propReg(reg, 1, 1), [
    { start: 0n, size: 0x4000_0000n },
    { start: 0n, size: 0x4000_0000n },
  ]);
  t.equal(propU64(makeProp('x', u64Value(0x0102030405060708n))), 0x0102030405060708n);
  t.equal(propU32(makeProp('x', u32Value(0xdeadbeef))), 0xdeadbeef);
  t.same(propStrings(makeProp('x', stringValue('arm,pl011', 'arm,primecell'))), ['arm,pl011', 'arm,primecell']);
  t.same(propStrings(makeProp('x', emptyValue())), []);
  t.equal(propString(makeProp('x', stringValue('memory'))), 'memory');
  t.equal(getProp(fdt.root, 'missing'), undefined);
  throwsCode(t, () => propU32(reg), FdtCode.BadProp);
  throwsCode(t, () => propU64(makeProp('x', u32Value(1))), FdtCode.BadProp);
  throwsCode(t, () => propCells(makeProp('x', new Uint8Array(6)), 1), FdtCode.BadProp);
  throwsCode(t, () => propReg(makeProp('x', new Uint8Array(12)), 2, 2), FdtCode.BadProp);
  throwsCode(t, () => propStrings(makeProp('x', Uint8Array.from([0x61]))), FdtCode.BadProp);
  throwsCode(t, () => propString(makeProp('x', stringValue('a', 'b'))), FdtCode.BadProp);
  throwsCode(t, () => propCells(reg, 3 as 1), FdtCode.BadCells);
  t.end();
});

t.test('#address-cells / #size-cells with the spec defaults', (t) => {
  t.equal(addressCells(makeNode('')), 2);
  t.equal(sizeCells(makeNode('')), 1);
  const n = makeNode('', [makeProp('#address-cells', u32Value(1)), makeProp('#size-cells', u32Value(0))]);
  t.equal(addressCells(n), 1);
  t.equal(sizeCells(n), 0);
  throwsCode(t, () => addressCells(makeNode('', [makeProp('#address-cells', u64Value(1n))])), FdtCode.BadCells);
  t.end();
});

t.test('value constructors encode big-endian and range-check', (t) => {
  t.equal(hexOf(u32Value(1, 0xfffffffe)), '00000001fffffffe');
  t.equal(hexOf(u64Value(0x1_0000_0002n)), '0000000100000002');
  t.equal(hexOf(stringValue('ab', '', 'c')), '616200006300');
  t.equal(hexOf(cellsValue([1n, 2n], 1)), '0000000100000002');
  t.equal(hexOf(cellsValue([1n], 2)), '0000000000000001');
  t.equal(hexOf(regValue([{ start: 0x8000_0000n, size: 0x1000n }], 2, 1)), '000000008000000000001000');
  t.equal(emptyValue().length, 0);
  t.equal(unitName('memory', 0x4000_0000n), 'memory@40000000');
  t.equal(unitName('cpu', 0n), 'cpu@0');
  throwsCode(t, () => u32Value(-1), FdtCode.ValueRange);
  throwsCode(t, () => u32Value(2 ** 32), FdtCode.ValueRange);
  throwsCode(t, () => u32Value(1.5), FdtCode.ValueRange);
  throwsCode(t, () => u64Value(1n << 64n), FdtCode.ValueRange);
  throwsCode(t, () => cellsValue([1n << 32n], 1), FdtCode.ValueRange);
  throwsCode(t, () => cellsValue([-1n], 2), FdtCode.ValueRange);
  throwsCode(t, () => stringValue('a\0b'), FdtCode.BadString);
  throwsCode(t, () => unitName('x', -1n), FdtCode.ValueRange);
  t.end();
});

t.test('builders return new nodes and leave their inputs alone', (t) => {
  const n = makeNode('n', [makeProp('a', u32Value(1))], [makeNode('c')]);
  const before = JSON.stringify(plain({ bootCpuidPhys: 0, memReserve: [], root: n }));
  const n2 = setProp(n, makeProp('a', u32Value(2)));
  const n3 = setProp(n2, makeProp('b', emptyValue()));
  t.same(
    n3.props.map((p) => p.name),
    ['a', 'b'],
  );
  t.equal(propU32(n3.props[0] ?? makeProp('', emptyValue())), 2, 'replaced in place');
  t.same(
    removeProp(n3, 'a').props.map((p) => p.name),
    ['b'],
  );
  t.same(
    setChild(n, makeNode('d')).children.map((c) => c.name),
    ['c', 'd'],
  );
  t.same(
    setChild(n, makeNode('c', [makeProp('z', emptyValue())])).children.map((c) => c.props.length),
    [1],
  );
  t.same(removeChild(n, 'c').children, []);
  t.equal(JSON.stringify(plain({ bootCpuidPhys: 0, memReserve: [], root: n })), before);
  t.end();
});

/** A tree whose root has the given cells and two memory nodes. */
function twoMemoryNodes(ac: number, sc: number): Fdt {
  return {
    bootCpuidPhys: 0,
    memReserve: [],
    root: makeNode(
      '',
      [makeProp('#address-cells', u32Value(ac)), makeProp('#size-cells', u32Value(sc))],
      [
        makeNode('chosen'),
        makeNode('memory@0', [makeProp('device_type', stringValue('memory')), makeProp('reg', new Uint8Array(0))]),
        makeNode('ram@80000000', [makeProp('device_type', stringValue('memory'))]),
        makeNode('serial@1000'),
      ],
    ),
  };
}

t.test('rewriteMemoryReg: cells 1/1, 2/1, 2/2; one memory node kept', (t) => {
  const ranges = [
    { start: 0x5000_0000n, size: 0x100_0000n },
    { start: 0x6000_0000n, size: 0x2000n },
  ];
  const expected: Record<string, string> = {
    '1/1': '5000000001000000' + '6000000000002000',
    '2/1': '000000005000000001000000' + '000000006000000000002000',
    '2/2': '00000000500000000000000001000000' + '00000000600000000000000000002000',
  };
  for (const [ac, sc] of [
    [1, 1],
    [2, 1],
    [2, 2],
  ] as const) {
    const src = twoMemoryNodes(ac, sc);
    const out = rewriteMemoryReg(src, ranges);
    const names = out.root.children.map((c) => c.name);
    t.same(names, ['chosen', 'memory@50000000', 'serial@1000'], `${ac}/${sc}: one memory node, renamed, in place`);
    const mem = findNode(out, '/memory') ?? out.root;
    t.equal(hexOf(getProp(mem, 'reg')?.value ?? new Uint8Array()), expected[`${ac}/${sc}`], `${ac}/${sc}: reg bytes`);
    t.equal(propString(getProp(mem, 'device_type') ?? makeProp('', emptyValue())), 'memory');
    t.same(readMemoryRanges(parseFdt(writeFdt(out))), ranges, `${ac}/${sc}: read back`);
    t.equal(src.root.children.length, 4, 'input untouched');
  }
  throwsCode(
    t,
    () => rewriteMemoryReg(twoMemoryNodes(1, 1), [{ start: 0x1_0000_0000n, size: 0x1000n }]),
    FdtCode.ValueRange,
    'start above 4 GiB with 1 address cell',
  );
  throwsCode(
    t,
    () => rewriteMemoryReg(twoMemoryNodes(2, 1), [{ start: 0x1_0000_0000n, size: 0x1_0000_0000n }]),
    FdtCode.ValueRange,
    '4 GiB size with 1 size cell',
  );
  t.doesNotThrow(() => rewriteMemoryReg(twoMemoryNodes(2, 1), [{ start: 0x1_0000_0000n, size: 0xffff_ffffn }]));
  throwsCode(t, () => rewriteMemoryReg(twoMemoryNodes(3, 1), ranges), FdtCode.BadCells);
  throwsCode(t, () => rewriteMemoryReg(twoMemoryNodes(2, 0), ranges), FdtCode.BadCells);
  throwsCode(t, () => rewriteMemoryReg(twoMemoryNodes(2, 2), []), FdtCode.BadRange);
  throwsCode(
    t,
    () =>
      rewriteMemoryReg(twoMemoryNodes(2, 2), [
        { start: 0x1000n, size: 0x2000n },
        { start: 0x2000n, size: 0x1000n },
      ]),
    FdtCode.BadRange,
    'overlapping ranges',
  );
  t.end();
});

t.test('readMemoryRanges reads every memory node', (t) => {
  t.same(readMemoryRanges(machineFdt()), MACHINE.memory);
  const fdt = goodFdt();
  const extra = setChild(fdt.root, makeNode('memory@100000000', [makeProp('reg', u64Value(1n << 32n, 0x1000n))]));
  t.same(readMemoryRanges({ ...fdt, root: extra }), [
    { start: 0x4000_0000n, size: 0x4000_0000n },
    { start: 1n << 32n, size: 0x1000n },
  ]);
  throwsCode(
    t,
    () => readMemoryRanges({ ...fdt, root: removeChild(fdt.root, 'memory@40000000') }),
    FdtCode.NoMemoryNode,
  );
  t.end();
});

t.test('addReservedMemory and addMemReserve', (t) => {
  const src = twoMemoryNodes(1, 1);
  const a = addReservedMemory(src, { name: 'rescue', start: 0x6000_0000n, size: 0x1000_0000n, noMap: true });
  const rm = findNode(a, '/reserved-memory') ?? a.root;
  t.equal(rm.name, 'reserved-memory');
  t.equal(propU32(getProp(rm, '#address-cells') ?? makeProp('', emptyValue())), 1, 'cells copied from the root');
  t.equal(propU32(getProp(rm, '#size-cells') ?? makeProp('', emptyValue())), 1);
  t.equal(getProp(rm, 'ranges')?.value.length, 0, 'empty ranges');
  const child = findNode(rm, 'rescue@60000000') ?? rm;
  t.equal(hexOf(getProp(child, 'reg')?.value ?? new Uint8Array()), '6000000010000000');
  t.ok(getProp(child, 'no-map'));
  const b = addReservedMemory(a, { name: 'its', start: 0x7000_0000n, size: 0x1_0000n, noMap: false });
  const rm2 = findNode(b, '/reserved-memory') ?? b.root;
  t.same(
    rm2.children.map((c) => c.name),
    ['rescue@60000000', 'its@70000000'],
    'an existing node is reused',
  );
  t.notOk(getProp(rm2.children[1] ?? rm2, 'no-map'));
  t.equal(b.root.children.filter((c) => c.name === 'reserved-memory').length, 1);
  t.notOk(findNode(src, '/reserved-memory'), 'input untouched');
  throwsCode(
    t,
    () => addReservedMemory(a, { name: 'rescue', start: 0x6000_0000n, size: 1n, noMap: false }),
    FdtCode.DuplicateName,
  );
  throwsCode(t, () => addReservedMemory(a, { name: 'a@1', start: 0n, size: 1n, noMap: false }), FdtCode.BadName);
  throwsCode(t, () => addReservedMemory(a, { name: 'a b', start: 0n, size: 1n, noMap: false }), FdtCode.BadName);
  throwsCode(
    t,
    () => addReservedMemory(a, { name: 'big', start: 1n << 32n, size: 1n, noMap: false }),
    FdtCode.ValueRange,
  );
  throwsCode(t, () => addReservedMemory(a, { name: 'z', start: 0n, size: 0n, noMap: false }), FdtCode.BadRange);
  const m = addMemReserve(src, 0x8000_0000n, 0x1000n);
  t.same(m.memReserve, [{ address: 0x8000_0000n, size: 0x1000n }]);
  t.same(src.memReserve, []);
  t.same(parseFdt(writeFdt(m)).memReserve, m.memReserve);
  throwsCode(t, () => addMemReserve(src, 0x1000n, 0n), FdtCode.BadRange);
  throwsCode(t, () => addMemReserve(src, 0n, 0n), FdtCode.BadMemReserve);
  throwsCode(t, () => addMemReserve(src, (1n << 64n) - 1n, 2n), FdtCode.BadRange);
  t.end();
});

t.test('buildMachineFdt: nodes, phandles, cells', (t) => {
  const fdt = machineFdt();
  const names = fdt.root.children.map((c) => c.name);
  t.same(names, [
    'chosen',
    'cpus',
    'psci',
    'memory@40000000',
    'reserved-memory',
    'intc@8000000',
    'timer',
    'apb-pclk',
    'pl011@9000000',
  ]);
  t.same(fdt.memReserve, MACHINE.memReserve);
  t.equal(propU32(getProp(fdt.root, 'interrupt-parent') ?? makeProp('', emptyValue())), PHANDLE.GIC);
  const gic = findNode(fdt, '/intc') ?? fdt.root;
  t.equal(propU32(getProp(gic, 'phandle') ?? makeProp('', emptyValue())), PHANDLE.GIC);
  t.same(propStrings(getProp(gic, 'compatible') ?? makeProp('', emptyValue())), ['arm,gic-v3']);
  t.same(propReg(getProp(gic, 'reg') ?? makeProp('', emptyValue()), 2, 2), [
    { start: 0x0800_0000n, size: 0x1_0000n },
    { start: 0x080a_0000n, size: 0xf6_0000n },
  ]);
  t.ok(getProp(gic, 'interrupt-controller'));
  t.equal(propU32(getProp(gic, '#interrupt-cells') ?? makeProp('', emptyValue())), 3);
  const its = findNode(fdt, '/intc/its') ?? fdt.root;
  t.equal(its.name, 'its@8080000');
  t.ok(getProp(its, 'msi-controller'));
  t.same(propStrings(getProp(its, 'compatible') ?? makeProp('', emptyValue())), ['arm,gic-v3-its']);
  const cpus = findNode(fdt, '/cpus') ?? fdt.root;
  t.equal(cpus.children.length, 4);
  t.same(propStrings(getProp(cpus.children[0] ?? cpus, 'enable-method') ?? makeProp('', emptyValue())), ['psci']);
  t.same(readMemoryRanges(fdt), MACHINE.memory);
  const uart = findNode(fdt, '/pl011') ?? fdt.root;
  t.same(propStrings(getProp(uart, 'compatible') ?? makeProp('', emptyValue())), ['arm,pl011', 'arm,primecell']);
  t.equal(
    propString(getProp(findNode(fdt, '/chosen') ?? fdt.root, 'stdout-path') ?? makeProp('', emptyValue())),
    '/pl011@9000000',
  );
  const rescue = findNode(fdt, '/reserved-memory/rescue') ?? fdt.root;
  t.same(propReg(getProp(rescue, 'reg') ?? makeProp('', emptyValue()), 2, 2), [
    { start: 0x6000_0000n, size: 0x1000_0000n },
  ]);
  t.equal(cpuMpidr(0), 0);
  t.equal(cpuMpidr(15), 0xf);
  t.equal(cpuMpidr(17), 0x101, 'Aff1 = 1, Aff0 = 1');
  const { gic: _gic, ...noGic } = MACHINE;
  const big = buildMachineFdt({ ...noGic, cpus: 20 });
  t.equal(findNode(big, '/cpus/cpu@101')?.name, 'cpu@101');
  t.end();
});

t.test('buildMachineFdt: defaults and optional parts', (t) => {
  const min = buildMachineFdt({
    model: 'm',
    compatible: 'c',
    cpus: 2,
    memory: [{ start: 0x4000_0000n, size: 0x1000_0000n }],
  });
  const gic = findNode(min, '/intc@8000000') ?? min.root;
  t.same(propReg(getProp(gic, 'reg') ?? makeProp('', emptyValue()), 2, 2), [
    { start: 0x0800_0000n, size: 0x1_0000n },
    { start: 0x080a_0000n, size: 0x4_0000n },
  ]);
  t.ok(findNode(min, '/intc/its@8080000'), 'QEMU virt ITS by default');
  t.notOk(findNode(min, '/pl011'), 'no uart');
  t.notOk(findNode(min, '/reserved-memory'));
  t.same(findNode(min, '/chosen')?.props, []);
  const noIts = buildMachineFdt({
    ...MACHINE,
    gic: { distributor: 0x0800_0000n, redistributor: 0x080a_0000n, redistributorSize: 0x8_0000n },
  });
  t.notOk(findNode(noIts, '/intc/its'));
  t.end();
});

t.test('buildMachineFdt: descriptions are checked', (t) => {
  throwsCode(t, () => buildMachineFdt({ ...MACHINE, cpus: 0 }), FdtCode.ValueRange);
  throwsCode(t, () => buildMachineFdt({ ...MACHINE, cpus: 513 }), FdtCode.ValueRange);
  throwsCode(t, () => buildMachineFdt({ ...MACHINE, memory: [] }), FdtCode.BadRange);
  throwsCode(
    t,
    () =>
      buildMachineFdt({
        ...MACHINE,
        gic: { distributor: 0x0800_0000n, redistributor: 0x080a_0000n, redistributorSize: 0x2_0000n },
      }),
    FdtCode.BadRange,
    'redistributor too small for 4 CPUs',
  );
  throwsCode(
    t,
    () => buildMachineFdt({ ...MACHINE, uart: { base: 0x4000_1000n, size: 0x1000n } }),
    FdtCode.BadRange,
    'uart inside RAM',
  );
  throwsCode(
    t,
    () => buildMachineFdt({ ...MACHINE, reserved: [{ name: 'bad name', start: 0n, size: 1n, noMap: false }] }),
    FdtCode.BadName,
  );
  throwsCode(
    t,
    () =>
      buildMachineFdt({
        ...MACHINE,
        reserved: [
          { name: 'r', start: 0x5000_0000n, size: 1n, noMap: false },
          { name: 'r', start: 0x5000_0000n, size: 2n, noMap: false },
        ],
      }),
    FdtCode.DuplicateName,
  );
  throwsCode(t, () => buildMachineFdt({ ...MACHINE, memReserve: [{ address: 1n, size: 0n }] }), FdtCode.BadRange);
  throwsCode(t, () => buildMachineFdt({ ...MACHINE, model: 'a\0b' }), FdtCode.BadString);
  t.end();
});
