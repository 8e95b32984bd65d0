/**
 * A read-only glance at the IPv4 and TCP fixed headers of a captured packet, for the human-facing
 * views (tracer, ladder). It is not the protocol's parser (that is wire/ipv4.ts and wire/tcp.ts, which
 * validate everything): it only checks that the fields it reads are inside the buffer, and returns
 * undefined for anything that is not a first-fragment IPv4 datagram carrying TCP.
 *
 *   IPv4 (RFC 791 §3.1): version/IHL @0, total length @2, flags/fragment offset @6, protocol @9,
 *                        source @12, destination @16.
 *   TCP (RFC 9293 §3.1): read with wire/tcp.ts's offsets and accessors.
 */
import { readU32 } from '../wire/bytes.ts';
import { IPPROTO_TCP } from '../ip/types.ts';
import { readIpv4Address, type Ipv4Address } from '../wire/ipv4-address.ts';
import {
  ACK,
  CWR,
  ECE,
  FIN,
  PSH,
  RST,
  SYN,
  TCP_HEADER_MIN,
  URG,
  tcpAck,
  tcpDstPort,
  tcpFlags,
  tcpHeaderBytes,
  tcpSeq,
  tcpSrcPort,
  tcpWindow,
} from '../wire/tcp.ts';

export interface TcpPeek {
  readonly src: Ipv4Address;
  readonly dst: Ipv4Address;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  /** SEG.ACK, only when the ACK bit is set (RFC 9293 §3.1: the field means nothing without it). */
  readonly ack: number | undefined;
  readonly flags: number;
  readonly window: number;
  /** Offset of the TCP header in the packet. */
  readonly tcpOffset: number;
  /** TCP header length in bytes (options included). */
  readonly tcpHeaderLength: number;
  /** Offset and length of the payload in the packet. */
  readonly payloadOffset: number;
  readonly payloadLength: number;
}


/** Peek at an IPv4/TCP packet; undefined if it is something else or too short to read. */
export function peekTcp(p: Uint8Array): TcpPeek | undefined {
  if (p.length < 20 || p[0]! >> 4 !== 4) return undefined;
  const ihl = (p[0]! & 0x0f) * 4;
  const total = (p[2]! << 8) | p[3]!;
  if (ihl < 20 || total < ihl || p[9] !== IPPROTO_TCP) return undefined;
  // A non-first fragment has no TCP header (RFC 791 §3.2, fragment offset in units of 8 octets).
  if ((((p[6]! & 0x1f) << 8) | p[7]!) !== 0) return undefined;
  const end = Math.min(total, p.length);
  const t = ihl;
  if (t + TCP_HEADER_MIN > end) return undefined;
  const hl = tcpHeaderBytes(p, t);
  if (hl < TCP_HEADER_MIN || t + hl > end) return undefined;
  const flags = tcpFlags(p, t);
  return {
    src: readIpv4Address(p, 12),
    dst: readIpv4Address(p, 16),
    srcPort: tcpSrcPort(p, t),
    dstPort: tcpDstPort(p, t),
    seq: tcpSeq(p, t),
    ack: flags & ACK ? tcpAck(p, t) : undefined,
    flags,
    window: tcpWindow(p, t),
    tcpOffset: t,
    tcpHeaderLength: hl,
    payloadOffset: t + hl,
    payloadLength: end - (t + hl),
  };
}

/** "SYN,ACK", "FIN,PSH,ACK", ... (the order Wireshark lists them in, SYN first). */
export function flagNames(flags: number): string {
  const names: string[] = [];
  if (flags & SYN) names.push('SYN');
  if (flags & FIN) names.push('FIN');
  if (flags & RST) names.push('RST');
  if (flags & PSH) names.push('PSH');
  if (flags & ACK) names.push('ACK');
  if (flags & URG) names.push('URG');
  if (flags & ECE) names.push('ECE');
  if (flags & CWR) names.push('CWR');
  return names.length > 0 ? names.join(',') : 'none';
}

/** The TCP options a human wants to see, decoded leniently (a malformed list just ends the walk). */
export interface TcpOptionSummary {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  timestamp?: { value: number; echo: number };
  /** SACK blocks (RFC 2018 §3), absolute sequence numbers. */
  sack?: { left: number; right: number }[];
}

export function peekTcpOptions(p: Uint8Array, seg: TcpPeek): TcpOptionSummary {
  const out: TcpOptionSummary = {};
  let o = seg.tcpOffset + TCP_HEADER_MIN;
  const end = seg.tcpOffset + seg.tcpHeaderLength;
  while (o < end) {
    const kind = p[o]!;
    if (kind === 0) break; // End of Option List (RFC 9293 §3.2)
    if (kind === 1) {
      o++; // No-Operation
      continue;
    }
    if (o + 1 >= end) break;
    const len = p[o + 1]!;
    if (len < 2 || o + len > end) break;
    if (kind === 2 && len === 4) out.mss = (p[o + 2]! << 8) | p[o + 3]!; // RFC 9293 §3.2
    else if (kind === 3 && len === 3) out.windowScale = p[o + 2]!; // RFC 7323 §2.2
    else if (kind === 4 && len === 2) out.sackPermitted = true; // RFC 2018 §2
    else if (kind === 8 && len === 10) out.timestamp = { value: readU32(p, o + 2), echo: readU32(p, o + 6) }; // RFC 7323 §3.2
    else if (kind === 5 && len >= 10 && (len - 2) % 8 === 0) {
      // RFC 2018 §3
      out.sack = [];
      for (let b = o + 2; b < o + len; b += 8) out.sack.push({ left: readU32(p, b), right: readU32(p, b + 4) });
    }
    o += len;
  }
  return out;
}
