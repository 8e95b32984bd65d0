/**
 * Issue 2's promise, against the real kernel: inside a fresh namespace, `tunstack serve` opens a TUN
 * device, and Linux's own ping is answered by our IPv4 + ICMP, also when the datagrams are fragmented
 * both ways; the --pcap file opens in tshark with the echo pairs and valid checksums; malformed
 * packets injected under the kernel's IP layer are counted and dropped, and the stack keeps answering.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createNetns, describeTun, type Netns } from './helpers/index.ts';
import { startServe, type ServeHandle } from './helpers/stack.ts';
import { serializeIpv4Header, type Ipv4HeaderInit } from '../../src/wire/ipv4.ts';
import { serializeIcmp, icmpLength, type IcmpInit } from '../../src/wire/icmpv4.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { checksum } from '../../src/wire/checksum.ts';

const HOST = parseIpv4Address('10.77.0.1');
const STACK = parseIpv4Address('10.77.0.2');

function ipHeader(totalLength: number): Ipv4HeaderInit {
  return { totalLength, identification: 0x4242, dontFragment: true, ttl: 64, protocol: 1, src: HOST, dst: STACK };
}

/** A valid ICMP echo request from the host to the stack, as bytes. */
function echoRequest(id: number, seq: number): Buffer {
  const msg: IcmpInit = { kind: 'echo-request', identifier: id, sequence: seq, data: Buffer.from('tunstack e2e') };
  const len = icmpLength(msg);
  const buf = Buffer.alloc(20 + len);
  serializeIpv4Header(ipHeader(20 + len), buf, 0);
  serializeIcmp(msg, buf, 20);
  return buf;
}

function countLines(text: string, re: RegExp): number {
  return text.split('\n').filter((l) => re.test(l)).length;
}

describeTun('e2e: ping the stack through a TUN device', () => {
  let ns: Netns;
  let stack: ServeHandle;
  let dir: string;
  let pcap: string;
  let exitLines: string[] = [];

  beforeAll(async () => {
    ns = await createNetns('tsk-ping');
    dir = mkdtempSync(join(tmpdir(), 'tunstack-ping-'));
    pcap = join(dir, 'ping.pcap');
    stack = await startServe(ns, ['--pcap', pcap]);
  });

  afterAll(async () => {
    await ns?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints one ready line naming the device and the addresses', () => {
    expect(stack.readyLine).toMatch(/^tunstack: ready on tunstack0: host 10\.77\.0\.1\/24, stack 10\.77\.0\.2, mtu 1500, /);
  });

  it('answers ping -c 5 with 5 replies', async () => {
    const r = await ns.exec('ping', ['-c', '5', '-i', '0.2', '-W', '2', '10.77.0.2'], { timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/5 packets transmitted, 5 received, 0% packet loss/);
    expect(countLines(r.stdout, /^64 bytes from 10\.77\.0\.2: icmp_seq=\d+ ttl=64/)).toBe(5);
  });

  it('answers ping -s 4000 (fragmented both ways)', async () => {
    const r = await ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '-s', '4000', '10.77.0.2'], { timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);
    expect(countLines(r.stdout, /^4008 bytes from 10\.77\.0\.2: icmp_seq=\d+ ttl=64/)).toBe(3);
  });

  it('counts and drops malformed packets, and keeps answering', async () => {
    const good = echoRequest(0x77, 1);
    const badChecksum = Buffer.from(good);
    badChecksum[10] = badChecksum[10]! ^ 0xff;
    const ihl4 = Buffer.from(good);
    ihl4[0] = 0x44;
    const longTotal = Buffer.from(good);
    // Claims 100 more bytes than arrived, with a header checksum that is right for that claim.
    serializeIpv4Header(ipHeader(good.length + 100), longTotal, 0);
    const truncated = good.subarray(0, 12);
    // Total length 16: smaller than the 20-byte header it belongs to (checksum fixed up to match).
    const shortTotal = Buffer.from(good);
    shortTotal.writeUInt16BE(16, 2);
    shortTotal.writeUInt16BE(0, 10);
    shortTotal.writeUInt16BE(checksum(shortTotal, 0, 20), 10);
    const version6 = Buffer.from(good);
    version6[0] = 0x65;
    const packets = [truncated, badChecksum, ihl4, longTotal, shortTotal, version6].map((b) => b.toString('hex'));
    const inj = await ns.exec('/usr/bin/python3', ['test/e2e/fixtures/inject.py', 'tunstack0', ...packets]);
    expect(inj.stdout.trim()).toBe('injected 6');
    // The stack is still alive and answering.
    const r = await ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.77.0.2'], { timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
  });

  it('shuts down cleanly on SIGTERM and reports its counters', async () => {
    const { code, lines } = await stack.stop();
    exitLines = lines;
    expect(code).toBe(0);
    const statsLine = exitLines.find((l) => l.startsWith('tunstack: stats '));
    expect(statsLine).toBeDefined();
    const stats = JSON.parse(statsLine!.slice('tunstack: stats '.length)) as {
      device: Record<string, number>;
      ip: Record<string, number> & { icmp: Record<string, number> };
    };
    // Too short for a header, and shorter than its own total length: both are truncated packets.
    expect(stats.ip.rxTruncated).toBe(2);
    expect(stats.ip.rxBadChecksum).toBe(1);
    expect(stats.ip.rxBadHeaderLength).toBe(1);
    expect(stats.ip.rxBadTotalLength).toBe(1);
    // Not IPv4 at all: the TUN device sorts these out before the IP layer (it also counts the IPv6
    // router solicitations the kernel sends on its own).
    expect(stats.device.rxNotIpv4).toBeGreaterThanOrEqual(1);
    // 5 + 3 + 2 echo requests answered (the kernel may add none of its own ICMP here).
    expect(stats.ip.icmp.outEchoReplies).toBe(10);
    // Busy polling is off unless asked for.
    expect(stats.device.busyPolls).toBe(0);
  });

  it('wrote a pcap that tshark reads: echo pairs with valid checksums', async () => {
    expect(existsSync(pcap)).toBe(true);
    const r = await ns.exec('tshark', [
      '-r', pcap, '-o', 'ip.check_checksum:TRUE', 
      // 0x77 is the id of the injected malformed packets: leave them out.
      '-Y', '(icmp.type == 0 || icmp.type == 8) && icmp.ident != 0x77',
      '-T', 'fields', '-e', 'icmp.type', '-e', 'icmp.seq', '-e', 'ip.checksum.status', '-e', 'icmp.checksum.status',
    ], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    const requests = rows.filter((c) => c[0] === '8');
    const replies = rows.filter((c) => c[0] === '0');
    expect(requests.length).toBe(10);
    expect(replies.length).toBe(10);
    // Every reply the stack sent has a good IP and ICMP checksum (1 = Good in tshark).
    for (const c of replies) {
      expect(c[2]).toBe('1');
      expect(c[3]).toBe('1');
    }
  });
});

describeTun('e2e: ping -f a stack that busy-polls (--busy-poll)', () => {
  let ns: Netns;
  let stack: ServeHandle;

  beforeAll(async () => {
    ns = await createNetns('tsk-ping-bp');
    stack = await startServe(ns, ['--busy-poll', '1000', '--echo-port', '0']);
  });

  afterAll(async () => {
    await ns?.destroy();
  });

  it('answers every request of a flood, and its next requests find it polling', async () => {
    const r = await ns.exec('ping', ['-q', '-n', '-f', '-c', '500', '-w', '20', '10.77.0.2'], { timeoutMs: 40_000 });
    expect(r.stdout).toMatch(/500 packets transmitted, 500 received, 0% packet loss/);
    const { code, lines } = await stack.stop();
    expect(code).toBe(0);
    const statsLine = lines.find((l) => l.startsWith('tunstack: stats '));
    const stats = JSON.parse(statsLine!.slice('tunstack: stats '.length)) as {
      device: { busyPolls: number; busyPollHits: number; rxAloneFirst: number; rxPackets: number };
      ip: { icmp: Record<string, number> };
    };
    expect(stats.ip.icmp.outEchoReplies).toBe(500);
    // ping -f sends its next request as soon as a reply arrives: within the 1 ms the stack waits
    // after a batch, so most waits end with a packet rather than back in epoll.
    expect(stats.device.busyPolls).toBeGreaterThan(0);
    expect(stats.device.busyPollHits).toBeGreaterThan(stats.device.busyPolls / 2);
    expect(stats.device.busyPollHits).toBeLessThanOrEqual(stats.device.busyPolls);
    // One request per round trip: after a wake-up that found one packet, the next wake-up's first
    // request is handed over and answered before the device is read again (native/tun.c,
    // read_wakeup). How many wake-ups find one packet depends on the scheduling (a clean-clone
    // run with other test files beside it saw 241 of 500), so no count is asserted: it must only
    // be there (without the mechanism it is 0).
    expect(stats.device.rxAloneFirst).toBeGreaterThan(0);
    expect(stats.device.rxAloneFirst).toBeLessThanOrEqual(stats.device.rxPackets);
  });
});
