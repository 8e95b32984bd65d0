/**
 * Segments built in memory the device hands out (NetDevice.allocPacket, src/link/tun-device.ts's
 * reused transmit space): that memory is not zeroed, so serializeTcp must write every byte of a
 * segment. Here the device hands out memory full of 0xa5; two stacks on a memory link then move
 * 300 kB each way, byte-exact, every segment of one side built in it, none refused by the other
 * (no bad checksum, no malformed segment).
 */
import { describe, expect, it } from 'vitest';
import { Stack } from '../../src/stack.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import type { NetDevice } from '../../src/link/device.ts';
import { SystemClock } from '../../src/util/clock.ts';
import { until } from '../socket/stack-pair.ts';

/** `inner` with an allocPacket that returns dirty memory (what a reused arena may hold). */
function dirty(inner: NetDevice): NetDevice & { allocs: number } {
  return {
    allocs: 0,
    get name() { return inner.name; },
    get mtu() { return inner.mtu; },
    get tsoMaxSize() { return inner.tsoMaxSize; },
    setReceiver: (rx) => inner.setReceiver(rx),
    send: (p, size) => inner.send(p, size),
    allocPacket(length: number): Uint8Array {
      this.allocs++;
      return new Uint8Array(length).fill(0xa5);
    },
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
}

describe('segments in device-provided memory (allocPacket)', () => {
  it('are complete: 300 kB echoed byte-exact, every segment sent built there, none dropped', async () => {
    const clock = new SystemClock();
    const [da, db] = createMemoryLink(clock, { latencyMs: 0 });
    const dev = dirty(da);
    const a = new Stack({ device: dev, address: '10.0.0.1', clock });
    const b = new Stack({ device: db, address: '10.0.0.2', clock });
    try {
      b.tcp.createServer((s) => s.pipe(s)).listen(7);
      const data = Buffer.alloc(300_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
      const got: Buffer[] = [];
      let ended = false;
      const sock = a.tcp.connect({ host: '10.0.0.2', port: 7 });
      sock.on('data', (d: Buffer) => got.push(d));
      sock.on('end', () => (ended = true));
      sock.end(data);
      await until(() => ended, 20_000);
      expect(Buffer.concat(got).equals(data)).toBe(true);
      const sa = a.stats();
      const sb = b.stats();
      expect(dev.allocs).toBe(sa.tcp.segmentsOut);
      expect(dev.allocs).toBeGreaterThan(200);
      expect(sb.ip.rxBadChecksum).toBe(0);
      expect(sb.tcp.badSegments).toBe(0);
      expect(sb.tcp.segmentsIn).toBeGreaterThan(200);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
