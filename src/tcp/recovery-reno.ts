/**
 * Loss recovery without SACK (recovery.ts): duplicate ACKs as the only evidence.
 *
 *  - RFC 5681 §3.2: the third duplicate ACK starts fast retransmit (the segment at SND.UNA) and fast
 *    recovery: ssthresh from the controller (onLoss), the window inflated to ssthresh + 3 SMSS and by
 *    one SMSS for each further duplicate ACK (each is a segment that left the network).
 *  - RFC 6582 (NewReno): a partial ACK retransmits the next segment at SND.UNA and deflates the
 *    window by what it acknowledged (adding back one SMSS); the full ACK (of "recover") ends recovery
 *    with cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS) (§3.2 step 3, option 1). §3.2 step 2:
 *    no new recovery unless the ACK covers "recover" (losses from a window already reduced).
 *  - RFC 3042 limited transmit: the first and second duplicate ACKs each allow one new segment.
 *  - A lost retransmission: more duplicate ACKs since the head was retransmitted than segments were
 *    in flight then means some were caused by segments sent after it; on a path that keeps order the
 *    retransmission itself must be lost: it is sent again rather than waiting for the RTO (the idea
 *    of Linux's lost-retransmit detection, here without SACK).
 */
import { seqGe, seqLt, seqSub } from '../wire/seq.ts';
import type { AckInfo, LossRecovery, RecoveryHost } from './recovery.ts';

export class RenoRecovery implements LossRecovery {
  readonly kind = 'reno';
  private _inRecovery = false;
  private _dupAcks = 0;
  /** RFC 6582 "recover": SND.MAX when recovery (or a timeout) began. */
  private recover: number;
  /** The inflated window during fast recovery (RFC 5681 §3.2 steps 3-4, RFC 6582 §3.2). */
  private inflated = 0;
  private retransmitHead = false;
  /** Duplicate ACKs since the head was last retransmitted, and how many the flight then explains. */
  private dupsSinceRetransmit = 0;
  private retransmitDupBudget = 0;

  constructor(private readonly h: RecoveryHost) {
    this.recover = h.snd.iss;
  }

  get inRecovery(): boolean {
    return this._inRecovery;
  }

  get dupAcks(): number {
    return this._dupAcks;
  }

  readonly timerAt = Infinity;

  window(): number {
    return this._inRecovery ? this.inflated : this.h.cc.cwnd;
  }

  inPipe(): number {
    return this.h.snd.inflight;
  }

  limitedTransmit(): number {
    return !this._inRecovery && this._dupAcks > 0 && this._dupAcks < 3 ? this._dupAcks * this.h.snd.mss : 0;
  }

  onAck(a: AckInfo, advanced: boolean): boolean {
    a.delivered = advanced ? seqSub(a.ack, a.oldUna) : 0;
    if (!advanced) {
      this.onDuplicate(a);
      return false;
    }
    return this.onNewAck(a);
  }

  private onNewAck(a: AckInfo): boolean {
    this._dupAcks = 0;
    if (!this._inRecovery) return true;
    const mss = this.h.snd.mss;
    if (seqGe(a.ack, this.recover)) {
      // Full acknowledgment: leave recovery, cwnd deflated (RFC 6582 §3.2 step 3, option (1)).
      this._inRecovery = false;
      this.h.cc.onRecoveryEnd(a.now, Math.max(a.flight, mss) + mss);
      return false;
    }
    // Partial acknowledgment: deflate by the amount acked, add back one SMSS if >= SMSS was acked,
    // and retransmit the next segment (RFC 6582 §3.2 step 3).
    const acked = seqSub(a.ack, a.oldUna);
    this.inflated = Math.max(mss, this.inflated - acked + (acked >= mss ? mss : 0));
    this.retransmitHead = true;
    return false;
  }

  private onDuplicate(a: AckInfo): void {
    const snd = this.h.snd;
    if (a.ack !== a.oldUna || !a.plainDup || snd.idle) return;
    // A duplicate ACK (RFC 5681 §2).
    this._dupAcks++;
    if (this._inRecovery) {
      // RFC 5681 §3.2 step 4: inflate for each segment that left the network.
      this.inflated += snd.mss;
      if (++this.dupsSinceRetransmit > this.retransmitDupBudget) {
        this.retransmitHead = true;
        this.h.counters.lostRetransmits++;
      }
      return;
    }
    // RFC 6582 §3.2 step 2: only if the ACK covers "recover" (no second reduction for losses from
    // the same window after a timeout).
    if (this._dupAcks !== 3 || seqLt(a.ack, this.recover)) return;
    this.h.cc.onLoss(a.now, snd.flight);
    this.recover = snd.max;
    this.inflated = this.h.cc.ssthresh + 3 * snd.mss;
    this._inRecovery = true;
    this.retransmitHead = true;
    this.h.counters.fastRetransmits++;
    snd.cancelRttTiming();
  }

  onRto(): boolean {
    this._dupAcks = 0;
    this._inRecovery = false;
    this.recover = this.h.snd.max;
    this.retransmitHead = false;
    return true; // go back N: without SACK nothing tells what arrived
  }

  onMssReduced(): boolean {
    // Without a retransmission queue the flight is simply resent from SND.UNA, now cut at the new
    // MSS (the fast recovery in progress, if any, ends: its segments were all too big).
    this._dupAcks = 0;
    this._inRecovery = false;
    this.recover = this.h.snd.max;
    this.retransmitHead = false;
    return true;
  }

  takeRetransmitHead(): boolean {
    const r = this.retransmitHead;
    this.retransmitHead = false;
    return r;
  }

  onHeadRetransmitted(): void {
    this.dupsSinceRetransmit = 0;
    this.retransmitDupBudget = Math.ceil(this.h.snd.flight / this.h.snd.mss) + 1;
  }

  retransmitLost(): boolean {
    return false;
  }

  onSent(): void {}

  onProbeSent(): void {}

  probeSegment(): undefined {
    return undefined;
  }

  onTimer(): void {}
}
