/**
 * `tunstack pageload` live: the pageload client (one tunstack, on its own TUN device tsk-pl1,
 * 10.78.0.2) loads a page from `tunstack serve` (another tunstack, on tunstack0, 10.77.0.2), with the
 * namespace's kernel forwarding between the two devices. A persistent load of 4 objects makes exactly
 * one handshake: one SYN from the client in serve's capture, and 5 requests on that one connection.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNetns, describeTun, type Netns } from './helpers/index.ts';
import { startServe, type ServeHandle } from './helpers/stack.ts';
import { ipPacketsFromPcap } from '../../src/trace/ladder.ts';

/** SYNs (no ACK) from `src` in a capture: IPv4 protocol 6, TCP flags at IHL + 13 (RFC 9293 §3.1). */
function synsFrom(pcap: Buffer, src: string): number {
  const want = src.split('.').map(Number);
  let n = 0;
  for (const { data } of ipPacketsFromPcap(pcap)) {
    const ihl = (data[0]! & 0x0f) * 4;
    if (data[9] !== 6 || want.some((b, i) => data[12 + i] !== b)) continue;
    if ((data[ihl + 13]! & 0x12) === 0x02) n++;
  }
  return n;
}

describeTun('pageload over TUN against tunstack serve', () => {
  let ns: Netns | undefined;
  let serve: ServeHandle | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tsk-pl-e2e-'));

  beforeAll(async () => {
    ns = await createNetns('tsk-pl');
    const fwd = await ns.exec('sysctl', ['-w', 'net.ipv4.ip_forward=1']);
    expect(fwd.code).toBe(0);
    serve = await startServe(ns, ['--pcap', join(dir, 'serve.pcap')]);
  }, 60_000);

  afterAll(async () => {
    await serve?.stop();
    await ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('persistent: 1 handshake, 5 requests on it, all 200, timings in order', async () => {
    const json = join(dir, 'load.json');
    const r = await ns!.exec(
      'node',
      ['--import', 'tsx', 'src/cli.ts', 'pageload', 'http://10.77.0.2/', '--objects', '4', '--object-size', '5000', '--mode', 'persistent',
        '--tun', 'tsk-pl1', '--host-addr', '10.78.0.1/24', '--addr', '10.78.0.2', '--log-level', 'warn', '--timeout', '20000', '--json', json],
      { timeoutMs: 60_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/totals: page [\d.]+ ms, 1 handshake, 5 requests/);
    const load = JSON.parse(readFileSync(json, 'utf8'));
    expect(load.handshakes).toBe(1);
    expect(load.connections).toHaveLength(1);
    const c = load.connections[0];
    expect(c.establishedAt).toBeGreaterThan(c.synAt);
    expect(c.requests.map((q: { index: number }) => q.index)).toEqual([0, 1, 2, 3, 4]);
    expect(c.requests.map((q: { status: number }) => q.status)).toEqual([200, 200, 200, 200, 200]);
    for (const q of c.requests) {
      expect(q.firstByteAt).toBeGreaterThan(q.sentAt);
      expect(q.lastByteAt).toBeGreaterThanOrEqual(q.firstByteAt);
    }
    expect(c.requests.slice(1).map((q: { bytes: number }) => q.bytes > 5000)).toEqual([true, true, true, true]);
    // The server's side of it: exactly one SYN from the client's address in serve's capture.
    const stopped = await serve!.stop();
    serve = undefined;
    expect(stopped.code).toBe(0);
    expect(synsFrom(readFileSync(join(dir, 'serve.pcap')), '10.78.0.2')).toBe(1);
  }, 90_000);
});
