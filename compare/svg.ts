/**
 * The comparison as an SVG timeline chart, readable without the table: a title naming the
 * kernel, a legend, and per machine profile one row per strategy across the boot phases
 * (x axis, each phase named, userspace marked), the strategy's armed window as a bar and the
 * outcome of a panic at each phase as ✓ (rescued) or ✗ (not rescued), with "armed from" and
 * the share of the boot it covers beside the strategy's name, and on machines with live GICv3
 * LPI tables whether the rescue kernel can reuse them (kboot's hand-off, D47358's none beside it).
 *
 * Contract: pure; draws only from the report (compare/report.ts); returns a standalone SVG
 * 1.1 document (UTF-8, explicit width/height and a white background, so a browser
 * screenshot of the file shows the chart); every text is XML-escaped.
 */
import { STRATEGY_LABEL, type CompareReport, type ProfileComparison, type StrategyComparison } from './report.js';

const W = 1280;
const LEFT = 250;
const RIGHT = 20;
const ROW = 64;
const COLOR = {
  text: '#1f2328',
  muted: '#57606a',
  track: '#eef1f4',
  armed: '#4c8bf5',
  ok: '#1a7f37',
  no: '#cf222e',
  axis: '#8c959f',
  user: '#8250df',
} as const;

/** XML-escapes text for element content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

interface TextOpts {
  readonly size?: number;
  readonly weight?: 'bold' | 'normal';
  readonly anchor?: 'start' | 'middle' | 'end';
  readonly fill?: string;
}

function text(x: number, y: number, s: string, o: TextOpts = {}): string {
  return `<text x="${x}" y="${y}" font-size="${o.size ?? 13}"${o.weight === 'bold' ? ' font-weight="bold"' : ''} text-anchor="${o.anchor ?? 'start'}" fill="${o.fill ?? COLOR.text}">${xmlEscape(s)}</text>`;
}

/** "GICv3 ITS live at the panic" for a strategy: kboot's mode and D47358's none beside it. */
function itsLabel(c: StrategyComparison): { text: string; ok: boolean } | undefined {
  const its = c.its;
  if (its.outcome === 'n/a' || its.kboot === null) return undefined;
  const base =
    its.baseline === null || its.baseline === its.kboot
      ? ''
      : ` (none ${its.baseline.outcome === 'panic' ? '✗' : '✓'})`;
  return {
    text: `GICv3 ITS at the panic: ${its.outcome === 'passed' ? '✓' : '✗'} ${its.kboot.mode}${base}`,
    ok: its.outcome === 'passed',
  };
}

function panel(report: CompareReport, p: ProfileComparison, y0: number): { svg: string[]; height: number } {
  const phases = report.phases;
  const colW = (W - LEFT - RIGHT) / phases.length;
  const colX = (i: number): number => LEFT + i * colW;
  const out: string[] = [];
  out.push(
    text(
      20,
      y0 + 18,
      `machine ${p.machine} (${p.arch}): ${p.sessions} emulated runs, ${(p.elapsedMs / 1000).toFixed(1)} s`,
      {
        size: 15,
        weight: 'bold',
      },
    ),
  );
  const top = y0 + 34;
  p.strategies.forEach((c, r) => {
    const y = top + r * ROW;
    const rescued = c.phases.filter((x) => x.rescued).length;
    out.push(`<g class="strategy" data-strategy="${c.strategy}">`);
    out.push(text(20, y + 22, STRATEGY_LABEL[c.strategy], { size: 16, weight: 'bold' }));
    out.push(
      text(
        20,
        y + 40,
        c.armedFrom === null ? 'never armed' : `armed from ${c.armedFrom}${c.userspaceOnly ? ' (userspace)' : ''}`,
        { size: 12, fill: COLOR.muted },
      ),
    );
    out.push(
      text(
        20,
        y + 55,
        `rescued ${rescued}/${c.phases.length} phases (${Math.round(c.rescuedShare * 100)}%), faults ${c.faultsHandled}/${c.faultsApplicable}`,
        { size: 12, fill: COLOR.muted },
      ),
    );
    out.push(
      `<rect x="${LEFT}" y="${y + 8}" width="${W - LEFT - RIGHT}" height="${ROW - 16}" rx="6" fill="${COLOR.track}"/>`,
    );
    const its = itsLabel(c);
    if (its !== undefined) {
      out.push(
        text(W - RIGHT - 8, y + ROW - 10, its.text, { size: 11, anchor: 'end', fill: its.ok ? COLOR.ok : COLOR.no }),
      );
    }
    const from = c.armedFrom === null ? -1 : phases.indexOf(c.armedFrom);
    if (from >= 0) {
      out.push(
        `<rect x="${colX(from) + 2}" y="${y + 12}" width="${W - RIGHT - colX(from) - 4}" height="${ROW - 24}" rx="6" fill="${COLOR.armed}" fill-opacity="0.35" stroke="${COLOR.armed}"><title>${xmlEscape(`${STRATEGY_LABEL[c.strategy]}: armed from ${c.armedFrom ?? ''}`)}</title></rect>`,
      );
    }
    phases.forEach((ph, i) => {
      const res = c.phases.find((x) => x.phase === ph);
      const ok = res?.rescued === true;
      const tip = `${STRATEGY_LABEL[c.strategy]}, panic at ${ph}: ${ok ? 'rescued' : `not rescued${res?.reason === null || res?.reason === undefined ? '' : ` (${res.reason})`}`}`;
      out.push(
        `<text x="${colX(i) + colW / 2}" y="${y + ROW / 2 + 8}" font-size="24" font-weight="bold" text-anchor="middle" fill="${ok ? COLOR.ok : COLOR.no}">${ok ? '✓' : '✗'}<title>${xmlEscape(tip)}</title></text>`,
      );
    });
    out.push('</g>');
  });
  const bottom = top + p.strategies.length * ROW;
  // userspace starts here
  const ui = phases.indexOf(report.userspaceFrom);
  if (ui >= 0) {
    out.push(
      `<line x1="${colX(ui)}" y1="${top - 6}" x2="${colX(ui)}" y2="${bottom + 4}" stroke="${COLOR.user}" stroke-width="2" stroke-dasharray="6 4"/>`,
    );
    out.push(text(colX(ui) + 6, top - 2, 'userspace →', { size: 12, fill: COLOR.user }));
  }
  // x axis: a tick and the name of every phase
  out.push(
    `<line x1="${LEFT}" y1="${bottom + 4}" x2="${W - RIGHT}" y2="${bottom + 4}" stroke="${COLOR.axis}" stroke-width="1"/>`,
  );
  phases.forEach((ph, i) => {
    out.push(
      `<line x1="${colX(i)}" y1="${bottom + 4}" x2="${colX(i)}" y2="${bottom + 10}" stroke="${COLOR.axis}" stroke-width="1"/>`,
    );
    out.push(text(colX(i) + colW / 2, bottom + 24, ph, { size: 12, anchor: 'middle' }));
  });
  out.push(
    text(LEFT + (W - LEFT - RIGHT) / 2, bottom + 44, 'boot phase (loader → running) at which the host panics', {
      size: 12,
      anchor: 'middle',
      fill: COLOR.muted,
    }),
  );
  return { svg: out, height: bottom + 56 - y0 };
}

/** Renders the chart (see the module contract). */
export function compareSvg(report: CompareReport): string {
  const names = report.strategies.map((s) => STRATEGY_LABEL[s]).join(' vs ');
  const title = `When is a panic rescued? ${names}: ${report.kernel.file} (${report.kernel.arch})`;
  const body: string[] = [];
  body.push(text(20, 32, title, { size: 20, weight: 'bold' }));
  body.push(
    text(
      20,
      54,
      'Each row is one way of arming the rescue kernel. The bar is its armed window; each mark is a panic at that boot phase, run on the emulated machine.',
      { size: 13, fill: COLOR.muted },
    ),
  );
  // legend
  const ly = 80;
  body.push(`<g class="legend">`);
  body.push(
    `<rect x="20" y="${ly - 12}" width="34" height="16" rx="4" fill="${COLOR.armed}" fill-opacity="0.35" stroke="${COLOR.armed}"/>`,
  );
  body.push(text(60, ly + 1, 'armed window (rescue kernel ready)', { size: 13 }));
  body.push(text(310, ly + 3, '✓', { size: 20, weight: 'bold', fill: COLOR.ok }));
  body.push(text(330, ly + 1, 'panic rescued', { size: 13 }));
  body.push(text(450, ly + 3, '✗', { size: 20, weight: 'bold', fill: COLOR.no }));
  body.push(text(470, ly + 1, 'panic not rescued', { size: 13 }));
  body.push(
    `<line x1="610" y1="${ly - 12}" x2="610" y2="${ly + 4}" stroke="${COLOR.user}" stroke-width="2" stroke-dasharray="6 4"/>`,
  );
  body.push(text(620, ly + 1, `userspace starts (${report.userspaceFrom})`, { size: 13 }));
  body.push('</g>');
  let y = 104;
  for (const p of report.profiles) {
    const part = panel(report, p, y);
    body.push(`<g class="profile" data-machine="${xmlEscape(p.machine)}">`, ...part.svg, '</g>');
    y += part.height + 12;
  }
  const height = Math.ceil(y);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="DejaVu Sans, Verdana, Arial, sans-serif">`,
    `<title>${xmlEscape(title)}</title>`,
    `<desc>${xmlEscape(`kboot compare, seed ${report.seed}: the boot timeline (${report.phases.join(', ')}) with each strategy's armed window and panic outcomes.`)}</desc>`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
