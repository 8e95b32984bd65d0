import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  VNET_ERR_CSUM,
  VNET_ERR_FLAGS,
  VNET_ERR_GSO_PACKET,
  VNET_ERR_GSO_TYPE,
  acceptRxOffload,
  parseVirtioNetHdr,
  vnetGsoSize,
  writeVirtioNetHdr,
  type VirtioNetHdr,
} from '../../src/link/virtio-net.ts';
import { RX_CSUM_PARTIAL, RX_CSUM_VALID, RX_GSO_TCPV4, type RxOffload } from '../../src/link/device.ts';
import { TunDevice, type NativeTun } from '../../src/link/tun-device.ts';
import { toWirePackets } from '../../src/link/gso.ts';
import { WireError } from '../../src/util/errors.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { checkIpv4, parseIpv4, serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { checkIcmp } from '../../src/wire/icmpv4.ts';
import { ACK, FIN, PSH, parseTcp, serializeTcp, tcpHeaderLength, type TcpSegmentInit } from '../../src/wire/tcp.ts';
import { finishChecksum, onesSum, pseudoHeaderSum } from '../../src/wire/checksum.ts';
import { ok } from '../wire/helpers.ts';

const CLIENT = parseIpv4Address('10.77.0.1');
const STACK = parseIpv4Address('10.77.0.2');

/** The kernel's upload to us: 10.77.0.1:40000 -> 10.77.0.2:80, payload byte i = i % 251. */
function kernelSegment(payloadLength: number, opts: { partial: boolean; flags?: number; seq?: number }): Uint8Array {
  const payload = Uint8Array.from({ length: payloadLength }, (_, i) => i % 251);
  const seg: TcpSegmentInit = {
    srcPort: 40000,
    dstPort: 80,
    seq: opts.seq ?? 1000,
    ack: 5000,
    flags: opts.flags ?? ACK,
    window: 502,
    options: { timestamp: { value: 77, echo: 88 } },
    payload,
  };
  const packet = new Uint8Array(20 + tcpHeaderLength(seg) + payloadLength);
  // partial: the checksum field holds only the pseudo-header sum, as Linux leaves it (NEEDS_CSUM).
  serializeTcp(seg, packet, 20, CLIENT, STACK, opts.partial);
  serializeIpv4Header({ totalLength: packet.length, identification: 0x1234, dontFragment: true, ttl: 64, protocol: 6, src: CLIENT, dst: STACK }, packet, 0);
  return packet;
}

/** UDP 10.77.0.1:5000 -> 10.77.0.2:9 with 4 data bytes, the checksum partial (pseudo-header sum only). */
function partialUdp(): Uint8Array {
  const p = new Uint8Array(20 + 8 + 4);
  serializeIpv4Header({ totalLength: p.length, identification: 1, ttl: 64, protocol: 17, src: CLIENT, dst: STACK }, p, 0);
  p.set([0x13, 0x88, 0x00, 0x09, 0x00, 12], 20);
  p.set([1, 2, 3, 4], 28);
  const sum = pseudoHeaderSum(CLIENT, STACK, 17, 12);
  p[26] = sum >>> 8;
  p[27] = sum & 0xff;
  return p;
}

/** An ICMP echo request whose checksum field holds 0 and NEEDS_CSUM says: sum from 20, field at +2. */
function partialIcmp(): Uint8Array {
  const p = new Uint8Array(20 + 8 + 4);
  serializeIpv4Header({ totalLength: p.length, identification: 2, ttl: 64, protocol: 1, src: CLIENT, dst: STACK }, p, 0);
  p.set([8, 0, 0, 0, 0, 7, 0, 1, 0xde, 0xad, 0xbe, 0xef], 20);
  return p;
}

const hdr = (h: Partial<VirtioNetHdr>): Uint8Array => {
  const out = new Uint8Array(10);
  writeVirtioNetHdr({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0, ...h }, out);
  return out;
};
const NEEDS_CSUM_TCP = { flags: 1, csumStart: 20, csumOffset: 16 };
const GSO = { gsoType: 1, gsoSize: 1448, hdrLen: 52 };

describe('virtio_net_hdr', () => {
  it('decodes golden bytes (a TCPV4 super-segment header as the kernel writes it on this little-endian host)', () => {
    // flags NEEDS_CSUM, gso_type TCPV4, hdr_len 66, gso_size 1448, csum_start 20, csum_offset 16
    const le = Uint8Array.of(0x01, 0x01, 0x42, 0x00, 0xa8, 0x05, 0x14, 0x00, 0x10, 0x00);
    const golden = endianness() === 'LE' ? le : Uint8Array.of(0x01, 0x01, 0x00, 0x42, 0x05, 0xa8, 0x00, 0x14, 0x00, 0x10);
    expect(parseVirtioNetHdr(golden)).toEqual({ flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 20, csumOffset: 16 });
    expect(hdr({ flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 20, csumOffset: 16 })).toEqual(golden);
    expect(vnetGsoSize(golden, 0)).toBe(1448);
    // At an offset inside a larger buffer, as in a read chunk.
    const chunk = new Uint8Array(16);
    chunk.set(golden, 6);
    expect(parseVirtioNetHdr(chunk, 6)).toEqual(parseVirtioNetHdr(golden));
  });

  it('refuses fewer than 10 bytes with a WireError', () => {
    const r = parseVirtioNetHdr(new Uint8Array(9));
    expect(r).toBeInstanceOf(WireError);
    expect((r as WireError).code).toBe('ERR_VNET_TRUNCATED');
    expect((parseVirtioNetHdr(new Uint8Array(12), 3) as WireError).code).toBe('ERR_VNET_TRUNCATED');
  });
});

describe('acceptRxOffload: a received header checked against its packet', () => {
  it('an all-zero header: a plain packet', () => {
    expect(acceptRxOffload(hdr({}), 0, kernelSegment(100, { partial: false }))).toBe(0);
  });

  it("partial TCP and UDP checksums where the layers above look: RX_CSUM_PARTIAL, bytes untouched", () => {
    const tcp = kernelSegment(100, { partial: true });
    const before = tcp.slice();
    expect(acceptRxOffload(hdr(NEEDS_CSUM_TCP), 0, tcp)).toBe(RX_CSUM_PARTIAL);
    expect(tcp).toEqual(before);
    expect(acceptRxOffload(hdr({ flags: 1, csumStart: 20, csumOffset: 6 }), 0, partialUdp())).toBe(RX_CSUM_PARTIAL);
  });

  it('a partial checksum anywhere else is completed in place and the packet goes up plain', () => {
    const icmp = partialIcmp();
    expect(checkIcmp(icmp.subarray(20))).toBe('ERR_ICMP_CHECKSUM');
    expect(acceptRxOffload(hdr({ flags: 1, csumStart: 20, csumOffset: 2 }), 0, icmp)).toBe(0);
    expect(checkIcmp(icmp.subarray(20))).toBeUndefined();
    // A TCP offset that is not TCP's field: completed where the header says, not trusted.
    const tcp = kernelSegment(10, { partial: false });
    expect(acceptRxOffload(hdr({ flags: 1, csumStart: 20, csumOffset: 18 }), 0, tcp)).toBe(0);
  });

  it('DATA_VALID: RX_CSUM_VALID', () => {
    expect(acceptRxOffload(hdr({ flags: 2 }), 0, kernelSegment(100, { partial: false }))).toBe(RX_CSUM_VALID);
  });

  it('a TCPV4 super-segment: RX_GSO_TCPV4 with the checksum flag; the ECN bit is allowed', () => {
    const sup = kernelSegment(1448 * 3, { partial: true });
    expect(acceptRxOffload(hdr({ ...NEEDS_CSUM_TCP, ...GSO }), 0, sup)).toBe(RX_CSUM_PARTIAL | RX_GSO_TCPV4);
    expect(acceptRxOffload(hdr({ ...NEEDS_CSUM_TCP, ...GSO, gsoType: 0x81 }), 0, sup)).toBe(RX_CSUM_PARTIAL | RX_GSO_TCPV4);
    // A full checksum and no flag: still a super-segment (TCP verifies it).
    expect(acceptRxOffload(hdr(GSO), 0, kernelSegment(3000, { partial: false }))).toBe(RX_GSO_TCPV4);
  });

  it('refuses what does not fit: unknown flags, a checksum outside the packet, other GSO types, malformed super-segments', () => {
    const sup = kernelSegment(3000, { partial: true });
    expect(acceptRxOffload(hdr({ flags: 4 }), 0, sup)).toBe(VNET_ERR_FLAGS); // RSC_INFO: never asked for
    expect(acceptRxOffload(hdr({ flags: 1, csumStart: 20, csumOffset: sup.length - 21 }), 0, sup)).toBe(VNET_ERR_CSUM);
    expect(acceptRxOffload(hdr({ flags: 1, csumStart: 10, csumOffset: 0 }), 0, sup)).toBe(VNET_ERR_CSUM); // inside the IPv4 header
    expect(acceptRxOffload(hdr({ flags: 1, csumStart: 0xffff, csumOffset: 0xffff }), 0, sup)).toBe(VNET_ERR_CSUM);
    for (const gsoType of [3, 4, 5, 2, 0x83]) {
      expect(acceptRxOffload(hdr({ ...NEEDS_CSUM_TCP, ...GSO, gsoType }), 0, sup)).toBe(VNET_ERR_GSO_TYPE);
    }
    expect(acceptRxOffload(hdr({ ...NEEDS_CSUM_TCP, ...GSO, gsoSize: 0 }), 0, sup)).toBe(VNET_ERR_GSO_PACKET);
    expect(acceptRxOffload(hdr({ flags: 1, csumStart: 20, csumOffset: 6, ...GSO }), 0, partialUdp())).toBe(VNET_ERR_GSO_PACKET);
    const longer = sup.slice();
    longer[2] = (sup.length - 1) >>> 8; // total length one short of the packet
    longer[3] = (sup.length - 1) & 0xff;
    expect(acceptRxOffload(hdr({ ...NEEDS_CSUM_TCP, ...GSO }), 0, longer)).toBe(VNET_ERR_GSO_PACKET);
    const fragment = sup.slice();
    fragment[6] = fragment[6]! | 0x20; // MF
    expect(acceptRxOffload(hdr({ ...NEEDS_CSUM_TCP, ...GSO }), 0, fragment)).toBe(VNET_ERR_GSO_PACKET);
    const badOffset = sup.slice();
    badOffset[20 + 12] = 0x40; // TCP data offset 4 words
    expect(acceptRxOffload(hdr({ ...NEEDS_CSUM_TCP, ...GSO }), 0, badOffset)).toBe(VNET_ERR_GSO_PACKET);
    expect(acceptRxOffload(hdr({ ...GSO }), 0, sup.subarray(0, 30))).toBe(VNET_ERR_GSO_PACKET);
  });
});

describe('toWirePackets: what the wire would have carried', () => {
  it('cuts a partial super-segment into MSS pieces with valid checksums, completes partial packets, passes plain ones', () => {
    const sup = kernelSegment(1448 * 2 + 100, { partial: true, flags: ACK | PSH | FIN, seq: 0xffff_fa00 });
    const udp = partialUdp();
    const plain = kernelSegment(10, { partial: false });
    const offload: RxOffload = {
      flags: Uint8Array.of(RX_CSUM_PARTIAL | RX_GSO_TCPV4, RX_CSUM_PARTIAL, 0),
      segmentSize: Uint16Array.of(1448, 0, 0),
    };
    const out = toWirePackets([sup, udp, plain], offload);
    expect(out.map((p) => p.length)).toEqual([20 + 32 + 1448, 20 + 32 + 1448, 20 + 32 + 100, udp.length, plain.length]);
    const data: number[] = [];
    out.slice(0, 3).forEach((p, i) => {
      expect(checkIpv4(p)).toBeUndefined();
      const seg = parseTcp(ok(parseIpv4(p)).payload, CLIENT, STACK); // verifies the checksum
      if (seg instanceof WireError) throw seg;
      expect(seg.seq).toBe((0xffff_fa00 + 1448 * i) >>> 0);
      expect(seg.flags).toBe(i === 2 ? ACK | PSH | FIN : ACK);
      data.push(...seg.payload);
    });
    expect(data).toEqual(Array.from({ length: 1448 * 2 + 100 }, (_, i) => i % 251));
    expect(out[3]).toBe(udp); // completed in place
    expect(finishChecksum(onesSum(udp, 20, udp.length, pseudoHeaderSum(CLIENT, STACK, 17, 12)))).toBe(0);
    expect(out[4]).toBe(plain);
  });
});

/** A stand-in for the addon that hands over one batch laid out as native/tun.c lays it out. */
function fakeNative(rxOffload: boolean): {
  tun: NativeTun;
  deliver(packets: { vnet?: Uint8Array; packet: Uint8Array }[]): void;
  /** What the device wrote: one entry per write/writeBatch call, the packets' first bytes. */
  writes: number[][];
  /** The segment sizes each writeBatch call was given for its packets (undefined: none). */
  sizes: (number[] | undefined)[];
} {
  let cb: ((chunk: ArrayBuffer | null, offset: number, count: number, error: string | undefined) => void) | undefined;
  const writes: number[][] = [];
  const sizes: (number[] | undefined)[] = [];
  const tun = {
    name: 'fake0',
    fd: -1,
    vnetHdr: true,
    rxOffload,
    configure: () => ({ address: 'unchanged', mtu: 'unchanged', up: 'unchanged', currentAddress: null }),
    start: (f: typeof cb) => void (cb = f),
    stop: () => {},
    write: (p: Uint8Array) => (writes.push([p[0]!]), 1),
    writeBatch: (ps: readonly Uint8Array[], gso?: Uint16Array) => {
      writes.push(ps.map((p) => p[0]!));
      sizes.push(gso === undefined ? undefined : Array.from(gso.subarray(0, ps.length)));
      return ps.length;
    },
    stats: () => ({ rx: 0, rxBytes: 0, rxBatches: 0, rxErrors: 0, tx: 0, txBytes: 0, txQueued: 0, txQueueLength: 0, txDropped: 0, txErrors: 0, eagain: 0, txGso: 0, rxChunksNew: 0, rxChunksReused: 0, uringEnters: 0, uringPackets: 0, busyPolls: 0, busyPollHits: 0, rxAloneFirst: 0 }),
    useIoUring: () => 'ENOSYS',
    ref: () => {},
    unref: () => {},
    close: () => {},
    _simulateEagain: () => {},
  } as unknown as NativeTun;
  return {
    tun,
    writes,
    sizes,
    deliver(packets) {
      const chunk = new ArrayBuffer(64 * 1024);
      const bytes = new Uint8Array(chunk);
      const offset = 8; // batches start 8-aligned inside a chunk
      const lengths = new Uint32Array(chunk, offset, packets.length);
      let at = offset + 64 * 4;
      packets.forEach((p, i) => {
        bytes.set(p.vnet ?? new Uint8Array(10), at);
        bytes.set(p.packet, at + 10);
        lengths[i] = p.packet.length;
        at += 10 + p.packet.length;
      });
      cb!(chunk, offset, packets.length, undefined);
    },
  };
}

describe('TunDevice with receive offload (over a fake addon)', () => {
  it('passes each packet with its flags and segment size, drops and counts bad headers and non-IPv4', () => {
    const fake = fakeNative(true);
    const dev = TunDevice.fromNative(fake.tun);
    const got: { length: number; flags: number; size: number }[] = [];
    dev.setReceiver((packets, offload) => {
      expect(offload).toBeDefined();
      packets.forEach((p, i) => got.push({ length: p.length, flags: offload!.flags[i]!, size: offload!.segmentSize[i]! }));
    });
    const sup = kernelSegment(1448 * 3, { partial: true });
    const small = kernelSegment(100, { partial: true });
    fake.deliver([
      { vnet: hdr({ ...NEEDS_CSUM_TCP, ...GSO }), packet: sup },
      { vnet: hdr({ flags: 8 }), packet: small }, // a flag we do not know: dropped
      { packet: Uint8Array.of(0x60, 0, 0, 0) }, // IPv6: dropped
      { vnet: hdr(NEEDS_CSUM_TCP), packet: small },
      { vnet: hdr({ ...GSO, gsoType: 4 }), packet: sup }, // TCPV6 on an IPv4 packet: dropped
      { packet: kernelSegment(10, { partial: false }) },
    ]);
    expect(got).toEqual([
      { length: sup.length, flags: RX_CSUM_PARTIAL | RX_GSO_TCPV4, size: 1448 },
      { length: small.length, flags: RX_CSUM_PARTIAL, size: 0 },
      { length: 20 + 32 + 10, flags: 0, size: 0 },
    ]);
    expect(dev.stats()).toMatchObject({ rxGso: 1, rxBadVnetHdr: 2, rxNotIpv4: 1, rxDropped: 3 });
  });

  it('writes what a batch sent when its receiver returns (no microtask), other sends in a microtask', async () => {
    const fake = fakeNative(false);
    const dev = TunDevice.fromNative(fake.tun);
    const arrays = new Set<readonly Uint8Array[]>();
    const lengths: number[] = [];
    dev.setReceiver((packets) => {
      arrays.add(packets);
      lengths.push(packets.length);
      for (const p of packets) dev.send(Uint8Array.of(p.length, 0, 0, 0));
    });
    const pkt = (n: number): Uint8Array => kernelSegment(n, { partial: false });
    fake.deliver([{ packet: pkt(10) }, { packet: pkt(20) }]);
    expect(fake.writes).toEqual([[62, 72]]); // one writeBatch, before any microtask ran
    fake.deliver([{ packet: pkt(30) }]);
    expect(fake.writes).toEqual([[62, 72], [82]]); // one packet: a plain write
    fake.deliver([{ packet: pkt(1) }, { packet: pkt(2) }, { packet: pkt(3) }]);
    expect(fake.writes[2]).toEqual([53, 54, 55]);
    // One array, refilled for each batch, each time exactly as long as its batch.
    expect(arrays.size).toBe(1);
    expect(lengths).toEqual([2, 1, 3]);
    dev.send(Uint8Array.of(9));
    dev.send(Uint8Array.of(8));
    expect(fake.writes.length).toBe(3);
    await Promise.resolve();
    expect(fake.writes[3]).toEqual([9, 8]);
  });

  it('builds the packets of a tick in transmit space it reuses once they are written (allocPacket)', async () => {
    const fake = fakeNative(false);
    const dev = TunDevice.fromNative(fake.tun);
    const a = dev.allocPacket(100).fill(0xaa);
    dev.send(a);
    const b = dev.allocPacket(200).fill(0xbb);
    dev.send(b);
    // Back to back in one buffer, 8-aligned, neither overwriting the other before they are written.
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 104);
    expect(a.every((x) => x === 0xaa)).toBe(true);
    await Promise.resolve();
    expect(fake.writes).toEqual([[0xaa, 0xbb]]);
    // Written: the next tick starts at the beginning of the same space again.
    const c = dev.allocPacket(50);
    expect(c.buffer).toBe(a.buffer);
    expect(c.byteOffset).toBe(0);
    dev.send(c.fill(0xcc));
    // A tick that needs more than the space has: a larger one, the packets already in the old one kept.
    const big1 = dev.allocPacket(600 * 1024).fill(0x11);
    const big2 = dev.allocPacket(600 * 1024).fill(0x22);
    expect(big2.buffer).not.toBe(big1.buffer);
    expect(big2.buffer.byteLength).toBe(2 << 20);
    dev.send(big1);
    dev.send(big2);
    expect(c.every((x) => x === 0xcc) && big1.every((x) => x === 0x11)).toBe(true);
    await Promise.resolve();
    expect(fake.writes[1]).toEqual([0xcc, 0x11, 0x22]);
    expect(dev.allocPacket(10).buffer).toBe(big2.buffer);
  });

  it('hands writeBatch the segment size of each packet, for more packets in a tick than it first had room for', async () => {
    const fake = fakeNative(false);
    const dev = TunDevice.fromNative(fake.tun);
    for (let i = 0; i < 70; i++) dev.send(Uint8Array.of(i), i % 3 === 0 ? 1448 : undefined);
    await Promise.resolve();
    expect(fake.writes[0]).toEqual(Array.from({ length: 70 }, (_, i) => i));
    expect(fake.sizes[0]).toEqual(Array.from({ length: 70 }, (_, i) => (i % 3 === 0 ? 1448 : 0)));
    // A tick without super-segments passes no sizes, whatever the last one left in the array.
    dev.send(Uint8Array.of(7));
    dev.send(Uint8Array.of(8));
    await Promise.resolve();
    expect(fake.sizes[1]).toBeUndefined();
  });

  it('without receive offload the header is skipped unread and no RxOffload is passed', () => {
    const fake = fakeNative(false);
    const dev = TunDevice.fromNative(fake.tun);
    const got: (RxOffload | undefined)[] = [];
    dev.setReceiver((packets, offload) => {
      got.push(offload);
      expect(packets.map((p) => p.length)).toEqual([62]);
    });
    fake.deliver([{ vnet: hdr({ flags: 0xff }), packet: kernelSegment(10, { partial: false }) }]);
    expect(got).toEqual([undefined]);
    expect(dev.stats().rxBadVnetHdr).toBe(0);
  });
});
