/**
 * The link layer contract. Everything below the IPv4 layer is a NetDevice: the real TUN device, an
 * in-memory pair for simulation, and stackable wrappers (pcap capture, trace, fault injection) that
 * take a NetDevice and are one. (smoltcp's phy::Device is the model.)
 *
 * Packets are whole IPv4 datagrams with no link header (TUN with IFF_NO_PI).
 */

export type PacketHandler = (packets: readonly Uint8Array[]) => void;

export interface DeviceStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Packets that could not be written or were dropped by a full queue, never silently. */
  txDropped: number;
  rxDropped: number;
}

export interface NetDevice {
  readonly name: string;
  readonly mtu: number;
  /**
   * TCP segmentation offload (TSO): the largest IPv4 datagram, header included, that send() takes as
   * a TCP "super-segment" to be cut into MTU-sized segments below us (by the kernel for a TUN device,
   * as a NIC does for Linux). 0 or absent: this device sends only datagrams up to the MTU.
   */
  readonly tsoMaxSize?: number;
  /**
   * Set the receiver. It is called with a batch of packets (one batch per wake-up of the device);
   * the receiver owns the buffers: a device never reuses memory it has handed out.
   */
  setReceiver(rx: PacketHandler): void;
  /**
   * Transmit one packet. Never throws for transient conditions (a full kernel queue): the device
   * queues or drops and counts it. The caller must not modify `packet` afterwards.
   *
   * `segmentSize` (only on a device with tsoMaxSize): `packet` is a TCP/IPv4 super-segment of more
   * than segmentSize payload bytes, to be sent as segments of segmentSize payload bytes each (the
   * last one shorter). Its TCP checksum field holds only the pseudo-header sum, to be completed per
   * segment (Linux's CHECKSUM_PARTIAL; see link/gso.ts for what the cutting does).
   */
  send(packet: Uint8Array, segmentSize?: number): void;
  stats(): DeviceStats;
  /** Stop receiving and release the device. Idempotent. */
  close(): Promise<void>;
}

export function emptyDeviceStats(): DeviceStats {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDropped: 0, rxDropped: 0 };
}
