/**
 * Two in-process devices joined back to back, for the benchmarks that run a server Stack and a client
 * Stack in one process (scripts/bench/conn-setup.ts, scripts/bench/keepalive.ts): what one end sends
 * waits in the other's queue for that end's next wake-up, and is delivered in batches of up to 64
 * packets, one batch per setImmediate, as the TUN device reads them (src/link/tun-device.ts).
 *
 * Memory as on the TUN path, so that a profile of these benchmarks shows the stack's own costs and
 * not the harness's: a stack builds its packets in the device's reused transmit space
 * (NetDevice.allocPacket, reset once per tick as TunDevice does), and send() copies each one into
 * the peer's current receive chunk, 256 KiB shared by the packets of many batches, which is what
 * the kernel and the addon do between a write(2) on one TUN and a read(2) on another (native/tun.c).
 */
import { emptyDeviceStats, type DeviceStats, type NetDevice, type PacketHandler } from '../../src/link/device.ts';

/** The addon's read chunk (TUN_CHUNK in native/tun.c). */
const RX_CHUNK = 256 * 1024;
/** Transmit space per tick, as TunDevice starts with (it grows; 1 MiB is ample for one Stack here). */
const TX_ARENA = 1024 * 1024;

export class PairDevice implements NetDevice {
  readonly mtu = 1500;
  peer!: PairDevice;
  private receiver: PacketHandler | undefined;
  private readonly queue: Uint8Array[] = [];
  private scheduled = false;
  private readonly counters = emptyDeviceStats();
  private readonly wake = (): void => this.deliver();
  private rxChunk = new Uint8Array(RX_CHUNK);
  private rxUsed = 0;
  private readonly txArena = new Uint8Array(TX_ARENA);
  private txUsed = 0;
  private txResetQueued = false;
  private readonly txReset = (): void => {
    this.txResetQueued = false;
    this.txUsed = 0;
  };
  constructor(readonly name: string) {}
  setReceiver(rx: PacketHandler): void {
    this.receiver = rx;
  }
  /** NetDevice.allocPacket: this tick's transmit space (free again in a microtask, after the sends). */
  allocPacket(length: number): Uint8Array {
    const at = this.txUsed;
    if (at + length > TX_ARENA) return new Uint8Array(length);
    this.txUsed = (at + length + 7) & ~7;
    if (!this.txResetQueued) {
      this.txResetQueued = true;
      queueMicrotask(this.txReset);
    }
    return this.txArena.subarray(at, at + length);
  }
  send(packet: Uint8Array): void {
    this.counters.txPackets++;
    this.counters.txBytes += packet.length;
    this.peer.enqueue(packet);
  }
  /** The packet's bytes, copied into this end's receive chunk (the sender's memory is reused). */
  private enqueue(packet: Uint8Array): void {
    const n = packet.length;
    if (this.rxUsed + n > RX_CHUNK) {
      this.rxChunk = new Uint8Array(RX_CHUNK);
      this.rxUsed = 0;
    }
    const at = this.rxUsed;
    this.rxChunk.set(packet, at);
    this.rxUsed = (at + n + 7) & ~7;
    this.queue.push(this.rxChunk.subarray(at, at + n));
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
    for (let i = 0; i < batch.length; i++) this.counters.rxBytes += batch[i]!.length;
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
