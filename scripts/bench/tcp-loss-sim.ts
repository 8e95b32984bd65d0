/**
 * Loss recovery in virtual time: two TCP layers (test/tcp/sim.ts) move 8 MiB one way over a wire
 * with 10 ms one-way delay and seeded faults, for several seeds; prints the median and range of
 * the virtual completion time and of the retransmissions, per profile. No devices, no kernel: what
 * it shows is the recovery logic alone (the wire has no bandwidth limit and no queue).
 *
 *   npx tsx scripts/bench/tcp-loss-sim.ts [seeds=9] [MiB=8]
 */
import { ADDR_B, Owner, Sim, type Faults } from '../../test/tcp/sim.ts';
import { pattern } from '../../test/helpers/pattern.ts';

const seeds = Number(process.argv[2] ?? 9);
const mib = Number(process.argv[3] ?? 8);
const data = pattern(mib * 1024 * 1024, 1);
/** 1 MiB for the 20% profile: at that loss (data and ACKs) TCP lives on timeouts, as Linux's does. */
const small = data.subarray(0, Math.min(data.length, 1024 * 1024));
const profiles: [string, Faults, Uint8Array?][] = [
  ['loss 5%', { loss: 0.05 }],
  ['loss 5% (ACKs too)', { loss: 0.05, apply: 'all' }],
  ['reorder (jitter 10 ms)', { delayMs: 5, jitterMs: 5 }],
  ['loss 5% + jitter 10 ms + dup 5%', { loss: 0.05, delayMs: 5, jitterMs: 5, duplicate: 0.05 }],
  ['loss 20% + jitter + dup (all), 1 MiB', { loss: 0.2, apply: 'all', delayMs: 5, jitterMs: 5, duplicate: 0.05 }, small],
];

function once(seed: number, faults: Faults, data: Uint8Array): { ms: number; rtx: number; rto: number; done: boolean } {
  const sim = new Sim(seed);
  sim.delayMs = 10;
  sim.record = false;
  let server: Owner | undefined;
  sim.b.listen(80, 16, (c) => (server = new Owner(c, false)));
  const client = new Owner(sim.a.connect(ADDR_B, 80), false);
  sim.run(10_000, () => client.established);
  sim.faults = faults;
  const t0 = sim.now;
  client.sendAll(data, true);
  sim.run(3_600_000, () => server !== undefined && server.received === data.length && server.peerFin);
  const c = sim.a.counters;
  // Not done in an hour of virtual time (timeouts backed off to minutes): reported, not thrown.
  return { ms: sim.now - t0, rtx: c.retransmits, rto: c.timeouts, done: server?.received === data.length };
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, f, body] of profiles) {
  const runs = Array.from({ length: seeds }, (_, i) => once(i + 1, f, body ?? data));
  const ms = runs.map((r) => r.ms);
  const rtx = runs.map((r) => r.rtx);
  const rto = runs.map((r) => r.rto);
  const unfinished = runs.filter((r) => !r.done).length;
  const note = unfinished > 0 ? `  (${unfinished} of ${seeds} seeds unfinished after 1 h: counted as 1 h)` : '';
  console.log(`${name.padEnd(40)} time ${med(ms).toFixed(0).padStart(6)} ms (${Math.min(...ms).toFixed(0)}-${Math.max(...ms).toFixed(0)})  retransmits ${med(rtx)} (${Math.min(...rtx)}-${Math.max(...rtx)})  RTOs ${med(rto)}${note}`);
}
