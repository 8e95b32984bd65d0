/**
 * The live view: SSE framing (http/event-stream.ts), the segment ring and its decoder (trace/), and
 * /live, /live/events and /ladder served by the demo site over two tunstack stacks on a memory link,
 * so every byte of the event stream crosses our own TCP. The real-browser test is
 * test/e2e/live-browser.test.ts.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createDemoHandler } from '../../src/app/demo-site.ts';
import { LiveFeed } from '../../src/app/live.ts';
import { EventStream, formatSseComment, formatSseEvent } from '../../src/http/event-stream.ts';
import type { IncomingRequest } from '../../src/http/incoming-request.ts';
import type { ServerResponse } from '../../src/http/server-response.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { TapDevice } from '../../src/link/tap-device.ts';
import { createStack, type Stack } from '../../src/stack.ts';
import type { Connection } from '../../src/tcp/connection.ts';
import { FlowDecoder, decodeHistory, flowKey, orientFlow, parseFlowKey } from '../../src/trace/flow-decoder.ts';
import { SEND_REASONS, SLOT_BYTES, SegmentRing } from '../../src/trace/segment-ring.ts';
import { SystemClock } from '../../src/util/clock.ts';
import type { TcpSocket } from '../../src/socket/tcp-socket.ts';
import { ACK, PSH, SYN, tcpPacket } from '../trace/segments.ts';
import { startServer } from '../http/http-client.ts';

describe('SSE framing', () => {
  it('one data: line per line of the payload, event and id lines, a blank line to dispatch', () => {
    expect(formatSseEvent(undefined, 'hi')).toBe('data: hi\n\n');
    expect(formatSseEvent('segs', '[1,2]')).toBe('event: segs\ndata: [1,2]\n\n');
    expect(formatSseEvent('x', 'a\nb\r\nc\rd')).toBe('event: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n');
    expect(formatSseEvent('evil\nevent: other', 'v', '7\n')).toBe('id: 7\nevent: evilevent: other\ndata: v\n\n');
    expect(formatSseComment('heart\nbeat')).toBe(': heart beat\n\n');
  });

  it('a congested response gets no more bytes: events are counted as dropped until drain', () => {
    const res = new FakeRes();
    const s = new EventStream(res as unknown as ServerResponse, { heartbeatMs: 60_000, retryMs: 1500 });
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.text()).toBe('retry: 1500\n\n');
    res.full = true;
    expect(s.send('a', '1')).toBe(true); // written, but refused: now congested
    expect(s.congested).toBe(true);
    expect(s.send('a', '2')).toBe(false);
    expect(s.send('a', '3')).toBe(false);
    expect(s.dropped).toBe(2);
    expect(res.chunks).toHaveLength(2);
    res.full = false;
    res.emit('drain');
    expect(s.congested).toBe(false);
    expect(s.send('a', '4')).toBe(true);
    expect(res.text()).toBe('retry: 1500\n\nevent: a\ndata: 1\n\nevent: a\ndata: 4\n\n');
    s.end();
    expect(res.ended).toBe(true);
    expect(s.send('a', '5')).toBe(false);
  });

  it('sends a heartbeat comment when nothing else went out', async () => {
    const res = new FakeRes();
    const s = new EventStream(res as unknown as ServerResponse, { heartbeatMs: 30 });
    await new Promise((r) => setTimeout(r, 120));
    s.end();
    expect(res.text()).toMatch(/^retry: 2000\n\n(: heartbeat\n\n)+$/);
  });
});

describe('SegmentRing and FlowDecoder', () => {
  const C = { src: '10.77.0.1', sport: 40000, dst: '10.77.0.2', dport: 80 };
  const S = { src: '10.77.0.2', sport: 80, dst: '10.77.0.1', dport: 40000 };
  const WS7 = [1, 3, 3, 7]; // NOP, window scale 7

  it('keeps the last `capacity` TCP packets, their reason and cwnd, and decodes one flow', () => {
    const ring = new SegmentRing(4);
    ring.observer('in', tcpPacket({ ...C, seq: 1000, flags: SYN, options: WS7 }), 10);
    ring.noteSent('syn-ack', 14480, 0x7fffffff);
    ring.observer('out', tcpPacket({ ...S, seq: 5000, ack: 1001, flags: SYN | ACK, options: WS7 }), 11);
    ring.observer('in', Uint8Array.of(0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 77, 0, 1, 10, 77, 0, 2), 12); // ICMP: not kept
    ring.observer('in', tcpPacket({ ...C, seq: 1001, ack: 5001, flags: ACK, win: 100 }), 12);
    ring.noteSent('rto-retransmit', 1448, 7240);
    const big = 'x'.repeat(300);
    ring.observer('out', tcpPacket({ ...S, seq: 5001, ack: 1001, flags: PSH | ACK, win: 512, payload: `HTTP/1.1 200 OK\r\n${big}` }), 13);
    expect(ring.written).toBe(4);
    const [a, b] = parseFlowKey('10.77.0.2:80-10.77.0.1:40000')!;
    const dec = new FlowDecoder(orientFlow(ring, a, b, b));
    expect(dec.ends.left.port).toBe(40000); // the SYN's sender
    const rows = decodeHistory(ring, dec, 100);
    expect(rows.map((r) => [r.n, r.dir, r.ltr, r.flags, r.seq, r.ack, r.win, r.reason])).toEqual([
      [0, 'in', true, 'SYN', 0, undefined, 65535, undefined],
      [1, 'out', false, 'SYN,ACK', 0, 1, 65535, 'syn-ack'],
      [2, 'in', true, 'ACK', 1, 1, 12800, undefined], // 100 << 7 (RFC 7323 §2.2)
      [3, 'out', false, 'PSH,ACK', 1, 1, 65536, 'rto-retransmit'],
    ]);
    expect(rows[0]!.opts).toBe('wscale 7');
    // The slot kept 128 bytes; the length is the packet's, from its IPv4 header.
    expect(rows[3]!.len).toBe(17 + 300);
    expect(rows[3]!.cwnd).toBe(1448);
    expect(rows[3]!.ssthresh).toBe('7240');
    expect(rows[3]!.preview).toBe('HTTP/1.1 200 OK');
    expect(rows[1]!.cwnd).toBeUndefined(); // not a loss: no cwnd shown
    expect(ring.slot(3)!.bytes.length).toBe(SLOT_BYTES);
    // One more packet overwrites the oldest.
    ring.observer('in', tcpPacket({ ...C, seq: 1001, ack: 5318, flags: ACK }), 14);
    expect(ring.oldest).toBe(1);
    expect(ring.slot(0)).toBeUndefined();
    expect(SEND_REASONS).toHaveLength(16);
    expect(flowKey('10.77.0.2', 80, '10.77.0.1', 40000)).toBe('10.77.0.2:80-10.77.0.1:40000');
    expect(parseFlowKey('10.77.0.2:80-10.77.0.1')).toBeUndefined();
    expect(parseFlowKey('10.77.0.2:80-10.77.0.1:99999')).toBeUndefined();
    expect(parseFlowKey('10.777.0.2:80-10.77.0.1:1')).toBeUndefined();
  });

  it('marks a retransmission (bytes already sent)', () => {
    const ring = new SegmentRing(8);
    ring.observer('in', tcpPacket({ ...C, seq: 1, flags: SYN }), 0);
    ring.observer('out', tcpPacket({ ...S, seq: 9, ack: 2, flags: SYN | ACK }), 0);
    ring.observer('in', tcpPacket({ ...C, seq: 2, ack: 10, flags: PSH | ACK, payload: 'GET / HTTP/1.1\r\n' }), 0);
    ring.observer('in', tcpPacket({ ...C, seq: 2, ack: 10, flags: PSH | ACK, payload: 'GET / HTTP/1.1\r\n' }), 0);
    const [a, b] = parseFlowKey('10.77.0.2:80-10.77.0.1:40000')!;
    const rows = decodeHistory(ring, new FlowDecoder(orientFlow(ring, a, b, b)), 100);
    expect(rows.map((r) => r.rtx ?? false)).toEqual([false, false, false, true]);
  });
});

/** A ServerResponse stand-in: records writes, refuses them while `full`. */
class FakeRes extends EventEmitter {
  statusCode = 0;
  headers: Record<string, string> = {};
  chunks: string[] = [];
  full = false;
  ended = false;
  destroyed = false;
  setHeader(n: string, v: string): void {
    this.headers[n.toLowerCase()] = v;
  }
  write(s: string): boolean {
    this.chunks.push(s);
    return !this.full;
  }
  end(s?: string): void {
    if (s !== undefined) this.chunks.push(s);
    this.ended = true;
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
  text(): string {
    return this.chunks.join('');
  }
}

describe('LiveFeed bounds', () => {
  const req = (remotePort: number) =>
    ({ socket: { localAddress: '10.77.0.2', localPort: 80, remoteAddress: '10.77.0.1', remotePort }, method: 'GET' }) as unknown as IncomingRequest;

  it('refuses streams beyond maxClients (503), and a bad flow key (400)', () => {
    const feed = new LiveFeed({ ring: new SegmentRing(16), connections: () => [], maxClients: 1, heartbeatMs: 60_000 });
    const r1 = new FakeRes();
    feed.handle(req(1), r1 as unknown as ServerResponse, '/live/events', '/live/events');
    expect(r1.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(feed.clientCount).toBe(1);
    const r2 = new FakeRes();
    feed.handle(req(2), r2 as unknown as ServerResponse, '/live/events', '/live/events');
    expect(r2.statusCode).toBe(503);
    feed.close();
    const head = new FakeRes();
    const feedH = new LiveFeed({ ring: new SegmentRing(16), connections: () => [] });
    feedH.handle({ ...req(4), method: 'HEAD' } as IncomingRequest, head as unknown as ServerResponse, '/live/events', '/live/events');
    expect([head.statusCode, head.headers['content-type'], head.ended, feedH.clientCount]).toEqual([200, 'text/event-stream; charset=utf-8', true, 0]);
    const feed2 = new LiveFeed({ ring: new SegmentRing(16), connections: () => [] });
    const r3 = new FakeRes();
    feed2.handle(req(3), r3 as unknown as ServerResponse, '/live/events', '/live/events?flow=nonsense');
    expect(r3.statusCode).toBe(400);
    expect(feed2.clientCount).toBe(0);
  });

  it('a stream that takes no bytes: rows beyond maxBatch are skipped, and it is dropped after slowMs', async () => {
    const ring = new SegmentRing(64);
    const feed = new LiveFeed({ ring, connections: () => [], maxBatch: 5, batchMs: 10, slowMs: 80, heartbeatMs: 60_000 });
    const res = new FakeRes();
    feed.handle(req(9), res as unknown as ServerResponse, '/live/events', '/live/events?flow=10.77.0.2:80-10.77.0.1:40000');
    expect(ring.onRecord).toBeDefined(); // someone watches a flow: the ring feeds the decoder
    res.full = true;
    const C = { src: '10.77.0.1', sport: 40000, dst: '10.77.0.2', dport: 80 };
    // The first batch is written (and refused: congested); then 5 rows wait, 15 are skipped.
    ring.observer('in', tcpPacket({ ...C, seq: 1, flags: SYN }), 0);
    await new Promise((r) => setTimeout(r, 30));
    const written = res.chunks.length;
    for (let i = 0; i < 20; i++) ring.observer('in', tcpPacket({ ...C, seq: 2 + i, ack: 1, flags: ACK }), i);
    await new Promise((r) => setTimeout(r, 200));
    expect(res.chunks.length).toBe(written); // nothing more was written to the congested stream
    expect(res.destroyed).toBe(true);
    expect(feed.droppedSlow).toBe(1);
    expect(feed.clientCount).toBe(0);
    expect(ring.onRecord).toBeUndefined(); // nobody watches: recording is back to the bare copy
  });
});

describe('/live/events to an HTTP/1.0 client', () => {
  it('is close-delimited (no chunked framing), and its end closes the connection', async () => {
    const feed = new LiveFeed({ ring: new SegmentRing(16), connections: () => [], heartbeatMs: 60_000 });
    const running = await startServer(createDemoHandler({ live: feed }));
    try {
      const got = new Promise<string>((resolve, reject) => {
        const sock = net.connect(running.port, '127.0.0.1');
        let text = '';
        sock.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          if (text.includes('event: conns')) feed.close(); // the stream's end is the body's end
        });
        sock.on('close', () => resolve(text));
        sock.on('error', reject);
        sock.write('GET /live/events HTTP/1.0\r\n\r\n');
      });
      const text = await got;
      const [head, body] = text.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(head).toMatch(/\r\nConnection: close/i);
      expect(head).not.toMatch(/Transfer-Encoding/i);
      expect(body).toMatch(/^retry: 2000\n\nevent: hello\ndata: \{"own":"127\.0\.0\.1:\d+-127\.0\.0\.1:\d+","flow":null,"left":null,"right":null\}\n\nevent: conns\ndata: \{"rows":\[\],"total":0\}\n\n$/);
    } finally {
      await running.close();
    }
  });
});

// ---- over two stacks -------------------------------------------------------------------------

interface SseEvent {
  event: string;
  data: string;
}

/** Reads one HTTP response with a chunked body as it arrives, and parses its SSE events. */
class SseReader {
  head = '';
  events: SseEvent[] = [];
  private raw = Buffer.alloc(0);
  private body = '';
  private headDone = false;
  constructor(socket: TcpSocket) {
    socket.on('data', (d: Buffer) => {
      this.raw = Buffer.concat([this.raw, d]);
      this.parse();
    });
  }
  private parse(): void {
    if (!this.headDone) {
      const end = this.raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.raw.subarray(0, end).toString('latin1');
      this.raw = this.raw.subarray(end + 4);
      this.headDone = true;
    }
    // Chunked (RFC 9112 §7.1): size CRLF data CRLF.
    for (;;) {
      const eol = this.raw.indexOf('\r\n');
      if (eol < 0) return;
      const size = parseInt(this.raw.subarray(0, eol).toString('latin1'), 16);
      if (this.raw.length < eol + 2 + size + 2) return;
      this.body += this.raw.subarray(eol + 2, eol + 2 + size).toString('utf8');
      this.raw = this.raw.subarray(eol + 2 + size + 2);
      let sep: number;
      while ((sep = this.body.indexOf('\n\n')) >= 0) {
        const block = this.body.slice(0, sep);
        this.body = this.body.slice(sep + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length > 0) this.events.push({ event, data: data.join('\n') });
      }
    }
  }
  of(event: string): unknown[] {
    return this.events.filter((e) => e.event === event).map((e) => JSON.parse(e.data) as unknown);
  }
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function connectTo(client: Stack): Promise<TcpSocket> {
  return new Promise((resolve, reject) => {
    const s = client.tcp.connect({ host: '10.0.0.2', port: 80 }, () => resolve(s));
    s.on('error', reject);
  });
}

describe('/live, /live/events and /ladder over our own TCP', () => {
  it('streams the table and a chosen connection, past the keep-alive idle timeout; /ladder draws the visitor', async () => {
    const clock = new SystemClock();
    const [a, b] = createMemoryLink(clock, { latencyMs: 1 });
    const ring = new SegmentRing(1024);
    const server = createStack({ device: new TapDevice(a, ring.observer, clock), address: '10.0.0.2', clock });
    server.tcpLayer.onSegmentSent = (c, _seg, reason) => ring.noteSent(reason, (c as Connection).cc.cwnd, (c as Connection).cc.ssthresh);
    const client = createStack({ device: b, address: '10.0.0.1', clock });
    const live = new LiveFeed({ ring, connections: () => server.connections(), tableMs: 100, batchMs: 20 });
    // A short keep-alive idle timeout: the stream must outlive it.
    const http = createHttpServer(server, { keepAliveTimeoutMs: 150 }, createDemoHandler({ live }));
    await new Promise<void>((r) => http.listen(80, () => r()));
    const sockets: TcpSocket[] = [];
    try {
      // The connection to watch: one request now, one later.
      const watched = await connectTo(client);
      sockets.push(watched);
      let watchedText = '';
      watched.on('data', (d: Buffer) => (watchedText += d.toString('latin1')));
      watched.write('GET /ladder HTTP/1.1\r\nHost: s\r\n\r\n');
      await until(() => watchedText.includes('</html>'));
      expect(watchedText).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(watchedText).toContain('Your connection, segment by segment');
      const rowsJson = /var rows=(\[.*?\]), el=/.exec(watchedText)![1]!;
      const rows = JSON.parse(rowsJson) as { flags: string; ltr: boolean; seq: number; reason?: string; preview?: string }[];
      // The visitor's handshake and request, the opener (the client) on the left.
      expect(rows.slice(0, 4).map((r) => [r.flags, r.ltr, r.reason ?? null])).toEqual([
        ['SYN', true, null],
        ['SYN,ACK', false, 'syn-ack'],
        ['ACK', true, null],
        ['PSH,ACK', true, null],
      ]);
      expect(rows[3]!.preview).toBe('GET /ladder HTTP/1.1');
      const key = flowKey('10.0.0.2', 80, '10.0.0.1', watched.localPort!);

      // The live page itself.
      const pageSock = await connectTo(client);
      sockets.push(pageSock);
      let page = '';
      pageSock.on('data', (d: Buffer) => (page += d.toString('latin1')));
      pageSock.write('GET /live HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n');
      await until(() => page.includes('</html>'));
      expect(page).toContain("new EventSource('/live/events'");
      expect(page).not.toMatch(/<(script|link|img)[^>]+(src|href)=["']?https?:/); // self-contained

      // The stream, watching `watched`.
      const es = await connectTo(client);
      sockets.push(es);
      const sse = new SseReader(es);
      es.write(`GET /live/events?flow=${encodeURIComponent(key)} HTTP/1.1\r\nHost: s\r\n\r\n`);
      await until(() => sse.of('conns').length > 0 && sse.of('segs').length > 0);
      expect(sse.head).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(sse.head).toMatch(/\r\nContent-Type: text\/event-stream; charset=utf-8/i);
      expect(sse.head).toMatch(/\r\nTransfer-Encoding: chunked/i);
      const hello = sse.of('hello')[0] as { own: string; flow: string; left: string; right: string };
      expect(hello.flow).toBe(key);
      expect(hello.own).toBe(flowKey('10.0.0.2', 80, '10.0.0.1', es.localPort!));
      expect(hello.left).toBe(`10.0.0.1:${watched.localPort}`);
      const table = sse.of('conns')[0] as { rows: { key: string; state: string; ssthresh: string }[] };
      const row = table.rows.find((r) => r.key === key)!;
      expect(row.state).toBe('ESTABLISHED');
      expect(row.ssthresh).toBe('initial');
      const history = (sse.of('segs')[0] as { flags: string }[]).map((r) => r.flags);
      expect(history.slice(0, 3)).toEqual(['SYN', 'SYN,ACK', 'ACK']);

      // Wait past the idle timeout, then use the watched connection: new rows arrive, live.
      await new Promise((r) => setTimeout(r, 400));
      const before = sse.of('segs').length;
      const tablesBefore = sse.of('conns').length;
      // The watched connection itself was closed by its idle timeout (150 ms): a new one to watch
      // would need a new stream; the stream shows the close (FIN) of the watched one instead.
      const all = sse.of('segs').flat() as { flags: string; dir: string; reason?: string }[];
      expect(all.some((r) => r.flags.includes('FIN') && r.dir === 'out' && r.reason === 'fin')).toBe(true);
      expect(sse.of('conns').length).toBeGreaterThanOrEqual(tablesBefore);
      expect(before).toBeGreaterThan(1);
      // The stream is still open after the idle timeout: a heartbeat-free check, a later table.
      await until(() => sse.of('conns').length > tablesBefore, 2000);
      expect(live.clientCount).toBe(1);
      const last = sse.of('conns').at(-1) as { rows: { key: string }[] };
      expect(last.rows.some((r) => r.key === hello.own)).toBe(true);
    } finally {
      live.close();
      for (const s of sockets) s.destroy();
      http.close();
      await client.close();
      await server.close();
    }
  });
});
