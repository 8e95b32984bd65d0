/**
 * The demo site's live view: the connection table and the latest segments of one connection, pushed
 * to the browser as they happen, over Server-Sent Events from our own HTTP server.
 *
 *   /live                  the page (live-page.ts): table above, scrolling ladder below
 *   /live/events?flow=KEY  text/event-stream (http/event-stream.ts), events:
 *                            hello  {own, flow, left, right}  once: this stream's own connection, the flow shown
 *                            conns  {rows, total}             the connection table, when it changed (at most 1/s)
 *                            segs   [LadderRow, ...]          new segments of the chosen flow, batched (10/s at most)
 *                            skipped {n}                      rows not sent because the browser was too slow
 *                            self   {}                        the flow chosen is this stream's own connection
 *                          KEY is "LOCAL:PORT-REMOTE:PORT" (flow-decoder.ts flowKey); without it, no segments.
 *                          &since=N: only rows recorded after record N (a page that already has N).
 *   /ladder?flow=KEY       one connection drawn as a ladder, by default the visitor's own
 *
 * Bounded, whatever the browsers do: at most `maxClients` streams (503 beyond); per stream at most
 * `maxBatch` rows wait for the next batch (the rest are counted as skipped); a stream whose socket
 * takes no bytes for `slowMs` is dropped. The segment feed comes from the SegmentRing (trace/
 * segment-ring.ts): `ring.onRecord` is set only while some stream has chosen a flow, so without a
 * watcher recording costs what the ring costs, nothing more. A stream never shows its own
 * connection's segments: each batch would describe the segments that carried the last one.
 */
import type { IncomingRequest } from '../http/incoming-request.ts';
import type { ServerResponse } from '../http/server-response.ts';
import { EventStream } from '../http/event-stream.ts';
import type { TcpInfo } from '../tcp/api.ts';
import { ssthreshText } from '../tcp/congestion-control.ts';
import { FlowDecoder, decodeHistory, endpointText, flowKey, orientFlow, parseFlowKey, type LadderRow } from '../trace/flow-decoder.ts';
import type { SegmentRing } from '../trace/segment-ring.ts';
import { ladderPage, livePage } from './live-page.ts';

export interface LiveOptions {
  ring: SegmentRing;
  /** The stack's connection table (Stack.connections). */
  connections: () => TcpInfo[];
  /** Streams at once (default 16). */
  maxClients?: number;
  /** ms between segment batches (default 100). */
  batchMs?: number;
  /** ms between looks at the connection table (default 1000). */
  tableMs?: number;
  /** Rows waiting per stream before they are skipped (default 500). */
  maxBatch?: number;
  /** A stream congested this long is dropped (default 10 000 ms). */
  slowMs?: number;
  /** Heartbeat interval of each stream (default 15 000 ms). */
  heartbeatMs?: number;
  /** Rows of history sent when a stream or a /ladder page starts (default 300). */
  historyRows?: number;
  /** Table rows sent at most (default 200; `total` says how many there are). */
  maxTableRows?: number;
}

/** A row of the connection table, as the page shows it. */
export interface LiveConnRow {
  key: string;
  local: string;
  remote: string;
  state: string;
  srttMs: number | null;
  rtoMs: number;
  cwnd: number;
  ssthresh: string;
  sndWnd: number;
  rcvWnd: number;
  bytesIn: number;
  bytesOut: number;
  segmentsIn: number;
  segmentsOut: number;
  retransmits: number;
  sendQueued: number;
}

interface Client {
  stream: EventStream;
  own: string;
  flow: string | undefined;
  dec: FlowDecoder | undefined;
  pending: LadderRow[];
  skipped: number;
  lastTable: string;
}

export function connRow(i: TcpInfo): LiveConnRow {
  const timeWaitRecord = i.state === 'TIME-WAIT' && i.mss === 0;
  return {
    key: flowKey(i.localAddress, i.localPort, i.remoteAddress, i.remotePort),
    local: `${i.localAddress}:${i.localPort}`,
    remote: `${i.remoteAddress}:${i.remotePort}`,
    state: i.state,
    srttMs: i.srttMs === undefined ? null : Math.round(i.srttMs * 100) / 100,
    rtoMs: Math.round(i.rtoMs),
    cwnd: i.cwnd,
    ssthresh: timeWaitRecord ? '' : ssthreshText(i.ssthresh),
    sndWnd: i.sndWnd,
    rcvWnd: i.rcvWnd,
    bytesIn: i.bytesIn,
    bytesOut: i.bytesOut,
    segmentsIn: i.segmentsIn,
    segmentsOut: i.segmentsOut,
    retransmits: i.retransmits,
    sendQueued: i.sendQueued,
  };
}

function query(target: string): URLSearchParams {
  const q = target.indexOf('?');
  return new URLSearchParams(q >= 0 ? target.slice(q + 1) : '');
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}

export class LiveFeed {
  private readonly ring: SegmentRing;
  private readonly connections: () => TcpInfo[];
  private readonly clients = new Set<Client>();
  private readonly maxClients: number;
  private readonly batchMs: number;
  private readonly tableMs: number;
  private readonly maxBatch: number;
  private readonly slowMs: number;
  private readonly heartbeatMs: number;
  private readonly historyRows: number;
  private readonly maxTableRows: number;
  private batchTimer: NodeJS.Timeout | undefined;
  private tableTimer: NodeJS.Timeout | undefined;
  private readonly page: string;
  private closed = false;
  /** Streams dropped for being too slow, since start. */
  droppedSlow = 0;

  constructor(opts: LiveOptions) {
    this.ring = opts.ring;
    this.connections = opts.connections;
    this.maxClients = opts.maxClients ?? 16;
    this.batchMs = opts.batchMs ?? 100;
    this.tableMs = opts.tableMs ?? 1000;
    this.maxBatch = opts.maxBatch ?? 500;
    this.slowMs = opts.slowMs ?? 10_000;
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.historyRows = opts.historyRows ?? 300;
    this.maxTableRows = opts.maxTableRows ?? 200;
    this.page = livePage();
  }

  /** Streams open now. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Does this path belong to the live view? */
  static claims(urlPath: string): boolean {
    return urlPath === '/live' || urlPath === '/live/events' || urlPath === '/ladder';
  }

  handle(req: IncomingRequest, res: ServerResponse, urlPath: string, target: string): void {
    if (urlPath === '/live') {
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.end(this.page);
    } else if (urlPath === '/live/events') this.events(req, res, query(target));
    else this.ladder(req, res, query(target));
  }

  /** The table as the page gets it: live connections first, TIME-WAIT records after, bounded. */
  table(): { rows: LiveConnRow[]; total: number } {
    const all = this.connections();
    const live = all.filter((i) => i.state !== 'TIME-WAIT');
    const tw = all.filter((i) => i.state === 'TIME-WAIT');
    const rows = [...live, ...tw].slice(0, this.maxTableRows).map(connRow);
    return { rows, total: all.length };
  }

  /** End every stream and stop the timers (server shutdown). */
  close(): void {
    this.closed = true;
    for (const c of [...this.clients]) c.stream.end();
    this.clients.clear();
    this.update();
  }

  private ownKey(req: IncomingRequest): string {
    const s = req.socket;
    return flowKey(s.localAddress ?? '?', s.localPort ?? 0, s.remoteAddress ?? '?', s.remotePort ?? 0);
  }

  /** The decoder for a flow key, oriented by the ring (the opener on the left; else the peer). */
  private decoderFor(key: string): FlowDecoder | undefined {
    const ends = parseFlowKey(key);
    if (ends === undefined) return undefined;
    const [local, remote] = ends;
    return new FlowDecoder(orientFlow(this.ring, local, remote, remote));
  }

  private events(req: IncomingRequest, res: ServerResponse, q: URLSearchParams): void {
    if (this.closed || this.clients.size >= this.maxClients) {
      res.setHeader('Retry-After', '5');
      plain(res, 503, `Service Unavailable: at most ${this.maxClients} live streams at once\n`);
      return;
    }
    if (req.method === 'HEAD') {
      // The head a GET would get, and no stream (it would never end: RFC 9110 §9.3.2).
      res.statusCode = 200;
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.end();
      return;
    }
    const flow = q.get('flow') ?? undefined;
    const dec = flow === undefined || flow === '' ? undefined : this.decoderFor(flow);
    if (flow !== undefined && flow !== '' && dec === undefined) {
      plain(res, 400, `Bad Request: flow must be LOCAL:PORT-REMOTE:PORT like 10.77.0.2:80-10.77.0.1:40000\n`);
      return;
    }
    const sinceText = q.get('since');
    const since = sinceText !== null && /^\d{1,15}$/.test(sinceText) ? Number(sinceText) : -1;
    const stream = new EventStream(res, { heartbeatMs: this.heartbeatMs });
    const own = this.ownKey(req);
    const isSelf = flow !== undefined && flow === own;
    const c: Client = { stream, own, flow: flow || undefined, dec: isSelf ? undefined : dec, pending: [], skipped: 0, lastTable: '' };
    this.clients.add(c);
    stream.onClose(() => {
      this.clients.delete(c);
      this.update();
    });
    stream.onDrain(() => this.sendBatch(c));
    const ends = dec?.ends;
    stream.send(
      'hello',
      JSON.stringify({ own, flow: c.flow ?? null, left: ends ? endpointText(ends.left) : null, right: ends ? endpointText(ends.right) : null }),
    );
    if (isSelf) stream.send('self', '{}');
    this.sendTable(c, JSON.stringify(this.table()));
    if (c.dec !== undefined) {
      const rows = decodeHistory(this.ring, c.dec, this.historyRows).filter((r) => r.n > since);
      if (rows.length > 0) stream.send('segs', JSON.stringify(rows));
    }
    this.update();
  }

  private ladder(req: IncomingRequest, res: ServerResponse, q: URLSearchParams): void {
    const own = this.ownKey(req);
    const flow = q.get('flow') || own;
    const dec = this.decoderFor(flow);
    if (dec === undefined) {
      plain(res, 400, `Bad Request: flow must be LOCAL:PORT-REMOTE:PORT like 10.77.0.2:80-10.77.0.1:40000\n`);
      return;
    }
    const rows = decodeHistory(this.ring, dec, this.historyRows);
    const info = this.connections().find((i) => flowKey(i.localAddress, i.localPort, i.remoteAddress, i.remotePort) === flow);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(
      ladderPage({
        flow,
        own: flow === own,
        left: endpointText(dec.ends.left),
        right: endpointText(dec.ends.right),
        rows,
        conn: info ? connRow(info) : null,
        last: rows.length > 0 ? rows[rows.length - 1]!.n : -1,
      }),
    );
  }

  /** Start or stop the timers and the ring's feed to match who is watching. */
  private update(): void {
    const any = this.clients.size > 0;
    const watching = [...this.clients].some((c) => c.dec !== undefined);
    this.ring.onRecord = watching ? (seq) => this.onRecord(seq) : undefined;
    if (any && this.batchTimer === undefined) {
      this.batchTimer = setInterval(() => this.tick(), this.batchMs);
      this.batchTimer.unref();
    } else if (!any && this.batchTimer !== undefined) {
      clearInterval(this.batchTimer);
      this.batchTimer = undefined;
    }
    if (any && this.tableTimer === undefined) {
      this.tableTimer = setInterval(() => this.tableTick(), this.tableMs);
      this.tableTimer.unref();
    } else if (!any && this.tableTimer !== undefined) {
      clearInterval(this.tableTimer);
      this.tableTimer = undefined;
    }
  }

  private onRecord(seq: number): void {
    const slot = this.ring.slot(seq);
    if (slot === undefined) return;
    for (const c of this.clients) {
      if (c.dec === undefined) continue;
      const row = c.dec.decode(slot);
      if (row === undefined) continue;
      if (c.pending.length < this.maxBatch) c.pending.push(row);
      else c.skipped++;
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const c of [...this.clients]) {
      if (c.stream.congested) {
        if (now - c.stream.congestedSince > this.slowMs) {
          this.droppedSlow++;
          c.stream.destroy();
        }
        continue;
      }
      this.sendBatch(c);
    }
  }

  private sendBatch(c: Client): void {
    if (c.stream.congested || c.stream.closed) return;
    if (c.skipped > 0) {
      c.stream.send('skipped', JSON.stringify({ n: c.skipped }));
      c.skipped = 0;
    }
    if (c.pending.length > 0) {
      const rows = c.pending;
      c.pending = [];
      c.stream.send('segs', JSON.stringify(rows));
    }
  }

  private tableTick(): void {
    const json = JSON.stringify(this.table());
    for (const c of this.clients) this.sendTable(c, json);
  }

  private sendTable(c: Client, json: string): void {
    if (c.stream.congested || json === c.lastTable) return;
    c.lastTable = json;
    c.stream.send('conns', json);
  }
}
