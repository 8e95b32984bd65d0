/**
 * The pageload command's specs as text: the mode (`serial`, `parallel:K`, `persistent[:K]`,
 * `pipelined[:depth]`), the simulated link (`delay=50ms,rate=2mbit,loss=0%,seed=N`) and the mode
 * list of --compare. Anything malformed is a UsageError naming what was expected.
 */
import { UsageError } from '../util/errors.ts';

/**
 * How a browser of that kind loads the page's objects:
 * - serial: one new connection per object, one after the other (HTTP/1.0 without keep-alive);
 * - parallel: up to `k` new connections at a time, each for one object;
 * - persistent: `k` keep-alive connections (default 1), one request at a time on each;
 * - pipelined: one keep-alive connection, up to `depth` requests sent before their responses come.
 */
export type Mode =
  | { kind: 'serial' }
  | { kind: 'parallel'; k: number }
  | { kind: 'persistent'; k: number }
  | { kind: 'pipelined'; depth: number };

export const MAX_PARALLEL = 32;
export const MAX_DEPTH = 64;

export function parseMode(text: string): Mode {
  const m = /^(serial|parallel|persistent|pipelined)(?::(\d{1,3}))?$/.exec(text);
  if (!m) throw new UsageError(`--mode must be serial, parallel:K, persistent, persistent:K or pipelined[:DEPTH], got ${JSON.stringify(text)}`);
  const n = m[2] === undefined ? undefined : Number(m[2]);
  switch (m[1]) {
    case 'serial':
      if (n !== undefined) throw new UsageError(`--mode serial takes no number, got ${JSON.stringify(text)}`);
      return { kind: 'serial' };
    case 'parallel':
      if (n === undefined) throw new UsageError('--mode parallel needs the number of connections: parallel:K (e.g. parallel:4)');
      return { kind: 'parallel', k: bounded('parallel:K', n, 1, MAX_PARALLEL) };
    case 'persistent':
      return { kind: 'persistent', k: bounded('persistent:K', n ?? 1, 1, MAX_PARALLEL) };
    default:
      return { kind: 'pipelined', depth: bounded('pipelined:DEPTH', n ?? MAX_DEPTH, 1, MAX_DEPTH) };
  }
}

export function formatMode(m: Mode): string {
  switch (m.kind) {
    case 'serial':
      return 'serial';
    case 'parallel':
      return `parallel:${m.k}`;
    case 'persistent':
      return m.k === 1 ? 'persistent' : `persistent:${m.k}`;
    case 'pipelined':
      return m.depth === MAX_DEPTH ? 'pipelined' : `pipelined:${m.depth}`;
  }
}

/** --compare's list: comma-separated modes, 1 to 8 of them, no repeats. */
export function parseModeList(text: string): Mode[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length < 1 || parts.length > 8 || parts.some((p) => p === '')) {
    throw new UsageError(`--compare takes 1 to 8 modes separated by commas, got ${JSON.stringify(text)}`);
  }
  const modes = parts.map(parseMode);
  const names = modes.map(formatMode);
  if (new Set(names).size !== names.length) throw new UsageError(`--compare names a mode twice: ${JSON.stringify(text)}`);
  return modes;
}

/** The simulated link, the same both ways: each direction has this one-way delay, rate and loss. */
export interface SimSpec {
  /** One-way delay per direction, ms: the round trip is twice this. */
  delayMs: number;
  /** Rate per direction, bits per second (undefined: no serialization delay). */
  rateBps: number | undefined;
  /** Loss probability per packet and direction, 0..1. */
  loss: number;
  seed: number;
}

const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

export function parseSimSpec(text: string): SimSpec {
  const spec: SimSpec = { delayMs: 0, rateBps: undefined, loss: 0, seed: 1 };
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (seen.has(key)) throw new UsageError(`--sim: ${key} given twice`);
    seen.add(key);
    switch (key) {
      case 'delay': {
        const m = /^(\d+(?:\.\d+)?)ms$/.exec(value);
        if (!m) throw new UsageError(`--sim delay must be like 50ms, got ${JSON.stringify(value)}`);
        spec.delayMs = bounded('--sim delay', Number(m[1]), 0, 10_000);
        break;
      }
      case 'rate': {
        const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/i.exec(value);
        if (!m) throw new UsageError(`--sim rate must be like 2mbit (bit, kbit, mbit, gbit), got ${JSON.stringify(value)}`);
        const bps = Number(m[1]) * RATE_UNITS[m[2]!.toLowerCase()]!;
        spec.rateBps = bounded('--sim rate (bit/s)', bps, 8_000, 100e9);
        break;
      }
      case 'loss': {
        const m = /^(\d+(?:\.\d+)?)%$/.exec(value);
        if (!m) throw new UsageError(`--sim loss must be a percentage like 1%, got ${JSON.stringify(value)}`);
        spec.loss = bounded('--sim loss (%)', Number(m[1]), 0, 50) / 100;
        break;
      }
      case 'seed': {
        if (!/^\d{1,9}$/.test(value)) throw new UsageError(`--sim seed must be an integer, got ${JSON.stringify(value)}`);
        spec.seed = Number(value);
        break;
      }
      default:
        throw new UsageError(`--sim takes delay=MS ms, rate=N mbit, loss=P %, seed=N; got ${JSON.stringify(part)}`);
    }
  }
  return spec;
}

/** The link in words, for titles: "50 ms each way (RTT 100 ms), 2 Mbit/s, 0% loss". */
export function describeSim(s: SimSpec): string {
  const rate = s.rateBps === undefined ? 'unlimited rate' : formatRate(s.rateBps);
  const loss = s.loss > 0 ? `, ${+(s.loss * 100).toFixed(2)}% loss (seed ${s.seed})` : '';
  return `simulated: RTT ${+(2 * s.delayMs).toFixed(3)} ms, ${rate}${loss}`;
}

export function formatRate(bps: number): string {
  if (bps >= 1e9) return `${+(bps / 1e9).toFixed(2)} Gbit/s`;
  if (bps >= 1e6) return `${+(bps / 1e6).toFixed(2)} Mbit/s`;
  if (bps >= 1e3) return `${+(bps / 1e3).toFixed(2)} kbit/s`;
  return `${bps} bit/s`;
}

function bounded(what: string, n: number, min: number, max: number): number {
  if (!(n >= min && n <= max)) throw new UsageError(`${what} must be between ${min} and ${max}, got ${n}`);
  return n;
}
