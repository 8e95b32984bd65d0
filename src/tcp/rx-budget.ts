/**
 * Memory budgets for received data, per connection and for the whole TCP layer.
 *
 * Two kinds of received bytes are held:
 *
 *   out-of-order   segments beyond RCV.NXT waiting in the reassembly queue (RFC 9293 §3.10.7.4,
 *                  step seven). Charged as bytes + RANGE_COST per held range (Reassembly.charge),
 *                  so that many tiny segments cost about what they really cost, as Linux charges
 *                  an skb's truesize rather than its length.
 *   unread         in-order bytes handed to the owner and not yet consumed (Receiver.buffered:
 *                  what the receive window already bounds per connection).
 *
 * Beyond a budget the segment is dropped and counted (counters.dropped 'ooo-budget',
 * 'rcv-budget'). RFC 9293 lets a receiver do that: queuing out-of-order segments is a SHOULD
 * (§3.10.7.4, SHLD-31 in its appendix B), and an in-window segment that is not acknowledged is
 * simply retransmitted by the peer. We acknowledge and SACK only what we hold, and never discard
 * what we SACKed (no reneging, RFC 2018 §8). Linux drops in the same way when its memory limits
 * are reached (tcp_prune_queue, tcp_prune_ofo_queue).
 *
 * Bytes that a filled hole releases from reassembly become unread without a second check (they
 * were held already), so all received data held stays within oooTotal + rcvTotal.
 *
 * The layer owns one RxBudget and every connection reserves from it; a connection gives back all it
 * holds once nothing more can be received (TIME-WAIT or CLOSED).
 */

export interface RxBudgetLimits {
  /** Out-of-order storage one connection may hold (bytes). */
  oooPerConnection: number;
  /** Out-of-order storage all connections together may hold (bytes). */
  oooTotal: number;
  /** Unread in-order bytes all connections together may hold (bytes). */
  rcvTotal: number;
}

export class RxBudget {
  /** Out-of-order storage held by all connections now. */
  oooHeld = 0;
  /** Unread in-order bytes held by all connections now. */
  rcvHeld = 0;

  constructor(readonly limits: Readonly<RxBudgetLimits>) {}

  /** May a connection that holds `connHeld` out-of-order bytes hold `n` more? Reserves them if so. */
  reserveOoo(connHeld: number, n: number): boolean {
    if (connHeld + n > this.limits.oooPerConnection || this.oooHeld + n > this.limits.oooTotal) return false;
    this.oooHeld += n;
    return true;
  }

  releaseOoo(n: number): void {
    this.oooHeld -= n;
  }

  /** Would `n` more unread bytes stay within the total? */
  mayHoldRcv(n: number): boolean {
    return this.rcvHeld + n <= this.limits.rcvTotal;
  }

  /** `n` more unread bytes are held (checked with mayHoldRcv, or already held out of order). */
  holdRcv(n: number): void {
    this.rcvHeld += n;
  }

  releaseRcv(n: number): void {
    this.rcvHeld -= n;
  }
}

/** A budget that never refuses (for a connection or collaborator used without a layer). */
export function unlimitedRxBudget(): RxBudget {
  return new RxBudget({ oooPerConnection: Infinity, oooTotal: Infinity, rcvTotal: Infinity });
}
