/**
 * The HTTP server over our own socket layer (TcpNet), on the socket tests' in-memory TCP stand-in:
 * the same server code that runs over node:net, now over `stack.tcp`-shaped sockets.
 */
import { describe, expect, it } from 'vitest';
import { createDemoHandler } from '../../src/app/demo-site.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { TcpNet } from '../../src/socket/tcp-net.ts';
import { twoEndpoints } from '../socket/fake-tcp.ts';
import { parseResponses } from './http-client.ts';

describe('HTTP over TcpNet', () => {
  it('serves pipelined requests in order and closes cleanly; /conn shows tcpInfo', async () => {
    const eps = twoEndpoints();
    const stack = { tcp: new TcpNet(eps.server, { localAddress: '10.0.0.2' }) };
    const server = createHttpServer(stack, createDemoHandler());
    await new Promise<void>((r) => server.listen(80, () => r()));
    const client = new TcpNet(eps.client).connect(80, '10.0.0.2');
    const chunks: Buffer[] = [];
    client.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise<void>((r) => client.on('end', () => r()));
    client.write(
      'GET /delay/30 HTTP/1.1\r\nHost: s\r\n\r\nGET /bytes/200000 HTTP/1.1\r\nHost: s\r\n\r\n' +
        'GET /conn HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n',
    );
    await ended;
    client.end();
    const rs = parseResponses(Buffer.concat(chunks));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(rs[0]!.body.toString()).toBe('delayed 30 ms\n');
    expect(rs[1]!.body.length).toBe(200000);
    for (let i = 0; i < 200000; i += 997) expect(rs[1]!.body[i]).toBe(i % 251);
    const conn = JSON.parse(rs[2]!.body.toString());
    expect(conn.requestOnConnection).toBe(3);
    expect(conn.server.port).toBe(80);
    expect(conn.client.address).toBe('10.0.0.1');
    expect(conn.transport).toBe('tunstack');
    expect(typeof conn.tcp.state).toBe('string');
    expect(rs[2]!.headers['connection']).toBe('close');
    await new Promise<void>((r) => server.close(() => r()));
  });
});
