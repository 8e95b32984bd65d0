/**
 * Property: whatever the buffer sizes, segment size, write pattern and reader pauses, every byte
 * arrives once and in order, the receive window is reopened for exactly the bytes delivered, and
 * end() produces exactly one FIN, after the last byte, with no RST.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { TcpNet } from '../../src/socket/tcp-net.ts';
import type { TcpSocket } from '../../src/socket/tcp-socket.ts';
import { twoEndpoints, settle } from './fake-tcp.ts';
import { pattern } from '../helpers/pattern.ts';

describe('TcpSocket transfer property', () => {
  it('delivers every byte once, in order, under arbitrary buffers and reader pauses', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          sendBuffer: fc.integer({ min: 1, max: 6000 }),
          recvBuffer: fc.integer({ min: 1, max: 6000 }),
          mss: fc.integer({ min: 1, max: 1500 }),
          writes: fc.array(fc.integer({ min: 0, max: 9000 }), { minLength: 1, maxLength: 12 }),
          pauses: fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
        }),
        async (c) => {
          const eps = twoEndpoints({ sendBuffer: c.sendBuffer, recvBuffer: c.recvBuffer, mss: c.mss });
          let server: TcpSocket | undefined;
          new TcpNet(eps.server).createServer((s) => (server = s)).listen(80);
          const client = new TcpNet(eps.client).connect(80, '10.0.0.2');
          await settle(2);
          const total = c.writes.reduce((a, b) => a + b, 0);
          const data = pattern(total, c.mss);
          let off = 0;
          for (const n of c.writes) {
            client.write(data.subarray(off, off + n));
            off += n;
          }
          client.end();
          const chunks: Buffer[] = [];
          let ended = false;
          server!.on('end', () => (ended = true));
          server!.pause();
          server!.on('data', (d: Buffer) => chunks.push(d));
          // Alternate flowing and paused phases, then flow until the end.
          for (const paused of c.pauses) {
            if (paused) server!.pause();
            else server!.resume();
            await settle(3);
          }
          server!.resume();
          for (let i = 0; i < 2000 && !ended; i++) await settle(1);
          expect(ended).toBe(true);
          const got = Buffer.concat(chunks);
          expect(got.length).toBe(total);
          expect(got.equals(data)).toBe(true);
          const serverConn = eps.server.conns[0]!;
          const clientConn = eps.client.conns[0]!;
          expect(serverConn.consumedTotal()).toBe(total);
          expect(clientConn.countCalls('shutdown')).toBe(1);
          expect(clientConn.countCalls('abort')).toBe(0);
          expect(serverConn.countCalls('abort')).toBe(0);
          const calls = clientConn.calls;
          expect(calls.findIndex((x) => x.op === 'shutdown')).toBeGreaterThan(calls.map((x) => x.op).lastIndexOf('write'));
        },
      ),
      { numRuns: 40, seed: 20261127 },
    );
  });
});
