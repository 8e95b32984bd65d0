/**
 * The socket calls drill needs, on the real TCP layer (two Stacks joined by an in-memory link):
 * maxSegment (TCP_MAXSEG), sendBufferSize / receiveBufferSize (SO_SNDBUF / SO_RCVBUF), shutdownRead
 * (SHUT_RD), bytesUnread (SIOCINQ) and poll().
 */
import { describe, it, expect } from 'vitest';
import { POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, type TcpSocket } from '../../src/socket/tcp-socket.ts';
import type { TcpServerOptions } from '../../src/socket/tcp-server.ts';

import { stackPair, until as untilFor, wait } from './stack-pair.ts';
import { pattern } from '../helpers/pattern.ts';

const pair = stackPair;
/** Poll every 5 ms, at most 5 s. */
const until = (cond: () => boolean, maxMs = 5_000): Promise<void> => untilFor(cond, maxMs, 5);

/** A connected pair: `c` on stack a, `s` (accepted) on stack b. */
async function connected(serverOpts: TcpServerOptions = {}, connectOpts: Record<string, number> = {}) {
  const { a, b } = pair();
  let s: TcpSocket | undefined;
  b.tcp.createServer({ allowHalfOpen: true, ...serverOpts }, (x) => (s = x)).listen(80);
  const c = a.tcp.connect({ host: '10.0.0.2', port: 80, allowHalfOpen: true, ...connectOpts });
  await until(() => s !== undefined && !c.connecting);
  expect(s).toBeDefined();
  return { a, b, c, s: s!, close: () => Promise.all([a.close(), b.close()]) };
}

describe('maxSegment (TCP_MAXSEG)', () => {
  it('on connect: both sides send at most the clamp, less the 12 bytes of timestamps', async () => {
    const { c, s, close } = await connected({}, { maxSegment: 700 });
    // Our SYN announced 700: the server sends 700 - 12; we clamp our own sending too.
    expect(s.tcpInfo().mss).toBe(688);
    expect(c.tcpInfo().mss).toBe(688);
    await close();
  });

  it('on createServer: accepted connections announce it; without it the link decides (1460 - 12)', async () => {
    const { c, s, close } = await connected({ maxSegment: 600 });
    expect(c.tcpInfo().mss).toBe(588);
    expect(s.tcpInfo().mss).toBe(588);
    await close();
    const plain = await connected();
    expect(plain.c.tcpInfo().mss).toBe(1448);
    await plain.close();
  });

  it('bad values are ERR_OUT_OF_RANGE, thrown at once', () => {
    const { a, b } = pair();
    expect(() => a.tcp.connect({ host: '10.0.0.2', port: 80, maxSegment: 10 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => a.tcp.connect({ host: '10.0.0.2', port: 80, sendBufferSize: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => b.tcp.createServer({ receiveBufferSize: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    void Promise.all([a.close(), b.close()]);
  });
});

describe('sendBufferSize / receiveBufferSize (SO_SNDBUF / SO_RCVBUF)', () => {
  it('the receive buffer is the window the server offers', async () => {
    const { c, s, close } = await connected({ receiveBufferSize: 4000 });
    expect(c.tcpInfo().sndWnd).toBe(4000);
    expect(s.tcpInfo().rcvWnd).toBe(4000);
    expect(s.tcpInfo().rcvWindowScale).toBe(0);
    await close();
  });

  it('the send buffer takes at most its size; the rest waits in the stream, and all arrives', async () => {
    const { c, s, close } = await connected({}, { sendBufferSize: 2000 });
    const data = pattern(20_000);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    c.write(data);
    expect(c.tcpInfo().sendQueued).toBe(2000);
    expect(c.bytesWritten).toBe(2000); // the rest waits in the stream for room
    await until(() => Buffer.concat(got).length === data.length);
    expect(Buffer.concat(got).equals(data)).toBe(true);
    await close();
  });
});

describe('shutdownRead (SHUT_RD)', () => {
  it('what was received is still read, then end; later data is acknowledged, no RST; writing goes on', async () => {
    const { c, s, close } = await connected();
    c.write(Buffer.from('hello'));
    await until(() => s.bytesUnread === 5);
    s.shutdownRead();
    expect(s.readShutdown).toBe(true);
    expect(s.read()?.toString()).toBe('hello');
    let ended = false;
    s.on('end', () => (ended = true));
    s.read();
    await until(() => ended);
    expect(ended).toBe(true);
    // The peer keeps sending: acknowledged (nothing stays queued at the sender), dropped here.
    c.write(pattern(3000));
    await until(() => c.tcpInfo().sendQueued === 0 && s.bytesRead === 3005);
    expect(c.tcpInfo().sendQueued).toBe(0);
    expect(s.bytesRead).toBe(3005);
    expect(s.bytesUnread).toBe(0);
    expect(c.destroyed).toBe(false);
    // The other direction is untouched.
    const back: Buffer[] = [];
    c.on('data', (d: Buffer) => back.push(d));
    s.write(Buffer.from('still here'));
    await until(() => back.length > 0);
    expect(Buffer.concat(back).toString()).toBe('still here');
    await close();
  });
});

describe('bytesUnread (SIOCINQ)', () => {
  it('counts the stream buffer and the bytes held back for a slow reader', async () => {
    const { c, s, close } = await connected();
    s.pause();
    c.write(pattern(100_000));
    await until(() => s.bytesRead === 100_000);
    expect(s.bytesRead).toBe(100_000);
    // The Readable buffer stopped at its high-water mark; the rest is held unconsumed.
    expect(s.readableLength).toBeLessThan(100_000);
    expect(s.bytesUnread).toBe(100_000);
    const first = s.read(1000) as Buffer;
    expect(first.length).toBe(1000);
    expect(s.bytesUnread).toBe(99_000);
    await close();
  });
});

describe('poll()', () => {
  it("reports Linux's bits through a connection's life", async () => {
    const { a, b } = pair();
    let s: TcpSocket | undefined;
    b.tcp.createServer({ allowHalfOpen: true }, (x) => (s = x)).listen(80);
    const c = a.tcp.connect({ host: '10.0.0.2', port: 80, allowHalfOpen: true });
    expect(c.poll()).toBe(0); // connecting
    await until(() => s !== undefined && !c.connecting);
    expect(c.poll()).toBe(POLLOUT);
    expect(s!.poll()).toBe(POLLOUT);
    c.write(Buffer.from('x'));
    await until(() => s!.bytesUnread === 1);
    expect(s!.poll()).toBe(POLLIN | POLLOUT);
    c.end();
    await until(() => (s!.poll() & POLLRDHUP) !== 0);
    expect(s!.poll()).toBe(POLLIN | POLLRDHUP | POLLOUT);
    expect(c.poll()).toBe(POLLOUT); // our side shut: a write fails at once
    s!.read();
    s!.end();
    await until(() => (c.poll() & POLLHUP) !== 0);
    expect(c.poll()).toBe(POLLIN | POLLRDHUP | POLLOUT | POLLHUP);
    await Promise.all([a.close(), b.close()]);
  });

  it('POLLERR after a reset', async () => {
    const { c, s, close } = await connected();
    c.on('error', () => {});
    s.resetAndDestroy();
    await until(() => c.destroyed);
    expect(c.poll()).toBe(POLLIN | POLLRDHUP | POLLOUT | POLLHUP | POLLERR);
    await close();
  });
});
