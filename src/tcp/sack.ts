/**
 * The sender's SACK scoreboard (RFC 2018 §3-§5, loss recovery after RFC 6675): which byte ranges
 * above SND.UNA the receiver reported holding. Kept as a sorted list of disjoint [start, end) ranges,
 * pruned as SND.UNA advances, cleared after a retransmission timeout (RFC 2018 §8: the receiver may
 * renege, so a timeout ignores prior SACK information).
 *
 * Loss inference is deliberately simple (in the spirit of RFC 6675's IsLost with DupThresh = 3): a
 * hole is presumed lost once at least 3 segments' worth of data above it has been SACKed.
 */
import type { SackBlock } from '../wire/tcp-options.ts';
import { seqGt, seqLe, seqLt, seqMax, seqMin, seqSub } from '../wire/seq.ts';

export class Scoreboard {
  /** Sorted, disjoint, non-adjacent [start, end) ranges, all above SND.UNA. */
  private ranges: [number, number][] = [];
  private sackedBytes = 0;

  get bytes(): number {
    return this.sackedBytes;
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /** Highest SACKed sequence number + 1 (or `una` when nothing is SACKed). */
  highest(una: number): number {
    const last = this.ranges[this.ranges.length - 1];
    return last === undefined ? una : last[1];
  }

  /**
   * Merge the blocks of an ACK (ignoring any outside (una, sndMax], RFC 2018 §4 blocks that are
   * stale or bogus). Returns the number of newly SACKed bytes.
   */
  update(blocks: readonly SackBlock[], una: number, sndMax: number): number {
    let added = 0;
    for (const [l0, r0] of blocks) {
      if (!seqLt(l0, r0)) continue;
      const l = seqMax(l0, una);
      const r = seqMin(r0, sndMax);
      if (!seqLt(l, r)) continue;
      added += this.add(l, r);
    }
    return added;
  }

  private add(l: number, r: number): number {
    const list = this.ranges;
    let i = 0;
    while (i < list.length && seqLt(list[i]![1], l)) i++;
    let start = l;
    let end = r;
    let removed = 0;
    let j = i;
    while (j < list.length && seqLe(list[j]![0], end)) {
      start = seqMin(start, list[j]![0]);
      end = seqMax(end, list[j]![1]);
      removed += seqSub(list[j]![1], list[j]![0]);
      j++;
    }
    list.splice(i, j - i, [start, end]);
    const added = seqSub(end, start) - removed;
    this.sackedBytes += added;
    return added;
  }

  /** SND.UNA moved to `una`: forget what lies below it. */
  advance(una: number): void {
    const list = this.ranges;
    while (list.length > 0) {
      const first = list[0]!;
      if (seqLe(first[1], una)) {
        this.sackedBytes -= seqSub(first[1], first[0]);
        list.shift();
      } else if (seqLt(first[0], una)) {
        this.sackedBytes -= seqSub(una, first[0]);
        first[0] = una;
        break;
      } else break;
    }
  }

  clear(): void {
    this.ranges.length = 0;
    this.sackedBytes = 0;
  }

  /** Is `seq` inside a SACKed range? */
  isSacked(seq: number): boolean {
    for (const [s, e] of this.ranges) {
      if (seqLt(seq, s)) return false;
      if (seqLt(seq, e)) return true;
    }
    return false;
  }

  /** Bytes SACKed above `seq`. */
  sackedAbove(seq: number): number {
    let n = 0;
    for (let k = this.ranges.length - 1; k >= 0; k--) {
      const [s, e] = this.ranges[k]!;
      if (seqLe(e, seq)) break;
      n += seqSub(e, seqMax(s, seq));
    }
    return n;
  }

  /**
   * The first hole at or after `from` and below the highest SACKed byte, that is presumed lost
   * (>= 3 * mss SACKed above it). Returns [start, length] or undefined.
   */
  nextLostHole(from: number, mss: number): [number, number] | undefined {
    let cursor = from;
    for (const [s, e] of this.ranges) {
      if (seqLe(e, cursor)) continue;
      if (seqLt(cursor, s)) {
        if (this.sackedAbove(cursor) < 3 * mss) return undefined;
        return [cursor, Math.min(seqSub(s, cursor), mss)];
      }
      cursor = e; // cursor was inside a SACKed range: skip to its end
    }
    return undefined;
  }

  /** Bytes in holes between `from` and the highest SACKed byte (not yet retransmitted: the caller's `from`). */
  holeBytesAbove(from: number): number {
    const hi = this.highest(from);
    if (!seqGt(hi, from)) return 0;
    return seqSub(hi, from) - this.sackedAbove(from);
  }

  /** Where go-back-N sending at `seq` should jump to if `seq` is already SACKed. */
  skipSacked(seq: number): number {
    for (const [s, e] of this.ranges) {
      if (seqLt(seq, s)) return seq;
      if (seqLt(seq, e)) return e;
    }
    return seq;
  }

  blocks(): readonly (readonly [number, number])[] {
    return this.ranges;
  }
}
