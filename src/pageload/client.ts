/**
 * The pageload client: loads a page and then its objects the way a browser of the given mode would
 * (spec.ts, Mode), over tunstack's own TCP client sockets, and times every step by the stack's clock:
 * the SYN (connect()), the connection established, each request written, the first and the last byte
 * of each response. It returns the timing model (model.ts); it draws nothing.
 *
 * Pipelining follows RFC 9112 §9.3.2: a client SHOULD NOT pipeline after a non-idempotent method,
 * and the chapter's rule is stricter still, so only GET and HEAD (safe, RFC 9110 §9.2.1) are sent
 * while another response is outstanding; anything else waits until the connection is idle, and the
 * request after it waits for its response. A connection the server closes (after `Connection:
 * close`, or at EOF) with pipelined requests unanswered: they are sent again, in order, on a new
 * connection, as §9.3.2 requires of a client that pipelines ("MUST be prepared to retry"); only
 * idempotent ones, at most MAX_RESENDS times each.
 */
import type { Stack } from '../stack.ts';
import type { TcpSocket } from '../socket/tcp-socket.ts';
import type { TimerHandle } from '../util/clock.ts';
import { TunstackError } from '../util/errors.ts';
import { ResponseError, ResponseReader } from './response-reader.ts';
import type { ConnectionTiming, PageLoadResult, RequestTiming } from './model.ts';
import { formatMode, type Mode } from './spec.ts';

export interface ObjectRequest {
  method: string;
  path: string;
}

export interface PageLoadOptions {
  host: string;
  port: number;
  /** The page itself (the URL's path and query). */
  pagePath: string;
  objects: ObjectRequest[];
  mode: Mode;
  /** The whole load must finish within this many ms of the stack's clock. */
  timeoutMs: number;
}

/** Most objects a page may have. */
export const MAX_OBJECTS = 1000;

/** How often one request is sent again after its connection closed unanswered. */
export const MAX_RESENDS = 3;

/** A request the server never began to answer before the connection ended: safe to send again if idempotent. */
function unanswered(method: string): ResponseError {
  return new ResponseError('ERR_RESPONSE_UNANSWERED', `the connection closed before any of the response to ${method} arrived`);
}

/** Methods sent while another response is outstanding (see the header). */
export function canPipeline(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** The default objects of a page on our demo site: N x /bytes/SIZE, told apart by ?i=k. */
export function demoObjects(n: number, size: number): ObjectRequest[] {
  return Array.from({ length: n }, (_, i) => ({ method: 'GET', path: `/bytes/${size}?i=${i + 1}` }));
}

interface Outstanding {
  timing: RequestTiming;
  reader: ResponseReader;
  resolve: (t: RequestTiming) => void;
  reject: (e: Error) => void;
}

/** One TCP connection of the load: the socket, its timing row, its responses in request order. */
class ClientConnection {
  readonly timing: ConnectionTiming;
  readonly ready: Promise<void>;
  private readonly socket: TcpSocket;
  private readonly queue: Outstanding[] = [];
  private failure: Error | undefined;
  /** False once a response said the server closes after it (RFC 9112 §9.3: `Connection: close`, or HTTP/1.0 without keep-alive). */
  reusable = true;

  constructor(
    private readonly stack: Stack,
    private readonly host: string,
    private readonly port: number,
    id: number,
    private readonly t0: number,
  ) {
    this.timing = { id, localPort: 0, synAt: this.now(), establishedAt: -1, closedAt: -1, requests: [] };
    this.socket = stack.tcp.connect({ host, port, noDelay: true });
    this.ready = new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => {
        this.timing.establishedAt = this.now();
        this.timing.localPort = this.socket.localPort;
        resolve();
      });
      this.socket.once('error', reject);
    });
    this.ready.catch(() => undefined); // the error also reaches every request, below
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (e: Error) => this.fail(e));
    this.socket.on('close', () => this.fail(new ResponseError('ERR_RESPONSE_TRUNCATED', 'the connection closed with a response outstanding')));
  }

  get outstanding(): number {
    return this.queue.length;
  }

  /** New requests may go on this connection (it has not failed, and the server keeps it open). */
  get usable(): boolean {
    return this.reusable && this.failure === undefined;
  }

  private now(): number {
    return this.stack.clock.now() - this.t0;
  }

  /** Write one request now (after the handshake); resolves when its response is complete. */
  async send(index: number, req: ObjectRequest, keepAlive: boolean): Promise<RequestTiming> {
    await this.ready;
    if (this.failure) throw this.failure;
    const timing: RequestTiming = {
      index,
      method: req.method,
      path: req.path,
      sentAt: this.now(),
      firstByteAt: -1,
      lastByteAt: -1,
      status: 0,
      bytes: 0,
      pipelined: this.queue.length > 0,
    };
    this.timing.requests.push(timing);
    const body = req.method === 'POST' || req.method === 'PUT' ? 'x' : '';
    const head =
      `${req.method} ${req.path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nUser-Agent: tunstack-pageload\r\n` +
      `Connection: ${keepAlive ? 'keep-alive' : 'close'}\r\n` +
      (body || req.method === 'POST' ? `Content-Length: ${body.length}\r\n` : '') +
      '\r\n';
    return new Promise<RequestTiming>((resolve, reject) => {
      this.queue.push({ timing, reader: new ResponseReader(req.method === 'HEAD'), resolve, reject });
      this.socket.write(head + body);
    });
  }

  /** Close our end (FIN) once the last response is in. */
  close(): void {
    if (this.timing.closedAt < 0) this.timing.closedAt = this.now();
    this.socket.end();
  }

  /** Abandon the connection (the load failed or timed out). */
  abort(err: Error): void {
    this.fail(err);
    this.socket.destroy();
  }

  private onData(chunk: Buffer | undefined): void {
    try {
      while (chunk !== undefined && chunk.length > 0) {
        const o = this.queue[0];
        if (o === undefined) throw new ResponseError('ERR_RESPONSE_UNSOLICITED', `${chunk.length} bytes with no request outstanding`);
        if (o.timing.firstByteAt < 0) o.timing.firstByteAt = this.now();
        const r = o.reader.push(chunk);
        chunk = r.rest;
        if (r.done) this.complete();
      }
    } catch (err) {
      this.abort(err as Error);
    }
  }

  private onEnd(): void {
    const o = this.queue[0];
    if (o === undefined) return;
    try {
      o.reader.end();
      this.complete();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private complete(): void {
    const o = this.queue.shift()!;
    o.timing.lastByteAt = this.now();
    const head = o.reader.head!;
    o.timing.status = head.status;
    const conn = (head.headers['connection'] ?? '').toLowerCase();
    if (/(^|,)\s*close\s*(,|$)/.test(conn) || (head.version === '1.0' && !/(^|,)\s*keep-alive\s*(,|$)/.test(conn))) this.reusable = false;
    o.timing.bytes = o.reader.wireBytes;
    o.resolve(o.timing);
    // The server closes after this response: what was pipelined behind it will not be answered here.
    if (!this.reusable) this.fail(new ResponseError('ERR_RESPONSE_TRUNCATED', 'the server closed the connection'));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const o of this.queue.splice(0)) {
      if (o.timing.firstByteAt >= 0 || !canPipeline(o.timing.method) || err.name !== 'ResponseError') {
        o.reject(err);
        continue;
      }
      // Not one byte of its response came: it leaves this row, for the caller to send again.
      this.timing.requests.splice(this.timing.requests.indexOf(o.timing), 1);
      o.reject(unanswered(o.timing.method));
    }
  }
}

/** The load itself: the page, then the objects by mode. Throws on the first failed request. */
export async function loadPage(stack: Stack, o: PageLoadOptions): Promise<Omit<PageLoadResult, 'url' | 'link'>> {
  if (o.objects.length > MAX_OBJECTS) throw new RangeError(`at most ${MAX_OBJECTS} objects`);
  const t0 = stack.clock.now();
  const conns: ClientConnection[] = [];
  const notPipelined: number[] = [];
  const resent: number[] = [];
  const open = (): ClientConnection => {
    const c = new ClientConnection(stack, o.host, o.port, conns.length + 1, t0);
    conns.push(c);
    return c;
  };
  const retransmitsBefore = tcpRetransmits(stack);
  let timer: TimerHandle | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = stack.clock.setTimer(t0 + o.timeoutMs, () => {
      const err = new TunstackError('ERR_PAGELOAD_TIMEOUT', `the page load did not finish within ${o.timeoutMs} ms`);
      for (const c of conns) c.abort(err);
      reject(err);
    });
  });
  timeout.catch(() => undefined);
  const mode = o.mode;
  const keepAlive = mode.kind === 'persistent' || mode.kind === 'pipelined';
  const work = async (): Promise<void> => {
    const first = open();
    await first.send(0, { method: 'GET', path: o.pagePath }, keepAlive);
    if (!keepAlive) first.close();
    let next = 0;
    const take = (): number | undefined => (next < o.objects.length ? next++ : undefined);
    if (mode.kind === 'serial' || mode.kind === 'parallel') {
      // A new connection per object, `k` of them at a time (serial: one).
      const k = mode.kind === 'serial' ? 1 : mode.k;
      const worker = async (): Promise<void> => {
        for (let i = take(); i !== undefined; i = take()) {
          const c = open();
          await c.send(i + 1, o.objects[i]!, false);
          c.close();
        }
      };
      await Promise.all(Array.from({ length: k }, worker));
    } else if (mode.kind === 'persistent') {
      // k keep-alive connections, the page's among them; a new one opens when it takes its first object.
      const worker = async (w: number): Promise<void> => {
        let c: ClientConnection | undefined = w === 0 ? first : undefined;
        for (let i = take(); i !== undefined; i = take()) {
          // The server may end a persistent connection (e.g. its max requests): open the next one.
          if (c !== undefined && !c.reusable) {
            c.close();
            c = undefined;
          }
          c ??= open();
          await c.send(i + 1, o.objects[i]!, true);
        }
        c?.close();
      };
      await Promise.all(Array.from({ length: mode.k }, (_, w) => worker(w)));
      if (mode.k > 1 && first.timing.closedAt < 0) first.close();
    } else {
      // One connection; up to `depth` requests outstanding, only safe methods pipelined. If the server
      // closes it with requests unanswered, they go again, first, on a new connection.
      let c = first;
      let work = o.objects.map((_, i) => i);
      const sends = new Map<number, number>();
      for (;;) {
        const again: number[] = [];
        const pending: { i: number; p: Promise<RequestTiming> }[] = [];
        const settle = async (x: { i: number; p: Promise<RequestTiming> }): Promise<void> => {
          try {
            await x.p;
          } catch (err) {
            if ((err as ResponseError).code !== 'ERR_RESPONSE_UNANSWERED' || (sends.get(x.i) ?? 0) > MAX_RESENDS) throw err;
            again.push(x.i);
          }
        };
        let k = 0;
        for (; k < work.length && c.usable; k++) {
          const i = work[k]!;
          const req = o.objects[i]!;
          const alone = !canPipeline(req.method);
          while (pending.length > 0 && (alone || pending.length >= mode.depth)) await settle(pending.shift()!);
          if (!c.usable) break;
          if (alone && !notPipelined.includes(i + 1)) notPipelined.push(i + 1);
          sends.set(i, (sends.get(i) ?? 0) + 1);
          const p = c.send(i + 1, req, true);
          p.catch(() => undefined);
          pending.push({ i, p });
          if (alone) await settle(pending.shift()!);
        }
        for (const x of pending.splice(0)) await settle(x);
        for (const i of again) if (!resent.includes(i + 1)) resent.push(i + 1);
        work = [...again.sort((a, b) => a - b), ...work.slice(k)];
        if (work.length === 0) break;
        c.close();
        c = open();
      }
      c.close();
    }
  };
  try {
    await Promise.race([work(), timeout]);
  } catch (err) {
    for (const c of conns) c.abort(err as Error);
    throw err;
  } finally {
    timer?.cancel();
  }
  const connections = conns.map((c) => c.timing);
  const requests = connections.flatMap((c) => c.requests);
  for (const c of connections) c.requests.sort((a, b) => a.sentAt - b.sentAt || a.index - b.index);
  return {
    mode: formatMode(mode),
    pageMs: Math.max(...requests.map((r) => r.lastByteAt)),
    handshakes: connections.length,
    requests: requests.length,
    bytes: requests.reduce((s, r) => s + r.bytes, 0),
    retransmits: { client: tcpRetransmits(stack) - retransmitsBefore },
    connections,
    notPipelined,
    resent,
  };
}

export function tcpRetransmits(stack: Stack): number {
  return (stack.tcpLayer.stats() as { retransmits?: number }).retransmits ?? 0;
}
