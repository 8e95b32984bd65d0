/**
 * The HTTP/1.1 server, in node:http habits, over any node:net-like transport: node's own `net`
 * (tests on 127.0.0.1) or our stack's TCP (`stack.tcp`). It sees sockets or TCP connections, never packets.
 *
 *   const server = createHttpServer(stack, {}, (req, res) => res.end('hello\n'));
 *   server.listen(80, () => console.log('ready'));
 *
 * On our stack (`stack.tcp`) the server takes the TCP connections themselves, with no Duplex in
 * between (tcp-transport.ts, the direct path; `directPath: false` keeps the sockets); req.socket is
 * then an object with the connection's addresses, ports and tcpInfo() (TcpPeer), not a stream.
 *
 * Events: 'connection' (socket), 'request' (req, res), 'clientError' (err, socket), 'close'.
 * Parse errors are answered here (a prebuilt response with the error's status, then a clean
 * close); 'clientError' is informational. Other connections are unaffected.
 */
import { EventEmitter } from 'node:events';
import { SystemClock, type Clock } from '../util/clock.ts';
import { HttpConnection, type ConnectionHost, type ConnectionSettings } from './connection.ts';
import type { IncomingRequest } from './incoming-request.ts';
import { DEFAULT_PARSER_LIMITS } from './parser.ts';
import type { ServerResponse } from './server-response.ts';
import { TcpTransport } from './tcp-transport.ts';
import { StreamTransport, type HttpTransport, type HttpTransportEvents, type PeerSocket } from './transport.ts';
import type { HasTcp, NetLike, ServerLike, SocketLike } from './types.ts';
import type { TcpConnection } from '../tcp/api.ts';
import { PackingSlab } from '../util/owned-bytes.ts';

export type RequestHandler = (req: IncomingRequest, res: ServerResponse) => void;

export interface HttpServerOptions {
  /** Idle time allowed between requests on a persistent connection (default 5000 ms). */
  keepAliveTimeoutMs?: number;
  /** Time allowed to receive a complete request head (default 10000 ms; slowloris). */
  headersTimeoutMs?: number;
  /** Time allowed to receive a whole request, body included (default 300000 ms, as node:http). */
  requestTimeoutMs?: number;
  /** Requests served on one connection before it is closed (default 100). */
  maxRequestsPerConnection?: number;
  /** Requests parsed ahead and queued; past it the socket is not read (default 32). */
  maxPipelinedRequests?: number;
  maxRequestLineBytes?: number;
  maxHeaderBytes?: number;
  maxHeaderCount?: number;
  /** After our FIN is flushed, how long to wait for the peer's before destroying (default 5000 ms). */
  closeLingerMs?: number;
  /** Bytes a not-yet-active pipelined response may hold in memory (default 64 KiB). */
  holdLimitBytes?: number;
  /** Timers (default SystemClock). */
  clock?: Clock;
  /** Wall-clock milliseconds for the Date header (default Date.now). */
  wallClock?: () => number;
  /**
   * On our stack, serve the TCP connections directly, without a TcpSocket each (default true).
   * Ignored on node:net, which has sockets only.
   */
  directPath?: boolean;
}

/** Events of a connection refused while the server closes. */
const IGNORE: HttpTransportEvents = { onData() {}, onEnd() {}, onClose() {} };

export class HttpServer extends EventEmitter implements ConnectionHost {
  readonly settings: ConnectionSettings;
  private readonly net: NetLike | undefined;
  private server: ServerLike | undefined;
  private readonly connections = new Set<HttpConnection>();
  /**
   * The request and the response handled last (the response holds its HttpConnection), kept and
   * never used again, so that the hidden classes of the per-connection objects, and the code
   * compiled for them, survive a full GC while no client is connected (as TcpLayer's
   * lastReleased; docs/architecture.md, "Compiled code across idle periods").
   */
  private lastExchange: [IncomingRequest, ServerResponse] | undefined;
  private readonly wallClock: () => number;
  private dateSecond = -1;
  private dateValue = '';
  private isClosing = false;
  private readonly directPath: boolean;
  /** Response heads and short bodies on the direct path, packed for all connections (owned-bytes.ts). */
  private readonly slab = new PackingSlab();

  constructor(net: NetLike | undefined, options: HttpServerOptions = {}) {
    super();
    this.net = net;
    this.wallClock = options.wallClock ?? (() => Date.now());
    this.directPath = options.directPath !== false;
    this.settings = {
      clock: options.clock ?? new SystemClock(),
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 5000,
      headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 300_000,
      maxRequestsPerConnection: options.maxRequestsPerConnection ?? 100,
      maxPipelinedRequests: options.maxPipelinedRequests ?? 32,
      maxRequestLineBytes: options.maxRequestLineBytes ?? DEFAULT_PARSER_LIMITS.maxRequestLineBytes,
      maxHeaderBytes: options.maxHeaderBytes ?? DEFAULT_PARSER_LIMITS.maxHeaderBytes,
      maxHeaderCount: options.maxHeaderCount ?? DEFAULT_PARSER_LIMITS.maxHeaderCount,
      maxChunkLineBytes: DEFAULT_PARSER_LIMITS.maxChunkLineBytes,
      closeLingerMs: options.closeLingerMs ?? 5000,
      holdLimitBytes: options.holdLimitBytes ?? 64 * 1024,
    };
  }

  get closing(): boolean {
    return this.isClosing;
  }

  /** Open connections right now. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** listen(port, cb) or listen(port, host, cb), passed through to the transport. */
  listen(port: number, hostOrCb?: string | (() => void), cb?: () => void): this {
    if (!this.net) throw new TypeError('this HttpServer has no transport; use handleConnection()');
    const net = this.net;
    // allowHalfOpen: our side stays open after the peer's FIN, to answer the requests before it.
    const server =
      this.directPath && net.createConnectionServer !== undefined
        ? net.createConnectionServer((conn) => this.handleTcpConnection(conn))
        : net.createServer({ allowHalfOpen: true }, (socket) => this.handleConnection(socket));
    this.server = server;
    server.on?.('error', (err: Error) => this.emit('error', err));
    if (typeof hostOrCb === 'string') server.listen(port, hostOrCb, cb);
    else server.listen(port, hostOrCb);
    return this;
  }

  /** The transport's address() (for ephemeral ports in tests). */
  address(): unknown {
    return this.server?.address?.();
  }

  /** Serve HTTP on an already connected socket (any Duplex: in-memory pairs in tests). */
  handleConnection(socket: SocketLike): void {
    this.serve(new StreamTransport(socket));
  }

  /** Serve HTTP on one of our stack's TCP connections, directly (tcp-transport.ts). */
  handleTcpConnection(conn: TcpConnection): void {
    this.serve(new TcpTransport(conn, this.slab));
  }

  private serve(transport: HttpTransport): void {
    if (this.isClosing) {
      transport.start(IGNORE);
      transport.destroy();
      return;
    }
    const conn = new HttpConnection(transport, this);
    this.connections.add(conn);
    this.emit('connection', transport.peer);
  }

  /**
   * Stop accepting; close idle connections now and busy ones after their current response.
   * `cb` runs once the listener is closed and every connection is gone.
   */
  close(cb?: (err?: Error) => void): this {
    this.isClosing = true;
    let listenerClosed = this.server === undefined;
    const maybeDone = (): void => {
      if (!listenerClosed || this.connections.size > 0) return;
      this.off('connectionClosed', maybeDone);
      this.emit('close');
      cb?.();
    };
    this.on('connectionClosed', maybeDone);
    this.server?.close(() => {
      listenerClosed = true;
      maybeDone();
    });
    for (const c of this.connections) c.shutdown();
    maybeDone();
    return this;
  }

  /** Destroy every connection at once (RST where the transport does that). */
  closeAllConnections(): void {
    for (const c of this.connections) c.destroy();
  }

  /** Close connections with nothing in flight. */
  closeIdleConnections(): void {
    for (const c of this.connections) if (c.isIdle) c.shutdown();
  }

  /** RFC 9110 §6.6.1 Date, in IMF-fixdate, formatted at most once per second. */
  date(): string {
    const now = this.wallClock();
    const sec = Math.floor(now / 1000);
    if (sec !== this.dateSecond) {
      this.dateSecond = sec;
      this.dateValue = new Date(sec * 1000).toUTCString();
    }
    return this.dateValue;
  }

  onRequest(req: IncomingRequest, res: ServerResponse): void {
    this.lastExchange = [req, res];
    if (this.listenerCount('request') === 0) {
      res.statusCode = 404;
      res.end();
      return;
    }
    this.emit('request', req, res);
  }

  onClientError(err: Error, socket: PeerSocket): void {
    this.emit('clientError', err, socket);
  }

  onConnectionClosed(conn: HttpConnection): void {
    this.connections.delete(conn);
    this.emit('connectionClosed');
  }
}

function isNetLike(x: unknown): x is NetLike {
  return typeof x === 'object' && x !== null && typeof (x as NetLike).createServer === 'function';
}

/**
 * createHttpServer(net | stack, options?, handler?). `netOrStack` is node:net, our TcpNet, or an
 * object carrying one as `.tcp` (the stack); undefined for a server fed only via handleConnection().
 */
export function createHttpServer(
  netOrStack: NetLike | HasTcp | undefined,
  optionsOrHandler?: HttpServerOptions | RequestHandler,
  handler?: RequestHandler,
): HttpServer {
  let options: HttpServerOptions = {};
  if (typeof optionsOrHandler === 'function') handler = optionsOrHandler;
  else if (optionsOrHandler) options = optionsOrHandler;
  let net: NetLike | undefined;
  if (netOrStack !== undefined) {
    if (isNetLike(netOrStack)) net = netOrStack;
    else if (isNetLike((netOrStack as HasTcp).tcp)) net = (netOrStack as HasTcp).tcp;
    else throw new TypeError('createHttpServer: expected node:net, a TcpNet, or an object with .tcp');
  }
  const server = new HttpServer(net, options);
  if (handler) server.on('request', handler);
  return server;
}

export { IncomingRequest } from './incoming-request.ts';
export { ServerResponse } from './server-response.ts';
export { HttpParseError } from './parser.ts';
export type { NetLike, SocketLike, ServerLike, HasTcp } from './types.ts';
export type { PeerSocket } from './transport.ts';
export { TcpPeer } from './tcp-transport.ts';
