/**
 * A listening port (RFC 9293 §3.10.7.2, LISTEN state). Embryonic connections (SYN-RECEIVED) are full
 * Connection objects in the layer's 4-tuple map; the listener only counts them, as Linux's SYN queue
 * (request socks) does, and refuses new SYNs once `synBacklog` are pending (the SYN is dropped and
 * counted; the peer retransmits) unless the oldest, unanswered past its first SYN-ACK, can make room
 * (TcpLayer.recycleOldestEmbryo). A connection that completes the handshake goes to the accept queue,
 * which is handed to `onAccept` at once (the socket layer accepts synchronously), so it is bounded by
 * `backlog` only in the sense that SYNs are refused while it would overflow.
 */
import type { TcpConnection, TcpListenerHandle } from './api.ts';

export interface Embryo {
  abort(): void;
}

export class Listener implements TcpListenerHandle {
  /** Connections in SYN-RECEIVED for this port. */
  readonly embryos = new Set<Embryo>();
  closed = false;

  constructor(
    readonly port: number,
    readonly backlog: number,
    readonly synBacklog: number,
    private readonly onAccept: (conn: TcpConnection) => void,
    private readonly onClose: (l: Listener) => void,
  ) {}

  /** Room for another half-open connection? */
  get synQueueFull(): boolean {
    return this.embryos.size >= this.synBacklog;
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
