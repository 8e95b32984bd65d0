/**
 * Seeded fault injection as a stackable device: wrap any NetDevice and packets going through it face
 * the faults of link/fault-path.ts (loss, corruption, duplication, a rate limit, delay and jitter,
 * reordering), one FaultPath per direction, by a seeded PRNG and the injected Clock.
 *
 * Directions: 'out' is what the stack sends (send() -> inner device), 'in' is what the inner device
 * receives (inner -> our receiver). Each direction has its own generator (derived from the seed,
 * faultRng), so the pattern in one direction does not depend on how traffic interleaves with the
 * other. The rates can differ per direction (FaultOptions.in / .out).
 */
import { SystemClock, type Clock } from '../util/clock.ts';
import { UsageError } from '../util/errors.ts';
import type { DeviceStats, NetDevice, PacketHandler } from './device.ts';
import { segmentTcpV4, toWirePackets } from './gso.ts';
import { checkFaultRates, FaultPath, faultRng, type FaultCounters, type FaultRates } from './fault-path.ts';

export { DEFAULT_LIMIT_PACKETS, type FaultCounters, type FaultRates } from './fault-path.ts';

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

/** The keys of FaultRates that `dir` applies and a direction's overrides replace. */
const RATE_KEYS = [
  'loss',
  'lossCorrelation',
  'duplicate',
  'reorder',
  'reorderCorrelation',
  'corrupt',
  'delayMs',
  'jitterMs',
  'rateBps',
  'limitPackets',
  'limitMs',
] as const satisfies readonly (keyof FaultRates)[];

/** One direction's rates: its overrides over the top-level rates (if `dir` includes it). */
function ratesFor(opts: FaultOptions, which: 'in' | 'out'): FaultRates {
  const dir = opts.dir ?? 'both';
  const base: FaultRates = dir === 'both' || dir === which ? opts : {};
  const over = opts[which] ?? {};
  const r: { -readonly [K in keyof FaultRates]: FaultRates[K] } = {};
  for (const k of RATE_KEYS) r[k] = over[k] ?? base[k];
  // How long a reordered packet may wait is not a fault: it applies whatever `dir` says.
  r.reorderHoldMs = over.reorderHoldMs ?? opts.reorderHoldMs;
  return r;
}

/** Throws the RangeError a FaultDevice with `opts` would (a rate out of its range in either direction). */
export function checkFaultOptions(opts: FaultOptions): void {
  checkFaultRates(ratesFor(opts, 'in'));
  checkFaultRates(ratesFor(opts, 'out'));
}

export class FaultDevice implements NetDevice {
  readonly name: string;
  readonly mtu: number;
  readonly tsoMaxSize: number;
  private receiver: PacketHandler | undefined;
  private closed = false;
  private inPath: FaultPath;
  private outPath: FaultPath;
  private opts: Readonly<FaultOptions>;

  constructor(
    private readonly inner: NetDevice,
    opts: FaultOptions = {},
    private readonly clock: Clock = new SystemClock(),
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    this.tsoMaxSize = inner.tsoMaxSize ?? 0;
    this.opts = { ...opts };
    this.outPath = this.path(this.opts, 'out');
    this.inPath = this.path(this.opts, 'in');
    // Faults act on wire packets: what a device with receive offload hands over whole (super-segments,
    // partial checksums) becomes the packets the wire would have carried first (link/gso.ts).
    inner.setReceiver((packets, offload) => this.inPath.process(offload === undefined ? packets : toWirePackets(packets, offload)));
  }

  /** The impairment in force (as given to the constructor or to setImpairment). */
  get options(): Readonly<FaultOptions> {
    return this.opts;
  }

  /**
   * Change the impairment while packets flow (what `tc qdisc change` does to a netem qdisc): both
   * directions start afresh from `opts` and its seed, so the faults that follow are the ones a new
   * device with `opts` would make, and the counters start again from zero. What the old impairment
   * still held (delayed, rate-queued or held back for reordering) is sent on at once, in order: a
   * change loses nothing. Throws RangeError for a rate out of its range, leaving the old one in force.
   */
  setImpairment(opts: FaultOptions): void {
    if (this.closed) return;
    const next = { ...opts };
    const outPath = this.path(next, 'out');
    const inPath = this.path(next, 'in');
    const outRest = this.outPath.drain();
    const inRest = this.inPath.drain();
    this.opts = next;
    this.outPath = outPath;
    this.inPath = inPath;
    for (const p of outRest) this.inner.send(p);
    if (inRest.length > 0) this.receiver?.(inRest);
  }

  setReceiver(rx: PacketHandler): void {
    this.receiver = rx;
  }

  /** One direction's fault pipeline for `opts`: 'out' ends in the device below, 'in' in our receiver. */
  private path(opts: FaultOptions, which: 'in' | 'out'): FaultPath {
    const seed = opts.seed ?? 1;
    const emit =
      which === 'out'
        ? (ps: Uint8Array[]) => {
            if (this.closed) return;
            for (const p of ps) this.inner.send(p);
          }
        : (ps: Uint8Array[]) => {
            if (!this.closed) this.receiver?.(ps);
          };
    return new FaultPath(ratesFor(opts, which), faultRng(seed, which), this.clock, emit);
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
