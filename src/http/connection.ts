/**
 * One HTTP/1.1 connection: parser in, ordered response queue out, and the timers that bound it.
 * It reads and writes through an HttpTransport (transport.ts): a node Duplex (node:net, TcpSocket),
 * or on our own stack the TCP connection itself (tcp-transport.ts, the direct path).
 *
 *   transport onData -> parser.execute -> onHead: IncomingRequest + ServerResponse queued, 'request'
 *                                   -> onBody: req.push (backpressure pauses the transport)
 *                                   -> onComplete: next request, unless the queue is full
 *   response done -> next queued response becomes active (RFC 9112 §9.3.2: in request order)
 *
 * Persistence follows RFC 9112 §9.3: HTTP/1.1 persistent unless "close"; HTTP/1.0 only with
 * "keep-alive". When we close, we send FIN (end()) and read-and-discard until the peer closes,
 * so unread data never turns our clean close into a RST.
 */
import type { Clock, TimerHandle } from '../util/clock.ts';
import { SlabCopier, concatOwned, retainable } from '../util/owned-bytes.ts';
import { IncomingRequest } from './incoming-request.ts';
import { HttpParseError, HttpRequestParser, type HttpParserHandlers, type HttpParserLimits, type RequestHead } from './parser.ts';
import { ServerResponse, type ResponseOwner } from './server-response.ts';
import { reasonPhrase } from './status-codes.ts';
import type { HttpTransport, HttpTransportEvents, PeerSocket } from './transport.ts';

/** The server's settings, one object for all its connections; its parser limits are the parsers' own. */
export interface ConnectionSettings extends HttpParserLimits {
  clock: Clock;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  /** Time allowed for a whole request, body included, from its first byte. */
  requestTimeoutMs: number;
  maxRequestsPerConnection: number;
  maxPipelinedRequests: number;
  /** How long to wait for the peer's FIN after ours before giving up (destroy). */
  closeLingerMs: number;
  /** How much a response that is not yet at the head of the queue may hold in memory. */
  holdLimitBytes: number;
}

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly settings: ConnectionSettings;
  readonly closing: boolean;
  date(): string;
  onRequest(req: IncomingRequest, res: ServerResponse): void;
  onClientError(err: Error, socket: PeerSocket): void;
  onConnectionClosed(conn: HttpConnection): void;
}

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** Body pieces a request's buffer may hold before the socket is paused (see onBody). */
const MAX_WAITING_PIECES = 256;

/** The parts of the error responses, built once: only the Date line is filled in per use. */
const ERROR_PARTS: Readonly<Record<number, readonly [string, string]>> = Object.freeze(
  Object.fromEntries(
    [400, 408, 413, 414, 431, 500, 501, 505].map((status) => {
      const body = `${status} ${reasonPhrase(status)}\n`;
      return [
        status,
        [
          `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nServer: tunstack\r\nDate: `,
          `\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        ] as const,
      ];
    }),
  ),
);

/**
 * An error response: no handler involved, always followed by a close (Connection: close,
 * RFC 9112 §9.6). Date is included (RFC 9110 §6.6.1: MUST in 4xx from an origin server with a clock).
 */
export function errorResponse(status: number, date: string): string {
  const parts = ERROR_PARTS[status] ?? ERROR_PARTS[400]!;
  return parts[0] + date + parts[1];
}

export class HttpConnection implements ResponseOwner, HttpTransportEvents, HttpParserHandlers {
  /** req.socket, res.socket: the Duplex itself, or the direct path's TcpPeer. */
  readonly socket: PeerSocket;
  private readonly transport: HttpTransport;
  private readonly host: ConnectionHost;
  private readonly settings: ConnectionSettings;
  private readonly parser: HttpRequestParser;
  /** Responses in request order; queue[0] is the active one. */
  private readonly queue: ServerResponse[] = [];
  /** The request whose body is being received. */
  private current: IncomingRequest | undefined;
  /** A request that expects 100-continue, queued behind other responses, its body not begun. */
  private continueFor: IncomingRequest | undefined;
  /** Bytes received but held back while the parser is paused (owned storage, never a view). */
  private pending: Buffer | undefined;
  /** Copies of body pieces that wait in a request's buffer (its reader lags). */
  private readonly bodySlab = new SlabCopier();
  private requests = 0;
  private bodyBackpressure = false;
  /** Body pieces pushed into the current request's buffer since it was last empty. */
  private bodyPieces = 0;
  /** The request being received is the last one (a "close" request, max requests, server.close()). */
  private noMore = false;
  /** No more requests will be parsed (after the last one, an error, the peer's FIN). */
  private stopParsing = false;
  /** Our FIN is sent (or about to be): incoming bytes are discarded. */
  private ending = false;
  private closed = false;
  private peerEnded = false;
  private inExecute = false;
  private readingPaused = false;
  /** A parse error or timeout response waiting for the responses before it. */
  private finalError: string | undefined;
  private timer: TimerHandle | undefined;
  private timerAt = -1;
  private idleSince: number;
  private headStart: number;

  constructor(transport: HttpTransport, host: ConnectionHost) {
    this.transport = transport;
    this.socket = transport.peer;
    this.host = host;
    this.settings = host.settings;
    const s = this.settings;
    this.idleSince = s.clock.now();
    this.headStart = this.idleSince;
    // The connection is the parser's handlers and the transport's events itself (no closures per
    // connection); the server's settings carry the parser's limits.
    this.parser = new HttpRequestParser(this, s);
    transport.setNoDelay();
    transport.start(this);
    this.updateTimer();
  }

  /** Requests received on this connection so far. */
  get requestCount(): number {
    return this.requests;
  }

  /** Nothing in flight: no queued response, no partial request. */
  get isIdle(): boolean {
    return this.queue.length === 0 && this.parser.idle && this.current === undefined;
  }

  date(): string {
    return this.host.date();
  }

  keepAliveValue(req: IncomingRequest): string {
    const s = this.settings;
    return `timeout=${Math.floor(s.keepAliveTimeoutMs / 1000)}, max=${s.maxRequestsPerConnection - req.requestNumber}`;
  }

  /** Close when idle now, or after the response in progress (server.close()). */
  shutdown(): void {
    this.noMore = true;
    // Responses not yet started announce the close (RFC 9112 §9.6).
    for (const r of this.queue) if (!r.headersSent) r.closesConnection = true;
    if (this.current === undefined) {
      this.stopParsing = true;
      this.pending = undefined;
    }
    if (this.isIdle) this.end();
  }

  destroy(): void {
    this.transport.destroy();
  }

  /** The active response's bytes (ResponseOwner): false means wait for whenDrained(). */
  send(parts: readonly (string | Buffer)[]): boolean {
    return this.transport.writeParts(parts);
  }

  whenDrained(cb: () => void): void {
    this.transport.whenDrained(cb);
  }

  // ---- input -------------------------------------------------------------------------------

  /** @internal HttpTransportEvents: bytes from the transport. */
  onData(chunk: Buffer): void {
    if (this.ending || this.stopParsing) return; // read and discard (see the header comment)
    if (this.pending !== undefined) {
      this.pending = concatOwned(this.pending, chunk);
      return;
    }
    if (this.parser.idle) this.headStart = this.settings.clock.now();
    this.feed(chunk);
  }

  private feed(chunk: Buffer): void {
    let used: number;
    this.inExecute = true;
    try {
      used = this.parser.execute(chunk);
    } catch (e) {
      this.inExecute = false;
      if (e instanceof HttpParseError) this.parseError(e);
      else {
        this.host.onClientError(e as Error, this.socket);
        this.transport.destroy();
      }
      return;
    }
    this.inExecute = false;
    // The socket's chunk may be a view into a device receive chunk: keep only a copy of the rest.
    if (used < chunk.length && !this.stopParsing) this.pending = retainable(chunk.subarray(used));
    this.updateReading();
    this.updateTimer();
  }

  /** @internal HttpParserHandlers: a request head was parsed. */
  onHead(head: RequestHead): void {
    const s = this.settings;
    const n = ++this.requests;
    const req = new IncomingRequest(head, this.socket, n, this.onBodyReadFn);
    // RFC 9112 §9.6: after a "close" request (or our last allowed one) no further requests are processed.
    const mustClose = !head.keepAlive || n >= s.maxRequestsPerConnection || this.host.closing;
    if (mustClose) this.noMore = true;
    const res = new ServerResponse(req, this, mustClose, s.holdLimitBytes);
    this.current = req;
    this.queue.push(res);
    // RFC 9110 §10.1.1: tell a waiting client to go on sending the content; the 100 is part of this
    // request's answer, so it waits for the responses before it (sent when this one becomes active).
    const wantsContinue = head.expectContinue && (head.chunked || (head.contentLength ?? 0) > 0);
    if (this.queue.length === 1) {
      res.activate();
      if (wantsContinue) this.transport.write(CONTINUE);
    } else if (wantsContinue) {
      this.continueFor = req;
    }
    this.updateTimer();
    try {
      this.host.onRequest(req, res);
    } catch (err) {
      this.host.onClientError(err as Error, this.socket);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.closesConnection = true;
        res.end();
      } else this.transport.destroy();
    }
  }

  /** @internal HttpParserHandlers: a piece of the current request's body. */
  onBody(chunk: Buffer): void {
    const req = this.current;
    // RFC 9110 §10.1.1: a server MAY omit the 100 once it has received some of the content.
    if (this.continueFor === req) this.continueFor = undefined;
    if (req === undefined || req.destroyed) return;
    // A reader that takes the piece at once gets the view (no copy on the fast path); a piece that
    // will wait in the request's buffer is copied, so that it does not pin the socket's chunk.
    const waits = req.readableFlowing !== true || req.readableLength > 0 || req.listenerCount('data') === 0;
    if (req.readableLength === 0) this.bodyPieces = 0;
    if (waits) this.bodyPieces++;
    if (!req.push(waits ? this.bodySlab.copy(chunk, req.readableLength) : chunk)) this.bodyBackpressure = true;
    else if (this.bodyCrowded(req)) {
      // Many small pieces wait (each a Buffer in the request's buffer): stop reading the socket,
      // where further bytes wait coalesced, until the reader has emptied the request's buffer.
      this.bodyBackpressure = true;
      req.signalDrain = true;
    }
  }

  /** @internal HttpParserHandlers: the current request is complete. */
  onComplete(trailers: Record<string, string> | undefined, raw: string[] | undefined): void {
    const req = this.current;
    this.current = undefined;
    if (this.continueFor === req) this.continueFor = undefined;
    if (req) {
      if (trailers && raw) {
        req.trailers = { ...trailers };
        req.rawTrailers = raw;
      }
      req.complete = true;
      req.push(null);
    }
    this.headStart = this.settings.clock.now();
    if (this.noMore) this.stopParsing = true;
    // Past the pipeline bound, hold the next request back (and, below, stop reading the socket).
    if (this.stopParsing || this.queue.length >= this.settings.maxPipelinedRequests) this.parser.pause();
  }

  private bodyCrowded(req: IncomingRequest): boolean {
    return this.bodyPieces >= MAX_WAITING_PIECES && req.readableLength > 0;
  }

  /** onBodyRead for every request of this connection, made once. */
  private readonly onBodyReadFn = (): void => this.onBodyRead();

  private onBodyRead(): void {
    if (!this.bodyBackpressure) return;
    const req = this.current;
    if (req !== undefined && this.bodyCrowded(req)) {
      req.signalDrain = true;
      return;
    }
    this.bodyBackpressure = false;
    this.updateReading();
  }

  /** Stop reading the socket while the queue is full or a body consumer lags: TCP backpressure. */
  private updateReading(): void {
    if (this.ending || this.closed) return;
    const pause = (this.parser.isPaused && !this.stopParsing) || this.bodyBackpressure;
    if (pause) {
      if (!this.readingPaused) {
        this.readingPaused = true;
        this.transport.pause();
      }
      return;
    }
    if (this.readingPaused) {
      this.readingPaused = false;
      this.transport.resume();
    }
  }

  private parseError(err: HttpParseError): void {
    this.stopParsing = true;
    this.pending = undefined;
    this.host.onClientError(err, this.socket);
    // A request whose body broke off gets no response: drop it from the queue.
    const cur = this.current;
    this.current = undefined;
    let cutShort = false;
    if (cur) {
      const idx = this.queue.findIndex((r) => r.req === cur);
      if (idx >= 0) {
        const [res] = this.queue.splice(idx, 1);
        cutShort = res!.onWire;
        res!.destroy();
      }
      cur.destroy();
    }
    if (cutShort) {
      // Its head (and maybe part of its body) is already on the wire: an error response now would
      // be read as more of that body. Close instead; with its Content-Length or chunked framing
      // (a request with a chunked body is HTTP/1.1) the client sees the response cut short
      // (RFC 9112 §8: an incomplete message).
      this.end();
      return;
    }
    this.finalError = errorResponse(err.status, this.host.date());
    this.afterQueueChange();
  }

  /** @internal HttpTransportEvents: the peer's FIN, after all its bytes. */
  onEnd(): void {
    this.peerEnded = true;
    if (this.ending) return; // both FINs exchanged: the socket closes once our data is flushed
    this.stopParsing = true;
    this.pending = undefined;
    const cur = this.current;
    if (cur && !cur.complete) {
      this.current = undefined;
      const idx = this.queue.findIndex((r) => r.req === cur);
      if (idx >= 0) this.queue.splice(idx, 1)[0]!.destroy();
      cur.destroy();
    }
    this.afterQueueChange();
  }

  // ---- output ------------------------------------------------------------------------------

  /** Called by the active response once its last byte is handed to the socket. */
  responseDone(res: ServerResponse): void {
    if (this.queue[0] !== res) return;
    this.queue.shift();
    this.idleSince = this.settings.clock.now();
    // The handler did not read the whole body: discard the rest so the next request can be parsed.
    if (!res.req.complete && !res.req.destroyed) res.req.resume();
    if (res.closesConnection) {
      this.stopParsing = true;
      for (const r of this.queue.splice(0)) r.destroy();
      this.end();
      return;
    }
    // The queue has room again: parse the requests we were holding back.
    if (this.parser.isPaused && !this.stopParsing && this.queue.length < this.settings.maxPipelinedRequests) {
      this.parser.resume();
      if (!this.inExecute && this.pending !== undefined) {
        const p = this.pending;
        this.pending = undefined;
        this.feed(p);
      } else this.updateReading();
    }
    this.afterQueueChange();
  }

  private afterQueueChange(): void {
    if (this.closed || this.ending) return;
    const head = this.queue[0];
    if (head) {
      if (this.continueFor !== undefined && this.continueFor === head.req) {
        // Its turn, its body not begun: the 100 it waits for, before any of its own response.
        this.continueFor = undefined;
        this.transport.write(CONTINUE);
      }
      head.activate();
      return;
    }
    if (this.finalError !== undefined) {
      this.transport.write(this.finalError);
      this.finalError = undefined;
      this.end();
      return;
    }
    if ((this.stopParsing || this.peerEnded) && this.current === undefined) {
      this.end();
      return;
    }
    this.updateTimer();
  }

  /** Clean close: FIN after everything written, keep reading (and discarding) until the peer's FIN. */
  private end(): void {
    if (this.ending || this.closed) return;
    this.ending = true;
    this.stopParsing = true;
    this.pending = undefined;
    this.cancelTimer();
    // Once everything we wrote is flushed, give the peer a while to send its FIN, then give up.
    this.transport.end(() => {
      if (!this.closed) this.setTimer(this.settings.clock.now() + this.settings.closeLingerMs, () => this.transport.destroy());
    });
    if (!this.peerEnded) {
      this.readingPaused = false;
      this.transport.resume();
    }
  }

  /** @internal HttpTransportEvents: the transport is gone. */
  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelTimer();
    for (const r of this.queue.splice(0)) r.destroy();
    const cur = this.current;
    this.current = undefined;
    if (cur && !cur.complete) cur.destroy();
    this.host.onConnectionClosed(this);
  }

  // ---- timers ------------------------------------------------------------------------------

  /**
   * One timer per connection: the headers timeout while a request head is arriving (slowloris),
   * the request timeout while its body is (a client gone silent mid-body would otherwise hold the
   * connection forever), the keep-alive idle timeout while nothing is in flight; none while a
   * handler works on a complete request. This is when the one due now is, or undefined.
   */
  private dueAt(): number | undefined {
    if (this.ending || this.closed) return undefined;
    const s = this.settings;
    if (this.current !== undefined) return this.headStart + s.requestTimeoutMs;
    if (this.queue.length > 0) return undefined;
    if (this.parser.inHead) return this.headStart + s.headersTimeoutMs;
    return this.idleSince + s.keepAliveTimeoutMs;
  }

  /**
   * Armed lazily: a deadline that moves later (every keep-alive request moves the idle one) leaves
   * the clock's timer as it is; when that fires, onTimer() finds the deadline later and arms once
   * more. So a busy keep-alive connection arms about once per timeout, not twice per request.
   * Only a deadline earlier than the armed one re-arms now.
   */
  private updateTimer(): void {
    const at = this.dueAt();
    if (at === undefined) return; // an armed timer will find nothing due and lapse
    if (this.timer !== undefined && this.timerAt <= at) return;
    this.setTimer(at, this.onTimerFn);
  }

  private readonly onTimerFn = (): void => this.onTimer();

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = -1;
    const at = this.dueAt();
    if (at === undefined) return;
    if (at > this.settings.clock.now()) {
      this.setTimer(at, this.onTimerFn);
      return;
    }
    if (this.current !== undefined) this.onRequestTimeout();
    else if (this.parser.inHead) this.onHeadersTimeout();
    else this.onIdleTimeout();
  }

  private onHeadersTimeout(): void {
    // RFC 9110 §15.5.9: 408 when the server gives up waiting for a request.
    this.stopParsing = true;
    this.finalError = errorResponse(408, this.host.date());
    this.afterQueueChange();
  }

  private onRequestTimeout(): void {
    // RFC 9110 §15.5.9: 408 when the server gives up waiting for the rest of a request; handled as
    // a request cut short by a parse error (its response is dropped, or the connection closed if
    // that response had started).
    this.parseError(new HttpParseError('ERR_HTTP_REQUEST_TIMEOUT', 408, `request not complete within ${this.settings.requestTimeoutMs} ms`));
  }

  private onIdleTimeout(): void {
    // RFC 9112 §9.5: a server that times out an idle connection closes it gracefully.
    this.end();
  }

  private setTimer(at: number, fn: () => void): void {
    this.cancelTimer();
    this.timerAt = at;
    this.timer = this.settings.clock.setTimer(at, fn);
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = -1;
  }
}
