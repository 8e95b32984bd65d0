import { describe, expect, it } from 'vitest';
import { Ipv4Layer } from '../../src/ip/ipv4-layer.ts';
import { IcmpHandler, mayAnswerWithError, type IcmpErrorReport } from '../../src/ip/icmp.ts';
import { IPV4_HEADROOM, type IpOutput, type IpSendOptions } from '../../src/ip/types.ts';
import { checksum } from '../../src/wire/checksum.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import { parseIcmp, serializeIcmp } from '../../src/wire/icmpv4.ts';
import * as L from '../fixtures/linux-packets.ts';
import { A, B, datagram, echoRequest, fragment } from './helpers.ts';
import { pattern } from '../helpers/pattern.ts';
import { ok } from '../wire/helpers.ts';

function setup(errorRate?: { perSecond?: number; burst?: number }) {
  const sent: Uint8Array[] = [];
  const layer = new Ipv4Layer({ address: B, mtu: 1500, transmit: (p) => sent.push(p), initialIdentification: 1, ...(errorRate ? { icmpErrorRate: errorRate } : {}) });
  return { layer, sent };
}

/** The captured UDP datagram with the checksum tcpdump computed in place of the offloaded one. */
function udpFixed(): Uint8Array {
  const p = L.UDP_TO_PORT_9.slice();
  p[26] = 0x57;
  p[27] = 0xfc;
  return p;
}

describe('echo', () => {
  it('returns id, seq and data unchanged with a correct checksum, from the address pinged', () => {
    const { layer, sent } = setup();
    const data = pattern(100, 3);
    layer.receive(0, datagram(echoRequest(0xbeef, 42, data), { protocol: 1, src: A, dst: B, tos: 0x10 }));
    const ip = ok(parseIpv4(sent[0]!));
    expect([ip.src, ip.dst, ip.protocol, ip.dscp << 2]).toEqual([B, A, 1, 0x10]);
    expect(checksum(ip.payload)).toBe(0);
    const m = ok(parseIcmp(ip.payload));
    expect(m).toMatchObject({ kind: 'echo-reply', identifier: 0xbeef, sequence: 42 });
    if (m.kind === 'echo-reply') expect([...m.data]).toEqual([...data]);
  });

  it('builds the reply in the request buffer (no copy), byte for byte what a fresh checksum gives, over 2,000 payloads', () => {
    for (let i = 0; i < 2000; i++) {
      const { layer, sent } = setup();
      const data = pattern(i % 200, i + 1);
      // Identifiers chosen so that the request checksums cover the whole range, 0x0000 and 0xffff included.
      const req = datagram(echoRequest((i * 2654435761) & 0xffff, i & 0xffff, data), { protocol: 1, src: A, dst: B });
      layer.receive(0, req);
      expect(sent.length).toBe(1);
      const out = sent[0]!;
      expect(out.buffer).toBe(req.buffer); // the same memory: built in place
      const ip = ok(parseIpv4(out));
      expect(checksum(ip.payload)).toBe(0);
      const want = new Uint8Array(8 + data.length);
      serializeIcmp({ kind: 'echo-reply', identifier: (i * 2654435761) & 0xffff, sequence: i & 0xffff, data }, want, 0);
      // Equal up to the one's complement zero: 0x0000 and 0xffff both verify (RFC 1624 §3).
      const got = Uint8Array.from(ip.payload);
      if (((got[2]! << 8) | got[3]!) === 0xffff && ((want[2]! << 8) | want[3]!) === 0) got.set([0, 0], 2);
      expect(got).toEqual(want);
    }
  });

  it('answers a request with IP options from inside its buffer, without the options, TOS kept', () => {
    const { layer, sent } = setup();
    const icmp = echoRequest(7, 9, pattern(32, 5));
    // A 24-byte header: the 20 of datagram() moved back by one option word (4 NOPs... then EOL).
    const plain = datagram(icmp, { protocol: 1, src: A, dst: B, tos: 0x28 });
    const withOpts = new Uint8Array(plain.length + 4);
    withOpts.set(plain.subarray(0, 20), 0);
    withOpts.set([1, 1, 1, 0], 20);
    withOpts.set(icmp, 24);
    withOpts[0] = 0x46;
    withOpts[2] = withOpts.length >>> 8;
    withOpts[3] = withOpts.length & 0xff;
    withOpts[10] = 0;
    withOpts[11] = 0;
    const c = checksum(withOpts, 0, 24);
    withOpts[10] = c >>> 8;
    withOpts[11] = c & 0xff;
    layer.receive(0, withOpts);
    expect(sent.length).toBe(1);
    expect(sent[0]!.buffer).toBe(withOpts.buffer);
    const ip = ok(parseIpv4(sent[0]!));
    expect([ip.headerLength, ip.totalLength, ip.dscp << 2, ip.src, ip.dst]).toEqual([20, 20 + icmp.length, 0x28, B, A]);
    expect(ok(parseIcmp(ip.payload))).toMatchObject({ kind: 'echo-reply', identifier: 7, sequence: 9 });
    expect(checksum(ip.payload)).toBe(0);
  });

  it('drops a request with a bad ICMP checksum, and ignores echo replies', () => {
    const { layer, sent } = setup();
    const req = echoRequest(1, 1, pattern(8));
    req[9] = req[9]! ^ 0xff;
    layer.receive(0, datagram(req, { protocol: 1 }));
    layer.receive(0, L.ECHO_REPLY.slice()); // addressed to 10.77.0.1, not us: not ours
    const reply = new Uint8Array(16);
    serializeIcmp({ kind: 'echo-reply', identifier: 1, sequence: 1, data: new Uint8Array(8) }, reply, 0);
    layer.receive(0, datagram(reply, { protocol: 1 }));
    layer.receive(0, datagram(new Uint8Array(5), { protocol: 1 }));
    expect(sent.length).toBe(0);
    expect(layer.icmp.counters).toMatchObject({ inBadChecksum: 1, inEchoRepliesIgnored: 1, inTruncated: 1 });
  });
});

describe('UDP port unreachable', () => {
  it('answers a valid datagram with code 3, quoting header + 8 bytes like the kernel did', () => {
    const { layer, sent } = setup();
    layer.receive(0, udpFixed());
    expect(sent.length).toBe(1);
    const ip = ok(parseIpv4(sent[0]!));
    expect(ip.dscp).toBe(0x30);
    const m = ok(parseIcmp(ip.payload));
    expect(m).toMatchObject({ kind: 'destination-unreachable', code: 3 });
    // The kernel's answer quoted the same datagram (its checksum field aside, which it never fixed).
    const linux = ok(parseIcmp(ok(parseIpv4(L.UDP_PORT_UNREACHABLE)).payload));
    if (m.kind === 'destination-unreachable' && linux.kind === 'destination-unreachable') {
      expect([...m.original.subarray(0, 26)]).toEqual([...linux.original.subarray(0, 26)]);
      expect(m.original.length).toBe(28);
    }
    expect(layer.icmp.counters.udpNoPort).toBe(1);
  });

  it('silently discards a bad UDP checksum (the offloaded capture) and bad lengths', () => {
    const { layer, sent } = setup();
    layer.receive(0, L.UDP_TO_PORT_9);
    const short = datagram(new Uint8Array([0, 1, 0, 2, 0, 20, 0, 0]), { protocol: 17 });
    layer.receive(0, short);
    expect(sent.length).toBe(0);
    expect(layer.icmp.counters).toMatchObject({ udpBadChecksum: 1, udpBadLength: 1 });
  });

  it('accepts a zero checksum (not computed, RFC 768)', () => {
    const { layer, sent } = setup();
    const p = L.UDP_TO_PORT_9.slice();
    p[26] = 0;
    p[27] = 0;
    layer.receive(0, p);
    expect(sent.length).toBe(1);
  });
});

describe('no errors about errors, fragments, broadcasts (RFC 1122 §3.2.2)', () => {
  it('mayAnswerWithError', () => {
    expect(mayAnswerWithError(L.PROTO99)).toBe(true);
    expect(mayAnswerWithError(L.ECHO_REQUEST)).toBe(true);
    expect(mayAnswerWithError(L.PROTO99_UNREACHABLE)).toBe(false); // an ICMP error
    expect(mayAnswerWithError(L.ECHO_REQUEST_4028_FRAG1)).toBe(false); // not the first fragment
    expect(mayAnswerWithError(L.ECHO_REQUEST_4028_FRAG0)).toBe(true);
    expect(mayAnswerWithError(datagram(new Uint8Array(8), { dst: 0xffffffff }))).toBe(false);
    expect(mayAnswerWithError(datagram(new Uint8Array(8), { dst: 0xe0000001 }))).toBe(false);
    expect(mayAnswerWithError(datagram(new Uint8Array(8), { src: 0 }))).toBe(false);
    expect(mayAnswerWithError(datagram(new Uint8Array(8), { src: 0x7f000001 }))).toBe(false);
    expect(mayAnswerWithError(datagram(new Uint8Array(0), { protocol: 1 }))).toBe(false);
  });

  it('counts suppressed errors', () => {
    const sent: Uint8Array[] = [];
    const out: IpOutput = { mtu: 1500, send: (p) => sent.push(p) };
    const icmp = new IcmpHandler({ address: B, output: out });
    icmp.sendDestinationUnreachable(0, 3, L.PROTO99_UNREACHABLE);
    icmp.sendDestinationUnreachable(0, 2, fragment(pattern(32), 16, 32, false, { protocol: 200 }));
    expect(sent.length).toBe(0);
    expect(icmp.counters.outErrorsSuppressed).toBe(2);
  });
});

describe('rate limit (token bucket driven by now)', () => {
  it('sends a burst of 10, counts the rest, refills at 10/s', () => {
    const { layer, sent } = setup();
    for (let i = 0; i < 25; i++) layer.receive(1000, udpFixed());
    expect(sent.length).toBe(10);
    expect(layer.icmp.counters.outErrorsRateLimited).toBe(15);
    // 250 ms later: 2.5 tokens -> 2 errors
    for (let i = 0; i < 5; i++) layer.receive(1250, udpFixed());
    expect(sent.length).toBe(12);
    expect(layer.icmp.counters.outErrorsRateLimited).toBe(18);
    // Long idle: the bucket is full again but never above its burst.
    for (let i = 0; i < 20; i++) layer.receive(100_000, udpFixed());
    expect(sent.length).toBe(22);
    // Echo replies are not rate-limited.
    for (let i = 0; i < 20; i++) layer.receive(100_000, L.ECHO_REQUEST.slice());
    expect(sent.length).toBe(42);
  });

  it('is configurable', () => {
    const { layer, sent } = setup({ perSecond: 1, burst: 2 });
    for (let i = 0; i < 5; i++) layer.receive(0, L.PROTO99);
    expect(sent.length).toBe(2);
    layer.receive(999, L.PROTO99);
    expect(sent.length).toBe(2);
    layer.receive(1000, L.PROTO99);
    expect(sent.length).toBe(3);
  });
});

describe('incoming errors go to the listener (RFC 1122 §3.2.2.1)', () => {
  it('reports type, code, next-hop MTU and the quote', () => {
    const { layer } = setup();
    const reports: IcmpErrorReport[] = [];
    layer.icmp.onError((_now, r) => reports.push(r));
    const original = datagram(new Uint8Array(8), { src: B, dst: A, protocol: 6 }).subarray(0, 28);
    const msg = new Uint8Array(8 + 28);
    serializeIcmp({ kind: 'destination-unreachable', code: 4, nextHopMtu: 1280, original }, msg, 0);
    layer.receive(0, datagram(msg, { protocol: 1, src: 0x0a4d0005 }));
    expect(reports.length).toBe(1);
    expect(reports[0]).toMatchObject({ from: 0x0a4d0005, type: 3, code: 4, nextHopMtu: 1280 });
    expect([...reports[0]!.original]).toEqual([...original]);
  });
});

describe('IpOutput contract', () => {
  it('sends errors with the IP headroom filled by the layer', () => {
    const calls: { packet: Uint8Array; opts: IpSendOptions | undefined }[] = [];
    const out: IpOutput = { mtu: 1500, send: (packet, _s, _d, _p, opts) => calls.push({ packet, opts }) };
    const icmp = new IcmpHandler({ address: B, output: out });
    icmp.sendDestinationUnreachable(0, 2, L.PROTO99);
    expect(calls[0]!.packet.length).toBe(IPV4_HEADROOM + 8 + 28);
    expect(calls[0]!.opts).toEqual({ tos: 0xc0 });
  });
});

describe('a caller-built IcmpHandler (setIcmp)', () => {
  it('takes over echo, protocol/port unreachable and the stats', () => {
    const sent: Uint8Array[] = [];
    const layer = new Ipv4Layer({ address: B, mtu: 1500, transmit: (p) => sent.push(p) });
    const icmp = new IcmpHandler({ ip: layer, address: B, errorRate: { burst: 1, perSecond: 1 } });
    layer.setIcmp(icmp);
    expect(layer.icmp).toBe(icmp);
    layer.receive(0, L.ECHO_REQUEST.slice());
    layer.receive(0, L.PROTO99);
    layer.receive(0, udpFixed()); // rate-limited by the new handler's bucket (burst 1)
    expect(sent.length).toBe(2);
    expect(icmp.stats()).toMatchObject({ outEchoReplies: 1, outErrors: 1, outErrorsRateLimited: 1, udpNoPort: 1 });
    expect(layer.stats().icmp).toEqual(icmp.stats());
  });
});
