/**
 * What a full GC between clients costs the next one: the demo site on one Stack serves 8 MiB
 * downloads (/bytes/N, Connection: close) to a client on the bare TCP layer of a second Stack, over
 * a pair of in-process devices (scripts/bench/pair-device.ts), with corrupt=1% on the server's
 * device so that loss recovery runs too; after each download, when no connection is left, a full
 * GC (V8's own, forced here, as it runs one when a process turns idle). Prints the CPU time of each
 * download (both stacks, user + system) and the median of the last ones, after the JIT's warm-up.
 * With --no-gc, the same without the GC. Run it with --trace-deopt to see what a GC throws away
 * ("reason: weak objects"; docs/architecture.md, "Compiled code across idle periods").
 *
 *   node --import tsx scripts/bench/idle-gc.ts [DOWNLOADS=10] [--no-gc]
 *
 * Prints numbers, asserts nothing.
 */
import { createDemoHandler } from '../../src/app/demo-site.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { FaultDevice } from '../../src/link/fault-device.ts';
import { createStack } from '../../src/stack.ts';
import type { ConnectionEvents, TcpConnection } from '../../src/tcp/api.ts';
import { SystemClock } from '../../src/util/clock.ts';
import { fullGc } from '../../test/helpers/gc.ts';
import { devicePair } from './pair-device.ts';

const args = process.argv.slice(2);
const GC = !args.includes('--no-gc');
const rest = args.filter((a) => a !== '--no-gc');
const N = Number(rest[0] ?? 10);
if (!Number.isInteger(N) || N < 3 || N > 200 || rest.length > 1) {
  console.error('usage: idle-gc.ts [DOWNLOADS=10, 3..200] [--no-gc]');
  process.exit(2);
}
const SIZE = 8 * 1024 * 1024;
/** Downloads before these are the JIT's warm-up and are not in the median. */
const WARM = 3;

const clock = new SystemClock();
const [da, db] = devicePair();
const server = createStack({ device: new FaultDevice(db, { corrupt: 0.01, seed: 1 }, clock), address: '10.0.0.2', clock });
const client = createStack({ device: da, address: '10.0.0.1', clock });
const http = createHttpServer(server, {}, createDemoHandler());
await new Promise<void>((r) => http.listen(80, () => r()));
// The stacks' timers do not keep a process alive; this does, while downloads run.
const alive = setInterval(() => {}, 1000);

const REQUEST = Buffer.from(`GET /bytes/${SIZE} HTTP/1.1\r\nHost: 10.0.0.2\r\nConnection: close\r\n\r\n`);

/** One download; resolves with the bytes received (status line and headers included) at the server's FIN. */
function download(): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const conn: TcpConnection = client.tcpLayer.connect('10.0.0.2', 80);
    const events: ConnectionEvents = {
      onEstablished: () => void conn.write(REQUEST),
      onData: (d: Uint8Array) => {
        got += d.length;
        conn.consumed(d.length);
      },
      onPeerFin: () => {
        conn.shutdown();
        resolve(got);
      },
      onWritable: () => {},
      onClosed: (e) => {
        if (got < SIZE) reject(new Error(`the download ended after ${got} bytes: ${String(e)}`));
      },
    };
    conn.setEvents(events);
  });
}

const cpu: number[] = [];
for (let i = 0; i < N; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const got = await download();
  const used = process.cpuUsage(c0);
  const ms = (used.user + used.system) / 1000;
  cpu.push(ms);
  console.log(`download ${i + 1}: ${got} bytes in ${(performance.now() - t0).toFixed(0)} ms, CPU ${ms.toFixed(0)} ms`);
  // let both sides finish closing (the last ACKs, the release of the TCBs)
  await new Promise((r) => setTimeout(r, 50));
  if (GC) fullGc();
}
clearInterval(alive);
const tail = cpu.slice(WARM).sort((a, b) => a - b);
const median = tail[Math.floor(tail.length / 2)]!;
console.log(`median CPU per download, downloads ${WARM + 1}-${N}${GC ? ', a full GC after each' : ', no GC'}: ${median.toFixed(0)} ms [${tail[0]!.toFixed(0)}-${tail[tail.length - 1]!.toFixed(0)}]`);
await server.close();
await client.close();
process.exit(0);
