/**
 * What the CLI runs: open the TUN device, stack the requested wrappers on it (fault injection, pcap,
 * trace), build the stack, and run the demo site (serve) or one HTTP download (fetch).
 *
 * Device wrappers, innermost first:  TUN -> Fault (--impair) -> Pcap (--pcap) -> Tap/tracer (--trace)
 * so the capture and the trace show exactly what the stack received and sent (after inbound faults,
 * before outbound ones).
 */
import { createHash } from 'node:crypto';
import { createWriteStream, statSync } from 'node:fs';
import type { NetDevice } from '../link/device.ts';
import { TunDevice } from '../link/tun-device.ts';
import { FaultDevice, parseImpairSpec, formatImpairSpec } from '../link/fault-device.ts';
import { PcapDevice } from '../link/pcap-device.ts';
import { TapDevice } from '../link/tap-device.ts';
import { PcapWriter } from '../trace/pcap-writer.ts';
import { PacketTracer } from '../trace/tracer.ts';
import { Stack, type StackOptions } from '../stack.ts';
import { createHttpServer, type HttpServer } from '../http/server.ts';
import { createDemoHandler } from './demo-site.ts';
import { Breakpoints, type BreakSpec } from '../drill/break.ts';
import { SystemClock } from '../util/clock.ts';
import { isLossReason } from '../tcp/config.ts';
import { ssthreshText } from '../tcp/congestion-control.ts';
import type { TcpStateChange } from '../tcp/tcp-layer.ts';
import type { Connection } from '../tcp/connection.ts';
import { SegmentRing } from '../trace/segment-ring.ts';
import { LiveFeed } from './live.ts';

/** Packets the segment ring of `serve` remembers (about 200 bytes each: 0.8 MiB). */
export const SEGMENT_RING_SLOTS = 4096;
import { UsageError } from '../util/errors.ts';
import { createLogger, type LogLevel, type Logger } from '../util/logger.ts';
import { formatIpv4Address, parseIpv4Address, parseIpv4Cidr, sameSubnet } from '../wire/ipv4-address.ts';

export interface DeviceFlags {
  tun: string;
  hostAddr: string;
  addr: string;
  mtu: number;
  impair: string | undefined;
  pcap: string | undefined;
  trace: boolean;
  /** Segmentation offload on the TUN device, both ways (super-segments of up to 64 KiB). */
  tso: boolean;
  /** The TUN device's transmit queue length (packets the kernel may queue towards us). */
  txqueuelen?: number;
  /** Busy polling after each read batch, in microseconds (0: off; TunOpenOptions.busyPollUs). */
  busyPollUs?: number;
  logLevel: LogLevel;
  /** TCP limits set on the command line (--max-connections, --syn-backlog, ...); defaults otherwise. */
  tcp?: StackOptions['tcp'];
  /** --break-on (serve): a `debugger` statement at these events, on the live stack (drill/break.ts). */
  breakOn?: BreakSpec;
}

export interface ServeFlags extends DeviceFlags {
  port: number;
  /** 0: no echo service. */
  echoPort: number;
  root: string | undefined;
  idleTimeoutMs: number;
  maxRequests: number;
}

export interface FetchFlags extends DeviceFlags {
  url: string;
  output: string | undefined;
}

export interface Running {
  stack: Stack;
  /** The latest segments, for the demo site's /live and /ladder (serve only). */
  ring: SegmentRing | undefined;
  logger: Logger;
  hostAddress: string;
  prefixLength: number;
  /** Flush the pcap, close the device. Safe to call twice. */
  shutdown(): Promise<void>;
}

/** `--FLAG VALUE` as an IPv4 address, or a UsageError naming the flag. */
export function addressFlag(flag: string, text: string): number {
  try {
    return parseIpv4Address(text);
  } catch {
    throw new UsageError(`--${flag} must be an IPv4 address like 10.77.0.2, got ${JSON.stringify(text)}`);
  }
}

/** `--FLAG A/P` as address and prefix length, or a UsageError naming the flag and the expected form. */
export function cidrFlag(flag: string, text: string): { address: number; prefixLength: number } {
  if (!text.includes('/')) {
    throw new UsageError(`--${flag} must be ADDRESS/PREFIX like 10.77.0.1/24 (the prefix length is required), got ${JSON.stringify(text)}`);
  }
  try {
    return parseIpv4Cidr(text);
  } catch {
    throw new UsageError(`--${flag} must be ADDRESS/PREFIX like 10.77.0.1/24 (prefix 0..32), got ${JSON.stringify(text)}`);
  }
}

/** Create the capture file now, so that a bad path is a UsageError before any device is opened. */
function openPcap(path: string): PcapWriter {
  try {
    return PcapWriter.open(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(`--pcap ${path}: cannot create the capture file (${e.code ?? e.message})`);
  }
}

/** Close a capture file on a failure path; the failure that got us here is the error to report. */
function closeQuietly(pcap: PcapWriter | undefined): void {
  try {
    pcap?.closeSync();
  } catch {
    // ignored: the error being thrown says what went wrong
  }
}

/**
 * Open the device and build the stack. Every flag is checked, and the capture file created, before
 * the device is opened; if anything fails after that, the device is closed again before the error
 * goes on (an open TUN device keeps the process alive and the interface up).
 */
export function startStack(f: DeviceFlags, keepSegments = false): Running {
  const host = cidrFlag('host-addr', f.hostAddr);
  const ours = addressFlag('addr', f.addr);
  if (host.address === ours) throw new UsageError(`--addr ${f.addr} must differ from --host-addr ${f.hostAddr}`);
  if (!sameSubnet(host.address, ours, host.prefixLength)) {
    throw new UsageError(`--addr ${f.addr} is not inside --host-addr ${f.hostAddr}: the kernel would not route to it`);
  }
  const impair = f.impair === undefined ? undefined : parseImpairSpec(f.impair);
  const logger = createLogger(f.logLevel);
  const clock = new SystemClock();
  const pcap = f.pcap ? openPcap(f.pcap) : undefined;

  let tun: TunDevice;
  try {
    tun = TunDevice.open({
      name: f.tun,
      hostAddress: formatIpv4Address(host.address),
      prefixLength: host.prefixLength,
      mtu: f.mtu,
      offload: f.tso,
      ...(f.txqueuelen !== undefined ? { txqueuelen: f.txqueuelen } : {}),
      ...(f.busyPollUs ? { busyPollUs: f.busyPollUs } : {}),
      onError: (err) => logger.error({ err }, 'TUN device failed'),
    });
  } catch (err) {
    closeQuietly(pcap);
    throw err;
  }
  try {
    let device: NetDevice = tun;
    if (impair) {
      device = new FaultDevice(device, impair, clock);
      logger.info({ impair: formatImpairSpec(impair) }, 'impairing the link');
    }
    if (pcap) device = new PcapDevice(device, pcap);
    const tracer = f.trace ? new PacketTracer() : undefined;
    if (tracer) device = new TapDevice(device, tracer.observer, clock);
    const breaks = liveBreakpoints(f.breakOn);
    if (breaks) device = new TapDevice(device, breaks.observer, clock);
    // serve keeps the latest segments for /live and /ladder: a copy of each packet's first 128 bytes
    // into a ring allocated once (trace/segment-ring.ts), outermost, so it sees what the stack sees.
    const ring = keepSegments ? new SegmentRing(SEGMENT_RING_SLOTS) : undefined;
    if (ring) device = new TapDevice(device, ring.observer, clock);

    const stack = new Stack({ device, address: f.addr, prefixLength: host.prefixLength, clock, logger, ...(f.tcp ? { tcp: f.tcp } : {}) });
    if (tracer || ring) {
      // Why each segment leaves, to the tracer (with cwnd/ssthresh at a loss: info() allocates, but
      // only then) and to the ring (cwnd/ssthresh read off the controller: no allocation).
      stack.tcpLayer.onSegmentSent = (c, _seg, reason) => {
        tracer?.noteReason(reason, isLossReason(reason) ? c.info() : undefined);
        if (ring) {
          const cc = (c as Connection).cc;
          ring.noteSent(reason, cc.cwnd, cc.ssthresh);
        }
      };
    }
    if (tracer) {
      stack.tcpLayer.onStateChange = (e) => {
        process.stdout.write(`      ${e.local} <-> ${e.remote}  ${e.from} -> ${e.to}${stateCc(e)}\n`);
      };
    }
    breaks?.attach(stack); // after the tracer's state observer: it chains onto it
    let done: Promise<void> | undefined;
    return {
      stack,
      ring,
      logger,
      hostAddress: formatIpv4Address(host.address),
      prefixLength: host.prefixLength,
      shutdown: () => (done ??= stack.close()),
    };
  } catch (err) {
    void tun.close(); // synchronous underneath: the fd is closed and the reading stopped now
    closeQuietly(pcap);
    throw err;
  }
}

/** The congestion state told with a state change, for the trace: "  cwnd 14600 ssthresh initial". */
export function stateCc(e: TcpStateChange): string {
  return e.cwnd === undefined || e.ssthresh === undefined ? '' : `  cwnd ${e.cwnd} ssthresh ${ssthreshText(e.ssthresh)}`;
}

/**
 * `serve --break-on`: the drill's breakpoints on a live stack. Unlike a drill, time does not stand
 * still: the kernel on the other side of the TUN keeps its timers running while the debugger holds
 * this process, and our own timers fire late, all at once, when it resumes. Said once at start.
 */
function liveBreakpoints(spec: BreakSpec | undefined): Breakpoints | undefined {
  if (spec === undefined) return undefined;
  const write = (line: string): void => void process.stdout.write(`tunstack: ${line}\n`);
  write(
    `--break-on ${[...spec.events].join(',')}: a live stack does not stand still while the debugger holds it: ` +
      "the kernel's TCP timers keep running (it retransmits, curl times out, the peer may reset), and ours fire late " +
      'when it resumes; for time standing still, play a script with tunstack drill --break-on',
  );
  return new Breakpoints(spec, { print: write });
}

/** Resolve on the first SIGINT/SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** What listenOn needs: net.Server's listen(port, cb) and its 'error' event (EADDRINUSE, ...). */
export interface Listenable {
  listen(port: number, cb: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

/** listen(port), resolved once listening; a listen error rejects (instead of an uncaught 'error'). */
export function listenOn(server: Listenable, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** The echo service and the demo site, listening; throws (listen errors, ...) with the device still open. */
async function startServices(run: Running, f: ServeFlags, live: LiveFeed | undefined): Promise<HttpServer> {
  const { stack, logger } = run;
  // RFC 862 echo: what comes in goes back out; handy for TCP tests with nc or python.
  const echo =
    f.echoPort === 0
      ? undefined
      : stack.tcp.createServer((socket) => {
          socket.on('error', () => {});
          socket.pipe(socket);
        });

  const http = createHttpServer(
    stack,
    { keepAliveTimeoutMs: f.idleTimeoutMs, maxRequestsPerConnection: f.maxRequests },
    createDemoHandler({
      stats: () => stack.stats(),
      connectionTable: () => stack.connections(),
      ...(f.root !== undefined ? { root: f.root } : {}),
      ...(live ? { live } : {}),
    }),
  );
  http.on('clientError', (err: Error & { code?: string }) => logger.debug({ code: err.code }, 'bad request'));
  if (echo) await listenOn(echo, f.echoPort);
  await listenOn(http, f.port);
  return http;
}

export async function runServe(f: ServeFlags): Promise<number> {
  if (f.root !== undefined) checkRoot(f.root);
  const run = startStack(f, true);
  const { stack, logger } = run;
  const live = run.ring ? new LiveFeed({ ring: run.ring, connections: () => stack.connections() }) : undefined;
  let http: HttpServer;
  try {
    http = await startServices(run, f, live);
  } catch (err) {
    // Close the device before reporting, or its handle would keep the process alive.
    await run.shutdown();
    throw err;
  }

  process.stdout.write(
    `tunstack: ready on ${stack.device.name}: host ${run.hostAddress}/${run.prefixLength}, stack ${stack.address}, ` +
      `mtu ${stack.device.mtu}, http://${stack.address}:${f.port}/` +
      (f.echoPort !== 0 ? `, echo :${f.echoPort}` : '') +
      '\n',
  );

  const sig = await untilSignal();
  logger.info({ signal: sig }, 'shutting down');
  // Live streams never end by themselves: end them, or the server would wait for them.
  live?.close();
  http.close();
  // The counters at exit, like `netstat -s`: one JSON line that scripts and tests can read.
  process.stdout.write(`tunstack: stats ${JSON.stringify(stack.stats())}\n`);
  await run.shutdown();
  return 0;
}

/**
 * The stack as a client (active open): GET one URL over our TCP, stream the body to a file (or just
 * hash it), print size, time, throughput, sha256 and retransmits. Used by the e2e tests against a
 * kernel server, and handy in labs.
 */
export async function runFetch(f: FetchFlags): Promise<number> {
  const url = parseFetchUrl(f.url);
  const port = url.port === '' ? 80 : Number(url.port);
  const run = startStack(f);
  try {
    const result = await httpGet(run.stack, url.hostname, port, url.pathname + url.search, f.output);
    const secs = result.ms / 1000;
    const tcp = run.stack.stats().tcp;
    process.stdout.write(
      `tunstack: fetched ${result.bytes} bytes in ${secs.toFixed(3)} s (${(result.bytes / 1e6 / secs).toFixed(1)} MB/s), ` +
        `status ${result.status}, sha256 ${result.sha256}, retransmits ${tcp.retransmits}\n`,
    );
    return result.status >= 200 && result.status < 300 ? 0 : 1;
  } finally {
    await run.shutdown();
  }
}

/**
 * The URL a client command (fetch, pageload) can get: http://, and an IPv4 literal when it goes over
 * a real stack (it has no DNS resolver). Errors name the command.
 */
export function parseFetchUrl(text: string, command = 'fetch', ipv4Host = true): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(text)} (${command} takes http://ADDRESS[:PORT]/PATH)`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`${command} supports http:// URLs only, got ${url.protocol}`);
  if (!ipv4Host) return url;
  try {
    parseIpv4Address(url.hostname);
  } catch {
    throw new UsageError(
      `${command} needs an IPv4 address in the URL, got the host name ${JSON.stringify(url.hostname)}: the stack has no DNS resolver (use e.g. http://10.77.0.1/)`,
    );
  }
  return url;
}

/** --root must name a directory that exists (else every request would answer 404, silently). */
export function checkRoot(root: string): void {
  let st;
  try {
    st = statSync(root);
  } catch (err) {
    throw new UsageError(`--root ${root}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError(`--root ${root}: not a directory`);
}

interface FetchResult {
  status: number;
  bytes: number;
  sha256: string;
  ms: number;
}

/** A minimal HTTP/1.1 GET with `Connection: close`: the body is whatever follows the head until EOF. */
function httpGet(stack: Stack, host: string, port: number, path: string, output: string | undefined): Promise<FetchResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const hash = createHash('sha256');
    const file = output ? createWriteStream(output) : undefined;
    let head: Buffer | undefined = Buffer.alloc(0);
    let status = 0;
    let bytes = 0;
    const socket = stack.tcp.connect({ host, port }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\nUser-Agent: tunstack\r\n\r\n`);
    });
    const body = (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
      if (file && !file.write(chunk)) {
        socket.pause();
        file.once('drain', () => socket.resume());
      }
    };
    socket.on('data', (chunk: Buffer) => {
      if (head === undefined) return body(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 65536) socket.destroy(new UsageError('response head over 64 KiB'));
        return;
      }
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'));
      if (!m) return socket.destroy(new UsageError('not an HTTP response'));
      status = Number(m[1]);
      const rest = head.subarray(end + 4);
      head = undefined;
      if (rest.length > 0) body(rest);
    });
    socket.on('error', reject);
    socket.on('end', () => {
      const finish = () => resolve({ status, bytes, sha256: hash.digest('hex'), ms: performance.now() - started });
      if (file) file.end(finish);
      else finish();
    });
  });
}
