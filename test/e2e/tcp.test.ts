/**
 * Issue 3 against Linux's own TCP, through the real TUN device inside a fresh namespace:
 * - the stack as server: a kernel client sends 10 MiB to the echo service (port 7) and reads it back;
 * - the stack as client (active open): `tunstack fetch` downloads 10 MiB from a kernel HTTP server;
 * - both again with the link impaired by the stack's seeded fault wrapper (no tc netem here);
 * - the capture shows the handshake with MSS and FINs both ways, with no RST;
 * - a SYN to a closed port is answered with RST (ECONNREFUSED on the kernel side), and our active
 *   open to a closed kernel port fails with ECONNREFUSED.
 * Each transfer's time and retransmit count is printed (figures, not assertions).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, describeTun, waitForLine, type Netns } from './helpers/index.ts';
import { runFetch, startServe } from './helpers/stack.ts';

const MiB = 1024 * 1024;
const IMPAIR = 'loss=5%,reorder=25%,dup=2%,corrupt=1%,seed=7';

interface EchoResult {
  sent: number;
  received: number;
  shaSent: string;
  shaReceived: string;
  seconds: number;
  eof: string;
}

async function echoThroughStack(ns: Netns, bytes: number, timeoutMs: number): Promise<EchoResult> {
  const r = await ns.exec('python3', ['test/e2e/fixtures/echo-client.py', '10.77.0.2', '7', String(bytes)], { timeoutMs });
  const m = /sent=(\d+) received=(\d+) sha_sent=(\w+) sha_received=(\w+) seconds=([\d.]+) eof=(\w+)/.exec(r.stdout);
  if (!m) throw new Error(`echo client failed (code ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return { sent: Number(m[1]), received: Number(m[2]), shaSent: m[3]!, shaReceived: m[4]!, seconds: Number(m[5]), eof: m[6]! };
}

function tcpStats(lines: string[]): Record<string, number> {
  const line = lines.find((l) => l.startsWith('tunstack: stats '));
  if (!line) throw new Error(`no stats line in:\n${lines.join('\n')}`);
  return (JSON.parse(line.slice('tunstack: stats '.length)) as { tcp: Record<string, number> }).tcp;
}

describeTun('e2e: TCP against Linux through the TUN device', () => {
  let dir: string;
  let file: string;
  let fileSha: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tunstack-tcp-'));
    // 10 MiB of deterministic, incompressible-looking bytes for the kernel's HTTP server.
    const data = Buffer.alloc(10 * MiB);
    let x = 0x12345678;
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x & 0xff;
    }
    file = join(dir, 'ten.bin');
    writeFileSync(file, data);
    fileSha = createHash('sha256').update(data).digest('hex');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('the stack as server (echo, port 7)', () => {
    let ns: Netns;
    afterAll(async () => ns?.destroy());

    it('echoes 10 MiB from a kernel client byte-exact, then both sides close with FINs and no RST', async () => {
      ns = await createNetns('tsk-tcp-srv');
      const pcap = join(dir, 'echo.pcap');
      const serve = await startServe(ns, ['--pcap', pcap]);
      const r = await echoThroughStack(ns, 10 * MiB, 60_000);
      expect(r.received).toBe(10 * MiB);
      expect(r.shaReceived).toBe(r.shaSent);
      expect(r.eof).toBe('yes');
      const { code, lines } = await serve.stop();
      expect(code).toBe(0);
      const stats = tcpStats(lines);
      console.log(`[figures] echo 10 MiB each way, clean link: ${r.seconds} s, retransmits ${stats.retransmits}`);
      expect(stats.passiveOpens).toBe(1);
      expect(stats.resetsSent).toBe(0);

      // The capture: SYN, SYN-ACK carrying MSS 1460, the ACK; FIN from each side; no RST at all.
      const t = await ns.exec('tshark', ['-r', pcap, '-Y', 'tcp.port == 7', '-T', 'fields',
        '-e', 'ip.src', '-e', 'tcp.flags.syn', '-e', 'tcp.flags.ack', '-e', 'tcp.flags.fin', '-e', 'tcp.flags.reset', '-e', 'tcp.options.mss_val'],
      { timeoutMs: 60_000 });
      const rows = t.stdout.trim().split('\n').map((l) => l.split('\t'));
      const syn = rows.filter((c) => c[1] === '1' && c[2] === '0');
      const synAck = rows.filter((c) => c[1] === '1' && c[2] === '1');
      expect(syn.map((c) => c[0])).toEqual(['10.77.0.1']);
      expect(synAck.map((c) => [c[0], c[5]])).toEqual([['10.77.0.2', '1460']]);
      expect(rows.filter((c) => c[4] === '1')).toEqual([]);
      const fins = rows.filter((c) => c[3] === '1').map((c) => c[0]);
      expect(new Set(fins)).toEqual(new Set(['10.77.0.1', '10.77.0.2']));
      await ns.destroy();
    });

    it('echoes 10 MiB byte-exact with the link impaired both ways (' + IMPAIR + ')', async () => {
      ns = await createNetns('tsk-tcp-srvi');
      const serve = await startServe(ns, ['--impair', IMPAIR]);
      // On a failure, the stack's own account of the connection (its stats at exit) goes with it.
      const r = await echoThroughStack(ns, 10 * MiB, 150_000).catch(async (err: Error) => {
        const { lines } = await serve.stop();
        throw new Error(`${err.message}\nthe stack's last lines:\n${lines.slice(-5).join('\n')}`);
      });
      expect(r.received).toBe(10 * MiB);
      expect(r.shaReceived).toBe(r.shaSent);
      expect(r.eof).toBe('yes');
      const { lines } = await serve.stop();
      const stats = tcpStats(lines);
      console.log(`[figures] echo 10 MiB each way, impaired ${IMPAIR}: ${r.seconds} s, retransmits ${stats.retransmits}`);
      expect(stats.retransmits).toBeGreaterThan(0);
      await ns.destroy();
    }, 180_000);

    it('answers a SYN to a closed port with RST: the kernel client gets ECONNREFUSED', async () => {
      ns = await createNetns('tsk-tcp-rst');
      const serve = await startServe(ns);
      const r = await ns.exec('python3', ['-c',
        'import socket\ntry:\n socket.create_connection(("10.77.0.2", 9999), timeout=5)\n print("connected")\nexcept OSError as e:\n print(type(e).__name__)'],
      { timeoutMs: 15_000 });
      expect(r.stdout.trim()).toBe('ConnectionRefusedError');
      const { lines } = await serve.stop();
      expect(tcpStats(lines).resetsSent).toBe(1);
      await ns.destroy();
    });
  });

  describe('the stack as client (active open)', () => {
    let ns: Netns;
    afterAll(async () => ns?.destroy());

    async function withKernelServer(prefix: string, fn: (ns: Netns) => Promise<void>): Promise<void> {
      ns = await createNetns(prefix);
      const server = ns.spawn('python3', ['-u', '-m', 'http.server', '--bind', '0.0.0.0', '--directory', dir, '8000']);
      await waitForLine(server, /Serving HTTP/, 10_000);
      try {
        await fn(ns);
      } finally {
        await ns.destroy();
      }
    }

    it('fetches 10 MiB from a kernel HTTP server, sha256 equal', async () => {
      await withKernelServer('tsk-tcp-cli', async (ns) => {
        const r = await runFetch(ns, 'http://10.77.0.1:8000/ten.bin');
        expect(r.code, r.stderr).toBe(0);
        expect(r.status).toBe(200);
        expect(r.bytes).toBe(10 * MiB);
        expect(r.sha256).toBe(fileSha);
        console.log(`[figures] fetch 10 MiB, clean link: ${/in ([\d.]+) s/.exec(r.stdout)?.[1]} s, retransmits ${r.retransmits}`);
      });
    });

    it('fetches 10 MiB byte-exact with the link impaired both ways (' + IMPAIR + ')', async () => {
      await withKernelServer('tsk-tcp-clii', async (ns) => {
        const r = await runFetch(ns, 'http://10.77.0.1:8000/ten.bin', ['--impair', IMPAIR], 150_000);
        expect(r.code, r.stderr).toBe(0);
        expect(r.bytes).toBe(10 * MiB);
        expect(r.sha256).toBe(fileSha);
        console.log(`[figures] fetch 10 MiB, impaired ${IMPAIR}: ${/in ([\d.]+) s/.exec(r.stdout)?.[1]} s, retransmits ${r.retransmits}`);
      });
    }, 180_000);

    it('fails with ECONNREFUSED when the kernel port is closed', async () => {
      await withKernelServer('tsk-tcp-ref', async (ns) => {
        const r = await runFetch(ns, 'http://10.77.0.1:9/', [], 30_000);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/ECONNREFUSED/);
      });
    });
  });
});
