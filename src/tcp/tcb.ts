/**
 * The transmission control block (RFC 9293 §3.3.1): the state variables of one connection, its
 * collaborators (send buffer, receiver, RTT estimator, congestion control), and the calls its owner
 * makes (the TcpConnection surface of api.ts). Event processing and output live in connection.ts,
 * which extends this class; this split keeps each file readable on its own.
 */
import { SocketError } from '../util/errors.ts';
import { ByteQueue } from '../util/owned-bytes.ts';
import { formatIpv4Address } from '../wire/ipv4-address.ts';
import type { TcpSegment, TcpSegmentInit } from '../wire/tcp.ts';
import { seqAdd, seqGt } from '../wire/seq.ts';
import type { ConnectionEvents, ConnectionOptions, TcpConnection, TcpInfo, TcpStateName } from './api.ts';
import { NewReno } from './congestion.ts';
import type { TcpCounters } from './counters.ts';
import { Receiver } from './receiver.ts';
import { RttEstimator } from './rtt.ts';
import type { RxBudget } from './rx-budget.ts';
import { SendBuffer } from './sender.ts';
import { Scoreboard } from './sack.ts';
import { TimeWaitRecord } from './time-wait.ts';
import { STATE_NAMES, State, canReceive, canSend, isSynchronized } from './state.ts';

/** Tunables shared by all connections of a layer. */
export interface ConnectionConfig {
  mslMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  initialRtoMs: number;
  sendBufferSize: number;
  receiveBufferSize: number;
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
   * The window scale shift we offer (RFC 7323 §2.3). Default: the smallest that covers the receive
   * buffer (offeredWindowScale). Linux offers what covers tcp_rmem's maximum: 7 by default.
   */
  windowScaleShift: number;
  /**
   * The first in-order data segments of a connection that are ACKed at once rather than delayed
   * (Linux's quick-ACK mode at a connection's start, up to TCP_MAX_QUICKACKS = 16). Default 0: every
   * ACK may be delayed (RFC 9293 §3.8.6.3).
   */
  quickAckSegments: number;
}

/** What a connection needs from its layer. */
export interface ConnectionHost {
  readonly cfg: ConnectionConfig;
  readonly counters: TcpCounters;
  /** The layer-wide budget for received data held (out-of-order and unread), see rx-budget.ts. */
  readonly rxBudget: RxBudget;
  /** Our MTU (for the MSS we announce: mtu - 40, RFC 9293 §3.7.1). */
  readonly mtu: number;
  /** Largest datagram the layer below takes as a TCP super-segment; 0: none (or cfg.tso is off). */
  readonly tsoMaxSize: number;
  markDirty(c: Tcb): void;
  /** Serialize one of the connection's segments and send it (TcpLayer.output). */
  output(c: Tcb, seg: TcpSegmentInit): void;
  /** Send a RST (or RST+ACK) that is not part of the connection's own stream (a reply). */
  sendReset(now: number, c: Tcb, seq: number, ack: number, withAck: boolean): void;
  stateChanged(c: Tcb, from: State, to: State): void;
  /** SYN-ACK retransmissions allowed to this half-open connection now (fewer under SYN-queue pressure). */
  synAckRetries(c: Tcb): number;
  /** A passive open completed the handshake: hand it to the listener's accept queue. */
  passiveEstablished(c: Tcb): void;
  /** RFC 5961 §7: a global rate limit on challenge ACKs. */
  allowChallengeAck(now: number): boolean;
}


export const DEFAULT_MSS = 536; // RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6: when the peer sends no MSS option
export const TS_OPTION_BYTES = 12; // NOP NOP kind len TSval TSecr
export const MAX_WSCALE = 14; // RFC 7323 §2.3

/**
 * The shift count we offer: the layer's (cfg.windowScaleShift), or for a connection given its own
 * receive buffer (SO_RCVBUF), the one that buffer needs.
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

export abstract class Tcb implements TcpConnection {
  // Identity
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  /** The listener's port for passive opens (for the SYN queue accounting), else undefined. */
  readonly passive: boolean;
  listenerRef: unknown = undefined;

  stateValue: State = State.CLOSED;

  // Send sequence space (RFC 9293 §3.3.1)
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Highest sequence number sent + 1 (go-back-N pulls sndNxt back, never this). */
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  sndWscale = 0;
  /** Sequence number of send buffer byte 0 (ISS + 1 until the buffer is acknowledged past it). */
  protected sndBase = 0;
  protected readonly snd: SendBuffer;
  /** shutdown() called: a FIN follows the queued data. */
  protected finQueued = false;

  // Receive side
  readonly rcv: Receiver;
  protected peerFinReceived = false;

  // Options
  rcvMss: number;
  /** The largest segment we send whatever the peer announces: the MTU's, or TCP_MAXSEG's if smaller. */
  private readonly maxSegment: number;
  sndMss = DEFAULT_MSS;
  protected offerWscale: number;
  sackPermitted = false;
  /** The SACK scoreboard (sender side) and RFC 6675's HighRxt. */
  readonly sb = new Scoreboard();
  protected highRxt = 0;
  tsOn = false;
  protected tsRecent = 0;
  /** When TS.Recent was last updated (RFC 7323 §5.5). */
  protected tsRecentAt = 0;
  protected tsOffset: number;
  protected lastAckSent = 0;

  // Machinery
  readonly rtt: RttEstimator;
  cc: NewReno;
  protected rttSeq = 0;
  protected rttStart = -1;
  protected retries = 0;
  protected rtoAt = Infinity;
  protected persistAt = Infinity;
  protected persistBackoff = 0;
  protected probeNow = false;
  protected retransmitHead = false;
  /** Duplicate ACKs since the last head retransmission, and how many the flight then explains. */
  protected dupsSinceRetransmit = 0;
  protected retransmitDupBudget = 0;
  /** TIME-WAIT's end (2 MSL), or in FIN-WAIT-2 the give-up deadline. */
  protected timeWaitAt = Infinity;
  protected keepAliveIdle = 0;
  protected keepAliveAt = Infinity;
  protected keepAliveSent = 0;
  protected keepAliveProbeNow = false;
  /** RFC 8985 §7 tail loss probe: its deadline, and a probe due in the next dispatch. */
  protected tlpAt = Infinity;
  protected tlpNow = false;
  /**
   * A probe went out and no ACK has moved SND.UNA since: no other probe until one does (RFC 8985
   * §7.3: after a probe the RTO, not the PTO, is armed). Else each probe's new segment re-arms the
   * PTO, which fires before the RTO, and a vanished peer is probed for a whole window, RTO postponed.
   */
  protected tlpOutstanding = false;
  /** Eifel (RFC 3522) undo state for the current fast recovery: -1 when none. */
  protected undoTsval = -1;
  protected undoSeq = 0;
  protected undoCwnd = 0;
  protected undoSsthresh = 0;
  /** Duplicate-ACK threshold: 3 (RFC 5681), raised after spurious retransmissions from reordering. */
  protected reorderThresh = 3;
  protected lastRecvAt = 0;
  protected needSyn = false;
  protected rstPending = false;
  protected noDelay = false;
  protected handshakeStart = 0;
  handshakeRtt: number | undefined;
  protected wantWritable = false;

  // Owner
  protected events: ConnectionEvents | undefined;
  /** Data delivered before the owner attached (an unaccepted passive open), in owned storage. */
  protected pending: ByteQueue | undefined;
  protected pendingFin = false;
  protected closedNotified = false;
  protected pendingClose: { error: SocketError | undefined } | undefined;

  // Layer bookkeeping
  /** Deadline registered in the layer's timer heap (maintained by the layer). */
  timerAt = Infinity;
  dirty = false;

  // Statistics
  retransmits = 0;
  segmentsIn = 0;
  segmentsOut = 0;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    protected readonly host: ConnectionHost,
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    passive: boolean,
    tsOffset: number,
    options: ConnectionOptions = {},
  ) {
    this.localAddr = localAddr;
    this.localPort = localPort;
    this.remoteAddr = remoteAddr;
    this.remotePort = remotePort;
    this.passive = passive;
    this.tsOffset = tsOffset;
    const cfg = host.cfg;
    const rcvBuf = options.receiveBufferSize ?? cfg.receiveBufferSize;
    this.snd = new SendBuffer(options.sendBufferSize ?? cfg.sendBufferSize);
    this.rcv = new Receiver(rcvBuf, host.rxBudget);
    this.rcv.quickAcks = cfg.quickAckSegments;
    this.rtt = new RttEstimator({ minRtoMs: cfg.minRtoMs, maxRtoMs: cfg.maxRtoMs, initialRtoMs: cfg.initialRtoMs });
    // TCP_MAXSEG clamps what we announce and what we send (as Linux's user_mss does).
    this.maxSegment = Math.min(options.maxSegment ?? Infinity, host.mtu - 40);
    this.rcvMss = Math.max(DEFAULT_MSS, host.mtu - 40);
    if (options.maxSegment !== undefined) this.rcvMss = Math.max(64, Math.min(this.rcvMss, options.maxSegment));
    this.offerWscale = cfg.windowScaling ? windowScaleFor(cfg, options) : -1;
    this.cc = new NewReno(DEFAULT_MSS, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // Opening

  /** Active open (RFC 9293 §3.10.1 OPEN call, active): send SYN, enter SYN-SENT. */
  openActive(now: number, iss: number): void {
    this.initSend(iss);
    this.handshakeStart = now;
    this.lastRecvAt = now;
    this.needSyn = true;
    this.setState(State.SYN_SENT);
    this.host.markDirty(this);
  }

  /** Passive open: a SYN arrived on a listening port (RFC 9293 §3.10.7.2). */
  openPassive(now: number, seg: TcpSegment, iss: number): void {
    this.initSend(iss);
    this.handshakeStart = now;
    this.lastRecvAt = now;
    this.rcv.irs = seg.seq;
    this.rcv.rcvNxt = seqAdd(seg.seq, 1);
    this.negotiate(seg);
    this.sndWnd = seg.window; // never scaled in a SYN (RFC 7323 §2.2)
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = iss;
    this.needSyn = true;
    this.setState(State.SYN_RECEIVED);
    this.host.markDirty(this);
  }

  /**
   * Passive open from a SYN cookie (syn-cookie.ts): no SYN was kept, the ACK that returns the cookie
   * brings back what the SYN said (MSS, and through the TSecr the window scale and SACK-permitted).
   * The TCB is set up as openPassive would have left it after sending its SYN-ACK; the caller then
   * processes the ACK as in SYN-RECEIVED (RFC 9293 §3.10.7.4), which completes the handshake.
   */
  openFromCookie(now: number, ack: TcpSegment, iss: number, mss: number, peerWscale: number | undefined, sackOk: boolean, timestamps: boolean): void {
    this.initSend(iss);
    this.sndNxt = this.sndMax = seqAdd(iss, 1); // our SYN-ACK is out
    this.handshakeStart = -1; // its send time is unknown: no RTT sample from the handshake
    this.lastRecvAt = now;
    this.rcv.irs = seqAdd(ack.seq, -1);
    this.rcv.rcvNxt = ack.seq;
    const ts = ack.options.timestamp;
    this.negotiate({
      options: {
        mss,
        windowScale: peerWscale,
        sackPermitted: sackOk,
        timestamp: timestamps && ts !== undefined ? { value: ts.value, echo: 0 } : undefined,
      },
    });
    // The window the cookie SYN-ACK offered (never scaled), anchored at RCV.NXT.
    this.rcv.advRight = seqAdd(this.rcv.rcvNxt, Math.min(this.rcv.free, 0xffff));
    this.sndWl1 = ack.seq;
    this.sndWl2 = iss;
    this.setState(State.SYN_RECEIVED);
  }

  protected initSend(iss: number): void {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.sndBase = seqAdd(iss, 1);
    this.cc.recover = iss;
  }

  /** Options from the peer's SYN (RFC 9293 §3.7.1 MSS, RFC 7323 §2.2/§3.2, RFC 2018 §2). */
  protected negotiate(seg: Pick<TcpSegment, 'options'>): void {
    const o = seg.options;
    if (this.offerWscale >= 0 && o.windowScale !== undefined) {
      this.sndWscale = Math.min(o.windowScale, MAX_WSCALE);
      this.rcv.wscale = this.offerWscale;
    } else {
      this.sndWscale = 0;
      this.rcv.wscale = 0;
      // RFC 7323 §2.2: a SYN-ACK may carry Window Scale only if the SYN did (also in a simultaneous
      // open, where our SYN offered it and our SYN-ACK must not).
      this.offerWscale = -1;
    }
    this.tsOn = this.host.cfg.timestamps && o.timestamp !== undefined;
    if (this.tsOn) this.tsRecent = o.timestamp!.value;
    this.tsRecentAt = this.handshakeStart;
    // RFC 2018 §2: SACK only if both SYNs carried SACK-permitted.
    this.sackPermitted = this.host.cfg.sack && o.sackPermitted === true;
    const peerMss = o.mss ?? DEFAULT_MSS;
    this.sndMss = Math.max(64, Math.min(peerMss, this.maxSegment) - (this.tsOn ? TS_OPTION_BYTES : 0));
    this.cc.setMss(this.sndMss);
  }

  // ---------------------------------------------------------------------------------------------
  // TcpConnection (the owner's calls)

  get state(): TcpStateName {
    return STATE_NAMES[this.stateValue]!;
  }

  get localAddress(): string {
    return formatIpv4Address(this.localAddr);
  }

  get remoteAddress(): string {
    return formatIpv4Address(this.remoteAddr);
  }

  get writableLength(): number {
    return this.finQueued || this.stateValue === State.CLOSED ? 0 : this.snd.free;
  }

  setEvents(events: ConnectionEvents): void {
    this.events = events;
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) for (const d of pending.drain()) this.events.onData(d);
    if (this.pendingFin) {
      this.pendingFin = false;
      this.events.onPeerFin();
    }
    if (this.pendingClose !== undefined) {
      const e = this.pendingClose.error;
      this.pendingClose = undefined;
      this.events.onClosed(e);
    }
  }

  write(data: Uint8Array): number {
    const s = this.stateValue;
    if (this.finQueued || !canSend(s)) {
      return 0;
    }
    const n = this.snd.write(data);
    if (n < data.length) this.wantWritable = true;
    if (n > 0) this.host.markDirty(this);
    return n;
  }

  consumed(n: number): void {
    if (n <= 0) return;
    this.rcv.consume(n);
    if (isSynchronized(this.stateValue) && canReceive(this.stateValue) && this.rcv.wantsWindowUpdate(this.rcvMss)) {
      // RFC 9293 §3.8.6.2.2: the window opened enough to be worth telling the peer.
      this.rcv.ackNow = true;
      this.host.markDirty(this);
    }
  }

  /** Forget a half-open connection without a word (its SYN queue slot is needed; as Linux drops a request sock). */
  discard(): void {
    this.snd.clear();
    this.finish(undefined);
  }

  /**
   * Leave the layer's table for a TIME-WAIT record (time-wait.ts): what the 2 MSL wait needs, copied
   * out; everything else let go (buffers, scoreboard, the owner's callbacks and whatever they reach).
   * The owner was told of the close when TIME-WAIT began; for it the connection is now CLOSED (the
   * state observer hears of CLOSED when the record expires).
   */
  toTimeWaitRecord(expiresAt: number): TimeWaitRecord {
    const r = new TimeWaitRecord(
      this.remoteAddr,
      this.remotePort,
      this.localPort,
      this.sndMax,
      this.rcv.rcvNxt,
      Math.min(0xffff, Math.ceil(this.rcv.window / 2 ** this.rcv.wscale)),
      this.rcv.wscale,
      this.tsOn,
      this.tsRecent,
      expiresAt,
    );
    this.stateValue = State.CLOSED;
    this.rtoAt = this.persistAt = this.timeWaitAt = this.keepAliveAt = this.tlpAt = Infinity;
    this.rcv.ackAt = Infinity;
    this.snd.clear();
    this.rcv.reasm.clear();
    this.sb.clear();
    this.events = undefined;
    this.pending = undefined;
    this.pendingClose = undefined;
    return r;
  }

  shutdown(): void {
    if (this.finQueued) return;
    switch (this.stateValue) {
      case State.SYN_SENT:
        // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB.
        this.finish(undefined);
        return;
      case State.SYN_RECEIVED:
      case State.ESTABLISHED:
      case State.CLOSE_WAIT:
        this.finQueued = true;
        this.host.markDirty(this);
        return;
      default:
        return;
    }
  }

  abort(): void {
    const s = this.stateValue;
    if (s === State.CLOSED || s === State.TIME_WAIT) {
      this.finish(undefined);
      return;
    }
    // RFC 9293 §3.10.5 ABORT: in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-*, CLOSE-WAIT send a reset.
    if (s !== State.SYN_SENT && s !== State.LISTEN) this.rstPending = true;
    this.snd.clear();
    this.finish(undefined);
    this.host.markDirty(this);
  }

  setNoDelay(noDelay: boolean): void {
    this.noDelay = noDelay;
    if (noDelay) this.host.markDirty(this);
  }

  setKeepAlive(enable: boolean, idleMs = 7_200_000): void {
    this.keepAliveIdle = enable ? Math.max(1, idleMs) : 0;
    this.keepAliveSent = 0;
    this.keepAliveAt = enable ? this.lastRecvAt + this.keepAliveIdle : Infinity;
    this.host.markDirty(this);
  }

  // ---------------------------------------------------------------------------------------------
  // State and endings

  /** The state, re-read after owner callbacks (which may close the connection re-entrantly). */
  protected current(): State {
    return this.stateValue;
  }

  protected setState(to: State): void {
    const from = this.stateValue;
    if (from === to) return;
    this.stateValue = to;
    // Give the received-data budget back once nothing more can be received: in CLOSED, and already
    // in TIME-WAIT (the layer may drop a TIME-WAIT TCB for a new SYN without passing CLOSED).
    if (to === State.CLOSED || to === State.TIME_WAIT) this.rcv.close();
    this.host.stateChanged(this, from, to);
  }

  /** Enter CLOSED, tell the owner once. */
  protected finish(error: SocketError | undefined): void {
    this.setState(State.CLOSED);
    this.rtoAt = this.persistAt = this.timeWaitAt = this.keepAliveAt = this.tlpAt = Infinity;
    this.rcv.ackAt = Infinity;
    this.notifyClosed(error);
  }

  protected notifyClosed(error: SocketError | undefined): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    if (this.events !== undefined) this.events.onClosed(error);
    else this.pendingClose = { error };
  }

  protected fail(code: string, message: string): void {
    this.finish(new SocketError(code, message, this.stateValue === State.SYN_SENT ? 'connect' : 'read'));
  }

  protected enterTimeWait(now: number): void {
    this.setState(State.TIME_WAIT);
    // RFC 9293 §3.10.7.4: TIME-WAIT lasts 2 MSL.
    this.timeWaitAt = now + 2 * this.host.cfg.mslMs;
    this.rtoAt = this.persistAt = this.keepAliveAt = this.tlpAt = Infinity;
    this.host.markDirty(this); // the layer swaps it for a TIME-WAIT record once its last ACK is out
    this.notifyClosed(undefined);
  }

  /**
   * In-order data for the owner. An attached owner gets `data` as it is (a view into the received
   * packet: no copy on the fast path); before the owner attaches, the bytes are kept in owned,
   * coalesced storage (util/owned-bytes.ts), since views would pin the device's receive chunks.
   */
  protected deliver(data: Uint8Array): void {
    this.rcv.hold(data.length);
    this.bytesIn += data.length;
    if (this.events !== undefined) this.events.onData(data);
    else (this.pending ??= new ByteQueue()).push(data);
  }

  protected deliverFin(): void {
    if (this.events !== undefined) this.events.onPeerFin();
    else this.pendingFin = true;
  }

  /** Sequence number of our FIN (valid once finQueued). */
  protected get finSeq(): number {
    return seqAdd(this.sndBase, this.snd.size);
  }

  protected get finAcked(): boolean {
    return this.finQueued && seqGt(this.sndUna, this.finSeq);
  }

  // ---------------------------------------------------------------------------------------------

  info(): TcpInfo {
    return {
      state: this.state,
      localAddress: this.localAddress,
      localPort: this.localPort,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      iss: this.iss,
      irs: this.rcv.irs,
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      rcvNxt: this.rcv.rcvNxt,
      sndWnd: this.sndWnd,
      rcvWnd: this.rcv.window,
      sndWindowScale: this.sndWscale,
      rcvWindowScale: this.rcv.wscale,
      mss: this.sndMss,
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      srttMs: this.rtt.srtt,
      rttvarMs: this.rtt.rttvar,
      rtoMs: this.rtt.rto,
      handshakeRttMs: this.handshakeRtt,
      sackPermitted: this.sackPermitted,
      timestamps: this.tsOn,
      retransmits: this.retransmits,
      segmentsIn: this.segmentsIn,
      segmentsOut: this.segmentsOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      sendQueued: this.snd.size,
    };
  }
}
