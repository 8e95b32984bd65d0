/**
 * A TCP connection as a Node Duplex stream, with node:net habits (net.Socket's events, properties and
 * close semantics), over the TcpConnection surface of src/tcp/api.ts.
 *
 * Two buffers meet here, and backpressure crosses both of them:
 *
 *   write path  user write() -> Duplex writable buffer (writableHighWaterMark) -> conn.write() into the
 *               TCP send buffer. When the send buffer takes fewer bytes than offered, the rest and the
 *               write callback are held until onWritable, so the Duplex buffer fills up, write() returns
 *               false and 'drain' comes later: a slow peer (small window) slows the writer.
 *   read path   onData -> push() into the Duplex readable buffer (readableHighWaterMark) and
 *               conn.consumed(n). Once push() returns false, arriving bytes are held here WITHOUT
 *               consumed(), so the receive window we advertise shrinks to zero (RFC 9293 §3.8.6):
 *               a slow reader slows the peer. _read() (the consumer wants more) hands them over.
 *
 * The held-but-unconsumed bytes play the part of the kernel's receive queue; the Duplex buffers play
 * the part of the JavaScript-side buffers of net.Socket.
 *
 * Closing, as Node and Linux do it:
 *   end()               -> _final -> conn.shutdown(): FIN after everything queued was accepted.
 *   destroy()           -> like close(2) on the fd that net.Socket.destroy() performs:
 *                          - still connecting, or received bytes nobody consumed -> conn.abort() (RST).
 *                            Linux does this on close() with unread data, as RFC 2525 §2.17 recommends
 *                            and RFC 1122 §4.2.2.13 / RFC 9293 §3.6.1 say ("SHOULD send a RST to show
 *                            that data was lost");
 *                          - otherwise conn.shutdown(): bytes already in the TCP send buffer are still
 *                            delivered, then FIN (a graceful close; the stack finishes it on its own).
 *                            Bytes still in the stream's own writable buffer are dropped, as in Node.
 *                            If the peer sends data after that, the socket answers with abort() (RST):
 *                            the same rule, and what Linux does for an orphaned socket.
 *   resetAndDestroy()   -> conn.abort() (RST) always, like net.Socket.resetAndDestroy() (SO_LINGER 0).
 * (Checked against Node 20 on Linux loopback: a pauseOnConnect server socket that destroy()s with the
 * request still in the kernel makes the client see ECONNRESET; one that had read the request makes
 * the client see 'end'.)
 * A write() after our side ended is Node's ERR_STREAM_WRITE_AFTER_END, except after the peer's FIN
 * ended us automatically (allowHalfOpen false): then it is EPIPE, as net.Socket's writeAfterFIN.
 *
 * All ConnectionEvents callbacks arrive synchronously from inside the stack, and user handlers
 * ('data', 'connect', ...) may run inside them and call write()/end()/destroy(): so conn.write(),
 * consumed(), shutdown() and abort() can be called re-entrantly from within a callback.
 */
import { Duplex } from 'node:stream';
import type { Clock, TimerHandle } from '../util/clock.ts';
import { SystemClock } from '../util/clock.ts';
import { SocketError } from '../util/errors.ts';
import { ByteQueue, SlabCopier, ownsStorage } from '../util/owned-bytes.ts';
import { formatIpv4Address, parseIpv4Address } from '../wire/ipv4-address.ts';
import type { ConnectionEvents, ConnectionOptions, TcpConnection, TcpInfo } from '../tcp/api.ts';

/** Bad arguments, with Node's codes: ERR_SOCKET_BAD_PORT is a RangeError there, the others TypeErrors. */
export class SocketArgumentError extends TypeError {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'SocketArgumentError';
    this.code = code;
  }
}

/** A port for connect() or listen(): an integer 0..65535 (Node's validatePort), or a numeric string. */
export function validatePort(port: unknown, name = 'Port', allowZero = true): number {
  const n = typeof port === 'string' && port.trim() !== '' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff || (n === 0 && !allowZero)) {
    throw new SocketArgumentError(
      'ERR_SOCKET_BAD_PORT',
      `${name} should be >= ${allowZero ? 0 : 1} and < 65536. Received ${String(port)}.`,
    );
  }
  return n;
}

/** Run `fn`; if it throws, rethrow on the next tick, outside the caller (the stack). */
export function guarded(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/** A dotted-quad IPv4 address, normalized; anything else (names, IPv6) -> ERR_INVALID_IP_ADDRESS. */
export function checkIpv4(host: unknown): string {
  if (typeof host !== 'string') {
    throw new SocketArgumentError('ERR_INVALID_IP_ADDRESS', `host must be an IPv4 address, got ${String(host)}`);
  }
  try {
    return formatIpv4Address(parseIpv4Address(host));
  } catch {
    throw new SocketArgumentError(
      'ERR_INVALID_IP_ADDRESS',
      `Invalid IP address: ${host} (tunstack speaks IPv4 only and does not resolve names)`,
    );
  }
}

/**
 * TCP_MAXSEG, SO_SNDBUF and SO_RCVBUF, checked: positive integers (a MSS of at least 64, as Linux's
 * TCP_MIN_MSS lower bound; buffers of at least one byte). Anything else is ERR_OUT_OF_RANGE.
 */
export function connectionOptions(o: ConnectionOptions): ConnectionOptions {
  const out: { -readonly [K in keyof ConnectionOptions]: ConnectionOptions[K] } = {};
  const check = (name: keyof ConnectionOptions, min: number, max: number): void => {
    const v = o[name];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new SocketArgumentError('ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be an integer >= ${min} and <= ${max}. Received ${String(v)}`);
    }
    out[name] = v;
  };
  check('maxSegment', 64, 0xffff);
  check('sendBufferSize', 1, 64 * 1024 * 1024);
  check('receiveBufferSize', 1, 64 * 1024 * 1024);
  return out;
}

/**
 * With SO_RCVBUF (receiveBufferSize) the stream's own readable buffer is no larger than the TCP one
 * (when the default, 16 KiB, is larger): a slow reader then stops the peer after at most twice the
 * size asked for, the TCP buffer plus the stream's. (Linux, too, reserves twice the value.)
 */
export function readBufferFor(o: ConnectionOptions): { readableHighWaterMark?: number } {
  const r = o.receiveBufferSize;
  return r !== undefined && r < 16 * 1024 ? { readableHighWaterMark: r } : {};
}

/** poll(2) bits, Linux's values (asm-generic/poll.h). */
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLRDHUP = 0x2000;

export interface TcpSocketOptions {
  /** Keep our sending side open after the peer's FIN (default false, like net). */
  allowHalfOpen?: boolean;
  /** Do not read anything until resume() / read() is called (net.Server's pauseOnConnect). */
  pauseOnConnect?: boolean;
  /** True for an active open still in the handshake; 'connect' follows onEstablished. */
  connecting?: boolean;
  /** Clock for the idle timer (setTimeout); default SystemClock (unref'd timers). */
  clock?: Clock;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

type WriteCallback = (error?: Error | null) => void;

/** Pieces the Readable buffer may hold before further received bytes are held back coalesced. */
const MAX_WAITING_PIECES = 256;

/** Written views smaller than this that do not own their buffer are copied (see write()). */
const COPY_WRITES_BELOW = 16 * 1024;

/** A write the TCP send buffer could not take whole: the rest waits for onWritable. */
interface HeldWrite {
  chunks: Uint8Array[];
  index: number;
  offset: number;
  cb: WriteCallback;
}

export type SocketReadyState = 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed';

export class TcpSocket extends Duplex {
  readonly remoteFamily = 'IPv4';
  /** True from construction of an active open until 'connect' (or destruction). */
  connecting: boolean;

  private readonly conn: TcpConnection;
  private readonly clock: Clock;

  // write side
  private held: HeldWrite | undefined;
  private heldFinal: ((error?: Error | null) => void) | undefined;
  private finSent = false;
  private written = 0;
  /** Copies of small written views (see write()). */
  private readonly txSlab = new SlabCopier();

  // read side
  /** push() said "enough": hold arriving bytes, unconsumed, until _read(). */
  private rxPaused: boolean;
  /** Those bytes, in owned storage, small pieces coalesced. */
  private readonly rxHeld = new ByteQueue();
  /** Copies of the bytes that wait in the Readable buffer (a paused or lagging reader). */
  private readonly rxSlab = new SlabCopier();
  /** Pieces pushed into the Readable buffer since it was last empty (each one a Buffer there). */
  private rxPieces = 0;
  private rxPumpQueued = false;
  private peerFin = false;
  private eofPushed = false;
  /** shutdownRead() was called: see there. */
  private readShut = false;
  /** The error the connection ended with, for poll() (POLLERR). */
  private failed = false;
  private received = 0;

  // lifecycle
  /** The connection will report nothing more that matters (onClosed arrived, or we aborted it). */
  private connClosed = false;
  /** Destroyed with a graceful close under way: further data from the peer gets a RST. */
  private orphaned = false;
  private resetRequested = false;
  /** The peer's EOF was read and we ended automatically: write() now fails with EPIPE. */
  private endedByPeer = false;

  // idle timeout (net.Socket.setTimeout)
  private idleMs = 0;
  private idleTimer: TimerHandle | undefined;
  private lastActivity = 0;

  constructor(conn: TcpConnection, options: TcpSocketOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen === true,
      // net.Socket: autoDestroy once both sides are done; 'close' is emitted by us, with hadError.
      autoDestroy: true,
      emitClose: false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
    });
    this.conn = conn;
    this.clock = options.clock ?? new SystemClock();
    this.connecting = options.connecting === true;
    this.rxPaused = options.pauseOnConnect === true;
    if (options.pauseOnConnect === true) this.pause();

    // net.Socket: once the peer's EOF has been read and we ended automatically (allowHalfOpen false),
    // a later write() is an EPIPE rather than the vaguer "write after end".
    this.once('end', () => {
      if (!this.allowHalfOpen) this.endedByPeer = true;
    });

    // User handlers run inside these callbacks; an exception from one must not unwind through the
    // TCP layer halfway through a segment. It is rethrown on the next tick instead: still an uncaught
    // exception, as it would be from a net.Socket handler, but the stack's state stays consistent.
    const events: ConnectionEvents = {
      onEstablished: () => guarded(() => this.onEstablished()),
      onData: (data) => guarded(() => this.onConnData(data)),
      onPeerFin: () => guarded(() => this.onPeerFin()),
      onWritable: () => guarded(() => this.onWritable()),
      onClosed: (error) => guarded(() => this.onConnClosed(error)),
    };
    conn.setEvents(events);
  }

  // ---------------------------------------------------------------------------------------------
  // Events from the connection

  private onEstablished(): void {
    if (!this.connecting || this.connClosed) return;
    this.connecting = false;
    this.touch();
    if (this.held) this.flushHeld();
    if (this.heldFinal && !this.held) {
      const cb = this.heldFinal;
      this.heldFinal = undefined;
      this.sendFin();
      cb();
    }
    this.emit('connect');
    this.emit('ready');
  }

  private onConnData(data: Uint8Array): void {
    if (this.orphaned && !this.connClosed) {
      // RFC 1122 §4.2.2.13: data received after CLOSE -> RST, to show that data was lost.
      this.connClosed = true;
      this.conn.abort();
      return;
    }
    if (this.connClosed || this.destroyed || data.length === 0) return;
    this.received += data.length;
    this.touch();
    if (this.eofPushed && this.readShut) {
      // Read side shut down and its EOF given: the stream cannot deliver more (see shutdownRead()).
      this.conn.consumed(data.length);
      return;
    }
    if (this.rxPaused || !this.rxHeld.isEmpty || this.rxCrowded()) {
      // Held for a slow reader: copied (coalesced), see deliver().
      this.rxHeld.push(data);
      return;
    }
    this.deliver(data, false);
  }

  private onPeerFin(): void {
    if (this.connClosed || this.destroyed || this.peerFin) return;
    this.peerFin = true;
    if (this.rxHeld.isEmpty) this.pushEof();
  }

  private onWritable(): void {
    if (this.connClosed || this.destroyed) return;
    if (this.held && !this.connecting) this.flushHeld();
  }

  private onConnClosed(error?: SocketError): void {
    if (this.connClosed) return;
    this.connClosed = true;
    if (this.destroyed) return;
    if (error) {
      this.failed = true;
      this.destroy(error);
      return;
    }
    // A normal close: both FINs are through. Whatever the reader has not taken yet is still
    // delivered, then EOF; the Duplex destroys itself once 'end' and 'finish' have happened.
    if (!this.peerFin) {
      this.peerFin = true;
      if (this.rxHeld.isEmpty) this.pushEof();
    }
    if (this.held) {
      // Nothing more can be sent: fail the write that was waiting for send-buffer space.
      this.destroy(new SocketError('EPIPE', 'The connection closed before all data was sent', 'write'));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Read side

  /**
   * Hand bytes to the stream; the TCP receive window reopens by as much (consumed before push:
   * the consumer's handlers run inside push and may destroy the socket).
   * `data` is usually a view into the device's receive chunk (256 KiB, shared by many packets).
   * A flowing reader gets the view itself (no copy on the fast path); bytes that will sit in a
   * buffer because the reader is slow are copied, so that they do not pin the whole chunk (small
   * pieces into shared blocks of this socket's own, util/owned-bytes.ts, not Node's Buffer pool).
   */
  private deliver(data: Uint8Array, copied: boolean): void {
    if (!this.connClosed) this.conn.consumed(data.length);
    let buf: Buffer;
    const waits = this.readableFlowing !== true || this.readableLength > 0;
    if (!copied && waits) buf = this.rxSlab.copy(data, this.readableLength);
    else buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (this.readableLength === 0) this.rxPieces = 0;
    if (waits) this.rxPieces++;
    if (!this.push(buf)) this.rxPaused = true;
  }

  /**
   * The Readable buffer holds many pieces already: tiny segments would each be a Buffer there (a
   * hundred bytes of heap or more per byte). Further bytes wait in rxHeld instead, coalesced and
   * unconsumed (so the window shrinks), until the reader has emptied the buffer (see read()).
   */
  private rxCrowded(): boolean {
    return this.rxPieces >= MAX_WAITING_PIECES && this.readableLength > 0;
  }

  /**
   * As net.Socket does, hook read(): once the reader has emptied the buffer, bytes held back by
   * rxCrowded() are handed over (on the next tick, outside the stream's own read()). The stream
   * calls _read() itself only while it has asked for nothing yet.
   */
  override read(size?: number): any {
    const r: unknown = super.read(size);
    if (this.readableLength === 0 && !this.rxHeld.isEmpty && !this.rxPumpQueued && !this.destroyed) {
      this.rxPumpQueued = true;
      process.nextTick(() => {
        this.rxPumpQueued = false;
        if (this.readableLength === 0 && !this.destroyed) this._read();
      });
    }
    return r;
  }

  private pushEof(): void {
    if (this.eofPushed) return;
    this.eofPushed = true;
    this.push(null);
  }

  override _read(): void {
    this.rxPaused = false;
    while (!this.rxPaused && !this.rxHeld.isEmpty && !this.destroyed && !this.rxCrowded()) {
      this.deliver(this.rxHeld.shift()!, true);
    }
    if (this.rxHeld.isEmpty && (this.peerFin || this.readShut) && !this.destroyed) this.pushEof();
  }

  /**
   * shutdown(fd, SHUT_RD). Linux (checked on a 6.x kernel over loopback) sends nothing and keeps
   * receiving: data that arrives later is still acknowledged, queued and readable, and a read() that
   * would block returns 0 (end of file) instead; close() with queued unread bytes still sends a RST.
   * A stream cannot deliver data after its 'end', so here: the bytes already received (the Readable
   * buffer and the bytes held back for a slow reader) are still delivered, then 'end'. Bytes arriving
   * after the 'end' are acknowledged (the window stays open, as on Linux) and dropped, counted in
   * bytesRead: unlike Linux, which would still hand them to a read().
   */
  shutdownRead(): this {
    if (this.readShut || this.destroyed) return this;
    this.readShut = true;
    if (this.rxHeld.isEmpty) this.pushEof();
    return this;
  }

  /** shutdownRead() was called. */
  get readShutdown(): boolean {
    return this.readShut;
  }

  /**
   * The bytes received and not read yet, in total: the Readable buffer and the bytes held back
   * (unconsumed, shrinking the window) for a slow reader. What ioctl(SIOCINQ / FIONREAD) reports.
   */
  get bytesUnread(): number {
    return this.readableLength + this.rxHeld.bytes;
  }

  /**
   * poll(2)'s answer for this socket, with Linux's bits as tcp_poll() sets them: nothing while
   * connecting; POLLIN with bytes to read, and POLLIN|POLLRDHUP once reading is over (the peer's FIN,
   * shutdownRead(), a reset); POLLOUT when a write would not wait (the stream's buffer under its
   * high-water mark) and also once our side is shut (a write then fails at once, EPIPE); POLLHUP
   * when both directions are shut or the connection is gone; POLLERR after a reset or a failed open.
   */
  poll(): number {
    if (this.connecting && !this.failed) return 0;
    const gone = this.connClosed || this.destroyed;
    const rdDone = this.peerFin || this.readShut || gone;
    const wrDone = this.finSent || this.writableEnded || gone;
    let r = 0;
    if (this.bytesUnread > 0 || rdDone) r |= POLLIN;
    if (rdDone) r |= POLLRDHUP;
    if (wrDone || this.writableLength < this.writableHighWaterMark) r |= POLLOUT;
    if ((rdDone && wrDone) || gone) r |= POLLHUP;
    if (this.failed) r |= POLLERR;
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // Write side

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: WriteCallback): void {
    this.held = { chunks: [chunk], index: 0, offset: 0, cb };
    if (!this.connecting) this.flushHeld();
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, cb: WriteCallback): void {
    this.held = { chunks: chunks.map((c) => c.chunk), index: 0, offset: 0, cb };
    if (!this.connecting) this.flushHeld();
  }

  /** Offer the held write to the send buffer; complete it when every byte was accepted. */
  private flushHeld(): void {
    const h = this.held;
    if (!h) return;
    while (h.index < h.chunks.length) {
      const chunk = h.chunks[h.index]!;
      const rest = h.offset === 0 ? chunk : chunk.subarray(h.offset);
      if (rest.length > 0) {
        const n = this.connClosed ? 0 : this.conn.write(rest);
        // write() may have reported a reset synchronously and destroyed us (the held write failed).
        if (this.held !== h) return;
        if (n > 0) {
          this.written += n;
          this.touch();
        }
        if (n < rest.length) {
          h.offset += n;
          return; // the rest waits for onWritable
        }
      }
      h.index++;
      h.offset = 0;
    }
    this.held = undefined;
    h.cb();
  }

  override _final(cb: (error?: Error | null) => void): void {
    if (this.connecting) {
      this.heldFinal = cb;
      return;
    }
    this.sendFin();
    cb();
  }

  private sendFin(): void {
    if (this.finSent || this.connClosed) return;
    this.finSent = true;
    this.conn.shutdown();
  }

  override write(chunk: unknown, encodingOrCb?: BufferEncoding | WriteCallback, cb?: WriteCallback): boolean {
    if (this.endedByPeer && this.writableEnded) {
      // Node's writeAfterFIN (lib/net.js).
      const err = new SocketError('EPIPE', 'This socket has been ended by the other party', 'write');
      const callback = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
      if (callback) process.nextTick(callback, err);
      this.destroy(err);
      return false;
    }
    // Written chunks wait by reference (in the Duplex buffer, then in the TCP send buffer until
    // acknowledged). A small view into a larger buffer, typically bytes just received and echoed
    // back (socket.pipe(socket)) into a peer's zero window, would keep that whole buffer alive (a
    // device receive chunk: 256 KiB per byte): such a chunk is copied. Large writes are kept as
    // they are (no copy on the fast path).
    if (chunk instanceof Uint8Array && chunk.length < COPY_WRITES_BELOW && !ownsStorage(chunk)) {
      chunk = this.txSlab.copy(chunk, this.writableLength);
    }
    return super.write(chunk, encodingOrCb as BufferEncoding, cb);
  }

  // ---------------------------------------------------------------------------------------------
  // Destruction

  override _destroy(error: Error | null, cb: (error?: Error | null) => void): void {
    this.cancelIdleTimer();
    const wasConnecting = this.connecting;
    this.connecting = false;
    const unread = this.rxHeld.bytes;
    this.rxHeld.clear();
    this.rxSlab.reset();
    const held = this.held;
    this.held = undefined;
    this.heldFinal = undefined;
    if (!this.connClosed) {
      if (this.resetRequested || wasConnecting || unread > 0) {
        // RFC 2525 §2.17 / RFC 1122 §4.2.2.13: unread data is lost, so say so with a RST.
        this.connClosed = true;
        this.conn.abort();
      } else {
        this.sendFin();
        this.orphaned = true;
      }
    }
    cb(error);
    if (held) held.cb(error ?? new SocketError('ERR_SOCKET_CLOSED', 'Socket is closed', 'write'));
    const hadError = error != null;
    process.nextTick(() => this.emit('close', hadError));
  }

  /** end(), then destroy() once everything was handed to the TCP layer (net.Socket.destroySoon). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Close with a RST, whatever is queued or unread (net.Socket.resetAndDestroy). */
  resetAndDestroy(): this {
    this.resetRequested = true;
    this.destroy();
    return this;
  }

  // ---------------------------------------------------------------------------------------------
  // Idle timeout: 'timeout' after `ms` without reads or writes; it does not close anything.

  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw new SocketArgumentError('ERR_OUT_OF_RANGE', `The value of "msecs" is out of range. Received ${String(ms)}`);
    }
    this.cancelIdleTimer();
    this.idleMs = ms;
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    if (ms > 0 && !this.destroyed) {
      this.lastActivity = this.clock.now();
      this.armIdleTimer(this.lastActivity + ms);
    }
    return this;
  }

  get timeout(): number | undefined {
    return this.idleMs > 0 ? this.idleMs : undefined;
  }

  /** Activity: one clock read; the timer itself is re-armed lazily when it fires (or after firing). */
  private touch(): void {
    if (this.idleMs === 0) return;
    this.lastActivity = this.clock.now();
    if (!this.idleTimer && !this.destroyed) this.armIdleTimer(this.lastActivity + this.idleMs);
  }

  private armIdleTimer(at: number): void {
    this.idleTimer = this.clock.setTimer(at, () => this.onIdleTimer());
  }

  private onIdleTimer(): void {
    this.idleTimer = undefined;
    if (this.idleMs === 0 || this.destroyed) return;
    const due = this.lastActivity + this.idleMs;
    if (this.clock.now() < due) {
      this.armIdleTimer(due);
      return;
    }
    // Not re-armed: the next activity re-arms it, as refresh() does for net.Socket's timer.
    this.emit('timeout');
  }

  private cancelIdleTimer(): void {
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Options and introspection

  setNoDelay(noDelay = true): this {
    if (!this.connClosed) this.conn.setNoDelay(noDelay);
    return this;
  }

  /** `initialDelay` in milliseconds; 0 keeps the stack's default idle time. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    if (!this.connClosed) this.conn.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    return this;
  }

  /** A snapshot of the TCB (state, sequence numbers, windows, RTT), for the demo site and traces. */
  tcpInfo(): TcpInfo {
    return this.conn.info();
  }

  address(): { address: string; family: 'IPv4'; port: number } {
    return { address: this.conn.localAddress, family: 'IPv4', port: this.conn.localPort };
  }

  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }

  get remotePort(): number {
    return this.conn.remotePort;
  }

  get localAddress(): string {
    return this.conn.localAddress;
  }

  get localPort(): number {
    return this.conn.localPort;
  }

  /** Bytes received from the peer (including bytes not read by the consumer yet). */
  get bytesRead(): number {
    return this.received;
  }

  /** Bytes accepted into the TCP send buffer. */
  get bytesWritten(): number {
    return this.written;
  }

  /** As net.Socket: no live connection yet, or none any more. */
  get pending(): boolean {
    return this.connecting || this.destroyed;
  }

  get readyState(): SocketReadyState {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /** No-ops kept for net.Socket compatibility: the stack, not a socket, holds the event loop. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}
