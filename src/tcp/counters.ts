/** TCP counters, like `netstat -s` (RFC 4022 MIB names where one exists). */
export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  /** Of segmentsOut: super-segments of several MSS handed to a device with TSO. */
  tsoSuperSegments: number;
  retransmits: number;
  fastRetransmits: number;
  /** Retransmissions found lost by duplicate-ACK counting during recovery, resent before the RTO. */
  lostRetransmits: number;
  /** RFC 8985 tail loss probes sent. */
  tailLossProbes: number;
  /** Segments dropped by PAWS (RFC 7323 §5). */
  pawsRejected: number;
  /** Loss recoveries found spurious (Eifel RFC 3522, D-SACK RFC 3708) and undone. */
  spuriousRetransmits: number;
  /** Retransmission timeouts found spurious (F-RTO RFC 5682, or timestamps) and undone. */
  spuriousTimeouts: number;
  /** ACKs received carrying a D-SACK block (RFC 2883), and the segments they reported duplicated. */
  dsacksReceived: number;
  dsackSegments: number;
  /**
   * D-SACKs not taken as evidence about our retransmissions: they report more duplicated segments
   * than were ever retransmitted (the network duplicated them, as Linux's TCPDSACKIgnoredDubious).
   */
  dsacksDubious: number;
  /** ACKs sent carrying a D-SACK block. */
  dsacksSent: number;
  /** RACK's reordering timer expired (RFC 8985 §6.2 step 5, a loss found by time). */
  rackTimeouts: number;
  /** Tail loss probes whose ACK showed they repaired a loss (RFC 8985 §7.4). */
  tlpRecoveries: number;
  /** SACK blocks ignored as nonsense (RFC 2018 §4-§5: left >= right, beyond SND.MAX, at or below SND.UNA, larger than the flight). */
  sackBlocksIgnored: number;
  /** Valid SACK blocks not recorded: finer than one segment, or the scoreboard full (tcp/sack.ts). */
  sackBlocksDropped: number;
  timeouts: number;
  resetsSent: number;
  resetsReceived: number;
  activeOpens: number;
  passiveOpens: number;
  failedAttempts: number;
  establishedResets: number;
  challengeAcks: number;
  challengeAcksSuppressed: number;
  /** Half-open entries dropped to make room for a new SYN (SYN queue full, cookies off). */
  synQueueDrops: number;
  /** SYNs that found their listener's SYN queue full. */
  synQueueOverflows: number;
  /** SYNs and handshake-completing ACKs dropped because the accept queue was full (Linux ListenOverflows). */
  listenOverflows: number;
  /** SYN-ACKs sent as SYN cookies (RFC 4987 §3.6), cookies that came back valid, ACKs that failed the check. */
  synCookiesSent: number;
  synCookiesValidated: number;
  synCookiesFailed: number;
  badSegments: number;
  /** ICMP errors about our segments (ip/icmp.ts checked the quote): all of them, then by fate. */
  icmpErrors: number;
  /** ... for no connection of ours (a TIME-WAIT record or a closed one counts here too). */
  icmpNoConnection: number;
  /** ... whose quoted sequence number was not in flight (RFC 5927 §4.1): ignored. */
  icmpOutOfWindow: number;
  /** ... remembered as a soft error (RFC 1122 §4.2.3.9), reported if the connection times out. */
  icmpSoftErrors: number;
  /** ... that aborted a connection in SYN-SENT (a hard error: port or protocol unreachable), or dropped a half-open passive one. */
  icmpAborts: number;
  /** ... "fragmentation needed" (RFC 1191) that lowered the path MTU, and connections whose send MSS came down with it. */
  pmtuLowered: number;
  pmtuMssReductions: number;
  /** Segments dropped, by reason (stable keys). */
  dropped: Record<string, number>;
}

export function newCounters(): TcpCounters {
  return {
    segmentsIn: 0,
    segmentsOut: 0,
    tsoSuperSegments: 0,
    retransmits: 0,
    fastRetransmits: 0,
    lostRetransmits: 0,
    tailLossProbes: 0,
    pawsRejected: 0,
    spuriousRetransmits: 0,
    spuriousTimeouts: 0,
    dsacksReceived: 0,
    dsackSegments: 0,
    dsacksDubious: 0,
    dsacksSent: 0,
    rackTimeouts: 0,
    tlpRecoveries: 0,
    sackBlocksIgnored: 0,
    sackBlocksDropped: 0,
    timeouts: 0,
    resetsSent: 0,
    resetsReceived: 0,
    activeOpens: 0,
    passiveOpens: 0,
    failedAttempts: 0,
    establishedResets: 0,
    challengeAcks: 0,
    challengeAcksSuppressed: 0,
    synQueueDrops: 0,
    synQueueOverflows: 0,
    listenOverflows: 0,
    synCookiesSent: 0,
    synCookiesValidated: 0,
    synCookiesFailed: 0,
    badSegments: 0,
    icmpErrors: 0,
    icmpNoConnection: 0,
    icmpOutOfWindow: 0,
    icmpSoftErrors: 0,
    icmpAborts: 0,
    pmtuLowered: 0,
    pmtuMssReductions: 0,
    dropped: {},
  };
}

export function countDrop(c: TcpCounters, reason: string): void {
  c.dropped[reason] = (c.dropped[reason] ?? 0) + 1;
}
