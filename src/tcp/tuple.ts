/**
 * The demultiplexing key. A TcpLayer has one local address, so a connection is identified by
 * (remote address, remote port, local port): 64 bits, which do not fit in a JavaScript number
 * exactly. The Map key is the 48-bit (remote address, remote port) number — exact, no string
 * built per packet — and the rare connections sharing it (same remote endpoint, different local
 * ports) are chained on the entry and told apart by local port. Lookup is O(1).
 */

/** remoteAddress * 2^16 + remotePort: exact (48 bits < 2^53). */
export function remoteKey(remoteAddress: number, remotePort: number): number {
  return remoteAddress * 65536 + remotePort;
}

export interface TupleEntry<T> {
  readonly localPort: number;
  readonly value: T;
  next: TupleEntry<T> | undefined;
}

export class TupleMap<T> {
  private readonly map = new Map<number, TupleEntry<T>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(remoteAddress: number, remotePort: number, localPort: number): T | undefined {
    let e = this.map.get(remoteKey(remoteAddress, remotePort));
    while (e !== undefined && e.localPort !== localPort) e = e.next;
    return e?.value;
  }

  has(remoteAddress: number, remotePort: number, localPort: number): boolean {
    return this.get(remoteAddress, remotePort, localPort) !== undefined;
  }

  /** Insert; the tuple must not be present. */
  set(remoteAddress: number, remotePort: number, localPort: number, value: T): void {
    const k = remoteKey(remoteAddress, remotePort);
    const head = this.map.get(k);
    this.map.set(k, { localPort, value, next: head });
    this.count++;
  }

  /** Remove the entry if it holds `value`; returns whether it did. */
  delete(remoteAddress: number, remotePort: number, localPort: number, value: T): boolean {
    const k = remoteKey(remoteAddress, remotePort);
    let prev: TupleEntry<T> | undefined;
    let e = this.map.get(k);
    while (e !== undefined && !(e.localPort === localPort && e.value === value)) {
      prev = e;
      e = e.next;
    }
    if (e === undefined) return false;
    if (prev === undefined) {
      if (e.next === undefined) this.map.delete(k);
      else this.map.set(k, e.next);
    } else prev.next = e.next;
    this.count--;
    return true;
  }

  *values(): IterableIterator<T> {
    for (const head of this.map.values()) {
      for (let x: TupleEntry<T> | undefined = head; x !== undefined; x = x.next) yield x.value;
    }
  }
}
