import { describe, expect, it } from 'vitest';
import { TailLossProbe } from '../../src/tcp/tlp.ts';

describe('TailLossProbe timeout (RFC 8985 §7.2)', () => {
  const MSS = 1448;
  it('2 * SRTT + 2 ms with more than one segment out (Linux), even on a sub-millisecond path', () => {
    const t = new TailLossProbe();
    t.arm(1000, true, 10 * MSS, MSS, 0.25, Infinity);
    expect(t.at).toBeCloseTo(1000 + 0.5 + 2, 9);
    t.arm(1000, true, 10 * MSS, MSS, 40, Infinity);
    expect(t.at).toBe(1000 + 80 + 2);
  });
  it('plus WCDelAckT (200 ms) with a single segment out, and never after the RTO', () => {
    const t = new TailLossProbe();
    t.arm(1000, true, MSS, MSS, 10, Infinity);
    expect(t.at).toBe(1000 + 20 + 200);
    t.arm(1000, true, 10 * MSS, MSS, 100, 1150);
    expect(t.at).toBe(1150);
  });
  it('not armed without SACK, without an RTT sample, or with nothing in flight', () => {
    const t = new TailLossProbe();
    t.arm(1000, false, 10 * MSS, MSS, 10, Infinity);
    expect(t.at).toBe(Infinity);
    t.arm(1000, true, 10 * MSS, MSS, undefined, Infinity);
    expect(t.at).toBe(Infinity);
    t.arm(1000, true, 0, MSS, 10, Infinity);
    expect(t.at).toBe(Infinity);
  });
});
