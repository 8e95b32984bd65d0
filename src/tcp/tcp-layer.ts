/**
 * The TCP layer: the transport handler for IP protocol 6 and the endpoint API for the socket layer.
 *
 *   receive  parse (checksum with the pseudo-header) -> 4-tuple Map -> Connection.process
 *                                                   -> port Map -> LISTEN processing (new Connection)
 *                                                   -> the one RST path for the unmatched (CLOSED)
 *   flush    dispatch only the connections marked dirty; each emits segments through `output`
 *   pollAt   the earliest timer, from a min-heap with lazy invalidation (no scan of connections)
 *   poll     marks the connections whose timers are due as dirty (flush then runs them)
 *
 * Defences against hostile peers live here, where the tables are: SYN cookies when a listener's SYN
 * queue is full (syn-cookie.ts, RFC 4987 §3.6), fewer SYN-ACK retransmissions under pressure, a cap on
 * connections, and TIME-WAIT kept as a small record instead of the whole connection (time-wait.ts).
 *
 * RFC 9293 §3.10.7.1 (CLOSED), §3.10.7.2 (LISTEN), §3.10.7.4 (TIME-WAIT). Where the layer sits
 * among the others, and what it owns: docs/architecture.md, "The layers".
 */
import { randomBytes } from 'node:crypto';
import type { IcmpErrorReport, IpOutput, IpReceiveInfo, IpSendOptions, TransportHandler } from '../ip/types.ts';
import { IPPROTO_TCP, IPV4_HEADROOM } from '../ip/types.ts';
import type { Clock } from '../util/clock.ts';
import { SocketError, WireError } from '../util/errors.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { formatIpv4Address, parseIpv4Address, type Ipv4Address } from '../wire/ipv4-address.ts';
import { ACK, FIN, RST, SYN, checkTcp, serializeTcp, TcpSegmentReader, tcpHeaderLength, type TcpSegment, type TcpSegmentInit } from '../wire/tcp.ts';
import { seqAdd } from '../wire/seq.ts';
import type { TcpOptions } from '../wire/tcp-options.ts';
import { blankTcpInfo, type ConnectionOptions, type TcpConnection, type TcpEndpointApi, type TcpInfo, type TcpListenerHandle, type TcpStateName } from './api.ts';
import { Connection, type ConnectionConfig, type ConnectionHost } from './connection.ts';
import type { LossRecovery } from './recovery.ts';
import { countDrop, newCounters, type TcpCounters } from './counters.ts';
import { IsnGenerator, keyedTupleHash32, type IsnFunction } from './isn.ts';
import { RxBudget } from './rx-budget.ts';
import { Listener } from './listener.ts';
import { STATE_NAMES, State } from './state.ts';
import { SynCookies, decodeCookieTsecr, encodeCookieTsval, COOKIE_MAX_AGE } from './syn-cookie.ts';
import { TimerHeap } from './timer-heap.ts';
import { TimeWaitAction, TimeWaitTable, timeWaitAction, type TimeWaitRecord } from './time-wait.ts';
import { TupleMap } from './tuple.ts';
import { MAX_WSCALE, isLossReason, offeredWindowScale, windowScaleFor, type ConnectionRef, type SendReason } from './config.ts';
import { NewReno } from './cc/newreno.ts';
import { Cubic } from './cc/cubic.ts';
import { ssthreshText, type CongestionControlName } from './congestion-control.ts';
import { DEFAULT_MSS } from './sender.ts';
import { isFragmentationNeeded } from './icmp-error.ts';

/** The labels that keep the keyed hashes of a tuple apart (isn.ts keyedTupleHash32). */
const TS_OFFSET_LABEL = 1;
const PORT_OFFSET_LABEL = 2;

export interface TcpLayerOptions extends Partial<ConnectionConfig> {
  address: string | number;
  /**
   * The congestion controller of every connection: 'cubic' (RFC 9438 with HyStart++, the default,
   * as on Linux) or 'newreno' (RFC 5681/6582). `congestionControl` (a factory) overrides it.
   */
  cc?: CongestionControlName;
  ip: IpOutput;
  clock: Clock;
  logger?: Logger;
  /** Secret for ISNs (RFC 6528), ephemeral ports (RFC 6056) and timestamp offsets; random if absent. */
  isnKey?: Uint8Array;
  /** Replace the ISN function entirely (tests: an ISN near 2^32). */
  isn?: IsnFunction;
  /** Half-open connections per listener (SYN queue, Linux tcp_max_syn_backlog). Default 1024. */
  synBacklog?: number;
  /** Answer SYNs with SYN cookies when a SYN queue is full (Linux tcp_syncookies=1). Default true. */
  synCookies?: boolean;
  /** Connections in the table (TIME-WAIT records not counted); SYNs beyond are dropped. Default 65536. */
  maxConnections?: number;
  /** TIME-WAIT records kept; the oldest is recycled first (Linux tcp_max_tw_buckets). Default 65536. */
  maxTimeWait?: number;
  /** Ephemeral port range (RFC 6056 §2.1); default 49152-65535 (the IANA range). */
  ephemeralPortRange?: [number, number];
  /** RFC 5961 §7 challenge ACKs per second for the whole layer (Linux's old default: 1000). */
  challengeAckLimit?: number;
  /** Verify checksums of incoming segments (default true). */
  verifyChecksum?: boolean;
  /**
   * Out-of-order data one connection may hold, in bytes charged as held bytes + 320 per range
   * (tcp/rx-budget.ts). Default 2 x receiveBufferMax: a full window always fits, however segmented
   * (out-of-order data lies within the window offered, which grows only as the reader keeps up).
   */
  oooBudgetPerConnection?: number;
  /** Out-of-order data all connections together may hold (bytes, charged as above). Default 32 MiB. */
  oooBudgetTotal?: number;
  /**
   * Unread in-order data (delivered, not yet consumed by the owners) all connections together may
   * hold, in bytes. Default 128 MiB. (Per connection, the receive buffer bounds it.)
   */
  rcvBudgetTotal?: number;
}

export interface TcpStateChange {
  local: string;
  remote: string;
  from: TcpStateName;
  to: TcpStateName;
  /** The congestion window and slow-start threshold at the change (absent for a TIME-WAIT record). */
  cwnd?: number;
  ssthresh?: number;
}

export interface TcpStats extends TcpCounters {
  /** TIME-WAIT records recycled before their 2 MSL because `maxTimeWait` was reached. */
  timeWaitRecycled: number;
  currentEstablished: number;
  connections: number;
  /** Connections in SYN-RECEIVED (all SYN queues). */
  halfOpen: number;
  /** TIME-WAIT records (not in `connections`). */
  timeWait: number;
  listeners: number;
  /** The limits in force, with what they cost (see the drop counters). */
  limits: TcpLimits;
}

export interface TcpLimits {
  maxConnections: number;
  synBacklog: number;
  synCookies: boolean;
  maxTimeWait: number;
  synAckRetries: number;
  sendBufferSize: number;
  sendBufferMax: number;
  receiveBufferSize: number;
  receiveBufferMax: number;
}

/** Under pressure, a half-open entry gets at most this many SYN-ACK retransmissions (Linux's floor). */
const SYNACK_RETRIES_UNDER_PRESSURE = 2;

const SEND_OPTS: IpSendOptions = Object.freeze({ dontFragment: true });
/** A super-segment's options, its segment size filled in per send (ip.send reads them at once). */
const TSO_OPTS: { dontFragment: true; segmentSize: number } = { dontFragment: true, segmentSize: 0 };

export class TcpLayer implements TransportHandler, TcpEndpointApi, ConnectionHost {
  readonly cfg: ConnectionConfig;
  readonly counters: TcpCounters = newCounters();
  /** Received data held by all connections, against the budgets (ConnectionHost.rxBudget). */
  readonly rxBudget: RxBudget;
  readonly address: Ipv4Address;
  /** Called when a connection has something to send outside packet processing (socket calls). */
  onNeedFlush: (() => void) | undefined;
  /** Observer of state transitions (zero cost when unset). */
  onStateChange: ((info: TcpStateChange) => void) | undefined;
  /**
   * Observer of each segment a connection sends, with why it left (zero cost when unset). `seg` is
   * valid only during the call (output.ts fills one object for every segment): copy what you keep.
   */
  onSegmentSent: ((c: TcpConnection, seg: TcpSegmentInit, reason: SendReason) => void) | undefined;

  private readonly ip: IpOutput;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly conns = new TupleMap<Connection>();
  /**
   * The connection released last and its loss recovery (which TIME-WAIT drops), kept and never
   * used again, until the next release. While one object of each per-connection class is alive,
   * V8 keeps their hidden classes and the compiled code of the segment path; a server left with no
   * connection would lose both in its next full GC (docs/architecture.md, "Compiled code across
   * idle periods"). (A recovery holds its connection too; lastReleased is what keeps one that was
   * released before its handshake picked a recovery.)
   */
  private lastReleased: Connection | undefined;
  private lastRecovery: LossRecovery | undefined;
  private readonly timeWait: TimeWaitTable;
  private readonly cookies: SynCookies;
  private readonly synCookiesOn: boolean;
  private readonly maxConnections: number;
  private readonly listeners = new Map<number, Listener>();
  private readonly heap = new TimerHeap<Connection>();
  /**
   * The connections with something to do, the first dirtyCount entries: the array is refilled, never
   * emptied (`length = 0` would give its storage back and the next tick allocate it again).
   */
  private readonly dirtyList: (Connection | undefined)[] = [];
  private dirtyCount = 0;
  /** Received segments are parsed into this one record (see receive). */
  private readonly reader = new TcpSegmentReader();
  private busy = 0;
  private readonly key: Uint8Array;
  private readonly isnFn: IsnFunction;
  private readonly synBacklog: number;
  private readonly portLo: number;
  private readonly portHi: number;
  private nextEphemeral = 0;
  private readonly challengeLimit: number;
  private challengeWindow = -1;
  private challengeCount = 0;
  /** Verify TCP checksums the device does not vouch for (TcpLayerOptions.verifyChecksum). */
  private readonly verifyChecksum: boolean;
  private established = 0;
  /**
   * Connection events (open, close, reset, retransmit) go to the logger at debug level. Read once,
   * at construction (the CLI sets the level before it builds the stack): the hot paths test a field.
   */
  private readonly debugLog: boolean;

  constructor(opts: TcpLayerOptions) {
    this.address = typeof opts.address === 'number' ? opts.address >>> 0 : parseIpv4Address(opts.address);
    this.ip = opts.ip;
    this.clock = opts.clock;
    this.logger = opts.logger ?? silentLogger();
    this.debugLog = this.logger.isLevelEnabled('debug');
    const receiveBufferSize = opts.receiveBufferSize ?? 256 * 1024;
    // Grown as the reader keeps up (Receiver.autotune) up to this, as Linux's up to tcp_rmem[2].
    const receiveBufferMax = Math.max(opts.receiveBufferMax ?? 4 * 1024 * 1024, receiveBufferSize);
    this.cfg = {
      mslMs: opts.mslMs ?? 30_000,
      minRtoMs: opts.minRtoMs ?? 200,
      maxRtoMs: opts.maxRtoMs ?? 120_000,
      initialRtoMs: opts.initialRtoMs ?? 1000,
      // 1 MiB to start: room for 16 TSO super-segments in flight (downloads measured ~20% faster than
      // with 256 KiB); a limit, not an allocation (written chunks are kept by reference).
      sendBufferSize: opts.sendBufferSize ?? 1024 * 1024,
      // Grown with the congestion window up to this (Sender.autotune), as Linux's up to tcp_wmem[2].
      sendBufferMax: Math.max(opts.sendBufferMax ?? 4 * 1024 * 1024, opts.sendBufferSize ?? 1024 * 1024),
      receiveBufferSize,
      receiveBufferMax,
      synRetries: opts.synRetries ?? 6,
      synAckRetries: opts.synAckRetries ?? 5,
      maxRetries: opts.maxRetries ?? 15,
      keepAliveIntervalMs: opts.keepAliveIntervalMs ?? 75_000,
      keepAliveProbes: opts.keepAliveProbes ?? 9,
      finWait2TimeoutMs: opts.finWait2TimeoutMs ?? 60_000,
      timestamps: opts.timestamps ?? true,
      windowScaling: opts.windowScaling ?? true,
      sack: opts.sack ?? true,
      tso: opts.tso ?? true,
      windowScaleShift: Math.min(MAX_WSCALE, Math.max(0, Math.floor(opts.windowScaleShift ?? offeredWindowScale(receiveBufferMax)))),
      quickAckSegments: Math.max(0, Math.floor(opts.quickAckSegments ?? 0)),
      congestionControl: opts.congestionControl ?? congestionControlFactory(opts.cc ?? 'cubic'),
    };
    this.key = opts.isnKey ?? randomBytes(16);
    const gen = new IsnGenerator(this.key);
    this.isnFn = opts.isn ?? ((now, la, lp, ra, rp) => gen.isn(now, la, lp, ra, rp));
    this.synBacklog = opts.synBacklog ?? 1024;
    this.synCookiesOn = opts.synCookies ?? true;
    this.cookies = new SynCookies(this.key);
    this.maxConnections = opts.maxConnections ?? 65536;
    this.timeWait = new TimeWaitTable(opts.maxTimeWait ?? 65536);
    [this.portLo, this.portHi] = opts.ephemeralPortRange ?? [49152, 65535];
    this.challengeLimit = opts.challengeAckLimit ?? 1000;
    this.verifyChecksum = opts.verifyChecksum ?? true;
    this.rxBudget = new RxBudget({
      oooPerConnection: opts.oooBudgetPerConnection ?? 2 * this.cfg.receiveBufferMax,
      oooTotal: opts.oooBudgetTotal ?? 32 * 1024 * 1024,
      rcvTotal: opts.rcvBudgetTotal ?? 128 * 1024 * 1024,
    });
  }

  get mtu(): number {
    return this.ip.mtu;
  }

  get tsoMaxSize(): number {
    return this.cfg.tso ? (this.ip.tsoMaxSize ?? 0) : 0;
  }

  /** ConnectionHost.pathMtu: the IP layer's path MTU estimate for `remote` (RFC 1191), else the link MTU. */
  pathMtu(remote: Ipv4Address): number {
    return this.ip.pathMtu?.(remote, this.clock.now()) ?? this.ip.mtu;
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound

  receive(now: number, ip: IpReceiveInfo, payload: Uint8Array): void {
    this.counters.segmentsIn++;
    if (ip.dst !== this.address) {
      countDrop(this.counters, 'not-our-address');
      return;
    }
    // Receive offload: a checksum the device vouches for is not verified (it may be partial). The
    // check allocates nothing, so a flood of corrupt segments costs its checksums and a counter.
    const bad = checkTcp(payload, ip.src, ip.dst, ip.checksumTrusted !== true && this.verifyChecksum);
    if (bad !== undefined) return this.dropBad(bad);
    // One reused record for every segment (wire/tcp.ts TcpSegmentReader): a segment is done with
    // before the next is read. A segment arriving while one is processed (a device that delivers
    // what we send at once) gets a record of its own.
    const seg = (this.busy === 0 ? this.reader : new TcpSegmentReader()).read(payload);
    if (seg instanceof WireError) return this.dropBad(seg.code); // malformed options
    this.busy++;
    try {
      this.demux(now, ip.src, seg);
    } finally {
      this.busy--;
      if (this.busy === 0) this.reader.release();
    }
  }

  /** A segment refused before it reached a connection: counted under its code, no answer. */
  private dropBad(code: string): void {
    this.counters.badSegments++;
    countDrop(this.counters, code);
    if (this.logger.isLevelEnabled('debug')) this.logger.debug({ code }, 'tcp: bad segment dropped');
  }

  /**
   * TransportHandler.receiveError: an ICMP error about a segment we sent (RFC 1122 §4.2.3.9). The
   * quote names the connection (our port, the peer's port, the peer) and the sequence number of the
   * segment; RFC 5927 §4.1: unless that number is in flight (SND.UNA =< SEG.SEQ < SND.MAX), the
   * error is not about anything we sent recently and is ignored: this is what keeps a blind attacker,
   * who must guess it, from resetting connections or shrinking their segments (RFC 5927 §5, §7).
   * A flood costs one lookup and a counter each: nothing is allocated or sent.
   */
  receiveError(now: number, r: IcmpErrorReport): void {
    const c = this.counters;
    c.icmpErrors++;
    const t = r.transport;
    const localPort = (t[0]! << 8) | t[1]!;
    const remotePort = (t[2]! << 8) | t[3]!;
    const seq = ((t[4]! << 24) | (t[5]! << 16) | (t[6]! << 8) | t[7]!) >>> 0;
    const conn = this.conns.get(r.quotedDst, remotePort, localPort);
    if (conn === undefined) {
      c.icmpNoConnection++;
      return;
    }
    if (!conn.inFlight(seq)) {
      c.icmpOutOfWindow++;
      return;
    }
    this.busy++;
    try {
      if (isFragmentationNeeded(r.type, r.code)) this.fragmentationNeeded(now, r.quotedDst, r.nextHopMtu, r.quotedLength);
      else if (conn.icmpError(r.type, r.code)) this.markDirty(conn);
    } finally {
      this.busy--;
    }
  }

  /**
   * RFC 1191 §6.4 / RFC 1122 §4.2.3.9: "fragmentation needed" lowers the path MTU to the peer (the
   * IP layer's cache decides by how much, and ignores increases), and with it the send MSS of every
   * connection to that host, which re-cut what they have in flight (connection.ts onPathMtu).
   */
  private fragmentationNeeded(now: number, remote: Ipv4Address, nextHopMtu: number, quotedLength: number): void {
    const before = this.pathMtu(remote);
    const after = this.ip.learnPathMtu?.(remote, nextHopMtu, quotedLength, now) ?? before;
    if (after >= before) return;
    this.counters.pmtuLowered++;
    for (const conn of this.conns.values()) {
      if (conn.remoteAddr === remote && conn.onPathMtu(now, after)) this.markDirty(conn);
    }
  }

  private demux(now: number, src: Ipv4Address, seg: TcpSegment): void {
    const conn = this.conns.get(src, seg.srcPort, seg.dstPort);
    if (conn !== undefined) {
      conn.process(now, seg);
      if (this.debugLog && (seg.flags & RST) !== 0 && conn.stateValue === State.CLOSED) this.logConn(conn, 'tcp: reset received');
      this.markDirty(conn);
      return;
    }
    const tw = this.timeWait.get(src, seg.srcPort, seg.dstPort);
    if (tw !== undefined && !this.timeWaitSegment(now, tw, seg)) return;
    const listener = this.listeners.get(seg.dstPort);
    if (listener !== undefined) this.listen_(now, src, seg, listener);
    else this.closedReply(now, src, seg);
  }

  /** A segment for a TIME-WAIT record; true when it reopens the tuple (go on as a new SYN). */
  private timeWaitSegment(now: number, r: TimeWaitRecord, seg: TcpSegment): boolean {
    const ts = seg.options.timestamp;
    const action = timeWaitAction(r, { seq: seg.seq, flags: seg.flags, payloadLength: seg.payload.length, tsValue: ts?.value }, this.listeners.has(seg.dstPort));
    switch (action) {
      case TimeWaitAction.None:
        return false;
      case TimeWaitAction.Reopen:
        this.timeWait.delete(r);
        this.timeWaitClosed(r);
        return true;
      case TimeWaitAction.AckRestart:
        // RFC 9293 §3.10.7.4: acknowledge the retransmitted FIN and restart the 2 MSL timeout.
        this.timeWait.restart(r, now + 2 * this.cfg.mslMs);
        break;
      case TimeWaitAction.PawsAck:
        this.counters.pawsRejected++;
        break;
      case TimeWaitAction.Ack:
        // A SYN, or other segments of the old incarnation: an ACK, within the challenge-ACK budget
        // (RFC 5961 §7), so that a flood at a TIME-WAIT tuple cannot turn us into an amplifier.
        if (!this.allowChallengeAck(now)) {
          this.counters.challengeAcksSuppressed++;
          return false;
        }
        break;
    }
    this.sendRaw(r.remoteAddr, {
      srcPort: r.localPort,
      dstPort: r.remotePort,
      seq: r.sndNxt,
      ack: r.rcvNxt,
      flags: ACK,
      window: r.windowField,
      options: r.tsOn ? { timestamp: { value: (Math.floor(now) + this.tsOffset(r.remoteAddr, r.remotePort, r.localPort)) >>> 0, echo: r.tsRecent } } : undefined,
    });
    return false;
  }

  private timeWaitClosed(r: TimeWaitRecord): void {
    const obs = this.onStateChange;
    if (obs === undefined) return;
    obs({
      local: `${formatIpv4Address(this.address)}:${r.localPort}`,
      remote: `${formatIpv4Address(r.remoteAddr)}:${r.remotePort}`,
      from: 'TIME-WAIT',
      to: 'CLOSED',
    });
  }

  /** RFC 9293 §3.10.7.2: a segment for a listening port. */
  private listen_(now: number, src: Ipv4Address, seg: TcpSegment, l: Listener): void {
    const f = seg.flags;
    if (f & RST) return; // first: an incoming RST is ignored
    const ack = seg.ack;
    if (ack !== undefined) {
      // An ACK that may return a SYN cookie (only looked at while cookies are recent, as Linux does).
      if ((f & SYN) === 0 && now - l.overflowAt <= (COOKIE_MAX_AGE + 1) * 60_000) {
        if (this.cookieOpen(now, src, seg, ack, l)) return;
        this.counters.synCookiesFailed++;
      }
      // second: any other ACK is bad: <SEQ=SEG.ACK><CTL=RST>
      this.resetRaw(src, seg.dstPort, seg.srcPort, ack, undefined);
      return;
    }
    if (!(f & SYN)) {
      countDrop(this.counters, 'listen-no-syn');
      return;
    }
    if (f & FIN) {
      countDrop(this.counters, 'syn-fin'); // as Linux (tcp_rcv_state_process, LISTEN)
      return;
    }
    if (this.conns.size >= this.maxConnections) {
      countDrop(this.counters, 'max-connections');
      return;
    }
    // The accept queue is full: the SYN is dropped, cookies or not, as Linux does (tcp_conn_request);
    // the peer retransmits it, and by then the owner may have taken a connection.
    if (l.acceptQueueFull) {
      this.listenOverflow();
      return;
    }
    if (l.synQueueFull) {
      this.counters.synQueueOverflows++;
      if (this.synCookiesOn) {
        l.overflowAt = now;
        this.sendCookieSynAck(now, src, seg, l.connOptions);
        return;
      }
      // No cookies: the oldest half-open entry makes room (RFC 4987 §3.4, "recycling the oldest
      // half-open TCB"), once its SYN-ACK went unanswered for an RTO: a younger one may be a real
      // handshake in progress, and entries are in arrival order, so then all are young.
      const oldest = l.oldestEmbryo() as Connection | undefined;
      if (oldest === undefined || oldest.retransmits === 0) {
        countDrop(this.counters, 'syn-queue-full');
        return;
      }
      this.counters.synQueueDrops++;
      oldest.discard();
      this.release(oldest);
    }
    const c = this.newConnection(src, seg.dstPort, seg.srcPort, true, l.connOptions);
    c.listenerRef = l;
    l.embryos.add(c);
    this.conns.set(src, seg.srcPort, seg.dstPort, c);
    this.counters.passiveOpens++;
    c.openPassive(now, seg, this.isnFn(now, this.address, seg.dstPort, src, seg.srcPort));
  }

  /**
   * A SYN-ACK that keeps no state (RFC 4987 §3.6): the ISN is a cookie, the options the peer will
   * need ride in the TSval (syn-cookie.ts). It offers what openPassive's SYN-ACK would, except window
   * scaling and SACK without timestamps (nowhere to remember them).
   */
  private sendCookieSynAck(now: number, src: Ipv4Address, seg: TcpSegment, co: ConnectionOptions): void {
    const o = seg.options;
    const cfg = this.cfg;
    const rcvBuf = co.receiveBufferSize ?? cfg.receiveBufferSize;
    const isn = this.cookies.make(now, this.address, seg.dstPort, src, seg.srcPort, seg.seq, o.mss ?? DEFAULT_MSS);
    const ts = cfg.timestamps ? o.timestamp : undefined;
    let mss = Math.max(DEFAULT_MSS, this.mtu - 40);
    if (co.maxSegment !== undefined) mss = Math.max(64, Math.min(mss, co.maxSegment));
    let options: TcpOptions = { mss };
    if (ts !== undefined) {
      const ws = cfg.windowScaling && o.windowScale !== undefined ? o.windowScale : undefined;
      const sack = cfg.sack && o.sackPermitted === true;
      const tsNow = (Math.floor(now) + this.tsOffset(src, seg.srcPort, seg.dstPort)) >>> 0;
      options = {
        mss,
        windowScale: ws !== undefined ? windowScaleFor(cfg, co) : undefined,
        sackPermitted: sack || undefined,
        timestamp: { value: encodeCookieTsval(tsNow, { windowScale: ws, sackPermitted: sack }), echo: ts.value },
      };
    }
    this.counters.synCookiesSent++;
    this.sendRaw(src, {
      srcPort: seg.dstPort,
      dstPort: seg.srcPort,
      seq: isn,
      ack: seqAdd(seg.seq, 1),
      flags: SYN | ACK,
      window: Math.min(rcvBuf, 0xffff), // never scaled in a SYN-ACK (RFC 7323 §2.2)
      options,
    });
  }

  /** The ACK of a cookie SYN-ACK (`ack` is its SEG.ACK): check the cookie and build the connection from it. */
  private cookieOpen(now: number, src: Ipv4Address, seg: TcpSegment, ack: number, l: Listener): boolean {
    const cookie = seqAdd(ack, -1);
    const mss = this.cookies.check(now, this.address, seg.dstPort, src, seg.srcPort, seqAdd(seg.seq, -1), cookie);
    if (mss === undefined) return false;
    if (this.conns.size >= this.maxConnections) {
      countDrop(this.counters, 'max-connections');
      return true; // a valid cookie, but no room: dropped; the peer retransmits or gives up
    }
    if (l.acceptQueueFull) {
      this.listenOverflow(); // likewise: no room in the accept queue
      return true;
    }
    const ts = this.cfg.timestamps ? seg.options.timestamp : undefined;
    const opts = ts !== undefined ? decodeCookieTsecr(ts.echo) : { windowScale: undefined, sackPermitted: false };
    this.counters.synCookiesValidated++;
    this.counters.passiveOpens++;
    const c = this.newConnection(src, seg.dstPort, seg.srcPort, true, l.connOptions);
    c.listenerRef = l;
    this.conns.set(src, seg.srcPort, seg.dstPort, c);
    c.openFromCookie(now, seg, cookie, mss, opts.windowScale, opts.sackPermitted, ts !== undefined);
    c.process(now, seg);
    this.markDirty(c);
    return true;
  }

  /** RFC 9293 §3.10.7.1: the one reply for a segment that matches nothing. Never a RST for a RST. */
  private closedReply(now: number, src: Ipv4Address, seg: TcpSegment): void {
    const f = seg.flags;
    if (f & RST) {
      countDrop(this.counters, 'rst-no-connection');
      return;
    }
    countDrop(this.counters, 'no-connection');
    if (seg.ack !== undefined) {
      // "If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>"
      this.resetRaw(src, seg.dstPort, seg.srcPort, seg.ack, undefined);
    } else {
      // "If the ACK bit is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"
      const len = seg.payload.length + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0);
      this.resetRaw(src, seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, len));
    }
  }

  /** A RST, or with `ack` a RST+ACK (the ACK bit goes with the number, wire/tcp.ts TcpSegmentInit). */
  private resetRaw(remote: Ipv4Address, localPort: number, remotePort: number, seq: number, ack: number | undefined): void {
    this.counters.resetsSent++;
    this.sendRaw(remote, { srcPort: localPort, dstPort: remotePort, seq, ack, flags: ack === undefined ? RST : RST | ACK, window: 0 });
  }

  /**
   * Memory for a segment about to be serialized and sent (IpOutput.allocPacket: the TUN device's
   * reused transmit space, so a 64 KiB super-segment is no allocation). serializeTcp writes every
   * byte of it, header, options and payload, so it need not be zeroed.
   */
  private packet(length: number): Uint8Array {
    return this.ip.allocPacket === undefined ? new Uint8Array(length) : this.ip.allocPacket(length);
  }

  /** Send a segment that belongs to no Connection object (RST replies, cookie SYN-ACKs, TIME-WAIT ACKs). */
  private sendRaw(remote: Ipv4Address, seg: TcpSegmentInit): void {
    const pkt = this.packet(IPV4_HEADROOM + tcpHeaderLength(seg));
    serializeTcp(seg, pkt, IPV4_HEADROOM, this.address, remote);
    this.counters.segmentsOut++;
    this.ip.send(pkt, this.address, remote, IPPROTO_TCP, SEND_OPTS);
  }

  // ---------------------------------------------------------------------------------------------
  // ConnectionHost

  sendReset(c: ConnectionRef, seq: number, ack: number | undefined): void {
    this.resetRaw(c.remoteAddr, c.localPort, c.remotePort, seq, ack);
  }

  markDirty(c: ConnectionRef): void {
    this.markConnDirty(c as Connection);
  }

  private markConnDirty(c: Connection): void {
    if (c.dirty) return;
    c.dirty = true;
    const list = this.dirtyList;
    const i = this.dirtyCount++;
    if (i < list.length) list[i] = c;
    else list.push(c);
    if (this.busy === 0 && i === 0) this.onNeedFlush?.();
  }

  stateChanged(ref: ConnectionRef, from: State, to: State): void {
    const c = ref as Connection;
    if (to === State.ESTABLISHED) this.established++;
    if (from === State.ESTABLISHED) this.established--;
    if (from === State.SYN_RECEIVED && c.listenerRef instanceof Listener) {
      c.listenerRef.embryos.delete(c);
    }
    const obs = this.onStateChange;
    if (obs !== undefined) {
      obs({
        local: `${formatIpv4Address(c.localAddr)}:${c.localPort}`,
        remote: `${formatIpv4Address(c.remoteAddr)}:${c.remotePort}`,
        from: STATE_NAMES[from]!,
        to: STATE_NAMES[to]!,
        cwnd: c.cc.cwnd,
        ssthresh: c.cc.ssthresh,
      });
    }
    if (this.debugLog) {
      if (to === State.ESTABLISHED) this.logConn(c, 'tcp: open', { from: STATE_NAMES[from], handshakeRttMs: c.handshakeRtt === undefined ? undefined : Math.round(c.handshakeRtt * 1000) / 1000 });
      else if (to === State.CLOSED || to === State.TIME_WAIT) this.logConn(c, 'tcp: close', { from: STATE_NAMES[from], to: STATE_NAMES[to] });
    }
  }

  /** A debug line about one connection: its 4-tuple, its counters, and `extra` (debugLog only). */
  private logConn(c: Connection, msg: string, extra?: Record<string, unknown>): void {
    this.logger.debug(
      {
        local: `${formatIpv4Address(c.localAddr)}:${c.localPort}`,
        remote: `${formatIpv4Address(c.remoteAddr)}:${c.remotePort}`,
        cwnd: c.cc.cwnd,
        ssthresh: ssthreshText(c.cc.ssthresh),
        retransmits: c.retransmits,
        ...extra,
      },
      msg,
    );
  }

  /** debugLog: a retransmission (any of loss recovery's reasons) or a RST we send. */
  private logSent(c: Connection, seg: TcpSegmentInit, reason: SendReason, len: number): void {
    if (reason === 'rst') this.logConn(c, 'tcp: reset sent');
    else if (isLossReason(reason)) {
      this.logConn(c, 'tcp: retransmit', { reason, seq: seg.seq, len });
    }
  }

  synAckRetries(c: ConnectionRef): number {
    const l = c.listenerRef;
    const n = this.cfg.synAckRetries;
    return l instanceof Listener && l.underPressure ? Math.min(n, SYNACK_RETRIES_UNDER_PRESSURE) : n;
  }

  acceptQueueFull(c: ConnectionRef): boolean {
    const l = c.listenerRef;
    if (!(l instanceof Listener) || !l.acceptQueueFull) return false;
    this.listenOverflow();
    return true;
  }

  /** A SYN or a handshake's last ACK dropped because the listener's accept queue is full. */
  private listenOverflow(): void {
    this.counters.listenOverflows++;
    countDrop(this.counters, 'accept-queue-full');
  }

  passiveEstablished(c: ConnectionRef): void {
    const l = c.listenerRef;
    if (!(l instanceof Listener) || l.closed) {
      (c as Connection).abort();
      return;
    }
    l.accept(c as Connection);
  }

  allowChallengeAck(now: number): boolean {
    const w = Math.floor(now / 1000);
    if (w !== this.challengeWindow) {
      this.challengeWindow = w;
      this.challengeCount = 0;
    }
    return this.challengeCount++ < this.challengeLimit;
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound and timers

  /** ConnectionHost.output: serialize a connection's segment and send it through IP. */
  output(c: ConnectionRef, seg: TcpSegmentInit, reason: SendReason): void {
    const plen = seg.payload === undefined ? 0 : seg.payload.length;
    this.counters.segmentsOut++;
    this.onSegmentSent?.(c as Connection, seg, reason);
    if (this.debugLog) this.logSent(c as Connection, seg, reason, plen);
    // Taken after the hooks above: from here to ip.send nothing else may use the device.
    const pkt = this.packet(IPV4_HEADROOM + tcpHeaderLength(seg) + plen);
    if (plen > c.sendMss) {
      // A super-segment (output.ts sends them only when the device offers TSO): the device cuts it
      // into MSS-sized segments and completes each one's checksum.
      serializeTcp(seg, pkt, IPV4_HEADROOM, c.localAddr, c.remoteAddr, true);
      this.counters.tsoSuperSegments++;
      TSO_OPTS.segmentSize = c.sendMss;
      this.ip.send(pkt, c.localAddr, c.remoteAddr, IPPROTO_TCP, TSO_OPTS);
      return;
    }
    serializeTcp(seg, pkt, IPV4_HEADROOM, c.localAddr, c.remoteAddr);
    this.ip.send(pkt, c.localAddr, c.remoteAddr, IPPROTO_TCP, SEND_OPTS);
  }

  /** Dispatch every connection marked dirty; release the ones that reached CLOSED. */
  flush(now: number): void {
    this.busy++;
    try {
      const list = this.dirtyList;
      // dispatching may mark more connections dirty: they are appended and taken in this pass
      for (let i = 0; i < this.dirtyCount; i++) {
        const c = list[i];
        if (c === undefined) continue; // taken already by a pass that threw
        list[i] = undefined;
        c.dispatch(now);
        if (c.stateValue === State.TIME_WAIT) this.enterTimeWait(now, c);
        else if (c.stateValue === State.CLOSED) this.release(c);
        else this.heap.schedule(c, c.pollAt());
      }
      this.dirtyCount = 0;
      this.heap.compact(this.conns.size);
    } finally {
      this.busy--;
    }
  }

  /**
   * The connection's last segment went out in TIME-WAIT: swap it for a small record (time-wait.ts)
   * that answers for the tuple until 2 MSL are over; the connection lets go of everything it held.
   */
  private enterTimeWait(now: number, c: Connection): void {
    this.release(c);
    this.timeWait.add(c.toTimeWaitRecord(now + 2 * this.cfg.mslMs));
  }

  /** The earliest timer deadline, or undefined when none is armed. */
  pollAt(): number | undefined {
    const t = Math.min(this.heap.peek(), this.timeWait.nextExpiry());
    return t === Infinity ? undefined : t;
  }

  /** Mark connections with due timers; flush(now) then runs them. Expired TIME-WAIT records go. */
  poll(now: number): void {
    for (let c = this.heap.popDue(now); c !== undefined; c = this.heap.popDue(now)) this.markDirty(c);
    for (let r = this.timeWait.popExpired(now); r !== undefined; r = this.timeWait.popExpired(now)) this.timeWaitClosed(r);
  }

  private release(c: Connection): void {
    this.conns.delete(c.remoteAddr, c.remotePort, c.localPort, c);
    this.lastReleased = c;
    this.lastRecovery = c.recovery;
    this.heap.schedule(c, Infinity);
    if (c.listenerRef instanceof Listener) c.listenerRef.embryos.delete(c);
  }

  private newConnection(remote: Ipv4Address, localPort: number, remotePort: number, passive: boolean, options?: ConnectionOptions): Connection {
    return new Connection(this, this.address, localPort, remote, remotePort, passive, this.tsOffset(remote, remotePort, localPort), options);
  }

  /** The per-connection offset of our timestamp clock (RFC 7323 §5.4: not guessable across tuples). */
  private tsOffset(remote: Ipv4Address, remotePort: number, localPort: number): number {
    return keyedTupleHash32(this.key, TS_OFFSET_LABEL, remote, remotePort, this.address, localPort);
  }

  // ---------------------------------------------------------------------------------------------
  // TcpEndpointApi

  listen(port: number, backlog: number, onAccept: (conn: TcpConnection) => void, options?: ConnectionOptions): TcpListenerHandle {
    if (port === 0) port = this.pickListenPort();
    if (this.listeners.has(port)) throw new SocketError('EADDRINUSE', `listen EADDRINUSE: address already in use :${port}`, 'listen');
    const l = new Listener(port, backlog, this.synBacklog, onAccept, (x) => {
      if (this.listeners.get(x.port) === x) this.listeners.delete(x.port);
    }, { ...options });
    this.listeners.set(port, l);
    return l;
  }

  connect(remoteAddress: string, remotePort: number, localPort?: number, options?: ConnectionOptions): TcpConnection {
    const remote = parseIpv4Address(remoteAddress);
    let port: number;
    if (localPort !== undefined && localPort !== 0) {
      if (this.conns.has(remote, remotePort, localPort) || this.timeWait.get(remote, remotePort, localPort) !== undefined) {
        throw new SocketError('EADDRINUSE', `connect EADDRINUSE ${remoteAddress}:${remotePort} from :${localPort}`, 'connect');
      }
      port = localPort;
    } else port = this.pickEphemeral(remote, remotePort);
    const now = this.clock.now();
    const c = this.newConnection(remote, port, remotePort, false, options);
    this.conns.set(remote, remotePort, port, c);
    this.counters.activeOpens++;
    this.busy++;
    try {
      c.openActive(now, this.isnFn(now, this.address, port, remote, remotePort));
    } finally {
      this.busy--;
    }
    this.onNeedFlush?.();
    return c;
  }

  /**
   * RFC 6056 §3.3.3 (Algorithm 3, simple hash-based): offset = F(local, remote, secret), then probe
   * from a global counter so that consecutive connections to one peer get different ports.
   */
  private pickEphemeral(remote: Ipv4Address, remotePort: number): number {
    const num = this.portHi - this.portLo + 1;
    const offset = keyedTupleHash32(this.key, PORT_OFFSET_LABEL, this.address, 0, remote, remotePort);
    for (let count = 0; count < num; count++) {
      const port = this.portLo + ((offset + this.nextEphemeral + count) % num);
      if (!this.conns.has(remote, remotePort, port) && this.timeWait.get(remote, remotePort, port) === undefined && !this.listeners.has(port)) {
        this.nextEphemeral += count + 1;
        return port;
      }
    }
    throw new SocketError('EADDRNOTAVAIL', 'connect EADDRNOTAVAIL: no free ephemeral port', 'connect');
  }

  private pickListenPort(): number {
    for (let p = this.portLo; p <= this.portHi; p++) if (!this.listeners.has(p)) return p;
    throw new SocketError('EADDRINUSE', 'listen EADDRINUSE: no free port', 'listen');
  }

  // ---------------------------------------------------------------------------------------------
  // Observability

  /** Like `ss -tan`. */
  connectionTable(): TcpInfo[] {
    const out: TcpInfo[] = [];
    for (const c of this.conns.values()) out.push(c.info());
    for (const r of this.timeWait.values()) out.push(timeWaitInfo(this.address, r));
    return out;
  }

  stats(): TcpStats {
    let halfOpen = 0;
    for (const l of this.listeners.values()) halfOpen += l.embryos.size;
    return {
      ...this.counters,
      timeWaitRecycled: this.timeWait.recycled,
      dropped: { ...this.counters.dropped },
      currentEstablished: this.established,
      connections: this.conns.size,
      halfOpen,
      timeWait: this.timeWait.size,
      listeners: this.listeners.size,
      limits: {
        maxConnections: this.maxConnections,
        synBacklog: this.synBacklog,
        synCookies: this.synCookiesOn,
        maxTimeWait: this.timeWait.max,
        synAckRetries: this.cfg.synAckRetries,
        sendBufferSize: this.cfg.sendBufferSize,
        sendBufferMax: this.cfg.sendBufferMax,
        receiveBufferSize: this.cfg.receiveBufferSize,
        receiveBufferMax: this.cfg.receiveBufferMax,
      },
    };
  }

  /** The connection for a 4-tuple (tests and tools). */
  find(remoteAddress: string | number, remotePort: number, localPort: number): Connection | undefined {
    const r = typeof remoteAddress === 'number' ? remoteAddress : parseIpv4Address(remoteAddress);
    return this.conns.get(r, remotePort, localPort);
  }
}

/** The factory for a controller by name (TcpLayerOptions.cc). */
export function congestionControlFactory(name: CongestionControlName): ConnectionConfig['congestionControl'] {
  switch (name) {
    case 'newreno':
      return (mss) => new NewReno(mss);
    case 'cubic':
      return (mss) => new Cubic(mss);
    default:
      throw new RangeError(`unknown congestion control ${JSON.stringify(name)} (cubic or newreno)`);
  }
}

/** A TIME-WAIT record as a row of the connection table (what `ss -tan` shows of a timewait socket). */
function timeWaitInfo(localAddr: Ipv4Address, r: TimeWaitRecord): TcpInfo {
  const info = blankTcpInfo('TIME-WAIT', formatIpv4Address(localAddr), r.localPort, formatIpv4Address(r.remoteAddr), r.remotePort);
  info.sndUna = info.sndNxt = r.sndNxt;
  info.rcvNxt = r.rcvNxt;
  info.rcvWnd = r.rcvWnd;
  info.timestamps = r.tsOn;
  return info;
}
