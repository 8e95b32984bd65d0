/**
 * Received bytes that are kept beyond the current tick must not pin more memory than they carry.
 *
 * A device hands packets out as views into large receive chunks (the TUN device: 256 KiB
 * ArrayBuffers, one per read batch; see link/device.ts). A view kept for long keeps its whole chunk
 * alive, so one held byte per chunk costs a quarter of a megabyte. The helpers here make such bytes
 * own their storage, sized to what they carry:
 *
 *   retainable(data)   the view itself when it already spans most of its ArrayBuffer (a packet in
 *                      a buffer of its own, as the memory link and the socket layer hand out), else
 *                      a right-sized copy (never from Node's shared Buffer pool, whose 8 KiB slabs
 *                      would be pinned the same way by a 1-byte copy);
 *   ByteQueue          a FIFO of received bytes that coalesces small pieces into shared blocks, so
 *                      that 2,048 one-byte pieces make a few blocks rather than 2,048 buffers.
 *   SlabCopier         right-sized copies of small pieces, packed into blocks owned by one reader
 *                      (what sits in a stream's buffer: many small Buffers, few ArrayBuffers).
 *   PackingSlab        the other direction: small outgoing pieces (a response head and a short
 *                      body) packed into one contiguous chunk of a shared block, written as one.
 *
 * Storage is at most about twice the bytes held plus one block; large pieces are copied once and
 * never again.
 */

/** Pieces of at least this many bytes get a buffer of their own; smaller ones share blocks. */
export const SMALL_PIECE = 1024;
/** Largest block that small pieces are packed into. */
export const BLOCK_MAX = 16 * 1024;
const BLOCK_MIN = 64;

/** True when `data` spans at least half of its ArrayBuffer: keeping the view pins at most 2x. */
export function ownsStorage(data: Uint8Array): boolean {
  return data.byteLength * 2 >= data.buffer.byteLength;
}

/** A copy of `data` in an ArrayBuffer of its own, exactly as large (not from the Buffer pool). */
export function ownedCopy(data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafeSlow(data.length);
  b.set(data);
  return b;
}

/** `data` as a Buffer that may be kept: the view itself if it owns its storage, else a copy. */
export function retainable(data: Uint8Array): Buffer {
  if (!ownsStorage(data)) return ownedCopy(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** `a` then `b` in one ArrayBuffer of their own (Buffer.concat would take small results from the pool). */
export function concatOwned(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The next block size: about as large as what is already held (so waste stays under 2x), bounded. */
function blockSize(held: number, need: number): number {
  let size = BLOCK_MIN;
  while (size < held && size < BLOCK_MAX) size *= 2;
  return Math.max(size, need);
}

/**
 * Copies of small pieces packed into blocks (a private allocator, in the way of Node's Buffer pool,
 * but owned by one reader: the blocks it pins hold only that reader's recent bytes). `held` tells
 * how much the reader keeps now, to size the next block.
 */
export class SlabCopier {
  private block: Buffer | undefined;
  private used = 0;

  /** A Buffer that may be kept, with the bytes of `data`. */
  copy(data: Uint8Array, held: number): Buffer {
    const n = data.length;
    if (n >= SMALL_PIECE) return retainable(data);
    let b = this.block;
    if (b === undefined || b.length - this.used < n) {
      b = this.block = Buffer.allocUnsafeSlow(blockSize(held, n));
      this.used = 0;
    }
    const start = this.used;
    b.set(data, start);
    this.used = start + n;
    return b.subarray(start, start + n);
  }

  /** Forget the current block (it stays alive only as long as views into it do). */
  reset(): void {
    this.block = undefined;
    this.used = 0;
  }
}

/**
 * Small outgoing pieces packed side by side into shared blocks: a response head (a latin1 string)
 * and a short body become one chunk, written to a TCP send buffer as one (no Buffer per head, no
 * gathering copy when the segment is built). The send buffer keeps the chunk by reference until it
 * is acknowledged (tcp/send-buffer.ts), so a block is never written twice: when it is full the next
 * one is allocated, and the old one lives as long as an unacknowledged chunk in it does. One slab
 * can serve many connections (HttpServer shares one): an idle connection then pins no block of its
 * own, and a stuck one pins at most the block its last chunk lies in.
 */
export class PackingSlab {
  private block: Buffer | undefined;
  private used = 0;

  constructor(private readonly blockBytes = BLOCK_MAX) {}

  /** `parts` (strings as latin1: one byte per char) in one Buffer, `total` bytes long (their sum). */
  pack(parts: readonly (string | Uint8Array)[], total: number): Buffer {
    let b = this.block;
    if (b === undefined || b.length - this.used < total) {
      b = this.block = Buffer.allocUnsafeSlow(Math.max(this.blockBytes, total));
      this.used = 0;
    }
    const start = this.used;
    let at = start;
    for (const p of parts) {
      if (typeof p === 'string') at += b.write(p, at, 'latin1');
      else {
        b.set(p, at);
        at += p.length;
      }
    }
    this.used = at;
    return b.subarray(start, at);
  }
}

/**
 * A FIFO of received bytes in storage of its own. Small pieces are appended to the tail block
 * (consecutive small pieces come out as one chunk); a large piece is kept as retainable() makes it.
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0;
  /** The block small pieces are appended to, and the part of it not yet handed out. */
  private tail: Buffer | undefined;
  private tailStart = 0;
  private tailEnd = 0;
  private size = 0;

  get bytes(): number {
    return this.size;
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  push(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    this.size += n;
    if (n >= SMALL_PIECE) {
      this.seal();
      this.chunks.push(retainable(data));
      return;
    }
    let t = this.tail;
    if (t === undefined || t.length - this.tailEnd < n) {
      this.seal();
      t = this.tail = Buffer.allocUnsafeSlow(blockSize(this.size, n));
      this.tailStart = this.tailEnd = 0;
    }
    t.set(data, this.tailEnd);
    this.tailEnd += n;
  }

  /** The oldest bytes, as one chunk (a view into owned storage), or undefined when empty. */
  shift(): Uint8Array | undefined {
    if (this.head < this.chunks.length) {
      const c = this.chunks[this.head]!;
      this.chunks[this.head++] = EMPTY;
      if (this.head === this.chunks.length) {
        this.chunks.length = 0;
        this.head = 0;
      }
      this.size -= c.length;
      return c;
    }
    if (this.tail === undefined || this.tailEnd === this.tailStart) return undefined;
    const c = this.tail.subarray(this.tailStart, this.tailEnd);
    // The rest of the tail block stays usable: what was handed out lies before tailStart.
    this.tailStart = this.tailEnd;
    this.size -= c.length;
    return c;
  }

  /** Everything, in order (for a caller that drains the queue at once). */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let c = this.shift(); c !== undefined; c = this.shift()) out.push(c);
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.tail = undefined;
    this.tailStart = this.tailEnd = 0;
    this.size = 0;
  }

  /** The tail's pending bytes become a chunk of their own; later small pieces go to a new block. */
  private seal(): void {
    if (this.tail !== undefined && this.tailEnd > this.tailStart) {
      this.chunks.push(this.tail.subarray(this.tailStart, this.tailEnd));
    }
    this.tail = undefined;
    this.tailStart = this.tailEnd = 0;
  }
}

const EMPTY = new Uint8Array(0);
