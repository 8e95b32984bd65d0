/**
 * --html: one self-contained page, the SVG waterfall embedded inline, then a table of every request's
 * timings and the totals. Reads the timing model only.
 */
import type { PageLoadResult } from './model.ts';
import { escapeXml } from './render-svg.ts';
import { fmtMs, totalsLine } from './render-text.ts';

export function renderHtml(loads: PageLoadResult[], svg: string, extra = ''): string {
  const inline = svg.replace(/^<\?xml[^>]*>\s*/, '');
  const tables = loads.map((r) => {
    const rows = r.connections
      .flatMap((c) => c.requests.map((q) => ({ c, q })))
      .sort((a, b) => a.q.index - b.q.index)
      .map(
        ({ c, q }) =>
          `<tr><td>${q.index}</td><td>${c.id}</td><td>${fmtMs(c.synAt)}</td><td>${fmtMs(c.establishedAt)}</td><td>${fmtMs(q.sentAt)}</td>` +
          `<td>${fmtMs(q.firstByteAt)}</td><td>${fmtMs(q.lastByteAt)}</td><td>${q.status}</td><td>${q.bytes}</td>` +
          `<td><code>${escapeXml(`${q.method} ${q.path}`)}</code>${q.pipelined ? ' (pipelined)' : ''}</td></tr>`,
      )
      .join('\n');
    return (
      `<h2>${escapeXml(r.mode)}</h2>\n<p>${escapeXml(totalsLine(r))}</p>\n<table>\n` +
      '<tr><th>#</th><th>conn</th><th>SYN ms</th><th>established ms</th><th>sent ms</th><th>first byte ms</th><th>last byte ms</th><th>status</th><th>bytes</th><th>request</th></tr>\n' +
      `${rows}\n</table>`
    );
  });
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>tunstack page load</title>\n' +
    '<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}' +
    'td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:last-child,th:last-child{text-align:left}th{background:#f3f4f6}</style></head>\n' +
    `<body>\n<h1>Page load: ${escapeXml(loads.map((r) => r.mode).join(', '))}</h1>\n<p>${escapeXml(`${loads[0]!.url}, ${loads[0]!.link}`)}</p>\n` +
    `${inline}\n${tables.join('\n')}\n${extra ? `<pre>${escapeXml(extra)}</pre>\n` : ''}</body></html>\n`
  );
}
