/**
 * Nothing received holds more memory than it carries. The device hands packets out as views into
 * 256 KiB ArrayBuffers (ChunkedDevice, one chunk per packet: the worst case of the TUN device), and
 * an attacker on the memory link (virtual time) sends 1-byte segments that the stack has to keep:
 * out of order (reassembly), in order to a reader that does not read (the socket's queue, up to a
 * zero window), and as an HTTP body nobody reads yet. Kept as views, each held byte would pin a
 * whole chunk (2,048 bytes -> 512 MiB); the bound asserted here is 1 MB for all of it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.ts';
import type { IncomingRequest } from '../../src/http/incoming-request.ts';
import type { ServerResponse } from '../../src/http/server-response.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import type { TcpSocket } from '../../src/socket/tcp-socket.ts';
import { createStack, type Stack, type StackOptions } from '../../src/stack.ts';
import { RANGE_COST } from '../../src/tcp/reassembly.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { ChunkedDevice, RawPeer, bytesPattern, retainedArrayBuffers, type RawConn } from './rx-attack.ts';
import { Sim, openPair } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';

const MB = 1_000_000;
const PORT = 80;

interface World {
  clock: ManualClock;
  stack: Stack;
  peer: RawPeer;
  device: ChunkedDevice;
  step(ms: number): Promise<void>;
}

let world: World | undefined;

async function makeWorld(tcp: StackOptions['tcp'] = {}): Promise<World> {
  const clock = new ManualClock(1000);
  const [a, b] = createMemoryLink(clock, { latencyMs: 1 });
  const device = new ChunkedDevice(a);
  const stack = createStack({ device, address: '10.0.0.2', clock, tcp: { isnKey: new Uint8Array(16), ...tcp } });
  const peer = new RawPeer(b, clock, '10.0.0.1', '10.0.0.2');
  const step = async (ms: number): Promise<void> => {
    clock.advance(ms);
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
  };
  world = { clock, stack, peer, device, step };
  return world;
}

afterEach(async () => {
  await world?.stack.close();
  world = undefined;
});

async function openAll(w: World, n: number): Promise<RawConn[]> {
  const conns: RawConn[] = [];
  for (let i = 0; i < n; i++) conns.push(await w.peer.open(40000 + i, PORT, w.step));
  await w.step(5);
  return conns;
}

function tcpDropped(w: World): Record<string, number> {
  return w.stack.tcpLayer.counters.dropped;
}

function infoOf(w: World, c: RawConn) {
  return w.stack.connections().find((i) => i.remotePort === c.srcPort)!;
}

describe('received data held in memory', () => {
  it('4 x 512 out-of-order 1-byte segments keep < 1 MB of ArrayBuffers; filling the holes delivers the exact bytes', async () => {
    const w = await makeWorld();
    const got = new Map<number, Buffer[]>();
    w.stack.tcp.createServer((s: TcpSocket) => {
      const list: Buffer[] = [];
      got.set(s.remotePort, list);
      s.on('data', (d: Buffer) => list.push(Buffer.from(d)));
    }).listen(PORT);
    const conns = await openAll(w, 4);
    const before = retainedArrayBuffers();
    const data = bytesPattern(1025, 7);
    // Every other byte: 512 isolated 1-byte ranges per connection, one packet (one chunk) each.
    for (const c of conns) for (let k = 0; k < 512; k++) w.peer.data(c, 2 * k + 1, data.subarray(2 * k + 1, 2 * k + 2));
    await w.step(2);
    expect(w.device.chunks).toBeGreaterThanOrEqual(4 * 512);
    expect(w.stack.tcpLayer.rxBudget.oooHeld).toBe(4 * 512 * (1 + RANGE_COST));
    for (const c of conns) expect(infoOf(w, c).rcvNxt).toBe(c.base);
    const held = retainedArrayBuffers() - before;
    expect(held).toBeLessThan(1 * MB);

    // Fill the holes from the top down (each one merges two ranges), the first one last.
    for (const c of conns) for (let k = 511; k >= 0; k--) w.peer.data(c, 2 * k, data.subarray(2 * k, 2 * k + 1));
    await w.step(2);
    for (const c of conns) {
      expect(Buffer.concat(got.get(c.srcPort)!)).toEqual(Buffer.from(data.subarray(0, 1024)));
      expect(infoOf(w, c).rcvNxt).toBe((c.base + 1024) >>> 0);
    }
    // Byte 1024 was held after the last odd one: it arrives with the run.
    expect(w.stack.tcpLayer.rxBudget.oooHeld).toBe(0);
    expect(tcpDropped(w)['ooo-budget']).toBeUndefined();
    expect(tcpDropped(w)['ooo-ranges']).toBeUndefined();
  });

  it('4 x 512 in-order 1-byte segments into a reader that never reads (window 0) keep < 1 MB; resumed, it reads them exactly', async () => {
    const w = await makeWorld({ receiveBufferSize: 512 });
    const socks: TcpSocket[] = [];
    w.stack.tcp.createServer({ pauseOnConnect: true }, (s: TcpSocket) => socks.push(s)).listen(PORT);
    const conns = await openAll(w, 4);
    const before = retainedArrayBuffers();
    const data = bytesPattern(600, 3);
    for (const c of conns) for (let k = 0; k < 600; k++) w.peer.data(c, k, data.subarray(k, k + 1));
    await w.step(2);
    for (const c of conns) {
      const i = infoOf(w, c);
      expect(i.rcvNxt).toBe((c.base + 512) >>> 0); // the window was 512: the rest was not accepted
      expect(i.rcvWnd).toBe(0);
    }
    expect(w.stack.tcpLayer.rxBudget.rcvHeld).toBe(4 * 512);
    const held = retainedArrayBuffers() - before;
    expect(held).toBeLessThan(1 * MB);

    for (const s of socks) {
      const chunks: Buffer[] = [];
      for (let d = s.read() as Buffer | null; d !== null; d = s.read() as Buffer | null) chunks.push(d);
      await w.step(1);
      for (let d = s.read() as Buffer | null; d !== null; d = s.read() as Buffer | null) chunks.push(d);
      expect(Buffer.concat(chunks)).toEqual(Buffer.from(data.subarray(0, 512)));
    }
    await w.step(50);
    expect(w.stack.tcpLayer.rxBudget.rcvHeld).toBe(0);
    // Reading reopened the window.
    for (const c of conns) expect(infoOf(w, c).rcvWnd).toBeGreaterThan(0);
  });

  it('an echo (socket.pipe(socket)) of 4 x 512 1-byte segments into the peer\'s zero window keeps < 1 MB; the window opens, the bytes come back exactly', async () => {
    const w = await makeWorld();
    w.stack.tcp.createServer((s: TcpSocket) => s.pipe(s)).listen(PORT);
    const conns = await openAll(w, 4);
    const before = retainedArrayBuffers();
    const data = bytesPattern(512, 9);
    // The attacker's window is 0: everything echoed waits in the server's send buffer.
    for (const c of conns) for (let k = 0; k < 512; k++) w.peer.data(c, k, data.subarray(k, k + 1), 0);
    await w.step(2);
    for (const c of conns) expect(infoOf(w, c).sendQueued).toBe(512);
    const held = retainedArrayBuffers() - before;
    expect(held).toBeLessThan(1 * MB);

    for (const c of conns) w.peer.send(c, { seq: (c.base + 512) >>> 0, window: 65535 });
    await w.step(5);
    for (const c of conns) {
      const echoed = new Uint8Array(512);
      let n = 0;
      for (const seg of c.received) {
        const off = (seg.seq - c.ack) >>> 0;
        if (seg.payload.length > 0 && off < 512) {
          echoed.set(seg.payload.subarray(0, 512 - off), off);
          n = Math.max(n, off + seg.payload.length);
        }
      }
      expect(n).toBe(512);
      expect(Buffer.from(echoed)).toEqual(Buffer.from(data));
    }
  });

  it('an HTTP body sent 1 byte per segment that the handler does not read yet keeps < 1 MB; read later, it is exact', async () => {
    const w = await makeWorld();
    const reqs: IncomingRequest[] = [];
    const http: HttpServer = createHttpServer(w.stack, (req: IncomingRequest, res: ServerResponse) => {
      reqs.push(req);
      res.statusCode = 204;
      void res;
    });
    http.listen(PORT);
    const conns = await openAll(w, 4);
    const head = Buffer.from('POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 512\r\n\r\n');
    for (const c of conns) w.peer.data(c, 0, head);
    await w.step(2);
    expect(reqs.length).toBe(4);
    const before = retainedArrayBuffers();
    const body = bytesPattern(512, 11);
    for (const c of conns) for (let k = 0; k < 512; k++) w.peer.data(c, head.length + k, body.subarray(k, k + 1));
    await w.step(2);
    const held = retainedArrayBuffers() - before;
    expect(held).toBeLessThan(1 * MB);
    // Past 256 waiting pieces the server stopped reading the socket: the rest waits there, and
    // comes as the handler reads.
    for (const req of reqs) expect(req.readableLength).toBe(256);
    const chunks = reqs.map(() => [] as Buffer[]);
    for (let round = 0; round < 20; round++) {
      reqs.forEach((req, i) => {
        for (let d = req.read() as Buffer | null; d !== null; d = req.read() as Buffer | null) chunks[i]!.push(d);
      });
      await w.step(1);
    }
    reqs.forEach((req, i) => {
      expect(req.complete).toBe(true);
      expect(Buffer.concat(chunks[i]!)).toEqual(Buffer.from(body));
    });
    http.closeAllConnections();
  });

  it('a request head sent 1 byte per segment (slowloris style) keeps < 1 MB and parses', async () => {
    const w = await makeWorld();
    const urls: string[] = [];
    const http: HttpServer = createHttpServer(w.stack, { headersTimeoutMs: 600_000 }, (req: IncomingRequest, res: ServerResponse) => {
      urls.push(req.url);
      res.end('ok');
    });
    http.listen(PORT);
    const conns = await openAll(w, 4);
    const head = Buffer.from(`GET /${'x'.repeat(200)} HTTP/1.1\r\nHost: t\r\nX-Pad: ${'y'.repeat(300)}\r\n\r\n`);
    const before = retainedArrayBuffers();
    for (const c of conns) for (let k = 0; k < head.length - 1; k++) w.peer.data(c, k, head.subarray(k, k + 1));
    await w.step(2);
    const held = retainedArrayBuffers() - before;
    expect(held).toBeLessThan(1 * MB);
    expect(urls).toEqual([]);
    for (const c of conns) w.peer.data(c, head.length - 1, head.subarray(head.length - 1));
    await w.step(2);
    expect(urls).toEqual(Array(4).fill(`/${'x'.repeat(200)}`));
    http.closeAllConnections();
  });
});

describe('received-data budgets', () => {
  it('per connection: out-of-order data beyond oooBudgetPerConnection is dropped and counted', async () => {
    const w = await makeWorld({ oooBudgetPerConnection: 4096 });
    w.stack.tcp.createServer(() => {}).listen(PORT);
    const [c] = await openAll(w, 1);
    const data = bytesPattern(100, 1);
    for (let k = 0; k < 40; k++) w.peer.data(c!, 2 * k + 1, data.subarray(2 * k + 1, 2 * k + 2));
    await w.step(2);
    // Each isolated byte costs 1 + RANGE_COST: 15 fit in 4096.
    const fit = Math.floor(4096 / (1 + RANGE_COST));
    expect(w.stack.tcpLayer.rxBudget.oooHeld).toBe(fit * (1 + RANGE_COST));
    expect(tcpDropped(w)['ooo-budget']).toBe(40 - fit);
    // A piece that bridges two held ranges merges them: one range's cost comes back.
    w.peer.data(c!, 2, data.subarray(2, 3));
    await w.step(2);
    expect(w.stack.tcpLayer.rxBudget.oooHeld).toBe((fit - 2) * (1 + RANGE_COST) + 3 + RANGE_COST);
    expect(tcpDropped(w)['ooo-budget']).toBe(40 - fit);
  });

  it('stack-wide: out-of-order data beyond oooBudgetTotal is dropped, and closing gives the budget back', async () => {
    const w = await makeWorld({ oooBudgetTotal: 10_000 });
    const socks: TcpSocket[] = [];
    w.stack.tcp.createServer((s: TcpSocket) => socks.push(s)).listen(PORT);
    const conns = await openAll(w, 3);
    const data = bytesPattern(200, 2);
    for (const c of conns) for (let k = 0; k < 20; k++) w.peer.data(c, 2 * k + 1, data.subarray(2 * k + 1, 2 * k + 2));
    await w.step(2);
    const fit = Math.floor(10_000 / (1 + RANGE_COST));
    expect(w.stack.tcpLayer.rxBudget.oooHeld).toBe(fit * (1 + RANGE_COST));
    expect(tcpDropped(w)['ooo-budget']).toBe(60 - fit);
    // The first connection is reset: what it held goes back to the budget.
    socks[0]!.resetAndDestroy();
    await w.step(2);
    expect(w.stack.tcpLayer.rxBudget.oooHeld).toBe((fit - 20) * (1 + RANGE_COST));
  });

  it('stack-wide: in-order data beyond rcvBudgetTotal is dropped unacknowledged, and taken once readers made room', async () => {
    const w = await makeWorld({ rcvBudgetTotal: 1000 });
    const socks: TcpSocket[] = [];
    w.stack.tcp.createServer({ pauseOnConnect: true }, (s: TcpSocket) => socks.push(s)).listen(PORT);
    const [c1, c2] = await openAll(w, 2);
    const data = bytesPattern(1200, 5);
    for (let k = 0; k < 600; k++) w.peer.data(c1!, k, data.subarray(k, k + 1));
    for (let k = 0; k < 600; k++) w.peer.data(c2!, k, data.subarray(600 + k, 601 + k));
    await w.step(2);
    expect(w.stack.tcpLayer.rxBudget.rcvHeld).toBe(1000);
    expect(infoOf(w, c1!).rcvNxt).toBe((c1!.base + 600) >>> 0);
    expect(infoOf(w, c2!).rcvNxt).toBe((c2!.base + 400) >>> 0);
    // Byte 400 of the second connection was dropped; what follows it is out of order now, held in
    // reassembly (under its own budget) as one merged range.
    expect(tcpDropped(w)['rcv-budget']).toBe(1);
    expect(w.stack.tcpLayer.rxBudget.oooHeld).toBe(199 + RANGE_COST);
    // The ACKs to the second connection acknowledge exactly what it took.
    expect(c2!.received.at(-1)!.ack).toBe((c2!.base + 400) >>> 0);
    // The first reader reads: room again; the peer's retransmission is taken.
    const first = socks.find((s) => s.remotePort === c1!.srcPort)!;
    const read: Buffer[] = [];
    for (let d = first.read() as Buffer | null; d !== null; d = first.read() as Buffer | null) read.push(d);
    expect(Buffer.concat(read)).toEqual(Buffer.from(data.subarray(0, 600)));
    await w.step(2);
    expect(w.stack.tcpLayer.rxBudget.rcvHeld).toBe(400);
    w.peer.data(c2!, 400, data.subarray(1000, 1001));
    await w.step(2);
    expect(w.stack.tcpLayer.rxBudget.oooHeld).toBe(0);
    expect(infoOf(w, c2!).rcvNxt).toBe((c2!.base + 600) >>> 0);
    expect(w.stack.tcpLayer.rxBudget.rcvHeld).toBe(600);
  });

  it('unread bytes are given back when nothing more can be received (TIME-WAIT, CLOSED), consumed or not', () => {
    const sim = new Sim(4);
    const p = openPair(sim);
    sim.run(50);
    const server = p.server()!;
    server.autoConsume = false;
    p.client.sendAll(pattern(3000, 1));
    sim.run(50);
    expect(server.received).toBe(3000);
    expect(sim.b.rxBudget.rcvHeld).toBe(3000);
    server.conn.consumed(1000);
    expect(sim.b.rxBudget.rcvHeld).toBe(2000);
    // The server closes first, then the client: the server ends in TIME-WAIT with 2000 unconsumed.
    server.conn.shutdown();
    sim.run(50);
    p.client.conn.shutdown();
    sim.run(50);
    expect(sim.b.connectionTable().map((r) => r.state)).toEqual(['TIME-WAIT']); // a record; the owner sees CLOSED
    expect(sim.b.rxBudget.rcvHeld).toBe(0);
    server.conn.consumed(2000); // late consumption gives nothing back twice
    expect(sim.b.rxBudget.rcvHeld).toBe(0);
    expect(sim.a.rxBudget.rcvHeld).toBe(0);
    expect(sim.a.rxBudget.oooHeld + sim.b.rxBudget.oooHeld).toBe(0);
  });
});
