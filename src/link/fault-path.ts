/**
 * The one implementation of seeded link faults: one direction of a link, driven by a Clock. Packets
 * given to a FaultPath are lost, corrupted, duplicated, rate limited, delayed and reordered by a
 * seeded PRNG and the clock's timers, so a given seed always produces the same pattern (a failing
 * simulation is replayed from its seed). It stands in for `tc netem`, which this project cannot count
 * on. Its users: link/fault-device.ts (a device wrapper: `--impair`, the relay, pageload's simulated
 * link) and the TCP tests' simulated wire (test/tcp/sim.ts), in real or virtual time alike.
 *
 * Per packet, in this order: loss (optionally in bursts: correlated decisions); corruption (one
 * random bit flipped, in a copy: the IPv4 header checksum or the TCP/ICMP checksum, RFC 1071, must
 * catch it, since a single flipped bit always changes a one's complement sum); duplication (the copy
 * takes the same path); a rate limit (a bottleneck link of `rate` bit/s with a FIFO queue of `limit`
 * packets or ms in front, tail drop when full: what tbf does); delay (fixed plus uniform jitter in
 * [-jitter, +jitter], never below zero; with jitter, packets may overtake each other as in netem);
 * reorder (a packet is held back and released right after the next packet of the same direction, or
 * after `reorderHoldMs` if none comes). So delay, bandwidth and loss are set independently.
 */
import type { Clock, TimerHandle } from '../util/clock.ts';
import { Rng } from '../util/random.ts';

/** The fault rates for one direction. Probabilities are in [0, 1]. */
export interface FaultRates {
  loss?: number;
  /**
   * Correlation of successive loss decisions in [0, 1) (default 0: independent). Losses then come in
   * bursts while the long-run rate stays `loss`: a two-state Markov chain where a packet is lost with
   * probability loss + corr * (1 - loss) after a loss and loss * (1 - corr) after a delivery (its
   * stationary probability is `loss`, its lag-one correlation `corr`; netem's "loss 5% 25%" means the
   * same thing but its own formula lowers the rate it achieves).
   */
  lossCorrelation?: number;
  duplicate?: number;
  reorder?: number;
  /** Correlation of successive reorder decisions, as lossCorrelation. */
  reorderCorrelation?: number;
  corrupt?: number;
  /** Fixed extra delay in ms. */
  delayMs?: number;
  /** Uniform jitter in ms added to the delay: delay + U(-jitter, +jitter), at least 0. */
  jitterMs?: number;
  /** How long a reordered packet waits for a successor before it is released anyway (default 10 ms). */
  reorderHoldMs?: number;
  /**
   * Link rate in bits per second (default 0: unlimited). Packets are serialised one after another at
   * this rate through a FIFO queue before the delay (a bottleneck link then its propagation delay, as
   * a token bucket filter with a one-packet burst): each one leaves when the one before it has, plus
   * its own length * 8 / rate.
   */
  rateBps?: number;
  /** The queue in front of the rate limit, in packets (default 1000, as Linux's txqueuelen). */
  limitPackets?: number;
  /** Or the queue as a time: a packet that would wait longer than this is dropped (tbf's latency). */
  limitMs?: number;
}

export interface FaultCounters {
  /** Packets that entered the fault stage. */
  packets: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  delayed: number;
  /** Packets dropped because the rate limit's queue was full (tail drop). */
  queueDropped: number;
  /** The longest the rate limit's queue has been, in packets. */
  queueMax: number;
  /** Packets handed on (duplicates included, lost ones not). */
  delivered: number;
}

function emptyCounters(): FaultCounters {
  return { packets: 0, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, delayed: 0, queueDropped: 0, queueMax: 0, delivered: 0 };
}

/** The default queue of a rate-limited link, in packets. */
export const DEFAULT_LIMIT_PACKETS = 1000;

interface ResolvedRates {
  loss: number;
  lossCorrelation: number;
  duplicate: number;
  reorder: number;
  reorderCorrelation: number;
  corrupt: number;
  delayMs: number;
  jitterMs: number;
  reorderHoldMs: number;
  rateBps: number;
  limitPackets: number;
  limitMs: number;
}

/** Throws the RangeError FaultPath's constructor would for a rate out of its range. */
export function checkFaultRates(rates: FaultRates): void {
  resolveRates(rates);
}

/** The rates with their defaults filled in; a RangeError names a rate out of its range. */
function resolveRates(rates: FaultRates): ResolvedRates {
  const pick = (k: keyof FaultRates, dflt: number): number => rates[k] ?? dflt;
  const r: ResolvedRates = {
    loss: pick('loss', 0),
    lossCorrelation: pick('lossCorrelation', 0),
    duplicate: pick('duplicate', 0),
    reorder: pick('reorder', 0),
    reorderCorrelation: pick('reorderCorrelation', 0),
    corrupt: pick('corrupt', 0),
    delayMs: pick('delayMs', 0),
    jitterMs: pick('jitterMs', 0),
    reorderHoldMs: pick('reorderHoldMs', 10),
    rateBps: pick('rateBps', 0),
    limitPackets: pick('limitPackets', DEFAULT_LIMIT_PACKETS),
    limitMs: pick('limitMs', Infinity),
  };
  for (const k of ['loss', 'duplicate', 'reorder', 'corrupt'] as const) {
    if (!(r[k] >= 0 && r[k] <= 1)) throw new RangeError(`fault ${k} must be a probability in [0, 1], got ${r[k]}`);
  }
  for (const k of ['lossCorrelation', 'reorderCorrelation'] as const) {
    if (!(r[k] >= 0 && r[k] < 1)) throw new RangeError(`fault ${k} must be in [0, 1), got ${r[k]}`);
  }
  for (const k of ['delayMs', 'jitterMs', 'reorderHoldMs'] as const) {
    if (!(r[k] >= 0 && Number.isFinite(r[k]))) throw new RangeError(`fault ${k} must be >= 0 ms, got ${r[k]}`);
  }
  if (!(r.rateBps >= 0 && Number.isFinite(r.rateBps))) throw new RangeError(`fault rateBps must be >= 0 bit/s, got ${r.rateBps}`);
  if (!(Number.isInteger(r.limitPackets) && r.limitPackets >= 1)) {
    throw new RangeError(`fault limitPackets must be an integer >= 1, got ${r.limitPackets}`);
  }
  if (!(r.limitMs > 0)) throw new RangeError(`fault limitMs must be > 0 ms, got ${r.limitMs}`);
  return r;
}


/**
 * The generator of one direction of a link seeded with `seed`: 'out' draws from the seed itself, 'in'
 * from a stream derived from it (golden-ratio offset), so that the pattern in one direction does not
 * depend on how traffic interleaves with the other.
 */
export function faultRng(seed: number, which: 'in' | 'out'): Rng {
  return new Rng(which === 'out' ? seed : (seed ^ 0x9e3779b9) >>> 0);
}

/**
 * A yes/no decision with probability p whose successive outcomes are correlated by `corr` (see
 * FaultRates.lossCorrelation): one random draw per decision whatever the settings, so that a seed
 * gives the same pattern, and with corr = 0 exactly the independent draw `rng.chance(p)`.
 */
class CorrelatedChance {
  private last = false;
  constructor(
    private readonly p: number,
    private readonly corr: number,
  ) {}

  draw(rng: Rng): boolean {
    const p = this.last ? this.p + this.corr * (1 - this.p) : this.p * (1 - this.corr);
    this.last = rng.chance(p);
    return this.last;
  }
}

/**
 * Packets waiting for their time, earliest first (a binary min-heap in parallel arrays, ordered by
 * time and then by arrival, so packets due at the same moment keep their order). One timer is armed,
 * for the earliest: a delayed link costs no timer and no object per packet.
 */
class TimedQueue {
  private readonly at: number[] = [];
  private readonly seq: number[] = [];
  private readonly pkt: Uint8Array[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.at.length;
  }

  /** The time of the earliest packet (undefined when empty). */
  peekTime(): number | undefined {
    return this.at[0];
  }

  push(at: number, p: Uint8Array): void {
    let i = this.at.length;
    const s = this.nextSeq++;
    this.at.push(at);
    this.seq.push(s);
    this.pkt.push(p);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Remove and return the earliest packet (the queue must not be empty). */
  pop(): Uint8Array {
    const top = this.pkt[0]!;
    const last = this.at.length - 1;
    this.swap(0, last);
    this.at.pop();
    this.seq.pop();
    this.pkt.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < last && this.before(l, m)) m = l;
      if (r < last && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  clear(): void {
    this.at.length = 0;
    this.seq.length = 0;
    this.pkt.length = 0;
  }

  private before(i: number, j: number): boolean {
    return this.at[i]! < this.at[j]! || (this.at[i] === this.at[j] && this.seq[i]! < this.seq[j]!);
  }

  private swap(i: number, j: number): void {
    const a = this.at[i]!;
    this.at[i] = this.at[j]!;
    this.at[j] = a;
    const s = this.seq[i]!;
    this.seq[i] = this.seq[j]!;
    this.seq[j] = s;
    const p = this.pkt[i]!;
    this.pkt[i] = this.pkt[j]!;
    this.pkt[j] = p;
  }
}

/**
 * One direction's fault pipeline. `emit` hands a batch of surviving packets onward.
 *
 * Per packet, in this order: loss; corruption; duplication; the rate limit's queue (tail drop when
 * full) and serialisation; delay and jitter; reorder. What needs no waiting leaves in the batch it
 * came with (synchronously, inside process()); the rest waits in one time-ordered queue, released by
 * a timer of `clock`.
 */
export class FaultPath {
  readonly counters = emptyCounters();
  private held: Uint8Array | undefined;
  private holdTimer: TimerHandle | undefined;
  private readonly waiting = new TimedQueue();
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;
  private readonly lossChance: CorrelatedChance;
  private readonly reorderChance: CorrelatedChance;
  /** When the rate-limited link finishes sending what it has been given (ms). */
  private linkFreeAt = 0;
  /** Departure times of the packets in the rate limit's queue, oldest first (a ring, limitPackets long). */
  private readonly departures: Float64Array;
  private depHead = 0;
  private depCount = 0;
  /** Any fault configured for this direction (else packets pass straight through). */
  readonly active: boolean;

  private readonly rates: ResolvedRates;

  /** Throws RangeError for a rate out of its range (a probability above 1, a negative delay ...). */
  constructor(
    rates: FaultRates,
    private readonly rng: Rng,
    private readonly clock: Clock,
    private readonly emit: (packets: Uint8Array[]) => void,
  ) {
    const r = resolveRates(rates);
    this.rates = r;
    this.active =
      r.loss > 0 || r.duplicate > 0 || r.reorder > 0 || r.corrupt > 0 || r.delayMs > 0 || r.jitterMs > 0 || r.rateBps > 0;
    this.lossChance = new CorrelatedChance(r.loss, r.lossCorrelation);
    this.reorderChance = new CorrelatedChance(r.reorder, r.reorderCorrelation);
    this.departures = new Float64Array(r.rateBps > 0 ? r.limitPackets : 0);
  }

  /** Run a batch through the faults; what survives without waiting goes out as one batch. */
  process(packets: readonly Uint8Array[]): void {
    if (!this.active) {
      this.counters.packets += packets.length;
      this.counters.delivered += packets.length;
      this.emit(packets as Uint8Array[]);
      return;
    }
    const out: Uint8Array[] = [];
    for (const p of packets) this.one(p, out);
    if (out.length > 0) this.emit(out);
  }

  private one(packet: Uint8Array, out: Uint8Array[]): void {
    const r = this.rates;
    const c = this.counters;
    c.packets++;
    // One draw per decision, in a fixed order, whatever the rates: the pattern for a seed is stable.
    if (this.lossChance.draw(this.rng)) {
      c.lost++;
      return;
    }
    let p = packet;
    if (this.rng.chance(r.corrupt) && p.length > 0) {
      p = p.slice();
      const bit = this.rng.int(p.length * 8);
      p[bit >>> 3]! ^= 1 << (bit & 7);
      c.corrupted++;
    }
    const dup = this.rng.chance(r.duplicate);
    if (dup) c.duplicated++;
    this.schedule(p, out);
    if (dup) this.schedule(p.slice(), out);
  }

  private schedule(p: Uint8Array, out: Uint8Array[]): void {
    const r = this.rates;
    const now = this.clock.now();
    let at = now;
    if (r.rateBps > 0) {
      const left = this.serialise(p.length, now);
      if (left === undefined) return;
      at = left;
    }
    let delay = r.delayMs;
    if (r.jitterMs > 0) delay = Math.max(0, delay + (this.rng.next() * 2 - 1) * r.jitterMs);
    if (delay > 0) this.counters.delayed++;
    at += delay;
    if (at > now) this.wait(at, p);
    else this.order(p, out);
  }

  /**
   * The rate limit: when a packet of `bytes` entering now has left the link, or undefined when the
   * queue in front of it is full (the packet is dropped at the tail, as a full tbf or pfifo drops).
   */
  private serialise(bytes: number, now: number): number | undefined {
    const r = this.rates;
    const d = this.departures;
    while (this.depCount > 0 && d[this.depHead]! <= now) {
      this.depHead = (this.depHead + 1) % d.length;
      this.depCount--;
    }
    const start = Math.max(now, this.linkFreeAt);
    if (this.depCount >= d.length || start - now > r.limitMs) {
      this.counters.queueDropped++;
      return undefined;
    }
    this.linkFreeAt = start + (bytes * 8 * 1000) / r.rateBps;
    d[(this.depHead + this.depCount) % d.length] = this.linkFreeAt;
    this.depCount++;
    if (this.depCount > this.counters.queueMax) this.counters.queueMax = this.depCount;
    return this.linkFreeAt;
  }

  private wait(at: number, p: Uint8Array): void {
    this.waiting.push(at, p);
    if (at < this.timerAt) this.arm(at);
  }

  private arm(at: number): void {
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.clock.setTimer(at, () => this.release());
  }

  /** The timer: everything now due goes out as one batch, in time order, through the reorder stage. */
  private release(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    const batch: Uint8Array[] = [];
    for (let t = this.waiting.peekTime(); t !== undefined && t <= now; t = this.waiting.peekTime()) {
      this.order(this.waiting.pop(), batch);
    }
    const next = this.waiting.peekTime();
    if (next !== undefined) this.arm(next);
    if (batch.length > 0) this.emit(batch);
  }

  /** The reorder stage: hold one packet back until the next one has passed. */
  private order(p: Uint8Array, out: Uint8Array[]): void {
    if (this.held === undefined && this.reorderChance.draw(this.rng)) {
      this.held = p;
      this.counters.reordered++;
      this.holdTimer = this.clock.setTimer(this.clock.now() + this.rates.reorderHoldMs, () => {
        this.holdTimer = undefined;
        const h = this.held;
        this.held = undefined;
        if (h !== undefined) {
          this.counters.delivered++;
          this.emit([h]);
        }
      });
      return;
    }
    out.push(p);
    this.counters.delivered++;
    const h = this.held;
    if (h !== undefined) {
      this.held = undefined;
      this.holdTimer?.cancel();
      this.holdTimer = undefined;
      out.push(h);
      this.counters.delivered++;
    }
  }

  /**
   * Stop, and hand back what the path still holds (delayed or rate-queued packets in the order they
   * were due, then the one held back for reordering), for its successor to send at once.
   */
  drain(): Uint8Array[] {
    const rest: Uint8Array[] = [];
    while (this.waiting.size > 0) rest.push(this.waiting.pop());
    if (this.held !== undefined) rest.push(this.held);
    this.close();
    return rest;
  }

  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Infinity;
    this.waiting.clear();
    this.holdTimer?.cancel();
    this.holdTimer = undefined;
    this.held = undefined;
  }
}
