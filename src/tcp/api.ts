/**
 * The surface of a TCP connection as the socket layer (socket/) sees it. tcp/ never imports socket/;
 * socket/ builds Node-style Duplex streams over these calls and callbacks.
 *
 * The connection core does no I/O (docs/design.md rule 4): the calls below only change state and mark the
 * connection as having something to send; the stack's run loop dispatches segments afterwards (in the
 * same tick, via a microtask), so several write() calls in one tick coalesce into full segments.
 */
import type { SocketError } from '../util/errors.ts';

export type TcpStateName =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT';

/** Callbacks from a connection to its owner (the socket), called synchronously from inside the stack. */
export interface ConnectionEvents {
  /** The handshake completed (active or passive open). */
  onEstablished(): void;
  /**
   * In-order data arrived. The receive window stays reduced by these bytes until the owner calls
   * `consumed(n)` (that is how backpressure reaches the peer: RFC 9293 §3.8.6.2 window management).
   * `data` may be a view into a received packet: the owner may keep it (a flowing reader gets the
   * view itself; the socket copies only bytes it must hold for a slow reader), so the stack must
   * never write into that memory again.
   */
  onData(data: Uint8Array): void;
  /** The peer sent FIN: no more data will arrive (EOF). */
  onPeerFin(): void;
  /** Space opened in the send buffer after write() had returned less than asked. */
  onWritable(): void;
  /**
   * The connection is over for its owner: closed normally (error undefined; TIME-WAIT may still
   * linger inside the stack) or aborted (ECONNRESET, ECONNREFUSED, ETIMEDOUT, ...). Called once.
   */
  onClosed(error?: SocketError): void;
}

/** A snapshot for humans and for the demo site's /conn page. Sequence numbers are absolute. */
export interface TcpInfo {
  state: TcpStateName;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  iss: number;
  irs: number;
  sndUna: number;
  sndNxt: number;
  rcvNxt: number;
  /** Peer's advertised window, scaled, in bytes. */
  sndWnd: number;
  /** Window we advertise, in bytes. */
  rcvWnd: number;
  sndWindowScale: number;
  rcvWindowScale: number;
  mss: number;
  cwnd: number;
  ssthresh: number;
  srttMs: number | undefined;
  rttvarMs: number | undefined;
  rtoMs: number;
  /** Time from our SYN (or SYN-ACK) to the ACK that completed the handshake. */
  handshakeRttMs: number | undefined;
  sackPermitted: boolean;
  timestamps: boolean;
  retransmits: number;
  segmentsIn: number;
  segmentsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Bytes queued in the send buffer (unsent + unacknowledged). */
  sendQueued: number;
}

/**
 * A row for something that is not a live connection (a TIME-WAIT record, a connection that never
 * opened): its state and endpoints, every counter zero.
 */
export function blankTcpInfo(state: TcpStateName, localAddress: string, localPort: number, remoteAddress: string, remotePort: number): TcpInfo {
  return {
    state,
    localAddress,
    localPort,
    remoteAddress,
    remotePort,
    iss: 0,
    irs: 0,
    sndUna: 0,
    sndNxt: 0,
    rcvNxt: 0,
    sndWnd: 0,
    rcvWnd: 0,
    sndWindowScale: 0,
    rcvWindowScale: 0,
    mss: 0,
    cwnd: 0,
    ssthresh: 0,
    srttMs: undefined,
    rttvarMs: undefined,
    rtoMs: 0,
    handshakeRttMs: undefined,
    sackPermitted: false,
    timestamps: false,
    retransmits: 0,
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    sendQueued: 0,
  };
}

/** One connection, as handed to the socket layer. */
export interface TcpConnection {
  readonly state: TcpStateName;
  /** Set (once) by the owner before anything is delivered. */
  setEvents(events: ConnectionEvents): void;
  /** Queue bytes for sending; returns how many were accepted (the send buffer is bounded). */
  write(data: Uint8Array): number;
  /** Free space in the send buffer, in bytes. */
  readonly writableLength: number;
  /** The owner has taken `n` bytes delivered by onData: reopen the receive window by n. */
  consumed(n: number): void;
  /** Half-close: send FIN after all queued data (socket.end()). */
  shutdown(): void;
  /** Abort: send RST, drop all queued data (socket.destroy() / resetAndDestroy()). */
  abort(): void;
  setNoDelay(noDelay: boolean): void;
  /** RFC 1122 §4.2.3.6 keep-alives after `idleMs` of silence. */
  setKeepAlive(enable: boolean, idleMs?: number): void;
  info(): TcpInfo;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/**
 * Per-connection settings an application makes before the handshake (setsockopt before connect()
 * or listen(); a listener's settings pass to the connections it accepts, as on Linux).
 */
export interface ConnectionOptions {
  /**
   * TCP_MAXSEG: the largest segment we announce in our MSS option and send, at most the MTU's
   * (RFC 9293 §3.7.1: the MSS option says what we are willing to receive; Linux clamps both).
   */
  maxSegment?: number;
  /** SO_SNDBUF: this connection's send buffer, in bytes (default: the layer's). */
  sendBufferSize?: number;
  /**
   * SO_RCVBUF: this connection's receive buffer, in bytes, fixed (no autotuning, as on Linux); the
   * window scale we offer follows it.
   */
  receiveBufferSize?: number;
}

/** What the TCP layer offers the socket layer. */
export interface TcpEndpointApi {
  /**
   * Listen on a port of our address. `onAccept` is called for each connection that completed the
   * handshake, as soon as the segment that completed it is processed. `backlog` bounds the accept
   * queue as on Linux (tcp/listener.ts): it matters only to an owner that takes connections later
   * (`holdAccepted`); half-open connections are bounded by the layer's SYN queue (synBacklog).
   * Throws SocketError EADDRINUSE if the port is taken.
   * Port 0 (server.listen() with no port, as in node:net) asks for a free ephemeral port, which
   * the handle reports as `port`.
   */
  listen(port: number, backlog: number, onAccept: (conn: TcpConnection) => void, options?: ConnectionOptions): TcpListenerHandle;
  /** Active open. The connection reports onEstablished or onClosed(ECONNREFUSED/ETIMEDOUT). */
  connect(remoteAddress: string, remotePort: number, localPort?: number, options?: ConnectionOptions): TcpConnection;
}

export interface TcpListenerHandle {
  readonly port: number;
  /**
   * From now on a connection handed to onAccept stays in the accept queue, which `backlog` bounds,
   * until `accepted()` (for an owner that accepts later, as accept(2) does). Without it a connection
   * leaves the queue as onAccept returns.
   */
  holdAccepted(): void;
  /** The owner took one held connection off the accept queue. */
  accepted(): void;
  /** Stop accepting; connections already accepted are unaffected; queued ones are reset. */
  close(): void;
}
