/**
 * What the HTTP layer needs from a transport: node:net's shape, nothing more. Node's `net` module
 * fits, and so does our stack's `TcpNet` (`stack.tcp`), so the same server runs over either. TcpNet
 * also offers the TCP connections themselves (createConnectionServer): the direct path, with no
 * stream between TCP and the parser (tcp-transport.ts).
 */
import type { Duplex } from 'node:stream';
import type { TcpConnection, TcpInfo } from '../tcp/api.ts';

/** A connected byte stream with net.Socket's address fields; tcpInfo() only on our own stack. */
export type SocketLike = Duplex & {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
  setNoDelay?(noDelay?: boolean): unknown;
  setTimeout?(ms: number, cb?: () => void): unknown;
  tcpInfo?(): TcpInfo;
};

export interface ServerLike {
  listen(port: number, ...args: unknown[]): unknown;
  close(cb?: (err?: Error) => void): unknown;
  address?(): unknown;
  on?(event: string, listener: (...args: any[]) => void): unknown;
}

export interface NetServerOptions {
  /**
   * Keep our sending side open after the peer's FIN, so that responses to requests already received
   * can still be written (a client may send its requests and shut down its side at once).
   */
  allowHalfOpen?: boolean;
}

/** node:net, or our stack's TcpNet. */
export interface NetLike {
  createServer(options: NetServerOptions, listener: (socket: SocketLike) => void): ServerLike;
  /** TcpNet only: a listener that hands over each accepted TCP connection, with no socket around it. */
  createConnectionServer?(listener: (conn: TcpConnection) => void): ServerLike;
}

/** The stack (or anything) exposing its TCP as `.tcp`. */
export interface HasTcp {
  tcp: NetLike;
}
