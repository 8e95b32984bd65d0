/**
 * One connection's recorded segments (segment-ring.ts) as ladder rows for the /live and /ladder
 * pages: the same reading as the text ladder (ladder.ts) — relative sequence numbers (docs/design.md
 * rule 12), flags, windows scaled once both SYNs carried a window scale (RFC 7323 §2.2), SYN options,
 * retransmissions marked — plus what only the stack knows of its own segments: why each left, and
 * cwnd/ssthresh at losses (tcp/config.ts isLossReason).
 *
 * The left endpoint is the one that opened the connection (sent the first SYN). A FlowDecoder keeps
 * the per-direction state, so rows can be decoded one at a time as they are recorded.
 */
import { formatIpv4Address, parseIpv4Address } from '../wire/ipv4-address.ts';
import { ACK, FIN, SYN, tcpDstPort, tcpSrcPort } from '../wire/tcp.ts';
import { ipv4HeaderLength, ipv4TotalLength } from '../wire/ipv4.ts';
import { isLossReason } from '../tcp/config.ts';
import { ssthreshText } from '../tcp/congestion-control.ts';
import { payloadPreview } from './ladder.ts';
import { RelativeSeqTable } from './relative-seq.ts';
import type { RingSlot, SegmentRing } from './segment-ring.ts';
import { flagNames, peekTcp, peekTcpOptions } from './tcp-peek.ts';

export interface Endpoint {
  addr: number;
  port: number;
}

/** A connection by its two endpoints; `left` is drawn on the left (the opener, when known). */
export interface FlowEnds {
  left: Endpoint;
  right: Endpoint;
}

/** One arrow of the ladder, ready for JSON. */
export interface LadderRow {
  /** The ring's record number (increasing). */
  n: number;
  /** The stack's clock when it was recorded, ms. */
  t: number;
  /** Left to right? */
  ltr: boolean;
  /** Sent by the stack ('out') or received ('in'). */
  dir: 'in' | 'out';
  flags: string;
  /** Relative sequence number, and payload length. */
  seq: number;
  len: number;
  /** Relative acknowledgment number (when the ACK flag is set). */
  ack?: number;
  /** The window, on SYNs and whenever it changes (scaled when both sides scale). */
  win?: number;
  /** SYN options and SACK blocks, e.g. "mss 1460,sackOK,ts,wscale 7". */
  opts?: string;
  /** Why the stack sent it (tcp/config.ts SendReason). */
  reason?: string;
  /** At a loss: the congestion window and slow-start threshold ("initial" before any reduction). */
  cwnd?: number;
  ssthresh?: string;
  /** Its bytes (or SYN/FIN) were all sent before: a retransmission or a duplicate. */
  rtx?: boolean;
  /** The payload's first line. */
  preview?: string;
}

/** "10.77.0.2:80-10.77.0.1:40000": local first, as the /live table names a connection. */
export function flowKey(localAddress: string, localPort: number, remoteAddress: string, remotePort: number): string {
  return `${localAddress}:${localPort}-${remoteAddress}:${remotePort}`;
}

/** The two endpoints of a flow key, or undefined when it is malformed. */
export function parseFlowKey(key: string): [Endpoint, Endpoint] | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})-(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(key);
  if (m === null) return undefined;
  try {
    const a = { addr: parseIpv4Address(m[1]!), port: Number(m[2]) };
    const b = { addr: parseIpv4Address(m[3]!), port: Number(m[4]) };
    if (a.port > 65535 || b.port > 65535) return undefined;
    return [a, b];
  } catch {
    return undefined;
  }
}

export function endpointText(e: Endpoint): string {
  return `${formatIpv4Address(e.addr)}:${e.port}`;
}

function same(a: Endpoint, addr: number, port: number): boolean {
  return a.addr === addr && a.port === port;
}

/**
 * Which of the two endpoints opened the connection: the sender of a SYN without ACK still in the
 * ring; if the ring no longer holds it, `fallback` (the peer, for a connection the stack accepted).
 */
export function orientFlow(ring: SegmentRing, a: Endpoint, b: Endpoint, fallbackLeft: Endpoint): FlowEnds {
  let found: FlowEnds | undefined;
  ring.forEach((s) => {
    if (found !== undefined) return;
    const t = peekTcp(s.bytes);
    if (t === undefined || (t.flags & (SYN | ACK)) !== SYN) return;
    if (same(a, t.src, t.srcPort) && same(b, t.dst, t.dstPort)) found = { left: a, right: b };
    else if (same(b, t.src, t.srcPort) && same(a, t.dst, t.dstPort)) found = { left: b, right: a };
  });
  if (found !== undefined) return found;
  return same(fallbackLeft, a.addr, a.port) ? { left: a, right: b } : { left: b, right: a };
}

export class FlowDecoder {
  // One connection, read whole: bases never expire (a new SYN on a reused 4-tuple restarts them).
  private readonly rel = new RelativeSeqTable({ idleTimeoutMs: Infinity, closeLingerMs: Infinity });
  private readonly wscale: (number | undefined)[] = [undefined, undefined];
  private readonly lastWin: (number | undefined)[] = [undefined, undefined];
  private readonly sentEnd: (number | undefined)[] = [undefined, undefined];

  constructor(readonly ends: FlowEnds) {}

  /** The row for this slot, or undefined when it belongs to another connection. */
  decode(s: RingSlot): LadderRow | undefined {
    const { left, right } = this.ends;
    // Other connections' packets are most of them: turn them away by their ports before any parsing.
    const b = s.bytes;
    const ihl = ipv4HeaderLength(b);
    if (b.length < ihl + 4) return undefined;
    const sp = tcpSrcPort(b, ihl);
    const dp = tcpDstPort(b, ihl);
    if (!((sp === left.port && dp === right.port) || (sp === right.port && dp === left.port))) return undefined;
    const t = peekTcp(b);
    if (t === undefined) return undefined;
    const ltr = same(left, t.src, t.srcPort) && same(right, t.dst, t.dstPort);
    if (!ltr && !(same(right, t.src, t.srcPort) && same(left, t.dst, t.dstPort))) return undefined;
    const d = ltr ? 0 : 1;
    const p = s.bytes;
    // The slot may hold only the start of the packet: its length comes from the IPv4 header.
    const total = ipv4TotalLength(p);
    const len = Math.max(0, Math.min(total, s.length) - t.payloadOffset);
    this.rel.observe(t, s.now);
    const r = this.rel.relative(t.src, t.srcPort, t.dst, t.dstPort, t.seq, t.ack);
    const syn = (t.flags & SYN) !== 0;
    const fin = (t.flags & FIN) !== 0;
    const row: LadderRow = { n: s.seq, t: s.now, ltr, dir: s.dir, flags: flagNames(t.flags), seq: r.seq, len };
    if (r.ack !== undefined) row.ack = r.ack;
    const o = peekTcpOptions(p, t);
    if (syn) this.wscale[d] = o.windowScale;
    const scaled = !syn && this.wscale[0] !== undefined && this.wscale[1] !== undefined;
    const win = scaled ? t.window * 2 ** this.wscale[d]! : t.window;
    if (syn || win !== this.lastWin[d] || win === 0) row.win = win;
    this.lastWin[d] = win;
    const opts: string[] = [];
    if (syn) {
      if (o.mss !== undefined) opts.push(`mss ${o.mss}`);
      if (o.sackPermitted) opts.push('sackOK');
      if (o.timestamp !== undefined) opts.push('ts');
      if (o.windowScale !== undefined) opts.push(`wscale ${o.windowScale}`);
    }
    if (o.sack !== undefined) {
      const blocks = o.sack.map(
        (b) =>
          `${this.rel.relative(t.src, t.srcPort, t.dst, t.dstPort, t.seq, b.left).ack}:${this.rel.relative(t.src, t.srcPort, t.dst, t.dstPort, t.seq, b.right).ack}`,
      );
      opts.push(`sack ${blocks.join(' ')}`);
    }
    if (opts.length > 0) row.opts = opts.join(',');
    if (s.reason !== undefined) {
      row.reason = s.reason;
      if (isLossReason(s.reason)) {
        row.cwnd = s.cwnd;
        row.ssthresh = ssthreshText(s.ssthresh);
      }
    }
    // Sequence space used: data plus one each for SYN and FIN (RFC 9293 §3.4).
    const used = len + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (used > 0) {
      const end = (r.seq + used) >>> 0;
      const prev = this.sentEnd[d];
      if (prev !== undefined && !syn && ((end - prev) | 0) <= 0) row.rtx = true;
      else if (prev === undefined || ((end - prev) | 0) > 0) this.sentEnd[d] = end;
      if (syn) this.sentEnd[d] = end;
    }
    const shown = Math.min(len, p.length - t.payloadOffset);
    if (shown > 0) {
      const pv = payloadPreview(p, t.payloadOffset, shown);
      if (pv !== '') row.preview = pv;
    }
    return row;
  }
}

/** The rows of one connection still in the ring, oldest first, at most `limit` (the latest). */
export function decodeHistory(ring: SegmentRing, dec: FlowDecoder, limit: number): LadderRow[] {
  const rows: LadderRow[] = [];
  ring.forEach((s) => {
    const row = dec.decode(s);
    if (row !== undefined) rows.push(row);
  });
  return rows.length > limit ? rows.slice(rows.length - limit) : rows;
}
