/**
 * The two connection options the drill's linux profile uses: windowScaleShift (the shift we offer,
 * RFC 7323 §2.3) and quickAckSegments (the first data segments ACKed at once, Linux's quick-ACK
 * mode). Their defaults: the shift that covers the largest receive buffer (receiveBufferMax), delayed ACKs.
 */
import { describe, expect, it } from 'vitest';
import { Sim, openPair } from './sim.ts';
import { ACK, SYN } from '../../src/wire/tcp.ts';

function handshake(sim: Sim): ReturnType<typeof openPair> {
  const pair = openPair(sim);
  sim.run(100);
  expect(pair.client.established).toBe(true);
  return pair;
}

describe('windowScaleShift', () => {
  it('defaults to the smallest shift covering the largest receive buffer autotuning reaches (4 MiB: 7)', () => {
    const sim = new Sim(1);
    handshake(sim);
    const synAck = sim.log.find((r) => r.seg.flags === (SYN | ACK))!.seg;
    expect(synAck.options.windowScale).toBe(7);
    const small = new Sim(1, {}, { receiveBufferMax: 1024 * 1024 }); // 1 MiB: 1048576 >> 4 = 65536 > 65535
    handshake(small);
    expect(small.log.find((r) => r.seg.flags === (SYN | ACK))!.seg.options.windowScale).toBe(5);
  });
  it('offers the configured shift, in the SYN-ACK and (SYN cookies) the cookie path alike', () => {
    const sim = new Sim(1, {}, { windowScaleShift: 9 });
    const { server } = handshake(sim);
    const synAck = sim.log.find((r) => r.seg.flags === (SYN | ACK))!.seg;
    expect(synAck.options.windowScale).toBe(9);
    expect(server()!.conn.info().rcvWindowScale).toBe(9);
    const cookies = new Sim(1, {}, { windowScaleShift: 9, synBacklog: 0 });
    handshake(cookies);
    expect(cookies.log.find((r) => r.seg.flags === (SYN | ACK))!.seg.options.windowScale).toBe(9);
  });
  it('is clamped to RFC 7323 §2.3 maximum of 14', () => {
    const sim = new Sim(1, {}, { windowScaleShift: 20 });
    handshake(sim);
    expect(sim.log.find((r) => r.seg.flags === (SYN | ACK))!.seg.options.windowScale).toBe(14);
  });
});

describe('quickAckSegments', () => {
  /** Client sends `n` small segments 10 ms apart; returns when each of the server's ACKs went out. */
  function ackDelays(quickAckSegments: number | undefined, n: number): number[] {
    const sim = new Sim(1, { }, quickAckSegments === undefined ? {} : { quickAckSegments });
    const { client } = handshake(sim);
    client.conn.setNoDelay(true);
    const delays: number[] = [];
    for (let i = 0; i < n; i++) {
      const start = sim.log.length;
      const sentAt = sim.now;
      client.conn.write(new Uint8Array(100));
      sim.run(100);
      const ack = sim.log.slice(start).find((r) => r.from === 'b' && r.seg.payload.length === 0 && (r.seg.flags & ACK) !== 0);
      delays.push(ack === undefined ? -1 : Math.round(ack.at - sentAt));
    }
    return delays;
  }
  it('default 0: a lone small segment waits for the 40 ms delayed ACK', () => {
    const d = ackDelays(undefined, 3);
    // The first one may go at once as a window update (the window grows past the SYN-ACK's 65535).
    expect(d.slice(1)).toEqual([41, 41]);
  });
  it('the first N in-order segments are ACKed at once, then delayed ACKs resume', () => {
    const d = ackDelays(2, 4);
    expect(d).toEqual([1, 1, 41, 41]);
  });
});
