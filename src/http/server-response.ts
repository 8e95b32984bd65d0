/**
 * A response, in node:http habits (statusCode, setHeader, writeHead, write, end, 'finish', 'close'),
 * built on a Writable so that backpressure works the usual way: write() returns false past the
 * high-water mark and 'drain' follows.
 *
 * Ordering for pipelining (RFC 9112 §9.3.2): a connection has one *active* response, the oldest
 * unfinished one. The active response writes straight to the socket (waiting for the socket's
 * 'drain' when it is full). A later response that is written early is *held*: its bytes wait in
 * memory up to `holdLimit`, after which its writes stop completing (so its write() returns false
 * and its producer waits) until its turn comes.
 */
import { Writable } from 'node:stream';
import { TunstackError } from '../util/errors.ts';
import type { IncomingRequest } from './incoming-request.ts';
import { isToken } from './parser.ts';
import { reasonPhrase, statusHasNoBody } from './status-codes.ts';
import type { PeerSocket } from './transport.ts';

/** What a response needs from its connection. */
export interface ResponseOwner {
  /** res.socket: the connection's socket (node:net), or the direct path's endpoints object. */
  readonly socket: PeerSocket;
  /** Hand pieces to the transport as one write; false: wait for whenDrained(). */
  send(parts: readonly (string | Buffer)[]): boolean;
  whenDrained(cb: () => void): void;
  /** The cached Date header value (RFC 9110 §6.6.1). */
  date(): string;
  /** Keep-Alive header value for a persistent response, e.g. "timeout=5, max=99". */
  keepAliveValue(req: IncomingRequest): string;
  /** The response's last byte has been handed to the socket. */
  responseDone(res: ServerResponse): void;
}

type HeaderValue = string | number | readonly string[];

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
const SERVER_LINE = `Server: tunstack${CRLF}`;
const CHUNKED_LINE = `Transfer-Encoding: chunked${CRLF}`;
const CLOSE_LINE = `Connection: close${CRLF}`;
const KEEP_ALIVE_LINE = `Connection: keep-alive${CRLF}`;

/** No CR, LF or NUL in a field value: that would split the response (RFC 9110 §5.5). */
function checkValue(name: string, v: string): void {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 13 || c === 10 || c === 0 || c > 0xff) {
      throw new TunstackError('ERR_HTTP_INVALID_HEADER_VALUE', `invalid character in header ${name}`);
    }
  }
}

/**
 * A head's pieces, collected in one reused array and joined once into one flat string. Built with
 * `+=`, every piece made a string of its own, and writing the chain into the transport's buffer
 * flattened it into one more copy (about 880 bytes a response, scripts/bench/keepalive.ts --alloc).
 */
class HeadBuilder {
  private readonly parts: string[] = [];
  private n = 0;
  start(): void {
    this.n = 0;
  }
  raw(text: string): void {
    this.parts[this.n++] = text;
  }
  /** A field line: name ": " value CRLF (RFC 9112 §5). */
  line(name: string, value: string): void {
    const p = this.parts;
    p[this.n++] = name;
    p[this.n++] = ': ';
    p[this.n++] = value;
    p[this.n++] = CRLF;
  }
  text(): string {
    const p = this.parts;
    if (p.length > this.n) p.length = this.n;
    return p.join('');
  }
}
const HEAD = new HeadBuilder();

/** The stream options, one object for every response. */
const WRITABLE_OPTIONS = Object.freeze({ highWaterMark: 64 * 1024, decodeStrings: true });

export class ServerResponse extends Writable {
  statusCode = 200;
  statusMessage: string | undefined;
  /** Send a Date header (RFC 9110 §6.6.1: an origin server with a clock MUST). */
  sendDate = true;
  readonly req: IncomingRequest;
  readonly socket: PeerSocket;
  /** True once the head is decided (writeHead, or the first write/end). */
  headersSent = false;
  /** @internal the connection closes after this response. */
  closesConnection: boolean;
  private readonly owner: ResponseOwner;
  private readonly holdLimit: number;
  private readonly fields = new Map<string, { lower: string; name: string; value: HeaderValue }>();
  private head: string | undefined;
  private framing: 'length' | 'chunked' | 'close' | 'none' = 'none';
  private suppressBody = false;
  private contentLength = 0;
  private bodyBytes = 0;
  private active = false;
  private held: (string | Buffer)[] = [];
  private heldBytes = 0;
  private heldCb: ((err?: Error | null) => void) | undefined;
  private finalCb: ((err?: Error | null) => void) | undefined;
  private done = false;
  /** end() sent the last bytes itself and the transport said to wait: finish after its drain. */
  private finishAfterDrain = false;

  constructor(req: IncomingRequest, owner: ResponseOwner, mustClose: boolean, holdLimit = 64 * 1024) {
    super(WRITABLE_OPTIONS);
    this.req = req;
    this.owner = owner;
    this.socket = owner.socket;
    this.closesConnection = mustClose;
    this.holdLimit = holdLimit;
  }

  setHeader(name: string, value: HeaderValue): this {
    if (this.headersSent) throw new TunstackError('ERR_HTTP_HEADERS_SENT', 'cannot set headers after they are sent');
    if (!isToken(name)) throw new TunstackError('ERR_INVALID_HTTP_TOKEN', `invalid header name ${JSON.stringify(name)}`);
    if (Array.isArray(value)) for (const v of value as readonly string[]) checkValue(name, String(v));
    else checkValue(name, String(value));
    const lower = name.toLowerCase();
    this.fields.set(lower, { lower, name, value });
    return this;
  }

  getHeader(name: string): HeaderValue | undefined {
    return this.fields.get(name.toLowerCase())?.value;
  }

  hasHeader(name: string): boolean {
    return this.fields.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    if (this.headersSent) throw new TunstackError('ERR_HTTP_HEADERS_SENT', 'cannot remove headers after they are sent');
    this.fields.delete(name.toLowerCase());
  }

  getHeaderNames(): string[] {
    return [...this.fields.keys()];
  }

  getHeaders(): Record<string, HeaderValue> {
    const out: Record<string, HeaderValue> = {};
    for (const [k, v] of this.fields) out[k] = v.value;
    return out;
  }

  writeHead(status: number, reasonOrHeaders?: string | Record<string, HeaderValue>, headers?: Record<string, HeaderValue>): this {
    if (this.headersSent) throw new TunstackError('ERR_HTTP_HEADERS_SENT', 'writeHead called twice');
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw new TunstackError('ERR_HTTP_INVALID_STATUS_CODE', `invalid status code ${status}`);
    }
    this.statusCode = status;
    let h = headers;
    if (typeof reasonOrHeaders === 'string') this.statusMessage = reasonOrHeaders;
    else h = reasonOrHeaders;
    if (h) for (const k of Object.keys(h)) this.setHeader(k, h[k]!);
    this.buildHead(undefined);
    return this;
  }

  override write(chunk: any, encoding?: any, cb?: any): boolean {
    if (!this.headersSent) this.buildHead(undefined);
    return super.write(chunk, encoding, cb);
  }

  override end(chunk?: any, encoding?: any, cb?: any): this {
    if (typeof chunk === 'function') {
      cb = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (!this.headersSent) {
      // The whole body is known now: announce its length (RFC 9110 §8.6). Not for a HEAD ended
      // without a body, though: the length GET would have is unknown here, and Content-Length: 0
      // would claim it is empty (RFC 9110 §8.6, §9.3.2); say nothing, as node:http does.
      const bare = chunk === undefined || chunk === null;
      const len = bare ? 0 : typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : chunk.length;
      this.buildHead(len, bare && this.req.method === 'HEAD');
    }
    if (chunk === undefined || chunk === null) super.end(cb);
    else if (this.active && this.writableLength === 0 && this.writableCorked === 0 && !this.writableEnded && !this.destroyed) {
      // The last bytes, with nothing queued before them (a whole response in one end(), the usual
      // case): framed and handed to the connection now, the same bytes in the same order as through
      // _write, without a trip through the stream's write queue; the stream then ends empty. If the
      // transport is full, the response finishes (and the next one starts) once it has drained.
      const buf: Buffer = typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : chunk;
      if (!this.send(this.frame([buf]))) this.finishAfterDrain = true;
      super.end(cb);
    } else super.end(chunk, encoding, cb);
    return this;
  }

  /**
   * Decide framing and persistence, and serialize the head, once (RFC 9112 §4, §6.3, §9.3).
   * `knownLength`: the body's length when end() knows it, undefined while it is being streamed;
   * `headUnframed`: a HEAD ended with no body, which announces no framing of its own.
   */
  private buildHead(knownLength: number | undefined, headUnframed = false): void {
    this.headersSent = true;
    const req = this.req;
    const status = this.statusCode;
    const noBody = statusHasNoBody(status);
    // RFC 9110 §9.3.2: HEAD gets the headers GET would, without content.
    this.suppressBody = noBody || req.method === 'HEAD';
    const h = HEAD;
    h.start();
    h.raw(`HTTP/1.1 ${status} ${this.statusMessage ?? reasonPhrase(status)}${CRLF}`);
    const te = this.fields.get('transfer-encoding');
    // The handler asked for chunked: honour it where it may be sent (RFC 9112 §6.1: never to an
    // HTTP/1.0 recipient; RFC 9110 §6.4.1: no content, so no framing, in 1xx/204/304).
    const userChunked =
      te !== undefined && String(te.value).toLowerCase().includes('chunked') && req.httpVersionMinor === 1 && !noBody;
    let userLength: string | undefined;
    let userConnection: string | undefined;
    for (const { lower, name, value } of this.fields.values()) {
      if (lower === 'content-length') {
        // RFC 9112 §6.2: a sender MUST NOT send Content-Length in a message with Transfer-Encoding.
        if (userChunked) continue;
        userLength = String(value);
      } else if (lower === 'transfer-encoding') {
        if (!userChunked) continue;
      } else if (lower === 'connection') userConnection = String(value).toLowerCase();
      if (Array.isArray(value)) for (const v of value as readonly string[]) h.line(name, String(v));
      else h.line(name, String(value));
    }
    if (this.sendDate && !this.fields.has('date')) h.line('Date', this.owner.date());
    if (!this.fields.has('server')) h.raw(SERVER_LINE);

    if (noBody) {
      this.framing = 'none';
    } else if (userChunked) {
      // RFC 9112 §6.3 rule 3: Transfer-Encoding overrides any length, known or announced.
      this.framing = 'chunked';
    } else if (userLength !== undefined) {
      this.framing = 'length';
      this.contentLength = Number(userLength);
    } else if (headUnframed) {
      this.framing = 'none';
    } else if (knownLength !== undefined) {
      this.framing = 'length';
      this.contentLength = knownLength;
      h.line('Content-Length', String(knownLength));
    } else if (req.httpVersionMinor === 1) {
      // RFC 9112 §7: chunked when the length is not known in advance.
      this.framing = 'chunked';
      h.raw(CHUNKED_LINE);
    } else {
      // RFC 9112 §6.1: no Transfer-Encoding to an HTTP/1.0 client; the close delimits the body (§6.3 rule 8).
      this.framing = 'close';
      this.closesConnection = true;
    }
    if (userConnection !== undefined && userConnection.includes('close')) this.closesConnection = true;
    if (userConnection === undefined) {
      if (this.closesConnection) {
        // RFC 9112 §9.6: a server that is going to close SHOULD say so.
        h.raw(CLOSE_LINE);
      } else {
        // RFC 9112 §9.3 / Appendix C.2.2: HTTP/1.0 persistence needs an explicit keep-alive;
        // Keep-Alive (timeout, max) tells the client how long and how many more.
        h.raw(KEEP_ALIVE_LINE);
        h.line('Keep-Alive', this.owner.keepAliveValue(req));
      }
    }
    h.raw(CRLF);
    this.head = h.text();
  }

  /** Frame body bytes for the wire; returns the pieces (head first if not yet out). */
  private frame(chunks: Buffer[]): (string | Buffer)[] {
    const out: (string | Buffer)[] = [];
    if (this.head !== undefined) {
      out.push(this.head);
      this.head = undefined;
    }
    if (this.suppressBody) return out;
    for (let c of chunks) {
      if (c.length === 0) continue;
      if (this.framing === 'length') {
        const room = this.contentLength - this.bodyBytes;
        if (c.length > room) {
          // More than announced: never let it reach the wire as a second message; close after.
          this.closesConnection = true;
          c = c.subarray(0, Math.max(0, room));
          if (c.length === 0) continue;
        }
        this.bodyBytes += c.length;
        out.push(c);
      } else if (this.framing === 'chunked') {
        this.bodyBytes += c.length;
        // RFC 9112 §7.1: chunk-size (hex) CRLF chunk-data CRLF
        out.push(`${c.length.toString(16)}${CRLF}`, c, CRLF);
      } else if (this.framing === 'close') {
        this.bodyBytes += c.length;
        out.push(c);
      }
    }
    return out;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.output(this.frame([chunk]), cb);
  }

  override _writev(chunks: { chunk: any; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void {
    this.output(this.frame(chunks.map((c) => c.chunk as Buffer)), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    const out = this.frame([]);
    if (!this.suppressBody) {
      if (this.framing === 'chunked') out.push(LAST_CHUNK);
      // Fewer bytes than announced: the client would wait forever for the rest; close instead.
      else if (this.framing === 'length' && this.bodyBytes < this.contentLength) this.closesConnection = true;
    }
    if (this.framing === 'close') this.closesConnection = true;
    if (!this.active) {
      this.hold(out);
      this.finalCb = cb;
      return;
    }
    this.send(out);
    if (this.finishAfterDrain) this.owner.whenDrained(() => this.finish(cb));
    else this.finish(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.held = [];
    this.heldBytes = 0;
    cb(err);
  }

  /** @internal The connection makes this the response on the wire: flush what was held. */
  activate(): void {
    if (this.active || this.destroyed) return;
    this.active = true;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    const ok = held.length > 0 ? this.send(held) : true;
    const heldCb = this.heldCb;
    this.heldCb = undefined;
    if (heldCb) {
      if (ok) heldCb();
      else this.owner.whenDrained(heldCb);
    }
    const finalCb = this.finalCb;
    this.finalCb = undefined;
    if (finalCb) this.finish(finalCb);
  }

  /** @internal Some of this response (its head at least) has been handed to the socket. */
  get onWire(): boolean {
    return this.active && this.headersSent && this.head === undefined;
  }

  /** @internal Bytes of this response written so far, body only. */
  get bodyBytesWritten(): number {
    return this.bodyBytes;
  }

  private finish(cb: (err?: Error | null) => void): void {
    if (this.done) return;
    this.done = true;
    this.owner.responseDone(this);
    cb();
  }

  private output(parts: (string | Buffer)[], cb: (err?: Error | null) => void): void {
    if (!this.active) {
      this.hold(parts);
      if (this.heldBytes < this.holdLimit) cb();
      else this.heldCb = cb;
      return;
    }
    if (parts.length === 0 || this.send(parts)) cb();
    else this.owner.whenDrained(cb);
  }

  private hold(parts: (string | Buffer)[]): void {
    for (const p of parts) {
      this.held.push(p);
      this.heldBytes += p.length;
    }
  }

  /** A head and its body leave together (transport.ts: corked, or packed into one chunk). */
  private send(parts: (string | Buffer)[]): boolean {
    return this.owner.send(parts);
  }
}
