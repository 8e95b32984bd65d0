/**
 * The accept queue (tcp/listener.ts): connections that completed the handshake and that the owner has
 * not taken yet, bounded by listen()'s backlog as on Linux (full when it holds more than `backlog`).
 * While it is full, new SYNs are dropped (cookies or not) and so is the ACK that would complete a
 * handshake: the embryo stays in SYN-RECEIVED, retransmits its SYN-ACK, and completes once the owner
 * has made room.
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { SYN } from '../../src/wire/tcp.ts';
import { ADDR_B, Owner, Sim } from './sim.ts';

function halfOpen(sim: Sim): number {
  return sim.b.connectionTable().filter((c) => c.state === 'SYN-RECEIVED').length;
}

describe('accept queue bounded by the backlog', () => {
  it('drops the handshake-completing ACK while full; the embryo completes after the owner takes one', () => {
    const sim = new Sim(11);
    const accepted: Owner[] = [];
    const handle = sim.b.listen(80, 1, (conn) => accepted.push(new Owner(conn)));
    handle.holdAccepted();
    const clients = [0, 1, 2].map(() => new Owner(sim.a.connect(ADDR_B, 80)));
    sim.run(100);
    // backlog 1 admits two (Linux: full when more than the backlog wait); the third ACK is dropped.
    expect(accepted.length).toBe(2);
    expect(halfOpen(sim)).toBe(1);
    expect(sim.b.stats().listenOverflows).toBe(1);
    expect(sim.b.stats().dropped['accept-queue-full']).toBe(1);
    // The client's side completed (it sent its ACK): it does not know the server dropped it.
    expect(clients.every((c) => c.established)).toBe(true);

    // Still full at the first SYN-ACK retransmission: the client's new ACK is dropped too.
    sim.run(1100);
    expect(accepted.length).toBe(2);
    expect(sim.b.stats().listenOverflows).toBe(2);

    handle.accepted(); // one taken: one waits, which is not more than the backlog
    sim.run(2100); // the next SYN-ACK retransmission (RTO backed off to 2 s), then the ACK
    expect(accepted.length).toBe(3);
    expect(halfOpen(sim)).toBe(0);
    expect(sim.b.stats().listenOverflows).toBe(2);
  });

  it('drops SYNs while full, with SYN cookies on (as Linux does), and answers them again once there is room', () => {
    const sim = new Sim(12);
    const accepted: Owner[] = [];
    const handle = sim.b.listen(80, 0, (conn) => accepted.push(new Owner(conn)));
    handle.holdAccepted();
    new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(100);
    expect(accepted.length).toBe(1); // backlog 0 still admits one
    sim.clearLog();
    sim.inject('b', parseIpv4Address('10.0.0.1'), { srcPort: 41000, dstPort: 80, seq: 5000, ack: undefined, flags: SYN, window: 65535 });
    sim.run(10);
    expect(sim.sent('b').length).toBe(0); // no SYN-ACK, no cookie, no RST
    expect(sim.b.stats().listenOverflows).toBe(1);
    expect(sim.b.stats().synCookiesSent).toBe(0);
    expect(sim.b.find('10.0.0.1', 41000, 80)).toBeUndefined();

    handle.accepted();
    sim.inject('b', parseIpv4Address('10.0.0.1'), { srcPort: 41000, dstPort: 80, seq: 5000, ack: undefined, flags: SYN, window: 65535 });
    sim.run(10);
    expect(sim.sent('b').map((s) => [s.flags & SYN, s.ack])).toEqual([[SYN, 5001]]);
    expect(sim.b.stats().listenOverflows).toBe(1);
  });

  it('a valid SYN cookie that comes back while the queue is full is dropped, and accepted when it comes again with room', () => {
    const sim = new Sim(14, {}, { synBacklog: 0 }); // every SYN is answered with a cookie
    const accepted: Owner[] = [];
    const handle = sim.b.listen(80, 0, (conn) => accepted.push(new Owner(conn)));
    handle.holdAccepted();
    const clients = [0, 1].map(() => new Owner(sim.a.connect(ADDR_B, 80)));
    sim.run(100);
    expect(sim.b.stats().synCookiesSent).toBe(2); // both SYNs came before any ACK
    expect(accepted.length).toBe(1);
    expect(sim.b.stats().listenOverflows).toBe(1); // the second cookie's ACK
    expect(sim.b.stats().connections).toBe(1); // nothing kept for it
    expect(clients.every((c) => c.established)).toBe(true);

    handle.accepted();
    clients[1]!.sendAll(Buffer.from('hello'));
    sim.run(100);
    expect(accepted.length).toBe(2); // the data segment carried the cookie again
    expect(accepted[1]!.data().toString()).toBe('hello');
    expect(sim.b.stats().listenOverflows).toBe(1);
  });

  it('does not fill when the owner takes each connection as it is handed over (the default, node:net)', () => {
    const sim = new Sim(13);
    const accepted: Owner[] = [];
    sim.b.listen(80, 0, (conn) => accepted.push(new Owner(conn)));
    for (let i = 0; i < 5; i++) new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(100);
    expect(accepted.length).toBe(5);
    expect(sim.b.stats().listenOverflows).toBe(0);
  });
});
