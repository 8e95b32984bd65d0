import { describe, it, expect } from 'vitest';
import { TcpNet } from '../../src/socket/tcp-net.ts';
import type { TcpSocket } from '../../src/socket/tcp-socket.ts';
import { twoEndpoints, settle } from './fake-tcp.ts';

function setup() {
  const eps = twoEndpoints();
  return {
    eps,
    serverNet: new TcpNet(eps.server, { localAddress: '10.0.0.2' }),
    clientNet: new TcpNet(eps.client),
  };
}

describe('TcpServer', () => {
  it("listen(port, cb): 'listening' asynchronously, address(), listening", async () => {
    const { serverNet } = setup();
    const server = serverNet.createServer();
    const log: string[] = [];
    server.listen(8080, () => log.push('cb'));
    server.on('listening', () => log.push('listening'));
    expect(log).toEqual([]); // like Node: emitted on the next tick
    expect(server.listening).toBe(true);
    await settle(1);
    expect(log).toEqual(['cb', 'listening']);
    expect(server.address()).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 8080 });
  });

  it('listen({ port, backlog }) passes the backlog to the TCP layer; default backlog 511', async () => {
    const { eps, serverNet } = setup();
    serverNet.createServer().listen({ port: 81, backlog: 7 });
    serverNet.createServer().listen(82);
    expect(eps.server.listeners.get(81)?.backlog).toBe(7);
    expect(eps.server.listeners.get(82)?.backlog).toBe(511);
  });

  it("EADDRINUSE is emitted as 'error', not thrown", async () => {
    const { serverNet } = setup();
    serverNet.createServer().listen(80);
    const second = serverNet.createServer();
    const errors: string[] = [];
    second.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? '?'));
    expect(() => second.listen(80)).not.toThrow();
    expect(second.listening).toBe(false);
    await settle(1);
    expect(errors).toEqual(['EADDRINUSE']);
  });

  it('listen twice throws ERR_SERVER_ALREADY_LISTEN; a bad port throws ERR_SOCKET_BAD_PORT', () => {
    const { serverNet } = setup();
    const server = serverNet.createServer().listen(80);
    expect(() => server.listen(81)).toThrow(expect.objectContaining({ code: 'ERR_SERVER_ALREADY_LISTEN' }));
    expect(() => serverNet.createServer().listen(70000)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
  });

  it("emits 'connection' with a connected TcpSocket; getConnections counts them", async () => {
    const { serverNet, clientNet } = setup();
    const accepted: TcpSocket[] = [];
    const server = serverNet.createServer((s) => accepted.push(s)).listen(80);
    clientNet.connect(80, '10.0.0.2');
    clientNet.connect(80, '10.0.0.2');
    await settle();
    expect(accepted.length).toBe(2);
    expect(accepted[0]!.connecting).toBe(false);
    expect(accepted[0]!.remoteAddress).toBe('10.0.0.1');
    expect(accepted.map((s) => s.remotePort)).toEqual([49152, 49153]);
    const count = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    expect(count).toBe(2);
  });

  it("close(): stops accepting at once, 'close' only after the last connection closed", async () => {
    const { serverNet, clientNet } = setup();
    const accepted: TcpSocket[] = [];
    const server = serverNet.createServer((s) => accepted.push(s)).listen(80);
    const client = clientNet.connect(80, '10.0.0.2');
    await settle();
    const log: string[] = [];
    server.close((err) => log.push(`cb:${err === undefined ? 'ok' : 'err'}`));
    server.on('close', () => log.push('close'));
    expect(server.listening).toBe(false);
    expect(server.address()).toBeNull();
    // New connections are refused now.
    const late = clientNet.connect(80, '10.0.0.2');
    const lateErrors: string[] = [];
    late.on('error', (e: Error & { code?: string }) => lateErrors.push(e.code ?? '?'));
    await settle();
    expect(lateErrors).toEqual(['ECONNREFUSED']);
    expect(log).toEqual([]); // one connection still open
    client.end();
    accepted[0]!.resume();
    client.resume();
    await settle();
    expect(accepted[0]!.destroyed).toBe(true);
    expect(log).toEqual(['cb:ok', 'close']);
  });

  it('close() with no connections emits close on the next tick; close() when not running -> ERR_SERVER_NOT_RUNNING', async () => {
    const { serverNet } = setup();
    const server = serverNet.createServer().listen(80);
    const log: string[] = [];
    server.close(() => log.push('closed'));
    expect(log).toEqual([]);
    await settle(1);
    expect(log).toEqual(['closed']);
    let err: (Error & { code?: string }) | undefined;
    server.close((e) => (err = e));
    await settle(1);
    expect(err?.code).toBe('ERR_SERVER_NOT_RUNNING');
  });

  it("maxConnections: extra connections are closed on arrival and 'drop' is emitted", async () => {
    const { eps, serverNet, clientNet } = setup();
    const accepted: TcpSocket[] = [];
    const server = serverNet.createServer((s) => accepted.push(s)).listen(80);
    server.maxConnections = 1;
    const drops: Array<{ remotePort: number }> = [];
    server.on('drop', (d: { remotePort: number }) => drops.push(d));
    clientNet.connect(80, '10.0.0.2');
    const second = clientNet.connect(80, '10.0.0.2');
    const secondLog: string[] = [];
    second.on('end', () => secondLog.push('end'));
    second.on('close', (e: boolean) => secondLog.push(`close:${e}`));
    second.resume();
    await settle();
    expect(accepted.length).toBe(1);
    expect(drops.map((d) => d.remotePort)).toEqual([49153]);
    // Nothing unread on the dropped connection: a FIN, as close(2) would send.
    expect(eps.server.conns[1]!.countCalls('shutdown')).toBe(1);
    expect(secondLog).toEqual(['end', 'close:false']);
  });

  it('pauseOnConnect and allowHalfOpen reach accepted sockets', async () => {
    const { serverNet, clientNet } = setup();
    let accepted: TcpSocket | undefined;
    serverNet.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => (accepted = s)).listen(80);
    clientNet.connect(80, '10.0.0.2');
    await settle();
    expect(accepted!.allowHalfOpen).toBe(true);
    expect(accepted!.isPaused()).toBe(true);
  });

  it('listen(port, host, cb) and listen({ port, host }): our address or 0.0.0.0; another -> EADDRNOTAVAIL', async () => {
    const { eps, serverNet } = setup();
    const log: string[] = [];
    const a = serverNet.createServer().listen(80, '10.0.0.2', () => log.push('a'));
    const b = serverNet.createServer().listen(81, '0.0.0.0', 9, () => log.push('b'));
    const c = serverNet.createServer().listen({ port: 82, host: '10.0.0.2' }, () => log.push('c'));
    const d = serverNet.createServer();
    d.on('error', (e: Error & { code?: string }) => log.push(`d:${e.code}`));
    d.listen(83, '10.9.9.9');
    expect(() => serverNet.createServer().listen(84, 'localhost')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }),
    );
    await settle(1);
    expect(log).toEqual(['a', 'b', 'c', 'd:EADDRNOTAVAIL']);
    expect(a.address()).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 80 });
    expect(b.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 81 });
    expect(c.address()?.port).toBe(82);
    expect(eps.server.listeners.get(81)?.backlog).toBe(9);
    expect(eps.server.listeners.has(83)).toBe(false);
    expect(d.listening).toBe(false);
  });
});
