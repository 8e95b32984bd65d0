import { describe, expect, it } from 'vitest';
import { segmentTcpV4, superSegmentChecksum } from '../../src/link/gso.ts';
import { PcapDevice } from '../../src/link/pcap-device.ts';
import type { NetDevice } from '../../src/link/device.ts';
import { emptyDeviceStats } from '../../src/link/device.ts';
import { PcapWriter } from '../../src/trace/pcap-writer.ts';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { FaultDevice } from '../../src/link/fault-device.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { WireError } from '../../src/util/errors.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { checkIpv4, parseIpv4, serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { ACK, CWR, FIN, PSH, parseTcp, serializeTcp, tcpHeaderLength, type TcpSegmentInit } from '../../src/wire/tcp.ts';
import { ok } from '../wire/helpers.ts';

const SRC = parseIpv4Address('10.77.0.2');
const DST = parseIpv4Address('10.77.0.1');

/** A TCP/IPv4 datagram as the stack builds it; `offload`: checksum left partial (a super-segment). */
function datagram(payloadLength: number, flags: number, offload: boolean): { packet: Uint8Array; payload: Uint8Array } {
  const payload = Uint8Array.from({ length: payloadLength }, (_, i) => (i * 31 + 7) & 0xff);
  const seg: TcpSegmentInit = {
    srcPort: 80,
    dstPort: 40000,
    seq: 0xffff_f000, // wraps inside the super-segment
    ack: 12345,
    flags,
    window: 501,
    options: { timestamp: { value: 1000, echo: 2000 } },
    payload,
  };
  const packet = new Uint8Array(20 + tcpHeaderLength(seg) + payloadLength);
  serializeTcp(seg, packet, 20, SRC, DST, offload);
  serializeIpv4Header({ totalLength: packet.length, identification: 0xfffe, dontFragment: true, ttl: 64, protocol: 6, src: SRC, dst: DST }, packet, 0);
  return { packet, payload };
}

describe('segmentTcpV4 (software TSO, as the kernel cuts a super-segment)', () => {
  it('cuts at every MSS: headers copied, seq/ID advanced, FIN+PSH on the last piece, CWR on the first, checksums valid', () => {
    const { packet, payload } = datagram(3000, ACK | PSH | FIN | CWR, true);
    const pieces = segmentTcpV4(packet, 1448);
    expect(pieces.map((p) => p.length)).toEqual([20 + 32 + 1448, 20 + 32 + 1448, 20 + 32 + 104]);
    const got: number[] = [];
    pieces.forEach((p, i) => {
      expect(checkIpv4(p)).toBeUndefined(); // header checksum and lengths
      const ip = ok(parseIpv4(p));
      expect(ip.identification).toBe((0xfffe + i) & 0xffff);
      expect(ip.totalLength).toBe(p.length);
      expect(ip.dontFragment).toBe(true);
      const tcp = parseTcp(ip.payload, SRC, DST); // verifies the checksum
      if (tcp instanceof WireError) throw tcp;
      expect(tcp.seq).toBe((0xffff_f000 + i * 1448) >>> 0);
      expect(tcp.ack).toBe(12345);
      expect(tcp.options.timestamp).toEqual({ value: 1000, echo: 2000 });
      got.push(...tcp.payload);
    });
    const flags = pieces.map((p) => (parseTcp(ok(parseIpv4(p)).payload, SRC, DST) as { flags: number }).flags);
    expect(flags).toEqual([ACK | CWR, ACK, ACK | PSH | FIN]);
    expect(Uint8Array.from(got)).toEqual(payload);
  });

  it('an exact multiple of the MSS gives full pieces only', () => {
    const { packet } = datagram(4 * 1000, ACK, true);
    expect(segmentTcpV4(packet, 1000).map((p) => p.length - 52)).toEqual([1000, 1000, 1000, 1000]);
  });

  it('a piece is byte-identical to the segment the stack would have built itself', () => {
    const whole = datagram(1448 * 2, ACK, true).packet;
    const first = segmentTcpV4(whole, 1448)[0]!;
    const direct = datagram(1448, ACK, false).packet;
    direct[4] = 0xff; // same identification and total length
    direct[5] = 0xfe;
    serializeIpv4Header({ totalLength: direct.length, identification: 0xfffe, dontFragment: true, ttl: 64, protocol: 6, src: SRC, dst: DST }, direct, 0);
    // The payload generator restarts at 0, so compare with the first piece only.
    expect(Buffer.from(first).equals(Buffer.from(direct))).toBe(true);
  });

  it('refuses what is not TCP/IPv4 with whole headers', () => {
    const { packet } = datagram(3000, ACK, true);
    const udp = packet.slice();
    udp[9] = 17;
    expect(segmentTcpV4(udp, 1448)).toEqual([]);
    expect(segmentTcpV4(packet.subarray(0, 30), 1448)).toEqual([]);
    expect(segmentTcpV4(packet, 0)).toEqual([]);
    const v6 = packet.slice();
    v6[0] = 0x60;
    expect(segmentTcpV4(v6, 1448)).toEqual([]);
  });

  it('superSegmentChecksum: the checksum the fully checksummed datagram carries', () => {
    const partial = datagram(5000, ACK | PSH, true).packet;
    const full = datagram(5000, ACK | PSH, false).packet;
    expect(parseTcp(ok(parseIpv4(partial)).payload, SRC, DST)).toBeInstanceOf(WireError);
    expect(superSegmentChecksum(partial)).toBe((full[36]! << 8) | full[37]!);
  });
});

/** A device offering TSO that records what it is handed (a copy, and the segment size). */
function fakeTsoDevice(): { inner: NetDevice; handed: { packet: Uint8Array; size: number | undefined }[] } {
  const handed: { packet: Uint8Array; size: number | undefined }[] = [];
  const inner: NetDevice = {
    name: 'fake0',
    mtu: 1500,
    tsoMaxSize: 65535,
    setReceiver: () => {},
    send: (packet, size) => handed.push({ packet: packet.slice(), size }),
    stats: emptyDeviceStats,
    close: () => Promise.resolve(),
  };
  return { inner, handed };
}

describe('devices with segmentation offload', () => {
  it('a pcap device records a super-segment with its checksum completed and hands it on unchanged', () => {
    const { inner, handed } = fakeTsoDevice();
    const chunks: Uint8Array[] = [];
    const writer = new PcapWriter({ write: (c) => chunks.push(c.slice()), close: () => {} }, { now: () => 0 });
    const dev = new PcapDevice(inner, writer);
    expect(dev.tsoMaxSize).toBe(65535);
    const partial = datagram(5000, ACK | PSH, true).packet;
    const before = partial.slice();
    dev.send(partial, 1448);
    writer.flush();
    const file = Buffer.concat(chunks);
    const record = file.subarray(24 + 16); // global header, record header
    expect(record.equals(Buffer.from(datagram(5000, ACK | PSH, false).packet))).toBe(true);
    expect(handed).toEqual([{ packet: before, size: 1448 }]);
  });

  it('a memory link with tso offers 65535 and delivers the cut pieces; without tso it offers none', () => {
    const clock = new ManualClock();
    const [a, b] = createMemoryLink(clock, { tso: true });
    expect(a.tsoMaxSize).toBe(65535);
    const got: Uint8Array[] = [];
    b.setReceiver((ps) => got.push(...ps));
    a.send(datagram(5000, ACK, true).packet, 1448);
    clock.advance(2);
    expect(got.map((p) => p.length)).toEqual([1500, 1500, 1500, 20 + 32 + 656]);
    expect(a.stats().txPackets).toBe(4);
    const [c] = createMemoryLink(clock);
    expect(c.tsoMaxSize).toBe(0);
  });

  it('a fault device with no fault on the way out hands a super-segment down whole', () => {
    const clock = new ManualClock();
    const { inner, handed } = fakeTsoDevice();
    const faulty = new FaultDevice(inner, { loss: 0.5, dir: 'in', seed: 3 }, clock);
    const packet = datagram(1448 * 10, ACK, true).packet;
    faulty.send(packet, 1448);
    expect(handed).toEqual([{ packet, size: 1448 }]);
    expect(faulty.faultStats().out).toMatchObject({ packets: 1, delivered: 1, lost: 0 });
  });

  it('a fault device offers what its inner device offers and impairs each wire piece on its own', () => {
    const clock = new ManualClock();
    const [a, b] = createMemoryLink(clock, { tso: true });
    const faulty = new FaultDevice(a, { loss: 0.5, seed: 3 }, clock);
    expect(faulty.tsoMaxSize).toBe(65535);
    const got: Uint8Array[] = [];
    b.setReceiver((ps) => got.push(...ps));
    for (let i = 0; i < 10; i++) faulty.send(datagram(1448 * 10, ACK, true).packet, 1448);
    clock.advance(10);
    const lost = faulty.faultStats().out.lost;
    expect(lost).toBeGreaterThan(20);
    expect(lost).toBeLessThan(80);
    expect(got.length).toBe(100 - lost);
    expect(got.every((p) => p.length === 1500)).toBe(true);
  });
});
