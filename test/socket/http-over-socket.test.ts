/**
 * The HTTP server on top of TcpNet (over the fake TCP layer): keep-alive, pipelining and a large
 * response with a small send buffer, so the HTTP layer meets real socket backpressure.
 */
import { describe, it, expect } from 'vitest';
import { createHttpServer } from '../../src/http/server.ts';
import { TcpNet } from '../../src/socket/tcp-net.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { twoEndpoints, settle } from './fake-tcp.ts';
import { pattern } from '../helpers/pattern.ts';

describe('HTTP over TcpSocket', () => {
  it('serves pipelined keep-alive requests and a large body through small TCP buffers', async () => {
    const eps = twoEndpoints({ sendBuffer: 2048, recvBuffer: 2048, mss: 536 });
    const clock = new ManualClock();
    const big = pattern(50_000);
    const server = createHttpServer(new TcpNet(eps.server, { clock, localAddress: '10.0.0.2' }), { clock }, (req, res) => {
      if (req.url === '/big') res.end(big);
      else res.end(`path=${req.url}`);
    });
    server.listen(80);
    await settle();
    const client = new TcpNet(eps.client).connect(80, '10.0.0.2');
    const chunks: Buffer[] = [];
    client.on('data', (d: Buffer) => chunks.push(d));
    client.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n');
    for (let i = 0; i < 500 && Buffer.concat(chunks).length < big.length + 300; i++) await settle(1);
    const all = Buffer.concat(chunks);
    const text = all.toString('latin1');
    const first = text.indexOf('path=/a');
    const bigAt = all.indexOf(big);
    const last = text.indexOf('path=/c');
    expect(first).toBeGreaterThan(0);
    expect(bigAt).toBeGreaterThan(first);
    expect(last).toBeGreaterThan(bigAt + big.length);
    expect(text.match(/HTTP\/1\.1 200/g)?.length).toBe(3);
    client.end();
    await settle();
    expect(client.destroyed).toBe(true);
  });
});
