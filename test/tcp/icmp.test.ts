/**
 * ICMP errors reaching TCP (tcp-layer.ts receiveError, connection.ts, icmp-error.ts), in the
 * deterministic simulator: RFC 5927 §4.1 validation, hard errors in SYN-SENT, soft errors reported on
 * timeout, and "fragmentation needed" (RFC 1191) lowering the MSS and re-cutting what is in flight.
 */
import { describe, expect, it } from 'vitest';
import type { IcmpErrorReport } from '../../src/ip/types.ts';
import type { Connection } from '../../src/tcp/connection.ts';
import { serializeIpv4Header } from '../../src/wire/ipv4.ts';
import type { TcpSegment } from '../../src/wire/tcp.ts';
import { seqAdd, seqSub } from '../../src/wire/seq.ts';
import { A, ADDR_B, B, Owner, Sim, openPair, type LayerOpts } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';

/** The report a router (or B) would send about `seg`, a segment A sent (or B, with `bSent`): its IPv4 header and first 8 TCP bytes. */
function report(seg: TcpSegment, type: number, code: number, opts: { nextHopMtu?: number; seq?: number; bSent?: boolean } = {}): IcmpErrorReport {
  const seq = opts.seq ?? seg.seq;
  const q = new Uint8Array(28);
  const length = 20 + 32 + seg.payload.length;
  const [src, dst] = opts.bSent === true ? [B, A] : [A, B];
  serializeIpv4Header({ totalLength: length, identification: 1, dontFragment: true, ttl: 64, protocol: 6, src, dst }, q, 0);
  q.set([seg.srcPort >> 8, seg.srcPort & 0xff, seg.dstPort >> 8, seg.dstPort & 0xff, seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff], 20);
  return {
    from: 0x0a000063,
    type,
    code,
    nextHopMtu: opts.nextHopMtu ?? 0,
    original: q,
    quotedDst: dst,
    quotedProtocol: 6,
    quotedLength: length,
    transport: q.subarray(20),
  };
}

function conn(sim: Sim, owner: Owner): Connection {
  return sim.a.find(B, 80, owner.conn.localPort) as Connection;
}

function established(opts: LayerOpts = {}, seed = 1) {
  const sim = new Sim(seed, opts, opts);
  const pair = openPair(sim);
  sim.run(100, () => pair.client.established && pair.server() !== undefined);
  expect(pair.client.established).toBe(true);
  return { sim, ...pair };
}

describe('RFC 5927 §4.1: the quoted sequence number must be in flight', () => {
  it('ignores errors quoting a sequence number outside SND.UNA..SND.MAX, or no connection', () => {
    const { sim, client } = established({ maxRetries: 3 });
    const c = conn(sim, client);
    sim.dropIf = (r) => r.from === 'a' && r.seg.payload.length > 0; // data in flight, never acknowledged
    client.sendAll(pattern(3000, 1));
    sim.run(5);
    const data = sim.log.find((r) => r.from === 'a' && r.seg.payload.length > 0)!.seg;
    const una = c.snd.una;
    const mss = c.snd.mss;
    // Below SND.UNA, at SND.MAX (nothing sent there yet), far away: all ignored.
    for (const seq of [seqAdd(una, -1), c.snd.max, seqAdd(una, 0x40000000)]) {
      sim.icmpError('a', report(data, 3, 3, { seq }));
      sim.icmpError('a', report(data, 3, 4, { seq, nextHopMtu: 600 }));
      sim.icmpError('a', report(data, 3, 1, { seq }));
    }
    // Another port: no connection.
    const other = report(data, 3, 3);
    other.transport[0] = other.transport[0]! ^ 0x55;
    sim.icmpError('a', other);
    const st = sim.a.stats();
    expect(st.icmpErrors).toBe(10);
    expect(st.icmpOutOfWindow).toBe(9);
    expect(st.icmpNoConnection).toBe(1);
    expect(st.icmpSoftErrors).toBe(0);
    expect(st.pmtuLowered).toBe(0);
    expect(c.snd.mss).toBe(mss);
    expect(sim.pmtu.a.size).toBe(0);
    // The connection times out with the plain ETIMEDOUT: nothing was remembered.
    sim.run(60_000, () => client.closed);
    expect(client.error?.code).toBe('ETIMEDOUT');
  });
});

describe('a flood of forged errors (RFC 5927 §5, §7)', () => {
  it('blind guesses of the sequence number change nothing: the transfer completes, every miss counted', () => {
    const { sim, client, server } = established({}, 11);
    const c = conn(sim, client);
    const data = pattern(300_000, 11);
    client.sendAll(data, true);
    let x = 0x9e3779b9;
    let forged = 0;
    let hits = 0;
    const kinds: [number, number][] = [[3, 3], [3, 4], [3, 1], [11, 0], [12, 0]];
    sim.run(60_000, () => {
      const seg = sim.log.find((r) => r.from === 'a' && r.seg.payload.length > 0)?.seg;
      if (seg !== undefined && forged < 20_000) {
        for (let i = 0; i < 50; i++, forged++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          const [type, code] = kinds[forged % kinds.length]!;
          if (c.inFlight(x)) hits++;
          sim.icmpError('a', report(seg, type, code, { seq: x, nextHopMtu: 576 }));
        }
      }
      return server()?.peerFin === true;
    });
    expect(Buffer.compare(server()!.data(), Buffer.from(data))).toBe(0);
    const st = sim.a.stats();
    expect(forged).toBeGreaterThan(10_000); // interleaved with the whole transfer
    expect(st.icmpErrors).toBe(forged);
    expect(st.icmpOutOfWindow).toBe(forged - hits);
    expect(hits).toBe(0); // a window of ~100 KB in 2^32: a blind guess almost never lands
    expect(c.snd.mss).toBe(1448);
    expect(st.icmpSoftErrors + st.icmpAborts + st.pmtuLowered).toBe(0);
  });
});

describe('hard errors in SYN-SENT (RFC 1122 §4.2.3.9, RFC 5927 §5.2)', () => {
  function synSent() {
    const sim = new Sim(1, { synRetries: 2 }, {});
    sim.dropIf = (r) => r.from === 'a'; // the SYN never arrives
    const client = new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(1);
    const syn = sim.sent('a')[0]!;
    return { sim, client, syn };
  }

  it('port unreachable quoting our SYN fails connect() with ECONNREFUSED at once', () => {
    const { sim, client, syn } = synSent();
    sim.icmpError('a', report(syn, 3, 3));
    expect(client.closed).toBe(true);
    expect(client.error?.code).toBe('ECONNREFUSED');
    expect(client.error?.message).toBe('connect ECONNREFUSED 10.0.0.2:80');
    expect(sim.a.stats()).toMatchObject({ icmpAborts: 1, failedAttempts: 1, connections: 0 });
  });

  it('protocol unreachable aborts it too (ENOPROTOOPT, as Linux names it); parameter problem is soft', () => {
    const a = synSent();
    a.sim.icmpError('a', report(a.syn, 3, 2));
    expect(a.client.error?.code).toBe('ENOPROTOOPT');
    const b = synSent();
    b.sim.icmpError('a', report(b.syn, 12, 0));
    expect(b.client.closed).toBe(false); // RFC 1122 §4.2.3.9: as destination unreachable codes 0, 1, 5
    b.sim.run(60_000, () => b.client.closed);
    expect(b.client.error?.code).toBe('EPROTO');
  });

  it('a port unreachable quoting another sequence number is ignored', () => {
    const { sim, client, syn } = synSent();
    sim.icmpError('a', report(syn, 3, 3, { seq: seqAdd(syn.seq, 1) }));
    expect(client.closed).toBe(false);
    expect(sim.a.stats().icmpOutOfWindow).toBe(1);
  });

  it('a soft error (host unreachable) does not abort; the attempt times out with it', () => {
    const { sim, client, syn } = synSent();
    sim.icmpError('a', report(syn, 3, 1));
    expect(client.closed).toBe(false);
    sim.run(60_000, () => client.closed);
    expect(client.error?.code).toBe('EHOSTUNREACH');
    expect(client.error?.message).toBe('connect EHOSTUNREACH');
    expect(sim.sent('a').filter((s) => s.flags & 0x02).length).toBe(3); // SYN + 2 retries
  });
});

describe('a half-open passive connection (SYN-RECEIVED)', () => {
  it('is dropped when its SYN-ACK is answered by host unreachable (as Linux tcp_req_err); port unreachable is only noted', () => {
    const sim = new Sim(1);
    sim.dropIf = (r) => r.from === 'b'; // the SYN-ACKs go nowhere
    sim.b.listen(80, 16, () => {});
    const client = new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(5);
    const synAck = sim.sent('b')[0]!;
    expect(sim.b.stats().halfOpen).toBe(1);
    sim.icmpError('b', report(synAck, 3, 3, { bSent: true }));
    expect(sim.b.stats()).toMatchObject({ halfOpen: 1, icmpSoftErrors: 1 });
    sim.icmpError('b', report(synAck, 3, 1, { bSent: true }));
    expect(sim.b.stats()).toMatchObject({ halfOpen: 0, connections: 0, icmpAborts: 1 });
    expect(client.closed).toBe(false);
  });
});

describe('soft errors are reported on timeout (as Linux sk_err_soft)', () => {
  it('host unreachable, then silence: the connection fails with EHOSTUNREACH, not ETIMEDOUT', () => {
    const { sim, client } = established({ maxRetries: 3 });
    sim.dropIf = (r) => r.from === 'a';
    client.sendAll(pattern(2000, 2));
    sim.run(5);
    const data = sim.sent('a').find((s) => s.payload.length > 0)!;
    sim.icmpError('a', report(data, 11, 0)); // time exceeded in transit
    expect(client.closed).toBe(false);
    expect(sim.a.stats().icmpSoftErrors).toBe(1);
    sim.run(120_000, () => client.closed);
    expect(client.error?.code).toBe('EHOSTUNREACH');
    expect(client.error?.message).toBe('read EHOSTUNREACH');
  });

  it('an acceptable ACK after the error forgets it: the later timeout is ETIMEDOUT', () => {
    const { sim, client } = established({ maxRetries: 3 });
    let blackHole = false;
    sim.dropIf = (r) => r.from === 'a' && blackHole;
    const c = conn(sim, client);
    // A segment in flight for the error to quote: hold the ACK back by dropping B's first answer.
    let holdAck = true;
    sim.dropIf = (r) => (r.from === 'b' && holdAck) || (r.from === 'a' && blackHole);
    client.sendAll(pattern(1000, 3));
    sim.run(5);
    const data = sim.sent('a').find((s) => s.payload.length > 0)!;
    expect(c.inFlight(data.seq)).toBe(true);
    sim.icmpError('a', report(data, 3, 0)); // network unreachable: soft
    holdAck = false;
    sim.run(3000, () => c.snd.idle); // retransmitted, acknowledged
    expect(c.snd.idle).toBe(true);
    blackHole = true;
    client.sendAll(pattern(1000, 4));
    sim.run(120_000, () => client.closed);
    expect(client.error?.code).toBe('ETIMEDOUT');
  });

  it('port unreachable in ESTABLISHED is a soft error too (RFC 5927 §5.2: no reset by ICMP)', () => {
    const { sim, client } = established({ maxRetries: 2 });
    sim.dropIf = (r) => r.from === 'a';
    client.sendAll(pattern(500, 5));
    sim.run(5);
    const data = sim.sent('a').find((s) => s.payload.length > 0)!;
    sim.icmpError('a', report(data, 3, 3));
    expect(client.closed).toBe(false);
    sim.run(120_000, () => client.closed);
    expect(client.error?.code).toBe('ECONNREFUSED');
  });
});

/**
 * A path whose MTU is `pathMtu` between A and B: A's datagrams larger than it are dropped, and the
 * "router" answers the first few with fragmentation needed (RFC 1191 §4), delivered between events.
 */
function pmtuTransfer(opts: LayerOpts, pathMtu: number, bytes: number, seed = 7, nextHopMtu = pathMtu, tso = false) {
  const { sim, client, server } = established(opts, seed);
  sim.tso = tso;
  const c = conn(sim, client);
  const mssBefore = c.snd.mss;
  const pending: IcmpErrorReport[] = [];
  let errors = 0;
  const refused: { at: number; seq: number }[] = [];
  const tsBytes = c.ts.on ? 12 : 0;
  sim.dropIf = (r) => {
    if (r.from !== 'a' || 20 + 20 + tsBytes + r.seg.payload.length <= pathMtu) return false;
    refused.push({ at: r.at, seq: r.seg.seq });
    if (errors++ < 4) pending.push(report(r.seg, 3, 4, { nextHopMtu }));
    return true;
  };
  const data = pattern(bytes, seed);
  client.sendAll(data, true);
  let icmpAt = -1;
  let icmpIndex = -1;
  const done = () => {
    while (pending.length > 0) {
      if (icmpAt < 0) {
        icmpAt = sim.now;
        icmpIndex = sim.log.length;
      }
      sim.icmpError('a', pending.shift()!);
    }
    return server()?.peerFin === true;
  };
  sim.run(60_000, done);
  return { sim, c, client, server: server()!, data, refused, icmpAt, icmpIndex, mssBefore };
}

describe('fragmentation needed (RFC 1191, RFC 1122 §4.2.3.9)', () => {
  for (const sack of [true, false]) {
    it(`lowers the MSS and re-cuts what is in flight (${sack ? 'SACK, RACK queue re-cut' : 'no SACK, go-back-N'})`, () => {
      const { sim, c, server, data, refused, icmpAt, icmpIndex, mssBefore } = pmtuTransfer({ sack }, 1280, 200_000);
      const newMss = 1280 - 40 - 12;
      expect(mssBefore).toBe(1448);
      expect(c.snd.mss).toBe(newMss);
      expect(sim.pmtu.a.get(B, sim.now)).toBe(1280);
      expect(Buffer.compare(server.data(), Buffer.from(data))).toBe(0);
      // Every data segment after the error fits the path.
      const after = sim.log.slice(icmpIndex).filter((r) => r.from === 'a' && r.seg.payload.length > 0);
      expect(after.length).toBeGreaterThan(150);
      expect(Math.max(...after.map((r) => r.seg.payload.length))).toBe(newMss);
      // The refused ones were the initial window's only; the quoted segment went again at once
      // (at the instant of the error, not after an RTO), cut to the new size.
      expect(refused.length).toBe(10);
      expect(after[0]!.at).toBe(icmpAt);
      expect(after[0]!.seg.seq).toBe(refused[0]!.seq);
      expect(after[0]!.seg.payload.length).toBe(newMss);
      const st = sim.a.stats();
      expect(st.pmtuLowered).toBe(1);
      expect(st.pmtuMssReductions).toBe(1);
      expect(st.timeouts).toBe(0);
      // The later messages (for the same burst) said nothing new.
      expect(sim.pmtu.a.ignored).toBe(3);
    });
  }

  it('with TSO: super-segments are cut at the new MSS from then on, and the transfer completes', () => {
    const { sim, c, server, data, icmpIndex } = pmtuTransfer({}, 1280, 300_000, 9, 1280, true);
    expect(c.snd.mss).toBe(1228);
    expect(Buffer.compare(server.data(), Buffer.from(data))).toBe(0);
    const after = sim.log.slice(icmpIndex).filter((r) => r.from === 'a' && r.seg.payload.length > 0);
    expect(Math.max(...after.map((r) => r.seg.payload.length))).toBe(1228);
    expect(sim.superSegments).toBeGreaterThan(0);
    expect(sim.a.stats().timeouts).toBe(0);
  });

  it('with SACK, the queue is cut into new-MSS records and each refused byte is resent once', () => {
    const { sim, c, refused, icmpIndex } = pmtuTransfer({ sack: true }, 1000, 100_000, 3);
    const newMss = 1000 - 52;
    expect(c.snd.mss).toBe(newMss);
    const resent = sim.log.slice(icmpIndex).filter((r) => r.from === 'a' && r.seg.payload.length > 0 && refused.some((x) => x.seq === r.seg.seq));
    // Each refused 1448-byte record becomes two pieces (948 + 500), the first at its old start;
    // every piece goes once, and nothing else is retransmitted.
    expect(refused.length).toBe(10);
    expect(new Set(resent.map((r) => r.seg.seq)).size).toBe(refused.length);
    const pieces = sim.log.slice(icmpIndex).filter((r) => r.from === 'a' && r.seg.payload.length > 0 && seqSub(r.seg.seq, refused[0]!.seq) >= 0 && seqSub(r.seg.seq, refused[0]!.seq) < 10 * 1448);
    expect(pieces.map((r) => r.seg.payload.length).slice(0, 4)).toEqual([948, 500, 948, 500]);
    expect(new Set(pieces.map((r) => r.seg.seq)).size).toBe(20);
    expect(sim.a.stats().retransmits).toBe(20);
  });

  it('a reported MTU below 68 is ignored, one below 552 is raised to 552, and a larger one never raises', () => {
    const low = pmtuTransfer({}, 1280, 20_000, 5, 40);
    // 40 < 68: nonsense, ignored; the transfer only completes by... it cannot: 1448-byte segments
    // never pass. The MSS stayed, and the connection is still retrying.
    expect(low.c.snd.mss).toBe(1448);
    expect(low.sim.pmtu.a.size).toBe(0);
    expect(low.sim.pmtu.a.ignored).toBe(4);

    const floor = pmtuTransfer({}, 1280, 20_000, 5, 300);
    expect(floor.sim.pmtu.a.get(B, floor.sim.now)).toBe(552);
    expect(floor.c.snd.mss).toBe(552 - 52);
    expect(Buffer.compare(floor.server.data(), Buffer.from(floor.data))).toBe(0);
  });

  it('new connections to the host start with the learned path MTU; it ages out after 10 minutes', () => {
    const { sim } = pmtuTransfer({}, 1280, 20_000);
    const second = new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(100, () => second.established);
    const c2 = sim.a.find(B, 80, second.conn.localPort) as Connection;
    expect(c2.snd.mss).toBe(1280 - 52);
    sim.run(601_000);
    const third = new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(100, () => third.established);
    expect((sim.a.find(B, 80, third.conn.localPort) as Connection).snd.mss).toBe(1448);
  });
});
