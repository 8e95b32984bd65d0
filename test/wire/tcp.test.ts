import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from '../../src/util/errors.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import {
  ACK,
  FIN,
  PSH,
  RST,
  SYN,
  checkTcp,
  formatTcpFlags,
  parseTcp,
  serializeTcp,
  tcpAck,
  tcpChecksumField,
  tcpDstPort,
  tcpFlags,
  tcpHeaderBytes,
  tcpHeaderLength,
  tcpSeq,
  tcpSrcPort,
  tcpUrgent,
  tcpWindow,
  TcpSegmentReader,
  writeTcpChecksumField,
  writeTcpFlags,
  writeTcpSeq,
  type TcpSegment,
} from '../../src/wire/tcp.ts';
import { CLIENT, LINUX_HANDSHAKE_DATA_FIN, SERVER, fromHex } from '../fixtures/linux-tcp.ts';

const C = parseIpv4Address(CLIENT);
const S = parseIpv4Address(SERVER);
const addrs = (from: 'client' | 'server') => (from === 'client' ? [C, S] : [S, C]) as [number, number];

function parseOk(bytes: Uint8Array, src: number, dst: number): TcpSegment {
  const s = parseTcp(bytes, src, dst);
  if (s instanceof WireError) throw s;
  return s;
}

describe('parseTcp on segments captured from Linux', () => {
  it('decodes the SYN', () => {
    const s = parseOk(fromHex(LINUX_HANDSHAKE_DATA_FIN[0]!.hex), C, S);
    expect(s).toMatchObject({ srcPort: 39992, dstPort: 8080, seq: 2330244114, ack: undefined, dataOffset: 40, flags: SYN, window: 64240, checksum: 0x3d69, urgent: 0 });
    expect(s.options).toEqual({ mss: 1460, sackPermitted: true, timestamp: { value: 0x7c5e83bc, echo: 0 }, windowScale: 10 });
    expect(s.payload.length).toBe(0);
  });
  it('decodes the SYN-ACK', () => {
    const s = parseOk(fromHex(LINUX_HANDSHAKE_DATA_FIN[1]!.hex), S, C);
    expect(s).toMatchObject({ seq: 2351460994, ack: 2330244115, flags: SYN | ACK, window: 65160 });
    expect(formatTcpFlags(s.flags)).toBe('S.');
    // tcpdump's order, F S R P . U E W
    expect([formatTcpFlags(SYN | ACK | 0x40), formatTcpFlags(FIN | PSH | ACK), formatTcpFlags(0x80 | SYN), formatTcpFlags(0)]).toEqual(['S.E', 'FP.', 'SW', 'none']);
  });
  it('decodes the data segment and the FIN', () => {
    const d = parseOk(fromHex(LINUX_HANDSHAKE_DATA_FIN[3]!.hex), C, S);
    expect(d.flags).toBe(PSH | ACK);
    expect(Buffer.from(d.payload).toString()).toBe('hello tunstack\n');
    expect(d.options).toEqual({ timestamp: { value: 0x7c5e83bd, echo: 0xe26aa3a0 } });
    const f = parseOk(fromHex(LINUX_HANDSHAKE_DATA_FIN[5]!.hex), C, S);
    expect(f.flags).toBe(FIN | ACK);
    expect(f.seq).toBe(2330244115 + 15);
  });
  it('re-encodes every captured segment byte for byte (checksum included)', () => {
    for (const { from, hex } of LINUX_HANDSHAKE_DATA_FIN) {
      const [src, dst] = addrs(from);
      const seg = parseOk(fromHex(hex), src, dst);
      const out = new Uint8Array(100).fill(0xaa);
      const n = serializeTcp(seg, out, 7, src, dst);
      expect(n).toBe(hex.length / 2);
      expect(tcpHeaderLength(seg)).toBe(seg.dataOffset);
      expect(Buffer.from(out.subarray(7, 7 + n)).toString('hex')).toBe(hex);
      expect(out[6]).toBe(0xaa);
    }
  });
});

describe('the acknowledgment number exists only with ACK (RFC 9293 §3.1)', () => {
  const base = { srcPort: 1000, dstPort: 2000, seq: 0x01020304, window: 512 };
  const wire = (seg: Parameters<typeof serializeTcp>[0]): Uint8Array => {
    const out = new Uint8Array(tcpHeaderLength(seg));
    serializeTcp(seg, out, 0, C, S);
    return out;
  };
  it('parsing: a segment without ACK has no ack number, whatever the field holds', () => {
    const bytes = wire({ ...base, ack: 0xdeadbeef, flags: PSH | ACK });
    writeTcpFlags(bytes, 0, PSH); // ACK cleared, the field left at 0xdeadbeef
    expect(tcpAck(bytes, 0)).toBe(0xdeadbeef);
    const s = parseTcp(bytes, C, S, { verifyChecksum: false });
    expect(s).not.toBeInstanceOf(WireError);
    expect((s as TcpSegment).ack).toBeUndefined();
    expect((s as TcpSegment).flags).toBe(PSH);
    const withAck = parseOk(wire({ ...base, ack: 0xdeadbeef, flags: PSH | ACK }), C, S);
    expect(withAck.ack).toBe(0xdeadbeef);
  });
  it('serializing without an ack number: the ACK bit clear and the field 0 (a SYN, a RST to a segment without ACK)', () => {
    const syn = wire({ ...base, ack: undefined, flags: SYN });
    expect([tcpFlags(syn, 0), tcpAck(syn, 0)]).toEqual([SYN, 0]);
    // `ack` decides the bit: a stray ACK in `flags` without a number does not reach the wire.
    const stray = wire({ ...base, ack: undefined, flags: RST | ACK });
    expect([tcpFlags(stray, 0), tcpAck(stray, 0)]).toEqual([RST, 0]);
  });
  it('serializing with an ack number: the ACK bit set with it', () => {
    const rstAck = wire({ ...base, ack: 0xffffffff, flags: RST | ACK });
    expect([tcpFlags(rstAck, 0), tcpAck(rstAck, 0)]).toEqual([RST | ACK, 0xffffffff]);
    const implied = wire({ ...base, ack: 7, flags: SYN });
    expect([tcpFlags(implied, 0), tcpAck(implied, 0)]).toEqual([SYN | ACK, 7]);
    expect(parseOk(implied, C, S).ack).toBe(7);
  });
});

describe('field accessors (a TCP header at an offset in a packet)', () => {
  it('read what parseTcp reads, for every captured segment behind a 20-byte IPv4 header', () => {
    for (const c of LINUX_HANDSHAKE_DATA_FIN) {
      const tcp = fromHex(c.hex);
      const packet = new Uint8Array(20 + tcp.length);
      packet.set(tcp, 20);
      const [src, dst] = addrs(c.from);
      const s = parseOk(tcp, src, dst);
      // Without ACK (the SYN) the parsed segment has no ack number; the field holds 0 there.
      expect([tcpSrcPort(packet, 20), tcpDstPort(packet, 20), tcpSeq(packet, 20), tcpAck(packet, 20)]).toEqual([s.srcPort, s.dstPort, s.seq, s.ack ?? 0]);
      expect([tcpHeaderBytes(packet, 20), tcpFlags(packet, 20), tcpWindow(packet, 20), tcpChecksumField(packet, 20), tcpUrgent(packet, 20)]).toEqual([
        s.dataOffset,
        s.flags,
        s.window,
        s.checksum,
        s.urgent,
      ]);
    }
  });
  it('write the fields in place, and only them', () => {
    const tcp = fromHex(LINUX_HANDSHAKE_DATA_FIN[3]!.hex);
    const before = Uint8Array.from(tcp);
    writeTcpSeq(tcp, 0, 0x1_0000_0005); // wraps mod 2^32
    writeTcpFlags(tcp, 0, FIN | ACK);
    writeTcpChecksumField(tcp, 0, 0xbeef);
    expect([tcpSeq(tcp, 0), tcpFlags(tcp, 0), tcpChecksumField(tcp, 0)]).toEqual([5, FIN | ACK, 0xbeef]);
    expect(Array.from(tcp.subarray(4, 8))).toEqual([0, 0, 0, 5]);
    const changed = [...tcp.keys()].filter((i) => tcp[i] !== before[i]);
    expect(changed.every((i) => (i >= 4 && i < 8) || i === 13 || i === 16 || i === 17)).toBe(true);
  });
});

describe('parseTcp rejections', () => {
  const syn = () => fromHex(LINUX_HANDSHAKE_DATA_FIN[0]!.hex);
  const code = (r: unknown) => (r as WireError).code;
  it('truncated', () => {
    expect(code(parseTcp(syn().subarray(0, 19), C, S))).toBe('ERR_TCP_TRUNCATED');
  });
  it('data offset below 5 or past the end', () => {
    const a = syn();
    a[12] = 0x40;
    expect(code(parseTcp(a, C, S, { verifyChecksum: false }))).toBe('ERR_TCP_DATA_OFFSET');
    const b2 = syn().subarray(0, 36);
    expect(code(parseTcp(b2, C, S, { verifyChecksum: false }))).toBe('ERR_TCP_DATA_OFFSET');
  });
  it('bad checksum (one bit flipped; wrong pseudo-header)', () => {
    const a = syn();
    a[30] = a[30]! ^ 1;
    expect(code(parseTcp(a, C, S))).toBe('ERR_TCP_CHECKSUM');
    expect(code(parseTcp(syn(), C, S + 1))).toBe('ERR_TCP_CHECKSUM');
    expect(parseTcp(a, C, S, { verifyChecksum: false })).not.toBeInstanceOf(WireError);
  });
  it('checkTcp finds the same faults without building an error, and passes what parseTcp accepts', () => {
    const flipped = syn();
    flipped[30] = flipped[30]! ^ 1;
    const lowOffset = syn();
    lowOffset[12] = 0x40;
    expect(checkTcp(syn(), C, S)).toBeUndefined();
    expect(checkTcp(syn().subarray(0, 19), C, S)).toBe('ERR_TCP_TRUNCATED');
    expect(checkTcp(lowOffset, C, S, false)).toBe('ERR_TCP_DATA_OFFSET');
    expect(checkTcp(syn().subarray(0, 36), C, S, false)).toBe('ERR_TCP_DATA_OFFSET');
    expect(checkTcp(flipped, C, S)).toBe('ERR_TCP_CHECKSUM');
    expect(checkTcp(syn(), C, S + 1)).toBe('ERR_TCP_CHECKSUM');
    expect(checkTcp(flipped, C, S, false)).toBeUndefined();
    for (const b of [syn().subarray(0, 19), lowOffset, flipped]) expect(checkTcp(b, C, S)).toBe(code(parseTcp(b, C, S)));
  });
  it('malformed options', () => {
    const a = syn();
    a[21] = 9; // MSS option length 9 runs into the next option and has the wrong fixed length
    expect(code(parseTcp(a, C, S, { verifyChecksum: false }))).toBe('ERR_TCP_OPTION');
  });
  it('never throws on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, verify) => {
        const r = parseTcp(bytes, C, S, { verifyChecksum: verify });
        return r instanceof WireError || r.dataOffset <= bytes.length;
      }),
      { numRuns: 2000 },
    );
  });
  it('never throws on mutated Linux segments (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (k, muts) => {
        const bytes = fromHex(LINUX_HANDSHAKE_DATA_FIN[k]!.hex);
        for (const [i, v] of muts) bytes[i % bytes.length] = v;
        const r = parseTcp(bytes, C, S, { verifyChecksum: false });
        return r instanceof WireError || typeof r.seq === 'number';
      }),
      { numRuns: 2000 },
    );
  });
});

describe('TcpSegmentReader: one reused record for the receive path', () => {
  /** A segment with the given options bytes (a multiple of 4), checksum for C -> S. */
  function withOptions(opts: number[], payload = 0): Uint8Array {
    const seg = new Uint8Array(20 + opts.length + payload);
    seg.set([0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 7, 0, 0, 0, 9, ((20 + opts.length) / 4) << 4, ACK, 0x01, 0x00]);
    seg.set(opts, 20);
    for (let i = 0; i < payload; i++) seg[20 + opts.length + i] = i;
    return seg;
  }
  const ts = (v: number, e: number) => [1, 1, 8, 10, v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255, e >>> 24, (e >>> 16) & 255, (e >>> 8) & 255, e & 255];
  /** The five option fields, those present only (what parseTcp's fresh object has). */
  const plainOptions = (o: TcpSegment['options']) =>
    Object.fromEntries(Object.entries({ mss: o.mss, windowScale: o.windowScale, sackPermitted: o.sackPermitted, sack: o.sack, timestamp: o.timestamp }).filter(([, v]) => v !== undefined));
  const parsed = (bytes: Uint8Array) => {
    const r = parseTcp(bytes, C, S, { verifyChecksum: false });
    if (r instanceof WireError) throw r;
    return r;
  };
  const sack = (...edges: number[]) => [1, 1, 5, 2 + 4 * edges.length, ...edges.flatMap((x) => [x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255])];

  it('reads what parseTcp reads, for every captured Linux segment, into the same object', () => {
    const reader = new TcpSegmentReader();
    let first: TcpSegment | undefined;
    for (const s of LINUX_HANDSHAKE_DATA_FIN) {
      const bytes = fromHex(s.hex);
      const [src, dst] = addrs(s.from);
      const got = reader.read(bytes);
      if (got instanceof WireError) throw got;
      first ??= got;
      expect(got).toBe(first);
      expect({ ...got, options: plainOptions(got.options) }).toEqual(parseOk(bytes, src, dst));
    }
  });
  it('clears what the previous segment had: options absent now read as absent', () => {
    const reader = new TcpSegmentReader();
    const a = reader.read(withOptions([...ts(1000, 2000), ...sack(10, 20, 30, 40)], 5));
    if (a instanceof WireError) throw a;
    expect(a.options.timestamp).toEqual({ value: 1000, echo: 2000 });
    expect(a.options.sack).toEqual([
      [10, 20],
      [30, 40],
    ]);
    expect([...a.payload]).toEqual([0, 1, 2, 3, 4]);
    const b = reader.read(withOptions(sack(50, 60)));
    if (b instanceof WireError) throw b;
    expect(b.options.timestamp).toBeUndefined();
    expect(b.options.sack).toEqual([[50, 60]]);
    expect(b.payload.length).toBe(0);
    const c = reader.read(withOptions([]));
    if (c instanceof WireError) throw c;
    expect(c.options.sack).toBeUndefined();
    expect(c.options.mss).toBeUndefined();
  });
  it('parseTcpOptions copies: a parsed segment keeps its blocks and timestamp after the next parse', () => {
    const one = parsed(withOptions([...ts(1, 2), ...sack(10, 20)]));
    parsed(withOptions([...ts(3, 4), ...sack(70, 80)]));
    expect(one.options.timestamp).toEqual({ value: 1, echo: 2 });
    expect(one.options.sack).toEqual([[10, 20]]);
  });
  it('rejects malformed options as parseTcp does', () => {
    const reader = new TcpSegmentReader();
    const badLen = withOptions([5, 6, 0, 0, 0, 0, 1, 1]); // SACK of length 6: not 2 + 8n
    const r = reader.read(badLen);
    expect(r instanceof WireError && r.code).toBe('ERR_TCP_OPTION');
    expect((parseTcp(badLen, C, S, { verifyChecksum: false }) as WireError).code).toBe('ERR_TCP_OPTION');
  });
});
