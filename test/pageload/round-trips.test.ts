/**
 * The timing model in virtual time: with a fixed one-way delay of 50 ms (RTT 100 ms), no rate limit
 * and objects that fit in one segment, every mode takes exactly the round trips the chapter counts:
 *   serial       page + N objects, each = handshake RTT + request RTT
 *   persistent   1 handshake, then one RTT per request
 *   pipelined:d  1 handshake, the page, then ceil(N / d) RTTs
 *   parallel:K   the page, then ceil(N / K) x (handshake + request)
 */
import { describe, expect, it } from 'vitest';
import { demoObjects } from '../../src/pageload/client.ts';
import type { PageLoadResult } from '../../src/pageload/model.ts';
import { simulatePageLoad } from '../../src/pageload/sim.ts';
import { parseMode, parseSimSpec } from '../../src/pageload/spec.ts';

const RTT = 100;
const sim = parseSimSpec('delay=50ms');

async function load(mode: string, n = 4, paths?: { method: string; path: string }[]): Promise<PageLoadResult> {
  return simulatePageLoad({ sim, mode: parseMode(mode), pagePath: '/bytes/200', objects: paths ?? demoObjects(n, 100) });
}

const handshakeMs = (r: PageLoadResult): number[] => r.connections.map((c) => c.establishedAt - c.synAt);
const requestMs = (r: PageLoadResult): number[] => r.connections.flatMap((c) => c.requests.map((q) => q.lastByteAt - q.sentAt));

describe('round trips per mode (--sim delay=50ms)', () => {
  it('serial: N + 1 connections, each a handshake RTT and a request RTT', async () => {
    const r = await load('serial', 3);
    expect(r.handshakes).toBe(4);
    expect(r.requests).toBe(4);
    expect(handshakeMs(r)).toEqual([RTT, RTT, RTT, RTT]);
    expect(requestMs(r)).toEqual([RTT, RTT, RTT, RTT]);
    expect(r.connections.map((c) => c.synAt)).toEqual([0, 2 * RTT, 4 * RTT, 6 * RTT]);
    expect(r.pageMs).toBe(4 * 2 * RTT);
    expect(r.retransmits).toEqual({ client: 0, server: 0 });
    expect(r.connections.flatMap((c) => c.requests.map((q) => q.status))).toEqual([200, 200, 200, 200]);
  });

  it('persistent: one handshake, then one RTT per request, one at a time', async () => {
    const r = await load('persistent', 4);
    expect(r.handshakes).toBe(1);
    expect(r.connections[0]!.requests.map((q) => q.sentAt)).toEqual([RTT, 2 * RTT, 3 * RTT, 4 * RTT, 5 * RTT]);
    expect(requestMs(r)).toEqual([RTT, RTT, RTT, RTT, RTT]);
    expect(r.pageMs).toBe(RTT + 5 * RTT);
    expect(r.connections[0]!.requests.some((q) => q.pipelined)).toBe(false);
  });

  it('pipelined: every object sent at once after the page, all back one RTT later', async () => {
    const r = await load('pipelined', 4);
    expect(r.handshakes).toBe(1);
    const objs = r.connections[0]!.requests.slice(1);
    expect(objs.map((q) => q.sentAt)).toEqual([2 * RTT, 2 * RTT, 2 * RTT, 2 * RTT]);
    expect(objs.map((q) => q.pipelined)).toEqual([false, true, true, true]);
    expect(r.pageMs).toBe(3 * RTT);
  });

  it('pipelined:2: at most two outstanding, so 4 objects take two RTTs', async () => {
    const r = await load('pipelined:2', 4);
    const objs = r.connections[0]!.requests.slice(1);
    expect(objs.map((q) => q.sentAt)).toEqual([2 * RTT, 2 * RTT, 3 * RTT, 3 * RTT]);
    expect(r.pageMs).toBe(4 * RTT);
  });

  it('parallel:2: 4 objects on 4 new connections, two at a time', async () => {
    const r = await load('parallel:2', 4);
    expect(r.handshakes).toBe(5);
    expect(r.connections.map((c) => c.synAt)).toEqual([0, 2 * RTT, 2 * RTT, 4 * RTT, 4 * RTT]);
    expect(handshakeMs(r)).toEqual([RTT, RTT, RTT, RTT, RTT]);
    expect(r.pageMs).toBe(2 * RTT + 2 * (2 * RTT));
  });

  it('persistent:2: the page connection is reused and one more is opened', async () => {
    const r = await load('persistent:2', 4);
    expect(r.handshakes).toBe(2);
    // Object 2 waits for the second connection's handshake; the first connection, free sooner, takes
    // 3. At 4 RTT both are free at the same instant: object 4 takes one of them, either is right.
    expect(r.connections[0]!.requests.slice(0, 3).map((q) => q.index)).toEqual([0, 1, 3]);
    expect(r.connections[1]!.synAt).toBe(2 * RTT);
    expect(r.connections[1]!.requests[0]!).toMatchObject({ index: 2, sentAt: 3 * RTT });
    const last = r.connections.flatMap((c) => c.requests).find((q) => q.index === 4)!;
    expect(last.sentAt).toBe(4 * RTT);
    expect(r.connections.reduce((n, c) => n + c.requests.length, 0)).toBe(5);
    expect(r.pageMs).toBe(5 * RTT);
  });

  it('pipelined /delay/500 then /delay/300: the fast response waits behind the slow one (head of line)', async () => {
    const r = await load('pipelined', 0, [
      { method: 'GET', path: '/delay/500' },
      { method: 'GET', path: '/delay/300' },
    ]);
    const [slow, fast] = r.connections[0]!.requests.slice(1);
    expect(slow!.sentAt).toBe(2 * RTT);
    expect(fast!.sentAt).toBe(2 * RTT);
    // Served in order (RFC 9112 §9.3.2): the 300 ms answer leaves only after the 500 ms one.
    expect(slow!.lastByteAt).toBe(2 * RTT + RTT + 500);
    expect(fast!.lastByteAt).toBe(slow!.lastByteAt);
  });

  it('a POST is not pipelined: sent when the connection is idle, and nothing goes behind it', async () => {
    const r = await load('pipelined', 0, [
      { method: 'GET', path: '/bytes/10' },
      { method: 'POST', path: '/echo' },
      { method: 'GET', path: '/bytes/20' },
      { method: 'GET', path: '/bytes/30' },
    ]);
    const [a, post, b, c] = r.connections[0]!.requests.slice(1);
    expect(r.notPipelined).toEqual([2]);
    expect(post!.method).toBe('POST');
    expect(post!.pipelined).toBe(false);
    expect(post!.sentAt).toBe(a!.lastByteAt);
    expect(b!.sentAt).toBe(post!.lastByteAt);
    expect(c!.sentAt).toBe(b!.sentAt);
    expect(c!.pipelined).toBe(true);
  });

  it('a narrow link: at 1 Mbit/s the bytes, not the round trips, set the time, so parallel helps little', async () => {
    const slow = parseSimSpec('delay=25ms,rate=1mbit');
    const objects = demoObjects(6, 20_000);
    const run = (m: string) => simulatePageLoad({ sim: slow, mode: parseMode(m), pagePath: '/', objects });
    const [persistent, parallel] = [await run('persistent'), await run('parallel:6')];
    // 120 kB at 1 Mbit/s is about 1 s on the wire in any mode.
    expect(parallel.pageMs).toBeGreaterThan(1000);
    expect(persistent.pageMs - parallel.pageMs).toBeLessThan(0.25 * persistent.pageMs);
  });

  it('the same spec gives the same timings every run, loss included', async () => {
    const lossy = parseSimSpec('delay=20ms,rate=10mbit,loss=3%,seed=5');
    const run = () => simulatePageLoad({ sim: lossy, mode: parseMode('parallel:3'), pagePath: '/', objects: demoObjects(6, 30_000) });
    const [x, y] = [await run(), await run()];
    expect(JSON.stringify(x)).toBe(JSON.stringify(y));
    expect(x.retransmits.client + (x.retransmits.server ?? 0)).toBeGreaterThan(0);
  });
});

describe('a server that ends a persistent connection', () => {
  it('persistent: when a response says Connection: close, the next object goes on a new connection', async () => {
    // The demo server's default keep-alive limit is 100 requests per connection (src/http/server.ts).
    const r = await simulatePageLoad({ sim, mode: parseMode('persistent'), pagePath: '/', objects: demoObjects(120, 10) });
    expect(r.handshakes).toBe(2);
    expect(r.connections.map((c) => c.requests.length)).toEqual([100, 21]);
    expect(r.connections[1]!.synAt).toBe(r.connections[0]!.requests[99]!.lastByteAt);
  });

  it('pipelined: the requests the server left unanswered when it closed go again, in order, on a new connection (RFC 9112 §9.3.2)', async () => {
    const r = await simulatePageLoad({ sim, mode: parseMode('pipelined'), pagePath: '/', objects: demoObjects(150, 10) });
    expect(r.handshakes).toBe(2);
    // The first connection answered 100 (the page and objects 1-99); the rest came on the second.
    expect(r.connections[0]!.requests.map((q) => q.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(r.connections[1]!.requests.map((q) => q.index)).toEqual(Array.from({ length: 51 }, (_, i) => 100 + i));
    expect(r.connections.flatMap((c) => c.requests.map((q) => q.status)).every((st) => st === 200)).toBe(true);
    expect(r.requests).toBe(151);
    // What was pipelined behind the 100th response and never answered was sent again, first on the new connection.
    expect(r.resent.length).toBeGreaterThan(0);
    expect(r.resent).toEqual(Array.from({ length: r.resent.length }, (_, i) => 100 + i));
  });

  it('pipelined: a POST behind the response that says Connection: close waits for the next connection (it is never sent twice)', async () => {
    // Object 100 is a POST: it waits for the connection to be idle, and by then the server has said it closes.
    const objects = [...demoObjects(99, 10), { method: 'POST', path: '/echo' }];
    const r = await simulatePageLoad({ sim, mode: parseMode('pipelined'), pagePath: '/', objects });
    // The 100th response (object 99) says Connection: close, so the POST goes on a new connection: not resent.
    expect(r.resent).toEqual([]);
    expect(r.connections.map((c) => c.requests.length)).toEqual([100, 1]);
    expect(r.connections[1]!.requests[0]!.method).toBe('POST');
  });
});
