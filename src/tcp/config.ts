/**
 * What every connection of a TCP layer shares: the tunables (ConnectionConfig), what a connection
 * asks of its layer (ConnectionHost), and the option arithmetic of the handshake.
 */
import type { TcpSegment, TcpSegmentInit } from '../wire/tcp.ts';
import type { ConnectionOptions } from './api.ts';
import type { CongestionControl } from './congestion-control.ts';
import type { TcpCounters } from './counters.ts';
import type { RxBudget } from './rx-budget.ts';
import type { State } from './state.ts';

/** Tunables shared by all connections of a layer. */
export interface ConnectionConfig {
  mslMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  initialRtoMs: number;
  sendBufferSize: number;
  /** How far a connection's send buffer grows with its window unless SO_SNDBUF fixed it (tcp_wmem[2]). */
  sendBufferMax: number;
  /** The receive buffer a connection starts with (Linux's tcp_rmem[1]); SO_RCVBUF replaces it. */
  receiveBufferSize: number;
  /**
   * How far a connection's receive buffer grows, as its reader keeps up, unless SO_RCVBUF fixed it
   * (Receiver.autotune; Linux's tcp_rmem[2]).
   */
  receiveBufferMax: number;
  /** SYN retransmissions before an active open gives up (Linux tcp_syn_retries = 6). */
  synRetries: number;
  /** SYN-ACK retransmissions before a half-open passive connection is dropped (Linux tcp_synack_retries = 5). */
  synAckRetries: number;
  /** Data retransmissions before giving up (Linux tcp_retries2 = 15). */
  maxRetries: number;
  keepAliveIntervalMs: number;
  keepAliveProbes: number;
  /**
   * FIN-WAIT-2 gives up after this long without hearing from the peer (Linux tcp_fin_timeout, 60 s;
   * RFC 9293 has no such timer, but a peer that never sends its FIN would hold the TCB forever).
   */
  finWait2TimeoutMs: number;
  /** Offer/accept RFC 7323 timestamps. */
  timestamps: boolean;
  /** Offer/accept RFC 7323 window scaling. */
  windowScaling: boolean;
  /** Offer/accept SACK (RFC 2018) and use it for loss recovery (RFC 6675). */
  sack: boolean;
  /**
   * Hand the device TCP super-segments of up to 64 KiB when it offers segmentation offload (TSO,
   * NetDevice.tsoMaxSize). Off: every segment is built here, at most one MSS.
   */
  tso: boolean;
  /**
   * The window scale shift we offer (RFC 7323 §2.3). Default: the smallest that covers the largest
   * receive buffer autotuning may reach (offeredWindowScale(receiveBufferMax)), as Linux offers what
   * covers tcp_rmem's maximum: 7 by default, for both.
   */
  windowScaleShift: number;
  /**
   * The first in-order data segments of a connection that are ACKed at once rather than delayed
   * (Linux's quick-ACK mode at a connection's start, up to TCP_MAX_QUICKACKS = 16). Default 0: every
   * ACK may be delayed (RFC 9293 §3.8.6.3).
   */
  quickAckSegments: number;
  /** Makes each connection's congestion controller (congestion-control.ts), given the initial MSS. */
  congestionControl: (mss: number) => CongestionControl;
}

/**
 * Why a segment left (for the trace and the ladder; what Linux's tcp_probe or a packet trace with
 * its tracepoints would say).
 */
export type SendReason =
  | 'syn'
  | 'syn-ack'
  | 'data'
  | 'fin'
  | 'ack'
  | 'delayed-ack'
  | 'window-update'
  | 'dup-ack'
  | 'fast-retransmit'
  | 'sack-retransmit'
  | 'rto-retransmit'
  | 'tlp'
  | 'window-probe'
  | 'keepalive'
  | 'rst'
  | 'challenge-ack';

/**
 * The reasons that mean loss was detected or suspected (RFC 5681 §3.2, RFC 6675, RFC 6298 §5,
 * RFC 8985 §7): the trace shows cwnd and ssthresh with them, the debug log calls them retransmits.
 */
export function isLossReason(r: SendReason): boolean {
  return r === 'fast-retransmit' || r === 'sack-retransmit' || r === 'rto-retransmit' || r === 'tlp';
}

/** What a connection needs from its layer. */
export interface ConnectionHost {
  readonly cfg: ConnectionConfig;
  readonly counters: TcpCounters;
  /** The layer-wide budget for received data held (out-of-order and unread), see rx-budget.ts. */
  readonly rxBudget: RxBudget;
  /** Our MTU (for the MSS we announce: mtu - 40, RFC 9293 §3.7.1). */
  readonly mtu: number;
  /** The path MTU to `remote` (RFC 1191): the largest datagram we send it, at most `mtu`. */
  pathMtu(remote: number): number;
  /** Largest datagram the layer below takes as a TCP super-segment; 0: none (or cfg.tso is off). */
  readonly tsoMaxSize: number;
  markDirty(c: ConnectionRef): void;
  /** Serialize one of the connection's segments and send it (TcpLayer.output). */
  output(c: ConnectionRef, seg: TcpSegmentInit, reason: SendReason): void;
  /** Send a RST that is not part of the connection's own stream (a reply); with `ack`, a RST+ACK. */
  sendReset(c: ConnectionRef, seq: number, ack: number | undefined): void;
  stateChanged(c: ConnectionRef, from: State, to: State): void;
  /** SYN-ACK retransmissions allowed to this half-open connection now (fewer under SYN-queue pressure). */
  synAckRetries(c: ConnectionRef): number;
  /**
   * The handshake's last ACK arrived for this passive open: true when its listener's accept queue is
   * full, and the ACK is to be dropped (counted by the layer) as Linux does (tcp_check_req, without
   * tcp_abort_on_overflow): the connection stays in SYN-RECEIVED and retransmits its SYN-ACK.
   */
  acceptQueueFull(c: ConnectionRef): boolean;
  /** A passive open completed the handshake: hand it to the listener's accept queue. */
  passiveEstablished(c: ConnectionRef): void;
  /** RFC 5961 §7: a global rate limit on challenge ACKs. */
  allowChallengeAck(now: number): boolean;
}

/** What the layer knows a connection by (connection.ts's Connection implements it). */
export interface ConnectionRef {
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  /** The send MSS: a payload beyond it is a TSO super-segment. */
  readonly sendMss: number;
  listenerRef: unknown;
}

/** The peer's SYN options as negotiate() reads them. */
export type SynOptions = Pick<TcpSegment, 'options'>;

export const TS_OPTION_BYTES = 12; // NOP NOP kind len TSval TSecr
export const MAX_WSCALE = 14; // RFC 7323 §2.3

/**
 * The shift count we offer: the layer's (cfg.windowScaleShift), or for a connection given its own
 * receive buffer (SO_RCVBUF, which also stops it growing), the one that buffer needs.
 */
export function windowScaleFor(cfg: ConnectionConfig, options: ConnectionOptions): number {
  return options.receiveBufferSize !== undefined ? offeredWindowScale(options.receiveBufferSize) : cfg.windowScaleShift;
}

/** The shift count we offer (RFC 7323 §2.3): the smallest that lets the window field cover the buffer. */
export function offeredWindowScale(receiveBufferSize: number): number {
  let ws = 0;
  while (ws < MAX_WSCALE && receiveBufferSize / 2 ** ws > 0xffff) ws++;
  return ws;
}
