/**
 * An in-memory point-to-point link: two NetDevices joined back to back, for simulation tests. What one
 * end sends, the other end receives `latencyMs` later, by the injected Clock (with a ManualClock the
 * whole exchange runs in virtual time and is exactly reproducible).
 *
 * - Packets due at the same instant are handed to the receiver as one batch, in send order, the way
 *   the TUN device hands over what one wake-up read.
 * - With `bandwidthBytesPerMs` each end also has a serialization delay: a packet occupies the wire
 *   for length / bandwidth ms and packets queue behind each other (a FIFO transmitter).
 * - Packets larger than the MTU are dropped and counted (txDropped), as a real link would refuse them.
 * - With `tso` each end offers TCP segmentation offload (tsoMaxSize 65535) and cuts the
 *   super-segments it is given into MTU-sized segments in software (link/gso.ts), as the kernel does
 *   for the TUN device: the peer receives ordinary segments.
 * - Copy-free: the buffer passed to send() is the one the peer receives (NetDevice contract: the sender
 *   gives it up, the receiver owns it).
 */
import type { Clock, TimerHandle } from '../util/clock.ts';
import { segmentTcpV4 } from './gso.ts';
import { emptyDeviceStats, type DeviceStats, type NetDevice, type PacketHandler } from './device.ts';

export interface MemoryLinkOptions {
  /** One-way delay, in ms (default 1). */
  latencyMs?: number;
  /** Largest packet either end accepts, in bytes (default 1500). */
  mtu?: number;
  /** Serialization rate per end, in bytes per ms (1 Gbit/s = 125_000). Unset: infinitely fast. */
  bandwidthBytesPerMs?: number;
  /** Device names (default ['mem0', 'mem1']). */
  names?: [string, string];
  /** Offer TCP segmentation offload (default false). */
  tso?: boolean;
}

interface Batch {
  at: number;
  packets: Uint8Array[];
  timer?: TimerHandle;
}

export class MemoryDevice implements NetDevice {
  readonly name: string;
  readonly mtu: number;
  readonly tsoMaxSize: number;
  private peer: MemoryDevice | undefined;
  private receiver: PacketHandler | undefined;
  private closed = false;
  private readonly counters: DeviceStats = emptyDeviceStats();
  /** Batches in flight towards the peer, in delivery order (delivery times never decrease). */
  private readonly inFlight: Batch[] = [];
  /** When this end's transmitter is free again (serialization delay). */
  private txFreeAt = -Infinity;

  constructor(
    name: string,
    mtu: number,
    private readonly clock: Clock,
    private readonly latencyMs: number,
    private readonly bandwidthBytesPerMs: number | undefined,
    tso = false,
  ) {
    this.name = name;
    this.mtu = mtu;
    this.tsoMaxSize = tso ? 65535 : 0;
  }

  /** @internal Joins the two ends; called once by createMemoryLink. */
  connect(peer: MemoryDevice): void {
    this.peer = peer;
  }

  setReceiver(rx: PacketHandler): void {
    this.receiver = rx;
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    if (segmentSize !== undefined && segmentSize > 0 && this.tsoMaxSize > 0 && packet.length <= this.tsoMaxSize) {
      const segments = segmentTcpV4(packet, segmentSize);
      if (segments.length === 0) this.counters.txDropped++;
      for (const s of segments) this.send(s);
      return;
    }
    if (this.closed || packet.length > this.mtu) {
      this.counters.txDropped++;
      return;
    }
    this.counters.txPackets++;
    this.counters.txBytes += packet.length;
    const now = this.clock.now();
    let departAt = now;
    if (this.bandwidthBytesPerMs !== undefined) {
      departAt = Math.max(now, this.txFreeAt) + packet.length / this.bandwidthBytesPerMs;
      this.txFreeAt = departAt;
    }
    const at = departAt + this.latencyMs;
    const last = this.inFlight[this.inFlight.length - 1];
    if (last !== undefined && last.at === at) {
      last.packets.push(packet);
      return;
    }
    const batch: Batch = { at, packets: [packet] };
    batch.timer = this.clock.setTimer(at, () => this.deliverNext());
    this.inFlight.push(batch);
  }

  /** Packets sent by this end that the peer has not received yet. */
  get packetsInFlight(): number {
    let n = 0;
    for (const b of this.inFlight) n += b.packets.length;
    return n;
  }

  stats(): DeviceStats {
    return { ...this.counters };
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const b of this.inFlight) b.timer?.cancel();
      this.inFlight.length = 0;
      this.receiver = undefined;
    }
    return Promise.resolve();
  }

  private deliverNext(): void {
    const batch = this.inFlight.shift();
    if (batch === undefined || this.peer === undefined) return;
    this.peer.receive(batch.packets);
  }

  private receive(packets: Uint8Array[]): void {
    const rx = this.receiver;
    if (this.closed || rx === undefined) {
      this.counters.rxDropped += packets.length;
      return;
    }
    this.counters.rxPackets += packets.length;
    for (const p of packets) this.counters.rxBytes += p.length;
    rx(packets);
  }
}

/** Two devices joined by a simulated wire. */
export function createMemoryLink(clock: Clock, opts: MemoryLinkOptions = {}): [MemoryDevice, MemoryDevice] {
  const latency = opts.latencyMs ?? 1;
  const mtu = opts.mtu ?? 1500;
  if (!(latency >= 0)) throw new RangeError(`latencyMs must be >= 0, got ${latency}`);
  // RFC 791 §3.1 (Total Length): every internet module must be able to forward a datagram of 68 octets.
  if (!Number.isInteger(mtu) || mtu < 68) throw new RangeError(`mtu must be an integer >= 68, got ${mtu}`);
  const bw = opts.bandwidthBytesPerMs;
  if (bw !== undefined && !(bw > 0)) throw new RangeError(`bandwidthBytesPerMs must be > 0, got ${bw}`);
  const [n0, n1] = opts.names ?? ['mem0', 'mem1'];
  const a = new MemoryDevice(n0, mtu, clock, latency, bw, opts.tso);
  const b = new MemoryDevice(n1, mtu, clock, latency, bw, opts.tso);
  a.connect(b);
  b.connect(a);
  return [a, b];
}
