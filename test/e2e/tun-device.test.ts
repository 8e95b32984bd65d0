/**
 * TunDevice against the real kernel, inside a throwaway network namespace: the kernel side gets its
 * address/MTU/up, the kernel's ping reaches us byte for byte, our hand-built echo reply reaches ping,
 * a second open of the same name is EBUSY, persistent devices can be attached (also without
 * CAP_NET_ADMIN, when they are owned by us), and close() removes the device and lets the process exit.
 *
 * The device lives in a child process (test/e2e/fixtures/tun-dump.ts) started inside the namespace.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNetns, describeTun, waitForExit, waitForLine, type Netns } from './helpers/index.ts';
import { DEFAULT_TXQUEUELEN } from '../../src/link/tun-device.ts';

const FIXTURE = 'test/e2e/fixtures/tun-dump.ts';
const READY = /^READY (.*)$/;

interface Ready {
  name: string;
  mtu: number;
  configured: { address: string; mtu: string; up: string; currentAddress: string | null };
}

interface IcmpLine {
  version: number;
  protocol: number;
  type: number;
  src: string;
  dst: string;
  id: number;
  seq: number;
  head: string;
}

interface AddrInfo {
  ifname: string;
  mtu: number;
  txqlen: number;
  flags: string[];
  addr_info: { family: string; local: string; prefixlen: number }[];
}

/** Start the fixture inside the namespace, optionally under a wrapper command (e.g. setpriv ...). */
function startFixture(ns: Netns, args: string[], wrapper: string[] = []): ChildProcess {
  const command = [...wrapper, 'node', '--import', 'tsx', FIXTURE, ...args];
  return ns.spawn(command[0]!, command.slice(1));
}

async function ready(child: ChildProcess): Promise<Ready> {
  const m = await waitForLine(child, READY, 20_000);
  return JSON.parse(m[1]!) as Ready;
}

async function linkInfo(ns: Netns, dev: string): Promise<AddrInfo> {
  const r = await ns.exec('ip', ['-j', 'addr', 'show', 'dev', dev]);
  expect(r.code, r.stderr).toBe(0);
  const list = JSON.parse(r.stdout) as AddrInfo[];
  expect(list).toHaveLength(1);
  return list[0]!;
}

async function closeAndExit(child: ChildProcess): Promise<void> {
  child.stdin!.write('close\n');
  await waitForLine(child, /^CLOSED /, 10_000);
  // Nothing may keep the event loop alive after close(): the fixture exits by itself.
  const status = await waitForExit(child, 10_000);
  expect(status).toEqual({ code: 0, signal: null });
}

describeTun('TunDevice (real TUN in a network namespace)', () => {
  let ns: Netns;

  beforeAll(async () => {
    ns = await createNetns('tsk-tun');
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  it('configures the kernel side, receives the kernel ping and answers it, then disappears on close', async () => {
    const child = startFixture(ns, ['--name', 'tsk0', '--host', '10.77.0.1', '--prefix', '24', '--mtu', '1400', '--reply']);
    const r = await ready(child);
    expect(r.name).toBe('tsk0');
    expect(r.mtu).toBe(1400);
    expect(r.configured).toEqual({ address: 'set', mtu: 'set', up: 'set', txqueuelen: 'set', currentAddress: '10.77.0.1' });

    // What the kernel now says about the device, by netlink (not through our addon).
    const info = await linkInfo(ns, 'tsk0');
    expect(info.mtu).toBe(1400);
    expect(info.txqlen).toBe(DEFAULT_TXQUEUELEN);
    expect(info.flags).toContain('UP');
    expect(info.addr_info.filter((a) => a.family === 'inet')).toEqual([
      expect.objectContaining({ local: '10.77.0.1', prefixlen: 24 }),
    ]);

    // The kernel routes 10.77.0.2 into the device; the fixture answers with a hand-built echo reply.
    const ping = await ns.exec('ping', ['-c', '1', '-W', '5', '-p', 'a5', '10.77.0.2'], { timeoutMs: 15_000 });
    expect(ping.stdout).toMatch(/1 packets transmitted, 1 received/);
    expect(ping.code).toBe(0);

    const m = await waitForLine(child, /^ICMP (.*)$/, 5000);
    const icmp = JSON.parse(m[1]!) as IcmpLine;
    expect(icmp).toMatchObject({ version: 4, protocol: 1, type: 8, src: '10.77.0.1', dst: '10.77.0.2', seq: 1 });
    const head = Buffer.from(icmp.head, 'hex');
    expect(head[0]).toBe(0x45); // version 4, IHL 5
    expect(head.readUInt16BE(2)).toBe(84); // 20 IP + 8 ICMP + 56 data (ping's default)
    expect(head[9]).toBe(1); // protocol ICMP
    expect([...head.subarray(12, 16)]).toEqual([10, 77, 0, 1]);
    expect([...head.subarray(16, 20)]).toEqual([10, 77, 0, 2]);
    expect(head[20]).toBe(8); // echo request
    expect(head[21]).toBe(0);
    await waitForLine(child, /^REPLIED \{"seq":1\}$/, 5000);

    await closeAndExit(child);
    const gone = await ns.exec('ip', ['link', 'show', 'dev', 'tsk0']);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/does not exist/);
  });

  it('lets the kernel choose the name when none is given', async () => {
    const child = startFixture(ns, ['--host', '10.79.0.1']);
    const r = await ready(child);
    expect(r.name).toMatch(/^tun\d+$/);
    expect((await linkInfo(ns, r.name)).addr_info[0]).toMatchObject({ local: '10.79.0.1', prefixlen: 24 });
    await closeAndExit(child);
  });

  it('refuses a second open of a device in use with EBUSY and a hint', async () => {
    const first = startFixture(ns, ['--name', 'tsk1', '--host', '10.78.0.1']);
    await ready(first);
    const second = await ns.exec('node', ['--import', 'tsx', FIXTURE, '--name', 'tsk1', '--host', '10.78.0.1'], {
      timeoutMs: 20_000,
    });
    expect(second.code).toBe(3);
    const m = /^ERROR (.*)$/m.exec(second.stdout);
    expect(m, second.stdout + second.stderr).not.toBeNull();
    expect(JSON.parse(m![1]!)).toMatchObject({ code: 'ERR_TUN_OPEN', errno: 'EBUSY', hint: 'device name in use' });
    await closeAndExit(first);
  });

  it('attaches to a persistent device, which outlives close()', async () => {
    const add = await ns.exec('ip', ['tuntap', 'add', 'mode', 'tun', 'name', 'tskp0']);
    expect(add.code, add.stderr).toBe(0);
    const child = startFixture(ns, ['--name', 'tskp0', '--host', '10.80.0.1', '--reply']);
    const r = await ready(child);
    expect(r.configured).toMatchObject({ address: 'set', mtu: 'set', up: 'set' });
    const ping = await ns.exec('ping', ['-c', '1', '-W', '5', '10.80.0.2'], { timeoutMs: 15_000 });
    expect(ping.stdout).toMatch(/1 received/);
    await closeAndExit(child);
    const still = await ns.exec('ip', ['-j', 'link', 'show', 'dev', 'tskp0']);
    expect(still.code).toBe(0);
    expect((await ns.exec('ip', ['tuntap', 'del', 'mode', 'tun', 'name', 'tskp0'])).code).toBe(0);
  });

  it('queues writes on EAGAIN, flushes them in order when writable, and drops past the bound, counting', async () => {
    const fixture = ns.spawn('node', ['--import', 'tsx', 'test/e2e/fixtures/tun-queue.ts']);
    await waitForLine(fixture, /^READY$/, 20_000);
    const sink = ns.spawn('/usr/bin/python3', ['test/e2e/fixtures/icmp-sink.py', '3', '10']);
    await waitForLine(sink, /^READY$/, 10_000);
    fixture.stdin!.write('go\n');

    type Stats = Record<string, number>;
    const order = JSON.parse((await waitForLine(fixture, /^ORDER (.*)$/, 10_000))[1]!) as { results: number[]; stats: Stats };
    expect(order.results).toEqual([1, 1, 1]); // queued: the first met EAGAIN, the others keep their place behind it
    expect(order.stats).toMatchObject({ tx: 3, txQueued: 3, txQueueLength: 0, txDropped: 0, eagain: 2 });
    // The kernel saw them in the order they were sent.
    const seqs = JSON.parse((await waitForLine(sink, /^SEQS (.*)$/, 10_000))[1]!) as number[];
    expect(seqs).toEqual([1, 2, 3]);

    const overflow = JSON.parse((await waitForLine(fixture, /^OVERFLOW (.*)$/, 10_000))[1]!) as { accepted: number; stats: Stats };
    expect(overflow.accepted).toBe(1024);
    expect(overflow.stats).toMatchObject({ tx: 3, txQueueLength: 1024, txDropped: 1100 - 1024 });
    const drained = JSON.parse((await waitForLine(fixture, /^DRAINED (.*)$/, 10_000))[1]!) as { stats: Stats };
    expect(drained.stats).toMatchObject({ tx: 3 + 1024, txQueueLength: 0, txDropped: 76, txErrors: 0 });

    await waitForLine(fixture, /^CLOSED$/, 10_000);
    expect(await waitForExit(fixture, 10_000)).toEqual({ code: 0, signal: null });
  });

  it('segmentation offload: bad sizes throw, packets the kernel would refuse are dropped and counted', async () => {
    const fixture = ns.spawn('node', ['--import', 'tsx', 'test/e2e/fixtures/tun-gso.ts']);
    const r = JSON.parse((await waitForLine(fixture, /^RESULT (.*)$/, 20_000))[1]!) as Record<string, unknown>;
    expect(await waitForExit(fixture, 10_000)).toEqual({ code: 0, signal: null });
    expect(r).toMatchObject({
      vnetHdr: [true, false],
      udpAsSuperSegment: 2, // dropped: only TCP/IPv4 can be cut
      tooSmallForItsSize: 2, // 3000 payload bytes are not more than one segment of 4000
      onPlainDevice: 2, // no virtio header to carry the segment size
      badSize: 'RangeError',
      badSizes: 'TypeError',
      shortSizes: 'TypeError',
      stats: { tx: 0, txGso: 0, txErrors: 2, txDropped: 2 },
      plainStats: { tx: 0, txErrors: 1, txDropped: 1 },
      deviceTso: 65535,
      deviceNoTso: 0,
    });
  });

  it('without CAP_NET_ADMIN: attaches to a configured device owned by us, skipping configuration', async () => {
    // A persistent device owned by uid 0, configured by "the administrator"; then the fixture runs as
    // uid 0 with CAP_NET_ADMIN removed from its bounding set, like a user attaching to a device set up
    // for them with `ip tuntap add mode tun user $USER`.
    for (const args of [
      ['tuntap', 'add', 'mode', 'tun', 'name', 'tskp1', 'user', '0'],
      ['addr', 'add', '10.81.0.1/24', 'dev', 'tskp1'],
      ['link', 'set', 'tskp1', 'mtu', '1280', 'up'],
    ]) {
      const r = await ns.exec('ip', args);
      expect(r.code, `ip ${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const child = startFixture(ns, ['--name', 'tskp1', '--host', '10.81.0.1', '--reply'], ['setpriv', '--bounding-set', '-net_admin']);
    const r = await ready(child);
    expect(r.configured).toEqual({ address: 'skipped', mtu: 'skipped', up: 'skipped', txqueuelen: 'skipped', currentAddress: '10.81.0.1' });
    expect(r.mtu).toBe(1280); // the MTU the device has, not the 1500 we asked for
    const ping = await ns.exec('ping', ['-c', '1', '-W', '5', '10.81.0.2'], { timeoutMs: 15_000 });
    expect(ping.stdout).toMatch(/1 received/);
    await closeAndExit(child);

    const denied = async (dev: string): Promise<Record<string, unknown>> => {
      const r = await ns.exec('setpriv', ['--bounding-set', '-net_admin', 'node', '--import', 'tsx', FIXTURE, '--name', dev], {
        timeoutMs: 20_000,
      });
      expect(r.code, r.stdout + r.stderr).toBe(3);
      const m = /^ERROR (.*)$/m.exec(r.stdout);
      expect(m, r.stdout + r.stderr).not.toBeNull();
      return JSON.parse(m![1]!) as Record<string, unknown>;
    };
    const hint = 'needs CAP_NET_ADMIN (sudo), or a persistent device owned by you';

    // A device owned by someone else: TUNSETIFF itself is refused.
    expect((await ns.exec('ip', ['tuntap', 'add', 'mode', 'tun', 'name', 'tskp2', 'user', '12345'])).code).toBe(0);
    expect(await denied('tskp2')).toMatchObject({ code: 'ERR_TUN_OPEN', errno: 'EPERM', hint });

    // A device without owner may be attached by anyone, but if it has no address yet we cannot give it one.
    expect((await ns.exec('ip', ['tuntap', 'add', 'mode', 'tun', 'name', 'tskp3'])).code).toBe(0);
    const e = await denied('tskp3');
    expect(e).toMatchObject({ code: 'ERR_TUN_CONFIGURE', errno: 'EPERM', hint });
    expect(e.message).toMatch(/^SIOCSIFADDR tskp3: /);
  });
});
