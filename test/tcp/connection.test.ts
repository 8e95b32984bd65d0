import { describe, expect, it } from 'vitest';
import { A, ADDR_A, ADDR_B, B, Owner, Sim, openPair } from './sim.ts';
import { ACK, FIN, PSH, RST, SYN } from '../../src/wire/tcp.ts';
import { seqAdd } from '../../src/wire/seq.ts';
import { pattern } from '../helpers/pattern.ts';

function established(sim: Sim, port = 80) {
  const p = openPair(sim, port);
  sim.run(100);
  const s = p.server()!;
  expect(s).toBeDefined();
  return { client: p.client, server: s };
}

describe('handshake', () => {
  it('offers MSS (mtu - 40), window scale, SACK-permitted and timestamps; SYN-ACK honours them', () => {
    const sim = new Sim(1);
    established(sim);
    const [syn, synAck] = sim.log.map((r) => r.seg);
    expect(syn!.options.mss).toBe(1460);
    expect(syn!.options.windowScale).toBe(7); // covers the 4 MiB the buffer may grow to: 4194304 >> 7 <= 65535
    expect(syn!.options.timestamp?.echo).toBe(0);
    expect(syn!.options.sackPermitted).toBe(true);
    expect(synAck!.options.sackPermitted).toBe(true);
    expect(syn!.window).toBe(65535);
    expect(synAck!.options.mss).toBe(1460);
    expect(synAck!.options.windowScale).toBe(7);
    expect(synAck!.options.timestamp?.echo).toBe(syn!.options.timestamp!.value);
    const info = sim.a.connectionTable()[0]!;
    expect(info).toMatchObject({ sndWindowScale: 7, rcvWindowScale: 7, timestamps: true, mss: 1448, sackPermitted: true });
    // Established ACK carries the scaled window: the 256 KiB buffer it starts with, 262144 >> 7
    expect(sim.log[2]!.seg.window).toBe(2048);
  });

  it('a SYN without options gets MSS 536, no window scale, no timestamps', () => {
    const sim = new Sim(1);
    sim.b.listen(80, 8, () => {});
    sim.inject('b', A, { srcPort: 4000, dstPort: 80, seq: 1000, ack: undefined, flags: SYN, window: 8192 });
    const synAck = sim.sent('b')[0]!;
    expect(synAck.flags).toBe(SYN | ACK);
    expect(synAck.ack).toBe(1001);
    expect(synAck.options).toEqual({ mss: 1460 });
    const info = sim.b.connectionTable()[0]!;
    expect(info).toMatchObject({ state: 'SYN-RECEIVED', mss: 536, sndWindowScale: 0, rcvWindowScale: 0, timestamps: false });
  });

  it("SACK blocks on a data segment never push options + data past the peer's MSS (RFC 6691 §2)", () => {
    const sim = new Sim(1);
    let owner: Owner | undefined;
    sim.b.listen(80, 8, (conn) => (owner = new Owner(conn)));
    // The peer (a hand-driven client at A:4000) announces MSS 1000 on a 1500-byte link, as behind
    // an MSS-clamping tunnel, with SACK and timestamps.
    const opts = { mss: 1000, sackPermitted: true, timestamp: { value: 100, echo: 0 } };
    sim.inject('b', A, { srcPort: 4000, dstPort: 80, seq: 1000, ack: undefined, flags: SYN, window: 65535, options: opts });
    const synAck = sim.sent('b')[0]!;
    const ts = { value: 101, echo: synAck.options.timestamp!.value };
    sim.inject('b', A, { srcPort: 4000, dstPort: 80, seq: 1001, ack: seqAdd(synAck.seq, 1), flags: ACK, window: 65535, options: { timestamp: ts } });
    // Out-of-order data from the peer: the server now holds data beyond RCV.NXT and reports it in SACK blocks.
    for (const at of [1101, 1301, 1501]) {
      sim.inject('b', A, { srcPort: 4000, dstPort: 80, seq: at, ack: seqAdd(synAck.seq, 1), flags: ACK, window: 65535, options: { timestamp: ts }, payload: new Uint8Array(100) });
    }
    expect(owner).toBeDefined();
    const sack = sim.sent('b').at(-1)!.options.sack!;
    expect(sack[0]).toEqual([1501, 1601]); // RFC 2018 §4: the most recent block first
    expect([...sack].sort((x, y) => x[0] - y[0])).toEqual([[1101, 1201], [1301, 1401], [1501, 1601]]);
    sim.clearLog();
    owner!.sendAll(pattern(5000, 1));
    sim.flush();
    const data = sim.sent('b').filter((seg) => seg.payload.length > 0);
    expect(data.length).toBeGreaterThan(0);
    for (const seg of data) expect(seg.payload.length + seg.dataOffset - 20).toBeLessThanOrEqual(1000);
    expect(data[0]!.payload.length).toBe(988); // 1000 - 12 (timestamps): no room left for SACK blocks
    expect(data[0]!.options.sack).toBeUndefined();
  });

  it('smaller MTU gives a smaller MSS', () => {
    const sim = new Sim(1, {}, {}, 576);
    established(sim);
    expect(sim.log[0]!.seg.options.mss).toBe(536);
  });

  it('simultaneous open: SYNs cross, both go through SYN-RECEIVED to ESTABLISHED', () => {
    const sim = new Sim(3);
    const states: string[] = [];
    sim.a.onStateChange = (i) => states.push(`a:${i.from}->${i.to}`);
    const ca = new Owner(sim.a.connect(ADDR_B, 6000, 5000));
    const cb = new Owner(sim.b.connect(ADDR_A, 5000, 6000));
    sim.run(1000);
    expect(ca.established && cb.established).toBe(true);
    expect(states).toEqual(['a:CLOSED->SYN-SENT', 'a:SYN-SENT->SYN-RECEIVED', 'a:SYN-RECEIVED->ESTABLISHED']);
    ca.sendAll(Buffer.from('hello'), true);
    cb.sendAll(Buffer.from('world'), true);
    sim.run(1000);
    expect(cb.data().toString()).toBe('hello');
    expect(ca.data().toString()).toBe('world');
  });

  it('SYN to a closed port: RST+ACK with seq 0, ack = seq + 1 (RFC 9293 §3.10.7.1)', () => {
    const sim = new Sim(1);
    sim.inject('b', A, { srcPort: 4000, dstPort: 81, seq: 0xfffffffe, ack: undefined, flags: SYN, window: 8192 });
    const r = sim.sent('b')[0]!;
    expect(r.flags).toBe(RST | ACK);
    expect(r.seq).toBe(0);
    expect(r.ack).toBe(0xffffffff);
    expect(r.srcPort).toBe(81);
    expect(r.dstPort).toBe(4000);
  });

  it('ACK to a closed port: RST with seq = SEG.ACK; no RST in reply to a RST', () => {
    const sim = new Sim(1);
    sim.inject('b', A, { srcPort: 4000, dstPort: 81, seq: 5, ack: 777, flags: ACK, window: 8192, payload: Buffer.from('x') });
    const r = sim.sent('b')[0]!;
    expect(r.flags).toBe(RST);
    expect(r.seq).toBe(777);
    expect(r.ack).toBeUndefined(); // <SEQ=SEG.ACK><CTL=RST>: no ACK, so no number
    sim.inject('b', A, { srcPort: 4000, dstPort: 81, seq: 5, ack: 777, flags: RST | ACK, window: 0 });
    expect(sim.sent('b').length).toBe(1);
    expect(sim.b.stats().resetsSent).toBe(1);
  });

  it('connect to a closed port: ECONNREFUSED', () => {
    const sim = new Sim(1);
    const c = new Owner(sim.a.connect(ADDR_B, 81));
    sim.run(100);
    expect(c.closed).toBe(true);
    expect(c.error?.code).toBe('ECONNREFUSED');
    expect(c.conn.state).toBe('CLOSED');
    expect(sim.a.stats().failedAttempts).toBe(1);
  });

  it('SYN retries exhausted: ETIMEDOUT after 6 retransmissions with doubling intervals', () => {
    const sim = new Sim(1);
    sim.dropIf = () => true;
    const c = new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(300_000, () => c.closed);
    expect(c.error?.code).toBe('ETIMEDOUT');
    const times = sim.log.filter((r) => r.from === 'a').map((r) => r.at - 1000);
    expect(times).toEqual([0, 1000, 3000, 7000, 15000, 31000, 63000]);
    expect(sim.now - 1000).toBe(127000);
  });

  it('SYN+FIN to a listener is dropped, as Linux does', () => {
    const sim = new Sim(1);
    sim.b.listen(80, 8, () => {});
    sim.inject('b', A, { srcPort: 4000, dstPort: 80, seq: 1, ack: undefined, flags: SYN | FIN, window: 8192 });
    expect(sim.sent('b').length).toBe(0);
    expect(sim.b.stats().dropped['syn-fin']).toBe(1);
  });

  it('SYN queue full, cookies off: a SYN that finds only young half-open entries is dropped and counted', () => {
    const sim = new Sim(1, {}, { synBacklog: 2, synCookies: false });
    sim.b.listen(80, 8, () => {});
    for (let p = 0; p < 4; p++) sim.inject('b', A, { srcPort: 4000 + p, dstPort: 80, seq: 1, ack: undefined, flags: SYN, window: 8192 });
    expect(sim.sent('b').map((s) => s.flags)).toEqual([SYN | ACK, SYN | ACK]);
    expect(sim.b.stats().synQueueOverflows).toBe(2);
    expect(sim.b.stats().dropped['syn-queue-full']).toBe(2);
    expect(sim.b.connectionTable().map((r) => r.remotePort).sort()).toEqual([4000, 4001]);
  });

  it('closing a listener resets its half-open connections', () => {
    const sim = new Sim(1);
    const l = sim.b.listen(80, 8, () => {});
    sim.inject('b', A, { srcPort: 4000, dstPort: 80, seq: 1, ack: undefined, flags: SYN, window: 8192 });
    l.close();
    sim.flush();
    const segs = sim.sent('b');
    expect(segs.map((s) => s.flags)).toEqual([SYN | ACK, RST | ACK]);
    expect(segs[1]!.seq).toBe(seqAdd(segs[0]!.seq, 1));
    expect(sim.b.connectionTable().length).toBe(0);
  });

  it('ISN near 2^32: data and close across the wrap', () => {
    const sim = new Sim(1, { isn: () => 0xffffff00 }, { isn: () => 0xfffffff0 });
    const { client, server } = established(sim);
    const up = pattern(200_000, 1);
    client.sendAll(up, true);
    server.sendAll(pattern(5000, 2), true);
    sim.run(10_000);
    expect(Buffer.compare(server.data(), Buffer.from(up))).toBe(0);
    expect(client.received).toBe(5000);
    expect(client.closed && server.closed).toBe(true);
  });
});

describe('teardown', () => {
  it('client closes first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT for 2 MSL; server CLOSE-WAIT, LAST-ACK, CLOSED', () => {
    const sim = new Sim(1, { mslMs: 1000 });
    const { client, server } = established(sim);
    const trans: string[] = [];
    sim.a.onStateChange = (i) => trans.push(`a:${i.to}`);
    sim.b.onStateChange = (i) => trans.push(`b:${i.to}`);
    client.conn.shutdown();
    sim.run(10);
    expect(client.conn.state).toBe('FIN-WAIT-2');
    expect(server.conn.state).toBe('CLOSE-WAIT');
    expect(server.peerFin).toBe(true);
    server.sendAll(Buffer.from('late data'), true); // half-close: data still flows the other way
    sim.run(10);
    expect(client.data().toString()).toBe('late data');
    expect(trans).toEqual(['a:FIN-WAIT-1', 'b:CLOSE-WAIT', 'a:FIN-WAIT-2', 'b:LAST-ACK', 'a:TIME-WAIT', 'b:CLOSED']);
    const twAt = sim.now;
    expect(client.conn.state).toBe('CLOSED'); // for its owner; the table keeps a TIME-WAIT record
    expect(sim.a.connectionTable().map((r) => r.state)).toEqual(['TIME-WAIT']);
    sim.run(10_000, () => sim.a.connectionTable().length === 0);
    expect(Math.round(sim.now - twAt)).toBeGreaterThanOrEqual(1990);
    expect(Math.round(sim.now - twAt)).toBeLessThanOrEqual(2000);
    expect(sim.a.connectionTable().length).toBe(0);
  });

  it('simultaneous close: both FIN-WAIT-1 -> CLOSING -> TIME-WAIT', () => {
    const sim = new Sim(1);
    const { client, server } = established(sim);
    const trans: string[] = [];
    sim.a.onStateChange = (i) => trans.push(`a:${i.to}`);
    client.conn.shutdown();
    server.conn.shutdown();
    sim.run(20);
    expect(trans).toEqual(['a:FIN-WAIT-1', 'a:CLOSING', 'a:TIME-WAIT']);
    expect(sim.b.connectionTable().map((r) => r.state)).toEqual(['TIME-WAIT']);
  });

  it('RFC 1337: a RST in TIME-WAIT is ignored; a retransmitted FIN is ACKed again', () => {
    const sim = new Sim(1);
    const { client, server } = established(sim);
    client.conn.shutdown();
    server.conn.shutdown();
    sim.run(20);
    client.conn.shutdown();
    const i = sim.a.connectionTable()[0]!;
    expect(i.state).toBe('TIME-WAIT');
    sim.clearLog();
    sim.inject('a', B, { srcPort: 80, dstPort: i.localPort, seq: i.rcvNxt, ack: undefined, flags: RST, window: 0 });
    expect(sim.a.connectionTable()[0]!.state).toBe('TIME-WAIT');
    sim.inject('a', B, { srcPort: 80, dstPort: i.localPort, seq: i.rcvNxt - 1, ack: i.sndNxt, flags: FIN | ACK, window: 100 });
    const acks = sim.sent('a');
    expect(acks.length).toBe(1);
    expect(acks[0]!.flags).toBe(ACK);
    expect(acks[0]!.ack).toBe(i.rcvNxt);
  });

  it('a new SYN with a higher sequence number reopens a TIME-WAIT tuple (RFC 1122 §4.2.2.13)', () => {
    const sim = new Sim(1);
    const accepted: Owner[] = [];
    sim.a.listen(90, 8, (c) => accepted.push(new Owner(c)));
    const c = new Owner(sim.b.connect(ADDR_A, 90, 7000));
    sim.run(20);
    accepted[0]!.conn.shutdown();
    c.conn.shutdown();
    sim.run(20);
    const tw = sim.a.connectionTable().find((x) => x.state === 'TIME-WAIT')!;
    expect(tw).toBeDefined();
    sim.clearLog();
    sim.inject('a', B, { srcPort: 7000, dstPort: 90, seq: seqAdd(tw.rcvNxt, 100000), ack: undefined, flags: SYN, window: 1000 });
    expect(sim.sent('a')[0]!.flags).toBe(SYN | ACK);
    expect(sim.a.connectionTable()[0]!.state).toBe('SYN-RECEIVED');
  });

  it('abort sends RST; the peer gets ECONNRESET', () => {
    const sim = new Sim(1);
    const { client, server } = established(sim);
    client.conn.abort();
    sim.run(10);
    const rst = sim.sent('a').at(-1)!;
    expect(rst.flags & RST).toBe(RST);
    expect(server.error?.code).toBe('ECONNRESET');
    expect(server.conn.state).toBe('CLOSED');
    expect(client.closed).toBe(true);
    expect(client.error).toBeUndefined();
  });
});

describe('RFC 5961 resets and SYNs', () => {
  function setup() {
    const sim = new Sim(1);
    const { client, server } = established(sim);
    const i = sim.b.connectionTable()[0]!;
    sim.clearLog();
    return { sim, client, server, i };
  }
  it('exact RST (SEG.SEQ = RCV.NXT) resets', () => {
    const { sim, server, i } = setup();
    sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: i.rcvNxt, ack: undefined, flags: RST, window: 0 });
    expect(server.error?.code).toBe('ECONNRESET');
  });
  it('in-window RST (not exact) gets a challenge ACK, connection stays', () => {
    const { sim, server, i } = setup();
    sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: i.rcvNxt + 10, ack: undefined, flags: RST, window: 0 });
    expect(server.closed).toBe(false);
    const ack = sim.sent('b')[0]!;
    expect(ack.flags).toBe(ACK);
    expect(ack.ack).toBe(i.rcvNxt);
    expect(ack.seq).toBe(i.sndNxt);
    expect(sim.b.stats().challengeAcks).toBe(1);
  });
  it('out-of-window RST is dropped silently', () => {
    const { sim, server, i } = setup();
    sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: seqAdd(i.rcvNxt, 10_000_000), ack: undefined, flags: RST, window: 0 });
    expect(server.closed).toBe(false);
    expect(sim.sent('b').length).toBe(0);
  });
  it('SYN in ESTABLISHED gets a challenge ACK', () => {
    const { sim, server, i } = setup();
    sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: seqAdd(i.rcvNxt, 5), ack: undefined, flags: SYN, window: 1000 });
    expect(server.conn.state).toBe('ESTABLISHED');
    const ack = sim.sent('b')[0]!;
    expect(ack.flags).toBe(ACK);
    expect(ack.ack).toBe(i.rcvNxt);
  });
  it('PAWS (RFC 7323 §5): an in-window segment with an old timestamp is ACKed and dropped', () => {
    const { sim, server, i } = setup();
    // The client's latest TSval is the server's TS.Recent; one from 1000 ms earlier is "old".
    // (the client sends one byte first, so that a TSval is on record)
    sim.a.find('10.0.0.2', 80, i.remotePort)!.write(Buffer.from('x'));
    sim.run(100);
    const tsRecent = sim.log.filter((r) => r.from === 'a').at(-1)!.seg.options.timestamp!.value;
    const before = server.received;
    const rcvNxt = sim.b.connectionTable()[0]!.rcvNxt;
    sim.inject('b', A, {
      srcPort: i.remotePort, dstPort: 80, seq: rcvNxt, ack: i.sndNxt, flags: ACK | PSH, window: 1000,
      options: { timestamp: { value: seqAdd(tsRecent, -1000), echo: 0 } }, payload: Buffer.from('stale'),
    });
    expect(server.received).toBe(before);
    expect(sim.b.stats().pawsRejected).toBe(1);
    const ack = sim.sent('b').at(-1)!;
    expect(ack.flags).toBe(ACK);
    expect(ack.ack).toBe(rcvNxt);
  });

  it('a pure ACK at exactly the right window edge is accepted (the peer filled our window), as Linux does', () => {
    const { sim, server, i } = setup();
    server.conn.write(Buffer.from('reply'));
    sim.dropIf = () => true; // keep the real exchange off the wire; inject the peer's ACK by hand
    sim.flush();
    sim.dropIf = undefined;
    const b = sim.b.connectionTable()[0]!;
    expect(b.rcvWnd).toBeGreaterThan(0);
    // A peer that sent data up to our right edge (all of it lost here) ACKs with SEG.SEQ = RCV.NXT + RCV.WND.
    sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: seqAdd(b.rcvNxt, b.rcvWnd), ack: seqAdd(b.sndUna, 5), flags: ACK, window: 1000 });
    expect(sim.b.connectionTable()[0]!.sndUna).toBe(seqAdd(b.sndUna, 5));
    // One past the edge is still unacceptable (answered by an ACK, the acknowledgment ignored).
    server.conn.write(Buffer.from('more'));
    sim.dropIf = () => true;
    sim.flush();
    sim.dropIf = undefined;
    const c = sim.b.connectionTable()[0]!;
    sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: seqAdd(c.rcvNxt, c.rcvWnd + 1), ack: seqAdd(c.sndUna, 4), flags: ACK, window: 1000 });
    expect(sim.b.connectionTable()[0]!.sndUna).toBe(c.sndUna);
  });

  it('challenge ACKs are rate limited', () => {
    const sim = new Sim(1, {}, { challengeAckLimit: 3 });
    established(sim);
    const i = sim.b.connectionTable()[0]!;
    sim.clearLog();
    for (let k = 0; k < 10; k++) sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: i.rcvNxt + 10, ack: undefined, flags: RST, window: 0 });
    expect(sim.sent('b').length).toBe(3);
    expect(sim.b.stats().challengeAcksSuppressed).toBe(7);
  });
});

describe('data transfer details', () => {
  it('delayed ACK: one small segment is ACKed after 40 ms; two full-size segments at once', () => {
    const sim = new Sim(1);
    const { client } = established(sim);
    // The first data makes the receiver open its window from the SYN's 64 KiB to the full buffer
    // (a window update, sent at once); measure on the second exchange.
    client.conn.write(Buffer.from('warm'));
    sim.run(200);
    sim.clearLog();
    client.conn.write(Buffer.from('ping'));
    sim.run(200);
    const data = sim.log.find((r) => r.from === 'a' && r.seg.payload.length > 0)!;
    const ack = sim.log.find((r) => r.from === 'b')!;
    expect(ack.at - data.at).toBe(1 + 40); // wire delay 1 ms + 40 ms delayed ACK
    sim.clearLog();
    client.conn.write(pattern(2 * 1448, 1));
    sim.run(200);
    const acks = sim.log.filter((r) => r.from === 'b');
    expect(acks.length).toBe(1);
    const lastData = sim.log.filter((r) => r.from === 'a').at(-1)!;
    expect(acks[0]!.at - lastData.at).toBe(1);
  });

  it('Nagle holds a small segment while data is unacknowledged; setNoDelay sends it at once', () => {
    const sim = new Sim(1);
    sim.delayMs = 10;
    const { client } = established(sim);
    sim.clearLog();
    client.conn.write(Buffer.from('aaaa'));
    sim.flush();
    client.conn.write(Buffer.from('bbbb'));
    sim.flush();
    expect(sim.sent('a').filter((s) => s.payload.length > 0).length).toBe(1);
    sim.run(100);
    const d = sim.sent('a').filter((s) => s.payload.length > 0);
    expect(d.map((s) => Buffer.from(s.payload).toString())).toEqual(['aaaa', 'bbbb']);
    sim.clearLog();
    client.conn.setNoDelay(true);
    client.conn.write(Buffer.from('cccc'));
    sim.flush();
    client.conn.write(Buffer.from('dddd'));
    sim.flush();
    expect(sim.sent('a').filter((s) => s.payload.length > 0).length).toBe(2);
    expect(sim.sent('a')[0]!.flags).toBe(ACK | PSH);
  });

  it('fast retransmit after 3 duplicate ACKs (before the RTO)', () => {
    const sim = new Sim(1, { sack: false }, { sack: false }); // NewReno without SACK
    const { client, server } = established(sim);
    let dropped = false;
    sim.dropIf = (r) => {
      if (!dropped && r.from === 'a' && r.seg.payload.length > 0) {
        dropped = true;
        return true;
      }
      return false;
    };
    const data = pattern(10 * 1448, 3);
    client.sendAll(data);
    sim.run(150); // less than the 200 ms minimum RTO
    expect(server.received).toBe(data.length);
    expect(sim.a.stats().fastRetransmits).toBe(1);
    expect(sim.a.stats().timeouts).toBe(0);
    const dupAcks = sim.sent('b').filter((s) => s.ack === sim.sent('a').find((x) => x.payload.length > 0)!.seq);
    expect(dupAcks.length).toBeGreaterThanOrEqual(3);
  });

  it('NewReno: a partial ACK retransmits the next hole without waiting for the RTO', () => {
    const sim = new Sim(1, { sack: false }, { sack: false }); // NewReno without SACK
    const { client, server } = established(sim);
    let n = 0;
    sim.dropIf = (r) => r.from === 'a' && r.seg.payload.length > 0 && (++n === 2 || n === 5);
    const data = pattern(10 * 1448, 4);
    client.sendAll(data);
    sim.run(150);
    expect(server.received).toBe(data.length);
    expect(sim.a.stats().fastRetransmits).toBe(1);
    expect(sim.a.stats().timeouts).toBe(0);
    expect(sim.a.stats().retransmits).toBe(2);
  });

  it('SACK: the receiver reports held blocks; the sender retransmits only the holes', () => {
    const sim = new Sim(1);
    const { client, server } = established(sim);
    let n = 0;
    sim.dropIf = (r) => r.from === 'a' && r.seg.payload.length > 0 && (++n === 2 || n === 4);
    const data = pattern(10 * 1448, 4);
    client.sendAll(data);
    sim.run(150);
    expect(server.received).toBe(data.length);
    const sacks = sim.sent('b').filter((s) => s.options.sack !== undefined);
    expect(sacks.length).toBeGreaterThan(0);
    const first = sim.sent('a').find((s) => s.payload.length > 0)!.seq;
    // The first SACK names the segment after the first hole: [first + 2*1448, first + 3*1448)
    expect(sacks[0]!.options.sack![0]).toEqual([seqAdd(first, 2 * 1448), seqAdd(first, 3 * 1448)]);
    expect(sim.a.stats().timeouts).toBe(0);
    expect(sim.a.stats().retransmits).toBe(2);
  });

  it('tail loss probe (RFC 8985) and early retransmit (RFC 5827): the last two segments lost, recovered before any RTO', () => {
    const sim = new Sim(1);
    sim.delayMs = 5;
    const { client, server } = established(sim);
    client.conn.write(pattern(3000, 1)); // settle SRTT with one exchange
    sim.run(300);
    const una = sim.a.connectionTable()[0]!.sndUna;
    const lost = new Set([seqAdd(una, 3 * 1448), seqAdd(una, 4 * 1448)]);
    sim.dropIf = (r) => r.from === 'a' && r.seg.payload.length > 0 && lost.delete(r.seg.seq);
    const t0 = sim.now;
    client.conn.write(pattern(5 * 1448, 2));
    sim.run(1000, () => server.received === 3000 + 5 * 1448);
    expect(lost.size).toBe(0);
    expect(server.received).toBe(3000 + 5 * 1448);
    expect(sim.a.stats().tailLossProbes).toBe(1);
    expect(sim.a.stats().timeouts).toBe(0);
    expect(sim.now - t0).toBeLessThan(100); // the RTO would be >= 200 ms
  });

  it('RTO backoff: retransmissions at 200, 400, 800 ms ... and ETIMEDOUT after the retries', () => {
    const sim = new Sim(1, { maxRetries: 5, sack: false }); // no SACK, so no tail loss probe: the bare RTO schedule
    const { client } = established(sim);
    sim.dropIf = (r) => r.from === 'a';
    client.conn.write(Buffer.from('lost'));
    const t0 = sim.now;
    sim.run(60_000, () => client.closed);
    const times = sim.log.filter((r) => r.from === 'a' && r.seg.payload.length > 0).map((r) => r.at - t0);
    expect(times).toEqual([0, 200, 600, 1400, 3000, 6200]);
    expect(client.error?.code).toBe('ETIMEDOUT');
    expect(sim.now - t0).toBe(12600);
    // the 4 bytes that could never be delivered are let go with the connection
    expect(client.conn.info().sendQueued).toBe(0);
  });

  it('zero window: persist probes while the reader is stalled, resumes when it reads', () => {
    // A 16 KiB buffer that never grows (so no window scale either): the window closes at 16384.
    const sim = new Sim(1, {}, { receiveBufferSize: 16384, receiveBufferMax: 16384 });
    const { client, server } = established(sim);
    server.autoConsume = false;
    const data = pattern(100_000, 5);
    client.sendAll(data);
    sim.run(10_000);
    expect(server.received).toBe(16384);
    expect(sim.b.connectionTable()[0]!.rcvWnd).toBe(0);
    // Probes: no data, SEG.SEQ = SND.UNA - 1 (as Linux), answered by an ACK with the window (0).
    const una = sim.a.connectionTable()[0]!.sndUna;
    const probes = sim.log.filter((r) => r.from === 'a' && r.seg.payload.length === 0 && r.seg.seq === seqAdd(una, -1));
    expect(probes.length).toBeGreaterThanOrEqual(3);
    const gaps = probes.slice(1).map((p, k) => Math.round(p.at - probes[k]!.at));
    for (let k = 1; k < gaps.length; k++) expect(gaps[k]).toBeGreaterThan(gaps[k - 1]!); // backing off
    expect(sim.sent('b').at(-1)!.window).toBe(0);
    expect(client.closed).toBe(false);
    // The reader catches up: consume as data arrives.
    server.autoConsume = true;
    server.conn.consumed(server.received);
    sim.run(200_000, () => server.received === data.length);
    expect(Buffer.compare(server.data(), Buffer.from(data))).toBe(0);
  });

  it('keep-alive: probes after idle; a dead peer means ETIMEDOUT', () => {
    const sim = new Sim(1, { keepAliveIntervalMs: 1000, keepAliveProbes: 3 });
    const { client } = established(sim);
    client.conn.setKeepAlive(true, 5000);
    sim.clearLog();
    sim.run(5500);
    const probe = sim.sent('a')[0]!;
    expect(probe.payload.length).toBe(0);
    expect(sim.sent('b').length).toBe(1); // the live peer answers
    expect(client.closed).toBe(false);
    sim.dropIf = () => true;
    sim.run(30_000, () => client.closed);
    expect(client.error?.code).toBe('ETIMEDOUT');
  });

  it('write returns what the send buffer takes and onWritable follows', () => {
    const sim = new Sim(1, { sendBufferSize: 10_000 });
    const { client, server } = established(sim);
    expect(client.conn.write(pattern(25_000, 1))).toBe(10_000);
    expect(client.conn.writableLength).toBe(0);
    sim.run(100);
    expect(client.writable).toBeGreaterThan(0);
    expect(server.received).toBe(10_000);
  });
});
