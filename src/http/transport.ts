/**
 * What an HTTP connection (connection.ts) reads from and writes to: a byte stream with
 * backpressure both ways and TCP's close semantics. Two implementations:
 *
 *   StreamTransport (here)        any node Duplex: node:net's sockets, our TcpSocket, in-memory pairs.
 *   TcpTransport (tcp-transport.ts) our stack's TCP connection itself (tcp/api.ts), with no stream in
 *                                 between: received bytes go from the TCP receive path straight to
 *                                 the parser, responses straight into the TCP send buffer.
 *
 * The HTTP connection calls the methods below; the transport calls back the HttpTransportEvents it was
 * started with. Either way the same rules hold:
 *   - pause() stops deliveries; bytes that arrive meanwhile wait in the transport (on our stack,
 *     unconsumed, so the receive window we advertise closes: RFC 9293 §3.8.6) until resume();
 *   - write() returns false when the caller should wait for whenDrained() before writing more;
 *   - end() sends FIN after everything written, then calls its callback; the peer's FIN reaches
 *     onEnd() only after every byte before it was delivered (and never while paused);
 *   - destroy() closes at once: a RST when received bytes were never delivered (RFC 1122 §4.2.2.13),
 *     else a FIN; onClose() follows, once, on a later tick.
 */
import type { TcpInfo } from '../tcp/api.ts';
import type { SocketLike } from './types.ts';

/**
 * What req.socket, res.socket, 'connection' and 'clientError' hand out: the connection's endpoints
 * (and, on our stack, its TCB snapshot). On node:net and over a Duplex it is the socket itself; on the
 * direct path a small object with these fields (tcp-transport.ts, TcpPeer).
 */
export interface PeerSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly remoteFamily?: string | undefined;
  readonly destroyed: boolean;
  destroy(): unknown;
  tcpInfo?(): TcpInfo;
}

/** Calls from a transport to its HTTP connection. */
export interface HttpTransportEvents {
  /** Bytes in order; the buffer may be a view that is valid only during the call (copy to keep). */
  onData(chunk: Buffer): void;
  /** The peer's FIN, after all its bytes. */
  onEnd(): void;
  /** The transport is gone (after end() and the peer's FIN, destroy(), a reset). Called once. */
  onClose(): void;
}

export interface HttpTransport {
  readonly peer: PeerSocket;
  start(events: HttpTransportEvents): void;
  /** Queue bytes (strings as latin1); false: wait for whenDrained() before writing more. */
  write(data: string | Uint8Array): boolean;
  /** Several pieces that belong together (a head and its body): sent as one write where possible. */
  writeParts(parts: readonly (string | Uint8Array)[]): boolean;
  /** `cb` once what was written has been taken (at once if nothing waits). */
  whenDrained(cb: () => void): void;
  pause(): void;
  resume(): void;
  /** FIN after everything written; `onFinished` once it is handed to TCP. */
  end(onFinished: () => void): void;
  destroy(): void;
  setNoDelay(): void;
}

/** The transport over a node Duplex (node:net, TcpSocket, test pairs): the Duplex does the work. */
export class StreamTransport implements HttpTransport {
  readonly peer: SocketLike;

  constructor(socket: SocketLike) {
    this.peer = socket;
  }

  start(events: HttpTransportEvents): void {
    const s = this.peer;
    s.on('data', (chunk: Buffer) => events.onData(chunk));
    s.on('end', () => events.onEnd());
    s.on('error', () => {
      /* ECONNRESET and friends: 'close' follows and cleans up. */
    });
    s.on('close', () => events.onClose());
  }

  write(data: string | Uint8Array): boolean {
    const s = this.peer;
    if (s.destroyed || s.writableEnded) return true;
    return s.write(data, 'latin1');
  }

  /** One socket write per piece, corked so that a head and its body leave together (writev). */
  writeParts(parts: readonly (string | Uint8Array)[]): boolean {
    const s = this.peer;
    if (s.destroyed || s.writableEnded || parts.length === 0) return true;
    if (parts.length === 1) return s.write(parts[0]!, 'latin1');
    s.cork();
    let ok = true;
    for (const p of parts) ok = s.write(p, 'latin1');
    s.uncork();
    return ok;
  }

  whenDrained(cb: () => void): void {
    const s = this.peer;
    if (!s.writableNeedDrain) cb();
    else s.once('drain', cb);
  }

  pause(): void {
    this.peer.pause();
  }

  resume(): void {
    this.peer.resume();
  }

  end(onFinished: () => void): void {
    this.peer.once('finish', onFinished);
    this.peer.end();
  }

  destroy(): void {
    this.peer.destroy();
  }

  setNoDelay(): void {
    this.peer.setNoDelay?.(true);
  }
}
