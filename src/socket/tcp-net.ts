/**
 * `stack.tcp`: the node:net module's shape (createServer, connect/createConnection) over one stack's
 * TCP layer. Code written for node:net should mostly just work:
 *
 *   const server = stack.tcp.createServer((socket) => socket.pipe(socket)).listen(7);
 *   const socket = stack.tcp.connect({ host: '10.77.0.1', port: 8080 }, () => socket.end('hi'));
 *
 * Differences from node:net: IPv4 addresses only (no DNS, no IPv6, no loopback: `host` must be a
 * dotted quad, and is required), and port 0 is refused as a destination.
 */
import type { Clock } from '../util/clock.ts';
import type { SocketError } from '../util/errors.ts';
import { blankTcpInfo, type ConnectionEvents, type ConnectionOptions, type TcpConnection, type TcpEndpointApi, type TcpInfo } from '../tcp/api.ts';
import { TcpSocket, checkIpv4, connectionOptions, readBufferFor, validatePort } from './tcp-socket.ts';
import { TcpServer, type TcpServerOptions } from './tcp-server.ts';

export interface TcpNetOptions {
  /** Clock for socket idle timers (default SystemClock); pass the stack's clock. */
  clock?: Clock;
  /** Our address, reported by server.address() (default '0.0.0.0'). */
  localAddress?: string;
  /** Defaults for every socket (connect options and server options override them). */
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  allowHalfOpen?: boolean;
}

/** maxSegment (TCP_MAXSEG), sendBufferSize (SO_SNDBUF), receiveBufferSize (SO_RCVBUF): see tcp/api.ts. */
export interface TcpConnectOptions extends ConnectionOptions {
  host: string;
  port: number;
  localPort?: number;
  /** Idle timeout in ms (socket.setTimeout): emits 'timeout', closes nothing. */
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  allowHalfOpen?: boolean;
}

export class TcpNet {
  private readonly api: TcpEndpointApi;
  private readonly defaults: TcpNetOptions;

  constructor(api: TcpEndpointApi, defaults: TcpNetOptions = {}) {
    this.api = api;
    this.defaults = { ...defaults };
  }

  createServer(onConnection?: (socket: TcpSocket) => void): TcpServer;
  createServer(options: TcpServerOptions, onConnection?: (socket: TcpSocket) => void): TcpServer;
  createServer(
    optionsOrListener?: TcpServerOptions | ((socket: TcpSocket) => void),
    onConnection?: (socket: TcpSocket) => void,
  ): TcpServer {
    const options = typeof optionsOrListener === 'object' && optionsOrListener !== null ? optionsOrListener : {};
    const listener = typeof optionsOrListener === 'function' ? optionsOrListener : onConnection;
    const d = this.defaults;
    const merged: TcpServerOptions = {
      allowHalfOpen: options.allowHalfOpen ?? d.allowHalfOpen ?? false,
      pauseOnConnect: options.pauseOnConnect ?? false,
      ...this.acceptedOptions(options),
    };
    return new TcpServer(this.api, merged, listener, this.serverDeps());
  }

  /** What every accepted connection gets: the stack's defaults under the server's own options. */
  private acceptedOptions(options: TcpServerOptions): TcpServerOptions {
    const d = this.defaults;
    return {
      noDelay: options.noDelay ?? d.noDelay ?? false,
      keepAlive: options.keepAlive ?? d.keepAlive ?? false,
      keepAliveInitialDelay: options.keepAliveInitialDelay ?? d.keepAliveInitialDelay ?? 0,
      ...connectionOptions(options),
    };
  }

  private serverDeps(): { clock?: Clock; localAddress?: string } {
    const d = this.defaults;
    return { ...(d.clock ? { clock: d.clock } : {}), ...(d.localAddress ? { localAddress: d.localAddress } : {}) };
  }

  /**
   * Not in node:net: a server whose accepted connections are handed over as they are (tcp/api.ts
   * TcpConnection), with no TcpSocket around them, for an owner that reads and writes the connection
   * itself (the HTTP server's direct path, http/tcp-transport.ts). The stack's defaults (noDelay,
   * keepAlive) apply; maxConnections and getConnections() do not see these connections.
   */
  createConnectionServer(onConnection: (conn: TcpConnection) => void, options: TcpServerOptions = {}): TcpServer {
    return new TcpServer(this.api, this.acceptedOptions(options), undefined, { ...this.serverDeps(), onConnectionBare: onConnection });
  }

  connect(options: TcpConnectOptions, onConnect?: () => void): TcpSocket;
  connect(port: number, host: string, onConnect?: () => void): TcpSocket;
  connect(
    portOrOptions: number | TcpConnectOptions,
    hostOrCb?: string | (() => void),
    cb?: () => void,
  ): TcpSocket {
    let options: TcpConnectOptions;
    let onConnect: (() => void) | undefined;
    if (typeof portOrOptions === 'object' && portOrOptions !== null) {
      options = portOrOptions;
      onConnect = typeof hostOrCb === 'function' ? hostOrCb : cb;
    } else {
      options = { port: portOrOptions, host: typeof hostOrCb === 'string' ? hostOrCb : (undefined as unknown as string) };
      onConnect = typeof hostOrCb === 'function' ? hostOrCb : cb;
    }

    // Argument errors are thrown synchronously, like net.connect's validation.
    const port = validatePort(options.port, 'Port', false);
    const host = checkIpv4(options.host);
    const localPort = options.localPort === undefined ? undefined : validatePort(options.localPort, 'options.localPort');
    const connOptions = connectionOptions(options);

    let conn: TcpConnection;
    try {
      conn = this.api.connect(host, port, localPort, connOptions);
    } catch (err) {
      // e.g. EADDRINUSE for a taken localPort: reported as 'error' then 'close', like Node.
      conn = new FailedConnection(err as SocketError, host, port, localPort ?? 0);
    }
    const d = this.defaults;
    const socket = new TcpSocket(conn, {
      connecting: true,
      allowHalfOpen: options.allowHalfOpen ?? d.allowHalfOpen ?? false,
      ...(d.clock ? { clock: d.clock } : {}),
      ...readBufferFor(connOptions),
    });
    if (options.noDelay ?? d.noDelay) socket.setNoDelay(true);
    if (options.keepAlive ?? d.keepAlive) {
      socket.setKeepAlive(true, options.keepAliveInitialDelay ?? d.keepAliveInitialDelay ?? 0);
    }
    if (options.timeout !== undefined) socket.setTimeout(options.timeout);
    if (onConnect) socket.once('connect', onConnect);
    return socket;
  }

  /** Alias, as in node:net. */
  createConnection(options: TcpConnectOptions, onConnect?: () => void): TcpSocket;
  createConnection(port: number, host: string, onConnect?: () => void): TcpSocket;
  createConnection(
    portOrOptions: number | TcpConnectOptions,
    hostOrCb?: string | (() => void),
    cb?: () => void,
  ): TcpSocket {
    if (typeof portOrOptions === 'object') return this.connect(portOrOptions, hostOrCb as () => void);
    return this.connect(portOrOptions, hostOrCb as string, cb);
  }
}

/**
 * The connection api.connect() could not even create (it threw): it reports its error through
 * onClosed on a microtask, so the socket emits 'error' then 'close' asynchronously, as Node does.
 */
class FailedConnection implements TcpConnection {
  readonly state = 'CLOSED' as const;
  readonly writableLength = 0;
  readonly localAddress = '0.0.0.0';

  constructor(
    private readonly error: SocketError,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localPort: number,
  ) {}

  setEvents(events: ConnectionEvents): void {
    queueMicrotask(() => events.onClosed(this.error));
  }

  write(): number {
    return 0;
  }

  consumed(): void {}
  shutdown(): void {}
  abort(): void {}
  setNoDelay(): void {}
  setKeepAlive(): void {}

  info(): TcpInfo {
    return blankTcpInfo('CLOSED', this.localAddress, this.localPort, this.remoteAddress, this.remotePort);
  }
}
