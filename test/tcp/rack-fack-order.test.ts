/**
 * RACK's reordering detection (RFC 8985 §6.2 step 3) judges an ACK's newly delivered segments against
 * RACK.fack as it was before that ACK (src/tcp/recovery-rack.ts rackUpdate).
 *
 * A receiver lists its SACK blocks most recent first (RFC 2018 §4), so one ACK can extend a lower
 * block and report a higher one before it: Linux's receiver does so when the ACKs in between were
 * coalesced or lost. Taken in the order listed, the higher block raised RACK.fack and the lower
 * block's new segments then looked delivered out of order: reordering "seen" on a path that reorders
 * nothing, once per connection, after which every loss waited a quarter round trip for RACK's
 * reordering timer. Seen on bench:loss's corrupt 1% profile against Linux's curl.
 *
 * The same ACK order also set RACK.rtt from the last segment visited (segment 4 below) instead of
 * the reference, the most recently sent one delivered (segment 9), so a segment sent between them
 * was not yet deemed lost.
 */
import { describe, expect, it } from 'vitest';
import { ACK } from '../../src/wire/tcp.ts';
import { seqAdd } from '../../src/wire/seq.ts';
import { pattern } from '../helpers/pattern.ts';
import { A, openPair, Sim } from './sim.ts';

describe('RACK: reordering is judged against the fack before the ACK', () => {
  it('a lower block extended in the same ACK as a higher one is no reordering', () => {
    const sim = new Sim(5);
    sim.delayMs = 10;
    const { server } = openPair(sim);
    sim.run(100);
    const s = server()!;
    const conn = sim.b.connectionTable()[0]!;
    const una = conn.sndUna;
    sim.dropIf = (r) => r.from === 'a'; // the client's own ACKs are lost: the test speaks for it
    s.sendAll(pattern(100_000, 1));
    sim.run(1);
    const mss = s.conn.info().mss;
    expect(s.conn.info().sndNxt - una).toBe(10 * mss);
    const at = (n: number) => seqAdd(una, n * mss);
    const ack = (sack: [number, number][]) => ({
      srcPort: conn.remotePort,
      dstPort: 80,
      seq: conn.rcvNxt,
      ack: una,
      flags: ACK,
      window: 65535,
      options: { sack },
    });
    sim.run(20); // a round trip later
    // Segment 0 lost; 2-3 arrive (segment 1 lost as well); then one ACK reports 6-9, most recent
    // first, and 2-4 below it: segments 4 and 6-9 newly SACKed, segment 5 lost too.
    sim.inject('b', A, ack([[at(2), at(4)]]));
    expect(sim.b.stats().fastRetransmits).toBe(0); // two segments SACKed: not yet DupThresh
    sim.clearLog();
    sim.inject('b', A, ack([[at(6), at(10)], [at(2), at(5)]]));
    // Seven segments SACKed and no reordering seen: the reordering window is zero (RFC 8985 §6.2
    // step 4), so segments 0, 1 and 5 are lost at once, without waiting for RACK's timer.
    expect(sim.b.stats().fastRetransmits).toBe(1);
    expect(sim.b.stats().rackTimeouts).toBe(0);
    const resent = sim.sent('b').filter((seg) => seg.payload.length > 0).map((seg) => (seg.seq - una) / mss);
    // All three: RACK.rtt is the reference's (segment 9's), not that of segment 4, the last one
    // visited; with segment 4's, segment 5, sent after it, was not yet "older than RACK.rtt".
    expect(resent.slice(0, 3)).toEqual([0, 1, 5]);
    expect(s.conn.info().retransmits).toBe(3);
  });
});
