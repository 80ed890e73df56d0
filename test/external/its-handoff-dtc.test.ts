// dtc (device-tree-compiler) decompiles the rescue DTB of an `--its-handoff fdt` plan on
// arm64-fdt (loader/plan/rescue-area.ts itsFdt) and shows a no-map /reserved-memory child per
// live LPI table, and the tables in /memory; the `none` plan's DTB has none of them.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseElf } from '../../loader/elf/reader.js';
import { lpiTableRanges, type ItsHandoffMode } from '../../loader/plan/its-handoff.js';
import { loadProfile } from '../../loader/plan/profile.js';
import { planRescue } from '../../loader/plan/rescue-plan.js';
import { makeRescueKernel } from '../helpers/kernels.js';
import { requireTool } from '../helpers/tools.js';

function dts(mode: ItsHandoffMode, dir: string): string {
  const p = planRescue({
    kernel: parseElf(makeRescueKernel('arm64')),
    kernelName: 'k',
    profile: loadProfile('arm64-fdt'),
    itsHandoff: mode,
  });
  const dtb = p.segments.find((s) => s.label === 'device tree copy');
  const file = join(dir, `${mode}.dtb`);
  writeFileSync(file, dtb?.data ?? new Uint8Array());
  const r = spawnSync('dtc', ['-q', '-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dtc failed: ${r.stderr}`);
  return r.stdout;
}

t.test('dtc shows the fdt-mode no-map nodes and /memory ranges', requireTool('dtc'), (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kboot-its-dtc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = dts('fdt', dir);
  const ranges = lpiTableRanges(loadProfile('arm64-fdt'));
  for (const r of ranges) {
    const node = new RegExp(`its-lpi@${r.start.toString(16)} \\{[^}]*no-map;[^}]*\\}`, 's');
    t.match(text, node, `its-lpi@${r.start.toString(16)} with no-map`);
  }
  const memReg = /memory@[0-9a-f]+ \{[^}]*reg = <([^>]*)>/s.exec(text)?.[1] ?? '';
  const cells = memReg
    .trim()
    .split(/\s+/)
    .map((c) => BigInt(c));
  const pairs: [bigint, bigint][] = [];
  for (let i = 0; i + 3 < cells.length; i += 4) {
    pairs.push([
      ((cells[i] ?? 0n) << 32n) | (cells[i + 1] ?? 0n),
      ((cells[i + 2] ?? 0n) << 32n) | (cells[i + 3] ?? 0n),
    ]);
  }
  for (const r of ranges)
    t.ok(
      pairs.some(([a, s]) => a === r.start && s === r.size),
      `/memory reg has ${r.start.toString(16)}`,
    );
  t.notMatch(dts('none', dir), /its-lpi@/, 'none: no ITS nodes');
  t.end();
});
