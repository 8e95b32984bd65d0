/**
 * A binary min-heap of (deadline, item) with lazy invalidation: an entry is valid only while the
 * item's own `timerAt` still equals the entry's deadline. Re-arming pushes a new entry and leaves the
 * old one to be discarded when it surfaces, so no search is ever needed. pollAt() is O(1) amortized
 * and no per-packet scan of all connections happens.
 */
export interface Timed {
  /** The deadline the item currently wants (Infinity: none). Maintained by the owner of the heap. */
  timerAt: number;
}

export class TimerHeap<T extends Timed> {
  private at: number[] = [];
  private items: T[] = [];

  get size(): number {
    return this.at.length;
  }

  /** Set item's deadline; pushes an entry if it changed to a finite value. */
  schedule(item: T, at: number): void {
    if (item.timerAt === at) return;
    item.timerAt = at;
    if (at !== Infinity) this.push(at, item);
  }

  /** Earliest valid deadline, or Infinity. */
  peek(): number {
    this.dropStale();
    return this.at.length === 0 ? Infinity : this.at[0]!;
  }

  /** Remove and return an item whose deadline is <= now (its timerAt is reset to Infinity). */
  popDue(now: number): T | undefined {
    this.dropStale();
    if (this.at.length === 0 || this.at[0]! > now) return undefined;
    const item = this.items[0]!;
    this.pop();
    item.timerAt = Infinity;
    return item;
  }

  /**
   * Rebuild without stale entries when they outnumber the live items (a connection re-arming its
   * timer on every ACK leaves one stale entry per ACK behind; far-future ones would otherwise pile up,
   * and a released connection's entry would keep the whole connection reachable until it surfaced).
   */
  compact(liveItems: number): void {
    if (this.at.length <= 2 * liveItems + 64) return;
    const pairs: [number, T][] = [];
    for (let i = 0; i < this.at.length; i++) if (this.items[i]!.timerAt === this.at[i]) pairs.push([this.at[i]!, this.items[i]!]);
    pairs.sort((x, y) => x[0] - y[0]);
    this.at = pairs.map((p) => p[0]);
    this.items = pairs.map((p) => p[1]);
  }

  private dropStale(): void {
    while (this.at.length > 0 && this.items[0]!.timerAt !== this.at[0]!) this.pop();
  }

  private push(at: number, item: T): void {
    const a = this.at;
    const it = this.items;
    let i = a.length;
    a.push(at);
    it.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= at) break;
      a[i] = a[p]!;
      it[i] = it[p]!;
      i = p;
    }
    a[i] = at;
    it[i] = item;
  }

  private pop(): void {
    const a = this.at;
    const it = this.items;
    const lastAt = a.pop()!;
    const lastItem = it.pop()!;
    const n = a.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]! < a[l]! ? r : l;
      if (a[c]! >= lastAt) break;
      a[i] = a[c]!;
      it[i] = it[c]!;
      i = c;
    }
    a[i] = lastAt;
    it[i] = lastItem;
  }
}
