/**
 * `tunstack pageload`: checks the flags, runs the load (simulated, or live over the TUN device),
 * prints the terminal waterfall and writes --svg / --html / --json. With --compare it runs each mode
 * on one time axis and adds the page-time-by-link-speed chart (always simulated: 1, 10, 100 Mbit/s
 * at a 50 ms round trip).
 */
import { writeFileSync } from 'node:fs';
import { parseFetchUrl, startStack, type DeviceFlags } from '../app/serve.ts';
import { UsageError } from '../util/errors.ts';
import { demoObjects, loadPage, MAX_OBJECTS, type ObjectRequest } from './client.ts';
import type { PageLoadResult } from './model.ts';
import { renderHtml } from './render-html.ts';
import { renderSpeedChart, renderSpeedTable, type SpeedTable } from './render-chart.ts';
import { renderSvg } from './render-svg.ts';
import { renderText } from './render-text.ts';
import { simulatePageLoad } from './sim.ts';
import { formatMode, type Mode, type SimSpec } from './spec.ts';

export interface PageloadFlags {
  url: string;
  objects: ObjectRequest[];
  modes: Mode[];
  compare: boolean;
  /** Simulated link; undefined: live over the TUN device. */
  sim: SimSpec | undefined;
  device: DeviceFlags;
  svg: string | undefined;
  html: string | undefined;
  json: string | undefined;
  width: number;
  timeoutMs: number;
}

/** The speeds of --compare's chart, bit/s, and its one-way delay (RTT 50 ms). */
export const CHART_RATES = [1e6, 10e6, 100e6];
export const CHART_DELAY_MS = 25;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS']);

/** --paths: comma-separated, each `/path` (a GET) or `METHOD:/path`. */
export function parsePaths(text: string): ObjectRequest[] {
  const out: ObjectRequest[] = [];
  for (const part of text.split(',')) {
    const m = /^(?:([A-Z]+):)?(\/[\x21-\x7e]*)$/.exec(part);
    if (!m || (m[1] !== undefined && !METHODS.has(m[1]))) {
      throw new UsageError(`--paths takes /PATH or METHOD:/PATH items (METHOD one of ${[...METHODS].join(', ')}), got ${JSON.stringify(part)}`);
    }
    out.push({ method: m[1] ?? 'GET', path: m[2]! });
  }
  if (out.length > MAX_OBJECTS) throw new UsageError(`--paths: at most ${MAX_OBJECTS} objects`);
  return out;
}

/** The page's path and query, from the URL (live: an http:// URL with an IPv4 address). */
function pageTarget(url: string, live: boolean): { host: string; port: number; path: string } {
  // Simulated, the host is only a name in the requests, and the server always listens on port 80.
  const u = parseFetchUrl(url, 'pageload', live);
  return { host: u.hostname, port: live && u.port !== '' ? Number(u.port) : 80, path: u.pathname + u.search };
}

/** A failure to write an output file is a usage error (a path named on the command line). */
function writeOut(flag: string, path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new UsageError(`--${flag} ${path}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export async function speedTable(modes: Mode[], target: { path: string }, objects: ObjectRequest[]): Promise<SpeedTable> {
  const pageMs: number[][] = [];
  for (const mode of modes) {
    const row: number[] = [];
    for (const rateBps of CHART_RATES) {
      const r = await simulatePageLoad({ sim: { delayMs: CHART_DELAY_MS, rateBps, loss: 0, seed: 1 }, mode, pagePath: target.path, objects });
      row.push(r.pageMs);
    }
    pageMs.push(row);
  }
  return { rttMs: 2 * CHART_DELAY_MS, rates: CHART_RATES, modes: modes.map(formatMode), pageMs };
}

export async function runPageload(f: PageloadFlags): Promise<number> {
  const target = pageTarget(f.url, f.sim === undefined);
  // Create the output files now: a path that cannot be written is a usage error before the load runs.
  if (f.svg !== undefined) writeOut('svg', f.svg, '');
  if (f.html !== undefined) writeOut('html', f.html, '');
  if (f.json !== undefined) writeOut('json', f.json, '');
  const results: PageLoadResult[] = [];
  if (f.sim !== undefined) {
    for (const mode of f.modes) results.push(await simulatePageLoad({ sim: f.sim, mode, pagePath: target.path, objects: f.objects, timeoutMs: f.timeoutMs }));
  } else {
    const run = startStack(f.device);
    try {
      for (const mode of f.modes) {
        const r = await loadPage(run.stack, { host: target.host, port: target.port, pagePath: target.path, objects: f.objects, mode, timeoutMs: f.timeoutMs });
        results.push({ ...r, url: `http://${target.host}:${target.port}${target.path}`, link: `live over ${f.device.tun}` });
      }
    } finally {
      await run.shutdown();
    }
  }
  const axisMs = Math.max(...results.map((r) => r.pageMs));
  process.stdout.write(results.map((r) => renderText(r, { width: f.width, axisMs })).join('\n\n') + '\n');
  let table: SpeedTable | undefined;
  if (f.compare) {
    table = await speedTable(f.modes, target, f.objects);
    process.stdout.write('\n' + renderSpeedTable(table) + '\n');
  }
  const below = table ? renderSpeedChart(table) : undefined;
  const svg = f.svg !== undefined || f.html !== undefined ? renderSvg(results, below ? { below } : {}) : '';
  if (f.svg !== undefined) writeOut('svg', f.svg, svg);
  if (f.html !== undefined) writeOut('html', f.html, renderHtml(results, svg, table ? renderSpeedTable(table) : ''));
  if (f.json !== undefined) writeOut('json', f.json, JSON.stringify(results.length === 1 && !table ? results[0] : { loads: results, speeds: table }, null, 2) + '\n');
  return results.every((r) => r.connections.every((c) => c.requests.every((q) => q.status >= 200 && q.status < 400))) ? 0 : 1;
}

export { demoObjects };
