/**
 * NewReno's window arithmetic (RFC 5681 §3.1, RFC 6582), as a CongestionControl
 * (congestion-control.ts):
 *
 *  - the initial window of RFC 6928 §2: min(10*MSS, max(2*MSS, 14600))
 *  - slow start with RFC 3465 byte counting (L = 2 SMSS per ACK, see onAck), up to ssthresh
 *  - congestion avoidance: one SMSS per cwnd of acknowledged data (RFC 5681 §3.1, byte counting)
 *  - on loss: ssthresh = max(FlightSize / 2, 2 SMSS) (RFC 5681 §3.2 eq. 4)
 *  - on a timeout: the same ssthresh (first timeout of a run only), cwnd = 1 SMSS
 *
 * What happens to cwnd *during* fast recovery (RFC 6582's inflation by duplicate ACKs, deflation by
 * partial ACKs; RFC 6675's pipe) belongs to loss recovery (recovery-reno.ts, recovery-sack.ts).
 */
import { slowStartCap, type AckEvent, type CongestionControl } from '../congestion-control.ts';

/** RFC 6928 §2. */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

export const INITIAL_SSTHRESH = 0x7fffffff;

export class NewReno implements CongestionControl {
  readonly name = 'newreno';
  private _cwnd: number;
  private _ssthresh = INITIAL_SSTHRESH;
  private mss: number;
  /** Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 §3.1, byte counting). */
  private caAcked = 0;
  /** What undo() restores: the window and threshold before the last reduction (once). */
  private priorCwnd = 0;
  private priorSsthresh = 0;
  private canUndo = false;

  constructor(mss: number) {
    this.mss = mss;
    this._cwnd = initialWindow(mss);
  }

  get cwnd(): number {
    return this._cwnd;
  }

  get ssthresh(): number {
    return this._ssthresh;
  }

  setMss(mss: number): void {
    // At the handshake the initial window follows the MSS (RFC 5681 §3.1); later (a path MTU
    // change) the window, in bytes, stays what it is: no congestion was signalled.
    const untouched = this._cwnd === initialWindow(this.mss) && this._ssthresh === INITIAL_SSTHRESH;
    this.mss = mss;
    this._cwnd = untouched ? initialWindow(mss) : Math.max(this._cwnd, mss);
  }

  onAck(ev: AckEvent): void {
    const acked = ev.acked;
    if (this._cwnd < this._ssthresh) {
      const cap = slowStartCap(ev);
      if (this._cwnd >= cap) return;
      // Slow start with Appropriate Byte Counting, RFC 3465 §2.2-2.3: grow by the bytes acknowledged,
      // at most L = 2 SMSS per ACK. RFC 5681 §3.1 equation (2) caps it at 1 SMSS and admits RFC 3465's
      // larger increase only as experimental; we take it because receivers of TSO super-segments
      // (Linux with GRO) acknowledge ~45 segments per ACK, and with 1 SMSS per ACK slow start then
      // barely grows the window (downloads measured ~590 vs ~800 MB/s).
      // Not past ssthresh: from there on, congestion avoidance (as Linux's tcp_slow_start).
      this._cwnd = Math.min(this._cwnd + Math.min(acked, 2 * this.mss), this._ssthresh, cap);
    } else {
      // RFC 7661 §4.1: a window the sender did not fill says nothing about the path: no growth.
      if (ev.appLimited) return;
      // Congestion avoidance: one SMSS per cwnd of acknowledged data (RFC 5681 §3.1, eq. 3 alternative).
      this.caAcked += acked;
      if (this.caAcked >= this._cwnd) {
        this.caAcked -= this._cwnd;
        this._cwnd += this.mss;
      }
    }
  }

  onLoss(_now: number, flight: number): void {
    this.save();
    // On a loss the flight counts no more than cwnd: FlightSize includes SACKed data (SND.MAX -
    // SND.UNA), behind a hole that pins SND.UNA several windows, and halving that would raise the
    // window a loss reduces. Linux's Reno halves cwnd; the smaller keeps RFC 5681's FlightSize for an
    // application-limited sender.
    this._ssthresh = this.halved(Math.min(flight, this._cwnd));
    // The window during recovery is the recovery's (NewReno's inflation, RFC 6675's pipe); ours
    // stands at the new threshold meanwhile.
    this._cwnd = Math.min(this._cwnd, this._ssthresh);
  }

  /** RFC 5681 §3.1 eq. 4: max(FlightSize / 2, 2 SMSS). */
  private halved(flight: number): number {
    return Math.max(Math.floor(flight / 2), 2 * this.mss);
  }

  onRecoveryEnd(_now: number, cap = Infinity): void {
    this._cwnd = Math.max(this.mss, Math.min(this._ssthresh, cap));
  }

  onRto(_now: number, flight: number, firstTimeout: boolean): void {
    // The first timeout of a run reduces; the ones after it only back the timer off.
    if (firstTimeout) {
      this.save();
      // Eq. 4 with all that is outstanding: not capped by cwnd as on a loss (capped, seeded runs at
      // 20% loss on data and ACKs collapsed into backed-off timeouts).
      this._ssthresh = this.halved(flight);
    }
    this._cwnd = this.mss;
    this.caAcked = 0;
  }

  undo(_now: number): void {
    if (!this.canUndo) return;
    this.canUndo = false;
    // Back to before the reduction (RFC 4015 §3: restore cwnd and ssthresh), unless cwnd grew past it.
    if (this._cwnd < this.priorCwnd) this._cwnd = this.priorCwnd;
    this._ssthresh = this.priorSsthresh;
    this.caAcked = 0;
  }

  private save(): void {
    this.priorCwnd = this._cwnd;
    this.priorSsthresh = this._ssthresh;
    this.canUndo = true;
  }
}
