/**
 * Packets between the script's remote host and the stack: building the ones the script injects
 * (`<` lines) and reading the ones the stack sends, both in script notation.
 *
 * Sequence numbers in a script are relative to each side's ISN (as tcpdump prints them): the remote
 * host's ISN is ours to pick, the stack's is learned from its SYN or SYN-ACK (SeqSpace). Options of an
 * injected packet are laid out byte for byte in the order the script writes them (nop included), so a
 * script can send layouts the stack itself never would.
 */
import { finishChecksum, onesSum, pseudoHeaderSum } from '../wire/checksum.ts';
import { writeU32, readU32 } from '../wire/bytes.ts';
import { IPPROTO_ICMP, IPPROTO_TCP, serializeIpv4Header } from '../wire/ipv4.ts';
import type { Ipv4Address } from '../wire/ipv4-address.ts';
import { ACK, parseTcp, type TcpSegment } from '../wire/tcp.ts';
import { WireError } from '../util/errors.ts';
import { formatScriptFlags } from './parse.ts';
import type { PacketEvent, PktOption } from './script.ts';

/** The ISN the script's remote host uses (relative 0 in the script). */
export const REMOTE_ISN = 1_000_000;

/** Both ISNs, and the map from TS values the script wrote for the stack to the ones it really sent. */
export class SeqSpace {
  /** The stack's ISN; undefined until its first SYN is seen (then 0 is assumed, as for a RST). */
  stackIsn: number | undefined;
  readonly remoteIsn = REMOTE_ISN;
  /** Script TSval of an outbound line -> the TSval the stack sent there. */
  readonly tsMap = new Map<number, number>();
  /** The last TSval the stack sent. */
  lastTsVal: number | undefined;
  /** IPv4 identification of the next injected packet. */
  ipId = 1;

  stackBase(): number {
    return this.stackIsn ?? 0;
  }
}

export interface Endpoints {
  remote: Ipv4Address;
  local: Ipv4Address;
  remotePort: number;
  localPort: number;
}

/** Serialize the options in script order; padded with EOL to a multiple of 4. */
function writeScriptOptions(opts: readonly PktOption[], out: Uint8Array, at: number, seq: SeqSpace): number {
  let i = at;
  for (const o of opts) {
    switch (o.kind) {
      case 'nop':
        out[i++] = 1;
        break;
      case 'eol':
        out[i++] = 0;
        break;
      case 'mss':
        out.set([2, 4, o.value >>> 8, o.value & 0xff], i);
        i += 4;
        break;
      case 'wscale':
        out.set([3, 3, o.value], i);
        i += 3;
        break;
      case 'sackOK':
        out.set([4, 2], i);
        i += 2;
        break;
      case 'sack':
        out[i] = 5;
        out[i + 1] = 2 + 8 * o.blocks.length;
        i += 2;
        // SACK blocks acknowledge the stack's data: its sequence space.
        for (const [l, r] of o.blocks) {
          writeU32(out, i, (seq.stackBase() + l) >>> 0);
          writeU32(out, i + 4, (seq.stackBase() + r) >>> 0);
          i += 8;
        }
        break;
      case 'TS': {
        out.set([8, 10], i);
        writeU32(out, i + 2, o.val >>> 0);
        // The echo is mapped to the TSval the stack really sent (the script cannot know it).
        const ecr = o.ecr === 0 ? 0 : (seq.tsMap.get(o.ecr) ?? seq.lastTsVal ?? o.ecr);
        writeU32(out, i + 6, ecr >>> 0);
        i += 10;
        break;
      }
    }
  }
  while ((i - at) % 4 !== 0) out[i++] = 0;
  return i - at;
}

/** The IPv4 datagram for an injected (`<`) packet line. Payload bytes are zeros. */
export function buildInbound(e: PacketEvent, ep: Endpoints, seq: SeqSpace): Uint8Array {
  const opts = e.options === undefined || e.options === 'any' ? [] : e.options;
  const scratch = new Uint8Array(60);
  const optLen = writeScriptOptions(opts, scratch, 20, seq);
  const tcpLen = 20 + optLen + e.len;
  const buf = new Uint8Array(20 + tcpLen);
  serializeIpv4Header(
    { totalLength: buf.length, identification: seq.ipId++ & 0xffff, dontFragment: true, ttl: 64, protocol: IPPROTO_TCP, src: ep.remote, dst: ep.local },
    buf,
    0,
  );
  const t = 20;
  buf[t] = ep.remotePort >>> 8;
  buf[t + 1] = ep.remotePort & 0xff;
  buf[t + 2] = ep.localPort >>> 8;
  buf[t + 3] = ep.localPort & 0xff;
  writeU32(buf, t + 4, (seq.remoteIsn + e.start) >>> 0);
  writeU32(buf, t + 8, e.flags & ACK ? (seq.stackBase() + (e.ack ?? 0)) >>> 0 : 0);
  buf[t + 12] = ((20 + optLen) / 4) << 4;
  buf[t + 13] = e.flags;
  const win = e.win ?? 65535;
  buf[t + 14] = win >>> 8;
  buf[t + 15] = win & 0xff;
  buf.set(scratch.subarray(20, 20 + optLen), t + 20);
  const c = finishChecksum(onesSum(buf, t, buf.length, pseudoHeaderSum(ep.remote, ep.local, IPPROTO_TCP, tcpLen)));
  buf[t + 16] = c >>> 8;
  buf[t + 17] = c & 0xff;
  return buf;
}

/**
 * The IPv4 datagram for an injected ICMP error (`< icmp ...` line): from the remote host, quoting
 * the IPv4 header and first 8 TCP bytes of the stack's segment start:end (its sequence space), as a
 * router on the path would (RFC 792, RFC 1191 §4 for the next-hop MTU).
 */
export function buildInboundIcmp(e: PacketEvent, ep: Endpoints, seq: SeqSpace): Uint8Array {
  const icmp = e.icmp!;
  const quoteLength = 28;
  const buf = new Uint8Array(20 + 8 + quoteLength);
  serializeIpv4Header(
    { totalLength: buf.length, identification: seq.ipId++ & 0xffff, ttl: 64, protocol: IPPROTO_ICMP, src: ep.remote, dst: ep.local },
    buf,
    0,
  );
  buf[20] = icmp.type;
  buf[21] = icmp.code;
  buf[26] = icmp.mtu >>> 8;
  buf[27] = icmp.mtu & 0xff;
  // The quoted datagram: what the stack sent (header without options, DF set), its TCP ports and seq.
  const q = 28;
  serializeIpv4Header(
    { totalLength: 20 + 20 + e.len, identification: 0, dontFragment: true, ttl: 64, protocol: IPPROTO_TCP, src: ep.local, dst: ep.remote },
    buf,
    q,
  );
  buf[q + 20] = ep.localPort >>> 8;
  buf[q + 21] = ep.localPort & 0xff;
  buf[q + 22] = ep.remotePort >>> 8;
  buf[q + 23] = ep.remotePort & 0xff;
  writeU32(buf, q + 24, (seq.stackBase() + e.start) >>> 0);
  const c = finishChecksum(onesSum(buf, 20, buf.length, 0));
  buf[22] = c >>> 8;
  buf[23] = c & 0xff;
  return buf;
}

/** A TCP segment the stack sent, with its arrival time (virtual ms). */
export interface Outbound {
  readonly at: number;
  readonly packet: Uint8Array;
  readonly seg: TcpSegment;
}

/** Parse a datagram the stack sent; a string says why it is not a TCP segment we can read. */
export function decodeOutbound(packet: Uint8Array, at: number): Outbound | string {
  if (packet.length < 20 || packet[0]! >> 4 !== 4) return 'not an IPv4 packet';
  const ihl = (packet[0]! & 0x0f) * 4;
  const proto = packet[9]!;
  if (proto !== IPPROTO_TCP) return proto === 1 ? 'an ICMP packet' : `an IP packet of protocol ${proto}`;
  const total = (packet[2]! << 8) | packet[3]!;
  const seg = parseTcp(packet.subarray(ihl, total), readU32(packet, 12), readU32(packet, 16));
  if (seg instanceof WireError) return `a bad TCP segment (${seg.message})`;
  return { at, packet, seg };
}

/** The options of a segment as the script writes them, in wire order, with relative SACK edges. */
export function formatWireOptions(o: Outbound, seq: SeqSpace): string {
  const p = o.packet;
  const ihl = (p[0]! & 0x0f) * 4;
  const end = ihl + o.seg.dataOffset;
  const parts: string[] = [];
  let i = ihl + 20;
  while (i < end) {
    const kind = p[i]!;
    if (kind === 0) {
      parts.push('eol');
      break;
    }
    if (kind === 1) {
      parts.push('nop');
      i++;
      continue;
    }
    const len = p[i + 1] ?? 0;
    if (len < 2 || i + len > end) break;
    if (kind === 2 && len === 4) parts.push(`mss ${(p[i + 2]! << 8) | p[i + 3]!}`);
    else if (kind === 3 && len === 3) parts.push(`wscale ${p[i + 2]!}`);
    else if (kind === 4 && len === 2) parts.push('sackOK');
    else if (kind === 8 && len === 10) parts.push(`TS val ${readU32(p, i + 2)} ecr ${readU32(p, i + 6)}`);
    else if (kind === 5) {
      const blocks: string[] = [];
      for (let j = i + 2; j + 8 <= i + len; j += 8) {
        blocks.push(`${(readU32(p, j) - seq.remoteIsn) >>> 0}:${(readU32(p, j + 4) - seq.remoteIsn) >>> 0}`);
      }
      parts.push(`sack ${blocks.join(' ')}`);
    } else parts.push(`opt${kind}`);
    i += len;
  }
  return parts.length === 0 ? '' : ` <${parts.join(',')}>`;
}

/** A segment the stack sent, as a `>` line would write it. */
export function formatOutbound(o: Outbound, seq: SeqSpace, len = o.seg.payload.length, flags = o.seg.flags): string {
  const s = o.seg;
  const start = (s.seq - seq.stackBase()) >>> 0;
  let text = `> ${formatScriptFlags(flags)} ${start}:${(start + len) >>> 0}(${len})`;
  if (s.ack !== undefined) text += ` ack ${(s.ack - seq.remoteIsn) >>> 0}`;
  text += ` win ${s.window}`;
  return text + formatWireOptions(o, seq);
}

/** The text of a script packet line, with its direction. */
export function formatExpected(e: PacketEvent): string {
  return e.text;
}
