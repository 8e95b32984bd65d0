/**
 * Out-of-order data (RFC 9293 §3.10.7.4 "seventh, process the segment text": segments beyond RCV.NXT
 * but inside the window are held until the hole before them is filled). Kept as a sorted list of
 * non-overlapping ranges; a new segment is trimmed against what is already held (the earlier copy
 * wins, as any byte has one value).
 *
 * Memory is proportional to the bytes held, whatever the segment sizes and order: received payloads
 * are views into the device's receive chunks (256 KiB for the TUN device), so nothing is kept as
 * such a view. A range owns its storage: a piece that touches a held range is copied into it (the
 * smaller of two ranges it joins is copied into the larger, and storage grows by doubling, so each
 * byte is copied a bounded number of times and storage stays under twice the bytes); a piece that
 * touches nothing is kept as util/owned-bytes.ts retainable() makes it (a copy unless the view
 * already owns its buffer).
 *
 * Bounds: the receive window (the caller trims segments to it), a maximum number of ranges, and the
 * RxBudget (per connection and for the whole layer). Each range is charged its bytes plus
 * RANGE_COST, the way Linux charges an skb's truesize rather than its length, so that 1-byte
 * segments cannot hold memory for free. A piece beyond a bound is dropped (insert returns false).
 */
import { retainable } from '../util/owned-bytes.ts';
import { seqAdd, seqGt, seqLe, seqLt, seqSub } from '../wire/seq.ts';
import { unlimitedRxBudget, type RxBudget } from './rx-budget.ts';

/**
 * What a held range costs beyond its bytes, for the budget: its record, its Buffer and the list
 * slot (measured: about 310 bytes of JS heap per isolated 1-byte range, scripts/attack/rxmem-sim.ts).
 */
export const RANGE_COST = 320;

interface Held {
  seq: number;
  /** The bytes are buf[off, off + len); buf is owned (or a view that spans its own buffer). */
  buf: Uint8Array;
  off: number;
  len: number;
}

export class Reassembly {
  private readonly held: Held[] = [];
  private heldBytes = 0;
  /** What this queue is charged in the budget: bytes + RANGE_COST per range. */
  private charged = 0;
  /** Sequence number of a FIN seen out of order (its position: the byte after the data). */
  finSeq: number | undefined;
  /** Sequence number of the most recent insert (for the first SACK block, RFC 2018 §4). */
  lastInsert = 0;
  /** Why the last insert that returned false dropped data (a counters.dropped key). */
  dropReason: 'ooo-budget' | 'ooo-ranges' = 'ooo-budget';

  constructor(
    private readonly maxSegments = 512,
    private readonly budget: RxBudget = unlimitedRxBudget(),
  ) {}

  get bytes(): number {
    return this.heldBytes;
  }

  /** Held ranges (adjacent segments are merged into one). */
  get segments(): number {
    return this.held.length;
  }

  /** Bytes charged to the budget (bytes held + RANGE_COST per range). */
  get charge(): number {
    return this.charged;
  }

  get isEmpty(): boolean {
    return this.held.length === 0;
  }

  /**
   * Hold data starting at `seq` (which is after RCV.NXT). Returns false if any of it was dropped
   * (too many ranges, or over budget); what was held is held either way.
   */
  insert(seq: number, data: Uint8Array): boolean {
    this.lastInsert = seq;
    const list = this.held;
    let ok = true;
    let start = seq;
    let d = data;
    // Walk the held ranges that the new data overlaps; hold each gap between them.
    let i = this.firstEndingAfter(start);
    while (d.length > 0) {
      const next = list[i];
      const end = seqAdd(start, d.length);
      if (next === undefined || seqLe(end, next.seq)) {
        ok = this.place(start, d) && ok;
        break;
      }
      if (seqLt(start, next.seq)) {
        const nextSeq = next.seq; // place() may merge the piece into `next` and move its start
        const n = seqSub(nextSeq, start);
        ok = this.place(start, d.subarray(0, n)) && ok;
        d = d.subarray(n);
        start = nextSeq;
      }
      // Skip what the range already holds (re-find it: place() may have merged ranges).
      i = this.firstEndingAfter(start);
      const r = list[i]!;
      const rEnd = seqAdd(r.seq, r.len);
      const skip = seqSub(rEnd, start);
      if (skip >= d.length) break;
      d = d.subarray(skip);
      start = rEnd;
      i++;
    }
    return ok;
  }

  /**
   * The first part of [seq, end) that is already held, as [left, right), or undefined: a duplicate
   * the receiver reports with a D-SACK block (RFC 2883 §4.1.1).
   */
  heldWithin(seq: number, end: number): [number, number] | undefined {
    const h = this.held[this.firstEndingAfter(seq)];
    if (h === undefined || !seqLt(h.seq, end)) return undefined;
    const hEnd = seqAdd(h.seq, h.len);
    return [seqGt(h.seq, seq) ? h.seq : seq, seqLt(hEnd, end) ? hEnd : end];
  }

  /**
   * Remove and return the data that now continues at `rcvNxt` (contiguous runs), dropping anything
   * wholly before it. Returns undefined when nothing continues there.
   */
  takeAt(rcvNxt: number): Uint8Array | undefined {
    const list = this.held;
    while (list.length > 0) {
      const h = list[0]!;
      const end = seqAdd(h.seq, h.len);
      if (seqGt(h.seq, rcvNxt)) return undefined;
      list.shift();
      this.release(h.len + RANGE_COST);
      this.heldBytes -= h.len;
      if (seqLe(end, rcvNxt)) continue;
      return h.buf.subarray(h.off + seqSub(rcvNxt, h.seq), h.off + h.len);
    }
    return undefined;
  }

  /**
   * The held ranges as SACK blocks [left, right): the block holding the most recently received
   * segment first (RFC 2018 §4), then the others in sequence order, at most `max`.
   */
  blocks(max: number): [number, number][] {
    const all: [number, number][] = [];
    for (const h of this.held) {
      const end = seqAdd(h.seq, h.len);
      const last = all[all.length - 1];
      if (last !== undefined && last[1] === h.seq) last[1] = end;
      else all.push([h.seq, end]);
    }
    const k = all.findIndex(([s, e]) => seqLe(s, this.lastInsert) && seqLt(this.lastInsert, e));
    if (k > 0) all.unshift(all.splice(k, 1)[0]!);
    return all.length > max ? all.slice(0, max) : all;
  }

  /** Drop everything (and give the budget back). */
  clear(): void {
    this.held.length = 0;
    this.heldBytes = 0;
    this.release(this.charged);
    this.finSeq = undefined;
  }

  // ---------------------------------------------------------------------------------------------

  /** Index of the first range that ends after `seq` (binary search; ranges are sorted, disjoint). */
  private firstEndingAfter(seq: number): number {
    const list = this.held;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const h = list[mid]!;
      if (seqLe(seqAdd(h.seq, h.len), seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Hold `piece` (at `seq`, overlapping nothing held), merging it with the ranges it touches. */
  private place(seq: number, piece: Uint8Array): boolean {
    const list = this.held;
    const n = piece.length;
    const end = seqAdd(seq, n);
    const idx = this.firstEndingAfter(seq);
    const prev = idx > 0 ? list[idx - 1] : undefined;
    const next = list[idx];
    const joinPrev = prev !== undefined && seqAdd(prev.seq, prev.len) === seq;
    const joinNext = next !== undefined && next.seq === end;
    if (!joinPrev && !joinNext && list.length >= this.maxSegments) {
      this.dropReason = 'ooo-ranges';
      return false;
    }
    const cost = n + (joinPrev || joinNext ? 0 : RANGE_COST) - (joinPrev && joinNext ? RANGE_COST : 0);
    if (cost > 0) {
      if (!this.budget.reserveOoo(this.charged, cost)) {
        this.dropReason = 'ooo-budget';
        return false;
      }
      this.charged += cost;
    } else this.release(-cost);
    this.heldBytes += n;
    if (joinPrev && joinNext) {
      // The piece fills the hole between two ranges: copy the smaller into the larger.
      if (prev.len >= next.len) {
        append(prev, piece);
        append(prev, next.buf.subarray(next.off, next.off + next.len));
        list.splice(idx, 1);
      } else {
        prepend(next, piece);
        prepend(next, prev.buf.subarray(prev.off, prev.off + prev.len));
        next.seq = prev.seq;
        list.splice(idx - 1, 1);
      }
    } else if (joinPrev) {
      append(prev, piece);
    } else if (joinNext) {
      prepend(next, piece);
      next.seq = seq;
    } else {
      list.splice(idx, 0, { seq, buf: retainable(piece), off: 0, len: n });
    }
    return true;
  }

  private release(n: number): void {
    this.charged -= n;
    this.budget.releaseOoo(n);
  }
}

/** Append `src` to a range, growing its storage (by doubling) when there is no room behind. */
function append(r: Held, src: Uint8Array): void {
  const n = src.length;
  if (r.off + r.len + n > r.buf.length) grow(r, 0, n);
  r.buf.set(src, r.off + r.len);
  r.len += n;
}

/** Prepend `src` to a range, growing its storage (by doubling) when there is no room in front. */
function prepend(r: Held, src: Uint8Array): void {
  const n = src.length;
  if (r.off < n) grow(r, n, 0);
  r.off -= n;
  r.buf.set(src, r.off);
  r.len += n;
}

/** New owned storage with room for `front` + `back` more bytes; the spare room goes where it grows. */
function grow(r: Held, front: number, back: number): void {
  const total = r.len + front + back;
  const cap = Math.max(64, 2 * total);
  const buf = Buffer.allocUnsafeSlow(cap);
  const off = front > 0 ? cap - r.len - back : 0;
  buf.set(r.buf.subarray(r.off, r.off + r.len), off);
  r.buf = buf;
  r.off = off;
}
