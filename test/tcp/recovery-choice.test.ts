import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/tcp/connection.ts';
import type { TcpConnection } from '../../src/tcp/api.ts';
import { Sim, openPair } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';

// The loss recovery is made once, by the handshake (connection.ts negotiate()): RACK when both SYNs
// carried SACK-permitted (RFC 2018 §2), Reno otherwise; NO_RECOVERY (kind 'none') before that and
// once the connection is over.
const kind = (c: TcpConnection): string => (c as Connection).recovery.kind;

describe('the loss recovery a connection gets', () => {
  it('RACK on both sides when both offer SACK; none while SYN-SENT', () => {
    const sim = new Sim(1);
    const { client, server } = openPair(sim);
    expect(client.conn.state).toBe('SYN-SENT');
    expect(kind(client.conn)).toBe('none');
    sim.run(100);
    const s = server()!;
    expect([client.conn.state, s.conn.state]).toEqual(['ESTABLISHED', 'ESTABLISHED']);
    expect([kind(client.conn), kind(s.conn)]).toEqual(['rack', 'rack']);
    expect((client.conn as Connection).scoreboard).toBeDefined();
  });

  it('Reno on both sides when one side does not offer SACK', () => {
    const sim = new Sim(1, {}, { sack: false });
    const { client, server } = openPair(sim);
    sim.run(100);
    const s = server()!;
    expect([client.conn.state, s.conn.state]).toEqual(['ESTABLISHED', 'ESTABLISHED']);
    expect([kind(client.conn), kind(s.conn)]).toEqual(['reno', 'reno']);
    expect((s.conn as Connection).scoreboard).toBeUndefined();
    // and the connection works with it: 50 KB each way, byte-exact
    const up = pattern(50_000, 3);
    client.sendAll(up, true);
    s.sendAll(pattern(50_000, 4), true);
    sim.run(5_000);
    expect(Buffer.compare(s.data(), Buffer.from(up))).toBe(0);
    expect(client.data().length).toBe(50_000);
  });

  it('none again once the connection is over (the scoreboard is let go)', () => {
    const sim = new Sim(1);
    const { client, server } = openPair(sim);
    sim.run(100);
    const s = server()!;
    client.sendAll(pattern(10_000, 1), true);
    s.sendAll(pattern(10_000, 2), true);
    sim.run(5_000);
    expect(client.closed && s.closed).toBe(true);
    expect([kind(client.conn), kind(s.conn)]).toEqual(['none', 'none']);
    // tcpInfo still reads a congestion window from the controller
    expect(client.conn.info().cwnd).toBeGreaterThan(0);
  });
});
