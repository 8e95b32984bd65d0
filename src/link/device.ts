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
   * Set the receiver. It is called with a batch of packets (one batch per wake-up of the device);
   * the receiver owns the buffers: a device never reuses memory it has handed out.
   */
  setReceiver(rx: PacketHandler): void;
  /**
   * Transmit one packet. Never throws for transient conditions (a full kernel queue): the device
   * queues or drops and counts it. The caller must not modify `packet` afterwards.
   */
  send(packet: Uint8Array): void;
  stats(): DeviceStats;
  /** Stop receiving and release the device. Idempotent. */
  close(): Promise<void>;
}

export function emptyDeviceStats(): DeviceStats {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDropped: 0, rxDropped: 0 };
}
