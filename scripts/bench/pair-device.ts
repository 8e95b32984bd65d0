/**
 * Two in-process devices joined back to back, for the benchmarks that run a server Stack and a client
 * Stack in one process (scripts/bench/conn-setup.ts, scripts/bench/keepalive.ts): what one end sends
 * waits in the other's queue for that end's next wake-up, and is delivered in batches of up to 64
 * packets, one batch per setImmediate, as the TUN device reads them (src/link/tun-device.ts).
 */
import { emptyDeviceStats, type DeviceStats, type NetDevice, type PacketHandler } from '../../src/link/device.ts';

export class PairDevice implements NetDevice {
  readonly mtu = 1500;
  peer!: PairDevice;
  private receiver: PacketHandler | undefined;
  private readonly queue: Uint8Array[] = [];
  private scheduled = false;
  private readonly counters = emptyDeviceStats();
  private readonly wake = (): void => this.deliver();
  constructor(readonly name: string) {}
  setReceiver(rx: PacketHandler): void {
    this.receiver = rx;
  }
  send(packet: Uint8Array): void {
    this.counters.txPackets++;
    this.peer.enqueue(packet);
  }
  private enqueue(packet: Uint8Array): void {
    this.queue.push(packet);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.wake);
    }
  }
  private deliver(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0, 64);
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(this.wake);
    }
    this.counters.rxPackets += batch.length;
    this.receiver?.(batch);
  }
  stats(): DeviceStats {
    return { ...this.counters };
  }
  close(): Promise<void> {
    this.receiver = undefined;
    return Promise.resolve();
  }
}

/** A joined pair: what `a` sends reaches `b`, and back. */
export function devicePair(): [PairDevice, PairDevice] {
  const a = new PairDevice('pair0');
  const b = new PairDevice('pair1');
  a.peer = b;
  b.peer = a;
  return [a, b];
}
