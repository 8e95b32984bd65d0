/**
 * The HTTP server keeps the request and the response it handled last, and with the response its
 * connection, and only those (server.ts lastExchange; docs/architecture.md, "Compiled code across
 * idle periods"), so that the hidden classes of its per-connection objects outlive the full
 * GC of a server with no client. Checked with WeakRefs and a forced GC over two stacks on a memory
 * link: after the second connection, the first one's objects are gone and the second's are not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.ts';
import type { Stack } from '../../src/stack.ts';
import { alive, fullGc, nextJob } from '../helpers/gc.ts';
import { stackPair, until } from '../socket/stack-pair.ts';


let open: { server: Stack; client: Stack; http: HttpServer } | undefined;

afterEach(async () => {
  const s = open;
  open = undefined;
  if (!s) return;
  await new Promise<void>((r) => s.http.close(() => r()));
  await s.server.close();
  await s.client.close();
});

interface Refs {
  req: WeakRef<object>;
  res: WeakRef<object>;
  /** The HttpConnection, the response's owner. */
  conn: WeakRef<object>;
}

describe('the HTTP exchange handled last is kept, and only that one', () => {
  it('survives a full GC; the one before it does not', async () => {
    const { a: client, b: server } = stackPair();
    let last: Refs | undefined;
    let exchanges = 0;
    const http = createHttpServer(server, {}, (req, res) => {
      last = { req: new WeakRef(req), res: new WeakRef(res), conn: new WeakRef((res as unknown as { owner: object }).owner) };
      res.end('hello');
    });
    open = { server, client, http };
    await new Promise<void>((r) => http.listen(80, () => r()));

    /**
     * One request with Connection: close; resolves with the response's bytes once the server,
     * which closes first, holds only a TIME-WAIT record of the connection (its TCB let go of the
     * HttpConnection: only the server's own reference can keep it).
     */
    const exchange = async (): Promise<{ body: string; refs: Refs }> => {
      last = undefined;
      const sock = client.tcp.connect({ host: '10.0.0.2', port: 80 });
      const chunks: Buffer[] = [];
      sock.on('data', (d: Buffer) => chunks.push(d));
      const ended = new Promise<void>((r) => sock.on('end', () => r()));
      sock.write('GET / HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n');
      await ended;
      sock.end();
      const timeWaitOnly = (): boolean => server.connections().every((c) => c.state === 'TIME-WAIT');
      await until(() => http.connectionCount === 0 && timeWaitOnly(), 2000);
      expect(server.connections().map((c) => c.state)).toEqual(new Array(++exchanges).fill('TIME-WAIT'));
      return { body: Buffer.concat(chunks).toString('latin1'), refs: last! };
    };

    const first = await exchange();
    expect(first.body).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello$/);
    await nextJob();
    fullGc();
    expect(alive(first.refs)).toEqual({ req: true, res: true, conn: true });

    const second = await exchange();
    expect(second.body).toMatch(/\r\n\r\nhello$/);
    await nextJob();
    fullGc();
    expect(alive(first.refs)).toEqual({ req: false, res: false, conn: false });
    expect(alive(second.refs)).toEqual({ req: true, res: true, conn: true });
  });
});
