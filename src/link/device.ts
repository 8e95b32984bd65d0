/**
 * The link layer contract. Everything below the IPv4 layer is a NetDevice: the real TUN device, an
 * in-memory pair for simulation, and stackable wrappers (pcap capture, trace, fault injection) that
 * take a NetDevice and are one. (smoltcp's phy::Device is the model.)
 *
 * Packets are whole IPv4 datagrams with no link header (TUN with IFF_NO_PI).
 */

/**
 * Receive offload: what a device that takes the kernel's large segments whole (the TUN device with
 * offload on) says about each packet of a batch. Flags per packet (`RxOffload.flags[i]`):
 *
 *  - RX_CSUM_PARTIAL: the TCP or UDP checksum field holds only the pseudo-header sum (RFC 9293 §3.1),
 *    not a checksum: the data was produced on this host and never crossed a wire, so there is nothing
 *    to verify. The layers above skip the check (what Linux does with such a packet on loopback or a
 *    veth); whoever shows the packet to people (the pcap) completes the checksum first (link/gso.ts).
 *  - RX_CSUM_VALID: the device verified the TCP or UDP checksum; the field is complete.
 *  - RX_GSO_TCPV4: a TCP/IPv4 super-segment: many MSS of in-order data in one datagram that may
 *    exceed the MTU, which the sender cut into pieces of `segmentSize[i]` payload bytes (link/gso.ts
 *    can cut it the same way). Its IPv4 total length is its real length.
 *
 * A device has already checked that the flags fit the packet (see link/virtio-net.ts).
 */
export const RX_CSUM_PARTIAL = 1;
export const RX_CSUM_VALID = 2;
/** Either of the above: the transport does not verify the checksum. */
export const RX_CSUM_TRUSTED = RX_CSUM_PARTIAL | RX_CSUM_VALID;
export const RX_GSO_TCPV4 = 4;

/**
 * Per-packet receive offload for one batch, index for index with its packets. It is valid only during
 * the receiver call (a device reuses it for its next batch): a wrapper that keeps packets for later
 * (a delay) must turn them into plain wire packets first (link/gso.ts `toWirePackets`), and a
 * wrapper that passes packets on must pass this on with them, or the checksums of partial packets
 * would be verified and fail.
 */
export interface RxOffload {
  readonly flags: Uint8Array;
  /** The sender's segment size (payload bytes) of an RX_GSO_TCPV4 packet, else 0. */
  readonly segmentSize: Uint16Array;
}

/**
 * `offload` is absent for a batch of plain packets (every checksum complete, nothing above the MTU).
 * The packets belong to the receiver; the array holding them, like `offload`, is valid only during
 * the call (a device may refill it for its next batch): keep packets, not the array.
 */
export type PacketHandler = (packets: readonly Uint8Array[], offload?: RxOffload) => void;

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
   * the receiver owns the buffers: a device never reuses memory it has handed out. A device with
   * receive offload also passes what it knows about each packet (RxOffload).
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
  /**
   * Optional: memory for one packet of `length` bytes, to be filled and passed to send() before
   * anything else happens (no other call to this device in between). A device that is done with a
   * packet's bytes once its writes of the tick have returned (TunDevice) hands out space it then
   * reuses, so that a 64 KiB super-segment costs no allocation and no garbage. The bytes are not
   * zeroed. A device that keeps packets after send (a delay, a recorder) does not offer this.
   */
  allocPacket?(length: number): Uint8Array;
  stats(): DeviceStats;
  /** Stop receiving and release the device. Idempotent. */
  close(): Promise<void>;
}

export function emptyDeviceStats(): DeviceStats {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDropped: 0, rxDropped: 0 };
}
