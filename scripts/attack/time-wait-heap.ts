/**
 * Heap per TIME-WAIT entry, measured without a TUN: two stacks on a memory link, the demo site on one,
 * N HTTP/1.0 requests (no keep-alive: the server closes first and keeps TIME-WAIT) from the other.
 * Prints the V8 heap after a forced GC: before, with the N entries in TIME-WAIT, and after they
 * expire (2 MSL), and the bytes per entry. Run: npx tsx --expose-gc scripts/attack/time-wait-heap.ts [N] [BODY]
 */
import { createDemoHandler } from '../../src/app/demo-site.ts';
import { createHttpServer } from '../../src/http/server.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { createStack } from '../../src/stack.ts';
import { SystemClock } from '../../src/util/clock.ts';

const n = Number(process.argv[2] ?? 5000);
const body = Number(process.argv[3] ?? 100);
if (!Number.isInteger(n) || n <= 0 || !Number.isInteger(body) || body < 0) {
  process.stderr.write('usage: time-wait-heap.ts [N requests] [BODY bytes]\n');
  process.exit(2);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write('run with --expose-gc (npx tsx --expose-gc ...)\n');
  process.exit(2);
}
const mslMs = 3000;
const clock = new SystemClock();
const [a, b] = createMemoryLink(clock, { latencyMs: 1 });
const server = createStack({ device: a, address: '10.0.0.2', clock, tcp: { mslMs } });
const client = createStack({ device: b, address: '10.0.0.1', clock, tcp: { mslMs: 1 } });
const http = createHttpServer(server, createDemoHandler({ stats: () => server.stats(), connectionTable: () => server.connections() }));
await new Promise<void>((r) => http.listen(80, () => r()));

function heapMb(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

function one(): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = client.tcp.connect({ host: '10.0.0.2', port: 80 });
    s.on('data', () => {});
    s.on('end', () => s.end());
    s.on('close', () => resolve());
    s.on('error', reject);
    s.write(`GET /bytes/${body} HTTP/1.0\r\n\r\n`);
  });
}

// The stack's timers do not keep the process alive (src/util/clock.ts); this does, until the end.
const keepAlive = setInterval(() => {}, 1000);
const before = heapMb();
const t0 = Date.now();
for (let done = 0; done < n; ) {
  const batch = Math.min(100, n - done);
  await Promise.all(Array.from({ length: batch }, one));
  done += batch;
}
const elapsed = Date.now() - t0;
// Let the last connections finish their close (bounded), so that only TIME-WAIT entries remain.
for (let i = 0; i < 40 && server.stats().tcp.connections > 0; i++) await new Promise((r) => setTimeout(r, 50));
const st = server.stats().tcp;
const during = heapMb();
await new Promise((r) => setTimeout(r, 2 * mslMs + 500));
const after = heapMb();
const st2 = server.stats().tcp;
const mb = (x: number) => (x / 1e6).toFixed(2);
console.log(`requests ${n} (body ${body} B) in ${elapsed} ms; server: TIME-WAIT ${st.timeWait}, other connections ${st.connections}`);
console.log(`heap: before ${mb(before)} MB, with TIME-WAIT ${mb(during)} MB, after 2 MSL ${mb(after)} MB (TIME-WAIT ${st2.timeWait})`);
console.log(`heap per TIME-WAIT entry: ${Math.round((during - after) / Math.max(1, st.timeWait))} bytes`);
clearInterval(keepAlive);
http.close();
await server.close();
await client.close();
