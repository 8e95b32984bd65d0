/**
 * Path MTU discovery against Linux (RFC 1191; issue 13 item 6): the kernel itself sends
 * "fragmentation needed" when it forwards the stack's DF segments onto a route with a smaller MTU.
 *
 *   ns A: tunstack serve (10.77.0.2) -- tunstack0 -- kernel A (10.77.0.1, forwarding)
 *         -- route 10.78.0.0/24 mtu 1280 -- veth -- ns B: curl (10.78.0.2, MTU 1500, MSS 1460)
 *
 * curl in B announces MSS 1460, so the stack's first flight is 1500-byte datagrams that kernel A
 * cannot forward: it answers with ICMP type 3 code 4, next-hop MTU 1280. Without path MTU
 * discovery the download never completes (every full segment is refused, every retransmission
 * too); with it the stack re-cuts its flight to 1228-byte segments (1280 - 40 - 12 timestamps)
 * and the download arrives byte-exact. The learned MTU is used by the next connection to B.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, describeTun, type Netns } from './helpers/index.ts';
import { startServe, type ServeHandle } from './helpers/stack.ts';

const BYTES = 3_000_000;

async function run(ns: Netns, cmd: string, ...args: string[]): Promise<string> {
  const r = await ns.exec(cmd, args, { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns.name}: code ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** sha256 and size of what curl downloads from `url`, inside `ns` (bounded by --max-time). */
async function download(ns: Netns, url: string): Promise<{ sha: string; size: number; code: number | null }> {
  const r = await ns.exec('bash', ['-c', `set -o pipefail; curl -sS --max-time 20 ${url} | sha256sum; echo; curl -sS -o /dev/null --max-time 20 -w '%{size_download}' ${url}`], { timeoutMs: 60_000 });
  const [line1, , size] = r.stdout.split('\n');
  return { sha: (line1 ?? '').split(' ')[0] ?? '', size: Number(size), code: r.code };
}

describeTun('e2e: fragmentation needed from a Linux router lowers the path MTU (RFC 1191)', () => {
  for (const tso of ['off', 'on'] as const) {
    describe(`--tso ${tso}`, () => {
      let a: Netns;
      let b: Netns;
      let serve: ServeHandle;

      beforeAll(async () => {
        a = await createNetns('tsk-ic-a');
        b = await createNetns('tsk-ic-b');
        serve = await startServe(a, ['--tso', tso]);
        await run(a, 'ip', 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b.name);
        await run(a, 'ip', 'addr', 'add', '10.78.0.1/24', 'dev', 'va');
        await run(a, 'ip', 'link', 'set', 'va', 'up');
        // The path's narrow hop: forwarding honours the route's MTU (and answers with frag-needed).
        await run(a, 'ip', 'route', 'replace', '10.78.0.0/24', 'dev', 'va', 'mtu', '1280');
        await run(a, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
        await run(b, 'ip', 'addr', 'add', '10.78.0.2/24', 'dev', 'vb');
        await run(b, 'ip', 'link', 'set', 'vb', 'up');
        await run(b, 'ip', 'route', 'add', '10.77.0.0/24', 'via', '10.78.0.1');
      }, 40_000);

      afterAll(async () => {
        await serve?.stop();
        await b?.destroy();
        await a?.destroy();
      });

      it('a download through the 1280-byte hop completes byte-exact, in segments that fit', async () => {
        const url = `http://10.77.0.2/bytes/${BYTES}`;
        const direct = await download(a, url); // no narrow hop: the reference bytes
        expect(direct.size).toBe(BYTES);
        const t0 = performance.now();
        const via = await download(b, url);
        const seconds = (performance.now() - t0) / 1000;
        expect(via.code).toBe(0);
        expect(via.size).toBe(BYTES);
        expect(via.sha).toBe(direct.sha);
        console.log(`pmtu e2e (--tso ${tso}): ${BYTES} bytes twice through the 1280-byte hop in ${seconds.toFixed(2)} s`);

        // The next connection from B starts with the learned path MTU: MSS 1280 - 40 - 12.
        const conn = JSON.parse(await run(b, 'curl', '-sS', '--max-time', '10', 'http://10.77.0.2/conn')) as { tcp: { mss: number } };
        expect(conn.tcp.mss).toBe(1228);
        const stats = JSON.parse(await run(b, 'curl', '-sS', '--max-time', '10', 'http://10.77.0.2/stats')) as {
          stats: { ip: { pmtu: { entries: number; learned: number } }; tcp: { pmtuLowered: number; pmtuMssReductions: number; icmpOutOfWindow: number } };
        };
        expect(stats.stats.ip.pmtu).toMatchObject({ entries: 1, learned: 1 });
        expect(stats.stats.tcp.pmtuLowered).toBe(1);
        expect(stats.stats.tcp.pmtuMssReductions).toBeGreaterThanOrEqual(1);
        // Kernel A refused only the first flight (at most the initial window of 10 segments, each
        // answered before the first answer arrived), not the ~2400 segments of the download.
        const nstat = await run(a, 'nstat', '-az', 'IcmpOutDestUnreachs');
        const sent = Number(/IcmpOutDestUnreachs\s+(\d+)/.exec(nstat)?.[1] ?? -1);
        expect(sent).toBeGreaterThanOrEqual(1);
        expect(sent).toBeLessThanOrEqual(20);
        console.log(`pmtu e2e (--tso ${tso}): kernel A sent ${sent} frag-needed`);
      }, 90_000);
    });
  }
});
