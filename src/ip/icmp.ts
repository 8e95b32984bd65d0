/**
 * ICMP (protocol 1) for a host: the echo server every host must run (RFC 1122 §3.2.2.6), the error
 * messages the IPv4 layer needs (protocol and port unreachable, reassembly time exceeded), and a tiny
 * UDP handler whose only job is to answer "port unreachable", since tunstack has no UDP sockets.
 *
 * Errors are never sent about an ICMP error, a non-first fragment, a broadcast or multicast datagram,
 * or a datagram whose source is not a single host (RFC 1122 §3.2.2), and they are rate-limited by a
 * token bucket driven by `now` (RFC 1812 §4.3.2.8; RFC 1122 §3.2.2 also allows hosts to limit them).
 *
 * Errors received (destination unreachable, time exceeded, parameter problem) about a datagram of
 * ours go to the transport of the quoted protocol (TransportHandler.receiveError, ip/types.ts), after
 * the quote is checked; TCP then checks it against its connections (tcp-layer.ts, RFC 5927 §4.1).
 */
import { finishChecksum, onesSum, pseudoHeaderSum } from '../wire/checksum.ts';
import {
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER,
  ICMP_PARAMETER_PROBLEM,
  ICMP_TIME_EXCEEDED,
  ICMP_UNREACH_NEEDFRAG,
  ICMP_UNREACH_PORT,
  checkIcmp,
  isIcmpErrorType,
  serializeIcmp,
} from '../wire/icmpv4.ts';
import {
  IPV4_OFFSET_MASK,
  IPV4_MIN_HEADER,
  ipv4Dst,
  ipv4FragmentWord,
  ipv4HeaderLength,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
} from '../wire/ipv4.ts';
import type { Ipv4Address } from '../wire/ipv4-address.ts';
import type { Logger } from '../util/logger.ts';
import { createIcmpCounters, type IcmpCounters } from './counters.ts';
import { IPPROTO_ICMP, IPPROTO_UDP, IPV4_HEADROOM, type IcmpErrorReport, type IpOutput, type IpReceiveInfo, type TransportHandler } from './types.ts';

export type { IcmpErrorReport } from './types.ts';

export interface IcmpHandlerOptions {
  /** Our address: the source of the errors we originate. */
  address: Ipv4Address;
  /** Where replies and errors go (the Ipv4Layer). `ip` is accepted as another name for it. */
  output?: IpOutput;
  ip?: IpOutput;
  logger?: Logger;
  /** Error rate limit: tokens per second and bucket size. Default 10/s, burst 10. */
  errorRate?: { perSecond?: number; burst?: number };
}

/** IpSendOptions of an echo reply to a request with TOS 0 (the usual case), made once. */
const ECHO_SEND_OPTS = Object.freeze({ tos: 0 });

/**
 * RFC 1624 §3, eqn. 3: the Internet checksum `hc` of data in which one 16-bit word changes from `m`
 * to `m2`, without summing the data again: HC' = ~(~HC + ~m + m'), in one's complement arithmetic.
 */
function replaceWordInChecksum(hc: number, m: number, m2: number): number {
  let sum = (~hc & 0xffff) + (~m & 0xffff) + m2;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  // One's complement has two zeros. Where the data now sums to +0 (all zero words) the equation
  // gives 0x0000, which would not verify; 0xffff verifies for any data whose sum is zero.
  const c = ~sum & 0xffff;
  return c === 0 ? 0xffff : c;
}

/** IP precedence 6 (internetwork control) for the errors we originate, as RFC 1812 §4.3.2.5 advises and Linux does. */
const ICMP_ERROR_TOS = 0xc0;

export class IcmpHandler implements TransportHandler {
  readonly counters: IcmpCounters = createIcmpCounters();
  private readonly address: Ipv4Address;
  private readonly output: IpOutput;
  private readonly logger: Logger | undefined;
  private readonly ratePerMs: number;
  private readonly burst: number;
  private tokens: number;
  private lastRefill: number | undefined;
  private errorListener: ((now: number, report: IcmpErrorReport) => void) | undefined;
  /** The transports by protocol (the IPv4 layer's table), for the errors about their datagrams. */
  private transports: ((protocol: number) => TransportHandler | undefined) | undefined;
  /** Refilled for each error received: no object per message, even in a flood. */
  private readonly report: IcmpErrorReport = {
    from: 0,
    type: 0,
    code: 0,
    nextHopMtu: 0,
    original: new Uint8Array(0),
    quotedDst: 0,
    quotedProtocol: 0,
    quotedLength: 0,
    transport: new Uint8Array(0),
  };

  constructor(opts: IcmpHandlerOptions) {
    this.address = opts.address;
    const output = opts.output ?? opts.ip;
    if (output === undefined) throw new TypeError('IcmpHandler needs an output (the IPv4 layer)');
    this.output = output;
    this.logger = opts.logger;
    this.ratePerMs = (opts.errorRate?.perSecond ?? 10) / 1000;
    this.burst = opts.errorRate?.burst ?? 10;
    this.tokens = this.burst;
  }

  /** A copy of the counters (ICMP in/out and the UDP port-unreachable helper). */
  stats(): IcmpCounters {
    return { ...this.counters };
  }

  /**
   * Be told of destination unreachable and time exceeded messages: RFC 1122 §3.2.2.1 and §3.2.2.4
   * say they MUST be passed to the transport layer (TCP reacts to them; stack.ts wires this).
   */
  onError(listener: (now: number, report: IcmpErrorReport) => void): void {
    this.errorListener = listener;
  }

  /** Where errors go by the quoted datagram's protocol (the IPv4 layer passes its handler table). */
  attachTransports(lookup: (protocol: number) => TransportHandler | undefined): void {
    this.transports = lookup;
  }

  receive(now: number, ip: IpReceiveInfo, payload: Uint8Array): void {
    const c = this.counters;
    c.inMessages++;
    const err = checkIcmp(payload);
    if (err !== undefined) {
      if (err === 'ERR_ICMP_CHECKSUM') c.inBadChecksum++;
      else c.inTruncated++;
      return;
    }
    switch (payload[0]) {
      case ICMP_ECHO_REQUEST:
        c.inEchoRequests++;
        this.replyToEcho(ip, payload);
        return;
      case ICMP_ECHO_REPLY:
        // We never ping anyone.
        c.inEchoRepliesIgnored++;
        return;
      case ICMP_DEST_UNREACHABLE:
      case ICMP_TIME_EXCEEDED:
      case ICMP_PARAMETER_PROBLEM:
        if (payload[0] === ICMP_DEST_UNREACHABLE) c.inDestUnreachable++;
        else if (payload[0] === ICMP_TIME_EXCEEDED) c.inTimeExceeded++;
        else c.inParameterProblems++;
        this.reportError(now, ip.src, payload);
        return;
      default:
        c.inOther++;
    }
  }

  /**
   * An error about one of our datagrams: check the quote (RFC 792: the internet header and the first
   * 64 bits of data; RFC 1122 §3.2.2: at least that much), then tell the transport of the quoted
   * protocol (RFC 1122 §3.2.2.1, §3.2.2.4: MUST be passed up), which checks that it fits one of its
   * connections (RFC 5927 §4.1). A quote that is not of a datagram we could have sent (not IPv4,
   * shorter than its header + 8, not from our address, a non-first fragment, which carries no
   * transport header) is counted and dropped here.
   */
  private reportError(now: number, from: Ipv4Address, payload: Uint8Array): void {
    const c = this.counters;
    const q = payload.subarray(ICMP_HEADER);
    if (q.length < IPV4_MIN_HEADER || q[0]! >>> 4 !== 4) {
      c.inErrorsBadQuote++;
      return;
    }
    const hl = ipv4HeaderLength(q);
    if (hl < IPV4_MIN_HEADER || q.length < hl + 8 || ipv4Src(q) !== this.address || (ipv4FragmentWord(q) & IPV4_OFFSET_MASK) !== 0) {
      c.inErrorsBadQuote++;
      return;
    }
    const r = this.report;
    const type = payload[0]!;
    const code = payload[1]!;
    r.from = from;
    r.type = type;
    r.code = code;
    r.nextHopMtu = type === ICMP_DEST_UNREACHABLE && code === ICMP_UNREACH_NEEDFRAG ? (payload[6]! << 8) | payload[7]! : 0;
    r.original = q;
    r.quotedDst = ipv4Dst(q);
    r.quotedProtocol = ipv4Protocol(q);
    r.quotedLength = ipv4TotalLength(q);
    r.transport = q.subarray(hl);
    this.errorListener?.(now, r);
    const t = this.transports?.(r.quotedProtocol);
    if (t?.receiveError === undefined) {
      c.inErrorsNoTransport++;
      return;
    }
    c.inErrorsDelivered++;
    t.receiveError(now, r);
  }

  /**
   * RFC 1122 §3.2.2.6: every host answers echo requests; the reply carries the request's identifier,
   * sequence number and data unchanged, and its source is the address the request was sent to.
   * A large request that arrived in fragments was reassembled by the IP layer; the reply is as large
   * and the IP layer fragments it on the way out (DF clear).
   *
   * The reply is built in place, in the request's own buffer (the receiver owns what a device hands
   * it, link/device.ts): the type byte turns from 8 into 0, the checksum is updated for that one
   * word instead of summed again (RFC 1624 §3, eqn. 3), and the IPv4 layer writes its header over
   * the request's. No allocation and no copy per ping.
   */
  private replyToEcho(ip: IpReceiveInfo, request: Uint8Array): void {
    // The IPv4 layer wants the payload at IPV4_HEADROOM: the request's header is that long, or
    // longer (options, which the reply does not repeat), so the packet starts that much later.
    const at = ip.headerLength - IPV4_HEADROOM;
    const packet = at === 0 ? ip.packet : ip.packet.subarray(at, IPV4_HEADROOM + at + request.length);
    const word = (request[0]! << 8) | request[1]!; // type and code, as one 16-bit word
    request[0] = ICMP_ECHO_REPLY;
    request[1] = 0;
    const sum = replaceWordInChecksum((request[2]! << 8) | request[3]!, word, ICMP_ECHO_REPLY << 8);
    request[2] = sum >>> 8;
    request[3] = sum & 0xff;
    this.counters.outEchoReplies++;
    this.output.send(packet, ip.dst, ip.src, IPPROTO_ICMP, ip.tos === 0 ? ECHO_SEND_OPTS : { tos: ip.tos });
  }

  /** Destination unreachable (RFC 792) about `offending`, a whole datagram we received. */
  sendDestinationUnreachable(now: number, code: number, offending: Uint8Array, nextHopMtu?: number): void {
    this.sendError(now, offending, (quote, out) =>
      serializeIcmp({ kind: 'destination-unreachable', code, nextHopMtu, original: quote }, out, IPV4_HEADROOM),
    );
  }

  /** Time exceeded (RFC 792): code 1 when reassembly timed out (with fragment zero as `offending`). */
  sendTimeExceeded(now: number, code: number, offending: Uint8Array): void {
    this.sendError(now, offending, (quote, out) =>
      serializeIcmp({ kind: 'time-exceeded', code, original: quote }, out, IPV4_HEADROOM),
    );
  }

  private sendError(now: number, offending: Uint8Array, write: (quote: Uint8Array, out: Uint8Array) => number): void {
    if (!mayAnswerWithError(offending)) {
      this.counters.outErrorsSuppressed++;
      return;
    }
    if (!this.takeToken(now)) {
      this.counters.outErrorsRateLimited++;
      return;
    }
    // RFC 792: the internet header plus the first 64 bits of the original data (the transport's ports).
    const quoteLength = Math.min(offending.length, ipv4HeaderLength(offending) + 8);
    const quote = offending.subarray(0, quoteLength);
    const packet = new Uint8Array(IPV4_HEADROOM + ICMP_HEADER + quoteLength);
    write(quote, packet);
    this.counters.outErrors++;
    if (this.logger?.isLevelEnabled('debug')) {
      this.logger.debug({ type: packet[IPV4_HEADROOM], code: packet[IPV4_HEADROOM + 1] }, 'icmp error sent');
    }
    this.output.send(packet, this.address, ipv4Src(offending), IPPROTO_ICMP, { tos: ICMP_ERROR_TOS });
  }

  /** Token bucket: `burst` tokens, refilled continuously at `perSecond`. */
  private takeToken(now: number): boolean {
    if (this.lastRefill !== undefined && now > this.lastRefill) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.lastRefill) * this.ratePerMs);
    }
    if (this.lastRefill === undefined || now > this.lastRefill) this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** True for 0.0.0.0, limited broadcast, loopback, multicast and class E: not a single host. */
export function isNotSingleHost(addr: Ipv4Address): boolean {
  const top = addr >>> 24;
  return addr === 0 || top === 127 || top >= 224;
}

/**
 * RFC 1122 §3.2.2: an ICMP error MUST NOT be sent in response to an ICMP error message, a datagram
 * sent to a broadcast or multicast address, a non-initial fragment, or a datagram whose source does
 * not define a single host. `offending` is a datagram that passed checkIpv4.
 */
export function mayAnswerWithError(offending: Uint8Array): boolean {
  if (offending.length < IPV4_MIN_HEADER) return false;
  if ((ipv4FragmentWord(offending) & IPV4_OFFSET_MASK) !== 0) return false;
  if (isNotSingleHost(ipv4Src(offending))) return false;
  const dst = ipv4Dst(offending);
  if (dst === 0xffffffff || dst >>> 28 === 0xe) return false;
  if (ipv4Protocol(offending) === IPPROTO_ICMP) {
    const hl = ipv4HeaderLength(offending);
    // Too short to tell what it is: stay silent.
    if (offending.length <= hl) return false;
    if (isIcmpErrorType(offending[hl]!)) return false;
  }
  return true;
}

/**
 * UDP (RFC 768) without sockets: validate, then answer port unreachable (RFC 1122 §4.1.3.1: a host
 * SHOULD send it when no process listens on the port). Counts go to the ICMP handler's counters.
 */
export class UdpUnreachableHandler implements TransportHandler {
  constructor(private readonly icmp: IcmpHandler) {}

  receive(now: number, ip: IpReceiveInfo, payload: Uint8Array): void {
    const c = this.icmp.counters;
    c.udpInDatagrams++;
    if (payload.length < 8) {
      c.udpBadLength++;
      return;
    }
    const length = (payload[4]! << 8) | payload[5]!;
    if (length < 8 || length > payload.length) {
      c.udpBadLength++;
      return;
    }
    const sum = (payload[6]! << 8) | payload[7]!;
    // RFC 768: a zero checksum means "not computed". RFC 1122 §4.1.3.4: a non-zero, invalid one MUST
    // make UDP silently discard the datagram. One the device vouches for (receive offload) is not
    // checked: it may hold only the pseudo-header sum.
    if (sum !== 0 && ip.checksumTrusted !== true) {
      const total = onesSum(payload, 0, length, pseudoHeaderSum(ip.src, ip.dst, IPPROTO_UDP, length));
      if (finishChecksum(total) !== 0) {
        c.udpBadChecksum++;
        return;
      }
    }
    c.udpNoPort++;
    this.icmp.sendDestinationUnreachable(now, ICMP_UNREACH_PORT, ip.packet);
  }
}
