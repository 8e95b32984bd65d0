/**
 * Counters of the IPv4 layer and its ICMP/UDP helpers: plain numeric fields, incremented in place
 * (cheap on the hot path) and copied out by stats(). Every drop has a reason, none is silent.
 */

export interface Ipv4Counters {
  rxPackets: number;
  rxBytes: number;
  /** Datagrams handed to a transport (after reassembly). */
  rxDelivered: number;
  /** TCP super-segments from a device with receive offload (each counted once in rxPackets). */
  rxSuperSegments: number;
  // Validation drops (wire/ipv4.ts error codes).
  rxTruncated: number;
  rxBadVersion: number;
  rxBadHeaderLength: number;
  rxBadTotalLength: number;
  rxBadChecksum: number;
  rxBadFragment: number;
  // Addressing drops.
  /** Unicast for someone else (a host does not forward: forwarding is a router's job, RFC 1812). */
  rxNotOurs: number;
  /** Limited/directed broadcast or multicast destination: silently ignored (we join no group). */
  rxBroadcast: number;
  /** Source address that cannot be a single host (RFC 1122 §3.2.1.3). */
  rxBadSource: number;
  /** No transport registered for the protocol (answered with protocol unreachable). */
  rxUnknownProtocol: number;
  // Reassembly (RFC 791 §3.2).
  reasmFragments: number;
  reasmOk: number;
  reasmDuplicates: number;
  reasmOverlap: number;
  reasmTimeout: number;
  /** Datagrams evicted or refused to keep within the memory bounds. */
  reasmOverflow: number;
  /** Fragments inconsistent with the others (two different ends, data past the end, > 65535). */
  reasmInconsistent: number;
  // Output.
  txPackets: number;
  txBytes: number;
  /** Datagrams that had to be fragmented, and the fragments sent for them. */
  txFragmented: number;
  txFragments: number;
  /** TCP super-segments handed to a device with segmentation offload (each counted once in txPackets). */
  txTso: number;
  /** Too big for the MTU with DF set (the transport must size its segments). */
  txDropDontFragment: number;
  /** Larger than 65535 bytes, or with no room for the header. */
  txDropTooBig: number;
}

export interface IcmpCounters {
  inMessages: number;
  inBadChecksum: number;
  inTruncated: number;
  inEchoRequests: number;
  inEchoRepliesIgnored: number;
  inDestUnreachable: number;
  inTimeExceeded: number;
  inParameterProblems: number;
  /** Errors whose quote is not one of our datagrams (too short, not IPv4, not from us, a later fragment). */
  inErrorsBadQuote: number;
  /** Errors handed to the transport that sent the quoted datagram (TCP), and those for one without a handler. */
  inErrorsDelivered: number;
  inErrorsNoTransport: number;
  inOther: number;
  outEchoReplies: number;
  outErrors: number;
  /** Errors not sent because the token bucket was empty (RFC 1812 §4.3.2.8). */
  outErrorsRateLimited: number;
  /** Errors not sent because RFC 1122 §3.2.2 forbids them (about an ICMP error, a fragment, ...). */
  outErrorsSuppressed: number;
  udpInDatagrams: number;
  udpBadLength: number;
  udpBadChecksum: number;
  udpNoPort: number;
}

export function createIpv4Counters(): Ipv4Counters {
  return {
    rxPackets: 0,
    rxBytes: 0,
    rxDelivered: 0,
    rxSuperSegments: 0,
    rxTruncated: 0,
    rxBadVersion: 0,
    rxBadHeaderLength: 0,
    rxBadTotalLength: 0,
    rxBadChecksum: 0,
    rxBadFragment: 0,
    rxNotOurs: 0,
    rxBroadcast: 0,
    rxBadSource: 0,
    rxUnknownProtocol: 0,
    reasmFragments: 0,
    reasmOk: 0,
    reasmDuplicates: 0,
    reasmOverlap: 0,
    reasmTimeout: 0,
    reasmOverflow: 0,
    reasmInconsistent: 0,
    txPackets: 0,
    txBytes: 0,
    txFragmented: 0,
    txFragments: 0,
    txTso: 0,
    txDropDontFragment: 0,
    txDropTooBig: 0,
  };
}

export function createIcmpCounters(): IcmpCounters {
  return {
    inMessages: 0,
    inBadChecksum: 0,
    inTruncated: 0,
    inEchoRequests: 0,
    inEchoRepliesIgnored: 0,
    inDestUnreachable: 0,
    inTimeExceeded: 0,
    inParameterProblems: 0,
    inErrorsBadQuote: 0,
    inErrorsDelivered: 0,
    inErrorsNoTransport: 0,
    inOther: 0,
    outEchoReplies: 0,
    outErrors: 0,
    outErrorsRateLimited: 0,
    outErrorsSuppressed: 0,
    udpInDatagrams: 0,
    udpBadLength: 0,
    udpBadChecksum: 0,
    udpNoPort: 0,
  };
}
