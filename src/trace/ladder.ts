/**
 * The teaching view: a TCP conversation between two endpoints drawn as an ASCII ladder diagram, with
 * relative sequence numbers (docs/design.md rule 12), flags, lengths, the options of the handshake, and a
 * short preview of each segment's payload (the first line of an HTTP request or response):
 *
 *     10.77.0.1:40000                                              10.77.0.2:80
 *            |---- SYN seq=0 win=64240 <mss 1460,sackOK,ts,wscale 7> --->|
 *            |<--- SYN,ACK seq=0 ack=1 win=65535 <mss 1460,wscale 2> ----|
 *            |---- ACK seq=1 ack=1 win=64256 --------------------------->|
 *            |---- PSH,ACK seq=1:36 ack=1 len=35 ----------------------->|   GET / HTTP/1.1
 *            |---- PSH,ACK seq=1:36 ack=1 len=35 ----------------------->|   [retransmission] GET / HTTP/1.1
 *            |<--- PSH,ACK seq=1:41 ack=36 win=65536 len=40 -------------|   HTTP/1.1 200 OK
 *
 * The left endpoint is the one that opened the connection (sent the SYN). `win=` is shown on SYNs and
 * whenever a side's advertised window changes, scaled once both SYNs carried a window scale option
 * (RFC 7323 §2.2: the window field of a SYN itself is never scaled). A segment whose data (or SYN/FIN)
 * lies entirely below what that side had already sent is marked "[retransmission]" (a duplicate on
 * the wire looks the same: the view can only say that those bytes were seen before).
 */
import { readFileSync } from 'node:fs';
import { WireError } from '../util/errors.ts';
import { formatIpv4Address, parseIpv4Address } from '../wire/ipv4-address.ts';
import { RelativeSeqTable } from './relative-seq.ts';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
  readPcap,
} from './pcap-writer.ts';
import { ACK, FIN, RST, SYN } from '../wire/tcp.ts';
import { isPcapng, readPcapng } from './pcapng.ts';
import { flagNames, peekTcp, peekTcpOptions, type TcpPeek } from './tcp-peek.ts';

/** A packet for the ladder: raw bytes, a pcap record, or a tracer PacketEvent. */
export type LadderInput = Uint8Array | { readonly data: Uint8Array; readonly tsMs?: number } | { readonly packet: Uint8Array; readonly now: number };

/** One TCP connection's 4-tuple; `src` is drawn on the left. */
export interface TcpFlow {
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
}

export interface LadderOptions {
  /** Which connection to draw (either direction matches). Default: the first TCP flow in the input. */
  flow?: TcpFlow;
  /** Characters between the two vertical bars. Default: wide enough for the longest label. */
  width?: number;
  /** Show a payload preview right of the diagram (default true). */
  preview?: boolean;
  /** Prefix each line with the time since the first segment, in seconds (default false). */
  time?: boolean;
}

const PREVIEW_MAX = 40;
const MIN_WIDTH = 40;

interface Seg {
  p: Uint8Array;
  t: TcpPeek;
  tsMs: number | undefined;
}

function normalize(x: LadderInput): { data: Uint8Array; tsMs: number | undefined } {
  if (x instanceof Uint8Array) return { data: x, tsMs: undefined };
  if ('packet' in x) return { data: x.packet, tsMs: x.now };
  return { data: x.data, tsMs: x.tsMs };
}

function endpointName(addr: number, port: number): string {
  return `${formatIpv4Address(addr)}:${port}`;
}

/** The distinct TCP connections in a capture, the opener (SYN sender, when seen) as src. */
export function listTcpFlows(packets: readonly LadderInput[]): { flow: TcpFlow; segments: number }[] {
  const found = new Map<string, { flow: TcpFlow; segments: number }>();
  for (const x of packets) {
    const t = peekTcp(normalize(x).data);
    if (t === undefined) continue;
    const fwd = `${t.src}:${t.srcPort}>${t.dst}:${t.dstPort}`;
    const rev = `${t.dst}:${t.dstPort}>${t.src}:${t.srcPort}`;
    const entry = found.get(fwd) ?? found.get(rev);
    if (entry !== undefined) {
      entry.segments++;
      continue;
    }
    // A SYN,ACK seen first: its receiver opened the connection.
    const swap = (t.flags & (SYN | ACK)) === (SYN | ACK);
    const flow: TcpFlow = swap
      ? { srcAddr: formatIpv4Address(t.dst), srcPort: t.dstPort, dstAddr: formatIpv4Address(t.src), dstPort: t.srcPort }
      : { srcAddr: formatIpv4Address(t.src), srcPort: t.srcPort, dstAddr: formatIpv4Address(t.dst), dstPort: t.dstPort };
    found.set(swap ? rev : fwd, { flow, segments: 1 });
  }
  return [...found.values()];
}

/** A printable one-line preview of a payload: its first line, non-printable bytes as '.'. */
export function payloadPreview(p: Uint8Array, offset: number, length: number, max = PREVIEW_MAX): string {
  let s = '';
  const end = offset + length;
  for (let i = offset; i < end; i++) {
    const c = p[i]!;
    if (c === 0x0d || c === 0x0a) break;
    if (s.length === max) return s + '...';
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
  }
  return s;
}

function optionText(p: Uint8Array, t: TcpPeek, rel: RelativeSeqTable): string {
  const o = peekTcpOptions(p, t);
  const parts: string[] = [];
  if (t.flags & SYN) {
    if (o.mss !== undefined) parts.push(`mss ${o.mss}`);
    if (o.sackPermitted) parts.push('sackOK');
    if (o.timestamp !== undefined) parts.push('ts');
    if (o.windowScale !== undefined) parts.push(`wscale ${o.windowScale}`);
  }
  if (o.sack !== undefined) {
    // SACK blocks acknowledge the other direction's bytes: relative to the receiver's base.
    const blocks = o.sack.map((b) => {
      const l = rel.relative(t.src, t.srcPort, t.dst, t.dstPort, t.seq, b.left).ack;
      const r = rel.relative(t.src, t.srcPort, t.dst, t.dstPort, t.seq, b.right).ack;
      return `${l}:${r}`;
    });
    parts.push(`sack ${blocks.join(' ')}`);
  }
  return parts.length > 0 ? ` <${parts.join(',')}>` : '';
}

/** Render the ladder diagram of one TCP connection. Returns the lines joined with '\n' (no final newline). */
export function renderLadder(packets: readonly LadderInput[], opts: LadderOptions = {}): string {
  const flow = opts.flow ?? listTcpFlows(packets)[0]?.flow;
  if (flow === undefined) return '(no TCP segments)';
  const left = { addr: parseIpv4Address(flow.srcAddr), port: flow.srcPort };
  const right = { addr: parseIpv4Address(flow.dstAddr), port: flow.dstPort };

  const segs: Seg[] = [];
  for (const x of packets) {
    const { data, tsMs } = normalize(x);
    const t = peekTcp(data);
    if (t === undefined) continue;
    const ltr = t.src === left.addr && t.srcPort === left.port && t.dst === right.addr && t.dstPort === right.port;
    const rtl = t.src === right.addr && t.srcPort === right.port && t.dst === left.addr && t.dstPort === left.port;
    if (ltr || rtl) segs.push({ p: data, t, tsMs });
  }

  // One connection, read whole: bases never expire (a new SYN on a reused 4-tuple still restarts them).
  const rel = new RelativeSeqTable({ idleTimeoutMs: Infinity, closeLingerMs: Infinity });
  // Per direction (index 0: left to right): window scale from the SYN, last window shown, highest
  // sequence number sent so far (relative).
  const wscale: (number | undefined)[] = [undefined, undefined];
  const lastWin: (number | undefined)[] = [undefined, undefined];
  const sentEnd: (number | undefined)[] = [undefined, undefined];
  const rows: { ltr: boolean; label: string; note: string; tsMs: number | undefined }[] = [];
  for (const { p, t, tsMs } of segs) {
    const ltr = t.src === left.addr && t.srcPort === left.port;
    const d = ltr ? 0 : 1;
    rel.observe(t, tsMs ?? 0);
    const r = rel.relative(t.src, t.srcPort, t.dst, t.dstPort, t.seq, t.ack);
    const syn = (t.flags & SYN) !== 0;
    const fin = (t.flags & FIN) !== 0;
    const len = t.payloadLength;
    let label = `${flagNames(t.flags)} seq=${r.seq}${len > 0 ? `:${(r.seq + len) >>> 0}` : ''}`;
    if (r.ack !== undefined) label += ` ack=${r.ack}`;
    if (syn) wscale[d] = peekTcpOptions(p, t).windowScale;
    const scaled = !syn && wscale[0] !== undefined && wscale[1] !== undefined;
    const win = scaled ? t.window * 2 ** wscale[d]! : t.window;
    if (syn || win !== lastWin[d] || win === 0) label += ` win=${win}`;
    lastWin[d] = win;
    if (len > 0) label += ` len=${len}`;
    label += optionText(p, t, rel);

    const notes: string[] = [];
    // Sequence space used by this segment: data plus one each for SYN and FIN (RFC 9293 §3.4).
    const used = len + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (used > 0) {
      const end = (r.seq + used) >>> 0;
      const prev = sentEnd[d];
      if (prev !== undefined && !syn && ((end - prev) | 0) <= 0) notes.push('[retransmission]');
      else if (prev === undefined || ((end - prev) | 0) > 0) sentEnd[d] = end;
      if (syn) sentEnd[d] = end;
    }
    if (len > 0 && opts.preview !== false) notes.push(payloadPreview(p, t.payloadOffset, len));
    rows.push({ ltr, label, note: notes.filter((n) => n !== '').join(' '), tsMs });
  }

  const leftName = endpointName(left.addr, left.port);
  const rightName = endpointName(right.addr, right.port);
  const cl = Math.floor(leftName.length / 2);
  const halfRight = Math.floor(rightName.length / 2);
  // The widest label (a loop: spreading 100k+ rows into Math.max overflows the call stack).
  let widest = MIN_WIDTH;
  for (const r of rows) if (r.label.length + 10 > widest) widest = r.label.length + 10;
  let width = opts.width ?? widest;
  // The names must not overlap in the header line.
  width = Math.max(width, leftName.length + 1 + halfRight - cl, 12);
  const cr = cl + width + 1;
  const maxLabel = width - 8;

  const t0 = rows.find((r) => r.tsMs !== undefined)?.tsMs;
  const timeCol = (ts: number | undefined): string => {
    if (!opts.time) return '';
    if (ts === undefined || t0 === undefined) return ' '.repeat(11);
    return `${((ts - t0) / 1000).toFixed(6).padStart(10)} `;
  };

  const out: string[] = [];
  out.push(`${timeCol(undefined)}${leftName}${' '.repeat(cr - halfRight - leftName.length)}${rightName}`);
  for (const row of rows) {
    const label = row.label.length > maxLabel ? row.label.slice(0, maxLabel - 2) + '..' : row.label;
    const fill = width - 6 - label.length;
    const body = row.ltr ? `---- ${label} ${'-'.repeat(fill - 1)}>` : `<--- ${label} ${'-'.repeat(fill)}`;
    const line = `${timeCol(row.tsMs)}${' '.repeat(cl)}|${body}|${row.note ? `   ${row.note}` : ''}`;
    out.push(line);
  }
  return out.map((l) => l.trimEnd()).join('\n');
}

/** Bytes of link-layer header before the IPv4 datagram, per pcap link type (undefined: unsupported). */
function linkHeaderLength(linkType: number, data: Uint8Array): number | undefined {
  switch (linkType) {
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
      return 0;
    case LINKTYPE_ETHERNET:
      // EtherType 0x0800 (IPv4) at offset 12; anything else (ARP, IPv6, VLAN tags) is skipped.
      return data.length >= 14 && data[12] === 0x08 && data[13] === 0x00 ? 14 : -1;
    case LINKTYPE_LINUX_SLL:
      return data.length >= 16 && data[14] === 0x08 && data[15] === 0x00 ? 16 : -1;
    case LINKTYPE_LINUX_SLL2:
      return data.length >= 20 && data[0] === 0x08 && data[1] === 0x00 ? 20 : -1;
    default:
      return undefined;
  }
}

/**
 * The IPv4 packets of a capture, pcap or pcapng (raw IP, Ethernet, or Linux cooked captures);
 * throws the WireError of a bad file, for the command, which reports it.
 */
export function ipPacketsFromCapture(buf: Uint8Array): { data: Uint8Array; tsMs: number }[] {
  const parsed = isPcapng(buf) ? readPcapng(buf) : pcapRecords(buf);
  if (parsed instanceof WireError) throw parsed;
  const records = 'packets' in parsed ? parsed.packets : parsed;
  const out: { data: Uint8Array; tsMs: number }[] = [];
  for (const rec of records) {
    const skip = linkHeaderLength(rec.linkType, rec.data);
    if (skip === undefined) throw new WireError('ERR_PCAP_LINKTYPE', `capture: unsupported link type ${rec.linkType}`);
    if (skip >= 0) out.push({ data: rec.data.subarray(skip), tsMs: rec.tsMs });
  }
  return out;
}

/** A classic pcap's records, each with the file's one link type. */
function pcapRecords(buf: Uint8Array): { data: Uint8Array; tsMs: number; linkType: number }[] | WireError {
  const file = readPcap(buf);
  if (file instanceof WireError) return file;
  return file.packets.map((r) => ({ data: r.data, tsMs: r.tsMs, linkType: file.linkType }));
}

/** The old name: it reads pcapng as well now. */
export const ipPacketsFromPcap = ipPacketsFromCapture;

/** One row of `tunstack ladder FILE --list`. */
export interface FlowSummary {
  /** 1-based, in the order the flows first appear: what `--flow N` takes. */
  index: number;
  flow: TcpFlow;
  segments: number;
  /** TCP payload bytes, each direction (left to right, right to left). */
  bytesLtr: number;
  bytesRtl: number;
  /** ms of the first and last segment, relative to the capture's first packet. */
  firstMs: number;
  lastMs: number;
  /** Did the capture see the handshake (a SYN) and a close (FIN or RST)? */
  syn: boolean;
  closed: boolean;
}

/** The TCP connections of a capture with their sizes and times, for --list. */
export function summarizeFlows(packets: readonly LadderInput[]): FlowSummary[] {
  const flows = listTcpFlows(packets);
  const byKey = new Map<string, FlowSummary>();
  const out: FlowSummary[] = flows.map(({ flow }, i) => {
    const sum: FlowSummary = { index: i + 1, flow, segments: 0, bytesLtr: 0, bytesRtl: 0, firstMs: 0, lastMs: 0, syn: false, closed: false };
    byKey.set(`${flow.srcAddr}:${flow.srcPort}>${flow.dstAddr}:${flow.dstPort}`, sum);
    return sum;
  });
  let t0: number | undefined;
  for (const x of packets) {
    const { data, tsMs } = normalize(x);
    if (tsMs !== undefined) t0 ??= tsMs;
    const t = peekTcp(data);
    if (t === undefined) continue;
    const src = `${formatIpv4Address(t.src)}:${t.srcPort}`;
    const dst = `${formatIpv4Address(t.dst)}:${t.dstPort}`;
    const fwd = byKey.get(`${src}>${dst}`);
    const sum = fwd ?? byKey.get(`${dst}>${src}`);
    if (sum === undefined) continue;
    const rel = tsMs !== undefined && t0 !== undefined ? tsMs - t0 : 0;
    if (sum.segments === 0) sum.firstMs = rel;
    sum.lastMs = rel;
    sum.segments++;
    if (fwd !== undefined) sum.bytesLtr += t.payloadLength;
    else sum.bytesRtl += t.payloadLength;
    if (t.flags & SYN) sum.syn = true;
    if (t.flags & (FIN | RST)) sum.closed = true;
  }
  return out;
}

/** The --list table: one line per connection, numbered for --flow N. */
export function formatFlowList(flows: readonly FlowSummary[]): string {
  if (flows.length === 0) return '(no TCP segments)';
  const rows = flows.map((f) => [
    String(f.index),
    `${f.flow.srcAddr}:${f.flow.srcPort}`,
    `${f.flow.dstAddr}:${f.flow.dstPort}`,
    String(f.segments),
    String(f.bytesLtr),
    String(f.bytesRtl),
    (f.firstMs / 1000).toFixed(6),
    ((f.lastMs - f.firstMs) / 1000).toFixed(6),
    `${f.syn ? 'handshake' : 'no SYN seen'}${f.closed ? ', closed' : ''}`,
  ]);
  const head = ['#', 'opened by', 'to', 'segments', 'bytes ->', 'bytes <-', 'start s', 'duration s', 'seen'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // Numbers right-aligned, names left-aligned.
  const right = new Set([0, 3, 4, 5, 6, 7]);
  const line = (cells: string[]): string =>
    cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/**
 * `--flow` as the user wrote it: N (1-based, as --list numbers them), ADDR:PORT-ADDR:PORT (either
 * direction), or one endpoint ADDR:PORT (the connections it is part of; more than one is an error
 * that lists them). Throws WireError('ERR_LADDER_FLOW') with what exists.
 */
export function selectFlow(flows: readonly FlowSummary[], spec: string): TcpFlow {
  const names = (): string => flows.map((f) => `#${f.index} ${f.flow.srcAddr}:${f.flow.srcPort}-${f.flow.dstAddr}:${f.flow.dstPort}`).join(', ');
  if (/^\d+$/.test(spec)) {
    const f = flows[Number(spec) - 1];
    if (f === undefined) throw new WireError('ERR_LADDER_FLOW', `no flow #${spec}: the capture has ${flows.length} (${names() || 'none'})`);
    return f.flow;
  }
  const ep = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;
  const parts = spec.split('-');
  const eps = parts.map((p) => ep.exec(p));
  if (parts.length > 2 || eps.some((m) => m === null)) {
    throw new WireError('ERR_LADDER_FLOW', `--flow takes N, ADDR:PORT-ADDR:PORT or ADDR:PORT, got ${JSON.stringify(spec)}`);
  }
  const has = (f: TcpFlow, m: RegExpExecArray): boolean =>
    (f.srcAddr === m[1] && f.srcPort === Number(m[2])) || (f.dstAddr === m[1] && f.dstPort === Number(m[2]));
  const found = flows.filter((f) => eps.every((m) => has(f.flow, m!)));
  if (found.length === 0) throw new WireError('ERR_LADDER_FLOW', `no flow matches ${spec}: the capture has ${names() || 'none'}`);
  if (found.length > 1) {
    throw new WireError('ERR_LADDER_FLOW', `${spec} is in ${found.length} flows (${found.map((f) => `#${f.index}`).join(', ')}): give N or both endpoints`);
  }
  return found[0]!.flow;
}

/** Read a capture (pcap or pcapng) and render the ladder of one of its TCP connections (for scripts/ladder.ts). */
export function ladderFromPcapFile(path: string, opts: LadderOptions = {}): string {
  return renderLadder(ipPacketsFromCapture(readFileSync(path)), opts);
}
