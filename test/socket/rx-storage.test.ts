/**
 * What the socket keeps of received bytes: a flowing reader gets the received view itself (no copy
 * on the fast path); bytes that wait (paused reader, lagging reader) are owned copies that do not
 * keep the device's receive chunk alive; a small written view is copied before it waits for the
 * peer's window. Driven through a FakeConnection without a peer, so the views are exactly the ones we made.
 */
import { describe, expect, it } from 'vitest';
import { TcpSocket } from '../../src/socket/tcp-socket.ts';
import { FakeConnection } from './fake-tcp.ts';

/** A connection with no peer: the test plays the network through deliver(). */
function stubConn(): FakeConnection {
  return new FakeConnection('10.0.0.2', 80, '10.0.0.1', 40000, 'ESTABLISHED', { sendBuffer: 1 << 20, keepWrittenViews: true });
}

const CHUNK = 256 * 1024;

/** `bytes` as a view into a fresh 256 KiB ArrayBuffer, as the TUN device hands packets out. */
function received(bytes: number[]): Uint8Array {
  const v = new Uint8Array(new ArrayBuffer(CHUNK), 4096, bytes.length);
  v.set(bytes);
  return v;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('TcpSocket: storage of received bytes', () => {
  it('a flowing reader gets the received view itself', async () => {
    const conn = stubConn();
    const s = new TcpSocket(conn);
    const seen: Buffer[] = [];
    s.on('data', (d: Buffer) => seen.push(d));
    await tick();
    const views = [received([1, 2, 3]), received([4, 5])];
    for (const v of views) conn.deliver(v);
    expect(seen.length).toBe(2); // handed over synchronously
    for (let i = 0; i < 2; i++) {
      expect(seen[i]!.buffer).toBe(views[i]!.buffer); // no copy
      expect(seen[i]!.byteOffset).toBe(4096);
    }
    expect(conn.consumedTotal()).toBe(5);
    s.destroy();
  });

  it('a paused reader: 2,048 one-byte pieces wait in a few owned blocks, unconsumed, and read back exactly', async () => {
    const conn = stubConn();
    const s = new TcpSocket(conn, { pauseOnConnect: true });
    for (let i = 0; i < 2048; i++) conn.deliver(received([i & 0xff]));
    expect(conn.consumedTotal()).toBe(0); // held unconsumed: the window closes
    const chunks: Buffer[] = [];
    for (let d = s.read() as Buffer | null; d !== null; d = s.read() as Buffer | null) chunks.push(d);
    await tick();
    for (let d = s.read() as Buffer | null; d !== null; d = s.read() as Buffer | null) chunks.push(d);
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(2048);
    for (let i = 0; i < 2048; i++) expect(all[i]).toBe(i & 0xff);
    for (const c of chunks) expect(c.buffer.byteLength).toBeLessThan(CHUNK);
    expect(conn.consumedTotal()).toBe(2048);
    s.destroy();
  });

  it('a reader that lags (data waiting in the Readable buffer) gets copies packed in small blocks', () => {
    const conn = stubConn();
    const s = new TcpSocket(conn);
    s.pause(); // not flowing: pushed bytes wait in the stream's buffer
    const v1 = received([7]);
    const v2 = received([8]);
    conn.deliver(v1);
    conn.deliver(v2);
    const a = s.read(1) as Buffer;
    const b = s.read(1) as Buffer;
    expect([a[0], b[0]]).toEqual([7, 8]);
    expect(a.buffer).not.toBe(v1.buffer);
    expect(a.buffer).toBe(b.buffer); // one block for both
    expect(a.buffer.byteLength).toBeLessThanOrEqual(16 * 1024);
    s.destroy();
  });

  it('a lagging reader: past 256 pieces waiting, tiny pieces are held back coalesced (unconsumed), then read exactly', async () => {
    const conn = stubConn();
    const s = new TcpSocket(conn);
    s.pause();
    for (let i = 0; i < 2048; i++) conn.deliver(received([i & 0xff]));
    // 256 one-byte Buffers wait in the stream's buffer; the other 1,792 bytes in a few owned blocks.
    expect(s.readableLength).toBe(256);
    expect(conn.consumedTotal()).toBe(256);
    const chunks: Buffer[] = [];
    for (let round = 0; round < 10 && conn.consumedTotal() < 2048; round++) {
      for (let d = s.read() as Buffer | null; d !== null; d = s.read() as Buffer | null) chunks.push(d);
      await tick();
    }
    for (let d = s.read() as Buffer | null; d !== null; d = s.read() as Buffer | null) chunks.push(d);
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(2048);
    for (let i = 0; i < 2048; i++) expect(all[i]).toBe(i & 0xff);
    expect(conn.consumedTotal()).toBe(2048);
    s.destroy();
  });

  it('the same with a flowing reader that pauses: every byte once, in order, then end', async () => {
    const conn = stubConn();
    const s = new TcpSocket(conn);
    const got: number[] = [];
    let ended = false;
    s.on('end', () => (ended = true));
    s.pause();
    for (let i = 0; i < 1000; i++) conn.deliver(received([i & 0xff]));
    conn.events!.onPeerFin();
    s.on('data', (d: Buffer) => got.push(...d));
    s.resume();
    for (let round = 0; round < 20 && !ended; round++) await tick();
    expect(got.length).toBe(1000);
    expect(got.every((b, i) => b === (i & 0xff))).toBe(true);
    expect(ended).toBe(true);
    s.destroy();
  });

  it('a small written view into a large buffer is copied; a large write is kept as it is', async () => {
    const conn = stubConn();
    const s = new TcpSocket(conn);
    const small = received([1, 2, 3]);
    const large = new Uint8Array(new ArrayBuffer(CHUNK), 0, 64 * 1024);
    s.write(small);
    s.write(large);
    await tick();
    expect(conn.writtenViews.length).toBe(2);
    expect(conn.writtenViews[0]!.buffer).not.toBe(small.buffer);
    expect([...conn.writtenViews[0]!]).toEqual([1, 2, 3]);
    expect(conn.writtenViews[1]!.buffer).toBe(large.buffer);
    s.destroy();
  });
});
