/**
 * --compare's chart: page time per mode across link speeds, as grouped bars (SVG, to go below the
 * waterfalls) and as a text table. Reads measured figures only.
 */
import { COLOURS, escapeXml, tickStep } from './render-svg.ts';
import { fmtMs } from './render-text.ts';
import { formatRate } from './spec.ts';

export interface SpeedTable {
  /** Round-trip time of every run, ms. */
  rttMs: number;
  /** Link rates, bit/s, one column each. */
  rates: number[];
  modes: string[];
  /** pageMs[mode][rate]. */
  pageMs: number[][];
}

const MODE_COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1', '#9c755f', '#edc948'];

export function renderSpeedTable(t: SpeedTable): string {
  const head = 'mode'.padEnd(16) + t.rates.map((r) => formatRate(r).padStart(14)).join('');
  const rows = t.modes.map((m, i) => m.padEnd(16) + t.pageMs[i]!.map((ms) => `${fmtMs(ms)} ms`.padStart(14)).join(''));
  return [`page time by link speed (simulated, RTT ${fmtMs(t.rttMs)} ms):`, head, ...rows].join('\n');
}

export const CHART_HEIGHT = 300;

/** Grouped bars, one group per rate, one bar per mode; the value over each bar. */
export function renderSpeedChart(t: SpeedTable, width = 960): { svg: string; height: number } {
  const left = 70;
  const top = 50;
  const plotH = CHART_HEIGHT - top - 70;
  const plotW = width - left - 30;
  const max = Math.max(1, ...t.pageMs.flat());
  const step = tickStep(max);
  const yMax = Math.ceil(max / step) * step;
  const y = (ms: number): number => top + plotH - (ms / yMax) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="16" y="20" class="section">${escapeXml(`Page time per mode by link speed (simulated, RTT ${fmtMs(t.rttMs)} ms)`)}</text>`);
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    parts.push(`<line x1="${left}" y1="${y(v).toFixed(1)}" x2="${left + plotW}" y2="${y(v).toFixed(1)}" stroke="${COLOURS.grid}"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" class="tick">${fmtMs(+v.toFixed(6))}</text>`);
  }
  parts.push(`<text x="${left - 6}" y="${top - 14}" text-anchor="end" class="tick">ms</text>`);
  const groupW = plotW / t.rates.length;
  const barW = Math.min(40, (groupW * 0.8) / t.modes.length);
  t.rates.forEach((rate, ri) => {
    const gx = left + ri * groupW + (groupW - barW * t.modes.length) / 2;
    t.modes.forEach((mode, mi) => {
      const ms = t.pageMs[mi]![ri]!;
      const bx = gx + mi * barW;
      parts.push(`<rect x="${bx.toFixed(1)}" y="${y(ms).toFixed(1)}" width="${(barW - 3).toFixed(1)}" height="${(top + plotH - y(ms)).toFixed(1)}" fill="${MODE_COLOURS[mi % MODE_COLOURS.length]}"><title>${escapeXml(`${mode} at ${formatRate(rate)}: ${fmtMs(ms)} ms`)}</title></rect>`);
      parts.push(`<text x="${(bx + (barW - 3) / 2).toFixed(1)}" y="${(y(ms) - 4).toFixed(1)}" text-anchor="middle" class="tick">${Math.round(ms)}</text>`);
    });
    parts.push(`<text x="${(left + ri * groupW + groupW / 2).toFixed(1)}" y="${top + plotH + 18}" text-anchor="middle" class="legend">${escapeXml(formatRate(rate))}</text>`);
  });
  parts.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="${COLOURS.muted}"/>`);
  let lx = left;
  const ly = top + plotH + 44;
  t.modes.forEach((mode, mi) => {
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="14" fill="${MODE_COLOURS[mi % MODE_COLOURS.length]}"/>`);
    parts.push(`<text x="${lx + 20}" y="${ly + 2}" class="legend">${escapeXml(mode)}</text>`);
    lx += 30 + mode.length * 8;
  });
  return { svg: parts.join('\n'), height: CHART_HEIGHT };
}
