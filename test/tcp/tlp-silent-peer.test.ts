/**
 * A peer that goes silent while we have data in flight (found by the fuzzer: a connection stayed in
 * FIN-WAIT-1 with 58 KB queued for hours). Each tail loss probe re-armed the RTO, and the probe's own
 * new segment re-armed the probe timer, which fires first: one probe every 2 * SRTT forever, and the
 * RTO, whose expiries count towards giving up, never fired. RFC 8985 §7.3: after a probe only the
 * RTO is armed; one probe per episode, the next only after an ACK moves SND.UNA.
 */
import { describe, expect, it } from 'vitest';
import { openPair, Sim } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';

interface Outcome {
  sim: Sim;
  closedAt: number | undefined;
  error: string | undefined;
  /** Tail loss probes and segments sent by the server after the peer vanished. */
  probes: number;
  sent: number;
}

/** Server b sends 600 KB; 60 ms in (slow start, the window wide open) the client vanishes. */
function vanishingPeer(seed: number, inRecovery: boolean): Outcome {
  const sim = new Sim(seed);
  sim.delayMs = 50; // SRTT 100 ms: PTO = 2 * SRTT lands at or before the RTO (min 200 ms)
  const { client, server } = openPair(sim);
  sim.run(300);
  const s = server()!;
  expect(client.established && s.conn.state === 'ESTABLISHED').toBe(true);
  s.sendAll(pattern(600_000, 3));
  if (inRecovery) {
    // Lose one segment early so that the server is in fast recovery when the peer vanishes.
    let n = 0;
    sim.dropIf = (r) => r.from === 'b' && r.seg.payload.length > 0 && ++n === 3;
    sim.run(160);
  } else {
    sim.run(60);
  }
  expect(sim.b.stats().segmentsOut).toBeGreaterThan(5);
  const t0 = sim.now;
  const probes0 = sim.b.stats().tailLossProbes;
  const sent0 = sim.b.stats().segmentsOut;
  // The client's host is gone: nothing reaches it, nothing comes back.
  sim.dropIf = () => true;
  let closedAt: number | undefined;
  sim.run(4 * 3600_000, () => {
    if (s.closed && closedAt === undefined) closedAt = sim.now - t0;
    return s.closed;
  });
  const st = sim.b.stats();
  return { sim, closedAt, error: s.error?.code, probes: st.tailLossProbes - probes0, sent: st.segmentsOut - sent0 };
}

describe('tail loss probes towards a peer that vanished', () => {
  it('one probe, then the RTO alone, which gives up (ETIMEDOUT)', () => {
    const o = vanishingPeer(11, false);
    expect(o.error).toBe('ETIMEDOUT');
    expect(o.probes).toBe(1);
    // 15 retransmission timeouts with backoff capped at 120 s: about 17 minutes.
    expect(o.closedAt).toBeLessThan(20 * 60_000);
    expect(o.sim.b.stats().timeouts).toBe(16);
    // What went out after the peer vanished: the rest of the window the cwnd allowed, one probe,
    // and one retransmission per timeout, not a new segment every PTO until the window is full.
    expect(o.sent).toBeLessThan(40);
    expect(o.sim.b.connectionTable().length).toBe(0);
  });

  it('also from fast recovery', () => {
    const o = vanishingPeer(12, true);
    expect(o.sim.b.stats().fastRetransmits).toBeGreaterThan(0);
    expect(o.error).toBe('ETIMEDOUT');
    expect(o.probes).toBeLessThanOrEqual(1);
    expect(o.closedAt).toBeLessThan(20 * 60_000);
    expect(o.sent).toBeLessThan(60);
  });
});
