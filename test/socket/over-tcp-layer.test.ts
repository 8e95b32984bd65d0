import { describe, it, expect } from 'vitest';
import type { TcpSocket } from '../../src/socket/tcp-socket.ts';

import { stackPair, until, wait } from './stack-pair.ts';
import { pattern } from '../helpers/pattern.ts';
import { record } from '../helpers/record.ts';

const pair = stackPair;

/**
 * The socket layer over the real thing: two Stacks (TcpLayer, IPv4) joined by an in-memory link,
 * real timers. What the fake-TCP tests assert, checked once more against src/tcp.
 */
describe('TcpSocket over the real TCP layer (two stacks, memory link)', () => {
  it('2 MB arrive intact; end() closes both sides cleanly', async () => {
    const { a, b } = pair();
    let server: TcpSocket | undefined;
    const chunks: Buffer[] = [];
    b.tcp
      .createServer((s) => {
        server = s;
        s.on('data', (d: Buffer) => chunks.push(d));
      })
      .listen(80);
    const c = a.tcp.connect(80, '10.0.0.2');
    const clog = record(c);
    c.resume();
    const data = pattern(2_000_000);
    c.end(data);
    await until(() => clog.some((e) => e.startsWith('close')));
    expect(server).toBeDefined();
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(clog).toEqual(['connect', 'finish', 'end', 'close:false']);
    await Promise.all([a.close(), b.close()]);
  });

  it('a paused reader closes the TCP window; everything arrives after resume', async () => {
    const { a, b } = pair();
    let server: TcpSocket | undefined;
    b.tcp
      .createServer((s) => {
        server = s;
        s.pause();
      })
      .listen(80);
    const c = a.tcp.connect(80, '10.0.0.2');
    let done = false;
    const data = pattern(3_000_000);
    c.write(data, () => (done = true));
    // The paused reader stops consuming: the window we advertise closes (below one MSS: RFC 9293
    // §3.8.6.2.2 keeps the receiver from advertising tiny windows), the sender's buffer fills up.
    await until(() => server !== undefined && server.tcpInfo().rcvWnd < server.tcpInfo().mss && c.tcpInfo().sendQueued > 0);
    await wait(50);
    const info = server!.tcpInfo();
    expect(done).toBe(false);
    expect(info.rcvWnd).toBeLessThan(info.mss);
    expect(c.tcpInfo().sendQueued).toBeGreaterThan(0);
    const chunks: Buffer[] = [];
    server!.on('data', (d: Buffer) => chunks.push(d));
    server!.resume();
    await until(() => Buffer.concat(chunks).length >= data.length);
    expect(done).toBe(true);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });

  it('destroy() with unread data resets the peer (ECONNRESET); a closed port refuses (ECONNREFUSED)', async () => {
    const { a, b } = pair();
    let accepted: TcpSocket | undefined;
    b.tcp.createServer({ pauseOnConnect: true }, (s) => (accepted = s)).listen(80);
    const c = a.tcp.connect(80, '10.0.0.2');
    const clog = record(c);
    c.on('connect', () => c.write('unread'));
    // Destroy once the request sits unread in the server's TCP receive buffer.
    await until(() => accepted !== undefined && accepted.bytesRead === 6);
    accepted!.destroy();
    const r = a.tcp.connect(81, '10.0.0.2');
    const rlog = record(r);
    await until(() => clog.some((e) => e.startsWith('close')) && rlog.some((e) => e.startsWith('close')));
    expect(clog).toEqual(['connect', 'error:ECONNRESET', 'close:true']);
    expect(rlog).toEqual(['error:ECONNREFUSED', 'close:true']);
    await Promise.all([a.close(), b.close()]);
  });
});
