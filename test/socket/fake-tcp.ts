/**
 * An in-memory stand-in for the TCP layer, faithful to src/tcp/api.ts where the socket layer can
 * tell the difference:
 *  - write() accepts only what fits in a bounded send buffer; onWritable follows when space opens
 *    after a short write;
 *  - bytes move to the peer only as far as the peer's receive window allows, and that window
 *    reopens only through consumed(n) (so a reader that stops consuming stops the writer);
 *  - shutdown() sends FIN after the queued data; both FINs through -> onClosed() on both sides;
 *  - abort() drops everything and the peer sees onClosed(ECONNRESET); no callbacks after abort;
 *  - like the real stack, nothing is transmitted synchronously: a "flush" runs in a microtask.
 * Every call from the socket layer is recorded in `calls`, so tests can assert what it did.
 */
import { blankTcpInfo, type ConnectionEvents, type TcpConnection, type TcpEndpointApi, type TcpInfo, type TcpListenerHandle, type TcpStateName } from '../../src/tcp/api.ts';
import { SocketError } from '../../src/util/errors.ts';

export interface FakeOptions {
  sendBuffer?: number;
  recvBuffer?: number;
  mss?: number;
  /** Report onClosed() to the owner synchronously from inside abort() (the contract allows either). */
  closeOnAbort?: boolean;
  /** Keep every view the owner passes to write() in `writtenViews` (to check what the socket copies). */
  keepWrittenViews?: boolean;
}

export type FakeCall =
  | { op: 'write'; offered: number; accepted: number }
  | { op: 'consumed'; n: number }
  | { op: 'shutdown'; queuedAtShutdown: number }
  | { op: 'abort' }
  | { op: 'setNoDelay'; value: boolean }
  | { op: 'setKeepAlive'; enable: boolean; idleMs: number | undefined };

export class FakeConnection implements TcpConnection {
  state: TcpStateName;
  peer: FakeConnection | undefined;
  events: ConnectionEvents | undefined;
  readonly calls: FakeCall[] = [];
  /** With keepWrittenViews: the views write() was given, as given. */
  readonly writtenViews: Uint8Array[] = [];

  private readonly sendCap: number;
  readonly recvCap: number;
  private readonly mss: number;
  private readonly closeOnAbort: boolean;
  private readonly keepWrittenViews: boolean;
  private sendQueue: Uint8Array[] = [];
  private queued = 0;
  /** Bytes delivered to the owner and not yet consumed(): they shrink our receive window. */
  unconsumed = 0;
  private finQueued = false;
  private finSent = false;
  peerFinReceived = false;
  private wantWritable = false;
  private flushScheduled = false;
  private closedReported = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly localAddress: string,
    readonly localPort: number,
    readonly remoteAddress: string,
    readonly remotePort: number,
    state: TcpStateName,
    opts: FakeOptions = {},
  ) {
    this.state = state;
    this.sendCap = opts.sendBuffer ?? 64 * 1024;
    this.recvCap = opts.recvBuffer ?? 64 * 1024;
    this.mss = opts.mss ?? 1460;
    this.closeOnAbort = opts.closeOnAbort === true;
    this.keepWrittenViews = opts.keepWrittenViews === true;
  }

  setEvents(events: ConnectionEvents): void {
    if (this.events) throw new Error('setEvents called twice');
    this.events = events;
  }

  get writableLength(): number {
    return this.sendCap - this.queued;
  }

  write(data: Uint8Array): number {
    if (this.finQueued || this.state === 'CLOSED') throw new Error(`write in state ${this.state} after FIN/abort`);
    if (this.keepWrittenViews) this.writtenViews.push(data);
    const n = Math.min(data.length, this.sendCap - this.queued);
    if (n > 0) {
      this.sendQueue.push(data.slice(0, n)); // the send buffer owns a copy
      this.queued += n;
      this.scheduleFlush();
    }
    if (n < data.length) this.wantWritable = true;
    this.calls.push({ op: 'write', offered: data.length, accepted: n });
    return n;
  }

  consumed(n: number): void {
    if (n > this.unconsumed) throw new Error(`consumed(${n}) with only ${this.unconsumed} unconsumed`);
    this.unconsumed -= n;
    this.calls.push({ op: 'consumed', n });
    // The window reopened: the peer may send again.
    this.peer?.scheduleFlush();
  }

  shutdown(): void {
    if (this.finQueued) throw new Error('shutdown called twice');
    this.calls.push({ op: 'shutdown', queuedAtShutdown: this.queued });
    this.finQueued = true;
    this.scheduleFlush();
  }

  abort(): void {
    this.calls.push({ op: 'abort' });
    if (this.state === 'CLOSED') return;
    this.state = 'CLOSED';
    if (this.closeOnAbort) this.reportClosed(undefined);
    this.closedReported = true; // the owner asked: no callbacks to it any more
    this.sendQueue = [];
    this.queued = 0;
    const peer = this.peer;
    if (peer) queueMicrotask(() => peer.receiveRst());
  }

  setNoDelay(value: boolean): void {
    this.calls.push({ op: 'setNoDelay', value });
  }

  setKeepAlive(enable: boolean, idleMs?: number): void {
    this.calls.push({ op: 'setKeepAlive', enable, idleMs });
  }

  info(): TcpInfo {
    return {
      ...blankTcpInfo(this.state, this.localAddress, this.localPort, this.remoteAddress, this.remotePort),
      iss: 1000,
      irs: 2000,
      sndUna: 1001 + this.bytesOut,
      sndNxt: 1001 + this.bytesOut,
      rcvNxt: 2001 + this.bytesIn,
      sndWnd: this.peer ? this.peer.recvCap - this.peer.unconsumed : 0,
      rcvWnd: this.recvCap - this.unconsumed,
      mss: this.mss,
      cwnd: 10 * this.mss,
      ssthresh: 0xffff,
      rtoMs: 1000,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      sendQueued: this.queued,
    };
  }

  // --- test hooks ---------------------------------------------------------------------------

  countCalls(op: FakeCall['op']): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  consumedTotal(): number {
    let t = 0;
    for (const c of this.calls) if (c.op === 'consumed') t += c.n;
    return t;
  }

  /**
   * Bytes arrive from the wire as this very view, uncopied, as the real layer hands the owner its
   * receive views (for a connection without a peer: the test plays the network).
   */
  deliver(view: Uint8Array): void {
    this.bytesIn += view.length;
    this.unconsumed += view.length;
    this.events?.onData(view);
  }

  /** The peer's side of the wire reports a failure to this connection (RST, timeout...). */
  fail(code: string): void {
    this.state = 'CLOSED';
    this.sendQueue = [];
    this.queued = 0;
    this.reportClosed(new SocketError(code, `fake ${code}`));
  }

  // --- the "wire" -----------------------------------------------------------------------------

  establish(peer: FakeConnection): void {
    this.peer = peer;
    this.state = 'ESTABLISHED';
  }

  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Move queued bytes to the peer, one MSS at a time, within the peer's window; then FIN. */
  private flush(): void {
    const peer = this.peer;
    if (!peer || this.state === 'CLOSED' || peer.state === 'CLOSED') return;
    if (this.state === 'SYN-SENT' || this.state === 'SYN-RECEIVED') return;
    let freed = false;
    while (this.queued > 0) {
      const window = peer.recvCap - peer.unconsumed;
      if (window <= 0) break;
      const first = this.sendQueue[0]!;
      const n = Math.min(first.length, window, this.mss);
      const seg = first.subarray(0, n);
      if (n === first.length) this.sendQueue.shift();
      else this.sendQueue[0] = first.subarray(n);
      this.queued -= n;
      this.bytesOut += n;
      freed = true;
      peer.receiveData(seg);
      if ((this.state as TcpStateName) === 'CLOSED') return; // the peer's owner aborted inside onData
    }
    if (freed && this.wantWritable && this.queued < this.sendCap) {
      this.wantWritable = false;
      this.events?.onWritable();
    }
    if (this.finQueued && !this.finSent && this.queued === 0) {
      this.finSent = true;
      this.state = this.peerFinReceived ? 'LAST-ACK' : 'FIN-WAIT-1';
      peer.receiveFin();
      this.maybeClosed();
    }
  }

  private receiveData(seg: Uint8Array): void {
    if (this.state === 'CLOSED') return;
    this.bytesIn += seg.length;
    this.unconsumed += seg.length;
    if (!this.closedReported) this.events?.onData(seg.slice());
  }

  private receiveFin(): void {
    if (this.state === 'CLOSED') return;
    this.peerFinReceived = true;
    if (this.state === 'ESTABLISHED') this.state = 'CLOSE-WAIT';
    if (!this.closedReported) this.events?.onPeerFin();
    this.maybeClosed();
  }

  private receiveRst(): void {
    if (this.state === 'CLOSED') return;
    this.fail('ECONNRESET');
  }

  /** Both FINs through: the connection is over (TIME-WAIT is the stack's business, not the owner's). */
  private maybeClosed(): void {
    const peer = this.peer;
    if (!peer || !this.finSent || !peer.finSent) return;
    for (const c of [this, peer]) {
      if (c.state === 'CLOSED') continue;
      c.state = 'CLOSED';
      c.reportClosed(undefined);
    }
  }

  reportClosed(error: SocketError | undefined): void {
    if (this.closedReported) return;
    this.closedReported = true;
    this.events?.onClosed(error);
  }
}

interface FakeListener {
  backlog: number;
  onAccept: (conn: FakeConnection) => void;
}

/**
 * Two (or more) endpoints on one in-memory network. connect() completes on a microtask: the remote
 * endpoint's listener accepts (onEstablished for the client, onAccept for the server), or the
 * client sees ECONNREFUSED. `blackhole` makes SYNs vanish (the test then calls fail('ETIMEDOUT')).
 */
export class FakeNetwork {
  readonly endpoints = new Map<string, FakeEndpoint>();

  endpoint(address: string, opts: FakeOptions = {}): FakeEndpoint {
    const ep = new FakeEndpoint(this, address, opts);
    this.endpoints.set(address, ep);
    return ep;
  }
}

export class FakeEndpoint implements TcpEndpointApi {
  readonly listeners = new Map<number, FakeListener>();
  /** Every connection this endpoint created (client side and accepted side), in order. */
  readonly conns: FakeConnection[] = [];
  blackhole = false;
  private nextPort = 49152;

  constructor(
    private readonly net: FakeNetwork,
    readonly address: string,
    private readonly opts: FakeOptions,
  ) {}

  listen(port: number, backlog: number, onAccept: (conn: TcpConnection) => void): TcpListenerHandle {
    if (port === 0) port = this.nextPort++;
    if (this.listeners.has(port)) throw new SocketError('EADDRINUSE', `port ${port} in use`, 'listen');
    this.listeners.set(port, { backlog, onAccept });
    return {
      port,
      holdAccepted: () => {},
      accepted: () => {},
      close: () => {
        this.listeners.delete(port);
      },
    };
  }

  connect(remoteAddress: string, remotePort: number, localPort?: number): FakeConnection {
    const lport = localPort ?? this.nextPort++;
    const client = new FakeConnection(this.address, lport, remoteAddress, remotePort, 'SYN-SENT', this.opts);
    this.conns.push(client);
    queueMicrotask(() => {
      if (this.blackhole || client.state === 'CLOSED') return;
      const remote = this.net.endpoints.get(remoteAddress);
      const listener = remote?.listeners.get(remotePort);
      if (!remote || !listener) {
        client.fail('ECONNREFUSED');
        return;
      }
      const server = new FakeConnection(remoteAddress, remotePort, this.address, lport, 'ESTABLISHED', remote.opts);
      remote.conns.push(server);
      client.establish(server);
      server.establish(client);
      listener.onAccept(server);
      client.events?.onEstablished();
      client.scheduleFlush();
      server.scheduleFlush();
    });
    return client;
  }
}

/** Let microtasks, nextTicks and immediates run: `rounds` turns of the event loop. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A client endpoint 10.0.0.1 and a server endpoint 10.0.0.2 on one fake network. */
export function twoEndpoints(opts: FakeOptions = {}): { net: FakeNetwork; client: FakeEndpoint; server: FakeEndpoint } {
  const net = new FakeNetwork();
  return { net, client: net.endpoint('10.0.0.1', opts), server: net.endpoint('10.0.0.2', opts) };
}
