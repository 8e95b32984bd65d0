/**
 * A listening socket with net.Server habits: listen(port[, host][, backlog][, cb]) / listen({ port, backlog }, cb),
 * 'listening', 'connection' (a TcpSocket), 'error' (EADDRINUSE), close(cb) that stops accepting at once
 * and emits 'close' only when the last accepted connection has closed, getConnections(cb),
 * maxConnections (extra connections are closed on arrival, and 'drop' is emitted, as in Node 20).
 *
 * The handshake belongs to the TCP layer (RFC 9293 §3.10.1 passive OPEN); this class only receives
 * connections that already completed it. It takes them off the layer's accept queue at once, as libuv
 * does for Node, so the backlog (validated as Node does and passed on) never fills; with
 * `holdAccepted`, each stays queued until `accepted()`, and the backlog bounds them as on Linux (see
 * tcp/listener.ts).
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../util/clock.ts';
import { SocketError, TunstackError } from '../util/errors.ts';
import type { ConnectionOptions, TcpConnection, TcpEndpointApi, TcpListenerHandle } from '../tcp/api.ts';
import { TcpSocket, checkIpv4, connectionOptions, guarded, readBufferFor, validatePort } from './tcp-socket.ts';

/** TCP_MAXSEG, SO_SNDBUF, SO_RCVBUF for every accepted connection (tcp/api.ts ConnectionOptions). */
export interface TcpServerOptions extends ConnectionOptions {
  /** Accepted sockets keep their sending side open after the peer's FIN (default false). */
  allowHalfOpen?: boolean;
  /** Accepted sockets read nothing until resume() (default false). */
  pauseOnConnect?: boolean;
  /** Disable Nagle on accepted sockets (RFC 1122 §4.2.3.4). */
  noDelay?: boolean;
  /** Keep-alive probes on accepted sockets (RFC 1122 §4.2.3.6). */
  keepAlive?: boolean;
  /** Idle time before the first keep-alive probe, ms (0: the stack's default). */
  keepAliveInitialDelay?: number;
  /**
   * Not in node:net: each connection emitted stays in the accept queue until `accepted()` (for a
   * program that models accept(2), like the drill), so the backlog bounds them. Default false.
   */
  holdAccepted?: boolean;
}

export interface TcpListenOptions {
  port?: number;
  /** Our own address or '0.0.0.0' (the stack has one address). */
  host?: string;
  backlog?: number;
}

/** Node's default backlog for listen(). */
const DEFAULT_BACKLOG = 511;

export class TcpServer extends EventEmitter {
  /** Connections beyond this many are closed as they arrive (undefined: no limit). */
  maxConnections: number | undefined;

  private readonly api: TcpEndpointApi;
  private readonly options: TcpServerOptions;
  private readonly clock: Clock | undefined;
  private readonly localAddress: string;
  private boundHost: string;
  private handle: TcpListenerHandle | undefined;
  private readonly sockets = new Set<TcpSocket>();
  /** createConnectionServer: accepted connections go to this owner bare, with no TcpSocket. */
  private readonly onConnectionBare: ((conn: TcpConnection) => void) | undefined;

  constructor(
    api: TcpEndpointApi,
    options: TcpServerOptions = {},
    onConnection?: (socket: TcpSocket) => void,
    env: { clock?: Clock; localAddress?: string; onConnectionBare?: (conn: TcpConnection) => void } = {},
  ) {
    super();
    this.onConnectionBare = env.onConnectionBare;
    this.api = api;
    this.options = { ...options };
    this.clock = env.clock;
    this.localAddress = env.localAddress ?? '0.0.0.0';
    this.boundHost = this.localAddress;
    if (onConnection) this.on('connection', onConnection);
  }

  get listening(): boolean {
    return this.handle !== undefined;
  }

  listen(port?: number, backlog?: number, cb?: () => void): this;
  listen(port: number, host: string, backlog?: number, cb?: () => void): this;
  listen(port: number, host: string, cb?: () => void): this;
  listen(port: number, cb?: () => void): this;
  listen(options: TcpListenOptions, cb?: () => void): this;
  listen(cb?: () => void): this;
  listen(...args: unknown[]): this {
    // Node's forms: listen(port[, host][, backlog][, cb]) and listen({ port, host, backlog }[, cb]).
    let port: unknown = 0;
    let host: unknown;
    let backlog: unknown = DEFAULT_BACKLOG;
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    const [first, ...rest] = args;
    if (first !== null && typeof first === 'object') {
      const o = first as TcpListenOptions;
      if (o.port !== undefined) port = o.port;
      if (o.host !== undefined) host = o.host;
      if (o.backlog !== undefined) backlog = o.backlog;
    } else {
      if (first !== undefined) port = first;
      if (typeof rest[0] === 'string') host = rest.shift();
      if (rest[0] !== undefined) backlog = rest[0];
    }
    const p = validatePort(port, 'options.port');
    if (typeof backlog !== 'number' || !Number.isInteger(backlog) || backlog < 0) {
      throw new TypeError(`backlog must be a non-negative integer, got ${String(backlog)}`);
    }
    const boundHost = host === undefined ? undefined : checkIpv4(host);
    if (this.handle) {
      throw new TunstackError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    }
    if (cb) this.once('listening', cb);
    if (boundHost !== undefined && boundHost !== '0.0.0.0' && this.localAddress !== '0.0.0.0' && boundHost !== this.localAddress) {
      const err = new SocketError('EADDRNOTAVAIL', `listen EADDRNOTAVAIL: ${boundHost} is not this stack's address`, 'listen');
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    this.boundHost = boundHost ?? this.localAddress;
    try {
      this.handle = this.api.listen(p, backlog, (conn) => guarded(() => this.onAccept(conn)), connectionOptions(this.options));
      if (this.options.holdAccepted === true) this.handle.holdAccepted();
    } catch (err) {
      // Node reports listen errors (EADDRINUSE, ...) asynchronously, as 'error'.
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    process.nextTick(() => {
      if (this.handle) this.emit('listening');
    });
    return this;
  }

  private onAccept(conn: TcpConnection): void {
    const o = this.options;
    if (this.onConnectionBare !== undefined) {
      // The owner (the HTTP server's direct path) owns the connection: no socket, not counted here.
      if (o.noDelay) conn.setNoDelay(true);
      if (o.keepAlive) conn.setKeepAlive(true, o.keepAliveInitialDelay ? o.keepAliveInitialDelay : undefined);
      this.onConnectionBare(conn);
      return;
    }
    const socket = new TcpSocket(conn, {
      allowHalfOpen: o.allowHalfOpen === true,
      pauseOnConnect: o.pauseOnConnect === true,
      ...(this.clock ? { clock: this.clock } : {}),
      ...readBufferFor(o),
    });
    if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
      // Node closes the new handle (a FIN, or a RST if it already sent data) and emits 'drop'.
      this.emit('drop', {
        localAddress: conn.localAddress,
        localPort: conn.localPort,
        localFamily: 'IPv4',
        remoteAddress: conn.remoteAddress,
        remotePort: conn.remotePort,
        remoteFamily: 'IPv4',
      });
      socket.destroy();
      this.handle?.accepted(); // never reaches the program: not left in the accept queue
      return;
    }
    if (o.noDelay) socket.setNoDelay(true);
    if (o.keepAlive) socket.setKeepAlive(true, o.keepAliveInitialDelay ?? 0);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.emitCloseIfDrained();
    });
    this.emit('connection', socket);
  }

  /**
   * Stop accepting (connections waiting in the accept queue are reset by the TCP layer); 'close'
   * follows once every accepted connection has closed. `cb` gets ERR_SERVER_NOT_RUNNING if the
   * server was not listening, as in Node.
   */
  close(cb?: (err?: Error) => void): this {
    if (cb) {
      if (!this.handle) {
        this.once('close', () => cb(new TunstackError('ERR_SERVER_NOT_RUNNING', 'Server is not running.')));
      } else {
        this.once('close', () => cb());
      }
    }
    if (this.handle) {
      this.handle.close();
      this.handle = undefined;
    }
    this.emitCloseIfDrained();
    return this;
  }

  private emitCloseIfDrained(): void {
    if (this.handle || this.sockets.size > 0) return;
    process.nextTick(() => this.emit('close'));
  }

  address(): { address: string; family: 'IPv4'; port: number } | null {
    if (!this.handle) return null;
    return { address: this.boundHost, family: 'IPv4', port: this.handle.port };
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.sockets.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  /** With `holdAccepted`: the program took one emitted connection off the accept queue (accept(2)). */
  accepted(): void {
    this.handle?.accepted();
  }

  /** No-ops kept for net.Server compatibility: the stack, not a server, holds the event loop. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}
