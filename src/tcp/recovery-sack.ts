/**
 * Loss recovery with SACK (recovery.ts), after RFC 6675:
 *
 *  - the scoreboard (sack.ts) records what the receiver holds above SND.UNA (RFC 2018 §3-§5);
 *  - an ACK that SACKs new data counts as a duplicate ACK even with data or a window change on it
 *    (RFC 6675 §5); recovery starts after DupThresh of them, or once IsLost(SND.UNA) holds (DupThresh
 *    segments' worth SACKed above it): ssthresh from the controller, RecoveryPoint = SND.MAX, and the
 *    window held at ssthresh while "pipe" (sent, minus SACKed, minus presumed lost and not resent)
 *    is below it; holes are retransmitted in order (NextSeg rule 1, simplified);
 *  - RFC 5827 early retransmit: with fewer than 4 segments outstanding and nothing new to send, the
 *    threshold drops to (outstanding segments - 1), so a small flight can recover;
 *  - Eifel (RFC 3522 §3.2): with timestamps, the first ACK for the retransmitted segment echoing a
 *    TSval older than the retransmission's shows the original arrived (reordered, not lost). Response
 *    (in the spirit of RFC 4015): the controller undoes its reduction, recovery ends, and the
 *    duplicate-ACK threshold rises so that this much reordering no longer looks like loss (as Linux
 *    adapts its reordering metric);
 *  - a lost retransmission: more SACKing duplicate ACKs since a retransmission round began than
 *    segments were in flight means holes still not SACKed lost their retransmission too: a new round
 *    from SND.UNA (the idea of Linux's lost-retransmit detection). Only an ACK that SACKs new data is
 *    evidence here (RFC 6675 §2's "duplicate"): a flood of identical duplicate ACKs must not buy a
 *    retransmission round each.
 * After a timeout the scoreboard is cleared (RFC 2018 §8: the receiver may renege).
 */
import { seqAdd, seqGe, seqGt, seqLt, seqMax, seqSub } from '../wire/seq.ts';
import type { AckInfo, LossRecovery, RecoveryHost, Retransmit } from './recovery.ts';
import { Scoreboard } from './sack.ts';

export class SackRecovery implements LossRecovery {
  readonly kind = 'sack';
  readonly scoreboard = new Scoreboard();
  private _inRecovery = false;
  private _dupAcks = 0;
  /** RFC 6675 RecoveryPoint (RFC 6582 "recover"): SND.MAX when recovery (or a timeout) began. */
  private recover: number;
  /** RFC 6675 HighRxt: the highest sequence number retransmitted in this recovery. */
  private highRxt = 0;
  private retransmitHead = false;
  private dupsSinceRetransmit = 0;
  private retransmitDupBudget = 0;
  /** Duplicate-ACK threshold: 3 (RFC 5681), raised after spurious retransmissions from reordering. */
  private reorderThresh = 3;
  /** Eifel: the TSval of the fast retransmission and SND.UNA then; -1 when there is nothing to undo. */
  private undoTsval = -1;
  private undoSeq = 0;

  constructor(private readonly h: RecoveryHost) {
    this.recover = h.snd.iss;
  }

  get inRecovery(): boolean {
    return this._inRecovery;
  }

  get dupAcks(): number {
    return this._dupAcks;
  }

  window(): number {
    // RFC 6675 §5 step 4: cwnd = ssthresh for the duration of recovery.
    return this._inRecovery ? this.h.cc.ssthresh : this.h.cc.cwnd;
  }

  inPipe(): number {
    return this._inRecovery ? this.pipe() : this.h.snd.inflight;
  }

  limitedTransmit(): number {
    return !this._inRecovery && this._dupAcks > 0 && this._dupAcks < 3 ? this._dupAcks * this.h.snd.mss : 0;
  }

  onNewAck(a: AckInfo): boolean {
    this.scoreboard.advance(a.ack);
    if (this.undoTsval >= 0 && seqGt(a.ack, this.undoSeq)) this.eifelCheck(a);
    this._dupAcks = 0;
    if (!this._inRecovery) return true;
    // RFC 6675 §5: recovery ends when the ACK covers RecoveryPoint.
    if (seqGe(a.ack, this.recover)) {
      this._inRecovery = false;
      this.h.cc.onRecoveryEnd(a.now);
    }
    return false;
  }

  onAckInfo(a: AckInfo): void {
    const { snd, counters } = this.h;
    let newlySacked = 0;
    if (a.sack !== undefined && !snd.idle) {
      newlySacked = this.scoreboard.update(a.sack, snd.una, snd.max, snd.mss);
      counters.sackBlocksIgnored += this.scoreboard.lastIgnored;
      counters.sackBlocksDropped += this.scoreboard.lastDropped;
    }
    if (a.ack === a.oldUna && !snd.idle && (newlySacked > 0 || a.plainDup)) {
      this._dupAcks++;
      if (this._inRecovery && newlySacked > 0 && ++this.dupsSinceRetransmit > this.retransmitDupBudget) {
        this.highRxt = snd.una;
        this.startRound();
        counters.lostRetransmits++;
      }
    }
    if (this._inRecovery || snd.idle) return;
    const thresh = this.dupThresh();
    if (this._dupAcks < thresh && this.scoreboard.sackedAbove(snd.una) < thresh * snd.mss) return;
    // RFC 6582 §3.2 step 2: not for losses from a window already reduced.
    if (seqLt(a.ack, this.recover)) return;
    this.h.cc.onLoss(a.now, snd.flight);
    this.recover = snd.max;
    this._inRecovery = true;
    if (this.h.ts.on) {
      // Remember enough to undo the reduction if the retransmission proves spurious (RFC 3522).
      this.undoSeq = snd.una;
      this.undoTsval = this.h.ts.now(a.now);
    }
    this.highRxt = snd.una;
    this.startRound();
    this.retransmitHead = true;
    counters.fastRetransmits++;
    snd.cancelRttTiming();
  }

  onRto(): void {
    this._dupAcks = 0;
    this._inRecovery = false;
    this.recover = this.h.snd.max;
    this.retransmitHead = false;
    this.scoreboard.clear(); // RFC 2018 §8: after a timeout, ignore prior SACK information
    this.undoTsval = -1;
  }

  takeRetransmitHead(): boolean {
    const r = this.retransmitHead;
    this.retransmitHead = false;
    return r;
  }

  onHeadRetransmitted(): void {
    this.startRound();
    if (this._inRecovery) this.highRxt = seqMax(this.highRxt, seqAdd(this.h.snd.una, this.h.snd.mss));
  }

  /** A retransmission round begins: count the duplicate ACKs the flight explains. */
  private startRound(): void {
    this.dupsSinceRetransmit = 0;
    this.retransmitDupBudget = Math.ceil(this.h.snd.flight / this.h.snd.mss) + 1;
  }

  retransmitLost(send: Retransmit): boolean {
    if (!this._inRecovery) return false;
    const { snd, cc } = this.h;
    let sent = false;
    for (let guard = 0; guard < 1000; guard++) {
      if (cc.ssthresh - this.pipe() < snd.mss) break;
      const hole = this.scoreboard.nextLostHole(seqMax(this.highRxt, snd.una), snd.mss);
      if (hole === undefined) break;
      send(hole[0], hole[1]);
      this.highRxt = seqAdd(hole[0], hole[1]);
      sent = true;
    }
    return sent;
  }

  /**
   * RFC 6675 §5 (NextSeg rule 1, simplified): data in flight ("pipe") is what was sent, minus what
   * the receiver SACKed, minus the holes presumed lost that were not retransmitted yet.
   */
  private pipe(): number {
    const from = seqMax(this.highRxt, this.h.snd.una);
    return this.h.snd.flight - this.scoreboard.bytes - this.scoreboard.holeBytesAbove(from);
  }

  /** RFC 5827 early retransmit, else the (adapted) duplicate-ACK threshold. */
  private dupThresh(): number {
    const snd = this.h.snd;
    const outSegs = Math.ceil(snd.flight / snd.mss);
    if (outSegs < 4 && (snd.unsentBeyondMax <= 0 || snd.flight >= Math.min(snd.wnd, this.h.cc.cwnd))) return Math.max(1, outSegs - 1);
    return this.reorderThresh;
  }

  private eifelCheck(a: AckInfo): void {
    const undoTsval = this.undoTsval;
    this.undoTsval = -1;
    if (a.tsEcho === undefined || a.tsEcho === 0 || seqGe(a.tsEcho, undoTsval)) return;
    this.h.cc.undo(a.now);
    this._inRecovery = false;
    this.recover = a.ack;
    this.reorderThresh = Math.min(this.reorderThresh + 1, 6);
    this.h.counters.spuriousRetransmits++;
  }
}
