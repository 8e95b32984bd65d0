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
 * DESIGN.md rule 7; RFC 9293 §3.10.7.1 (CLOSED), §3.10.7.2 (LISTEN).
 */
import { randomBytes } from 'node:crypto';
import type { IpOutput, IpReceiveInfo, IpSendOptions, TransportHandler } from '../ip/types.ts';
import { IPPROTO_TCP, IPV4_HEADROOM } from '../ip/types.ts';
import type { Clock } from '../util/clock.ts';
import { SocketError, WireError } from '../util/errors.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { formatIpv4Address, parseIpv4Address, type Ipv4Address } from '../wire/ipv4-address.ts';
import { ACK, FIN, RST, SYN, parseTcp, serializeTcp, tcpHeaderLength, type TcpSegment, type TcpSegmentInit } from '../wire/tcp.ts';
import { seqAdd, seqGt } from '../wire/seq.ts';
import type { TcpConnection, TcpEndpointApi, TcpInfo, TcpListenerHandle, TcpStateName } from './api.ts';
import { Connection, type ConnectionConfig, type ConnectionHost } from './connection.ts';
import { countDrop, newCounters, type TcpCounters } from './counters.ts';
import { IsnGenerator, keyedHash32, type IsnFunction } from './isn.ts';
import { Listener } from './listener.ts';
import { STATE_NAMES, State } from './state.ts';
import { TimerHeap } from './timer-heap.ts';
import { TupleMap } from './tuple.ts';
import type { Tcb } from './tcb.ts';

export interface TcpLayerOptions extends Partial<ConnectionConfig> {
  address: string | number;
  ip: IpOutput;
  clock: Clock;
  logger?: Logger;
  /** Secret for ISNs (RFC 6528), ephemeral ports (RFC 6056) and timestamp offsets; random if absent. */
  isnKey?: Uint8Array;
  /** Replace the ISN function entirely (tests: an ISN near 2^32). */
  isn?: IsnFunction;
  /** Half-open connections per listener (SYN queue). Default 256. */
  synBacklog?: number;
  /** Ephemeral port range (RFC 6056 §2.1); default 49152-65535 (the IANA range). */
  ephemeralPortRange?: [number, number];
  /** RFC 5961 §7 challenge ACKs per second for the whole layer (Linux's old default: 1000). */
  challengeAckLimit?: number;
  /** Verify checksums of incoming segments (default true). */
  verifyChecksum?: boolean;
}

export interface TcpStateChange {
  local: string;
  remote: string;
  from: TcpStateName;
  to: TcpStateName;
}

export interface TcpStats extends TcpCounters {
  currentEstablished: number;
  connections: number;
  listeners: number;
}

const SEND_OPTS: IpSendOptions = Object.freeze({ dontFragment: true });

export class TcpLayer implements TransportHandler, TcpEndpointApi, ConnectionHost {
  readonly cfg: ConnectionConfig;
  readonly counters: TcpCounters = newCounters();
  readonly address: Ipv4Address;
  /** Called when a connection has something to send outside packet processing (socket calls). */
  onNeedFlush: (() => void) | undefined;
  /** Observer of state transitions (zero cost when unset). */
  onStateChange: ((info: TcpStateChange) => void) | undefined;

  private readonly ip: IpOutput;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly conns = new TupleMap<Connection>();
  private readonly listeners = new Map<number, Listener>();
  private readonly heap = new TimerHeap<Connection>();
  private dirtyList: Connection[] = [];
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
  /** parseTcp's options, made once (not an object per received segment). */
  private readonly parseOpts: { readonly verifyChecksum: boolean };
  private established = 0;

  constructor(opts: TcpLayerOptions) {
    this.address = typeof opts.address === 'number' ? opts.address >>> 0 : parseIpv4Address(opts.address);
    this.ip = opts.ip;
    this.clock = opts.clock;
    this.logger = opts.logger ?? silentLogger();
    this.cfg = {
      mslMs: opts.mslMs ?? 30_000,
      minRtoMs: opts.minRtoMs ?? 200,
      maxRtoMs: opts.maxRtoMs ?? 120_000,
      initialRtoMs: opts.initialRtoMs ?? 1000,
      // 1 MiB: room for 16 TSO super-segments in flight (downloads measured ~20% faster than with
      // 256 KiB); a limit, not an allocation (written chunks are kept by reference). Linux autotunes
      // its send buffer up to 4 MiB (tcp_wmem).
      sendBufferSize: opts.sendBufferSize ?? 1024 * 1024,
      receiveBufferSize: opts.receiveBufferSize ?? 256 * 1024,
      synRetries: opts.synRetries ?? 6,
      maxRetries: opts.maxRetries ?? 15,
      keepAliveIntervalMs: opts.keepAliveIntervalMs ?? 75_000,
      keepAliveProbes: opts.keepAliveProbes ?? 9,
      finWait2TimeoutMs: opts.finWait2TimeoutMs ?? 60_000,
      timestamps: opts.timestamps ?? true,
      windowScaling: opts.windowScaling ?? true,
      sack: opts.sack ?? true,
      tso: opts.tso ?? true,
    };
    this.key = opts.isnKey ?? randomBytes(16);
    const gen = new IsnGenerator(this.key);
    this.isnFn = opts.isn ?? ((now, la, lp, ra, rp) => gen.isn(now, la, lp, ra, rp));
    this.synBacklog = opts.synBacklog ?? 256;
    [this.portLo, this.portHi] = opts.ephemeralPortRange ?? [49152, 65535];
    this.challengeLimit = opts.challengeAckLimit ?? 1000;
    this.parseOpts = Object.freeze({ verifyChecksum: opts.verifyChecksum ?? true });
  }

  get mtu(): number {
    return this.ip.mtu;
  }

  get tsoMaxSize(): number {
    return this.cfg.tso ? (this.ip.tsoMaxSize ?? 0) : 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound

  receive(now: number, ip: IpReceiveInfo, payload: Uint8Array): void {
    this.counters.segmentsIn++;
    if (ip.dst !== this.address) {
      countDrop(this.counters, 'not-our-address');
      return;
    }
    const seg = parseTcp(payload, ip.src, ip.dst, this.parseOpts);
    if (seg instanceof WireError) {
      this.counters.badSegments++;
      countDrop(this.counters, seg.code);
      if (this.logger.isLevelEnabled('debug')) this.logger.debug({ code: seg.code }, 'tcp: bad segment dropped');
      return;
    }
    this.busy++;
    try {
      this.demux(now, ip.src, seg);
    } finally {
      this.busy--;
    }
  }

  private demux(now: number, src: Ipv4Address, seg: TcpSegment): void {
    const conn = this.conns.get(src, seg.srcPort, seg.dstPort);
    if (conn !== undefined) {
      // RFC 1122 §4.2.2.13: a new SYN for a TIME-WAIT connection with a sequence number beyond
      // RCV.NXT may reopen it (the old incarnation's duplicates cannot be confused with it).
      if (
        conn.stateValue === State.TIME_WAIT &&
        (seg.flags & (SYN | ACK | RST | FIN)) === SYN &&
        seqGt(seg.seq, conn.rcv.rcvNxt) &&
        this.listeners.has(seg.dstPort)
      ) {
        this.release(conn);
      } else {
        conn.process(now, seg);
        this.markDirty(conn);
        return;
      }
    }
    const listener = this.listeners.get(seg.dstPort);
    if (listener !== undefined) this.listen_(now, src, seg, listener);
    else this.closedReply(now, src, seg);
  }

  /** RFC 9293 §3.10.7.2: a segment for a listening port. */
  private listen_(now: number, src: Ipv4Address, seg: TcpSegment, l: Listener): void {
    const f = seg.flags;
    if (f & RST) return; // first: an incoming RST is ignored
    if (f & ACK) {
      // second: any ACK is bad: <SEQ=SEG.ACK><CTL=RST>
      this.resetRaw(now, src, seg.dstPort, seg.srcPort, seg.ack, 0, false);
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
    if (l.synQueueFull && !this.recycleOldestEmbryo(l)) {
      this.counters.synQueueDrops++;
      countDrop(this.counters, 'syn-queue-full');
      return;
    }
    const c = this.newConnection(src, seg.dstPort, seg.srcPort, true);
    c.listenerRef = l;
    l.embryos.add(c);
    this.conns.set(src, seg.srcPort, seg.dstPort, c);
    this.counters.passiveOpens++;
    c.openPassive(now, seg, this.isnFn(now, this.address, seg.dstPort, src, seg.srcPort));
  }

  /**
   * A full SYN queue. Spoofed SYNs whose sources never answer keep embryos for minutes (synRetries
   * SYN-ACKs with backoff), so even a slow flood would refuse every real client from then on.
   * RFC 4987 §3.4: recycle the oldest half-open connection. Only one whose SYN-ACK has already gone
   * unanswered for a whole RTO is taken (a young one may be a real handshake in progress); it is
   * reset (RFC 9293 §3.10.5 ABORT in SYN-RECEIVED). Embryos are kept in arrival order, so if the
   * first one is still young, all are.
   */
  private recycleOldestEmbryo(l: Listener): boolean {
    const oldest = l.embryos.values().next().value;
    if (!(oldest instanceof Connection) || oldest.retransmits === 0) return false;
    countDrop(this.counters, 'syn-queue-recycled');
    oldest.abort(); // leaves SYN-RECEIVED now (out of the queue); the flush sends its RST and releases it
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
    if (f & ACK) {
      this.resetRaw(now, src, seg.dstPort, seg.srcPort, seg.ack, 0, false);
    } else {
      const len = seg.payload.length + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0);
      this.resetRaw(now, src, seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, len), true);
    }
  }

  private resetRaw(now: number, remote: Ipv4Address, localPort: number, remotePort: number, seq: number, ack: number, withAck: boolean): void {
    void now;
    const seg: TcpSegmentInit = {
      srcPort: localPort,
      dstPort: remotePort,
      seq,
      ack,
      flags: withAck ? RST | ACK : RST,
      window: 0,
    };
    const pkt = new Uint8Array(IPV4_HEADROOM + 20);
    serializeTcp(seg, pkt, IPV4_HEADROOM, this.address, remote);
    this.counters.resetsSent++;
    this.counters.segmentsOut++;
    this.ip.send(pkt, this.address, remote, IPPROTO_TCP, SEND_OPTS);
  }

  // ---------------------------------------------------------------------------------------------
  // ConnectionHost

  sendReset(now: number, c: Connection, seq: number, ack: number, withAck: boolean): void {
    this.resetRaw(now, c.remoteAddr, c.localPort, c.remotePort, seq, ack, withAck);
  }

  markDirty(c: Connection): void {
    if (c.dirty) return;
    c.dirty = true;
    this.dirtyList.push(c);
    if (this.busy === 0 && this.dirtyList.length === 1) this.onNeedFlush?.();
  }

  stateChanged(c: Connection, from: State, to: State): void {
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
      });
    }
  }

  passiveEstablished(c: Connection): void {
    const l = c.listenerRef;
    if (!(l instanceof Listener) || l.closed) {
      c.abort();
      return;
    }
    l.accept(c);
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
  output(c: Tcb, seg: TcpSegmentInit): void {
    const plen = seg.payload === undefined ? 0 : seg.payload.length;
    const pkt = new Uint8Array(IPV4_HEADROOM + tcpHeaderLength(seg) + plen);
    this.counters.segmentsOut++;
    if (plen > c.sndMss) {
      // A super-segment (output.ts sends them only when the device offers TSO): the device cuts it
      // into MSS-sized segments and completes each one's checksum.
      serializeTcp(seg, pkt, IPV4_HEADROOM, c.localAddr, c.remoteAddr, true);
      this.counters.tsoSuperSegments++;
      this.ip.send(pkt, c.localAddr, c.remoteAddr, IPPROTO_TCP, { dontFragment: true, segmentSize: c.sndMss });
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
      for (let i = 0; i < list.length; i++) {
        const c = list[i]!;
        c.dispatch(now);
        if (c.stateValue === State.CLOSED) this.release(c);
        else this.heap.schedule(c, c.pollAt());
      }
      list.length = 0;
      this.heap.compact(this.conns.size);
    } finally {
      this.busy--;
    }
  }

  /** The earliest timer deadline, or undefined when none is armed. */
  pollAt(): number | undefined {
    const t = this.heap.peek();
    return t === Infinity ? undefined : t;
  }

  /** Mark connections with due timers; flush(now) then runs them. */
  poll(now: number): void {
    for (let c = this.heap.popDue(now); c !== undefined; c = this.heap.popDue(now)) this.markDirty(c);
  }

  private release(c: Connection): void {
    this.conns.delete(c.remoteAddr, c.remotePort, c.localPort, c);
    this.heap.schedule(c, Infinity);
    if (c.listenerRef instanceof Listener) c.listenerRef.embryos.delete(c);
  }

  private newConnection(remote: Ipv4Address, localPort: number, remotePort: number, passive: boolean): Connection {
    const tsOffset = keyedHash32(this.key, `ts:${remote}:${remotePort}:${localPort}`);
    return new Connection(this, this.address, localPort, remote, remotePort, passive, tsOffset);
  }

  // ---------------------------------------------------------------------------------------------
  // TcpEndpointApi

  listen(port: number, backlog: number, onAccept: (conn: TcpConnection) => void): TcpListenerHandle {
    if (port === 0) port = this.pickListenPort();
    if (this.listeners.has(port)) throw new SocketError('EADDRINUSE', `listen EADDRINUSE: address already in use :${port}`, 'listen');
    const l = new Listener(port, Math.max(1, backlog), this.synBacklog, onAccept, (x) => {
      if (this.listeners.get(x.port) === x) this.listeners.delete(x.port);
    });
    this.listeners.set(port, l);
    return l;
  }

  connect(remoteAddress: string, remotePort: number, localPort?: number): TcpConnection {
    const remote = parseIpv4Address(remoteAddress);
    let port: number;
    if (localPort !== undefined && localPort !== 0) {
      if (this.conns.has(remote, remotePort, localPort)) {
        throw new SocketError('EADDRINUSE', `connect EADDRINUSE ${remoteAddress}:${remotePort} from :${localPort}`, 'connect');
      }
      port = localPort;
    } else port = this.pickEphemeral(remote, remotePort);
    const now = this.clock.now();
    const c = this.newConnection(remote, port, remotePort, false);
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
    const offset = keyedHash32(this.key, `port:${this.address}:${remote}:${remotePort}`);
    for (let count = 0; count < num; count++) {
      const port = this.portLo + ((offset + this.nextEphemeral + count) % num);
      if (!this.conns.has(remote, remotePort, port) && !this.listeners.has(port)) {
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
    return out;
  }

  stats(): TcpStats {
    return {
      ...this.counters,
      dropped: { ...this.counters.dropped },
      currentEstablished: this.established,
      connections: this.conns.size,
      listeners: this.listeners.size,
    };
  }

  /** The connection for a 4-tuple (tests and tools). */
  find(remoteAddress: string | number, remotePort: number, localPort: number): Connection | undefined {
    const r = typeof remoteAddress === 'number' ? remoteAddress : parseIpv4Address(remoteAddress);
    return this.conns.get(r, remotePort, localPort);
  }
}
