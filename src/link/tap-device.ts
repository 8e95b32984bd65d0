/**
 * An observer wrapper: calls `observer(dir, packet, now)` for every packet received ('in') and sent
 * ('out'), then passes it on unchanged. The stack installs it only when a tracer is attached, so the
 * untraced path pays nothing (docs/design.md rule 10).
 */
import type { Clock } from '../util/clock.ts';
import type { PacketObserver } from '../trace/events.ts';
import type { DeviceStats, NetDevice, PacketHandler } from './device.ts';

export class TapDevice implements NetDevice {
  readonly name: string;
  readonly mtu: number;
  readonly tsoMaxSize: number;
  /** The inner device's, when it has one: an observer keeps nothing past its call (NetDevice.allocPacket). */
  readonly allocPacket?: (length: number) => Uint8Array;
  private receiver: PacketHandler | undefined;

  constructor(
    private readonly inner: NetDevice,
    private readonly observer: PacketObserver,
    private readonly clock: Clock,
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    this.tsoMaxSize = inner.tsoMaxSize ?? 0;
    if (inner.allocPacket !== undefined) this.allocPacket = inner.allocPacket.bind(inner);
    inner.setReceiver((packets, offload) => {
      const now = this.clock.now();
      for (const p of packets) this.observer('in', p, now);
      this.receiver?.(packets, offload);
    });
  }

  setReceiver(rx: PacketHandler): void {
    this.receiver = rx;
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    this.observer('out', packet, this.clock.now());
    this.inner.send(packet, segmentSize);
  }

  stats(): DeviceStats {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
