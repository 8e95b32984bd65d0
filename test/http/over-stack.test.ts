/**
 * HTTP over the real thing minus the TUN device: two tunstack stacks joined by an in-memory link,
 * the demo site on one, a client on the other. Every byte crosses our IPv4 and TCP.
 */
import { describe, expect, it } from 'vitest';
import { createDemoHandler } from '../../src/app/demo-site.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { createStack } from '../../src/stack.ts';
import { SystemClock } from '../../src/util/clock.ts';
import { parseResponses } from './http-client.ts';

describe('HTTP over two tunstack stacks on a memory link', () => {
  it('pipelined requests, /conn with real TCP numbers, a 2 MB /bytes, clean close', async () => {
    const clock = new SystemClock();
    const [a, b] = createMemoryLink(clock, { latencyMs: 1 });
    const server = createStack({ device: a, address: '10.0.0.2', clock });
    const client = createStack({ device: b, address: '10.0.0.1', clock });
    const http = createHttpServer(server, createDemoHandler({ stats: () => server.stats(), connectionTable: () => server.connections() }));
    await new Promise<void>((r) => http.listen(80, () => r()));
    try {
      const sock = client.tcp.connect({ host: '10.0.0.2', port: 80 });
      const chunks: Buffer[] = [];
      sock.on('data', (d: Buffer) => chunks.push(d));
      const ended = new Promise<void>((resolve, reject) => {
        sock.on('end', () => resolve());
        sock.on('error', reject);
      });
      const total = 2_000_000;
      sock.write(
        'GET /delay/20 HTTP/1.1\r\nHost: s\r\n\r\nGET /conn HTTP/1.1\r\nHost: s\r\n\r\n' +
          `GET /bytes/${total} HTTP/1.1\r\nHost: s\r\n\r\nGET /stats HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n`,
      );
      await ended;
      sock.end();
      const rs = parseResponses(Buffer.concat(chunks));
      expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(rs[0]!.body.toString()).toBe('delayed 20 ms\n');
      const conn = JSON.parse(rs[1]!.body.toString());
      expect(conn.transport).toBe('tunstack');
      expect(conn.client.address).toBe('10.0.0.1');
      expect(conn.server).toEqual({ address: '10.0.0.2', port: 80 });
      expect(conn.requestOnConnection).toBe(2);
      expect(conn.tcp.state).toBe('ESTABLISHED');
      expect(conn.tcp.mss).toBeGreaterThan(0);
      const body = rs[2]!.body;
      expect(body.length).toBe(total);
      let bad = -1;
      for (let i = 0; i < total; i++) if (body[i] !== i % 251) { bad = i; break; }
      expect(bad).toBe(-1);
      const stats = JSON.parse(rs[3]!.body.toString());
      expect(stats.connections.length).toBeGreaterThanOrEqual(1);
      expect(rs[3]!.headers['connection']).toBe('close');
    } finally {
      await new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
        setTimeout(r, 500);
      });
      await server.close();
      await client.close();
    }
  });
});
