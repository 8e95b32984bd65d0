/**
 * Pipelining (RFC 9112 §9.3.2) against a kernel client through the TUN device: requests sent back
 * to back before any response are answered in the order they were sent, whole and byte-exact, also
 * when they arrive one byte per segment and when the first one is slow (head-of-line blocking).
 * The capture shows what the wire carried: the 10 requests in one segment, or (mostly) one-byte segments.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNetns, describeTun, type Netns } from './helpers/index.ts';
import { rawHttp, responsesOf, siteBytes, type RawResponse } from './helpers/http.ts';
import { startServe, type ServeHandle } from './helpers/stack.ts';

// ---- the /bytes pattern (byte i = i % 251) --------------------------------------------------------

const SIZES = [1, 100_000, 10, 5000, 0, 65_536, 3, 99_999, 1448, 70_000];

/** GET /bytes/N for each size, the last one with Connection: close (so the server ends with a FIN). */
function pipeline(paths: string[]): string {
  return paths
    .map((p, i) => `GET ${p} HTTP/1.1\r\nHost: 10.77.0.2\r\n${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`)
    .join('');
}

function expectBytesResponses(rs: RawResponse[]): void {
  expect(rs.map((r) => r.status)).toEqual(SIZES.map(() => 200));
  expect(rs.map((r) => r.headers.get('content-length'))).toEqual(SIZES.map(String));
  // Each body is its own pattern: a response out of order or cut short would not match.
  for (const [i, r] of rs.entries()) expect(r.body.equals(siteBytes(SIZES[i]!)), `response ${i} (/bytes/${SIZES[i]})`).toBe(true);
  // All but the last are persistent, with the request budget counting down.
  expect(rs.map((r) => r.headers.get('keep-alive') ?? r.headers.get('connection'))).toEqual([
    ...SIZES.slice(0, -1).map((_, i) => `timeout=5, max=${99 - i}`),
    'close',
  ]);
}

describeTun('e2e: HTTP pipelining over the TUN device', () => {
  let ns: Netns;
  let stack: ServeHandle;
  let dir: string;
  let pcap: string;
  let wholePort = -1;
  let bytewisePort = -1;
  let requestBytes = 0;

  beforeAll(async () => {
    ns = await createNetns('tsk-http-pipe');
    dir = mkdtempSync(join(tmpdir(), 'tunstack-pipe-'));
    pcap = join(dir, 'pipe.pcap');
    stack = await startServe(ns, ['--pcap', pcap]);
  });
  afterAll(async () => {
    await ns?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('10 requests in one write: 10 responses in request order, every body byte-exact, then a FIN', async () => {
    const req = pipeline(SIZES.map((n) => `/bytes/${n}`));
    requestBytes = req.length;
    const { port, results } = await rawHttp(ns, [{ send: req }, { read: 10 }, { eof: 5 }]);
    wholePort = port;
    expectBytesResponses(responsesOf(results, 1, 10));
    expect(results[2]!.eof).toBe('fin');
  });

  it('the same 10 requests one byte per write: the same 10 responses', async () => {
    const { port, results } = await rawHttp(ns, [{ send: pipeline(SIZES.map((n) => `/bytes/${n}`)), bytewise: true }, { read: 10 }, { eof: 5 }]);
    bytewisePort = port;
    expectBytesResponses(responsesOf(results, 1, 10));
    expect(results[2]!.eof).toBe('fin');
  });

  it('/delay/300 first in a pipeline of 5 is still answered first, the rest in order after it', async () => {
    const { port, results } = await rawHttp(ns, [
      { send: pipeline(['/delay/300', '/bytes/10', '/conn', '/bytes/1000', '/echo']) },
      { read: 5 },
      { eof: 5 },
    ]);
    const rs = responsesOf(results, 1, 5);
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(rs[0]!.body.toString('latin1')).toBe('delayed 300 ms\n');
    expect(rs[1]!.body.equals(siteBytes(10))).toBe(true);
    const conn = JSON.parse(rs[2]!.body.toString('utf8')) as { requestOnConnection: number; client: { port: number } };
    expect(conn.requestOnConnection).toBe(3);
    expect(conn.client.port).toBe(port);
    expect(rs[3]!.body.equals(siteBytes(1000))).toBe(true);
    expect(rs[4]!.body.toString('latin1')).toBe('GET /echo HTTP/1.1\nHost: 10.77.0.2\nConnection: close\n\nbody length: 0\n');
    expect(results[2]!.eof).toBe('fin');
  });

  it('the capture: the whole pipeline arrived in one segment, the byte-wise one mostly in 1-byte segments; no RST', async () => {
    const { code, lines } = await stack.stop();
    expect(code).toBe(0);
    const statsLine = lines.find((l) => l.startsWith('tunstack: stats '));
    expect(statsLine).toBeDefined();
    expect((JSON.parse(statsLine!.slice('tunstack: stats '.length)) as { tcp: Record<string, number> }).tcp['resetsSent']).toBe(0);
    const lengths = async (port: number): Promise<number[]> => {
      const r = await ns.exec(
        'tshark',
        ['-r', pcap, '-Y', `tcp.srcport==${port} && tcp.dstport==80 && tcp.len>0`, '-T', 'fields', '-e', 'tcp.len'],
        { timeoutMs: 30_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.split('\n').filter((l) => l.length > 0).map(Number);
    };
    expect(await lengths(wholePort)).toEqual([requestBytes]);
    const bytewise = await lengths(bytewisePort);
    expect(bytewise.reduce((a, b) => a + b, 0)).toBe(requestBytes);
    // Linux may still coalesce a few sends (autocorking while an ACK is outstanding): most of the
    // segments carry a single byte, so the parser saw request lines and CRLFs split everywhere.
    const ones = bytewise.filter((l) => l === 1).length;
    console.log(`byte-wise pipeline: ${requestBytes} bytes in ${bytewise.length} segments, ${ones} of them 1 byte, largest ${Math.max(...bytewise)}`);
    expect(ones).toBeGreaterThan(requestBytes / 2);
  });
});
