/**
 * Loss recovery with SACK (recovery.ts), as Linux does it:
 *
 * **Loss detection by time: RACK (RFC 8985 §6).** Every segment's last transmission time is kept
 * (rtx-queue.ts). When an ACK delivers a segment (cumulatively or by SACK), the most recent
 * transmission among delivered segments becomes RACK's reference: a segment sent before it, and
 * still neither acknowledged nor SACKed after RACK.rtt plus a reordering window, is deemed lost;
 * one not yet that old arms the reordering timer. The window is zero until reordering is seen (as
 * long as recovery is on, or DupThresh segments are SACKed: the duplicate-ACK rule in time's terms),
 * else min_RTT / 4, widened by D-SACKs (one step per round trip that saw one, kept for 16
 * recoveries) and never above SRTT (§6.2 step 4). Lost retransmissions are found the same way: a
 * retransmission is a transmission. Without SACK, recovery-reno.ts counts duplicate ACKs instead.
 *
 * **Fast recovery with Proportional Rate Reduction (RFC 6937).** When RACK deems a segment lost,
 * the controller sets ssthresh (onLoss) and, until the recovery point (SND.MAX then) is
 * acknowledged, each ACK allows sending in proportion to what it delivered, so that the flight
 * shrinks smoothly to ssthresh (PRR), or, below it, grows back towards it by at most what was
 * delivered + 1 MSS (the slow-start reduction bound, PRR-SSRB). Lost segments go first, in sequence
 * order, then new data. The data in flight is RFC 6675's pipe: sent, less SACKed, less lost and not
 * yet resent.
 *
 * **Recovery after a timeout, never go-back-N over SACKed data (RFC 6675 §5.1, RFC 8985 §6.3).** On
 * an RTO the segment at SND.UNA and every segment older than RACK.rtt + the window is deemed lost;
 * SACKed segments stay SACKed. The lost ones are resent in order as the congestion window (1 MSS,
 * growing in slow start) allows. F-RTO (RFC 5682 §3, the SACK-enhanced algorithm) first resends only
 * the segment at SND.UNA; if the next ACK advances SND.UNA, two new segments go instead of
 * retransmissions, and if the ACK after that acknowledges or SACKs data that was never
 * retransmitted, the timeout was spurious.
 *
 * **Undo (RFC 3522 Eifel, RFC 3708 D-SACK).** A recovery episode remembers the TSval of its first
 * retransmission and which segments it retransmitted. If the ACK for the first one echoes an older
 * TSval, the original arrived; if every retransmission comes back D-SACKed, none was needed: either
 * way the controller's reduction is undone (cc.undo), the loss marks cleared, and reordering noted.
 *
 * **Tail loss probes (RFC 8985 §7)** are timed by tlp.ts; the probe's ACK is checked here (§7.4): a
 * retransmitted probe acknowledged without a D-SACK repaired a loss, and the controller reduces as
 * for one fast recovery.
 */
import { seqGe, seqGt, seqLe, seqLt, seqSub } from '../wire/seq.ts';
import type { SackBlock } from '../wire/tcp-options.ts';
import type { AckInfo, LossRecovery, RecoveryHost, Retransmit } from './recovery.ts';
import { LOST, RETRANS, RTX_NIL, RTX_OUT, RtxQueue, SACKED, sentAfter, type AckVisitor } from './rtx-queue.ts';
import { isDsack, Scoreboard, type SackListener } from './sack.ts';

const enum Mode {
  Open,
  /** Fast recovery (RFC 6675 §5), paced by PRR. */
  Recovery,
  /** Recovery after a retransmission timeout (RFC 8985 §6.3), paced by the congestion window. */
  Loss,
}

/** RFC 8985 §6.2 step 4: DupThresh, in segments SACKed, when no reordering was seen. */
const DUP_THRESH = 3;
/** RFC 8985 §6.2 step 4: recoveries for which a widened reordering window persists. */
const REO_WND_PERSIST = 16;
/** Retransmitted ranges remembered per episode for D-SACK undo; beyond it, D-SACKs cannot undo. */
const MAX_UNDO_RANGES = 64;
/** The least step between two recorded transmission times, ms (one nanosecond; see xmitStamp). */
const XMIT_STEP_MS = 1e-6;
const NO_RANGES = new Uint32Array(0);

export class RackRecovery implements LossRecovery, AckVisitor, SackListener {
  readonly kind = 'rack';
  readonly queue = new RtxQueue();
  /**
   * What the peer has SACKed (sack.ts). Made with the connection, empty and small until the first
   * SACK block, so that every RACK connection has one: the one the TCP layer keeps after its
   * connections have gone keeps the scoreboard's compiled code too (docs/architecture.md,
   * "Compiled code across idle periods").
   */
  private readonly board = new Scoreboard();
  private mode = Mode.Open;
  /** SND.MAX when the recovery began (RFC 6675 RecoveryPoint, RFC 6582 "recover"). */
  private recoveryPoint = 0;

  // RACK (RFC 8985 §5.3)
  private rackXmit = -Infinity;
  private rackEnd = 0;
  private rackRtt = 0;
  private minRtt = Infinity;
  private fack: number;
  /** RACK.fack before the ACK being processed: step 3 judges the ACK's deliveries against it. */
  private priorFack: number;
  private reorderingSeen = false;
  private reoWndMult = 1;
  private reoWndPersist = 0;
  private dsackRound: number | undefined;
  private reoAt = Infinity;

  // PRR (RFC 6937 §3)
  private prrDelivered = 0;
  private prrOut = 0;
  private recoverFs = 0;
  /** Bytes the last ACK allows to send, less what was sent since. */
  private budget = 0;

  // Undo (RFC 3522, RFC 3708, RFC 5682)
  private episode = false;
  private undoMarker = 0;
  private undoTsval = -1;
  /** The end of the episode's first retransmitted segment: the ACK that covers it decides Eifel. */
  private undoTsEnd = 0;
  /** Eifel has decided for this episode (once, on its first retransmission). */
  private eifelDecided = false;
  /** ...and found the first retransmission needed: its ACK echoed the retransmission's TSval. */
  private eifelSawLoss = false;
  private undoRetrans = 0;
  /** The episode's retransmitted ranges; allocated at the first retransmission (an idle or clean connection has none). */
  private undoSt = NO_RANGES;
  private undoEn = NO_RANGES;
  private undoRanges = 0;
  private undoOverflow = false;
  /** Segments retransmitted over the connection's life, and segments D-SACKed (for plausibility). */
  private retransSegs = 0;
  private dsackDups = 0;
  /** F-RTO (RFC 5682 §3): 0 off, 1 waiting for the first ACK after the RTO, 2 for the second. */
  private frto = 0;
  private frtoBudget = 0;
  /** The timeout's retransmission of the segment at SND.UNA is owed, whatever the window (RFC 6298 §5.4). */
  private rtoHeadDue = false;

  // TLP (RFC 8985 §7.4)
  private tlpEnd: number | undefined;
  private tlpRetrans = false;
  private tlpDsack = false;

  // Per ACK
  private delivered = 0;
  private origDelivered = false;
  private tsEcho: number | undefined;
  private now = 0;
  /** The last transmission's recorded time (see xmitStamp). */
  private lastXmit = -Infinity;
  private lostCursor = 0;

  constructor(private readonly h: RecoveryHost) {
    this.fack = h.snd.iss;
    this.priorFack = h.snd.iss;
  }

  /** The SACK scoreboard. */
  get scoreboard(): Scoreboard {
    return this.board;
  }

  get inRecovery(): boolean {
    return this.mode !== Mode.Open;
  }

  get timerAt(): number {
    return this.reoAt;
  }

  window(): number {
    switch (this.mode) {
      case Mode.Recovery:
        return this.queue.pipe + Math.max(0, this.budget);
      case Mode.Loss:
        if (this.frto === 2) return this.queue.pipe + Math.max(0, this.frtoBudget);
        return this.h.cc.cwnd;
      default:
        return this.h.cc.cwnd;
    }
  }

  inPipe(): number {
    return this.queue.pipe;
  }

  limitedTransmit(): number {
    return 0; // the pipe already counts SACKed segments out of the network (RFC 6675)
  }

  onAck(a: AckInfo, advanced: boolean): boolean {
    const { snd, counters } = this.h;
    this.now = a.now;
    this.delivered = 0;
    this.origDelivered = false;
    this.tsEcho = a.tsEcho;
    this.priorFack = this.fack;
    const wasMode = this.mode;
    let from = 0;
    let dsack = false;
    const sack = a.sack;
    if (sack !== undefined && sack.length > 0 && isDsack(sack, a.ack)) {
      from = 1;
      dsack = this.onDsack(sack[0]!);
    }
    if (advanced) {
      this.delivered += this.queue.ackTo(a.ack, this);
      this.board.advance(a.ack);
      if (this.lostCursor > 0) this.lostCursor = 0;
      this.tlpAcked(a.ack);
    }
    if (sack !== undefined && from < sack.length && !this.queue.isEmpty) {
      const board = this.scoreboard;
      board.onNew = this;
      board.update(sack, snd.una, snd.max, snd.mss, from);
      board.onNew = undefined;
      counters.sackBlocksIgnored += board.lastIgnored;
      counters.sackBlocksDropped += board.lastDropped;
    }
    a.delivered = this.delivered;
    if (this.episode && advanced) this.eifelCheck(a.ack);
    this.updateReoWndRound(dsack);
    if (this.mode === Mode.Loss) this.lossAck(advanced);
    if (this.delivered > 0 || this.mode === Mode.Loss) this.detectLoss();
    switch (this.mode) {
      case Mode.Open:
        if (this.queue.lostBytes > 0) this.enterRecovery();
        break;
      case Mode.Recovery:
        if (seqGe(snd.una, this.recoveryPoint)) {
          this.exitRecovery();
          if (this.queue.lostBytes > 0) this.enterRecovery();
        } else this.prrOnAck();
        break;
      case Mode.Loss:
        if (seqGe(snd.una, this.recoveryPoint)) this.leave();
        break;
    }
    // The controller grows outside fast recovery (slow start after a timeout included), on in-order
    // delivery (RFC 5681 §3.1); once reordering was seen, on SACKed delivery too, as Linux does
    // (tcp_may_raise_cwnd): out-of-order arrival is then no sign of congestion.
    return (advanced || this.reorderingSeen) && (wasMode === Mode.Open || wasMode === Mode.Loss) && this.mode !== Mode.Recovery;
  }

  onRto(now: number, firstTimeout: boolean): boolean {
    const { snd } = this.h;
    this.now = now;
    if (this.mode === Mode.Open) this.startEpisode();
    this.mode = Mode.Loss;
    this.recoveryPoint = snd.max;
    this.budget = 0;
    this.tlpEnd = undefined;
    // RFC 8985 §6.3: the segment at SND.UNA, and every one sent longer ago than RACK.rtt + the
    // reordering window, is lost; SACKed ones stay SACKed (RFC 6675 §5.1).
    const q = this.queue;
    const reoWnd = this.reoWnd();
    for (let i = 0; i < q.length; i++) {
      const s = q.slot(i);
      if (q.flags(s) & SACKED) continue;
      if (i === 0 || q.xmitTs(s) + this.rackRtt + reoWnd <= now) q.markLost(s);
    }
    this.lostCursor = 0;
    this.reoAt = Infinity;
    this.rtoHeadDue = q.length > 0;
    // F-RTO on the first timeout of a run (RFC 5682 §3 step 1): resend only the first segment.
    this.frto = firstTimeout ? 1 : 0;
    return false;
  }

  onMssReduced(now: number): boolean {
    const snd = this.h.snd;
    this.now = now;
    // Every segment longer than the new MSS is cut, and its pieces deemed lost (rtx-queue.ts recut):
    // they were sent in datagrams the path cannot carry. Then recovery as after a timeout, but
    // without F-RTO and without undo (nothing here was spurious), and the head at once, whatever
    // the window: Linux's tcp_simple_retransmit, which enters its Loss state the same way.
    if (this.queue.recut(snd.mss) === 0 || this.queue.lostBytes === 0) return false;
    this.mode = Mode.Loss;
    this.recoveryPoint = snd.max;
    this.budget = 0;
    this.frto = 0;
    this.episode = false;
    this.tlpEnd = undefined;
    this.lostCursor = 0;
    this.rtoHeadDue = (this.queue.flags(this.queue.slot(0)) & LOST) !== 0;
    return false;
  }

  takeRetransmitHead(): boolean {
    return false; // RACK marks the head lost, and retransmitLost sends it
  }

  onHeadRetransmitted(): void {}

  retransmitLost(send: Retransmit): boolean {
    if (this.mode === Mode.Open || this.queue.lostBytes === 0) return false;
    const q = this.queue;
    const mss = this.h.snd.mss;
    let sent = false;
    for (let i = this.lostCursor; i < q.length; i++) {
      const s = q.slot(i);
      const f = q.flags(s);
      if ((f & (LOST | RTX_OUT | SACKED)) !== LOST) continue;
      this.lostCursor = i;
      const len = seqSub(q.end(s), q.start(s));
      if (this.mode === Mode.Loss) {
        if (this.rtoHeadDue && i === 0) this.rtoHeadDue = false; // RFC 6298 §5.4: it goes
        else {
          // F-RTO steps 1 and 2: only the first segment, until the ACKs have spoken.
          if (this.frto !== 0) break;
          if (this.h.cc.cwnd - q.pipe < Math.min(len, mss)) break;
        }
      } else if (this.budget < Math.min(len, mss) && this.prrOut > 0) break;
      const start = q.start(s);
      send.retransmit(start, len, this.mode === Mode.Loss ? 'rto-retransmit' : start === this.h.snd.una ? 'fast-retransmit' : 'sack-retransmit');
      sent = true;
    }
    return sent;
  }

  /**
   * The time a transmission is recorded at: `now`, but always later than the previous one. Every
   * segment of a tick is sent at the same `now`, and RFC 8985's RACK_sent_after then breaks the tie
   * by sequence number, which makes a retransmission sent after new data in one tick look older than
   * that data: the new data's SACK would mark the retransmission lost again at once (a spurious
   * second retransmission, seen in seeded runs at 5% loss). Stepping by a nanosecond keeps the wire's
   * order, as a kernel's microsecond clock does, and moves RTT samples by nothing that matters.
   */
  private xmitStamp(now: number): number {
    const t = now > this.lastXmit ? now : this.lastXmit + XMIT_STEP_MS;
    this.lastXmit = t;
    return t;
  }

  onSent(nowMs: number, seq: number, end: number, retransmit: boolean): void {
    const q = this.queue;
    const now = this.xmitStamp(nowMs);
    const len = seqSub(end, seq);
    if (this.mode === Mode.Recovery) {
      this.prrOut += len;
      this.budget -= len;
    } else if (this.mode === Mode.Loss && this.frto === 2 && !retransmit) this.frtoBudget -= len;
    if (!retransmit) {
      // One record per wire segment (a TSO super-segment is cut into MSS pieces below us).
      const mss = this.h.snd.mss;
      let at = seq;
      while (seqSub(end, at) > mss) {
        const next = (at + mss) >>> 0;
        q.push(at, next, now); // the pieces of one super-segment leave together
        at = next;
      }
      q.push(at, end, now);
      return;
    }
    for (let i = q.indexAt(seq); i < q.length; i++) {
      const s = q.slot(i);
      if (!seqLt(q.start(s), end)) break;
      q.retransmitted(s, now);
      this.retransSegs++;
      if (this.episode) this.noteRetransmission(nowMs, q.start(s), q.end(s)); // the TSval it carried: from nowMs
    }
  }

  onProbeSent(end: number, retransmit: boolean): void {
    // RFC 8985 §7.3: TLP.end_seq = SND.NXT, TLP.is_retrans.
    this.tlpEnd = end;
    this.tlpRetrans = retransmit;
    this.tlpDsack = false;
  }

  probeSegment(): [number, number] | undefined {
    const q = this.queue;
    if (q.isEmpty) return undefined;
    const s = q.slot(q.length - 1);
    return [q.start(s), seqSub(q.end(s), q.start(s))];
  }

  onTimer(now: number): void {
    this.reoAt = Infinity;
    this.now = now;
    this.h.counters.rackTimeouts++;
    this.detectLoss();
    if (this.mode === Mode.Open && this.queue.lostBytes > 0) this.enterRecovery();
    else if (this.mode === Mode.Recovery && this.prrOut === 0) this.budget = Math.max(this.budget, this.h.snd.mss);
  }

  // ---------------------------------------------------------------------------------------------
  // RACK (RFC 8985 §6.2)

  /** AckVisitor (rtx-queue.ts): a segment cumulatively acknowledged, not SACKed before. */
  ackedSlot(slot: number): void {
    this.rackUpdate(slot);
  }

  /** Steps 1-3 for one delivered segment: RACK.min_RTT, RACK.rtt / xmit_ts / end_seq, RACK.fack. */
  private rackUpdate(slot: number): void {
    const q = this.queue;
    const f = q.flags(slot);
    const xmit = q.xmitTs(slot);
    const end = q.end(slot);
    if (!(f & RETRANS)) this.origDelivered = true;
    const rtt = Math.max(0, this.now - xmit); // xmitStamp may record a send a few ns past now
    if (f & RETRANS) {
      // Step 2: the delivery of a retransmitted segment may be the original's: not trusted if it
      // came sooner than min_RTT after the retransmission. (The step's other test, a TSecr older
      // than the retransmission, is left out, as Linux leaves it out: an ACK that SACKs data above a
      // hole echoes an older TSval whatever arrived (RFC 7323 §4.3), so it would discard every SACK
      // of a retransmission, the tail loss probe's among them.)
      if (rtt < this.minRtt) return;
    } else if (rtt < this.minRtt) this.minRtt = rtt; // step 1 (a running minimum; Linux windows it)
    // RACK.rtt is the RTT of the reference, the most recently sent segment delivered. RFC 8985 gets
    // that by visiting an ACK's segments in transmit order; they come here in the order of the SACK
    // blocks, so the RTT is taken with the reference, as Linux's tcp_rack_advance takes it. (Taken
    // from a lower block's older segment, it let the segments sent between the two escape loss.)
    if (sentAfter(xmit, end, this.rackXmit, this.rackEnd)) {
      this.rackRtt = rtt;
      this.rackXmit = xmit;
      this.rackEnd = end;
    }
    // Step 3: a never-retransmitted segment delivered below the highest one delivered before this
    // ACK was reordered. Not below the fack this ACK raised: a receiver lists its SACK blocks most
    // recent first (RFC 2018 §4), so one ACK may report a higher block and then extend a lower one,
    // and nothing arrived out of order (Linux's sender sorts the blocks and compares with prior_fack).
    if (seqGt(end, this.fack)) this.fack = end;
    if (seqLt(end, this.priorFack) && !(f & RETRANS)) this.reorderingSeen = true;
  }

  /** SackListener (sack.ts): a piece [l, r) newly SACKed; the segments it completes are delivered. */
  newlySacked(l: number, r: number): void {
    const q = this.queue;
    for (let i = q.indexAt(l); i < q.length; i++) {
      const s = q.slot(i);
      const st = q.start(s);
      if (!seqLt(st, r)) break;
      if (q.flags(s) & SACKED) continue;
      const en = q.end(s);
      if (!this.board.covers(st, en)) continue;
      this.rackUpdate(s);
      this.delivered += seqSub(en, st);
      q.markSacked(s);
    }
  }

  /** Step 4: the reordering window. */
  private reoWnd(): number {
    if (!this.reorderingSeen) {
      if (this.mode !== Mode.Open) return 0;
      if (this.queue.sackedSegs >= DUP_THRESH) return 0;
    }
    const srtt = this.h.rtt.srtt ?? 0;
    const base = this.minRtt === Infinity ? srtt : this.minRtt;
    return Math.min((this.reoWndMult * base) / 4, srtt);
  }

  /** Step 4's D-SACK rounds: the window grows once per round trip that saw a D-SACK. */
  private updateReoWndRound(dsack: boolean): void {
    const snd = this.h.snd;
    if (this.dsackRound !== undefined && seqGe(snd.una, this.dsackRound)) this.dsackRound = undefined;
    if (this.dsackRound === undefined && dsack) {
      this.dsackRound = snd.max;
      this.reoWndMult++;
      this.reoWndPersist = REO_WND_PERSIST;
    }
  }

  /**
   * Step 5: every segment sent before the most recently delivered one, and older than RACK.rtt +
   * the window, is lost; the youngest of the others arms the reordering timer.
   */
  private detectLoss(): void {
    const q = this.queue;
    const now = this.now;
    const reoWnd = this.reoWnd();
    let timeout = 0;
    for (let s = q.oldest; s !== RTX_NIL; s = q.after(s)) {
      const xmit = q.xmitTs(s);
      // In transmit order: from the first one sent later than the reference, all are.
      if (xmit > this.rackXmit) break;
      if (!sentAfter(this.rackXmit, this.rackEnd, xmit, q.end(s))) continue;
      const f = q.flags(s);
      if (f & LOST && !(f & RTX_OUT)) continue; // already lost, waiting to be resent
      const remaining = xmit + this.rackRtt + reoWnd - now;
      if (remaining <= 0) {
        if (f & RTX_OUT) this.h.counters.lostRetransmits++;
        q.markLost(s);
        this.lostCursor = 0;
      } else if (remaining > timeout) timeout = remaining;
    }
    this.reoAt = timeout > 0 ? now + timeout : Infinity;
  }

  // ---------------------------------------------------------------------------------------------
  // Fast recovery and PRR (RFC 6937)

  private enterRecovery(): void {
    const { snd, cc, counters } = this.h;
    this.mode = Mode.Recovery;
    this.recoveryPoint = snd.max;
    cc.onLoss(this.now, snd.flight);
    this.startEpisode();
    counters.fastRetransmits++;
    snd.cancelRttTiming();
    this.prrDelivered = 0;
    this.prrOut = 0;
    this.recoverFs = Math.max(snd.flight, 1);
    this.budget = 0;
    this.prrOnAck();
  }

  /** RFC 6937 §3: what this ACK allows to send. */
  private prrOnAck(): void {
    const { cc, snd } = this.h;
    const delivered = this.delivered;
    this.prrDelivered += delivered;
    const pipe = this.queue.pipe;
    const ssthresh = cc.ssthresh;
    let sndcnt: number;
    if (pipe > ssthresh) sndcnt = Math.ceil((this.prrDelivered * ssthresh) / this.recoverFs) - this.prrOut;
    else sndcnt = Math.min(ssthresh - pipe, Math.max(this.prrDelivered - this.prrOut, delivered) + snd.mss); // PRR-SSRB
    // The fast retransmit itself always goes (RFC 6937 §3: recovery starts with it).
    if (this.prrOut === 0 && this.queue.lostBytes > 0) sndcnt = Math.max(sndcnt, snd.mss);
    this.budget = Math.max(0, sndcnt);
  }

  private exitRecovery(): void {
    // Recovery ends without one retransmission: every segment presumed lost was acknowledged before
    // its retransmission could go (reordering; the ACKs that said so came in one device read with the
    // one that started recovery). Nothing was lost, so the reduction is undone, as Linux undoes when
    // no retransmission is left unaccounted for (tcp_may_undo: undo_retrans == 0), and as RFC 3708 §3
    // does when every retransmission was D-SACKed. Seeded runs of bench:loss's reorder profile lost
    // 2 s of 2.4 to such reductions.
    if (this.episode && this.undoRanges === 0 && !this.undoOverflow) {
      this.undo(false);
      return;
    }
    this.h.cc.onRecoveryEnd(this.now);
    this.leave();
  }

  private leave(): void {
    this.mode = Mode.Open;
    this.frto = 0;
    this.budget = 0;
    // The episode stays: the D-SACKs for its retransmissions may still be on their way (the
    // original that ended recovery came first); the next episode replaces it.
    // RFC 8985 §6.2 step 4: a widened window lasts REO_WND_PERSIST recoveries.
    if (this.reoWndPersist > 0 && --this.reoWndPersist === 0) this.reoWndMult = 1;
  }

  // ---------------------------------------------------------------------------------------------
  // After a timeout: F-RTO (RFC 5682 §3, SACK-enhanced)

  private lossAck(advanced: boolean): void {
    const snd = this.h.snd;
    if (this.frto === 0) return;
    if (this.frto === 1) {
      // Step 2: the first ACK after the timeout's retransmission.
      if (!advanced || seqGe(snd.una, this.recoveryPoint)) {
        this.frto = 0; // 2a/2b: a duplicate ACK (the loss was real), or all is acknowledged
        return;
      }
      if (snd.unsent > 0 && snd.wnd > snd.inflight) {
        this.frto = 2; // 2b: send up to two new segments, and look at the next ACK
        this.frtoBudget = 2 * snd.mss;
      } else this.frto = 0;
      return;
    }
    // Step 3: the second ACK. Never-retransmitted data acknowledged or SACKed: the timeout was spurious.
    this.frto = 0;
    if (this.origDelivered) this.undo(true);
  }

  // ---------------------------------------------------------------------------------------------
  // Undo (RFC 3522, RFC 3708)

  private startEpisode(): void {
    this.episode = true;
    this.undoMarker = this.h.snd.una;
    this.undoTsval = -1;
    this.eifelDecided = false;
    this.eifelSawLoss = false;
    this.undoRetrans = 0;
    this.undoRanges = 0;
    this.undoOverflow = false;
  }

  private noteRetransmission(now: number, start: number, end: number): void {
    if (this.undoTsval < 0 && !this.eifelDecided && this.h.ts.on) {
      this.undoTsval = this.h.ts.now(now);
      this.undoTsEnd = end >>> 0;
    }
    this.undoRetrans++;
    if (this.undoRanges === MAX_UNDO_RANGES) {
      this.undoOverflow = true;
      return;
    }
    if (this.undoSt === NO_RANGES) {
      this.undoSt = new Uint32Array(MAX_UNDO_RANGES);
      this.undoEn = new Uint32Array(MAX_UNDO_RANGES);
    }
    const k = this.undoRanges;
    if (k > 0 && this.undoEn[k - 1] === start >>> 0) this.undoEn[k - 1] = end >>> 0;
    else {
      this.undoSt[k] = start;
      this.undoEn[k] = end;
      this.undoRanges++;
    }
  }

  /**
   * RFC 3522 §3.2: the ACK for the first retransmission echoes an older TSval: the original arrived.
   * The ACK that decides is the first one to acknowledge that retransmitted segment, not merely the
   * first to move SND.UNA: RACK resends holes anywhere in the flight (RFC 8985 §6), and an ACK for
   * the in-flight segments below the hole echoes their older timestamps without saying anything about
   * it (taking it as the answer undid real reductions, one recovery in five at 5% loss).
   */
  private eifelCheck(ack: number): void {
    if (this.undoTsval < 0 || !seqGe(ack, this.undoTsEnd)) return;
    const tsval = this.undoTsval;
    this.undoTsval = -1; // the first ACK past the retransmitted segment decides, once per episode
    this.eifelDecided = true;
    const echo = this.tsEcho;
    if (echo === undefined || echo === 0) return;
    if (seqLt(echo, tsval)) this.undo(this.mode === Mode.Loss);
    else this.eifelSawLoss = true;
  }

  /**
   * A D-SACK (RFC 2883 §4) reported [l, r) received twice. True when it may be about our own
   * retransmissions and widens RACK's reordering window (RFC 8985 §6.2 step 4).
   *
   * A network that duplicates packets produces D-SACKs for segments that were sent once: they say
   * nothing about the sender's retransmissions, and taking them as evidence would undo real
   * reductions and keep widening the window. So, as Linux (tcp_dsack_seen), a D-SACK counts only
   * while the D-SACKed segments do not outnumber the segments ever retransmitted, and widens the
   * window only once reordering was seen and when it is not the answer to a tail loss probe (a
   * timer, not RACK, sent that one: RFC 8985 §7.4 deals with it).
   */
  private onDsack(b: SackBlock): boolean {
    const { counters, snd } = this.h;
    const [l, r] = b;
    if (!seqLt(l, r) || seqGt(r, snd.max)) return false;
    counters.dsacksReceived++;
    const segs = Math.max(1, Math.ceil(seqSub(r, l) / snd.mss));
    counters.dsackSegments += segs;
    const probe = this.tlpEnd !== undefined && r === this.tlpEnd;
    if (this.tlpEnd !== undefined) this.tlpDsack = true;
    this.dsackDups += segs;
    if (this.dsackDups > this.retransSegs) {
      counters.dsacksDubious++;
      return false;
    }
    // Is it about one of the episode's retransmissions? (A segment sent once and received twice was
    // duplicated by the network: that says nothing about our retransmissions.)
    const ours = this.episode && seqGe(l, this.undoMarker) && this.retransmittedInEpisode(l, r);
    // RFC 3708 §3: all of an episode's retransmissions D-SACKed: none of them was needed. Unless the
    // timestamps already said the first one was (Eifel, above): the original did not arrive before
    // it, so its D-SACK is a copy the network made (or an original later still), no reason to undo.
    if (ours && !this.undoOverflow && this.undoRetrans > 0 && !this.eifelSawLoss) {
      this.undoRetrans -= segs;
      if (this.undoRetrans <= 0) this.undo(this.mode === Mode.Loss);
    }
    // RFC 8985 §6.2 step 4 widens the window. Not only for D-SACKs of this episode's retransmissions:
    // those of the previous episode's often arrive after the next one began, and under heavy loss
    // with reordering, ignoring them cost 3x the timeouts in seeded runs.
    return this.reorderingSeen && !probe;
  }

  /** [l, r) lies within data the current episode retransmitted (as far as its ranges record). */
  private retransmittedInEpisode(l: number, r: number): boolean {
    for (let k = 0; k < this.undoRanges; k++) if (seqGe(l, this.undoSt[k]!) && seqLe(r, this.undoEn[k]!)) return true;
    return false;
  }

  /** The reduction was spurious: the controller undoes it, loss marks go, reordering is noted. */
  private undo(timeout: boolean): void {
    const { cc, counters } = this.h;
    cc.undo(this.now);
    if (timeout) counters.spuriousTimeouts++;
    else counters.spuriousRetransmits++;
    const q = this.queue;
    for (let i = 0; i < q.length; i++) q.clearLost(q.slot(i));
    this.reorderingSeen = true;
    this.episode = false;
    this.mode = Mode.Open;
    this.frto = 0;
    this.budget = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // TLP (RFC 8985 §7.4)

  private tlpAcked(ack: number): void {
    if (this.tlpEnd === undefined || !seqGe(ack, this.tlpEnd)) return;
    this.tlpEnd = undefined;
    if (!this.tlpRetrans || this.tlpDsack || this.mode !== Mode.Open) return;
    // The probe resent data and was needed: it repaired a loss. React as for one fast recovery.
    const { cc, counters, snd } = this.h;
    counters.tlpRecoveries++;
    cc.onLoss(this.now, Math.max(snd.flight, snd.mss * 2));
    cc.onRecoveryEnd(this.now);
  }
}
