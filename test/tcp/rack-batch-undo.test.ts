/**
 * A fast recovery that retransmitted nothing is undone (src/tcp/recovery-rack.ts exitRecovery).
 *
 * The stack reads packets in batches and sends once per batch. When reordering makes RACK presume a
 * segment lost, the ACK that says it arrived after all may come in the same batch: recovery was
 * entered and the window cut, but the retransmission never went, and no D-SACK will ever come to
 * undo the cut. Seen in seeded runs of bench:loss (delay 10 ms, reorder 25%): ssthresh stuck at a
 * third of the window, 2.4 s for a download Linux makes in 0.4 s.
 */
import { describe, expect, it } from 'vitest';
import { ACK } from '../../src/wire/tcp.ts';
import { seqAdd } from '../../src/wire/seq.ts';
import { pattern } from '../helpers/pattern.ts';
import { A, openPair, Sim } from './sim.ts';

describe('RACK: a recovery with no retransmission', () => {
  it('is undone when the ACK that ends it comes in the same batch as the SACK that started it', () => {
    const sim = new Sim(3, { timestamps: false }, { timestamps: false });
    sim.delayMs = 10;
    const { server } = openPair(sim);
    sim.run(100);
    const s = server()!;
    const una = sim.b.connectionTable()[0]!.sndUna;
    // The client's own ACKs are lost from here on: the test speaks for it.
    sim.dropIf = (r) => r.from === 'a';
    s.sendAll(pattern(100_000, 1));
    sim.run(1);
    const before = s.conn.info();
    const mss = before.mss;
    expect(before.sndNxt - una).toBe(10 * mss); // the initial window is out
    const port = sim.b.connectionTable()[0]!.remotePort;
    const ack = (n: number, sack?: [number, number][]) => ({
      srcPort: port,
      dstPort: 80,
      seq: sim.b.connectionTable()[0]!.rcvNxt,
      ack: seqAdd(una, n),
      flags: ACK,
      window: 65535,
      options: sack === undefined ? undefined : { sack },
    });
    sim.run(20); // a round trip later
    // Segments 2-10 SACKed (the first one is late), then the first one arrives: one batch.
    sim.injectBatch('b', A, [ack(0, [[seqAdd(una, mss), seqAdd(una, 10 * mss)]]), ack(10 * mss)]);
    const after = s.conn.info();
    expect(sim.b.stats().fastRetransmits).toBe(1); // recovery was entered...
    expect(after.retransmits).toBe(0); // ...and nothing was retransmitted
    expect(sim.b.stats().spuriousRetransmits).toBe(1);
    // The window is what it would have been without the false alarm: slow start on 10 segments.
    expect(after.ssthresh).toBe(before.ssthresh);
    expect(after.cwnd).toBeGreaterThanOrEqual(before.cwnd);
  });
});
