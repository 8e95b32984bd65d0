/**
 * Seeded fault injection as a stackable device: wrap any NetDevice and packets going through it are
 * lost, duplicated, reordered, corrupted or delayed, by a seeded PRNG and the injected Clock, so a
 * given seed always produces the same pattern (a failing simulation is replayed from its seed).
 * It stands in for `tc netem`, which this project cannot count on.
 *
 * Directions: 'out' is what the stack sends (send() -> inner device), 'in' is what the inner device
 * receives (inner -> our receiver). Each direction has its own generator (derived from the seed), so
 * the pattern in one direction does not depend on how traffic interleaves with the other.
 *
 * Per packet, in this order: loss (optionally in bursts: correlated decisions); corruption (one
 * random bit flipped, in a copy: the IPv4 header checksum or the TCP/ICMP checksum, RFC 1071, must
 * catch it, since a single flipped bit always changes a one's complement sum); duplication (the copy
 * takes the same path); a rate limit (a bottleneck link of `rate` bit/s with a FIFO queue of `limit`
 * packets or ms in front, tail drop when full: what tbf does); delay (fixed plus uniform jitter in
 * [-jitter, +jitter], never below zero; with jitter, packets may overtake each other as in netem);
 * reorder (a packet is held back and released right after the next packet of the same direction, or
 * after `reorderHoldMs` if none comes). So delay, bandwidth and loss are set independently, and per
 * direction.
 */
import { SystemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { UsageError } from '../util/errors.ts';
import { Rng } from '../util/random.ts';
import type { DeviceStats, NetDevice, PacketHandler } from './device.ts';
import { segmentTcpV4, toWirePackets } from './gso.ts';

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

export type FaultDirection = 'both' | 'in' | 'out';

export interface FaultOptions extends FaultRates {
  /** PRNG seed (default 1). */
  seed?: number;
  /** Which directions the top-level rates apply to (default 'both'). */
  dir?: FaultDirection;
  /** Per-direction overrides, merged over the top-level rates. */
  in?: FaultRates;
  out?: FaultRates;
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

function resolveRates(opts: FaultOptions, which: 'in' | 'out'): ResolvedRates {
  const dir = opts.dir ?? 'both';
  const base: FaultRates = dir === 'both' || dir === which ? opts : {};
  const over = opts[which] ?? {};
  const pick = (k: keyof FaultRates, dflt: number): number => over[k] ?? base[k] ?? dflt;
  const r: ResolvedRates = {
    loss: pick('loss', 0),
    lossCorrelation: pick('lossCorrelation', 0),
    duplicate: pick('duplicate', 0),
    reorder: pick('reorder', 0),
    reorderCorrelation: pick('reorderCorrelation', 0),
    corrupt: pick('corrupt', 0),
    delayMs: pick('delayMs', 0),
    jitterMs: pick('jitterMs', 0),
    reorderHoldMs: opts[which]?.reorderHoldMs ?? opts.reorderHoldMs ?? 10,
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
 * came with; the rest waits in one time-ordered queue.
 */
class FaultPath {
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

  constructor(
    private readonly rates: ResolvedRates,
    private readonly rng: Rng,
    private readonly clock: Clock,
    private readonly emit: (packets: Uint8Array[]) => void,
  ) {
    const r = rates;
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

export class FaultDevice implements NetDevice {
  readonly name: string;
  readonly mtu: number;
  readonly tsoMaxSize: number;
  private receiver: PacketHandler | undefined;
  private closed = false;
  private readonly inPath: FaultPath;
  private readonly outPath: FaultPath;
  readonly options: Readonly<FaultOptions>;

  constructor(
    private readonly inner: NetDevice,
    opts: FaultOptions = {},
    clock: Clock = new SystemClock(),
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    this.tsoMaxSize = inner.tsoMaxSize ?? 0;
    this.options = { ...opts };
    const seed = opts.seed ?? 1;
    this.outPath = new FaultPath(resolveRates(opts, 'out'), new Rng(seed), clock, (ps) => {
      if (this.closed) return;
      for (const p of ps) this.inner.send(p);
    });
    // A different stream for the other direction, derived from the same seed (golden-ratio offset).
    this.inPath = new FaultPath(resolveRates(opts, 'in'), new Rng((seed ^ 0x9e3779b9) >>> 0), clock, (ps) => {
      if (!this.closed) this.receiver?.(ps);
    });
    // Faults act on wire packets: what a device with receive offload hands over whole (super-segments,
    // partial checksums) becomes the packets the wire would have carried first (link/gso.ts).
    inner.setReceiver((packets, offload) => this.inPath.process(offload === undefined ? packets : toWirePackets(packets, offload)));
  }

  setReceiver(rx: PacketHandler): void {
    this.receiver = rx;
  }

  /**
   * Faults act on wire packets: a TCP super-segment (offered when the device below offers TSO) is cut
   * into its MSS-sized segments first (link/gso.ts), and each one is lost, reordered, ... on its own.
   * With no fault on the way out it goes down whole, for the device below to cut.
   */
  send(packet: Uint8Array, segmentSize?: number): void {
    if (this.closed) return;
    if (!this.outPath.active) {
      this.outPath.counters.packets++;
      this.outPath.counters.delivered++;
      this.inner.send(packet, segmentSize);
    } else if (segmentSize === undefined || segmentSize <= 0) this.outPath.process([packet]);
    else this.outPath.process(segmentTcpV4(packet, segmentSize));
  }

  /** The inner device's statistics (what really crossed the link). */
  stats(): DeviceStats {
    return this.inner.stats();
  }

  /** What the fault stage did, per direction. */
  faultStats(): { in: FaultCounters; out: FaultCounters } {
    return { in: { ...this.inPath.counters }, out: { ...this.outPath.counters } };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.inPath.close();
    this.outPath.close();
    await this.inner.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// The --impair flag: loss=5%,loss-corr=25%,reorder=25%,reorder-corr=50%,dup=2%,corrupt=1%,
// delay=20ms,jitter=5ms,rate=20mbit,limit=100|50ms,seed=7,dir=both

const IMPAIR_KEYS = [
  'loss',
  'loss-corr',
  'reorder',
  'reorder-corr',
  'dup',
  'corrupt',
  'delay',
  'jitter',
  'rate',
  'limit',
  'seed',
  'dir',
] as const;
type ImpairKey = (typeof IMPAIR_KEYS)[number];

function parseProbability(key: string, text: string): number {
  const pct = text.endsWith('%');
  const body = pct ? text.slice(0, -1) : text;
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(body)) {
    throw new UsageError(`--impair ${key}: not a probability: "${text}" (write 5% or 0.05)`);
  }
  const value = pct ? Number(body) / 100 : Number(body);
  if (value > 1) throw new UsageError(`--impair ${key}: probability must be within [0, 1], got ${text}`);
  return value;
}

function parseMs(key: string, text: string): number {
  const m = /^(\d+(\.\d*)?|\.\d+)(ms)?$/.exec(text);
  if (!m) throw new UsageError(`--impair ${key}: not a duration: "${text}" (write 20ms or 20)`);
  return Number(m[1]);
}

const RATE_UNITS: Record<string, number> = { '': 1, bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/** A rate as tc writes it: 20mbit, 1.5mbit, 512kbit, 1gbit, or bits per second. */
function parseRate(text: string): number {
  const m = /^(\d+(\.\d*)?|\.\d+)(bit|kbit|mbit|gbit)?$/i.exec(text);
  const bps = m ? Number(m[1]) * RATE_UNITS[(m[3] ?? '').toLowerCase()]! : NaN;
  if (!(bps >= 1)) throw new UsageError(`--impair rate: not a rate: "${text}" (write 20mbit, 512kbit or bits/s, at least 1)`);
  return bps;
}

function formatRate(bps: number): string {
  for (const [unit, f] of [['gbit', 1e9], ['mbit', 1e6], ['kbit', 1e3]] as const) {
    if (bps >= f && Number.isInteger((bps / f) * 1000)) return `${bps / f}${unit}`;
  }
  return `${bps}bit`;
}

/** Parse the CLI's impairment spec. Throws UsageError naming the offending key and value. */
export function parseImpairSpec(spec: string): FaultOptions {
  const opts: FaultOptions = {};
  const seen = new Set<string>();
  const items = spec.split(',').map((s) => s.trim());
  if (spec.trim() === '') throw new UsageError('--impair: empty spec (example: loss=5%,delay=20ms,seed=7)');
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--impair: expected key=value, got "${item}"`);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (!(IMPAIR_KEYS as readonly string[]).includes(key)) {
      throw new UsageError(`--impair: unknown key "${key}" (known: ${IMPAIR_KEYS.join(', ')})`);
    }
    if (seen.has(key)) throw new UsageError(`--impair: key "${key}" given twice`);
    seen.add(key);
    switch (key as ImpairKey) {
      case 'loss':
        opts.loss = parseProbability(key, value);
        break;
      case 'reorder':
        opts.reorder = parseProbability(key, value);
        break;
      case 'loss-corr':
      case 'reorder-corr': {
        const c = parseProbability(key, value);
        if (c >= 1) throw new UsageError(`--impair ${key}: correlation must be below 100%, got ${value}`);
        if (key === 'loss-corr') opts.lossCorrelation = c;
        else opts.reorderCorrelation = c;
        break;
      }
      case 'rate':
        opts.rateBps = parseRate(value);
        break;
      case 'limit': {
        const m = /^(\d+)(ms)?$/.exec(value);
        if (!m || Number(m[1]) < 1) {
          throw new UsageError(`--impair limit: not a queue length: "${value}" (write 100 for packets or 50ms)`);
        }
        if (m[2] === undefined) opts.limitPackets = Number(m[1]);
        else opts.limitMs = Number(m[1]);
        break;
      }
      case 'dup':
        opts.duplicate = parseProbability(key, value);
        break;
      case 'corrupt':
        opts.corrupt = parseProbability(key, value);
        break;
      case 'delay':
        opts.delayMs = parseMs(key, value);
        break;
      case 'jitter':
        opts.jitterMs = parseMs(key, value);
        break;
      case 'seed':
        if (!/^\d{1,10}$/.test(value) || Number(value) > 0xffffffff) {
          throw new UsageError(`--impair seed: not an integer in [0, 4294967295]: "${value}"`);
        }
        opts.seed = Number(value);
        break;
      case 'dir':
        if (value !== 'both' && value !== 'in' && value !== 'out') {
          throw new UsageError(`--impair dir: must be both, in or out, got "${value}"`);
        }
        opts.dir = value;
        break;
    }
  }
  if ((opts.limitPackets !== undefined || opts.limitMs !== undefined) && opts.rateBps === undefined) {
    throw new UsageError('--impair limit: a queue limit needs a rate (example: rate=20mbit,limit=50ms)');
  }
  return opts;
}

function pct(p: number): string {
  return `${Number((p * 100).toFixed(4))}%`;
}

/** The canonical text of the top-level options, for logs; parseImpairSpec(formatImpairSpec(o)) == o. */
export function formatImpairSpec(opts: FaultOptions): string {
  const parts: string[] = [];
  if (opts.loss !== undefined) parts.push(`loss=${pct(opts.loss)}`);
  if (opts.lossCorrelation !== undefined) parts.push(`loss-corr=${pct(opts.lossCorrelation)}`);
  if (opts.reorder !== undefined) parts.push(`reorder=${pct(opts.reorder)}`);
  if (opts.reorderCorrelation !== undefined) parts.push(`reorder-corr=${pct(opts.reorderCorrelation)}`);
  if (opts.duplicate !== undefined) parts.push(`dup=${pct(opts.duplicate)}`);
  if (opts.corrupt !== undefined) parts.push(`corrupt=${pct(opts.corrupt)}`);
  if (opts.delayMs !== undefined) parts.push(`delay=${opts.delayMs}ms`);
  if (opts.jitterMs !== undefined) parts.push(`jitter=${opts.jitterMs}ms`);
  if (opts.rateBps !== undefined) parts.push(`rate=${formatRate(opts.rateBps)}`);
  if (opts.limitPackets !== undefined) parts.push(`limit=${opts.limitPackets}`);
  if (opts.limitMs !== undefined) parts.push(`limit=${opts.limitMs}ms`);
  if (opts.seed !== undefined) parts.push(`seed=${opts.seed}`);
  if (opts.dir !== undefined) parts.push(`dir=${opts.dir}`);
  return parts.length > 0 ? parts.join(',') : 'none';
}
