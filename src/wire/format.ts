/**
 * One line per packet, in tcpdump's style, for traces and logs (never called on the hot path unless a
 * trace or a debug log asks for it). Bad packets are shown with the validation error code instead of
 * throwing:
 *
 *   IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 7, seq 1, length 64
 *   IP 10.77.0.1.55916 > 10.77.0.2.8080: Flags [S.], seq 0, ack 1, win 65160, length 0
 *   IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 6116, seq 1, length 1480 (frag id 271, offset 0, flags [+])
 *   IP 10.77.0.1 > 10.77.0.2: ip-proto-1 (frag id 271, offset 1480, flags [+], length 1480)
 *   IP bad packet [ERR_IPV4_CHECKSUM], length 84
 *
 * TCP is read straight from its fixed 20-byte header (ports, seq, ack, offset, flags, window): the
 * full TCP codec lives in wire/tcp.ts.
 */
import { parseTcpOptions, type TcpOptions } from './tcp-options.ts';
import { WireError } from '../util/errors.ts';
import { formatIpv4Address } from './ipv4-address.ts';
import {
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_OFFSET_MASK,
  checkIpv4,
  ipv4Dst,
  ipv4FragmentWord,
  ipv4HeaderLength,
  ipv4Identification,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
} from './ipv4.ts';
import { checkIcmp } from './icmpv4.ts';
import { ACK, TCP_HEADER_MIN, formatTcpFlags, tcpAck, tcpDstPort, tcpFlags, tcpHeaderBytes, tcpSeq, tcpSrcPort, tcpWindow } from './tcp.ts';

export interface FormatOptions {
  /**
   * Map absolute sequence numbers to relative ones (as Wireshark and tcpdump do) for a segment
   * travelling srcPort -> dstPort; return undefined to keep the absolute numbers.
   */
  relativeSeq?: (srcPort: number, dstPort: number, seq: number, ack: number) => { seq: number; ack: number } | undefined;
}

const PROTOCOL_NAMES: Record<number, string> = { [IPPROTO_ICMP]: 'ICMP', [IPPROTO_TCP]: 'TCP', [IPPROTO_UDP]: 'UDP' };

export function formatPacket(pkt: Uint8Array, opts?: FormatOptions): string {
  const err = checkIpv4(pkt);
  if (err !== undefined) return `IP bad packet [${err}], length ${pkt.length}`;
  const hl = ipv4HeaderLength(pkt);
  const total = ipv4TotalLength(pkt);
  const src = formatIpv4Address(ipv4Src(pkt));
  const dst = formatIpv4Address(ipv4Dst(pkt));
  const protocol = ipv4Protocol(pkt);
  const fragWord = ipv4FragmentWord(pkt);
  const offset = (fragWord & IPV4_OFFSET_MASK) * 8;
  const more = (fragWord & IPV4_FLAG_MF) !== 0;
  const payload = pkt.subarray(hl, total);
  const fragNote = `frag id ${ipv4Identification(pkt)}, offset ${offset}, flags [${more ? '+' : fragWord & IPV4_FLAG_DF ? 'DF' : 'none'}]`;

  if (offset !== 0) {
    // A later fragment: no transport header to read.
    return `IP ${src} > ${dst}: ${protocolName(protocol)} (${fragNote}, length ${payload.length})`;
  }
  const suffix = more ? ` (${fragNote})` : '';
  switch (protocol) {
    case IPPROTO_ICMP:
      return `IP ${src} > ${dst}: ${formatIcmp(payload, more)}${suffix}`;
    case IPPROTO_TCP:
      return `IP ${formatTcp(src, dst, payload, opts)}${suffix}`;
    case IPPROTO_UDP:
      return `IP ${formatUdp(src, dst, payload)}${suffix}`;
    default:
      return `IP ${src} > ${dst}: ip-proto-${protocol} ${payload.length}${suffix}`;
  }
}

function protocolName(protocol: number): string {
  return PROTOCOL_NAMES[protocol] ?? `ip-proto-${protocol}`;
}

const UNREACH: Record<number, string> = {
  0: 'net',
  1: 'host',
  2: 'protocol',
  3: 'port',
  4: 'need to frag',
  5: 'source route failed',
  9: 'net prohibited',
  10: 'host prohibited',
  13: 'administratively prohibited',
};

function formatIcmp(icmp: Uint8Array, fragmented: boolean): string {
  // A first fragment carries only part of the message: the checksum cannot be verified yet.
  const err = fragmented ? (icmp.length < 8 ? 'ERR_ICMP_TRUNCATED' : undefined) : checkIcmp(icmp);
  if (err !== undefined) return `ICMP [${err}], length ${icmp.length}`;
  const type = icmp[0]!;
  const code = icmp[1]!;
  const w1 = (icmp[4]! << 8) | icmp[5]!;
  const w2 = (icmp[6]! << 8) | icmp[7]!;
  const len = `length ${icmp.length}`;
  switch (type) {
    case 0:
    case 8:
      return `ICMP echo ${type === 8 ? 'request' : 'reply'}, id ${w1}, seq ${w2}, ${len}`;
    case 3: {
      const orig = icmp.subarray(8);
      // Quote: the original header (destination, protocol) and its first 8 data bytes (ports).
      if (orig.length >= 20 && orig[0]! >>> 4 === 4) {
        const ohl = (orig[0]! & 0x0f) * 4;
        const odst = formatIpv4Address(ipv4Dst(orig));
        const oproto = orig[9]!;
        if (code === 2) return `ICMP ${odst} protocol ${oproto} unreachable, ${len}`;
        if (code === 3 && orig.length >= ohl + 4) {
          const port = (orig[ohl + 2]! << 8) | orig[ohl + 3]!;
          return `ICMP ${odst} ${oproto === IPPROTO_TCP ? 'tcp' : oproto === IPPROTO_UDP ? 'udp' : protocolName(oproto)} port ${port} unreachable, ${len}`;
        }
        if (code === 4) return `ICMP ${odst} unreachable - need to frag (mtu ${w2}), ${len}`;
        return `ICMP ${UNREACH[code] ?? `code ${code}`} ${odst} unreachable, ${len}`;
      }
      return `ICMP unreachable code ${code}, ${len}`;
    }
    case 11:
      return `ICMP ${code === 1 ? 'ip reassembly time exceeded' : 'time exceeded in-transit'}, ${len}`;
    default:
      return `ICMP type ${type}, code ${code}, ${len}`;
  }
}

function formatTcp(src: string, dst: string, seg: Uint8Array, opts: FormatOptions | undefined): string {
  if (seg.length < 4) return `${src} > ${dst}: TCP [truncated], length ${seg.length}`;
  const sport = tcpSrcPort(seg, 0);
  const dport = tcpDstPort(seg, 0);
  const ends = `${src}.${sport} > ${dst}.${dport}`;
  if (seg.length < TCP_HEADER_MIN) return `${ends}: TCP [truncated], length ${seg.length}`;
  const dataOffset = tcpHeaderBytes(seg, 0);
  if (dataOffset < TCP_HEADER_MIN || dataOffset > seg.length) return `${ends}: TCP [bad data offset ${dataOffset}], length ${seg.length}`;
  let seq = tcpSeq(seg, 0);
  let ack = tcpAck(seg, 0);
  const flags = tcpFlags(seg, 0);
  const win = tcpWindow(seg, 0);
  const dataLength = seg.length - dataOffset;
  const rel = opts?.relativeSeq?.(sport, dport, seq, ack);
  if (rel !== undefined) {
    seq = rel.seq >>> 0;
    ack = rel.ack >>> 0;
  }
  let line = `${ends}: Flags [${formatTcpFlags(flags)}]`;
  // Like tcpdump: a range when the segment carries data.
  line += dataLength > 0 ? `, seq ${seq}:${(seq + dataLength) >>> 0}` : `, seq ${seq}`;
  if (flags & ACK) line += `, ack ${ack}`;
  line += `, win ${win}`;
  if (dataOffset > 20) {
    const parsed = parseTcpOptions(seg, 20, dataOffset);
    line += parsed instanceof WireError ? `, options [${parsed.code}]` : `, options [${formatTcpOptions(parsed, (edge) => relativeEdge(opts, sport, dport, edge))}]`;
  }
  return `${line}, length ${dataLength}`;
}

/** SACK block edges are in the sequence space the ACK field acknowledges: map them like `ack`. */
function relativeEdge(opts: FormatOptions | undefined, sport: number, dport: number, edge: number): number {
  const rel = opts?.relativeSeq?.(sport, dport, 0, edge);
  return rel === undefined ? edge : rel.ack >>> 0;
}

/** tcpdump's option spelling: `mss 1460,sackOK,TS val 1 ecr 0,wscale 7`, SACK as `sack 1 {a:b}`. */
function formatTcpOptions(o: TcpOptions, edge: (e: number) => number): string {
  const parts: string[] = [];
  if (o.mss !== undefined) parts.push(`mss ${o.mss}`);
  if (o.sackPermitted) parts.push('sackOK');
  if (o.timestamp) parts.push(`TS val ${o.timestamp.value} ecr ${o.timestamp.echo}`);
  if (o.windowScale !== undefined) parts.push(`wscale ${o.windowScale}`);
  if (o.sack && o.sack.length > 0) {
    parts.push(`sack ${o.sack.length} ${o.sack.map(([a, b]) => `{${edge(a)}:${edge(b)}}`).join('')}`);
  }
  return parts.join(',');
}

function formatUdp(src: string, dst: string, dgram: Uint8Array): string {
  if (dgram.length < 8) return `${src} > ${dst}: UDP [truncated], length ${dgram.length}`;
  const sport = (dgram[0]! << 8) | dgram[1]!;
  const dport = (dgram[2]! << 8) | dgram[3]!;
  const length = (dgram[4]! << 8) | dgram[5]!;
  return `${src}.${sport} > ${dst}.${dport}: UDP, length ${Math.max(0, length - 8)}`;
}
