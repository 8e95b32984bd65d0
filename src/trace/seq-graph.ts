/**
 * A sequence-number-versus-time graph of one TCP connection, as W. R. Stevens drew them and tcptrace
 * and Wireshark's "Stevens" graph still do: time across, the sender's relative sequence number up.
 *
 *   - each data segment the sender sent is a vertical bar from its first to its last byte, at the time
 *     it was captured: new data in blue, a retransmission (bytes at or below the highest byte already
 *     sent, RFC 9293 §3.8.1) in red and marked;
 *   - the receiver's cumulative ACK (RFC 9293 §3.4) is a green step line under them: the gap between
 *     the bars and the line is the data in flight, a flat line while bars climb is a hole waiting for
 *     its retransmission;
 *   - the receiver's advertised window's right edge (ACK + window, scaled per RFC 7323 §2.3 when both
 *     SYNs were seen) is a grey step line above: where the sender must stop.
 *
 * Reads packets as the ladder does (src/trace/ladder.ts); writes a self-contained SVG (no script, no
 * external style). The "sender" is the side that sent more payload bytes.
 */
import { formatIpv4Address } from '../wire/ipv4-address.ts';
import { SYN } from '../wire/tcp.ts';
import { seqGt, seqSub } from '../wire/seq.ts';
import { escapeXml, tickStep } from '../util/svg.ts';
import { peekTcp, peekTcpOptions } from './tcp-peek.ts';
import { listTcpFlows, type LadderInput, type TcpFlow } from './ladder.ts';

export interface SeqGraphOptions {
  /** Which connection (either direction). Default: the first in the input. */
  flow?: TcpFlow;
  /** Picture size in px (default 960 x 540). */
  width?: number;
  height?: number;
  /** Title line (default: the two endpoints). */
  title?: string;
}

/** What the graph was drawn from, for captions and tests. */
export interface SeqGraphData {
  sender: string;
  receiver: string;
  /** Data segments: time (ms since the first packet of the flow), relative [start, end), retransmission? */
  segments: { t: number; start: number; end: number; retransmit: boolean }[];
  /** The receiver's cumulative ACK and window edge, relative, with time. */
  acks: { t: number; ack: number; edge: number }[];
}

function norm(x: LadderInput): { data: Uint8Array; tsMs: number | undefined } {
  if (x instanceof Uint8Array) return { data: x, tsMs: undefined };
  if ('packet' in x) return { data: x.packet, tsMs: x.now };
  return { data: x.data, tsMs: x.tsMs };
}

/**
 * The segments and ACKs of one connection, relative to the sender's initial sequence number (its SYN's,
 * or its first segment's when the capture starts later). Packets without timestamps are 1 ms apart.
 */
export function seqGraphData(packets: readonly LadderInput[], flow?: TcpFlow): SeqGraphData | undefined {
  const f = flow ?? listTcpFlows(packets)[0]?.flow;
  if (f === undefined) return undefined;
  const a = `${f.srcAddr}:${f.srcPort}`;
  const b = `${f.dstAddr}:${f.dstPort}`;
  // First pass: who sends more payload, and the window scales from the SYNs.
  let bytesAB = 0;
  let bytesBA = 0;
  const wscale = new Map<string, number>();
  const rows: { t: number; from: string; seq: number; ack: number | undefined; len: number; syn: boolean; win: number }[] = [];
  let t0: number | undefined;
  let i = 0;
  for (const x of packets) {
    const { data, tsMs } = norm(x);
    const p = peekTcp(data);
    i++;
    if (p === undefined) continue;
    const from = `${formatIpv4Address(p.src)}:${p.srcPort}`;
    const to = `${formatIpv4Address(p.dst)}:${p.dstPort}`;
    if (!((from === a && to === b) || (from === b && to === a))) continue;
    const t = tsMs ?? i;
    t0 ??= t;
    const syn = (p.flags & SYN) !== 0;
    if (syn) {
      const ws = peekTcpOptions(data, p).windowScale;
      if (ws !== undefined) wscale.set(from, ws);
    }
    if (from === a) bytesAB += p.payloadLength;
    else bytesBA += p.payloadLength;
    rows.push({ t: t - t0, from, seq: p.seq, ack: p.ack, len: p.payloadLength, syn, win: p.window });
  }
  const sender = bytesBA > bytesAB ? b : a;
  const receiver = sender === a ? b : a;
  // RFC 7323 §2.2: scaling applies only if both SYNs carried the option; the SYNs' own windows are unscaled.
  const rcvShift = wscale.has(sender) && wscale.has(receiver) ? wscale.get(receiver)! : 0;
  let isn: number | undefined;
  let highest: number | undefined;
  const out: SeqGraphData = { sender, receiver, segments: [], acks: [] };
  for (const r of rows) {
    if (r.from === sender) {
      if (isn === undefined) isn = r.syn ? r.seq : (r.seq - 1) >>> 0;
      const len = r.len + (r.syn ? 1 : 0);
      if (len === 0) continue;
      const end = (r.seq + len) >>> 0;
      const retransmit = highest !== undefined && !seqGt(end, highest);
      if (highest === undefined || seqGt(end, highest)) highest = end;
      if (r.len > 0) out.segments.push({ t: r.t, start: seqSub(r.seq, isn), end: seqSub(end, isn), retransmit });
    } else if (isn !== undefined && r.ack !== undefined) {
      const win = r.syn ? r.win : r.win * 2 ** rcvShift;
      out.acks.push({ t: r.t, ack: seqSub(r.ack, isn), edge: seqSub(r.ack, isn) + win });
    }
  }
  return out;
}

function fmtBytes(n: number): string {
  if (n >= 1e6) return `${Number((n / 1e6).toFixed(2))} MB`;
  if (n >= 1e3) return `${Number((n / 1e3).toFixed(1))} kB`;
  return `${n} B`;
}

/** The graph as SVG text; throws nothing: an empty connection gives a picture that says so. */
export function renderSeqGraphSvg(packets: readonly LadderInput[], opts: SeqGraphOptions = {}): string {
  const W = opts.width ?? 960;
  const H = opts.height ?? 540;
  const L = 80;
  const R = 24;
  const T = 56;
  const B = 76;
  const d = seqGraphData(packets, opts.flow);
  const parts: string[] = [];
  const title = opts.title ?? (d ? `${d.sender} sending to ${d.receiver}` : 'no TCP connection in the capture');
  parts.push(`<text x="16" y="24" class="title">${escapeXml(title)}</text>`);
  if (d === undefined || d.segments.length === 0) {
    parts.push(`<text x="16" y="48" class="muted">no data segments to draw</text>`);
    return wrap(W, 80, parts);
  }
  const rtx = d.segments.filter((s) => s.retransmit).length;
  const total = Math.max(...d.segments.map((s) => s.end));
  parts.push(
    `<text x="16" y="44" class="muted">${escapeXml(`${d.segments.length} data segments, ${rtx} retransmitted (red); ${fmtBytes(total)} of sequence space`)}</text>`,
  );
  // Time from the first data segment (a slow handshake, such as a lost SYN waiting 1 s for its
  // retransmission, would squeeze the transfer into the right edge); the axis keeps the connection's clock.
  const tFirst = d.segments[0]!.t;
  const tMax = Math.max(...d.segments.map((s) => s.t), ...d.acks.map((a) => a.t), tFirst + 1);
  const tMin = Math.max(0, tFirst - (tMax - tFirst) * 0.02);
  const yMax = Math.max(total, ...d.acks.map((a) => Math.min(a.edge, total * 1.15)));
  const x = (t: number) => L + ((Math.max(t, tMin) - tMin) / (tMax - tMin)) * (W - L - R);
  const y = (s: number) => T + (H - T - B) * (1 - s / yMax);
  // Grid and axes.
  const tStep = tickStep(tMax - tMin);
  for (let t = Math.ceil(tMin / tStep) * tStep; t <= tMax + 1e-9; t += tStep) {
    parts.push(`<line x1="${x(t).toFixed(1)}" y1="${T}" x2="${x(t).toFixed(1)}" y2="${H - B}" class="grid"/>`);
    parts.push(`<text x="${x(t).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" class="tick">${Number(t.toFixed(3))}</text>`);
  }
  const sStep = tickStep(yMax);
  for (let s = 0; s <= yMax + 1e-9; s += sStep) {
    parts.push(`<line x1="${L}" y1="${y(s).toFixed(1)}" x2="${W - R}" y2="${y(s).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${L - 6}" y="${(y(s) + 4).toFixed(1)}" text-anchor="end" class="tick">${escapeXml(fmtBytes(s))}</text>`);
  }
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" class="axis"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" class="axis"/>`);
  const from = tMin > 0 ? `, from the first data segment` : '';
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - B + 34}" text-anchor="middle" class="tick">${escapeXml(`time since the connection's first packet (ms${from})`)}</text>`);
  parts.push(`<text x="18" y="${(T + H - B) / 2}" transform="rotate(-90 18 ${(T + H - B) / 2})" text-anchor="middle" class="tick">relative sequence number</text>`);
  // The window edge and the ACK line: steps (the value holds until the next ACK).
  const steps = (pick: (a: { ack: number; edge: number }) => number): string => {
    let path = '';
    let prev: number | undefined;
    for (const a of d.acks) {
      const v = Math.min(pick(a), yMax);
      path += prev === undefined ? `M${x(a.t).toFixed(1)},${y(v).toFixed(1)}` : `H${x(a.t).toFixed(1)}V${y(v).toFixed(1)}`;
      prev = v;
    }
    return prev === undefined ? '' : `${path}H${x(tMax).toFixed(1)}`;
  };
  parts.push(`<path d="${steps((a) => a.edge)}" class="window"/>`);
  parts.push(`<path d="${steps((a) => a.ack)}" class="ack"/>`);
  // The segments: new data first, retransmissions over them, each with a tooltip.
  for (const pass of [false, true]) {
    for (const s of d.segments) {
      if (s.retransmit !== pass) continue;
      const cx = x(s.t).toFixed(1);
      const y1 = y(s.end);
      const y2 = y(s.start);
      const tip = `${s.retransmit ? 'retransmission' : 'data'} ${s.start}:${s.end} at ${s.t.toFixed(3)} ms`;
      parts.push(
        `<line x1="${cx}" y1="${y1.toFixed(1)}" x2="${cx}" y2="${Math.max(y2, y1 + 1.5).toFixed(1)}" class="${pass ? 'rtx' : 'seg'}"><title>${escapeXml(tip)}</title></line>`,
      );
      if (pass) parts.push(`<text x="${cx}" y="${(y1 - 4).toFixed(1)}" text-anchor="middle" class="rtxmark">R</text>`);
    }
  }
  // Legend.
  const ly = H - 22;
  const legend: [string, string][] = [
    ['seg', 'data segment (first to last byte)'],
    ['rtx', 'retransmission (R)'],
    ['ack', "receiver's cumulative ACK"],
    ['window', 'ACK + advertised window'],
  ];
  let lx = L;
  for (const [cls, label] of legend) {
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" class="${cls}"/><text x="${lx + 28}" y="${ly}" class="legend">${escapeXml(label)}</text>`);
    lx += 40 + label.length * 6.6;
  }
  return wrap(W, H, parts);
}

function wrap(w: number, h: number, parts: string[]): string {
  const style =
    'text{font-family:sans-serif;fill:#222}.title{font-size:16px;font-weight:bold}.muted{font-size:12px;fill:#666}' +
    '.tick{font-size:11px;fill:#555}.legend{font-size:12px}.grid{stroke:#e6e8ec;stroke-width:1}.axis{stroke:#888;stroke-width:1}' +
    '.seg{stroke:#2b6cb0;stroke-width:2}.rtx{stroke:#d62728;stroke-width:3}.rtxmark{font-size:9px;fill:#d62728;font-weight:bold}' +
    '.ack{fill:none;stroke:#2e9b5f;stroke-width:1.5}.window{fill:none;stroke:#9aa0a6;stroke-width:1;stroke-dasharray:4 3}';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
    `<style>${style}</style><rect width="${w}" height="${h}" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
  );
}
