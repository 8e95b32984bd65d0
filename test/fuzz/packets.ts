/**
 * Packet builders for the fuzzer: whole IPv4 datagrams (TCP, ICMP, UDP) written byte by byte, so that
 * any field can hold any value afterwards, and `fixChecksums`, which makes a mutated packet's
 * checksums valid again wherever its lengths still allow it to be computed. Not a test file itself.
 */
import { checksum, finishChecksum, onesSum, pseudoHeaderSum } from '../../src/wire/checksum.ts';
import { writeIpv4Address } from '../../src/wire/ipv4-address.ts';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export interface IpFields {
  src: number;
  dst: number;
  protocol: number;
  id?: number;
  ttl?: number;
  tos?: number;
  /** The flags + fragment offset word, as on the wire (default: DF). */
  fragWord?: number;
  /** Raw IPv4 options; padded with zeros (EOL) to a multiple of 4, at most 40 bytes are kept. */
  options?: Uint8Array;
}

/** An IPv4 datagram around `payload`, header checksum valid. */
export function ipv4Datagram(f: IpFields, payload: Uint8Array): Uint8Array {
  const optLen = f.options === undefined ? 0 : Math.min(40, (f.options.length + 3) & ~3);
  const hl = 20 + optLen;
  const out = new Uint8Array(hl + payload.length);
  out[0] = 0x40 | (hl >>> 2);
  out[1] = f.tos ?? 0;
  out[2] = out.length >>> 8;
  out[3] = out.length & 0xff;
  const id = f.id ?? 0;
  out[4] = (id >>> 8) & 0xff;
  out[5] = id & 0xff;
  const fw = f.fragWord ?? 0x4000;
  out[6] = (fw >>> 8) & 0xff;
  out[7] = fw & 0xff;
  out[8] = f.ttl ?? 64;
  out[9] = f.protocol;
  writeIpv4Address(out, 12, f.src);
  writeIpv4Address(out, 16, f.dst);
  if (f.options !== undefined) out.set(f.options.subarray(0, optLen), 20);
  out.set(payload, hl);
  fixChecksums(out);
  return out;
}

export interface TcpFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent?: number;
  /** Raw option bytes (padded with EOL to a multiple of 4, at most 40 kept). */
  options?: Uint8Array;
  payload?: Uint8Array;
}

/** A TCP segment (header + options + data), checksum left zero: ipv4Datagram fills it in. */
export function tcpSegment(t: TcpFields): Uint8Array {
  const optLen = t.options === undefined ? 0 : Math.min(40, (t.options.length + 3) & ~3);
  const hl = 20 + optLen;
  const payload = t.payload ?? EMPTY;
  const out = new Uint8Array(hl + payload.length);
  out[0] = (t.srcPort >>> 8) & 0xff;
  out[1] = t.srcPort & 0xff;
  out[2] = (t.dstPort >>> 8) & 0xff;
  out[3] = t.dstPort & 0xff;
  writeU32(out, 4, t.seq);
  writeU32(out, 8, t.ack);
  out[12] = (hl >>> 2) << 4;
  out[13] = t.flags & 0xff;
  out[14] = (t.window >>> 8) & 0xff;
  out[15] = t.window & 0xff;
  const urg = t.urgent ?? 0;
  out[18] = (urg >>> 8) & 0xff;
  out[19] = urg & 0xff;
  if (t.options !== undefined) out.set(t.options.subarray(0, optLen), 20);
  out.set(payload, hl);
  return out;
}

/** An ICMP message: type, code, the 4-byte "rest of header" word, then `body`. */
export function icmpMessage(type: number, code: number, rest: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  out[0] = type;
  out[1] = code;
  writeU32(out, 4, rest);
  out.set(body, 8);
  return out;
}

/** A UDP datagram (the stack answers it with port unreachable). */
export function udpDatagram(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  out[0] = srcPort >>> 8;
  out[1] = srcPort & 0xff;
  out[2] = dstPort >>> 8;
  out[3] = dstPort & 0xff;
  out[4] = out.length >>> 8;
  out[5] = out.length & 0xff;
  out.set(payload, 8);
  return out;
}

/**
 * Recompute, in place, every checksum the packet's own fields still let us compute: the IPv4 header
 * checksum when IHL fits the buffer, and the TCP/UDP/ICMP checksum when the datagram is unfragmented
 * and its total length covers the checksum field and fits the buffer. A mutated length field is kept
 * as it is: the checksum is computed over what that field says.
 */
export function fixChecksums(p: Uint8Array): void {
  if (p.length < 20 || p[0]! >>> 4 !== 4) return;
  const hl = (p[0]! & 0x0f) * 4;
  if (hl < 20 || hl > p.length) return;
  const total = (p[2]! << 8) | p[3]!;
  const fragWord = (p[6]! << 8) | p[7]!;
  if (total >= hl && total <= p.length && (fragWord & 0x3fff) === 0) {
    const len = total - hl;
    const proto = p[9]!;
    const src = readU32(p, 12);
    const dst = readU32(p, 16);
    if (proto === PROTO_TCP && len >= 18) {
      p[hl + 16] = 0;
      p[hl + 17] = 0;
      const c = finishChecksum(onesSum(p, hl, total, pseudoHeaderSum(src, dst, PROTO_TCP, len)));
      p[hl + 16] = c >>> 8;
      p[hl + 17] = c & 0xff;
    } else if (proto === PROTO_UDP && len >= 8) {
      p[hl + 6] = 0;
      p[hl + 7] = 0;
      let c = finishChecksum(onesSum(p, hl, total, pseudoHeaderSum(src, dst, PROTO_UDP, len)));
      if (c === 0) c = 0xffff; // RFC 768: a computed zero is sent as all ones
      p[hl + 6] = c >>> 8;
      p[hl + 7] = c & 0xff;
    } else if (proto === PROTO_ICMP && len >= 4) {
      p[hl + 2] = 0;
      p[hl + 3] = 0;
      const c = checksum(p, hl, total);
      p[hl + 2] = c >>> 8;
      p[hl + 3] = c & 0xff;
    }
  }
  p[10] = 0;
  p[11] = 0;
  const c = checksum(p, 0, hl);
  p[10] = c >>> 8;
  p[11] = c & 0xff;
}

export function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

const EMPTY = new Uint8Array(0);
