/**
 * Deterministic simulation for TCP tests: two TcpLayers joined by an in-memory "wire" in virtual time
 * (ManualClock), with seeded faults (loss, duplication, reordering by random delay). Every segment on
 * the wire is recorded (parsed) for assertions. Not a test file itself.
 */
import { ManualClock } from '../../src/util/clock.ts';
import { Rng } from '../../src/util/random.ts';
import type { IcmpErrorReport, IpOutput, IpReceiveInfo } from '../../src/ip/types.ts';
import { PathMtuCache } from '../../src/ip/pmtu-cache.ts';
import { IPV4_HEADROOM } from '../../src/ip/types.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { parseTcp, serializeTcp, tcpHeaderLength, type TcpSegment, type TcpSegmentInit } from '../../src/wire/tcp.ts';
import { WireError } from '../../src/util/errors.ts';
import { serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { segmentTcpV4 } from '../../src/link/gso.ts';
import { TcpLayer, type TcpLayerOptions } from '../../src/tcp/tcp-layer.ts';
import type { ConnectionEvents, TcpConnection } from '../../src/tcp/api.ts';
import type { SocketError } from '../../src/util/errors.ts';

export const ADDR_A = '10.0.0.1';
export const ADDR_B = '10.0.0.2';
export const A = parseIpv4Address(ADDR_A);
export const B = parseIpv4Address(ADDR_B);

export interface Faults {
  loss?: number;
  dup?: number;
  /** Also drop segments without data (ACKs, SYNs, FINs) with probability `loss`. */
  lossAll?: boolean;
  /** Extra random delay up to this many ms (reorders segments). */
  jitterMs?: number;
}

export interface WireRecord {
  at: number;
  from: 'a' | 'b';
  seg: TcpSegment;
  dropped: boolean;
}

interface InFlight {
  at: number;
  n: number;
  to: 'a' | 'b';
  src: number;
  dst: number;
  bytes: Uint8Array;
}

export type LayerOpts = Partial<Omit<TcpLayerOptions, 'address' | 'ip' | 'clock'>>;

export class Sim {
  readonly clock = new ManualClock(1000);
  readonly a: TcpLayer;
  readonly b: TcpLayer;
  readonly log: WireRecord[] = [];
  rng: Rng;
  faults: Faults = {};
  delayMs = 1;
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

  constructor(seed = 1, optsA: LayerOpts = {}, optsB: LayerOpts = {}, mtu = 1500) {
    this.rng = new Rng(seed);
    const sim = this;
    this.pmtu = { a: new PathMtuCache(mtu), b: new PathMtuCache(mtu) };
    const mk = (from: 'a' | 'b'): IpOutput => ({
      mtu,
      pathMtu: (dst, now) => this.pmtu[from].get(dst, now),
      learnPathMtu: (dst, nextHop, quoted, now) => this.pmtu[from].learn(dst, nextHop, quoted, now),
      get tsoMaxSize() {
        return sim.tso ? 65535 : 0;
      },
      send: (packet, src, dst, _protocol, opts) => {
        if (opts?.segmentSize !== undefined && opts.segmentSize > 0) this.transmitSuper(from, packet, src, dst, opts.segmentSize);
        else this.transmit(from, packet.subarray(IPV4_HEADROOM), src, dst);
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

  private transmit(from: 'a' | 'b', bytes: Uint8Array, src: number, dst: number): void {
    const now = this.clock.now();
    const parsed = parseTcp(bytes, src, dst);
    if (parsed instanceof WireError) throw parsed; // our own output must always be valid
    const rec: WireRecord = { at: now, from, seg: parsed, dropped: false };
    const f = this.faults;
    const carriesData = parsed.payload.length > 0;
    if ((this.dropIf !== undefined && this.dropIf(rec)) || ((carriesData || f.lossAll === true) && f.loss !== undefined && this.rng.chance(f.loss))) {
      rec.dropped = true;
    }
    if (this.record) this.log.push(rec);
    if (rec.dropped) return;
    const to = from === 'a' ? 'b' : 'a';
    const copies = carriesData && f.dup !== undefined && this.rng.chance(f.dup) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const jitter = f.jitterMs !== undefined && carriesData ? this.rng.next() * f.jitterMs : 0;
      this.queue.push({ at: now + this.delayMs + jitter, n: this.counter++, to, src, dst, bytes });
    }
  }

  /** A TSO super-segment: give it the IPv4 header the IP layer would, cut it, send the pieces. */
  private transmitSuper(from: 'a' | 'b', packet: Uint8Array, src: number, dst: number, segmentSize: number): void {
    if (!this.tso) throw new Error('a super-segment was sent to a link without TSO');
    this.superSegments++;
    serializeIpv4Header({ totalLength: packet.length, identification: 0, dontFragment: true, ttl: 64, protocol: 6, src, dst }, packet, 0);
    const pieces = segmentTcpV4(packet, segmentSize);
    if (pieces.length < 2) throw new Error(`a super-segment of ${packet.length} bytes made ${pieces.length} wire segments`);
    for (const p of pieces) this.transmit(from, p.subarray(IPV4_HEADROOM), src, dst);
  }

  /** Inject a hand-made segment into a layer, as if from `src`. */
  inject(to: 'a' | 'b', src: number, seg: TcpSegmentInit): void {
    const layer = to === 'a' ? this.a : this.b;
    const dst = to === 'a' ? A : B;
    const bytes = new Uint8Array(tcpHeaderLength(seg) + (seg.payload?.length ?? 0));
    serializeTcp(seg, bytes, 0, src, dst);
    this.deliver(to, src, dst, bytes);
    layer.flush(this.clock.now());
  }

  /** Hand a layer an ICMP error (as its IPv4 layer would, ip/icmp.ts), then let it send. */
  icmpError(to: 'a' | 'b', report: IcmpErrorReport): void {
    const layer = to === 'a' ? this.a : this.b;
    layer.receiveError(this.clock.now(), report);
    layer.flush(this.clock.now());
  }

  private deliver(to: 'a' | 'b', src: number, dst: number, bytes: Uint8Array): void {
    const layer = to === 'a' ? this.a : this.b;
    const info: IpReceiveInfo = { src, dst, protocol: 6, ttl: 64, tos: 0, packet: bytes, headerLength: 0 };
    layer.receive(this.clock.now(), info, bytes);
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
      let t = Math.min(this.a.pollAt() ?? Infinity, this.b.pollAt() ?? Infinity);
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
        this.deliver(q.to, q.src, q.dst, q.bytes);
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

