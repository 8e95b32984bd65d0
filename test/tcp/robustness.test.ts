import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { A, Owner, Sim, openPair } from './sim.ts';
import { ACK, FIN, RST, SYN } from '../../src/wire/tcp.ts';
import { seqAdd } from '../../src/wire/seq.ts';
import { pattern } from '../helpers/pattern.ts';

describe('robustness', () => {
  it('FIN-WAIT-2 gives up (with a RST) when the peer never sends its FIN', () => {
    const sim = new Sim(1, { finWait2TimeoutMs: 5000 });
    const p = openPair(sim);
    sim.run(50);
    p.client.conn.shutdown();
    sim.run(50);
    expect(p.client.conn.state).toBe('FIN-WAIT-2');
    sim.run(6000);
    expect(p.client.conn.state).toBe('CLOSED');
    expect(p.client.closed).toBe(true);
    expect(sim.sent('a').at(-1)!.flags & RST).toBe(RST);
    expect(p.server()!.error?.code).toBe('ECONNRESET');
  });

  it('random segments thrown at an established connection never throw, and never break the accounting', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            flags: fc.integer({ min: 0, max: 0xff }),
            dseq: fc.integer({ min: -70000, max: 300000 }),
            dack: fc.integer({ min: -70000, max: 70000 }),
            window: fc.integer({ min: 0, max: 0xffff }),
            len: fc.integer({ min: 0, max: 1500 }),
            ts: fc.boolean(),
          }),
          { maxLength: 25 },
        ),
        fc.integer({ min: 1, max: 1000 }),
        (segs, seed) => {
          const sim = new Sim(seed);
          const p = openPair(sim);
          sim.run(50);
          const server = p.server()!;
          p.client.sendAll(pattern(20_000, seed));
          for (const s of segs) {
            const i = sim.b.connectionTable()[0];
            if (i === undefined) break;
            sim.inject('b', A, {
              srcPort: i.remotePort,
              dstPort: 80,
              seq: seqAdd(i.rcvNxt, s.dseq),
              ack: s.flags & ACK ? seqAdd(i.sndUna, s.dack) : undefined,
              flags: s.flags,
              window: s.window,
              options: s.ts ? { timestamp: { value: 1, echo: 2 } } : undefined,
              payload: pattern(s.len, s.len),
            });
            sim.run(5);
          }
          sim.run(3000);
          // Whatever happened (injected in-window bytes are indistinguishable from real ones), the
          // accounting holds: windows within the buffer, queues within bounds, and the stream is
          // either still usable, or it ended with a reported close.
          for (const layer of [sim.a, sim.b]) {
            for (const i of layer.connectionTable()) {
              if (i.rcvWnd < 0 || i.rcvWnd > 256 * 1024) return false;
              if (i.sendQueued < 0 || i.sendQueued > 1024 * 1024) return false;
            }
          }
          return server.closed || server.conn.state !== 'CLOSED';
        },
      ),
      { numRuns: 150 },
    );
  });

  it('bytes delivered are exactly the sender\'s bytes even with injected garbage that is out of window', () => {
    const sim = new Sim(3);
    const p = openPair(sim);
    sim.run(50);
    const s = p.server()!;
    const data = pattern(50_000, 9);
    p.client.sendAll(data);
    for (let k = 0; k < 50; k++) {
      const i = sim.b.connectionTable()[0]!;
      // Old duplicates and far-future data, SYNs and RSTs outside the window.
      sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: seqAdd(i.rcvNxt, -5000 - k), ack: i.sndNxt, flags: ACK, window: 1000, payload: pattern(100, k) });
      sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: seqAdd(i.rcvNxt, 1 << 20), ack: i.sndNxt, flags: ACK | FIN, window: 1000, payload: pattern(10, k) });
      sim.inject('b', A, { srcPort: i.remotePort, dstPort: 80, seq: seqAdd(i.rcvNxt, -1), ack: undefined, flags: RST, window: 0 });
      sim.run(3);
    }
    sim.run(5000);
    expect(Buffer.compare(s.data(), Buffer.from(data))).toBe(0);
    expect(s.closed).toBe(false);
  });

  it('unaccepted passive connection buffers data and FIN until the owner attaches', () => {
    const sim = new Sim(1);
    let conn: import('../../src/tcp/api.ts').TcpConnection | undefined;
    sim.b.listen(80, 8, (c) => (conn = c));
    const client = new Owner(sim.a.connect('10.0.0.2', 80));
    sim.run(50);
    client.sendAll(Buffer.from('early bytes'), true);
    sim.run(100);
    const owner = new Owner(conn!);
    expect(owner.data().toString()).toBe('early bytes');
    expect(owner.peerFin).toBe(true);
  });

  it('SYN flood from many ports: the SYN queue bounds the half-open connections, cookies answer the rest', () => {
    const sim = new Sim(1, {}, { synBacklog: 64 });
    sim.b.listen(80, 8, () => {});
    for (let port = 1000; port < 1500; port++) sim.inject('b', A, { srcPort: port, dstPort: 80, seq: port * 1000, ack: undefined, flags: SYN, window: 1000 });
    expect(sim.b.connectionTable().length).toBe(64);
    expect(sim.b.stats().synQueueOverflows).toBe(436);
    expect(sim.b.stats().synCookiesSent).toBe(436);
    expect(sim.sent('b').filter((s) => s.flags === (SYN | ACK)).length).toBe(500);
    // The half-open ones time out (SYN-ACK retries) and are released.
    sim.run(200_000);
    expect(sim.b.connectionTable().length).toBe(0);
  });
});
