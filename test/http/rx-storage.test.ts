/**
 * What the HTTP connection keeps of received bytes: a body piece goes to a reader that takes it at
 * once as the received view (no copy); a piece that waits in the request's buffer is a copy that
 * does not keep the socket's chunk (a view into a 256 KiB device chunk) alive. Driven through a
 * fake net whose socket emits exactly the views we made.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createHttpServer } from '../../src/http/server.ts';
import type { IncomingRequest } from '../../src/http/incoming-request.ts';
import type { ServerResponse } from '../../src/http/server-response.ts';
import type { NetLike, SocketLike } from '../../src/http/types.ts';

const CHUNK = 256 * 1024;

function received(s: string | Uint8Array): Buffer {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  const b = Buffer.from(new ArrayBuffer(CHUNK), 4096, bytes.length);
  b.set(bytes);
  return b;
}

class FakeSocket extends Duplex {
  out: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.out.push(chunk);
    cb();
  }
}

function serve(handler: (req: IncomingRequest, res: ServerResponse) => void): FakeSocket {
  let onConn: ((s: SocketLike) => void) | undefined;
  const net: NetLike = {
    createServer: (_o, l) => {
      onConn = l;
      return { listen: () => {}, close: () => {} };
    },
  };
  createHttpServer(net, handler).listen(80);
  const sock = new FakeSocket();
  onConn!(sock);
  return sock;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('HTTP: storage of received body bytes', () => {
  it('a handler that reads the body as it flows gets the received views themselves', async () => {
    const seen: Buffer[] = [];
    const sock = serve((req, res) => {
      req.on('data', (d: Buffer) => seen.push(d));
      req.on('end', () => res.end());
    });
    sock.emit('data', received('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n'));
    await tick();
    const views = [received('abc'), received('def')];
    for (const v of views) sock.emit('data', v);
    expect(seen.map((d) => d.toString())).toEqual(['abc', 'def']);
    for (let i = 0; i < 2; i++) expect(seen[i]!.buffer).toBe(views[i]!.buffer);
  });

  it('a body nobody reads yet is kept as copies in small blocks, exact when read later', async () => {
    let request: IncomingRequest | undefined;
    const sock = serve((req) => (request = req));
    sock.emit('data', received('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n'));
    const body = Uint8Array.from({ length: 1000 }, (_, i) => (i * 13) & 0xff);
    const views: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      const v = received(body.subarray(i, i + 1));
      views.push(v);
      sock.emit('data', v);
    }
    await tick();
    expect(request!.complete).toBe(true);
    const chunks: Buffer[] = [];
    for (let d = request!.read() as Buffer | null; d !== null; d = request!.read() as Buffer | null) chunks.push(d);
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(body));
    const blocks = new Set<ArrayBufferLike>();
    for (const c of chunks) blocks.add(c.buffer);
    for (const v of views) expect(blocks.has(v.buffer)).toBe(false);
    let storage = 0;
    for (const b of blocks) storage += b.byteLength;
    expect(storage).toBeLessThan(64 * 1024);
  });

  it('past 256 small body pieces waiting, the socket is paused until the reader empties the request; the body is exact', async () => {
    let request: IncomingRequest | undefined;
    const sock = serve((req, res) => {
      request = req;
      req.on('end', () => res.end('done'));
    });
    await tick();
    sock.push(received('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n'));
    const body = Uint8Array.from({ length: 2000 }, (_, i) => (i * 17) & 0xff);
    for (let i = 0; i < 2000; i++) sock.push(received(body.subarray(i, i + 1)));
    for (let i = 0; i < 5; i++) await tick();
    expect(request!.readableLength).toBe(256);
    expect(sock.isPaused()).toBe(true);
    const got: number[] = [];
    for (let round = 0; round < 50 && got.length < 2000; round++) {
      for (let d = request!.read() as Buffer | null; d !== null; d = request!.read() as Buffer | null) got.push(...d);
      await tick();
    }
    expect(got.length).toBe(2000);
    expect(Buffer.from(got)).toEqual(Buffer.from(body));
    for (let i = 0; i < 5; i++) await tick();
    expect(Buffer.concat(sock.out).toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\ndone$/);
  });
});
