/**
 * The IPv4 layer of a host (RFC 791, RFC 1122 §3): validates what arrives, keeps what is addressed to
 * us, reassembles fragments, and hands each datagram to the transport registered for its protocol;
 * on the way out it writes the header in front of a transport's payload and fragments when needed.
 *
 * It never forwards (it is a host, not a router), never throws on a bad packet (every drop is counted
 * with its reason), and does no I/O of its own: `transmit` is the device's send, time comes in as
 * `now`, and `pollAt()`/`poll(now)` drive the reassembly timeout.
 *
 * ICMP comes built in: the constructor registers an IcmpHandler for protocol 1 (echo replies) and,
 * unless told otherwise, a UDP handler that answers "port unreachable". stack.ts registers TCP.
 * ICMP errors about our datagrams go to the transport of the quoted protocol; the path MTU each
 * destination is known to have (RFC 1191) is kept here (pmtu-cache.ts), and learned only from a
 * "fragmentation needed" that the transport found genuine (learnPathMtu, RFC 5927 §7.2).
 */
import { TunstackError } from '../util/errors.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import {
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_MAX_TOTAL_LENGTH,
  IPV4_MIN_HEADER,
  IPV4_OFFSET_MASK,
  checkIpv4,
  ipv4Dst,
  ipv4FragmentWord,
  ipv4HeaderLength,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
  ipv4Tos,
  ipv4Ttl,
  serializeIpv4Header,
  writeIpv4Header,
} from '../wire/ipv4.ts';
import { ICMP_TIMXCEED_REASS, ICMP_UNREACH_PROTOCOL } from '../wire/icmpv4.ts';
import { formatIpv4Address, prefixMask, type Ipv4Address } from '../wire/ipv4-address.ts';
import { createIpv4Counters, type IcmpCounters, type Ipv4Counters } from './counters.ts';
import { IcmpHandler, UdpUnreachableHandler, isNotSingleHost } from './icmp.ts';
import { PathMtuCache, type PathMtuCacheOptions } from './pmtu-cache.ts';
import { Reassembler, type ReassemblyOptions } from './reassembly.ts';
import { RX_CSUM_TRUSTED, RX_GSO_TCPV4 } from '../link/device.ts';
import {
  IPPROTO_ICMP,
  IPPROTO_UDP,
  IPV4_HEADROOM,
  type IpOutput,
  type IpReceiveInfo,
  type IpSendOptions,
  type TransportHandler,
} from './types.ts';

const EMPTY = new Uint8Array(0);

/** RFC 791 §3.2: every internet module must be able to forward a datagram of 68 octets unfragmented. */
export const IPV4_MIN_MTU = 68;
/** Initial TTL: 64, the value IANA's registry recommends (RFC 1122 §3.2.1.7: fixed, configurable). */
export const DEFAULT_TTL = 64;

export interface Ipv4LayerOptions {
  address: Ipv4Address;
  /** The device's send (segmentSize: see IpSendOptions). */
  transmit: (packet: Uint8Array, segmentSize?: number) => void;
  /** The device's NetDevice.allocPacket, when it has one (see IpOutput.allocPacket). */
  allocPacket?: (length: number) => Uint8Array;
  mtu: number;
  /** The device's NetDevice.tsoMaxSize (default 0: no segmentation offload). */
  tsoMaxSize?: number;
  /**
   * With it, datagrams to the subnet's directed broadcast are recognised (and ignored) as such
   * (RFC 1122 §3.3.6); /31 and /32 have none (RFC 3021 §2.1).
   */
  prefixLength?: number;
  logger?: Logger;
  reassembly?: ReassemblyOptions;
  /** Error rate limit for ICMP (default 10/s, burst 10). */
  icmpErrorRate?: { perSecond?: number; burst?: number };
  /** Answer UDP datagrams with port unreachable (default true). */
  udpUnreachable?: boolean;
  /** First identification value (default random); tests pass a fixed one. */
  initialIdentification?: number;
  /** The path MTU cache (RFC 1191): size, aging, floor (pmtu-cache.ts). */
  pmtu?: PathMtuCacheOptions;
}

export interface Ipv4Stats extends Ipv4Counters {
  reasmPending: number;
  reasmBytes: number;
  icmp: IcmpCounters;
  /** The path MTU cache: destinations with a learned MTU, values learned, ignored, evicted. */
  pmtu: { entries: number; learned: number; ignored: number; evicted: number };
}

export class Ipv4Layer implements IpOutput {
  readonly mtu: number;
  readonly tsoMaxSize: number;
  readonly address: Ipv4Address;
  readonly counters: Ipv4Counters = createIpv4Counters();
  private icmpHandler: IcmpHandler;
  private udpHandler: UdpUnreachableHandler | undefined;
  private readonly transmit: (packet: Uint8Array, segmentSize?: number) => void;
  private readonly deviceAlloc: ((length: number) => Uint8Array) | undefined;
  private readonly logger: Logger;
  private readonly broadcast: Ipv4Address | undefined;
  /** Indexed by protocol number: a 256-slot table, no Map lookup per packet. */
  private readonly handlers: (TransportHandler | undefined)[] = new Array<TransportHandler | undefined>(256).fill(undefined);
  private readonly reassembler: Reassembler;
  private readonly pmtuCache: PathMtuCache;
  private nextId: number;
  /** What deliver() tells a transport about each datagram: one object, refilled (no object per packet). */
  private readonly info: { -readonly [K in keyof IpReceiveInfo]-?: IpReceiveInfo[K] } = {
    src: 0,
    dst: 0,
    protocol: 0,
    ttl: 0,
    tos: 0,
    packet: EMPTY,
    headerLength: 0,
    checksumTrusted: false,
  };
  /** The transports by protocol, for the ICMP handler's errors (made once). */
  private readonly transportFor = (protocol: number): TransportHandler | undefined => this.handlers[protocol];

  constructor(opts: Ipv4LayerOptions) {
    if (!Number.isInteger(opts.mtu) || opts.mtu < IPV4_MIN_MTU || opts.mtu > IPV4_MAX_TOTAL_LENGTH) {
      throw new TunstackError('ERR_IPV4_MTU', `MTU must be an integer in [${IPV4_MIN_MTU}, 65535], got ${opts.mtu}`);
    }
    if (opts.prefixLength !== undefined && !(Number.isInteger(opts.prefixLength) && opts.prefixLength >= 0 && opts.prefixLength <= 32)) {
      throw new TunstackError('ERR_IPV4_PREFIX', `prefix length must be an integer in [0, 32], got ${opts.prefixLength}`);
    }
    this.mtu = opts.mtu;
    this.tsoMaxSize = opts.tsoMaxSize !== undefined && opts.tsoMaxSize > opts.mtu ? Math.min(opts.tsoMaxSize, IPV4_MAX_TOTAL_LENGTH) : 0;
    this.address = opts.address >>> 0;
    this.transmit = opts.transmit;
    this.deviceAlloc = opts.allocPacket;
    this.logger = opts.logger ?? silentLogger();
    if (opts.prefixLength !== undefined && opts.prefixLength < 31) {
      this.broadcast = (this.address | ~prefixMask(opts.prefixLength)) >>> 0;
    }
    this.nextId = (opts.initialIdentification ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
    this.icmpHandler = new IcmpHandler({
      address: this.address,
      output: this,
      logger: this.logger,
      ...(opts.icmpErrorRate !== undefined ? { errorRate: opts.icmpErrorRate } : {}),
    });
    this.icmpHandler.attachTransports(this.transportFor);
    this.pmtuCache = new PathMtuCache(this.mtu, opts.pmtu);
    this.reassembler = new Reassembler(opts.reassembly ?? {}, this.counters, (now, first) =>
      this.icmpHandler.sendTimeExceeded(now, ICMP_TIMXCEED_REASS, first),
    );
    this.handlers[IPPROTO_ICMP] = this.icmpHandler;
    if (opts.udpUnreachable !== false) {
      this.udpHandler = new UdpUnreachableHandler(this.icmpHandler);
      this.handlers[IPPROTO_UDP] = this.udpHandler;
    }
  }

  /** The ICMP handler: answers pings, sends the errors this layer needs, reports incoming errors. */
  get icmp(): IcmpHandler {
    return this.icmpHandler;
  }

  /**
   * Use another IcmpHandler (one built by the caller, e.g. with its own rate limit) in place of the
   * built-in one, for protocol 1, for the errors this layer sends, and behind the UDP handler.
   */
  setIcmp(icmp: IcmpHandler): void {
    this.icmpHandler = icmp;
    icmp.attachTransports(this.transportFor);
    this.handlers[IPPROTO_ICMP] = icmp;
    if (this.udpHandler !== undefined && this.handlers[IPPROTO_UDP] === this.udpHandler) {
      this.udpHandler = new UdpUnreachableHandler(icmp);
      this.handlers[IPPROTO_UDP] = this.udpHandler;
    }
  }

  /** Route datagrams of `protocol` to `handler` (replaces any previous one). */
  register(protocol: number, handler: TransportHandler): void {
    if (!Number.isInteger(protocol) || protocol < 0 || protocol > 255) {
      throw new TunstackError('ERR_IPV4_PROTOCOL', `protocol must be in [0, 255], got ${protocol}`);
    }
    this.handlers[protocol] = handler;
  }

  /**
   * One packet from the device. Never throws for bad input: drops are counted by reason.
   * `rxFlags`: what a device with receive offload said about it (link/device.ts RX_*). A TCP
   * super-segment (RX_GSO_TCPV4) may exceed the MTU: nothing here compares a received datagram with
   * the MTU (the MTU bounds what we send), its total length is its real length (the device checked),
   * and it goes up whole, as one segment carrying many MSS.
   */
  receive(now: number, packet: Uint8Array, rxFlags = 0): void {
    const c = this.counters;
    c.rxPackets++;
    c.rxBytes += packet.length;
    const err = checkIpv4(packet);
    if (err !== undefined) {
      switch (err) {
        case 'ERR_IPV4_TRUNCATED': c.rxTruncated++; break;
        case 'ERR_IPV4_VERSION': c.rxBadVersion++; break;
        case 'ERR_IPV4_IHL': c.rxBadHeaderLength++; break;
        case 'ERR_IPV4_TOTAL_LENGTH': c.rxBadTotalLength++; break;
        case 'ERR_IPV4_CHECKSUM': c.rxBadChecksum++; break;
        case 'ERR_IPV4_FRAGMENT': c.rxBadFragment++; break;
      }
      if (this.logger.isLevelEnabled('debug')) this.logger.debug({ err, length: packet.length }, 'ipv4 drop');
      return;
    }
    const totalLength = ipv4TotalLength(packet);
    // Link padding past totalLength is not part of the datagram.
    let datagram = totalLength < packet.length ? packet.subarray(0, totalLength) : packet;

    const dst = ipv4Dst(datagram);
    if (dst !== this.address) {
      // Not for us: a host does not forward. Broadcasts and multicasts we simply do not use (no
      // broadcast or multicast service sits above us).
      if (dst === 0xffffffff || dst === this.broadcast || dst >>> 28 === 0xe) c.rxBroadcast++;
      else c.rxNotOurs++;
      return;
    }
    // RFC 1122 §3.2.1.3: silently discard a datagram whose source cannot be a single host.
    if (isNotSingleHost(ipv4Src(datagram))) {
      c.rxBadSource++;
      return;
    }
    // RFC 1122 §3.2.1.7: we are the destination, so the TTL does not matter here (a host must not
    // discard a datagram just because its TTL is below 2).

    const fragWord = ipv4FragmentWord(datagram);
    if ((fragWord & (IPV4_FLAG_MF | IPV4_OFFSET_MASK)) !== 0) {
      const whole = this.reassembler.add(now, datagram);
      if (whole === undefined) return;
      datagram = whole;
      rxFlags = 0; // a reassembled datagram's checksum is verified above, whatever its fragments said
    }
    if (rxFlags & RX_GSO_TCPV4) c.rxSuperSegments++;
    this.deliver(now, datagram, (rxFlags & RX_CSUM_TRUSTED) !== 0);
  }

  private deliver(now: number, datagram: Uint8Array, checksumTrusted = false): void {
    const protocol = ipv4Protocol(datagram);
    const handler = this.handlers[protocol];
    if (handler === undefined) {
      this.counters.rxUnknownProtocol++;
      // RFC 1122 §3.2.2.1: a host SHOULD answer protocol unreachable (code 2).
      this.icmpHandler.sendDestinationUnreachable(now, ICMP_UNREACH_PROTOCOL, datagram);
      return;
    }
    const headerLength = ipv4HeaderLength(datagram);
    this.counters.rxDelivered++;
    // The info object is refilled for every datagram (valid during the call only, ip/types.ts); the
    // payload view is the one object made per datagram here (transports may keep it).
    const info = this.info;
    info.src = ipv4Src(datagram);
    info.dst = ipv4Dst(datagram);
    info.protocol = protocol;
    info.ttl = ipv4Ttl(datagram);
    info.tos = ipv4Tos(datagram);
    info.packet = datagram;
    info.headerLength = headerLength;
    info.checksumTrusted = checksumTrusted;
    handler.receive(now, info, datagram.subarray(headerLength));
    info.packet = EMPTY; // do not keep the datagram alive until the next one
  }

  /** IpOutput.allocPacket: the device's reused memory where it has some, else a new array. */
  allocPacket(length: number): Uint8Array {
    return this.deviceAlloc === undefined ? new Uint8Array(length) : this.deviceAlloc(length);
  }

  /**
   * IpOutput.send: `packet` holds the transport payload at IPV4_HEADROOM. Fits the MTU: the header
   * goes in place and the packet leaves as is. Too big: fragmented (RFC 791 §3.2), or dropped and
   * counted when DF is asked for.
   */
  send(packet: Uint8Array, src: Ipv4Address, dst: Ipv4Address, protocol: number, opts?: IpSendOptions): void {
    const c = this.counters;
    const totalLength = packet.length;
    if (totalLength < IPV4_HEADROOM || totalLength > IPV4_MAX_TOTAL_LENGTH) {
      c.txDropTooBig++;
      return;
    }
    const dontFragment = opts?.dontFragment === true;
    const ttl = opts?.ttl ?? DEFAULT_TTL;
    const tos = opts?.tos ?? 0;
    // Every datagram gets a fresh identification (RFC 791 §3.2; RFC 6864 only requires uniqueness
    // for datagrams that may be fragmented, a counter satisfies both).
    const identification = this.nextId;
    this.nextId = (this.nextId + 1) & 0xffff;

    const segmentSize = opts?.segmentSize ?? 0;
    const superSegment = totalLength > this.mtu && segmentSize > 0 && totalLength <= this.tsoMaxSize;
    if (totalLength <= this.mtu || superSegment) {
      // The checks of serializeIpv4Header were made above (no options; IPV4_HEADROOM <= length <= 65535).
      writeIpv4Header(packet, 0, IPV4_MIN_HEADER, tos, totalLength, identification, dontFragment ? IPV4_FLAG_DF : 0, ttl, protocol, src, dst);
      c.txPackets++;
      c.txBytes += totalLength;
      if (!superSegment) {
        this.transmit(packet);
        return;
      }
      // A TCP super-segment: the device cuts it into segments of `segmentSize` bytes, each with a copy
      // of this header and the identification counting up (as Linux does), so the IDs those segments
      // take are reserved here: one per segmentSize bytes after this header, which may be one more
      // than the segments (the transport header is counted too); IDs only need to be unique (RFC 6864).
      this.nextId = (identification + Math.ceil((totalLength - IPV4_HEADROOM) / segmentSize)) & 0xffff;
      c.txTso++;
      this.transmit(packet, segmentSize);
      return;
    }
    if (dontFragment) {
      c.txDropDontFragment++;
      if (this.logger.isLevelEnabled('debug')) {
        this.logger.debug({ length: totalLength, mtu: this.mtu, dst: formatIpv4Address(dst) }, 'ipv4 drop: DF and too big');
      }
      return;
    }
    // RFC 791 §3.2 fragmentation procedure: each fragment carries a multiple of 8 data bytes (all but
    // the last), the same identification, MF on all but the last, and the offset in 8-byte units.
    const payload = packet.subarray(IPV4_HEADROOM);
    const perFragment = ((this.mtu - IPV4_MIN_HEADER) >>> 3) << 3;
    c.txFragmented++;
    for (let start = 0; start < payload.length; start += perFragment) {
      const end = Math.min(start + perFragment, payload.length);
      const fragment = new Uint8Array(IPV4_MIN_HEADER + end - start);
      fragment.set(payload.subarray(start, end), IPV4_MIN_HEADER);
      serializeIpv4Header(
        {
          tos,
          totalLength: fragment.length,
          identification,
          moreFragments: end < payload.length,
          fragmentOffset: start,
          ttl,
          protocol,
          src,
          dst,
        },
        fragment,
        0,
      );
      c.txFragments++;
      c.txPackets++;
      c.txBytes += fragment.length;
      this.transmit(fragment);
    }
  }

  /** IpOutput.pathMtu: RFC 1191's estimate for `dst` (the link MTU unless a smaller one was learned). */
  pathMtu(dst: Ipv4Address, now: number): number {
    return this.pmtuCache.get(dst, now);
  }

  /** IpOutput.learnPathMtu: a "fragmentation needed" a transport found genuine (pmtu-cache.ts). */
  learnPathMtu(dst: Ipv4Address, nextHopMtu: number, quotedLength: number, now: number): number {
    return this.pmtuCache.learn(dst, nextHopMtu, quotedLength, now);
  }

  /** When poll() next needs to run (the oldest reassembly's timeout), or undefined. */
  pollAt(): number | undefined {
    return this.reassembler.pollAt();
  }

  /** Expire reassemblies whose time is up (may send ICMP time exceeded). */
  poll(now: number): void {
    this.reassembler.poll(now);
  }

  /** A copy of the counters, with the reassembly occupancy and the ICMP/UDP counters. */
  stats(): Ipv4Stats {
    return {
      ...this.counters,
      reasmPending: this.reassembler.pending,
      reasmBytes: this.reassembler.bytes,
      icmp: this.icmpHandler.stats(),
      pmtu: { entries: this.pmtuCache.size, learned: this.pmtuCache.learned, ignored: this.pmtuCache.ignored, evicted: this.pmtuCache.evicted },
    };
  }
}
