/**
 * The IPv4 header (RFC 791 §3.1).
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |Version|  IHL  |Type of Service|          Total Length         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |         Identification        |Flags|      Fragment Offset    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Time to Live |    Protocol   |         Header Checksum       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                       Source Address                          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Destination Address                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Options                    |    Padding    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   offset  size  field
 *    0      4b    version (4), high nibble
 *    0      4b    IHL: header length in 32-bit words (5..15), low nibble
 *    1      1     type of service: DSCP (high 6 bits, RFC 2474) + ECN (low 2 bits, RFC 3168)
 *    2      2     total length: header + data, in bytes
 *    4      2     identification
 *    6      3b    flags: bit 0 reserved (must be 0), DF (0x4000), MF (0x2000)
 *    6      13b   fragment offset, in units of 8 bytes
 *    8      1     time to live
 *    9      1     protocol (1 ICMP, 6 TCP, 17 UDP)
 *   10      2     header checksum (RFC 1071, over the header only)
 *   12      4     source address
 *   16      4     destination address
 *   20      ..    options (IHL*4 - 20 bytes)
 *
 * Two ways in, neither of which throws (util/errors.ts, "Codecs"): `checkIpv4` validates without
 * allocating (the IPv4 layer's hot path, which then reads fields with the small accessors below) and
 * returns an error code, and `parseIpv4` returns a readonly object or a WireError (tests, tools).
 */
import { WireError } from '../util/errors.ts';
import { checksum, onesSum } from './checksum.ts';
import { readIpv4Address, writeIpv4Address, type Ipv4Address } from './ipv4-address.ts';

export const IPV4_MIN_HEADER = 20;
export const IPV4_MAX_HEADER = 60;
export const IPV4_MAX_TOTAL_LENGTH = 65535;

/** Values of the Protocol field (IANA "Assigned Internet Protocol Numbers"). */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** Flag bits of the 16-bit word at offset 6. */
export const IPV4_FLAG_RESERVED = 0x8000;
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_OFFSET_MASK = 0x1fff;

export type Ipv4ErrorCode =
  | 'ERR_IPV4_TRUNCATED'
  | 'ERR_IPV4_VERSION'
  | 'ERR_IPV4_IHL'
  | 'ERR_IPV4_TOTAL_LENGTH'
  | 'ERR_IPV4_CHECKSUM'
  | 'ERR_IPV4_FRAGMENT';

export interface Ipv4Header {
  readonly version: number;
  /** Bytes (IHL * 4). */
  readonly headerLength: number;
  readonly dscp: number;
  readonly ecn: number;
  readonly totalLength: number;
  readonly identification: number;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  /** Bytes (the field times 8). */
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly checksum: number;
  readonly src: Ipv4Address;
  readonly dst: Ipv4Address;
}

export interface Ipv4Packet extends Ipv4Header {
  /** Raw option bytes (a view into the packet; empty when IHL is 5). */
  readonly options: Uint8Array;
  /** The data, up to totalLength: trailing link-layer padding is not part of it (a view). */
  readonly payload: Uint8Array;
}

const MESSAGES: Record<Ipv4ErrorCode, string> = {
  ERR_IPV4_TRUNCATED: 'IPv4 packet shorter than its header or total length',
  ERR_IPV4_VERSION: 'IP version is not 4',
  ERR_IPV4_IHL: 'IPv4 header length below 20 bytes',
  ERR_IPV4_TOTAL_LENGTH: 'IPv4 total length smaller than the header length',
  ERR_IPV4_CHECKSUM: 'IPv4 header checksum mismatch',
  ERR_IPV4_FRAGMENT: 'IPv4 fragment flags or offset invalid',
};

/**
 * Validate an IPv4 header without allocating. Returns undefined when the packet is acceptable, or the
 * error code. Every length is checked before the bytes it covers are read.
 */
export function checkIpv4(buf: Uint8Array): Ipv4ErrorCode | undefined {
  if (buf.length < IPV4_MIN_HEADER) return 'ERR_IPV4_TRUNCATED';
  const b0 = buf[0]!;
  // RFC 1122 §3.2.1.1: a datagram whose version is not 4 MUST be silently discarded.
  if (b0 >>> 4 !== 4) return 'ERR_IPV4_VERSION';
  const headerLength = (b0 & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER) return 'ERR_IPV4_IHL';
  if (headerLength > buf.length) return 'ERR_IPV4_TRUNCATED';
  const totalLength = (buf[2]! << 8) | buf[3]!;
  if (totalLength < headerLength) return 'ERR_IPV4_TOTAL_LENGTH';
  // Shorter than the length it claims: cut short somewhere. (Link padding beyond totalLength is fine
  // and ignored.)
  if (totalLength > buf.length) return 'ERR_IPV4_TRUNCATED';
  // RFC 1122 §3.2.1.2: verify the checksum, silently discard on failure. RFC 1071 §1 (3): the sum over the header including its checksum field verifies as zero.
  if (checksum(buf, 0, headerLength) !== 0) return 'ERR_IPV4_CHECKSUM';
  const fragWord = (buf[6]! << 8) | buf[7]!;
  // RFC 791 §3.1: bit 0 of the flags is reserved and must be zero.
  if (fragWord & IPV4_FLAG_RESERVED) return 'ERR_IPV4_FRAGMENT';
  const offset = (fragWord & IPV4_OFFSET_MASK) * 8;
  const dataLength = totalLength - headerLength;
  // No fragment may reach past the largest datagram (the "ping of death").
  if (offset + totalLength > IPV4_MAX_TOTAL_LENGTH) return 'ERR_IPV4_FRAGMENT';
  // RFC 791 §3.2 (fragmentation): every fragment but the last carries a multiple of 8 data bytes,
  // and a fragment that is not the last one cannot be empty.
  if (fragWord & IPV4_FLAG_MF && (dataLength === 0 || (dataLength & 7) !== 0)) return 'ERR_IPV4_FRAGMENT';
  return undefined;
}

/** Parse and validate; a WireError with one of the Ipv4ErrorCode codes when the packet is bad. */
export function parseIpv4(buf: Uint8Array): Ipv4Packet | WireError {
  const err = checkIpv4(buf);
  if (err !== undefined) return new WireError(err, MESSAGES[err]);
  const headerLength = ipv4HeaderLength(buf);
  const totalLength = ipv4TotalLength(buf);
  const fragWord = (buf[6]! << 8) | buf[7]!;
  return {
    version: 4,
    headerLength,
    dscp: buf[1]! >>> 2,
    ecn: buf[1]! & 0x03,
    totalLength,
    identification: (buf[4]! << 8) | buf[5]!,
    dontFragment: (fragWord & IPV4_FLAG_DF) !== 0,
    moreFragments: (fragWord & IPV4_FLAG_MF) !== 0,
    fragmentOffset: (fragWord & IPV4_OFFSET_MASK) * 8,
    ttl: buf[8]!,
    protocol: buf[9]!,
    checksum: (buf[10]! << 8) | buf[11]!,
    src: readIpv4Address(buf, 12),
    dst: readIpv4Address(buf, 16),
    options: buf.subarray(IPV4_MIN_HEADER, headerLength),
    payload: buf.subarray(headerLength, totalLength),
  };
}

// Field accessors for a buffer that passed checkIpv4 (no allocation).
export function ipv4HeaderLength(buf: Uint8Array): number {
  return (buf[0]! & 0x0f) * 4;
}
export function ipv4Tos(buf: Uint8Array): number {
  return buf[1]!;
}
export function ipv4TotalLength(buf: Uint8Array): number {
  return (buf[2]! << 8) | buf[3]!;
}
export function ipv4Identification(buf: Uint8Array): number {
  return (buf[4]! << 8) | buf[5]!;
}
/** The flags + fragment offset word (offset 6). */
export function ipv4FragmentWord(buf: Uint8Array): number {
  return (buf[6]! << 8) | buf[7]!;
}
export function ipv4Ttl(buf: Uint8Array): number {
  return buf[8]!;
}
export function ipv4Protocol(buf: Uint8Array): number {
  return buf[9]!;
}
export function ipv4Src(buf: Uint8Array): Ipv4Address {
  return readIpv4Address(buf, 12);
}
export function ipv4Dst(buf: Uint8Array): Ipv4Address {
  return readIpv4Address(buf, 16);
}

/** What serializeIpv4Header needs; the checksum is always computed. */
export interface Ipv4HeaderInit {
  /** Whole type-of-service byte; takes precedence over dscp/ecn when given. */
  tos?: number;
  dscp?: number;
  ecn?: number;
  totalLength: number;
  identification: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** Bytes; must be a multiple of 8. */
  fragmentOffset?: number;
  ttl: number;
  protocol: number;
  src: Ipv4Address;
  dst: Ipv4Address;
  /** Raw options, a multiple of 4 bytes long (at most 40). */
  options?: Uint8Array;
}

/**
 * Write an IPv4 header at out[offset] and return its length. The checksum is computed over the
 * written header (RFC 791 §3.1: the checksum field is taken as zero while computing it).
 */
export function serializeIpv4Header(h: Ipv4HeaderInit, out: Uint8Array, offset: number): number {
  const optLength = h.options?.length ?? 0;
  if ((optLength & 3) !== 0 || optLength > IPV4_MAX_HEADER - IPV4_MIN_HEADER) {
    throw new WireError('ERR_IPV4_IHL', `IPv4 options must be a multiple of 4 bytes, at most 40 (got ${optLength})`);
  }
  const fragmentOffset = h.fragmentOffset ?? 0;
  if ((fragmentOffset & 7) !== 0 || fragmentOffset > IPV4_OFFSET_MASK * 8) {
    throw new WireError('ERR_IPV4_FRAGMENT', `fragment offset ${fragmentOffset} is not a multiple of 8 below 65536`);
  }
  const headerLength = IPV4_MIN_HEADER + optLength;
  if (h.totalLength < headerLength || h.totalLength > IPV4_MAX_TOTAL_LENGTH) {
    throw new WireError('ERR_IPV4_TOTAL_LENGTH', `total length ${h.totalLength} out of range`);
  }
  const tos = h.tos ?? (((h.dscp ?? 0) << 2) | (h.ecn ?? 0));
  const fragWord =
    (h.dontFragment ? IPV4_FLAG_DF : 0) | (h.moreFragments ? IPV4_FLAG_MF : 0) | (fragmentOffset >>> 3);
  if (h.options !== undefined && optLength > 0) out.set(h.options, offset + IPV4_MIN_HEADER);
  writeIpv4Header(out, offset, headerLength, tos, h.totalLength, h.identification, fragWord, h.ttl, h.protocol, h.src, h.dst);
  return headerLength;
}

/**
 * The header fields, checksum last, at out[offset] (options, if any, already in place after the
 * first 20 bytes): serializeIpv4Header without the checks and without a header object, for the
 * IPv4 layer's send path, which writes one per packet. `fragWord` is flags and offset as on the wire.
 */
export function writeIpv4Header(
  out: Uint8Array,
  offset: number,
  headerLength: number,
  tos: number,
  totalLength: number,
  identification: number,
  fragWord: number,
  ttl: number,
  protocol: number,
  src: Ipv4Address,
  dst: Ipv4Address,
): void {
  out[offset] = 0x40 | (headerLength >>> 2);
  out[offset + 1] = tos & 0xff;
  out[offset + 2] = totalLength >>> 8;
  out[offset + 3] = totalLength & 0xff;
  out[offset + 4] = (identification >>> 8) & 0xff;
  out[offset + 5] = identification & 0xff;
  out[offset + 6] = fragWord >>> 8;
  out[offset + 7] = fragWord & 0xff;
  out[offset + 8] = ttl & 0xff;
  out[offset + 9] = protocol & 0xff;
  out[offset + 10] = 0;
  out[offset + 11] = 0;
  writeIpv4Address(out, offset + 12, src);
  writeIpv4Address(out, offset + 16, dst);
  const sum = ~onesSum(out, offset, offset + headerLength) & 0xffff;
  out[offset + 10] = sum >>> 8;
  out[offset + 11] = sum & 0xff;
}

/** Recompute the header checksum of the IPv4 header at buf[0] in place (after editing a field). */
export function refreshIpv4HeaderChecksum(buf: Uint8Array): void {
  const headerLength = (buf[0]! & 0x0f) * 4;
  buf[10] = 0;
  buf[11] = 0;
  const sum = checksum(buf, 0, headerLength);
  buf[10] = sum >>> 8;
  buf[11] = sum & 0xff;
}
