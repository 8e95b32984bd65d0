/**
 * A listening port (RFC 9293 §3.10.7.2, LISTEN state). Embryonic connections (SYN-RECEIVED) are full
 * Connection objects in the layer's 4-tuple map; the listener keeps them in its SYN queue (in arrival
 * order, like Linux's request socks) up to `synBacklog`. When the queue is full the layer answers with
 * a SYN cookie (syn-cookie.ts) and keeps nothing, or, with cookies off, makes room by dropping the
 * oldest half-open entry once its SYN-ACK went unanswered, so no entry can block the port for long.
 *
 * A connection that completes the handshake is handed to `onAccept` as soon as the segment that
 * completed it has been processed. It then sits in the accept queue until its owner takes it: at once
 * by default (the socket layer accepts as libuv does for Node), or, after `holdAccepted()`, when the
 * owner calls `accepted()` (accept(2): the drill). The accept queue is bounded by listen()'s backlog
 * as on Linux: it is full when it holds more than `backlog` connections (sk_acceptq_is_full, so a
 * backlog of 0 still admits one), and while it is full the layer drops new SYNs and the ACKs that
 * would complete a handshake (tcp-layer.ts), so the peer retransmits them later.
 */
import type { ConnectionOptions, TcpConnection, TcpListenerHandle } from './api.ts';

/** The largest backlog listen() takes; larger ones are cut to it (Linux net.core.somaxconn). */
export const SOMAXCONN = 4096;

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
  /** Bound of the accept queue: listen()'s backlog, at most SOMAXCONN. */
  readonly backlog: number;
  /** Connections handed to onAccept that the owner has not taken yet (only while held). */
  private queued = 0;
  private held = false;

  constructor(
    readonly port: number,
    backlog: number,
    readonly synBacklog: number,
    private readonly onAccept: (conn: TcpConnection) => void,
    private readonly onClose: (l: Listener) => void,
    /** setsockopt before listen(): passed to every connection it accepts. */
    readonly connOptions: ConnectionOptions = {},
  ) {
    this.backlog = Math.min(Math.max(0, Math.floor(backlog)), SOMAXCONN);
  }

  /** More than `backlog` connections wait in the accept queue (Linux's sk_acceptq_is_full). */
  get acceptQueueFull(): boolean {
    return this.queued > this.backlog;
  }

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
    if (this.held) this.queued++;
    this.onAccept(conn);
  }

  holdAccepted(): void {
    this.held = true;
  }

  accepted(): void {
    if (this.queued > 0) this.queued--;
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
