/**
 * The timing model of one page load: what the client measured, with nothing about how it is drawn
 * (render-*.ts draw it). Times are milliseconds from the start of the load, by the client stack's
 * own clock (virtual time in --sim, the stack's monotonic clock live).
 *
 * One row per TCP connection: when its SYN left, when it was established, and per request when it
 * was sent, when the response's first byte and its last byte arrived.
 */

export interface RequestTiming {
  /** 0 is the page, 1.. the objects, in the order the page names them. */
  index: number;
  method: string;
  path: string;
  sentAt: number;
  firstByteAt: number;
  lastByteAt: number;
  status: number;
  /** Bytes of the response on the wire: head and (framed) body. */
  bytes: number;
  /** Sent while an earlier response on the same connection was still outstanding. */
  pipelined: boolean;
}

export interface ConnectionTiming {
  /** 1-based, in the order the connections were opened. */
  id: number;
  localPort: number;
  synAt: number;
  establishedAt: number;
  /** When the client closed its end (after its last response). */
  closedAt: number;
  requests: RequestTiming[];
}

export interface PageLoadResult {
  url: string;
  /** The mode as text: serial, parallel:4, persistent, pipelined:8, ... */
  mode: string;
  /** The link in words (simulated spec, or "live over TUN"). */
  link: string;
  /** From the page request's SYN to the last byte of the last object. */
  pageMs: number;
  handshakes: number;
  requests: number;
  /** Response bytes received (heads and bodies). */
  bytes: number;
  /** TCP retransmissions by the client stack, and by the server's when it is ours (--sim). */
  retransmits: { client: number; server?: number };
  connections: ConnectionTiming[];
  /** Requests the client would not pipeline (not idempotent), by index. */
  notPipelined: number[];
  /**
   * Pipelined requests the server did not answer before it closed the connection (its request limit,
   * say), sent again on a new one, by index (RFC 9112 §9.3.2). Their first, unanswered sending is
   * not in the rows.
   */
  resent: number[];
}

/** Round trips in a duration, for tables: 237.4 ms at RTT 100 ms is "2.37". */
export function roundTrips(ms: number, rttMs: number): number {
  return rttMs > 0 ? ms / rttMs : 0;
}
