/**
 * What every CongestionControl (src/tcp/congestion-control.ts) must do, whatever its algorithm: a
 * suite to run against each implementation. Call it from a test file:
 *
 *     congestionControlContract('NewReno', (mss) => new NewReno(mss));
 *
 * It checks only what RFC 5681 and the interface require of any controller: the initial window and
 * ssthresh, growth only on ACKs that were not application-limited, ssthresh after a loss at least 2
 * SMSS and below the window, after the first timeout between 2 SMSS and the flight, 1 SMSS after a
 * timeout, cwnd at most ssthresh when recovery ends, exact restoration by undo, and sane values (integers, at least 1 SMSS) through any random
 * sequence of events. Algorithm-specific values (beta, growth curves) are each algorithm's own tests.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AckEvent, CongestionControl } from '../../../src/tcp/congestion-control.ts';
import { seqAdd } from '../../../src/wire/seq.ts';

const INITIAL_SSTHRESH = 0x7fffffff;

/** RFC 6928 §2. */
function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

/**
 * A sender that acknowledges its own data: sequence numbers (starting near the 2^32 wrap), time and
 * the AckEvent the connection would fill in.
 */
export class AckDriver {
  now = 0;
  una: number;
  sndNxt: number;
  private readonly ev: AckEvent;

  constructor(
    private readonly cc: CongestionControl,
    iss = 0xffffff00,
  ) {
    this.una = iss;
    this.sndNxt = seqAdd(iss, cc.cwnd);
    this.ev = { now: 0, ack: 0, sndNxt: 0, acked: 0, rttMs: undefined, srttMs: undefined, flight: 0, appLimited: false };
  }

  /** One ACK for `acked` new bytes, `dtMs` after the previous one; then the sender fills cwnd again. */
  /**
   * An application-limited ACK (opts.appLimited) has `opts.flight` out, by default half the window
   * (so that slow start may not grow from it, see slowStartCap).
   */
  ack(acked: number, opts: { dtMs?: number; rttMs?: number; srttMs?: number; appLimited?: boolean; flight?: number } = {}): void {
    this.now += opts.dtMs ?? 1;
    const flight = (this.sndNxt - this.una) >>> 0;
    this.una = seqAdd(this.una, acked);
    const ev = this.ev;
    ev.now = this.now;
    ev.ack = this.una;
    ev.sndNxt = this.sndNxt;
    ev.acked = acked;
    ev.rttMs = opts.rttMs;
    ev.srttMs = opts.srttMs ?? opts.rttMs;
    ev.appLimited = opts.appLimited ?? false;
    ev.flight = ev.appLimited ? (opts.flight ?? Math.floor(this.cc.cwnd / 2)) : flight;
    this.cc.onAck(ev);
    this.sndNxt = seqAdd(this.una, Math.max(this.cc.cwnd, flight - acked));
  }
}

/** `minMss`: the smallest MSS the controller has had (an ssthresh set under it may stay). */
function checkSane(cc: CongestionControl, mss: number, minMss = mss): void {
  expect(Number.isInteger(cc.cwnd)).toBe(true);
  expect(Number.isInteger(cc.ssthresh)).toBe(true);
  expect(cc.cwnd).toBeGreaterThanOrEqual(mss);
  expect(cc.cwnd).toBeLessThanOrEqual(INITIAL_SSTHRESH);
  expect(cc.ssthresh).toBeGreaterThanOrEqual(2 * minMss);
  expect(cc.ssthresh).toBeLessThanOrEqual(INITIAL_SSTHRESH);
}

/** Grows cwnd with full-sized ACKs until it is at least `bytes` (bounded). */
function growTo(cc: CongestionControl, d: AckDriver, mss: number, bytes: number): void {
  for (let i = 0; i < 100_000 && cc.cwnd < bytes; i++) d.ack(mss, { rttMs: 50 });
  expect(cc.cwnd).toBeGreaterThanOrEqual(bytes);
}

export function congestionControlContract(label: string, make: (mss: number) => CongestionControl): void {
  const MSS = 1448;

  describe(`CongestionControl contract: ${label}`, () => {
    it('starts with the RFC 6928 initial window and an arbitrarily high ssthresh (RFC 5681 §3.1)', () => {
      for (const mss of [536, 1000, 1448, 1460, 8960]) {
        const cc = make(mss);
        expect(['newreno', 'cubic']).toContain(cc.name);
        expect(cc.cwnd).toBe(initialWindow(mss));
        expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
      }
    });

    it('setMss before any data re-derives the initial window', () => {
      const cc = make(536);
      cc.setMss(1448);
      expect(cc.cwnd).toBe(initialWindow(1448));
      cc.setMss(9000);
      expect(cc.cwnd).toBe(initialWindow(9000));
    });

    it('slow start grows on every ACK that was not application-limited, and never on one that was', () => {
      const cc = make(MSS);
      const d = new AckDriver(cc);
      for (let i = 0; i < 20; i++) {
        const before = cc.cwnd;
        d.ack(MSS, { rttMs: 50 });
        expect(cc.cwnd).toBeGreaterThan(before);
        const grown = cc.cwnd;
        d.ack(MSS, { rttMs: 50, appLimited: true });
        expect(cc.cwnd).toBe(grown);
        expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
      }
    });

    it('slow start limited by the receiver or the application grows to twice the flight, no further', () => {
      const cc = make(MSS);
      const d = new AckDriver(cc);
      expect(cc.cwnd).toBe(10 * MSS);
      // Six segments out of a window of ten (the receiver's window held the rest): the window may
      // grow to twelve (draft-ietf-ccwg-ratelimited-increase, Linux's tcp_is_cwnd_limited), not past.
      for (let i = 0; i < 6; i++) d.ack(MSS, { rttMs: 50, appLimited: true, flight: 6 * MSS });
      expect(cc.cwnd).toBe(12 * MSS);
      // Half the window out, or less: no growth at all.
      d.ack(MSS, { rttMs: 50, appLimited: true, flight: 6 * MSS });
      d.ack(MSS, { rttMs: 50, appLimited: true, flight: 2 * MSS });
      expect(cc.cwnd).toBe(12 * MSS);
    });

    it('congestion avoidance never shrinks the window on an ACK, and holds it when application-limited', () => {
      const cc = make(MSS);
      const d = new AckDriver(cc);
      growTo(cc, d, MSS, 40 * MSS);
      cc.onLoss(d.now, cc.cwnd);
      cc.onRecoveryEnd(d.now);
      for (let i = 0; i < 2000; i++) {
        const before = cc.cwnd;
        const limited = i % 3 === 2;
        d.ack(MSS, { dtMs: 5, rttMs: 50, appLimited: limited });
        if (limited) expect(cc.cwnd).toBe(before);
        else expect(cc.cwnd).toBeGreaterThanOrEqual(before);
      }
      checkSane(cc, MSS);
    });

    it('a loss sets ssthresh at least 2 SMSS and below the window (RFC 5681 §3.2 eq. 4 and its analogues)', () => {
      for (const flightSegs of [1, 2, 3, 10, 37, 100]) {
        const cc = make(MSS);
        const d = new AckDriver(cc);
        growTo(cc, d, MSS, 100 * MSS);
        const cwnd = cc.cwnd;
        const flight = flightSegs * MSS;
        cc.onLoss(d.now, flight);
        expect(cc.ssthresh).toBeGreaterThanOrEqual(2 * MSS);
        // From the flight (RFC 5681, NewReno) or from cwnd (RFC 9438 §4.6 allows it, as Linux's
        // CUBIC): a reduction either way.
        expect(cc.ssthresh).toBeLessThan(cwnd);
        cc.onRecoveryEnd(d.now);
        expect(cc.cwnd).toBeLessThanOrEqual(cc.ssthresh);
        checkSane(cc, MSS);
      }
    });

    it('a timeout leaves cwnd at 1 SMSS; only the first of a run sets ssthresh (RFC 5681 §3.1)', () => {
      const cc = make(MSS);
      const d = new AckDriver(cc);
      growTo(cc, d, MSS, 60 * MSS);
      cc.onRto(d.now, 60 * MSS, true);
      expect(cc.cwnd).toBe(MSS);
      const ssthresh = cc.ssthresh;
      expect(ssthresh).toBeGreaterThanOrEqual(2 * MSS);
      expect(ssthresh).toBeLessThanOrEqual(60 * MSS);
      cc.onRto(d.now + 1000, MSS, false);
      expect(cc.cwnd).toBe(MSS);
      expect(cc.ssthresh).toBe(ssthresh);
      // Slow start again, up to ssthresh and no further in one step.
      for (let i = 0; i < 200 && cc.cwnd < ssthresh; i++) {
        d.ack(MSS, { rttMs: 50 });
        expect(cc.cwnd).toBeLessThanOrEqual(ssthresh);
      }
      expect(cc.cwnd).toBe(ssthresh);
    });

    it('undo restores cwnd and ssthresh exactly, after a loss, a timeout or a run of timeouts', () => {
      const reductions: Array<(cc: CongestionControl, now: number) => void> = [
        (cc, now) => cc.onLoss(now, cc.cwnd),
        (cc, now) => cc.onRto(now, cc.cwnd, true),
        (cc, now) => {
          cc.onRto(now, cc.cwnd, true);
          cc.onRto(now + 1000, MSS, false);
          cc.onRto(now + 3000, MSS, false);
        },
      ];
      for (const reduce of reductions) {
        const cc = make(MSS);
        const d = new AckDriver(cc);
        growTo(cc, d, MSS, 50 * MSS);
        const before = [cc.cwnd, cc.ssthresh];
        reduce(cc, d.now);
        expect(cc.cwnd).toBeLessThan(before[0]!);
        cc.undo(d.now + 5000);
        expect([cc.cwnd, cc.ssthresh]).toEqual(before);
        cc.undo(d.now + 6000); // nothing left to undo
        expect([cc.cwnd, cc.ssthresh]).toEqual(before);
      }
    });

    it('undo takes back the last reduction only: a timeout in recovery, undone, leaves the loss', () => {
      const cc = make(MSS);
      const d = new AckDriver(cc);
      growTo(cc, d, MSS, 50 * MSS);
      cc.onLoss(d.now, cc.cwnd);
      const afterLoss = [cc.cwnd, cc.ssthresh];
      cc.onRto(d.now + 500, cc.cwnd, true);
      expect(cc.cwnd).toBe(MSS);
      cc.undo(d.now + 600);
      expect([cc.cwnd, cc.ssthresh]).toEqual(afterLoss);
    });

    it('undo with nothing to undo changes nothing', () => {
      const cc = make(MSS);
      const d = new AckDriver(cc);
      cc.undo(0);
      expect([cc.cwnd, cc.ssthresh]).toEqual([initialWindow(MSS), INITIAL_SSTHRESH]);
      growTo(cc, d, MSS, 30 * MSS);
      const before = [cc.cwnd, cc.ssthresh];
      cc.undo(d.now);
      expect([cc.cwnd, cc.ssthresh]).toEqual(before);
    });

    type Step =
      | { kind: 'ack'; segs: number; dtMs: number; rttMs: number | undefined; appLimited: boolean }
      | { kind: 'loss'; flightPct: number }
      | { kind: 'recoveryEnd' }
      | { kind: 'rto'; flightPct: number }
      | { kind: 'undo' }
      | { kind: 'mss'; mss: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 20,
        arbitrary: fc.record({
          kind: fc.constant('ack' as const),
          segs: fc.integer({ min: 1, max: 45 }),
          dtMs: fc.integer({ min: 0, max: 300 }),
          rttMs: fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }),
          appLimited: fc.boolean(),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('loss' as const), flightPct: fc.integer({ min: 0, max: 150 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('recoveryEnd' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('rto' as const), flightPct: fc.integer({ min: 0, max: 150 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('undo' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('mss' as const), mss: fc.constantFrom(536, 1448, 1460) }) },
    );

    it('stays sane through any sequence of ACKs, losses, timeouts, undos and MSS changes', () => {
      fc.assert(
        fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
          let mss = MSS;
          let minMss = MSS;
          const cc = make(mss);
          const d = new AckDriver(cc);
          let recovering = false;
          let timeouts = 0;
          for (const s of steps) {
            switch (s.kind) {
              case 'ack': {
                if (recovering) break; // the connection calls onAck only outside recovery
                const before = cc.cwnd;
                d.ack(s.segs * mss, { dtMs: s.dtMs, rttMs: s.rttMs, appLimited: s.appLimited });
                if (s.appLimited) expect(cc.cwnd).toBe(before);
                else expect(cc.cwnd).toBeGreaterThanOrEqual(before);
                timeouts = 0;
                break;
              }
              case 'loss':
                if (recovering) break;
                cc.onLoss(d.now, Math.floor((cc.cwnd * s.flightPct) / 100));
                recovering = true;
                break;
              case 'recoveryEnd':
                if (!recovering) break;
                cc.onRecoveryEnd(d.now);
                expect(cc.cwnd).toBeLessThanOrEqual(cc.ssthresh);
                recovering = false;
                break;
              case 'rto':
                cc.onRto(d.now, Math.floor((cc.cwnd * s.flightPct) / 100), timeouts === 0);
                expect(cc.cwnd).toBe(mss);
                timeouts++;
                recovering = false;
                break;
              case 'undo':
                cc.undo(d.now);
                recovering = false;
                break;
              case 'mss':
                mss = s.mss;
                minMss = Math.min(minMss, mss);
                cc.setMss(mss);
                break;
            }
            checkSane(cc, mss, minMss);
          }
        }),
        { numRuns: 300, seed: 9438 },
      );
    });
  });
}
