/**
 * The site `tunstack serve` runs: small pages that make the connection itself visible.
 *
 *   /           HTML: your 4-tuple, which request this is on the connection, RTT, TCP state, windows
 *   /conn       the same as JSON
 *   /echo       the request as received (text/plain)
 *   /bytes/N    N deterministic bytes, byte i = i % 251 (251 is prime, so the pattern never lines
 *               up with power-of-two chunk or segment sizes and a misplaced chunk shows), streamed
 *   /delay/MS   answers after MS ms (0..10000): head-of-line blocking in a pipeline, made visible
 *   /stats      the stack's counters, the process's memory and the connection table, JSON
 *   /live       the connection table and a chosen connection's segments as they happen (SSE; live.ts)
 *   /ladder     the visitor's own connection (or ?flow=KEY) drawn as a ladder (live.ts)
 *   anything else: static files under `root` if given, else 404
 */
import type { IncomingRequest } from '../http/incoming-request.ts';
import type { ServerResponse } from '../http/server-response.ts';
import type { PeerSocket } from '../http/transport.ts';
import type { TcpInfo } from '../tcp/api.ts';
import { staticFiles } from './static-files.ts';
import { ssthreshText } from '../tcp/congestion-control.ts';
import { LiveFeed } from './live.ts';

export interface DemoSiteOptions {
  /** The stack's counters, for /stats. */
  stats?: () => unknown;
  /** Serve static files from this directory for paths the demo does not claim. */
  root?: string;
  /** The stack's connection table, for /stats. */
  connectionTable?: () => unknown;
  /** The live view (/live, /live/events, /ladder: live.ts); those paths are 404 without it. */
  live?: LiveFeed;
}

export type DemoHandler = (req: IncomingRequest, res: ServerResponse) => void;

/** Largest /bytes/N: 1 GiB. */
export const MAX_BYTES = 1024 * 1024 * 1024;
/** Largest /delay/MS. */
export const MAX_DELAY_MS = 10_000;
const PATTERN_MOD = 251;
const STREAM_CHUNK = 64 * 1024;

/** Byte i of a /bytes/N body. */
export function patternByte(i: number): number {
  return i % PATTERN_MOD;
}

interface ConnView {
  client: { address: string | undefined; port: number | undefined };
  server: { address: string | undefined; port: number | undefined };
  requestOnConnection: number;
  httpVersion: string;
  transport: 'tunstack' | 'node:net';
  tcp: Record<string, unknown> | undefined;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendText(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

function sendJson(res: ServerResponse, value: unknown): void {
  sendText(res, 200, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}

function tcpView(info: TcpInfo): Record<string, unknown> {
  return {
    state: info.state,
    handshakeRttMs: info.handshakeRttMs,
    srttMs: info.srttMs,
    rttvarMs: info.rttvarMs,
    rtoMs: info.rtoMs,
    iss: info.iss,
    irs: info.irs,
    sndUna: info.sndUna,
    sndNxt: info.sndNxt,
    rcvNxt: info.rcvNxt,
    // Relative sequence numbers (docs/design.md rule 12), as Wireshark shows them.
    relative: { sent: (info.sndNxt - info.iss - 1) >>> 0, received: (info.rcvNxt - info.irs - 1) >>> 0 },
    sndWnd: info.sndWnd,
    rcvWnd: info.rcvWnd,
    sndWindowScale: info.sndWindowScale,
    rcvWindowScale: info.rcvWindowScale,
    mss: info.mss,
    cwnd: info.cwnd,
    ssthresh: info.ssthresh,
    sackPermitted: info.sackPermitted,
    timestamps: info.timestamps,
    retransmits: info.retransmits,
    segmentsIn: info.segmentsIn,
    segmentsOut: info.segmentsOut,
    bytesIn: info.bytesIn,
    bytesOut: info.bytesOut,
    sendQueued: info.sendQueued,
  };
}

function fmt(v: unknown): string {
  if (v === undefined || v === null) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
  return String(v);
}

function renderPage(c: ConnView): string {
  const t = c.tcp;
  const row = (k: string, v: unknown): string => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(fmt(v))}</td></tr>`;
  const tcpRows = t
    ? [
        row('TCP state', t['state']),
        row('handshake RTT (ms)', t['handshakeRttMs']),
        row('smoothed RTT (ms)', t['srttMs']),
        row('RTO (ms)', t['rtoMs']),
        row('our ISN / their ISN', `${fmt(t['iss'])} / ${fmt(t['irs'])}`),
        row('SND.UNA / SND.NXT', `${fmt(t['sndUna'])} / ${fmt(t['sndNxt'])}`),
        row('RCV.NXT', t['rcvNxt']),
        row('their window / our window (bytes)', `${fmt(t['sndWnd'])} / ${fmt(t['rcvWnd'])}`),
        row('MSS', t['mss']),
        row('cwnd / ssthresh (bytes)', `${fmt(t['cwnd'])} / ${typeof t['ssthresh'] === 'number' ? ssthreshText(t['ssthresh']) : '–'}`),
        row('retransmits', t['retransmits']),
        row('segments in / out', `${fmt(t['segmentsIn'])} / ${fmt(t['segmentsOut'])}`),
      ].join('\n')
    : row('TCP details', 'not available on node:net (run over tunstack to see seq/ack, windows, cwnd)');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tunstack: your connection</title>
<style>
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} code,td{font-family:ui-monospace,monospace}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd}
th{font-weight:normal;color:#555;width:45%} .tuple{font-size:1.2rem;background:#f4f4f4;padding:.6rem;border-radius:4px}
</style></head><body>
<h1>Your connection to tunstack</h1>
<p class="tuple"><code>${escapeHtml(fmt(c.client.address))}:${escapeHtml(fmt(c.client.port))} &rarr; ${escapeHtml(fmt(c.server.address))}:${escapeHtml(fmt(c.server.port))}</code></p>
<p>This is request <strong>#${c.requestOnConnection}</strong> on this TCP connection (HTTP/${escapeHtml(c.httpVersion)}).</p>
<p>These four numbers (client IP and port, server IP and port) name the connection. With keep-alive,
the browser reuses it: reload the page and the request number grows while your port stays the same.
Wait longer than the keep-alive timeout, and a new connection (a new port, a new handshake) starts at #1.</p>
<table>
${row('transport', c.transport)}
${tcpRows}
</table>
<p>Also: <a href="/conn">/conn</a> (JSON), <a href="/echo">/echo</a>, <a href="/bytes/1000">/bytes/N</a>,
<a href="/delay/500">/delay/MS</a>, <a href="/stats">/stats</a>.
${t ? 'See this connection <a href="/ladder">drawn as a ladder</a>, or every connection <a href="/live">live</a>.' : ''}</p>
</body></html>
`;
}

/** Parse a non-negative decimal integer path parameter; undefined if malformed. */
function parseCount(s: string): number | undefined {
  if (s.length === 0 || s.length > 10 || !/^[0-9]+$/.test(s)) return undefined;
  return Number(s);
}

export function createDemoHandler(options: DemoSiteOptions = {}): DemoHandler {
  const serveStatic = options.root === undefined ? undefined : staticFiles(options.root);
  // One pattern block, built once per handler: any chunk of /bytes is a subarray of it.
  const block = Buffer.allocUnsafe(STREAM_CHUNK + PATTERN_MOD);
  for (let i = 0; i < block.length; i++) block[i] = patternByte(i);

  function connView(req: IncomingRequest): ConnView {
    const s: PeerSocket = req.socket;
    const info = typeof s.tcpInfo === 'function' ? s.tcpInfo() : undefined;
    return {
      client: { address: s.remoteAddress, port: s.remotePort },
      server: { address: s.localAddress, port: s.localPort },
      requestOnConnection: req.requestNumber,
      httpVersion: req.httpVersion,
      transport: info ? 'tunstack' : 'node:net',
      tcp: info ? tcpView(info) : undefined,
    };
  }

  /** Stream `total` (> 0) pattern bytes; the last piece goes out with end(). */
  function streamBytes(res: ServerResponse, total: number): void {
    // One piece: the whole body in end(), nothing to wait for (no listener, no closure per request).
    if (total <= STREAM_CHUNK) {
      res.end(block.subarray(0, total));
      return;
    }
    let offset = 0;
    let stopped = false;
    res.on('close', () => {
      stopped = true;
    });
    const pump = (): void => {
      while (!stopped && offset < total) {
        const len = Math.min(STREAM_CHUNK, total - offset);
        const start = offset % PATTERN_MOD;
        offset += len;
        if (offset >= total) {
          res.end(block.subarray(start, start + len));
          return;
        }
        // write() returning false is the backpressure signal: wait for 'drain'.
        if (!res.write(block.subarray(start, start + len))) {
          res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  }

  function echo(req: IncomingRequest, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let out = `${req.method} ${req.url} HTTP/${req.httpVersion}\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) out += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\n`;
      out += `\nbody length: ${size}\n`;
      if (size > 0) out += `body:\n${body.toString('utf8')}${size > body.length ? '\n[truncated]' : ''}\n`;
      const trailerNames = Object.keys(req.trailers);
      if (trailerNames.length > 0) {
        out += 'trailers:\n';
        for (let i = 0; i < req.rawTrailers.length; i += 2) out += `${req.rawTrailers[i]}: ${req.rawTrailers[i + 1]}\n`;
      }
      sendText(res, 200, out);
    });
  }

  return function demoHandler(req: IncomingRequest, res: ServerResponse): void {
    let target = req.url;
    // RFC 9112 §3.2.2: a server MUST accept the absolute-form ("GET http://host/path"): keep the path.
    const scheme = target.indexOf('://');
    if (scheme > 0 && !target.startsWith('/')) {
      const slash = target.indexOf('/', scheme + 3);
      target = slash < 0 ? '/' : target.slice(slash);
    }
    const q = target.indexOf('?');
    const urlPath = q >= 0 ? target.slice(0, q) : target;
    const isGet = req.method === 'GET' || req.method === 'HEAD';

    let route: string | undefined;
    if (urlPath === '/conn' || urlPath === '/stats' || urlPath === '/echo') route = urlPath;
    else if (urlPath.startsWith('/bytes/')) route = '/bytes';
    else if (urlPath.startsWith('/delay/')) route = '/delay';
    else if (urlPath === '/' && options.root === undefined) route = '/';
    else if (options.live !== undefined && LiveFeed.claims(urlPath)) route = '/live';

    if (route === undefined) {
      if (serveStatic === undefined) {
        sendText(res, 404, 'Not Found\n');
        return;
      }
      if (!isGet) {
        res.setHeader('Allow', 'GET, HEAD');
        sendText(res, 405, 'Method Not Allowed\n');
        return;
      }
      serveStatic(req, res, urlPath, urlPath === '/')
        .then((r) => {
          if (r === 'not-found') sendText(res, 200, renderPage(connView(req)), 'text/html; charset=utf-8');
        })
        .catch(() => {
          if (!res.headersSent) sendText(res, 500, 'Internal Server Error\n');
          else res.destroy();
        });
      return;
    }
    // /echo answers any method (it shows what was sent); the rest are GET/HEAD only (RFC 9110 §15.5.6).
    if (route !== '/echo' && !isGet) {
      res.setHeader('Allow', 'GET, HEAD');
      sendText(res, 405, 'Method Not Allowed\n');
      return;
    }
    switch (route) {
      case '/':
        sendText(res, 200, renderPage(connView(req)), 'text/html; charset=utf-8');
        return;
      case '/conn':
        sendJson(res, connView(req));
        return;
      case '/live':
        options.live!.handle(req, res, urlPath, target);
        return;
      case '/stats':
        // `memory`: the process as the kernel and V8 see it (RSS vs live heap tells a leak from the
        // allocator keeping freed pages). Under node --expose-gc (npm run bench:idle) a full collection
        // comes first, so that heapUsed is the live heap, without garbage.
        (globalThis as { gc?: () => void }).gc?.();
        sendJson(res, { stats: options.stats?.() ?? null, memory: process.memoryUsage(), connections: options.connectionTable?.() ?? null });
        return;
      case '/echo':
        echo(req, res);
        return;
      case '/bytes': {
        const count = parseCount(urlPath.slice('/bytes/'.length));
        if (count === undefined || count > MAX_BYTES) {
          sendText(res, 400, `Bad Request: N must be an integer 0..${MAX_BYTES}\n`);
          return;
        }
        res.statusCode = 200;
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Content-Length', count);
        if (req.method === 'HEAD' || count === 0) {
          res.end();
          return;
        }
        streamBytes(res, count);
        return;
      }
      case '/delay': {
        const ms = parseCount(urlPath.slice('/delay/'.length));
        if (ms === undefined || ms > MAX_DELAY_MS) {
          sendText(res, 400, `Bad Request: MS must be an integer 0..${MAX_DELAY_MS}\n`);
          return;
        }
        const t = setTimeout(() => sendText(res, 200, `delayed ${ms} ms\n`), ms);
        res.on('close', () => clearTimeout(t));
        return;
      }
    }
  };
}
