/**
 * A plain Reno controller for the tests: RFC 5681 §3.1 slow start with byte counting (at most L = 2
 * SMSS per ACK, RFC 3465 §2.2-2.3, as the stack's NewReno), congestion avoidance of one SMSS per
 * window (eq. 3 in bytes: cwnd += SMSS * acked / cwnd), ssthresh = max(FlightSize / 2, 2 SMSS) on a
 * loss or the first timeout (eq. 4), cwnd = ssthresh when recovery ends (RFC 6675 §5), 1 SMSS after a
 * timeout, and undo of the last reduction. Limited by the receiver or the application, slow start
 * grows to twice the flight and congestion avoidance not at all (as slowStartCap in
 * src/tcp/congestion-control.ts). It is the yardstick the bottleneck simulation compares
 * CUBIC with, and a second implementation for the generic contract (test/tcp/cc/contract.ts) to run
 * against. It is not the stack's NewReno (src/tcp/congestion.ts), which the TCB rework ports to the
 * same interface.
 */
import type { AckEvent, CongestionControl, CongestionControlName } from '../../../src/tcp/congestion-control.ts';

export class RenoModel implements CongestionControl {
  readonly name: CongestionControlName = 'newreno';
  private mss: number;
  private w: number;
  private thresh = 0x7fffffff;
  private pristine = true;
  private saved: { cwnd: number; ssthresh: number } | undefined;

  constructor(mss: number) {
    this.mss = mss;
    this.w = RenoModel.initialWindow(mss);
  }

  static initialWindow(mss: number): number {
    return Math.min(10 * mss, Math.max(2 * mss, 14600));
  }

  get cwnd(): number {
    return Math.floor(this.w);
  }

  get ssthresh(): number {
    return this.thresh;
  }

  setMss(mss: number): void {
    this.mss = mss;
    if (this.pristine) this.w = RenoModel.initialWindow(mss);
    else this.w = Math.max(this.w, mss);
  }

  onAck(ev: AckEvent): void {
    this.pristine = false;
    if (this.w < this.thresh) {
      // Limited by the receiver or the application: to twice the flight at most (slowStartCap).
      const cap = ev.appLimited ? 2 * ev.flight : Infinity;
      if (this.w < cap) this.w = Math.min(this.w + Math.min(ev.acked, 2 * this.mss), this.thresh, cap);
    } else if (!ev.appLimited) this.w += (this.mss * ev.acked) / this.w;
  }

  onLoss(_now: number, flight: number): void {
    this.pristine = false;
    this.saved = { cwnd: this.w, ssthresh: this.thresh };
    this.thresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.w = this.thresh;
  }

  onRecoveryEnd(_now: number): void {
    this.w = this.thresh;
  }

  onRto(_now: number, flight: number, firstTimeout: boolean): void {
    this.pristine = false;
    if (firstTimeout) {
      this.saved = { cwnd: this.w, ssthresh: this.thresh };
      this.thresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    }
    this.w = this.mss;
  }

  undo(_now: number): void {
    if (this.saved === undefined) return;
    this.w = this.saved.cwnd;
    this.thresh = this.saved.ssthresh;
    this.saved = undefined;
  }
}
