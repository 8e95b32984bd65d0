import { describe, expect, it } from 'vitest';
import { Sim, openPair } from './sim.ts';
import { ACK, FIN, SYN } from '../../src/wire/tcp.ts';
import { pattern } from '../helpers/pattern.ts';

describe('two stacks over a clean wire', () => {
  it('handshake, data both ways, close', () => {
    const sim = new Sim(1);
    const { client, server } = openPair(sim);
    sim.run(100);
    expect(client.established).toBe(true);
    const s = server()!;
    expect(s).toBeDefined();
    expect(client.conn.state).toBe('ESTABLISHED');
    expect(s.conn.state).toBe('ESTABLISHED');
    const [syn, synAck, ack] = sim.log.map((r) => r.seg);
    expect(syn!.flags).toBe(SYN);
    expect(synAck!.flags).toBe(SYN | ACK);
    expect(synAck!.ack).toBe((syn!.seq + 1) >>> 0);
    expect(ack!.flags).toBe(ACK);
    expect(ack!.ack).toBe((synAck!.seq + 1) >>> 0);

    const up = pattern(100_000, 5);
    const down = pattern(70_000, 6);
    client.sendAll(up, true);
    s.sendAll(down, true);
    sim.run(10_000);
    expect(Buffer.compare(s.data(), Buffer.from(up))).toBe(0);
    expect(Buffer.compare(client.data(), Buffer.from(down))).toBe(0);
    expect(client.peerFin && s.peerFin).toBe(true);
    expect(client.closed && s.closed).toBe(true);
    expect(client.error).toBeUndefined();
    // The owners see CLOSED; a side that sent its FIN first (here both: they closed at once) keeps a
    // TIME-WAIT record in its table.
    expect([client.conn.state, s.conn.state]).toEqual(['CLOSED', 'CLOSED']);
    const rows = [...sim.a.connectionTable(), ...sim.b.connectionTable()].map((r) => r.state);
    expect(rows).toEqual(['TIME-WAIT', 'TIME-WAIT']);
    sim.run(61_000);
    expect(sim.a.connectionTable().length + sim.b.connectionTable().length).toBe(0);
    const fins = sim.log.filter((r) => r.seg.flags & FIN);
    expect(fins.length).toBe(2);
  });
});
