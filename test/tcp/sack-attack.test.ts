import { describe, expect, it } from 'vitest';
import { SACK_MAX_RANGES } from '../../src/tcp/sack.ts';
import type { Connection as Tcb } from '../../src/tcp/connection.ts';
import { ACK } from '../../src/wire/tcp.ts';
import { seqAdd, seqSub } from '../../src/wire/seq.ts';
import { B, Sim, openPair } from './sim.ts';
import { retransmissions, runSackScenario, type SackStreamKind } from './sack-attack.ts';
import { pattern } from '../helpers/pattern.ts';

// A hostile receiver fragments the sender's scoreboard in virtual time (the scenario is described in
// sack-attack.ts): 512 KiB in flight (room for more ranges than the cap), 2,000 ACKs of 4 blocks each.
const FLIGHT = 512 * 1024;
const TOTAL = 2 * 1024 * 1024;
const ACKS = 2000;

function attack(kind: SackStreamKind) {
  let maxRanges = 0;
  let overCap = 0;
  let shortGap = 0;
  const out = runSackScenario({
    kind,
    total: TOTAL,
    flight: FLIGHT,
    acks: ACKS,
    blocks: 4,
    record: true,
    afterAck: (_k, tcb: Tcb) => {
      const sb = tcb.scoreboard!;
      maxRanges = Math.max(maxRanges, sb.ranges);
      if (sb.ranges > SACK_MAX_RANGES) overCap++;
      if ((_k & 63) === 0) {
        const r = sb.blocks();
        for (let i = 1; i < r.length; i++) if (seqSub(r[i]![0], r[i - 1]![1]) < tcb.sendMss) shortGap++;
      }
    },
  });
  // Every retransmitted data segment is a full MSS, or ends where the data ends.
  const dataEnd = seqAdd(firstDataSeq(out.sim), TOTAL);
  const rtx = retransmissions(out.sim);
  const short = rtx.filter((s) => s.payload.length !== out.mss && seqAdd(s.seq, s.payload.length) !== dataEnd);
  return { out, maxRanges, overCap, shortGap, rtx, short };
}

function firstDataSeq(sim: Sim): number {
  const first = sim.log.find((r) => r.from === 'a' && r.seg.payload.length > 0);
  if (first === undefined) throw new Error('no data sent');
  return first.seg.seq;
}

describe('SACK: a receiver that fragments the scoreboard', () => {
  it('1-byte SACKed ranges with 1-byte holes: nothing recorded, no short retransmission, exact bytes', () => {
    const { out, maxRanges, overCap, short } = attack('attack');
    expect(out.intact).toBe(true);
    expect(out.server.received).toBe(TOTAL);
    expect(maxRanges).toBe(0);
    expect(overCap).toBe(0);
    expect(short).toEqual([]);
    const c = out.sim.a.stats();
    expect(c.sackBlocksDropped).toBe(ACKS * 4);
    expect(c.sackBlocksIgnored).toBe(0);
  });

  it('1-byte holes between SACKed ranges: ranges a segment apart, full-size retransmissions of the holes', () => {
    const { out, maxRanges, overCap, shortGap, rtx, short } = attack('holes');
    expect(out.intact).toBe(true);
    expect(maxRanges).toBe(SACK_MAX_RANGES);
    expect(overCap).toBe(0);
    expect(shortGap).toBe(0);
    // The holes are retransmitted (the scoreboard reports them lost), one full MSS each.
    expect(rtx.length).toBeGreaterThan(SACK_MAX_RANGES / 2);
    expect(short).toEqual([]);
  });

  it('whole-MSS ranges off the segment grid: bounded at the cap, transfer intact', () => {
    const { out, maxRanges, overCap, shortGap, short } = attack('mss');
    expect(out.intact).toBe(true);
    expect(maxRanges).toBe(SACK_MAX_RANGES);
    expect(overCap).toBe(0);
    expect(shortGap).toBe(0);
    expect(short).toEqual([]);
    expect(out.sim.a.stats().sackBlocksDropped).toBeGreaterThan(0);
  });
});

describe('SACK: nonsense blocks on the wire', () => {
  it('are ignored and counted in sackBlocksIgnored; the transfer completes', () => {
    const sim = new Sim(3, { timestamps: false }, { timestamps: false });
    const { client, server } = openPair(sim);
    sim.run(100, () => client.established && server() !== undefined);
    const srv = server()!;
    const data = pattern(64 * 1024, 5);
    sim.dropIf = (r) => r.from === 'b'; // b's own ACKs are lost; ours go in their place
    client.sendAll(data, true);
    sim.run(5);
    const ai = client.conn.info();
    const bi = srv.conn.info();
    const una = ai.sndUna;
    const max = seqAdd(ai.sndNxt, 0);
    const tcb = client.conn as unknown as Tcb;
    const sack: [number, number][] = [
      [seqAdd(una, 3000), seqAdd(una, 2000)], // left >= right
      [seqAdd(una, 1000), seqAdd(max, 1)], // beyond SND.MAX
      [seqAdd(una, -2000), seqAdd(una, -1000)], // below SND.UNA (D-SACK-like)
      [seqAdd(una, -0x100000), seqAdd(una, 1448)], // larger than the flight
    ];
    sim.inject('a', B, { srcPort: bi.localPort, dstPort: ai.localPort, seq: bi.sndNxt, ack: una, flags: ACK, window: bi.rcvWnd >>> bi.rcvWindowScale, options: { sack } });
    expect(sim.a.stats().sackBlocksIgnored).toBe(4);
    expect(tcb.scoreboard!.isEmpty).toBe(true);
    // A valid block of whole segments is recorded exactly.
    const good: [number, number][] = [[seqAdd(una, 2 * 1448), seqAdd(una, 4 * 1448)]];
    sim.inject('a', B, { srcPort: bi.localPort, dstPort: ai.localPort, seq: bi.sndNxt, ack: una, flags: ACK, window: bi.rcvWnd >>> bi.rcvWindowScale, options: { sack: good } });
    expect(sim.a.stats().sackBlocksIgnored).toBe(4);
    expect(tcb.scoreboard!.blocks()).toEqual(good);
    sim.dropIf = undefined;
    sim.run(60_000, () => srv.peerFin);
    expect(srv.data().equals(Buffer.from(data))).toBe(true);
  });
});
