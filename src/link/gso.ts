/**
 * Segmentation offload in software: what happens to a TCP "super-segment" below a device with
 * tsoMaxSize (see device.ts). The kernel does exactly this for the TUN device when it has to
 * (Linux's tcp_gso_segment); here it serves the in-memory link in tests and the pcap writer.
 *
 * A super-segment is one IPv4 datagram carrying a TCP segment with more payload than fits the MTU,
 * and a TCP checksum field holding only the pseudo-header sum (with the whole segment's length), as
 * a NIC expects it (CHECKSUM_PARTIAL). Cutting it at every `segmentSize` payload bytes gives:
 *   - the IPv4 header copied, with total length, identification (+1 per segment) and header checksum
 *     redone;
 *   - the TCP header copied (options included: every segment carries the same timestamps), with the
 *     sequence number advanced by the payload before it; FIN and PSH only on the last segment, CWR only
 *     on the first (RFC 3168 §6.1.2: CWR once per window reduction);
 *   - each segment's TCP checksum computed in full (RFC 9293 §3.1).
 *
 * The same cutting serves the other direction: the TUN device with receive offload hands us the
 * kernel's super-segments whole (RxOffload, link/device.ts), and the fault device cuts them into the
 * packets the wire would have carried before it impairs them (`toWirePackets`).
 */
import { finishChecksum, onesSum, pseudoHeaderSum } from '../wire/checksum.ts';
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4Dst,
  ipv4HeaderLength,
  ipv4Identification,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
  refreshIpv4HeaderChecksum,
} from '../wire/ipv4.ts';
import {
  CWR,
  FIN,
  PSH,
  TCP_CHECKSUM_AT,
  TCP_HEADER_MIN,
  tcpFlags,
  tcpHeaderBytes,
  tcpSeq,
  writeTcpChecksumField,
  writeTcpFlags,
  writeTcpSeq,
} from '../wire/tcp.ts';
import { RX_CSUM_PARTIAL, RX_GSO_TCPV4, type RxOffload } from './device.ts';

/** Header lengths of a TCP/IPv4 datagram, or undefined if it is not one with whole headers. */
function headerLengths(packet: Uint8Array): { ihl: number; thl: number } | undefined {
  if (packet.length < 40 || packet[0]! >> 4 !== 4 || packet[9] !== IPPROTO_TCP) return undefined;
  const ihl = ipv4HeaderLength(packet);
  if (ihl < 20 || ihl + TCP_HEADER_MIN > packet.length) return undefined;
  const thl = tcpHeaderBytes(packet, ihl);
  if (thl < TCP_HEADER_MIN || ihl + thl > packet.length) return undefined;
  return { ihl, thl };
}

/** Fill in the TCP checksum of a whole TCP/IPv4 segment (RFC 9293 §3.1: pseudo-header + segment). */
function tcpChecksumInPlace(seg: Uint8Array, ihl: number): void {
  writeTcpChecksumField(seg, ihl, 0);
  const pseudo = pseudoHeaderSum(ipv4Src(seg), ipv4Dst(seg), IPPROTO_TCP, seg.length - ihl);
  writeTcpChecksumField(seg, ihl, finishChecksum(onesSum(seg, ihl, seg.length, pseudo)));
}

/**
 * Cut a super-segment into wire segments of `segmentSize` payload bytes (the last one shorter).
 * Returns [] for anything that is not a TCP/IPv4 datagram with whole headers (the device counts it
 * as a drop, as the kernel refuses it with EINVAL).
 */
export function segmentTcpV4(packet: Uint8Array, segmentSize: number): Uint8Array[] {
  const h = headerLengths(packet);
  if (h === undefined || !(segmentSize > 0)) return [];
  const { ihl, thl } = h;
  const hdr = ihl + thl;
  const payload = packet.length - hdr;
  const seq0 = tcpSeq(packet, ihl);
  const id0 = ipv4Identification(packet);
  const flags = tcpFlags(packet, ihl);
  const out: Uint8Array[] = [];
  let off = 0;
  do {
    const n = Math.min(segmentSize, payload - off);
    const seg = new Uint8Array(hdr + n);
    seg.set(packet.subarray(0, hdr), 0);
    seg.set(packet.subarray(hdr + off, hdr + off + n), hdr);
    // IPv4: length, identification (one per segment, as Linux counts them), header checksum.
    const id = (id0 + out.length) & 0xffff;
    seg[2] = seg.length >>> 8;
    seg[3] = seg.length & 0xff;
    seg[4] = id >>> 8;
    seg[5] = id & 0xff;
    refreshIpv4HeaderChecksum(seg);
    // TCP: sequence number, flags (FIN and PSH end the whole, CWR starts it), checksum.
    writeTcpSeq(seg, ihl, seq0 + off);
    let f = flags;
    if (off + n < payload) f &= ~(FIN | PSH);
    if (off > 0) f &= ~CWR;
    writeTcpFlags(seg, ihl, f);
    tcpChecksumInPlace(seg, ihl);
    out.push(seg);
    off += n;
  } while (off < payload);
  return out;
}

/**
 * The finished TCP checksum of a super-segment, whose checksum field holds the pseudo-header sum:
 * summing the segment with that field in it adds the pseudo-header once (what a NIC does).
 */
export function superSegmentChecksum(packet: Uint8Array): number {
  const ihl = ipv4HeaderLength(packet);
  return finishChecksum(onesSum(packet, ihl, packet.length));
}

/**
 * Where the checksum field of a TCP or UDP datagram is (from the start of the IPv4 header), or -1
 * for other protocols: the fields a partial checksum (RX_CSUM_PARTIAL) can be left in.
 */
export function transportChecksumAt(packet: Uint8Array): number {
  const protocol = ipv4Protocol(packet);
  const ihl = ipv4HeaderLength(packet);
  if (protocol === IPPROTO_TCP) return ihl + TCP_CHECKSUM_AT;
  if (protocol === IPPROTO_UDP) return ihl + 6;
  return -1;
}

/**
 * The finished checksum of a TCP or UDP datagram whose field holds only the pseudo-header sum (a
 * super-segment we send, or a packet with RX_CSUM_PARTIAL): the sum from the transport header to
 * the datagram's end with that field in it (RFC 9293 §3.1; a UDP result of 0 is sent as 0xffff,
 * RFC 768, since 0 there means "no checksum").
 */
export function finishedTransportChecksum(packet: Uint8Array): number {
  const ihl = ipv4HeaderLength(packet);
  const c = finishChecksum(onesSum(packet, ihl, Math.min(packet.length, ipv4TotalLength(packet))));
  return c === 0 && ipv4Protocol(packet) === IPPROTO_UDP ? 0xffff : c;
}

/**
 * Complete, in place, a checksum left partial at packet[start + offset]: the one's complement sum
 * from `start` to the datagram's end, the field included (it holds the pseudo-header sum).
 */
export function completePartialChecksum(packet: Uint8Array, start: number, offset: number): void {
  const end = Math.min(packet.length, ipv4TotalLength(packet));
  const c = finishChecksum(onesSum(packet, start, Math.max(start, end)));
  packet[start + offset] = c >>> 8;
  packet[start + offset + 1] = c & 0xff;
}

/**
 * What the wire would have carried for a batch from a device with receive offload: super-segments
 * cut into their MSS pieces (each fully checksummed), partial checksums completed (in place: the
 * receiver owns the packets). The result is a batch of plain packets that needs no RxOffload.
 */
export function toWirePackets(packets: readonly Uint8Array[], offload: RxOffload): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < packets.length; i++) {
    const p = packets[i]!;
    const flags = offload.flags[i]!;
    if (flags & RX_GSO_TCPV4) {
      for (const piece of segmentTcpV4(p, offload.segmentSize[i]!)) out.push(piece);
      continue;
    }
    if (flags & RX_CSUM_PARTIAL) {
      const at = transportChecksumAt(p);
      const c = finishedTransportChecksum(p);
      p[at] = c >>> 8;
      p[at + 1] = c & 0xff;
    }
    out.push(p);
  }
  return out;
}
