/**
 * The packet tracer: one human line per packet, tcpdump-like, with a timestamp, a direction arrow
 * ('->' sent by the stack, '<-' received from the link) and RELATIVE TCP sequence numbers (docs/design.md
 * rule 12), e.g.
 *
 *     0.000000 <- 10.77.0.1:40000 > 10.77.0.2:80 ...SYN seq 0...
 *     0.000214 -> 10.77.0.2:80 > 10.77.0.1:40000 ...SYN,ACK seq 0 ack 1...
 *
 * The packet text itself comes from wire/format.ts; this module adds time, direction and the relative
 * numbering, which it learns by peeking at the TCP fixed header of every packet (the SYN gives each
 * direction's ISN). Install it with a TapDevice only when tracing is on: then it costs nothing otherwise.
 */
import { formatPacket, type FormatOptions } from '../wire/format.ts';
import type { PacketDirection, PacketObserver } from './events.ts';
import { RelativeSeqTable, type RelativeSeqOptions } from './relative-seq.ts';
import { peekTcp, type TcpPeek } from './tcp-peek.ts';
import { ssthreshText } from '../tcp/congestion-control.ts';

/** The shape of wire/format.ts's formatPacket. */
export type PacketFormatter = (pkt: Uint8Array, opts?: FormatOptions) => string;

export interface PacketTracerOptions extends RelativeSeqOptions {
  /** Where lines go (default: stdout). */
  write?: (line: string) => void;
  /**
   * 'relative' (default): seconds since the first traced packet; 'clock': the clock's own value in
   * seconds; 'none': no time column.
   */
  time?: 'relative' | 'clock' | 'none';
  /** Absolute sequence numbers, as on the wire (default false: relative, like Wireshark). */
  absolute?: boolean;
  /** Replace the packet formatter (default wire/format.ts formatPacket). */
  format?: PacketFormatter;
}

export class PacketTracer {
  private readonly seqs: RelativeSeqTable;
  private readonly write: (line: string) => void;
  private readonly time: 'relative' | 'clock' | 'none';
  private readonly format: PacketFormatter;
  private readonly absolute: boolean;
  private startMs: number | undefined;
  /** Why the next packet the stack sends left (TcpLayer.onSegmentSent), shown at the end of its line. */
  private reason: string | undefined;
  /** Lines written so far. */
  lines = 0;

  constructor(opts: PacketTracerOptions = {}) {
    this.seqs = new RelativeSeqTable(opts);
    this.write = opts.write ?? ((line) => void process.stdout.write(line + '\n'));
    this.time = opts.time ?? 'relative';
    this.format = opts.format ?? formatPacket;
    this.absolute = opts.absolute ?? false;
  }

  /** Bound observer, for `new TapDevice(device, tracer.observer, clock)`. */
  readonly observer: PacketObserver = (dir, packet, now) => {
    this.write(this.line(dir, packet, now));
    this.lines++;
  };

  /**
   * The TCP layer says why the segment it is about to send leaves (tcp/config.ts SendReason: data,
   * fast-retransmit, rto-retransmit, tlp, window-probe, delayed-ack, ...): the next outgoing TCP
   * packet's line ends with it in brackets. Wire it with `tcpLayer.onSegmentSent`. With `cc`
   * (given at losses: retransmissions and probes), the congestion window and slow-start threshold
   * after the reaction follow, e.g. `[rto-retransmit cwnd 1460 ssthresh 7300]`.
   */
  noteReason(reason: string, cc?: { cwnd: number; ssthresh: number }): void {
    this.reason = cc === undefined ? reason : `${reason} cwnd ${cc.cwnd} ssthresh ${ssthreshText(cc.ssthresh)}`;
  }

  /** The line for one packet (updates the relative-sequence state: call it once per packet, in order). */
  line(dir: PacketDirection, packet: Uint8Array, now: number): string {
    const seg = peekTcp(packet);
    if (seg !== undefined) this.seqs.observe(seg, now);
    let text = seg === undefined || this.absolute ? this.format(packet) : this.format(packet, this.relativeFor(seg));
    if (dir === 'out' && seg !== undefined && this.reason !== undefined) {
      text += ` [${this.reason}]`;
      this.reason = undefined;
    }
    const arrow = dir === 'in' ? '<-' : '->';
    if (this.time === 'none') return `${arrow} ${text}`;
    let t = now;
    if (this.time === 'relative') {
      this.startMs ??= now;
      t = now - this.startMs;
    }
    return `${(t / 1000).toFixed(6).padStart(10)} ${arrow} ${text}`;
  }

  /**
   * formatPacket asks for relative numbers by ports only; the addresses come from our own peek at the
   * same packet, so flows that share port numbers on different hosts stay apart.
   */
  private relativeFor(seg: TcpPeek): FormatOptions {
    return {
      relativeSeq: (srcPort, dstPort, seq, ack) => {
        if (srcPort !== seg.srcPort || dstPort !== seg.dstPort) return undefined;
        // Without ACK the field means nothing: left as it is (formatPacket prints it only with ACK).
        if (seg.ack === undefined) return { seq: this.seqs.relative(seg.src, srcPort, seg.dst, dstPort, seq, undefined).seq, ack };
        return this.seqs.relative(seg.src, srcPort, seg.dst, dstPort, seq, ack);
      },
    };
  }

  /** Number of flow directions whose ISN is remembered. */
  get trackedFlows(): number {
    return this.seqs.size;
  }
}
