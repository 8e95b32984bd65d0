/**
 * Defences against hostile peers in the TCP layer: SYN cookies (RFC 4987 §3.6), fewer SYN-ACK
 * retransmissions under SYN-queue pressure, the connection cap, and TIME-WAIT as a small record
 * (RFC 9293 §3.10.7.4, RFC 1337, RFC 6191).
 */
import { describe, expect, it } from 'vitest';
import { ADDR_B, B, Owner, Sim } from './sim.ts';
import { ACK, FIN, RST, SYN } from '../../src/wire/tcp.ts';
import { seqAdd } from '../../src/wire/seq.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { SynCookies, decodeCookieTsecr, encodeCookieTsval } from '../../src/tcp/syn-cookie.ts';
import { TimeWaitRecord, TimeWaitTable } from '../../src/tcp/time-wait.ts';
import { pattern } from '../helpers/pattern.ts';

/** A spoofed source: replies to it reach layer a, which is not that address and drops them. */
const SPOOF = parseIpv4Address('10.0.9.9');

function fillSynQueue(sim: Sim, n: number, port = 80): void {
  for (let i = 0; i < n; i++) sim.inject('b', SPOOF, { srcPort: 20000 + i, dstPort: port, seq: 1000 * i, ack: undefined, flags: SYN, window: 1000 });
}

describe('SYN cookies', () => {
  it('a cookie and its check agree; a wrong ISN, tuple or a stale minute fails', () => {
    const c = new SynCookies(new Uint8Array(16).fill(7));
    const now = 5 * 60_000 + 123;
    const isn = c.make(now, 1, 80, 2, 4000, 0xfffffff0, 1460);
    expect(c.check(now, 1, 80, 2, 4000, 0xfffffff0, isn)).toBe(1460);
    expect(c.check(now + 2 * 60_000, 1, 80, 2, 4000, 0xfffffff0, isn)).toBe(1460); // MAX_AGE minutes later
    expect(c.check(now + 3 * 60_000, 1, 80, 2, 4000, 0xfffffff0, isn)).toBeUndefined();
    expect(c.check(now, 1, 80, 2, 4001, 0xfffffff0, isn)).toBeUndefined();
    expect(c.check(now, 1, 80, 2, 4000, 0xfffffff0 + 12345, isn)).toBeUndefined();
    expect(c.check(now, 1, 80, 2, 4000, 0xfffffff0, (isn + 54321) >>> 0)).toBeUndefined();
    expect(c.check(now, 1, 80, 3, 4000, 0xfffffff0, isn)).toBeUndefined();
    // The MSS is rounded down to the table.
    expect(c.check(now, 1, 80, 2, 4000, 7, c.make(now, 1, 80, 2, 4000, 7, 1400))).toBe(1300);
    expect(c.check(now, 1, 80, 2, 4000, 7, c.make(now, 1, 80, 2, 4000, 7, 100))).toBe(536);
  });

  it('options ride in the low 6 bits of the TSval, never ahead of the clock', () => {
    for (const tsNow of [0x12345640, 0x1234567f, 0x12345600, 5]) {
      for (const opts of [{ windowScale: 7, sackPermitted: true }, { windowScale: undefined, sackPermitted: false }, { windowScale: 0, sackPermitted: false }]) {
        const v = encodeCookieTsval(tsNow, opts);
        expect(((v - tsNow) | 0) <= 0).toBe(true);
        expect(((tsNow - v) | 0) < 64).toBe(true);
        expect(decodeCookieTsecr(v)).toEqual(opts);
      }
    }
  });

  it('when the SYN queue is full a client gets in through a cookie: options, data both ways, exact bytes', () => {
    const sim = new Sim(1, {}, { synBacklog: 2 });
    const accepted: Owner[] = [];
    sim.b.listen(80, 8, (c) => accepted.push(new Owner(c)));
    fillSynQueue(sim, 2);
    sim.clearLog();
    const client = new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(50);
    const [syn, synAck, ack] = sim.log.map((r) => r.seg);
    expect(syn!.flags).toBe(SYN);
    expect(synAck!.flags).toBe(SYN | ACK);
    expect(synAck!.ack).toBe(seqAdd(syn!.seq, 1));
    expect(synAck!.window).toBe(65535);
    expect(synAck!.options.mss).toBe(1460);
    expect(synAck!.options.windowScale).toBe(7);
    expect(synAck!.options.sackPermitted).toBe(true);
    expect(synAck!.options.timestamp!.echo).toBe(syn!.options.timestamp!.value);
    expect(decodeCookieTsecr(synAck!.options.timestamp!.value)).toEqual({ windowScale: syn!.options.windowScale, sackPermitted: true });
    expect(ack!.flags).toBe(ACK);
    expect(sim.b.stats()).toMatchObject({ synCookiesSent: 1, synCookiesValidated: 1, synCookiesFailed: 0, synQueueOverflows: 1 });
    expect(accepted.length).toBe(1);
    const server = accepted[0]!;
    expect(server.conn.info()).toMatchObject({ state: 'ESTABLISHED', mss: 1448, sndWindowScale: 7, rcvWindowScale: 7, sackPermitted: true, timestamps: true });
    expect(server.conn.info().rcvNxt).toBe(seqAdd(syn!.seq, 1));
    expect(server.conn.info().sndNxt).toBe(seqAdd(synAck!.seq, 1));

    const up = pattern(300_000, 3);
    const down = pattern(200_000, 4);
    client.sendAll(up, true);
    server.sendAll(down, true);
    sim.run(10_000, () => client.closed && server.closed);
    expect(Buffer.compare(server.data(), Buffer.from(up))).toBe(0);
    expect(Buffer.compare(client.data(), Buffer.from(down))).toBe(0);
    // The half-open spoofed entries were not touched by the cookie connection.
    expect(sim.b.stats().halfOpen).toBe(2);
  });

  it('without timestamps a cookie carries only the MSS: no window scaling, no SACK', () => {
    const sim = new Sim(1, { timestamps: false }, { synBacklog: 1 });
    const accepted: Owner[] = [];
    sim.b.listen(80, 8, (c) => accepted.push(new Owner(c)));
    fillSynQueue(sim, 1);
    sim.clearLog();
    const client = new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(50);
    const synAck = sim.sent('b')[0]!;
    expect(synAck.options).toEqual({ mss: 1460 });
    const server = accepted[0]!;
    expect(server.conn.info()).toMatchObject({ mss: 1460, sndWindowScale: 0, rcvWindowScale: 0, sackPermitted: false, timestamps: false });
    const up = pattern(100_000, 9);
    client.sendAll(up, true);
    server.sendAll(new Uint8Array(0), true);
    sim.run(10_000, () => client.closed && server.closed);
    expect(Buffer.compare(server.data(), Buffer.from(up))).toBe(0);
  });

  it('a forged ACK is answered with RST and counted; ACKs are not checked as cookies without a recent overflow', () => {
    const sim = new Sim(1, {}, { synBacklog: 1 });
    sim.b.listen(80, 8, () => {});
    sim.inject('b', SPOOF, { srcPort: 5000, dstPort: 80, seq: 100, ack: 12345, flags: ACK, window: 1000 });
    expect(sim.b.stats().synCookiesFailed).toBe(0);
    fillSynQueue(sim, 2); // the second one overflows: a cookie
    sim.clearLog();
    sim.inject('b', SPOOF, { srcPort: 5001, dstPort: 80, seq: 100, ack: 12345, flags: ACK, window: 1000 });
    const rst = sim.sent('b')[0]!;
    expect(rst.flags).toBe(RST);
    expect(rst.seq).toBe(12345);
    expect(sim.b.stats().synCookiesFailed).toBe(1);
    expect(sim.b.connectionTable().length).toBe(1);
  });

  it('a cookie is refused after its minutes', () => {
    const sim = new Sim(1, {}, { synBacklog: 1 });
    sim.b.listen(80, 8, () => {});
    fillSynQueue(sim, 1);
    sim.clearLog();
    sim.inject('b', SPOOF, { srcPort: 6000, dstPort: 80, seq: 777, ack: undefined, flags: SYN, window: 1000 });
    const synAck = sim.sent('b')[0]!;
    expect(synAck.flags).toBe(SYN | ACK);
    sim.run(3 * 60_000 + 1); // the first half-open entry timed out meanwhile
    expect(sim.b.connectionTable().length).toBe(0);
    fillSynQueue(sim, 2); // keeps overflows recent: the ACK below is checked, and fails on age
    sim.inject('b', SPOOF, { srcPort: 6000, dstPort: 80, seq: 778, ack: seqAdd(synAck.seq, 1), flags: ACK, window: 1000 });
    expect(sim.b.stats().synCookiesFailed).toBe(1);
    expect(sim.b.stats().synCookiesValidated).toBe(0);
  });
});

describe('SYN queue pressure and limits', () => {
  it('a half-open entry retransmits its SYN-ACK 5 times, only 2 times once the queue is half full', () => {
    const calm = new Sim(1, {}, { synBacklog: 4 });
    calm.b.listen(80, 8, () => {});
    fillSynQueue(calm, 1);
    calm.run(200_000);
    expect(calm.sent('b').filter((s) => s.flags === (SYN | ACK)).length).toBe(6);
    expect(calm.b.connectionTable().length).toBe(0);

    const busy = new Sim(1, {}, { synBacklog: 2 });
    busy.b.listen(80, 8, () => {});
    fillSynQueue(busy, 2);
    const t0 = busy.now;
    busy.run(200_000, () => busy.b.connectionTable().length === 0);
    expect(busy.sent('b').filter((s) => s.flags === (SYN | ACK)).length).toBe(2 * 3);
    // 1 + 2 + 4 s of backoff, then dropped: the slot is free after 7 s, not after a minute.
    expect(Math.round(busy.now - t0)).toBeGreaterThanOrEqual(7000);
    expect(Math.round(busy.now - t0)).toBeLessThan(8000);
  });

  it('maxConnections: SYNs beyond the cap are dropped and counted', () => {
    const sim = new Sim(1, {}, { maxConnections: 3, synCookies: false });
    sim.b.listen(80, 8, () => {});
    fillSynQueue(sim, 5);
    expect(sim.b.connectionTable().length).toBe(3);
    expect(sim.b.stats().dropped['max-connections']).toBe(2);
    expect(sim.b.stats().limits).toMatchObject({ maxConnections: 3, synCookies: false, synBacklog: 1024, maxTimeWait: 65536, synAckRetries: 5 });
  });
});

describe('TIME-WAIT as a small record', () => {
  function closedPair(sim: Sim) {
    const accepted: Owner[] = [];
    sim.b.listen(80, 8, (c) => accepted.push(new Owner(c)));
    const client = new Owner(sim.a.connect(ADDR_B, 80, 7000));
    sim.run(50);
    const server = accepted[0]!;
    client.sendAll(Buffer.from('bye'), true); // the client closes first: it keeps TIME-WAIT
    sim.run(20);
    server.sendAll(new Uint8Array(0), true);
    sim.run(20);
    return { client, server };
  }

  it('answers a retransmitted FIN with the exact ACK (timestamps echoed) and restarts 2 MSL; ignores RST', () => {
    const sim = new Sim(1, { mslMs: 1000 });
    const { client } = closedPair(sim);
    const tw = sim.a.connectionTable();
    expect(tw.map((r) => r.state)).toEqual(['TIME-WAIT']);
    expect(client.conn.state).toBe('CLOSED');
    const lastFin = sim.sent('b').find((s) => s.flags & FIN)!;
    const lastAck = sim.sent('a').at(-1)!;
    expect(tw[0]!.rcvNxt).toBe(seqAdd(lastFin.seq, 1));
    expect(tw[0]!.sndNxt).toBe(lastAck.seq);

    const lastAckAt = sim.log.filter((r) => r.from === 'a').at(-1)!.at;
    sim.clock.advance(1500);
    sim.clearLog();
    sim.inject('a', B, { srcPort: 80, dstPort: 7000, seq: tw[0]!.rcvNxt, ack: undefined, flags: RST, window: 0 });
    expect(sim.sent('a').length).toBe(0);
    const tsval = lastFin.options.timestamp!.value + 5;
    sim.inject('a', B, { srcPort: 80, dstPort: 7000, seq: lastFin.seq, ack: tw[0]!.sndNxt, flags: FIN | ACK, window: 100, options: { timestamp: { value: tsval, echo: 0 } } });
    const acks = sim.sent('a');
    expect(acks.length).toBe(1);
    expect(acks[0]).toMatchObject({ flags: ACK, seq: lastAck.seq, ack: tw[0]!.rcvNxt, window: lastAck.window });
    expect(acks[0]!.options.timestamp!.echo).toBe(lastFin.options.timestamp!.value); // TS.Recent, not the retransmission's
    expect(acks[0]!.options.timestamp!.value - lastAck.options.timestamp!.value).toBe(Math.floor(sim.now) - Math.floor(lastAckAt));
    // 2 MSL from the retransmitted FIN, not from the first one.
    sim.run(1900);
    expect(sim.a.connectionTable().length).toBe(1);
    sim.run(200);
    expect(sim.a.connectionTable().length).toBe(0);
  });

  it('data or a stray segment is ACKed, a bare in-window ACK is not, an old timestamp counts as PAWS', () => {
    const sim = new Sim(1);
    closedPair(sim);
    const r = sim.a.connectionTable()[0]!;
    const ts = sim.sent('b').at(-1)!.options.timestamp!.value;
    sim.clearLog();
    sim.inject('a', B, { srcPort: 80, dstPort: 7000, seq: r.rcvNxt, ack: r.sndNxt, flags: ACK, window: 100, options: { timestamp: { value: ts, echo: 0 } } });
    expect(sim.sent('a').length).toBe(0);
    sim.inject('a', B, { srcPort: 80, dstPort: 7000, seq: r.rcvNxt, ack: r.sndNxt, flags: ACK, window: 100, payload: new Uint8Array(10), options: { timestamp: { value: ts, echo: 0 } } });
    expect(sim.sent('a').length).toBe(1);
    sim.inject('a', B, { srcPort: 80, dstPort: 7000, seq: seqAdd(r.rcvNxt, 1 << 30), ack: r.sndNxt, flags: ACK, window: 100, options: { timestamp: { value: ts, echo: 0 } } });
    expect(sim.sent('a').length).toBe(2);
    const paws = sim.a.stats().pawsRejected;
    sim.inject('a', B, { srcPort: 80, dstPort: 7000, seq: r.rcvNxt, ack: r.sndNxt, flags: ACK, window: 100, options: { timestamp: { value: ts - 10, echo: 0 } } });
    expect(sim.a.stats().pawsRejected).toBe(paws + 1);
    expect(sim.sent('a').length).toBe(3);
    expect(sim.sent('a').every((s) => s.flags === ACK && s.ack === r.rcvNxt && s.seq === r.sndNxt)).toBe(true);
  });

  it('a SYN with a newer timestamp reopens the tuple even below RCV.NXT (RFC 6191); an older one gets an ACK', () => {
    const sim = new Sim(1);
    // The server side closes first here, so the TIME-WAIT record is on the listening side.
    const accepted: Owner[] = [];
    sim.b.listen(80, 8, (c) => accepted.push(new Owner(c)));
    const client = new Owner(sim.a.connect(ADDR_B, 80, 7000));
    sim.run(50);
    accepted[0]!.sendAll(Buffer.from('hello'), true);
    sim.run(20);
    client.sendAll(new Uint8Array(0), true);
    sim.run(20);
    const r = sim.b.connectionTable()[0]!;
    expect(r.state).toBe('TIME-WAIT');
    const lastTs = sim.sent('a').at(-1)!.options.timestamp!.value;
    sim.clearLog();
    const old = { srcPort: 7000, dstPort: 80, seq: seqAdd(r.rcvNxt, -1000), ack: undefined, flags: SYN, window: 1000 };
    sim.inject('b', parseIpv4Address('10.0.0.1'), { ...old, options: { timestamp: { value: lastTs - 1, echo: 0 } } });
    expect(sim.sent('b').map((s) => s.flags)).toEqual([ACK]);
    sim.inject('b', parseIpv4Address('10.0.0.1'), { ...old, options: { timestamp: { value: lastTs + 1, echo: 0 } } });
    expect(sim.sent('b').map((s) => s.flags)).toEqual([ACK, SYN | ACK]);
    expect(sim.b.connectionTable().map((x) => x.state)).toEqual(['SYN-RECEIVED']);
  });

  it('the state observer hears TIME-WAIT -> CLOSED when the record expires; maxTimeWait recycles the oldest', () => {
    const sim = new Sim(1, { maxTimeWait: 2, mslMs: 1000 });
    const seen: string[] = [];
    sim.a.onStateChange = (i) => {
      if (i.from === 'TIME-WAIT') seen.push(`${i.remote}`);
    };
    const accepted: Owner[] = [];
    sim.b.listen(80, 8, (c) => accepted.push(new Owner(c)));
    for (let i = 0; i < 3; i++) {
      const c = new Owner(sim.a.connect(ADDR_B, 80, 7000 + i));
      sim.run(50);
      c.sendAll(new Uint8Array(0), true);
      accepted.at(-1)!.sendAll(new Uint8Array(0), true);
      sim.run(50);
    }
    expect(sim.a.connectionTable().map((r) => r.remotePort + ':' + r.localPort).sort()).toEqual(['80:7001', '80:7002']);
    expect(sim.a.stats()).toMatchObject({ timeWait: 2, timeWaitRecycled: 1, connections: 0 });
    sim.run(3000);
    expect(sim.a.connectionTable().length).toBe(0);
    expect(seen).toEqual([`${ADDR_B}:80`, `${ADDR_B}:80`]);
  });

  it('TimeWaitTable: expiry order survives restarts and deletes', () => {
    const t = new TimeWaitTable(10);
    const rec = (port: number, at: number) => new TimeWaitRecord(1, port, 80, 0, 0, 0, 0, false, 0, at);
    const a = rec(1, 100);
    const b = rec(2, 200);
    const c = rec(3, 300);
    t.add(a);
    t.add(b);
    t.add(c);
    t.restart(a, 400);
    t.delete(b);
    expect(t.nextExpiry()).toBe(300);
    expect(t.popExpired(299)).toBeUndefined();
    expect(t.popExpired(1000)).toBe(c);
    expect(t.popExpired(1000)).toBe(a);
    expect(t.popExpired(1000)).toBeUndefined();
    expect(t.size).toBe(0);
    expect(t.nextExpiry()).toBe(Infinity);
  });
});
