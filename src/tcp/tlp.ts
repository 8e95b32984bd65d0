/**
 * The tail loss probe of RFC 8985 §7: when the last segments of a flight are lost, no duplicate ACKs
 * come back to reveal it, and only the retransmission timeout (200 ms at least, often much more)
 * would. A probe after PTO = 2 * SRTT sends new data if the window allows (two segments, so that
 * the receiver answers at once: output.ts sendTailLossProbe says why), else the last segment again;
 * its ACK, with SACK blocks, lets fast recovery start.
 *
 *  - §7.2  PTO = 2 * SRTT, plus the worst-case delayed ACK (200 ms) when a single segment is in
 *          flight, else plus 2 ms (as Linux); never later than the RTO. Only with SACK, which is what lets the probe's ACK
 *          reveal the loss.
 *  - §7.3  one probe, then the RTO: no other probe until an ACK moves SND.UNA (else each probe's new
 *          segment re-arms the PTO, which fires before the RTO, and a vanished peer is probed for a
 *          whole window while the RTO is postponed).
 * During recovery the same timer stands in for RACK's reordering timer (RFC 8985 §6, much
 * simplified): if nothing moves for 2 * SRTT after a retransmission, the retransmission at SND.UNA is
 * presumed lost and sent again instead of waiting for the RTO.
 */

/** RFC 8985 §7.2 WCDelAckT: the longest a receiver may delay its ACK (RFC 1122 §4.2.3.2's 200 ms). */
const WC_DEL_ACK_MS = 200;
/** Added to 2 * SRTT with more than one segment out (Linux's TCP_TIMEOUT_MIN, 2 ms). */
const PTO_MARGIN_MS = 2;

export class TailLossProbe {
  /** The probe timeout's deadline, or Infinity. */
  private _at = Infinity;
  /** The timer fired: the next output sends the probe. */
  private due = false;
  /** A probe went out and no ACK has moved SND.UNA since. */
  private outstanding = false;

  get at(): number {
    return this._at;
  }

  /**
   * Arm the probe timeout (or disarm it when there is nothing to probe). `flight` and `mss` in
   * bytes, `srtt` and `rtoAt` in ms.
   */
  arm(now: number, enabled: boolean, flight: number, mss: number, srtt: number | undefined, rtoAt: number): void {
    if (this.outstanding || !enabled || flight === 0 || srtt === undefined) {
      this._at = Infinity;
      return;
    }
    // RFC 8985 §7.2: 2 * SRTT, plus WCDelAckT with a single segment out (its ACK may be delayed).
    // Otherwise a margin of 2 ms, as Linux's tcp_schedule_loss_probe (TCP_TIMEOUT_MIN), where an
    // earlier floor of 10 ms stalled a sub-millisecond path for 10 ms at every lost ACK of a flight.
    const pto = 2 * srtt + (flight <= mss ? WC_DEL_ACK_MS : PTO_MARGIN_MS);
    const at = now + pto;
    this._at = at < rtoAt ? at : rtoAt;
  }

  /** An ACK moved SND.UNA: probing is allowed again. */
  onProgress(): void {
    this.outstanding = false;
  }

  /** The deadline passed: true when a probe is due (something is in flight). */
  expire(inFlight: boolean): boolean {
    this._at = Infinity;
    if (inFlight) this.due = true;
    return inFlight;
  }

  /** Take the due probe, if any; it counts as sent from here (one per episode, §7.3). */
  take(): boolean {
    if (!this.due) return false;
    this.due = false;
    this.outstanding = true;
    this._at = Infinity;
    return true;
  }

  clear(): void {
    this._at = Infinity;
  }
}
