/**
 * Deterministic simulation for TCP tests: two TcpLayers joined by an in-memory "wire" in virtual time
 * (ManualClock). The wire carries IPv4 datagrams: each direction goes through a FaultPath
 * (src/link/fault-path.ts, the faults of FaultDevice and `--impair`: loss, corruption, duplication,
 * delay and jitter, reordering), seeded from the simulation's seed, then a fixed propagation delay.
 * Every segment sent is recorded (parsed) for assertions, with whether the wire dropped it. Not a
 * test file itself.
 */
import { ManualClock } from '../../src/util/clock.ts';
import type { IcmpErrorReport, IpOutput, IpReceiveInfo } from '../../src/ip/types.ts';
import { PathMtuCache } from '../../src/ip/pmtu-cache.ts';
import { IPV4_HEADROOM } from '../../src/ip/types.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { parseTcp, serializeTcp, tcpHeaderLength, type TcpSegment, type TcpSegmentInit } from '../../src/wire/tcp.ts';
import { WireError } from '../../src/util/errors.ts';
import { parseIpv4, serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { segmentTcpV4 } from '../../src/link/gso.ts';
import { FaultPath, faultRng, type FaultCounters, type FaultRates } from '../../src/link/fault-path.ts';
import { TcpLayer, type TcpLayerOptions } from '../../src/tcp/tcp-layer.ts';
import type { ConnectionEvents, TcpConnection } from '../../src/tcp/api.ts';
import type { SocketError } from '../../src/util/errors.ts';

export const ADDR_A = '10.0.0.1';
export const ADDR_B = '10.0.0.2';
export const A = parseIpv4Address(ADDR_A);
export const B = parseIpv4Address(ADDR_B);

/**
 * The wire's faults, the same in both directions (each direction draws from its own stream). The
 * delay and jitter are on top of Sim.delayMs: `delayMs: 2.5, jitterMs: 2.5` adds U(0, 5) ms.
 */
export interface Faults extends FaultRates {
  /**
   * Which segments face them: 'data' (the default) those that carry data, while pure ACKs, SYNs and
   * FINs without data cross clean (only the propagation delay); 'all' every segment.
   */
  apply?: 'data' | 'all';
}

export interface WireRecord {
  at: number;
  from: 'a' | 'b';
  seg: TcpSegment;
  dropped: boolean;
}

/** An IPv4 datagram propagating on the wire, due at `at` (ties in the order they were put on it). */
interface InFlight {
  at: number;
  n: number;
  to: 'a' | 'b';
  datagram: Uint8Array;
}

export type LayerOpts = Partial<Omit<TcpLayerOptions, 'address' | 'ip' | 'clock'>>;

export class Sim {
  readonly clock = new ManualClock(1000);
  readonly a: TcpLayer;
  readonly b: TcpLayer;
  readonly log: WireRecord[] = [];
  /** The propagation delay of the wire, every segment, both directions (ms). */
  delayMs = 1;
  /** Datagrams the receiving side dropped because the wire corrupted their IPv4 header (RFC 791 checksum). */
  ipv4Corrupted = 0;
  /** Drop hook for targeted tests: return true to drop. */
  dropIf: ((r: WireRecord) => boolean) | undefined;
  record = true;
  /**
   * Offer segmentation offload to both layers (tsoMaxSize 65535): super-segments are cut into wire
   * segments by link/gso.ts, as the kernel cuts them below the TUN device.
   */
  tso = false;
  /** Super-segments handed to the wire, and the largest wire segment one was cut into. */
  superSegments = 0;
  /** Each side's path MTU cache (RFC 1191), as its IPv4 layer would keep it. */
  readonly pmtu: { a: PathMtuCache; b: PathMtuCache };
  private queue: InFlight[] = [];
  private counter = 0;
  private needFlush = false;
  private _faults: Faults = {};
  /** Each direction's faults, named by the sender: 'a' is a -> b. */
  private paths: { a: FaultPath; b: FaultPath };

  constructor(
    private readonly seed = 1,
    optsA: LayerOpts = {},
    optsB: LayerOpts = {},
    mtu = 1500,
  ) {
    const sim = this;
    this.paths = this.makePaths({});
    this.pmtu = { a: new PathMtuCache(mtu), b: new PathMtuCache(mtu) };
    const mk = (from: 'a' | 'b'): IpOutput => ({
      mtu,
      pathMtu: (dst, now) => this.pmtu[from].get(dst, now),
      learnPathMtu: (dst, nextHop, quoted, now) => this.pmtu[from].learn(dst, nextHop, quoted, now),
      get tsoMaxSize() {
        return sim.tso ? 65535 : 0;
      },
      send: (packet, src, dst, _protocol, opts) => {
        // The IPv4 header the IP layer would write (no options: the headroom is the minimum header).
        serializeIpv4Header({ totalLength: packet.length, identification: 0, dontFragment: true, ttl: 64, protocol: 6, src, dst }, packet, 0);
        if (opts?.segmentSize !== undefined && opts.segmentSize > 0) this.transmitSuper(from, packet, opts.segmentSize);
        else this.transmit(from, packet);
      },
    });
    const key = (n: number) => Uint8Array.from({ length: 16 }, (_, i) => (i * 7 + n) & 0xff);
    this.a = new TcpLayer({ isnKey: key(1), ...optsA, address: ADDR_A, ip: mk('a'), clock: this.clock });
    this.b = new TcpLayer({ isnKey: key(2), ...optsB, address: ADDR_B, ip: mk('b'), clock: this.clock });
    this.a.onNeedFlush = () => (this.needFlush = true);
    this.b.onNeedFlush = () => (this.needFlush = true);
  }

  get now(): number {
    return this.clock.now();
  }

  get faults(): Faults {
    return this._faults;
  }

  /** Set the wire's faults (before traffic: datagrams the old faults still hold back are lost). */
  set faults(f: Faults) {
    this.paths.a.close();
    this.paths.b.close();
    this._faults = f;
    this.paths = this.makePaths(f);
  }

  /** What the faults did to each side's segments (since they were last set). */
  faultStats(): { a: FaultCounters; b: FaultCounters } {
    return { a: { ...this.paths.a.counters }, b: { ...this.paths.b.counters } };
  }

  private makePaths(f: Faults): { a: FaultPath; b: FaultPath } {
    const rates: FaultRates = { ...f };
    const path = (from: 'a' | 'b'): FaultPath =>
      new FaultPath(rates, faultRng(this.seed, from === 'a' ? 'out' : 'in'), this.clock, (datagrams) => {
        for (const d of datagrams) this.propagate(from === 'a' ? 'b' : 'a', d);
      });
    return { a: path('a'), b: path('b') };
  }

  /** A datagram one side sent (its IPv4 header written): record it, then through the faults onto the wire. */
  private transmit(from: 'a' | 'b', datagram: Uint8Array): void {
    const ip = parseIpv4(datagram);
    if (ip instanceof WireError) throw ip; // our own output must always be valid
    const parsed = parseTcp(ip.payload, ip.src, ip.dst);
    if (parsed instanceof WireError) throw parsed;
    const rec: WireRecord = { at: this.clock.now(), from, seg: parsed, dropped: false };
    if (this.record) this.log.push(rec);
    if (this.dropIf !== undefined && this.dropIf(rec)) {
      rec.dropped = true;
      return;
    }
    if (this._faults.apply !== 'all' && parsed.payload.length === 0) {
      this.propagate(from === 'a' ? 'b' : 'a', datagram);
      return;
    }
    // The fault path counts what it drops (lost, or tail-dropped by a rate limit): that is the record's mark.
    const c = this.paths[from].counters;
    const droppedBefore = c.lost + c.queueDropped;
    this.paths[from].process([datagram]);
    rec.dropped = c.lost + c.queueDropped > droppedBefore;
  }

  /** On the wire: the datagram reaches `to` after the propagation delay. */
  private propagate(to: 'a' | 'b', datagram: Uint8Array): void {
    this.queue.push({ at: this.clock.now() + this.delayMs, n: this.counter++, to, datagram });
  }

  /** A TSO super-segment: cut it as the device below would (link/gso.ts), send the pieces. */
  private transmitSuper(from: 'a' | 'b', packet: Uint8Array, segmentSize: number): void {
    if (!this.tso) throw new Error('a super-segment was sent to a link without TSO');
    this.superSegments++;
    const pieces = segmentTcpV4(packet, segmentSize);
    if (pieces.length < 2) throw new Error(`a super-segment of ${packet.length} bytes made ${pieces.length} wire segments`);
    for (const p of pieces) this.transmit(from, p);
  }

  /** Inject a hand-made segment into a layer, as if from `src` (past the wire and its faults). */
  inject(to: 'a' | 'b', src: number, seg: TcpSegmentInit): void {
    this.injectBatch(to, src, [seg]);
  }

  /**
   * Inject hand-made segments into a layer as one device read: all are processed, then the layer
   * sends once (as Stack.onPackets does with a batch the TUN device returned).
   */
  injectBatch(to: 'a' | 'b', src: number, segs: readonly TcpSegmentInit[]): void {
    const layer = to === 'a' ? this.a : this.b;
    const dst = to === 'a' ? A : B;
    for (const seg of segs) {
      const datagram = new Uint8Array(IPV4_HEADROOM + tcpHeaderLength(seg) + (seg.payload?.length ?? 0));
      serializeTcp(seg, datagram, IPV4_HEADROOM, src, dst);
      serializeIpv4Header({ totalLength: datagram.length, identification: 0, dontFragment: true, ttl: 64, protocol: 6, src, dst }, datagram, 0);
      this.deliver(to, datagram);
    }
    layer.flush(this.clock.now());
  }

  /** Hand a layer an ICMP error (as its IPv4 layer would, ip/icmp.ts), then let it send. */
  icmpError(to: 'a' | 'b', report: IcmpErrorReport): void {
    const layer = to === 'a' ? this.a : this.b;
    layer.receiveError(this.clock.now(), report);
    layer.flush(this.clock.now());
  }

  /** A datagram arrives: the IPv4 checks its receiver would make, then TCP (which checks its own sum). */
  private deliver(to: 'a' | 'b', datagram: Uint8Array): void {
    const layer = to === 'a' ? this.a : this.b;
    const ip = parseIpv4(datagram);
    if (ip instanceof WireError) {
      this.ipv4Corrupted++; // only the wire's corruption makes a datagram of ours invalid
      return;
    }
    const info: IpReceiveInfo = { src: ip.src, dst: ip.dst, protocol: ip.protocol, ttl: ip.ttl, tos: (ip.dscp << 2) | ip.ecn, packet: datagram, headerLength: ip.headerLength };
    layer.receive(this.clock.now(), info, ip.payload);
  }

  flush(): void {
    this.needFlush = false;
    const now = this.clock.now();
    this.a.flush(now);
    this.b.flush(now);
  }

  /** Run the world until `until` (absolute ms) or until `stop()` is true. Bounded in steps. */
  runUntil(until: number, stop?: () => boolean): void {
    for (let steps = 0; steps < 5_000_000; steps++) {
      if (this.needFlush) this.flush();
      if (stop?.()) return;
      // The wire's faults release what they hold back (delayed, reordered) on timers of the clock:
      // those go first, as they only put datagrams on the wire, due later.
      const faultAt = this.clock.nextTimerAt() ?? Infinity;
      let t = Math.min(this.a.pollAt() ?? Infinity, this.b.pollAt() ?? Infinity);
      if (faultAt <= t && faultAt <= until && this.queue.every((q) => q.at >= faultAt)) {
        this.clock.runUntil(Math.max(this.clock.now(), faultAt));
        continue;
      }
      let qi = -1;
      for (let i = 0; i < this.queue.length; i++) {
        const q = this.queue[i]!;
        if (q.at < t || (qi >= 0 && q.at === t && q.n < this.queue[qi]!.n)) {
          t = q.at;
          qi = i;
        }
      }
      if (t > until || t === Infinity) {
        this.clock.runUntil(Math.max(this.clock.now(), until === Infinity ? this.clock.now() : until));
        return;
      }
      this.clock.runUntil(Math.max(this.clock.now(), t));
      const now = this.clock.now();
      if (qi >= 0) {
        const q = this.queue.splice(qi, 1)[0]!;
        this.deliver(q.to, q.datagram);
        this.flush();
      } else {
        this.a.poll(now);
        this.b.poll(now);
        this.flush();
      }
    }
    throw new Error('simulation step bound reached');
  }

  run(ms: number, stop?: () => boolean): void {
    this.runUntil(this.clock.now() + ms, stop);
  }

  /** Segments sent by one side (optionally only those that were not dropped). */
  sent(from: 'a' | 'b'): TcpSegment[] {
    return this.log.filter((r) => r.from === from).map((r) => r.seg);
  }

  clearLog(): void {
    this.log.length = 0;
  }
}

/** An owner for a connection that records everything and consumes data at once (or not). */
export class Owner implements ConnectionEvents {
  established = false;
  chunks: Uint8Array[] = [];
  received = 0;
  peerFin = false;
  closed = false;
  error: SocketError | undefined;
  writable = 0;
  autoConsume = true;
  /** Data to send, pushed as the send buffer accepts it. */
  private outgoing: Uint8Array | undefined;
  private outOffset = 0;
  private endAfter = false;

  constructor(readonly conn: TcpConnection, keepChunks = true) {
    this.keepChunks = keepChunks;
    conn.setEvents(this);
  }

  private readonly keepChunks: boolean;

  onEstablished(): void {
    this.established = true;
    this.pump();
  }
  onData(data: Uint8Array): void {
    if (this.keepChunks) this.chunks.push(data);
    this.received += data.length;
    if (this.autoConsume) this.conn.consumed(data.length);
  }
  onPeerFin(): void {
    this.peerFin = true;
  }
  onWritable(): void {
    this.writable++;
    this.pump();
  }
  onClosed(error?: SocketError): void {
    this.closed = true;
    this.error = error;
  }

  /** Send `data` fully (as the send buffer allows, resuming on onWritable), then shutdown if asked. */
  sendAll(data: Uint8Array, end = false): void {
    this.outgoing = data;
    this.outOffset = 0;
    this.endAfter = end;
    this.pump();
  }

  private pump(): void {
    if (this.outgoing === undefined) return;
    while (this.outOffset < this.outgoing.length) {
      const n = this.conn.write(this.outgoing.subarray(this.outOffset));
      if (n === 0) return;
      this.outOffset += n;
    }
    this.outgoing = undefined;
    if (this.endAfter) this.conn.shutdown();
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Listen on b:port, connect from a; returns both owners once established (or not). */
export function openPair(sim: Sim, port = 80): { client: Owner; server: () => Owner | undefined; serverOwners: Owner[] } {
  const serverOwners: Owner[] = [];
  sim.b.listen(port, 16, (conn) => serverOwners.push(new Owner(conn)));
  const client = new Owner(sim.a.connect(ADDR_B, port));
  return { client, server: () => serverOwners[0], serverOwners };
}

