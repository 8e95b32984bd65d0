/**
 * The CPU cost of one short connection, in one process, without a TUN device or the kernel: the demo
 * site's HTTP server on one Stack, and on a second Stack over a pair of in-process devices
 * (scripts/bench/pair-device.ts: batches of up to 64 packets, as the TUN device reads them), a
 * client on the bare TCP layer that does what `ab -c C` does: connect, one `GET /bytes/13
 * HTTP/1.0`, read to the server's FIN, close; C connections at a time.
 *
 *   node --import tsx scripts/bench/conn-setup.ts [CONNECTIONS=20000] [CONCURRENCY=20] [ROUNDS=5]
 *
 * Prints, per round, connections/s and the process's CPU time (user + system) per connection, both
 * stacks together (the client side is the TCP layer alone, so a change to the server's socket and
 * HTTP objects shows in full, one to the TCP layer about twice); then the median round. The first
 * round also warms the JIT. Prints numbers, asserts nothing.
 */
import { createDemoHandler } from '../../src/app/demo-site.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createStack } from '../../src/stack.ts';
import type { ConnectionEvents, TcpConnection } from '../../src/tcp/api.ts';
import { SystemClock } from '../../src/util/clock.ts';
import { devicePair } from './pair-device.ts';

const [nArg, cArg, rArg] = process.argv.slice(2);
const N = Number(nArg ?? 20_000);
const C = Number(cArg ?? 20);
const ROUNDS = Number(rArg ?? 5);
for (const [name, v, max] of [['CONNECTIONS', N, 1e7], ['CONCURRENCY', C, 1000], ['ROUNDS', ROUNDS, 50]] as const) {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    console.error(`conn-setup: ${name} must be an integer 1..${max}, got ${v}`);
    process.exit(2);
  }
}

const REQUEST = Buffer.from('GET /bytes/13 HTTP/1.0\r\nHost: 10.0.0.2\r\nUser-Agent: conn-setup\r\nAccept: */*\r\n\r\n');
const EXPECT_BODY = 13;

const clock = new SystemClock();
const [da, db] = devicePair();
const server = createStack({ device: db, address: '10.0.0.2', clock });
const client = createStack({ device: da, address: '10.0.0.1', clock });
const http = createHttpServer(server, createDemoHandler());
await new Promise<void>((r) => http.listen(80, () => r()));

/** One client connection: a method-only owner (api.ts ConnectionEvents). */
class Fetch implements ConnectionEvents {
  received = 0;
  constructor(
    private readonly conn: TcpConnection,
    private readonly round: Round,
  ) {
    conn.setEvents(this);
  }
  onEstablished(): void {
    this.conn.write(REQUEST);
  }
  onData(data: Uint8Array): void {
    this.received += data.length;
    this.conn.consumed(data.length);
  }
  onPeerFin(): void {
    this.conn.shutdown();
  }
  onWritable(): void {}
  onClosed(error: unknown): void {
    this.round.done(this, error);
  }
}

class Round {
  started = 0;
  finished = 0;
  failed = 0;
  private resolve: (() => void) | undefined;
  constructor(private readonly n: number) {}
  run(): Promise<void> {
    const p = new Promise<void>((r) => (this.resolve = r));
    for (let i = 0; i < C && this.started < this.n; i++) this.next();
    return p;
  }
  private next(): void {
    this.started++;
    new Fetch(client.tcpLayer.connect('10.0.0.2', 80), this);
  }
  done(f: Fetch, error: unknown): void {
    this.finished++;
    // the response: a status line and headers, then the 13 bytes
    if (error !== undefined || f.received < EXPECT_BODY + 17) this.failed++;
    if (this.started < this.n) this.next();
    else if (this.finished === this.n) this.resolve!();
  }
}

// The stacks' timers (and the memory link's deliveries) do not keep the process alive: this does.
const keepAlive = setInterval(() => undefined, 1000);
const results: { rate: number; cpuUs: number }[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  const round = new Round(N);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await round.run();
  const c = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  const rate = (N / ms) * 1000;
  const cpuUs = (c.user + c.system) / N;
  results.push({ rate, cpuUs });
  console.log(`round ${r}: ${N} connections (${round.failed} failed) in ${ms.toFixed(0)} ms: ${rate.toFixed(0)}/s, CPU ${cpuUs.toFixed(1)} us per connection`);
  // let TIME-WAIT and linger timers of this round lapse a little before the next
  await new Promise((res) => setTimeout(res, 200));
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
console.log(`median of ${ROUNDS} rounds: ${med(results.map((x) => x.rate)).toFixed(0)} connections/s, CPU ${med(results.map((x) => x.cpuUs)).toFixed(1)} us per connection`);
console.log(`RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);
clearInterval(keepAlive);
http.closeAllConnections();
http.close();
await server.close();
await client.close();
process.exit(0);
