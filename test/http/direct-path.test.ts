/**
 * The HTTP server on our stack's TCP connections directly (src/http/tcp-transport.ts), with the
 * same checks run over the TcpSocket path (directPath: false) so that both keep the same behaviour:
 * two stacks on a memory link, every byte through our IPv4 and TCP. Assertions are on bytes, order,
 * window sizes and states; the polls are bounds, not timings.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, TcpPeer, type HttpServer, type RequestHandler } from '../../src/http/server.ts';
import type { TcpSocket } from '../../src/socket/tcp-socket.ts';
import type { Stack } from '../../src/stack.ts';
import { stackPair, until, wait } from '../socket/stack-pair.ts';
import { parseResponses } from './http-client.ts';

interface Setup {
  server: Stack;
  client: Stack;
  http: HttpServer;
  peers: unknown[];
}

let open: Setup | undefined;

async function setup(directPath: boolean, handler: RequestHandler, closeLingerMs = 5000): Promise<Setup> {
  const { a: client, b: server } = stackPair();
  const http = createHttpServer(server, { directPath, closeLingerMs }, handler);
  const peers: unknown[] = [];
  http.on('connection', (s: unknown) => peers.push(s));
  await new Promise<void>((r) => http.listen(80, () => r()));
  open = { server, client, http, peers };
  return open;
}

afterEach(async () => {
  const s = open;
  open = undefined;
  if (!s) return;
  await new Promise<void>((r) => {
    s.http.closeAllConnections();
    s.http.close(() => r());
    setTimeout(r, 200);
  });
  await s.server.close();
  await s.client.close();
});

/** A client socket on `s.client`, its bytes collected, and a promise for its end or error. */
function connect(s: Setup): { sock: TcpSocket; data: () => Buffer; done: Promise<'end' | string> } {
  const sock = s.client.tcp.connect({ host: '10.0.0.2', port: 80 });
  const chunks: Buffer[] = [];
  sock.on('data', (d: Buffer) => chunks.push(d));
  const done = new Promise<'end' | string>((resolve) => {
    sock.on('end', () => resolve('end'));
    sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  return { sock, data: () => Buffer.concat(chunks), done };
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: s\r\n${extra}\r\n`;

for (const directPath of [true, false]) {
  describe(`HTTP on the stack, ${directPath ? 'direct path' : 'TcpSocket path'}`, () => {
    it('answers pipelined requests in request order, whatever order the handlers finish in', async () => {
      const s = await setup(directPath, (req, res) => {
        const n = Number(req.url.slice(1));
        setTimeout(() => res.end(`r${n}`), (10 - n) * 3); // the last request finishes first
      });
      const c = connect(s);
      let reqs = '';
      for (let i = 0; i < 10; i++) reqs += get(`/${i}`, i === 9 ? 'Connection: close\r\n' : '');
      c.sock.write(reqs);
      expect(await c.done).toBe('end');
      const rs = parseResponses(c.data());
      expect(rs.map((r) => r.body.toString())).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9']);
      expect(rs.map((r) => r.headers['connection'])).toEqual([...Array(9).fill('keep-alive'), 'close']);
      // The direct path hands out a TcpPeer, the other path the TcpSocket itself.
      expect(s.peers.length).toBe(1);
      expect(s.peers[0] instanceof TcpPeer).toBe(directPath);
      c.sock.end();
    });

    it('req.socket and res.socket carry the endpoints and the TCB', async () => {
      let seen: Record<string, unknown> = {};
      const s = await setup(directPath, (req, res) => {
        const p = req.socket;
        const info = p.tcpInfo?.();
        seen = {
          remoteAddress: p.remoteAddress,
          remotePort: p.remotePort,
          localAddress: p.localAddress,
          localPort: p.localPort,
          remoteFamily: p.remoteFamily,
          destroyed: p.destroyed,
          same: res.socket === p,
          state: info?.state,
          infoRemotePort: info?.remotePort,
        };
        res.end('ok');
      });
      const c = connect(s);
      c.sock.write(get('/', 'Connection: close\r\n'));
      expect(await c.done).toBe('end');
      expect(seen).toEqual({
        remoteAddress: '10.0.0.1',
        remotePort: c.sock.localPort,
        localAddress: '10.0.0.2',
        localPort: 80,
        remoteFamily: 'IPv4',
        destroyed: false,
        same: true,
        state: 'ESTABLISHED',
        infoRemotePort: c.sock.localPort,
      });
      c.sock.end();
      await until(() => (s.peers[0] as { destroyed: boolean }).destroyed);
      expect((s.peers[0] as { destroyed: boolean }).destroyed).toBe(true);
    });

    it('a large POST body the handler does not read closes the peer window; reading reopens it, every byte arrives', async () => {
      const total = 3_000_000;
      let release: () => void = () => {};
      const s = await setup(directPath, (req, res) => {
        // Not read until released: the body waits in the request, then in TCP's receive buffer.
        release = () => {
          let got = 0;
          let bad = -1;
          req.on('data', (d: Buffer) => {
            for (let i = 0; i < d.length; i++) if (d[i] !== (got + i) % 251 && bad < 0) bad = got + i;
            got += d.length;
          });
          req.on('end', () => res.end(`${got} ${bad}`));
        };
      });
      const c = connect(s);
      const body = Buffer.alloc(total);
      for (let i = 0; i < total; i++) body[i] = i % 251;
      c.sock.write(`POST /up HTTP/1.1\r\nHost: s\r\nContent-Length: ${total}\r\nConnection: close\r\n\r\n`);
      c.sock.write(body);
      // The server's window closes: the client sees a zero send window with bytes still unsent.
      await until(() => c.sock.tcpInfo().sndWnd === 0 && c.sock.tcpInfo().sendQueued > 0);
      const info = c.sock.tcpInfo();
      expect(info.sndWnd).toBe(0);
      expect(info.sendQueued).toBeGreaterThan(0);
      const server = s.server.connections().find((r) => r.localPort === 80 && r.state === 'ESTABLISHED');
      expect(server?.rcvWnd).toBe(0);
      // It stays closed while nobody reads.
      await wait(50);
      expect(c.sock.tcpInfo().sndWnd).toBe(0);
      release();
      expect(await c.done).toBe('end');
      const rs = parseResponses(c.data());
      expect(rs.length).toBe(1);
      expect(rs[0]!.body.toString()).toBe(`${total} -1`);
      c.sock.end();
    });

    it('a response larger than the send buffer to a client that does not read waits for writable, and arrives whole', async () => {
      const total = 4 * 1024 * 1024;
      const piece = 64 * 1024;
      let refused = 0;
      let written = 0;
      const block = Buffer.alloc(piece);
      const s = await setup(directPath, (_req, res) => {
        res.setHeader('Content-Length', total);
        const more = (): void => {
          while (written < total) {
            for (let i = 0; i < piece; i++) block[i] = (written + i) % 251;
            written += piece;
            if (!res.write(Buffer.from(block))) {
              refused++;
              res.once('drain', more);
              return;
            }
          }
          res.end();
        };
        more();
      });
      const c = connect(s);
      c.sock.pause();
      c.sock.write(get('/big', 'Connection: close\r\n'));
      // Our window closes, the server's send buffer fills, and its writes stop being accepted.
      await until(() => c.sock.tcpInfo().rcvWnd === 0 && refused > 0);
      const server = (): { sendQueued: number } | undefined => s.server.connections().find((r) => r.localPort === 80);
      await until(() => (server()?.sendQueued ?? 0) >= 1024 * 1024 - piece);
      const heldWritten = written;
      expect(refused).toBeGreaterThan(0);
      expect(heldWritten).toBeLessThan(total);
      // Bounded: the send buffer (1 MiB) and the response's own buffer, not the whole body.
      expect(server()!.sendQueued).toBeLessThanOrEqual(1024 * 1024);
      await wait(50);
      expect(written).toBe(heldWritten);
      c.sock.resume();
      expect(await c.done).toBe('end');
      const rs = parseResponses(c.data());
      expect(rs.length).toBe(1);
      const body = rs[0]!.body;
      expect(body.length).toBe(total);
      let bad = -1;
      for (let i = 0; i < total; i++) if (body[i] !== i % 251) { bad = i; break; }
      expect(bad).toBe(-1);
      c.sock.end();
    });

    it('after "Connection: close" the server sends FIN after the response and answers nothing more', async () => {
      let handled = 0;
      const s = await setup(directPath, (req, res) => {
        handled++;
        res.end(req.url);
      });
      const c = connect(s);
      c.sock.write(get('/one') + get('/two', 'Connection: close\r\n') + get('/three'));
      expect(await c.done).toBe('end'); // the server's FIN, with our side still open
      const rs = parseResponses(c.data());
      expect(rs.map((r) => r.body.toString())).toEqual(['/one', '/two']);
      expect(rs[1]!.headers['connection']).toBe('close');
      expect(handled).toBe(2);
      // The server read and discarded /three: our FIN then closes the connection cleanly.
      c.sock.end();
      await until(() => s.http.connectionCount === 0);
      expect(s.http.connectionCount).toBe(0);
      await until(() => s.server.connections().every((r) => r.state !== 'ESTABLISHED' && r.state !== 'FIN-WAIT-2'));
      expect(s.server.connections().filter((r) => r.state === 'ESTABLISHED').length).toBe(0);
    });

    it("a client that half-closes after its requests gets every response, then the server's FIN", async () => {
      const s = await setup(directPath, (req, res) => {
        setTimeout(() => res.end(`answer ${req.url}`), 5);
      });
      const c = connect(s);
      c.sock.end(get('/a') + get('/b') + get('/c'));
      expect(await c.done).toBe('end');
      const rs = parseResponses(c.data());
      expect(rs.map((r) => r.body.toString())).toEqual(['answer /a', 'answer /b', 'answer /c']);
      await until(() => s.http.connectionCount === 0);
      expect(s.http.connectionCount).toBe(0);
    });

    it('destroying the socket with received bytes unread resets the connection (RFC 1122 §4.2.2.13)', async () => {
      const s = await setup(directPath, (req) => {
        // Never read the body; once the window has closed, give up on the connection.
        void until(() => c.sock.tcpInfo().sndWnd === 0).then(() => req.socket.destroy());
      });
      const c = connect(s);
      c.sock.write(`POST /up HTTP/1.1\r\nHost: s\r\nContent-Length: 2000000\r\n\r\n`);
      c.sock.write(Buffer.alloc(2_000_000, 7));
      expect(await c.done).toBe('ECONNRESET');
      await until(() => s.http.connectionCount === 0);
      expect(s.http.connectionCount).toBe(0);
    });

    it('a peer that never sends its FIN is dropped after the linger time', async () => {
      const s = await setup(directPath, (_req, res) => res.end('bye'), 50);
      const c = connect(s);
      c.sock.write(get('/', 'Connection: close\r\n'));
      expect(await c.done).toBe('end');
      expect(parseResponses(c.data())[0]!.body.toString()).toBe('bye');
      // We never end our side: the server gives up after closeLingerMs.
      await until(() => s.http.connectionCount === 0, 5000);
      expect(s.http.connectionCount).toBe(0);
    });
  });
}
