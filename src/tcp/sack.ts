/**
 * The sender's SACK scoreboard (RFC 2018 §3-§5, loss recovery after RFC 6675): which byte ranges
 * above SND.UNA the receiver reported holding. Pruned as SND.UNA advances, cleared after a
 * retransmission timeout (RFC 2018 §8: the receiver may renege, so a timeout ignores prior SACK
 * information).
 *
 * Loss inference is deliberately simple (in the spirit of RFC 6675's IsLost with DupThresh = 3): a
 * hole is presumed lost once at least 3 segments' worth of data above it has been SACKed.
 *
 * Bounded against a receiver that fragments it on purpose (1-byte SACKed ranges with 1-byte holes
 * cost the old byte-granular sorted list O(ranges) per block and made the sender retransmit 1-byte
 * holes):
 *
 * - Segment granularity. The receiver only ever holds whole segments, so information finer than
 *   one segment (`gran`, the caller passes the send MSS) is not recorded: a new range shorter than
 *   `gran` is not kept (except one that ends at SND.MAX: a short last segment), and a range is
 *   trimmed so that no hole between two ranges is shorter than `gran`. Both only ever shrink what
 *   is recorded, never mark unSACKed data as SACKed; the cost of ignoring information is at most a
 *   retransmission that was perhaps not needed (as Linux, which rounds a SACK block that splits a
 *   sent segment to whole MSS, tcp_match_skb_to_sack). A legitimate receiver's blocks (whole
 *   segments, holes of whole segments) are recorded exactly.
 * - At most `maxRanges` ranges. When full, a new range above the highest one is not recorded; one
 *   below it replaces the highest range (what lies nearest SND.UNA drives the retransmissions).
 * - Ranges live in preallocated typed arrays with suffix sums of their lengths, so the queries made
 *   per ACK and per segment sent (isSacked, sackedAbove, skipSacked, nextLostHole, holeBytesAbove)
 *   are a binary search, and an update costs O(log n) plus one array move of at most maxRanges.
 * - Nonsense blocks are ignored and counted (`lastIgnored`). A block reports received data
 *   [left, right) (RFC 2018 §3), which the sender can only use between SND.UNA and SND.MAX (§5): a
 *   block with left >= right, a right edge beyond SND.MAX (data never sent), one at or below
 *   SND.UNA (stale, or a D-SACK reporting a duplicate, RFC 2883 §4: nothing to skip), or one larger
 *   than the flight. A block straddling SND.UNA is clipped to it.
 */
import type { SackBlock } from '../wire/tcp-options.ts';
import { seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin, seqSub } from '../wire/seq.ts';

/** Default bound on the number of SACKed ranges kept per connection. */
export const SACK_MAX_RANGES = 128;

const NONE_U32 = new Uint32Array(0);
const NONE_F64 = new Float64Array(0);

/** Told of each piece [l, r) an update() newly records (see Scoreboard.onNew). */
export interface SackListener {
  newlySacked(l: number, r: number): void;
}

export class Scoreboard {
  readonly maxRanges: number;
  /**
   * Ranges [st[i], en[i]) for i < n: sorted, disjoint, non-adjacent, all above SND.UNA. Allocated
   * (about 2 KiB) when the first range is recorded, not for every connection.
   */
  private st = NONE_U32;
  private en = NONE_U32;
  /** suf[i]: bytes in ranges i..n-1 (suf[n] = 0), so suf[0] is the total. */
  private suf = NONE_F64;
  private n = 0;
  /** Of the blocks of the last update(): ignored as nonsense (see above). */
  lastIgnored = 0;
  /** Of the blocks of the last update(): valid, but not recorded (finer than `gran`, or full). */
  lastDropped = 0;
  /**
   * Told each piece [l, r) that an update() newly records (what was not SACKed before), so that a
   * per-segment record (rtx-queue.ts) can follow at the cost of what is new, not of what is repeated.
   */
  onNew: SackListener | undefined;
  /** Scratch for those pieces (a new range replaces at most maxRanges old ones). */
  private pieces = NONE_U32;

  constructor(maxRanges = SACK_MAX_RANGES) {
    if (!Number.isInteger(maxRanges) || maxRanges < 1) throw new RangeError(`maxRanges must be a positive integer, got ${maxRanges}`);
    this.maxRanges = maxRanges;
  }

  get bytes(): number {
    return this.n === 0 ? 0 : this.suf[0]!;
  }

  get isEmpty(): boolean {
    return this.n === 0;
  }

  /** Number of SACKed ranges held. */
  get ranges(): number {
    return this.n;
  }

  /** Highest SACKed sequence number + 1 (or `una` when nothing is SACKed). */
  highest(una: number): number {
    return this.n === 0 ? una : this.en[this.n - 1]!;
  }

  /**
   * Merge the blocks of an ACK (RFC 2018 §4: at most 4, in any order). `una`, `sndMax`: SND.UNA and
   * SND.MAX; `gran`: the granularity recorded (the send MSS; 1 records bytes). Returns the number
   * of newly SACKed bytes; sets lastIgnored and lastDropped.
   */
  update(blocks: readonly SackBlock[], una: number, sndMax: number, gran = 1, from = 0): number {
    let added = 0;
    let ignored = 0;
    let dropped = 0;
    const flight = seqSub(sndMax, una);
    for (let b = from; b < blocks.length; b++) {
      const blk = blocks[b]!;
      const l0 = blk[0];
      const r = blk[1];
      if (!seqLt(l0, r) || seqGt(r, sndMax) || seqLe(r, una) || seqSub(r, l0) > flight) {
        ignored++;
        continue;
      }
      const got = this.add(seqMax(l0, una), r, sndMax, gran);
      if (got < 0) dropped++;
      else added += got;
    }
    this.lastIgnored = ignored;
    this.lastDropped = dropped;
    return added;
  }

  /** Index of the first range whose end is after `seq` (n if none). */
  private firstEndAfter(seq: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqGt(this.en[mid]!, seq)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Index of the first range whose start is after `seq` (n if none). */
  private firstStartAfter(seq: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqGt(this.st[mid]!, seq)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Record [l, r) (una <= l < r <= sndMax). Returns the bytes newly SACKed, or -1 if not recorded. */
  private add(l: number, r: number, sndMax: number, gran: number): number {
    if (this.st.length === 0) {
      this.pieces = new Uint32Array(2 * this.maxRanges + 4);
      this.st = new Uint32Array(this.maxRanges + 1);
      this.en = new Uint32Array(this.maxRanges + 1);
      this.suf = new Float64Array(this.maxRanges + 2);
    }
    const st = this.st;
    const en = this.en;
    const suf = this.suf;
    // Ranges i..j-1 overlap [l, r) or touch it.
    const i = this.firstEndAfter(seqAdd(l, -1));
    const j = this.firstStartAfter(r);
    const merges = i < j;
    if (merges && i === j - 1 && seqLe(st[i]!, l) && seqGe(en[i]!, r)) return 0; // nothing new
    let lo = merges ? seqMin(l, st[i]!) : l;
    let hi = merges ? seqMax(r, en[j - 1]!) : r;
    // No hole between two ranges shorter than `gran`: trim the new part away from the neighbours.
    if (i > 0 && seqSub(lo, en[i - 1]!) < gran) lo = seqAdd(en[i - 1]!, gran);
    if (j < this.n && seqSub(st[j]!, hi) < gran) hi = seqAdd(st[j]!, -gran);
    if (merges) {
      // Existing ranges already keep that distance; never trim into them.
      lo = seqMin(lo, st[i]!);
      hi = seqMax(hi, en[j - 1]!);
    } else {
      if (!seqLt(lo, hi)) return -1;
      // A range of its own must be a segment's worth, unless it is the last (short) segment.
      if (seqSub(hi, lo) < gran && hi !== sndMax) return -1;
      if (this.n === this.maxRanges) {
        if (j === this.n) return -1; // above everything held: not recorded
        this.dropLast(); // below the highest range: the highest gives way
      }
    }
    const len = seqSub(hi, lo);
    const removed = suf[i]! - suf[j]!;
    // The pieces of [lo, hi) outside the ranges it replaces, told once the range is recorded.
    let pieces = 0;
    if (this.onNew !== undefined && len > removed) {
      const p = this.pieces;
      let at = lo;
      for (let k = i; k < j; k++) {
        if (seqLt(at, st[k]!)) {
          p[pieces++] = at;
          p[pieces++] = st[k]!;
        }
        at = en[k]!;
      }
      if (seqLt(at, hi)) {
        p[pieces++] = at;
        p[pieces++] = hi;
      }
    }
    const n = this.n;
    // Replace ranges i..j-1 (j - i of them, possibly none) by the one range [lo, hi).
    const shift = 1 - (j - i);
    if (shift !== 0) {
      st.copyWithin(i + 1, j, n);
      en.copyWithin(i + 1, j, n);
      suf.copyWithin(i + 1, j, n + 1);
    }
    this.n = n + shift;
    st[i] = lo;
    en[i] = hi;
    const added = len - removed;
    suf[i] = suf[i + 1]! + len;
    if (added !== 0) for (let k = 0; k < i; k++) suf[k] = suf[k]! + added;
    for (let k = 0; k < pieces; k += 2) this.onNew!.newlySacked(this.pieces[k]!, this.pieces[k + 1]!);
    return added;
  }

  private dropLast(): void {
    const last = this.n - 1;
    const len = this.suf[last]!;
    for (let k = 0; k < last; k++) this.suf[k] = this.suf[k]! - len;
    this.suf[last] = 0;
    this.n = last;
  }

  /** SND.UNA moved to `una`: forget what lies below it. */
  advance(una: number): void {
    const k = this.firstEndAfter(una);
    if (k > 0) {
      const n = this.n;
      this.st.copyWithin(0, k, n);
      this.en.copyWithin(0, k, n);
      this.suf.copyWithin(0, k, n + 1); // the sums of the ranges that stay do not change
      this.n = n - k;
    }
    if (this.n > 0 && seqLt(this.st[0]!, una)) {
      this.suf[0] = this.suf[0]! - seqSub(una, this.st[0]!);
      this.st[0] = una;
    }
  }

  clear(): void {
    this.n = 0;
    if (this.suf.length > 0) this.suf[0] = 0; // suf[n] = 0
  }

  /** Is [l, r) inside one SACKed range? */
  covers(l: number, r: number): boolean {
    const i = this.firstEndAfter(l);
    return i < this.n && seqLe(this.st[i]!, l) && seqGe(this.en[i]!, r);
  }

  /** Is `seq` inside a SACKed range? */
  isSacked(seq: number): boolean {
    const i = this.firstEndAfter(seq);
    return i < this.n && seqLe(this.st[i]!, seq);
  }

  /** Bytes SACKed above `seq`. */
  sackedAbove(seq: number): number {
    const i = this.firstEndAfter(seq);
    if (i === this.n) return 0;
    const s = this.st[i]!;
    return this.suf[i]! - (seqGt(seq, s) ? seqSub(seq, s) : 0);
  }

  /**
   * The first hole at or after `from` and below the highest SACKed byte, that is presumed lost
   * (>= 3 * mss SACKed above it). Returns [start, length]: length is one MSS even if the hole is
   * shorter (only the hole at SND.UNA can be): what follows was SACKed, and resending it costs less
   * than a segment of a few bytes. It stays below the highest SACKed byte (3 MSS are SACKed above).
   */
  nextLostHole(from: number, mss: number): [number, number] | undefined {
    const i = this.firstEndAfter(from);
    if (i === this.n) return undefined;
    let start = from;
    let next = i; // the range just above the hole
    if (seqGe(from, this.st[i]!)) {
      // `from` lies inside range i: the hole begins at its end.
      if (i + 1 === this.n) return undefined;
      start = this.en[i]!;
      next = i + 1;
    }
    if (this.suf[next]! < 3 * mss) return undefined;
    return [start, mss];
  }

  /** Bytes in holes between `from` and the highest SACKed byte (not yet retransmitted: the caller's `from`). */
  holeBytesAbove(from: number): number {
    const hi = this.highest(from);
    if (!seqGt(hi, from)) return 0;
    return seqSub(hi, from) - this.sackedAbove(from);
  }

  /** Where go-back-N sending at `seq` should jump to if `seq` is already SACKed. */
  skipSacked(seq: number): number {
    const i = this.firstEndAfter(seq);
    return i < this.n && seqLe(this.st[i]!, seq) ? this.en[i]! : seq;
  }

  /** The ranges, lowest first (a copy, for inspection and tests; not for the hot path). */
  blocks(): [number, number][] {
    const out: [number, number][] = [];
    for (let k = 0; k < this.n; k++) out.push([this.st[k]!, this.en[k]!]);
    return out;
  }
}

/** RFC 2883 §4: the first block is a D-SACK if it lies below SEG.ACK, or inside the second block. */
export function isDsack(blocks: readonly SackBlock[], ack: number): boolean {
  const b0 = blocks[0]!;
  if (!seqLt(b0[0], b0[1])) return false;
  if (seqLe(b0[1], ack)) return true;
  const b1 = blocks[1];
  return b1 !== undefined && seqGe(b0[0], b1[0]) && seqLe(b0[1], b1[1]);
}

