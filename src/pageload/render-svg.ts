/**
 * The waterfall as a self-contained SVG (no scripts, no external fonts or styles): a title with the
 * mode and the link, one row per connection, time across with an axis in ms, a colour per phase and
 * a legend. Several loads (--compare) are stacked on one time axis. Reads the timing model only.
 */
import type { ConnectionTiming, PageLoadResult } from './model.ts';
import { fmtMs } from './render-text.ts';
import { escapeXml, tickStep } from '../util/svg.ts';

export { escapeXml, tickStep };

export const COLOURS = {
  handshake: '#7b8fb3',
  wait: '#f2b84b',
  response: '#2e9b5f',
  idle: '#b9bec7',
  sent: '#333333',
  unsafe: '#d62728',
  grid: '#e6e8ec',
  text: '#222222',
  muted: '#666666',
} as const;

const WIDTH = 960;
const LEFT = 130;
const RIGHT = 30;
const ROW = 26;
const BAR = 14;

/** A nice end of the axis: the next tick at or after the longest load. */
function axisEnd(ms: number): number {
  const step = tickStep(ms);
  return Math.max(step, Math.ceil(ms / step) * step);
}

interface Drawing {
  parts: string[];
  y: number;
  x: (t: number) => number;
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attrs ? ' ' + attrs : ''}>${escapeXml(s)}</text>`;
}

function rect(x1: number, x2: number, y: number, h: number, fill: string, title: string): string {
  const w = Math.max(x2 - x1, 1.5);
  return `<rect x="${x1.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h}" fill="${fill}"><title>${escapeXml(title)}</title></rect>`;
}

function drawConnection(d: Drawing, c: ConnectionTiming): void {
  const mid = d.y + ROW / 2;
  const top = mid - BAR / 2;
  const end = c.closedAt >= 0 ? c.closedAt : Math.max(c.establishedAt, ...c.requests.map((r) => r.lastByteAt));
  d.parts.push(text(LEFT - 8, mid + 4, `conn ${c.id}  :${c.localPort}`, 'text-anchor="end" class="label"'));
  d.parts.push(`<line x1="${d.x(c.establishedAt).toFixed(1)}" y1="${mid}" x2="${d.x(end).toFixed(1)}" y2="${mid}" stroke="${COLOURS.idle}" stroke-width="2"/>`);
  d.parts.push(rect(d.x(c.synAt), d.x(c.establishedAt), top, BAR, COLOURS.handshake, `connection ${c.id}: handshake ${fmtMs(c.synAt)}-${fmtMs(c.establishedAt)} ms`));
  for (const r of c.requests) {
    d.parts.push(rect(d.x(r.sentAt), d.x(r.firstByteAt), mid - 3, 6, COLOURS.wait, `#${r.index} ${r.method} ${r.path}: sent ${fmtMs(r.sentAt)} ms, waiting until ${fmtMs(r.firstByteAt)} ms`));
  }
  c.requests.forEach((r, i) => {
    const x1 = d.x(r.firstByteAt);
    const x2 = Math.max(d.x(r.lastByteAt), x1 + 3);
    d.parts.push(rect(x1, x2, top, BAR, COLOURS.response, `#${r.index} ${r.method} ${r.path}: status ${r.status}, ${r.bytes} bytes, ${fmtMs(r.firstByteAt)}-${fmtMs(r.lastByteAt)} ms`));
    const label = (r.index === 0 ? 'page' : String(r.index)) + (r.method === 'GET' ? '' : ` ${r.method}`);
    const width = 6.5 * label.length;
    const next = c.requests[i + 1];
    const room = (next === undefined ? WIDTH - 4 : d.x(next.firstByteAt)) - x2;
    if (x2 - x1 >= width + 6) d.parts.push(text((x1 + x2) / 2, mid + 4, label, 'text-anchor="middle" class="idx"'));
    else if (room >= width + 8) d.parts.push(text(x2 + 3, mid + 4, label, 'class="out"'));
  });
  // The moment each request left: a small mark above the row.
  for (const r of c.requests) {
    const x = d.x(r.sentAt);
    // A request the client would not pipeline (not a safe method) is marked in red.
    const fill = r.method === 'GET' || r.method === 'HEAD' ? COLOURS.sent : COLOURS.unsafe;
    d.parts.push(`<path d="M${(x - 4).toFixed(1)} ${top - 6} L${(x + 4).toFixed(1)} ${top - 6} L${x.toFixed(1)} ${top} Z" fill="${fill}"/>`);
  }
  d.y += ROW;
}

export interface SvgOptions {
  title?: string;
  /** Extra SVG drawn below the waterfall (--compare's chart), with its height. */
  below?: { svg: string; height: number };
}

/** One load, or several stacked on one time axis. */
export function renderSvg(loads: PageLoadResult[], opts: SvgOptions = {}): string {
  const axis = axisEnd(Math.max(1, ...loads.map((r) => r.pageMs)));
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (t: number): number => LEFT + (t / axis) * plotW;
  const d: Drawing = { parts: [], y: 0, x };
  const first = loads[0]!;
  const title = opts.title ?? (loads.length === 1 ? `Page load, ${first.mode}: ${first.requests} requests, ${fmtMs(first.pageMs)} ms` : `Page load: ${loads.map((r) => r.mode).join(' vs ')}`);
  const head: string[] = [text(16, 26, title, 'class="title"'), text(16, 46, `${first.url}, ${first.link}`, 'class="sub"')];
  d.y = 64;
  const plotTop = d.y;
  for (const [i, r] of loads.entries()) {
    if (i > 0) d.parts.push(`<line x1="16" y1="${d.y - 3}" x2="${WIDTH - RIGHT}" y2="${d.y - 3}" stroke="${COLOURS.muted}" stroke-dasharray="4 3"/>`);
    d.parts.push(text(16, d.y + 16, `${r.mode}: page ${fmtMs(r.pageMs)} ms, ${r.handshakes} handshake${r.handshakes === 1 ? '' : 's'}, ${r.bytes} bytes, retransmits ${r.retransmits.client + (r.retransmits.server ?? 0)}`, 'class="section"'));
    d.y += 24;
    for (const c of r.connections) drawConnection(d, c);
    d.y += 6;
  }
  const plotBottom = d.y;
  // Grid and axis (drawn first, under the bars).
  const grid: string[] = [];
  const step = tickStep(axis);
  for (let t = 0; t <= axis + 1e-9; t += step) {
    const gx = x(t).toFixed(1);
    grid.push(`<line x1="${gx}" y1="${plotTop}" x2="${gx}" y2="${plotBottom}" stroke="${COLOURS.grid}"/>`);
    grid.push(text(x(t), plotBottom + 16, fmtMs(+t.toFixed(6)), 'text-anchor="middle" class="tick"'));
  }
  grid.push(`<line x1="${LEFT}" y1="${plotBottom}" x2="${WIDTH - RIGHT}" y2="${plotBottom}" stroke="${COLOURS.muted}"/>`);
  grid.push(text(WIDTH - RIGHT, plotBottom + 32, 'time since the first SYN (ms)', 'text-anchor="end" class="tick"'));
  // Legend.
  let ly = plotBottom + 52;
  const legend: string[] = [];
  let lx = 16;
  const item = (draw: string, label: string, w: number): void => {
    legend.push(draw, text(lx + 24, ly + 4, label, 'class="legend"'));
    lx += w;
  };
  item(`<rect x="${lx}" y="${ly - 7}" width="18" height="14" fill="${COLOURS.handshake}"/>`, 'handshake (SYN to established)', 230);
  item(`<path d="M${lx + 5} ${ly - 7} L${lx + 13} ${ly - 7} L${lx + 9} ${ly - 1} Z" fill="${COLOURS.sent}"/>`, 'request sent', 120);
  item(`<rect x="${lx}" y="${ly - 3}" width="18" height="6" fill="${COLOURS.wait}"/>`, 'waiting for the response', 200);
  item(`<rect x="${lx}" y="${ly - 7}" width="18" height="14" fill="${COLOURS.response}"/>`, 'response, first to last byte (object #)', 290);
  ly += 20;
  lx = 16;
  item(`<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${COLOURS.idle}" stroke-width="2"/>`, 'connection open, idle', 230);
  if (loads.some((r) => r.connections.some((c) => c.requests.some((q) => q.method !== 'GET' && q.method !== 'HEAD')))) {
    item(`<path d="M${lx + 5} ${ly - 7} L${lx + 13} ${ly - 7} L${lx + 9} ${ly - 1} Z" fill="${COLOURS.unsafe}"/>`, 'request of an unsafe method (POST, ...): never pipelined', 420);
  }
  let height = ly + 18;
  let below = '';
  if (opts.below) {
    below = `<g transform="translate(0 ${height + 10})">${opts.below.svg}</g>`;
    height += opts.below.height + 20;
  }
  const style =
    `text{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;fill:${COLOURS.text}}` +
    '.title{font-size:18px;font-weight:bold}.sub{font-size:12px;fill:#555}.section{font-size:13px;font-weight:bold}' +
    '.label{font-size:11px;font-family:\'DejaVu Sans Mono\',monospace}.tick{font-size:11px;fill:#555}.legend{font-size:12px}' +
    '.idx{font-size:10px;fill:#fff;font-weight:bold}.out{font-size:10px;fill:#222;stroke:#fff;stroke-width:3px;paint-order:stroke}';
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">\n` +
    `<style>${style}</style>\n<rect width="100%" height="100%" fill="#ffffff"/>\n` +
    [...head, ...grid, ...d.parts, ...legend].join('\n') +
    `\n${below}</svg>\n`
  );
}
