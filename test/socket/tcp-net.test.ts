import { describe, it, expect } from 'vitest';
import { TcpNet } from '../../src/socket/tcp-net.ts';
import { SocketError } from '../../src/util/errors.ts';
import type { TcpEndpointApi } from '../../src/tcp/api.ts';
import type { NetLike, ServerLike, SocketLike } from '../../src/http/types.ts';
import { twoEndpoints, settle } from './fake-tcp.ts';

describe('TcpNet.connect arguments', () => {
  const eps = twoEndpoints();
  const net = new TcpNet(eps.client);

  it.each([-1, 0, 65536, 1.5, Number.NaN, '80x'])('port %s -> ERR_SOCKET_BAD_PORT', (port) => {
    expect(() => net.connect({ host: '10.0.0.2', port: port as number })).toThrow(
      expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }),
    );
  });

  it.each(['localhost', '::1', '10.0.0.256', '', undefined])('host %s -> ERR_INVALID_IP_ADDRESS', (host) => {
    expect(() => net.connect({ host: host as string, port: 80 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }),
    );
  });

  it('errors are TypeErrors and no connection was attempted', () => {
    const before = eps.client.conns.length;
    let err: unknown;
    try {
      net.connect({ host: 'example.com', port: 80 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect(eps.client.conns.length).toBe(before);
  });

  it('a bad localPort is refused too', () => {
    expect(() => net.connect({ host: '10.0.0.2', port: 80, localPort: 70000 })).toThrow(
      expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }),
    );
  });
});

describe('TcpNet.connect', () => {
  it('connect(port, host, cb) and connect(options, cb) both connect and call back once', async () => {
    const eps = twoEndpoints();
    new TcpNet(eps.server).createServer().listen(80);
    const net = new TcpNet(eps.client);
    const log: string[] = [];
    const a = net.connect(80, '10.0.0.2', () => log.push('a'));
    const b = net.createConnection({ host: '10.0.0.2', port: 80, localPort: 5555 }, () => log.push('b'));
    await settle();
    expect(log).toEqual(['a', 'b']);
    expect(a.remotePort).toBe(80);
    expect(b.localPort).toBe(5555);
  });

  it('noDelay / keepAlive defaults from the TcpNet apply to client sockets', async () => {
    const eps = twoEndpoints();
    const net = new TcpNet(eps.client, { noDelay: true, keepAlive: true, keepAliveInitialDelay: 2000 });
    net.connect({ host: '10.0.0.2', port: 80 }).on('error', () => {});
    const conn = eps.client.conns[0]!;
    expect(conn.calls).toContainEqual({ op: 'setNoDelay', value: true });
    expect(conn.calls).toContainEqual({ op: 'setKeepAlive', enable: true, idleMs: 2000 });
    await settle();
  });

  it('an api.connect() that throws becomes an asynchronous error then close', async () => {
    const api: TcpEndpointApi = {
      listen: () => {
        throw new Error('unused');
      },
      connect: () => {
        throw new SocketError('EADDRINUSE', 'local port taken', 'connect');
      },
    };
    const s = new TcpNet(api).connect({ host: '10.0.0.2', port: 80, localPort: 1234 });
    const log: string[] = [];
    s.on('error', (e: Error & { code?: string }) => log.push(`error:${e.code}`));
    s.on('close', (hadError: boolean) => log.push(`close:${hadError}`));
    expect(log).toEqual([]);
    await settle();
    expect(log).toEqual(['error:EADDRINUSE', 'close:true']);
  });
});

describe('TcpNet fits the HTTP server', () => {
  it('is a NetLike, its sockets SocketLike and its servers ServerLike (checked by tsc)', async () => {
    const eps = twoEndpoints();
    const tcp = new TcpNet(eps.server);
    const asNet: NetLike = tcp;
    let seen: SocketLike | undefined;
    const server: ServerLike = asNet.createServer({ allowHalfOpen: true }, (s) => (seen = s));
    server.listen(80, () => {});
    await settle();
    new TcpNet(eps.client).connect(80, '10.0.0.2');
    await settle();
    expect(seen?.remoteAddress).toBe('10.0.0.1');
    expect(seen?.tcpInfo?.().state).toBe('ESTABLISHED');
  });
});
