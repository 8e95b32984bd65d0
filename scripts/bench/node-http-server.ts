/**
 * The benchmark's kernel-TCP baseline: the same demo handler `tunstack serve` runs
 * (src/app/demo-site.ts), served over the kernel's TCP instead of our stack.
 *
 *   node --import tsx scripts/bench/node-http-server.ts [--host 0.0.0.0] [--port 80] [--http node|tunstack]
 *
 *   --http node      (default) Node's own node:http server: the reference point.
 *   --http tunstack  our HTTP/1.1 server (src/http/) on node:net: same HTTP code as `tunstack serve`,
 *                    kernel TCP underneath. Comparing the three splits the gap into "our HTTP layer"
 *                    and "our TCP/IP stack + TUN".
 *
 * Prints `bench-server: ready ...` on stdout once listening; exits on SIGTERM/SIGINT. No logging.
 * Settings match what scripts/bench-http.sh gives `tunstack serve`: 5 s keep-alive idle timeout and
 * an unlimited number of requests per connection (node:http's default; --max-requests for ours).
 */
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { createDemoHandler } from '../../src/app/demo-site.ts';
import { createHttpServer } from '../../src/http/server.ts';
import type { IncomingRequest } from '../../src/http/incoming-request.ts';
import type { ServerResponse } from '../../src/http/server-response.ts';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '80' },
    http: { type: 'string', default: 'node' },
  },
  strict: true,
});
const port = Number(values.port);
const kind = values.http;
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port: bad port ${values.port}`);
if (kind !== 'node' && kind !== 'tunstack') throw new Error(`--http must be node or tunstack, got ${kind}`);

const KEEP_ALIVE_MS = 5000;
const handler = createDemoHandler({ stats: () => ({ transport: 'kernel', http: kind }) });

let server: { close(cb?: () => void): unknown };
const ready = (): void => {
  process.stdout.write(`bench-server: ready http=${kind} on http://${values.host}:${port}/\n`);
};

if (kind === 'node') {
  // The demo handler uses only what node:http's req/res also have (url, method, httpVersion, socket,
  // rawHeaders, trailers, statusCode, setHeader, write/end, 'drain', 'close', headersSent, destroy);
  // the TypeScript types differ, so the cast is the whole adapter.
  const s = http.createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, (req, res) => {
    handler(req as unknown as IncomingRequest, res as unknown as ServerResponse);
  });
  s.maxRequestsPerSocket = 0; // unlimited (node's default, stated)
  s.on('clientError', (_err, socket) => socket.destroy());
  s.listen(port, values.host, ready);
  server = s;
} else {
  const s = createHttpServer(
    net,
    { keepAliveTimeoutMs: KEEP_ALIVE_MS, maxRequestsPerConnection: 1_000_000 },
    handler,
  );
  s.on('clientError', () => {});
  s.listen(port, ready);
  server = s;
}

const stop = (): void => {
  server.close();
  // Keep-alive sockets would hold the process open; the benchmark is over, so leave now.
  setTimeout(() => process.exit(0), 200).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
