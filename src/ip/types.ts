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
  /**
   * A datagram addressed to us, already validated and reassembled. `payload` is its data part.
   * `ip` is refilled for every datagram (valid during the call only: copy what you keep); the bytes
   * of `ip.packet` and `payload` belong to the receiver, as the device handed them over.
   */
  receive(now: number, ip: IpReceiveInfo, payload: Uint8Array): void;
  /**
   * An ICMP error (destination unreachable, time exceeded, parameter problem) about a datagram of
   * this protocol that we sent (RFC 1122 §3.2.2: it MUST be passed to the transport). The report is
   * reused: valid during the call only.
   */
  receiveError?(now: number, report: IcmpErrorReport): void;
}

/**
 * An ICMP error received from the network, with the quoted datagram already checked to be one of
 * ours (src/ip/icmp.ts): its IPv4 header and at least the first 8 bytes of its transport header.
 */
export interface IcmpErrorReport {
  /** Who sent the error (a router on the path, or the destination). */
  from: Ipv4Address;
  type: number;
  code: number;
  /** Next-hop MTU of a "fragmentation needed" (type 3 code 4, RFC 1191 §4), else 0. */
  nextHopMtu: number;
  /** The quoted header + first data bytes of our datagram (a view). */
  original: Uint8Array;
  /** The quoted datagram's destination (the peer), protocol and total length. */
  quotedDst: Ipv4Address;
  quotedProtocol: number;
  quotedLength: number;
  /** The quoted transport bytes (at least 8: for TCP the ports and the sequence number). */
  transport: Uint8Array;
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
  /**
   * Memory for a packet of `length` bytes (IPV4_HEADROOM included) that the caller fills and gives
   * to send() at once, with no call out in between: the device's (NetDevice.allocPacket) where it
   * has such memory. Its bytes are not zeroed: the caller writes every one. Absent: allocate.
   */
  allocPacket?(length: number): Uint8Array;
  /** The path MTU to `dst` (RFC 1191): the link's unless a smaller one was learned (pmtu-cache.ts). */
  pathMtu?(dst: Ipv4Address, now: number): number;
  /**
   * A transport validated a "fragmentation needed" about a datagram to `dst` (RFC 5927 §4.1) that
   * said `nextHopMtu` (0: not given) of a datagram of `quotedLength` bytes: learn it, within
   * RFC 1191 §3's and §6.3's rules. Returns the path MTU in force afterwards.
   */
  learnPathMtu?(dst: Ipv4Address, nextHopMtu: number, quotedLength: number, now: number): number;
}
