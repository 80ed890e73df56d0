// The compare report's three faces without an emulated machine: the terminal table (a
// column per strategy, a row per phase, armed-from facts, collapsed fault notes), the SVG
// timeline (title, legend, axis naming every phase, a row per strategy, ✓/✗ per phase, text
// escaped, tags balanced) and the JSON schema (accepts the report, rejects what is wrong).
import t from 'tap';
import { compareSvg, formatCompareTable, xmlEscape, type CompareReport } from '../../../compare/index.js';
import { validateJson } from '../../../loader/schema.js';
import { HOST_PHASES } from '../../../machine/host/timeline.js';
import { sampleReport } from './report-fixture.js';

/** The text content of every <text> element (its <title> tooltip left out), unescaped. */
function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text\b[^>]*>([^<]*)/g)].map((m) =>
    (m[1] ?? '')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&'),
  );
}

t.test('table: a column per strategy, armed-from, a row per phase, faults', (t) => {
  const text = formatCompareTable(sampleReport());
  const lines = text.split('\n');
  t.match(
    lines[0],
    /^kboot compare: rescue\.elf \(amd64 probe kernel, 12\.6 KiB\) on amd64-efi: 33 sessions in 14\.80 s$/,
  );
  t.match(text, /\n\s+embed\s+KLD\s+kexec\n/);
  t.match(text, /\narmed from\s+SI_SUB_VM_CONF\s+SI_SUB_VM_CONF\s+init \(userspace\)\n/);
  t.match(text, /\npanics rescued \(share of boot\)\s+6\/9 \(67%\)\s+6\/9 \(67%\)\s+3\/9 \(33%\)\n/);
  for (const phase of HOST_PHASES) t.match(text, new RegExp(`\\n  panic at ${phase}\\b`), `a row for ${phase}`);
  t.match(text, /\n {2}panic at drivers\s+✓ rescued\s+✓ rescued\s+✗\n/);
  t.match(text, /\n {2}panic at init \(userspace\)\s+✓ rescued\s+✓ rescued\s+✓ rescued\n/);
  t.match(text, /\nhost kernel growth\s+\+12\.6 KiB \(file \+141 KiB\)\s+-\s+-\n/);
  t.match(
    text,
    /\nreplace rescue kernel, no reboot\s+✗ rebuild \(300\.0 ms\)\s+✗ reboot \(300\.0 ms\)\s+✓ unload\+load, 9\.0 ms\n/,
  );
  t.match(text, /\nfault: GICv3 ITS still writing\s+n\/a\s+n\/a\s+n\/a\n/);
  t.match(text, /\nfault: corrupted staged segment\s+✓ detected\s+✓ detected\s+✓ detected\n/);
  t.match(text, /\nfaults handled\s+3\/3\s+3\/3\s+3\/3\n/);
  t.match(text, /\n {4}corrupted staged segment \(all\): purgatory refused the jump\n/, 'identical details once');
  t.match(text, /\n {4}embed: the embedded copy\n {4}KLD: the module\n {4}kexec: the userspace buffer\n/);
  t.ok(
    lines.every((l) => l === l.trimEnd()),
    'no trailing blanks',
  );
  t.end();
});

t.test('table: details that differ are listed per strategy', (t) => {
  const r = sampleReport();
  const p = r.profiles[0];
  if (p === undefined) throw new Error('no profile');
  const kexec = p.strategies[2];
  if (kexec === undefined) throw new Error('no kexec');
  const changed: CompareReport = {
    ...r,
    profiles: [
      {
        ...p,
        strategies: [
          ...p.strategies.slice(0, 2),
          {
            ...kexec,
            faults: kexec.faults.map((f) =>
              f.fault === 'corrupt-segment'
                ? { ...f, outcome: 'undetected' as const, detail: 'entered the damage' }
                : f,
            ),
          },
        ],
      },
    ],
  };
  const text = formatCompareTable(changed);
  t.match(text, /\nfault: corrupted staged segment\s+✓ detected\s+✓ detected\s+✗ undetected\n/);
  t.match(text, /\n {4}corrupted staged segment \(kexec\): entered the damage\n/);
  t.match(text, /\n {4}corrupted staged segment \(embed\): purgatory refused the jump\n/);
  t.end();
});

t.test('svg: a standalone chart that names every strategy and phase', (t) => {
  const svg = compareSvg(sampleReport());
  t.match(svg, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(svg, /<svg [^>]*width="1280" height="\d+" viewBox="0 0 1280 \d+"/);
  t.match(svg, /<title>When is a panic rescued\? embed vs KLD vs kexec: rescue\.elf \(amd64\)<\/title>/);
  t.match(svg, /<rect width="1280" height="\d+" fill="#ffffff"\/>/, 'an opaque background');
  const texts = svgTexts(svg);
  for (const name of ['embed', 'KLD', 'kexec']) t.ok(texts.includes(name), `a row labelled ${name}`);
  for (const phase of HOST_PHASES) t.ok(texts.includes(phase), `the axis names ${phase}`);
  t.ok(texts.includes('armed window (rescue kernel ready)'), 'legend: the armed window');
  t.ok(texts.includes('panic rescued') && texts.includes('panic not rescued'), 'legend: the marks');
  t.ok(
    texts.some((x) => x.startsWith('boot phase')),
    'an axis title',
  );
  t.ok(texts.includes('armed from SI_SUB_VM_CONF'));
  t.ok(texts.includes('armed from init (userspace)'));
  t.ok(
    texts.some((x) => x.startsWith('machine amd64-efi (amd64)')),
    'the machine is named',
  );
  // ✓ per rescued phase, ✗ per other, in the strategy rows (the legend has one of each)
  t.equal(texts.filter((x) => x === '✓').length, 6 + 6 + 3 + 1);
  t.equal(texts.filter((x) => x === '✗').length, 3 + 3 + 6 + 1);
  t.equal((svg.match(/<g\b/g) ?? []).length, (svg.match(/<\/g>/g) ?? []).length, 'groups balanced');
  t.equal((svg.match(/<text\b/g) ?? []).length, (svg.match(/<\/text>/g) ?? []).length, 'texts balanced');
  t.equal(svg.match(/<svg\b/g)?.length, 1);
  t.match(svg, /<\/svg>\n$/);
  t.end();
});

t.test('svg: text from the report is escaped', (t) => {
  const svg = compareSvg(sampleReport('<a&b>"x\'.elf'));
  t.notMatch(svg, /<a&b>/);
  t.match(svg, /&lt;a&amp;b&gt;&quot;x&apos;\.elf/);
  t.notMatch(svg.replace(/&(amp|lt|gt|quot|apos);/g, ''), /&/, 'no bare ampersand');
  t.equal(xmlEscape(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
  t.end();
});

t.test('svg: one panel per profile, taller for two', (t) => {
  const one = sampleReport();
  const p = one.profiles[0];
  if (p === undefined) throw new Error('no profile');
  const two: CompareReport = { ...one, profiles: [p, { ...p, machine: 'amd64-bios', source: 'builtin:amd64-bios' }] };
  const h = (s: string): number => Number(/height="(\d+)"/.exec(s)?.[1]);
  const svg = compareSvg(two);
  t.ok(h(svg) > h(compareSvg(one)));
  t.equal((svg.match(/class="profile"/g) ?? []).length, 2);
  t.ok(svgTexts(svg).some((x) => x.startsWith('machine amd64-bios')));
  t.end();
});

t.test('schema: the report is valid; wrong values are reported with their path', (t) => {
  t.same(validateJson('compare', sampleReport()), []);
  t.same(validateJson('compare', sampleReport('k', 'arm64')), []);
  const r = JSON.parse(JSON.stringify(sampleReport())) as {
    profiles: { strategies: { rescuedShare: number; armedFrom: string; faults: { outcome: string }[] }[] }[];
    extra?: boolean;
  };
  const s0 = r.profiles[0]?.strategies[0];
  if (s0 === undefined) throw new Error('no strategy');
  s0.rescuedShare = 2;
  s0.armedFrom = 'SI_SUB_NOPE';
  const f0 = s0.faults[0];
  if (f0 !== undefined) f0.outcome = 'fine';
  r.extra = true;
  const problems = validateJson('compare', r).map((p) => p.path);
  t.ok(problems.includes('/profiles/0/strategies/0/rescuedShare'));
  t.ok(problems.includes('/profiles/0/strategies/0/armedFrom'));
  t.ok(problems.includes('/profiles/0/strategies/0/faults/0/outcome'));
  t.ok(problems.includes(''), 'the unknown top-level property');
  t.end();
});

t.test('table: the GICv3 ITS row (n/a on amd64; kboot mode and the none baseline on arm64) and its notes', (t) => {
  t.match(formatCompareTable(sampleReport()), /\nGICv3 ITS live at the panic\s+n\/a\s+n\/a\s+n\/a\n/);
  const arm = formatCompareTable(sampleReport('rescue.elf', 'arm64'));
  t.match(arm, /\nGICv3 ITS live at the panic\s+✓ fdt \(none: ✗\)\s+✓ fdt \(none: ✗\)\s+✓ fdt \(none: ✗\)\n/);
  t.match(
    arm,
    /\n {4}embed: none: panic "gicv3 PROPBASER needs to reuse 0x23ff00000, but not reserved"; fdt: reuse-ok\n/,
  );
  t.same(validateJson('compare', JSON.parse(JSON.stringify(sampleReport('rescue.elf', 'arm64')))), []);
  const texts = svgTexts(compareSvg(sampleReport('rescue.elf', 'arm64')));
  t.equal(
    texts.filter((x) => x === 'GICv3 ITS at the panic: ✓ fdt (none ✗)').length,
    3,
    'the SVG says it per strategy',
  );
  t.notOk(
    svgTexts(compareSvg(sampleReport())).some((x) => x.startsWith('GICv3 ITS')),
    'not on amd64',
  );
  t.end();
});
