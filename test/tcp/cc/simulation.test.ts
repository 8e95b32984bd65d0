/**
 * CUBIC and a Reno model, one flow each over a modelled bottleneck (test/tcp/cc/bottleneck.ts) for
 * 60 s of virtual time: the sawtooth has the shape and the period RFC 9438 predicts, and the
 * utilisation stays up where Reno's does not. Two paths, the second with 8 times the capacity:
 *
 *   small:  1000 packets/s (12 Mbit/s at 1500 bytes), 100 ms, 25-packet buffer (0.25 BDP)
 *   large:  8000 packets/s (96 Mbit/s),               100 ms, 200-packet buffer (0.25 BDP)
 *
 * Fast convergence is off for the single-flow runs (RFC 9438 §4.7: "In network environments with
 * only a single CUBIC flow and without any other traffic, Fast Convergence SHOULD be disabled").
 * The model is deterministic, so these are exact properties of the algorithm, not timings; the
 * figures are printed by `npx tsx scripts/cc-sim.ts`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Cubic } from '../../../src/tcp/cc/cubic.ts';
import { RenoModel } from './reno-model.ts';
import { runPath, type PathConfig, type PathResult } from './bottleneck.ts';

const MSS = 1000;
const small: PathConfig = { ratePps: 1000, baseRttMs: 100, bufferPackets: 25, mss: MSS, durationMs: 60_000 };
const large: PathConfig = { ...small, ratePps: 8000, bufferPackets: 200 };

const cubic = (): Cubic => new Cubic(MSS, { fastConvergence: false });
let runs: Record<'cubicSmall' | 'cubicLarge' | 'renoSmall' | 'renoLarge', PathResult>;
beforeAll(() => {
  runs = {
    cubicSmall: runPath(cubic(), small),
    cubicLarge: runPath(cubic(), large),
    renoSmall: runPath(new RenoModel(MSS), small),
    renoLarge: runPath(new RenoModel(MSS), large),
  };
});

/** Seconds between consecutive loss events. */
function gaps(r: PathResult): number[] {
  return r.losses.slice(1).map((l, i) => (l.atMs - r.losses[i]!.atMs) / 1000);
}

/** K of the epoch after a loss: cbrt((W_max - cwnd_epoch) / C), W_max = cwnd before, cwnd_epoch = ssthresh (RFC 9438 §4.2). */
function kAfter(l: { cwndBefore: number; ssthreshAfter: number }): number {
  return Math.cbrt((l.cwndBefore - l.ssthreshAfter) / 0.4);
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('one flow over a bottleneck, 60 s virtual', () => {
  it('CUBIC: in steady state a loss comes every K seconds (within 10%), K from the loss before', () => {
    for (const r of [runs.cubicSmall, runs.cubicLarge]) {
      expect(r.timeouts).toBe(0);
      expect(r.losses.length).toBeGreaterThanOrEqual(6);
      const g = gaps(r);
      for (let i = g.length - 3; i < g.length; i++) {
        const k = kAfter(r.losses[i]!);
        expect(g[i]! / k).toBeGreaterThan(0.9);
        expect(g[i]! / k).toBeLessThan(1.1);
      }
    }
  });

  it('CUBIC: the period grows with the cube root of the window, Reno\'s with the window itself', () => {
    const wSmall = runs.cubicSmall.losses.at(-1)!.cwndBefore;
    const wLarge = runs.cubicLarge.losses.at(-1)!.cwndBefore;
    expect(wLarge / wSmall).toBeGreaterThan(7); // 8 times the capacity: ~127 vs ~1002 packets
    const cubicRatio = mean(gaps(runs.cubicLarge).slice(-3)) / mean(gaps(runs.cubicSmall).slice(-3));
    const cbrtRatio = Math.cbrt(wLarge / wSmall);
    expect(cubicRatio / cbrtRatio).toBeGreaterThan(0.85);
    expect(cubicRatio / cbrtRatio).toBeLessThan(1.15);
    // Reno: from W/2 back to W at one packet per RTT (100 to ~125 ms): W/2 round trips.
    const renoSmall = gaps(runs.renoSmall).at(-1)!;
    const renoLarge = gaps(runs.renoLarge).at(-1)!;
    const wRenoSmall = runs.renoSmall.losses.at(-1)!.cwndBefore;
    expect(renoSmall).toBeGreaterThan((wRenoSmall / 2) * 0.1);
    expect(renoSmall).toBeLessThan((wRenoSmall / 2) * 0.126);
    expect(renoLarge / renoSmall).toBeGreaterThan(5);
    expect(renoLarge / renoSmall).toBeGreaterThan(2.5 * cubicRatio);
  });

  it('CUBIC: the sawtooth between two losses follows W_cubic(t) = C (t - K)^3 + W_max within 3%', () => {
    for (const r of [runs.cubicSmall, runs.cubicLarge]) {
      const n = r.losses.length;
      const from = r.losses[n - 2]!;
      const to = r.losses[n - 1]!;
      const k = kAfter(from);
      let worst = 0;
      let concaveRise = 0;
      let convexRise = 0;
      // From 0.3 s after the loss (recovery takes about one RTT, 0.1 s) to just before the next one.
      for (let d = 0.3; d < (to.atMs - from.atMs) / 1000 - 0.05; d += 0.05) {
        const cwnd = r.trace[Math.round((from.atMs / 1000 + d) * 100)]!;
        const predicted = 0.4 * (d - 0.1 - k) ** 3 + from.cwndBefore;
        worst = Math.max(worst, Math.abs(cwnd - predicted) / predicted);
      }
      expect(worst).toBeLessThan(0.03);
      // Concave: the first second after the loss climbs much more than the second before K.
      const at = (d: number): number => r.trace[Math.round((from.atMs / 1000 + d) * 100)]!;
      concaveRise = at(1.1) - at(0.1);
      convexRise = at(k) - at(k - 1);
      expect(concaveRise).toBeGreaterThan(5 * convexRise);
      expect(at(k - 0.5)).toBeGreaterThan(0.98 * from.cwndBefore); // the plateau near W_max
    }
  });

  it('utilisation: CUBIC above 95%, and clearly above Reno with a buffer of a quarter BDP', () => {
    for (const [c, r] of [
      [runs.cubicSmall, runs.renoSmall],
      [runs.cubicLarge, runs.renoLarge],
    ] as const) {
      expect(c.utilisation).toBeGreaterThan(0.95);
      expect(c.utilisation).toBeLessThanOrEqual(1.0001);
      expect(c.utilisation - r.utilisation).toBeGreaterThan(0.05);
      expect(c.meanCwnd).toBeGreaterThan(r.meanCwnd);
    }
  });

  it('HyStart++ leaves the initial slow start with fewer drops on a deep buffer (1 BDP)', () => {
    const deep: PathConfig = { ...small, bufferPackets: 100, durationMs: 3000 };
    const withHystart = runPath(new Cubic(MSS, { fastConvergence: false }), deep);
    const without = runPath(new Cubic(MSS, { fastConvergence: false, hystart: false }), deep);
    expect(withHystart.drops).toBeLessThan(0.7 * without.drops);
    expect(withHystart.losses[0]!.cwndBefore).toBeLessThan(without.losses[0]!.cwndBefore);
  });
});
