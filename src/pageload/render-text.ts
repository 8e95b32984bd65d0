/**
 * The waterfall in the terminal: one row per connection, time across, each phase its own character,
 * then the legend, the requests and the totals. Reads the timing model (model.ts), measures nothing.
 */
import type { ConnectionTiming, PageLoadResult } from './model.ts';

export interface TextOptions {
  /** Columns for the time axis (default 64). */
  width?: number;
  /** Common end of the axis (ms), for several waterfalls on one scale (--compare). */
  axisMs?: number;
}

const LEGEND = 'legend: S handshake (SYN sent to established)  - request sent, waiting  # response (first to last byte)  . open, idle';

/** Characters by phase; a later phase in this list wins a cell shared with an earlier one. */
function rowCells(c: ConnectionTiming, width: number, scale: number): string {
  const cells = new Array<string>(width).fill(' ');
  const col = (t: number): number => Math.min(width - 1, Math.max(0, Math.floor(t * scale)));
  const paint = (from: number, to: number, ch: string): void => {
    for (let i = col(from); i <= col(to); i++) cells[i] = ch;
  };
  const end = c.closedAt >= 0 ? c.closedAt : Math.max(c.establishedAt, ...c.requests.map((r) => r.lastByteAt));
  paint(c.establishedAt, end, '.');
  paint(c.synAt, c.establishedAt, 'S');
  for (const r of c.requests) paint(r.sentAt, r.firstByteAt, '-');
  for (const r of c.requests) paint(r.firstByteAt, r.lastByteAt, '#');
  return cells.join('');
}

export function renderText(r: PageLoadResult, opts: TextOptions = {}): string {
  const width = opts.width ?? 64;
  const axis = Math.max(opts.axisMs ?? r.pageMs, 1);
  const scale = width / axis;
  const lines: string[] = [];
  lines.push(`page load ${r.url}  mode ${r.mode}  (${r.link})`);
  const label = (s: string): string => s.padEnd(14);
  const axisLabel = `${fmtMs(axis)} ms`;
  lines.push(label('') + '0 ms'.padEnd(width - axisLabel.length + 1) + axisLabel);
  lines.push(label('') + '|' + '-'.repeat(width - 2) + '|');
  for (const c of r.connections) lines.push(label(`conn ${c.id} :${c.localPort}`) + rowCells(c, width, scale));
  lines.push(LEGEND);
  lines.push('requests:  #  conn  sent ms  first byte  last byte  status  bytes  path');
  const rows = r.connections.flatMap((c) => c.requests.map((q) => ({ c, q }))).sort((a, b) => a.q.index - b.q.index);
  for (const { c, q } of rows) {
    const again = r.resent.includes(q.index) ? '  (sent again: the server closed its first connection unanswered)' : '';
    const note = (q.pipelined ? '  (pipelined)' : r.notPipelined.includes(q.index) ? '  (not pipelined: not a safe method)' : '') + again;
    lines.push(
      `  ${String(q.index).padStart(3)}  ${String(c.id).padStart(4)}  ${fmtMs(q.sentAt).padStart(7)}  ${fmtMs(q.firstByteAt).padStart(10)}  ` +
        `${fmtMs(q.lastByteAt).padStart(9)}  ${String(q.status).padStart(6)}  ${String(q.bytes).padStart(5)}  ${q.method} ${q.path}${note}`,
    );
  }
  lines.push(totalsLine(r));
  return lines.join('\n');
}

export function totalsLine(r: PageLoadResult): string {
  const rtx = r.retransmits.server === undefined ? `${r.retransmits.client}` : `${r.retransmits.client} client, ${r.retransmits.server} server`;
  return `totals: page ${fmtMs(r.pageMs)} ms, ${r.handshakes} handshake${r.handshakes === 1 ? '' : 's'}, ${r.requests} requests, ${r.bytes} bytes, retransmits ${rtx}`;
}

/** Milliseconds as text: whole when whole, else one decimal. */
export function fmtMs(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(1);
}
