import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ipv4Layer, type Ipv4LayerOptions } from '../../src/ip/ipv4-layer.ts';
import { Reassembler } from '../../src/ip/reassembly.ts';
import { createIpv4Counters } from '../../src/ip/counters.ts';
import { IPV4_HEADROOM, type IpReceiveInfo, type TransportHandler } from '../../src/ip/types.ts';
import { checkIpv4, parseIpv4, refreshIpv4HeaderChecksum } from '../../src/wire/ipv4.ts';
import { parseIcmp } from '../../src/wire/icmpv4.ts';
import * as L from '../fixtures/linux-packets.ts';
import { A, B, datagram, echoRequest, fragments } from './helpers.ts';
import { pattern } from '../helpers/pattern.ts';
import { ok } from '../wire/helpers.ts';

function setup(opts: Partial<Ipv4LayerOptions> = {}) {
  const sent: Uint8Array[] = [];
  const layer = new Ipv4Layer({ address: B, mtu: 1500, transmit: (p) => sent.push(p), initialIdentification: 100, ...opts });
  return { layer, sent };
}

/** Copy, edit bytes, refresh the header checksum. */
function edit(pkt: Uint8Array, edits: Record<number, number>): Uint8Array {
  const out = pkt.slice();
  for (const [k, v] of Object.entries(edits)) out[Number(k)] = v;
  refreshIpv4HeaderChecksum(out);
  return out;
}

class Recorder implements TransportHandler {
  got: { ip: IpReceiveInfo; payload: Uint8Array }[] = [];
  receive(_now: number, ip: IpReceiveInfo, payload: Uint8Array): void {
    this.got.push({ ip: { ...ip }, payload }); // a copy: the layer refills `ip` for the next datagram
  }
}

describe('echo, compared with what Linux answered', () => {
  it('answers the captured ping with the same bytes as the kernel (given its IP id)', () => {
    const { layer, sent } = setup({ initialIdentification: 11907 });
    layer.receive(0, L.ECHO_REQUEST.slice()); // a copy: the receiver owns what it is given (the reply is built in it)
    expect(sent.length).toBe(1);
    expect([...sent[0]!]).toEqual([...L.ECHO_REPLY]);
    expect(layer.icmp.counters.outEchoReplies).toBe(1);
  });

  it('answers the fragmented 4028-byte ping with fragments equal to the kernel reply', () => {
    const { layer, sent } = setup({ initialIdentification: 11913 });
    layer.receive(0, L.ECHO_REQUEST_4028_FRAG0);
    layer.receive(0, L.ECHO_REQUEST_4028_FRAG1);
    expect(sent.length).toBe(0);
    layer.receive(0, L.ECHO_REQUEST_4028_FRAG2);
    expect(sent.map((p) => [...p])).toEqual([L.ECHO_REPLY_4028_FRAG0, L.ECHO_REPLY_4028_FRAG1, L.ECHO_REPLY_4028_FRAG2].map((p) => [...p]));
    expect(layer.counters.reasmOk).toBe(1);
    expect(layer.counters.txFragmented).toBe(1);
    expect(layer.counters.txFragments).toBe(3);
  });

  it('ignores link padding after the datagram', () => {
    const { layer, sent } = setup({ initialIdentification: 11907 });
    const padded = new Uint8Array(L.ECHO_REQUEST.length + 10);
    padded.set(L.ECHO_REQUEST);
    layer.receive(0, padded);
    expect([...sent[0]!]).toEqual([...L.ECHO_REPLY]);
  });
});

describe('receive: drops with a counter per reason', () => {
  const cases: [string, Uint8Array, keyof ReturnType<typeof createIpv4Counters>][] = [
    ['truncated', L.ECHO_REQUEST.subarray(0, 60), 'rxTruncated'],
    ['bad version', edit(L.ECHO_REQUEST, { 0: 0x65 }), 'rxBadVersion'],
    ['bad IHL', edit(L.ECHO_REQUEST, { 0: 0x43 }), 'rxBadHeaderLength'],
    ['bad total length', edit(L.ECHO_REQUEST, { 2: 0, 3: 10 }), 'rxBadTotalLength'],
    ['bad checksum', (() => { const p = L.ECHO_REQUEST.slice(); p[11] = p[11]! ^ 1; return p; })(), 'rxBadChecksum'],
    ['bad fragment', edit(L.ECHO_REQUEST, { 6: 0xc0 }), 'rxBadFragment'],
    ['not ours', edit(L.ECHO_REQUEST, { 19: 3 }), 'rxNotOurs'],
    ['limited broadcast', edit(L.ECHO_REQUEST, { 16: 255, 17: 255, 18: 255, 19: 255 }), 'rxBroadcast'],
    ['directed broadcast', edit(L.ECHO_REQUEST, { 19: 255 }), 'rxBroadcast'],
    ['multicast', edit(L.ECHO_REQUEST, { 16: 224, 17: 0, 18: 0, 19: 1 }), 'rxBroadcast'],
    ['loopback source', edit(L.ECHO_REQUEST, { 12: 127, 15: 1 }), 'rxBadSource'],
    ['zero source', edit(L.ECHO_REQUEST, { 12: 0, 13: 0, 14: 0, 15: 0 }), 'rxBadSource'],
  ];
  it.each(cases)('%s', (_name, pkt, counter) => {
    const { layer, sent } = setup({ prefixLength: 24 });
    layer.receive(0, pkt);
    expect(layer.counters[counter]).toBe(1);
    expect(layer.counters.rxDelivered).toBe(0);
    expect(sent.length).toBe(0);
  });

  it('does not care about TTL for datagrams addressed to us (RFC 1122 §3.2.1.7)', () => {
    const { layer, sent } = setup();
    layer.receive(0, edit(L.ECHO_REQUEST, { 8: 0 }));
    expect(sent.length).toBe(1);
  });

  it('answers an unknown protocol with protocol unreachable quoting header + 8 bytes', () => {
    const { layer, sent } = setup({ initialIdentification: 11923 });
    layer.receive(0, L.PROTO99);
    expect(layer.counters.rxUnknownProtocol).toBe(1);
    expect(sent.length).toBe(1);
    const ip = ok(parseIpv4(sent[0]!));
    expect([ip.src, ip.dst, ip.protocol, ip.dscp, ip.ttl, ip.identification]).toEqual([B, A, 1, 0x30, 64, 11923]);
    const icmp = ok(parseIcmp(ip.payload));
    expect(icmp.kind).toBe('destination-unreachable');
    if (icmp.kind !== 'destination-unreachable') return;
    expect(icmp.code).toBe(2);
    expect([...icmp.original]).toEqual([...L.PROTO99.subarray(0, 28)]);
    // Linux quotes more (up to 576 bytes, RFC 1812 §4.3.2.3); the first 28 bytes agree.
    const linux = ok(parseIcmp(ok(parseIpv4(L.PROTO99_UNREACHABLE)).payload));
    if (linux.kind === 'destination-unreachable') expect([...linux.original.subarray(0, 28)]).toEqual([...icmp.original]);
  });

  it('hands registered protocols their payload and the datagram info', () => {
    const { layer } = setup();
    const rec = new Recorder();
    layer.register(99, rec);
    layer.receive(5, L.PROTO99);
    expect(rec.got.length).toBe(1);
    const { ip, payload } = rec.got[0]!;
    expect([ip.src, ip.dst, ip.protocol, ip.ttl, ip.tos, ip.headerLength]).toEqual([A, B, 99, 64, 0, 20]);
    expect(new TextDecoder().decode(payload)).toBe('hello proto 99!!');
    expect(ip.packet.length).toBe(36);
  });

  it('never throws on random input and counts every packet', () => {
    const { layer } = setup();
    const rec = new Recorder();
    layer.register(6, rec);
    let n = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 100 }),
          fc.tuple(fc.constantFrom(L.ECHO_REQUEST, L.PROTO99, L.UDP_TO_PORT_9, L.TCP_SYN, L.ECHO_REQUEST_4028_FRAG1), fc.nat(99), fc.integer({ min: 0, max: 255 }), fc.boolean()).map(
            ([p, i, v, fix]) => {
              const q = p.slice();
              if (i < q.length) q[i] = v;
              return fix ? edit(q, {}) : q;
            },
          ),
        ),
        fc.nat(100_000),
        (pkt, now) => {
          layer.receive(now, pkt);
          n++;
          layer.poll(now);
        },
      ),
      { numRuns: 3000 },
    );
    expect(layer.counters.rxPackets).toBe(n);
    const s = layer.stats();
    expect(s.rxPackets).toBe(n);
  });
});

describe('send', () => {
  it('writes the header in place, TTL 64, incrementing identification, DF when asked', () => {
    const { layer, sent } = setup();
    for (let i = 0; i < 2; i++) {
      const pkt = new Uint8Array(IPV4_HEADROOM + 8);
      pkt.set([1, 2, 3, 4, 5, 6, 7, 8], IPV4_HEADROOM);
      layer.send(pkt, B, A, 6, { dontFragment: i === 1 });
      expect(sent[i]).toBe(pkt); // no copy
    }
    const [p0, p1] = sent.map((p) => ok(parseIpv4(p)));
    expect([p0!.identification, p0!.ttl, p0!.dontFragment, p0!.protocol, p0!.src, p0!.dst, p0!.totalLength]).toEqual([100, 64, false, 6, B, A, 28]);
    expect([p1!.identification, p1!.dontFragment]).toEqual([101, true]);
    expect(layer.counters.txPackets).toBe(2);
  });

  it('fragments a 4028-byte ICMP reply at MTU 1500: offsets, MF and lengths, reassembling to the original', () => {
    const { layer, sent } = setup();
    const icmp = echoRequest(7, 1, pattern(4000));
    const pkt = new Uint8Array(IPV4_HEADROOM + icmp.length);
    pkt.set(icmp, IPV4_HEADROOM);
    layer.send(pkt, B, A, 1);
    const f = sent.map((p) => ok(parseIpv4(p)));
    expect(f.map((p) => [p.fragmentOffset, p.moreFragments, p.totalLength, p.identification])).toEqual([
      [0, true, 1500, 100],
      [1480, true, 1500, 100],
      [2960, false, 1068, 100],
    ]);
    expect(sent.every((p) => checkIpv4(p) === undefined)).toBe(true);
    const r = new Reassembler({}, createIpv4Counters());
    let whole: Uint8Array | undefined;
    for (const p of [sent[2]!, sent[0]!, sent[1]!]) whole = r.add(0, p) ?? whole;
    expect([...ok(parseIpv4(whole!)).payload]).toEqual([...icmp]);
    expect(ok(parseIpv4(whole!)).totalLength).toBe(4028);
  });

  it('fragments at an MTU that is not 20 + a multiple of 8 (576)', () => {
    const { layer, sent } = setup({ mtu: 576 });
    const pkt = new Uint8Array(IPV4_HEADROOM + 1200);
    layer.send(pkt, B, A, 99);
    expect(sent.map((p) => ok(parseIpv4(p)).fragmentOffset)).toEqual([0, 552, 1104]);
    expect(sent.map((p) => p.length)).toEqual([572, 572, 116]);
    expect(sent.every((p) => p.length <= 576)).toBe(true);
  });

  it('drops (and counts) a too-big datagram with DF, and one over 65535 bytes', () => {
    const { layer, sent } = setup();
    layer.send(new Uint8Array(1501), B, A, 6, { dontFragment: true });
    layer.send(new Uint8Array(65536), B, A, 6);
    expect(sent.length).toBe(0);
    expect(layer.counters.txDropDontFragment).toBe(1);
    expect(layer.counters.txDropTooBig).toBe(1);
  });

  it('hands a TCP super-segment to a device with TSO whole, and reserves an ID per wire segment', () => {
    const sizes: (number | undefined)[] = [];
    const sent: Uint8Array[] = [];
    const layer = new Ipv4Layer({
      address: B,
      mtu: 1500,
      tsoMaxSize: 65535,
      initialIdentification: 100,
      transmit: (p, segmentSize) => {
        sent.push(p);
        sizes.push(segmentSize);
      },
    });
    const superSegment = new Uint8Array(IPV4_HEADROOM + 32 + 3000);
    superSegment[IPV4_HEADROOM + 12] = 8 << 4; // TCP data offset: 32 bytes
    layer.send(superSegment, B, A, 6, { dontFragment: true, segmentSize: 1448 });
    layer.send(new Uint8Array(IPV4_HEADROOM + 40), B, A, 6, { dontFragment: true });
    expect(sizes).toEqual([1448, undefined]);
    const [p0, p1] = sent.map((p) => ok(parseIpv4(p)));
    expect([p0!.totalLength, p0!.identification, p0!.dontFragment]).toEqual([3052, 100, true]);
    expect(checkIpv4(sent[0]!)).toBeUndefined();
    expect(p1!.identification).toBe(103); // 3000 bytes at 1448 per segment: IDs 100, 101, 102
    expect([layer.counters.txTso, layer.counters.txPackets, layer.counters.txDropDontFragment]).toEqual([1, 2, 0]);
  });

  it('without TSO a super-segment is too big like any other DF datagram', () => {
    const { layer, sent } = setup();
    expect(layer.tsoMaxSize).toBe(0);
    layer.send(new Uint8Array(IPV4_HEADROOM + 32 + 3000), B, A, 6, { dontFragment: true, segmentSize: 1448 });
    expect(sent.length).toBe(0);
    expect(layer.counters.txDropDontFragment).toBe(1);
  });

  it('refuses an MTU below 68 (RFC 791)', () => {
    expect(() => setup({ mtu: 67 })).toThrow(/MTU/);
  });
});

describe('reassembly timeout through the layer', () => {
  it('sends ICMP time exceeded (code 1) quoting fragment zero, only when it had arrived', () => {
    const { layer, sent } = setup();
    layer.receive(1000, L.ECHO_REQUEST_4028_FRAG0);
    layer.receive(1000, L.ECHO_REQUEST_4028_FRAG1);
    const payload = pattern(64);
    for (const f of fragments(payload, 32, { id: 77, src: A, dst: B }).slice(1)) layer.receive(2000, f);
    expect(layer.pollAt()).toBe(31_000);
    layer.poll(31_000);
    expect(sent.length).toBe(1);
    const ip = ok(parseIpv4(sent[0]!));
    const m = ok(parseIcmp(ip.payload));
    expect(m).toMatchObject({ kind: 'time-exceeded', code: 1 });
    if (m.kind === 'time-exceeded') expect([...m.original]).toEqual([...L.ECHO_REQUEST_4028_FRAG0.subarray(0, 28)]);
    expect(layer.pollAt()).toBe(32_000);
    layer.poll(32_000);
    expect(sent.length).toBe(1); // no fragment zero: nothing to say
    expect(layer.counters.reasmTimeout).toBe(2);
    expect(layer.pollAt()).toBeUndefined();
  });

  it('a whole datagram also works through datagram()', () => {
    const { layer } = setup();
    const rec = new Recorder();
    layer.register(99, rec);
    layer.receive(0, datagram(pattern(10)));
    expect(rec.got.length).toBe(1);
  });
});
