/**
 * A minimal Chrome DevTools Protocol client for tests: one WebSocket (RFC 6455) over node:http's
 * upgrade, text frames only, to an inspector on 127.0.0.1. Node 20 has no global WebSocket, and the
 * test needs only this much:
 *
 *   client frames are masked (§5.3), FIN set, opcode 1 (text), length 7 / 7+16 / 7+64 bits (§5.2);
 *   server frames are unmasked; continuation frames (opcode 0) are joined; ping (9) gets a pong (10);
 *   close (8) ends the connection.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

export interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
}

export class CdpClient {
  private nextId = 1;
  private buf = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly events: CdpEvent[] = [];
  private readonly waiters: { method: string; resolve: (e: CdpEvent) => void }[] = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => {
      this.closed = true;
      for (const p of this.pending.values()) p.reject(new Error('inspector connection closed'));
      this.pending.clear();
    });
    socket.on('error', () => {});
  }

  /** Connect to `ws://127.0.0.1:PORT/ID` (the URL the inspector prints on stderr). */
  static connect(wsUrl: string): Promise<CdpClient> {
    const u = new URL(wsUrl);
    if (u.hostname !== '127.0.0.1') throw new Error(`loopback only, got ${u.hostname}`);
    return new Promise((resolve, reject) => {
      const req = request({
        host: u.hostname,
        port: Number(u.port),
        path: u.pathname,
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
      });
      req.on('upgrade', (_res, socket, head) => {
        const c = new CdpClient(socket);
        if (head.length > 0) c.onData(head);
        resolve(c);
      });
      req.on('response', (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    if (this.closed) return Promise.reject(new Error('inspector connection closed'));
    const id = this.nextId++;
    this.writeText(JSON.stringify({ id, method, params }));
    return new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
  }

  /** The next event of that method (one already received first), within `ms`. */
  waitFor(method: string, ms = 20_000): Promise<CdpEvent> {
    const i = this.events.findIndex((e) => e.method === method);
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = { method, resolve: (e: CdpEvent) => (clearTimeout(t), resolve(e)) };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no ${method} within ${ms} ms`));
      }, ms);
      this.waiters.push(w);
    });
  }

  /** Every event of that method received so far (removed from the queue). */
  take(method: string): CdpEvent[] {
    const out = this.events.filter((e) => e.method === method);
    for (const e of out) this.events.splice(this.events.indexOf(e), 1);
    return out;
  }

  close(): void {
    this.socket.destroy();
  }

  private writeText(text: string): void {
    const payload = Buffer.from(text, 'utf8');
    const n = payload.length;
    const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    head[0] = 0x81;
    if (n < 126) head[1] = 0x80 | n;
    else if (n < 65536) {
      head[1] = 0x80 | 126;
      head.writeUInt16BE(n, 2);
    } else {
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(n), 2);
    }
    const mask = randomBytes(4);
    for (let i = 0; i < n; i++) payload[i]! ^= mask[i & 3]!;
    this.socket.write(Buffer.concat([head, mask, payload]));
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0]!;
      const b1 = this.buf[1]!;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (b1 & 0x80) off += 4; // a server must not mask, but skip the key if it does
      if (this.buf.length < off + len) return;
      const payload = this.buf.subarray(off, off + len);
      this.buf = this.buf.subarray(off + len);
      const opcode = b0 & 0x0f;
      if (opcode === 8) {
        this.socket.end();
        return;
      }
      if (opcode === 9) continue; // ping: the inspector does not send them; ignore
      if (opcode === 1 || opcode === 0) {
        this.fragments.push(Buffer.from(payload));
        if (b0 & 0x80) {
          const text = Buffer.concat(this.fragments).toString('utf8');
          this.fragments = [];
          this.onMessage(text);
        }
      }
    }
  }

  private onMessage(text: string): void {
    const m = JSON.parse(text) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new Error(m.error.message));
      else p?.resolve(m.result);
      return;
    }
    if (m.method === undefined) return;
    const e: CdpEvent = { method: m.method, params: m.params ?? {} };
    const i = this.waiters.findIndex((w) => w.method === e.method);
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(e);
    else this.events.push(e);
  }
}
