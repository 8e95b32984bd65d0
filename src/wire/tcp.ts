/**
 * The TCP header (RFC 9293 §3.1):
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |          Source Port          |       Destination Port        |   0
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                        Sequence Number                        |   4
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    Acknowledgment Number                      |   8
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Data |       |C|E|U|A|P|R|S|F|                               |  12
 *    | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *    |       |       |R|E|G|K|H|T|N|N|                               |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           Checksum            |         Urgent Pointer        |  16
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           [Options]                           |  20
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                             data                              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Data Offset counts 32-bit words (5..15). The checksum covers a pseudo-header (source and destination
 * address, zero, protocol 6, TCP length), the header and the data (RFC 9293 §3.1 "Checksum").
 */
import { WireError } from '../util/errors.ts';
import { finishChecksum, onesSum, pseudoHeaderSum } from './checksum.ts';
import type { Ipv4Address } from './ipv4-address.ts';
import { IPPROTO_TCP } from './ipv4.ts';
import { readU32, writeU32 } from './bytes.ts';
import { NO_OPTIONS, copyTcpOptions, TcpOptionsScratch, tcpOptionsLength, writeTcpOptions, type TcpOptions } from './tcp-options.ts';

export type { TcpOptions, SackBlock, TcpTimestamp } from './tcp-options.ts';

/** The control bits, as a bit set (byte 13 of the header). */
export type TcpFlags = number;
export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;
export const ECE = 0x40;
export const CWR = 0x80;

export const TCP_HEADER_MIN = 20;

/**
 * Byte offsets of the fixed header's fields, from the start of the TCP header (RFC 9293 §3.1, the
 * figure above). Code that looks into a packet without parsing it (link/gso.ts, trace/tcp-peek.ts, the
 * drill's breakpoints) reads through these and the accessors below, so the layout is written once.
 */
export const TCP_SRC_PORT_AT = 0;
export const TCP_DST_PORT_AT = 2;
export const TCP_SEQ_AT = 4;
export const TCP_ACK_AT = 8;
/** Data Offset in the high nibble (32-bit words), the reserved bits below it. */
export const TCP_DATA_OFFSET_AT = 12;
export const TCP_FLAGS_AT = 13;
export const TCP_WINDOW_AT = 14;
export const TCP_CHECKSUM_AT = 16;
export const TCP_URGENT_AT = 18;

// Field accessors for the TCP header at buf[at] (no allocation, no validation: the caller has checked
// that the fixed header is inside the buffer).
export function tcpSrcPort(buf: Uint8Array, at: number): number {
  return (buf[at + TCP_SRC_PORT_AT]! << 8) | buf[at + TCP_SRC_PORT_AT + 1]!;
}
export function tcpDstPort(buf: Uint8Array, at: number): number {
  return (buf[at + TCP_DST_PORT_AT]! << 8) | buf[at + TCP_DST_PORT_AT + 1]!;
}
export function tcpSeq(buf: Uint8Array, at: number): number {
  return readU32(buf, at + TCP_SEQ_AT);
}
export function writeTcpSeq(buf: Uint8Array, at: number, seq: number): void {
  writeU32(buf, at + TCP_SEQ_AT, seq >>> 0);
}
export function tcpAck(buf: Uint8Array, at: number): number {
  return readU32(buf, at + TCP_ACK_AT);
}
/** The header length in bytes (the Data Offset field times 4); the caller checks it is >= 20. */
export function tcpHeaderBytes(buf: Uint8Array, at: number): number {
  return (buf[at + TCP_DATA_OFFSET_AT]! >>> 4) * 4;
}
export function tcpFlags(buf: Uint8Array, at: number): TcpFlags {
  return buf[at + TCP_FLAGS_AT]!;
}
export function writeTcpFlags(buf: Uint8Array, at: number, flags: TcpFlags): void {
  buf[at + TCP_FLAGS_AT] = flags & 0xff;
}
export function tcpWindow(buf: Uint8Array, at: number): number {
  return (buf[at + TCP_WINDOW_AT]! << 8) | buf[at + TCP_WINDOW_AT + 1]!;
}
export function tcpChecksumField(buf: Uint8Array, at: number): number {
  return (buf[at + TCP_CHECKSUM_AT]! << 8) | buf[at + TCP_CHECKSUM_AT + 1]!;
}
export function writeTcpChecksumField(buf: Uint8Array, at: number, sum: number): void {
  buf[at + TCP_CHECKSUM_AT] = (sum >>> 8) & 0xff;
  buf[at + TCP_CHECKSUM_AT + 1] = sum & 0xff;
}
export function tcpUrgent(buf: Uint8Array, at: number): number {
  return (buf[at + TCP_URGENT_AT]! << 8) | buf[at + TCP_URGENT_AT + 1]!;
}

export interface TcpSegment {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  /**
   * SEG.ACK, present exactly when the ACK bit is set: the field means something only then (RFC 9293
   * §3.1 "Acknowledgment Number"), so a segment without ACK has none, whatever the field holds.
   * Checking `ack !== undefined` is checking the ACK bit.
   */
  readonly ack: number | undefined;
  /** Header length in bytes (the Data Offset field times 4). */
  readonly dataOffset: number;
  readonly flags: TcpFlags;
  /** The raw 16-bit window field (not scaled). */
  readonly window: number;
  readonly checksum: number;
  readonly urgent: number;
  readonly options: TcpOptions;
  /** A view into the received buffer (no copy). */
  readonly payload: Uint8Array;
}

/** What serializeTcp needs: the header is laid out from these (dataOffset and checksum are computed). */
export interface TcpSegmentInit {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  /**
   * The acknowledgment number, or undefined for a segment without ACK (a SYN, a RST answering a
   * segment that had no ACK, RFC 9293 §3.10.7.1). It decides the ACK bit on the wire: set with the
   * number when given, clear with the field 0 when not (RFC 9293 §3.1), whatever `flags` says about
   * ACK, so no segment can leave with an ACK bit and no number or a number and no ACK bit.
   */
  readonly ack: number | undefined;
  /** The control bits (the ACK bit among them is taken from `ack`). */
  readonly flags: TcpFlags;
  readonly window: number;
  readonly urgent?: number;
  readonly options?: TcpOptions;
  readonly payload?: Uint8Array;
}

export interface ParseTcpOptions {
  /** Verify the checksum with the pseudo-header (default true). */
  verifyChecksum?: boolean;
}

/** Flags as tcpdump prints them, in its order F S R P . U E W: "S", "S.", "P.", "F.", "R", "S.E" ... */
export function formatTcpFlags(flags: TcpFlags): string {
  let s = '';
  if (flags & FIN) s += 'F';
  if (flags & SYN) s += 'S';
  if (flags & RST) s += 'R';
  if (flags & PSH) s += 'P';
  if (flags & ACK) s += '.';
  if (flags & URG) s += 'U';
  if (flags & ECE) s += 'E';
  if (flags & CWR) s += 'W';
  return s === '' ? 'none' : s;
}

export type TcpCheckCode = 'ERR_TCP_TRUNCATED' | 'ERR_TCP_DATA_OFFSET' | 'ERR_TCP_CHECKSUM';

/**
 * Validate a TCP segment's length, data offset and (unless `verifyChecksum` is false) checksum over
 * the pseudo-header `src` -> `dst` (RFC 9293 §3.1), without allocating: undefined when acceptable,
 * else the code. The receive path checks with it first, so that a flood of corrupt or forged
 * segments costs the checksum and a counter, not an Error object each (parseTcp's WireError took
 * about 8 µs more per segment than a good segment's whole parse).
 */
export function checkTcp(buf: Uint8Array, src: Ipv4Address, dst: Ipv4Address, verifyChecksum = true): TcpCheckCode | undefined {
  const len = buf.length;
  if (len < TCP_HEADER_MIN) return 'ERR_TCP_TRUNCATED';
  const dataOffset = tcpHeaderBytes(buf, 0);
  if (dataOffset < TCP_HEADER_MIN || dataOffset > len) return 'ERR_TCP_DATA_OFFSET';
  if (verifyChecksum && finishChecksum(onesSum(buf, 0, len, pseudoHeaderSum(src, dst, IPPROTO_TCP, len))) !== 0) {
    return 'ERR_TCP_CHECKSUM';
  }
  return undefined;
}

/** checkTcp's code as a WireError that says what was wrong with `buf`. */
function tcpCheckError(code: TcpCheckCode, buf: Uint8Array): WireError {
  const len = buf.length;
  const dataOffset = len >= TCP_HEADER_MIN ? tcpHeaderBytes(buf, 0) : 0;
  switch (code) {
    case 'ERR_TCP_TRUNCATED':
      return new WireError(code, `TCP segment of ${len} bytes < 20`);
    case 'ERR_TCP_DATA_OFFSET':
      return dataOffset < TCP_HEADER_MIN
        ? new WireError(code, `data offset ${dataOffset / 4} words < 5`)
        : new WireError(code, `data offset ${dataOffset} bytes past the segment end (${len})`);
    case 'ERR_TCP_CHECKSUM':
      return new WireError(code, `bad TCP checksum 0x${tcpChecksumField(buf, 0).toString(16).padStart(4, '0')}`);
  }
}

/** Parse `buf` (a whole TCP segment: header + data) received from `src` to `dst`. */
export function parseTcp(
  buf: Uint8Array,
  src: Ipv4Address,
  dst: Ipv4Address,
  opts?: ParseTcpOptions,
): TcpSegment | WireError {
  const bad = checkTcp(buf, src, dst, opts?.verifyChecksum !== false);
  if (bad !== undefined) return tcpCheckError(bad, buf);
  // The receive path's reader, then a copy the caller may keep.
  const seg = PARSE_READER.read(buf);
  if (seg instanceof WireError) return seg;
  const own: TcpSegment = { ...seg, options: copyTcpOptions(seg.options) };
  PARSE_READER.release();
  return own;
}

const EMPTY_PAYLOAD = new Uint8Array(0);

/**
 * Received segments parsed into one reused record, for a receiver that is done with each segment
 * before it reads the next (the TCP layer's receive path: tcp-layer.ts): `read` returns the same
 * object every time, refilled, with its options in a TcpOptionsScratch, so a segment costs its
 * payload view and nothing else. What must outlive the segment (a SACK block, a timestamp) is
 * copied out by its reader; the payload view stays valid, as with parseTcp.
 */
export class TcpSegmentReader {
  private readonly options = new TcpOptionsScratch();
  private readonly seg: { -readonly [K in keyof TcpSegment]: TcpSegment[K] } = {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: undefined,
    dataOffset: 0,
    flags: 0,
    window: 0,
    checksum: 0,
    urgent: 0,
    options: NO_OPTIONS,
    payload: EMPTY_PAYLOAD,
  };

  /**
   * `buf` as parseTcp reads it, the checks of checkTcp already passed (the caller ran it: length,
   * data offset, checksum); a WireError for malformed options.
   */
  read(buf: Uint8Array): TcpSegment | WireError {
    const dataOffset = tcpHeaderBytes(buf, 0);
    const seg = this.seg;
    if (dataOffset === TCP_HEADER_MIN) seg.options = NO_OPTIONS;
    else {
      const bad = this.options.scan(buf, TCP_HEADER_MIN, dataOffset);
      if (bad !== undefined) return bad;
      seg.options = this.options;
    }
    const flags = tcpFlags(buf, 0);
    seg.srcPort = tcpSrcPort(buf, 0);
    seg.dstPort = tcpDstPort(buf, 0);
    seg.seq = tcpSeq(buf, 0);
    seg.ack = flags & ACK ? tcpAck(buf, 0) : undefined; // RFC 9293 §3.1: meaningful only with ACK
    seg.dataOffset = dataOffset;
    seg.flags = flags;
    seg.window = tcpWindow(buf, 0);
    seg.checksum = tcpChecksumField(buf, 0);
    seg.urgent = tcpUrgent(buf, 0);
    // A pure ACK (most of what a sender receives) shares one empty payload instead of a view each.
    seg.payload = dataOffset === buf.length ? EMPTY_PAYLOAD : buf.subarray(dataOffset);
    return seg;
  }

  /** Let go of the last segment's payload (not pinning its packet while idle). */
  release(): void {
    this.seg.payload = EMPTY_PAYLOAD;
  }
}

/** parseTcp's reader (parseTcp copies what it reads, so one is enough). */
const PARSE_READER = new TcpSegmentReader();

/** Header length (bytes) the segment will have once serialized. */
export function tcpHeaderLength(seg: TcpSegmentInit): number {
  return TCP_HEADER_MIN + (seg.options === undefined ? 0 : tcpOptionsLength(seg.options));
}

/**
 * Write `seg` (header, options, payload) at out[offset] and fill in the checksum for the
 * pseudo-header src -> dst. Returns the number of bytes written. `out` must have room.
 */
export function serializeTcp(
  seg: TcpSegmentInit,
  out: Uint8Array,
  offset: number,
  src: Ipv4Address,
  dst: Ipv4Address,
  checksumOffload = false,
): number {
  const optLen = seg.options === undefined ? 0 : writeTcpOptions(seg.options, out, offset + TCP_HEADER_MIN);
  const hdrLen = TCP_HEADER_MIN + optLen;
  const o = offset;
  out[o] = seg.srcPort >>> 8;
  out[o + 1] = seg.srcPort & 0xff;
  out[o + 2] = seg.dstPort >>> 8;
  out[o + 3] = seg.dstPort & 0xff;
  writeU32(out, o + 4, seg.seq);
  // The ACK bit and the number go together (RFC 9293 §3.1): without ACK the field is 0.
  const ack = seg.ack;
  writeU32(out, o + 8, ack === undefined ? 0 : ack);
  out[o + 12] = (hdrLen / 4) << 4;
  out[o + 13] = (ack === undefined ? seg.flags & ~ACK : seg.flags | ACK) & 0xff;
  out[o + 14] = (seg.window >>> 8) & 0xff;
  out[o + 15] = seg.window & 0xff;
  out[o + 16] = 0;
  out[o + 17] = 0;
  const urgent = seg.urgent ?? 0;
  out[o + 18] = urgent >>> 8;
  out[o + 19] = urgent & 0xff;
  let total = hdrLen;
  if (seg.payload !== undefined && seg.payload.length > 0) {
    out.set(seg.payload, o + hdrLen);
    total += seg.payload.length;
  }
  // With checksumOffload (a TSO super-segment, see link/device.ts) the device completes the checksum:
  // the field carries the pseudo-header sum alone, which the summing over the segment then includes.
  const c = checksumOffload
    ? pseudoHeaderSum(src, dst, IPPROTO_TCP, total)
    : finishChecksum(onesSum(out, o, o + total, pseudoHeaderSum(src, dst, IPPROTO_TCP, total)));
  out[o + 16] = c >>> 8;
  out[o + 17] = c & 0xff;
  return total;
}
