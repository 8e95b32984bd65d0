/**
 * The congestion controller's contract (RFC 5681 §3; RFC 9438 for CUBIC, RFC 9406 for HyStart++).
 *
 * A controller's state is its own: the connection tells it what happened (an ACK, a loss, a timeout,
 * a reduction found spurious) and reads cwnd and ssthresh back; nothing outside writes them. How much
 * may be sent *during* loss recovery is the loss recovery's business (RFC 6675 pipe, RFC 6937
 * Proportional Rate Reduction), computed from the ssthresh the controller chose in onLoss; the
 * controller is told when recovery ends and sets cwnd from there.
 *
 * Implementations: NewReno (RFC 5681/6582 increase and decrease), CUBIC (RFC 9438, the default, as on
 * Linux).
 */

export type CongestionControlName = 'newreno' | 'cubic';

/**
 * What one ACK told the sender, as the controller needs it. The connection owns one instance and
 * refills it per ACK (no allocation per segment); a controller must not keep a reference to it.
 */
export interface AckEvent {
  /** Current time, ms. */
  now: number;
  /** SEG.ACK (the new SND.UNA). */
  ack: number;
  /** SND.NXT after the ACK was processed (HyStart++ ends a round when an ACK covers it). */
  sndNxt: number;
  /** Bytes newly delivered by this ACK: cumulatively acknowledged plus newly SACKed. */
  acked: number;
  /** An RTT sample taken from this ACK (ms), or undefined. */
  rttMs: number | undefined;
  /** The smoothed RTT (ms), or undefined before the first sample. */
  srttMs: number | undefined;
  /** SND.MAX - SND.UNA before this ACK (FlightSize: SACKed data included, as Linux's packets_out). */
  flight: number;
  /**
   * The sender had less than cwnd outstanding and nothing more to send (RFC 7661): the window was not
   * the limit, so it should not grow.
   */
  appLimited: boolean;
}

/**
 * The largest window slow start may grow to on this ACK. Unbounded when the window was the limit;
 * when it was not (ev.appLimited: the receiver's window or the application held the flight), twice
 * the flight. A window the sender does not fill says little about the path (RFC 7661
 * §4.1), so it must not grow without bound; but a window that cannot grow at all while the
 * receiver's window is the limit is still that size when the receiver opens up (Linux's receive
 * autotuning doubles it per round trip), and the sender then needs several round trips to catch up.
 * Twice the flight is the cap of draft-ietf-ccwg-ratelimited-increase ("cwnd no larger
 * than limit(maxFS)", 2 * maxFS in slow start; the flight before this ACK stands for maxFS, the
 * largest flight since the last reduction) and what Linux's tcp_is_cwnd_limited allows
 * in slow start. Congestion avoidance grows only when cwnd-limited.
 */
export function slowStartCap(ev: AckEvent): number {
  return ev.appLimited ? 2 * ev.flight : Infinity;
}

/** ssthresh before the first reduction: "arbitrarily high" (RFC 5681 §3.1), Linux's TCP_INFINITE_SSTHRESH. */
export const INITIAL_SSTHRESH = 0x7fffffff;

/** ssthresh for people: "initial" while it is still the sentinel above, else the bytes. */
export function ssthreshText(ssthresh: number): string {
  return ssthresh >= INITIAL_SSTHRESH ? 'initial' : String(ssthresh);
}

export interface CongestionControl {
  readonly name: CongestionControlName;
  /** Congestion window, bytes. */
  readonly cwnd: number;
  /** Slow-start threshold, bytes; 0x7fffffff until the first reduction ("arbitrarily high", RFC 5681 §3.1). */
  readonly ssthresh: number;
  /** The sender's MSS is known or changed (handshake, path MTU): re-derive what depends on it. */
  setMss(mss: number): void;
  /** An ACK that delivered new data, outside loss recovery: grow cwnd (slow start or avoidance). */
  onAck(ev: AckEvent): void;
  /**
   * Loss detected (fast retransmit, RACK-TLP): choose the new ssthresh (and what the algorithm
   * remembers, e.g. CUBIC's W_max). Recovery begins; cwnd during it is loss recovery's business.
   */
  onLoss(now: number, flight: number): void;
  /**
   * Loss recovery ended (the recovery point was acknowledged): cwnd = ssthresh (RFC 6675 §5, RFC 6937
   * §3), or `cap` if smaller: NewReno's recovery without SACK caps it at FlightSize + 1 SMSS so that
   * leaving recovery releases no burst (RFC 6582 §3.2 step 3, option 1).
   */
  onRecoveryEnd(now: number, cap?: number): void;
  /**
   * Retransmission timeout (RFC 5681 §3.1 eq. 4): ssthresh from the flight on the first timeout of a
   * run, cwnd = the loss window (1 SMSS).
   */
  onRto(now: number, flight: number, firstTimeout: boolean): void;
  /**
   * The last reduction (onLoss or onRto) was spurious (Eifel RFC 3522/4015, D-SACK RFC 3708, F-RTO
   * RFC 5682): restore cwnd, ssthresh and the algorithm's own state as they were before it.
   */
  undo(now: number): void;
}
