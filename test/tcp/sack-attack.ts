/**
 * A hostile SACK receiver in virtual time, shared by test/tcp/sack-attack.test.ts and
 * scripts/attack/sack-sim.ts. Not a test file itself.
 *
 * Layer a sends `total` bytes to b. Phases:
 *   1. b acknowledges normally until a's cwnd reaches `flight` (slow start);
 *   2. b's ACKs stop reaching a: a fills its send buffer (`flight` bytes, all in flight);
 *   3. (kind !== 'plain') `acks` ACKs, all for the frozen SND.UNA, each with `blocks` SACK blocks
 *      inside (SND.UNA, SND.MAX), are delivered to a; what a sends meanwhile is dropped (b already
 *      holds all of it);
 *   4. b's own ACKs flow again and the transfer completes.
 *
 * Kinds of ACK stream in phase 3:
 *   attack   1-byte SACKed ranges with 1-byte holes: block i = [una+1+2i, una+2+2i)
 *   holes    everything SACKed but 1-byte holes, one every 2 MSS (the old scoreboard answered
 *            with 1-byte retransmissions)
 *   mss      whole-MSS ranges with one-MSS holes, off the segment grid by one byte
 *   benign   the same 4 whole segments at the top of the flight, every time (a control: the same
 *            number of ACKs carrying SACK blocks, but nothing that fragments the scoreboard)
 *   plain    no phase 3
 *
 * The phase 3 packets are built before the CPU clock of that phase starts: the numbers measure the
 * stack (parse, ACK processing, output), not the attacker.
 */
import { ACK, serializeTcp, tcpHeaderLength, type TcpSegment } from '../../src/wire/tcp.ts';
import type { IpReceiveInfo } from '../../src/ip/types.ts';
import { seqAdd, seqSub } from '../../src/wire/seq.ts';
import type { Connection as Tcb } from '../../src/tcp/connection.ts';
import { A, B, Sim, openPair, type Owner } from './sim.ts';
import { pattern } from '../helpers/pattern.ts';

export type SackStreamKind = 'plain' | 'attack' | 'holes' | 'mss' | 'benign';

export interface SackScenario {
  kind: SackStreamKind;
  /** Bytes a sends to b. */
  total: number;
  /** a's send buffer, which becomes the flight of phase 2. */
  flight: number;
  acks: number;
  blocks: number;
  /** Record every segment on the wire (tests); off for measurements. */
  record?: boolean;
  /** Called after each phase 3 ACK was processed (tests: check the scoreboard). */
  afterAck?: (k: number, tcb: Tcb) => void;
}

export interface SackOutcome {
  sim: Sim;
  client: Owner;
  server: Owner;
  /** CPU time (user + system, microseconds) of the phases the stack ran, without ACK building. */
  cpuMicros: number;
  /** SND.UNA and SND.MAX when phase 3 began. */
  una: number;
  sndMax: number;
  mss: number;
  /** The data b received equals what a sent. */
  intact: boolean;
  /** Virtual time the whole transfer took (ms). */
  virtualMs: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export function runSackScenario(sc: SackScenario): SackOutcome {
  const sim = new Sim(7, { timestamps: false, sendBufferSize: sc.flight }, { timestamps: false, receiveBufferSize: 4 * sc.flight });
  sim.record = sc.record === true;
  const data = pattern(sc.total, 11);
  const t0 = sim.now;
  let cpu = 0;
  let c0 = cpuNow();

  const { client, server } = openPair(sim);
  sim.run(100, () => client.established && server() !== undefined);
  const srv = server();
  if (srv === undefined) throw new Error('no connection');
  const tcb = client.conn as unknown as Tcb;
  client.sendAll(data, true);
  // Phase 1: slow start until cwnd covers the flight.
  sim.run(10_000, () => tcb.cc.cwnd >= sc.flight);
  // Phase 2: b's ACKs are lost; a fills the send buffer.
  sim.dropIf = (r) => r.from === 'b';
  sim.run(20);
  cpu += cpuNow() - c0;

  const ai = client.conn.info();
  const bi = srv.conn.info();
  const una = ai.sndUna;
  const sndMax = maxSent(tcb);
  const mss = ai.mss;
  if (sc.kind !== 'plain') {
    const packets = buildAcks(sc, una, sndMax, mss, bi.sndNxt, bi.localPort, ai.localPort, bi.rcvWnd >>> bi.rcvWindowScale);
    sim.dropIf = () => true;
    c0 = cpuNow();
    for (let k = 0; k < packets.length; k++) {
      const bytes = packets[k]!;
      const info: IpReceiveInfo = { src: B, dst: A, protocol: 6, ttl: 64, tos: 0, packet: bytes, headerLength: 0 };
      sim.a.receive(sim.now, info, bytes);
      sim.flush();
      sc.afterAck?.(k, tcb);
      if ((k & 7) === 7) sim.run(0.032); // 4 us of virtual time per ACK: timers may fire meanwhile
    }
    cpu += cpuNow() - c0;
  }

  // Phase 4: b's ACKs flow again.
  c0 = cpuNow();
  sim.dropIf = undefined;
  sim.run(600_000, () => srv.received === sc.total && srv.peerFin);
  cpu += cpuNow() - c0;
  return {
    sim,
    client,
    server: srv,
    cpuMicros: cpu,
    una,
    sndMax,
    mss,
    intact: srv.received === sc.total && Buffer.compare(srv.data(), Buffer.from(data)) === 0,
    virtualMs: sim.now - t0,
  };
}

/** SND.MAX of the sender (protected in the TCB; read for the attacker's bookkeeping only). */
function maxSent(tcb: Tcb): number {
  return tcb.snd.max;
}

function buildAcks(
  sc: SackScenario,
  una: number,
  sndMax: number,
  mss: number,
  seq: number,
  srcPort: number,
  dstPort: number,
  window: number,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  const flight = seqSub(sndMax, una);
  // Block i's offset above SND.UNA: i strides up, starting again at the bottom once the flight is
  // covered (on the same grid, so that the blocks repeat rather than fill the holes).
  const span = (i: number, stride: number) => (i % Math.floor((flight - 2 * stride) / stride)) * stride;
  for (let k = 0; k < sc.acks; k++) {
    const sack: [number, number][] = [];
    for (let j = 0; j < sc.blocks; j++) {
      const i = k * sc.blocks + j;
      let l: number;
      let r: number;
      if (sc.kind === 'attack') {
        l = seqAdd(una, 1 + span(i, 2));
        r = seqAdd(l, 1);
      } else if (sc.kind === 'holes') {
        l = seqAdd(una, 1 + span(i, 2 * mss));
        r = seqAdd(l, 2 * mss - 1);
      } else if (sc.kind === 'mss') {
        l = seqAdd(una, 1 + span(i, 2 * mss));
        r = seqAdd(l, mss);
      } else {
        r = seqAdd(sndMax, -j * mss);
        l = seqAdd(r, -mss);
      }
      sack.push([l >>> 0, r >>> 0]);
    }
    const seg = { srcPort, dstPort, seq, ack: una, flags: ACK, window, options: { sack } };
    const bytes = new Uint8Array(tcpHeaderLength(seg));
    serializeTcp(seg, bytes, 0, B, A);
    out.push(bytes);
  }
  return out;
}

/** Data segments a sent whose sequence number lies below the highest one it sent before them. */
export function retransmissions(sim: Sim): TcpSegment[] {
  let max = -1;
  let base = -1;
  const out: TcpSegment[] = [];
  for (const r of sim.log) {
    if (r.from !== 'a' || r.seg.payload.length === 0) continue;
    if (base < 0) base = r.seg.seq;
    const off = seqSub(r.seg.seq, base);
    if (off < max) out.push(r.seg);
    max = Math.max(max, off + r.seg.payload.length);
  }
  return out;
}
