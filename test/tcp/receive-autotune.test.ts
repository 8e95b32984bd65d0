/**
 * Receive buffer autotuning (src/tcp/receiver.ts, Receiver.autotune): the window a receiver offers
 * grows as its reader keeps up, never when the reader does not read, never past receiveBufferMax,
 * not at all when SO_RCVBUF fixed the buffer; and the right edge it offers never moves left.
 */
import { describe, expect, it } from 'vitest';
import { ADDR_B, Owner, Sim } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';
import { seqAdd, seqSub } from '../../src/wire/seq.ts';
import { SYN } from '../../src/wire/tcp.ts';
import type { Connection } from '../../src/tcp/connection.ts';
import type { ConnectionOptions } from '../../src/tcp/api.ts';
import { Receiver } from '../../src/tcp/receiver.ts';

const MIB = 1024 * 1024;

/** a sends `bytes` to b over a 20 ms round trip; b's reader reads at once unless `stall`. */
function upload(bytes: number, opts: { stall?: boolean; listen?: ConnectionOptions; runMs?: number } = {}) {
  const sim = new Sim(1);
  sim.delayMs = 10;
  const owners: Owner[] = [];
  sim.b.listen(80, 16, (c) => {
    const o = new Owner(c, false);
    if (opts.stall === true) o.autoConsume = false;
    owners.push(o);
  }, opts.listen);
  const client = new Owner(sim.a.connect(ADDR_B, 80));
  sim.run(5_000, () => owners.length > 0 && client.established);
  const data = pattern(bytes, 7);
  client.sendAll(data);
  sim.run(opts.runMs ?? 60_000, () => owners[0]!.received === bytes);
  const server = owners[0]!;
  const conn = sim.b.connectionTable()[0]!;
  const tcb = sim.b.find(conn.remoteAddress, conn.remotePort, conn.localPort) as Connection;
  // The windows b offered, as right edges (RFC 7323 §2.3: the field shifted by b's scale).
  const scale = sim.sent('b').find((s) => (s.flags & SYN) !== 0)!.options.windowScale ?? 0;
  const data_ = sim.sent('b').filter((s) => (s.flags & SYN) === 0 && s.ack !== undefined);
  const windows = data_.map((s) => s.window * 2 ** scale);
  const edges = data_.map((s) => seqAdd(s.ack!, s.window * 2 ** scale));
  return { sim, server, tcb, scale, windows, edges };
}

describe('receive buffer autotuning', () => {
  it('grows the window while the reader keeps up, up to receiveBufferMax (4 MiB), and offers wscale 7 for it', () => {
    const { server, tcb, scale, windows } = upload(24 * MIB);
    expect(server.received).toBe(24 * MIB);
    expect(scale).toBe(7);
    expect(windows[0]).toBe(256 * 1024); // it starts at receiveBufferSize
    expect(Math.max(...windows)).toBeGreaterThan(2 * MIB);
    expect(Math.max(...windows)).toBeLessThanOrEqual(4 * MIB);
    expect(tcb.rcv.bufSize).toBeGreaterThan(2 * MIB);
    expect(tcb.rcv.bufSize).toBeLessThanOrEqual(4 * MIB);
  });

  it('the right edge offered never moves left while it grows', () => {
    const { edges } = upload(8 * MIB);
    expect(edges.length).toBeGreaterThan(100);
    for (let i = 1; i < edges.length; i++) expect(seqSub(edges[i]!, edges[i - 1]!), `segment ${i}`).toBeGreaterThanOrEqual(0);
  });

  it('does not grow when the reader reads nothing (a peer that fills the buffer gains nothing)', () => {
    const { server, tcb, windows } = upload(4 * MIB, { stall: true, runMs: 5_000 });
    expect(tcb.rcv.bufSize).toBe(256 * 1024);
    expect(Math.max(...windows)).toBeLessThanOrEqual(256 * 1024);
    expect(server.received).toBeLessThanOrEqual(256 * 1024);
    expect(server.received).toBeGreaterThan(250 * 1024);
    expect(windows.at(-1)).toBe(0);
  });

  it('does not grow a buffer SO_RCVBUF fixed, whose window scale follows it', () => {
    const { server, tcb, scale, windows } = upload(8 * MIB, { listen: { receiveBufferSize: 256 * 1024 } });
    expect(server.received).toBe(8 * MIB);
    expect(scale).toBe(3);
    expect(tcb.rcv.bufSize).toBe(256 * 1024);
    expect(tcb.rcv.maxSize).toBe(256 * 1024);
    expect(Math.max(...windows)).toBe(256 * 1024);
  });

  it('grows only with what the reader consumed: twice a round trip of it, plus 16 segments', () => {
    const r = new Receiver(64 * 1024, undefined, undefined, MIB);
    r.autotune(0, 10, 1000); // the first round starts
    r.hold(100_000);
    r.consume(100_000);
    r.autotune(5, 10, 1000); // half a round trip: too soon
    expect(r.bufSize).toBe(64 * 1024);
    r.autotune(10, 10, 1000);
    expect(r.bufSize).toBe(2 * 100_000 + 16 * 1000);
    r.hold(50_000); // held, not consumed: no growth
    r.autotune(20, 10, 1000);
    r.autotune(30, 10, 1000);
    expect(r.bufSize).toBe(216_000);
    r.consume(50_000); // 50 000 in a round: less than the best round (100 000), no growth
    r.autotune(40, 10, 1000);
    expect(r.bufSize).toBe(216_000);
    r.hold(900_000);
    r.consume(900_000);
    r.autotune(50, 10, 1000);
    expect(r.bufSize).toBe(MIB); // capped
  });
});

describe('the scaled window and tiny segments', () => {
  it('closes although each segment is smaller than the scale unit, the promise at most unit - 1 over the buffer', () => {
    // 4-byte segments into a 16 KiB buffer nobody reads, with wscale 7 (128-byte units): rounding
    // the window up at every ACK would keep it open for ever.
    const r = new Receiver(16 * 1024);
    r.wscale = 7;
    r.advRight = 16 * 1024;
    let closedAt = -1;
    for (let i = 0; i < 10_000 && closedAt < 0; i++) {
      const room = r.window;
      const n = Math.min(4, room);
      r.rcvNxt = seqAdd(r.rcvNxt, n);
      r.hold(n);
      const before = r.advRight;
      r.windowField(1460, false);
      expect(seqSub(before, r.advRight)).toBeLessThan(128); // a retraction, if any, is under one unit
      expect(r.buffered + r.window).toBeLessThan(16 * 1024 + 128);
      if (r.window === 0) closedAt = i;
    }
    expect(closedAt).toBeGreaterThan(0);
    expect(r.buffered).toBeLessThan(16 * 1024 + 128);
  });
});
