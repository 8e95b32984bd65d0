/**
 * TCP over a link with segmentation offload (TSO): the sender hands the link super-segments of whole
 * MSS pieces, the link cuts them (link/gso.ts) and the peer sees ordinary segments.
 */
import { describe, expect, it } from 'vitest';
import { Owner, Sim, openPair } from './sim.ts';
import { FIN } from '../../src/wire/tcp.ts';
import { seqSub } from '../../src/wire/seq.ts';
import { pattern } from '../helpers/pattern.ts';

function transfer(sim: Sim, size: number, seed: number): { client: Owner; server: Owner } {
  const { client, server } = openPair(sim);
  sim.run(5_000, () => server() !== undefined && client.established);
  const s = server();
  expect(s, 'handshake').toBeDefined();
  s!.sendAll(pattern(size, seed), true);
  client.sendAll(new Uint8Array(0), true);
  sim.run(600_000, () => client.closed && s!.closed);
  return { client, server: s! };
}

describe('TCP with segmentation offload', () => {
  it('sends super-segments of whole MSS pieces; the wire carries MSS-sized segments, byte-exact, in order', () => {
    const sim = new Sim(1);
    sim.tso = true;
    const size = 1 << 20;
    const { client, server } = transfer(sim, size, 3);
    expect(client.received).toBe(size);
    expect(Buffer.compare(client.data(), Buffer.from(pattern(size, 3)))).toBe(0);
    expect([client.conn.state, server.conn.state]).toEqual(['CLOSED', 'CLOSED']);
    expect(sim.a.connectionTable().map((r) => r.state)).toEqual(['TIME-WAIT']);

    const mss = server.conn.info().mss;
    expect(mss).toBe(1448); // 1500 - 40 - 12 (timestamps)
    expect(sim.superSegments).toBeGreaterThan(0);
    expect(sim.b.stats().tsoSuperSegments).toBe(sim.superSegments);
    const data = sim.sent('b').filter((seg) => seg.payload.length > 0);
    // No loss: every byte went on the wire exactly once, in MSS pieces (the last one shorter).
    expect(data.reduce((n, seg) => n + seg.payload.length, 0)).toBe(size);
    expect(data.every((seg) => seg.payload.length <= mss)).toBe(true);
    expect(data.filter((seg) => seg.payload.length < mss).length).toBe(1);
    for (let i = 1; i < data.length; i++) expect(seqSub(data[i]!.seq, data[i - 1]!.seq)).toBe(data[i - 1]!.payload.length);
    // FIN only on the very last piece.
    expect(data.filter((seg) => seg.flags & FIN).map((seg) => seg.seq)).toEqual([data[data.length - 1]!.seq]);
  });

  it('cfg.tso = false: one MSS per segment even on a link that offers TSO', () => {
    const sim = new Sim(1, {}, { tso: false });
    sim.tso = true;
    const { client } = transfer(sim, 256 * 1024, 5);
    expect(client.received).toBe(256 * 1024);
    expect(sim.superSegments).toBe(0);
    expect(sim.b.stats().tsoSuperSegments).toBe(0);
  });

  it('recovers from loss, reordering and duplication of the wire segments (10 seeds, up to 20% loss)', () => {
    const size = 512 * 1024;
    for (let seed = 1; seed <= 10; seed++) {
      const sim = new Sim(seed);
      sim.tso = true;
      sim.record = false;
      const loss = (seed % 5) * 0.05;
      sim.faults = { loss, duplicate: 0.02, delayMs: 2.5, jitterMs: 2.5 }; // data delayed U(0, 5) ms more: reordered
      sim.delayMs = 2;
      const { client, server } = transfer(sim, size, seed);
      const where = `seed ${seed} (loss ${loss})`;
      expect(client.received, where).toBe(size);
      expect(Buffer.compare(client.data(), Buffer.from(pattern(size, seed))), where).toBe(0);
      expect(client.error, where).toBeUndefined();
      expect(server.error, where).toBeUndefined();
      expect(sim.superSegments, where).toBeGreaterThan(0);
    }
  });
});
