/**
 * Congestion control: RFC 5681 (slow start, congestion avoidance, fast retransmit/fast recovery) with
 * the NewReno modification of RFC 6582 (partial ACKs retransmit the next hole and stay in recovery),
 * RFC 3042 limited transmit, the initial window of RFC 6928 §2: min(10*MSS, max(2*MSS, 14600)), and
 * RFC 3465 byte counting in slow start (L = 2 SMSS; see onNewAck).
 *
 * The object only does the arithmetic and says what to do; the connection sends. Sequence numbers are
 * passed in so that "recover" (RFC 6582 §3.2) can be compared mod 2^32.
 */
import { seqGe, seqLt } from '../wire/seq.ts';

export enum DupAckAction {
  None = 0,
  /** RFC 3042: the 1st or 2nd duplicate ACK may release one new segment. */
  LimitedTransmit = 1,
  /** RFC 5681 §3.2 step 2-4 / RFC 6582 §3.2 step 2: retransmit the first unacknowledged segment. */
  FastRetransmit = 2,
}

export class NewReno {
  cwnd: number;
  ssthresh: number;
  mss: number;
  dupAcks = 0;
  inRecovery = false;
  /** Recovery driven by SACK information (RFC 6675): no window inflation, the sender counts "pipe". */
  sackRecovery = false;
  /** RFC 6582 "recover": the highest sequence number sent when recovery (or a timeout) began. */
  recover: number;
  /** Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 §3.1, byte counting). */
  private caAcked = 0;

  constructor(mss: number, iss: number, initialSsthresh = 0x7fffffff) {
    this.mss = mss;
    this.cwnd = NewReno.initialWindow(mss);
    this.ssthresh = initialSsthresh;
    this.recover = iss;
  }

  /** RFC 6928 §2. */
  static initialWindow(mss: number): number {
    return Math.min(10 * mss, Math.max(2 * mss, 14600));
  }

  setMss(mss: number): void {
    this.mss = mss;
    this.cwnd = NewReno.initialWindow(mss);
  }

  /**
   * An ACK that advanced SND.UNA by `acked` bytes to `ack`. Returns true when it is a partial ACK in
   * recovery (RFC 6582 §3.2 step 3): the caller retransmits the first unacknowledged segment and
   * re-arms the retransmission timer.
   */
  onNewAck(ack: number, acked: number, flightSize: number): boolean {
    this.dupAcks = 0;
    if (this.inRecovery && this.sackRecovery) {
      // RFC 6675 §5: recovery ends when the ACK covers RecoveryPoint; cwnd stays at ssthresh.
      if (seqGe(ack, this.recover)) {
        this.inRecovery = false;
        this.sackRecovery = false;
        this.cwnd = this.ssthresh;
      }
      return false;
    }
    if (this.inRecovery) {
      if (seqGe(ack, this.recover)) {
        // Full acknowledgment: deflate (RFC 6582 §3.2 step 3, option (1) with the "max(FlightSize,
        // SMSS) + SMSS" bound against bursts).
        this.cwnd = Math.min(this.ssthresh, Math.max(flightSize, this.mss) + this.mss);
        this.inRecovery = false;
        return false;
      }
      // Partial acknowledgment: deflate by the amount acked, add back one SMSS if >= SMSS acked.
      this.cwnd = Math.max(this.mss, this.cwnd - acked + (acked >= this.mss ? this.mss : 0));
      return true;
    }
    if (this.cwnd < this.ssthresh) {
      // Slow start with Appropriate Byte Counting, RFC 3465 §2.2-2.3: grow by the bytes acknowledged,
      // at most L = 2 SMSS per ACK. RFC 5681 §3.1 equation (2) caps it at 1 SMSS and admits RFC 3465's
      // larger increase only as experimental; we take it because receivers of TSO super-segments
      // (Linux with GRO) acknowledge ~45 segments per ACK, and with 1 SMSS per ACK slow start then
      // barely grows the window (downloads measured ~590 vs ~800 MB/s).
      // Not past ssthresh: from there on, congestion avoidance (as Linux's tcp_slow_start).
      this.cwnd = Math.min(this.cwnd + Math.min(acked, 2 * this.mss), this.ssthresh);
    } else {
      // Congestion avoidance: one SMSS per cwnd of acknowledged data (RFC 5681 §3.1, eq. 3 alternative).
      this.caAcked += acked;
      if (this.caAcked >= this.cwnd) {
        this.caAcked -= this.cwnd;
        this.cwnd += this.mss;
      }
    }
    return false;
  }

  /** A duplicate ACK (RFC 5681 §2 definition, checked by the caller). `ack` is SEG.ACK. */
  onDupAck(ack: number, flightSize: number, sndMax: number): DupAckAction {
    this.dupAcks++;
    if (this.inRecovery && this.sackRecovery) return DupAckAction.None;
    if (this.inRecovery) {
      // RFC 5681 §3.2 step 4: inflate for each segment that left the network.
      this.cwnd += this.mss;
      return DupAckAction.None;
    }
    if (this.dupAcks < 3) return DupAckAction.LimitedTransmit;
    if (this.dupAcks === 3) {
      // RFC 6582 §3.2 step 2: only if the ACK covers more than "recover" (avoid a second reduction
      // for losses from the same window after a timeout).
      if (seqLt(ack, this.recover)) return DupAckAction.None;
      this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
      this.recover = sndMax;
      this.cwnd = this.ssthresh + 3 * this.mss;
      this.inRecovery = true;
      return DupAckAction.FastRetransmit;
    }
    return DupAckAction.None;
  }

  /**
   * RFC 6675 §5 step 4: enter SACK-based loss recovery (after DupThresh duplicate ACKs, or once
   * IsLost(SND.UNA) holds): RecoveryPoint = HighData, cwnd = ssthresh = FlightSize / 2.
   * Returns false when `ack` does not cover the previous recovery point (RFC 6582 §3.2 step 2).
   */
  enterSackRecovery(ack: number, flightSize: number, sndMax: number): boolean {
    if (this.inRecovery) return false;
    if (seqLt(ack, this.recover)) return false;
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.recover = sndMax;
    this.inRecovery = true;
    this.sackRecovery = true;
    return true;
  }

  /** RFC 5681 §3.1 equation (4) and loss window; RFC 6582 §3.2 step 4 sets recover. */
  onTimeout(flightSize: number, sndMax: number, firstTimeout: boolean): void {
    if (firstTimeout) this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.caAcked = 0;
    this.dupAcks = 0;
    this.inRecovery = false;
    this.sackRecovery = false;
    this.recover = sndMax;
  }
}
