/** Small helpers shared by the SVG renderers (src/pageload/render-*.ts, src/trace/seq-graph.ts). */

/** Text for an SVG/XML text node or attribute value. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A tick step of 1, 2 or 5 x 10^k giving at most about 10 ticks over `span`. */
export function tickStep(span: number): number {
  const raw = span / 10;
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-3)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
