/**
 * A listening port (RFC 9293 §3.10.7.2, LISTEN state). Embryonic connections (SYN-RECEIVED) are full
 * Connection objects in the layer's 4-tuple map; the listener keeps them in its SYN queue (in arrival
 * order, like Linux's request socks) up to `synBacklog`. When the queue is full the layer answers with
 * a SYN cookie (syn-cookie.ts) and keeps nothing, or, with cookies off, makes room by dropping the
 * oldest half-open entry once its SYN-ACK went unanswered, so no entry can block the port for long.
 * A connection that completes the handshake is handed to `onAccept` as soon as the segment that
 * completed it has been processed (the socket layer accepts at once, as libuv does for Node), so there
 * is no accept queue to bound: listen()'s backlog argument is taken for node:net's sake and not kept.
 */
import type { ConnectionOptions, TcpConnection, TcpListenerHandle } from './api.ts';

export interface Embryo {
  /** Reset it (RFC 9293 §3.10.5 ABORT: a RST in SYN-RECEIVED). */
  abort(): void;
}

export class Listener implements TcpListenerHandle {
  /** Connections in SYN-RECEIVED for this port. */
  readonly embryos = new Set<Embryo>();
  closed = false;
  /** When the SYN queue last overflowed (cookies were sent); ACKs are checked as cookies only after. */
  overflowAt = -Infinity;

  constructor(
    readonly port: number,
    readonly synBacklog: number,
    private readonly onAccept: (conn: TcpConnection) => void,
    private readonly onClose: (l: Listener) => void,
    /** setsockopt before listen(): passed to every connection it accepts. */
    readonly connOptions: ConnectionOptions = {},
  ) {}

  /** Room for another half-open connection? */
  get synQueueFull(): boolean {
    return this.embryos.size >= this.synBacklog;
  }

  /** Half full: SYN-ACKs are retransmitted fewer times (the pressure rule of Linux's request timer). */
  get underPressure(): boolean {
    return this.embryos.size * 2 >= this.synBacklog;
  }

  /** The half-open entry that has waited longest. */
  oldestEmbryo(): Embryo | undefined {
    for (const e of this.embryos) return e;
    return undefined;
  }

  accept(conn: TcpConnection): void {
    this.onAccept(conn);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    // Queued (not yet accepted) connections are reset.
    for (const e of [...this.embryos]) e.abort();
    this.embryos.clear();
  }
}
