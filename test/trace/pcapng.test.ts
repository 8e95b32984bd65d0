/**
 * pcapng input for the ladder (src/trace/pcapng.ts): Section Header, Interface Description and
 * Enhanced Packet blocks in both byte orders, time-stamp resolutions, several sections and link
 * types; and typed errors, never a crash or a hang, for garbage. Then the ladder's --list / --flow /
 * --time over such captures, through the library and the CLI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPcapng, readPcapng } from '../../src/trace/pcapng.ts';
import { formatFlowList, ipPacketsFromCapture, renderLadder, selectFlow, summarizeFlows } from '../../src/trace/ladder.ts';
import { WireError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/random.ts';
import { ACK, FIN, PSH, SYN, tcpPacket } from './segments.ts';
import { ok } from '../wire/helpers.ts';

/** One block: type, total length, body (padded to 32 bits), total length again (§3.1). */
function block(le: boolean, type: number, body: Uint8Array): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const len = 12 + padded;
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint32(0, type, le);
  v.setUint32(4, len, le);
  b.set(body, 8);
  v.setUint32(len - 4, len, le);
  return b;
}

function shb(le: boolean): Uint8Array {
  const body = new Uint8Array(16);
  const v = new DataView(body.buffer);
  v.setUint32(0, 0x1a2b3c4d, le);
  v.setUint16(4, 1, le);
  v.setUint16(6, 0, le);
  v.setBigInt64(8, -1n, le); // section length unknown
  return block(le, 0x0a0d0d0a, body);
}

function idb(le: boolean, linkType: number, tsresol?: number): Uint8Array {
  const opts = tsresol === undefined ? [] : [9, 0, 1, 0, tsresol, 0, 0, 0, 0, 0, 0, 0]; // if_tsresol, opt_endofopt
  const body = new Uint8Array(8 + opts.length);
  const v = new DataView(body.buffer);
  v.setUint16(0, linkType, le);
  v.setUint32(4, 65535, le);
  if (tsresol !== undefined) {
    v.setUint16(8, 9, le);
    v.setUint16(10, 1, le);
    body[12] = tsresol;
  }
  return block(le, 1, body);
}

function epb(le: boolean, iface: number, ts: bigint, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(20 + ((data.length + 3) & ~3));
  const v = new DataView(body.buffer);
  v.setUint32(0, iface, le);
  v.setUint32(4, Number(ts >> 32n), le);
  v.setUint32(8, Number(ts & 0xffffffffn), le);
  v.setUint32(12, data.length, le);
  v.setUint32(16, data.length, le);
  body.set(data, 20);
  return block(le, 6, body);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const C = { src: '10.77.0.1', sport: 40000, dst: '10.77.0.2', dport: 80 };
const S = { src: '10.77.0.2', sport: 80, dst: '10.77.0.1', dport: 40000 };
const C2 = { ...C, sport: 40001 };
const S2 = { ...S, dport: 40001 };

/** Two connections, interleaved: 40000 does a whole exchange, 40001 only its handshake. */
function twoFlows(): Uint8Array[] {
  return [
    tcpPacket({ ...C, seq: 100, flags: SYN }),
    tcpPacket({ ...S, seq: 500, ack: 101, flags: SYN | ACK }),
    tcpPacket({ ...C2, seq: 7, flags: SYN }),
    tcpPacket({ ...C, seq: 101, ack: 501, flags: ACK }),
    tcpPacket({ ...C, seq: 101, ack: 501, flags: PSH | ACK, payload: 'GET / HTTP/1.1\r\n\r\n' }),
    tcpPacket({ ...S2, seq: 9, ack: 8, flags: SYN | ACK }),
    tcpPacket({ ...S, seq: 501, ack: 119, flags: PSH | ACK | FIN, payload: 'HTTP/1.1 200 OK\r\n\r\n' }),
  ];
}

describe('readPcapng', () => {
  it.each([true, false])('reads SHB, IDB and EPB blocks (little-endian: %s) with µs time stamps by default', (le) => {
    const pk = twoFlows();
    const file = concat(shb(le), idb(le, 101), ...pk.map((p, i) => epb(le, 0, 1_700_000_000_000_000n + BigInt(i) * 1500n, p)));
    expect(isPcapng(file)).toBe(true);
    const r = ok(readPcapng(file));
    expect(r.littleEndian).toBe(le);
    expect(r.interfaces).toEqual([{ linkType: 101, snaplen: 65535, unitsPerSecond: 1e6, offsetSeconds: 0 }]);
    expect(r.packets).toHaveLength(7);
    expect(r.packets.map((p) => Buffer.from(p.data).equals(Buffer.from(pk[r.packets.indexOf(p)]!)))).toEqual(Array(7).fill(true));
    expect(r.packets[0]!.tsMs).toBe(1_700_000_000_000);
    expect(r.packets[2]!.tsMs).toBe(1_700_000_000_003);
    // The same ladder as from a classic pcap of the same packets.
    expect(renderLadder(ipPacketsFromCapture(file), { time: true }).split('\n')[2]).toBe(
      '  0.001500        |<--- SYN,ACK seq=0 ack=1 win=65535 ---------|',
    );
  });

  it('applies if_tsresol (10^-9 and 2^-10), and numbers interfaces per section', () => {
    const le = true;
    const [a, b] = twoFlows();
    const file = concat(
      shb(le),
      idb(le, 101, 9), // ns
      idb(le, 1, 0x80 | 10), // 1/1024 s, Ethernet
      epb(le, 0, 2_000_000_000n, a!),
      epb(le, 1, 1024n * 3n, concat(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00]), b!)),
      // A new section in the other byte order: its interface 0 is raw IP again, in µs.
      shb(false),
      idb(false, 228),
      epb(false, 0, 5_000_000n, a!),
    );
    const r = ok(readPcapng(file));
    expect(r.interfaces.map((i) => [i.linkType, i.unitsPerSecond])).toEqual([
      [101, 1e9],
      [1, 1024],
      [228, 1e6],
    ]);
    expect(r.packets.map((p) => [p.interfaceId, p.linkType, p.tsMs])).toEqual([
      [0, 101, 2000],
      [1, 1, 3000],
      [0, 228, 5000],
    ]);
    // The Ethernet header is stripped by its own interface's link type.
    const ip = ipPacketsFromCapture(file);
    expect(ip.map((p) => p.data.length)).toEqual([a!.length, b!.length, a!.length]);
  });

  it('skips blocks it does not use (name resolution, statistics, custom)', () => {
    const [a] = twoFlows();
    const file = concat(shb(true), block(true, 4, new Uint8Array(4)), idb(true, 101), block(true, 5, new Uint8Array(12)), epb(true, 0, 0n, a!));
    expect(ok(readPcapng(file)).packets).toHaveLength(1);
  });

  it.each([
    ['no section header', () => concat(idb(true, 101)), 'ERR_PCAPNG_BAD_MAGIC'],
    ['a truncated block', () => concat(shb(true), idb(true, 101)).subarray(0, 40), 'ERR_PCAPNG_TRUNCATED'],
    ['a length that is not a multiple of 4', () => lengthPatched(13), 'ERR_PCAPNG_BAD_BLOCK'],
    ['a length under 12', () => lengthPatched(8), 'ERR_PCAPNG_BAD_BLOCK'],
    ['a length past the end', () => lengthPatched(4096), 'ERR_PCAPNG_TRUNCATED'],
    ['trailing length differs', () => trailerPatched(), 'ERR_PCAPNG_BAD_BLOCK'],
    ['a packet for an interface not described', () => concat(shb(true), epb(true, 0, 0n, new Uint8Array(20))), 'ERR_PCAPNG_NO_INTERFACE'],
    ['a captured length beyond its block', () => caplenPatched(), 'ERR_PCAPNG_TRUNCATED'],
    ['no byte-order magic', () => concat(block(true, 0x0a0d0d0a, new Uint8Array(16))), 'ERR_PCAPNG_BAD_MAGIC'],
    ['version 2', () => versionPatched(), 'ERR_PCAPNG_VERSION'],
  ])('%s is a WireError %s, returned', (_name, make, code) => {
    const err = readPcapng(make());
    expect(err).toBeInstanceOf(WireError);
    expect((err as WireError).code).toBe(code);
  });

  it('random garbage after a section header is a value or a WireError, never an exception', () => {
    const rng = new Rng(15);
    const good = concat(shb(true), idb(true, 101), ...twoFlows().map((p) => epb(true, 0, 0n, p)));
    for (let i = 0; i < 2000; i++) {
      const b = good.slice(0, 28 + Math.floor(rng.next() * (good.length - 28)));
      for (let k = 0; k < 4; k++) b[28 + Math.floor(rng.next() * (b.length - 28))] = Math.floor(rng.next() * 256);
      const r = readPcapng(b);
      if (!(r instanceof WireError)) expect(Array.isArray(r.packets)).toBe(true);
    }
  });
});

function lengthPatched(len: number): Uint8Array {
  const f = concat(shb(true), idb(true, 101));
  new DataView(f.buffer).setUint32(28 + 4, len, true);
  return f;
}
function trailerPatched(): Uint8Array {
  const f = concat(shb(true), idb(true, 101));
  new DataView(f.buffer).setUint32(f.length - 4, 16, true);
  return f;
}
function caplenPatched(): Uint8Array {
  const f = concat(shb(true), idb(true, 101), epb(true, 0, 0n, new Uint8Array(20)));
  new DataView(f.buffer).setUint32(28 + 20 + 8 + 12, 999, true);
  return f;
}
function versionPatched(): Uint8Array {
  const f = shb(true);
  new DataView(f.buffer).setUint16(12, 2, true);
  return f;
}

describe('--list and --flow', () => {
  const packets = twoFlows().map((data, i) => ({ data, tsMs: 1000 + i * 10 }));

  it('lists each connection with its opener, segments, bytes each way and times', () => {
    const flows = summarizeFlows(packets);
    expect(flows.map((f) => [f.index, f.flow.srcPort, f.segments, f.bytesLtr, f.bytesRtl, f.firstMs, f.lastMs, f.syn, f.closed])).toEqual([
      [1, 40000, 5, 18, 19, 0, 60, true, true],
      [2, 40001, 2, 0, 0, 20, 50, true, false],
    ]);
    expect(formatFlowList(flows).split('\n')).toEqual([
      '#  opened by        to            segments  bytes ->  bytes <-   start s  duration s  seen',
      '1  10.77.0.1:40000  10.77.0.2:80         5        18        19  0.000000    0.060000  handshake, closed',
      '2  10.77.0.1:40001  10.77.0.2:80         2         0         0  0.020000    0.030000  handshake',
    ]);
  });

  it('selects by number, by both endpoints in either order, or by one endpoint', () => {
    const flows = summarizeFlows(packets);
    expect(selectFlow(flows, '2').srcPort).toBe(40001);
    expect(selectFlow(flows, '10.77.0.2:80-10.77.0.1:40000').srcPort).toBe(40000);
    expect(selectFlow(flows, '10.77.0.1:40001').srcPort).toBe(40001);
    expect(() => selectFlow(flows, '3')).toThrow(/no flow #3: the capture has 2 \(#1 10\.77\.0\.1:40000-10\.77\.0\.2:80, #2/);
    expect(() => selectFlow(flows, '10.77.0.2:80')).toThrow(/is in 2 flows \(#1, #2\): give N or both endpoints/);
    expect(() => selectFlow(flows, '10.77.0.9:1')).toThrow(/no flow matches/);
    expect(() => selectFlow(flows, 'x:y')).toThrow(/--flow takes N, ADDR:PORT-ADDR:PORT or ADDR:PORT/);
  });

  it('the CLI: --list, --flow N --time on a pcapng, --help, and garbage exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsk-lv-'));
    const file = join(dir, 'two.pcapng');
    writeFileSync(file, concat(shb(false), idb(false, 101), ...twoFlows().map((p, i) => epb(false, 0, BigInt(i) * 10_000n, p))));
    const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'ladder', ...args], { encoding: 'utf8', timeout: 30_000 });
    const list = run(file, '--list');
    expect(list.status).toBe(0);
    expect(list.stdout.split('\n')[2]).toBe('2  10.77.0.1:40001  10.77.0.2:80         2         0         0  0.020000    0.030000  handshake');
    const two = run(file, '--flow', '2', '--time', '--width', '40');
    expect(two.status).toBe(0);
    expect(two.stdout.split('\n')).toEqual([
      '           10.77.0.1:40001                           10.77.0.2:80',
      '  0.000000        |---- SYN seq=0 win=65535 -------------->|',
      '  0.030000        |<--- SYN,ACK seq=0 ack=1 win=65535 -----|',
      '',
    ]);
    const first = run(file);
    expect(first.stderr).toContain('holds 2 TCP connections; drawing #1');
    expect(first.stdout).toContain('GET / HTTP/1.1');
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--flow F');
    writeFileSync(join(dir, 'bad.pcapng'), concat(shb(true), idb(true, 101)).subarray(0, 40));
    const bad = run(join(dir, 'bad.pcapng'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/bad\.pcapng: pcapng: block at offset 28 claims 20 bytes, only 12 left/);
    // The committed fixture: Wireshark's editcap made it from curl-loopback.pcap; same ladder.
    const ng = run('test/trace/fixtures/curl-loopback.pcapng', '--time');
    const classic = run('test/trace/fixtures/curl-loopback.pcap', '--time');
    expect(ng.stdout).toBe(classic.stdout);
    expect(readFileSync('test/trace/fixtures/curl-loopback.pcapng').subarray(0, 4)).toEqual(Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]));
  });
});
