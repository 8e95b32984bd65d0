/**
 * A received request, in node:http habits: the head as fields, the body as a Readable.
 * The connection pushes body pieces in; when the consumer stops reading (push() returns false),
 * the connection stops reading the socket, so a slow handler slows the client down through TCP's
 * window instead of filling our memory.
 */
import { Readable } from 'node:stream';
import type { RequestHead } from './parser.ts';
import type { PeerSocket } from './transport.ts';

/** The stream options, one object for every request. */
const READABLE_OPTIONS = Object.freeze({ highWaterMark: 64 * 1024 });

export class IncomingRequest extends Readable {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  /** Lowercased names, repeated fields combined (RFC 9110 §5.3). */
  readonly headers: Record<string, string>;
  /** As received: [name0, value0, name1, value1, ...]. */
  readonly rawHeaders: string[];
  trailers: Record<string, string> = {};
  rawTrailers: string[] = [];
  readonly socket: PeerSocket;
  /** 1 for the first request on its connection, 2 for the next, ... */
  readonly requestNumber: number;
  /** True once the whole body has been received. */
  complete = false;
  /** @internal what the parser decided (persistence, framing); the server reads it. */
  readonly head: RequestHead;
  /** @internal the connection waits for this buffer to be emptied (see read()). */
  signalDrain = false;
  private readonly onRead: () => void;

  constructor(head: RequestHead, socket: PeerSocket, requestNumber: number, onRead: () => void) {
    super(READABLE_OPTIONS);
    this.head = head;
    this.method = head.method;
    this.url = head.url;
    this.httpVersion = head.httpVersion;
    this.httpVersionMajor = head.versionMajor;
    this.httpVersionMinor = head.versionMinor;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
    this.socket = socket;
    this.requestNumber = requestNumber;
    this.onRead = onRead;
  }

  /** The consumer wants more: let the connection resume reading the socket if it had paused. */
  override _read(): void {
    this.onRead();
  }

  /**
   * The stream calls _read() only while it has asked for nothing yet; a connection that paused for
   * a buffer crowded with small pieces is told when the reader has emptied it (on the next tick).
   */
  override read(size?: number): any {
    const r: unknown = super.read(size);
    if (this.signalDrain && this.readableLength === 0) {
      this.signalDrain = false;
      process.nextTick(this.onRead);
    }
    return r;
  }
}
