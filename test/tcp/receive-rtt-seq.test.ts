/**
 * Without timestamps a receiving-only connection has one round trip of its own, the handshake's;
 * the receiver then times a window of data on the sequence space (Receiver.onWindowArrival, as
 * Linux's tcp_rcv_rtt_measure). Here the path's delay grows after the handshake (1 ms to 50 ms
 * round trips, a queue building up): the receiver's round trip follows the path, not the handshake,
 * and autotuning, which measures the reader once per round trip, grows the buffer for the real
 * bandwidth-delay product.
 */
import { describe, expect, it } from 'vitest';
import { ADDR_B, Owner, Sim } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';
import type { Connection } from '../../src/tcp/connection.ts';
import type { Receiver } from '../../src/tcp/receiver.ts';

function run(timestamps: boolean) {
  const sim = new Sim(1, { timestamps }, { timestamps });
  sim.delayMs = 0.5;
  const owners: Owner[] = [];
  sim.b.listen(80, 16, (c) => owners.push(new Owner(c, false)));
  const client = new Owner(sim.a.connect(ADDR_B, 80));
  sim.run(5_000, () => owners.length > 0 && client.established);
  const start = sim.clock.now();
  sim.delayMs = 25; // 50 ms round trips from here on
  const bytes = 4 * 1024 * 1024;
  client.sendAll(pattern(bytes, 3));
  sim.run(120_000, () => owners[0]!.received === bytes);
  const conn = sim.b.connectionTable()[0]!;
  const tcb = sim.b.find(conn.remoteAddress, conn.remotePort, conn.localPort) as Connection;
  const rcv = (tcb as unknown as { rcv: Receiver }).rcv;
  const ms = sim.clock.now() - start;
  return { received: owners[0]!.received, bytes, roundTrip: rcv.roundTrip(0), bufSize: rcv.bufSize, ms };
}

describe('receiver round trip without timestamps', () => {
  it('is the time a window takes to arrive: about the path round trip, not the handshake one', () => {
    const r = run(false);
    expect(r.received).toBe(r.bytes);
    // The handshake measured about 1 ms; the data path takes 50 ms.
    expect(r.roundTrip).toBeGreaterThanOrEqual(49);
    expect(r.roundTrip).toBeLessThan(200);
  });

  it('gives autotuning the same round as timestamps do, and the buffer grows alike', () => {
    const without = run(false);
    const withTs = run(true);
    console.log(
      `[figures] 4 MiB at 50 ms round trips after a 1 ms handshake: without timestamps buffer ${without.bufSize} B in ${without.ms.toFixed(0)} ms, ` +
        `with timestamps ${withTs.bufSize} B in ${withTs.ms.toFixed(0)} ms (virtual time)`,
    );
    expect(withTs.roundTrip).toBeGreaterThanOrEqual(49);
    expect(without.bufSize).toBeGreaterThanOrEqual(withTs.bufSize / 2);
  });
});
