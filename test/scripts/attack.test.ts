/**
 * scripts/attack/: the packets rawtcp.py crafts are ones the stack's own TCP parser accepts (checksum
 * included) with the intended fields, rawtcp.py reads the stack's segments right, and every attack
 * script refuses a bad flag with exit status 2 before it creates anything (no root or TUN needed).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTcp, serializeTcp, ACK, SYN, PSH, type TcpSegment } from '../../src/wire/tcp.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { WireError } from '../../src/util/errors.ts';

const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const CLIENT = '10.77.1.60';
const STACK = '10.77.0.2';

/** Run Python with scripts/attack on its path; returns stdout. */
function py(code: string, input?: string): string {
  const r = spawnSync(PY, ['-c', `import sys; sys.path.insert(0, "scripts/attack")\n${code}`], {
    encoding: 'utf8',
    input,
    timeout: 20_000,
  });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

/** A packet from rawtcp.tcp_packet (Python expression for its arguments), parsed by the stack. */
function crafted(args: string): { ip: Buffer; seg: TcpSegment } {
  const hex = py(`import rawtcp\nprint(rawtcp.tcp_packet(${args}).hex())`);
  const ip = Buffer.from(hex, 'hex');
  const seg = parseTcp(ip.subarray(20), parseIpv4Address(CLIENT), parseIpv4Address(STACK));
  if (seg instanceof WireError) throw seg;
  return { ip, seg };
}

const ADDRS = `rawtcp.ip_bytes("${CLIENT}"), rawtcp.ip_bytes("${STACK}")`;

describe('rawtcp.py packets', () => {
  it('a SYN with MSS, SACK-permitted and window scale parses with the intended fields', () => {
    const { ip, seg } = crafted(`${ADDRS}, 42000, 80, 123456789, 0, rawtcp.SYN, 65535, rawtcp.syn_options(1460, 7, True)`);
    expect(ip[0]).toBe(0x45);
    expect(ip[9]).toBe(6);
    expect(ip.readUInt16BE(2)).toBe(ip.length);
    expect(ip.length).toBe(20 + 20 + 12);
    expect([...ip.subarray(12, 16)]).toEqual([10, 77, 1, 60]);
    expect(seg.srcPort).toBe(42000);
    expect(seg.dstPort).toBe(80);
    expect(seg.seq).toBe(123456789);
    expect(seg.flags).toBe(SYN);
    expect(seg.window).toBe(65535);
    expect(seg.options.mss).toBe(1460);
    expect(seg.options.sackPermitted).toBe(true);
    expect(seg.options.windowScale).toBe(7);
  });

  it('an ACK with 4 one-byte SACK blocks (sequence numbers past 2^31) and a payload', () => {
    const { seg } = crafted(
      `${ADDRS}, 42000, 80, 4294967290, 3000000001, rawtcp.ACK | rawtcp.PSH, 16384, ` +
        `rawtcp.sack_option([(3000000003, 3000000004), (3000000005, 3000000006), (4294967295, 0), (7, 8)]), b"GET /"`,
    );
    expect(seg.seq).toBe(4294967290);
    expect(seg.ack).toBe(3000000001);
    expect(seg.flags).toBe(ACK | PSH);
    expect(seg.window).toBe(16384);
    expect(seg.options.sack).toEqual([
      [3000000003, 3000000004],
      [3000000005, 3000000006],
      [4294967295, 0],
      [7, 8],
    ]);
    expect(Buffer.from(seg.payload).toString()).toBe('GET /');
  });

  it('a corrupted byte fails the stack checksum (the test can tell a good packet from a bad one)', () => {
    const hex = py(`import rawtcp\nprint(rawtcp.tcp_packet(${ADDRS}, 1, 2, 3, 4, rawtcp.ACK, 5, b"", b"xy").hex())`);
    const ip = Buffer.from(hex, 'hex');
    ip.writeUInt8(ip.readUInt8(ip.length - 1) ^ 0x01, ip.length - 1);
    const seg = parseTcp(ip.subarray(20), parseIpv4Address(CLIENT), parseIpv4Address(STACK));
    expect(seg).toBeInstanceOf(WireError);
    expect((seg as WireError).code).toBe('ERR_TCP_CHECKSUM');
  });

  it('parse() and option_value() read a segment the stack serialized', () => {
    const payload = Buffer.from('hello');
    const tcp = new Uint8Array(20 + 12 + payload.length);
    const n = serializeTcp(
      { srcPort: 80, dstPort: 42000, seq: 0xfffffff0, ack: 77, flags: SYN | ACK, window: 29200, options: { mss: 1460, sackPermitted: true, windowScale: 9 }, payload },
      tcp,
      0,
      parseIpv4Address(STACK),
      parseIpv4Address(CLIENT),
    );
    const ip = Buffer.alloc(20 + n);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + n, 2);
    ip[9] = 6;
    Buffer.from([10, 77, 0, 2, 10, 77, 1, 60]).copy(ip, 12);
    Buffer.from(tcp.subarray(0, n)).copy(ip, 20);
    const out = py(
      `import rawtcp, sys, struct
s = rawtcp.parse(bytes.fromhex(sys.stdin.read().strip()))
w = rawtcp.option_value(s.options, 3)
m = rawtcp.option_value(s.options, 2)
print(s.src, s.dst, s.sport, s.dport, s.seq, s.ack, s.flags, s.window, s.length, struct.unpack("!H", m)[0], w[0])`,
      ip.toString('hex'),
    );
    expect(out).toBe(`10.77.0.2 10.77.1.60 80 42000 ${0xfffffff0} 77 ${SYN | ACK} 29200 5 1460 9`);
  });
});

describe('attack scripts refuse bad flags', () => {
  it.each([
    ['01-syn-flood.sh', ['--syns', 'many']],
    ['02-memory.sh', ['--inorder-port', '81']],
    ['03-sack.sh', ['--no-such-flag']],
    ['04-time-wait.sh', ['--concurrency', '0']],
    ['05-burst.sh', ['--clients', '30000']],
    ['run-all.sh', ['07']],
  ])('%s %j exits 2', (script, args) => {
    const r = spawnSync('bash', [`scripts/attack/${script}`, ...args], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/must be|unknown argument|no attack/);
  });
});
