/**
 * `npm run bench:idle`: what an idle connection costs tunstack. In a namespace of its own, `tunstack
 * serve` takes N connections from a kernel client (scripts/bench/idle-client.py) and holds them:
 * first N bare TCP connections to the echo service (port 7) that send nothing, then N HTTP/1.1
 * keep-alive connections to the demo site that each made one request. After each, the server's own
 * /stats gives its RSS and V8 heap (process.memoryUsage(), read before the reply is built), and the
 * difference from the idle server divided by N is the cost per connection.
 *
 *   sudo npm run bench:idle                 # N = 10000
 *   sudo npm run bench:idle -- --connections 2000
 *
 * The heap figure is heapUsed after a full collection (the server runs under --expose-gc, and /stats
 * collects first): the live heap. The smallest of three samples a second apart is taken. Namespace tsk-bi-PID (BENCH_NS_PREFIX replaces tsk-bi) is created here and deleted by name; every
 * process is stopped by its pid. Figures only: nothing is asserted.
 */
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { addNetns, die, initBench, nameBench, netnsPrefix, sh, sleep, start, stop, table } from './bench/harness.ts';

nameBench('bench-idle');
const { values } = parseArgs({
  options: { connections: { type: 'string', default: '10000' }, help: { type: 'boolean', short: 'h', default: false } },
  strict: true,
});
if (values.help) {
  process.stdout.write('usage: npm run bench:idle [-- --connections N]   (N 100..30000, default 10000)\n');
  process.exit(0);
}
const N = Number(values.connections);
if (!Number.isInteger(N) || N < 100 || N > 30_000) die(`--connections must be an integer 100..30000, got ${values.connections}`);
const NS = netnsPrefix('tsk-bi');

interface Sample {
  rss: number;
  heap: number;
  established: number;
}

/** The server's memory (smallest of 3 samples, 1 s apart) and its established connections. */
async function sample(): Promise<Sample> {
  let best: Sample | undefined;
  for (let i = 0; i < 3; i++) {
    await sleep(1000);
    const r = sh('ip', ['netns', 'exec', NS, 'curl', '-sS', '--max-time', '20', 'http://10.77.0.2/stats'], 30_000);
    if (r.code !== 0) die(`/stats: ${r.stderr.trim()}`);
    const j = JSON.parse(r.stdout) as { memory: { rss: number; heapUsed: number }; connections: { state: string }[] | null };
    // Less one: the /stats request's own connection.
    const established = (j.connections ?? []).filter((c) => c.state === 'ESTABLISHED').length - 1;
    const s = { rss: j.memory.rss, heap: j.memory.heapUsed, established };
    if (best === undefined || s.heap < best.heap) best = { ...s, rss: Math.min(s.rss, best?.rss ?? Infinity) };
  }
  return best!;
}

async function hold(port: number, http: boolean): Promise<ChildProcess> {
  const cmd = `ulimit -n ${N + 1000} && exec /usr/bin/python3 scripts/bench/idle-client.py 10.77.0.2 ${port} ${N}${http ? ' --http' : ''}`;
  return start('ip', ['netns', 'exec', NS, 'sh', '-c', cmd], /idle-client: holding \d+/, 300_000);
}


const kb = (bytes: number) => (bytes / 1024).toFixed(2);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  initBench();
  addNetns(NS);
  // Idle connections must stay: an hour of keep-alive idle time, and room for them all.
  await start(
    'ip',
    ['netns', 'exec', NS, 'node', '--expose-gc', 'scripts/tunstack.js', 'serve', '--log-level', 'warn', '--idle-timeout', '3600000', '--max-requests', '1000'],
    /tunstack: ready/,
    30_000,
  );
  const base = await sample();
  const rows: string[][] = [];
  for (const [name, port, http] of [
    ['TCP, nothing sent (echo port 7)', 7, false],
    ['HTTP/1.1 keep-alive after one request (port 80)', 80, true],
  ] as const) {
    const client = await hold(port, http);
    const s = await sample();
    await stop(client, 'stdin');
    rows.push([
      name,
      String(s.established),
      mb(s.rss - base.rss),
      kb((s.rss - base.rss) / N),
      mb(s.heap - base.heap),
      kb((s.heap - base.heap) / N),
    ]);
    await sleep(3000); // the closes drain before the next phase
  }
  process.stdout.write(
    `bench:idle: ${N} idle connections held by a kernel client against tunstack serve (idle server: RSS ${mb(base.rss)} MiB, heap ${mb(base.heap)} MiB)\n\n`,
  );
  const head = ['connections', 'established', 'RSS +MiB', 'RSS KiB each', 'heap +MiB', 'heap KiB each'];
  process.stdout.write(table(head, rows) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => die((err as Error).stack ?? String(err)),
);
