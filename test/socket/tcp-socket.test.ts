import { describe, it, expect } from 'vitest';
import { TcpNet } from '../../src/socket/tcp-net.ts';
import type { TcpSocket } from '../../src/socket/tcp-socket.ts';
import type { TcpServerOptions } from '../../src/socket/tcp-server.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { twoEndpoints, settle, type FakeConnection, type FakeOptions } from './fake-tcp.ts';
import { pattern } from '../helpers/pattern.ts';
import { record as recordEvents } from '../helpers/record.ts';

interface Pair {
  client: TcpSocket;
  server: TcpSocket;
  clientConn: FakeConnection;
  serverConn: FakeConnection;
  clock: ManualClock;
}

async function connectedPair(
  fake: FakeOptions = {},
  serverOpts: TcpServerOptions = {},
  clientOpts: { allowHalfOpen?: boolean } = {},
): Promise<Pair> {
  const eps = twoEndpoints(fake);
  const clock = new ManualClock();
  const serverNet = new TcpNet(eps.server, { clock, localAddress: '10.0.0.2' });
  const clientNet = new TcpNet(eps.client, { clock });
  let server: TcpSocket | undefined;
  serverNet.createServer(serverOpts, (s) => (server = s)).listen(80);
  await settle();
  const client = clientNet.connect({ host: '10.0.0.2', port: 80, ...clientOpts });
  await settle();
  expect(server).toBeDefined();
  return { client, server: server!, clientConn: eps.client.conns[0]!, serverConn: eps.server.conns[0]!, clock };
}

function collect(sock: TcpSocket): { chunks: Buffer[]; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  return { chunks, bytes: () => Buffer.concat(chunks) };
}

const record = (sock: TcpSocket): string[] => recordEvents(sock, ['connect', 'ready', 'end', 'finish', 'timeout', 'drain']);

describe('TcpSocket data transfer', () => {
  it('delivers a large write intact and in order through small buffers, then end -> one FIN', async () => {
    const p = await connectedPair({ sendBuffer: 4096, recvBuffer: 3000, mss: 536 });
    const got = collect(p.server);
    const data = pattern(200_000);
    p.client.end(data);
    await settle(400);
    expect(got.bytes().equals(data)).toBe(true);
    expect(p.server.bytesRead).toBe(200_000);
    expect(p.client.bytesWritten).toBe(200_000);
    // FIN exactly once, after every byte had been accepted by the send buffer.
    const calls = p.clientConn.calls;
    expect(p.clientConn.countCalls('shutdown')).toBe(1);
    const shutdownAt = calls.findIndex((c) => c.op === 'shutdown');
    const lastWrite = calls.map((c) => c.op).lastIndexOf('write');
    expect(shutdownAt).toBeGreaterThan(lastWrite);
    let accepted = 0;
    for (const c of calls) if (c.op === 'write') accepted += c.accepted;
    expect(accepted).toBe(200_000);
    // The server consumed everything it was handed, so the window is fully open again.
    expect(p.serverConn.consumedTotal()).toBe(200_000);
    expect(p.serverConn.unconsumed).toBe(0);
  });

  it('coalesced writes (writev) keep their order', async () => {
    const p = await connectedPair({ sendBuffer: 1000 });
    const got = collect(p.server);
    p.client.cork();
    const parts = [pattern(700, 1), pattern(900, 2), pattern(1300, 3)];
    for (const part of parts) p.client.write(part);
    p.client.uncork();
    await settle(50);
    expect(got.bytes().equals(Buffer.concat(parts))).toBe(true);
  });

  it('a slow reader closes the window; the writer sees write() false, then drain after resume', async () => {
    const p = await connectedPair({ sendBuffer: 8192, recvBuffer: 8192 });
    const got = collect(p.server);
    p.server.pause();
    const clientLog = record(p.client);
    const data = pattern(100_000);
    let writeDone = false;
    expect(p.client.write(data, () => (writeDone = true))).toBe(false);
    await settle(100);
    // The reader's stream buffer is full: the socket stopped consuming, the peer window is 0.
    const hwm = p.server.readableHighWaterMark;
    const consumedWhilePaused = p.serverConn.consumedTotal();
    expect(consumedWhilePaused).toBeGreaterThanOrEqual(hwm);
    expect(consumedWhilePaused).toBeLessThan(hwm + 1460 + 1);
    expect(p.serverConn.unconsumed).toBe(8192);
    expect(p.clientConn.writableLength).toBe(0); // no free space in the sender's TCP buffer
    expect(p.client.writableLength).toBe(100_000); // the stream still counts the held write
    expect(writeDone).toBe(false);
    expect(clientLog).not.toContain('drain');
    expect(got.chunks.length).toBe(0); // paused: nothing emitted
    // Nothing moves while paused, however long we wait.
    await settle(100);
    expect(p.serverConn.consumedTotal()).toBe(consumedWhilePaused);

    p.server.resume();
    await settle(200);
    expect(writeDone).toBe(true);
    expect(clientLog).toEqual(['drain']);
    expect(got.bytes().equals(data)).toBe(true);
    expect(p.serverConn.consumedTotal()).toBe(100_000);
  });

  it('pauseOnConnect reads nothing (no consumed) until resume()', async () => {
    const p = await connectedPair({ recvBuffer: 5000 }, { pauseOnConnect: true });
    p.client.write(pattern(12_000));
    await settle(50);
    expect(p.serverConn.consumedTotal()).toBe(0);
    expect(p.serverConn.unconsumed).toBe(5000);
    const got = collect(p.server);
    p.server.resume();
    await settle(100);
    expect(got.bytes().equals(pattern(12_000))).toBe(true);
  });

  it('writes made while connecting wait for the handshake and arrive first', async () => {
    const eps = twoEndpoints();
    let server: TcpSocket | undefined;
    new TcpNet(eps.server).createServer((s) => (server = s)).listen(80);
    await settle();
    const client = new TcpNet(eps.client).connect({ host: '10.0.0.2', port: 80 });
    expect(client.connecting).toBe(true);
    expect(client.readyState).toBe('opening');
    expect(client.pending).toBe(true);
    expect(client.write('hello ')).toBe(true);
    client.end('world');
    expect(eps.client.conns[0]!.countCalls('write')).toBe(0);
    const log = record(client);
    await settle();
    expect(log.slice(0, 2)).toEqual(['connect', 'ready']);
    const got = collect(server!);
    await settle();
    expect(got.bytes().toString()).toBe('hello world');
    expect(eps.client.conns[0]!.countCalls('shutdown')).toBe(1);
  });
});

describe('TcpSocket half-close', () => {
  it('allowHalfOpen false (default): the peer FIN ends our side too, then both close cleanly', async () => {
    const p = await connectedPair();
    const serverLog = record(p.server);
    const clientLog = record(p.client);
    p.server.resume();
    p.client.resume();
    p.client.end();
    await settle();
    expect(p.serverConn.countCalls('shutdown')).toBe(1);
    expect(serverLog).toEqual(['end', 'finish', 'close:false']);
    expect(clientLog).toEqual(['finish', 'end', 'close:false']);
    expect(p.serverConn.countCalls('abort')).toBe(0);
    expect(p.clientConn.countCalls('abort')).toBe(0);
  });

  it('allowHalfOpen true: after the peer FIN we can still send, and close when we end', async () => {
    const p = await connectedPair({}, { allowHalfOpen: true });
    const serverLog = record(p.server);
    const got = collect(p.client);
    p.server.resume();
    p.client.end();
    await settle();
    expect(serverLog).toEqual(['end']);
    expect(p.serverConn.countCalls('shutdown')).toBe(0);
    expect(p.server.readyState).toBe('writeOnly');
    p.server.write('late reply');
    await settle();
    expect(got.bytes().toString()).toBe('late reply');
    p.server.end();
    await settle();
    expect(serverLog).toEqual(['end', 'finish', 'close:false']);
    expect(p.client.destroyed).toBe(true);
  });

  it('write after the peer ended us (allowHalfOpen false) is EPIPE', async () => {
    const p = await connectedPair();
    const serverLog = record(p.server);
    p.server.resume();
    let cbErr: (Error & { code?: string }) | undefined;
    let result: boolean | undefined;
    // At 'finish' our FIN is queued and the socket not yet destroyed: the write is refused, as in Node.
    p.server.once('finish', () => (result = p.server.write('x', (e) => (cbErr = e ?? undefined))));
    p.client.end();
    await settle();
    expect(result).toBe(false);
    expect(cbErr?.code).toBe('EPIPE');
    expect(serverLog).toEqual(['end', 'finish', 'error:EPIPE', 'close:true']);
    expect(p.serverConn.countCalls('write')).toBe(0);
  });

  it('end() during a slow transfer sends FIN only after the last byte was accepted', async () => {
    const p = await connectedPair({ sendBuffer: 2048, recvBuffer: 2048 });
    const got = collect(p.server);
    p.client.write(pattern(30_000));
    p.client.end();
    await settle(10);
    await settle(300);
    expect(got.bytes().equals(pattern(30_000))).toBe(true);
    const shutdown = p.clientConn.calls.find((c) => c.op === 'shutdown');
    expect(shutdown).toBeDefined();
    expect(p.clientConn.countCalls('shutdown')).toBe(1);
  });
});

describe('TcpSocket destroy and reset', () => {
  it('destroy() with nothing unread closes gracefully: FIN after queued data, no RST', async () => {
    const p = await connectedPair();
    const got = collect(p.client);
    const clientLog = record(p.client);
    p.server.write(pattern(5000));
    p.server.destroy();
    await settle();
    expect(p.serverConn.countCalls('shutdown')).toBe(1);
    expect(p.serverConn.countCalls('abort')).toBe(0);
    expect(got.bytes().equals(pattern(5000))).toBe(true);
    expect(clientLog).toContain('end');
    expect(clientLog).not.toContain('error:ECONNRESET');
  });

  it('destroy() with received bytes nobody consumed sends RST (RFC 2525 §2.17), peer gets ECONNRESET', async () => {
    const p = await connectedPair({}, { pauseOnConnect: true });
    const clientLog = record(p.client);
    const serverLog = record(p.server);
    p.client.write('unread request');
    await settle();
    expect(p.serverConn.unconsumed).toBe(14);
    p.server.destroy();
    await settle();
    expect(p.serverConn.countCalls('abort')).toBe(1);
    expect(p.serverConn.countCalls('shutdown')).toBe(0);
    expect(serverLog).toEqual(['close:false']);
    expect(clientLog).toEqual(['error:ECONNRESET', 'close:true']);
  });

  it('data arriving after a graceful destroy() is answered with RST (RFC 1122 §4.2.2.13)', async () => {
    const p = await connectedPair({}, { allowHalfOpen: true }, { allowHalfOpen: true });
    const clientLog = record(p.client);
    p.client.resume();
    p.server.destroy();
    await settle();
    expect(p.serverConn.countCalls('shutdown')).toBe(1);
    expect(p.serverConn.countCalls('abort')).toBe(0);
    expect(clientLog).toEqual(['end']);
    p.client.write('anyone there?');
    await settle();
    expect(p.serverConn.countCalls('abort')).toBe(1);
    expect(clientLog).toEqual(['end', 'error:ECONNRESET', 'close:true']);
  });

  it('resetAndDestroy() always sends RST', async () => {
    const p = await connectedPair();
    const clientLog = record(p.client);
    p.server.resetAndDestroy();
    await settle();
    expect(p.serverConn.countCalls('abort')).toBe(1);
    expect(p.serverConn.countCalls('shutdown')).toBe(0);
    expect(clientLog).toEqual(['error:ECONNRESET', 'close:true']);
  });

  it('destroy(err) emits that error then close(true), and the held write callback fails', async () => {
    const p = await connectedPair({ sendBuffer: 100, recvBuffer: 100 });
    p.server.pause();
    const log = record(p.client);
    let writeErr: Error | null | undefined = null;
    p.client.write(pattern(100_000), (e) => (writeErr = e));
    await settle();
    const boom = Object.assign(new Error('boom'), { code: 'EBOOM' });
    p.client.destroy(boom);
    await settle();
    expect(log).toEqual(['error:EBOOM', 'close:true']);
    expect(writeErr).toBeInstanceOf(Error);
    // Still connected with bytes in flight but none unread on the client: graceful close.
    expect(p.clientConn.countCalls('abort')).toBe(0);
  });

  it('a peer reset surfaces as ECONNRESET then close(true); later calls are harmless', async () => {
    const p = await connectedPair();
    const log = record(p.client);
    p.clientConn.fail('ECONNRESET');
    await settle();
    expect(log).toEqual(['error:ECONNRESET', 'close:true']);
    expect(p.client.destroyed).toBe(true);
    expect(p.client.readyState).toBe('closed');
    p.client.destroy();
    expect(p.clientConn.countCalls('abort')).toBe(0);
  });

  it('destroy while connecting aborts (no FIN for a connection that never opened)', async () => {
    const eps = twoEndpoints();
    eps.client.blackhole = true;
    const s = new TcpNet(eps.client).connect(80, '10.0.0.2');
    const log = record(s);
    await settle();
    s.destroy();
    await settle();
    expect(eps.client.conns[0]!.countCalls('abort')).toBe(1);
    expect(log).toEqual(['close:false']);
  });
});

describe('TcpSocket connect errors', () => {
  it('ECONNREFUSED: error then close(true), never connect', async () => {
    const eps = twoEndpoints();
    const s = new TcpNet(eps.client).connect({ host: '10.0.0.2', port: 81 });
    const log = record(s);
    await settle();
    expect(log).toEqual(['error:ECONNREFUSED', 'close:true']);
  });

  it('ETIMEDOUT from the TCP layer surfaces the same way', async () => {
    const eps = twoEndpoints();
    eps.client.blackhole = true;
    const s = new TcpNet(eps.client).connect({ host: '10.0.0.2', port: 80 });
    const log = record(s);
    await settle();
    expect(log).toEqual([]);
    eps.client.conns[0]!.fail('ETIMEDOUT');
    await settle();
    expect(log).toEqual(['error:ETIMEDOUT', 'close:true']);
  });
});

describe('TcpSocket idle timeout', () => {
  it("emits 'timeout' after idle ms, does not close, and re-arms on activity", async () => {
    const p = await connectedPair();
    const log = record(p.server);
    p.server.resume();
    let cbCalls = 0;
    p.server.setTimeout(1000, () => cbCalls++);
    expect(p.server.timeout).toBe(1000);
    p.clock.advance(999);
    expect(log).toEqual([]);
    p.client.write('ping'); // activity at t=999
    await settle();
    p.clock.advance(999); // t=1998: idle only 999
    expect(log).toEqual([]);
    p.clock.advance(1); // t=1999: idle 1000
    expect(log).toEqual(['timeout']);
    expect(cbCalls).toBe(1);
    expect(p.server.destroyed).toBe(false);
    p.clock.advance(5000);
    expect(log).toEqual(['timeout']); // not repeated without activity
    p.server.write('pong'); // activity re-arms
    p.clock.advance(1000);
    expect(log).toEqual(['timeout', 'timeout']);
    expect(cbCalls).toBe(1); // the callback was a once-listener
    p.server.setTimeout(0);
    p.server.write('x');
    p.clock.advance(10_000);
    expect(log).toEqual(['timeout', 'timeout']);
    expect(p.clock.nextTimerAt()).toBeUndefined();
  });

  it('destroy clears the idle timer', async () => {
    const p = await connectedPair();
    p.server.setTimeout(500);
    p.server.destroy();
    await settle();
    expect(p.clock.nextTimerAt()).toBeUndefined();
  });

  it('connect({ timeout }) sets the idle timer', async () => {
    const eps = twoEndpoints();
    const clock = new ManualClock();
    eps.client.blackhole = true;
    const s = new TcpNet(eps.client, { clock }).connect({ host: '10.0.0.2', port: 80, timeout: 3000 });
    const log = record(s);
    clock.advance(3000);
    expect(log).toEqual(['timeout']);
    s.destroy();
  });
});

describe('TcpSocket properties and options', () => {
  it('reports addresses, ports, state, counters and tcpInfo', async () => {
    const p = await connectedPair();
    expect(p.client.remoteAddress).toBe('10.0.0.2');
    expect(p.client.remotePort).toBe(80);
    expect(p.client.remoteFamily).toBe('IPv4');
    expect(p.client.localAddress).toBe('10.0.0.1');
    expect(p.client.localPort).toBe(49152);
    expect(p.server.remotePort).toBe(49152);
    expect(p.server.address()).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 80 });
    expect(p.client.connecting).toBe(false);
    expect(p.client.pending).toBe(false);
    expect(p.client.readyState).toBe('open');
    expect(p.server.tcpInfo().state).toBe('ESTABLISHED');
    p.client.write(pattern(1234));
    p.server.resume();
    await settle();
    expect(p.client.bytesWritten).toBe(1234);
    expect(p.server.bytesRead).toBe(1234);
    expect(p.server.tcpInfo().bytesIn).toBe(1234);
  });

  it('setNoDelay / setKeepAlive and the server defaults reach the connection', async () => {
    const p = await connectedPair({}, { noDelay: true, keepAlive: true, keepAliveInitialDelay: 7000 });
    expect(p.serverConn.calls).toContainEqual({ op: 'setNoDelay', value: true });
    expect(p.serverConn.calls).toContainEqual({ op: 'setKeepAlive', enable: true, idleMs: 7000 });
    p.client.setNoDelay();
    p.client.setKeepAlive(true);
    expect(p.clientConn.calls).toContainEqual({ op: 'setNoDelay', value: true });
    expect(p.clientConn.calls).toContainEqual({ op: 'setKeepAlive', enable: true, idleMs: undefined });
  });
});

describe('TcpSocket with a connection that reports onClosed from inside abort()', () => {
  it('destroy() with unread data: one RST, one close, no error', async () => {
    const p = await connectedPair({ closeOnAbort: true }, { pauseOnConnect: true });
    const serverLog = record(p.server);
    const clientLog = record(p.client);
    p.client.write('unread');
    await settle();
    p.server.destroy();
    await settle();
    expect(p.serverConn.countCalls('abort')).toBe(1);
    expect(serverLog).toEqual(['close:false']);
    expect(clientLog).toEqual(['error:ECONNRESET', 'close:true']);
  });

  it('resetAndDestroy(): one RST, one close', async () => {
    const p = await connectedPair({ closeOnAbort: true });
    const serverLog = record(p.server);
    const clientLog = record(p.client);
    p.server.resetAndDestroy();
    p.server.resetAndDestroy();
    await settle();
    expect(p.serverConn.countCalls('abort')).toBe(1);
    expect(serverLog).toEqual(['close:false']);
    expect(clientLog).toEqual(['error:ECONNRESET', 'close:true']);
  });
});

describe('TcpSocket handler exceptions', () => {
  it("a throwing 'data' handler does not unwind through the TCP layer; it is rethrown on the next tick", async () => {
    const p = await connectedPair();
    const boom = new Error('handler bug');
    p.server.on('data', () => {
      throw boom;
    });
    await settle(); // flowing now: push() emits 'data' synchronously
    const caught: unknown[] = [];
    const onUncaught = (e: unknown) => caught.push(e);
    // vitest installs its own listener; take it out for the duration so the rethrow is observable.
    const previous = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      // Call the connection's callback the way the stack does (the fake's accounting updated first).
      p.serverConn.unconsumed += 3;
      expect(() => p.serverConn.events!.onData(Buffer.from('abc'))).not.toThrow();
      expect(caught).toEqual([]);
      await settle();
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      for (const l of previous) process.on('uncaughtException', l);
    }
    expect(caught).toEqual([boom]);
    expect(p.serverConn.consumedTotal()).toBe(3);
  });

  it('destroySoon() ends, then destroys after finish', async () => {
    const p = await connectedPair();
    const got = collect(p.client);
    p.server.write('bye');
    p.server.destroySoon();
    await settle();
    expect(got.bytes().toString()).toBe('bye');
    expect(p.server.destroyed).toBe(true);
    expect(p.serverConn.countCalls('shutdown')).toBe(1);
    expect(p.serverConn.countCalls('abort')).toBe(0);
  });
});

describe('TcpSocket edge cases', () => {
  it('readyState follows the half-closes: open -> readOnly after end() -> closed', async () => {
    const p = await connectedPair({}, { allowHalfOpen: true }, { allowHalfOpen: true });
    expect(p.client.readyState).toBe('open');
    p.client.end();
    await settle();
    expect(p.client.readyState).toBe('readOnly');
    p.server.resume();
    p.client.resume();
    p.server.end();
    await settle();
    expect(p.client.readyState).toBe('closed');
  });

  it('setTimeout rejects a negative delay with ERR_OUT_OF_RANGE', async () => {
    const p = await connectedPair();
    expect(() => p.client.setTimeout(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('a normal close while a write still waits for send-buffer space fails that write with EPIPE', async () => {
    const p = await connectedPair({ sendBuffer: 10, recvBuffer: 10 });
    p.server.pause();
    const log = record(p.client);
    let writeErr: (Error & { code?: string }) | null | undefined = null;
    p.client.write(pattern(100_000), (e) => (writeErr = e));
    await settle();
    // The stack reports the connection over (as it would after both FINs) with bytes still held.
    p.clientConn.reportClosed(undefined);
    await settle();
    expect(writeErr).not.toBeNull();
    expect(writeErr!.code).toBe('EPIPE');
    expect(log).toEqual(['error:EPIPE', 'close:true']);
  });

  it('bytesRead counts bytes held for a paused reader; they are delivered after resume', async () => {
    const p = await connectedPair({}, { pauseOnConnect: true });
    p.client.write(pattern(3000));
    await settle();
    expect(p.server.bytesRead).toBe(3000);
    expect(p.server.readableLength).toBe(0);
    const got = collect(p.server);
    await settle();
    expect(got.chunks.length).toBe(0); // explicitly paused: a 'data' listener alone does not resume
    p.server.resume();
    await settle();
    expect(got.bytes().equals(pattern(3000))).toBe(true);
  });
});

describe('TcpSocket buffer ownership', () => {
  it('bytes held for a slow reader are copied out of the packet buffer; a flowing reader gets the view', async () => {
    const p = await connectedPair({}, { pauseOnConnect: true });
    const chunk = new Uint8Array(1 << 20); // stands for the device's shared receive chunk
    chunk.set([1, 2, 3, 4, 5], 1000);
    p.serverConn.unconsumed += 5;
    p.serverConn.events!.onData(chunk.subarray(1000, 1005));
    const got: Buffer[] = [];
    p.server.on('data', (d: Buffer) => got.push(d));
    p.server.resume();
    await settle();
    expect(got.length).toBe(1);
    expect([...got[0]!]).toEqual([1, 2, 3, 4, 5]);
    expect(got[0]!.buffer).not.toBe(chunk.buffer);
    // Now flowing with an empty buffer: no copy.
    p.serverConn.unconsumed += 3;
    p.serverConn.events!.onData(chunk.subarray(2000, 2003));
    expect(got.length).toBe(2);
    expect(got[1]!.buffer).toBe(chunk.buffer);
    expect(got[1]!.byteOffset).toBe(2000);
  });
});
