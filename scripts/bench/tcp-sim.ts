/**
 * TCP's own CPU cost, without devices or the kernel: two TCP layers in virtual time (test/tcp/sim.ts)
 * move N MiB one way, clean and with 2% loss; prints the wall time of each, median of R runs.
 *
 *   npx tsx scripts/bench/tcp-sim.ts [MiB=32] [runs=5]
 */
import { ADDR_B, Owner, Sim } from '../../test/tcp/sim.ts';
import { pattern } from '../../test/helpers/pattern.ts';

const mib = Number(process.argv[2] ?? 32);
const runs = Number(process.argv[3] ?? 5);
const data = pattern(mib * 1024 * 1024, 1);

function once(loss: number): number {
  const sim = new Sim(3);
  sim.delayMs = 5;
  sim.record = false;
  sim.tso = true;
  sim.faults = loss > 0 ? { loss } : {};
  let server: Owner | undefined;
  sim.b.listen(80, 16, (c) => (server = new Owner(c, false)));
  const client = new Owner(sim.a.connect(ADDR_B, 80), false);
  sim.run(10_000, () => client.established);
  const t0 = performance.now();
  client.sendAll(data, true);
  sim.run(3_600_000, () => server !== undefined && server.received === data.length && server.peerFin);
  const t = performance.now() - t0;
  if (server?.received !== data.length) throw new Error(`transfer incomplete: ${server?.received}`);
  return t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const loss of [0, 0.02]) {
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) ts.push(once(loss));
  console.log(`${mib} MiB, loss ${loss * 100}%: median ${median(ts).toFixed(0)} ms (${ts.map((t) => t.toFixed(0)).join(' ')})`);
}
