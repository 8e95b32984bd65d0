import { describe, expect, it } from 'vitest';
import { Owner, Sim, openPair } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';

const SEEDS = Number(process.env.TCP_SEEDS ?? 30);

describe('bulk transfer through a lossy, reordering, duplicating wire (property over seeds)', () => {
  it(`1 MiB each way arrives byte-exact and both sides close, for ${SEEDS} seeds`, () => {
    const size = 1 << 20;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const sim = new Sim(seed);
      sim.record = false;
      const loss = (seed % 5) * 0.05; // 0 .. 20 %
      sim.faults = { loss, duplicate: 0.02, delayMs: 2.5, jitterMs: 2.5 }; // data delayed U(0, 5) ms more: reordered
      sim.delayMs = 2;
      const { client, server } = openPair(sim);
      const up = pattern(size, seed * 2);
      const down = pattern(size, seed * 2 + 1);
      sim.run(5_000, () => server() !== undefined && client.established);
      const s = server();
      const where = `seed ${seed} (loss ${loss})`;
      expect(s, `handshake, ${where}`).toBeDefined();
      client.sendAll(up, true);
      s!.sendAll(down, true);
      sim.run(600_000, () => client.closed && s!.closed);
      expect(s!.received, `server received, ${where}`).toBe(size);
      expect(client.received, `client received, ${where}`).toBe(size);
      expect(Buffer.compare(s!.data(), Buffer.from(up)), `server bytes, ${where}`).toBe(0);
      expect(Buffer.compare(client.data(), Buffer.from(down)), `client bytes, ${where}`).toBe(0);
      expect(client.error, where).toBeUndefined();
      expect(s!.error, where).toBeUndefined();
      sim.run(200_000);
      expect([client.conn.state, s!.conn.state], where).toEqual(['CLOSED', 'CLOSED']);
    }
  });
});

describe('the combined profile of issue 13 on every segment (FaultPath: burst loss, reordering, duplication, corruption)', () => {
  it('256 KiB each way arrives byte-exact and both sides close, for 10 seeds', () => {
    const size = 256 * 1024;
    let corruptedTotal = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const sim = new Sim(seed);
      sim.record = false;
      sim.delayMs = 5;
      // As `--impair delay=5ms,reorder=25%,reorder-corr=50%,loss=5%,dup=5%,corrupt=1%` on both directions.
      sim.faults = { apply: 'all', delayMs: 5, reorder: 0.25, reorderCorrelation: 0.5, loss: 0.05, duplicate: 0.05, corrupt: 0.01 };
      const { client, server } = openPair(sim);
      sim.run(20_000, () => server() !== undefined && client.established);
      const s = server();
      const where = `seed ${seed}`;
      expect(s, `handshake, ${where}`).toBeDefined();
      const up = pattern(size, seed * 2);
      const down = pattern(size, seed * 2 + 1);
      client.sendAll(up, true);
      s!.sendAll(down, true);
      sim.run(600_000, () => client.closed && s!.closed);
      expect(Buffer.compare(s!.data(), Buffer.from(up)), `server bytes, ${where}`).toBe(0);
      expect(Buffer.compare(client.data(), Buffer.from(down)), `client bytes, ${where}`).toBe(0);
      expect([client.error, s!.error], where).toEqual([undefined, undefined]);
      sim.run(200_000);
      expect([client.conn.state, s!.conn.state], where).toEqual(['CLOSED', 'CLOSED']);
      // The faults happened, in both directions; a corrupted segment never reached TCP as data.
      const f = sim.faultStats();
      for (const d of [f.a, f.b]) {
        expect([d.lost, d.reordered, d.duplicated].every((n) => n > 0), `${where}: ${JSON.stringify(d)}`).toBe(true);
        corruptedTotal += d.corrupted;
      }
      // Corruption comes before duplication: a corrupted datagram arrives once, or twice if duplicated.
      const bad = sim.a.stats().badSegments + sim.b.stats().badSegments + sim.ipv4Corrupted;
      const corrupted = f.a.corrupted + f.b.corrupted;
      expect(bad >= corrupted && bad <= 2 * corrupted, `${where}: ${bad} bad segments, ${corrupted} corrupted`).toBe(true);
    }
    expect(corruptedTotal).toBeGreaterThan(10); // 1% of some 7000 datagrams
  });
});

describe('echo through a lossy wire (both directions, ACKs lost too)', () => {
  it('8 MiB echoed byte-exact, with SACK recovery doing most of the work', () => {
    for (const seed of [1, 2, 3]) {
      const sim = new Sim(seed);
      sim.record = false;
      sim.faults = { loss: 0.05, apply: 'all' };
      // An echo server that consumes only what its send buffer takes (backpressure both ways).
      sim.b.listen(7, 8, (conn) => {
        const pend: Uint8Array[] = [];
        let fin = false;
        const pump = () => {
          while (pend.length > 0) {
            const d = pend[0]!;
            const n = conn.write(d);
            conn.consumed(n);
            if (n < d.length) {
              pend[0] = d.subarray(n);
              return;
            }
            pend.shift();
          }
          if (fin) conn.shutdown();
        };
        conn.setEvents({
          onEstablished() {},
          onData: (d) => {
            pend.push(d);
            pump();
          },
          onPeerFin: () => {
            fin = true;
            pump();
          },
          onWritable: pump,
          onClosed() {},
        });
      });
      const c = new Owner(sim.a.connect('10.0.0.2', 7));
      sim.run(100);
      const data = pattern(8 << 20, seed);
      c.sendAll(data, true);
      sim.run(600_000, () => c.closed);
      expect(c.received, `seed ${seed}`).toBe(data.length);
      expect(Buffer.compare(c.data(), Buffer.from(data)), `seed ${seed}`).toBe(0);
      expect(c.error, `seed ${seed}`).toBeUndefined();
      expect(sim.a.stats().fastRetransmits, `seed ${seed}`).toBeGreaterThan(sim.a.stats().timeouts);
    }
  });
});
