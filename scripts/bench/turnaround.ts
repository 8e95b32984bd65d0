/**
 * Where a sender's round trip goes, read from captures (`npm run bench:loss -- --capture DIR`).
 *
 * On a path of a fraction of a millisecond with a small window (corrupt=1% keeps CUBIC's window at
 * a few tens of segments), a download's speed is window / round trip, and the round trip is the
 * link's (the relay and the receiver) plus the sender's turnaround: the time from an ACK reaching
 * the sender's side of the link to the data it releases leaving. Linux's TCP turns an ACK around in
 * the relay's own write (softirq); tunstack's ACK is forwarded by the server namespace's kernel into
 * its TUN device, read by the process, answered, and forwarded back. Two captures in the server's
 * namespace split that:
 *
 *   relay's device (both servers)     tunstack0 (tunstack only)
 *   ACK in  ------- forward in -------> ACK queued to the stack
 *                                          | inside the stack: wake-up, read, TCP, write
 *   data out <------ forward out ------ data written (a TSO super-segment: its first segment)
 *
 * All times in microseconds. Packets are matched by fields the forwarding leaves alone: an ACK by
 * its IP identification and acknowledgment number, data by its sequence number.
 */
import { readPcap } from '../../src/trace/pcap-writer.ts';
import { WireError } from '../../src/util/errors.ts';
import { ipv4HeaderLength, ipv4Identification, ipv4Protocol, ipv4Src, ipv4Dst, ipv4TotalLength, IPPROTO_TCP } from '../../src/wire/ipv4.ts';
import type { Ipv4Address } from '../../src/wire/ipv4-address.ts';
import { tcpAck, tcpDstPort, tcpHeaderBytes, tcpSeq, tcpSrcPort } from '../../src/wire/tcp.ts';

/** One TCP packet of a server's port-80 flows, as a capture saw it. */
export interface Pkt {
  /** Capture time, ms since the epoch. */
  t: number;
  /** Sent by the server (data), else by the client (ACKs). */
  fromServer: boolean;
  clientPort: number;
  ipId: number;
  seq: number;
  ack: number;
  /** TCP payload bytes (from the IP total length: a super-segment counts whole). */
  len: number;
}

/** The TCP packets to and from `server`:`port` in a classic pcap of raw IPv4 (a TUN device's). */
export function packetsOf(pcap: Uint8Array, server: Ipv4Address, port = 80): Pkt[] {
  const file = readPcap(pcap);
  if (file instanceof WireError) throw file;
  const out: Pkt[] = [];
  for (const r of file.packets) {
    const d = r.data;
    if (d.length < 40 || d[0]! >> 4 !== 4 || ipv4Protocol(d) !== IPPROTO_TCP) continue;
    const ihl = ipv4HeaderLength(d);
    if (d.length < ihl + 20) continue;
    const fromServer = ipv4Src(d) === server && tcpSrcPort(d, ihl) === port;
    const toServer = ipv4Dst(d) === server && tcpDstPort(d, ihl) === port;
    if (!fromServer && !toServer) continue;
    out.push({
      t: r.tsMs,
      fromServer,
      clientPort: fromServer ? tcpDstPort(d, ihl) : tcpSrcPort(d, ihl),
      ipId: ipv4Identification(d),
      seq: tcpSeq(d, ihl),
      ack: tcpAck(d, ihl),
      len: Math.max(0, ipv4TotalLength(d) - ihl - tcpHeaderBytes(d, ihl)),
    });
  }
  // In time order: tcpdump writes packets in the order the kernel's capture ring hands them over,
  // and packets stamped on two cores (an ACK received, data sent) can come out of order.
  return out.sort((a, b) => a.t - b.t);
}

/** The packets of the flow that carried the most data between fromMs and toMs (one download). */
export function downloadFlow(pkts: Pkt[], fromMs: number, toMs: number): Pkt[] {
  const inWindow = pkts.filter((p) => p.t >= fromMs && p.t <= toMs);
  const bytes = new Map<number, number>();
  for (const p of inWindow) if (p.fromServer) bytes.set(p.clientPort, (bytes.get(p.clientPort) ?? 0) + p.len);
  let best = -1;
  let most = 0;
  for (const [port, n] of bytes) if (n > most) [best, most] = [port, n];
  return inWindow.filter((p) => p.clientPort === best);
}

/**
 * Turnarounds in one capture of one flow: from the first ACK after the server's last data packet to
 * its next data packet (what one wake of the sender costs, seen from that point), µs.
 */
export function turnarounds(flow: Pkt[]): number[] {
  const out: number[] = [];
  let ackAt: number | undefined;
  for (const p of flow) {
    if (!p.fromServer) ackAt ??= p.t;
    else if (p.len > 0 && ackAt !== undefined) {
      out.push((p.t - ackAt) * 1000);
      ackAt = undefined;
    }
  }
  return out;
}

/** The split of tunstack's turnaround, µs each: forward in, inside the stack, forward out. */
export interface Split {
  forwardIn: number[];
  inside: number[];
  forwardOut: number[];
}

/**
 * `relay`: the flow at the relay's device; `stack`: the same flow at tunstack's own TUN device (both
 * in time order). A retransmission repeats a sequence number (and a duplicated ACK its fields), so
 * each packet is matched with its nearest sighting on the right side of it: an ACK with the last one
 * at the relay before it reached the stack, data with the first one at the relay after the stack
 * wrote it.
 */
export function split(relay: Pkt[], stack: Pkt[]): Split {
  const acks = new Map<string, number[]>();
  const data = new Map<number, number[]>();
  const seen = <K>(m: Map<K, number[]>, k: K, t: number) => {
    const ts = m.get(k);
    if (ts === undefined) m.set(k, [t]);
    else ts.push(t);
  };
  for (const p of relay) {
    if (!p.fromServer) seen(acks, `${p.ipId}/${p.ack}`, p.t);
    else if (p.len > 0) seen(data, p.seq, p.t);
  }
  const forwardIn: number[] = [];
  const forwardOut: number[] = [];
  for (const p of stack) {
    if (!p.fromServer) {
      const at = lastAtOrBefore(acks.get(`${p.ipId}/${p.ack}`), p.t);
      if (at !== undefined) forwardIn.push((p.t - at) * 1000);
    } else if (p.len > 0) {
      const at = data.get(p.seq)?.find((t) => t >= p.t);
      if (at !== undefined) forwardOut.push((at - p.t) * 1000);
    }
  }
  return { forwardIn, inside: turnarounds(stack), forwardOut };
}

function lastAtOrBefore(ts: number[] | undefined, t: number): number | undefined {
  let found: number | undefined;
  for (const x of ts ?? []) if (x <= t) found = x;
  return found;
}

/** "median [p10-p90] (n)" of µs samples, or "-" when there are none. */
export function spread(xs: number[]): string {
  if (xs.length === 0) return '-';
  const s = [...xs].sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!.toFixed(0);
  return `${q(0.5)} [${q(0.1)}-${q(0.9)}]`;
}
