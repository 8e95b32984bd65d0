import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/util/clock.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';

function pkt(id: number, len = 20): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = id;
  return p;
}

describe('createMemoryLink', () => {
  it('delivers to the other end after the latency, not before', () => {
    const clock = new ManualClock(100);
    const [a, b] = createMemoryLink(clock, { latencyMs: 5 });
    const got: { at: number; ids: number[] }[] = [];
    b.setReceiver((ps) => got.push({ at: clock.now(), ids: ps.map((p) => p[0]!) }));
    a.send(pkt(1));
    clock.advance(4.9);
    expect(got).toEqual([]);
    clock.advance(0.1);
    expect(got).toEqual([{ at: 105, ids: [1] }]);
  });

  it('batches packets due at the same instant, in send order', () => {
    const clock = new ManualClock();
    const [a, b] = createMemoryLink(clock, { latencyMs: 2 });
    const got: { at: number; ids: number[] }[] = [];
    b.setReceiver((ps) => got.push({ at: clock.now(), ids: ps.map((p) => p[0]!) }));
    a.send(pkt(1));
    a.send(pkt(2));
    a.send(pkt(3));
    clock.advance(1);
    a.send(pkt(4));
    expect(a.packetsInFlight).toBe(4);
    clock.advance(10);
    expect(got).toEqual([
      { at: 2, ids: [1, 2, 3] },
      { at: 3, ids: [4] },
    ]);
    expect(a.packetsInFlight).toBe(0);
  });

  it('is copy-free and works both ways', () => {
    const clock = new ManualClock();
    const [a, b] = createMemoryLink(clock, { names: ['left', 'right'] });
    expect([a.name, b.name, a.mtu]).toEqual(['left', 'right', 1500]);
    const sent = pkt(9);
    let received: Uint8Array | undefined;
    let back: number[] = [];
    b.setReceiver((ps) => {
      received = ps[0];
      b.send(pkt(42));
    });
    a.setReceiver((ps) => (back = ps.map((p) => p[0]!)));
    a.send(sent);
    clock.advance(1);
    expect(received).toBe(sent);
    clock.advance(1);
    expect(back).toEqual([42]);
  });

  it('serializes at the configured bandwidth (FIFO transmitter)', () => {
    const clock = new ManualClock();
    // 100 bytes per ms: a 1000-byte packet takes 10 ms on the wire.
    const [a, b] = createMemoryLink(clock, { latencyMs: 1, bandwidthBytesPerMs: 100 });
    const got: { at: number; id: number }[] = [];
    b.setReceiver((ps) => ps.forEach((p) => got.push({ at: clock.now(), id: p[0]! })));
    a.send(pkt(1, 1000));
    a.send(pkt(2, 500));
    clock.advance(100);
    expect(got).toEqual([
      { at: 11, id: 1 },
      { at: 16, id: 2 },
    ]);
  });

  it('drops and counts packets over the MTU, and counts traffic', () => {
    const clock = new ManualClock();
    const [a, b] = createMemoryLink(clock, { mtu: 576 });
    const got: number[] = [];
    b.setReceiver((ps) => ps.forEach((p) => got.push(p.length)));
    a.send(new Uint8Array(577));
    a.send(new Uint8Array(576));
    clock.advance(5);
    expect(got).toEqual([576]);
    expect(a.stats()).toEqual({ rxPackets: 0, rxBytes: 0, txPackets: 1, txBytes: 576, txDropped: 1, rxDropped: 0 });
    expect(b.stats()).toMatchObject({ rxPackets: 1, rxBytes: 576 });
  });

  it('counts packets arriving with no receiver or after close, and stops delivering after close', async () => {
    const clock = new ManualClock();
    const [a, b] = createMemoryLink(clock);
    a.send(pkt(1));
    clock.advance(1);
    expect(b.stats().rxDropped).toBe(1);
    const got: number[] = [];
    b.setReceiver((ps) => got.push(ps.length));
    a.send(pkt(2));
    await a.close();
    clock.advance(5);
    expect(got).toEqual([]); // in-flight packets of a closed end are gone
    a.send(pkt(3));
    expect(a.stats().txDropped).toBe(1);
    await b.close();
    await b.close();
  });

  it('rejects bad options', () => {
    const clock = new ManualClock();
    expect(() => createMemoryLink(clock, { mtu: 40 })).toThrow(/mtu/);
    expect(() => createMemoryLink(clock, { latencyMs: -1 })).toThrow(/latencyMs/);
    expect(() => createMemoryLink(clock, { bandwidthBytesPerMs: 0 })).toThrow(/bandwidth/);
  });
});
