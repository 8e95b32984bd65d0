import { describe, expect, it } from 'vitest';
import { Sim, openPair } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';
import { seqSub } from '../../src/wire/seq.ts';

/** The most data in flight from b to a over the run: highest SND.NXT seen on the wire minus the highest ACK. */
function maxInFlight(sim: Sim): number {
  let nxt: number | undefined;
  let una: number | undefined;
  let most = 0;
  for (const r of sim.log) {
    const s = r.seg;
    if (r.from === 'b' && s.payload.length > 0) {
      const end = (s.seq + s.payload.length) >>> 0;
      if (nxt === undefined || seqSub(end, nxt) > 0) nxt = end;
    } else if (r.from === 'a' && s.ack !== undefined) {
      if (una === undefined || seqSub(s.ack, una) > 0) una = s.ack;
    }
    if (nxt !== undefined && una !== undefined) most = Math.max(most, seqSub(nxt, una));
  }
  return most;
}

describe('send buffer autotuning on a long fat path', () => {
  // 50 ms one way: 100 ms RTT. The receiver's window (4 MiB buffer, scaled) is not the limit.
  const run = () => {
    const sim = new Sim(1, { receiveBufferSize: 4 << 20 }, {});
    sim.delayMs = 50;
    const { client, server } = openPair(sim);
    sim.run(5_000, () => server() !== undefined && client.established);
    const s = server()!;
    const data = pattern(24 << 20, 3);
    s.sendAll(data, true);
    sim.run(120_000, () => client.received === data.length);
    expect(Buffer.compare(client.data(), Buffer.from(data))).toBe(0);
    return maxInFlight(sim);
  };

  it('the flight grows past the starting 1 MiB (slow start is not held by the buffer)', () => {
    expect(run()).toBeGreaterThan(2 << 20);
  });
});
