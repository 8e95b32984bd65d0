/**
 * A full SYN queue (found by the fuzzer: spoofed SYNs whose sources never answer filled the queue of
 * 256 faster than embryos time out, ~2 minutes with 6 SYN-ACK retransmissions, and every real client
 * was refused from then on). With SYN cookies (the default, test/tcp/hardening.test.ts) a full queue
 * answers with a cookie; with cookies off, RFC 4987 §3.4: recycle the oldest half-open connection,
 * here only one whose SYN-ACK has already gone unanswered for a whole RTO, so a fast flood cannot
 * recycle a real handshake in progress.
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { RST, SYN } from '../../src/wire/tcp.ts';
import { ADDR_B, Owner, Sim } from './sim.ts';

const BACKLOG = 4;

/** SYNs to b:80 from addresses nobody answers for (b's SYN-ACKs to them are dropped by a). */
function spoof(sim: Sim, n: number, first: number): void {
  for (let i = 0; i < n; i++) {
    sim.inject('b', parseIpv4Address(`192.0.2.${first + i}`), { srcPort: 40000 + i, dstPort: 80, seq: 1000 * i, ack: undefined, flags: SYN, window: 65535 });
  }
}

describe('SYN queue full of embryos whose peers never answer', () => {
  it('a new SYN recycles the oldest embryo once its SYN-ACK went unanswered for an RTO', () => {
    const sim = new Sim(3, {}, { synBacklog: BACKLOG, synCookies: false });
    const accepted: Owner[] = [];
    sim.b.listen(80, 16, (conn) => accepted.push(new Owner(conn)));
    spoof(sim, BACKLOG, 1);
    sim.run(1500); // past the first SYN-ACK retransmission (initial RTO 1 s)
    expect(sim.b.stats().connections).toBe(BACKLOG);
    expect(sim.b.stats().retransmits).toBe(BACKLOG);
    sim.clearLog();

    const client = new Owner(sim.a.connect(ADDR_B, 80));
    sim.run(100);
    expect(client.established).toBe(true);
    expect(accepted.length).toBe(1);
    const st = sim.b.stats();
    expect(st.synQueueDrops).toBe(1);
    expect(st.dropped['syn-queue-full']).toBeUndefined();
    // The recycled embryo (the oldest, 192.0.2.1) was dropped silently (as Linux drops a request
    // sock: a RST to a spoofed source helps nobody); the three others are still there.
    expect(sim.sent('b').filter((s) => s.flags & RST).length).toBe(0);
    expect(sim.b.connectionTable().filter((c) => c.state === 'SYN-RECEIVED').map((c) => c.remoteAddress)).toEqual(['192.0.2.2', '192.0.2.3', '192.0.2.4']);
  });

  it('embryos still young (no SYN-ACK retransmitted yet) are not recycled: the new SYN is dropped', () => {
    const sim = new Sim(4, {}, { synBacklog: BACKLOG, synCookies: false });
    sim.b.listen(80, 16, () => {});
    spoof(sim, BACKLOG, 1);
    sim.run(10);
    spoof(sim, 1, 50);
    const st = sim.b.stats();
    expect(st.synQueueDrops).toBe(0);
    expect(st.dropped['syn-queue-full']).toBe(1);
    expect(st.connections).toBe(BACKLOG);
    expect(sim.b.find('192.0.2.50', 40000, 80)).toBeUndefined();
  });
});
