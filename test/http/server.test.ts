import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/util/clock.ts';
import { createHttpServer, type RequestHandler } from '../../src/http/server.ts';
import { isToken } from '../../src/http/parser.ts';
import type { IncomingRequest } from '../../src/http/incoming-request.ts';
import type { ServerResponse } from '../../src/http/server-response.ts';
import { exchange, parseResponses, startServer, type Running } from './http-client.ts';

const H = 'Host: t\r\n';
let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** /delay/MS answers after MS; /size/N answers N bytes of a letter chosen by the request number. */
const testHandler: RequestHandler = (req, res) => {
  const url = req.url;
  if (url.startsWith('/delay/')) {
    setTimeout(() => res.end(`delayed ${url}`), Number(url.slice(7)));
    return;
  }
  if (url.startsWith('/size/')) {
    const n = Number(url.slice(6));
    res.end(Buffer.alloc(n, 0x61 + (n % 26)));
    return;
  }
  if (url === '/echo') {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => res.end(`${req.method} ${Buffer.concat(parts).toString()} ${JSON.stringify(req.trailers)}`));
    return;
  }
  if (url === '/stream') {
    res.write('part1,');
    setTimeout(() => res.end('part2'), 10);
    return;
  }
  res.setHeader('Content-Type', 'text/plain');
  res.end(`hello ${url}`);
};

describe('persistent connections (RFC 9112 §9.3)', () => {
  it('HTTP/1.1: keep-alive by default with Keep-Alive max decreasing, close on request', async () => {
    running = await startServer(testHandler);
    const r = await exchange(running.port, [
      `GET /a HTTP/1.1\r\n${H}\r\nGET /b HTTP/1.1\r\n${H}\r\nGET /c HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    ]);
    expect(r.cleanEof).toBe(true);
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.body.toString())).toEqual(['hello /a', 'hello /b', 'hello /c']);
    expect(rs[0]!.headers['connection']).toBe('keep-alive');
    expect(rs[0]!.headers['keep-alive']).toBe('timeout=5, max=99');
    expect(rs[1]!.headers['keep-alive']).toBe('timeout=5, max=98');
    expect(rs[2]!.headers['connection']).toBe('close');
    expect(rs[2]!.headers['keep-alive']).toBeUndefined();
    expect(rs[0]!.headers['server']).toBe('tunstack');
    expect(rs[0]!.headers['content-length']).toBe('8');
    expect(rs[0]!.headers['date']).toMatch(/^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
  });

  it('HTTP/1.0: closes by default; keep-alive on request with Keep-Alive header', async () => {
    running = await startServer(testHandler);
    const r1 = await exchange(running.port, ['GET /x HTTP/1.0\r\n\r\n']);
    const [a] = parseResponses(r1.data);
    expect(a!.head.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(a!.headers['connection']).toBe('close');
    expect(r1.cleanEof).toBe(true);

    const r2 = await exchange(running.port, ['GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n']);
    const rs = parseResponses(r2.data);
    expect(rs.map((x) => x.body.toString())).toEqual(['hello /1', 'hello /2']);
    expect(rs[0]!.headers['connection']).toBe('keep-alive');
    expect(rs[0]!.headers['keep-alive']).toBe('timeout=5, max=99');
    expect(rs[1]!.headers['connection']).toBe('close');
  });

  it('HTTP/1.0 streaming response is close-delimited, never chunked', async () => {
    running = await startServer(testHandler);
    const r = await exchange(running.port, ['GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n']);
    const [a] = parseResponses(r.data);
    expect(a!.headers['transfer-encoding']).toBeUndefined();
    expect(a!.headers['content-length']).toBeUndefined();
    expect(a!.headers['connection']).toBe('close');
    expect(a!.body.toString()).toBe('part1,part2');
  });

  it('HTTP/1.1 streaming response is chunked', async () => {
    running = await startServer(testHandler);
    const r = await exchange(running.port, [`GET /stream HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    const text = r.data.toString();
    expect(text).toContain('Transfer-Encoding: chunked\r\n');
    expect(text.endsWith('\r\n\r\n6\r\npart1,\r\n5\r\npart2\r\n0\r\n\r\n')).toBe(true);
  });

  it('max requests per connection: the last one carries Connection: close, extra requests are not served', async () => {
    running = await startServer(testHandler, { maxRequestsPerConnection: 3 });
    let req = '';
    for (let i = 1; i <= 5; i++) req += `GET /${i} HTTP/1.1\r\n${H}\r\n`;
    const r = await exchange(running.port, [req]);
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.body.toString())).toEqual(['hello /1', 'hello /2', 'hello /3']);
    expect(rs.map((x) => x.headers['keep-alive'])).toEqual(['timeout=5, max=2', 'timeout=5, max=1', undefined]);
    expect(rs[2]!.headers['connection']).toBe('close');
    expect(r.cleanEof).toBe(true);
  });

  it('idle timeout closes a quiet keep-alive connection with FIN', async () => {
    running = await startServer(testHandler, { keepAliveTimeoutMs: 150 });
    const r = await exchange(running.port, [`GET /idle HTTP/1.1\r\n${H}\r\n`]);
    expect(r.cleanEof).toBe(true);
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(['hello /idle']);
  });

  it('headers timeout answers 408 to a slow head (slowloris)', async () => {
    running = await startServer(testHandler, { headersTimeoutMs: 150 });
    const r = await exchange(running.port, ['GET / HTTP/1.1\r\nHost: slow\r\nX-A: ']);
    const [a] = parseResponses(r.data);
    expect(a!.status).toBe(408);
    expect(a!.headers['connection']).toBe('close');
    expect(r.cleanEof).toBe(true);
  });
});

describe('pipelining (RFC 9112 §9.3.2)', () => {
  const paths = ['/delay/100', '/size/10', '/size/5000', '/delay/30', '/size/1', '/size/70000', '/echo', '/delay/0', '/size/300', '/last'];
  const expectBodies = (bodies: string[]): void => {
    const want = paths.map((p) => {
      if (p.startsWith('/delay/')) return `delayed ${p}`;
      if (p.startsWith('/size/')) {
        const n = Number(p.slice(6));
        return String.fromCharCode(0x61 + (n % 26)).repeat(n);
      }
      if (p === '/echo') return 'GET  {}';
      return `hello ${p}`;
    });
    expect(bodies).toEqual(want);
  };
  const all = paths.map((p, i) => `GET ${p} HTTP/1.1\r\n${H}${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join('');

  it('10 requests in one write get 10 responses in request order', async () => {
    running = await startServer(testHandler);
    const r = await exchange(running.port, [all]);
    expectBodies(parseResponses(r.data).map((x) => x.body.toString()));
  });

  it('the same, sent one byte per write', async () => {
    running = await startServer(testHandler);
    const bytes = [...Buffer.from(all)].map((b) => Buffer.from([b]));
    const r = await exchange(running.port, bytes, { gapMs: 0, timeoutMs: 30000 });
    expectBodies(parseResponses(r.data).map((x) => x.body.toString()));
  });

  it('a later response written early is held until its turn, whatever its size', async () => {
    const big = Buffer.alloc(1_000_000);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    let sawBackpressure = false;
    running = await startServer((req, res) => {
      if (req.url === '/slow') {
        setTimeout(() => res.end('slow done'), 100);
        return;
      }
      let off = 0;
      const pump = (): void => {
        while (off < big.length) {
          const piece = big.subarray(off, off + 16384);
          off += piece.length;
          if (!res.write(piece)) {
            sawBackpressure = true;
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const r = await exchange(running.port, [`GET /slow HTTP/1.1\r\n${H}\r\nGET /big HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    const rs = parseResponses(r.data);
    expect(rs[0]!.body.toString()).toBe('slow done');
    expect(rs[1]!.headers['transfer-encoding']).toBe('chunked');
    expect(rs[1]!.body.equals(big)).toBe(true);
    expect(sawBackpressure).toBe(true);
  });

  it('past 32 queued requests the server stops reading; all are answered in the end', async () => {
    const pending: ServerResponse[] = [];
    let release = false;
    let socketPausedAtLimit = false;
    running = await startServer((req, res) => {
      if (release) res.end(`r${req.requestNumber}`);
      else {
        pending.push(res);
        if (pending.length === 32) setImmediate(() => (socketPausedAtLimit = (req.socket as net.Socket).isPaused()));
      }
    });
    const total = 100;
    let reqs = '';
    for (let i = 1; i <= total; i++) reqs += `GET /${i} HTTP/1.1\r\n${H}${i === total ? 'Connection: close\r\n' : ''}\r\n`;
    const done = exchange(running.port, [reqs]);
    // Wait until the server has parsed what it will parse, then check it stopped at the bound.
    for (let i = 0; i < 100 && pending.length < 32; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    expect(pending.length).toBe(32);
    expect(socketPausedAtLimit).toBe(true);
    release = true;
    for (const res of pending.reverse()) res.end(`r${res.req.requestNumber}`); // finish out of order
    const r = await done;
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.body.toString())).toEqual(Array.from({ length: total }, (_, i) => `r${i + 1}`));
  });
});

describe('messages', () => {
  it('HEAD gets the GET headers and no body; the connection stays in sync', async () => {
    running = await startServer(testHandler);
    const r = await exchange(running.port, [`HEAD /size/500 HTTP/1.1\r\n${H}\r\nGET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    const rs = parseResponses(r.data, ['HEAD', 'GET']);
    expect(rs[0]!.headers['content-length']).toBe('500');
    expect(rs[0]!.body.length).toBe(0);
    expect(rs[1]!.body.toString()).toBe('hello /after');
  });

  it('chunked request bodies with trailers reach the handler', async () => {
    running = await startServer(testHandler);
    const r = await exchange(running.port, [
      `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4;ext=1\r\nWiki\r\n6\r\npedia \r\n0\r\nX-Sum: 42\r\n\r\n`,
    ]);
    expect(parseResponses(r.data)[0]!.body.toString()).toBe('POST Wikipedia  {"x-sum":"42"}');
  });

  it('an unread request body is discarded so the next request still parses', async () => {
    running = await startServer((req, res) => res.end(`saw ${req.method} ${req.url}`));
    const body = 'x'.repeat(200_000);
    const r = await exchange(running.port, [`POST /up HTTP/1.1\r\n${H}Content-Length: ${body.length}\r\n\r\n${body}GET /next HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(['saw POST /up', 'saw GET /next']);
  });

  it('a handler-set Transfer-Encoding: chunked wins: chunked body, no Content-Length (RFC 9112 §6.2, §6.3)', async () => {
    running = await startServer((req, res) => {
      res.setHeader('Transfer-Encoding', 'chunked');
      if (req.url === '/both') res.setHeader('Content-Length', 5);
      res.end('hello');
    });
    const r = await exchange(running.port, [`GET /end HTTP/1.1\r\n${H}\r\nGET /both HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    const responses = r.data.toString('latin1').split(/(?=HTTP\/1\.1 200 OK\r\n)/);
    expect(responses.length).toBe(2);
    for (const text of responses) {
      expect(text).toContain('\r\nTransfer-Encoding: chunked\r\n');
      expect(text).not.toMatch(/content-length/i);
      expect(text.endsWith('\r\n\r\n5\r\nhello\r\n0\r\n\r\n')).toBe(true);
    }
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(['hello', 'hello']);
    expect(r.cleanEof).toBe(true);
  });

  it('to an HTTP/1.0 client a handler-set Transfer-Encoding is dropped and the length is announced', async () => {
    running = await startServer((_req, res) => {
      res.setHeader('Transfer-Encoding', 'chunked');
      res.end('hello');
    });
    const r = await exchange(running.port, ['GET / HTTP/1.0\r\n\r\n']);
    const text = r.data.toString('latin1');
    expect(text).not.toMatch(/transfer-encoding/i);
    expect(text).toContain('\r\nContent-Length: 5\r\n');
    expect(text.endsWith('\r\n\r\nhello')).toBe(true);
  });

  it('204 and 304 carry no body and no framing headers', async () => {
    running = await startServer((req, res) => {
      res.statusCode = req.url === '/204' ? 204 : 304;
      res.end();
    });
    const r = await exchange(running.port, [`GET /204 HTTP/1.1\r\n${H}\r\nGET /304 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.status)).toEqual([204, 304]);
    expect(rs[0]!.headers['content-length']).toBeUndefined();
    expect(rs[0]!.headers['transfer-encoding']).toBeUndefined();
  });
});

describe('bad requests: exact status, then a clean close', () => {
  const cases: [string, string, number][] = [
    ['CL+TE', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`, 400],
    ['bad CL', `POST / HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`, 400],
    ['obs-fold', `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`, 400],
    ['bare CR', `GET / HTTP/1.1\r\n${H}X: a\rb\r\n\r\n`, 400],
    ['TE gzip only', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 400],
    ['TE gzip,chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501],
    ['long URI', `GET /${'u'.repeat(9000)} HTTP/1.1\r\n${H}\r\n`, 414],
    ['huge headers', `GET / HTTP/1.1\r\n${H}X: ${'h'.repeat(20000)}\r\n\r\n`, 431],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 505],
    ['bad method', `G@T / HTTP/1.1\r\n${H}\r\n`, 400],
    ['space before colon', `GET / HTTP/1.1\r\nHost : t\r\n\r\n`, 400],
    ['bare LF after chunk data', `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n`, 400],
  ];
  for (const [name, text, status] of cases) {
    it(`${name} -> ${status}`, async () => {
      running = await startServer(testHandler);
      const errors: string[] = [];
      running.server.on('clientError', (e: { code: string }) => errors.push(e.code));
      const r = await exchange(running.port, [text]);
      const rs = parseResponses(r.data);
      expect(rs.length).toBe(1);
      expect(rs[0]!.status).toBe(status);
      expect(rs[0]!.headers['connection']).toBe('close');
      expect(r.cleanEof).toBe(true);
      expect(errors.length).toBe(1);
    });
  }

  it('a parse error after a response has started on the wire closes it truncated, with no error response after it', async () => {
    running = await startServer((_req, res) => {
      res.write('partial'); // head and first chunk go out at once; the body is still arriving
    });
    const errors: string[] = [];
    running.server.on('clientError', (e: { code: string }) => errors.push(e.code));
    const head = `POST /p HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`;
    const r = await exchange(running.port, [head, 'zz\r\n'], { gapMs: 50 });
    const text = r.data.toString('latin1');
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text).toContain('\r\nTransfer-Encoding: chunked\r\n');
    // The partial body and nothing after it: no 400 glued onto the unfinished chunked body.
    expect(text.endsWith('\r\n\r\n7\r\npartial\r\n')).toBe(true);
    expect(text.match(/HTTP\/1\.1 /g)!.length).toBe(1);
    expect(r.cleanEof).toBe(true);
    expect(errors).toEqual(['ERR_HTTP_INVALID_CHUNK']);
  });

  it('a parse error in a request whose response is still held: that response is dropped, the 400 follows the earlier ones', async () => {
    running = await startServer((req, res) => {
      if (req.url === '/first') setTimeout(() => res.end('first'), 50);
      else res.write('partial'); // held: not its turn yet
    });
    const r = await exchange(
      running.port,
      [`GET /first HTTP/1.1\r\n${H}\r\nPOST /p HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`, 'zz\r\n'],
      { gapMs: 10 },
    );
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.status)).toEqual([200, 400]);
    expect(rs[0]!.body.toString()).toBe('first');
    expect(rs[1]!.headers['connection']).toBe('close');
    expect(r.data.toString('latin1')).not.toContain('partial');
    expect(r.cleanEof).toBe(true);
  });

  it('earlier pipelined requests are answered before the error; other connections go on', async () => {
    running = await startServer(testHandler);
    const r = await exchange(running.port, [`GET /delay/50 HTTP/1.1\r\n${H}\r\nGET / HTTP/9.9\r\n\r\nGET /never HTTP/1.1\r\n${H}\r\n`]);
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.status)).toEqual([200, 505]);
    expect(rs[0]!.body.toString()).toBe('delayed /delay/50');
    const ok = await exchange(running.port, [`GET /fine HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    expect(parseResponses(ok.data)[0]!.body.toString()).toBe('hello /fine');
  });
});

/** Two connected in-memory Duplex ends. */
function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (i: number): Duplex =>
    new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        ends[1 - i]!.push(chunk);
        cb();
      },
      final(cb) {
        ends[1 - i]!.push(null);
        cb();
      },
    });
  ends.push(make(0), make(1));
  return [ends[0]!, ends[1]!];
}

describe('over an in-memory Duplex pair, in virtual time', () => {
  it('serves a request and closes after exactly the idle timeout', async () => {
    const clock = new ManualClock(0);
    const server = createHttpServer(undefined, { clock, keepAliveTimeoutMs: 5000, wallClock: () => Date.UTC(2026, 0, 2, 3, 4, 5) }, (req: IncomingRequest, res: ServerResponse) =>
      res.end(`n=${req.requestNumber}`),
    );
    const [client, serverEnd] = duplexPair();
    server.handleConnection(serverEnd);
    const got: Buffer[] = [];
    let ended = false;
    client.on('data', (d: Buffer) => got.push(d));
    client.on('end', () => (ended = true));
    client.write(`GET / HTTP/1.1\r\n${H}\r\n`);
    await new Promise((r) => setImmediate(r));
    const text = Buffer.concat(got).toString();
    expect(text).toBe(
      'HTTP/1.1 200 OK\r\nDate: Fri, 02 Jan 2026 03:04:05 GMT\r\nServer: tunstack\r\nContent-Length: 3\r\n' +
        'Connection: keep-alive\r\nKeep-Alive: timeout=5, max=99\r\n\r\nn=1',
    );
    clock.advance(4999);
    await new Promise((r) => setImmediate(r));
    expect(ended).toBe(false);
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
    expect(ended).toBe(true);
  });
});

describe('HEAD ended with a bare end() (RFC 9110 §9.3.2, §8.6)', () => {
  it('announces no Content-Length unless the handler set one; the next request still parses', async () => {
    const server = createHttpServer(undefined, { wallClock: () => Date.UTC(2026, 0, 2, 3, 4, 5) }, (req: IncomingRequest, res: ServerResponse) => {
      if (req.url === '/set') res.setHeader('Content-Length', 1234);
      if (req.method === 'HEAD') res.end();
      else res.end('got');
    });
    const [client, serverEnd] = duplexPair();
    server.handleConnection(serverEnd);
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    const ended = new Promise((r) => client.on('end', r));
    client.write(`HEAD /bare HTTP/1.1\r\n${H}\r\nHEAD /set HTTP/1.1\r\n${H}\r\nGET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    await ended;
    const date = 'Date: Fri, 02 Jan 2026 03:04:05 GMT\r\nServer: tunstack\r\n';
    expect(Buffer.concat(got).toString('latin1')).toBe(
      `HTTP/1.1 200 OK\r\n${date}Connection: keep-alive\r\nKeep-Alive: timeout=5, max=99\r\n\r\n` +
        `HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n${date}Connection: keep-alive\r\nKeep-Alive: timeout=5, max=98\r\n\r\n` +
        `HTTP/1.1 200 OK\r\n${date}Content-Length: 3\r\nConnection: close\r\n\r\ngot`,
    );
  });
});

describe('server behaviour', () => {
  it('closing with unread data still ends with FIN, not RST (the rest is read and discarded)', async () => {
    running = await startServer(testHandler);
    const junk = Buffer.alloc(2 * 1024 * 1024, 0x41);
    const r = await exchange(running.port, [Buffer.concat([Buffer.from(`GET /c HTTP/1.1\r\n${H}Connection: close\r\n\r\n`), junk])]);
    expect(r.cleanEof).toBe(true);
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(['hello /c']);
    const e = await exchange(running.port, [Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n'), junk])]);
    expect(e.cleanEof).toBe(true);
    expect(parseResponses(e.data)[0]!.status).toBe(400);
    expect(parseResponses(e.data)[0]!.headers['date']).toMatch(/GMT$/);
  });

  it('a throwing handler gets a 500 with close; the server keeps serving', async () => {
    running = await startServer((req, res) => {
      if (req.url === '/boom') throw new Error('handler bug');
      res.end('fine');
    });
    const errors: string[] = [];
    running.server.on('clientError', (e: Error) => errors.push(e.message));
    const r = await exchange(running.port, [`GET /boom HTTP/1.1\r\n${H}\r\nGET /x HTTP/1.1\r\n${H}\r\n`]);
    const rs = parseResponses(r.data);
    expect(rs.map((x) => x.status)).toEqual([500]);
    expect(rs[0]!.headers['connection']).toBe('close');
    expect(errors).toEqual(['handler bug']);
    const ok = await exchange(running.port, [`GET /x HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    expect(parseResponses(ok.data)[0]!.body.toString()).toBe('fine');
  });

  it('Expect: 100-continue gets an interim 100 before the final response', async () => {
    running = await startServer(testHandler);
    const r = await exchange(running.port, [`POST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n`, 'abc'], { gapMs: 30 });
    expect(r.data.toString().startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
    expect(parseResponses(r.data)[0]!.body.toString()).toBe('POST abc {}');
  });

  it('a pipelined Expect: 100-continue request gets its 100 when its turn comes, after the response before it', async () => {
    running = await startServer(testHandler);
    const sock = net.connect(running.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let got100 = false;
    const seen100 = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000);
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        if (!got100 && Buffer.concat(chunks).includes('HTTP/1.1 100 Continue\r\n\r\n')) {
          got100 = true;
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
    const closed = new Promise((r) => sock.on('close', r));
    sock.on('end', () => sock.end());
    sock.write(`GET /delay/50 HTTP/1.1\r\n${H}\r\nPOST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n`);
    // The client holds the body back until the 100 (RFC 9110 §10.1.1), within its patience.
    expect(await seen100).toBe(true);
    sock.write('abc');
    await closed;
    const text = Buffer.concat(chunks).toString('latin1');
    // The 100 follows the first response entirely and precedes the second one.
    const first = text.indexOf('delayed /delay/50');
    const cont = text.indexOf('HTTP/1.1 100 Continue\r\n\r\n');
    expect(first).toBeGreaterThan(0);
    expect(cont).toBe(first + 'delayed /delay/50'.length);
    expect(text.slice(cont + 25).startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text.match(/100 Continue/g)!.length).toBe(1);
    expect(parseResponses(Buffer.concat(chunks)).map((x) => x.body.toString())).toEqual(['delayed /delay/50', 'POST abc {}']);
  });

  it('no 100 for a pipelined Expect: 100-continue request whose body arrived with it', async () => {
    running = await startServer(testHandler);
    const r = await exchange(running.port, [
      `GET /delay/30 HTTP/1.1\r\n${H}\r\nPOST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
    ]);
    expect(r.data.toString('latin1')).not.toContain('100 Continue');
    expect(parseResponses(r.data).map((x) => x.body.toString())).toEqual(['delayed /delay/30', 'POST abc {}']);
  });

  it('a slow body consumer pauses the socket; the body arrives intact', async () => {
    let pausedSeen = false;
    const size = 4 * 1024 * 1024;
    running = await startServer((req, res) => {
      let got = 0;
      let bad = -1;
      req.on('data', (c: Buffer) => {
        for (let i = 0; i < c.length; i++) if (c[i] !== (got + i) % 251 && bad < 0) bad = got + i;
        got += c.length;
        req.pause();
        if ((req.socket as net.Socket).isPaused()) pausedSeen = true;
        setTimeout(() => req.resume(), 1);
      });
      req.on('end', () => res.end(`${got} ${bad}`));
    });
    const body = Buffer.alloc(size);
    for (let i = 0; i < size; i++) body[i] = i % 251;
    const r = await exchange(running.port, [`POST /up HTTP/1.1\r\n${H}Content-Length: ${size}\r\nConnection: close\r\n\r\n`, body], { timeoutMs: 30000 });
    expect(parseResponses(r.data)[0]!.body.toString()).toBe(`${size} -1`);
    expect(pausedSeen).toBe(true);
  });

  it('a body shorter than its Content-Length closes the connection after it', async () => {
    running = await startServer((req, res) => {
      res.setHeader('Content-Length', 10);
      res.end('short');
    });
    const r = await exchange(running.port, [`GET /a HTTP/1.1\r\n${H}\r\nGET /b HTTP/1.1\r\n${H}\r\n`]);
    expect(r.data.toString().endsWith('\r\n\r\nshort')).toBe(true);
    expect(r.data.toString().match(/HTTP\/1\.1 200/g)!.length).toBe(1);
    expect(r.cleanEof).toBe(true);
  });

  it('setHeader refuses CR/LF (response splitting) and invalid names', async () => {
    const caught: string[] = [];
    running = await startServer((req, res) => {
      for (const [n, v] of [['X-A', 'a\r\nSet-Cookie: x'], ['Bad Name', 'v']] as const) {
        try {
          res.setHeader(n, v);
        } catch (e) {
          caught.push((e as { code: string }).code);
        }
      }
      res.end('ok');
    });
    const r = await exchange(running.port, [`GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    expect(parseResponses(r.data)[0]!.body.toString()).toBe('ok');
    expect(caught).toEqual(['ERR_HTTP_INVALID_HEADER_VALUE', 'ERR_INVALID_HTTP_TOKEN']);
  });

  it('setHeader accepts exactly the token names the parser accepts (RFC 9110 §5.6.2 tchar)', async () => {
    const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const chars = Array.from({ length: 0x110 }, (_, c) => String.fromCharCode(c));
    for (const ch of chars) expect(isToken(`X${ch}`), `0x${ch.charCodeAt(0).toString(16)}`).toBe(tchar.includes(ch));
    expect(isToken('')).toBe(false);
    const accepted: string[] = [];
    const server = createHttpServer(undefined, (_req: IncomingRequest, res: ServerResponse) => {
      for (const ch of chars) {
        try {
          res.setHeader(`X${ch}`, 'v');
          res.removeHeader(`X${ch}`);
          accepted.push(ch);
        } catch (e) {
          expect((e as { code: string }).code).toBe('ERR_INVALID_HTTP_TOKEN');
        }
      }
      res.end();
    });
    const [client, serverEnd] = duplexPair();
    server.handleConnection(serverEnd);
    client.resume();
    const ended = new Promise((r) => client.on('end', r));
    client.write(`GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    await ended;
    expect(accepted.join('')).toBe(chars.filter((ch) => tchar.includes(ch)).join(''));
  });

  it('close(): idle connections end now, a busy one after its response (with Connection: close)', async () => {
    const r0 = await startServer((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow'), 100);
      else res.end('quick');
    });
    const idle = exchange(r0.port, [`GET /q HTTP/1.1\r\n${H}\r\n`]);
    await new Promise((r) => setTimeout(r, 50));
    const busy = exchange(r0.port, [`GET /slow HTTP/1.1\r\n${H}\r\n`]);
    await new Promise((r) => setTimeout(r, 30));
    const closed = new Promise<void>((r) => r0.server.close(() => r()));
    const [i, b] = await Promise.all([idle, busy]);
    await closed;
    expect(parseResponses(i.data).map((x) => x.body.toString())).toEqual(['quick']);
    const [slow] = parseResponses(b.data);
    expect(slow!.body.toString()).toBe('slow');
    expect(slow!.headers['connection']).toBe('close');
    expect(r0.server.connectionCount).toBe(0);
  });
});

describe('the response head, byte for byte', () => {
  it('field lines in the order set, a repeated field once per value, numbers as decimals; then the server’s own lines', async () => {
    const server = createHttpServer(undefined, { wallClock: () => Date.UTC(2026, 0, 2, 3, 4, 5) }, (req: IncomingRequest, res: ServerResponse) => {
      res.statusCode = req.url === '/teapot' ? 418 : 200;
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Count', 42);
      res.setHeader('content-type', 'text/plain');
      if (req.url === '/teapot') res.statusMessage = 'Short and stout';
      res.end('ok');
    });
    const [client, serverEnd] = duplexPair();
    server.handleConnection(serverEnd);
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    const ended = new Promise((r) => client.on('end', r));
    client.write(`GET / HTTP/1.1\r\n${H}\r\nGET /teapot HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    await ended;
    const fields = 'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Count: 42\r\ncontent-type: text/plain\r\nDate: Fri, 02 Jan 2026 03:04:05 GMT\r\nServer: tunstack\r\nContent-Length: 2\r\n';
    expect(Buffer.concat(got).toString('latin1')).toBe(
      `HTTP/1.1 200 OK\r\n${fields}Connection: keep-alive\r\nKeep-Alive: timeout=5, max=99\r\n\r\nok` +
        `HTTP/1.1 418 Short and stout\r\n${fields}Connection: close\r\n\r\nok`,
    );
  });
});
