/**
 * Out-of-order data (RFC 9293 §3.10.7.4 "seventh, process the segment text": segments beyond RCV.NXT
 * but inside the window are held until the hole before them is filled). Kept as a sorted list of
 * non-overlapping ranges; a new segment is trimmed against what is already held (the earlier copy
 * wins, as any byte has one value). Memory is bounded by the receive window (the caller trims
 * segments to it) and by a maximum number of held segments.
 *
 * Payloads are views into received packets (the device never reuses a buffer it handed out).
 */
import { seqAdd, seqGe, seqGt, seqLe, seqLt, seqSub } from '../wire/seq.ts';

interface Held {
  seq: number;
  data: Uint8Array;
}

export class Reassembly {
  private readonly held: Held[] = [];
  private heldBytes = 0;
  /** Sequence number of a FIN seen out of order (its position: the byte after the data). */
  finSeq: number | undefined;
  /** Sequence number of the most recent insert (for the first SACK block, RFC 2018 §4). */
  lastInsert = 0;

  constructor(private readonly maxSegments = 512) {}

  get bytes(): number {
    return this.heldBytes;
  }

  get segments(): number {
    return this.held.length;
  }

  get isEmpty(): boolean {
    return this.held.length === 0;
  }

  /** Hold data starting at `seq` (which is after RCV.NXT). Returns false if it was dropped (full). */
  insert(seq: number, data: Uint8Array): boolean {
    this.lastInsert = seq;
    let start = seq;
    let d = data;
    const list = this.held;
    // Find the first held range that ends after start.
    let i = 0;
    while (i < list.length && seqLe(seqAdd(list[i]!.seq, list[i]!.data.length), start)) i++;
    while (d.length > 0) {
      const next = list[i];
      if (next === undefined || seqGe(next.seq, seqAdd(start, d.length))) {
        // No overlap with `next`: insert the rest here.
        if (list.length >= this.maxSegments) return false;
        list.splice(i, 0, { seq: start, data: d });
        this.heldBytes += d.length;
        return true;
      }
      if (seqLt(start, next.seq)) {
        // Part before `next`.
        const n = seqSub(next.seq, start);
        if (list.length >= this.maxSegments) return false;
        list.splice(i, 0, { seq: start, data: d.subarray(0, n) });
        this.heldBytes += n;
        i++;
        d = d.subarray(n);
        start = next.seq;
      }
      // Skip what `next` already holds.
      const end = seqAdd(next.seq, next.data.length);
      const skip = seqSub(end, start);
      if (skip >= d.length) return true;
      d = d.subarray(skip);
      start = end;
      i++;
    }
    return true;
  }

  /**
   * Remove and return the data that now continues at `rcvNxt` (contiguous runs), dropping anything
   * wholly before it. Returns undefined when nothing continues there.
   */
  takeAt(rcvNxt: number): Uint8Array | undefined {
    const list = this.held;
    while (list.length > 0) {
      const h = list[0]!;
      const end = seqAdd(h.seq, h.data.length);
      if (seqLe(end, rcvNxt)) {
        list.shift();
        this.heldBytes -= h.data.length;
        continue;
      }
      if (seqGt(h.seq, rcvNxt)) return undefined;
      list.shift();
      this.heldBytes -= h.data.length;
      return h.data.subarray(seqSub(rcvNxt, h.seq));
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
      const end = seqAdd(h.seq, h.data.length);
      const last = all[all.length - 1];
      if (last !== undefined && last[1] === h.seq) last[1] = end;
      else all.push([h.seq, end]);
    }
    const k = all.findIndex(([s, e]) => seqLe(s, this.lastInsert) && seqLt(this.lastInsert, e));
    if (k > 0) all.unshift(all.splice(k, 1)[0]!);
    return all.length > max ? all.slice(0, max) : all;
  }

  clear(): void {
    this.held.length = 0;
    this.heldBytes = 0;
    this.finSeq = undefined;
  }
}
