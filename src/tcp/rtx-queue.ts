/**
 * The retransmission queue: one record per segment sent and not yet cumulatively acknowledged, in
 * sequence order, with what RACK-TLP (RFC 8985 §5.2) keeps per segment: when it was last sent, and
 * whether it was ever retransmitted, is SACKed, or is deemed lost. A TSO super-segment is recorded
 * as the MSS-sized segments the device cuts it into, so that losses, SACKs and retransmissions are
 * per wire segment. Our FIN takes a record of its own (one sequence number, no data).
 *
 * Two orders over the same records:
 *  - sequence order: a ring of typed arrays (no object per segment; grown by doubling, at most the
 *    send buffer's worth of segments), searched by binary search;
 *  - transmit order: a doubly linked list through the same slots of the records that are neither
 *    SACKed nor acknowledged, oldest transmission first. RACK's loss detection walks it from the
 *    oldest and stops at the first segment sent after the most recently delivered one (RFC 8985
 *    §6.2 step 5), so it never walks what was SACKed.
 *
 * Byte counters follow the flags, so that the data in flight (RFC 6675's "pipe", Linux's in_flight)
 * is one subtraction: outstanding - SACKed - lost + retransmitted-since-lost.
 */
import { seqGt, seqLe, seqLt, seqSub } from '../wire/seq.ts';

export const SACKED = 1;
/** Deemed lost and not retransmitted since (RFC 8985 §6.2 step 5, §6.3). */
export const LOST = 2;
/** Retransmitted at least once: an ACK of it may be for the original (RFC 8985 §6.2 step 2). */
export const RETRANS = 4;
/** A retransmission sent after the segment was deemed lost is in flight. */
export const RTX_OUT = 8;

const NIL = -1;

/** Bytes a record takes in the queue's buffer: send time (8), start, end, prev, next (4 each), flags (1). */
const SLOT_BYTES = 8 + 4 * 4 + 1;

// The empty queue's arrays, shared by every connection until it first sends data (an idle
// connection then costs no typed arrays here; the first push grows the queue into its own).
const NONE_U32 = new Uint32Array(0);
const NONE_F64 = new Float64Array(0);
const NONE_U8 = new Uint8Array(0);
const NONE_I32 = new Int32Array(0);

/** Told of each record ackTo() acknowledges (an object with a method: no closure per connection). */
export interface AckVisitor {
  ackedSlot(slot: number): void;
}

export class RtxQueue {
  private cap = 0;
  private st = NONE_U32;
  private en = NONE_U32;
  private xmit = NONE_F64;
  private fl = NONE_U8;
  private prev = NONE_I32;
  private next = NONE_I32;
  /** Slot of the lowest record, and how many there are. */
  private head = 0;
  private n = 0;
  /** The transmit-order list (slots). */
  private tHead = NIL;
  private tTail = NIL;

  /** Bytes (sequence numbers) of records SACKed, deemed lost, and lost-then-retransmitted. */
  sackedBytes = 0;
  lostBytes = 0;
  rtxOutBytes = 0;
  /** Records SACKed (RACK.segs_sacked). */
  sackedSegs = 0;

  get length(): number {
    return this.n;
  }

  get isEmpty(): boolean {
    return this.n === 0;
  }

  /** Sequence bytes recorded (SND.MAX - SND.UNA when every segment is recorded). */
  get bytes(): number {
    return this.n === 0 ? 0 : seqSub(this.en[this.slot(this.n - 1)]!, this.st[this.head]!);
  }

  /** Data in flight: outstanding, less what is SACKed and what is lost and not resent (RFC 6675 §4 "pipe"). */
  get pipe(): number {
    return this.bytes - this.sackedBytes - this.lostBytes + this.rtxOutBytes;
  }

  // Records by position i (0 = lowest sequence number), for the loss recovery that owns the queue.
  slot(i: number): number {
    const s = this.head + i;
    return s >= this.cap ? s - this.cap : s;
  }
  start(slot: number): number {
    return this.st[slot]!;
  }
  end(slot: number): number {
    return this.en[slot]!;
  }
  xmitTs(slot: number): number {
    return this.xmit[slot]!;
  }
  flags(slot: number): number {
    return this.fl[slot]!;
  }

  /** Oldest transmission among records neither SACKed nor acknowledged (NIL = -1 when none). */
  get oldest(): number {
    return this.tHead;
  }
  /** The next record in transmit order after `slot` (NIL when none). */
  after(slot: number): number {
    return this.next[slot]!;
  }

  /** A new segment [start, end) was sent at `now` (first transmission). */
  push(start: number, end: number, now: number): void {
    if (this.n === this.cap) this.grow();
    const s = this.slot(this.n);
    this.n++;
    this.st[s] = start >>> 0;
    this.en[s] = end >>> 0;
    this.xmit[s] = now;
    this.fl[s] = 0;
    this.linkTail(s);
  }

  /** The record at `slot` was sent again at `now`. */
  retransmitted(slot: number, now: number): void {
    const f = this.fl[slot]!;
    if (f & SACKED) return;
    this.xmit[slot] = now;
    let g = f | RETRANS;
    if (f & LOST && !(f & RTX_OUT)) {
      g |= RTX_OUT;
      this.rtxOutBytes += this.len(slot);
    }
    this.fl[slot] = g;
    this.unlink(slot);
    this.linkTail(slot);
  }

  /** Deem the record lost (again, if its retransmission was in flight). Returns false if it already was. */
  markLost(slot: number): boolean {
    const f = this.fl[slot]!;
    if (f & SACKED) return false;
    if (f & LOST && !(f & RTX_OUT)) return false;
    if (f & RTX_OUT) this.rtxOutBytes -= this.len(slot);
    else this.lostBytes += this.len(slot);
    this.fl[slot] = (f | LOST) & ~RTX_OUT;
    return true;
  }

  /** Forget that the record was deemed lost (the loss proved spurious). */
  clearLost(slot: number): void {
    const f = this.fl[slot]!;
    if (!(f & LOST)) return;
    this.lostBytes -= this.len(slot);
    if (f & RTX_OUT) this.rtxOutBytes -= this.len(slot);
    this.fl[slot] = f & ~(LOST | RTX_OUT);
  }

  /** The receiver holds the record (a SACK covers it whole). */
  markSacked(slot: number): void {
    const f = this.fl[slot]!;
    if (f & SACKED) return;
    this.unaccount(slot, f);
    this.fl[slot] = SACKED | (f & RETRANS);
    this.sackedBytes += this.len(slot);
    this.sackedSegs++;
    this.unlink(slot);
  }

  /**
   * SND.UNA moved to `una`: records below it leave. `visit` sees each record acknowledged here that
   * was not already SACKed (RACK step 2 for cumulatively acknowledged segments) before it goes.
   * Returns the bytes newly delivered (not counting those SACKed before).
   */
  ackTo(una: number, visit: AckVisitor | undefined): number {
    let delivered = 0;
    while (this.n > 0) {
      const s = this.head;
      if (seqLe(this.en[s]!, una)) {
        const f = this.fl[s]!;
        if (!(f & SACKED)) {
          visit?.ackedSlot(s);
          delivered += this.len(s);
          this.unaccount(s, f);
          this.unlink(s);
        } else {
          this.sackedBytes -= this.len(s);
          this.sackedSegs--;
        }
        this.head = this.head + 1 === this.cap ? 0 : this.head + 1;
        this.n--;
        continue;
      }
      if (seqLt(this.st[s]!, una)) {
        // A partial acknowledgment of a segment (a receiver that trimmed it): keep the rest.
        const cut = seqSub(una, this.st[s]!);
        const f = this.fl[s]!;
        if (f & SACKED) this.sackedBytes -= cut;
        else {
          delivered += cut;
          if (f & LOST) this.lostBytes -= cut;
          if (f & RTX_OUT) this.rtxOutBytes -= cut;
        }
        this.st[s] = una >>> 0;
      }
      break;
    }
    if (this.n === 0) this.head = 0;
    return delivered;
  }

  /** Position of the record holding `seq`, or of the first record above it (length if none). */
  indexAt(seq: number): number {
    if (this.n === 0) return 0;
    const base = this.st[this.head]!;
    const key = seqSub(seq, base);
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqSub(this.en[this.slot(mid)]!, base) <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The record [seq, ...) starting exactly at `seq`, or NIL. */
  slotStarting(seq: number): number {
    const i = this.indexAt(seq);
    if (i >= this.n) return NIL;
    const s = this.slot(i);
    return this.st[s] === seq >>> 0 ? s : NIL;
  }

  /**
   * The send MSS fell to `mss` (the path MTU came down): cut every record longer than `mss` into
   * pieces of at most `mss`, each with its record's send time and flags and its place in transmit
   * order, and deem the pieces that are not SACKed lost (the datagram they left in was too big to
   * arrive). Returns the number of records cut. Rare (once per path MTU change): it rebuilds the
   * queue, allocating new arrays.
   */
  recut(mss: number): number {
    let extra = 0;
    let cut = 0;
    for (let i = 0; i < this.n; i++) {
      const len = this.len(this.slot(i));
      if (len > mss) {
        extra += Math.ceil(len / mss) - 1;
        cut++;
      }
    }
    if (cut === 0) return 0;
    const n = this.n + extra;
    let cap = Math.max(64, this.cap);
    while (cap < n) cap *= 2;
    const wasCut = new Uint8Array(cap);
    this.relayout(cap, mss, wasCut);
    const fl = this.fl;
    // The byte counters hold (the pieces cover the same bytes); the SACKed records are more now.
    let sackedSegs = 0;
    for (let s = 0; s < n; s++) {
      if (fl[s]! & SACKED) sackedSegs++;
      else if (wasCut[s] === 1) this.markLost(s);
    }
    this.sackedSegs = sackedSegs;
    return cut;
  }

  clear(): void {
    this.n = 0;
    this.head = 0;
    this.tHead = this.tTail = NIL;
    this.sackedBytes = this.lostBytes = this.rtxOutBytes = this.sackedSegs = 0;
  }

  private len(slot: number): number {
    return seqSub(this.en[slot]!, this.st[slot]!);
  }

  private unaccount(slot: number, f: number): void {
    if (f & LOST) this.lostBytes -= this.len(slot);
    if (f & RTX_OUT) this.rtxOutBytes -= this.len(slot);
  }

  private linkTail(s: number): void {
    this.prev[s] = this.tTail;
    this.next[s] = NIL;
    if (this.tTail === NIL) this.tHead = s;
    else this.next[this.tTail] = s;
    this.tTail = s;
  }

  private unlink(s: number): void {
    const p = this.prev[s]!;
    const q = this.next[s]!;
    if (p === NIL && q === NIL && this.tHead !== s) return; // not linked
    if (p === NIL) this.tHead = q;
    else this.next[p] = q;
    if (q === NIL) this.tTail = p;
    else this.prev[q] = p;
    this.prev[s] = this.next[s] = NIL;
  }

  /**
   * Double the slots. The first grow makes 8: a request-response connection rarely has more segments
   * in flight, and an idle keep-alive connection then keeps ~200 bytes of arrays here, not ~1.6 KiB;
   * a bulk transfer reaches 64 slots after three more doublings.
   */
  private grow(): void {
    this.relayout(Math.max(8, this.cap * 2), Infinity, undefined);
  }

  /**
   * Copy the queue into new arrays of `cap` slots, laid out from slot 0 in sequence order, each record
   * cut into pieces of at most `mss` bytes (Infinity: none is cut) that keep its send time, flags and
   * place in transmit order; `wasCut[slot]` says which pieces came from a record that was cut.
   */
  private relayout(cap: number, mss: number, wasCut: Uint8Array | undefined): void {
    // The six arrays share one buffer: one ArrayBuffer (and one backing store outside the heap) per
    // queue instead of six, which an idle connection keeps. cap is a multiple of 8, so each array
    // starts aligned to its element size: the 8-byte send times first, the flag bytes last.
    const buf = new ArrayBuffer(cap * SLOT_BYTES);
    const xmit = new Float64Array(buf, 0, cap);
    const st = new Uint32Array(buf, cap * 8, cap);
    const en = new Uint32Array(buf, cap * 12, cap);
    const prev = new Int32Array(buf, cap * 16, cap).fill(NIL);
    const next = new Int32Array(buf, cap * 20, cap).fill(NIL);
    const fl = new Uint8Array(buf, cap * 24, cap);
    // Where each old slot's pieces went: [first, first + count) (nothing to say for an empty queue,
    // as at the first grow).
    const first = this.n === 0 ? NONE_I32 : new Int32Array(this.cap);
    const count = this.n === 0 ? NONE_I32 : new Int32Array(this.cap);
    let w = 0;
    for (let i = 0; i < this.n; i++) {
      const s = this.slot(i);
      const end = this.en[s]!;
      const many = this.len(s) > mss ? 1 : 0;
      first[s] = w;
      let at = this.st[s]!;
      do {
        const to = seqSub(end, at) > mss ? (at + mss) >>> 0 : end;
        st[w] = at;
        en[w] = to;
        xmit[w] = this.xmit[s]!;
        fl[w] = this.fl[s]!;
        if (wasCut !== undefined) wasCut[w] = many;
        w++;
        at = to;
      } while (at !== end);
      count[s] = w - first[s]!;
    }
    // The transmit order: each old record's pieces, in sequence order, where the record was.
    let last = NIL;
    let tHead = NIL;
    for (let s = this.tHead; s !== NIL; s = this.next[s]!) {
      for (let k = 0; k < count[s]!; k++) {
        const t = first[s]! + k;
        prev[t] = last;
        if (last === NIL) tHead = t;
        else next[last] = t;
        last = t;
      }
    }
    this.st = st;
    this.en = en;
    this.xmit = xmit;
    this.fl = fl;
    this.prev = prev;
    this.next = next;
    this.cap = cap;
    this.head = 0;
    this.n = w;
    this.tHead = tHead;
    this.tTail = last;
  }
}

export { NIL as RTX_NIL };

/** RFC 8985 §6.2 RACK_sent_after(t1, seq1, t2, seq2): sent later, or at the same time with a higher sequence number. */
export function sentAfter(t1: number, seq1: number, t2: number, seq2: number): boolean {
  return t1 > t2 || (t1 === t2 && seqGt(seq1, seq2));
}
