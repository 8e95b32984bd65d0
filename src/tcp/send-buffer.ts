/**
 * The send buffer (RFC 9293 §3.3.1 send sequence space): bytes from SND.UNA onward, both the
 * unacknowledged ones (the retransmission queue) and the not yet sent ones. Bounded (the layer's sendBufferSize, 1 MiB by default,
 * grown with the congestion window unless SO_SNDBUF fixed it: Sender.autotune): write() accepts what fits. Chunks written by the owner are kept by reference (no copy; as with Node
 * streams, a buffer handed to write() must not be modified afterwards) and released when acknowledged.
 *
 * Reading a range for (re)transmission returns a view when the range lies in one chunk, else the
 * pieces gathered into a scratch buffer owned by this SendBuffer (small writes coalescing into one
 * segment, or a TSO super-segment spanning the application's chunks). The scratch is overwritten by
 * the next gathering read: the caller copies the bytes before reading again (TCP output serializes
 * each segment before it builds the next), and no 64 KiB buffer is allocated per super-segment.
 * A cursor remembers where the last read ended so that sequential reads do not walk the chunk list
 * from the front.
 */
export class SendBuffer {
  private chunks: Uint8Array[] = [];
  /** Index of the first live chunk in `chunks` (compacted lazily). */
  private head = 0;
  /** Bytes of chunks[head] already acknowledged. */
  private headSkip = 0;
  private length = 0;
  /** Read cursor: chunk index and the buffer offset at which that chunk starts. */
  private curIdx = 0;
  private curStart = 0;
  /** Where ranges spanning chunks are gathered (grown on demand, kept for the next read). */
  private scratch: Uint8Array | undefined;

  private _capacity: number;

  constructor(capacity = 256 * 1024) {
    this._capacity = capacity;
  }

  /** The most bytes the buffer takes (unacknowledged + unsent). */
  get capacity(): number {
    return this._capacity;
  }

  /** Allow up to `bytes` (autotuning, see Sender.autotune): only ever grows. */
  growTo(bytes: number): void {
    if (bytes > this._capacity) this._capacity = bytes;
  }

  /** Bytes held (unacknowledged + unsent). */
  get size(): number {
    return this.length;
  }

  get free(): number {
    return this._capacity - this.length;
  }

  /** Append as much of `data` as fits; returns the number of bytes taken. */
  write(data: Uint8Array): number {
    const n = Math.min(data.length, this._capacity - this.length);
    if (n <= 0) return 0;
    this.chunks.push(n === data.length ? data : data.subarray(0, n));
    this.length += n;
    return n;
  }

  /** Drop `n` acknowledged bytes from the front. */
  consume(n: number): void {
    if (n <= 0) return;
    if (n > this.length) n = this.length;
    this.length -= n;
    while (n > 0) {
      const c = this.chunks[this.head]!;
      const left = c.length - this.headSkip;
      if (n < left) {
        this.headSkip += n;
        n = 0;
      } else {
        n -= left;
        this.head++;
        this.headSkip = 0;
      }
    }
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.curIdx -= this.head;
      this.head = 0;
    }
    // The cursor is expressed relative to the buffer front: reset it (cheap, reads move forward).
    this.curIdx = this.head;
    this.curStart = 0;
  }

  /**
   * Bytes [offset, offset + len) counted from SND.UNA; len must fit. Valid until the next read():
   * a range spanning chunks comes back in the reused scratch buffer.
   */
  read(offset: number, len: number): Uint8Array {
    // Position the cursor on the chunk containing `offset`.
    let idx = this.curIdx;
    let start = this.curStart;
    if (idx < this.head || offset < start) {
      idx = this.head;
      start = 0;
    }
    for (;;) {
      const c = this.chunks[idx]!;
      const clen = c.length - (idx === this.head ? this.headSkip : 0);
      if (offset < start + clen) break;
      start += clen;
      idx++;
    }
    this.curIdx = idx;
    this.curStart = start;
    const first = this.chunks[idx]!;
    const base = idx === this.head ? this.headSkip : 0;
    const within = offset - start + base;
    if (within + len <= first.length) return first.subarray(within, within + len);
    let out = this.scratch;
    if (out === undefined || out.length < len) out = this.scratch = new Uint8Array(Math.max(len, 4096));
    let w = 0;
    let i = idx;
    let from = within;
    while (w < len) {
      const c = this.chunks[i]!;
      const n = Math.min(len - w, c.length - from);
      // A plain Uint8Array view: a Buffer's subarray() would go through its species constructor.
      out.set(new Uint8Array(c.buffer, c.byteOffset + from, n), w);
      w += n;
      i++;
      from = 0;
    }
    return out.subarray(0, len);
  }

  clear(): void {
    this.scratch = undefined;
    this.chunks = [];
    this.head = 0;
    this.headSkip = 0;
    this.length = 0;
    this.curIdx = 0;
    this.curStart = 0;
  }
}
