/**
 * Relative sequence numbers for human-facing views, as Wireshark shows them (docs/design.md rule 12):
 * each direction of a flow counts from its initial sequence number, so the SYN is seq=0, the first
 * data byte is 1, and an ACK of the SYN is ack=1.
 *
 * The base of a direction is the sequence number of the SYN it sent. A flow first seen mid-stream
 * takes the first sequence number seen as base (and the first acknowledgment seen as the base of the
 * other direction), so its numbers are still small and consistent. Entries expire: soon after a FIN
 * or RST (`closeLingerMs`, long enough for the last ACKs), or after `idleTimeoutMs` of silence; and
 * the table holds at most `maxFlows` directions, dropping expired ones, then the oldest.
 */
import { FIN, RST, SYN } from '../wire/tcp.ts';
import { type TcpPeek } from './tcp-peek.ts';

export interface RelativeSeqOptions {
  maxFlows?: number;
  idleTimeoutMs?: number;
  closeLingerMs?: number;
}

interface Base {
  isn: number;
  expiresAt: number;
  /** A FIN or RST was seen: the entry lingers briefly, traffic no longer extends it. */
  closing: boolean;
}

export class RelativeSeqTable {
  private readonly bases = new Map<string, Base>();
  private readonly maxFlows: number;
  private readonly idleTimeoutMs: number;
  private readonly closeLingerMs: number;
  private now = 0;

  constructor(opts: RelativeSeqOptions = {}) {
    this.maxFlows = opts.maxFlows ?? 4096;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
    this.closeLingerMs = opts.closeLingerMs ?? 10_000;
  }

  get size(): number {
    return this.bases.size;
  }

  /** Learn from a segment seen at `now`: a SYN sets its direction's base; FIN/RST start the linger. */
  observe(seg: TcpPeek, now: number): void {
    this.now = now;
    const fwd = key(seg.src, seg.srcPort, seg.dst, seg.dstPort);
    if (seg.flags & SYN) {
      // A SYN always (re)starts the direction: a new connection may reuse the 4-tuple.
      this.set(fwd, seg.seq, now + this.idleTimeoutMs);
    } else {
      this.base(fwd, seg.seq);
    }
    if (seg.flags & (FIN | RST)) {
      const rev = key(seg.dst, seg.dstPort, seg.src, seg.srcPort);
      const linger = now + this.closeLingerMs;
      for (const k of [fwd, rev]) {
        const b = this.bases.get(k);
        if (b !== undefined && !b.closing) {
          b.closing = true;
          b.expiresAt = Math.min(b.expiresAt, linger);
        }
      }
    }
  }

  /**
   * Relative seq (against the sender's base) and ack (against the receiver's base; also a SACK edge,
   * which lies in the same space). A segment without ACK has no ack (TcpPeek.ack undefined): nothing
   * becomes the other direction's base then, and the ack stays undefined.
   */
  relative(src: number, srcPort: number, dst: number, dstPort: number, seq: number, ack: number): { seq: number; ack: number };
  relative(src: number, srcPort: number, dst: number, dstPort: number, seq: number, ack: number | undefined): { seq: number; ack: number | undefined };
  relative(src: number, srcPort: number, dst: number, dstPort: number, seq: number, ack: number | undefined): { seq: number; ack: number | undefined } {
    const s = this.base(key(src, srcPort, dst, dstPort), seq);
    if (ack === undefined) return { seq: (seq - s) >>> 0, ack };
    const a = this.base(key(dst, dstPort, src, srcPort), ack);
    return { seq: (seq - s) >>> 0, ack: (ack - a) >>> 0 };
  }

  /** The base of a direction, created from `fallback` if unknown or expired. */
  private base(k: string, fallback: number): number {
    const b = this.bases.get(k);
    if (b !== undefined && b.expiresAt > this.now) {
      if (!b.closing) b.expiresAt = this.now + this.idleTimeoutMs;
      return b.isn;
    }
    this.set(k, fallback, this.now + this.idleTimeoutMs);
    return fallback;
  }

  private set(k: string, isn: number, expiresAt: number): void {
    this.bases.delete(k);
    if (this.bases.size >= this.maxFlows) {
      for (const [old, b] of this.bases) if (b.expiresAt <= this.now) this.bases.delete(old);
      // Still full: evict the oldest insertion (Map keeps insertion order).
      while (this.bases.size >= this.maxFlows) {
        const first = this.bases.keys().next();
        if (first.done) break;
        this.bases.delete(first.value);
      }
    }
    this.bases.set(k, { isn, expiresAt, closing: false });
  }
}

function key(src: number, srcPort: number, dst: number, dstPort: number): string {
  return `${src}:${srcPort}>${dst}:${dstPort}`;
}
