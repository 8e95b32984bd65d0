/**
 * Incoming ICMP errors at the IPv4 layer: the quote checked and handed to the transport of its
 * protocol (ip/icmp.ts), and the path MTU cache (ip/pmtu-cache.ts, RFC 1191).
 */
import { describe, expect, it } from 'vitest';
import { Ipv4Layer } from '../../src/ip/ipv4-layer.ts';
import { PathMtuCache, plateauBelow } from '../../src/ip/pmtu-cache.ts';
import type { IcmpErrorReport, IpReceiveInfo, TransportHandler } from '../../src/ip/types.ts';
import { serializeIcmp } from '../../src/wire/icmpv4.ts';
import { A, B, datagram, fragment } from './helpers.ts';

const ROUTER = 0x0a4d0063;

/** A transport that keeps a copy of each error report. */
class Recorder implements TransportHandler {
  readonly errors: (Omit<IcmpErrorReport, 'original' | 'transport'> & { transport: number[] })[] = [];
  receive(_now: number, _ip: IpReceiveInfo, _payload: Uint8Array): void {}
  receiveError(_now: number, r: IcmpErrorReport): void {
    const { original: _o, transport, ...rest } = r;
    this.errors.push({ ...rest, transport: [...transport.subarray(0, 8)] });
  }
}

function setup() {
  const layer = new Ipv4Layer({ address: B, mtu: 1500, transmit: () => {}, initialIdentification: 1 });
  const tcp = new Recorder();
  layer.register(6, tcp);
  return { layer, tcp };
}

/** An ICMP error of `type`/`code` from the router, quoting `quote`. */
function icmpError(type: number, code: number, quote: Uint8Array, nextHopMtu = 0): Uint8Array {
  const msg = new Uint8Array(8 + quote.length);
  if (type === 3) serializeIcmp({ kind: 'destination-unreachable', code, nextHopMtu, original: quote }, msg, 0);
  else if (type === 11) serializeIcmp({ kind: 'time-exceeded', code, original: quote }, msg, 0);
  else {
    // Parameter problem (RFC 792): pointer in byte 4; checksum over the message.
    serializeIcmp({ kind: 'time-exceeded', code, original: quote }, msg, 0);
    msg[0] = type;
    msg[2] = msg[3] = 0;
    let sum = 0;
    for (let i = 0; i < msg.length; i += 2) sum += (msg[i]! << 8) | (msg[i + 1] ?? 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const c = ~sum & 0xffff;
    msg[2] = c >>> 8;
    msg[3] = c & 0xff;
  }
  return datagram(msg, { protocol: 1, src: ROUTER, dst: B });
}

/** The first 28 bytes of a 1500-byte TCP datagram we sent to A: ports 80 -> 40000, seq 0x01020304. */
function ourTcpQuote(opts: { src?: number; length?: number } = {}): Uint8Array {
  const tcp = new Uint8Array((opts.length ?? 1500) - 20);
  tcp.set([0, 80, 0x9c, 0x40, 1, 2, 3, 4]);
  return datagram(tcp, { src: opts.src ?? B, dst: A, protocol: 6, dontFragment: true }).subarray(0, 28);
}

describe('ICMP errors go to the transport of the quoted datagram (RFC 1122 §3.2.2)', () => {
  it('fragmentation needed, with the quoted destination, length and TCP bytes', () => {
    const { layer, tcp } = setup();
    layer.receive(0, icmpError(3, 4, ourTcpQuote(), 1280));
    expect(tcp.errors).toEqual([
      { from: ROUTER, type: 3, code: 4, nextHopMtu: 1280, quotedDst: A, quotedProtocol: 6, quotedLength: 1500, transport: [0, 80, 0x9c, 0x40, 1, 2, 3, 4] },
    ]);
    expect(layer.stats().icmp).toMatchObject({ inDestUnreachable: 1, inErrorsDelivered: 1, inErrorsBadQuote: 0 });
  });

  it('time exceeded and parameter problem too (next-hop MTU 0)', () => {
    const { layer, tcp } = setup();
    layer.receive(0, icmpError(11, 0, ourTcpQuote()));
    layer.receive(0, icmpError(12, 0, ourTcpQuote()));
    expect(tcp.errors.map((e) => [e.type, e.code, e.nextHopMtu])).toEqual([
      [11, 0, 0],
      [12, 0, 0],
    ]);
    expect(layer.stats().icmp).toMatchObject({ inTimeExceeded: 1, inParameterProblems: 1, inErrorsDelivered: 2 });
  });

  it('drops quotes that are not of a datagram of ours: counted, never delivered', () => {
    const { layer, tcp } = setup();
    const quote = ourTcpQuote();
    layer.receive(0, icmpError(3, 3, quote.subarray(0, 27))); // shorter than header + 8
    layer.receive(0, icmpError(3, 3, ourTcpQuote({ src: A }))); // not sent by us
    const v6 = quote.slice();
    v6[0] = 0x65;
    layer.receive(0, icmpError(3, 3, v6)); // not IPv4
    const later = fragment(new Uint8Array(64), 16, 64, false, { src: B, dst: A, protocol: 6 }).subarray(0, 28);
    layer.receive(0, icmpError(3, 3, later)); // a non-first fragment: no TCP header in it
    layer.receive(0, icmpError(3, 3, quote.subarray(0, 20))); // the header only
    expect(tcp.errors).toEqual([]);
    expect(layer.stats().icmp).toMatchObject({ inErrorsBadQuote: 5, inErrorsDelivered: 0 });
  });

  it('counts errors for a protocol with no handler that takes them', () => {
    const { layer } = setup();
    const quote = datagram(new Uint8Array(8), { src: B, dst: A, protocol: 17 }).subarray(0, 28);
    layer.receive(0, icmpError(3, 3, quote));
    expect(layer.stats().icmp).toMatchObject({ inErrorsNoTransport: 1, inErrorsDelivered: 0 });
  });

  it('a flood of forged errors allocates no report per message (one object, refilled)', () => {
    const { layer } = setup();
    const seen = new Set<IcmpErrorReport>();
    layer.register(6, { receive: () => {}, receiveError: (_n, r) => void seen.add(r) });
    const pkt = icmpError(3, 1, ourTcpQuote());
    for (let i = 0; i < 1000; i++) layer.receive(i, pkt.slice());
    expect(seen.size).toBe(1);
    expect(layer.stats().icmp.inErrorsDelivered).toBe(1000);
  });
});

describe('the path MTU cache (RFC 1191 §3, §5, §6.3)', () => {
  it('lowers, never raises, floors at 552, ignores values below 68', () => {
    const c = new PathMtuCache(1500);
    expect(c.get(A, 0)).toBe(1500);
    expect(c.learn(A, 1400, 1500, 0)).toBe(1400);
    expect(c.learn(A, 1450, 1500, 0)).toBe(1400); // an increase: ignored
    expect(c.learn(A, 1400, 1500, 0)).toBe(1400); // the same: nothing new
    expect(c.learn(A, 67, 1500, 0)).toBe(1400); // nonsense
    expect(c.learn(A, 100, 1500, 0)).toBe(552); // raised to the floor
    expect(c.learn(A, 300, 1500, 0)).toBe(552);
    expect(c.get(B, 0)).toBe(1500); // per destination
    expect([c.learned, c.ignored]).toEqual([2, 4]);
  });

  it('an old router (next-hop MTU 0): the plateau below the refused size (RFC 1191 §5, §7)', () => {
    expect([plateauBelow(1500), plateauBelow(1492), plateauBelow(1006), plateauBelow(600), plateauBelow(68)]).toEqual([1492, 1006, 508, 508, 0]);
    const c = new PathMtuCache(1500);
    expect(c.learn(A, 0, 1500, 0)).toBe(1492);
    expect(c.learn(A, 0, 1492, 0)).toBe(1006);
    expect(c.learn(A, 0, 1006, 0)).toBe(552); // 508, floored
  });

  it('ages out after 10 minutes, and holds at most maxEntries destinations', () => {
    const c = new PathMtuCache(1500, { maxEntries: 2 });
    c.learn(1, 1000, 1500, 0);
    expect(c.get(1, 599_999)).toBe(1000);
    expect(c.get(1, 600_000)).toBe(1500);
    c.learn(1, 1000, 1500, 0);
    c.learn(2, 1000, 1500, 0);
    c.learn(3, 1000, 1500, 0); // evicts 1, the oldest
    expect([c.size, c.evicted, c.get(1, 0), c.get(2, 0), c.get(3, 0)]).toEqual([2, 1, 1500, 1000, 1000]);
  });

  it('is the IPv4 layer’s, and in its stats', () => {
    const { layer } = setup();
    expect(layer.learnPathMtu(A, 1280, 1500, 0)).toBe(1280);
    expect(layer.pathMtu(A, 0)).toBe(1280);
    expect(layer.stats().pmtu).toEqual({ entries: 1, learned: 1, ignored: 0, evicted: 0 });
  });
});
