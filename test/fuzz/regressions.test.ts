// Escapes the fuzz targets found, kept as fixtures (test/fixtures/fuzz/, README.md there says
// where each came from): each input now gets its parser's own error, with the code asserted.
// Each test fails on the code before its fix (the escape it names).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { packagePath } from '../../loader/paths.js';
import { ConfigCode } from '../../loader/errors.js';
import { findNode, parseFdt } from '../../loader/handoff/fdt/index.js';
import { hostFirmware } from '../../loader/plan/firmware.js';
import { buildMemoryMap } from '../../loader/plan/memory-map.js';
import { parseProfile } from '../../loader/plan/profile.js';
import { parseLoaderConf } from '../../loader/preload/index.js';
import { DumpCode } from '../../dump/errors.js';
import { openMinidump } from '../../dump/reader.js';
import { throwsCode } from '../helpers/errors.js';
import { fuzzTarget } from './registry.js';

const fixture = (name: string): Buffer => readFileSync(packagePath('test', 'fixtures', 'fuzz', name));

t.test('a minidump whose pmapsize is not a multiple of 8: KVA reads are DUMP_NOT_MAPPED, not a RangeError', (t) => {
  // was: RangeError "The number 512.125 cannot be converted to a BigInt" in readKva
  const d = openMinidump(fixture('minidump-pmapsize-not-multiple-of-8.bin'));
  t.equal(d.header.pmapsize % 8, 1, 'the fixture keeps the odd pmapsize');
  // 4097 bytes hold 512 whole PDEs: the first maps kernbase, the 513th would be the partial one
  const first = throwsCode(t, () => d.readKva(d.header.kernbase + 0x1000n, 16), DumpCode.NotMapped);
  t.equal(first?.details['why'], 'PDE invalid', 'a whole entry is read');
  const past = throwsCode(t, () => d.readKva(d.header.kernbase + 512n * 0x20_0000n, 16), DumpCode.NotMapped);
  t.equal(past?.details['why'], 'outside the page-table section', 'the partial entry is not');
  t.end();
});

t.test(
  'a profile whose LPI configuration table starts 4 KiB below 2^64: CONFIG_INVALID naming it, not an AddrError',
  (t) => {
    // was: AddrError ADDR_OVERFLOW "range 0xfffffffffffff000 + 0x10000 passes 2^64" out of parseProfile
    const text = fixture('profile-lpi-table-past-2-64.json').toString('utf8');
    const e = throwsCode(t, () => parseProfile(text, 'board.json'), ConfigCode.Invalid);
    const problems = (e?.details['problems'] ?? []) as { path: string }[];
    t.ok(
      problems.some((p) => p.path === '/gic/lpiConfTable'),
      'the problem names /gic/lpiConfTable',
    );
    const pend = JSON.parse(text) as { gic: { lpiConfTable: string; lpiPendTables: string[] } };
    pend.gic.lpiConfTable = '0x40000000';
    pend.gic.lpiPendTables[0] = '0xfffffffffffff000';
    const e2 = throwsCode(t, () => parseProfile(JSON.stringify(pend), 'board.json'), ConfigCode.Invalid);
    t.ok(
      ((e2?.details['problems'] ?? []) as { path: string }[]).some((p) => p.path === '/gic/lpiPendTables/0'),
      'a pending table there is named too',
    );
    t.end();
  },
);

t.test(
  'loader.conf variables that expand each other: CONFIG_EXPANSION_TOO_LARGE at the line, not 1.5 GiB and a RangeError',
  (t) => {
    // was: RangeError "Invalid string length" after building strings of 2^28 characters (issue 11 item 3)
    const text = fixture('loader-conf-expansion-bomb.conf').toString('utf8');
    const e = throwsCode(t, () => parseLoaderConf(text, '/boot/loader.conf'), ConfigCode.ExpansionTooLarge);
    t.match(e?.details, { file: '/boot/loader.conf', line: Number });
    const wide = [`v0="${'x'.repeat(0xf000)}"`, ...Array.from({ length: 19 }, (_, i) => `v${i + 1}="$v0"`)].join('\n');
    const all = throwsCode(
      t,
      () => parseLoaderConf(wide, '/boot/loader.conf', { limits: { maxEnvBytes: 1 << 20 } }),
      ConfigCode.ExpansionTooLarge,
    );
    t.match(all?.details, { file: '/boot/loader.conf', line: Number }, 'all values together are bounded too');
    t.doesNotThrow(() => parseLoaderConf(wide, '/boot/loader.conf'), 'within the default limits');
    t.end();
  },
);

t.test(
  'a profile whose GIC distributor overlaps the redistributors: CONFIG_INVALID, not an FdtError from the machine DTB',
  (t) => {
    // was: HandoffError FDT_BAD_RANGE "machine address map: ranges overlap" when the profile was used (hostFirmware)
    const text = fixture('profile-gic-windows-overlap.json').toString('utf8');
    const e = throwsCode(t, () => parseProfile(text, 'board.json'), ConfigCode.Invalid);
    t.match(e?.details['problems'], [
      { path: '/gic/redistributor', message: /GIC distributor and GIC redistributors overlap/ },
    ]);
    const edit = (f: (g: Record<string, string>, p: Record<string, unknown>) => void): string => {
      const p = JSON.parse(text) as Record<string, unknown> & { gic: Record<string, string> };
      p.gic['distributor'] = '0x08000000';
      f(p.gic, p);
      return JSON.stringify(p);
    };
    t.doesNotThrow(
      () =>
        parseProfile(
          edit(() => undefined),
          'board.json',
        ),
      'apart, it is fine',
    );
    const cases: [string, (g: Record<string, string>, p: Record<string, unknown>) => void, string][] = [
      ['past 2^64', (g) => (g['its'] = '0xfffffffffffff000'), '/gic/its'],
      ['too small for the CPUs', (g) => (g['redistributorSize'] = '0x20000'), '/gic/redistributorSize'],
      ['in RAM', (g) => (g['its'] = '0x40200000'), '/gic/its'],
      ['the UART on the ITS', (_g, p) => (p['uart'] = { kind: 'pl011', base: '0x08080000', size: '0x1000' }), '/uart'],
    ];
    for (const [what, f, path] of cases) {
      const x = throwsCode(t, () => parseProfile(edit(f), 'board.json'), ConfigCode.Invalid, what);
      t.ok(
        ((x?.details['problems'] ?? []) as { path: string }[]).some((p) => p.path === path),
        `${what}: ${path} named`,
      );
    }
    t.end();
  },
);

t.test('a reserved range named with characters a DTB node cannot hold: the host DTB names it with `-`', (t) => {
  // was: HandoffError FDT_BAD_NAME building the host DTB of an arm64 FDT profile (any "ACPI tables" or "fw/x" name)
  const p = parseProfile(fixture('profile-reserved-name-not-a-node-name.json').toString('utf8'), 'board.json');
  t.equal(p.reserved[0]?.name, '../schemas/machine.schema.json', 'the profile keeps its label');
  const fw = hostFirmware(p, buildMemoryMap(p));
  t.equal(fw.kind, 'fdt');
  const rm = fw.kind === 'fdt' ? findNode(parseFdt(fw.bytes), '/reserved-memory') : undefined;
  t.same(
    rm?.children.map((c) => c.name),
    ['..-schemas-machine.schema.json@40000000'],
    'dtc-valid node name',
  );
  t.end();
});

t.test('a host hand-off whose DTB /memory runs past 2^64: decoded (whole pages below 2^64), not an AddrError', (t) => {
  // was: AddrError ADDR_TOO_LARGE "physical address does not fit in 64 bits (0x1000000b800000000)" in pageInward
  const target = fuzzTarget('host-handoff');
  if (target === undefined) throw new Error('no host-handoff fuzz target');
  const run = target.prepare().fromBytes(fixture('host-handoff-memory-past-2-64.bin'));
  let escaped: unknown;
  try {
    run.run();
  } catch (e) {
    escaped = target.errors.some((c) => e instanceof c) ? undefined : e;
  }
  t.equal(escaped, undefined, "only the target's own errors");
  t.end();
});

t.test(
  'a profile whose host kenv entry is longer than the kernel keeps: CONFIG_INVALID naming it, not a HandoffError from plan',
  (t) => {
    // was: HandoffError HANDOFF_KENV_TOO_LARGE out of planRescue (fuzz target plan, seed 688729058, run 1159)
    const raw = JSON.parse(readFileSync(packagePath('profiles', 'amd64-efi.json'), 'utf8')) as {
      hostKernel: { kenv?: string[] };
    };
    raw.hostKernel.kenv = [...(raw.hostKernel.kenv ?? []), `vfs.root.mountfrom=${'x'.repeat(300)}`];
    const e = throwsCode(t, () => parseProfile(JSON.stringify(raw), 'board.json'), ConfigCode.Invalid);
    const problems = (e?.details['problems'] ?? []) as { path: string }[];
    t.ok(
      problems.some((p) => p.path.startsWith('/hostKernel/kenv/')),
      'the problem names the kenv entry',
    );
    t.end();
  },
);
