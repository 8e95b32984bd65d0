/**
 * Writes through io_uring against the real kernel (native/uring.c), in a namespace of its own:
 * 3,000 datagrams sent through the device in ticks of 1 to 64 packets reach a kernel UDP socket all
 * and in order, most of them written by io_uring_enter calls; with io_uring_setup refused by a
 * seccomp filter (as a container policy may do), the device falls back to plain writes, says why,
 * and delivers the same.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNetns, describeTun, type Netns } from './helpers/index.ts';

interface Result {
  received: number;
  inOrder: boolean;
  ioUring: string;
  uringEnters: number;
  uringPackets: number;
  txPackets: number;
}

const FIXTURE = 'test/e2e/fixtures/tun-uring.ts';

async function run(ns: Netns, wrapper: string[] = []): Promise<Result> {
  const cmd = [...wrapper, 'node', '--import', 'tsx', FIXTURE, '3000'];
  const r = await ns.exec(cmd[0]!, cmd.slice(1), { timeoutMs: 30_000 });
  const m = /^RESULT (.*)$/m.exec(r.stdout);
  if (!m) throw new Error(`fixture failed (code ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(m[1]!) as Result;
}

describeTun('e2e: TUN writes through io_uring', () => {
  let ns: Netns;
  beforeAll(async () => {
    ns = await createNetns('tsk-uring');
  });
  afterAll(async () => ns?.destroy());

  it('delivers every packet, in order, most of them through io_uring_enter (fewer calls than packets)', async () => {
    const r = await run(ns);
    expect(r).toMatchObject({ received: 3000, inOrder: true, ioUring: 'on', txPackets: 3000 });
    // Ticks of one packet are written plainly; the rest go 2..64 per io_uring_enter.
    expect(r.uringPackets).toBeGreaterThan(2900);
    expect(r.uringEnters).toBeLessThan(r.uringPackets / 10);
  });

  it('falls back to plain writes when io_uring_setup is refused (seccomp), and says why', async () => {
    const r = await run(ns, ['/usr/bin/python3', 'test/e2e/fixtures/deny-io-uring.py']);
    expect(r).toEqual({ received: 3000, inOrder: true, ioUring: 'EPERM', uringEnters: 0, uringPackets: 0, txPackets: 3000 });
  });
});
