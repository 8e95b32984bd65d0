/**
 * One bulk flow over one bottleneck, in virtual time, driving a CongestionControl: a packet model
 * small enough to read in one go. Used by test/tcp/cc/simulation.test.ts and scripts/cc-sim.ts.
 *
 *   sender --(cwnd)--> drop-tail queue (bufferPackets) --> link (ratePps) --> base RTT --> ACK
 *
 * - The sender always has data; it sends whenever (packets in flight + 1) * MSS <= cwnd, all at once
 *   (no pacing), packets of MSS bytes.
 * - The link serves one packet every 1000 / ratePps ms, first come first served. A packet that
 *   finds bufferPackets packets already waiting is dropped (tail drop).
 * - Every delivered packet is acknowledged at its departure time + baseRttMs (the propagation delay
 *   of both directions, lumped), one ACK per packet, carrying its RTT sample. SRTT is RFC 6298's.
 * - Loss detection is SACK-like: the ACK of the first packet that got through after a drop reveals
 *   it (as three duplicate ACKs or RACK would, a little sooner). The first such ACK outside recovery
 *   calls onLoss with FlightSize, and recovery lasts until every packet sent before it is accounted
 *   for; then onRecoveryEnd (one reduction per window, RFC 6582 / RFC 6675). While recovering, the
 *   sender keeps sending within cwnd (as the reduced cwnd or PRR would allow; dropped data counts as
 *   re-sent later, the stream is endless). Drops revealed in recovery of packets sent after it began
 *   end that recovery and start the next one.
 * - If nothing is left to arrive and packets are still unaccounted for, a retransmission timeout
 *   fires after max(200 ms, 2 SRTT), doubled per repeat (RFC 6298 §5.5), and calls onRto.
 *
 * Everything is deterministic: the same controller and path give the same numbers on any machine.
 */
import type { AckEvent, CongestionControl } from '../../../src/tcp/congestion-control.ts';

export interface PathConfig {
  /** Bottleneck rate, packets per second. */
  ratePps: number;
  /** Propagation round-trip time, ms (the RTT with an empty queue, plus one packet's service time). */
  baseRttMs: number;
  /** Packets the bottleneck queue holds waiting. */
  bufferPackets: number;
  /** Bytes per packet (the MSS the controller is given). */
  mss: number;
  durationMs: number;
  /** Period of the cwnd trace, ms (default 10). */
  traceEveryMs?: number;
}

export interface LossEvent {
  atMs: number;
  /** cwnd just before onLoss, packets. */
  cwndBefore: number;
  /** ssthresh onLoss chose, packets. */
  ssthreshAfter: number;
}

export interface PathResult {
  /** Packets delivered (acknowledged) by the end. */
  delivered: number;
  /** delivered / what the link could have carried in the time. */
  utilisation: number;
  losses: LossEvent[];
  drops: number;
  timeouts: number;
  /** Time-averaged cwnd, packets. */
  meanCwnd: number;
  /** Time-averaged queueing delay seen by the RTT samples, ms. */
  meanQueueMs: number;
  /** cwnd in packets every traceEveryMs, from t = 0. */
  trace: number[];
}

interface InFlight {
  index: number;
  sentAt: number;
  ackAt: number;
  /** Drops this packet's ACK reveals (those since the previous packet that got through). */
  revealsDrops: number;
  /** The packet number of the first of them. */
  firstDropped: number;
}

export function runPath(cc: CongestionControl, cfg: PathConfig): PathResult {
  const { ratePps, baseRttMs, bufferPackets, mss, durationMs } = cfg;
  const traceEvery = cfg.traceEveryMs ?? 10;
  const serviceMs = 1000 / ratePps;
  cc.setMss(mss);

  const queue: InFlight[] = []; // delivered packets in order of their ACKs (FIFO link: ackAt ascends)
  let head = 0;
  let nextIndex = 0;
  let inFlight = 0; // packets sent and not yet acknowledged or found lost
  let linkFreeAt = 0;
  let pendingDrops = 0;
  let firstPendingDrop = 0;
  let recovering = false;
  let recoveryPoint = 0;
  let srtt: number | undefined;
  let backoff = 0;
  let lastProgressAt = 0;
  let now = 0;

  const result: PathResult = {
    delivered: 0,
    utilisation: 0,
    losses: [],
    drops: 0,
    timeouts: 0,
    meanCwnd: 0,
    meanQueueMs: 0,
    trace: [],
  };
  let cwndArea = 0;
  let queueMsSum = 0;
  let lastT = 0;
  let nextTrace = 0;
  const ev: AckEvent = { now: 0, ack: 0, sndNxt: 0, acked: mss, rttMs: undefined, srttMs: undefined, flight: 0, appLimited: false };

  const send = (): void => {
    for (let n = 0; n < 1_000_000 && (inFlight + 1) * mss <= cc.cwnd; n++) {
      const index = nextIndex++;
      inFlight++;
      const waiting = Math.max(0, linkFreeAt - now) / serviceMs; // packets ahead, the one in service included
      if (waiting >= bufferPackets + 1) {
        if (pendingDrops === 0) firstPendingDrop = index;
        pendingDrops++;
        result.drops++;
        continue;
      }
      const departure = Math.max(now, linkFreeAt) + serviceMs;
      linkFreeAt = departure;
      queue.push({ index, sentAt: now, ackAt: departure + baseRttMs, revealsDrops: pendingDrops, firstDropped: firstPendingDrop });
      pendingDrops = 0;
    }
  };

  /** Time passes to `t`: the cwnd integral and the trace see the cwnd of the interval. */
  const advance = (t: number): void => {
    const cwnd = cc.cwnd / mss;
    cwndArea += cwnd * (t - lastT);
    for (; nextTrace <= t && nextTrace <= durationMs; nextTrace += traceEvery) result.trace.push(cwnd);
    lastT = t;
    now = t;
  };

  const onAckArrival = (p: InFlight): void => {
    const flightBefore = inFlight * mss;
    inFlight -= 1 + p.revealsDrops;
    result.delivered++;
    const rtt = now - p.sentAt;
    srtt = srtt === undefined ? rtt : (7 * srtt + rtt) / 8;
    queueMsSum += rtt - baseRttMs - serviceMs;
    backoff = 0;
    lastProgressAt = now;
    if (p.revealsDrops > 0 && (!recovering || p.firstDropped >= recoveryPoint)) {
      if (recovering) cc.onRecoveryEnd(now);
      const cwndBefore = cc.cwnd / mss;
      cc.onLoss(now, flightBefore);
      result.losses.push({ atMs: now, cwndBefore, ssthreshAfter: cc.ssthresh / mss });
      recovering = true;
      recoveryPoint = nextIndex;
    } else if (recovering) {
      if (p.index >= recoveryPoint - 1) {
        recovering = false;
        cc.onRecoveryEnd(now);
      }
    } else {
      ev.now = now;
      ev.ack = ((p.index + 1) * mss) >>> 0;
      ev.sndNxt = (nextIndex * mss) >>> 0;
      ev.rttMs = rtt;
      ev.srttMs = srtt;
      ev.flight = flightBefore;
      cc.onAck(ev);
    }
    send();
  };

  const onTimeout = (): void => {
    result.timeouts++;
    cc.onRto(now, inFlight * mss, backoff === 0);
    backoff++;
    inFlight = 0;
    pendingDrops = 0;
    recovering = false;
    lastProgressAt = now;
    send();
  };

  send();
  for (let events = 0; events < 50_000_000; events++) {
    const nextAck = head < queue.length ? queue[head]!.ackAt : Infinity;
    const rtoMs = Math.max(200, 2 * (srtt ?? 500)) * 2 ** Math.min(backoff, 6);
    const rtoAt = head >= queue.length && inFlight > 0 ? lastProgressAt + rtoMs : Infinity;
    const t = Math.min(nextAck, rtoAt);
    if (t > durationMs) break;
    advance(t);
    if (nextAck <= rtoAt) onAckArrival(queue[head++]!);
    else onTimeout();
    if (head > 4096 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
  }
  advance(durationMs);

  result.utilisation = result.delivered / (((durationMs - baseRttMs) / 1000) * ratePps);
  result.meanCwnd = cwndArea / durationMs;
  result.meanQueueMs = result.delivered > 0 ? queueMsSum / result.delivered : 0;
  return result;
}
