/**
 * The direct data path: HTTP on our stack's TCP connection (tcp/api.ts TcpConnection) with no node
 * stream in between. One packet's way (docs/architecture.md, "HTTP on the stack"):
 *
 *   Connection.process -> OwnerEvents.flush -> TcpTransport.onData (here) -> conn.consumed(n)
 *     -> HttpConnection.onData -> parser.execute -> the handler -> ServerResponse
 *     -> HttpConnection.send -> TcpTransport.writeParts (here) -> conn.write(): the TCP send buffer
 *     -> the stack's flush sends it, after the segment that carried the request.
 *
 * Backpressure, as TcpSocket does it (socket/tcp-socket.ts) but with one buffer less each way:
 *   read   while the HTTP connection has paused us (its pipeline queue is full, a request body is not
 *          being read), arriving bytes are held here, copied into owned storage and NOT consumed, so
 *          the window we advertise shrinks to zero (RFC 9293 §3.8.6) and the peer stops.
 *          resume() hands them over (on a microtask, outside the caller) and reopens the window.
 *   write  conn.write() takes what fits in the send buffer; the rest waits here, write() returns
 *          false, and the HTTP side waits for whenDrained(), which onWritable() completes.
 *
 * Closing, the same rules as TcpSocket with allowHalfOpen (the HTTP server keeps its side open after
 * the peer's FIN, to answer requests already received):
 *   end()      FIN after every byte written (conn.shutdown()), then the callback (the linger timer);
 *   destroy()  bytes received and never delivered -> RST (conn.abort(): RFC 1122 §4.2.2.13, RFC 2525
 *              §2.17); otherwise FIN, and data arriving after that -> RST, as for an orphaned socket;
 *   onClose()  once both FINs are through (ours sent, the peer's delivered), on destroy(), or when
 *              the connection is reset; the connection itself may linger in LAST-ACK or TIME-WAIT.
 *
 * The connection calls us synchronously from inside the stack; anything a handler throws is rethrown
 * on the next tick (as socket/tcp-socket.ts guarded() does), never through the TCP layer halfway
 * through a segment.
 */
import { ByteQueue, PackingSlab, SMALL_PIECE, ownsStorage, retainable } from '../util/owned-bytes.ts';
import type { ConnectionEvents, TcpConnection, TcpInfo } from '../tcp/api.ts';
import type { HttpTransport, HttpTransportEvents, PeerSocket } from './transport.ts';

/** Pieces written together up to this many bytes are packed into one chunk (see writeParts). */
const PACK_BELOW = SMALL_PIECE * 4;

/** An exception from a handler, thrown again on the next tick: uncaught, but outside the stack. */
function rethrowLater(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}

/** Call `fn`, never letting it throw into the stack. */
function guarded(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    rethrowLater(err);
  }
}

/** req.socket on the direct path: the connection's endpoints and TCB, without a stream. */
export class TcpPeer implements PeerSocket {
  readonly remoteFamily = 'IPv4';
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  private readonly transport: TcpTransport;

  constructor(conn: TcpConnection, transport: TcpTransport) {
    this.remoteAddress = conn.remoteAddress;
    this.remotePort = conn.remotePort;
    this.localAddress = conn.localAddress;
    this.localPort = conn.localPort;
    this.transport = transport;
  }

  get destroyed(): boolean {
    return this.transport.isClosed;
  }

  /** Bytes received from the peer, delivered or not. */
  get bytesRead(): number {
    return this.transport.bytesRead;
  }

  /** Bytes taken into the TCP send buffer. */
  get bytesWritten(): number {
    return this.transport.bytesWritten;
  }

  address(): { address: string; family: 'IPv4'; port: number } {
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }

  tcpInfo(): TcpInfo {
    return this.transport.info();
  }

  /** Close now (see TcpTransport.destroy). */
  destroy(): void {
    this.transport.destroy();
  }
}

export class TcpTransport implements HttpTransport, ConnectionEvents {
  readonly peer: TcpPeer;
  private readonly conn: TcpConnection;
  /** Where small written pieces are packed (shared by the server's connections). */
  private readonly slab: PackingSlab;
  private events: HttpTransportEvents | undefined;

  // read side
  private paused = false;
  /** Bytes that arrived while paused (or behind such bytes): owned copies, not consumed yet. */
  private readonly rxHeld = new ByteQueue();
  private pumpQueued = false;
  private peerFin = false;
  private endDelivered = false;
  private received = 0;

  // write side
  /** What the send buffer could not take yet, in order; `txOffset` bytes of the first one are sent. */
  private readonly txHeld: Uint8Array[] = [];
  private txOffset = 0;
  private drainWaiters: (() => void)[] = [];
  private onFinished: (() => void) | undefined;
  private endRequested = false;
  private finSent = false;
  private written = 0;

  // lifecycle
  /** The connection has told us it is over (onClosed), or we aborted it. */
  private connClosed = false;
  /** Destroyed with a FIN on its way: data from the peer now gets a RST. */
  private orphaned = false;
  private closed = false;

  constructor(conn: TcpConnection, slab: PackingSlab) {
    this.conn = conn;
    this.slab = slab;
    this.peer = new TcpPeer(conn, this);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get bytesRead(): number {
    return this.received;
  }

  get bytesWritten(): number {
    return this.written;
  }

  info(): TcpInfo {
    return this.conn.info();
  }

  start(events: HttpTransportEvents): void {
    this.events = events;
    this.conn.setEvents(this);
  }

  // ---- events from the connection (ConnectionEvents) ----------------------------------------

  onEstablished(): void {
    /* A passive open is established before it reaches us. */
  }

  onData(data: Uint8Array): void {
    if (this.orphaned && !this.connClosed) {
      // RFC 1122 §4.2.2.13: data received after CLOSE -> RST, to show that data was lost.
      this.connClosed = true;
      this.conn.abort();
      return;
    }
    if (this.closed || data.length === 0) return;
    this.received += data.length;
    if (this.paused || !this.rxHeld.isEmpty) {
      this.rxHeld.push(data); // copied; the window stays closed by these bytes until resume()
      return;
    }
    this.deliver(data);
  }

  onPeerFin(): void {
    this.peerFin = true;
    this.maybeDeliverEnd();
  }

  onWritable(): void {
    if (!this.closed) this.flushTx();
  }

  onClosed(): void {
    if (this.connClosed) return;
    this.connClosed = true;
    // Reset, timed out, or both FINs through: nothing more can be sent or received.
    this.close();
  }

  // ---- read side -----------------------------------------------------------------------------

  /** Reopen the window by the bytes handed over (before the handler runs: it may destroy us). */
  private deliver(data: Uint8Array): void {
    if (!this.connClosed) this.conn.consumed(data.length);
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      this.events!.onData(buf);
    } catch (err) {
      rethrowLater(err);
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.pumpQueued || (this.rxHeld.isEmpty && !this.peerFin)) return;
    this.pumpQueued = true;
    queueMicrotask(() => this.pump());
  }

  /** Hand over what was held while paused, then the peer's FIN if it came. */
  private pump(): void {
    this.pumpQueued = false;
    while (!this.paused && !this.closed && !this.rxHeld.isEmpty) this.deliver(this.rxHeld.shift()!);
    this.maybeDeliverEnd();
  }

  private maybeDeliverEnd(): void {
    if (!this.peerFin || this.endDelivered || this.paused || this.closed || !this.rxHeld.isEmpty) return;
    this.endDelivered = true;
    guarded(() => this.events!.onEnd());
    this.closeIfDone();
  }

  // ---- write side ----------------------------------------------------------------------------

  write(data: string | Uint8Array): boolean {
    if (this.closed || this.endRequested) return true; // after end() or destroy(): dropped, as ended streams do
    return this.send(typeof data === 'string' ? this.slab.pack([data], data.length) : this.keepable(data));
  }

  /** Small pieces together (a head and a short body): one chunk in the send buffer, one segment. */
  writeParts(parts: readonly (string | Uint8Array)[]): boolean {
    if (this.closed || this.endRequested || parts.length === 0) return true;
    let total = 0;
    for (const p of parts) total += p.length;
    if (total < PACK_BELOW) return this.send(this.slab.pack(parts, total));
    let ok = true;
    for (const p of parts) ok = this.send(typeof p === 'string' ? this.slab.pack([p], p.length) : this.keepable(p));
    return ok;
  }

  /**
   * Written bytes wait by reference in the send buffer until acknowledged. A small view into a larger
   * buffer (bytes just received, echoed back) would pin all of it: such a view is copied.
   */
  private keepable(data: Uint8Array): Uint8Array {
    return data.length < SMALL_PIECE && !ownsStorage(data) ? retainable(data) : data;
  }

  private send(data: Uint8Array): boolean {
    if (this.txHeld.length > 0) {
      this.txHeld.push(data);
      return false;
    }
    const n = this.connClosed ? 0 : this.conn.write(data);
    this.written += n;
    if (n === data.length) return true;
    this.txHeld.push(data);
    this.txOffset = n;
    return false;
  }

  /** Space opened in the send buffer: offer what waits; once it is all taken, drain and FIN. */
  private flushTx(): void {
    const held = this.txHeld;
    while (held.length > 0) {
      const first = held[0]!;
      const rest = this.txOffset === 0 ? first : first.subarray(this.txOffset);
      const n = this.connClosed ? 0 : this.conn.write(rest);
      this.written += n;
      if (n < rest.length) {
        this.txOffset += n;
        return;
      }
      held.shift();
      this.txOffset = 0;
    }
    this.afterDrain();
  }

  private afterDrain(): void {
    if (this.endRequested && !this.finSent) this.sendFin();
    const waiters = this.drainWaiters;
    if (waiters.length === 0) return;
    this.drainWaiters = [];
    for (const cb of waiters) guarded(cb);
  }

  whenDrained(cb: () => void): void {
    if (this.txHeld.length === 0) cb();
    else this.drainWaiters.push(cb);
  }

  setNoDelay(): void {
    if (!this.connClosed) this.conn.setNoDelay(true);
  }

  // ---- closing -------------------------------------------------------------------------------

  end(onFinished: () => void): void {
    if (this.endRequested || this.closed) return;
    this.endRequested = true;
    this.onFinished = onFinished;
    if (this.txHeld.length === 0) this.sendFin();
  }

  private sendFin(): void {
    this.finSent = true;
    if (!this.connClosed) this.conn.shutdown();
    const cb = this.onFinished;
    this.onFinished = undefined;
    if (cb) guarded(cb);
    this.closeIfDone();
  }

  /** Both directions done from HTTP's side: our FIN handed to TCP, the peer's FIN delivered. */
  private closeIfDone(): void {
    if (this.finSent && this.endDelivered && !this.closed) {
      // TCP finishes the close on its own (LAST-ACK, TIME-WAIT); late data from the peer gets a RST.
      this.orphaned = true;
      this.close();
    }
  }

  destroy(): void {
    if (this.closed) return;
    const unread = this.rxHeld.bytes;
    if (!this.connClosed) {
      if (unread > 0) {
        // RFC 2525 §2.17 / RFC 1122 §4.2.2.13: unread data is lost, so say so with a RST.
        this.connClosed = true;
        this.conn.abort();
      } else {
        if (!this.finSent) this.conn.shutdown();
        this.finSent = true;
        this.orphaned = true;
      }
    }
    this.close();
  }

  /** Drop what waits, tell the HTTP connection (on the next tick, as a stream's 'close' is). */
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rxHeld.clear();
    this.txHeld.length = 0;
    this.drainWaiters = [];
    this.onFinished = undefined;
    const events = this.events;
    if (events) process.nextTick(() => events.onClose());
  }
}
