/**
 * Loss recovery: what the sender learns from ACKs about lost segments, what it retransmits, and how
 * much it may send while it recovers. Two implementations, chosen by the handshake:
 *
 *   RenoRecovery (recovery-reno.ts)   no SACK: duplicate ACKs (RFC 5681 §3.2), NewReno (RFC 6582),
 *                                      limited transmit (RFC 3042)
 *   SackRecovery (recovery-sack.ts)   SACK (RFC 2018): scoreboard and pipe (RFC 6675), early
 *                                      retransmit (RFC 5827), Eifel undo (RFC 3522)
 *
 * The connection calls, per ACK: onNewAck when SND.UNA advanced (then grows the congestion window if
 * it says so), then onAckInfo (SACK blocks, duplicate ACKs); on a retransmission timeout, onRto.
 * Output asks it what to retransmit and how much may be in flight. Its state is its own.
 * docs/architecture.md, "The TCP control block", shows how the owners fit together.
 */
import type { SackBlock } from '../wire/tcp-options.ts';
import type { CongestionControl } from './congestion-control.ts';
import type { TcpCounters } from './counters.ts';
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
}

export function newAckInfo(): AckInfo {
  return { now: 0, ack: 0, oldUna: 0, flight: 0, plainDup: false, sack: undefined, tsEcho: undefined };
}

/** What recovery reads and tells: the send side, the controller, the clock of timestamps, counters. */
export interface RecoveryHost {
  readonly snd: Sender;
  readonly cc: CongestionControl;
  readonly ts: Timestamps;
  readonly counters: TcpCounters;
}

/** Where recovery's retransmissions go (output.ts): [seq, seq + len) again, SND.NXT unmoved. */
export type Retransmit = (seq: number, len: number) => void;

export interface LossRecovery {
  readonly kind: 'reno' | 'sack';
  /** In fast recovery (between the loss and the ACK of the recovery point). */
  readonly inRecovery: boolean;
  /** Duplicate ACKs since SND.UNA last moved. */
  readonly dupAcks: number;
  /** The window the flight is held to now (cwnd, or what recovery makes of it). */
  window(): number;
  /** The flight as counted against window(): SND.NXT - SND.UNA, or RFC 6675's pipe. */
  inPipe(): number;
  /** Bytes beyond window() that limited transmit (RFC 3042) allows now. */
  limitedTransmit(): number;
  /**
   * SND.UNA advanced to a.ack (the Sender has already moved it). Returns true when the congestion
   * controller may grow its window on this ACK (it does not during recovery).
   */
  onNewAck(a: AckInfo): boolean;
  /** The rest of the ACK: SACK blocks, duplicate ACK counting, entering recovery. */
  onAckInfo(a: AckInfo): void;
  /** The retransmission timer expired (the controller's onRto was called). */
  onRto(): void;
  /** Take the request to retransmit the segment at SND.UNA (fast retransmit, partial ACK, lost retransmission). */
  takeRetransmitHead(): boolean;
  /** The segment at SND.UNA was just retransmitted (by the request above, or as a tail loss probe). */
  onHeadRetransmitted(): void;
  /** During recovery, retransmit what is presumed lost while the window allows. True if anything went. */
  retransmitLost(send: Retransmit): boolean;
}
