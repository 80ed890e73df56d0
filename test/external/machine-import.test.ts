// The DTB importer and the rescue DTB of an imported board against the Device Tree Compiler
// (`dtc` 1.6, Debian device-tree-compiler), which we did not write:
//  - for every fixture DTB, the memory nodes and their reg ranges dtc decompiles (read off
//    the DTS text with the root's #address-cells / #size-cells) are the importer's;
//  - the rescue DTB kboot writes for an imported board (`kboot machine rescue-dtb`)
//    decompiles with rc 0, with no warning the board's own DTB does not already give, and
//    shows the reservation as the only RAM (one memory node, reg = <rescue_pa memsize>), with
//    the loader's /chosen fixup-applied.
// Skips only when dtc is not installed.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importDtb } from '../../loader/import/index.js';
import { packagePath } from '../../loader/paths.js';
import { memoryIo } from '../../cli/io.js';
import { Exit, runCli } from '../../cli/run.js';
import { buildProbeKernel } from '../../kernels/probe/index.js';
import { BOARD_MEMORY } from '../helpers/boards.js';

const haveDtc = spawnSync('dtc', ['--version']).status === 0;
const skip = haveDtc ? false : 'dtc is not installed';
const dir = mkdtempSync(join(tmpdir(), 'kboot-machine-dtc-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const fixtures = packagePath('test', 'fixtures', 'dtb');

function decompile(file: string): { rc: number | null; dts: string; warnings: string[] } {
  const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
  return { rc: r.status, dts: r.stdout, warnings: r.stderr.split('\n').filter((l) => l.trim() !== '') };
}

/** The top-level memory nodes dtc prints and their reg as (start, size) pairs. */
function dtsMemory(dts: string): { name: string; ranges: [bigint, bigint][] }[] {
  const cell = (name: string): number =>
    Number(new RegExp(`^\\t${name} = <(0x[0-9a-f]+)>;`, 'm').exec(dts)?.[1] ?? 'NaN');
  const ac = cell('#address-cells');
  const sc = cell('#size-cells');
  const out: { name: string; ranges: [bigint, bigint][] }[] = [];
  for (const m of dts.matchAll(/^\t(memory(?:@[0-9a-f]+)?) \{\n([\s\S]*?)^\t\};/gm)) {
    const reg = /^\t\treg = <([^>]*)>;/m.exec(m[2] ?? '')?.[1] ?? '';
    const cells = reg
      .split(/\s+/)
      .filter((x) => x !== '')
      .map((x) => BigInt(x));
    const ranges: [bigint, bigint][] = [];
    const num = (at: number, n: number): bigint => cells.slice(at, at + n).reduce((v, c) => (v << 32n) | c, 0n);
    for (let i = 0; i + ac + sc <= cells.length; i += ac + sc) ranges.push([num(i, ac), num(i + ac, sc)]);
    out.push({ name: m[1] ?? '', ranges });
  }
  return out;
}

t.test('memory nodes: the importer reads what dtc decompiles', { skip }, async (t) => {
  for (const f of readdirSync(fixtures).filter((n) => n.endsWith('.dtb'))) {
    const { rc, dts } = decompile(join(fixtures, f));
    t.equal(rc, 0, `${f}: dtc`);
    const want = dtsMemory(dts).filter((n) => n.ranges.some(([, s]) => s > 0n));
    if (want.length === 0) continue; // no /memory, or size 0: the importer asks for --memory (unit tests)
    const got = importDtb(readFileSync(join(fixtures, f))).memoryNodes;
    t.same(
      got.map((n) => ({ name: n.path.slice(1), ranges: n.ranges.map((r) => [r.start, r.size]) })),
      want,
      `${f}: ${want.length} memory node(s)`,
    );
  }
});

t.test('the rescue DTB of an imported board: dtc-clean, the reservation the only RAM', { skip }, async (t) => {
  writeFileSync(join(dir, 'probe.elf'), buildProbeKernel('arm64', { mode: 'rescue' }));
  for (const board of [
    'freescale_imx8mq-evk',
    'cavium_thunder-88xx',
    'qemu-virt-gicv3-its',
    'broadcom_bcm2711-rpi-4-b',
  ]) {
    const io = memoryIo(dir);
    const memory = (BOARD_MEMORY[board] ?? []).flatMap((r) => [
      '--memory',
      `0x${r.start.toString(16)}:0x${r.size.toString(16)}`,
    ]);
    t.equal(
      await runCli(['machine', 'import', '--dtb', join(fixtures, `${board}.dtb`), ...memory], io),
      Exit.Ok,
      `${board}: import`,
    );
    const out = memoryIo(dir);
    t.equal(
      await runCli(
        [
          '--json',
          'machine',
          'rescue-dtb',
          `${board}.json`,
          'probe.elf',
          '-o',
          `${board}.rescue.dtb`,
          '--its-handoff',
          'none',
        ],
        out,
      ),
      Exit.Ok,
    );
    const res = JSON.parse(out.stdout()) as { reservation: { start: string; size: string } };
    const rescue = decompile(join(dir, `${board}.rescue.dtb`));
    const original = decompile(join(fixtures, `${board}.dtb`));
    t.equal(rescue.rc, 0, `${board}: dtc decompiles the rescue DTB`);
    t.same(
      rescue.warnings.filter((w) => !original.warnings.includes(w)),
      [],
      `${board}: no warning the board's own DTB does not give`,
    );
    const mem = dtsMemory(rescue.dts);
    t.equal(mem.length, 1, `${board}: one memory node`);
    t.same(
      mem[0]?.ranges,
      [[BigInt(res.reservation.start), BigInt(res.reservation.size)]],
      `${board}: its reg is <rescue_pa memsize>`,
    );
    t.match(rescue.dts, /\tchosen \{[^}]*fixup-applied;/, `${board}: the loader's /chosen fixup-applied`);
  }
});
