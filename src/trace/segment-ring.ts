/**
 * The latest TCP segments the stack sent and received, kept for the demo site's /live and /ladder
 * pages: a ring of fixed-size slots allocated once, so recording a packet allocates nothing. Each
 * slot keeps the packet's first SLOT_BYTES bytes (the IPv4 and TCP headers with their options, and
 * the start of the payload for a preview), its full length, the time, the direction, and for a
 * segment we sent why it left (tcp/config.ts SendReason, stored as a small number) with the
 * congestion window and slow-start threshold at that moment.
 *
 * Install `observer` on a TapDevice and wire `noteSent` to TcpLayer.onSegmentSent: the layer says
 * why a segment leaves just before the segment reaches the device (the tracer relies on the same
 * order, tracer.ts). `onRecord`, when set, hears of every slot written: the live feed sets it only
 * while a browser watches, so without one recording is a copy and a few stores.
 *
 * Reading (`forEach`, `slot`) decodes nothing: trace/flow-decoder.ts turns slots into ladder rows.
 */
import type { SendReason } from '../tcp/config.ts';
import type { PacketDirection, PacketObserver } from './events.ts';
import { IPPROTO_TCP, IPV4_MIN_HEADER, ipv4Protocol } from '../wire/ipv4.ts';

/** Bytes kept of each packet: room for a 60-byte IPv4 header, a 60-byte TCP header and a little more. */
export const SLOT_BYTES = 128;

/** Every SendReason, in a fixed order: a reason is stored as its index + 1 (0: received, or unknown). */
export const SEND_REASONS: readonly SendReason[] = [
  'syn',
  'syn-ack',
  'data',
  'fin',
  'ack',
  'delayed-ack',
  'window-update',
  'dup-ack',
  'fast-retransmit',
  'sack-retransmit',
  'rto-retransmit',
  'tlp',
  'window-probe',
  'keepalive',
  'rst',
  'challenge-ack',
];
const REASON_CODE: Readonly<Record<SendReason, number>> = Object.freeze(
  Object.fromEntries(SEND_REASONS.map((r, i) => [r, i + 1])) as Record<SendReason, number>,
);

/** One recorded packet, as `slot(i)` hands it out (a view into the ring: copy what you keep). */
export interface RingSlot {
  /** Ever-increasing number of the record (the ring index is seq % capacity). */
  readonly seq: number;
  readonly dir: PacketDirection;
  readonly now: number;
  /** The first bytes of the packet (up to SLOT_BYTES). */
  readonly bytes: Uint8Array;
  /** The packet's whole length as it was sent or received. */
  readonly length: number;
  /** Why we sent it; undefined for a received packet. */
  readonly reason: SendReason | undefined;
  /** cwnd and ssthresh when we sent it (0 when unknown: received packets). */
  readonly cwnd: number;
  readonly ssthresh: number;
}

export class SegmentRing {
  readonly capacity: number;
  /** Records written so far; the oldest still held is max(0, written - capacity). */
  written = 0;
  /** Told the number of each record just written (set only while someone listens). */
  onRecord: ((seq: number) => void) | undefined;

  private readonly data: Uint8Array;
  private readonly lengths: Uint32Array;
  private readonly times: Float64Array;
  private readonly dirs: Uint8Array;
  private readonly reasons: Uint8Array;
  private readonly cwnds: Uint32Array;
  private readonly ssthreshs: Uint32Array;
  private pendingReason = 0;
  private pendingCwnd = 0;
  private pendingSsthresh = 0;

  constructor(capacity = 4096) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.data = new Uint8Array(capacity * SLOT_BYTES);
    this.lengths = new Uint32Array(capacity);
    this.times = new Float64Array(capacity);
    this.dirs = new Uint8Array(capacity);
    this.reasons = new Uint8Array(capacity);
    this.cwnds = new Uint32Array(capacity);
    this.ssthreshs = new Uint32Array(capacity);
  }

  /** TcpLayer.onSegmentSent: the next TCP packet out left for this reason, with this cwnd/ssthresh. */
  noteSent(reason: SendReason, cwnd: number, ssthresh: number): void {
    this.pendingReason = REASON_CODE[reason] ?? 0;
    this.pendingCwnd = cwnd;
    this.pendingSsthresh = ssthresh;
  }

  /** For a TapDevice: record TCP packets (IPv4 protocol 6), ignore the rest. */
  readonly observer: PacketObserver = (dir, packet, now) => {
    if (packet.length < IPV4_MIN_HEADER || ipv4Protocol(packet) !== IPPROTO_TCP) return;
    const seq = this.written++;
    const i = seq % this.capacity;
    const off = i * SLOT_BYTES;
    // One native copy (a short-lived view for a long packet beats a byte loop by far).
    if (packet.length <= SLOT_BYTES) this.data.set(packet, off);
    else this.data.set(packet.subarray(0, SLOT_BYTES), off);
    this.lengths[i] = packet.length;
    this.times[i] = now;
    if (dir === 'out') {
      this.dirs[i] = 1;
      this.reasons[i] = this.pendingReason;
      this.cwnds[i] = this.pendingCwnd;
      this.ssthreshs[i] = this.pendingSsthresh;
      this.pendingReason = 0;
    } else {
      this.dirs[i] = 0;
      this.reasons[i] = 0;
      this.cwnds[i] = 0;
      this.ssthreshs[i] = 0;
    }
    this.onRecord?.(seq);
  };

  /** The oldest record number still in the ring. */
  get oldest(): number {
    return Math.max(0, this.written - this.capacity);
  }

  /** Record `seq`, or undefined when it was overwritten or not written yet. */
  slot(seq: number): RingSlot | undefined {
    if (seq < this.oldest || seq >= this.written) return undefined;
    const i = seq % this.capacity;
    const len = this.lengths[i]!;
    const code = this.reasons[i]!;
    return {
      seq,
      dir: this.dirs[i] === 1 ? 'out' : 'in',
      now: this.times[i]!,
      bytes: this.data.subarray(i * SLOT_BYTES, i * SLOT_BYTES + Math.min(len, SLOT_BYTES)),
      length: len,
      reason: code === 0 ? undefined : SEND_REASONS[code - 1],
      cwnd: this.cwnds[i]!,
      ssthresh: this.ssthreshs[i]!,
    };
  }

  /** Every record still held, oldest first. */
  forEach(fn: (s: RingSlot) => void): void {
    for (let seq = this.oldest; seq < this.written; seq++) fn(this.slot(seq)!);
  }
}
