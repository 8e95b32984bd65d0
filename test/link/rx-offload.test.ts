/**
 * The receive offload contract (link/device.ts RxOffload) end to end on whole Stacks: a link whose
 * receiving end behaves like the TUN device with TUN_F_CSUM | TUN_F_TSO4, i.e. super-segments arrive
 * whole (RX_GSO_TCPV4) and every TCP checksum is left partial (RX_CSUM_PARTIAL), exactly as the
 * sending stack wrote them for TSO. TCP must take them as what they are, the pcap must show them with
 * valid checksums, and the fault device must cut them into wire packets before impairing them.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Stack } from '../../src/stack.ts';
import { FaultDevice } from '../../src/link/fault-device.ts';
import { PcapDevice } from '../../src/link/pcap-device.ts';
import { TapDevice } from '../../src/link/tap-device.ts';
import { PacketTracer } from '../../src/trace/tracer.ts';
import { PcapWriter, readPcap } from '../../src/trace/pcap-writer.ts';
import {
  RX_CSUM_PARTIAL,
  RX_GSO_TCPV4,
  emptyDeviceStats,
  type DeviceStats,
  type NetDevice,
  type PacketHandler,
  type RxOffload,
} from '../../src/link/device.ts';
import { SystemClock } from '../../src/util/clock.ts';
import { WireError } from '../../src/util/errors.ts';
import { pseudoHeaderSum } from '../../src/wire/checksum.ts';
import { ipv4Dst, ipv4HeaderLength, ipv4Protocol, ipv4Src, serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { parseTcp } from '../../src/wire/tcp.ts';
import { seqGe } from '../../src/wire/seq.ts';
import { ok } from '../wire/helpers.ts';
import { pattern } from '../helpers/pattern.ts';

interface Received {
  length: number;
  flags: number;
  /** For TCP: the sequence number just past the data. */
  end: number;
  /** The ACK numbers this end sent while the stack processed the batch that held this packet. */
  acksDuringBatch: number[];
}

/**
 * One end of the offloading link. send(): a super-segment goes to the peer whole (RX_GSO_TCPV4 with
 * its segment size); any other TCP segment gets its checksum replaced by the pseudo-header sum, as
 * the kernel leaves it (RX_CSUM_PARTIAL). Batches are delivered from setImmediate.
 */
class OffloadEnd implements NetDevice {
  readonly mtu = 1500;
  readonly tsoMaxSize = 65535;
  peer!: OffloadEnd;
  private receiver: PacketHandler | undefined;
  private readonly outgoing: { packet: Uint8Array; flags: number; size: number }[] = [];
  private scheduled = false;
  readonly received: Received[] = [];
  private duringBatch: number[] | undefined;
  private closed = false;

  constructor(readonly name: string) {}

  setReceiver(rx: PacketHandler): void {
    this.receiver = rx;
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    if (this.closed) return;
    let flags = 0;
    let size = 0;
    if (ipv4Protocol(packet) === 6) {
      const ihl = ipv4HeaderLength(packet);
      if (this.duringBatch !== undefined) this.duringBatch.push(((packet[ihl + 8]! << 24) | (packet[ihl + 9]! << 16) | (packet[ihl + 10]! << 8) | packet[ihl + 11]!) >>> 0);
      flags = RX_CSUM_PARTIAL;
      if (segmentSize !== undefined && segmentSize > 0) {
        flags |= RX_GSO_TCPV4;
        size = segmentSize;
      } else {
        const sum = pseudoHeaderSum(ipv4Src(packet), ipv4Dst(packet), 6, packet.length - ihl);
        packet[ihl + 16] = sum >>> 8;
        packet[ihl + 17] = sum & 0xff;
      }
    }
    this.outgoing.push({ packet, flags, size });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.outgoing.splice(0);
      this.peer.deliver(batch);
    });
  }

  private deliver(batch: { packet: Uint8Array; flags: number; size: number }[]): void {
    if (this.closed || this.receiver === undefined) return;
    const offload: RxOffload = { flags: Uint8Array.from(batch, (b) => b.flags), segmentSize: Uint16Array.from(batch, (b) => b.size) };
    const acks: number[] = [];
    for (const b of batch) {
      const p = b.packet;
      const ihl = ipv4HeaderLength(p);
      const thl = (p[ihl + 12]! >> 4) * 4;
      const seq = ((p[ihl + 4]! << 24) | (p[ihl + 5]! << 16) | (p[ihl + 6]! << 8) | p[ihl + 7]!) >>> 0;
      this.received.push({ length: p.length, flags: b.flags, end: (seq + p.length - ihl - thl) >>> 0, acksDuringBatch: acks });
    }
    this.duringBatch = acks;
    try {
      this.receiver(batch.map((b) => b.packet), offload);
    } finally {
      this.duringBatch = undefined;
    }
  }

  stats(): DeviceStats {
    return emptyDeviceStats();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function offloadLink(): [OffloadEnd, OffloadEnd] {
  const a = new OffloadEnd('off0');
  const b = new OffloadEnd('off1');
  a.peer = b;
  b.peer = a;
  return [a, b];
}


/**
 * Stack `server` (10.0.0.1, a sink on port 9 that hashes what it receives) over `serverDevice`;
 * stack `client` (10.0.0.2) on the other end uploads `size` bytes and closes.
 */
async function upload(serverDevice: NetDevice, clientDevice: NetDevice, size: number): Promise<{ server: Stack; client: Stack; sha: string; bytes: number }> {
  const clock = new SystemClock();
  const server = new Stack({ device: serverDevice, address: '10.0.0.1', clock });
  const client = new Stack({ device: clientDevice, address: '10.0.0.2', clock });
  const received = new Promise<{ sha: string; bytes: number }>((resolve, reject) => {
    const sink = server.tcp.createServer((socket) => {
      const h = createHash('sha256');
      let bytes = 0;
      socket.on('data', (c: Buffer) => {
        h.update(c);
        bytes += c.length;
      });
      socket.on('end', () => {
        socket.end();
        sink.close();
        resolve({ sha: h.digest('hex'), bytes });
      });
      socket.on('error', reject);
    });
    sink.listen(9);
  });
  const sock = client.tcp.connect({ host: '10.0.0.1', port: 9 }, () => sock.end(pattern(size)));
  sock.on('error', () => {});
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('upload did not finish in 20 s')), 20_000));
  const r = await Promise.race([received, timeout]);
  return { server, client, ...r };
}

const SHA = (n: number): string => createHash('sha256').update(pattern(n)).digest('hex');

describe('receive offload through whole stacks', () => {
  it('TCP takes super-segments and partial checksums as they come: byte-exact, ACKed at once, nothing counted bad', async () => {
    const [s, c] = offloadLink();
    const size = 2 * 1024 * 1024 + 777;
    const { server, client, sha, bytes } = await upload(s, c, size);
    expect(bytes).toBe(size);
    expect(sha).toBe(SHA(size));
    const ip = server.ip.stats();
    const supers = s.received.filter((r) => r.flags & RX_GSO_TCPV4);
    expect(supers.length).toBeGreaterThan(10);
    expect(ip.rxSuperSegments).toBe(supers.length);
    expect(server.stats().tcp.badSegments).toBe(0);
    // RFC 5681 §4.2 (an ACK for at least every second full-sized segment): a super-segment carries
    // at least two MSS, so it is acknowledged in the very batch that brought it.
    for (const r of supers) {
      if (r.length - 52 < 2 * 1448) continue;
      expect(r.acksDuringBatch.some((a) => seqGe(a, r.end)), `super-segment ending at ${r.end}: ACKs ${r.acksDuringBatch.join(',')}`).toBe(true);
    }
    await server.close();
    await client.close();
  });

  it('without the flags the same packets fail the checksum: the flag is what lets them in', () => {
    const [s] = offloadLink();
    const server = new Stack({ device: s, address: '10.0.0.1', clock: new SystemClock() });
    const src = parseIpv4Address('10.0.0.2');
    const dst = parseIpv4Address('10.0.0.1');
    const syn = new Uint8Array(40);
    serializeIpv4Header({ totalLength: 40, identification: 1, ttl: 64, protocol: 6, src, dst }, syn, 0);
    syn.set([0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff], 20);
    const sum = pseudoHeaderSum(src, dst, 6, 20); // partial
    syn[36] = sum >>> 8;
    syn[37] = sum & 0xff;
    server.tcp.createServer(() => {}).listen(80);
    (s as unknown as { deliver(b: unknown[]): void }).deliver([{ packet: syn.slice(), flags: 0, size: 0 }]);
    expect(server.stats().tcp).toMatchObject({ badSegments: 1 });
    (s as unknown as { deliver(b: unknown[]): void }).deliver([{ packet: syn.slice(), flags: RX_CSUM_PARTIAL, size: 0 }]);
    expect(server.stats().tcp).toMatchObject({ badSegments: 1 });
    expect(server.connections().map((r) => r.state)).toEqual(['SYN-RECEIVED']);
    void server.close();
  });

  it('UDP with a partial checksum and the flag gets port unreachable; without it, it is a bad checksum', () => {
    const [s] = offloadLink();
    const server = new Stack({ device: s, address: '10.0.0.1', clock: new SystemClock() });
    const src = parseIpv4Address('10.0.0.2');
    const dst = parseIpv4Address('10.0.0.1');
    const udp = new Uint8Array(32);
    serializeIpv4Header({ totalLength: 32, identification: 1, ttl: 64, protocol: 17, src, dst }, udp, 0);
    udp.set([0x13, 0x88, 0x00, 0x09, 0x00, 12, 0, 0, 1, 2, 3, 4], 20);
    const sum = pseudoHeaderSum(src, dst, 17, 12);
    udp[26] = sum >>> 8;
    udp[27] = sum & 0xff;
    const deliver = (flags: number): void => (s as unknown as { deliver(b: unknown[]): void }).deliver([{ packet: udp.slice(), flags, size: 0 }]);
    deliver(RX_CSUM_PARTIAL);
    expect(server.icmp.stats()).toMatchObject({ udpNoPort: 1, udpBadChecksum: 0, outErrors: 1 });
    deliver(0);
    expect(server.icmp.stats()).toMatchObject({ udpNoPort: 1, udpBadChecksum: 1 });
    void server.close();
  });

  it('a pcap under the stack records the super-segments whole, every checksum completed', async () => {
    const [s, c] = offloadLink();
    const chunks: Uint8Array[] = [];
    const writer = new PcapWriter({ write: (b) => chunks.push(b.slice()), close: () => {} }, { now: () => 0 });
    const size = 512 * 1024;
    const { server, client, sha } = await upload(new PcapDevice(s, writer, { ownsWriter: false }), c, size);
    expect(sha).toBe(SHA(size));
    writer.flush();
    const records = ok(readPcap(Buffer.concat(chunks))).packets.map((p) => p.data);
    const inbound = records.filter((p) => ipv4Src(p) === parseIpv4Address('10.0.0.2'));
    expect(inbound.length).toBe(s.received.length);
    expect(inbound.some((p) => p.length > 1500)).toBe(true);
    for (const p of records) {
      const ihl = ipv4HeaderLength(p);
      const seg = parseTcp(p.subarray(ihl), ipv4Src(p), ipv4Dst(p)); // verifies the checksum
      expect(seg).not.toBeInstanceOf(WireError);
    }
    await server.close();
    await client.close();
  });

  it('the trace shows an inbound super-segment as one line, with its whole length', async () => {
    const [s, c] = offloadLink();
    const lines: string[] = [];
    const tracer = new PacketTracer({ write: (l) => lines.push(l) });
    const size = 256 * 1024;
    const { server, client, sha } = await upload(new TapDevice(s, tracer.observer, new SystemClock()), c, size);
    expect(sha).toBe(SHA(size));
    // "  0.014199 <- IP 10.0.0.2.49969 > 10.0.0.1.9: Flags [.], seq 1:14481, ..., length 14480"
    const inbound = lines.filter((l) => / <- IP 10\.0\.0\.2\./.test(l)).map((l) => Number(/length (\d+)$/.exec(l)?.[1] ?? -1));
    const supers = s.received.filter((r) => r.flags & RX_GSO_TCPV4).map((r) => r.length - 20 - 32);
    expect(supers.length).toBeGreaterThan(0);
    for (const len of supers) expect(inbound).toContain(len);
    expect(Math.max(...inbound)).toBeGreaterThan(1448);
    await server.close();
    await client.close();
  });

  it('a fault device cuts inbound super-segments into wire packets before impairing them; the data still arrives exact', async () => {
    const [s, c] = offloadLink();
    const faulty = new FaultDevice(s, { loss: 0.02, corrupt: 0.01, dir: 'in', seed: 11 }, new SystemClock());
    const size = 1024 * 1024;
    const { server, client, sha } = await upload(faulty, c, size);
    expect(sha).toBe(SHA(size));
    const f = faulty.faultStats().in;
    const supers = s.received.filter((r) => r.flags & RX_GSO_TCPV4).length;
    expect(supers).toBeGreaterThan(0);
    // Every piece faced the faults on its own: more packets than the link carried.
    expect(f.packets).toBeGreaterThan(s.received.length);
    expect(f.lost + f.corrupted).toBeGreaterThan(0);
    expect(server.ip.stats().rxSuperSegments).toBe(0); // the stack saw only wire packets
    const tcp = server.stats().tcp;
    expect(tcp.badSegments).toBeGreaterThan(0); // corrupted pieces, caught by the now complete checksums
    await server.close();
    await client.close();
  });
});
