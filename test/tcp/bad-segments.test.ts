/**
 * Segments the TCP layer refuses before parsing (wire/tcp.ts checkTcp): a bad checksum, a segment
 * shorter than a header, a data offset out of range. Each is counted under its code and dropped,
 * without an answer; a good segment sent after them is still answered (a SYN to a closed port gets
 * its RST, RFC 9293 §3.10.7.1).
 */
import { describe, expect, it } from 'vitest';
import { createMemoryLink } from '../../src/link/memory-device.ts';
import { Stack } from '../../src/stack.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { parseIpv4Address } from '../../src/wire/ipv4-address.ts';
import { serializeIpv4Header } from '../../src/wire/ipv4.ts';
import { RST, SYN, parseTcp, serializeTcp } from '../../src/wire/tcp.ts';

const PEER = parseIpv4Address('10.0.0.9') as number;
const US = parseIpv4Address('10.0.0.1') as number;

/** A SYN from PEER:40000 to US:81 (no listener) in an IPv4 datagram, the TCP part `mangle`d. */
function datagram(mangle: (tcp: Uint8Array) => Uint8Array = (t) => t): Uint8Array {
  const tcp = new Uint8Array(20);
  serializeTcp({ srcPort: 40000, dstPort: 81, seq: 1000, ack: undefined, flags: SYN, window: 65535, urgent: 0, payload: new Uint8Array(0) }, tcp, 0, PEER, US);
  const t = mangle(tcp);
  const p = new Uint8Array(20 + t.length);
  serializeIpv4Header({ totalLength: p.length, identification: 1, ttl: 64, protocol: 6, src: PEER, dst: US }, p, 0);
  p.set(t, 20);
  return p;
}

describe('TCP layer: malformed segments', () => {
  it('counts each by its code, answers none, and still answers a good segment', async () => {
    const clock = new ManualClock();
    const [dev, peer] = createMemoryLink(clock, { latencyMs: 0 });
    const stack = new Stack({ device: dev, address: '10.0.0.1', clock });
    const answers: Uint8Array[] = [];
    peer.setReceiver((ps) => ps.forEach((p) => answers.push(p)));
    try {
      peer.send(datagram((t) => (t[4]! ^= 0x01, t))); // one bit of the sequence number: bad checksum
      peer.send(datagram((t) => t.subarray(0, 12))); // shorter than a TCP header
      peer.send(datagram((t) => (t[12] = 0x30, t))); // data offset 3 words
      peer.send(datagram((t) => (t[12] = 0xf0, t))); // data offset 60 bytes, past the end
      clock.advance(1);
      expect(answers).toEqual([]);
      const tcp = stack.stats().tcp;
      expect(tcp.badSegments).toBe(4);
      expect(tcp.dropped).toEqual({ ERR_TCP_CHECKSUM: 1, ERR_TCP_TRUNCATED: 1, ERR_TCP_DATA_OFFSET: 2 });

      peer.send(datagram());
      clock.advance(1);
      expect(answers.length).toBe(1);
      const rst = parseTcp(answers[0]!.subarray(20), US, PEER);
      expect('code' in rst).toBe(false);
      if ('code' in rst) return;
      expect(rst.flags & RST).toBe(RST);
      expect(rst.ack).toBe(1001);
      expect(stack.stats().tcp.badSegments).toBe(4);
    } finally {
      await stack.close();
    }
  });
});
