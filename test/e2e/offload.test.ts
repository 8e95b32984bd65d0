/**
 * Receive offload and the TUN queue length against the real kernel, each test in its own namespace:
 * - curl POSTs 8 MiB to /echo with offload on (the kernel hands the stack super-segments whole) and
 *   with --tso off: the body arrives whole (its length, and what the demo site echoes of its first
 *   MiB, byte-exact);
 * - the pcap shows the kernel's super-segments as tcpdump on the TUN would, larger than the MTU,
 *   and tshark verifies every TCP checksum (the partial ones are completed in the capture);
 * - the echo service gets 8 MiB back byte-exact with offload off (tcp.test.ts does it with it on);
 * - `ip link show` reports the queue length we set (the default, and --txqueuelen);
 * - a bounded ping -f completes with no loss.
 * Malformed virtio headers cannot be made to come from the kernel: test/link/virtio-net.test.ts
 * drives the same parsing path with them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, describeTun, type Netns } from './helpers/index.ts';
import { startServe } from './helpers/stack.ts';
import { DEFAULT_TXQUEUELEN } from '../../src/link/tun-device.ts';

const MiB = 1024 * 1024;
const SIZE = 8 * MiB;

interface Stats {
  device: { rxGso: number; rxBadVnetHdr: number; txqueuelen: number };
  ip: { rxSuperSegments: number };
  tcp: { badSegments: number };
}

function statsOf(lines: string[]): Stats {
  const line = lines.find((l) => l.startsWith('tunstack: stats '));
  if (!line) throw new Error(`no stats line in:\n${lines.join('\n')}`);
  return JSON.parse(line.slice('tunstack: stats '.length)) as Stats;
}

async function qlen(ns: Netns): Promise<number> {
  const r = await ns.exec('ip', ['link', 'show', 'dev', 'tunstack0']);
  const m = / qlen (\d+)/.exec(r.stdout);
  if (!m) throw new Error(`no qlen in: ${r.stdout}`);
  return Number(m[1]);
}

describeTun('e2e: receive offload and the TUN queue length', () => {
  let dir: string;
  let file: string;
  let data: Buffer;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tunstack-offload-'));
    // Printable, position-dependent bytes: /echo returns the body's first MiB as text.
    data = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i++) data[i] = 0x21 + ((i * 7 + (i >> 12)) % 94);
    file = join(dir, 'body.bin');
    writeFileSync(file, data);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const tso of ['on', 'off'] as const) {
    describe(`--tso ${tso}`, () => {
      let ns: Netns;
      afterAll(async () => ns?.destroy());

      it(`curl uploads ${SIZE / MiB} MiB to /echo: whole and byte-exact; the pcap's checksums verify; queue length as set`, async () => {
        ns = await createNetns(`tsk-off-${tso}`);
        const pcap = join(dir, `upload-${tso}.pcap`);
        const args = ['--pcap', pcap, '--tso', tso, ...(tso === 'off' ? ['--txqueuelen', '4321'] : [])];
        const serve = await startServe(ns, args);
        expect(await qlen(ns)).toBe(tso === 'off' ? 4321 : DEFAULT_TXQUEUELEN);

        const out = join(dir, `response-${tso}.txt`);
        const r = await ns.exec('curl', ['-sS', '--max-time', '60', '-o', out, '-H', 'Expect:', '-X', 'POST', '-T', file, 'http://10.77.0.2/echo'], { timeoutMs: 70_000 });
        expect(r.code, r.stderr).toBe(0);
        const text = readFileSync(out, 'latin1');
        expect(text).toContain(`\nbody length: ${SIZE}\n`);
        // The demo site echoes the chunks that arrived within the body's first MiB, then "[truncated]".
        const body = text.slice(text.indexOf('\nbody:\n') + '\nbody:\n'.length);
        const kept = body.indexOf('\n[truncated]');
        expect(kept).toBeGreaterThan(MiB / 2);
        expect(kept).toBeLessThanOrEqual(MiB);
        expect(body.slice(0, kept) === data.subarray(0, kept).toString('latin1'), 'the echoed body differs from what was sent').toBe(true);

        const { code, lines } = await serve.stop();
        expect(code).toBe(0);
        const stats = statsOf(lines);
        expect(stats.tcp.badSegments).toBe(0);
        expect(stats.device.rxBadVnetHdr).toBe(0);
        expect(stats.device.txqueuelen).toBe(tso === 'off' ? 4321 : DEFAULT_TXQUEUELEN);
        if (tso === 'on') {
          expect(stats.device.rxGso).toBeGreaterThan(10);
          expect(stats.ip.rxSuperSegments).toBe(stats.device.rxGso);
        } else {
          expect(stats.device.rxGso).toBe(0);
        }
        console.log(`[figures] --tso ${tso}: ${stats.device.rxGso} super-segments received`);

        // The capture: the client's data frames, their lengths, and tshark's own checksum verdict.
        const t = await ns.exec('tshark', ['-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-Y', 'ip.src==10.77.0.1 && tcp.len > 0',
          '-T', 'fields', '-e', 'frame.len', '-e', 'tcp.checksum.status'], { timeoutMs: 60_000 });
        expect(t.code, t.stderr).toBe(0);
        const rows = t.stdout.trim().split('\n').map((l) => l.split('\t').map(Number));
        expect(rows.length).toBeGreaterThan(0);
        expect(rows.filter((c) => c[1] !== 1)).toEqual([]); // 1 = Good: every checksum completed and right
        const big = rows.filter((c) => c[0]! > 1500).length;
        if (tso === 'on') expect(big).toBe(stats.device.rxGso);
        else expect(big).toBe(0);
      }, 120_000);

      if (tso === 'off') {
        it('echoes 8 MiB byte-exact without offload', async () => {
          await ns?.destroy(); // a namespace of its own, whatever the test before left running
          ns = await createNetns('tsk-off-echo');
          const serve = await startServe(ns, ['--tso', 'off']);
          const r = await ns.exec('python3', ['test/e2e/fixtures/echo-client.py', '10.77.0.2', '7', String(SIZE)], { timeoutMs: 60_000 });
          const m = /sent=(\d+) received=(\d+) sha_sent=(\w+) sha_received=(\w+)/.exec(r.stdout);
          expect(m, r.stdout + r.stderr).not.toBeNull();
          expect(Number(m![2])).toBe(SIZE);
          expect(m![4]).toBe(m![3]);
          expect((await serve.stop()).code).toBe(0);
        }, 90_000);
      }
    });
  }

  describe('ping -f, bounded', () => {
    let ns: Netns;
    afterAll(async () => ns?.destroy());

    it('answers 5,000 flood pings with no loss', async () => {
      ns = await createNetns('tsk-off-ping');
      const serve = await startServe(ns, ['--echo-port', '0']);
      const r = await ns.exec('ping', ['-q', '-n', '-f', '-c', '5000', '-w', '30', '10.77.0.2'], { timeoutMs: 40_000 });
      expect(r.stdout).toMatch(/5000 packets transmitted, 5000 received, 0% packet loss/);
      expect((await serve.stop()).code).toBe(0);
    }, 60_000);
  });
});
