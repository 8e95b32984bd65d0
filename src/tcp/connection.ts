/**
 * One TCP connection: the transmission control block (RFC 9293 §3.3.1) as a small set of owners,
 * and the event processing of RFC 9293 §3.10 that drives them. No I/O (docs/design.md rule 4):
 *
 *   process(now, seg)    a parsed segment for this 4-tuple, one method per step of §3.10.7.3/§3.10.7.4
 *   dispatch(now)        runs due timers, then hands out the segments to send (output.ts)
 *   pollAt()             the earliest deadline, or Infinity
 *
 * The owners (docs/architecture.md, "The TCP control block"):
 *
 *   snd        sender.ts          send sequence space, send buffer, FIN, retransmission/persist timers
 *   rcv        receiver.ts        receive sequence space, reassembly, window, delayed ACK
 *   ts         timestamps.ts      RFC 7323: TS.Recent, PAWS, our clock
 *   rtt        rtt.ts             RFC 6298: SRTT, RTTVAR, RTO, backoff
 *   cc         cc/newreno.ts      the congestion window (congestion-control.ts), state private
 *   recovery   recovery-*.ts      what is lost, what to retransmit, what may be sent meanwhile (RACK with SACK)
 *   tlp        tlp.ts             RFC 8985 §7 tail loss probe
 *   keepAlive  keepalive.ts       RFC 1122 §4.2.3.6
 *   events     owner-events.ts    what the owner is told, queued and delivered after processing
 *   out        output.ts          what leaves, and why
 *
 * This class keeps the state (RFC 9293 §3.3.2), the handshake's negotiated options, and the TIME-WAIT
 * and FIN-WAIT-2 deadline; it changes its owners only through their methods.
 */
import { SocketError } from '../util/errors.ts';
import { formatIpv4Address } from '../wire/ipv4-address.ts';
import { FIN, RST, SYN, type TcpSegment } from '../wire/tcp.ts';
import { inWindow, seqAdd, seqGt, seqLe, seqLt, seqSub } from '../wire/seq.ts';
import type { ConnectionEvents, ConnectionOptions, TcpConnection, TcpInfo, TcpStateName } from './api.ts';
import { MAX_WSCALE, TS_OPTION_BYTES, windowScaleFor, type ConnectionConfig, type ConnectionHost, type ConnectionRef, type SynOptions } from './config.ts';
import type { AckEvent, CongestionControl } from './congestion-control.ts';
import { countDrop } from './counters.ts';
import { dropsHalfOpen, icmpErrorCode, isHardIcmpError } from './icmp-error.ts';
import { KeepAlive, KeepAliveAction } from './keepalive.ts';
import { OwnerEvents } from './owner-events.ts';
import { Output } from './output.ts';
import { Receiver } from './receiver.ts';
import { NO_RECOVERY, newAckInfo, type AckInfo, type LossRecovery } from './recovery.ts';
import { RenoRecovery } from './recovery-reno.ts';
import { RackRecovery } from './recovery-rack.ts';
import { RttEstimator } from './rtt.ts';
import { isDsack, type Scoreboard } from './sack.ts';
import { DEFAULT_MSS, Sender } from './sender.ts';
import { STATE_NAMES, State, canReceive, canSend, isSynchronized } from './state.ts';
import { TimeWaitRecord } from './time-wait.ts';
import { Timestamps } from './timestamps.ts';
import { TailLossProbe } from './tlp.ts';

export type { ConnectionConfig, ConnectionHost } from './config.ts';

export class Connection implements TcpConnection, ConnectionRef {
  // Identity
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  /** Opened by a SYN to a listener (the SYN queue accounts for it), not by connect(). */
  readonly passive: boolean;
  /** The listener, for passive opens (the layer's bookkeeping). */
  listenerRef: unknown = undefined;

  private _state: State = State.CLOSED;

  // The owners
  readonly snd: Sender;
  readonly rcv: Receiver;
  readonly ts: Timestamps;
  readonly rtt: RttEstimator;
  readonly cc: CongestionControl;
  /** Chosen by the handshake (negotiate); NO_RECOVERY before it and once the connection is over. */
  recovery: LossRecovery = NO_RECOVERY;
  readonly tlp = new TailLossProbe();
  readonly keepAlive = new KeepAlive();
  readonly events: OwnerEvents;
  private readonly out: Output;

  // Negotiated in the handshake
  /** The MSS we announce (RFC 9293 §3.7.1: mtu - 40, or TCP_MAXSEG's if smaller). */
  readonly rcvMss: number;
  /**
   * The largest segment we send whatever the peer announces: the path MTU's (RFC 1191; the link
   * MTU's until a "fragmentation needed" lowers it), or TCP_MAXSEG's if smaller.
   */
  private maxSegment: number;
  /** TCP_MAXSEG (Infinity: not set). */
  private readonly userMaxSegment: number;
  /** The last soft error an ICMP message reported (icmp-error.ts): the error if we time out. */
  private softError: string | undefined;
  /** The window scale shift we offer in our SYN, -1: none (RFC 7323 §2.2). */
  private offerWscale: number;
  private _sackOk = false;

  /** TIME-WAIT's end (2 MSL), or in FIN-WAIT-2 the give-up deadline. */
  private timeWaitAt = Infinity;
  private lastRecvAt = 0;
  /** A SYN (or SYN-ACK) is to be sent by the next dispatch. */
  private synDue = false;
  /** A RST (ABORT, FIN-WAIT-2 timeout) is to be sent by the next dispatch. */
  private rstDue = false;
  private handshakeStart = 0;
  handshakeRtt: number | undefined;

  /** Reused per ACK: what recovery and the controller are told (no allocation per segment). */
  private readonly ackInfo: AckInfo = newAckInfo();
  private readonly ackEvent: AckEvent = { now: 0, ack: 0, sndNxt: 0, acked: 0, rttMs: undefined, srttMs: undefined, flight: 0, appLimited: false };

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
    readonly host: ConnectionHost,
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
    const cfg = host.cfg;
    // SO_SNDBUF fixes the size; else it starts at the layer's and grows with the window (autotune).
    this.snd = new Sender(options.sendBufferSize ?? cfg.sendBufferSize, options.sendBufferSize ?? cfg.sendBufferMax);
    // SO_RCVBUF fixes the size; else it starts at the layer's and grows as the reader keeps up
    // (Receiver.autotune) up to the layer's maximum.
    this.rcv = new Receiver(options.receiveBufferSize ?? cfg.receiveBufferSize, host.rxBudget, undefined, options.receiveBufferSize ?? cfg.receiveBufferMax);
    this.rcv.quickAcks = cfg.quickAckSegments;
    this.ts = new Timestamps(tsOffset);
    this.rtt = new RttEstimator(cfg); // its minRtoMs, maxRtoMs, initialRtoMs (no options object per connection)
    this.cc = cfg.congestionControl(DEFAULT_MSS);
    this.events = new OwnerEvents(this);
    this.out = new Output(this);
    // TCP_MAXSEG clamps what we announce and what we send (as Linux's user_mss does).
    this.userMaxSegment = options.maxSegment ?? Infinity;
    this.maxSegment = Math.min(this.userMaxSegment, host.pathMtu(remoteAddr) - 40);
    let rcvMss = Math.max(DEFAULT_MSS, host.mtu - 40);
    if (options.maxSegment !== undefined) rcvMss = Math.max(64, Math.min(rcvMss, options.maxSegment));
    this.rcvMss = rcvMss;
    this.offerWscale = cfg.windowScaling ? windowScaleFor(cfg, options) : -1;
  }

  /** RecoveryHost (recovery.ts). */
  get counters() {
    return this.host.counters;
  }

  get stateValue(): State {
    return this._state;
  }

  get sackOk(): boolean {
    return this._sackOk;
  }

  /** The window scale we offer in a SYN (-1: none). */
  get offeredWscale(): number {
    return this.offerWscale;
  }

  get sendMss(): number {
    return this.snd.mss;
  }

  /** The SACK scoreboard, when SACK is on (tests and tools). */
  get scoreboard(): Scoreboard | undefined {
    return this.recovery instanceof RackRecovery ? this.recovery.scoreboard : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Opening

  /** Active open (RFC 9293 §3.10.1 OPEN call, active): send SYN, enter SYN-SENT. */
  openActive(now: number, iss: number): void {
    this.initSend(iss);
    this.handshakeStart = now;
    this.lastRecvAt = now;
    this.synDue = true;
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
    this.snd.setInitialWindow(seg.window, seg.seq, iss); // never scaled in a SYN (RFC 7323 §2.2)
    this.synDue = true;
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
    this.snd.synOut(); // our SYN-ACK is out
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
    this.snd.setInitialWindow(0, ack.seq, iss);
    this.setState(State.SYN_RECEIVED);
  }

  private initSend(iss: number): void {
    this.snd.init(iss);
    this.recovery = NO_RECOVERY; // negotiate() picks the one this connection uses
  }

  /** Options from the peer's SYN (RFC 9293 §3.7.1 MSS, RFC 7323 §2.2/§3.2, RFC 2018 §2). */
  private negotiate(seg: SynOptions): void {
    const o = seg.options;
    const cfg = this.host.cfg;
    if (this.offerWscale >= 0 && o.windowScale !== undefined) {
      this.snd.wscale = Math.min(o.windowScale, MAX_WSCALE);
      this.rcv.wscale = this.offerWscale;
    } else {
      this.snd.wscale = 0;
      this.rcv.wscale = 0;
      // RFC 7323 §2.2: a SYN-ACK may carry Window Scale only if the SYN did (also in a simultaneous
      // open, where our SYN offered it and our SYN-ACK must not).
      this.offerWscale = -1;
    }
    this.ts.negotiate(cfg.timestamps, o.timestamp, this.handshakeStart);
    // RFC 2018 §2: SACK only if both SYNs carried SACK-permitted.
    this._sackOk = cfg.sack && o.sackPermitted === true;
    // The one loss recovery of this connection, made once its options are known (recovery.ts).
    this.recovery = this._sackOk ? new RackRecovery(this) : new RenoRecovery(this);
    const peerMss = o.mss ?? DEFAULT_MSS;
    this.snd.mss = Math.max(64, Math.min(peerMss, this.maxSegment) - (this.ts.on ? TS_OPTION_BYTES : 0));
    this.cc.setMss(this.snd.mss);
  }

  // ---------------------------------------------------------------------------------------------
  // TcpConnection (the owner's calls)

  get state(): TcpStateName {
    return STATE_NAMES[this._state]!;
  }

  get localAddress(): string {
    return formatIpv4Address(this.localAddr);
  }

  get remoteAddress(): string {
    return formatIpv4Address(this.remoteAddr);
  }

  get writableLength(): number {
    return this.snd.finQueued || this._state === State.CLOSED ? 0 : this.snd.free;
  }

  setEvents(events: ConnectionEvents): void {
    this.events.attach(events);
  }

  write(data: Uint8Array): number {
    if (this.snd.finQueued || !canSend(this._state)) return 0;
    const n = this.snd.write(data);
    if (n > 0) this.host.markDirty(this);
    return n;
  }

  consumed(n: number): void {
    if (n <= 0) return;
    this.rcv.consume(n);
    if (isSynchronized(this._state) && canReceive(this._state) && this.rcv.wantsWindowUpdate(this.rcvMss)) {
      // RFC 9293 §3.8.6.2.2: the window opened enough to be worth telling the peer.
      this.rcv.requestWindowUpdate();
      this.host.markDirty(this);
    }
  }

  /** Forget a half-open connection without a word (its SYN queue slot is needed; as Linux drops a request sock). */
  discard(): void {
    this.snd.clear();
    this.finish(undefined);
    this.events.flush();
  }

  shutdown(): void {
    if (this.snd.finQueued) return;
    switch (this._state) {
      case State.SYN_SENT:
        // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB.
        this.finish(undefined);
        this.events.flush();
        return;
      case State.SYN_RECEIVED:
      case State.ESTABLISHED:
      case State.CLOSE_WAIT:
        this.snd.queueFin();
        this.host.markDirty(this);
        return;
      default:
        return;
    }
  }

  abort(): void {
    const s = this._state;
    if (s === State.CLOSED || s === State.TIME_WAIT) {
      this.finish(undefined);
      this.events.flush();
      return;
    }
    // RFC 9293 §3.10.5 ABORT: in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-*, CLOSE-WAIT send a reset.
    if (s !== State.SYN_SENT && s !== State.LISTEN) this.rstDue = true;
    this.snd.clear();
    this.finish(undefined);
    this.host.markDirty(this);
    this.events.flush();
  }

  setNoDelay(noDelay: boolean): void {
    this.snd.noDelay = noDelay;
    if (noDelay) this.host.markDirty(this);
  }

  setKeepAlive(enable: boolean, idleMs = 7_200_000): void {
    this.keepAlive.set(enable, idleMs, this.lastRecvAt);
    this.host.markDirty(this);
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
      this.snd.max,
      this.rcv.rcvNxt,
      Math.min(0xffff, Math.ceil(this.rcv.window / 2 ** this.rcv.wscale)),
      this.rcv.wscale,
      this.ts.on,
      this.ts.recent,
      expiresAt,
    );
    this._state = State.CLOSED;
    this.stopTimers();
    this.snd.clear();
    this.rcv.reasm.clear();
    this.recovery = NO_RECOVERY; // the scoreboard and retransmission queue go
    this.events.detach();
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // Segment arrival (RFC 9293 §3.10.7)

  process(now: number, seg: TcpSegment): void {
    this.segmentsIn++;
    switch (this._state) {
      case State.CLOSED:
        return;
      case State.SYN_SENT:
        this.processSynSent(now, seg);
        break;
      default:
        this.processSynchronized(now, seg);
    }
    if (this.rcv.ackNow || this.rcv.ackAt !== Infinity || (this._state as State) === State.CLOSED) this.host.markDirty(this);
    this.events.flush();
  }

  /** RFC 9293 §3.10.7.3: a segment in SYN-SENT. */
  private processSynSent(now: number, seg: TcpSegment): void {
    const f = seg.flags;
    const ack = seg.ack; // defined exactly when the ACK bit is set (wire/tcp.ts)
    // first: the ACK bit: an unacceptable ACK draws <SEQ=SEG.ACK><CTL=RST> (unless it is a RST)
    if (ack !== undefined) {
      if (seqLe(ack, this.snd.iss) || seqGt(ack, this.snd.max)) {
        if (!(f & RST)) this.host.sendReset(this, ack, undefined);
        return;
      }
    }
    // second: the RST bit (acceptable only with an acceptable ACK; RFC 5961 §3.2 leaves SYN-SENT so)
    if (f & RST) {
      if (ack !== undefined) {
        this.host.counters.resetsReceived++;
        this.host.counters.failedAttempts++;
        this.fail('ECONNREFUSED', `connect ECONNREFUSED ${this.remoteAddress}:${this.remotePort}`);
      }
      return;
    }
    // third: security (no IP security option is used: nothing to check)
    // fourth: the SYN bit
    if (!(f & SYN) || (f & FIN) !== 0) return; // SYN+FIN dropped, as Linux does
    this.lastRecvAt = now;
    this.rcv.irs = seg.seq;
    this.rcv.rcvNxt = seqAdd(seg.seq, 1);
    // The window our SYN offered, now anchored at RCV.NXT (it was sent before IRS was known).
    this.rcv.advRight = seqAdd(this.rcv.rcvNxt, Math.min(this.rcv.free, 0xffff));
    this.negotiate(seg);
    if (ack !== undefined) {
      // Our SYN is acknowledged (the first check found the ACK acceptable): ESTABLISHED. A SYN-ACK's
      // window is never scaled.
      this.snd.synAcked(ack);
      this.snd.setInitialWindow(seg.window, seg.seq, ack);
      this.onSynAcked(now, seg);
      this.setState(State.ESTABLISHED);
      this.rcv.ackNow = true;
      this.host.markDirty(this);
      this.events.established();
      // Data in the SYN-ACK would be processed in step six; we do not expect any and drop it (the
      // peer retransmits it once we acknowledge only the SYN).
    } else {
      // Simultaneous open (RFC 9293 §3.5 figure 7): SYN-RECEIVED, send SYN-ACK with our ISS. The SYN
      // has no ACK: SND.WL2 starts at ISS, as in openPassive.
      this.snd.setInitialWindow(seg.window, seg.seq, this.snd.iss);
      this.snd.rewindToIss();
      this.synDue = true;
      this.setState(State.SYN_RECEIVED);
      this.host.markDirty(this);
    }
  }

  private onSynAcked(now: number, seg: TcpSegment): void {
    this.handshakeRtt = now - this.handshakeStart;
    if (this.handshakeStart < 0) this.handshakeRtt = undefined; // a SYN cookie: the SYN-ACK's time is unknown
    else if (this.snd.retries === 0) this.rtt.sample(now - this.handshakeStart); // Karn: not after a SYN retransmit
    else this.rtt.resetBackoff();
    this.snd.retries = 0;
    this.snd.rtoAt = this.snd.idle ? Infinity : now + this.rtt.rto;
    if (this.ts.on && seg.options.timestamp !== undefined) this.ts.setRecent(seg.options.timestamp.value);
    this.host.markDirty(this);
  }

  /** RFC 9293 §3.10.7.4: SYN-RECEIVED and every later state, step by step. */
  private processSynchronized(now: number, seg: TcpSegment): void {
    if (!this.checkSequenceNumber(now, seg)) return; // first
    if (seg.flags & RST) return this.checkRst(now, seg); // second
    // third: security (no IP security option is used: nothing to check)
    // RFC 7323 §4.3: TS.Recent from a segment that covers Last.ACK.sent.
    const ts = seg.options.timestamp;
    if (this.ts.on && ts !== undefined) this.ts.onAcceptable(now, seg.seq, ts.value);
    if (seg.flags & SYN) return this.checkSyn(now, seg); // fourth
    const ack = seg.ack; // defined exactly when the ACK bit is set (wire/tcp.ts)
    if (ack === undefined) return; // fifth: "if the ACK bit is off, drop the segment and return"
    if (!this.processAckField(now, seg, ack)) return;
    // sixth: URG is ignored (RFC 9293 §3.8.5 / RFC 6093: applications should not rely on it).
    const fin = this.processText(now, seg); // seventh
    this.processFinBit(now, seg, fin); // eighth
  }

  /**
   * First: is the segment acceptable (the four cases of RFC 9293 §3.10.7.4's table)? PAWS (RFC 7323
   * §5.3) comes before it: a segment whose TSval is older than TS.Recent is an old duplicate (its
   * sequence number may have wrapped into the window). An unacceptable segment is answered with an
   * ACK (unless it is a RST) and dropped.
   */
  private checkSequenceNumber(now: number, seg: TcpSegment): boolean {
    const f = seg.flags;
    const ts = seg.options.timestamp;
    if (this.ts.on && ts !== undefined && (f & RST) === 0 && this.ts.pawsRejects(now, ts.value)) {
      this.host.counters.pawsRejected++;
      this.rcv.ackNow = true;
      return false;
    }
    const segLen = seg.payload.length + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0);
    const rcvNxt = this.rcv.rcvNxt;
    const wnd = this.rcv.window;
    let acceptable: boolean;
    // A zero-length segment is accepted up to and including the right edge (RCV.NXT + RCV.WND), as
    // Linux does (tcp_sequence): a peer that filled our window sends its ACKs with SEG.SEQ exactly
    // there, and the strict RFC 9293 test would discard the acknowledgments it carries.
    if (segLen === 0) acceptable = inWindow(seg.seq, rcvNxt, wnd + 1);
    else if (wnd === 0) acceptable = false;
    else acceptable = inWindow(seg.seq, rcvNxt, wnd) || inWindow(seqAdd(seg.seq, segLen - 1), rcvNxt, wnd);
    // "special allowance should be made to accept valid ACKs, URGs, and RSTs" with a zero window.
    if (!acceptable && !(wnd === 0 && seg.seq === rcvNxt)) {
      // Data wholly below RCV.NXT arrived again: report it (D-SACK, RFC 2883 §4.1.1).
      if (this._sackOk && seg.payload.length > 0 && seqLe(seqAdd(seg.seq, seg.payload.length), rcvNxt)) this.rcv.noteDuplicate(seg.seq, seqAdd(seg.seq, seg.payload.length));
      if (!(f & RST)) {
        // RFC 9293 §3.10.7.4: send an ACK (this also answers a retransmitted FIN in TIME-WAIT).
        if (this._state === State.TIME_WAIT && (f & FIN) !== 0) this.timeWaitAt = now + 2 * this.host.cfg.mslMs;
        this.rcv.ackNow = true;
      } else countDrop(this.host.counters, 'rst-out-of-window');
      return false;
    }
    this.lastRecvAt = now;
    this.keepAlive.onHeard();
    if (this._state === State.FIN_WAIT_2) this.timeWaitAt = now + this.host.cfg.finWait2TimeoutMs;
    return true;
  }

  /** Second: the RST bit (RFC 5961 §3.2: an exact match resets, one elsewhere in the window draws a challenge ACK). */
  private checkRst(now: number, seg: TcpSegment): void {
    if (seg.seq !== this.rcv.rcvNxt) {
      this.challengeAck(now);
      return;
    }
    this.host.counters.resetsReceived++;
    switch (this._state) {
      case State.SYN_RECEIVED:
        // A passive open goes back to LISTEN: for us, the embryonic connection simply goes away.
        if (this.passive) this.finish(undefined);
        else this.fail('ECONNREFUSED', `connect ECONNREFUSED ${this.remoteAddress}:${this.remotePort}`);
        return;
      case State.ESTABLISHED:
      case State.FIN_WAIT_1:
      case State.FIN_WAIT_2:
      case State.CLOSE_WAIT:
        this.host.counters.establishedResets++;
        this.snd.clear();
        this.fail('ECONNRESET', 'read ECONNRESET');
        return;
      case State.TIME_WAIT:
        // RFC 1337 §3 (TIME-WAIT assassination, fix TW1): ignore RST in TIME-WAIT.
        return;
      default:
        // CLOSING, LAST-ACK: close.
        this.finish(undefined);
        return;
    }
  }

  /** Fourth: the SYN bit (RFC 5961 §4.2: a challenge ACK, whatever the sequence number). */
  private checkSyn(now: number, seg: TcpSegment): void {
    if (this._state === State.SYN_RECEIVED && this.passive && seg.seq === this.rcv.irs) {
      // A retransmitted SYN: answer with our SYN-ACK again (RFC 9293 §3.10.7.4 allows the
      // SYN-RECEIVED passive case to return to LISTEN; retransmitting is what Linux does).
      this.synDue = true;
      this.snd.rewindToIss();
      return;
    }
    this.challengeAck(now);
  }

  /** RFC 5961 §3.2/§4.2 challenge ACK, rate limited (§7). */
  private challengeAck(now: number): void {
    if (this.host.allowChallengeAck(now)) {
      this.host.counters.challengeAcks++;
      this.rcv.ackNow = true;
    } else this.host.counters.challengeAcksSuppressed++;
  }

  /**
   * Fifth: the ACK field, `ack` (SEG.ACK: only a segment with ACK gets here). In SYN-RECEIVED an
   * acceptable ACK completes the handshake; then, in every state, SND.UNA, the RTT, loss recovery,
   * congestion control, the send window, and the parts of each closing state. Returns false when
   * processing of the segment stops here.
   */
  private processAckField(now: number, seg: TcpSegment, ack: number): boolean {
    if (this._state === State.SYN_RECEIVED) {
      if (!(seqLt(this.snd.una, ack) && seqLe(ack, this.snd.max))) {
        this.host.sendReset(this, ack, undefined); // <SEQ=SEG.ACK><CTL=RST>
        return false;
      }
      if (this.passive && this.host.acceptQueueFull(this)) return false;
      this.snd.setInitialWindow(seg.window << this.snd.wscale, seg.seq, ack);
      this.snd.synAcked(ack);
      this.onSynAcked(now, seg);
      this.setState(State.ESTABLISHED);
      if (this.passive) this.events.accepted();
      else this.events.established();
    }
    const snd = this.snd;
    if (seqGt(ack, snd.max)) {
      // Acknowledges something not yet sent: send an ACK, drop (RFC 9293 §3.10.7.4; RFC 5961 §5.2).
      this.rcv.ackNow = true;
      return false;
    }
    // RFC 5961 §5.2: an ACK older than SND.UNA - MAX.SND.WND is dropped (with a challenge ACK).
    if (seqLt(ack, seqAdd(snd.una, -Math.max(snd.maxWnd, 1)))) {
      this.challengeAck(now);
      return false;
    }
    snd.retries = 0; // the peer is alive (keeps zero-window probing going indefinitely)
    this.softError = undefined; // something got through: an earlier ICMP soft error is stale (as Linux)
    // RFC 7323 §2.3: SND.WND = SEG.WND << Snd.Wind.Shift (a shift of at most 14: an int, no Math.pow).
    const window = seg.window << snd.wscale;
    const a = this.ackInfo;
    a.now = now;
    a.ack = ack;
    a.oldUna = snd.una;
    a.flight = snd.flight;
    a.plainDup = seg.payload.length === 0 && window === snd.wnd && (seg.flags & (SYN | FIN)) === 0;
    a.sack = this._sackOk ? seg.options.sack : undefined;
    a.tsEcho = seg.options.timestamp?.echo;
    const advanced = seqGt(ack, snd.una);
    const rtt = advanced ? this.onAckAdvanced(now, seg, ack) : -1;
    // Loss recovery reads the ACK (SACK blocks, losses, the recovery's own pacing), then the
    // controller grows if recovery allows it.
    const grow = this.recovery.onAck(a, advanced);
    // Forward progress (new data acknowledged or SACKed) grows the window, as Linux does
    // (tcp_may_raise_cwnd): a SACK is delivery too.
    if (grow && a.delivered > 0) {
      {
        const ev = this.ackEvent;
        ev.now = now;
        ev.ack = ack;
        ev.sndNxt = snd.nxt;
        ev.acked = a.delivered;
        ev.rttMs = rtt >= 0 ? rtt : undefined;
        ev.srttMs = this.rtt.srtt;
        ev.flight = a.flight;
        // RFC 7661: the window was not the limit (nothing more to send, or the receiver's window
        // held the flight): it must not grow then (RFC 9438 §5.8).
        ev.appLimited = (snd.unsent <= 0 || a.flight + snd.mss > snd.wnd) && a.flight < this.cc.cwnd;
        this.cc.onAck(ev);
        snd.autotune(this.cc.cwnd);
      }
    }
    if (advanced) {
      // RFC 6298 §5.2/§5.3: stop the timer when all is acknowledged, else restart it.
      snd.rtoAt = snd.idle ? Infinity : now + this.rtt.rto;
      this.tlp.onProgress();
      this.armTlp(now);
      this.host.markDirty(this);
    } else if (a.delivered > 0 || this.recovery.inRecovery) this.host.markDirty(this);
    if (snd.updateWindow(seg.seq, ack, window)) this.host.markDirty(this);
    return this.ackClosingStates(now);
  }

  /** SND.UNA moves: the buffer, the owner's writable event, the RTT sample (returned, or -1). */
  private onAckAdvanced(now: number, seg: TcpSegment, ack: number): number {
    const snd = this.snd;
    const dataAcked = snd.ackTo(ack);
    if (dataAcked > 0) {
      this.bytesOut += dataAcked;
      if (this.events.attached && snd.takeWritable()) this.events.writable();
    }
    // RTT (RFC 7323 §4 with timestamps, else RFC 6298 §3 Karn's timed segment). Not from the echo
    // of an ACK that a duplicate segment triggered (its D-SACK says so, RFC 2883 §4): a duplicate
    // never updates TS.Recent (RFC 7323 §4.3), so the echo is of the copy that arrived first, maybe
    // long ago, whose own ACK was lost; the round trip would count all the time since (seconds
    // after a backed-off timeout, which the RTO would then be made of).
    let rtt = -1;
    const ts = seg.options.timestamp;
    const sack = this._sackOk ? seg.options.sack : undefined;
    const dsack = sack !== undefined && sack.length > 0 && isDsack(sack, ack);
    if (this.ts.on && ts !== undefined && ts.echo !== 0 && !dsack) rtt = this.ts.rttSample(now, ts.echo);
    else rtt = snd.rttSampleFor(now, ack);
    if (rtt >= 0) this.rtt.sample(rtt);
    return rtt;
  }

  /** The parts of step five that belong to the closing states. False: processing stops here. */
  private ackClosingStates(now: number): boolean {
    switch (this._state) {
      case State.FIN_WAIT_1:
        if (this.snd.finAcked) {
          this.setState(State.FIN_WAIT_2);
          this.timeWaitAt = now + this.host.cfg.finWait2TimeoutMs;
        }
        return true;
      case State.CLOSING:
        if (this.snd.finAcked) {
          this.enterTimeWait(now);
          return false;
        }
        return true;
      case State.LAST_ACK:
        if (this.snd.finAcked) {
          this.finish(undefined);
          return false;
        }
        return true;
      default:
        return true;
    }
  }

  /**
   * Seventh: the segment text. In-order data goes to the owner (and fills holes from reassembly),
   * data beyond RCV.NXT into reassembly; what lies beyond the window is cut off. Returns whether the
   * segment's FIN (if any) is still to be processed (not when it lay beyond the window).
   */
  private processText(now: number, seg: TcpSegment): boolean {
    const rcv = this.rcv;
    let fin = (seg.flags & FIN) !== 0;
    const dataLen = seg.payload.length;
    if (dataLen === 0) return fin;
    if (!canReceive(this._state)) {
      // Data after the peer's FIN, or in a closing state: acknowledge and ignore.
      rcv.ackNow = true;
      return fin;
    }
    let seq = seg.seq;
    let data = seg.payload;
    const skip = seqSub(rcv.rcvNxt, seq);
    if (skip > 0) {
      if (this._sackOk) rcv.noteDuplicate(seq, rcv.rcvNxt); // its first part arrived before (RFC 2883 §4.1.1)
      data = data.subarray(Math.min(skip, data.length));
      seq = rcv.rcvNxt;
    }
    const room = seqSub(rcv.advRight, seq);
    if (data.length > room) {
      data = data.subarray(0, Math.max(0, room));
      fin = false; // the FIN lies beyond the window
    }
    if (data.length === 0) return fin;
    if (seq !== rcv.rcvNxt) {
      if (this._sackOk) {
        const dup = rcv.reasm.heldWithin(seq, seqAdd(seq, data.length));
        if (dup !== undefined) rcv.noteDuplicate(dup[0], dup[1]); // held already (RFC 2883 §4.1.2)
      }
      if (!rcv.reasm.insert(seq, data)) countDrop(this.host.counters, rcv.reasm.dropReason);
      rcv.ackNow = true; // out of order: immediate duplicate ACK (RFC 5681 §4.2)
      return fin;
    }
    if (!rcv.mayHold(data.length)) {
      // Over the layer-wide budget for unread data (rx-budget.ts): drop it unacknowledged; the
      // peer retransmits it once readers have made room.
      countDrop(this.host.counters, 'rcv-budget');
      rcv.ackNow = true;
      return false;
    }
    rcv.rcvNxt = seqAdd(seq, data.length);
    const hadHoles = !rcv.reasm.isEmpty;
    this.deliver(data);
    if (hadHoles) {
      for (let more = rcv.reasm.takeAt(rcv.rcvNxt); more !== undefined; more = rcv.reasm.takeAt(rcv.rcvNxt)) {
        rcv.rcvNxt = seqAdd(rcv.rcvNxt, more.length);
        this.deliver(more);
      }
      rcv.ackNow = true; // a segment that fills a hole: ACK at once (RFC 5681 §4.2)
    } else rcv.onInOrderData(now, data.length, this.rcvMss - (this.ts.on ? TS_OPTION_BYTES : 0));
    if (rcv.bufSize < rcv.maxSize) this.autotuneReceiver(now, seg);
    return fin;
  }

  /**
   * Receive buffer autotuning (Receiver.autotune), once per in-order data segment: the round trip
   * is the one the segment's timestamp echo measures (RFC 7323 §4.1), else, without timestamps,
   * the time a window of data takes to arrive (Receiver.onWindowArrival), else the connection's
   * SRTT (from the handshake and from ACKs of our data, RFC 6298).
   */
  private autotuneReceiver(now: number, seg: TcpSegment): void {
    const rcv = this.rcv;
    const ts = seg.options.timestamp;
    if (this.ts.on) {
      if (ts !== undefined && ts.echo !== 0) rcv.onTimestampEcho(ts.echo, this.ts.rttSample(now, ts.echo));
    } else rcv.onWindowArrival(now);
    rcv.autotune(now, rcv.roundTrip(this.rtt.srtt ?? 0), this.rcvMss);
  }

  /** In-order data for the owner: it counts against the window until consumed (receiver.ts). */
  private deliver(data: Uint8Array): void {
    this.rcv.hold(data.length);
    this.bytesIn += data.length;
    this.events.deliver(data);
  }

  /** Eighth: the FIN bit (ours to process once all data before it has arrived). */
  private processFinBit(now: number, seg: TcpSegment, fin: boolean): void {
    const rcv = this.rcv;
    if (fin && !rcv.peerFin) {
      const finAt = seqAdd(seg.seq, seg.payload.length);
      if (finAt === rcv.rcvNxt) this.processFin(now);
      else if (seqGt(finAt, rcv.rcvNxt)) rcv.reasm.finSeq = finAt;
    } else if (!rcv.peerFin && rcv.reasm.finSeq !== undefined && rcv.reasm.finSeq === rcv.rcvNxt) {
      this.processFin(now);
    } else if (fin && this._state === State.TIME_WAIT) {
      // A retransmitted FIN: acknowledge it and restart the 2 MSL timeout.
      rcv.ackNow = true;
      this.timeWaitAt = now + 2 * this.host.cfg.mslMs;
    }
  }

  private processFin(now: number): void {
    this.rcv.onFin();
    switch (this._state) {
      case State.SYN_RECEIVED:
      case State.ESTABLISHED:
        this.setState(State.CLOSE_WAIT);
        break;
      case State.FIN_WAIT_1:
        // Our FIN not yet acknowledged (else we would be in FIN-WAIT-2): simultaneous close.
        this.setState(State.CLOSING);
        break;
      case State.FIN_WAIT_2:
        this.enterTimeWait(now);
        break;
      default:
        break;
    }
    this.events.fin();
  }

  // ---------------------------------------------------------------------------------------------
  // Timers

  pollAt(): number {
    const snd = this.snd;
    let t = snd.rtoAt;
    if (snd.persistAt < t) t = snd.persistAt;
    if (this.rcv.ackAt < t) t = this.rcv.ackAt;
    if (this.timeWaitAt < t) t = this.timeWaitAt;
    if (this.keepAlive.at < t) t = this.keepAlive.at;
    if (this.tlp.at < t) t = this.tlp.at;
    if (this.recovery.timerAt < t) t = this.recovery.timerAt;
    return t;
  }

  /** Run due timers, then emit what is due (output.ts); the owner hears of what happened after. */
  dispatch(now: number): void {
    this.dirty = false;
    if (this.pollAt() <= now) this.runTimers(now);
    this.out.send(now);
    this.events.flush();
  }

  private runTimers(now: number): void {
    const snd = this.snd;
    if (this.timeWaitAt <= now) {
      this.timeWaitAt = Infinity;
      // FIN-WAIT-2 timeout: reset the silent peer, as Linux does (tcp_send_active_reset).
      if (this._state === State.FIN_WAIT_2) this.rstDue = true;
      this.finish(undefined);
      return;
    }
    // RACK's reordering timer (RFC 8985 §6.2 step 5): losses found by time.
    if (this.recovery.timerAt <= now) this.recovery.onTimer(now);
    // The probe is checked before the RTO: a probe due at the same instant replaces it (RFC 8985 §7.3).
    if (this.tlp.at <= now && this.tlp.expire(!snd.idle)) {
      snd.rtoAt = now + this.rtt.rto;
      this.host.counters.tailLossProbes++;
    }
    if (snd.rtoAt <= now) this.onRetransmitTimeout(now);
    if (this._state === State.CLOSED) return;
    if (snd.persistAt <= now) {
      snd.persistAt = Infinity;
      // RFC 1122 §4.2.2.17: probe indefinitely while the peer answers; give up like the
      // retransmission timer when it does not (any acceptable ACK resets `retries`).
      if (++snd.retries > this.host.cfg.maxRetries) {
        this.timedOut('write', ' (zero window)');
        return;
      }
      snd.probeNow = true;
      snd.persistBackoff++;
    }
    if (this.rcv.ackAt <= now) this.rcv.onAckTimer();
    if (this.keepAlive.at <= now) {
      const s = this._state;
      const cfg = this.host.cfg;
      const act = this.keepAlive.expire(now, this.lastRecvAt, s === State.ESTABLISHED || s === State.CLOSE_WAIT, cfg.keepAliveIntervalMs, cfg.keepAliveProbes);
      if (act === KeepAliveAction.GiveUp) this.timedOut('read', ' (keep-alive)');
    }
  }

  private onRetransmitTimeout(now: number): void {
    const snd = this.snd;
    snd.rtoAt = Infinity;
    if (snd.idle && !this.synDue) return;
    snd.retries++;
    this.host.counters.timeouts++;
    const s = this._state;
    const limit =
      s === State.SYN_RECEIVED && this.passive
        ? this.host.synAckRetries(this)
        : s === State.SYN_SENT || s === State.SYN_RECEIVED
          ? this.host.cfg.synRetries
          : this.host.cfg.maxRetries;
    if (snd.retries > limit) {
      if (s === State.SYN_SENT) this.host.counters.failedAttempts++;
      // Linux sends no RST here (tcp_write_err); the peer is presumed gone.
      this.timedOut(s === State.SYN_SENT ? 'connect' : 'read', '');
      return;
    }
    this.rtt.backoff(); // RFC 6298 §5.5
    snd.cancelRttTiming(); // Karn (RFC 6298 §3)
    if (s === State.SYN_SENT || s === State.SYN_RECEIVED) {
      this.synDue = true;
      snd.rewindToIss();
      return;
    }
    // RFC 5681 §3.1 eq. (4): ssthresh from the flight size; cwnd = 1 SMSS; go back to SND.UNA.
    const first = this.rtt.backoffs <= 1;
    this.cc.onRto(now, snd.flight, first);
    if (this.recovery.onRto(now, first)) snd.goBackN();
  }

  /** RFC 8985 §7.2: (re)arm the tail loss probe; only with SACK, and not during recovery (tlp.ts). */
  armTlp(now: number): void {
    this.tlp.arm(now, this._sackOk && !this.recovery.inRecovery, this.snd.flight, this.snd.mss, this.rtt.srtt, this.snd.rtoAt);
  }

  // ---------------------------------------------------------------------------------------------
  // For output.ts

  /** A SYN or SYN-ACK is due (taken once). */
  takeSynDue(): boolean {
    const d = this.synDue;
    this.synDue = false;
    return d;
  }

  /** A RST is due (taken once). */
  takeRstDue(): boolean {
    const d = this.rstDue;
    this.rstDue = false;
    return d;
  }

  /** Our FIN went out: ESTABLISHED -> FIN-WAIT-1, CLOSE-WAIT -> LAST-ACK (RFC 9293 §3.10.4 CLOSE). */
  onFinSent(): void {
    if (this._state === State.ESTABLISHED) this.setState(State.FIN_WAIT_1);
    else if (this._state === State.CLOSE_WAIT) this.setState(State.LAST_ACK);
  }

  // ---------------------------------------------------------------------------------------------
  // State and endings

  private setState(to: State): void {
    const from = this._state;
    if (from === to) return;
    this._state = to;
    // Give the received-data budget back once nothing more can be received: in CLOSED, and already
    // in TIME-WAIT (the layer may drop a TIME-WAIT TCB for a new SYN without passing CLOSED).
    if (to === State.CLOSED || to === State.TIME_WAIT) this.rcv.close();
    this.host.stateChanged(this, from, to);
  }

  private stopTimers(): void {
    this.snd.rtoAt = this.snd.persistAt = this.timeWaitAt = Infinity;
    this.keepAlive.clear();
    this.tlp.clear();
    this.rcv.ackAt = Infinity;
  }

  /** Enter CLOSED, tell the owner once. */
  private finish(error: SocketError | undefined): void {
    this.setState(State.CLOSED);
    this.stopTimers();
    // What is still queued can never be sent (a timeout, a refused or reset connection): "flush all
    // queues" (RFC 9293 §3.10.8, user timeout), now, not when the owner and the layer let go of this object.
    this.snd.clear();
    this.events.closed(error);
  }

  private fail(code: string, message: string): void {
    this.finish(new SocketError(code, message, this._state === State.SYN_SENT ? 'connect' : 'read'));
  }

  /** A timer gave up: ETIMEDOUT, or the soft error an ICMP message reported meanwhile (as Linux's tcp_write_err). */
  private timedOut(call: string, why: string): void {
    const code = this.softError ?? 'ETIMEDOUT';
    this.fail(code, `${call} ${code}${why}`);
  }

  // ---------------------------------------------------------------------------------------------
  // ICMP errors (tcp-layer.ts receiveError, icmp-error.ts)

  /**
   * RFC 5927 §4.1: is `seq`, the sequence number an ICMP error quotes, in flight (SND.UNA =< seq <
   * SND.MAX)? SND.MAX stands for RFC 793's SND.NXT here: after a timeout SND.NXT is pulled back, and
   * segments up to SND.MAX are still in the network.
   */
  inFlight(seq: number): boolean {
    const s = this._state;
    if (s === State.CLOSED || s === State.TIME_WAIT) return false;
    return seqLe(this.snd.una, seq) && seqLt(seq, this.snd.max);
  }

  /**
   * An ICMP error (not "fragmentation needed") about a segment in flight. A hard error in SYN-SENT
   * aborts the attempt: connect() fails with the error's code (RFC 1122 §4.2.3.9, RFC 5927 §5.2).
   * A half-open passive connection whose SYN-ACK cannot reach the peer (icmp-error.ts
   * dropsHalfOpen) is forgotten, freeing its SYN queue slot, as Linux drops the request. Anything
   * else is a soft error, remembered for a timeout. Returns true when the state changed.
   */
  icmpError(type: number, code: number): boolean {
    const err = icmpErrorCode(type, code);
    if (err === undefined) return false;
    const counters = this.host.counters;
    if (this._state === State.SYN_SENT && isHardIcmpError(type, code)) {
      counters.icmpAborts++;
      counters.failedAttempts++;
      this.fail(err, `connect ${err} ${this.remoteAddress}:${this.remotePort}`);
      this.events.flush();
      return true;
    }
    if (this._state === State.SYN_RECEIVED && this.passive && dropsHalfOpen(type, code)) {
      counters.icmpAborts++;
      this.discard();
      return true;
    }
    counters.icmpSoftErrors++;
    this.softError = err;
    return false;
  }

  /**
   * The path MTU to the peer fell to `mtu` (RFC 1191 §6.4, RFC 1122 §4.2.3.9): segments must fit it
   * from now on, and what is in flight was sent too big and is lost. The send MSS comes down (never
   * up), and loss recovery re-cuts the retransmission queue into pieces of the new size and resends
   * them at once, without a congestion response (the path did not drop them for congestion), as
   * Linux's tcp_simple_retransmit. Returns true when the MSS changed.
   */
  onPathMtu(now: number, mtu: number): boolean {
    this.maxSegment = Math.min(this.userMaxSegment, mtu - 40);
    const s = this._state;
    // Before the SYN-ACK the send MSS is not known yet: negotiate() applies maxSegment.
    if (s === State.CLOSED || s === State.SYN_SENT || s === State.TIME_WAIT) return false;
    const snd = this.snd;
    const mss = Math.max(64, Math.min(snd.mss, this.maxSegment - (this.ts.on ? TS_OPTION_BYTES : 0)));
    if (mss >= snd.mss) return false;
    snd.mss = mss;
    this.cc.setMss(mss);
    this.host.counters.pmtuMssReductions++;
    // Only data is re-cut: a SYN-ACK in flight is small, and is resent by its own timer.
    if (snd.idle || s === State.SYN_RECEIVED) return true;
    snd.cancelRttTiming(); // Karn (RFC 6298 §3): the timed segment is resent
    if (this.recovery.onMssReduced(now)) snd.goBackN();
    return true;
  }

  private enterTimeWait(now: number): void {
    this.setState(State.TIME_WAIT);
    // RFC 9293 §3.10.7.4: TIME-WAIT lasts 2 MSL.
    this.timeWaitAt = now + 2 * this.host.cfg.mslMs;
    this.snd.rtoAt = this.snd.persistAt = Infinity;
    this.keepAlive.clear();
    this.tlp.clear();
    this.host.markDirty(this); // the layer swaps it for a TIME-WAIT record once its last ACK is out
    this.events.closed(undefined);
  }

  // ---------------------------------------------------------------------------------------------

  info(): TcpInfo {
    const snd = this.snd;
    return {
      state: this.state,
      localAddress: this.localAddress,
      localPort: this.localPort,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      iss: snd.iss,
      irs: this.rcv.irs,
      sndUna: snd.una,
      sndNxt: snd.nxt,
      rcvNxt: this.rcv.rcvNxt,
      sndWnd: snd.wnd,
      rcvWnd: this.rcv.window,
      sndWindowScale: snd.wscale,
      rcvWindowScale: this.rcv.wscale,
      mss: snd.mss,
      cwnd: this.recovery === NO_RECOVERY ? this.cc.cwnd : this.recovery.window(),
      ssthresh: this.cc.ssthresh,
      srttMs: this.rtt.srtt,
      rttvarMs: this.rtt.rttvar,
      rtoMs: this.rtt.rto,
      handshakeRttMs: this.handshakeRtt,
      sackPermitted: this._sackOk,
      timestamps: this.ts.on,
      retransmits: this.retransmits,
      segmentsIn: this.segmentsIn,
      segmentsOut: this.segmentsOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      sendQueued: snd.queued,
    };
  }
}
