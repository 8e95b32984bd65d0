/**
 * A capture wrapper: every packet the inner device receives and every packet sent through it is
 * recorded in a pcap file (LINKTYPE_RAW), so `tcpdump -r` / Wireshark show exactly what the stack saw.
 * Stack it outermost to record what the stack sent and received, or under a FaultDevice to record
 * what really crossed the link:  new PcapDevice(new FaultDevice(tun, opts), writer).
 *
 * A TCP super-segment sent to a device with TSO is recorded as the stack handed it over (one
 * datagram larger than the MTU, as tcpdump shows on a Linux host with TSO), but with its TCP checksum
 * completed, so that the capture checks clean. The same holds for what a device with receive
 * offload hands us (RxOffload): a kernel super-segment is recorded whole, as tcpdump on the TUN
 * device shows it, and every partial checksum (RX_CSUM_PARTIAL) is completed in the copy recorded.
 */
import type { PcapWriter } from '../trace/pcap-writer.ts';
import { finishedTransportChecksum, transportChecksumAt } from './gso.ts';
import { RX_CSUM_PARTIAL, type DeviceStats, type NetDevice, type PacketHandler } from './device.ts';

export interface PcapDeviceOptions {
  /** Close the writer when the device is closed (default true: the device owns the writer). */
  ownsWriter?: boolean;
}

export class PcapDevice implements NetDevice {
  readonly name: string;
  readonly mtu: number;
  readonly tsoMaxSize: number;
  /** The inner device's, when it has one: the writer copies what it records (NetDevice.allocPacket). */
  readonly allocPacket?: (length: number) => Uint8Array;
  private receiver: PacketHandler | undefined;
  private closed = false;
  private readonly ownsWriter: boolean;

  constructor(
    private readonly inner: NetDevice,
    readonly writer: PcapWriter,
    opts: PcapDeviceOptions = {},
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    this.tsoMaxSize = inner.tsoMaxSize ?? 0;
    if (inner.allocPacket !== undefined) this.allocPacket = inner.allocPacket.bind(inner);
    this.ownsWriter = opts.ownsWriter ?? true;
    inner.setReceiver((packets, offload) => {
      if (!this.closed) {
        for (let i = 0; i < packets.length; i++) {
          if (offload !== undefined && (offload.flags[i]! & RX_CSUM_PARTIAL) !== 0) this.writeCompleted(packets[i]!);
          else this.writer.write(packets[i]!);
        }
      }
      this.receiver?.(packets, offload);
    });
  }

  setReceiver(rx: PacketHandler): void {
    this.receiver = rx;
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    // Recorded before the send: the writer copies the bytes, and the inner device now owns the buffer.
    if (!this.closed) {
      if (segmentSize !== undefined && segmentSize > 0) this.writeCompleted(packet);
      else this.writer.write(packet);
    }
    this.inner.send(packet, segmentSize);
  }

  /**
   * Record a packet whose TCP or UDP checksum field holds only the pseudo-header sum with the
   * checksum completed, then put the partial sum back (the packet goes on as it was).
   */
  private writeCompleted(packet: Uint8Array): void {
    const at = transportChecksumAt(packet);
    if (at < 0) {
      this.writer.write(packet);
      return;
    }
    const hi = packet[at]!;
    const lo = packet[at + 1]!;
    const c = finishedTransportChecksum(packet);
    packet[at] = c >>> 8;
    packet[at + 1] = c & 0xff;
    this.writer.write(packet); // copies the bytes
    packet[at] = hi;
    packet[at + 1] = lo;
  }

  stats(): DeviceStats {
    return this.inner.stats();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inner.close();
    if (this.ownsWriter) await this.writer.close();
  }
}
