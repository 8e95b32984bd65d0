import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDemoHandler, patternByte } from '../../src/app/demo-site.ts';
import { resolveUrlPath } from '../../src/app/static-files.ts';
import { exchange, parseResponses, startServer, type Running } from './http-client.ts';

const H = 'Host: t\r\n';
let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function get(reqText: string, methods?: string[]): Promise<ReturnType<typeof parseResponses>> {
  const r = await exchange(running!.port, [reqText]);
  return parseResponses(r.data, methods);
}

describe('demo site routes', () => {
  it('/bytes/N is byte-exact with Content-Length; HEAD has the length only', async () => {
    running = await startServer(createDemoHandler());
    const rs = await get(
      `GET /bytes/100000 HTTP/1.1\r\n${H}\r\nHEAD /bytes/77 HTTP/1.1\r\n${H}\r\nGET /bytes/0 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
      ['GET', 'HEAD', 'GET'],
    );
    expect(rs[0]!.status).toBe(200);
    expect(rs[0]!.headers['content-length']).toBe('100000');
    const want = Buffer.alloc(100000);
    for (let i = 0; i < want.length; i++) want[i] = i % 251;
    expect(rs[0]!.body.equals(want)).toBe(true);
    expect(rs[1]!.headers['content-length']).toBe('77');
    expect(rs[1]!.body.length).toBe(0);
    expect(rs[2]!.headers['content-length']).toBe('0');
    expect(patternByte(251)).toBe(0);
    expect(patternByte(500)).toBe(249);
  });

  it('/bytes with a bad N -> 400', async () => {
    running = await startServer(createDemoHandler());
    for (const n of ['abc', '-1', '1073741825', '1.5', '']) {
      const [r] = await get(`GET /bytes/${n} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      expect(r!.status, n).toBe(400);
    }
    const [ok] = await get(`HEAD /bytes/1073741824 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, ['HEAD']);
    expect(ok!.headers['content-length']).toBe('1073741824');
  });

  it('/ shows the 4-tuple and the request number growing on one connection', async () => {
    running = await startServer(createDemoHandler());
    const rs = await get(`GET / HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(rs[0]!.headers['content-type']).toBe('text/html; charset=utf-8');
    const page = rs[1]!.body.toString();
    expect(rs[0]!.body.toString()).toContain('request <strong>#1</strong>');
    expect(page).toContain('request <strong>#2</strong>');
    expect(page).toContain(`127.0.0.1:${running.port}`);
    expect(page).toContain('keep-alive');
  });

  it('/conn is JSON with addresses and the request number', async () => {
    running = await startServer(createDemoHandler());
    const sock = net.connect(running.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    const localPort = sock.localPort;
    sock.end(`GET /conn HTTP/1.1\r\n${H}\r\nGET /conn HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    await new Promise((r) => sock.on('close', r));
    const rs = parseResponses(Buffer.concat(chunks));
    const j1 = JSON.parse(rs[0]!.body.toString());
    const j2 = JSON.parse(rs[1]!.body.toString());
    expect(j1.client).toEqual({ address: '127.0.0.1', port: localPort });
    expect(j1.server).toEqual({ address: '127.0.0.1', port: running.port });
    expect([j1.requestOnConnection, j2.requestOnConnection]).toEqual([1, 2]);
    expect(j1.transport).toBe('node:net');
  });

  it("the request number is the connection's, also when another handler answers some of its requests", async () => {
    const demo = createDemoHandler();
    running = await startServer((req, res) => (req.url === '/other' ? res.end('other') : demo(req, res)));
    const rs = await get(`GET /other HTTP/1.1\r\n${H}\r\nGET /conn HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(rs[0]!.body.toString()).toBe('other');
    expect(JSON.parse(rs[1]!.body.toString()).requestOnConnection).toBe(2);
    expect(rs[2]!.body.toString()).toContain('request <strong>#3</strong>');
  });

  it('/echo returns the request as received', async () => {
    running = await startServer(createDemoHandler());
    const [r] = await get(`POST /echo?q=1 HTTP/1.1\r\n${H}X-Mixed-Case: Val\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);
    expect(r!.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r!.body.toString()).toBe(
      'POST /echo?q=1 HTTP/1.1\nHost: t\nX-Mixed-Case: Val\nContent-Length: 5\nConnection: close\n\nbody length: 5\nbody:\nhello\n',
    );
  });

  it('accepts the absolute-form request-target (RFC 9112 §3.2.2)', async () => {
    running = await startServer(createDemoHandler());
    const [r] = await get(`GET http://t/bytes/5?x=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect([...r!.body]).toEqual([0, 1, 2, 3, 4]);
  });

  it('/delay, /stats, 404 and 405', async () => {
    running = await startServer(createDemoHandler({ stats: () => ({ segmentsIn: 7 }), connectionTable: () => [{ state: 'ESTABLISHED' }] }));
    const rs = await get(
      `GET /delay/20 HTTP/1.1\r\n${H}\r\nGET /stats HTTP/1.1\r\n${H}\r\nGET /nope HTTP/1.1\r\n${H}\r\n` +
        `POST /conn HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nhi` +
        `GET /delay/10001 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    );
    expect(rs.map((r) => r.status)).toEqual([200, 200, 404, 405, 400]);
    expect(rs[0]!.body.toString()).toBe('delayed 20 ms\n');
    const stats = JSON.parse(rs[1]!.body.toString());
    expect(stats).toMatchObject({ stats: { segmentsIn: 7 }, connections: [{ state: 'ESTABLISHED' }] });
    expect(Object.keys(stats.memory).sort()).toEqual(['arrayBuffers', 'external', 'heapTotal', 'heapUsed', 'rss']);
    expect(rs[3]!.headers['allow']).toBe('GET, HEAD');
  });

  it('a 64 MiB /bytes to a slow reader stays bounded in server memory', async () => {
    running = await startServer(createDemoHandler());
    let maxBuffered = 0;
    const timers: NodeJS.Timeout[] = [];
    running.server.on('connection', (s: net.Socket) => {
      timers.push(
        setInterval(() => {
          maxBuffered = Math.max(maxBuffered, s.writableLength);
        }, 2),
      );
    });
    const total = 64 * 1024 * 1024;
    const sock = net.connect(running.port, '127.0.0.1');
    sock.write(`GET /bytes/${total} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    let headDone = false;
    let headBuf = Buffer.alloc(0);
    let got = 0;
    let mismatch = -1;
    sock.pause();
    // Slow reader: pause for a while, then read with pauses between chunks.
    await new Promise((r) => setTimeout(r, 300));
    sock.on('data', (d: Buffer) => {
      if (!headDone) {
        headBuf = Buffer.concat([headBuf, d]);
        const e = headBuf.indexOf('\r\n\r\n');
        if (e < 0) return;
        expect(headBuf.toString('latin1', 0, e)).toContain(`Content-Length: ${total}`);
        headDone = true;
        d = headBuf.subarray(e + 4);
      }
      for (let i = 0; i < d.length; i++) {
        if (d[i] !== (got + i) % 251 && mismatch < 0) mismatch = got + i;
      }
      got += d.length;
      if (got < 8 * 1024 * 1024) {
        sock.pause();
        setTimeout(() => sock.resume(), 1);
      }
    });
    sock.resume();
    await new Promise((r) => sock.on('end', r));
    sock.end();
    for (const t of timers) clearInterval(t);
    expect(got).toBe(total);
    expect(mismatch).toBe(-1);
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThan(512 * 1024);
  });
});

describe('static files (--root)', () => {
  let dir: string;
  let root: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tunstack-static-'));
    root = path.join(dir, 'www');
    fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(root, 'index.html'), '<h1>home</h1>');
    fs.writeFileSync(path.join(root, 'style.css'), 'body{}');
    fs.writeFileSync(path.join(root, 'sub', 'index.html'), 'sub index');
    fs.writeFileSync(path.join(root, 'a b.txt'), 'spaced');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'TOP SECRET');
    fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(root, 'escape.txt'));
    fs.symlinkSync(dir, path.join(root, 'updir'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('serves files with content types, index.html for directories, HEAD, and 301 for a bare dir', async () => {
    running = await startServer(createDemoHandler({ root }));
    const rs = await get(
      `GET / HTTP/1.1\r\n${H}\r\nGET /style.css HTTP/1.1\r\n${H}\r\nGET /sub/ HTTP/1.1\r\n${H}\r\nGET /sub HTTP/1.1\r\n${H}\r\n` +
        `HEAD /a%20b.txt HTTP/1.1\r\n${H}\r\nGET /missing.txt HTTP/1.1\r\n${H}\r\nGET /conn HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
      ['GET', 'GET', 'GET', 'GET', 'HEAD', 'GET', 'GET'],
    );
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 301, 200, 404, 200]);
    expect(rs[0]!.body.toString()).toBe('<h1>home</h1>');
    expect(rs[0]!.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(rs[1]!.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(rs[2]!.body.toString()).toBe('sub index');
    expect(rs[3]!.headers['location']).toBe('/sub/');
    expect(rs[4]!.headers['content-length']).toBe('6');
    expect(rs[4]!.body.length).toBe(0);
    expect(JSON.parse(rs[6]!.body.toString()).requestOnConnection).toBe(7);
  });

  it('traversal attempts get 403/404 and never the secret', async () => {
    running = await startServer(createDemoHandler({ root }));
    const attempts: [string, number][] = [
      ['/../secret.txt', 403],
      ['/%2e%2e/secret.txt', 403],
      ['/sub/%2E%2E/%2E%2E/secret.txt', 403],
      ['/..%2fsecret.txt', 403],
      ['/sub/..%5c..%5csecret.txt', 403],
      ['/index.html%00.txt', 403],
      ['/escape.txt', 403],
      ['/updir/secret.txt', 403],
      ['/%zz', 400],
      ['/nothing/here', 404],
    ];
    for (const [p, status] of attempts) {
      const [r] = await get(`GET ${p} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      expect(r!.status, p).toBe(status);
      expect(r!.body.toString()).not.toContain('TOP SECRET');
    }
    expect(resolveUrlPath('/srv/www', '/a/../../etc/passwd')).toBe('forbidden');
    expect(resolveUrlPath('/srv/www', '/a/b.txt')).toBe(path.join('/srv/www', 'a/b.txt'));
  });

  it('a relative root (--root site) serves files, and still refuses traversal', async () => {
    const rel = path.relative(process.cwd(), root);
    expect(path.isAbsolute(rel)).toBe(false);
    expect(resolveUrlPath(rel, '/style.css')).toBe(path.join(root, 'style.css'));
    expect(resolveUrlPath(rel, '/sub/')).toBe(path.join(root, 'sub/'));
    running = await startServer(createDemoHandler({ root: rel }));
    const rs = await get(
      `GET /style.css HTTP/1.1\r\n${H}\r\nGET /sub/ HTTP/1.1\r\n${H}\r\nGET /escape.txt HTTP/1.1\r\n${H}\r\n` +
        `GET /updir/secret.txt HTTP/1.1\r\n${H}\r\nGET /%2e%2e/secret.txt HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    );
    expect(rs.map((r) => r.status)).toEqual([200, 200, 403, 403, 403]);
    expect(rs[0]!.body.toString()).toBe('body{}');
    expect(rs[0]!.headers['content-length']).toBe('6');
    expect(rs[1]!.body.toString()).toBe('sub index');
    for (const r of rs) expect(r.body.toString()).not.toContain('TOP SECRET');
  });

  it('resolves the real root once per handler, not on every request', async () => {
    const spy = vi.spyOn(fs.promises, 'realpath');
    try {
      running = await startServer(createDemoHandler({ root }));
      const rs = await get(`GET /style.css HTTP/1.1\r\n${H}\r\nGET /sub/ HTTP/1.1\r\n${H}\r\nGET /a%20b.txt HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      expect(rs.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(spy.mock.calls.filter(([p]) => p === root).length).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });
});
