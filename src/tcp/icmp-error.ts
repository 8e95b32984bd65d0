/**
 * What an ICMP error means to TCP: the error code the owner is told, and whether it is a hard error.
 *
 *  - RFC 1122 §4.2.3.9: destination unreachable codes 0, 1 and 5 (net, host, source route failed),
 *    time exceeded and parameter problem are soft errors: TCP MUST NOT abort the connection for
 *    them; codes 2-4 (protocol, port unreachable; fragmentation needed) are hard errors that SHOULD
 *    abort it. (Other unreachable codes, RFC 1812 §5.2.7.1, are taken as soft.) RFC 5927 §5 explains why aborting a synchronized connection on them is a
 *    risk (a forged error resets it) and §5.2 what stacks do instead: a hard error aborts only a
 *    connection still in SYN-SENT, and is otherwise treated as a soft one, as Linux does
 *    (tcp_v4_err). RFC 5461 §4 discusses aborting connection establishment on soft errors too
 *    (Linux does); here a soft error in SYN-SENT keeps RFC 1122's rule: the SYN is retried, and the
 *    error is reported if the attempt times out. Fragmentation needed is not an error at all but path MTU discovery
 *    (RFC 1191), handled by the layer (tcp-layer.ts).
 *  - A soft error is remembered and becomes the connection's error if it later times out, in place
 *    of ETIMEDOUT (Linux's sk_err_soft, reported by tcp_write_err); an acceptable ACK forgets it.
 *  - The codes are Linux's (icmp_err_convert), in Node's errno names.
 */
import {
  ICMP_DEST_UNREACHABLE,
  ICMP_PARAMETER_PROBLEM,
  ICMP_UNREACH_HOST,
  ICMP_UNREACH_NET,
  ICMP_TIME_EXCEEDED,
  ICMP_UNREACH_NEEDFRAG,
  ICMP_UNREACH_PORT,
  ICMP_UNREACH_PROTOCOL,
} from '../wire/icmpv4.ts';

/** Linux's icmp_err_convert, by destination unreachable code (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
const UNREACH_ERRNO: readonly string[] = [
  'ENETUNREACH', // 0 net unreachable
  'EHOSTUNREACH', // 1 host unreachable
  'ENOPROTOOPT', // 2 protocol unreachable
  'ECONNREFUSED', // 3 port unreachable
  'EMSGSIZE', // 4 fragmentation needed and DF set
  'EOPNOTSUPP', // 5 source route failed
  'ENETUNREACH', // 6 destination network unknown
  'EHOSTDOWN', // 7 destination host unknown
  'ENONET', // 8 source host isolated
  'ENETUNREACH', // 9 network administratively prohibited
  'EHOSTUNREACH', // 10 host administratively prohibited
  'ENETUNREACH', // 11 network unreachable for TOS
  'EHOSTUNREACH', // 12 host unreachable for TOS
  'EHOSTUNREACH', // 13 communication administratively prohibited
  'EHOSTUNREACH', // 14 host precedence violation
  'EHOSTUNREACH', // 15 precedence cutoff in effect
];

/** The error code an ICMP error stands for, or undefined for one TCP ignores (an unknown code). */
export function icmpErrorCode(type: number, code: number): string | undefined {
  switch (type) {
    case ICMP_DEST_UNREACHABLE:
      return UNREACH_ERRNO[code];
    case ICMP_TIME_EXCEEDED:
      return 'EHOSTUNREACH';
    case ICMP_PARAMETER_PROBLEM:
      return 'EPROTO';
    default:
      return undefined;
  }
}

/** RFC 1122 §4.2.3.9's hard errors, which abort a connection in SYN-SENT (fragmentation needed aside). */
export function isHardIcmpError(type: number, code: number): boolean {
  return type === ICMP_DEST_UNREACHABLE && (code === ICMP_UNREACH_PROTOCOL || code === ICMP_UNREACH_PORT);
}

/**
 * Errors that make a half-open passive connection (SYN-RECEIVED, our SYN-ACK quoted) pointless:
 * net or host unreachable, time exceeded, parameter problem. The SYN may well have come from a
 * spoofed address (RFC 4987 §2), so its SYN queue slot is freed at once, as Linux's tcp_req_err
 * drops the request.
 */
export function dropsHalfOpen(type: number, code: number): boolean {
  if (type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETER_PROBLEM) return true;
  return type === ICMP_DEST_UNREACHABLE && (code === ICMP_UNREACH_NET || code === ICMP_UNREACH_HOST);
}

/** Fragmentation needed and DF set (RFC 1191 §4): path MTU discovery, not an error. */
export function isFragmentationNeeded(type: number, code: number): boolean {
  return type === ICMP_DEST_UNREACHABLE && code === ICMP_UNREACH_NEEDFRAG;
}
