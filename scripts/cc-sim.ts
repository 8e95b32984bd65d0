/**
 * CUBIC (src/tcp/cc/cubic.ts) against a Reno model over a modelled bottleneck, one flow at a time,
 * in virtual time: the packet model of test/tcp/cc/bottleneck.ts (drop-tail queue, fixed rate, base
 * RTT, SACK-like loss detection, RTO). Prints one table row per path and controller: utilisation,
 * loss events (reductions), dropped packets, timeouts, time-averaged cwnd and queueing delay, and the
 * mean time between the last losses after the first 10 s (up to three; '-' with fewer than two) with
 * the K that RFC 9438 §4.2 predicts for it.
 *
 * The figures are deterministic (virtual time, no randomness): the machine's load does not change
 * them, so one run is the answer.
 *
 *   npx tsx scripts/cc-sim.ts                        # the default paths
 *   npx tsx scripts/cc-sim.ts --rate 8000 --rtt 100 --buffer 200 [--duration 60] [--mss 1000]
 *
 * rate: bottleneck packets/s; rtt: base RTT ms; buffer: queue packets; duration: seconds.
 */
import { Cubic } from '../src/tcp/cc/cubic.ts';
import type { CongestionControl } from '../src/tcp/congestion-control.ts';
import { runPath, type PathConfig } from '../test/tcp/cc/bottleneck.ts';
import { RenoModel } from '../test/tcp/cc/reno-model.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function num(name: string, def: number): number {
  const v = arg(name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`cc-sim: --${name} needs a positive number, not ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}

const mss = num('mss', 1000);
const durationMs = num('duration', 60) * 1000;
const custom = ['rate', 'rtt', 'buffer'].some((n) => arg(n) !== undefined);
const paths: Array<[string, PathConfig]> = custom
  ? [
      [
        'custom',
        {
          ratePps: num('rate', 1000),
          baseRttMs: num('rtt', 100),
          bufferPackets: Math.round(num('buffer', 25)),
          mss,
          durationMs,
        },
      ],
    ]
  : [
      ['12 Mbit/s 100 ms, 0.25 BDP buffer', { ratePps: 1000, baseRttMs: 100, bufferPackets: 25, mss, durationMs }],
      ['96 Mbit/s 100 ms, 0.25 BDP buffer', { ratePps: 8000, baseRttMs: 100, bufferPackets: 200, mss, durationMs }],
      ['96 Mbit/s 100 ms, 1 BDP buffer', { ratePps: 8000, baseRttMs: 100, bufferPackets: 800, mss, durationMs }],
      ['24 Mbit/s 20 ms, 1 BDP buffer', { ratePps: 2000, baseRttMs: 20, bufferPackets: 40, mss, durationMs }],
    ];

const controllers: Array<[string, () => CongestionControl]> = [
  ['cubic', () => new Cubic(mss, { fastConvergence: false })],
  ['cubic+fc', () => new Cubic(mss)],
  ['cubic-hystart', () => new Cubic(mss, { fastConvergence: false, hystart: false })],
  ['reno', () => new RenoModel(mss)],
];

const rows: string[][] = [['path', 'controller', 'util %', 'losses', 'drops', 'RTOs', 'mean cwnd', 'mean queue ms', 'period s', 'K s']];
for (const [label, cfg] of paths) {
  for (const [name, make] of controllers) {
    const r = runPath(make(), cfg);
    // Periods between losses after the first 10 s (past slow start and its aftermath), the last three.
    const last = r.losses.filter((l) => l.atMs > 10_000).slice(-4);
    const gaps = last.slice(1).map((l, i) => (l.atMs - last[i]!.atMs) / 1000);
    const period = gaps.length > 0 ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN;
    const k = last.length > 1 ? Math.cbrt((last.at(-2)!.cwndBefore - last.at(-2)!.ssthreshAfter) / 0.4) : NaN;
    rows.push([
      label,
      name,
      (100 * r.utilisation).toFixed(1),
      String(r.losses.length),
      String(r.drops),
      String(r.timeouts),
      r.meanCwnd.toFixed(0),
      r.meanQueueMs.toFixed(1),
      Number.isNaN(period) ? '-' : period.toFixed(2),
      name.startsWith('cubic') && !Number.isNaN(k) ? k.toFixed(2) : '-',
    ]);
  }
}

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log(`one flow, ${durationMs / 1000} s virtual, MSS ${mss} bytes; K = cbrt((W_max - cwnd_epoch) / 0.4) of the last full period`);
for (const r of rows) console.log(r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
