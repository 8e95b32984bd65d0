/**
 * The contract between the IPv4 layer and the transports above it (ICMP is inside ip/; TCP registers
 * itself through stack.ts). ip/ never imports tcp/: it knows transports only through this table.
 */
import type { Ipv4Address } from '../wire/ipv4-address.ts';

/** Bytes a transport leaves free at the front of an outgoing packet for the IPv4 header (no options). */
export const IPV4_HEADROOM = 20;

export { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.ts';

/** What a transport learns about the datagram that carried its payload. */
export interface IpReceiveInfo {
  readonly src: Ipv4Address;
  readonly dst: Ipv4Address;
  readonly protocol: number;
  readonly ttl: number;
  readonly tos: number;
  /** The whole (reassembled) datagram, header included: ICMP errors quote from it. */
  readonly packet: Uint8Array;
  /** The IPv4 header length in bytes (payload starts there). */
  readonly headerLength: number;
  /**
   * The device vouches for the transport checksum (receive offload, link/device.ts RX_CSUM_TRUSTED):
   * verified already, or never computed because the data was produced on this host. TCP and UDP do
   * not verify it then; the field may hold only the pseudo-header sum. Absent: verify as usual.
   */
  readonly checksumTrusted?: boolean;
}

export interface TransportHandler {
  /** A datagram addressed to us, already validated and reassembled. `payload` is its data part. */
  receive(now: number, ip: IpReceiveInfo, payload: Uint8Array): void;
}

export interface IpSendOptions {
  /** Set DF (TCP does: it sizes segments by MSS and path MTU). */
  dontFragment?: boolean;
  tos?: number;
  ttl?: number;
  /**
   * A TCP super-segment for a device with segmentation offload (IpOutput.tsoMaxSize): the payload
   * bytes per wire segment. The datagram may then exceed the MTU (up to tsoMaxSize).
   */
  segmentSize?: number;
}

export interface IpOutput {
  /** Largest datagram the link takes (header included). */
  readonly mtu: number;
  /** Largest datagram the link takes as a TCP super-segment (0 or absent: no segmentation offload). */
  readonly tsoMaxSize?: number;
  /**
   * Send a transport payload. `packet` holds the payload at offset IPV4_HEADROOM; the first
   * IPV4_HEADROOM bytes are free and the IPv4 layer writes its header there (no copy). Payloads
   * larger than the MTU allows are fragmented unless dontFragment is set (then dropped and counted).
   */
  send(packet: Uint8Array, src: Ipv4Address, dst: Ipv4Address, protocol: number, opts?: IpSendOptions): void;
}
