/**
 * CUBIC (src/tcp/cc/cubic.ts) against RFC 9438's formulas, computed here in the RFC's own units
 * (segments and seconds) by `RfcEpoch`, while the controller works in bytes and milliseconds: a unit
 * slip on either side shows as a mismatch. All in virtual time; MSS = 1000 bytes, so 1 segment =
 * 1000 bytes and the comparisons are to the byte (cwnd is whole bytes, rounded down).
 */
import { describe, expect, it } from 'vitest';
import type { AckEvent } from '../../../src/tcp/congestion-control.ts';
import { ALPHA_CUBIC, BETA_CUBIC, C_CUBIC, Cubic, INITIAL_SSTHRESH } from '../../../src/tcp/cc/cubic.ts';

const MSS = 1000;
const ALPHA = (3 * (1 - 0.7)) / (1 + 0.7);

/**
 * One congestion-avoidance epoch by the letter of RFC 9438, in segments and seconds: eq. 1 and 2
 * (§4.2), the target and its bounds (§4.2), W_est with alpha switching to 1 at cwnd_prior (§4.3),
 * the per-ACK increment (§4.4, §4.5). `cwnd` never drops on an ACK (in the Reno-friendly region
 * cwnd = max(cwnd, W_est), the controller's documented choice).
 */
class RfcEpoch {
  readonly k: number;
  cwnd: number;
  wEst: number;
  alpha = ALPHA;

  constructor(
    readonly wMax: number,
    readonly cwndEpoch: number,
    readonly cwndPrior: number,
    k?: number,
  ) {
    this.k = k ?? Math.cbrt((wMax - cwndEpoch) / 0.4);
    this.cwnd = cwndEpoch;
    this.wEst = cwndEpoch;
  }

  wCubic(t: number): number {
    return 0.4 * (t - this.k) ** 3 + this.wMax;
  }

  /** A new ACK at t seconds into the epoch for `segments` segments, with smoothed RTT `rtt` seconds. */
  ack(t: number, segments: number, rtt: number): void {
    this.wEst += (this.alpha * segments) / this.cwnd;
    if (this.wEst >= this.cwndPrior) this.alpha = 1;
    if (this.wCubic(t) < this.wEst) {
      this.cwnd = Math.max(this.cwnd, this.wEst);
      return;
    }
    const target = Math.min(Math.max(this.wCubic(t + rtt), this.cwnd), 1.5 * this.cwnd);
    this.cwnd += ((target - this.cwnd) / this.cwnd) * segments;
  }
}

/** One AckEvent, refilled per ACK as the connection does. Sequence numbers do not matter past slow start. */
class Acks {
  now = 0;
  private seq = 1;
  private readonly ev: AckEvent = {
    now: 0,
    ack: 0,
    sndNxt: 0,
    acked: 0,
    rttMs: undefined,
    srttMs: undefined,
    flight: 0,
    appLimited: false,
  };

  constructor(private readonly cc: Cubic) {}

  /** An ACK `acked` bytes at `now` ms (absolute), RTT sample and SRTT `rttMs`. */
  at(now: number, acked = MSS, rttMs = 100, appLimited = false): void {
    this.now = now;
    this.seq += acked;
    const ev = this.ev;
    ev.now = now;
    ev.ack = this.seq;
    ev.sndNxt = this.seq + this.cc.cwnd;
    ev.acked = acked;
    ev.rttMs = rttMs;
    ev.srttMs = rttMs;
    // Application-limited: half the window out (slowStartCap: no slow-start growth from there).
    ev.flight = appLimited ? Math.floor(this.cc.cwnd / 2) : this.cc.cwnd;
    ev.appLimited = appLimited;
    this.cc.onAck(ev);
  }
}

const segs = (cc: Cubic): number => cc.cwnd / MSS;

/**
 * A controller in congestion avoidance right after a loss at exactly `wMaxSegs` segments (standard
 * slow start from the initial 10 segments, one segment per ACK, then onLoss with flight = cwnd and
 * the end of recovery at `now`).
 */
function afterLoss(wMaxSegs: number, opts: { fastConvergence?: boolean; now?: number } = {}): { cc: Cubic; acks: Acks } {
  const cc = new Cubic(MSS, { hystart: false, fastConvergence: opts.fastConvergence ?? false });
  const acks = new Acks(cc);
  for (let i = 0; i < 10_000 && cc.cwnd < wMaxSegs * MSS; i++) acks.at(0);
  expect(cc.cwnd).toBe(wMaxSegs * MSS);
  cc.onLoss(opts.now ?? 0, cc.cwnd);
  cc.onRecoveryEnd(opts.now ?? 0);
  return { cc, acks };
}

/**
 * ACK clocking: each round trip of `rttMs`, as many one-segment ACKs as cwnd held at its start,
 * evenly spread. Calls `each` after every ACK with its time in ms and whether it ended a round trip.
 * Bounded by `untilMs`.
 */
function ackClock(
  cc: Cubic,
  acks: Acks,
  fromMs: number,
  untilMs: number,
  rttMs: number,
  each?: (now: number, roundEnd: boolean) => void,
): void {
  let roundStart = fromMs;
  while (roundStart < untilMs) {
    const n = Math.max(1, Math.floor(cc.cwnd / MSS));
    for (let i = 1; i <= n; i++) {
      const now = roundStart + (rttMs * i) / n;
      acks.at(now, MSS, rttMs);
      each?.(now, i === n);
    }
    roundStart += rttMs;
  }
}

/** Feeds `ref` the ACKs `ackClock` gives `cc`, with its t = 0 at the first of them (the epoch start). */
function alongside(ref: RfcEpoch, rttSec: number, also?: (t: number, roundEnd: boolean) => void) {
  let t0: number | undefined;
  return (now: number, roundEnd: boolean): void => {
    t0 ??= now;
    const t = (now - t0) / 1000;
    ref.ack(t, 1, rttSec);
    also?.(t, roundEnd);
  };
}

describe('CUBIC constants (RFC 9438)', () => {
  it('beta = 0.7, C = 0.4, alpha = 3 (1 - beta) / (1 + beta) = 0.529...', () => {
    expect(BETA_CUBIC).toBe(0.7);
    expect(C_CUBIC).toBe(0.4);
    expect(ALPHA_CUBIC).toBeCloseTo(0.5294117647, 10);
  });
});

describe('CUBIC multiplicative decrease and K (RFC 9438 §4.2, §4.6)', () => {
  it('a loss at W_max = 100 segments: ssthresh = cwnd = 70 segments, K = cbrt(W_max (1 - beta) / C) = 4.2171... s', () => {
    const { cc, acks } = afterLoss(100);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(70 * MSS);
    expect(cc.wMax).toBe(100 * MSS);
    acks.at(1000); // the first ACK in congestion avoidance starts the epoch and computes K
    expect(cc.k).toBeCloseTo(4.2171633265, 8); // cbrt(100 * 0.3 / 0.4) = cbrt(75)
  });

  it('K for other windows, and the same K whatever the MSS (K is in seconds, W in segments)', () => {
    for (const [wMaxSegs, k] of [
      [250, 5.7235712128], // cbrt(187.5)
      [1000, 9.0856029641], // cbrt(750)
      [20, 2.4662120743], // cbrt(15)
    ] as const) {
      const { cc, acks } = afterLoss(wMaxSegs);
      acks.at(1);
      expect(cc.k).toBeCloseTo(k, 8);
    }
    const big = new Cubic(9000, { hystart: false });
    for (let i = 0; i < 200 && big.cwnd < 100 * 9000; i++) new Acks(big).at(0, 9000);
    big.onLoss(0, 100 * 9000);
    big.onRecoveryEnd(0);
    new Acks(big).at(1, 9000);
    expect(big.k).toBeCloseTo(4.2171633265, 8);
  });

  it('ssthresh comes from cwnd, not a smaller flight (§4.6 allows it; Linux does so), and is at least 2 MSS', () => {
    const { cc, acks } = afterLoss(100);
    ackClock(cc, acks, 0, 2000, 100);
    const cwnd = cc.cwnd;
    expect(cwnd).toBeGreaterThan(60 * MSS);
    // A flight of 40 segments at the ACK that detects the loss: the rest of the window was already
    // acknowledged earlier in the same read, or SACKed by this ACK. The cut is from cwnd.
    cc.onLoss(2000, 40 * MSS);
    expect(cc.ssthresh).toBe(Math.floor(cwnd * 0.7));
    expect(cc.cwnd).toBe(Math.floor(cwnd * 0.7));
    expect(cc.wMax).toBeGreaterThanOrEqual(cwnd); // W_max is the cwnd before the reduction (no fast convergence here)
    expect(cc.wMax).toBeLessThan(cwnd + 1);
    cc.onRecoveryEnd(2000);
    cc.onRto(2001, 30 * MSS, true); // cwnd = 1 MSS
    cc.onLoss(2002, 2 * MSS);
    expect(cc.ssthresh).toBe(2 * MSS); // max(0.7 MSS, 2 MSS)
    expect(cc.cwnd).toBe(2 * MSS);
  });

  it('a flight larger than cwnd (SACKed data behind a hole) does not raise ssthresh above beta * cwnd', () => {
    const cc = new Cubic(MSS, { hystart: false, fastConvergence: false });
    const acks = new Acks(cc);
    for (let i = 0; i < 10; i++) acks.at(0); // 20 segments
    cc.onLoss(0, 40 * MSS); // 40 segments outstanding: the reduction is from cwnd, 20 * 0.7
    expect(cc.ssthresh).toBe(Math.floor(20 * MSS * 0.7));
    cc.onRecoveryEnd(0);
    expect(cc.cwnd).toBe(Math.floor(20 * MSS * 0.7));
    acks.at(1);
    expect(cc.k).toBeCloseTo(Math.cbrt((20 - 14) / 0.4), 8); // K >= 0: the epoch starts below W_max
  });
});

describe('CUBIC window increase (RFC 9438 §4.2 - §4.5)', () => {
  it('the first ACKs of an epoch, by hand: W_est leads at t = 0, then the cubic target', () => {
    const { cc, acks } = afterLoss(100);
    // t = 0: W_est = 70 + 0.5294/70 = 70.00756; W_cubic(0) = 70 < W_est: Reno-friendly, cwnd = W_est.
    acks.at(5000);
    expect(cc.cwnd).toBe(70007);
    // t = 0.01: W_est = 70.01513; W_cubic(0.01) = 70.2129 > W_est: concave region, target =
    // W_cubic(0.11) = 72.2868, cwnd += (72.2868 - 70.00756) / 70.00756 = 70.04012.
    acks.at(5010);
    expect(cc.cwnd).toBe(70040);
    // t = 0.02: target W_cubic(0.12) = 72.4888, cwnd = 70.07508.
    acks.at(5020);
    expect(cc.cwnd).toBe(70075);
  });

  it('follows RFC 9438 to the byte over 12 s of ACKs at a fixed rate', () => {
    const { cc, acks } = afterLoss(100);
    const ref = new RfcEpoch(100, 70, 100);
    const t0 = 10_000;
    for (let i = 0; i <= 1200; i++) {
      const now = t0 + 10 * i;
      acks.at(now, MSS, 100);
      ref.ack((now - t0) / 1000, 1, 0.1);
      expect(Math.abs(cc.cwnd - ref.cwnd * MSS)).toBeLessThan(1);
    }
  });

  it('concave up to W_max, a plateau around K, then convex probing beyond it', () => {
    const { cc, acks } = afterLoss(100);
    const ref = new RfcEpoch(100, 70, 100);
    const K = ref.k;
    const at: Array<[number, number]> = [];
    let last = 0;
    ackClock(
      cc,
      acks,
      0,
      2.6 * K * 1000,
      100,
      alongside(ref, 0.1, (t) => {
        expect(Math.abs(cc.cwnd - ref.cwnd * MSS)).toBeLessThan(1);
        expect(cc.cwnd).toBeGreaterThanOrEqual(last);
        last = cc.cwnd;
        at.push([t, segs(cc)]);
      }),
    );
    const cwndAt = (t: number): number => at.find(([s]) => s >= t)![1];
    const growth = (a: number, b: number): number => cwndAt(b) - cwndAt(a);
    // Concave: each second adds less than the one before, on the way up to W_max.
    expect(growth(0, 1)).toBeGreaterThan(growth(1, 2));
    expect(growth(1, 2)).toBeGreaterThan(growth(2, 3));
    expect(growth(2, 3)).toBeGreaterThan(growth(3, 4));
    expect(growth(0, 1)).toBeGreaterThan(10);
    // The plateau: within a segment of W_max for a second around K.
    for (let t = K - 0.6; t <= K + 0.5; t += 0.1) expect(Math.abs(cwndAt(t) - 100)).toBeLessThan(1);
    // Convex: each second adds more than the one before, beyond W_max.
    expect(growth(K + 1, K + 2)).toBeGreaterThan(growth(K, K + 1));
    expect(growth(K + 2, K + 3)).toBeGreaterThan(growth(K + 1, K + 2));
    expect(growth(2 * K, 2 * K + 1)).toBeGreaterThan(growth(K + 2, K + 3));
    // At t = 2K the curve is at W_max + C K^3 = 100 + 30 = 130 segments; cwnd, aiming at W_cubic(t + RTT), is close.
    expect(cwndAt(2 * K)).toBeGreaterThan(129);
    expect(cwndAt(2 * K)).toBeLessThan(134);
  });

  it('the target is at most 1.5 cwnd: far out on the curve, cwnd grows at most 50% per round trip', () => {
    const { cc, acks } = afterLoss(100);
    // Nothing for 60 s (not application-limited: a stalled ACK clock), then W_cubic(t) is huge.
    acks.at(0);
    acks.at(60_000);
    const before = cc.cwnd;
    for (let i = 1; i <= Math.floor(before / MSS); i++) acks.at(60_000 + i);
    expect(cc.cwnd / before).toBeLessThanOrEqual(1.5 * 1.0001);
    expect(cc.cwnd / before).toBeGreaterThan(1.3);
  });

  it('target >= cwnd: a stretch ACK that carried cwnd past the target is not pulled back by the next ACK', () => {
    const { cc, acks } = afterLoss(100);
    acks.at(0); // epoch start, cwnd ~ 70 segments
    acks.at(1000, 200 * MSS); // after a stalled second, one ACK for 200 segments: cwnd overshoots W_cubic(1.1) = 87.9
    const overshoot = cc.cwnd;
    expect(overshoot).toBeGreaterThan(110 * MSS);
    acks.at(1010); // W_cubic(1.01) = 86.8 is above W_est: the cubic region, with W_cubic(1.11) below cwnd
    expect(cc.cwnd).toBe(overshoot);
  });

  it('Reno-friendly region: with a small window and a 10 ms RTT, cwnd follows W_est, alpha = 0.53 then 1 per RTT', () => {
    const { cc, acks } = afterLoss(20);
    const ref = new RfcEpoch(20, 14, 20);
    const perRtt: number[] = [];
    let rttStart = cc.cwnd;
    ackClock(
      cc,
      acks,
      0,
      1000,
      10,
      alongside(ref, 0.01, (_t, roundEnd) => {
        expect(Math.abs(cc.cwnd - ref.cwnd * MSS)).toBeLessThan(1);
        if (roundEnd) {
          perRtt.push((cc.cwnd - rttStart) / MSS);
          rttStart = cc.cwnd;
        }
      }),
    );
    // W_cubic is far below: the cubic curve would still be under W_max after 1 s (K = 2.47 s).
    expect(ref.wCubic(1)).toBeLessThan(19);
    expect(segs(cc)).toBeGreaterThan(60);
    // Below cwnd_prior = 20 segments, alpha_cubic = 0.53 segments per RTT; from there on 1 (§4.3).
    expect(perRtt[2]).toBeCloseTo(0.53, 1);
    expect(perRtt[5]).toBeCloseTo(0.53, 1);
    expect(perRtt[40]).toBeCloseTo(1, 1);
    expect(perRtt[80]).toBeCloseTo(1, 1);
  });

  it('the cubic region wins on a long RTT: the same window with a 200 ms RTT grows by the curve', () => {
    const { cc, acks } = afterLoss(100);
    const ref = new RfcEpoch(100, 70, 100);
    ackClock(cc, acks, 0, 3000, 200, alongside(ref, 0.2));
    expect(ref.wCubic(3)).toBeGreaterThan(ref.wEst + 10);
    expect(Math.abs(cc.cwnd - ref.cwnd * MSS)).toBeLessThan(1);
    expect(segs(cc)).toBeGreaterThan(ref.wEst + 10); // far above what Reno would have
  });
});

describe('CUBIC fast convergence (RFC 9438 §4.7)', () => {
  it('a second loss below the last W_max remembers W_max = cwnd (1 + beta) / 2; without it, cwnd', () => {
    for (const fastConvergence of [true, false]) {
      const { cc, acks } = afterLoss(100, { fastConvergence });
      expect(cc.wMax).toBe(100 * MSS); // the first loss: nothing to converge from
      ackClock(cc, acks, 0, 10_000, 100, () => undefined);
      // Run up to 90 segments only: take a fresh one and stop there.
      const { cc: c2, acks: a2 } = afterLoss(100, { fastConvergence });
      let now = 0;
      for (let i = 0; i < 100_000 && c2.cwnd < 90 * MSS; i++) a2.at((now += 10), MSS, 100);
      const cwnd = c2.cwnd;
      expect(cwnd).toBeLessThan(91 * MSS);
      c2.onLoss(now, cwnd);
      const expected = fastConvergence ? (cwnd * 1.7) / 2 : cwnd;
      expect(Math.abs(c2.wMax - expected)).toBeLessThan(1);
      expect(c2.ssthresh).toBe(Math.floor(cwnd * 0.7));
      c2.onRecoveryEnd(now);
      a2.at(now + 10);
      const wMaxSegs = expected / MSS;
      const epochSegs = Math.floor(cwnd * 0.7) / MSS;
      expect(c2.k).toBeCloseTo(Math.cbrt((wMaxSegs - epochSegs) / 0.4), 3);
      // A loss above the last W_max (the first controller went past 100 segments) remembers cwnd.
      expect(cc.cwnd).toBeGreaterThan(100 * MSS);
      const high = cc.cwnd;
      cc.onLoss(10_000, high);
      expect(Math.abs(cc.wMax - high)).toBeLessThan(1);
    }
  });
});

describe('CUBIC timeout (RFC 9438 §4.8)', () => {
  it('cwnd = 1 MSS, ssthresh = 0.7 flight, standard slow start, then an epoch with K = 0 and W_max = cwnd_epoch', () => {
    const { cc, acks } = afterLoss(100);
    ackClock(cc, acks, 0, 3000, 100);
    const before = cc.cwnd;
    cc.onRto(3000, before, true);
    expect(cc.cwnd).toBe(MSS);
    const ssthresh = Math.floor(before * 0.7);
    expect(cc.ssthresh).toBe(ssthresh);
    cc.onRto(4000, MSS, false); // backed-off retransmission timed out too: ssthresh kept
    expect(cc.ssthresh).toBe(ssthresh);
    expect(cc.cwnd).toBe(MSS);
    // Slow start after a timeout: L = 2 SMSS per ACK (RFC 3465), not HyStart++'s 8.
    acks.at(4100, 5 * MSS);
    expect(cc.cwnd).toBe(3 * MSS);
    let now = 4100;
    for (let i = 0; i < 1000 && cc.cwnd < ssthresh; i++) acks.at((now += 5), MSS);
    expect(cc.cwnd).toBe(ssthresh);
    // The first ACK in congestion avoidance: K = 0, W_max = cwnd_epoch = ssthresh (§4.8).
    const t0 = now + 5;
    acks.at(t0, MSS, 100);
    expect(cc.k).toBe(0);
    expect(cc.wMax).toBe(ssthresh);
    const ref = new RfcEpoch(ssthresh / MSS, ssthresh / MSS, before / MSS, 0);
    ref.ack(0, 1, 0.1);
    for (let i = 1; i <= 600; i++) {
      acks.at(t0 + 10 * i, MSS, 100);
      ref.ack((10 * i) / 1000, 1, 0.1);
      expect(Math.abs(cc.cwnd - ref.cwnd * MSS)).toBeLessThan(1);
    }
    expect(segs(cc)).toBeGreaterThan(ssthresh / MSS + 5); // it grows, convex from the start
  });
});

describe('CUBIC spurious congestion events (RFC 9438 §4.9)', () => {
  it('undo after a loss restores everything: the curve then runs exactly as if there had been no loss', () => {
    const a = afterLoss(100);
    const b = afterLoss(100);
    let now = 0;
    for (let i = 0; i < 300; i++) {
      now += 10;
      a.acks.at(now);
      b.acks.at(now);
    }
    const before = [a.cc.cwnd, a.cc.ssthresh, a.cc.wMax, a.cc.k];
    a.cc.onLoss(now, a.cc.cwnd);
    expect(a.cc.cwnd).toBeLessThan(before[0]!);
    a.cc.undo(now + 50); // e.g. a D-SACK says the retransmission was unnecessary
    expect([a.cc.cwnd, a.cc.ssthresh, a.cc.wMax, a.cc.k]).toEqual(before);
    for (let i = 0; i < 1500; i++) {
      now += 10;
      a.acks.at(now);
      b.acks.at(now);
      expect(a.cc.cwnd).toBe(b.cc.cwnd);
    }
  });

  it('undo after a timeout restores the window, ssthresh and W_max', () => {
    const { cc, acks } = afterLoss(100);
    ackClock(cc, acks, 0, 2000, 100);
    const before = [cc.cwnd, cc.ssthresh, cc.wMax, cc.k];
    cc.onRto(2000, cc.cwnd, true);
    acks.at(2100, MSS); // F-RTO's first new ACK, in slow start
    cc.undo(2100);
    expect([cc.cwnd, cc.ssthresh, cc.wMax, cc.k]).toEqual(before);
  });

  it('undo after the window has grown past cwnd_prior keeps the current values', () => {
    const { cc, acks } = afterLoss(100);
    acks.at(10);
    cc.onLoss(20, 30 * MSS); // a reduction from 70 segments to 21
    cc.onRecoveryEnd(30);
    ackClock(cc, acks, 30, 60_000, 100);
    expect(cc.cwnd).toBeGreaterThan(70 * MSS); // past cwnd_prior
    const now = [cc.cwnd, cc.ssthresh, cc.wMax];
    cc.undo(60_000);
    expect([cc.cwnd, cc.ssthresh, cc.wMax]).toEqual(now);
  });
});

describe('CUBIC and application-limited ACKs (RFC 9438 §4.2, §5.8)', () => {
  it('no growth, and the time spent application-limited is left out of t', () => {
    const a = afterLoss(100);
    const b = afterLoss(100);
    // a: 1 s of ACKs, 2 s application-limited, 1 s more. b: 2 s of ACKs. Then a's curve is b's.
    for (let i = 1; i <= 100; i++) a.acks.at(10 * i);
    const held = a.cc.cwnd;
    for (let i = 101; i <= 300; i++) {
      a.acks.at(10 * i, MSS, 100, true);
      expect(a.cc.cwnd).toBe(held);
    }
    for (let i = 301; i <= 400; i++) a.acks.at(10 * i);
    for (let i = 1; i <= 200; i++) b.acks.at(10 * i);
    expect(a.cc.cwnd).toBe(b.cc.cwnd);
    expect(a.cc.cwnd).toBeGreaterThan(held);
  });

  it('in slow start too, from half the window out or less', () => {
    const cc = new Cubic(MSS);
    const acks = new Acks(cc);
    acks.at(10, MSS, 100, true);
    expect(cc.cwnd).toBe(10 * MSS);
    acks.at(20, MSS, 100);
    expect(cc.cwnd).toBe(11 * MSS);
  });
});

describe('CUBIC state machine edges', () => {
  it('onRecoveryEnd without a loss does nothing (not after a timeout either)', () => {
    const cc = new Cubic(MSS);
    cc.onRecoveryEnd(0);
    expect([cc.cwnd, cc.ssthresh]).toEqual([10 * MSS, INITIAL_SSTHRESH]);
    cc.onRto(10, 10 * MSS, true);
    cc.onRecoveryEnd(20);
    expect(cc.cwnd).toBe(MSS);
  });

  it('setMss keeps a window in bytes once data flowed, and refuses a bad MSS', () => {
    const { cc } = afterLoss(100);
    cc.setMss(1460);
    expect(cc.cwnd).toBe(70 * MSS);
    expect(() => new Cubic(0)).toThrow(RangeError);
    expect(() => cc.setMss(-1)).toThrow(RangeError);
    expect(() => cc.setMss(1.5)).toThrow(RangeError);
  });
});
