/**
 * The virtio_net_hdr: the 10 bytes in front of every packet on a TUN device opened with IFF_VNET_HDR
 * (native/tun.c), the header a virtio NIC and its driver exchange. On the way in it says how the
 * kernel left a packet when the device asked for receive offload (TUNSETOFFLOAD with TUN_F_CSUM and
 * TUN_F_TSO4): with its checksum partial, or as a TCP super-segment of many MSS.
 *
 *    offset size field
 *      0     1   flags        NEEDS_CSUM 1: the checksum at csum_start + csum_offset holds only the
 *                                           pseudo-header sum; the sum runs from csum_start to the end
 *                             DATA_VALID 2: the checksum was verified
 *      1     1   gso_type     NONE 0, TCPV4 1 (others we never ask for); bit 0x80: ECN (CWR on the first piece)
 *      2     2   hdr_len      bytes of headers, as the kernel counts them (it may include some data: not used)
 *      4     2   gso_size     payload bytes per segment the sender would have cut it into
 *      6     2   csum_start   where the checksummed part starts (from the IPv4 header)
 *      8     2   csum_offset  where in it the checksum field is (TCP 16, UDP 6)
 *
 * The 16-bit fields are in the host's byte order (the legacy virtio format, which a TUN device uses
 * unless told otherwise; native/tun.c writes its own headers the same way).
 *
 * `parseVirtioNetHdr` decodes one (tests, diagnostics); `acceptRxOffload` is the receive path's
 * check of a header against its packet, with no allocation: it returns the RX_* flags for the layers
 * above (link/device.ts) or a negative VNET_ERR_* code, and the device drops and counts the packet.
 */
import { WireError } from '../util/errors.ts';
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_FLAG_MF, IPV4_OFFSET_MASK } from '../wire/ipv4.ts';
import { TCP_CHECKSUM_AT, TCP_HEADER_MIN, tcpHeaderBytes } from '../wire/tcp.ts';
import { RX_CSUM_PARTIAL, RX_CSUM_VALID, RX_GSO_TCPV4 } from './device.ts';
import { completePartialChecksum } from './gso.ts';

export const VNET_HDR_LEN = 10;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** Why acceptRxOffload refused a header (negative, so that flags and errors share one number). */
export const VNET_ERR_FLAGS = -1;
export const VNET_ERR_CSUM = -2;
export const VNET_ERR_GSO_TYPE = -3;
export const VNET_ERR_GSO_PACKET = -4;

export const VNET_ERRORS: Readonly<Record<number, string>> = {
  [VNET_ERR_FLAGS]: 'ERR_VNET_FLAGS', // flag bits we do not know
  [VNET_ERR_CSUM]: 'ERR_VNET_CSUM', // csum_start/csum_offset outside the packet
  [VNET_ERR_GSO_TYPE]: 'ERR_VNET_GSO_TYPE', // a segmentation type we never asked for
  [VNET_ERR_GSO_PACKET]: 'ERR_VNET_GSO_PACKET', // TCPV4 on what is not a whole, unfragmented TCP/IPv4 datagram
};

export interface VirtioNetHdr {
  readonly flags: number;
  readonly gsoType: number;
  readonly hdrLen: number;
  readonly gsoSize: number;
  readonly csumStart: number;
  readonly csumOffset: number;
}

const HOST_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** A 16-bit field in the host's byte order. */
function u16(buf: Uint8Array, at: number): number {
  return HOST_LE ? buf[at]! | (buf[at + 1]! << 8) : (buf[at]! << 8) | buf[at + 1]!;
}

/** Decode the header at buf[at]; a WireError if fewer than 10 bytes are there. */
export function parseVirtioNetHdr(buf: Uint8Array, at = 0): VirtioNetHdr | WireError {
  if (at < 0 || buf.length - at < VNET_HDR_LEN) {
    return new WireError('ERR_VNET_TRUNCATED', `virtio_net_hdr needs ${VNET_HDR_LEN} bytes, got ${Math.max(0, buf.length - at)}`);
  }
  return {
    flags: buf[at]!,
    gsoType: buf[at + 1]!,
    hdrLen: u16(buf, at + 2),
    gsoSize: u16(buf, at + 4),
    csumStart: u16(buf, at + 6),
    csumOffset: u16(buf, at + 8),
  };
}

/**
 * Check the header at hdr[at] (10 bytes, the caller made sure) against `packet`, the IPv4 datagram it
 * came with. Returns the RX_* flags for the layers above, or a VNET_ERR_* code (< 0).
 *
 * A partial checksum where the layers above look for one (TCP's or UDP's field, right after the
 * IPv4 header) becomes RX_CSUM_PARTIAL; anywhere else (valid, but nothing we know to skip) it is
 * completed here, in place (the packet belongs to the receiver), and the packet goes up as plain.
 */
export function acceptRxOffload(hdr: Uint8Array, at: number, packet: Uint8Array): number {
  const flags = hdr[at]!;
  const gsoType = hdr[at + 1]!;
  if ((flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) !== 0) return VNET_ERR_FLAGS;
  const len = packet.length;
  const ihl = len > 0 ? (packet[0]! & 0x0f) * 4 : 0;
  const protocol = len >= 20 ? packet[9]! : -1;
  let rx = 0;
  if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    const start = u16(hdr, at + 6);
    const offset = u16(hdr, at + 8);
    if (start < 20 || start + offset + 2 > len) return VNET_ERR_CSUM;
    const known = start === ihl && ((protocol === IPPROTO_TCP && offset === TCP_CHECKSUM_AT) || (protocol === IPPROTO_UDP && offset === 6));
    if (known) rx = RX_CSUM_PARTIAL;
    else completePartialChecksum(packet, start, offset);
  } else if (flags & VIRTIO_NET_HDR_F_DATA_VALID) {
    rx = RX_CSUM_VALID;
  }
  if (gsoType === VIRTIO_NET_HDR_GSO_NONE) return rx;
  if ((gsoType & ~VIRTIO_NET_HDR_GSO_ECN) !== VIRTIO_NET_HDR_GSO_TCPV4) return VNET_ERR_GSO_TYPE;
  // A super-segment: a whole TCP/IPv4 datagram, unfragmented, as long as its total length says, with
  // whole headers, and a segment size to cut it by.
  if (len < 40 || packet[0]! >> 4 !== 4 || ihl < 20 || protocol !== IPPROTO_TCP) return VNET_ERR_GSO_PACKET;
  if (((packet[2]! << 8) | packet[3]!) !== len) return VNET_ERR_GSO_PACKET;
  if ((((packet[6]! << 8) | packet[7]!) & (IPV4_FLAG_MF | IPV4_OFFSET_MASK)) !== 0) return VNET_ERR_GSO_PACKET;
  if (ihl + TCP_HEADER_MIN > len) return VNET_ERR_GSO_PACKET;
  const thl = tcpHeaderBytes(packet, ihl);
  if (thl < TCP_HEADER_MIN || ihl + thl > len) return VNET_ERR_GSO_PACKET;
  if (u16(hdr, at + 4) === 0) return VNET_ERR_GSO_PACKET;
  return rx | RX_GSO_TCPV4;
}

/** The segment size field of the header at hdr[at] (for an accepted RX_GSO_TCPV4 packet). */
export function vnetGsoSize(hdr: Uint8Array, at: number): number {
  return u16(hdr, at + 4);
}

/**
 * Write a virtio_net_hdr into out[at] in the host's byte order (tests: what the kernel would hand us).
 */
export function writeVirtioNetHdr(h: VirtioNetHdr, out: Uint8Array, at = 0): void {
  const put = (o: number, v: number): void => {
    out[at + o] = HOST_LE ? v & 0xff : v >>> 8;
    out[at + o + 1] = HOST_LE ? v >>> 8 : v & 0xff;
  };
  out[at] = h.flags;
  out[at + 1] = h.gsoType;
  put(2, h.hdrLen);
  put(4, h.gsoSize);
  put(6, h.csumStart);
  put(8, h.csumOffset);
}
