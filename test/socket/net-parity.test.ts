/**
 * The same scenarios run twice: once on node:net over Linux loopback (127.0.0.1, the reference), once
 * on TcpNet over the fake TCP layer. The event sequences each side observes must be identical.
 * This is how "behaves like net.Socket" is checked rather than assumed.
 */
import { describe, it, expect } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { TcpNet } from '../../src/socket/tcp-net.ts';
import { twoEndpoints } from './fake-tcp.ts';
import { record as recordEvents } from '../helpers/record.ts';

interface ServerLike {
  close(): unknown;
}

type Scenario = (impl: Impl) => Promise<{ client: string[]; server: string[] }>;

interface Impl {
  name: string;
  /** Start a server; resolves with a connect function once it listens. */
  start(
    opts: { allowHalfOpen?: boolean; pauseOnConnect?: boolean },
    onConnection: (s: SocketLike) => void,
  ): Promise<{ server: ServerLike; connect: (opts?: { allowHalfOpen?: boolean }) => SocketLike; refused: () => SocketLike }>;
}

type SocketLike = Duplex & { resetAndDestroy(): unknown };

const nodeImpl: Impl = {
  name: 'node:net',
  async start(opts, onConnection) {
    const server = net.createServer(opts, (s) => onConnection(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    // A port nobody listens on: bind a server, note its port, close it.
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const deadPort = (probe.address() as net.AddressInfo).port;
    probe.close();
    return {
      server,
      connect: (o = {}) => net.connect({ port, host: '127.0.0.1', ...o }),
      refused: () => net.connect({ port: deadPort, host: '127.0.0.1' }),
    };
  },
};

const fakeImpl: Impl = {
  name: 'TcpNet (fake TCP)',
  async start(opts, onConnection) {
    const eps = twoEndpoints();
    const server = new TcpNet(eps.server).createServer(opts, (s) => onConnection(s));
    server.listen(80);
    await once(server, 'listening');
    const client = new TcpNet(eps.client);
    return {
      server,
      connect: (o = {}) => client.connect({ host: '10.0.0.2', port: 80, ...o }),
      refused: () => client.connect({ host: '10.0.0.2', port: 81 }),
    };
  },
};

/** Every socket here is recorded with its data. */
const record = (sock: Duplex): string[] => recordEvents(sock, undefined, { data: true });

/** Resolve once `sock` has emitted 'close' (bounded by the test timeout). */
function closed(sock: Duplex, log: string[]): Promise<unknown> {
  if (log.some((e) => e.startsWith('close:'))) return Promise.resolve();
  // Not events.once(): it rejects on 'error', and errors are part of what we compare.
  return new Promise((r) => sock.once('close', r));
}

/** The server side of one connection: its event log, and a way to wait for its 'close'. */
function accepted(setup: (s: SocketLike) => void = () => {}, reading = true) {
  let sock: SocketLike | undefined;
  let log: string[] = [];
  let got!: () => void;
  const arrived = new Promise<void>((r) => (got = r));
  return {
    get log() {
      return log;
    },
    onConnection: (s: SocketLike) => {
      sock = s;
      log = reading ? record(s) : recordQuietly(s);
      setup(s);
      got();
    },
    closed: async () => {
      await arrived;
      await closed(sock!, log);
    },
  };
}

/** record() without a 'data' listener (which would start the stream flowing). */
function recordQuietly(sock: Duplex): string[] {
  const log: string[] = [];
  for (const ev of ['end', 'finish']) sock.on(ev, () => log.push(ev));
  sock.on('error', (e: Error & { code?: string }) => log.push(`error:${e.code}`));
  sock.on('close', (hadError: boolean) => log.push(`close:${hadError}`));
  return log;
}

/**
 * One connection: a server started with `server` options whose accepted socket gets `setup` (and a
 * 'data' listener unless `reading` is false), a client that runs `client` once connected. Resolves
 * with both event logs once both sockets have closed.
 */
async function exchange(
  impl: Impl,
  o: { server?: { allowHalfOpen?: boolean; pauseOnConnect?: boolean }; setup?: (s: SocketLike) => void; reading?: boolean; client: (c: SocketLike) => void },
): Promise<{ client: string[]; server: string[] }> {
  const server = accepted(o.setup, o.reading ?? true);
  const h = await impl.start(o.server ?? {}, server.onConnection);
  const c = h.connect();
  const clientLog = record(c);
  c.on('connect', () => o.client(c));
  await closed(c, clientLog);
  await server.closed();
  h.server.close();
  return { client: clientLog, server: server.log };
}

const scenarios: Record<string, Scenario> = {
  'client end(): default server ends too, both close cleanly': (impl) => exchange(impl, { client: (c) => c.end('hello') }),

  'allowHalfOpen server answers after the client FIN, then ends': (impl) =>
    exchange(impl, {
      server: { allowHalfOpen: true },
      setup: (s) => s.on('end', () => s.end('reply')),
      client: (c) => c.end('request'),
    }),

  'server destroy() with the request unread (pauseOnConnect): client sees ECONNRESET': (impl) => {
    let arrived!: () => void;
    const gate = new Promise<void>((r) => (arrived = r));
    return exchange(impl, {
      server: { pauseOnConnect: true },
      // Destroy once the client's bytes have surely reached the server's TCP (no reader: they stay unread).
      setup: (s) => void gate.then(() => setTimeout(() => s.destroy(), 50)),
      reading: false,
      client: (c) => c.write('unread request', () => arrived()),
    });
  },

  'server destroy() after reading the request: client sees end': (impl) =>
    exchange(impl, { setup: (s) => s.once('data', () => s.destroy()), client: (c) => c.write('req') }),

  'server resetAndDestroy(): client sees ECONNRESET': (impl) =>
    exchange(impl, { setup: (s) => s.once('data', () => s.resetAndDestroy()), client: (c) => c.write('req') }),

  'connect to a port nobody listens on: ECONNREFUSED then close(true)': async (impl) => {
    const h = await impl.start({}, () => {});
    const c = h.refused();
    const clientLog = record(c);
    await closed(c, clientLog);
    h.server.close();
    return { client: clientLog, server: [] };
  },
};

describe('node:net parity (loopback reference vs TcpNet)', () => {
  for (const [title, scenario] of Object.entries(scenarios)) {
    it(title, async () => {
      const reference = await scenario(nodeImpl);
      const ours = await scenario(fakeImpl);
      if (process.env.PARITY_DEBUG) console.log(title, JSON.stringify(reference));
      expect(ours).toEqual(reference);
    });
  }
});
