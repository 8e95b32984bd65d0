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
 * Per packet, in this order: loss; corruption (one random bit flipped, in a copy: the IPv4 header
 * checksum or the TCP/ICMP checksum, RFC 1071, must catch it, since a single flipped bit always
 * changes a one's complement sum); duplication (the copy takes the same path); delay (fixed plus
 * uniform jitter in [-jitter, +jitter], never below zero; with jitter, packets may overtake each
 * other as in netem); reorder (a packet is held back and released right after the next packet of the
 * same direction, or after `reorderHoldMs` if none comes).
 */
import { SystemClock, type Clock, type TimerHandle } from '../util/clock.ts';
import { UsageError } from '../util/errors.ts';
import { Rng } from '../util/random.ts';
import type { DeviceStats, NetDevice, PacketHandler } from './device.ts';
import { segmentTcpV4, toWirePackets } from './gso.ts';

/** The fault rates for one direction. Probabilities are in [0, 1]. */
export interface FaultRates {
  loss?: number;
  duplicate?: number;
  reorder?: number;
  corrupt?: number;
  /** Fixed extra delay in ms. */
  delayMs?: number;
  /** Uniform jitter in ms added to the delay: delay + U(-jitter, +jitter), at least 0. */
  jitterMs?: number;
  /** How long a reordered packet waits for a successor before it is released anyway (default 10 ms). */
  reorderHoldMs?: number;
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
  /** Packets handed on (duplicates included, lost ones not). */
  delivered: number;
}

function emptyCounters(): FaultCounters {
  return { packets: 0, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, delayed: 0, delivered: 0 };
}

interface ResolvedRates {
  loss: number;
  duplicate: number;
  reorder: number;
  corrupt: number;
  delayMs: number;
  jitterMs: number;
  reorderHoldMs: number;
}

function resolveRates(opts: FaultOptions, which: 'in' | 'out'): ResolvedRates {
  const dir = opts.dir ?? 'both';
  const base: FaultRates = dir === 'both' || dir === which ? opts : {};
  const over = opts[which] ?? {};
  const pick = (k: keyof FaultRates, dflt: number): number => over[k] ?? base[k] ?? dflt;
  const r: ResolvedRates = {
    loss: pick('loss', 0),
    duplicate: pick('duplicate', 0),
    reorder: pick('reorder', 0),
    corrupt: pick('corrupt', 0),
    delayMs: pick('delayMs', 0),
    jitterMs: pick('jitterMs', 0),
    reorderHoldMs: opts[which]?.reorderHoldMs ?? opts.reorderHoldMs ?? 10,
  };
  for (const k of ['loss', 'duplicate', 'reorder', 'corrupt'] as const) {
    if (!(r[k] >= 0 && r[k] <= 1)) throw new RangeError(`fault ${k} must be a probability in [0, 1], got ${r[k]}`);
  }
  for (const k of ['delayMs', 'jitterMs', 'reorderHoldMs'] as const) {
    if (!(r[k] >= 0 && Number.isFinite(r[k]))) throw new RangeError(`fault ${k} must be >= 0 ms, got ${r[k]}`);
  }
  return r;
}

/** One direction's fault pipeline. `emit` hands a batch of surviving packets onward. */
class FaultPath {
  readonly counters = emptyCounters();
  private held: Uint8Array | undefined;
  private holdTimer: TimerHandle | undefined;
  private readonly timers = new Set<TimerHandle>();
  /** Any fault configured for this direction (else packets pass straight through). */
  readonly active: boolean;

  constructor(
    private readonly rates: ResolvedRates,
    private readonly rng: Rng,
    private readonly clock: Clock,
    private readonly emit: (packets: Uint8Array[]) => void,
  ) {
    const r = rates;
    this.active = r.loss > 0 || r.duplicate > 0 || r.reorder > 0 || r.corrupt > 0 || r.delayMs > 0 || r.jitterMs > 0;
  }

  /** Run a batch through the faults; what survives without delay goes out as one batch. */
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
    if (this.rng.chance(r.loss)) {
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
    let delay = r.delayMs;
    if (r.jitterMs > 0) delay = Math.max(0, delay + (this.rng.next() * 2 - 1) * r.jitterMs);
    if (delay > 0) {
      this.counters.delayed++;
      const t = this.clock.setTimer(this.clock.now() + delay, () => {
        this.timers.delete(t);
        const batch: Uint8Array[] = [];
        this.order(p, batch);
        if (batch.length > 0) this.emit(batch);
      });
      this.timers.add(t);
      return;
    }
    this.order(p, out);
  }

  /** The reorder stage: hold one packet back until the next one has passed. */
  private order(p: Uint8Array, out: Uint8Array[]): void {
    if (this.held === undefined && this.rng.chance(this.rates.reorder)) {
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
    for (const t of this.timers) t.cancel();
    this.timers.clear();
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
    if (segmentSize === undefined || segmentSize <= 0) this.outPath.process([packet]);
    else if (!this.outPath.active) {
      this.outPath.counters.packets++;
      this.outPath.counters.delivered++;
      this.inner.send(packet, segmentSize);
    } else this.outPath.process(segmentTcpV4(packet, segmentSize));
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
// The --impair flag: loss=5%,reorder=25%,dup=2%,corrupt=1%,delay=20ms,jitter=5ms,seed=7,dir=both

const IMPAIR_KEYS = ['loss', 'reorder', 'dup', 'corrupt', 'delay', 'jitter', 'seed', 'dir'] as const;
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
  return opts;
}

function pct(p: number): string {
  return `${Number((p * 100).toFixed(4))}%`;
}

/** The canonical text of the top-level options, for logs; parseImpairSpec(formatImpairSpec(o)) == o. */
export function formatImpairSpec(opts: FaultOptions): string {
  const parts: string[] = [];
  if (opts.loss !== undefined) parts.push(`loss=${pct(opts.loss)}`);
  if (opts.reorder !== undefined) parts.push(`reorder=${pct(opts.reorder)}`);
  if (opts.duplicate !== undefined) parts.push(`dup=${pct(opts.duplicate)}`);
  if (opts.corrupt !== undefined) parts.push(`corrupt=${pct(opts.corrupt)}`);
  if (opts.delayMs !== undefined) parts.push(`delay=${opts.delayMs}ms`);
  if (opts.jitterMs !== undefined) parts.push(`jitter=${opts.jitterMs}ms`);
  if (opts.seed !== undefined) parts.push(`seed=${opts.seed}`);
  if (opts.dir !== undefined) parts.push(`dir=${opts.dir}`);
  return parts.length > 0 ? parts.join(',') : 'none';
}
