// kboot's FDT reader and writer against the Device Tree Compiler (Debian device-tree-compiler:
// `dtc` 1.6, `fdtget`, `fdtdump`), an implementation we did not write:
//  - every blob the writer produces in these tests (machine trees, rescue rewrites, reserved
//    memory, random trees) decompiles with `dtc -I dtb -O dts` with rc 0 and EMPTY stderr;
//  - fdtdump's view of our header matches what we wrote;
//  - a DTS compiled by `dtc -I dts -O dtb` parses with parseFdt to the same nodes and values
//    (every property compared with `fdtget -t bx`, structure compared by decompiling both);
//  - `/memory` reg rewriting under #address-cells/#size-cells 1/1, 2/1, 2/2 read with `fdtget -t x`;
//  - memreserve entries and /reserved-memory children visible in dtc's output.
// Skips cleanly only when the tools are not installed (fails under CI=true).
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FdtHeader,
  addMemReserve,
  addReservedMemory,
  parseFdt,
  readMemoryRanges,
  rewriteMemoryReg,
  writeFdt,
  type Fdt,
  type FdtNode,
} from '../../loader/handoff/fdt/index.js';
import { MACHINE, arbFdt, goodFdt, machineFdt, plain } from '../unit/loader/handoff/fdt-fixtures.js';
import { buildMachineFdt } from '../../loader/plan/host-fdt.js';
import { requireTool } from '../helpers/tools.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: readonly string[]): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const missing = requireTool('dtc', 'fdtget', 'fdtdump').skip ?? false;

const dir = mkdtempSync(join(tmpdir(), 'kboot-dtc-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
function file(bytes: Uint8Array | string, ext: string): string {
  const p = join(dir, `f${seq++}.${ext}`);
  writeFileSync(p, bytes);
  return p;
}

/** dtc decompile; asserts rc 0 and empty stderr; returns the DTS text. */
function decompileClean(tt: Test, blob: Uint8Array, what: string): string {
  const r = run('dtc', ['-I', 'dtb', '-O', 'dts', file(blob, 'dtb')]);
  tt.equal(r.status, 0, `${what}: dtc rc 0`);
  tt.equal(r.stderr, '', `${what}: dtc says nothing on stderr`);
  return r.stdout;
}
/** dtc compile of DTS source; asserts success. */
function compile(tt: Test, dts: string, what: string): Uint8Array {
  const out = join(dir, `c${seq++}.dtb`);
  const r = run('dtc', ['-I', 'dts', '-O', 'dtb', '-o', out, file(dts, 'dts')]);
  tt.equal(r.status, 0, `${what}: dtc compiles`);
  tt.equal(r.stderr, '', `${what}: dtc compiles without warnings`);
  return new Uint8Array(readFileSync(out));
}

const RESCUE = { start: 0x6000_0000n, size: 0x1000_0000n };

/** The rescue variant: memory = the reservation, the reservation listed, a memreserve entry. */
function rescueFdt(): Fdt {
  let fdt = rewriteMemoryReg(machineFdt(), [RESCUE]);
  fdt = addReservedMemory(fdt, { name: 'its-tables', start: 0x7000_0000n, size: 0x2_0000n, noMap: true });
  return addMemReserve(fdt, 0x7100_0000n, 0x1000n);
}

function cellsDts(ac: number, sc: number): string {
  const reg = (addr: bigint, size: bigint): string => {
    const cells = (v: bigint, n: number): string[] =>
      n === 1 ? [`0x${v.toString(16)}`] : [`0x${(v >> 32n).toString(16)}`, `0x${(v & 0xffff_ffffn).toString(16)}`];
    return `<${[...cells(addr, ac), ...cells(size, sc)].join(' ')}>`;
  };
  return `/dts-v1/;
/ {
	#address-cells = <${ac}>;
	#size-cells = <${sc}>;
	compatible = "kboot,cells-${ac}-${sc}";
	chosen { };
	memory@40000000 { device_type = "memory"; reg = ${reg(0x4000_0000n, 0x1000_0000n)}; };
	memory@80000000 { device_type = "memory"; reg = ${reg(0x8000_0000n, 0x1000_0000n)}; };
};
`;
}

t.test('dtc decompiles every blob the writer produces, without warnings', { skip: missing }, (t) => {
  const { gic: _gic, uart: _uart, reserved: _r, memReserve: _m, bootargs: _b, ...bare } = MACHINE;
  const blobs: [string, Fdt][] = [
    ['good fixture', goodFdt()],
    ['machine', machineFdt()],
    ['bare machine (defaults)', buildMachineFdt(bare)],
    ['machine, 20 CPUs', buildMachineFdt({ ...bare, cpus: 20 })],
    [
      'machine without ITS',
      buildMachineFdt({
        ...MACHINE,
        gic: { distributor: 0x0800_0000n, redistributor: 0x080a_0000n, redistributorSize: 0x8_0000n },
      }),
    ],
    ['rescue rewrite + reserved-memory + memreserve', rescueFdt()],
    [
      'reserved-memory created on a tree without it',
      addReservedMemory(goodFdt(), { name: 'r', ...RESCUE, noMap: false }),
    ],
  ];
  for (const [ac, sc] of [
    [1, 1],
    [2, 1],
    [2, 2],
  ] as const) {
    const src = parseFdt(compile(t, cellsDts(ac, sc), `cells ${ac}/${sc}`));
    blobs.push([`cells ${ac}/${sc} rewritten`, rewriteMemoryReg(src, [{ start: 0x5000_0000n, size: 0x100_0000n }])]);
    blobs.push([
      `cells ${ac}/${sc} + reserved-memory`,
      addReservedMemory(src, { name: 'rescue', start: 0x5000_0000n, size: 0x100_0000n, noMap: true }),
    ]);
  }
  fc.sample(arbFdt({ dtcClean: true }), { numRuns: 25, seed: 20250101 }).forEach((fdt, i) =>
    blobs.push([`random tree #${i}`, fdt]),
  );
  for (const [what, fdt] of blobs) {
    const blob = writeFdt(fdt);
    decompileClean(t, blob, what);
    // dtc as an independent writer: its re-encoding of our blob parses to the same tree.
    const again = join(dir, `r${seq++}.dtb`);
    const r = run('dtc', ['-I', 'dtb', '-O', 'dtb', '-o', again, file(blob, 'dtb')]);
    t.equal(r.status, 0, `${what}: dtc re-encodes`);
    t.same(plain(parseFdt(new Uint8Array(readFileSync(again)))), plain(fdt), `${what}: dtc's re-encoding reads back`);
  }
  t.end();
});

t.test('fdtdump reads our header as written', { skip: missing }, (t) => {
  const blob = writeFdt(rescueFdt());
  const h = FdtHeader.decode(blob);
  const r = run('fdtdump', [file(blob, 'dtb')]);
  t.equal(r.status, 0);
  const field = (name: string): number => {
    const m = new RegExp(`// ${name}:\\s+0x([0-9a-f]+)`).exec(r.stdout);
    return m?.[1] === undefined ? -1 : parseInt(m[1], 16);
  };
  const dec = (name: string): number => {
    const m = new RegExp(`// ${name}:\\s+(\\d+)`).exec(r.stdout);
    return m?.[1] === undefined ? -1 : parseInt(m[1], 10);
  };
  t.equal(field('magic'), 0xd00dfeed);
  t.equal(field('totalsize'), blob.length);
  t.equal(field('off_dt_struct'), h.offDtStruct);
  t.equal(field('off_dt_strings'), h.offDtStrings);
  t.equal(field('off_mem_rsvmap'), h.offMemRsvmap);
  t.equal(dec('version'), 17);
  t.equal(dec('last_comp_version'), 16);
  t.equal(field('size_dt_strings'), h.sizeDtStrings);
  t.equal(field('size_dt_struct'), h.sizeDtStruct);
  t.match(r.stdout, /\/memreserve\/ 0x48000000 0x10000;/);
  t.match(r.stdout, /\/memreserve\/ 0x71000000 0x1000;/);
  t.end();
});

// No string here is a suffix of another, so dtc's string table (which shares suffixes) is
// laid out exactly as kboot's and the two blobs must be byte-identical.
const SAMPLE_DTS = `/dts-v1/;
/memreserve/ 0x48000000 0x10000;
/memreserve/ 0x1 0x2;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	compatible = "kboot,sample", "kboot,any";
	model = "sample board";
	interrupt-parent = <&gic>;

	chosen {
		bootargs = "-v rescue";
		kaslr-seed = /bits/ 64 <0x0123456789abcdef>;
	};

	memory@40000000 {
		device_type = "memory";
		reg = <0x0 0x40000000 0x0 0x20000000>, <0x1 0x0 0x0 0x10000000>;
	};

	gic: intc@8000000 {
		compatible = "arm,gic-v3";
		interrupt-controller;
		#interrupt-cells = <3>;
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;
		reg = <0x0 0x8000000 0x0 0x10000>, <0x0 0x80a0000 0x0 0xf60000>;
		its@8080000 {
			compatible = "arm,gic-v3-its";
			msi-controller;
			#msi-cells = <1>;
			reg = <0x0 0x8080000 0x0 0x20000>;
		};
	};

	blob {
		bytes = [00 01 fe ff 7f];
		u8s = /bits/ 8 <1 2 3>;
		u16s = /bits/ 16 <0xbeef 0x1>;
		empty;
		mixed = "a", <0x11223344>, [55];
	};
};
`;

/** Every (path, prop) of a tree, in order. */
function allProps(
  node: FdtNode,
  path: string,
  out: [string, string, Uint8Array][] = [],
): [string, string, Uint8Array][] {
  for (const p of node.props) out.push([path, p.name, p.value]);
  for (const c of node.children) allProps(c, `${path === '/' ? '' : path}/${c.name}`, out);
  return out;
}

t.test('a DTS compiled by dtc reads back with parseFdt', { skip: missing }, (t) => {
  const dtcBlob = compile(t, SAMPLE_DTS, 'sample');
  const fdt = parseFdt(dtcBlob);
  t.same(fdt.memReserve, [
    { address: 0x4800_0000n, size: 0x1_0000n },
    { address: 1n, size: 2n },
  ]);
  // Every property value, as fdtget prints its bytes (one invocation, one line per property).
  const props = allProps(fdt.root, '/');
  t.ok(props.length >= 20, `${props.length} properties`);
  const r = run('fdtget', ['-t', 'bx', file(dtcBlob, 'dtb'), ...props.flatMap(([path, name]) => [path, name])]);
  t.equal(r.status, 0, 'fdtget rc 0');
  const lines = r.stdout.split('\n');
  props.forEach(([path, name, value], i) => {
    t.equal(lines[i], [...value].map((b) => b.toString(16)).join(' '), `${path} ${name}`);
  });
  // Structure: every node's subnodes and property names, as fdtget lists them.
  const walk = (node: FdtNode, path: string): void => {
    const sub = run('fdtget', ['-l', file(dtcBlob, 'dtb'), path]);
    t.same(
      sub.stdout.split('\n').filter((l) => l !== ''),
      node.children.map((c) => c.name),
      `${path}: subnodes`,
    );
    const ps = run('fdtget', ['-p', file(dtcBlob, 'dtb'), path]);
    t.same(
      ps.stdout.split('\n').filter((l) => l !== ''),
      node.props.map((p) => p.name),
      `${path}: properties`,
    );
    for (const c of node.children) walk(c, `${path === '/' ? '' : path}/${c.name}`);
  };
  walk(fdt.root, '/');
  // dtc added the phandle for &gic; we see it as a plain property.
  t.ok(
    props.some(([path, name]) => path === '/intc@8000000' && name === 'phandle'),
    'dtc-generated phandle',
  );
  // Writing it back: byte-identical to dtc's blob, and the same DTS when decompiled.
  const ours = writeFdt(fdt);
  t.equal(Buffer.from(ours).toString('hex'), Buffer.from(dtcBlob).toString('hex'), 'byte-identical to dtc');
  t.equal(decompileClean(t, ours, 'ours'), decompileClean(t, dtcBlob, 'dtc'), 'same DTS from both blobs');
  t.end();
});

t.test('/memory reg rewriting under cells 1/1, 2/1, 2/2, read with fdtget -t x', { skip: missing }, (t) => {
  const ranges = [
    { start: 0x5000_0000n, size: 0x100_0000n },
    { start: 0x7000_0000n, size: 0x2000n },
  ];
  const expected: Record<string, string> = {
    '1/1': '50000000 1000000 70000000 2000',
    '2/1': '0 50000000 1000000 0 70000000 2000',
    '2/2': '0 50000000 0 1000000 0 70000000 0 2000',
  };
  for (const [ac, sc] of [
    [1, 1],
    [2, 1],
    [2, 2],
  ] as const) {
    const key = `${ac}/${sc}`;
    const src = compile(t, cellsDts(ac, sc), `cells ${key}`);
    const before = run('fdtget', ['-t', 'x', file(src, 'dtb'), '/memory@40000000', 'reg']);
    t.same(readMemoryRanges(parseFdt(src)), [
      { start: 0x4000_0000n, size: 0x1000_0000n },
      { start: 0x8000_0000n, size: 0x1000_0000n },
    ]);
    t.equal(before.status, 0);
    const out = writeFdt(rewriteMemoryReg(parseFdt(src), ranges));
    const path = file(out, 'dtb');
    const reg = run('fdtget', ['-t', 'x', path, '/memory@50000000', 'reg']);
    t.equal(reg.status, 0, `${key}: fdtget rc 0`);
    t.equal(reg.stdout.trim(), expected[key], `${key}: reg cells`);
    const nodes = run('fdtget', ['-l', path, '/'])
      .stdout.split('\n')
      .filter((l) => l !== '');
    t.same(nodes, ['chosen', 'memory@50000000'], `${key}: exactly one memory node`);
    t.equal(run('fdtget', ['-t', 's', path, '/memory', 'device_type']).stdout.trim(), 'memory');
    decompileClean(t, out, `cells ${key}`);
  }
  t.end();
});

t.test('memreserve and /reserved-memory appear in dtc output', { skip: missing }, (t) => {
  const blob = writeFdt(rescueFdt());
  const dts = decompileClean(t, blob, 'rescue');
  t.match(dts, /\/memreserve\/\s+0x0000000048000000 0x0000000000010000;/, 'machine memreserve');
  t.match(dts, /\/memreserve\/\s+0x0000000071000000 0x0000000000001000;/, 'added memreserve');
  t.match(dts, /reserved-memory \{[^}]*#address-cells = <0x02>;\s*#size-cells = <0x02>;\s*ranges;/s);
  t.match(dts, /rescue@60000000 \{\s*reg = <0x00 0x60000000 0x00 0x10000000>;\s*no-map;\s*\};/);
  t.match(dts, /its-tables@70000000 \{\s*reg = <0x00 0x70000000 0x00 0x20000>;\s*no-map;\s*\};/);
  t.match(dts, /memory@60000000 \{[^}]*reg = <0x00 0x60000000 0x00 0x10000000>;/s, 'memory = the reservation');
  const path = file(blob, 'dtb');
  t.equal(
    run('fdtget', ['-t', 'x', path, '/reserved-memory/its-tables@70000000', 'reg']).stdout.trim(),
    '0 70000000 0 20000',
  );
  t.equal(run('fdtget', ['-t', 'x', path, '/memory', 'reg']).stdout.trim(), '0 60000000 0 10000000');
  t.end();
});
