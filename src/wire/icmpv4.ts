/**
 * ICMP for IPv4 (RFC 792). Every message starts with the same 4 bytes; the next 4 depend on the type.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Type      |     Code      |          Checksum             |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           Identifier          |        Sequence Number        |   echo (8) / echo reply (0)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Data ...
 *    +-+-+-+-+-
 *
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |            unused             |         Next-Hop MTU          |   destination unreachable (3)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   (MTU only for code 4, RFC 1191 §4)
 *    |      Internet Header + 64 bits of Original Data Datagram      |   (time exceeded (11): 4 unused bytes)
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   offset  size  field
 *    0      1     type
 *    1      1     code
 *    2      2     checksum: over the whole ICMP message (RFC 792), no pseudo-header
 *    4      2     identifier (echo) | unused (errors)
 *    6      2     sequence number (echo) | next-hop MTU (unreachable code 4) | unused
 *    8      ..    echo data | the offending datagram's header + at least 8 bytes of its data
 */
import { WireError } from '../util/errors.ts';
import { checksum, onesSum } from './checksum.ts';

export const ICMP_HEADER = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;

/** Destination unreachable codes (RFC 792, RFC 1191 for 4). */
export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
export const ICMP_UNREACH_NEEDFRAG = 4;
/** Time exceeded codes (RFC 792). */
export const ICMP_TIMXCEED_INTRANS = 0;
export const ICMP_TIMXCEED_REASS = 1;

export type IcmpErrorCode = 'ERR_ICMP_TRUNCATED' | 'ERR_ICMP_CHECKSUM';

export interface IcmpEcho {
  readonly kind: 'echo-request' | 'echo-reply';
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  readonly identifier: number;
  readonly sequence: number;
  readonly data: Uint8Array;
}

export interface IcmpDestinationUnreachable {
  readonly kind: 'destination-unreachable';
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  /** Next-hop MTU (RFC 1191 §4); 0 unless code is 4 and the sender filled it in. */
  readonly nextHopMtu: number;
  /** The offending datagram's header and first data bytes (a view). */
  readonly original: Uint8Array;
}

export interface IcmpTimeExceeded {
  readonly kind: 'time-exceeded';
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  readonly original: Uint8Array;
}

/** Any other type (timestamp, redirect, parameter problem, ...): kept raw. */
export interface IcmpOther {
  readonly kind: 'other';
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  /** Bytes 4..8. */
  readonly rest: Uint8Array;
  readonly body: Uint8Array;
}

export type IcmpMessage = IcmpEcho | IcmpDestinationUnreachable | IcmpTimeExceeded | IcmpOther;

/** Validate without allocating: undefined when acceptable, else the error code. */
export function checkIcmp(buf: Uint8Array): IcmpErrorCode | undefined {
  if (buf.length < ICMP_HEADER) return 'ERR_ICMP_TRUNCATED';
  // RFC 792: the checksum covers the whole message; it verifies as 0 with the field included.
  if (checksum(buf) !== 0) return 'ERR_ICMP_CHECKSUM';
  return undefined;
}

/** Parse an ICMP message (the IPv4 payload), or a WireError (ERR_ICMP_TRUNCATED | ERR_ICMP_CHECKSUM). */
export function parseIcmp(buf: Uint8Array): IcmpMessage | WireError {
  const err = checkIcmp(buf);
  if (err !== undefined) {
    return new WireError(err, err === 'ERR_ICMP_TRUNCATED' ? 'ICMP message shorter than 8 bytes' : 'ICMP checksum mismatch');
  }
  const type = buf[0]!;
  const code = buf[1]!;
  const sum = (buf[2]! << 8) | buf[3]!;
  switch (type) {
    case ICMP_ECHO_REQUEST:
    case ICMP_ECHO_REPLY:
      return {
        kind: type === ICMP_ECHO_REQUEST ? 'echo-request' : 'echo-reply',
        type,
        code,
        checksum: sum,
        identifier: (buf[4]! << 8) | buf[5]!,
        sequence: (buf[6]! << 8) | buf[7]!,
        data: buf.subarray(ICMP_HEADER),
      };
    case ICMP_DEST_UNREACHABLE:
      return {
        kind: 'destination-unreachable',
        type,
        code,
        checksum: sum,
        nextHopMtu: code === ICMP_UNREACH_NEEDFRAG ? (buf[6]! << 8) | buf[7]! : 0,
        original: buf.subarray(ICMP_HEADER),
      };
    case ICMP_TIME_EXCEEDED:
      return { kind: 'time-exceeded', type, code, checksum: sum, original: buf.subarray(ICMP_HEADER) };
    default:
      return { kind: 'other', type, code, checksum: sum, rest: buf.subarray(4, 8), body: buf.subarray(ICMP_HEADER) };
  }
}

/** What serializeIcmp writes (the checksum is computed). */
export type IcmpInit =
  | { kind: 'echo-request' | 'echo-reply'; identifier: number; sequence: number; data: Uint8Array }
  | { kind: 'destination-unreachable'; code: number; nextHopMtu?: number; original: Uint8Array }
  | { kind: 'time-exceeded'; code: number; original: Uint8Array };

/** Length in bytes of the serialized message. */
export function icmpLength(msg: IcmpInit): number {
  return ICMP_HEADER + ('data' in msg ? msg.data.length : msg.original.length);
}

/** Write `msg` at out[offset] and return its length. */
export function serializeIcmp(msg: IcmpInit, out: Uint8Array, offset: number): number {
  const length = icmpLength(msg);
  if (offset + length > out.length) {
    throw new WireError('ERR_ICMP_TRUNCATED', `ICMP message of ${length} bytes does not fit the buffer`);
  }
  let w1 = 0;
  let w2 = 0;
  let body: Uint8Array;
  switch (msg.kind) {
    case 'echo-request':
    case 'echo-reply':
      out[offset] = msg.kind === 'echo-request' ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY;
      out[offset + 1] = 0;
      w1 = msg.identifier & 0xffff;
      w2 = msg.sequence & 0xffff;
      body = msg.data;
      break;
    case 'destination-unreachable':
      out[offset] = ICMP_DEST_UNREACHABLE;
      out[offset + 1] = msg.code;
      // RFC 1191 §4: the low-order 16 bits of the unused field carry the next-hop MTU for code 4.
      w2 = msg.code === ICMP_UNREACH_NEEDFRAG ? (msg.nextHopMtu ?? 0) & 0xffff : 0;
      body = msg.original;
      break;
    case 'time-exceeded':
      out[offset] = ICMP_TIME_EXCEEDED;
      out[offset + 1] = msg.code;
      body = msg.original;
      break;
  }
  out[offset + 2] = 0;
  out[offset + 3] = 0;
  out[offset + 4] = w1 >>> 8;
  out[offset + 5] = w1 & 0xff;
  out[offset + 6] = w2 >>> 8;
  out[offset + 7] = w2 & 0xff;
  out.set(body, offset + ICMP_HEADER);
  const sum = ~onesSum(out, offset, offset + length) & 0xffff;
  out[offset + 2] = sum >>> 8;
  out[offset + 3] = sum & 0xff;
  return length;
}

/**
 * Is this ICMP type an error message (RFC 792; RFC 1122 §3.2.2 forbids answering one with another)?
 * Only the known query/informational types count as "not an error"; an unknown type is treated as an
 * error, the safe side.
 */
export function isIcmpErrorType(type: number): boolean {
  switch (type) {
    case 0: // echo reply
    case 8: // echo request
    case 9: // router advertisement (RFC 1256)
    case 10: // router solicitation
    case 13: // timestamp
    case 14: // timestamp reply
    case 15: // information request
    case 16: // information reply
    case 17: // address mask request (RFC 950)
    case 18: // address mask reply
      return false;
    default:
      return true;
  }
}
