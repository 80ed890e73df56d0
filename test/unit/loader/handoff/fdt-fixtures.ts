// Shared FDT test fixtures: a good tree (for one-field mutations), a machine description,
// random-tree generators for fast-check, and a comparable plain form of a tree.
import fc from 'fast-check';
import {
  makeNode,
  makeProp,
  stringValue,
  u32Value,
  u64Value,
  emptyValue,
  type Fdt,
  type FdtNode,
} from '../../../../loader/handoff/fdt/index.js';
import { buildMachineFdt, type MachineFdtDescription } from '../../../../loader/plan/host-fdt.js';

/** A small tree with every kind of value, a memory node and one reservation entry. */
export function goodFdt(): Fdt {
  return {
    bootCpuidPhys: 0,
    memReserve: [{ address: 0x4800_0000n, size: 0x1000n }],
    root: makeNode(
      '',
      [
        makeProp('compatible', stringValue('kboot,test')),
        makeProp('#address-cells', u32Value(2)),
        makeProp('#size-cells', u32Value(2)),
      ],
      [
        makeNode('chosen', [makeProp('bootargs', stringValue('-v'))]),
        makeNode('memory@40000000', [
          makeProp('device_type', stringValue('memory')),
          makeProp('reg', u64Value(0x4000_0000n, 0x4000_0000n)),
        ]),
        makeNode('soc', [makeProp('flag', emptyValue())], [makeNode('leaf', [makeProp('v', u32Value(7))])]),
      ],
    ),
  };
}

/** A QEMU-virt-like machine with RAM above 4 GiB, a reservation and a memreserve entry. */
export const MACHINE: MachineFdtDescription = {
  model: 'kboot virt test',
  compatible: 'linux,dummy-virt',
  cpus: 4,
  memory: [
    { start: 0x4000_0000n, size: 0x8000_0000n },
    { start: 0x1_0000_0000n, size: 0x4000_0000n },
  ],
  reserved: [{ name: 'rescue', start: 0x6000_0000n, size: 0x1000_0000n, noMap: true }],
  memReserve: [{ address: 0x4800_0000n, size: 0x1_0000n }],
  uart: { base: 0x0900_0000n, size: 0x1000n },
  gic: { distributor: 0x0800_0000n, redistributor: 0x080a_0000n, redistributorSize: 0x00f6_0000n, its: 0x0808_0000n },
  bootargs: 'console=ttyAMA0',
};

export function machineFdt(): Fdt {
  return buildMachineFdt(MACHINE);
}

interface RawNode {
  props: { name: string; value: Uint8Array }[];
  children: [string, RawNode][];
}

function toNode(name: string, raw: RawNode): FdtNode {
  return {
    name,
    props: raw.props.map((p) => ({ name: p.name, value: p.value })),
    children: raw.children.map(([n, c]) => toNode(n, c)),
  };
}

const chars = (set: string): fc.Arbitrary<string> => fc.constantFrom(...set.split(''));
const word = (set: string, max: number): fc.Arbitrary<string> =>
  fc.array(chars(set), { minLength: 1, maxLength: max }).map((a) => a.join(''));

/**
 * Random valid trees. `dtcClean` restricts names so that dtc has nothing to say about them:
 * no unit addresses (they would need `reg`) and property names made of `q-` and hex digits
 * (no accidental `clocks`, `*-gpios`, `reg`, ... that dtc checks by name).
 */
export function arbFdt(opts: { dtcClean: boolean }): fc.Arbitrary<Fdt> {
  const nodeName = opts.dtcClean
    ? word('abcdefghjkmnrtuvwxyz0123456789', 8).map((w) => `n${w}`)
    : fc
        .tuple(
          word('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-', 10),
          fc.option(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { nil: undefined }),
        )
        .map(([w, unit]) => (unit === undefined ? w : `${w}@${unit.toString(16)}`));
  const propName = opts.dtcClean
    ? word('0123456789abcdef', 8).map((w) => `q-${w}`)
    : word('abcdefghijklmnopqrstuvwxyz0123456789,._+?#*-', 12);
  const props = fc.uniqueArray(fc.record({ name: propName, value: fc.uint8Array({ maxLength: 24 }) }), {
    selector: (p) => p.name,
    maxLength: 5,
  });
  const { node } = fc.letrec<{ node: RawNode }>((tie) => ({
    node: fc.record({
      props,
      children: fc.oneof(
        { maxDepth: 4, depthIdentifier: 'fdt-tree' },
        fc.constant<[string, RawNode][]>([]),
        fc.uniqueArray(fc.tuple(nodeName, tie('node')), { selector: (c) => c[0], maxLength: 4 }),
      ),
    }),
  }));
  const memReserve = fc.array(
    fc
      .record({ address: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), size: fc.bigInt({ min: 1n, max: 1n << 40n }) })
      .filter((e) => e.address + e.size <= 1n << 64n),
    { maxLength: 3 },
  );
  return fc.record({
    bootCpuidPhys: fc.integer({ min: 0, max: 0xffff_ffff }),
    memReserve,
    root: node.map((raw) => toNode('', raw)),
  });
}

/** A plain, comparable form of a tree (values as hex strings, bigints as strings). */
export function plain(fdt: Fdt): unknown {
  const n = (node: FdtNode): unknown => ({
    name: node.name,
    props: node.props.map((p) => [p.name, Buffer.from(p.value).toString('hex')]),
    children: node.children.map(n),
  });
  return {
    bootCpuidPhys: fdt.bootCpuidPhys,
    memReserve: fdt.memReserve.map((e) => [e.address.toString(16), e.size.toString(16)]),
    root: n(fdt.root),
  };
}

/** Big-endian u32 read/write on a copy of a blob, for one-field mutations. */
export function getU32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, false);
}
export function withU32(b: Uint8Array, off: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(off, v >>> 0, false);
  return c;
}
export function withBytes(b: Uint8Array, off: number, bytes: readonly number[]): Uint8Array {
  const c = b.slice();
  c.set(bytes, off);
  return c;
}

/** Structure-block pieces for hand-assembled blobs (independent of writeFdt). */
export const TOK = { BEGIN: 1, END_NODE: 2, PROP: 3, NOP: 4, END: 9 } as const;

function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}
function pad4(b: number[]): number[] {
  while (b.length % 4 !== 0) b.push(0);
  return b;
}
export const asm = {
  begin: (name: string): number[] => [...be32(TOK.BEGIN), ...pad4([...Buffer.from(name, 'latin1'), 0])],
  prop: (nameoff: number, value: readonly number[]): number[] => [
    ...be32(TOK.PROP),
    ...be32(value.length),
    ...be32(nameoff),
    ...pad4([...value]),
  ],
  endNode: (): number[] => be32(TOK.END_NODE),
  nop: (): number[] => be32(TOK.NOP),
  end: (): number[] => be32(TOK.END),
  word: be32,
};

/**
 * Assembles a version 17 blob by hand: header, reservation entries and terminator, the given
 * structure bytes, the given strings block. `header` overrides computed header fields.
 */
export function rawBlob(parts: {
  struct: readonly number[];
  strings: string;
  rsv?: readonly [bigint, bigint][];
  header?: Partial<Record<'magic' | 'version' | 'lastCompVersion' | 'bootCpuidPhys', number>>;
}): Uint8Array {
  const rsv = parts.rsv ?? [];
  const strings = Buffer.from(parts.strings, 'latin1');
  const offRsv = 40;
  const offStruct = offRsv + 16 * (rsv.length + 1);
  const offStrings = offStruct + parts.struct.length;
  const total = offStrings + strings.length;
  const b = new Uint8Array(total);
  const dv = new DataView(b.buffer);
  const h = parts.header ?? {};
  const words = [
    h.magic ?? 0xd00dfeed,
    total,
    offStruct,
    offStrings,
    offRsv,
    h.version ?? 17,
    h.lastCompVersion ?? 16,
    h.bootCpuidPhys ?? 0,
    strings.length,
    parts.struct.length,
  ];
  words.forEach((w, i) => dv.setUint32(4 * i, w, false));
  rsv.forEach(([a, s], i) => {
    dv.setBigUint64(offRsv + 16 * i, a, false);
    dv.setBigUint64(offRsv + 16 * i + 8, s, false);
  });
  b.set(parts.struct, offStruct);
  b.set(strings, offStrings);
  return b;
}
