/**
 * Loss recovery: what the sender learns from ACKs about lost segments, what it retransmits, and how
 * much it may send while it recovers. Two implementations, chosen by the handshake:
 *
 *   RenoRecovery (recovery-reno.ts)   no SACK: duplicate ACKs (RFC 5681 §3.2), NewReno (RFC 6582),
 *                                      limited transmit (RFC 3042), go-back-N after a timeout
 *   RackRecovery (recovery-rack.ts)   SACK: RACK-TLP's time-based loss detection (RFC 8985), the
 *                                      retransmission queue and pipe (RFC 6675), Proportional Rate
 *                                      Reduction (RFC 6937), SACK recovery after a timeout, F-RTO
 *                                      (RFC 5682), undo by timestamps (RFC 3522) and D-SACK (RFC 3708)
 *
 * The connection calls onAck for every acceptable ACK (then grows the congestion window if it says
 * so), onRto on a retransmission timeout, onTimer when its own timer is due; output tells it what was
 * sent (onSent) and asks it what to retransmit and how much may be in flight. Its state is its own.
 * docs/architecture.md, "The TCP control block", shows how the owners fit together.
 */
import type { SackBlock } from '../wire/tcp-options.ts';
import type { CongestionControl } from './congestion-control.ts';
import type { TcpCounters } from './counters.ts';
import type { RttEstimator } from './rtt.ts';
import type { Sender } from './sender.ts';
import type { Timestamps } from './timestamps.ts';

/** What one ACK said, as recovery needs it. The connection refills one instance per ACK. */
export interface AckInfo {
  now: number;
  /** SEG.ACK. */
  ack: number;
  /** SND.UNA before this ACK. */
  oldUna: number;
  /** SND.MAX - SND.UNA before this ACK (FlightSize). */
  flight: number;
  /** The segment carried no data, no SYN or FIN, and did not change the window (RFC 5681 §2's duplicate ACK). */
  plainDup: boolean;
  /** The SACK blocks of the segment, if SACK is on and it had any. */
  sack: readonly SackBlock[] | undefined;
  /** The TSecr of the segment (Eifel detection), if it had a timestamp. */
  tsEcho: number | undefined;
  /** Set by recovery: bytes this ACK newly delivered (cumulatively acknowledged + newly SACKed). */
  delivered: number;
}

export function newAckInfo(): AckInfo {
  return { now: 0, ack: 0, oldUna: 0, flight: 0, plainDup: false, sack: undefined, tsEcho: undefined, delivered: 0 };
}

/** What recovery reads and tells: the send side, the controller, the clock of timestamps, counters. */
export interface RecoveryHost {
  readonly snd: Sender;
  readonly rtt: RttEstimator;
  readonly cc: CongestionControl;
  readonly ts: Timestamps;
  readonly counters: TcpCounters;
}

/** Where recovery's retransmissions go (output.ts): [seq, seq + len) again, SND.NXT unmoved. */
export interface Retransmit {
  retransmit(seq: number, len: number, reason: 'fast-retransmit' | 'sack-retransmit' | 'rto-retransmit'): void;
}

export interface LossRecovery {
  /** 'none': NO_RECOVERY, before the handshake has said whether SACK is on, and after the connection. */
  readonly kind: 'none' | 'reno' | 'rack';
  /** In fast recovery or in recovery after a timeout (no tail loss probes then, RFC 8985 §7.2). */
  readonly inRecovery: boolean;
  /** The window the flight is held to now (cwnd, or what recovery makes of it). */
  window(): number;
  /** The flight as counted against window(): SND.NXT - SND.UNA, or RFC 6675's pipe. */
  inPipe(): number;
  /** Bytes beyond window() that limited transmit (RFC 3042) allows now. */
  limitedTransmit(): number;
  /**
   * An acceptable ACK (the Sender has already moved SND.UNA when `advanced`). Sets a.delivered.
   * Returns true when the congestion controller may grow its window on this ACK.
   */
  onAck(a: AckInfo, advanced: boolean): boolean;
  /**
   * The retransmission timer expired (the controller's onRto was called). True when the sender is
   * to go back N (resend everything from SND.UNA); false when recovery retransmits what it deems lost.
   */
  onRto(now: number, firstTimeout: boolean): boolean;
  /**
   * The send MSS came down (the path MTU fell, RFC 1191): what is in flight was too big and did not
   * arrive. True when the sender is to go back N at the new size; false when recovery re-cut its
   * queue and retransmits the pieces itself. The congestion controller is not told: no congestion.
   */
  onMssReduced(now: number): boolean;
  /** Take the request to retransmit the segment at SND.UNA (fast retransmit, partial ACK, lost retransmission). */
  takeRetransmitHead(): boolean;
  /** The segment at SND.UNA was just retransmitted by that request. */
  onHeadRetransmitted(): void;
  /** Retransmit what is deemed lost while the window allows. True if anything went. */
  retransmitLost(send: Retransmit): boolean;
  /** [seq, end) left at `now`; `retransmit`: it lies below SND.MAX. */
  onSent(now: number, seq: number, end: number, retransmit: boolean): void;
  /** A tail loss probe went out, ending at `end` (SND.MAX); `retransmit`: it resent old data. */
  onProbeSent(end: number, retransmit: boolean): void;
  /** What a tail loss probe resends when there is no new data: the last segment, [seq, len]. */
  probeSegment(): [number, number] | undefined;
  /** The deadline of recovery's own timer (RACK's reordering timer), or Infinity. */
  readonly timerAt: number;
  onTimer(now: number): void;
}

/**
 * A connection's recovery until its handshake has chosen one (connection.ts negotiate(): RACK when
 * both SYNs carried SACK-permitted, RFC 2018 §2, else Reno), and after it has ended: nothing is in
 * flight to recover, nothing may be sent by its window, no timer. One shared object, so a connection
 * makes exactly one recovery, the right one, and a SYN that never completes makes none.
 */
export const NO_RECOVERY: LossRecovery = Object.freeze({
  kind: 'none',
  inRecovery: false,
  timerAt: Infinity,
  window: () => 0,
  inPipe: () => 0,
  limitedTransmit: () => 0,
  onAck: (a: AckInfo) => {
    a.delivered = 0;
    return false;
  },
  onRto: () => true,
  onMssReduced: () => true,
  takeRetransmitHead: () => false,
  onHeadRetransmitted: () => undefined,
  retransmitLost: () => false,
  onSent: () => undefined,
  onProbeSent: () => undefined,
  probeSegment: () => undefined,
  onTimer: () => undefined,
} as const);
