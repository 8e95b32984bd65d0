/**
 * The CPU cost of one keep-alive request, in one process, without a TUN device or the kernel: the
 * demo site's HTTP server on one Stack and, on a second Stack over a pair of in-process devices
 * (scripts/bench/pair-device.ts: batches of up to 64 packets, as the TUN device reads them), a
 * client on the bare TCP layer that does what `wrk -cC` does: C persistent connections, each
 * sending `GET /bytes/13 HTTP/1.1` and the next one as soon as the response is in.
 *
 *   node --import tsx scripts/bench/keepalive.ts [REQUESTS=200000] [CONNECTIONS=50] [ROUNDS=5] [--alloc]
 *
 * Prints, per round, requests/s and the process's CPU time (user + system) per request, both stacks
 * together (the client is the TCP layer and a byte count, so a change to the server's HTTP, socket
 * or TCP code shows in full, and one to the TCP layer about twice); then the median round. The first
 * round also warms the JIT. With --alloc, one more round runs under V8's sampling heap profiler,
 * every sample kept (the ones the collector freed too), and prints the bytes allocated per request
 * and the functions that allocated most (env KEEPALIVE_CALLERS=N: with N of their callers each).
 * Prints numbers, asserts nothing.
 */
import { Session } from 'node:inspector/promises';
import { createDemoHandler } from '../../src/app/demo-site.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createStack } from '../../src/stack.ts';
import type { ConnectionEvents, TcpConnection } from '../../src/tcp/api.ts';
import { SystemClock } from '../../src/util/clock.ts';
import { devicePair } from './pair-device.ts';

const args = process.argv.slice(2);
const ALLOC = args.includes('--alloc');
const [nArg, cArg, rArg] = args.filter((a) => a !== '--alloc');
const N = Number(nArg ?? 200_000);
const C = Number(cArg ?? 50);
const ROUNDS = Number(rArg ?? 5);
for (const [name, v, max] of [['REQUESTS', N, 1e8], ['CONNECTIONS', C, 1000], ['ROUNDS', ROUNDS, 50]] as const) {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    console.error(`keepalive: ${name} must be an integer 1..${max}, got ${v}`);
    process.exit(2);
  }
}

const REQUEST = Buffer.from('GET /bytes/13 HTTP/1.1\r\nHost: 10.0.0.2\r\nUser-Agent: keepalive\r\nAccept: */*\r\n\r\n');

const clock = new SystemClock();
const [da, db] = devicePair();
const server = createStack({ device: db, address: '10.0.0.2', clock });
const client = createStack({ device: da, address: '10.0.0.1', clock });
const http = createHttpServer(server, { maxRequestsPerConnection: 1e9, keepAliveTimeoutMs: 60_000 }, createDemoHandler());
await new Promise<void>((r) => http.listen(80, () => r()));

/**
 * One persistent client connection (a method-only owner, api.ts ConnectionEvents). A response's
 * length is learned from the first one (status line, headers, 13 bytes) and each later one must
 * have it: the Date header has a fixed length (RFC 9110 §5.6.7), and `Keep-Alive: max=` counts
 * down from 10^9 - 1, nine digits for every request a run can make.
 */
class Client implements ConnectionEvents {
  private pending = 0;
  private awaiting = 0;
  constructor(
    private readonly conn: TcpConnection,
    private readonly bench: Bench,
  ) {
    conn.setEvents(this);
  }
  onEstablished(): void {
    this.bench.ready(this);
  }
  /** Send the next request. */
  send(): void {
    this.awaiting = this.bench.responseLength;
    this.conn.write(REQUEST);
  }
  onData(data: Uint8Array): void {
    this.conn.consumed(data.length);
    if (this.bench.responseLength === 0) return this.learn(data);
    this.pending += data.length;
    if (this.pending < this.awaiting) return;
    if (this.pending > this.awaiting) return this.bench.fail(`a response of ${this.pending} bytes, not ${this.awaiting}`);
    this.pending = 0;
    this.bench.answered(this);
  }
  private learn(data: Uint8Array): void {
    const text = Buffer.from(data).toString('latin1');
    const m = /\r\ncontent-length: *(\d+)\r\n/i.exec(text);
    const end = text.indexOf('\r\n\r\n');
    if (m === null || end < 0 || text.length !== end + 4 + Number(m[1])) return this.bench.fail(`first response not in one piece: ${JSON.stringify(text)}`);
    this.bench.learned(text.length);
  }
  onPeerFin(): void {
    this.bench.fail(`the server closed a connection (responseLength ${this.bench.responseLength}, pending ${this.pending})`);
  }
  onWritable(): void {}
  onClosed(error: unknown): void {
    if (!this.bench.closing) this.bench.fail(`a connection closed: ${String(error)}`);
  }
  close(): void {
    this.conn.shutdown();
  }
}

class Bench {
  responseLength = 0;
  closing = false;
  private readonly clients: Client[] = [];
  private established = 0;
  private started = 0;
  private finished = 0;
  private target = 0;
  private onRound: (() => void) | undefined;
  private onReady: (() => void) | undefined;
  open(): Promise<void> {
    const p = new Promise<void>((r) => (this.onReady = r));
    for (let i = 0; i < C; i++) this.clients.push(new Client(client.tcpLayer.connect('10.0.0.2', 80), this));
    return p;
  }
  ready(c: Client): void {
    if (++this.established < C) return;
    // learn the response's length from one request before any round
    c.send();
  }
  learned(length: number): void {
    this.responseLength = length;
    this.onReady!();
  }
  round(n: number): Promise<void> {
    this.started = 0;
    this.finished = 0;
    this.target = n;
    const p = new Promise<void>((r) => (this.onRound = r));
    for (const c of this.clients) if (this.started < n) this.next(c);
    return p;
  }
  private next(c: Client): void {
    this.started++;
    c.send();
  }
  answered(c: Client): void {
    this.finished++;
    if (this.started < this.target) this.next(c);
    else if (this.finished === this.target) this.onRound!();
  }
  fail(why: string): never {
    console.error(`keepalive: ${why}`);
    process.exit(1);
  }
  close(): void {
    this.closing = true;
    for (const c of this.clients) c.close();
  }
}

// The stacks' timers (and the memory link's deliveries) do not keep the process alive: this does.
const keepAlive = setInterval(() => undefined, 1000);
const bench = new Bench();
await bench.open();
const results: { rate: number; cpuUs: number }[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await bench.round(N);
  const c = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  const rate = (N / ms) * 1000;
  const cpuUs = (c.user + c.system) / N;
  results.push({ rate, cpuUs });
  console.log(`round ${r}: ${N} requests on ${C} connections in ${ms.toFixed(0)} ms: ${rate.toFixed(0)}/s, CPU ${cpuUs.toFixed(2)} us per request`);
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
console.log(`median of ${ROUNDS} rounds: ${med(results.map((x) => x.rate)).toFixed(0)} requests/s, CPU ${med(results.map((x) => x.cpuUs)).toFixed(2)} us per request`);
console.log(`RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);

if (ALLOC) await allocationRound();

clearInterval(keepAlive);
bench.close();
http.closeAllConnections();
http.close();
await server.close();
await client.close();
process.exit(0);

/** One more round under the sampling heap profiler: bytes per request, and where. */
async function allocationRound(): Promise<void> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await bench.round(N);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  type Node = { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] };
  const bySite = new Map<string, number>();
  let total = 0;
  const name = (n: Node): string => {
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(src|node_modules|scripts)\//, '$1/') || '(native)';
    return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
  };
  // a site is the allocating function and, with KEEPALIVE_CALLERS=N, its N callers
  const depth = Number(process.env['KEEPALIVE_CALLERS'] ?? 0);
  const walk = (n: Node, stack: string[]): void => {
    const here = [...stack, name(n)];
    if (n.selfSize > 0) {
      const site = here.slice(-1 - depth).reverse().join(' < ');
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, here);
  };
  walk(profile.head as Node, []);
  console.log(`allocated (sampled, collected objects included): ${(total / N).toFixed(0)} bytes per request, both stacks`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${(bytes / N).toFixed(1).padStart(8)} B/request  ${site}`);
  }
}
