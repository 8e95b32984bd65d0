/**
 * HyStart++ (RFC 9406, src/tcp/cc/hystart.ts) as CUBIC's initial slow start: rounds delimited by
 * sequence numbers (windowEnd = SND.NXT, a round ends when an ACK covers it), the exit to CSS on a
 * delay increase of RttThresh within a round once N_RTT_SAMPLE samples are in, no exit on noise below
 * it, CSS back to slow start when the RTT falls, CSS_ROUNDS rounds to congestion avoidance, L = 8, and
 * what a loss or a timeout does. The test's sender keeps its own round count by the RFC's definition
 * and fills the window after every ACK, starting close to the 2^32 wrap.
 */
import { describe, expect, it } from 'vitest';
import type { AckEvent } from '../../../src/tcp/congestion-control.ts';
import { Cubic, INITIAL_SSTHRESH } from '../../../src/tcp/cc/cubic.ts';
import { CSS_ROUNDS, N_RTT_SAMPLE, NON_PACED_L, rttThreshMs } from '../../../src/tcp/cc/hystart.ts';
import { seqAdd, seqGe } from '../../../src/wire/seq.ts';

const MSS = 1000;

class SlowStartSender {
  now = 0;
  una: number;
  sndNxt: number;
  /** Rounds completed, counted here independently of HyStart++. */
  rounds = 0;
  private roundEnd: number;
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

  constructor(
    readonly cc: Cubic,
    iss = 0xffffff00,
  ) {
    this.una = iss;
    this.sndNxt = seqAdd(iss, cc.cwnd);
    this.roundEnd = this.sndNxt;
  }

  /** One ACK of `acked` new bytes with an RTT sample (or none). Returns true when it ended a round. */
  ack(rttMs: number | undefined, acked = MSS, appLimited = false): boolean {
    this.now += 1;
    const flight = (this.sndNxt - this.una) >>> 0;
    this.una = seqAdd(this.una, acked);
    const ev = this.ev;
    ev.now = this.now;
    ev.ack = this.una;
    ev.sndNxt = this.sndNxt;
    ev.acked = acked;
    ev.rttMs = rttMs;
    ev.srttMs = rttMs;
    // Application-limited: half the window out (slowStartCap: no slow-start growth from there).
    ev.flight = appLimited ? Math.floor(this.cc.cwnd / 2) : flight;
    ev.appLimited = appLimited;
    this.cc.onAck(ev);
    const ended = seqGe(this.una, this.roundEnd);
    if (ended) {
      this.rounds++;
      this.roundEnd = this.sndNxt;
    }
    const window = seqAdd(this.una, this.cc.cwnd);
    if (seqGe(window, this.sndNxt)) this.sndNxt = window;
    return ended;
  }

  /** A whole round of one-segment ACKs, the i-th with RTT `rtt(i)`. Returns the number of ACKs. */
  round(rtt: (i: number) => number | undefined): number {
    for (let i = 0; i < 100_000; i++) if (this.ack(rtt(i))) return i + 1;
    throw new Error('round did not end');
  }
}

/** `n` rounds at a steady 100 ms RTT: lastRoundMinRTT = 100 afterwards. */
function steady(s: SlowStartSender, n: number, rtt = 100): void {
  for (let r = 0; r < n; r++) s.round(() => rtt);
}

describe('HyStart++ constants and RttThresh (RFC 9406 §4.2, §4.3)', () => {
  it('N_RTT_SAMPLE = 8, CSS_ROUNDS = 5, L = 8 without pacing; RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms)', () => {
    expect(N_RTT_SAMPLE).toBe(8);
    expect(CSS_ROUNDS).toBe(5);
    expect(NON_PACED_L).toBe(8);
    expect(rttThreshMs(10)).toBe(4);
    expect(rttThreshMs(32)).toBe(4);
    expect(rttThreshMs(80)).toBe(10);
    expect(rttThreshMs(100)).toBe(12.5);
    expect(rttThreshMs(128)).toBe(16);
    expect(rttThreshMs(400)).toBe(16);
  });
});

describe('HyStart++ slow start', () => {
  it('a steady RTT: plain exponential slow start, one segment per one-segment ACK, no exit', () => {
    const cc = new Cubic(MSS);
    const s = new SlowStartSender(cc);
    let acks = 0;
    const perRound: number[] = [];
    for (let r = 0; r < 7; r++) {
      acks += s.round(() => 100);
      perRound.push(cc.cwnd / MSS);
      expect(cc.cwnd).toBe((10 + acks) * MSS);
      expect(cc.hystartPhase).toBe('slow-start');
    }
    // Doubling per round, nearly: windowEnd = SND.NXT excludes what the round's last ACK releases.
    expect(perRound[0]).toBe(20);
    for (let r = 1; r < perRound.length; r++) {
      expect(perRound[r]! / perRound[r - 1]!).toBeGreaterThan(1.85);
      expect(perRound[r]! / perRound[r - 1]!).toBeLessThanOrEqual(2);
    }
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });

  it('growth per ACK is min(N, L * SMSS) with L = 8 (RFC 9406 §4.2, §4.3)', () => {
    const cc = new Cubic(MSS);
    const s = new SlowStartSender(cc);
    s.ack(100, 20 * MSS);
    expect(cc.cwnd).toBe(18 * MSS);
    s.ack(100, 3 * MSS);
    expect(cc.cwnd).toBe(21 * MSS);
    s.ack(100, 300);
    expect(cc.cwnd).toBe(21 * MSS + 300);
  });

  it('application-limited ACKs grow nothing, but their RTT samples count', () => {
    const cc = new Cubic(MSS);
    const s = new SlowStartSender(cc);
    steady(s, 3);
    const before = cc.cwnd;
    // A round of application-limited ACKs with a raised RTT: HyStart++ still sees the increase.
    let i = 0;
    while (!s.ack(120, MSS, true) && i++ < 1000) expect(cc.cwnd).toBe(before);
    expect(cc.cwnd).toBe(before);
    expect(cc.hystartPhase).toBe('css');
  });
});

describe('HyStart++ exit to Conservative Slow Start', () => {
  it('an increase of RttThresh (12.5 ms over 100 ms) leaves slow start at the 8th sample of the round', () => {
    const cc = new Cubic(MSS);
    const s = new SlowStartSender(cc);
    steady(s, 3);
    for (let i = 0; i < N_RTT_SAMPLE - 1; i++) {
      s.ack(112.5);
      expect(cc.hystartPhase).toBe('slow-start');
    }
    let before = cc.cwnd;
    s.ack(112.5); // the 8th: currentRoundMinRTT 112.5 >= 100 + 12.5
    expect(cc.hystartPhase).toBe('css');
    expect(cc.cwnd).toBe(before + MSS); // this ACK still grew at the slow-start rate
    before = cc.cwnd;
    s.ack(112.5);
    expect(cc.cwnd).toBe(before + MSS / 4); // CSS: a quarter
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH); // CSS is still slow start
  });

  it('noise below RttThresh does not exit: 12.4 ms more, a lone spike, rounds alternating', () => {
    const cc = new Cubic(MSS);
    const s = new SlowStartSender(cc);
    steady(s, 3);
    s.round(() => 112.4);
    expect(cc.hystartPhase).toBe('slow-start');
    s.round((i) => (i === 3 ? 300 : 100)); // one sample far up, the minimum unchanged
    expect(cc.hystartPhase).toBe('slow-start');
    for (let r = 0; r < 4; r++) s.round(() => (r % 2 === 0 ? 100 : 112));
    expect(cc.hystartPhase).toBe('slow-start');
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });

  it('fewer than N_RTT_SAMPLE samples in a round cannot exit, however high they are', () => {
    const cc = new Cubic(MSS);
    const s = new SlowStartSender(cc);
    steady(s, 3);
    const n = s.round((i) => (i < N_RTT_SAMPLE - 1 ? 200 : undefined)); // 7 samples, the rest without one
    expect(n).toBeGreaterThan(N_RTT_SAMPLE);
    expect(cc.hystartPhase).toBe('slow-start');
  });

  it('the minimum of the whole round counts: one low sample after the 8th keeps it from exiting', () => {
    const cc = new Cubic(MSS);
    const s = new SlowStartSender(cc);
    steady(s, 3);
    // Samples 1..7 high, the 8th at the old minimum: currentRoundMinRTT = 100, no exit.
    s.round((i) => (i === N_RTT_SAMPLE - 1 ? 100 : 130));
    expect(cc.hystartPhase).toBe('slow-start');
  });

  it('RttThresh is clamped: 4 ms over a 10 ms path, 16 ms over a 200 ms path', () => {
    for (const [base, below, at] of [
      [10, 13.9, 14],
      [200, 215.9, 216],
    ] as const) {
      const quiet = new SlowStartSender(new Cubic(MSS));
      steady(quiet, 3, base);
      quiet.round(() => below);
      expect(quiet.cc.hystartPhase).toBe('slow-start');
      const exits = new SlowStartSender(new Cubic(MSS));
      steady(exits, 3, base);
      exits.round(() => at);
      expect(exits.cc.hystartPhase).toBe('css');
    }
  });

  it('a controller without HyStart++ never leaves slow start on delay', () => {
    const cc = new Cubic(MSS, { hystart: false });
    const s = new SlowStartSender(cc);
    steady(s, 2);
    s.round(() => 500);
    expect(cc.hystartPhase).toBe('off');
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
    expect(cc.cwnd).toBeGreaterThan(70 * MSS);
  });
});

describe('HyStart++ Conservative Slow Start', () => {
  /** Three steady rounds, then CSS entered at the 8th ACK of the 4th round (RTT 115). */
  function inCss(iss?: number): SlowStartSender {
    const s = new SlowStartSender(new Cubic(MSS), iss);
    steady(s, 3);
    for (let i = 0; i < N_RTT_SAMPLE; i++) s.ack(115);
    expect(s.cc.hystartPhase).toBe('css');
    return s;
  }

  it('an RTT that falls below cssBaselineMinRtt resumes slow start (the exit was spurious)', () => {
    const s = inCss();
    s.round(() => 115); // finish the partial round
    for (let i = 0; i < N_RTT_SAMPLE - 1; i++) {
      s.ack(114);
      expect(s.cc.hystartPhase).toBe('css');
    }
    s.ack(114); // 8 samples, minimum 114 < baseline 115
    expect(s.cc.hystartPhase).toBe('slow-start');
    const before = s.cc.cwnd;
    s.ack(114);
    expect(s.cc.cwnd).toBe(before + MSS); // full rate again
    // HyStart++ runs again from there: a new increase over the new rounds exits again.
    s.round(() => 114);
    s.round(() => 114);
    s.round(() => 114 + rttThreshMs(114));
    expect(s.cc.hystartPhase).toBe('css');
  });

  it('an RTT that stays at the baseline keeps CSS, growing a quarter segment per segment acknowledged', () => {
    const s = inCss();
    const before = s.cc.cwnd;
    let acks = 0;
    while (!s.ack(115)) acks++;
    acks++;
    expect(s.cc.hystartPhase).toBe('css');
    expect(s.cc.cwnd).toBe(before + (acks * MSS) / 4);
    const css = s.cc.cwnd;
    s.ack(115, 20 * MSS); // min(N, 8 SMSS) / 4
    expect(s.cc.cwnd).toBe(css + 2 * MSS);
  });

  it('CSS_ROUNDS rounds (the partial one included) end in congestion avoidance with ssthresh = cwnd, across the 2^32 wrap', () => {
    const s = inCss(0x100000000 - 60_000);
    const entered = s.rounds;
    for (let r = 1; r < CSS_ROUNDS; r++) {
      expect(s.cc.hystartPhase).toBe('css');
      s.round(() => 116);
      expect(s.rounds).toBe(entered + r);
    }
    expect(s.cc.hystartPhase).toBe('css');
    expect(s.cc.ssthresh).toBe(INITIAL_SSTHRESH);
    s.round(() => 116); // the 5th end of a round in CSS
    expect(s.cc.hystartPhase).toBe('off');
    expect(s.cc.ssthresh).toBe(s.cc.cwnd);
    expect((s.una >>> 0) < 0x100000000 - 60_000).toBe(true); // the sequence numbers did wrap
    // RFC 9438 §4.10: no loss, so the first epoch takes K = 0 and W_max = cwnd.
    const cwnd = s.cc.cwnd;
    s.ack(116);
    expect(s.cc.k).toBe(0);
    expect(s.cc.wMax).toBe(cwnd);
  });

  it('a loss in CSS ends HyStart++ for good: CUBIC reduces to 0.7 flight, a later slow start is standard', () => {
    const s = inCss();
    const flight = s.cc.cwnd;
    s.cc.onLoss(s.now, flight);
    expect(s.cc.hystartPhase).toBe('off');
    expect(s.cc.ssthresh).toBe(Math.floor(flight * 0.7));
    expect(s.cc.wMax).toBeGreaterThanOrEqual(flight);
    s.cc.onRecoveryEnd(s.now);
    s.cc.onRto(s.now + 1000, s.cc.cwnd, true);
    expect(s.cc.cwnd).toBe(MSS);
    s.ack(115, 20 * MSS);
    expect(s.cc.cwnd).toBe(3 * MSS); // L = 2 (RFC 3465), not HyStart++'s 8 and no CSS quarter
    s.round(() => 500);
    expect(s.cc.hystartPhase).toBe('off');
  });

  it('undo of a spurious loss in CSS brings CSS back, where it was', () => {
    const a = inCss();
    const b = inCss();
    a.cc.onLoss(a.now, a.cc.cwnd);
    a.cc.undo(a.now);
    expect(a.cc.hystartPhase).toBe('css');
    expect([a.cc.cwnd, a.cc.ssthresh]).toEqual([b.cc.cwnd, b.cc.ssthresh]);
    for (let r = 0; r < CSS_ROUNDS; r++) {
      a.round(() => 116);
      b.round(() => 116);
      expect([a.cc.cwnd, a.cc.ssthresh, a.cc.hystartPhase]).toEqual([b.cc.cwnd, b.cc.ssthresh, b.cc.hystartPhase]);
    }
    expect(a.cc.hystartPhase).toBe('off');
  });

  it('a loss in plain slow start ends it too, and a timeout does', () => {
    const one = new SlowStartSender(new Cubic(MSS));
    steady(one, 2);
    one.cc.onLoss(one.now, one.cc.cwnd);
    expect(one.cc.hystartPhase).toBe('off');
    const two = new SlowStartSender(new Cubic(MSS));
    steady(two, 2);
    two.cc.onRto(two.now, two.cc.cwnd, true);
    expect(two.cc.hystartPhase).toBe('off');
  });
});
