/**
 * The request timeout (found by the fuzzer: a client that sent a request head and part of its body,
 * then went silent, held its connection forever: no timer runs while a request is in flight, and the
 * stack has no keep-alive by default). Now the whole request must arrive within requestTimeoutMs
 * (node:http's requestTimeout, 300 s by default), else 408 and a clean close (RFC 9110 §15.5.9).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestHandler } from '../../src/http/server.ts';
import { exchange, parseResponses, startServer, type Running } from './http-client.ts';

let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** Reads the body, answers with its length. */
const echoLength: RequestHandler = (req, res) => {
  let n = 0;
  req.on('data', (c: Buffer) => (n += c.length));
  req.on('end', () => res.end(`got ${n}`));
};

describe('request timeout', () => {
  it('a body that stops arriving gets 408 and a clean close', async () => {
    running = await startServer(echoLength, { requestTimeoutMs: 200, headersTimeoutMs: 5000, keepAliveTimeoutMs: 5000 });
    const started = performance.now();
    const r = await exchange(running.port, ['POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n', 'only 19 bytes of it'], { gapMs: 20, timeoutMs: 3000 });
    const [a, ...rest] = parseResponses(r.data);
    expect(a!.status).toBe(408);
    expect(a!.headers['connection']).toBe('close');
    expect(rest.length).toBe(0);
    expect(r.cleanEof).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('a whole request within the time is answered, and the timer does not outlive it', async () => {
    running = await startServer(echoLength, { requestTimeoutMs: 300, keepAliveTimeoutMs: 600 });
    const r = await exchange(
      running.port,
      ['POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234', '56789', 'POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
      { gapMs: 50, timeoutMs: 3000 },
    );
    // Both answered; the connection then stays up past requestTimeoutMs until the idle timeout.
    expect(parseResponses(r.data).map((x) => [x.status, x.body.toString()])).toEqual([
      [200, 'got 10'],
      [200, 'got 3'],
    ]);
    expect(r.cleanEof).toBe(true);
  });
});
